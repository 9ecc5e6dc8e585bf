namespace SharpInfer.Planner;

/// <summary>
/// Predicts BPipe's benefit before a run, in the spirit of the re-evaluation paper:
/// b' = the largest micro-batch that fits under BPipe's balanced memory; with B fixed, m = B/b;
/// speedup = T(b) / T(b') from the time model (MFU at b and b', bubble, BPipe's transfers not hidden by compute).
/// </summary>
public static class BPipeEstimator
{
    private const double GiB = 1024.0 * 1024 * 1024;
    private const double WorthItSpeedup = 1.05;

    /// <param name="setup">The configuration to judge (its BPipe flag is ignored).</param>
    /// <param name="microBatchFixed">Keep the baseline at setup's b instead of the fastest fitting b.</param>
    /// <param name="alternativeLayouts">
    /// Other (t, p, d, B) the user left open. BPipe's balanced memory can make a different layout the best one (e.g.
    /// a deeper pipeline with fewer data-parallel replicas), so for each layout with p >= 2 b' is the largest
    /// micro-batch that fits under BPipe, and the fastest of those is compared with the baseline.
    /// </param>
    public static BPipeVerdict Estimate(ModelSpec model, ClusterSpec cluster, TrainingSetup setup, bool microBatchFixed, double reservedBytes,
        IEnumerable<(int T, int P, int D, int GlobalBatch)>? alternativeLayouts = null)
    {
        var plain = setup with { BPipe = false };
        var candidatesB = MicroBatchCandidates(plain);

        EvaluatedSetup Eval(TrainingSetup s) => ConfigSearch.Evaluate(model, cluster, s, reservedBytes);
        var withoutBPipe = candidatesB.Select(b => Eval(plain with { MicroBatch = b })).ToList();
        var baseline = microBatchFixed
            ? withoutBPipe.FirstOrDefault(e => e.Setup.MicroBatch == setup.MicroBatch && e.Fits)
            : ConfigSearch.Fastest(withoutBPipe);

        var layouts = new List<TrainingSetup> { plain };
        foreach (var (t, p, d, globalBatch) in alternativeLayouts ?? [])
        {
            bool known = layouts.Any(l => (l.TensorParallel, l.PipelineParallel, l.DataParallel) == (t, p, d));
            if (p >= 2 && !known && globalBatch % d == 0)
                layouts.Add(plain with { TensorParallel = t, PipelineParallel = p, DataParallel = d, GlobalBatch = globalBatch, MicroBatch = 1 });
        }
        var withBPipe = layouts
            .Where(l => l.PipelineParallel >= 2 || layouts.Count == 1)
            .Select(l => MicroBatchCandidates(l).Select(b => Eval(l with { MicroBatch = b, BPipe = true })).Where(e => e.Fits).MaxBy(e => e.Setup.MicroBatch))
            .Where(e => e != null)
            .MinBy(e => e!.Time.Total);

        // When nothing fits without BPipe at this recompute level, compare against what Megatron would have to do instead.
        string? escalation = null;
        if (baseline == null)
        {
            foreach (var r in Enum.GetValues<Recompute>().Where(r => r > setup.Recompute))
            {
                baseline = ConfigSearch.Fastest(candidatesB.Select(b => Eval(plain with { MicroBatch = b, Recompute = r })));
                if (baseline != null) { escalation = $"without BPipe nothing fits with recompute={Name(setup.Recompute)}; the baseline needs recompute={Name(r)}"; break; }
            }
        }

        var reference = baseline ?? withoutBPipe[0];
        var stage0 = MemoryModel.Stage(model, reference.Setup, 0, reservedBytes);
        double activationShare = stage0.Activations / stage0.Total;
        var stored = ActivationMemory.PerLayer(model, setup.SequenceLength, 1,
            setup.Activation with { FlashAttention = false, Recompute = Recompute.None });
        double scoreShare = stored.AttentionScores / stored.Total;
        bool scoresStored = !setup.FlashAttention && reference.Setup.Recompute == Recompute.None;
        double headroom = cluster.Gpu.MemoryBytes - reference.PeakStage.Total;
        var next = withoutBPipe.FirstOrDefault(e => e.Setup.Recompute == reference.Setup.Recompute && e.Setup.MicroBatch > reference.Setup.MicroBatch);
        double? nextPeak = next?.PeakStage.Total;

        var reasons = new List<string>();
        if (escalation != null) reasons.Add(escalation);
        string verdict;
        double? speedup = null;
        if (setup.PipelineParallel < 2 && withBPipe == null)
        {
            verdict = "no effect";
            reasons.Add("BPipe balances memory between pipeline stages; with p=1 there is nothing to balance");
        }
        else if (withBPipe == null)
        {
            verdict = "does not fit";
            reasons.Add($"no micro-batch fits even with BPipe at recompute={Name(setup.Recompute)}");
        }
        else if (baseline == null)
        {
            verdict = "enables fit";
            reasons.Add($"only BPipe makes this configuration fit (b'={withBPipe.Setup.MicroBatch})");
        }
        else
        {
            speedup = baseline.Time.Total / withBPipe.Time.Total;
            bool sameConfig = withBPipe.Setup.MicroBatch <= baseline.Setup.MicroBatch && baseline.Setup.Recompute == withBPipe.Setup.Recompute
                && withBPipe.Setup.PipelineParallel == baseline.Setup.PipelineParallel && withBPipe.Setup.DataParallel == baseline.Setup.DataParallel;
            verdict = sameConfig
                ? "no effect"
                : speedup >= WorthItSpeedup ? "worth it" : speedup > 1.0 ? "marginal" : "not worth it";
            reasons.AddRange(Explain(cluster, setup, baseline, withBPipe, speedup.Value, scoreShare, scoresStored, activationShare, headroom, nextPeak));
        }
        return new BPipeVerdict(verdict, baseline, withBPipe, speedup, activationShare, scoreShare, scoresStored, headroom, nextPeak, reasons);
    }

    private static IEnumerable<string> Explain(ClusterSpec cluster, TrainingSetup setup, EvaluatedSetup baseline, EvaluatedSetup bpipe,
        double speedup, double scoreShare, bool scoresStored, double activationShare, double headroom, double? nextPeak)
    {
        int b = baseline.Setup.MicroBatch, b2 = bpipe.Setup.MicroBatch;
        var (bs, ps) = (baseline.Setup, bpipe.Setup);
        if ((bs.TensorParallel, bs.PipelineParallel, bs.DataParallel) != (ps.TensorParallel, ps.PipelineParallel, ps.DataParallel))
            yield return $"with BPipe the best layout changes from t={bs.TensorParallel} p={bs.PipelineParallel} d={bs.DataParallel} to t={ps.TensorParallel} p={ps.PipelineParallel} d={ps.DataParallel}";
        if (b2 <= b && baseline.Setup.Recompute == bpipe.Setup.Recompute)
            yield return $"BPipe's memory saving does not allow a micro-batch larger than b={b}, so it only adds transfers";

        if (setup.FlashAttention)
            yield return $"flash attention already removes the 5as^2b attention-score activations (they would be {scoreShare:P0} of a block's activations), so there is much less memory for BPipe to free and memory stops being what limits speed";
        else if (scoresStored)
            yield return $"without flash attention the 5as^2b attention scores are {scoreShare:P0} of a block's activations, so activations dominate memory ({activationShare:P0} of stage 0) and the first stages run out first";
        else
            yield return $"recomputation keeps the attention scores out of memory; activations are {activationShare:P0} of stage 0";

        string nextText = nextPeak is double np
            ? (np > cluster.Gpu.MemoryBytes
                ? $"; without BPipe the next micro-batch would need {np / GiB:0.0} GiB > {cluster.Gpu.MemoryBytes / GiB:0.0} GiB (memory is binding)"
                : $"; without BPipe a larger micro-batch still fits ({np / GiB:0.0} GiB), memory is not binding")
            : "";
        yield return $"headroom at b={b} without BPipe: {headroom / GiB:0.0} GiB on the fullest stage{nextText}";

        if (b2 <= b && nextPeak is not null)
        {
            int nextB = MicroBatchCandidates(baseline.Setup).FirstOrDefault(x => x > b);
            if (nextB > 0)
            {
                double nextMfu = cluster.Gpu.Mfu.At(nextB, baseline.Setup.SequenceLength);
                yield return $"even the next micro-batch b={nextB} would raise MFU only {baseline.Time.Mfu:P1} -> {nextMfu:P1} ({nextMfu / baseline.Time.Mfu - 1:+0.0%;-0.0%}), and it does not fit under BPipe either";
            }
        }
        double mfuGain = bpipe.Time.Mfu / baseline.Time.Mfu - 1;
        yield return $"MFU b={b} -> b'={b2}: {baseline.Time.Mfu:P1} -> {bpipe.Time.Mfu:P1} ({mfuGain:+0.0%;-0.0%}){(Math.Abs(mfuGain) < 0.05 ? ", little left to gain: the GEMMs are already near saturation" : "")}";
        yield return $"pipeline bubble: {baseline.Time.BubbleFraction:P1} (m={baseline.Setup.MicroBatches}) -> {bpipe.Time.BubbleFraction:P1} (m={bpipe.Setup.MicroBatches}){(bpipe.Time.BubbleFraction > baseline.Time.BubbleFraction ? "; a deeper pipeline or fewer, larger micro-batches widen it" : "")}";
        yield return $"BPipe transfers: {bpipe.Time.BPipeTransferTotal:0.00} s per step on the link, {bpipe.Time.BPipeOverlap:P0} hidden behind compute, {bpipe.Time.BPipeTransferExposed:0.00} s exposed";
        yield return $"predicted step: {baseline.Time.Total:0.00} s -> {bpipe.Time.Total:0.00} s, speedup {speedup:0.000}x";
    }

    /// <summary>Micro-batch sizes that divide B/d, smallest first (at most 64).</summary>
    public static IReadOnlyList<int> MicroBatchCandidates(TrainingSetup setup)
    {
        int perReplica = setup.GlobalBatch / setup.DataParallel;
        var list = new List<int>();
        for (int b = 1; b <= Math.Min(64, perReplica); b++)
        {
            if (perReplica % b != 0) continue;
            if (setup.Schedule == PipelineSchedule.Interleaved && (perReplica / b) % setup.PipelineParallel != 0) continue;
            list.Add(b);
        }
        if (list.Count == 0) list.Add(setup.MicroBatch);
        return list;
    }

    private static string Name(Recompute r) => r.ToString().ToLowerInvariant();
}
