using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using SharpInfer.Kernels.Quantization;

namespace SharpInfer.Kernels.Dense;

/// <summary>
/// Dot products of a Q8_0 or Q4_0 weight row with int8-quantized activations (<see cref="ActivationQuantizer"/>):
/// per block, an exact int32 sum of int8 products, then scaled by d_w * d_x in float. AVX-512BW and AVX2 paths use
/// the u8 x s8 multiply-add (maddubs) with the sign moved onto the activations (|w| * sign(w) x), then madd with ones
/// to int32; .NET has no VNNI API. A scalar path covers other machines. Block sums are exact integers, so every path
/// gives the same float result up to the order of the float accumulation of block results.
/// </summary>
public static unsafe class IntegerDot
{
    /// <summary>Where a block's weight scale comes from: its f16 field, or a precomputed float table.</summary>
    private interface IScaleSource { float Scale(byte* block, int b); }

    private readonly struct HalfScales : IScaleSource
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float Scale(byte* block, int b) => HalfConvert.ToSingle(block);
    }

    private readonly struct TableScales(float* table) : IScaleSource
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float Scale(byte* block, int b) => table[b];
    }

    public static bool IsSupported(GgmlType type) => type is GgmlType.Q8_0 or GgmlType.Q4_0;

    /// <param name="row">Q8_0 or Q4_0 blocks of one weight row.</param>
    /// <param name="xq">[n] int8 activations.</param>
    /// <param name="xd">[n / 32] activation block scales.</param>
    /// <param name="xs">[n / 32] sums of each activation block's int8 values (used by the Q4_0 AVX-512 path).</param>
    /// <param name="rowScales">[n / 32] float copies of the row's block scales (<see cref="BlockScales"/>), or null.</param>
    public static float Dot(GgmlType type, byte* row, float* rowScales, sbyte* xq, float* xd, int* xs, int n) =>
        rowScales != null ? Dot(type, row, new TableScales(rowScales), xq, xd, xs, n) : Dot(type, row, new HalfScales(), xq, xd, xs, n);

    public static float Dot(GgmlType type, byte* row, sbyte* xq, float* xd, int* xs, int n) => Dot(type, row, null, xq, xd, xs, n);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Dot<TScales>(GgmlType type, byte* row, TScales scales, sbyte* xq, float* xd, int* xs, int n) where TScales : struct, IScaleSource
    {
        int blocks = n / 32;
        if (Avx512BW.IsSupported) return type == GgmlType.Q8_0 ? Q8_0Avx512(row, scales, xq, xd, blocks) : Q4_0Avx512(row, scales, xq, xd, xs, blocks);
        if (Avx2.IsSupported) return type == GgmlType.Q8_0 ? Q8_0Avx2(row, scales, xq, xd, 0, blocks) : Q4_0Avx2(row, scales, xq, xd, 0, blocks);
        return Scalar(type, row, xq, xd, blocks);
    }

    /// <summary>The definition: sum over blocks of d_w * d_x * (exact int sum of w_q * x_q).</summary>
    public static float Scalar(GgmlType type, byte* row, sbyte* xq, float* xd, int blocks)
    {
        float sum = 0;
        int blockBytes = type == GgmlType.Q8_0 ? 34 : 18;
        for (int b = 0; b < blocks; b++)
        {
            byte* block = row + b * blockBytes;
            sbyte* x = xq + b * 32;
            int isum = 0;
            if (type == GgmlType.Q8_0)
                for (int j = 0; j < 32; j++) isum += ((sbyte*)(block + 2))[j] * x[j];
            else
                for (int j = 0; j < 16; j++) isum += ((block[2 + j] & 0x0F) - 8) * x[j] + ((block[2 + j] >> 4) - 8) * x[j + 16];
            sum += HalfConvert.ToSingle(block) * xd[b] * isum;
        }
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> DotI8Avx2(Vector256<sbyte> w, Vector256<sbyte> x)
    {
        var products = Avx2.MultiplyAddAdjacent(Avx2.Abs(w), Avx2.Sign(x, w)); // |w| * (x * sign w), pairs summed to s16
        return Avx2.MultiplyAddAdjacent(products, Vector256.Create((short)1));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> DotI8Avx512(Vector512<sbyte> w, Vector512<sbyte> x)
    {
        // No psignb at 512 bits: negate x where w < 0 by a masked select (w = 0 gives |w| = 0 anyway).
        var negative = Avx512BW.CompareLessThan(w, Vector512<sbyte>.Zero);
        var signedX = Vector512.ConditionalSelect(negative, Vector512<sbyte>.Zero - x, x);
        var products = Avx512BW.MultiplyAddAdjacent(Avx512BW.Abs(w), signedX);
        return Avx512BW.MultiplyAddAdjacent(products, Vector512.Create((short)1));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<sbyte> UnpackQ4_0(byte* qs)
    {
        var packed = Vector128.Load(qs);
        var low = packed & Vector128.Create((byte)0x0F);
        var high = Vector128.ShiftRightLogical(packed, 4);
        return (Vector256.Create(low, high).AsSByte() - Vector256.Create((sbyte)8));
    }

    private static float Q8_0Avx2<TScales>(byte* row, TScales scales, sbyte* xq, float* xd, int first, int blocks) where TScales : struct, IScaleSource
    {
        var acc = Vector256<float>.Zero;
        for (int b = first; b < blocks; b++)
        {
            byte* block = row + b * 34;
            var w = Vector256.Load((sbyte*)(block + 2));
            var x = Vector256.Load(xq + b * 32);
            var isum = Avx.ConvertToVector256Single(DotI8Avx2(w, x));
            acc = Fma.MultiplyAdd(isum, Vector256.Create(scales.Scale(block, b) * xd[b]), acc);
        }
        return Vector256.Sum(acc);
    }

    private static float Q4_0Avx2<TScales>(byte* row, TScales scales, sbyte* xq, float* xd, int first, int blocks) where TScales : struct, IScaleSource
    {
        var acc = Vector256<float>.Zero;
        for (int b = first; b < blocks; b++)
        {
            byte* block = row + b * 18;
            var w = UnpackQ4_0(block + 2);
            var x = Vector256.Load(xq + b * 32);
            var isum = Avx.ConvertToVector256Single(DotI8Avx2(w, x));
            acc = Fma.MultiplyAdd(isum, Vector256.Create(scales.Scale(block, b) * xd[b]), acc);
        }
        return Vector256.Sum(acc);
    }

    private static float Q8_0Avx512<TScales>(byte* row, TScales scales, sbyte* xq, float* xd, int blocks) where TScales : struct, IScaleSource
    {
        // Two blocks per 512-bit vector: the low 256 bits hold block b, the high 256 bits block b + 1.
        var acc = Vector512<float>.Zero;
        int b = 0;
        for (; b + 2 <= blocks; b += 2)
        {
            byte* b0 = row + b * 34, b1 = b0 + 34;
            var w = Vector512.Create(Vector256.Load((sbyte*)(b0 + 2)), Vector256.Load((sbyte*)(b1 + 2)));
            var x = Vector512.Load(xq + b * 32);
            var isum = Avx512F.ConvertToVector512Single(DotI8Avx512(w, x));
            var scale = Vector512.Create(Vector256.Create(scales.Scale(b0, b) * xd[b]), Vector256.Create(scales.Scale(b1, b + 1) * xd[b + 1]));
            acc = Avx512F.FusedMultiplyAdd(isum, scale, acc);
        }
        float sum = Vector512.Sum(acc);
        if (b < blocks) sum += Q8_0Avx2(row, scales, xq, xd, b, blocks);
        return sum;
    }

    private static float Q4_0Avx512<TScales>(byte* row, TScales scales, sbyte* xq, float* xd, int* xs, int blocks) where TScales : struct, IScaleSource
    {
        // The nibbles are unsigned (0..15), so maddubs takes them as they are and no sign juggling is needed:
        // sum (q - 8) x = sum q x - 8 sum x, with sum x per activation block precomputed.
        var acc = Vector512<float>.Zero;
        float correction = 0;
        var mask = Vector128.Create((byte)0x0F);
        int b = 0;
        for (; b + 2 <= blocks; b += 2)
        {
            byte* b0 = row + b * 18, b1 = b0 + 18;
            var p0 = Vector128.Load(b0 + 2);
            var p1 = Vector128.Load(b1 + 2);
            var w = Vector512.Create(Vector256.Create(p0 & mask, Vector128.ShiftRightLogical(p0, 4)), Vector256.Create(p1 & mask, Vector128.ShiftRightLogical(p1, 4)));
            var x = Vector512.Load(xq + b * 32);
            var isum = Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(w, x), Vector512.Create((short)1));
            float s0 = scales.Scale(b0, b) * xd[b], s1 = scales.Scale(b1, b + 1) * xd[b + 1];
            acc = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(isum), Vector512.Create(Vector256.Create(s0), Vector256.Create(s1)), acc);
            correction += s0 * xs[b] + s1 * xs[b + 1];
        }
        float sum = Vector512.Sum(acc) - 8 * correction;
        if (b < blocks) sum += Q4_0Avx2(row, scales, xq, xd, b, blocks);
        return sum;
    }

    // ---- Grouped AVX-512 kernels: four blocks per step ----
    // A row is walked in groups of four blocks (128 values); a row whose block count is not a multiple of four (the
    // 135M shape's 576 columns: 18 blocks) ends with a partial group that runs through the same step with the absent
    // blocks' weights zero and their scales masked to zero, instead of a separate per-block loop and its own
    // reduction. Single-token and multi-token kernels run the same operations per token, so a token's value never
    // depends on the batch.

    /// <summary>Whether the grouped kernels run on this machine (AVX-512BW).</summary>
    public static bool HasGroupedQ4_0 => Avx512BW.IsSupported;

    /// <summary>Groups of four blocks of an <paramref name="n"/>-value row, the last one possibly partial.</summary>
    public static int Groups(int n) => (n / 32 + 3) / 4;

    /// <summary>
    /// Q8_0 dot with a block-scale table, four blocks per AVX-512 step: the four scales come from two vector loads
    /// and a multiply and reach their lanes by two permutes, instead of per-block scalar work.
    /// Requires <see cref="HasGroupedQ4_0"/> (AVX-512BW).
    /// </summary>
    /// <param name="quants">the row's packed int8 values (<see cref="BlockScales.Pack"/>) or null; the same values either way.</param>
    public static float DotQ8_0Grouped(byte* row, float* rowScales, sbyte* xq, float* xd, int n, sbyte* quants = null)
    {
        int blocks = n / 32, full = blocks / 4, tail = blocks - 4 * full;
        var acc = Vector512<float>.Zero;
        for (int g = 0; g < full; g++)
        {
            var (w01, w23) = LoadQ8_0Group(row, quants, g);
            sbyte* x = xq + g * 128;
            var scale4 = Vector128.Load(rowScales + 4 * g) * Vector128.Load(xd + 4 * g);
            acc = Q8_0SingleStep(acc, w01, w23, Vector512.Load(x), Vector512.Load(x + 64), scale4);
        }
        if (tail > 0)
        {
            var (w01, w23) = LoadQ8_0Tail(row, quants, full, tail);
            var (x01, x23) = LoadPartialGroup(xq + full * 128, tail);
            var mask = TailMask(tail);
            var scale4 = Avx.MaskLoad(rowScales + 4 * full, mask) * Avx.MaskLoad(xd + 4 * full, mask);
            acc = Q8_0SingleStep(acc, w01, w23, x01, x23, scale4);
        }
        return Sum(acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Q8_0SingleStep(Vector512<float> acc, Vector512<sbyte> w01, Vector512<sbyte> w23, Vector512<sbyte> x01, Vector512<sbyte> x23, Vector128<float> scale4)
    {
        var firstPair = Vector512.Create(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
        var secondPair = Vector512.Create(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
        var i01 = Avx512F.ConvertToVector512Single(DotI8Avx512(w01, x01));
        var i23 = Avx512F.ConvertToVector512Single(DotI8Avx512(w23, x23));
        var spread = scale4.ToVector256Unsafe().ToVector512Unsafe();
        acc = Avx512F.FusedMultiplyAdd(i01, Avx512F.PermuteVar16x32(spread, firstPair), acc);
        return Avx512F.FusedMultiplyAdd(i23, Avx512F.PermuteVar16x32(spread, secondPair), acc);
    }

    /// <summary>Per token, the spread scales of <see cref="PrepareQ8_0Tokens"/>: <see cref="Groups"/>(n) * 32 floats.</summary>
    public static int Q8_0SpreadFloats(int n) => Groups(n) * 32;

    /// <summary>
    /// Per-token inputs of <see cref="DotQ8_0GroupedTokens"/> besides the int8 values: the negated values (the sign
    /// of w moves onto x by a select instead of a subtract and a select per token and row) and each group of four
    /// block scales spread over the lanes their blocks occupy (<see cref="Q8_0SpreadFloats"/> floats: 8 lanes per
    /// block, zero for the absent blocks of a partial last group).
    /// </summary>
    public static void PrepareQ8_0Tokens(ReadOnlySpan<sbyte> xq, ReadOnlySpan<float> xd, Span<sbyte> negated, Span<float> spreadScales)
    {
        for (int i = 0; i < xq.Length; i++) negated[i] = (sbyte)-xq[i];
        int blocks = xq.Length / 32;
        spreadScales[..Q8_0SpreadFloats(xq.Length)].Clear();
        for (int b = 0; b < blocks; b++) spreadScales.Slice(8 * b, 8).Fill(xd[b]);
    }

    /// <summary>
    /// One Q8_0 row times several tokens' int8 activations: y[t * yStride] for t &lt; tokens. Activations are
    /// [tokens, n] values and negated values, with [tokens, <see cref="Q8_0SpreadFloats"/>] spread block scales
    /// (<see cref="PrepareQ8_0Tokens"/>). The row is loaded and unpacked once per four tokens
    /// (batched decode). Each token's value is bitwise the one <see cref="DotQ8_0Grouped"/> gives: the same exact
    /// int32 block sums, the same products d_w * d_x, the same accumulation order. So a token's result never depends
    /// on the batch.
    /// </summary>
    public static void DotQ8_0GroupedTokens(byte* row, float* rowScales, sbyte* xq, sbyte* xqNegated, float* xdSpread, int n, int tokens, float* y, long yStride, sbyte* quants = null)
    {
        int t = 0;
        long spread = Q8_0SpreadFloats(n);
        for (; t + 4 <= tokens; t += 4) Q8_0GroupedTokens<FourTokens>(row, quants, rowScales, xq + (long)t * n, xqNegated + (long)t * n, xdSpread + t * spread, n, y + t * yStride, yStride);
        switch (tokens - t)
        {
            case 3: Q8_0GroupedTokens<ThreeTokens>(row, quants, rowScales, xq + (long)t * n, xqNegated + (long)t * n, xdSpread + t * spread, n, y + t * yStride, yStride); break;
            case 2: Q8_0GroupedTokens<TwoTokens>(row, quants, rowScales, xq + (long)t * n, xqNegated + (long)t * n, xdSpread + t * spread, n, y + t * yStride, yStride); break;
            case 1: Q8_0GroupedTokens<OneToken>(row, quants, rowScales, xq + (long)t * n, xqNegated + (long)t * n, xdSpread + t * spread, n, y + t * yStride, yStride); break;
        }
    }

    /// <summary>How many tokens a specialised multi-token kernel handles; a constant after JIT specialisation.</summary>
    private interface ITokenCount { static abstract int Value { get; } }
    private struct OneToken : ITokenCount { public static int Value => 1; }
    private struct TwoTokens : ITokenCount { public static int Value => 2; }
    private struct ThreeTokens : ITokenCount { public static int Value => 3; }
    private struct FourTokens : ITokenCount { public static int Value => 4; }

    private static void Q8_0GroupedTokens<TCount>(byte* row, sbyte* quants, float* rowScales, sbyte* xq, sbyte* xqNegated, float* xdSpread, int n, float* y, long yStride)
        where TCount : struct, ITokenCount
    {
        int blocks = n / 32, full = blocks / 4, tail = blocks - 4 * full;
        long spread = Q8_0SpreadFloats(n);
        Vector512<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        for (int g = 0; g < full; g++)
        {
            var (w01, w23) = LoadQ8_0Group(row, quants, g);
            var rowScale4 = Vector128.Load(rowScales + 4 * g);
            long x = g * 128, d = g * 32;
            var shared = new Q8_0Shared(w01, w23, rowScale4);
            acc0 = Q8_0GroupStep(acc0, shared, Vector512.Load(xq + x), Vector512.Load(xq + x + 64), Vector512.Load(xqNegated + x), Vector512.Load(xqNegated + x + 64), xdSpread + d);
            if (TCount.Value > 1) acc1 = Q8_0GroupStep(acc1, shared, Vector512.Load(xq + n + x), Vector512.Load(xq + n + x + 64), Vector512.Load(xqNegated + n + x), Vector512.Load(xqNegated + n + x + 64), xdSpread + spread + d);
            if (TCount.Value > 2) acc2 = Q8_0GroupStep(acc2, shared, Vector512.Load(xq + 2L * n + x), Vector512.Load(xq + 2L * n + x + 64), Vector512.Load(xqNegated + 2L * n + x), Vector512.Load(xqNegated + 2L * n + x + 64), xdSpread + 2 * spread + d);
            if (TCount.Value > 3) acc3 = Q8_0GroupStep(acc3, shared, Vector512.Load(xq + 3L * n + x), Vector512.Load(xq + 3L * n + x + 64), Vector512.Load(xqNegated + 3L * n + x), Vector512.Load(xqNegated + 3L * n + x + 64), xdSpread + 3 * spread + d);
        }
        if (tail > 0)
        {
            var (w01, w23) = LoadQ8_0Tail(row, quants, full, tail);
            var shared = new Q8_0Shared(w01, w23, Avx.MaskLoad(rowScales + 4 * full, TailMask(tail)));
            long x = full * 128, d = full * 32;
            acc0 = Q8_0TailStep(acc0, shared, xq + x, xqNegated + x, xdSpread + d, tail);
            if (TCount.Value > 1) acc1 = Q8_0TailStep(acc1, shared, xq + n + x, xqNegated + n + x, xdSpread + spread + d, tail);
            if (TCount.Value > 2) acc2 = Q8_0TailStep(acc2, shared, xq + 2L * n + x, xqNegated + 2L * n + x, xdSpread + 2 * spread + d, tail);
            if (TCount.Value > 3) acc3 = Q8_0TailStep(acc3, shared, xq + 3L * n + x, xqNegated + 3L * n + x, xdSpread + 3 * spread + d, tail);
        }
        y[0] = Sum(acc0);
        if (TCount.Value > 1) y[yStride] = Sum(acc1);
        if (TCount.Value > 2) y[2 * yStride] = Sum(acc2);
        if (TCount.Value > 3) y[3 * yStride] = Sum(acc3);
    }

    /// <summary>What the tokens of a multi-token Q8_0 step share: |w|, the sign masks and the spread row scales.</summary>
    private readonly struct Q8_0Shared
    {
        public readonly Vector512<byte> Abs01, Abs23;
        public readonly Vector512<sbyte> Negative01, Negative23;
        public readonly Vector512<float> RowScale01, RowScale23;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Q8_0Shared(Vector512<sbyte> w01, Vector512<sbyte> w23, Vector128<float> rowScale4)
        {
            Negative01 = Avx512BW.CompareLessThan(w01, Vector512<sbyte>.Zero);
            Negative23 = Avx512BW.CompareLessThan(w23, Vector512<sbyte>.Zero);
            Abs01 = Avx512BW.Abs(w01);
            Abs23 = Avx512BW.Abs(w23);
            var spread = rowScale4.ToVector256Unsafe().ToVector512Unsafe();
            RowScale01 = Avx512F.PermuteVar16x32(spread, Vector512.Create(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1));
            RowScale23 = Avx512F.PermuteVar16x32(spread, Vector512.Create(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
        }
    }

    /// <summary>Four Q8_0 blocks of one token: exact int32 block sums, then scaled by d_w * d_x into the accumulator.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Q8_0GroupStep(Vector512<float> acc, in Q8_0Shared w, Vector512<sbyte> x01, Vector512<sbyte> x23,
        Vector512<sbyte> negated01, Vector512<sbyte> negated23, float* xdSpread)
    {
        var ones = Vector512.Create((short)1);
        var s01 = Vector512.ConditionalSelect(w.Negative01, negated01, x01);
        var s23 = Vector512.ConditionalSelect(w.Negative23, negated23, x23);
        var i01 = Avx512F.ConvertToVector512Single(Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(w.Abs01, s01), ones));
        var i23 = Avx512F.ConvertToVector512Single(Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(w.Abs23, s23), ones));
        acc = Avx512F.FusedMultiplyAdd(i01, w.RowScale01 * Vector512.Load(xdSpread), acc);
        return Avx512F.FusedMultiplyAdd(i23, w.RowScale23 * Vector512.Load(xdSpread + 16), acc);
    }

    /// <summary>The partial last group: only the present blocks' values are read.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Q8_0TailStep(Vector512<float> acc, in Q8_0Shared w, sbyte* x, sbyte* xNegated, float* xdSpread, int tail)
    {
        var (x01, x23) = LoadPartialGroup(x, tail);
        var (n01, n23) = LoadPartialGroup(xNegated, tail);
        return Q8_0GroupStep(acc, w, x01, x23, n01, n23, xdSpread);
    }

    // ---- Q4_0 ----

    /// <summary>Per token, the permuted int8 values of <see cref="PrepareQ4_0"/>: <see cref="Groups"/>(n) * 128 bytes.</summary>
    public static int Q4_0PreparedBytes(int n) => Groups(n) * 128;
    /// <summary>Per token, the block scales and the scaled block sums of <see cref="PrepareQ4_0"/>: <see cref="Groups"/>(n) * 4 floats each.</summary>
    public static int Q4_0PreparedScales(int n) => Groups(n) * 4;

    /// <summary>
    /// Prepares one token's int8 activations for the Q4_0 kernels. <paramref name="permuted"/>: in each group of four
    /// blocks (128 values) the first halves of the blocks come first, then the second halves, matching four blocks'
    /// low and high nibbles loaded side by side. <paramref name="scales"/>: the block scales d_x. <paramref
    /// name="scaledSums"/>: d_x * sum x per block; the unsigned nibbles q stand for q - 8, so a block contributes
    /// d_w d_x sum q x - 8 d_w (d_x sum x), and the second term is accumulated apart. A partial last group is padded
    /// with zeros.
    /// </summary>
    public static void PrepareQ4_0(ReadOnlySpan<sbyte> xq, ReadOnlySpan<float> xd, ReadOnlySpan<int> xs, Span<sbyte> permuted, Span<float> scales, Span<float> scaledSums)
    {
        int n = xq.Length, blocks = n / 32, groups = Groups(n);
        if (blocks % 4 != 0)
        {
            permuted.Slice(128 * (groups - 1), 128).Clear();
            scales.Slice(4 * (groups - 1), 4).Clear();
            scaledSums.Slice(4 * (groups - 1), 4).Clear();
        }
        for (int b = 0; b < blocks; b++)
        {
            int g = b / 4, k = b % 4;
            xq.Slice(32 * b, 16).CopyTo(permuted.Slice(128 * g + 16 * k, 16));
            xq.Slice(32 * b + 16, 16).CopyTo(permuted.Slice(128 * g + 64 + 16 * k, 16));
            scales[b] = xd[b];
            scaledSums[b] = xd[b] * xs[b];
        }
    }

    /// <summary>
    /// Q4_0 dot over activations prepared by <see cref="PrepareQ4_0"/>, four blocks per step with AVX-512BW: one
    /// 512-bit register holds the nibbles of four blocks, taken by maddubs as they are (unsigned), the four block
    /// scales come from the scale table in one vector multiply and are spread to their lanes with one permute.
    /// Requires <see cref="HasGroupedQ4_0"/> and a block-scale table.
    /// </summary>
    /// <param name="nibbles">the row's packed nibbles (<see cref="BlockScales.Pack"/>) or null; the same values either way.</param>
    public static float DotQ4_0Grouped(byte* row, float* rowScales, sbyte* xPermuted, float* xScales, float* xScaledSums, int n, byte* nibbles = null) =>
        Q4_0GroupedTokens<OneToken>(row, nibbles, rowScales, xPermuted, xScales, xScaledSums, n, null, 0);

    /// <summary>
    /// One Q4_0 row times several tokens' prepared activations ([tokens, <see cref="Q4_0PreparedBytes"/>] values,
    /// [tokens, <see cref="Q4_0PreparedScales"/>] scales and scaled sums); the nibbles are unpacked once per four
    /// tokens. Each token's value is computed by exactly the operations of <see cref="DotQ4_0Grouped"/>.
    /// </summary>
    public static void DotQ4_0GroupedTokens(byte* row, float* rowScales, sbyte* xPermuted, float* xScales, float* xScaledSums, int n, int tokens, float* y, long yStride, byte* nibbles = null)
    {
        int t = 0;
        long px = Q4_0PreparedBytes(n), ps = Q4_0PreparedScales(n);
        for (; t + 4 <= tokens; t += 4) y[t * yStride] = Q4_0GroupedTokens<FourTokens>(row, nibbles, rowScales, xPermuted + t * px, xScales + t * ps, xScaledSums + t * ps, n, y + t * yStride, yStride);
        switch (tokens - t)
        {
            case 3: y[t * yStride] = Q4_0GroupedTokens<ThreeTokens>(row, nibbles, rowScales, xPermuted + t * px, xScales + t * ps, xScaledSums + t * ps, n, y + t * yStride, yStride); break;
            case 2: y[t * yStride] = Q4_0GroupedTokens<TwoTokens>(row, nibbles, rowScales, xPermuted + t * px, xScales + t * ps, xScaledSums + t * ps, n, y + t * yStride, yStride); break;
            case 1: y[t * yStride] = Q4_0GroupedTokens<OneToken>(row, nibbles, rowScales, xPermuted + t * px, xScales + t * ps, xScaledSums + t * ps, n, y + t * yStride, yStride); break;
        }
    }

    /// <summary>A token's running sums: the scaled int32 block sums over 16 lanes, and d_w (d_x sum x) over 4.</summary>
    private struct Q4_0Accumulator
    {
        public Vector512<float> Products;
        public Vector128<float> Offsets;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public readonly float Result() => Sum(Products) - 8 * Vector128.Sum(Offsets);
    }

    /// <summary>Returns the first token's value (in a register: the single-token path stores nothing) and writes the others to y[k * yStride].</summary>
    private static float Q4_0GroupedTokens<TCount>(byte* row, byte* nibbles, float* rowScales, sbyte* x, float* xd, float* xsd, int n, float* y, long yStride) where TCount : struct, ITokenCount
    {
        int blocks = n / 32, full = blocks / 4, tail = blocks - 4 * full;
        long px = Q4_0PreparedBytes(n), ps = Q4_0PreparedScales(n);
        Q4_0Accumulator acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        var mask = Vector512.Create((byte)0x0F);
        for (int g = 0; g < full; g++)
        {
            var packed = LoadQ4_0Group(row, nibbles, g);
            var rowScale4 = Vector128.Load(rowScales + 4 * g);
            var low = packed & mask;
            var high = Vector512.ShiftRightLogical(packed.AsUInt16(), 4).AsByte() & mask;
            long xo = g * 128L, so = 4L * g;
            Q4_0GroupStep(ref acc0, low, high, rowScale4, x + xo, xd + so, xsd + so);
            if (TCount.Value > 1) Q4_0GroupStep(ref acc1, low, high, rowScale4, x + px + xo, xd + ps + so, xsd + ps + so);
            if (TCount.Value > 2) Q4_0GroupStep(ref acc2, low, high, rowScale4, x + 2 * px + xo, xd + 2 * ps + so, xsd + 2 * ps + so);
            if (TCount.Value > 3) Q4_0GroupStep(ref acc3, low, high, rowScale4, x + 3 * px + xo, xd + 3 * ps + so, xsd + 3 * ps + so);
        }
        if (tail > 0)
        {
            // The partial last group: the absent blocks' nibbles and row scales are zero (only present blocks are read).
            // The same steps as the loop body, written out: a helper taking the four accumulators by ref, or one loop
            // choosing the loads by a branch, measured 7-10% slower per row (576 x 576, one token).
            var packed = LoadQ4_0Tail(row, nibbles, full, tail);
            var rowScale4 = Avx.MaskLoad(rowScales + 4 * full, TailMask(tail));
            var low = packed & mask;
            var high = Vector512.ShiftRightLogical(packed.AsUInt16(), 4).AsByte() & mask;
            long xo = full * 128L, so = 4L * full;
            Q4_0GroupStep(ref acc0, low, high, rowScale4, x + xo, xd + so, xsd + so);
            if (TCount.Value > 1) Q4_0GroupStep(ref acc1, low, high, rowScale4, x + px + xo, xd + ps + so, xsd + ps + so);
            if (TCount.Value > 2) Q4_0GroupStep(ref acc2, low, high, rowScale4, x + 2 * px + xo, xd + 2 * ps + so, xsd + 2 * ps + so);
            if (TCount.Value > 3) Q4_0GroupStep(ref acc3, low, high, rowScale4, x + 3 * px + xo, xd + 3 * ps + so, xsd + 3 * ps + so);
        }
        if (TCount.Value > 1) y[yStride] = acc1.Result();
        if (TCount.Value > 2) y[2 * yStride] = acc2.Result();
        if (TCount.Value > 3) y[3 * yStride] = acc3.Result();
        return acc0.Result();
    }

    /// <summary>Four Q4_0 blocks of one token: exact int32 sums of q x scaled by d_w * d_x, and d_w (d_x sum x) apart.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Q4_0GroupStep(ref Q4_0Accumulator acc, Vector512<byte> low, Vector512<byte> high, Vector128<float> rowScale4, sbyte* x, float* xd, float* xsd)
    {
        var pairs = Avx512BW.MultiplyAddAdjacent(low, Vector512.Load(x)) + Avx512BW.MultiplyAddAdjacent(high, Vector512.Load(x + 64));
        var isum = Avx512BW.MultiplyAddAdjacent(pairs, Vector512.Create((short)1)); // lanes 4k..4k+3 belong to block k
        var scale4 = rowScale4 * Vector128.Load(xd);
        var spread = Vector512.Create(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
        acc.Products = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(isum), Avx512F.PermuteVar16x32(scale4.ToVector256Unsafe().ToVector512Unsafe(), spread), acc.Products);
        acc.Offsets = Vector128.FusedMultiplyAdd(rowScale4, Vector128.Load(xsd), acc.Offsets);
    }

    // ---- loads ----

    /// <summary>The sum of the 16 lanes: halves added down to 128 bits first (fewer shuffles than a lane-by-lane reduction).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Sum(Vector512<float> v)
    {
        var half = v.GetLower() + v.GetUpper();
        return Vector128.Sum(half.GetLower() + half.GetUpper());
    }

    /// <summary>A mask (sign bits) selecting the first <paramref name="tail"/> of four floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> TailMask(int tail) =>
        Vector128.LessThan(Vector128.Create(0, 1, 2, 3), Vector128.Create(tail)).AsSingle();

    /// <summary>The values of blocks 4g..4g+3 in two registers: two loads from the packed copy, else four from the row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector512<sbyte>, Vector512<sbyte>) LoadQ8_0Group(byte* row, sbyte* quants, int g)
    {
        if (quants != null) return (Vector512.Load(quants + g * 128), Vector512.Load(quants + g * 128 + 64));
        byte* b0 = row + g * 4 * 34;
        return (Vector512.Create(Vector256.Load((sbyte*)(b0 + 2)), Vector256.Load((sbyte*)(b0 + 36))),
                Vector512.Create(Vector256.Load((sbyte*)(b0 + 70)), Vector256.Load((sbyte*)(b0 + 104))));
    }

    /// <summary>The values of the <paramref name="tail"/> (1-3) blocks of a partial group g, zero for the absent ones; reads only the present blocks.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector512<sbyte>, Vector512<sbyte>) LoadQ8_0Tail(byte* row, sbyte* quants, int g, int tail)
    {
        if (quants != null) return LoadPartialGroup(quants + g * 128, tail);
        byte* b0 = row + g * 4 * 34;
        var v0 = Vector256.Load((sbyte*)(b0 + 2));
        var v1 = tail > 1 ? Vector256.Load((sbyte*)(b0 + 36)) : Vector256<sbyte>.Zero;
        var v2 = tail > 2 ? Vector256.Load((sbyte*)(b0 + 70)) : Vector256<sbyte>.Zero;
        return (Vector512.Create(v0, v1), Vector512.Create(v2, Vector256<sbyte>.Zero));
    }

    /// <summary>The first <paramref name="tail"/> (1-3) blocks of 32 bytes at <paramref name="p"/> as a group of four, zero after them.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector512<sbyte>, Vector512<sbyte>) LoadPartialGroup(sbyte* p, int tail)
    {
        var v0 = Vector256.Load(p);
        var v1 = tail > 1 ? Vector256.Load(p + 32) : Vector256<sbyte>.Zero;
        var v2 = tail > 2 ? Vector256.Load(p + 64) : Vector256<sbyte>.Zero;
        return (Vector512.Create(v0, v1), Vector512.Create(v2, Vector256<sbyte>.Zero));
    }

    /// <summary>The nibbles of blocks 4g..4g+3 in one register: one load from the packed copy, else four from the row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<byte> LoadQ4_0Group(byte* row, byte* nibbles, int g)
    {
        if (nibbles != null) return Vector512.Load(nibbles + g * 64);
        byte* b0 = row + g * 4 * 18;
        return Vector512.Create(
            Vector256.Create(Vector128.Load(b0 + 2), Vector128.Load(b0 + 20)),
            Vector256.Create(Vector128.Load(b0 + 38), Vector128.Load(b0 + 56)));
    }

    /// <summary>The nibbles of the <paramref name="tail"/> (1-3) blocks of a partial group g, zero for the absent ones; reads only the present blocks.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<byte> LoadQ4_0Tail(byte* row, byte* nibbles, int g, int tail)
    {
        byte* p0, p1, p2;
        if (nibbles != null) { p0 = nibbles + g * 64; p1 = p0 + 16; p2 = p0 + 32; }
        else { p0 = row + g * 4 * 18 + 2; p1 = p0 + 18; p2 = p0 + 36; }
        var v0 = Vector128.Load(p0);
        var v1 = tail > 1 ? Vector128.Load(p1) : Vector128<byte>.Zero;
        var v2 = tail > 2 ? Vector128.Load(p2) : Vector128<byte>.Zero;
        return Vector512.Create(Vector256.Create(v0, v1), Vector256.Create(v2, Vector128<byte>.Zero));
    }
}
