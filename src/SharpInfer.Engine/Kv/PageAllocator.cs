namespace SharpInfer.Engine.Kv;

/// <summary>
/// The free list of KV page ids. It holds no KV memory, so the same allocator serves a real <see cref="KvPagePool"/>
/// and a simulation. Freeing a page that is already free, or that is out of range, throws: every page must have
/// exactly one owner (a request, the prefix cache, or this free list), and a double free means two owners.
/// </summary>
public sealed class PageAllocator
{
    private readonly int[] _freeStack;
    private readonly bool[] _isFree;
    private int _freeCount;

    public PageAllocator(int totalPages)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(totalPages);
        _freeStack = new int[totalPages];
        _isFree = new bool[totalPages];
        // Pushed high to low so the lowest ids come out first: page tables of short runs stay small and predictable.
        for (int p = totalPages - 1; p >= 0; p--) _freeStack[_freeCount++] = p;
        Array.Fill(_isFree, true);
    }

    public int TotalPages => _isFree.Length;
    public int FreePages => _freeCount;
    public int UsedPages => TotalPages - _freeCount;

    public bool IsFree(int page) => (uint)page < (uint)_isFree.Length && _isFree[page];

    /// <summary>Appends <paramref name="count"/> free pages to <paramref name="pages"/>, or changes nothing and returns false.</summary>
    public bool TryAllocate(int count, List<int> pages)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (count > _freeCount) return false;
        for (int i = 0; i < count; i++)
        {
            int page = _freeStack[--_freeCount];
            _isFree[page] = false;
            pages.Add(page);
        }
        return true;
    }

    /// <summary>Returns one page to the free list.</summary>
    public void Free(int page)
    {
        if ((uint)page >= (uint)_isFree.Length) throw new InvalidOperationException($"page {page} does not belong to this allocator");
        if (_isFree[page]) throw new InvalidOperationException($"page {page} was freed twice");
        _isFree[page] = true;
        _freeStack[_freeCount++] = page;
    }

    /// <summary>Returns the pages to the free list.</summary>
    public void Free(ReadOnlySpan<int> pages)
    {
        foreach (int page in pages) Free(page);
    }

    /// <summary>Returns the pages to the free list and empties <paramref name="pages"/>.</summary>
    public void Free(List<int> pages)
    {
        Free(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(pages));
        pages.Clear();
    }
}
