namespace SharpInfer.Kernels.Attention;

/// <summary>
/// FlashInfer's page table in CSR form for a batch of B requests: the pages of request b are
/// Indices[Indptr[b] .. Indptr[b+1]), the last of them filled to LastPageLength[b] (1..pageSize).
/// Length of request b = (pages - 1) * pageSize + LastPageLength[b], or 0 without pages.
/// </summary>
public sealed class PageTable
{
    public int[] Indptr { get; }          // [B + 1]
    public int[] Indices { get; }         // [Indptr[B]]
    public int[] LastPageLength { get; }  // [B]
    public int PageSize { get; }
    public int BatchSize => LastPageLength.Length;

    public PageTable(int[] indptr, int[] indices, int[] lastPageLength, int pageSize)
    {
        if (indptr.Length != lastPageLength.Length + 1) throw new ArgumentException("indptr must have batch size + 1 entries");
        if (indptr[0] != 0 || indptr[^1] > indices.Length) throw new ArgumentException("indptr does not match indices");
        for (int b = 0; b < lastPageLength.Length; b++)
        {
            if (indptr[b + 1] < indptr[b]) throw new ArgumentException($"indptr decreases at request {b}");
            bool empty = indptr[b + 1] == indptr[b];
            if (!empty && (lastPageLength[b] < 1 || lastPageLength[b] > pageSize)) throw new ArgumentException($"last page length {lastPageLength[b]} of request {b} outside 1..{pageSize}");
        }
        Indptr = indptr; Indices = indices; LastPageLength = lastPageLength; PageSize = pageSize;
    }

    /// <summary>Tokens stored for request b.</summary>
    public int KvLength(int b)
    {
        int pages = Indptr[b + 1] - Indptr[b];
        return pages == 0 ? 0 : (pages - 1) * PageSize + LastPageLength[b];
    }

    /// <summary>Physical (page, entry) of logical position <paramref name="position"/> of request b.</summary>
    public (int Page, int Entry) Slot(int b, int position) => (Indices[Indptr[b] + position / PageSize], position % PageSize);

    /// <summary>A single-request table over the given pages holding <paramref name="length"/> tokens.</summary>
    public static PageTable ForSingle(IReadOnlyList<int> pages, int length, int pageSize)
    {
        int needed = (length + pageSize - 1) / pageSize;
        if (needed > pages.Count) throw new ArgumentException($"{length} tokens need {needed} pages, {pages.Count} given");
        var indices = new int[needed];
        for (int i = 0; i < needed; i++) indices[i] = pages[i];
        int last = length == 0 ? 0 : length - (needed - 1) * pageSize;
        return new PageTable([0, needed], indices, [last], pageSize);
    }
}
