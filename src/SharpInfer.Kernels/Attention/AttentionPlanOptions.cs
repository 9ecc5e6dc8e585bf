namespace SharpInfer.Kernels.Attention;

/// <summary>How <see cref="BatchAttention.Plan"/> cuts the batch into work items and hands them to threads.</summary>
public enum AttentionPartition
{
    /// <summary>
    /// FlashInfer's load-balanced scheduler: long KV split into chunks, items (request, KV heads, query tile, KV chunk)
    /// assigned largest first to the least-loaded thread (a min-heap), split rows merged afterwards in chunk order.
    /// </summary>
    LoadBalanced,
    /// <summary>The naive baseline: no split, request b's items all on thread b mod threads.</summary>
    OneThreadPerRequest,
}

/// <summary>Knobs of <see cref="BatchAttention.Plan"/>. The defaults suit decode and prefill.</summary>
public sealed record AttentionPlanOptions
{
    public static AttentionPlanOptions Default { get; } = new();

    public AttentionPartition Partition { get; init; } = AttentionPartition.LoadBalanced;

    /// <summary>
    /// Forces the KV chunk length (tokens) of split-KV; 0 = automatic. Automatic chunks hold
    /// max(<see cref="MinKvChunk"/>, ceil(total key-heads / target items / KV heads per item)) tokens rounded up to 32,
    /// total key-heads being the sum over query tiles of kv_len * H_kv and target items <see cref="TargetItems"/> or,
    /// when 0, max(64, 4 * threads): so the chunk boundaries, and with them the output bits, do not depend on the
    /// thread count for pools of up to 16 threads.
    /// </summary>
    public int MaxKvChunk { get; init; }

    /// <summary>Work items the automatic chunk length aims for (0: max(64, 4 * threads)). Fix it to get the same bits on any pool.</summary>
    public int TargetItems { get; init; }

    /// <summary>Shortest automatic chunk: below it the merge costs more than the parallelism brings.</summary>
    public int MinKvChunk { get; init; } = 256;

    /// <summary>
    /// Query rows per item: prefill tiles hold max(1, this / group) tokens of one KV head; shorter tiles (decode) take
    /// several KV heads, up to this many rows, so that an item reads whole pages.
    /// </summary>
    public int QueryTileRows { get; init; } = 64;
}
