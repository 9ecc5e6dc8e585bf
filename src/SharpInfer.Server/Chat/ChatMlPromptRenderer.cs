using System.Text;

namespace SharpInfer.Server.Chat;

/// <summary>
/// ChatML (<c>&lt;|im_start|&gt;role\ncontent&lt;|im_end|&gt;\n</c>), the format most instruction-tuned GGUF models
/// without a template of their own understand. Used until the GGUF template renderer is wired in.
/// </summary>
public sealed class ChatMlPromptRenderer : IChatPromptRenderer
{
    public static ChatMlPromptRenderer Instance { get; } = new();

    public string Render(IReadOnlyList<(string Role, string Content)> messages, bool addGenerationPrompt)
    {
        var prompt = new StringBuilder();
        foreach (var (role, content) in messages)
            prompt.Append("<|im_start|>").Append(role).Append('\n').Append(content).Append("<|im_end|>\n");
        if (addGenerationPrompt) prompt.Append("<|im_start|>assistant\n");
        return prompt.ToString();
    }
}
