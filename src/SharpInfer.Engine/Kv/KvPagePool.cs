using SharpInfer.Kernels.Attention;

namespace SharpInfer.Engine.Kv;

/// <summary>
/// Owns the paged KV cache and decides which request holds which page. Running out of pages is a value
/// (<see cref="TryAllocate"/> returns false), so the caller chooses what to do: wait, preempt, or refuse.
/// </summary>
public sealed class KvPagePool : IDisposable
{
    private readonly Stack<int> _free;

    public PagedKvCache Cache { get; }
    public int PageSize => Cache.PageSize;
    public int TotalPages => Cache.Pages;
    public int FreePages => _free.Count;
    public int UsedPages => TotalPages - FreePages;

    public KvPagePool(PagedKvCache cache)
    {
        Cache = cache;
        _free = new Stack<int>(cache.Pages);
        for (int p = cache.Pages - 1; p >= 0; p--) _free.Push(p); // low page ids first
    }

    /// <summary>Pages needed to hold <paramref name="tokens"/> tokens.</summary>
    public int PagesFor(int tokens) => (tokens + PageSize - 1) / PageSize;

    /// <summary>Appends <paramref name="count"/> free pages to <paramref name="pages"/>, or changes nothing and returns false.</summary>
    public bool TryAllocate(int count, List<int> pages)
    {
        if (count > _free.Count) return false;
        for (int i = 0; i < count; i++) pages.Add(_free.Pop());
        return true;
    }

    public void Free(List<int> pages)
    {
        foreach (int p in pages)
        {
            if ((uint)p >= (uint)TotalPages) throw new InvalidOperationException($"page {p} does not belong to this pool");
            _free.Push(p);
        }
        if (_free.Count > TotalPages) throw new InvalidOperationException("a page was freed twice");
        pages.Clear();
    }

    public void Dispose() => Cache.Dispose();
}
