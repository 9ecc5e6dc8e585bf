namespace SharpInfer.Planner;

/// <summary>
/// Step time of pipeline-parallel training:
///   T = (m + (p-1)/v) * (compute + p2p per micro-batch)      pipeline with its bubble (p-1)/(m+p-1), /v interleaved
///     + BPipe transfer time not hidden behind compute
///     + data-parallel gradient all-reduce (not overlapped, as in Megatron's default).
/// Compute per micro-batch = executed FLOPs of the busiest stage / (MFU(b) * peak FLOP/s).
/// Ranks are laid out as Megatron does: t fastest, then d, then p, so stage neighbours are t*d ranks apart and
/// data-parallel peers t apart; a stride below the node size stays on NVLink.
/// </summary>
public static class TimeModel
{
    public static StepTime Estimate(ModelSpec model, ClusterSpec cluster, TrainingSetup setup)
    {
        var gpu = cluster.Gpu;
        int t = setup.TensorParallel, p = setup.PipelineParallel, d = setup.DataParallel, m = setup.MicroBatches;
        int v = setup.VirtualStages;

        double mfu = gpu.Mfu.At(setup.MicroBatch, setup.SequenceLength);
        double compute = FlopsModel.ExecutedPerMicroBatchPerGpu(model, setup) / (mfu * gpu.PeakFlops);

        // Each micro-batch crosses every stage boundary forward (activations) and backward (gradients): s*b*h 16-bit
        // values, split t ways by Megatron's scatter/gather optimisation. Interleaving crosses v times as many boundaries.
        double p2pPerMicroBatch = 0;
        if (p > 1)
        {
            double bytes = 2.0 * setup.SequenceLength * setup.MicroBatch * model.Hidden / t;
            p2pPerMicroBatch = 2 * v * bytes / cluster.BandwidthForStride(t * d);
        }

        double slots = m + (double)(p - 1) / v;
        double pipelineCompute = slots * compute;
        double p2p = slots * p2pPerMicroBatch;
        double bubble = (p - 1.0) / v / slots;

        var (transferTotal, transferExposed) = BPipeTransfers(model, cluster, setup, compute);

        double allReduce = 0;
        if (d > 1)
        {
            double gradientBytes = 4 * MemoryModel.StageParameters(model, setup, p - 1);
            allReduce = 2.0 * (d - 1) / d * gradientBytes / cluster.BandwidthForStride(t);
        }

        double total = pipelineCompute + p2p + transferExposed + allReduce;
        double modelFlops = (double)setup.GlobalBatch / setup.MicroBatch
            * FlopsModel.ModelFlopsPerMicroBatch(model, setup.SequenceLength, setup.MicroBatch);
        double modelFlopsUtilization = modelFlops / (total * cluster.Gpus * gpu.PeakFlops);
        double tokensPerSecond = (double)setup.GlobalBatch * setup.SequenceLength / total;
        return new StepTime(compute, pipelineCompute, bubble, p2p, transferTotal, transferExposed, allReduce,
            mfu, modelFlopsUtilization, tokensPerSecond);
    }

    /// <summary>
    /// BPipe's evictions on the most loaded evictor (stage 0): in steady state every forward pushes one micro-batch's
    /// stage activations over the balanced count, so each of the m micro-batches beyond it is sent to the acceptor and
    /// later loaded back. Send and load use opposite directions of a full-duplex link, so one transfer time per
    /// micro-batch; it runs on its own stream during that micro-batch's forward and backward and is exposed only where
    /// it takes longer. Pairs on one node use NVLink, else the NIC.
    /// </summary>
    private static (double Total, double Exposed) BPipeTransfers(ModelSpec model, ClusterSpec cluster, TrainingSetup setup, double computePerMicroBatch)
    {
        int p = setup.PipelineParallel;
        if (!setup.BPipe || p < 2) return (0, 0);
        double plain = Math.Min(setup.MicroBatches, p);
        int balanced = MemoryModel.BalancedInFlight(setup.MicroBatches, p, 0);
        if (plain <= balanced) return (0, 0);

        int evictions = Math.Max(0, setup.MicroBatches - balanced);
        // Evictor 0 and acceptor p-1 are (p-1)*t*d ranks apart.
        double bandwidth = cluster.BandwidthForStride((p - 1) * setup.TensorParallel * setup.DataParallel);
        double perMicroBatch = MemoryModel.StageActivationPerMicroBatch(model, setup) / bandwidth; // L/p blocks per micro-batch, interleaved or not
        double total = evictions * perMicroBatch;
        double exposed = evictions * Math.Max(0, perMicroBatch - computePerMicroBatch);
        return (total, exposed);
    }
}
