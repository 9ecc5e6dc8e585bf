using SharpInfer.Engine.Sampling;

namespace SharpInfer.Server.Api;

/// <summary>One prompt of a completions request: text, or token ids as OpenAI also allows.</summary>
internal readonly record struct PromptInput(string? Text, IReadOnlyList<int>? Tokens);

/// <summary>The fields completions and chat completions share, read and range-checked.</summary>
internal sealed record GenerationFields
{
    public string? Model { get; init; }
    /// <summary>Null: as many as the context leaves, up to the server's limit.</summary>
    public int? MaxTokens { get; init; }
    /// <summary>The field name <see cref="MaxTokens"/> came from, for error messages.</summary>
    public string MaxTokensParam { get; init; } = "max_tokens";
    public required SamplingParameters Sampling { get; init; }
    public IReadOnlyList<string> Stop { get; init; } = [];
    public int N { get; init; } = 1;
    public bool Stream { get; init; }
    public bool IncludeUsage { get; init; }
    public string? User { get; init; }
}

internal sealed record CompletionRequest(GenerationFields Fields, IReadOnlyList<PromptInput> Prompts);

internal sealed record ChatRequest(GenerationFields Fields, IReadOnlyList<(string Role, string Content)> Messages);
