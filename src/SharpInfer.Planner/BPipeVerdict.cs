namespace SharpInfer.Planner;

/// <summary>What BPipe is predicted to do for a configuration.</summary>
/// <param name="Verdict">"worth it" (>= 5% faster), "marginal", "not worth it", "enables fit", "no effect" or "does not fit".</param>
/// <param name="Baseline">Best configuration without BPipe (same t, p, d, B), null when none fits.</param>
/// <param name="WithBPipe">Configuration with BPipe at b' (the largest micro-batch that fits), null when none fits.</param>
/// <param name="Speedup">T(b) / T(b'), null when either side is missing.</param>
/// <param name="ActivationShare">Activations' share of stage 0's memory at the baseline.</param>
/// <param name="AttentionScoreShare">Share the 5*a*s^2*b attention scores would have of one block's activations if stored.</param>
/// <param name="AttentionScoresStored">Whether the scores are actually stored (no flash attention, no recompute).</param>
/// <param name="BaselineHeadroomBytes">Free memory on the fullest GPU at the baseline (bytes).</param>
/// <param name="NextMicroBatchPeakBytes">Peak memory the next larger micro-batch would need without BPipe (bytes), if one exists.</param>
/// <param name="Reasons">Human-readable reasons, most decisive first.</param>
public sealed record BPipeVerdict(
    string Verdict, EvaluatedSetup? Baseline, EvaluatedSetup? WithBPipe, double? Speedup,
    double ActivationShare, double AttentionScoreShare, bool AttentionScoresStored,
    double BaselineHeadroomBytes, double? NextMicroBatchPeakBytes, IReadOnlyList<string> Reasons);
