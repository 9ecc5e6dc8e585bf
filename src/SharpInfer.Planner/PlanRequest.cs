namespace SharpInfer.Planner;

/// <summary>
/// What the user asked for. Null sizes are chosen by the planner (and the choice is reported);
/// a null <see cref="Recompute"/> means "the least recomputation that fits".
/// </summary>
public sealed record PlanRequest(ModelSpec Model, ClusterSpec Cluster)
{
    public int? TensorParallel { get; init; }
    public int? PipelineParallel { get; init; }
    public int? DataParallel { get; init; }
    public int? MicroBatch { get; init; }
    /// <summary>Global batch in sequences.</summary>
    public int? GlobalBatch { get; init; }
    /// <summary>Tokens per sequence; default min(model context, 2048)... or the model context for short-context models.</summary>
    public int? SequenceLength { get; init; }
    public PipelineSchedule Schedule { get; init; } = PipelineSchedule.OneFOneB;
    public int Chunks { get; init; } = 2;
    public Recompute? Recompute { get; init; }
    public bool FlashAttention { get; init; } = true;
    public bool SequenceParallel { get; init; } = true;
    public bool DistributedOptimizer { get; init; } = true;
    /// <summary>Plan the main configuration with BPipe's balanced memory.</summary>
    public bool BPipe { get; init; }
    /// <summary>Memory kept aside per GPU (bytes).</summary>
    public double ReservedBytes { get; init; } = MemoryModel.DefaultReservedBytes;
    /// <summary>Also search every (t, p, d, b, recompute) for the fastest fitting config, with and without BPipe.</summary>
    public bool Search { get; init; }
    /// <summary>Serving: devices to split the model over (null = the fewest that hold it).</summary>
    public int? ServeDevices { get; init; }
    /// <summary>Serving: bytes per weight (2 for 16-bit, 1 for 8-bit, 0.5 for 4-bit).</summary>
    public double ServeWeightBytes { get; init; } = 2;
    /// <summary>Serving: bytes per KV-cache element.</summary>
    public double ServeKvBytes { get; init; } = 2;

    /// <summary>Sequence length used: the request's, else min(model context, 2048) (GPT-3 and LLaMA trained at 2048).</summary>
    public int EffectiveSequenceLength => SequenceLength ?? Math.Min(Model.MaxSequence, 2048);

    /// <summary>
    /// Global batch used for d replicas: the request's, else about 4 Mi tokens (LLaMA's batch) rounded down to
    /// d times a power of two, so micro-batches of powers of two divide it.
    /// </summary>
    public int EffectiveGlobalBatch(int dataParallel)
    {
        if (GlobalBatch is int given) return given;
        double sequences = 4.0 * 1024 * 1024 / EffectiveSequenceLength;
        int target = (int)Math.Pow(2, Math.Round(Math.Log2(Math.Max(1, sequences))));
        int perReplica = (int)Math.Pow(2, Math.Floor(Math.Log2(Math.Max(1.0, (double)target / dataParallel))));
        return dataParallel * perReplica;
    }
}
