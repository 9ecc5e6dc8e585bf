namespace SharpInfer.Kernels.Attention;

/// <summary>
/// What a kernel needs to read one layer of a paged KV store: K and V base pointers, the layout and the shape.
/// Row pointers are computed from strides, so HND, NHD and ragged (contiguous) storage share one kernel.
/// </summary>
public readonly unsafe struct PagedKvView
{
    /// <summary>K of the layer: [pages, kvHeads, pageSize, headDim] (HND) or [pages, pageSize, kvHeads, headDim] (NHD).</summary>
    public readonly float* Keys;
    /// <summary>V of the layer, same shape as <see cref="Keys"/>.</summary>
    public readonly float* Values;
    public readonly KvLayout Layout;
    public readonly int PageSize;
    public readonly int KvHeads;
    public readonly int HeadDim;
    private readonly long _pageStride, _entryStride, _headStride; // in floats
    // The cache whose memory the pointers address: a view taken from a cache nobody else references still keeps it
    // from being finalized (and its memory unmapped) while the view is in use.
    private readonly object? _owner;

    public PagedKvView(float* keys, float* values, KvLayout layout, int pageSize, int kvHeads, int headDim)
        : this(keys, values, layout, pageSize, kvHeads, headDim, owner: null)
    {
    }

    internal PagedKvView(float* keys, float* values, KvLayout layout, int pageSize, int kvHeads, int headDim, object? owner)
    {
        _owner = owner;
        if (keys == null || values == null) throw new ArgumentNullException(nameof(keys), "K and V must not be null");
        if (pageSize <= 0 || kvHeads <= 0 || headDim <= 0) throw new ArgumentException($"invalid KV view shape: page size {pageSize}, kv heads {kvHeads}, head dim {headDim}");
        Keys = keys; Values = values; Layout = layout; PageSize = pageSize; KvHeads = kvHeads; HeadDim = headDim;
        _pageStride = (long)pageSize * kvHeads * headDim;
        (_entryStride, _headStride) = layout == KvLayout.Hnd ? ((long)headDim, (long)pageSize * headDim) : ((long)kvHeads * headDim, (long)headDim);
    }

    /// <summary>
    /// Contiguous (ragged) K/V, each [tokens, kvHeads, headDim]: an NHD store with one token per page, so page id =
    /// token index (see <see cref="RaggedKv.Table"/>).
    /// </summary>
    public static PagedKvView Ragged(float* keys, float* values, int kvHeads, int headDim) => new(keys, values, KvLayout.Nhd, 1, kvHeads, headDim);

    /// <summary>Floats from one KV head's row to the next head's row of the same (page, entry).</summary>
    public long HeadStride => _headStride;

    /// <summary>K row [headDim] of (page, entry, kv head).</summary>
    public float* KeyRow(int page, int entry, int kvHead) => Keys + page * _pageStride + entry * _entryStride + kvHead * _headStride;

    /// <summary>V row [headDim] of (page, entry, kv head).</summary>
    public float* ValueRow(int page, int entry, int kvHead) => Values + page * _pageStride + entry * _entryStride + kvHead * _headStride;
}
