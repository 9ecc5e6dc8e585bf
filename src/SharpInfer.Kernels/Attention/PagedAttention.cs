using System.Numerics.Tensors;
using SharpInfer.Kernels.Threading;

namespace SharpInfer.Kernels.Attention;

/// <summary>
/// Causal (bottom-right aligned) grouped-query attention of a ragged batch of queries over a paged KV cache:
/// query i of request b (of qoLen) sees keys 0 .. kvLen - qoLen + i. Decode is the case qoLen = 1.
/// Work items are (query token, KV head) pairs; the g query heads that share a KV head are processed together so
/// each K/V row is read once per group. Each item's result is computed by one thread in a fixed order.
/// </summary>
public sealed unsafe class PagedAttention : IParallelWork
{
    [ThreadStatic] private static float[]? t_scores;

    private readonly WorkerPool _pool;
    private PagedKvCache? _cache;
    private PageTable? _table;
    private int[] _qoIndptr = [];
    private int[] _tokenRequest = new int[64];
    private int _layer, _queryHeads, _tokens;
    private float _scale;
    private float* _q;
    private float* _o;

    public PagedAttention(WorkerPool pool) => _pool = pool;

    /// <summary>
    /// Fixes the batch shape for this step: which request each query token belongs to. Call once per step; every
    /// layer's <see cref="Run"/> reuses it.
    /// </summary>
    /// <param name="qoIndptr">[B + 1] offsets of each request's queries in the packed query tensor.</param>
    public void Plan(int[] qoIndptr, PageTable table, int queryHeads)
    {
        if (qoIndptr.Length != table.BatchSize + 1) throw new ArgumentException("qo_indptr and the page table disagree on the batch size");
        int tokens = qoIndptr[^1];
        if (_tokenRequest.Length < tokens) _tokenRequest = new int[Math.Max(tokens, 2 * _tokenRequest.Length)];
        for (int b = 0; b < table.BatchSize; b++)
        {
            int qoLen = qoIndptr[b + 1] - qoIndptr[b];
            if (qoLen > table.KvLength(b)) throw new ArgumentException($"request {b} has {qoLen} queries but only {table.KvLength(b)} keys");
            for (int t = qoIndptr[b]; t < qoIndptr[b + 1]; t++) _tokenRequest[t] = b;
        }
        _qoIndptr = qoIndptr; _table = table; _tokens = tokens; _queryHeads = queryHeads;
    }

    /// <param name="q">[tokens, queryHeads, headDim] queries (RoPE already applied).</param>
    /// <param name="output">[tokens, queryHeads, headDim].</param>
    /// <param name="scale">Softmax scale, usually 1/sqrt(headDim).</param>
    public void Run(PagedKvCache cache, int layer, float* q, float* output, float scale)
    {
        if (_table == null) throw new InvalidOperationException("Plan() must be called before Run()");
        if (_queryHeads % cache.KvHeads != 0) throw new InvalidOperationException($"{_queryHeads} query heads are not a multiple of {cache.KvHeads} KV heads");
        _cache = cache; _layer = layer; _q = q; _o = output; _scale = scale;
        _pool.For(_tokens * cache.KvHeads, this);
    }

    void IParallelWork.Execute(int item)
    {
        var cache = _cache!;
        var table = _table!;
        int kvHeads = cache.KvHeads, d = cache.HeadDim, pageSize = cache.PageSize;
        int token = item / kvHeads, kvHead = item % kvHeads;
        int b = _tokenRequest[token];
        int qoLen = _qoIndptr[b + 1] - _qoIndptr[b];
        int kvLen = table.KvLength(b);
        int visible = kvLen - qoLen + (token - _qoIndptr[b]) + 1; // bottom-right causal mask
        int group = _queryHeads / kvHeads;

        var scores = t_scores is { } s && s.Length >= group * visible ? s : (t_scores = new float[Math.Max(group * visible, 4096)]);
        float* qBase = _q + ((long)token * _queryHeads + kvHead * group) * d;
        float* oBase = _o + ((long)token * _queryHeads + kvHead * group) * d;

        // Scores of the whole group, key by key: scores[g * visible + j] = q_g . k_j * scale.
        int pageStart = table.Indptr[b];
        for (int j0 = 0; j0 < visible; j0 += pageSize)
        {
            float* keys = cache.KeyHeadPage(_layer, table.Indices[pageStart + j0 / pageSize], kvHead);
            int n = Math.Min(pageSize, visible - j0);
            for (int e = 0; e < n; e++)
            {
                var k = new ReadOnlySpan<float>(keys + e * d, d);
                for (int g = 0; g < group; g++)
                    scores[g * visible + j0 + e] = TensorPrimitives.Dot(new ReadOnlySpan<float>(qBase + g * d, d), k) * _scale;
            }
        }
        for (int g = 0; g < group; g++)
        {
            var row = scores.AsSpan(g * visible, visible);
            Elementwise.Activations.SoftmaxInPlace(row);
            new Span<float>(oBase + g * d, d).Clear();
        }
        for (int j0 = 0; j0 < visible; j0 += pageSize)
        {
            float* values = cache.ValueHeadPage(_layer, table.Indices[pageStart + j0 / pageSize], kvHead);
            int n = Math.Min(pageSize, visible - j0);
            for (int e = 0; e < n; e++)
            {
                var v = new ReadOnlySpan<float>(values + e * d, d);
                for (int g = 0; g < group; g++)
                {
                    var o = new Span<float>(oBase + g * d, d);
                    TensorPrimitives.MultiplyAdd(v, scores[g * visible + j0 + e], o, o);
                }
            }
        }
    }
}
