namespace SharpInfer.Kernels.Sampling;

/// <summary>Caller-owned buffers of <see cref="ProbabilitySampling"/>, sized for one vocabulary; reuse it across calls.</summary>
public sealed class SamplingScratch(int vocabSize)
{
    internal readonly float[] Values = new float[vocabSize];
    internal readonly int[] Ids = new int[vocabSize];
    public int VocabSize => Values.Length;
}

/// <summary>
/// Draws a token from a probability row after top-k, then top-p, then min-p filtering (FlashInfer's
/// <c>top_k_top_p_sampling_from_probs</c> order, with min-p added). The uniform draw is an argument, so the random
/// generator stays with the caller (the engine's Sampler owns one). Allocates nothing.
/// </summary>
public static class ProbabilitySampling
{
    /// <param name="probs">[vocab] non-negative; need not sum to 1.</param>
    /// <param name="topK">Keep the k most probable tokens; 0 or &gt;= vocab keeps all.</param>
    /// <param name="topP">Keep the shortest prefix (by probability, descending) whose mass before the last kept token is
    /// at most topP of the total (FlashInfer's rule); &lt;= 0 means argmax, &gt;= 1 keeps all.</param>
    /// <param name="minP">Drop tokens below minP times the top probability; 0 keeps all.</param>
    /// <param name="uniform">A draw in [0, 1).</param>
    /// <returns>The token id. Ties between equal probabilities are ordered by lower id.</returns>
    public static int TopKTopPMinP(ReadOnlySpan<float> probs, int topK, float topP, float minP, double uniform, SamplingScratch scratch)
    {
        int vocab = probs.Length;
        if (vocab == 0 || vocab > scratch.VocabSize) throw new ArgumentException($"vocabulary of {vocab} does not fit the scratch of {scratch.VocabSize}");
        var values = scratch.Values.AsSpan(0, vocab);
        var ids = scratch.Ids.AsSpan(0, vocab);
        probs.CopyTo(values);
        for (int i = 0; i < vocab; i++) ids[i] = i;

        int n = vocab;
        if (topK > 0 && topK < vocab) { TopKSelection.SelectTop(values, ids, topK); n = topK; }
        else TopKSelection.SortDescending(values, ids, vocab);
        if (topP <= 0) return ids[0];

        double mass = 0;
        for (int i = 0; i < n; i++) mass += values[i];
        if (topP < 1)
        {
            double limit = topP * mass, before = 0;
            for (int i = 0; i < n; i++)
            {
                if (i > 0 && before > limit) { n = i; break; }
                before += values[i];
            }
        }
        if (minP > 0)
        {
            float threshold = minP * values[0];
            int m = 1;
            while (m < n && values[m] >= threshold) m++;
            n = m;
        }
        double total = 0;
        for (int i = 0; i < n; i++) total += values[i];
        double target = uniform * total, acc = 0;
        for (int i = 0; i < n; i++)
        {
            acc += values[i];
            if (target < acc) return ids[i];
        }
        return ids[n - 1];
    }
}
