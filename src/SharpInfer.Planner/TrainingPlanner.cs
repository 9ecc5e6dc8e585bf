namespace SharpInfer.Planner;

/// <summary>
/// Turns a request into a plan: validates it, fills in what was left open (the fastest fitting layout and micro-batch
/// at the least recomputation that fits), then estimates memory, step time, BPipe's effect and serving capacity.
/// Pure: no I/O.
/// </summary>
public static class TrainingPlanner
{
    public static TrainingPlan Plan(PlanRequest request)
    {
        var model = request.Model.Validated();
        var cluster = request.Cluster;
        Validate(request);
        var choices = new List<string>();

        EvaluatedSetup? chosen = null;
        foreach (var recompute in ConfigSearch.RecomputeModes(request))
        {
            chosen = ConfigSearch.Fastest(ConfigSearch.Candidates(request, recompute, request.BPipe));
            if (chosen != null) break;
        }
        bool fits = chosen != null;
        if (chosen == null)
        {
            // Nothing fits: show the configuration that comes closest, with the most recomputation allowed.
            var last = ConfigSearch.RecomputeModes(request)[^1];
            chosen = ConfigSearch.Candidates(request, last, request.BPipe).MinBy(c => c.PeakStage.Total)
                ?? throw new PlannerInputException("no configuration satisfies the given sizes (check that B is divisible by b*d)");
            choices.Add("nothing fits: showing the configuration with the lowest peak memory");
        }

        var setup = chosen.Setup;
        chosen.Setup.Validate(model, cluster);
        string how = fits ? "fastest that fits" : "lowest memory";
        if (request.TensorParallel == null) choices.Add($"t={setup.TensorParallel} ({how}; tensor parallelism kept within a node)");
        if (request.PipelineParallel == null) choices.Add($"p={setup.PipelineParallel} ({how})");
        if (request.DataParallel == null) choices.Add($"d={setup.DataParallel} (= {cluster.Gpus} GPUs / (t*p))");
        if (request.MicroBatch == null) choices.Add($"b={setup.MicroBatch} ({how})");
        if (request.GlobalBatch == null) choices.Add($"B={setup.GlobalBatch} sequences (~{(double)setup.GlobalBatch * setup.SequenceLength / (1 << 20):0.#} Mi tokens, a multiple of d)");
        if (request.SequenceLength == null) choices.Add($"s={setup.SequenceLength} tokens");
        if (request.Recompute == null) choices.Add($"recompute={setup.Recompute.ToString().ToLowerInvariant()} (least recomputation that fits)");

        var withoutBPipe = MemoryModel.Stages(model, setup with { BPipe = false }, request.ReservedBytes);
        var withBPipe = MemoryModel.Stages(model, setup with { BPipe = true }, request.ReservedBytes);
        var openLayouts = ConfigSearch.ParallelLayouts(request).Select(l => (l.T, l.P, l.D, request.EffectiveGlobalBatch(l.D))).ToList();
        var verdict = BPipeEstimator.Estimate(model, cluster, setup, request.MicroBatch != null, request.ReservedBytes, openLayouts);
        // For the chart and table: this layout with BPipe at the largest micro-batch that fits it.
        var sameLayoutBPipe = BPipeEstimator.MicroBatchCandidates(setup)
            .Select(b => setup with { MicroBatch = b, BPipe = true })
            .Where(s => MemoryModel.Fits(model, s, cluster.Gpu, request.ReservedBytes))
            .Select(s => (TrainingSetup?)s).LastOrDefault();
        var atBPipeB = sameLayoutBPipe is { } w ? MemoryModel.Stages(model, w, request.ReservedBytes) : null;

        EvaluatedSetup? searchPlain = null, searchBPipe = null;
        if (request.Search)
        {
            searchPlain = ConfigSearch.FastestOverall(request, bpipe: false);
            searchBPipe = ConfigSearch.FastestOverall(request, bpipe: true);
        }

        var inference = InferencePlanner.Plan(model, cluster.Gpu, request.ServeDevices, request.ServeWeightBytes, request.ServeKvBytes, request.ReservedBytes);
        var stages = setup.BPipe ? withBPipe : withoutBPipe;
        return new TrainingPlan(model, cluster, chosen, stages, withoutBPipe, withBPipe, atBPipeB, sameLayoutBPipe?.MicroBatch, verdict, searchPlain, searchBPipe, inference, choices);
    }

    /// <summary>Rejects impossible requests with one clear message.</summary>
    public static void Validate(PlanRequest request)
    {
        var model = request.Model;
        int gpus = request.Cluster.Gpus;
        if (gpus <= 0) throw new PlannerInputException($"the number of GPUs must be positive (got {gpus})");
        foreach (var (name, value) in new[] { ("t", request.TensorParallel), ("p", request.PipelineParallel), ("d", request.DataParallel),
                     ("b", request.MicroBatch), ("B", request.GlobalBatch), ("sequence length", request.SequenceLength) })
            if (value is <= 0) throw new PlannerInputException($"{name} must be positive (got {value})");
        int fixedProduct = (request.TensorParallel ?? 1) * (request.PipelineParallel ?? 1) * (request.DataParallel ?? 1);
        bool allFixed = request.TensorParallel != null && request.PipelineParallel != null && request.DataParallel != null;
        if (allFixed && fixedProduct != gpus)
            throw new PlannerInputException($"t*p*d = {request.TensorParallel}*{request.PipelineParallel}*{request.DataParallel} = {fixedProduct} does not equal the {gpus} GPUs");
        if (gpus % fixedProduct != 0)
            throw new PlannerInputException($"the given parallel sizes (product {fixedProduct}) do not divide the {gpus} GPUs");
        if (request.PipelineParallel is int p && model.Layers % p != 0)
            throw new PlannerInputException($"{model.Layers} layers are not divisible by pipeline size p={p}");
        if (request.TensorParallel is int t)
        {
            if (model.Heads % t != 0 || model.Hidden % t != 0 || model.FfnHidden % t != 0)
                throw new PlannerInputException($"tensor-parallel size t={t} must divide heads ({model.Heads}), hidden ({model.Hidden}) and FFN width ({model.FfnHidden})");
            if (model.KvHeads % t != 0 && t % model.KvHeads != 0)
                throw new PlannerInputException($"tensor-parallel size t={t} and {model.KvHeads} KV heads must divide one another");
            if (t > request.Cluster.Gpu.GpusPerNode)
                throw new PlannerInputException($"tensor-parallel size t={t} exceeds the {request.Cluster.Gpu.GpusPerNode} GPUs per node");
        }
        if (request.Schedule == PipelineSchedule.Interleaved && request.Chunks < 2)
            throw new PlannerInputException($"the interleaved schedule needs v >= 2 chunks (got {request.Chunks})");
        if (request.GlobalBatch is int B && request.MicroBatch is int b && request.DataParallel is int d && B % (b * d) != 0)
            throw new PlannerInputException($"global batch B={B} is not divisible by b*d = {b}*{d}");
        if (!ConfigSearch.ParallelLayouts(request).Any())
            throw new PlannerInputException($"no valid (t, p, d) for {model.Name} on {gpus} GPUs with the given sizes " +
                $"(t must divide heads/hidden/FFN and stay within a node, p must divide the {model.Layers} layers{(request.Schedule == PipelineSchedule.Interleaved ? " by v chunks" : "")})");
    }
}
