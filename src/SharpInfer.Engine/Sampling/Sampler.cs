using System.Numerics.Tensors;
using SharpInfer.Kernels.Sampling;
namespace SharpInfer.Engine.Sampling;

/// <summary>
/// Chooses tokens from logits in llama.cpp's default order: penalties, top-k, top-p, min-p, temperature, draw.
/// Owns its random generator (SplitMix64 seeded xoshiro256**), so a seed gives the same draws on every machine
/// and .NET version. Reuses its buffers: no allocation per token after the first.
/// </summary>
public sealed class Sampler
{
    private readonly SamplingParameters _p;
    private ulong _s0, _s1, _s2, _s3;
    private int[] _ids = [];
    private float[] _values = [];
    private readonly Dictionary<int, int> _counts = [];

    public Sampler(SamplingParameters parameters)
    {
        if (parameters.Validate() is { } problem) throw new ArgumentException(problem);
        _p = parameters;
        ulong seed = parameters.Seed ?? (ulong)Random.Shared.NextInt64();
        _s0 = SplitMix(ref seed); _s1 = SplitMix(ref seed); _s2 = SplitMix(ref seed); _s3 = SplitMix(ref seed);
    }

    /// <summary>Picks the next token. <paramref name="logits"/> [vocab] is modified (penalties are applied in place).</summary>
    /// <param name="history">Tokens so far (prompt and generated), for the penalties.</param>
    public int Sample(Span<float> logits, ReadOnlySpan<int> history)
    {
        ApplyPenalties(logits, history);
        if (_p.Temperature == 0) return ArgMax(logits);

        int vocab = logits.Length;
        if (_ids.Length < vocab) { _ids = new int[vocab]; _values = new float[vocab]; }
        var ids = _ids.AsSpan(0, vocab);
        var values = _values.AsSpan(0, vocab);
        for (int i = 0; i < vocab; i++) ids[i] = i;
        logits.CopyTo(values);
        // Descending by logit, ties by lower id: a total order, so sorting is deterministic.
        int n = vocab;
        if (_p.TopK > 0 && _p.TopK < vocab)
        {
            TopKSelection.SelectTop(values, ids, _p.TopK);
            n = _p.TopK;
        }
        else TopKSelection.SortDescending(values, ids, vocab);

        // Probabilities of the survivors (max subtracted first: logits can be large).
        var kept = values[..n];
        float max = kept[0];
        Span<float> probs = kept; // reuse: logits are no longer needed after this point for the kept set
        float sum = 0;
        for (int i = 0; i < n; i++) { probs[i] = MathF.Exp(kept[i] - max); sum += probs[i]; }
        // top-p: keep the shortest prefix whose mass reaches P.
        if (_p.TopP < 1)
        {
            float cumulative = 0, target = _p.TopP * sum;
            for (int i = 0; i < n; i++)
            {
                cumulative += probs[i];
                if (cumulative >= target) { n = i + 1; break; }
            }
        }
        // min-p: drop tokens below MinP * p(top).
        if (_p.MinP > 0)
        {
            float threshold = _p.MinP * probs[0];
            int m = 1;
            while (m < n && probs[m] >= threshold) m++;
            n = m;
        }
        // Temperature on the survivors: p ~ exp((l - max) / T) = probs^(1/T).
        float invT = 1f / _p.Temperature;
        sum = 0;
        for (int i = 0; i < n; i++) { probs[i] = MathF.Pow(probs[i], invT); sum += probs[i]; }
        double r = NextDouble() * sum;
        double acc = 0;
        for (int i = 0; i < n; i++)
        {
            acc += probs[i];
            if (r < acc) return ids[i];
        }
        return ids[n - 1];
    }

    /// <summary>
    /// The index of the largest logit, the first one on ties. Vectorized (a batched decode step samples every
    /// request's 49k-logit row, which the scalar loop made ~1% of a 32-request step). IEEE maximum order: +0 counts
    /// above -0, and a NaN logit, the sign of a broken forward, would win.
    /// </summary>
    public static int ArgMax(ReadOnlySpan<float> logits) => TensorPrimitives.IndexOfMax(logits);

    private void ApplyPenalties(Span<float> logits, ReadOnlySpan<int> history)
    {
        bool any = _p.RepetitionPenalty != 1 || _p.PresencePenalty != 0 || _p.FrequencyPenalty != 0;
        if (!any || _p.PenaltyLastN == 0 || history.IsEmpty) return;
        var window = _p.PenaltyLastN < 0 || _p.PenaltyLastN >= history.Length ? history : history[^_p.PenaltyLastN..];
        _counts.Clear();
        foreach (int t in window)
            if ((uint)t < (uint)logits.Length) _counts[t] = _counts.GetValueOrDefault(t) + 1;
        foreach (var (token, count) in _counts)
        {
            ref float l = ref logits[token];
            l = l > 0 ? l / _p.RepetitionPenalty : l * _p.RepetitionPenalty;
            l -= count * _p.FrequencyPenalty + _p.PresencePenalty;
        }
    }

    private static ulong SplitMix(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    private ulong NextUInt64()
    {
        ulong result = BitOperationsRotl(_s1 * 5, 7) * 9, t = _s1 << 17;
        _s2 ^= _s0; _s3 ^= _s1; _s1 ^= _s2; _s0 ^= _s3; _s2 ^= t; _s3 = BitOperationsRotl(_s3, 45);
        return result;
    }

    private static ulong BitOperationsRotl(ulong x, int k) => (x << k) | (x >> (64 - k));

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    private double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));
}
