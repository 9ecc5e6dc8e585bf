using SharpInfer.Engine.Sampling;

namespace SharpInfer.Engine.Generation;

public sealed record GenerationOptions
{
    /// <summary>Most tokens to generate (clipped to what the context leaves).</summary>
    public int MaxTokens { get; init; } = 256;
    public SamplingParameters Sampling { get; init; } = new();
    /// <summary>Generation stops before any of these strings; the string itself is not returned.</summary>
    public IReadOnlyList<string> Stop { get; init; } = [];
    /// <summary>Add BOS/EOS to the prompt as the model's tokenizer says.</summary>
    public bool AddSpecialTokens { get; init; } = true;
}

public enum FinishReason
{
    /// <summary>An end-of-generation token or a stop string.</summary>
    Stop,
    /// <summary>MaxTokens or the context length was reached.</summary>
    Length,
    Cancelled,
}

/// <summary>Counts and timings of one generation.</summary>
public sealed record GenerationStats(int PromptTokens, int GeneratedTokens, TimeSpan PromptTime, TimeSpan GenerationTime, FinishReason FinishReason)
{
    public double PromptTokensPerSecond => PromptTime.TotalSeconds > 0 ? PromptTokens / PromptTime.TotalSeconds : 0;
    /// <summary>Decode speed: tokens after the first, over the time after the prompt was processed.</summary>
    public double GenerationTokensPerSecond => GenerationTime.TotalSeconds > 0 ? GeneratedTokens / GenerationTime.TotalSeconds : 0;
}

/// <summary>One step of a streamed generation: new text (possibly empty), the token that produced it, and at the end the stats.</summary>
public readonly record struct GenerationUpdate(string Text, int? Token, GenerationStats? Final);

/// <summary>The prompt does not fit the context. The message is one line for the user.</summary>
public sealed class PromptTooLongException(int promptTokens, int contextLength)
    : Exception($"the prompt is {promptTokens} tokens, which does not fit the context of {contextLength} tokens (leave room for at least one generated token)")
{
    public int PromptTokens { get; } = promptTokens;
    public int ContextLength { get; } = contextLength;
}
