using SharpInfer.Engine.Generation;
using SharpInfer.Models.Tokenization;

namespace SharpInfer.Engine.Serving;

/// <summary>One generation request as the serving engine sees it: who sent it, the prompt tokens, how to generate.</summary>
public sealed record ServingRequest
{
    /// <summary>The client the request is charged to (fair scheduling is between clients, not requests).</summary>
    public string ClientId { get; init; } = "anonymous";
    /// <summary>The client's share relative to others (VTC/DLPM divide its charges by this).</summary>
    public double ClientWeight { get; init; } = 1;
    public required IReadOnlyList<int> PromptTokens { get; init; }
    public required GenerationOptions Options { get; init; }
}

/// <summary>
/// A shared engine that many callers submit generations to. Implementations: <see cref="SerialServingEngine"/> (one
/// request at a time) and the continuous-batching engine.
/// </summary>
public interface IServingEngine : IAsyncDisposable
{
    ITokenizer Tokenizer { get; }
    /// <summary>Prompt plus generated tokens must fit in this many tokens.</summary>
    int ContextLength { get; }

    /// <summary>
    /// Queues the request and streams its updates as tokens are generated; the last update carries the stats.
    /// Cancelling <paramref name="cancellation"/> (or abandoning the enumeration) cancels the request and frees its KV
    /// pages at once. Throws <see cref="QueueFullException"/> when the waiting queue is full and
    /// <see cref="PromptTooLongException"/> when the prompt does not fit the context.
    /// </summary>
    IAsyncEnumerable<GenerationUpdate> GenerateAsync(ServingRequest request, CancellationToken cancellation = default);

    /// <summary>A consistent snapshot of the counters /metrics exports.</summary>
    EngineSnapshot Snapshot();

    /// <summary>Stops admitting new requests; running and queued ones finish (or are cancelled by their callers).</summary>
    Task DrainAsync(CancellationToken cancellation = default);
}

/// <summary>Counters of the engine at one moment.</summary>
public sealed record EngineSnapshot
{
    public int Waiting { get; init; }
    public int Running { get; init; }
    public int KvPagesUsed { get; init; }
    public int KvPagesTotal { get; init; }
    /// <summary>Tokens per KV page (0 when the engine has no paged cache).</summary>
    public int PageSize { get; init; }
    /// <summary>Pages held by the prefix cache (reclaimable when unlocked; not counted in <see cref="KvPagesUsed"/> then).</summary>
    public int KvPagesCached { get; init; }
    /// <summary>Running requests preempted (and later recomputed) because KV pages ran out.</summary>
    public long Preemptions { get; init; }
    /// <summary>Prompt tokens whose KV came from the prefix cache, and all prompt tokens admitted.</summary>
    public long PrefixCacheHitTokens { get; init; }
    public long PromptTokens { get; init; }
    public double PrefixCacheHitRate => PromptTokens == 0 ? 0 : (double)PrefixCacheHitTokens / PromptTokens;
    public long GeneratedTokens { get; init; }
    public long Steps { get; init; }
    public IReadOnlyDictionary<string, ClientCounters> Clients { get; init; } = new Dictionary<string, ClientCounters>();
}

/// <summary>Service a client received: prompt tokens computed (cache hits excluded), tokens generated, requests.</summary>
public sealed record ClientCounters(long ComputedPromptTokens, long GeneratedTokens, long Requests, double Service)
{
    /// <summary>The client's requests waiting for admission now (the client is backlogged while this is above 0).</summary>
    public int Waiting { get; init; }
}

/// <summary>The waiting queue is full; the caller should retry after <see cref="RetryAfter"/>.</summary>
public sealed class QueueFullException(int capacity, TimeSpan retryAfter)
    : Exception($"the server queue is full ({capacity} requests waiting); retry later")
{
    public TimeSpan RetryAfter { get; } = retryAfter;
}
