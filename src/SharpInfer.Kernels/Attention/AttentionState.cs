namespace SharpInfer.Kernels.Attention;

/// <summary>
/// Partial attention states (v, s): v the softmax-weighted sum of values over some keys, s = log2 sum 2^logit2 the
/// base-2 log-sum-exp of those keys' logits. Two states over disjoint key sets merge into the state over their union,
/// in any order (commutative and associative up to rounding), which is what split-KV and cascade attention rely on.
/// An empty state is (0, -inf).
/// </summary>
public static unsafe class AttentionState
{
    /// <summary>
    /// (va, sa) := merge((va, sa), (vb, sb)): m = max(sa, sb), wa = 2^(sa-m), wb = 2^(sb-m),
    /// va = (wa va + wb vb) / (wa + wb), sa = m + log2(wa + wb). Both empty gives (0, -inf), never NaN.
    /// </summary>
    /// <param name="va">[D] updated in place.</param>
    /// <param name="vb">[D].</param>
    public static void Merge(Span<float> va, ref float sa, ReadOnlySpan<float> vb, float sb)
    {
        if (va.Length != vb.Length) throw new ArgumentException($"states of {va.Length} and {vb.Length} floats cannot merge");
        fixed (float* pa = va) fixed (float* pb = vb) MergeRow(pa, ref sa, pb, sb, va.Length);
    }

    /// <summary>Row by row <see cref="Merge"/> of a batch: (v, s) := merge((v, s), (vOther, sOther)).</summary>
    /// <param name="v">[n, H, D] updated in place.</param>
    /// <param name="s">[n, H] base-2 LSE, updated in place.</param>
    /// <param name="vOther">[n, H, D].</param>
    /// <param name="sOther">[n, H].</param>
    public static void MergeStates(Span<float> v, Span<float> s, ReadOnlySpan<float> vOther, ReadOnlySpan<float> sOther, int headDim)
    {
        if (headDim <= 0 || v.Length != s.Length * headDim || vOther.Length != v.Length || sOther.Length != s.Length)
            throw new ArgumentException($"merge_states shapes disagree: v {v.Length}, s {s.Length}, v' {vOther.Length}, s' {sOther.Length}, head dim {headDim}");
        fixed (float* pv = v) fixed (float* po = vOther)
            for (int r = 0; r < s.Length; r++) MergeRow(pv + (long)r * headDim, ref s[r], po + (long)r * headDim, sOther[r], headDim);
    }

    internal static void MergeRow(float* va, ref float sa, float* vb, float sb, int d)
    {
        float m = MathF.Max(sa, sb);
        if (float.IsNegativeInfinity(m))
        {
            new Span<float>(va, d).Clear();
            sa = float.NegativeInfinity;
            return;
        }
        float wa = float.Exp2(sa - m), wb = float.Exp2(sb - m), sum = wa + wb;
        float ca = wa / sum, cb = wb / sum;
        AttentionSimd.ScaleAdd(va, ca, vb, cb, d);
        sa = m + MathF.Log2(sum);
    }
}
