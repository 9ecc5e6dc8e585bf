using SharpInfer.Models.Gguf;

namespace SharpInfer.Models.Chat;

/// <summary>
/// A Hugging Face chat template (the Jinja2 source in a GGUF's <c>tokenizer.chat_template</c> or a tokenizer_config.json),
/// parsed once and rendered per request to turn chat messages into the model's prompt text.
/// </summary>
/// <remarks>
/// Renders the way transformers' <c>apply_chat_template</c> does: trim_blocks and lstrip_blocks on, the variables
/// <c>messages</c> (each a mapping with <c>role</c> and <c>content</c>), <c>add_generation_prompt</c>, <c>bos_token</c>
/// and <c>eos_token</c>, and the functions <c>raise_exception</c>, <c>namespace</c> and <c>range</c>. Variables a
/// template may test for but that are not passed (<c>tools</c>, <c>date_string</c>, ...) are undefined.
/// </remarks>
public sealed class ChatTemplate
{
    public const string GgufMetadataKey = "tokenizer.chat_template";

    private const string ChatMlSource =
        "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    private readonly IReadOnlyList<Statement> _template;

    private ChatTemplate(string source, IReadOnlyList<Statement> template)
    {
        Source = source;
        _template = template;
    }

    /// <summary>The Jinja2 source this template was parsed from.</summary>
    public string Source { get; }

    /// <summary>The ChatML format (Qwen, SmolLM, many fine-tunes): the fallback when a model names no template.</summary>
    public static ChatTemplate ChatMl { get; } = Parse(ChatMlSource);

    /// <summary>Parses <paramref name="source"/>; a syntax error is a <see cref="ChatTemplateException"/> naming its line and column.</summary>
    public static ChatTemplate Parse(string source)
    {
        ArgumentNullException.ThrowIfNull(source);
        return new ChatTemplate(source, TemplateParser.Parse(source));
    }

    /// <summary>
    /// The template in the model file's <c>tokenizer.chat_template</c> metadata, or <see cref="ChatMl"/> when there is none.
    /// A template that is present but does not parse throws, rather than silently prompting the model in the wrong format.
    /// </summary>
    public static ChatTemplate FromGguf(GgufFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        var source = file.TryGetString(GgufMetadataKey);
        return string.IsNullOrEmpty(source) ? ChatMl : Parse(source);
    }

    /// <summary>
    /// Renders the prompt for <paramref name="messages"/>. With <paramref name="addGenerationPrompt"/>, the template appends
    /// the header that opens the assistant's reply. Template errors (a raise_exception call, a bad operation, a runaway
    /// loop) are <see cref="ChatTemplateException"/>s.
    /// </summary>
    public string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = true, string bosToken = "", string eosToken = "")
    {
        ArgumentNullException.ThrowIfNull(messages);
        ArgumentNullException.ThrowIfNull(bosToken);
        ArgumentNullException.ThrowIfNull(eosToken);
        var messageValues = new List<object?>(messages.Count);
        foreach (var message in messages)
        {
            messageValues.Add(new Dictionary<string, object?>(StringComparer.Ordinal)
            {
                ["role"] = message.Role,
                ["content"] = message.Content,
            });
        }
        var globals = new Dictionary<string, object?>(StringComparer.Ordinal)
        {
            ["messages"] = messageValues,
            ["add_generation_prompt"] = addGenerationPrompt,
            ["bos_token"] = bosToken,
            ["eos_token"] = eosToken,
        };
        TemplateBuiltins.AddGlobals(globals);
        return TemplateRenderer.Render(Source, _template, globals);
    }

    public override string ToString() => Source;
}
