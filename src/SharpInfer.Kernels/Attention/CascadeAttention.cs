using SharpInfer.Kernels.Threading;

namespace SharpInfer.Kernels.Attention;

/// <summary>
/// Two-level cascade (shared-prefix) attention, FlashInfer's composable formats: the pages of a prefix shared by
/// every request of the batch, then each request's own pages, in one KV store. Level 1 runs all queries of the batch
/// as one request over the prefix (no mask: the prefix precedes every query), so the prefix K/V is read once per step,
/// not once per request; level 2 runs each request's queries over its own pages with the bottom-right causal mask;
/// merge_state combines them. Equal to causal attention over prefix + own pages, up to rounding.
/// </summary>
public sealed unsafe class CascadeAttention
{
    private readonly BatchAttention _shared, _unique;
    private int[] _sharedIndptr = new int[2];
    private float[] _sharedO = [];    // [nnz, Hq, D]
    private float[] _sharedLse = [];  // [nnz, Hq]
    private float[] _uniqueLse = [];  // [nnz, Hq]
    private int _rows, _headDim;
    private bool _planned;

    public CascadeAttention(WorkerPool pool)
    {
        _shared = new BatchAttention(pool);
        _unique = new BatchAttention(pool);
    }

    /// <param name="qoIndptr">[B + 1] offsets of each request's queries in the packed [nnz, Hq, D] tensor.</param>
    /// <param name="sharedPrefix">a single-request table of the shared prefix's pages.</param>
    /// <param name="unique">each request's own pages, after the prefix; every request's queries are its last tokens.</param>
    public void Plan(int[] qoIndptr, PageTable sharedPrefix, PageTable unique, int numQoHeads, int numKvHeads, int headDim, AttentionPlanOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(sharedPrefix);
        ArgumentNullException.ThrowIfNull(unique);
        if (sharedPrefix.BatchSize != 1) throw new ArgumentException($"the shared prefix table must hold one request, not {sharedPrefix.BatchSize}");
        if (sharedPrefix.PageSize != unique.PageSize) throw new ArgumentException($"page sizes differ: prefix {sharedPrefix.PageSize}, unique {unique.PageSize}");
        for (int b = 0; b < unique.BatchSize && b + 1 < qoIndptr.Length; b++)
            if (qoIndptr[b + 1] - qoIndptr[b] > unique.KvLength(b))
                throw new ArgumentException($"request {b} has {qoIndptr[b + 1] - qoIndptr[b]} queries but {unique.KvLength(b)} own keys: its queries must lie after the shared prefix");
        _unique.Plan(qoIndptr, unique, numQoHeads, numKvHeads, headDim, options);
        _sharedIndptr[1] = qoIndptr[unique.BatchSize];
        _shared.Plan(_sharedIndptr, sharedPrefix, numQoHeads, numKvHeads, headDim, options);
        _rows = qoIndptr[unique.BatchSize] * numQoHeads; _headDim = headDim;
        if (_sharedLse.Length < _rows)
        {
            _sharedO = GC.AllocateUninitializedArray<float>((int)Math.Min(int.MaxValue, (long)_rows * headDim * 3 / 2), pinned: true);
            _sharedLse = GC.AllocateUninitializedArray<float>(_rows * 3 / 2 + 1, pinned: true);
            _uniqueLse = GC.AllocateUninitializedArray<float>(_rows * 3 / 2 + 1, pinned: true);
        }
        else if (_sharedO.Length < (long)_rows * headDim) _sharedO = GC.AllocateUninitializedArray<float>(checked(_rows * headDim), pinned: true);
        _planned = true;
    }

    /// <param name="kv">the layer's K/V holding both the prefix and the own pages.</param>
    /// <param name="q">[nnz, Hq, D].</param>
    /// <param name="output">[nnz, Hq, D].</param>
    /// <param name="lse">[nnz, Hq] base-2 LSE over prefix and own keys, or null.</param>
    public void Run(PagedKvView kv, float* q, float* output, float* lse, float smScale)
    {
        if (!_planned) throw new InvalidOperationException("Plan() must be called before Run()");
        fixed (float* sharedO = _sharedO) fixed (float* sharedLse = _sharedLse) fixed (float* uniqueLse = _uniqueLse)
        {
            _shared.Run(kv, q, sharedO, sharedLse, new NoMask(smScale));
            float* s = lse != null ? lse : uniqueLse;
            _unique.Run(kv, q, output, s, new CausalMask(smScale));
            for (int r = 0; r < _rows; r++) AttentionState.MergeRow(output + (long)r * _headDim, ref s[r], sharedO + (long)r * _headDim, sharedLse[r], _headDim);
        }
    }
}
