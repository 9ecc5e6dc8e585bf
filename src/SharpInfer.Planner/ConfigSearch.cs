namespace SharpInfer.Planner;

/// <summary>A candidate configuration with its peak memory and step time.</summary>
public sealed record EvaluatedSetup(TrainingSetup Setup, StageMemory PeakStage, bool Fits, StepTime Time);

/// <summary>
/// Enumerates configurations consistent with a request: t a power of two within a node dividing heads, hidden and FFN;
/// p dividing the layers; d = gpus/(t*p); b dividing B/d (up to 64); the requested or all recompute modes.
/// </summary>
public static class ConfigSearch
{
    private const int MaxMicroBatch = 64;

    /// <summary>Evaluates one setup (assumed valid).</summary>
    public static EvaluatedSetup Evaluate(ModelSpec model, ClusterSpec cluster, TrainingSetup setup, double reservedBytes)
    {
        var peak = MemoryModel.Peak(model, setup, reservedBytes);
        return new EvaluatedSetup(setup, peak, peak.Total <= cluster.Gpu.MemoryBytes, TimeModel.Estimate(model, cluster, setup));
    }

    /// <summary>Valid (t, p, d) triples for the request, honouring the sizes it fixes.</summary>
    public static IEnumerable<(int T, int P, int D)> ParallelLayouts(PlanRequest request)
    {
        var model = request.Model;
        int gpus = request.Cluster.Gpus;
        for (int t = 1; t <= request.Cluster.Gpu.GpusPerNode; t++)
        {
            if (request.TensorParallel is int ft ? ft != t : (t & (t - 1)) != 0) continue; // searched sizes: powers of two
            if (gpus % t != 0 || model.Heads % t != 0 || model.Hidden % t != 0 || model.FfnHidden % t != 0) continue;
            if (model.KvHeads % t != 0 && t % model.KvHeads != 0) continue;
            for (int p = 1; p <= gpus / t; p++)
            {
                if (request.PipelineParallel is int fp && fp != p) continue;
                if ((gpus / t) % p != 0 || model.Layers % p != 0) continue;
                if (request.Schedule == PipelineSchedule.Interleaved && (p < 2 || model.Layers % (p * request.Chunks) != 0)) continue;
                int d = gpus / (t * p);
                if (request.DataParallel is int fd && fd != d) continue;
                yield return (t, p, d);
            }
        }
    }

    /// <summary>Micro-batch sizes to try for d replicas.</summary>
    public static IEnumerable<int> MicroBatches(PlanRequest request, int dataParallel)
    {
        if (request.MicroBatch is int fixedB) { yield return fixedB; yield break; }
        int perReplica = request.EffectiveGlobalBatch(dataParallel) / dataParallel;
        for (int b = 1; b <= Math.Min(MaxMicroBatch, perReplica); b++)
            if (perReplica % b == 0) yield return b;
    }

    /// <summary>All candidates for the request with the given recompute mode and BPipe setting.</summary>
    public static IEnumerable<EvaluatedSetup> Candidates(PlanRequest request, Recompute recompute, bool bpipe)
    {
        int s = request.EffectiveSequenceLength;
        foreach (var (t, p, d) in ParallelLayouts(request))
        {
            int globalBatch = request.EffectiveGlobalBatch(d);
            foreach (int b in MicroBatches(request, d))
            {
                if (globalBatch % (b * d) != 0) continue;
                var setup = new TrainingSetup(t, p, d, b, globalBatch, s, request.Schedule,
                    request.Schedule == PipelineSchedule.Interleaved ? request.Chunks : 1,
                    recompute, request.FlashAttention, request.SequenceParallel, request.DistributedOptimizer, bpipe);
                if (setup.Schedule == PipelineSchedule.Interleaved && setup.MicroBatches % p != 0) continue;
                yield return Evaluate(request.Model, request.Cluster, setup, request.ReservedBytes);
            }
        }
    }

    /// <summary>The fastest fitting candidate, or null.</summary>
    public static EvaluatedSetup? Fastest(IEnumerable<EvaluatedSetup> candidates) =>
        candidates.Where(c => c.Fits).MinBy(c => c.Time.Total);

    /// <summary>Recompute modes to try, least recomputation first.</summary>
    public static Recompute[] RecomputeModes(PlanRequest request) =>
        request.Recompute is Recompute r ? [r] : [Recompute.None, Recompute.Selective, Recompute.Full];

    /// <summary>Fastest fitting config over all allowed recompute modes (search mode).</summary>
    public static EvaluatedSetup? FastestOverall(PlanRequest request, bool bpipe) =>
        Fastest(RecomputeModes(request).SelectMany(r => Candidates(request, r, bpipe)));
}
