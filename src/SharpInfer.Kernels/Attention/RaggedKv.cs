namespace SharpInfer.Kernels.Attention;

/// <summary>
/// Ragged (contiguous) K/V for prefill without a page pool, FlashInfer's gqa_ragged: K and V are [nnz_kv, Hkv, D]
/// packed, request b's keys at rows kv_indptr[b] .. kv_indptr[b+1]. It is the paged kernel with one token per page
/// and page id = row: <see cref="PagedKvView.Ragged"/> plus <see cref="Table"/>.
/// </summary>
public static class RaggedKv
{
    /// <summary>The page table of ragged K/V: page size 1, pages kv_indptr[b] .. kv_indptr[b+1] for request b.</summary>
    /// <param name="kvIndptr">[B + 1] offsets of each request's keys in the packed K/V.</param>
    public static PageTable Table(int[] kvIndptr)
    {
        ArgumentNullException.ThrowIfNull(kvIndptr);
        if (kvIndptr.Length == 0 || kvIndptr[0] != 0) throw new ArgumentException("kv_indptr must start with 0");
        int batch = kvIndptr.Length - 1;
        var indices = new int[kvIndptr[^1]];
        for (int i = 0; i < indices.Length; i++) indices[i] = i;
        var last = new int[batch];
        for (int b = 0; b < batch; b++) last[b] = kvIndptr[b + 1] > kvIndptr[b] ? 1 : 0;
        return new PageTable(kvIndptr, indices, last, 1);
    }
}
