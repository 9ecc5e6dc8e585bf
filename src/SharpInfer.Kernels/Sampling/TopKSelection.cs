namespace SharpInfer.Kernels.Sampling;

/// <summary>
/// Orders candidate tokens by value, descending, ties by lower id: a total order, so sampling is deterministic.
/// Shared by the probability-sampling kernel and the engine's logit sampler.
/// </summary>
public static class TopKSelection
{
    private static bool Before(float va, int ia, float vb, int ib) => va > vb || (va == vb && ia < ib);

    /// <summary>The k best (value desc, id asc) to the front, sorted: a bounded min-heap, O(n log k).</summary>
    public static void SelectTop(Span<float> values, Span<int> ids, int k)
    {
        for (int i = k / 2 - 1; i >= 0; i--) SiftDown(values, ids, i, k);
        for (int i = k; i < values.Length; i++)
            if (Before(values[i], ids[i], values[0], ids[0]))
            {
                (values[0], values[i]) = (values[i], values[0]);
                (ids[0], ids[i]) = (ids[i], ids[0]);
                SiftDown(values, ids, 0, k);
            }
        SortDescending(values, ids, k);
    }

    private static void SiftDown(Span<float> values, Span<int> ids, int i, int size)
    {
        while (true)
        {
            int l = 2 * i + 1, r = l + 1, worst = i;
            if (l < size && Before(values[worst], ids[worst], values[l], ids[l])) worst = l;
            if (r < size && Before(values[worst], ids[worst], values[r], ids[r])) worst = r;
            if (worst == i) return;
            (values[i], values[worst]) = (values[worst], values[i]);
            (ids[i], ids[worst]) = (ids[worst], ids[i]);
            i = worst;
        }
    }

    private static readonly Comparer<float> Descending = Comparer<float>.Create((a, b) => b.CompareTo(a));

    public static void SortDescending(Span<float> values, Span<int> ids, int n)
    {
        values[..n].Sort(ids[..n], Descending);
        int start = 0;
        for (int i = 1; i <= n; i++)
            if (i == n || values[i] != values[start])
            {
                if (i - start > 1) ids[start..i].Sort();
                start = i;
            }
    }
}
