using SharpInfer.Kernels.Threading;

namespace SharpInfer.Kernels.Attention;

/// <summary>
/// The model's causal attention entry point, kept for its callers: a thin wrapper over <see cref="BatchAttention"/>
/// with <see cref="CausalMask"/>. The KV heads and head dim come from the cache at the first Run after a Plan.
/// </summary>
public sealed unsafe class PagedAttention
{
    private readonly BatchAttention _attention;
    private int[] _qoIndptr = [];
    private PageTable? _table;
    private int _queryHeads;
    private int _plannedKvHeads, _plannedHeadDim; // 0 until the batch is planned for a cache shape

    public PagedAttention(WorkerPool pool) => _attention = new BatchAttention(pool);

    /// <summary>
    /// Split-KV chunks of this many keys, counted from each request's first key, instead of a length derived from the
    /// whole batch. A query's value then depends only on its own request (the serving engine's batch invariance: a
    /// request gives the same bits alone or in any batch). FlashInfer's fixed_split_size; 0 = automatic.
    /// </summary>
    public int FixedKvChunk
    {
        get => _options.MaxKvChunk;
        set => _options = _options with { MaxKvChunk = value };
    }
    private AttentionPlanOptions _options = AttentionPlanOptions.Default with { MaxKvChunk = 512 };

    /// <summary>Fixes the batch shape for this step; every layer's <see cref="Run"/> reuses it.</summary>
    /// <param name="qoIndptr">[B + 1] offsets of each request's queries in the packed query tensor.</param>
    public void Plan(int[] qoIndptr, PageTable table, int queryHeads)
    {
        if (!table.FitsQoIndptr(qoIndptr)) throw new ArgumentException("qo_indptr and the page table disagree on the batch size");
        for (int b = 0; b < table.BatchSize; b++)
            if (qoIndptr[b + 1] - qoIndptr[b] > table.KvLength(b)) throw new ArgumentException($"request {b} has {qoIndptr[b + 1] - qoIndptr[b]} queries but only {table.KvLength(b)} keys");
        _qoIndptr = qoIndptr; _table = table; _queryHeads = queryHeads;
        _plannedKvHeads = _plannedHeadDim = 0;
    }

    /// <param name="q">[tokens, queryHeads, headDim] queries (RoPE already applied).</param>
    /// <param name="output">[tokens, queryHeads, headDim].</param>
    /// <param name="scale">Softmax scale, usually 1/sqrt(headDim).</param>
    public void Run(PagedKvCache cache, int layer, float* q, float* output, float scale)
    {
        if (_table == null) throw new InvalidOperationException("Plan() must be called before Run()");
        if (_queryHeads % cache.KvHeads != 0) throw new InvalidOperationException($"{_queryHeads} query heads are not a multiple of {cache.KvHeads} KV heads");
        if (_plannedKvHeads != cache.KvHeads || _plannedHeadDim != cache.HeadDim)
        {
            _attention.Plan(_qoIndptr, _table, _queryHeads, cache.KvHeads, cache.HeadDim, _options);
            _plannedKvHeads = cache.KvHeads; _plannedHeadDim = cache.HeadDim;
        }
        _attention.Run(cache.View(layer), q, output, null, new CausalMask(scale));
    }
}
