using System.Runtime.InteropServices;

namespace SharpInfer.Kernels.Attention;

/// <summary>
/// The physical KV storage of every layer, split into fixed-size pages in HND layout
/// ([pages, kvHeads, pageSize, headDim]: one head's page is contiguous, the natural layout for CPU reads, the default)
/// or NHD ([pages, pageSize, kvHeads, headDim]). Kernels read it through <see cref="View"/>.
/// It knows nothing about which request owns which page: the engine's page pool decides that and describes it
/// with a <see cref="PageTable"/>. Memory is native (not GC heap) and zeroed, lazily: it comes from calloc, whose
/// large blocks are fresh pages the OS zero-fills on first touch, so a server's 2 GiB pool costs neither startup time
/// nor resident memory until requests use it (clearing it eagerly took about half a second and all 2 GiB at once).
/// </summary>
public sealed unsafe class PagedKvCache : IDisposable
{
    private readonly float*[] _keys;   // per layer: [Pages, KvHeads, PageSize, HeadDim] (HND) or [Pages, PageSize, KvHeads, HeadDim] (NHD)
    private readonly float*[] _values; // per layer: same shape as _keys
    private readonly HugePages.Block[] _blocks; // the allocations, two per layer (K, V), to free

    public int Layers { get; }
    public int Pages { get; }
    public int PageSize { get; }
    public int KvHeads { get; }
    public int HeadDim { get; }
    public KvLayout Layout { get; }
    /// <summary>Floats in one page of one layer's K (or V).</summary>
    public long PageFloats => (long)KvHeads * PageSize * HeadDim;
    /// <summary>Bytes held for K and V of all layers.</summary>
    public long TotalBytes => 2L * Layers * Pages * PageFloats * sizeof(float);

    public PagedKvCache(int layers, int pages, int pageSize, int kvHeads, int headDim, KvLayout layout = KvLayout.Hnd)
    {
        if (layers <= 0 || pages <= 0 || pageSize <= 0 || kvHeads <= 0 || headDim <= 0)
            throw new ArgumentException($"invalid KV cache shape: layers {layers}, pages {pages}, page size {pageSize}, kv heads {kvHeads}, head dim {headDim}");
        Layers = layers; Pages = pages; PageSize = pageSize; KvHeads = kvHeads; HeadDim = headDim; Layout = layout;
        _keys = new float*[layers];
        _values = new float*[layers];
        _blocks = new HugePages.Block[2 * layers];
        nuint bytes = checked((nuint)(pages * PageFloats * sizeof(float)));
        for (int l = 0; l < layers; l++)
        {
            _keys[l] = ZeroedAligned(bytes, out _blocks[2 * l]);
            _values[l] = ZeroedAligned(bytes, out _blocks[2 * l + 1]);
        }
    }

    /// <summary>The stride-aware view of one layer that the attention kernels read.</summary>
    public PagedKvView View(int layer)
    {
        if ((uint)layer >= (uint)Layers) throw new ArgumentOutOfRangeException(nameof(layer), layer, $"the cache has {Layers} layers");
        return new PagedKvView(_keys[layer], _values[layer], Layout, PageSize, KvHeads, HeadDim, owner: this);
    }

    /// <summary>Start of head <paramref name="kvHead"/> in page <paramref name="page"/> of layer K: [PageSize, HeadDim]. HND only.</summary>
    public float* KeyHeadPage(int layer, int page, int kvHead) => _keys[layer] + page * PageFloats + (long)kvHead * PageSize * HeadDim + RequireHnd();

    /// <summary>Start of head <paramref name="kvHead"/> in page <paramref name="page"/> of layer V: [PageSize, HeadDim]. HND only.</summary>
    public float* ValueHeadPage(int layer, int page, int kvHead) => _values[layer] + page * PageFloats + (long)kvHead * PageSize * HeadDim + RequireHnd();

    private int RequireHnd() => Layout == KvLayout.Hnd ? 0 : throw new InvalidOperationException("a head's page is contiguous only in the HND layout; use View()");

    /// <summary>Writes one token's K and V ([KvHeads, HeadDim] each) into (page, entry) of a layer.</summary>
    public void Write(int layer, int page, int entry, ReadOnlySpan<float> key, ReadOnlySpan<float> value)
    {
        if ((uint)page >= (uint)Pages || (uint)entry >= (uint)PageSize) throw new ArgumentOutOfRangeException(nameof(page), $"slot ({page}, {entry}) outside the cache");
        if (key.Length < KvHeads * HeadDim || value.Length < KvHeads * HeadDim) throw new ArgumentException($"K and V need {KvHeads * HeadDim} floats each");
        var view = View(layer);
        for (int h = 0; h < KvHeads; h++)
        {
            key.Slice(h * HeadDim, HeadDim).CopyTo(new Span<float>(view.KeyRow(page, entry, h), HeadDim));
            value.Slice(h * HeadDim, HeadDim).CopyTo(new Span<float>(view.ValueRow(page, entry, h), HeadDim));
        }
    }

    /// <summary>
    /// Zeroed memory aligned to 64 bytes (a cache line and an AVX-512 vector); a layer's K or V of 2 MiB or more in
    /// transparent huge pages (<see cref="HugePages"/>): attention streams it, and with 4 KiB pages it waited on page
    /// walks (decode of 8 x 4096 keys 8-15% faster).
    /// </summary>
    private static float* ZeroedAligned(nuint bytes, out HugePages.Block block)
    {
        block = HugePages.AllocZeroed(bytes);
        return (float*)block.Data;
    }

    private bool _disposed;
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (_blocks is null) return; // the constructor threw before allocating (the finalizer still runs)
        foreach (var block in _blocks) HugePages.Free(block);
        GC.SuppressFinalize(this);
    }

    ~PagedKvCache() => Dispose();
}
