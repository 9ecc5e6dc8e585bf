namespace SharpInfer.Engine.Sampling;

/// <summary>How the next token is chosen. Temperature 0 is greedy decoding; the other filters then do not matter.</summary>
public sealed record SamplingParameters
{
    public float Temperature { get; init; } = 0.8f;
    /// <summary>Keep the K most likely tokens (0 = no limit).</summary>
    public int TopK { get; init; } = 40;
    /// <summary>Keep the smallest set of tokens whose probability reaches P (1 = no limit).</summary>
    public float TopP { get; init; } = 0.95f;
    /// <summary>Drop tokens less likely than MinP times the most likely one (0 = off).</summary>
    public float MinP { get; init; } = 0.05f;
    /// <summary>Divides positive (multiplies negative) logits of tokens seen in the last <see cref="PenaltyLastN"/> tokens (1 = off).</summary>
    public float RepetitionPenalty { get; init; } = 1f;
    /// <summary>Subtracted once from the logit of every token already seen (0 = off).</summary>
    public float PresencePenalty { get; init; }
    /// <summary>Subtracted per occurrence from the logit of every token already seen (0 = off).</summary>
    public float FrequencyPenalty { get; init; }
    /// <summary>How many recent tokens the penalties look at (0 = none, -1 = all).</summary>
    public int PenaltyLastN { get; init; } = 64;
    /// <summary>Random seed; the same seed with the same settings gives the same text. Null = a fresh random seed.</summary>
    public ulong? Seed { get; init; }

    public static SamplingParameters Greedy { get; } = new() { Temperature = 0 };

    /// <summary>Checks ranges; returns a one-line problem or null.</summary>
    public string? Validate() =>
        Temperature < 0 || float.IsNaN(Temperature) ? $"temperature {Temperature} must be >= 0" :
        TopK < 0 ? $"top-k {TopK} must be >= 0" :
        !(TopP > 0 && TopP <= 1) ? $"top-p {TopP} must be in (0, 1]" :
        !(MinP >= 0 && MinP <= 1) ? $"min-p {MinP} must be in [0, 1]" :
        !(RepetitionPenalty > 0) ? $"repetition penalty {RepetitionPenalty} must be > 0" :
        PenaltyLastN < -1 ? $"penalty window {PenaltyLastN} must be >= -1" : null;
}
