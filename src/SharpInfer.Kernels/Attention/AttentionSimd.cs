using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SharpInfer.Kernels.Attention;

/// <summary>
/// The SIMD primitives of the attention kernels: Vector512 where the CPU accelerates it, else Vector256, else scalar
/// (the IsHardwareAccelerated checks are JIT-time constants, so each machine compiles one path). Any head dim works;
/// elements past the last full vector take scalar tails.
/// </summary>
internal static unsafe class AttentionSimd
{
    /// <summary>Keys per softmax block; also the row stride of the score scratch.</summary>
    public const int BlockKeys = 32;

    /// <summary>
    /// The eight dot products of four query rows with two key rows: eight independent FMA chains (enough to hide FMA
    /// latency), six loads per eight FMAs, and one joint horizontal reduction instead of eight.
    /// </summary>
    /// <param name="s">[2, 4] out: s[k * 4 + r] = q_r . k_k.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Dot4x2(float* q0, float* q1, float* q2, float* q3, float* k0, float* k1, int d, float* s)
    {
        if (Vector512.IsHardwareAccelerated && Avx.IsSupported) Dot512x2<FourRows>(q0, q1, q2, q3, k0, k1, d, s);
        else if (Avx.IsSupported)
        {
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, b0 = default, b1 = default, b2 = default, b3 = default;
            int e = 0;
            for (; e + 8 <= d; e += 8)
            {
                var x = Vector256.Load(k0 + e); var y = Vector256.Load(k1 + e);
                var r0 = Vector256.Load(q0 + e); var r1 = Vector256.Load(q1 + e); var r2 = Vector256.Load(q2 + e); var r3 = Vector256.Load(q3 + e);
                a0 = Vector256.MultiplyAddEstimate(r0, x, a0); a1 = Vector256.MultiplyAddEstimate(r1, x, a1);
                a2 = Vector256.MultiplyAddEstimate(r2, x, a2); a3 = Vector256.MultiplyAddEstimate(r3, x, a3);
                b0 = Vector256.MultiplyAddEstimate(r0, y, b0); b1 = Vector256.MultiplyAddEstimate(r1, y, b1);
                b2 = Vector256.MultiplyAddEstimate(r2, y, b2); b3 = Vector256.MultiplyAddEstimate(r3, y, b3);
            }
            Reduce8(a0, a1, a2, a3, b0, b1, b2, b3).Store(s);
            Tail4x2(q0, q1, q2, q3, k0, k1, e, d, s);
        }
        else
        {
            s[0] = Dot(q0, k0, d); s[1] = Dot(q1, k0, d); s[2] = Dot(q2, k0, d); s[3] = Dot(q3, k0, d);
            s[4] = Dot(q0, k1, d); s[5] = Dot(q1, k1, d); s[6] = Dot(q2, k1, d); s[7] = Dot(q3, k1, d);
        }
    }

    /// <summary>
    /// The sixteen dot products of four query rows with four key rows: sixteen independent FMA chains, eight loads per
    /// sixteen FMAs. A head dim of 128 gives each chain only eight FMAs, so <see cref="Dot4x2"/>'s eight chains leave
    /// the FMA units waiting on their latency; sixteen keep them busy. Each (row, key) gets exactly the operations of
    /// <see cref="Dot4x2"/> (the same chain and the same reduction tree), so a score's bits do not depend on which
    /// kernel computed it. Row r's four scores go to s_r[0..4) (a repeated row may repeat its output pointer).
    /// </summary>
    /// <param name="t">[16] scratch, used without 512-bit vectors.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Dot4x4(float* q0, float* q1, float* q2, float* q3, float* k0, float* k1, float* k2, float* k3, int d,
        float* s0, float* s1, float* s2, float* s3, float* t)
    {
        if (Vector512.IsHardwareAccelerated && Avx.IsSupported) Dot512x4<FourRows>(q0, q1, q2, q3, k0, k1, k2, k3, d, s0, s1, s2, s3);
        else
        {
            Dot4x2(q0, q1, q2, q3, k0, k1, d, t);
            Dot4x2(q0, q1, q2, q3, k2, k3, d, t + 8);
            // s3 first: a repeated row's output pointer gets the same values again.
            s3[0] = t[3]; s3[1] = t[7]; s3[2] = t[11]; s3[3] = t[15];
            s2[0] = t[2]; s2[1] = t[6]; s2[2] = t[10]; s2[3] = t[14];
            s1[0] = t[1]; s1[1] = t[5]; s1[2] = t[9]; s1[3] = t[13];
            s0[0] = t[0]; s0[1] = t[4]; s0[2] = t[8]; s0[3] = t[12];
        }
    }

    /// <summary><see cref="Dot4x4"/> for three query rows, with the same per-row operations.</summary>
    /// <param name="t">[16] scratch, used without 512-bit vectors.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Dot3x4(float* q0, float* q1, float* q2, float* k0, float* k1, float* k2, float* k3, int d, float* s0, float* s1, float* s2, float* t)
    {
        if (Vector512.IsHardwareAccelerated && Avx.IsSupported) Dot512x4<ThreeRows>(q0, q1, q2, q2, k0, k1, k2, k3, d, s0, s1, s2, s2);
        else Dot4x4(q0, q1, q2, q2, k0, k1, k2, k3, d, s0, s1, s2, s2, t);
    }

    /// <summary>
    /// The 512-bit body of <see cref="Dot4x4"/> and <see cref="Dot3x4"/> (q3 must be q2 with three rows). The reduction
    /// groups each row's four keys: Reduce4 of one row's keys sums every (row, key) by the tree Reduce8 uses, and
    /// leaves the row's scores side by side, stored as one 128-bit vector instead of sixteen scattered floats.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Dot512x4<TRows>(float* q0, float* q1, float* q2, float* q3, float* k0, float* k1, float* k2, float* k3, int d,
        float* s0, float* s1, float* s2, float* s3) where TRows : struct, IRowCount
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, b0 = default, b1 = default, b2 = default, b3 = default;
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default, f0 = default, f1 = default, f2 = default, f3 = default;
        int e = 0;
        for (; e + 16 <= d; e += 16)
        {
            var x = Vector512.Load(k0 + e); var y = Vector512.Load(k1 + e); var z = Vector512.Load(k2 + e); var w = Vector512.Load(k3 + e);
            var r0 = Vector512.Load(q0 + e);
            a0 = Vector512.MultiplyAddEstimate(r0, x, a0); b0 = Vector512.MultiplyAddEstimate(r0, y, b0);
            c0 = Vector512.MultiplyAddEstimate(r0, z, c0); f0 = Vector512.MultiplyAddEstimate(r0, w, f0);
            var r1 = Vector512.Load(q1 + e);
            a1 = Vector512.MultiplyAddEstimate(r1, x, a1); b1 = Vector512.MultiplyAddEstimate(r1, y, b1);
            c1 = Vector512.MultiplyAddEstimate(r1, z, c1); f1 = Vector512.MultiplyAddEstimate(r1, w, f1);
            var r2 = Vector512.Load(q2 + e);
            a2 = Vector512.MultiplyAddEstimate(r2, x, a2); b2 = Vector512.MultiplyAddEstimate(r2, y, b2);
            c2 = Vector512.MultiplyAddEstimate(r2, z, c2); f2 = Vector512.MultiplyAddEstimate(r2, w, f2);
            if (TRows.Value > 3)
            {
                var r3 = Vector512.Load(q3 + e);
                a3 = Vector512.MultiplyAddEstimate(r3, x, a3); b3 = Vector512.MultiplyAddEstimate(r3, y, b3);
                c3 = Vector512.MultiplyAddEstimate(r3, z, c3); f3 = Vector512.MultiplyAddEstimate(r3, w, f3);
            }
        }
        var h = Reduce4(Fold(a0), Fold(b0), Fold(c0), Fold(f0)); (h.GetLower() + h.GetUpper()).Store(s0);
        h = Reduce4(Fold(a1), Fold(b1), Fold(c1), Fold(f1)); (h.GetLower() + h.GetUpper()).Store(s1);
        h = Reduce4(Fold(a2), Fold(b2), Fold(c2), Fold(f2)); (h.GetLower() + h.GetUpper()).Store(s2);
        if (TRows.Value > 3) { h = Reduce4(Fold(a3), Fold(b3), Fold(c3), Fold(f3)); (h.GetLower() + h.GetUpper()).Store(s3); }
        // The elements past the last full vector, added after the reduction as Tail4x2 adds them. A repeated row shares
        // its output with the row it repeats and gets its tail once.
        if (e < d)
        {
            TailRow4(q0, k0, k1, k2, k3, e, d, s0);
            if (s1 != s0) TailRow4(q1, k0, k1, k2, k3, e, d, s1);
            if (s2 != s1) TailRow4(q2, k0, k1, k2, k3, e, d, s2);
            if (TRows.Value > 3 && s3 != s2) TailRow4(q3, k0, k1, k2, k3, e, d, s3);
        }
    }

    private static void TailRow4(float* q, float* k0, float* k1, float* k2, float* k3, int e, int d, float* s)
    {
        for (; e < d; e++) { s[0] += q[e] * k0[e]; s[1] += q[e] * k1[e]; s[2] += q[e] * k2[e]; s[3] += q[e] * k3[e]; }
    }

    /// <summary>The four dot products of four query rows with one key row (the odd key of a block).</summary>
    /// <param name="s">[4] out.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Dot4(float* q0, float* q1, float* q2, float* q3, float* k, int d, float* s)
    {
        if (Vector512.IsHardwareAccelerated && Avx.IsSupported) Dot512x1<FourRows>(q0, q1, q2, q3, k, d, s);
        else
        {
            s[0] = Dot(q0, k, d); s[1] = Dot(q1, k, d); s[2] = Dot(q2, k, d); s[3] = Dot(q3, k, d);
        }
    }

    /// <summary>
    /// <see cref="Dot4x2"/> for three query rows (the query heads of one KV head with GQA 3): the same operations per
    /// row, so each row gets the bits it gets in a group of four, with a quarter fewer loads and FMAs.
    /// </summary>
    /// <param name="s">[2, 4] out: s[k * 4 + r] = q_r . k_k for r &lt; 3 (s[3] and s[7] are scratch).</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Dot3x2(float* q0, float* q1, float* q2, float* k0, float* k1, int d, float* s)
    {
        if (Vector512.IsHardwareAccelerated && Avx.IsSupported) Dot512x2<ThreeRows>(q0, q1, q2, q2, k0, k1, d, s);
        else Dot4x2(q0, q1, q2, q2, k0, k1, d, s);
    }

    /// <summary><see cref="Dot4"/> for three query rows, with the same per-row operations.</summary>
    /// <param name="s">[4] out (s[3] is scratch).</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Dot3(float* q0, float* q1, float* q2, float* k, int d, float* s)
    {
        if (Vector512.IsHardwareAccelerated && Avx.IsSupported) Dot512x1<ThreeRows>(q0, q1, q2, q2, k, d, s);
        else Dot4(q0, q1, q2, q2, k, d, s);
    }

    /// <summary>
    /// The 512-bit body of <see cref="Dot4x2"/> and <see cref="Dot3x2"/>: one FMA chain per (row, key), 16 floats at a
    /// time, one joint reduction. With three rows the fourth is neither loaded nor multiplied (q3 must be q2: the
    /// reduction and the tail repeat row 2 in its place).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Dot512x2<TRows>(float* q0, float* q1, float* q2, float* q3, float* k0, float* k1, int d, float* s) where TRows : struct, IRowCount
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, b0 = default, b1 = default, b2 = default, b3 = default;
        int e = 0;
        for (; e + 16 <= d; e += 16)
        {
            var x = Vector512.Load(k0 + e); var y = Vector512.Load(k1 + e);
            var r0 = Vector512.Load(q0 + e); var r1 = Vector512.Load(q1 + e); var r2 = Vector512.Load(q2 + e);
            a0 = Vector512.MultiplyAddEstimate(r0, x, a0); a1 = Vector512.MultiplyAddEstimate(r1, x, a1); a2 = Vector512.MultiplyAddEstimate(r2, x, a2);
            b0 = Vector512.MultiplyAddEstimate(r0, y, b0); b1 = Vector512.MultiplyAddEstimate(r1, y, b1); b2 = Vector512.MultiplyAddEstimate(r2, y, b2);
            if (TRows.Value > 3)
            {
                var r3 = Vector512.Load(q3 + e);
                a3 = Vector512.MultiplyAddEstimate(r3, x, a3); b3 = Vector512.MultiplyAddEstimate(r3, y, b3);
            }
        }
        var fa2 = Fold(a2); var fb2 = Fold(b2);
        Reduce8(Fold(a0), Fold(a1), fa2, TRows.Value > 3 ? Fold(a3) : fa2, Fold(b0), Fold(b1), fb2, TRows.Value > 3 ? Fold(b3) : fb2).Store(s);
        Tail4x2(q0, q1, q2, q3, k0, k1, e, d, s);
    }

    /// <summary>The 512-bit body of <see cref="Dot4"/> and <see cref="Dot3"/> (q3 must be q2 with three rows).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Dot512x1<TRows>(float* q0, float* q1, float* q2, float* q3, float* k, int d, float* s) where TRows : struct, IRowCount
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        int e = 0;
        for (; e + 16 <= d; e += 16)
        {
            var x = Vector512.Load(k + e);
            a0 = Vector512.MultiplyAddEstimate(Vector512.Load(q0 + e), x, a0); a1 = Vector512.MultiplyAddEstimate(Vector512.Load(q1 + e), x, a1);
            a2 = Vector512.MultiplyAddEstimate(Vector512.Load(q2 + e), x, a2);
            if (TRows.Value > 3) a3 = Vector512.MultiplyAddEstimate(Vector512.Load(q3 + e), x, a3);
        }
        var f2 = Fold(a2);
        var h = Reduce4(Fold(a0), Fold(a1), f2, TRows.Value > 3 ? Fold(a3) : f2);
        (h.GetLower() + h.GetUpper()).Store(s);
        for (; e < d; e++) { s[0] += q0[e] * k[e]; s[1] += q1[e] * k[e]; s[2] += q2[e] * k[e]; s[3] += q3[e] * k[e]; }
    }

    /// <summary>The elements past the last full vector (head dims that are not a multiple of the vector width).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Tail4x2(float* q0, float* q1, float* q2, float* q3, float* k0, float* k1, int e, int d, float* s)
    {
        for (; e < d; e++)
        {
            s[0] += q0[e] * k0[e]; s[1] += q1[e] * k0[e]; s[2] += q2[e] * k0[e]; s[3] += q3[e] * k0[e];
            s[4] += q0[e] * k1[e]; s[5] += q1[e] * k1[e]; s[6] += q2[e] * k1[e]; s[7] += q3[e] * k1[e];
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Fold(Vector512<float> v) => v.GetLower() + v.GetUpper();

    // Per 128-bit lane: [sum(a), sum(b), sum(c), sum(d)] of that lane's four floats of each input.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Reduce4(Vector256<float> a, Vector256<float> b, Vector256<float> c, Vector256<float> d) =>
        Avx.HorizontalAdd(Avx.HorizontalAdd(a, b), Avx.HorizontalAdd(c, d));

    // [sum(a0), sum(a1), sum(a2), sum(a3), sum(b0), sum(b1), sum(b2), sum(b3)].
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Reduce8(Vector256<float> a0, Vector256<float> a1, Vector256<float> a2, Vector256<float> a3,
        Vector256<float> b0, Vector256<float> b1, Vector256<float> b2, Vector256<float> b3)
    {
        var ha = Reduce4(a0, a1, a2, a3);
        var hb = Reduce4(b0, b1, b2, b3);
        return Avx.Permute2x128(ha, hb, 0x20) + Avx.Permute2x128(ha, hb, 0x31);
    }

    /// <summary>One dot product: the fallback of <see cref="Dot4x2"/> and <see cref="Dot4"/> on machines without AVX.</summary>
    private static float Dot(float* q, float* k, int d)
    {
        float s = 0;
        for (int e = 0; e < d; e++) s = MathF.FusedMultiplyAdd(q[e], k[e], s);
        return s;
    }

    /// <summary>
    /// Two rows of <see cref="AccumulateWeightedRows"/> at once: each V load feeds both rows, and the eight
    /// accumulators are independent FMA chains.
    /// </summary>
    /// <param name="aheadRows">null, or rows aheadRows[0..aheadCount) + aheadOffset to request into L2 during the first pass.</param>
    public static void AccumulateWeightedRows2(float* o0, float* o1, float* p0, float* p1, nint* v, int n, int d,
        nint* aheadRows = null, nint aheadOffset = 0, int aheadCount = 0) =>
        WeightedRows<TwoRows>(o0, o1, null, null, p0, p1, null, null, v, n, d, aheadRows, aheadOffset, aheadCount);

    /// <summary>
    /// Three rows of <see cref="AccumulateWeightedRows"/> at once (the live query heads of one KV head with GQA 3): each
    /// V load feeds three rows, where a pair and a single row load every V row twice.
    /// </summary>
    /// <param name="aheadRows">null, or rows aheadRows[0..aheadCount) + aheadOffset to request into L2 during the first pass.</param>
    public static void AccumulateWeightedRows3(float* o0, float* o1, float* o2, float* p0, float* p1, float* p2, nint* v, int n, int d,
        nint* aheadRows = null, nint aheadOffset = 0, int aheadCount = 0) =>
        WeightedRows<ThreeRows>(o0, o1, o2, null, p0, p1, p2, null, v, n, d, aheadRows, aheadOffset, aheadCount);

    /// <summary>
    /// Four rows of <see cref="AccumulateWeightedRows"/> at once: each V load feeds four rows (sixteen FMAs per four
    /// loads, where pairs need eight loads), so the pass is bound by the FMAs rather than by L1/L2 reads.
    /// </summary>
    /// <param name="aheadRows">null, or rows aheadRows[0..aheadCount) + aheadOffset to request into L2 during the first pass.</param>
    public static void AccumulateWeightedRows4(float* o0, float* o1, float* o2, float* o3, float* p0, float* p1, float* p2, float* p3, nint* v, int n, int d,
        nint* aheadRows = null, nint aheadOffset = 0, int aheadCount = 0) =>
        WeightedRows<FourRows>(o0, o1, o2, o3, p0, p1, p2, p3, v, n, d, aheadRows, aheadOffset, aheadCount);

    /// <summary>How many rows a multi-row pass handles; a constant after JIT specialisation.</summary>
    private interface IRowCount { static abstract int Value { get; } }
    private struct TwoRows : IRowCount { public static int Value => 2; }
    private struct ThreeRows : IRowCount { public static int Value => 3; }
    private struct FourRows : IRowCount { public static int Value => 4; }

    /// <summary>
    /// Two, three or four rows of <see cref="AccumulateWeightedRows"/> in one pass over V, 64 floats of each at a time in
    /// registers. Each row's operations are those of <see cref="AccumulateWeightedRows"/>, so its bits do not depend
    /// on how rows were grouped.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void WeightedRows<TRows>(float* o0, float* o1, float* o2, float* o3, float* p0, float* p1, float* p2, float* p3, nint* v, int n, int d,
        nint* aheadRows, nint aheadOffset, int aheadCount) where TRows : struct, IRowCount
    {
        if (aheadRows == null) aheadCount = 0;
        int e = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; e + 64 <= d; e += 64)
            {
                var a0 = Vector512.Load(o0 + e); var a1 = Vector512.Load(o0 + e + 16); var a2 = Vector512.Load(o0 + e + 32); var a3 = Vector512.Load(o0 + e + 48);
                var b0 = Vector512.Load(o1 + e); var b1 = Vector512.Load(o1 + e + 16); var b2 = Vector512.Load(o1 + e + 32); var b3 = Vector512.Load(o1 + e + 48);
                Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default;
                if (TRows.Value > 2) { c0 = Vector512.Load(o2 + e); c1 = Vector512.Load(o2 + e + 16); c2 = Vector512.Load(o2 + e + 32); c3 = Vector512.Load(o2 + e + 48); }
                Vector512<float> f0 = default, f1 = default, f2 = default, f3 = default;
                if (TRows.Value > 3) { f0 = Vector512.Load(o3 + e); f1 = Vector512.Load(o3 + e + 16); f2 = Vector512.Load(o3 + e + 32); f3 = Vector512.Load(o3 + e + 48); }
                for (int j = 0; j < n; j++)
                {
                    // Rows for the next head or block, one per key while this pass computes (see AttentionKernel).
                    if (j < aheadCount) CachePrefetch.ToL2((byte*)(aheadRows[j] + aheadOffset), d * sizeof(float));
                    float* row = (float*)v[j] + e;
                    var v0 = Vector512.Load(row); var v1 = Vector512.Load(row + 16); var v2 = Vector512.Load(row + 32); var v3 = Vector512.Load(row + 48);
                    var w = Vector512.Create(p0[j]);
                    a0 = Vector512.MultiplyAddEstimate(v0, w, a0); a1 = Vector512.MultiplyAddEstimate(v1, w, a1);
                    a2 = Vector512.MultiplyAddEstimate(v2, w, a2); a3 = Vector512.MultiplyAddEstimate(v3, w, a3);
                    var x = Vector512.Create(p1[j]);
                    b0 = Vector512.MultiplyAddEstimate(v0, x, b0); b1 = Vector512.MultiplyAddEstimate(v1, x, b1);
                    b2 = Vector512.MultiplyAddEstimate(v2, x, b2); b3 = Vector512.MultiplyAddEstimate(v3, x, b3);
                    if (TRows.Value > 2)
                    {
                        var z = Vector512.Create(p2[j]);
                        c0 = Vector512.MultiplyAddEstimate(v0, z, c0); c1 = Vector512.MultiplyAddEstimate(v1, z, c1);
                        c2 = Vector512.MultiplyAddEstimate(v2, z, c2); c3 = Vector512.MultiplyAddEstimate(v3, z, c3);
                    }
                    if (TRows.Value > 3)
                    {
                        var u = Vector512.Create(p3[j]);
                        f0 = Vector512.MultiplyAddEstimate(v0, u, f0); f1 = Vector512.MultiplyAddEstimate(v1, u, f1);
                        f2 = Vector512.MultiplyAddEstimate(v2, u, f2); f3 = Vector512.MultiplyAddEstimate(v3, u, f3);
                    }
                }
                a0.Store(o0 + e); a1.Store(o0 + e + 16); a2.Store(o0 + e + 32); a3.Store(o0 + e + 48);
                b0.Store(o1 + e); b1.Store(o1 + e + 16); b2.Store(o1 + e + 32); b3.Store(o1 + e + 48);
                if (TRows.Value > 2) { c0.Store(o2 + e); c1.Store(o2 + e + 16); c2.Store(o2 + e + 32); c3.Store(o2 + e + 48); }
                if (TRows.Value > 3) { f0.Store(o3 + e); f1.Store(o3 + e + 16); f2.Store(o3 + e + 32); f3.Store(o3 + e + 48); }
                for (int j = n; j < aheadCount; j++) CachePrefetch.ToL2((byte*)(aheadRows[j] + aheadOffset), d * sizeof(float));
                aheadCount = 0; // requested in the first pass
            }
        if (e < d)
        {
            // The rest (d not a multiple of 64, or no 512-bit vectors) row by row, exactly as AccumulateWeightedRows goes on.
            for (int j = 0; j < aheadCount; j++) CachePrefetch.ToL2((byte*)(aheadRows[j] + aheadOffset), d * sizeof(float));
            AccumulateWeightedRowsFrom(o0, p0, v, n, d, e);
            AccumulateWeightedRowsFrom(o1, p1, v, n, d, e);
            if (TRows.Value > 2) AccumulateWeightedRowsFrom(o2, p2, v, n, d, e);
            if (TRows.Value > 3) AccumulateWeightedRowsFrom(o3, p3, v, n, d, e);
        }
    }

    /// <summary>o[0..d) += sum_j p[j] * v[j][0..d): the output row stays in registers across the keys, 64 floats at a time.</summary>
    /// <param name="p">[n] weights.</param>
    /// <param name="v">[n] pointers to value rows of [d].</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void AccumulateWeightedRows(float* o, float* p, nint* v, int n, int d) => AccumulateWeightedRowsFrom(o, p, v, n, d, 0);

    /// <summary><see cref="AccumulateWeightedRows"/> over elements [start, d), start a multiple of 64 (where a multi-row pass stopped).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AccumulateWeightedRowsFrom(float* o, float* p, nint* v, int n, int d, int start)
    {
        int e = start;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; e + 64 <= d; e += 64)
            {
                var a0 = Vector512.Load(o + e); var a1 = Vector512.Load(o + e + 16); var a2 = Vector512.Load(o + e + 32); var a3 = Vector512.Load(o + e + 48);
                for (int j = 0; j < n; j++)
                {
                    var w = Vector512.Create(p[j]);
                    float* row = (float*)v[j] + e;
                    a0 = Vector512.MultiplyAddEstimate(Vector512.Load(row), w, a0);
                    a1 = Vector512.MultiplyAddEstimate(Vector512.Load(row + 16), w, a1);
                    a2 = Vector512.MultiplyAddEstimate(Vector512.Load(row + 32), w, a2);
                    a3 = Vector512.MultiplyAddEstimate(Vector512.Load(row + 48), w, a3);
                }
                a0.Store(o + e); a1.Store(o + e + 16); a2.Store(o + e + 32); a3.Store(o + e + 48);
            }
            for (; e + 16 <= d; e += 16)
            {
                var a = Vector512.Load(o + e);
                for (int j = 0; j < n; j++) a = Vector512.MultiplyAddEstimate(Vector512.Load((float*)v[j] + e), Vector512.Create(p[j]), a);
                a.Store(o + e);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            for (; e + 32 <= d; e += 32)
            {
                var a0 = Vector256.Load(o + e); var a1 = Vector256.Load(o + e + 8); var a2 = Vector256.Load(o + e + 16); var a3 = Vector256.Load(o + e + 24);
                for (int j = 0; j < n; j++)
                {
                    var w = Vector256.Create(p[j]);
                    float* row = (float*)v[j] + e;
                    a0 = Vector256.MultiplyAddEstimate(Vector256.Load(row), w, a0);
                    a1 = Vector256.MultiplyAddEstimate(Vector256.Load(row + 8), w, a1);
                    a2 = Vector256.MultiplyAddEstimate(Vector256.Load(row + 16), w, a2);
                    a3 = Vector256.MultiplyAddEstimate(Vector256.Load(row + 24), w, a3);
                }
                a0.Store(o + e); a1.Store(o + e + 8); a2.Store(o + e + 16); a3.Store(o + e + 24);
            }
            for (; e + 8 <= d; e += 8)
            {
                var a = Vector256.Load(o + e);
                for (int j = 0; j < n; j++) a = Vector256.MultiplyAddEstimate(Vector256.Load((float*)v[j] + e), Vector256.Create(p[j]), a);
                a.Store(o + e);
            }
        }
        for (int j = 0; j < n; j++)
            for (int i = e; i < d; i++) o[i] = MathF.FusedMultiplyAdd(((float*)v[j])[i], p[j], o[i]);
    }

    /// <summary>dst[0..d) = src[0..d) * a.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Scale(float* dst, float* src, float a, int d)
    {
        int e = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var w = Vector256.Create(a);
            for (; e + 8 <= d; e += 8) (Vector256.Load(src + e) * w).Store(dst + e);
        }
        for (; e < d; e++) dst[e] = src[e] * a;
    }

    /// <summary>va[0..d) = va * ca + vb * cb.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ScaleAdd(float* va, float ca, float* vb, float cb, int d)
    {
        int e = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var wa = Vector256.Create(ca); var wb = Vector256.Create(cb);
            for (; e + 8 <= d; e += 8) (Vector256.Load(va + e) * wa + Vector256.Load(vb + e) * wb).Store(va + e);
        }
        for (; e < d; e++) va[e] = va[e] * ca + vb[e] * cb;
    }

    /// <summary>Max of a score row of <see cref="BlockKeys"/> floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float BlockMax(float* s)
    {
        if (Vector256.IsHardwareAccelerated && Avx.IsSupported)
        {
            // A tree of lane-wise maxima: Vector256.Max has MathF.Max's semantics (NaN wins, +0 over -0) and is
            // order-free, so the result is the serial loop's; eight dependent scalar maxima per row and block cost
            // as much as the block's exponentials.
            var m = Vector256.Max(Vector256.Max(Vector256.Load(s), Vector256.Load(s + 8)), Vector256.Max(Vector256.Load(s + 16), Vector256.Load(s + 24)));
            m = Vector256.Max(m, Avx.Permute2x128(m, m, 0x01));
            m = Vector256.Max(m, Avx.Shuffle(m, m, 0b01_00_11_10));
            m = Vector256.Max(m, Avx.Shuffle(m, m, 0b10_11_00_01));
            return m.ToScalar();
        }
        float max = s[0];
        for (int i = 1; i < BlockKeys; i++) max = MathF.Max(max, s[i]);
        return max;
    }

    /// <summary>s[i] := 2^(s[i] - max) over a row of <see cref="BlockKeys"/> floats (-inf gives 0); returns the sum.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float BlockExp2(float* s, float max)
    {
        if (Vector256.IsHardwareAccelerated)
        {
            var m = Vector256.Create(max);
            var p0 = Exp2(Vector256.Load(s) - m); var p1 = Exp2(Vector256.Load(s + 8) - m);
            var p2 = Exp2(Vector256.Load(s + 16) - m); var p3 = Exp2(Vector256.Load(s + 24) - m);
            p0.Store(s); p1.Store(s + 8); p2.Store(s + 16); p3.Store(s + 24);
            return Vector256.Sum((p0 + p1) + (p2 + p3));
        }
        float sum = 0;
        for (int i = 0; i < BlockKeys; i++) sum += s[i] = Exp2(s[i] - max);
        return sum;
    }

    // 2^x = 2^round(x) * 2^f, f in [-0.5, 0.5], 2^f by its degree-6 Taylor polynomial (relative error ~1e-7).
    // Inputs at or below -127 (masked keys: -inf) give exactly 0.
    private const float C1 = 0.6931471806f, C2 = 0.2402265070f, C3 = 0.05550410866f, C4 = 0.009618129108f, C5 = 0.001333355815f, C6 = 0.0001540353039f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Exp2(Vector256<float> x)
    {
        x = Vector256.Max(x, Vector256.Create(-127f));
        var n = Vector256.Round(x);
        var f = x - n;
        var p = Vector256.Create(C6);
        p = Vector256.MultiplyAddEstimate(p, f, Vector256.Create(C5));
        p = Vector256.MultiplyAddEstimate(p, f, Vector256.Create(C4));
        p = Vector256.MultiplyAddEstimate(p, f, Vector256.Create(C3));
        p = Vector256.MultiplyAddEstimate(p, f, Vector256.Create(C2));
        p = Vector256.MultiplyAddEstimate(p, f, Vector256.Create(C1));
        p = Vector256.MultiplyAddEstimate(p, f, Vector256.Create(1f));
        var scale = Vector256.ShiftLeft(Vector256.ConvertToInt32(n) + Vector256.Create(127), 23).AsSingle();
        return p * scale;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Exp2(float x)
    {
        x = MathF.Max(x, -127f);
        float n = MathF.Round(x), f = x - n;
        float p = C6;
        p = p * f + C5; p = p * f + C4; p = p * f + C3; p = p * f + C2; p = p * f + C1; p = p * f + 1f;
        return p * BitConverter.Int32BitsToSingle(((int)n + 127) << 23);
    }
}
