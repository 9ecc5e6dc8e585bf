using SharpInfer.Kernels.Attention;

namespace SharpInfer.Engine.Kv;

/// <summary>
/// Owns the paged KV cache and decides which request holds which page. Running out of pages is a value
/// (<see cref="TryAllocate"/> returns false), so the caller chooses what to do: wait, preempt, or refuse.
/// </summary>
public sealed class KvPagePool : IDisposable
{
    public PagedKvCache Cache { get; }
    /// <summary>Which pages are free; a prefix cache over this pool frees and allocates through it too.</summary>
    public PageAllocator Allocator { get; }
    public int PageSize => Cache.PageSize;
    public int TotalPages => Cache.Pages;
    public int FreePages => Allocator.FreePages;
    public int UsedPages => Allocator.UsedPages;

    public KvPagePool(PagedKvCache cache)
    {
        Cache = cache;
        Allocator = new PageAllocator(cache.Pages);
    }

    /// <summary>Pages needed to hold <paramref name="tokens"/> tokens.</summary>
    public int PagesFor(int tokens) => (tokens + PageSize - 1) / PageSize;

    /// <summary>Appends <paramref name="count"/> free pages to <paramref name="pages"/>, or changes nothing and returns false.</summary>
    public bool TryAllocate(int count, List<int> pages) => Allocator.TryAllocate(count, pages);

    /// <summary>Returns the pages to the pool and empties <paramref name="pages"/>; throws on a double free.</summary>
    public void Free(List<int> pages) => Allocator.Free(pages);

    public void Dispose() => Cache.Dispose();
}
