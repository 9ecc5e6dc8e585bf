namespace SharpInfer.Engine.Simulation;

/// <summary>
/// How long one engine step takes: a fixed cost (launches, sampling, scheduling), a cost per prompt token computed
/// (compute bound), a cost per decoded token (the batch's share of reading the weights and the matmuls), and a cost
/// per token of context attended (reading the KV cache). Build it from numbers measured on a real engine.
/// </summary>
public sealed partial class StepCostModel
{
    /// <param name="fixedSeconds">a: seconds every step costs.</param>
    /// <param name="secondsPerPrefillToken">b: seconds per prompt token computed.</param>
    /// <param name="secondsPerDecodeToken">c: seconds per request decoding in the step.</param>
    /// <param name="secondsPerContextToken">d: seconds per token of KV the step's requests attend to.</param>
    public StepCostModel(double fixedSeconds, double secondsPerPrefillToken, double secondsPerDecodeToken, double secondsPerContextToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(fixedSeconds);
        ArgumentOutOfRangeException.ThrowIfNegative(secondsPerPrefillToken);
        ArgumentOutOfRangeException.ThrowIfNegative(secondsPerDecodeToken);
        ArgumentOutOfRangeException.ThrowIfNegative(secondsPerContextToken);
        FixedSeconds = fixedSeconds;
        SecondsPerPrefillToken = secondsPerPrefillToken;
        SecondsPerDecodeToken = secondsPerDecodeToken;
        SecondsPerContextToken = secondsPerContextToken;
    }

    public double FixedSeconds { get; }
    public double SecondsPerPrefillToken { get; }
    public double SecondsPerDecodeToken { get; }
    public double SecondsPerContextToken { get; }

    /// <summary>
    /// A Llama-3-8B-class model in 16-bit on one A100-class GPU, from public serving numbers: ~12 ms for a decode
    /// step at batch 1, prefill at ~10k tokens/s, ~10 ms more for a batch of 64 decodes, and 128 KiB of KV per token
    /// read at ~2 TB/s. An estimate, not a measurement of this engine.
    /// </summary>
    public static StepCostModel Llama8BOnA100 { get; } = new(0.012, 1.0e-4, 1.5e-4, 6.4e-8);

    /// <summary>Seconds for a step that computes these prompt and decode tokens over this much context.</summary>
    public double StepSeconds(int prefillTokens, int decodeTokens, long contextTokens) =>
        FixedSeconds + SecondsPerPrefillToken * prefillTokens + SecondsPerDecodeToken * decodeTokens + SecondsPerContextToken * contextTokens;
}
