namespace SharpInfer.Kernels.Reference;

/// <summary>
/// The distribution that top-k, then top-p, then min-p sampling draws from, in float64 (FlashInfer Trace's
/// top_k_top_p_sampling_from_probs reference, plus min-p). A sampler is correct when its draws stay inside the support
/// and their histogram is close (total variation) to this distribution.
/// </summary>
public static class ReferenceSampling
{
    /// <returns>[vocab] probabilities summing to 1 (zero outside the kept set).</returns>
    public static double[] TopKTopPMinP(ReadOnlySpan<float> probs, int topK, float topP, float minP = 0)
    {
        int vocab = probs.Length;
        var order = Enumerable.Range(0, vocab).ToArray();
        var p = probs.ToArray();
        Array.Sort(order, (a, b) => p[a] != p[b] ? p[b].CompareTo(p[a]) : a.CompareTo(b));
        int n = topK > 0 && topK < vocab ? topK : vocab;
        var result = new double[vocab];
        if (topP <= 0) { result[order[0]] = 1; return result; }
        double mass = 0;
        for (int i = 0; i < n; i++) mass += p[order[i]];
        if (topP < 1)
        {
            double before = 0;
            for (int i = 0; i < n; i++)
            {
                if (i > 0 && before / mass > topP) { n = i; break; }
                before += p[order[i]];
            }
        }
        if (minP > 0)
        {
            double threshold = (double)minP * p[order[0]];
            int m = 1;
            while (m < n && p[order[m]] >= threshold) m++;
            n = m;
        }
        double total = 0;
        for (int i = 0; i < n; i++) total += p[order[i]];
        for (int i = 0; i < n; i++) result[order[i]] = p[order[i]] / total;
        return result;
    }

    /// <summary>Total variation distance between a histogram of draws and a distribution.</summary>
    public static double TotalVariation(ReadOnlySpan<int> samples, ReadOnlySpan<double> distribution)
    {
        var counts = new Dictionary<int, int>();
        foreach (int s in samples) counts[s] = counts.GetValueOrDefault(s) + 1;
        double tv = 0;
        for (int i = 0; i < distribution.Length; i++)
            tv += Math.Abs(counts.GetValueOrDefault(i) / (double)samples.Length - distribution[i]);
        return tv / 2;
    }
}
