namespace SharpInfer.Kernels.Attention;

/// <summary>
/// FlashInfer's page table in CSR form for a batch of B requests: the pages of request b are
/// Indices[Indptr[b] .. Indptr[b+1]), the last of them filled to LastPageLength[b] (1..pageSize).
/// Length of request b = (pages - 1) * pageSize + LastPageLength[b], or 0 without pages.
/// </summary>
public sealed class PageTable
{
    public int[] Indptr { get; }          // [B + 1] (or longer: entries past B are not read)
    public int[] Indices { get; }         // [Indptr[B]] (or longer)
    public int[] LastPageLength { get; }  // [B] (or longer)
    public int PageSize { get; }
    public int BatchSize { get; }

    /// <param name="batchSize">B; by default lastPageLength.Length. A smaller B lets a caller that plans every engine
    /// step reuse arrays sized for its largest batch instead of allocating exact-length ones.</param>
    public PageTable(int[] indptr, int[] indices, int[] lastPageLength, int pageSize, int batchSize = -1)
    {
        if (batchSize < 0)
        {
            // Without an explicit B the arrays must agree exactly, which catches a mismatched pair.
            batchSize = lastPageLength.Length;
            if (indptr.Length != batchSize + 1) throw new ArgumentException("indptr must have batch size + 1 entries");
        }
        if (batchSize > lastPageLength.Length) throw new ArgumentException($"batch size {batchSize} exceeds the {lastPageLength.Length} last page lengths");
        if (indptr.Length < batchSize + 1) throw new ArgumentException($"indptr has {indptr.Length} entries, fewer than batch size {batchSize} + 1");
        if (indptr[0] != 0 || indptr[batchSize] > indices.Length) throw new ArgumentException("indptr does not match indices");
        for (int b = 0; b < batchSize; b++)
        {
            if (indptr[b + 1] < indptr[b]) throw new ArgumentException($"indptr decreases at request {b}");
            bool empty = indptr[b + 1] == indptr[b];
            if (!empty && (lastPageLength[b] < 1 || lastPageLength[b] > pageSize)) throw new ArgumentException($"last page length {lastPageLength[b]} of request {b} outside 1..{pageSize}");
        }
        Indptr = indptr; Indices = indices; LastPageLength = lastPageLength; PageSize = pageSize; BatchSize = batchSize;
    }

    /// <summary>
    /// Whether <paramref name="qoIndptr"/> fits this batch: B + 1 entries, or more when this table's own arrays are
    /// longer than B (buffers reused from step to step), so an indptr of another batch is still caught.
    /// </summary>
    public bool FitsQoIndptr(int[] qoIndptr) => qoIndptr.Length == BatchSize + 1 || qoIndptr.Length > BatchSize + 1 && Indptr.Length > BatchSize + 1;

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
