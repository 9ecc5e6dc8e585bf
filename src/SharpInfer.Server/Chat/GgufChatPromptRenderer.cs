using SharpInfer.Models.Chat;

namespace SharpInfer.Server.Chat;

/// <summary>The model's own chat template (GGUF tokenizer.chat_template, ChatML when absent), rendered with its BOS/EOS text.</summary>
public sealed class GgufChatPromptRenderer(ChatTemplate template, string bosToken, string eosToken) : IChatPromptRenderer
{
    public ChatTemplate Template { get; } = template;

    public string Render(IReadOnlyList<(string Role, string Content)> messages, bool addGenerationPrompt) =>
        Template.Render(messages.Select(m => new ChatMessage(m.Role, m.Content)).ToList(), addGenerationPrompt, bosToken, eosToken);
}
