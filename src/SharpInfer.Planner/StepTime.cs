namespace SharpInfer.Planner;

/// <summary>One training step's time (seconds) and what it is made of.</summary>
/// <param name="ComputePerMicroBatch">Forward + backward of one micro-batch on the busiest stage (s).</param>
/// <param name="PipelineCompute">Compute over m micro-batches plus the bubble (s).</param>
/// <param name="BubbleFraction">Idle share of the pipeline: (p-1)/v / (m + (p-1)/v).</param>
/// <param name="PointToPoint">Activation and gradient sends between stages left on the critical path (s).</param>
/// <param name="BPipeTransferTotal">Time BPipe's evictions and reloads take on the link (s).</param>
/// <param name="BPipeTransferExposed">Part of that not hidden behind compute (s).</param>
/// <param name="DataParallelAllReduce">Gradient all-reduce across d replicas (s).</param>
/// <param name="Mfu">Utilisation assumed for the executed FLOPs at this micro-batch.</param>
/// <param name="ModelFlopsUtilization">Model FLOPs (no recompute) per second over the cluster's peak.</param>
/// <param name="TokensPerSecond">B*s / step.</param>
public sealed record StepTime(
    double ComputePerMicroBatch, double PipelineCompute, double BubbleFraction, double PointToPoint,
    double BPipeTransferTotal, double BPipeTransferExposed, double DataParallelAllReduce,
    double Mfu, double ModelFlopsUtilization, double TokensPerSecond)
{
    public double Total => PipelineCompute + PointToPoint + BPipeTransferExposed + DataParallelAllReduce;

    /// <summary>Share of BPipe's transfer time hidden behind compute (1 when there is none).</summary>
    public double BPipeOverlap => BPipeTransferTotal > 0 ? 1 - BPipeTransferExposed / BPipeTransferTotal : 1;
}
