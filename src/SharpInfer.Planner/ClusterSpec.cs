namespace SharpInfer.Planner;

/// <summary>One kind of GPU and how the GPUs are wired.</summary>
/// <param name="Name">Display name.</param>
/// <param name="MemoryBytes">Device memory (bytes).</param>
/// <param name="PeakFlops">Dense 16-bit tensor-core peak (FLOP/s).</param>
/// <param name="IntraNodeBandwidth">Per-GPU, one-direction bandwidth inside a node, e.g. NVLink (bytes/s).</param>
/// <param name="InterNodeBandwidth">Per-GPU, one-direction bandwidth between nodes, e.g. one InfiniBand NIC per GPU (bytes/s).</param>
/// <param name="GpusPerNode">GPUs sharing the fast intra-node fabric.</param>
/// <param name="Mfu">Achieved fraction of peak as a function of micro-batch size.</param>
public sealed record GpuSpec(
    string Name, double MemoryBytes, double PeakFlops, double IntraNodeBandwidth, double InterNodeBandwidth,
    int GpusPerNode, MfuCurve Mfu);

/// <summary>A cluster: <see cref="Gpus"/> GPUs of one kind.</summary>
public sealed record ClusterSpec(GpuSpec Gpu, int Gpus)
{
    public int Nodes => (Gpus + Gpu.GpusPerNode - 1) / Gpu.GpusPerNode;

    /// <summary>Bandwidth between ranks that are <paramref name="rankStride"/> apart in Megatron's rank order (bytes/s).</summary>
    public double BandwidthForStride(int rankStride) =>
        rankStride < Gpu.GpusPerNode ? Gpu.IntraNodeBandwidth : Gpu.InterNodeBandwidth;
}
