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

    /// <summary>
    /// Q8_0 dot with a block-scale table, four blocks per AVX-512 step: the four scales come from two vector loads
    /// and a multiply and reach their lanes by two permutes, instead of per-block scalar work.
    /// Requires <see cref="HasGroupedQ4_0"/> (AVX-512BW).
    /// </summary>
    /// <param name="quants">the row's packed int8 values (<see cref="BlockScales.Pack"/>) or null; the same values either way.</param>
    public static float DotQ8_0Grouped(byte* row, float* rowScales, sbyte* xq, float* xd, int n, sbyte* quants = null)
    {
        int blocks = n / 32, groups = blocks / 4;
        var acc = Vector512<float>.Zero;
        var firstPair = Vector512.Create(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
        var secondPair = Vector512.Create(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
        for (int g = 0; g < groups; g++)
        {
            var (w01, w23) = LoadQ8_0Group(row, quants, g);
            sbyte* x = xq + g * 128;
            var i01 = Avx512F.ConvertToVector512Single(DotI8Avx512(w01, Vector512.Load(x)));
            var i23 = Avx512F.ConvertToVector512Single(DotI8Avx512(w23, Vector512.Load(x + 64)));
            var scale4 = (Vector128.Load(rowScales + 4 * g) * Vector128.Load(xd + 4 * g)).ToVector256Unsafe().ToVector512Unsafe();
            acc = Avx512F.FusedMultiplyAdd(i01, Avx512F.PermuteVar16x32(scale4, firstPair), acc);
            acc = Avx512F.FusedMultiplyAdd(i23, Avx512F.PermuteVar16x32(scale4, secondPair), acc);
        }
        float sum = Vector512.Sum(acc);
        if (groups * 4 < blocks) sum += Q8_0Avx2(row, new TableScales(rowScales), xq, xd, groups * 4, blocks);
        return sum;
    }


    /// <summary>
    /// Per-token inputs of <see cref="DotQ8_0GroupedTokens"/> besides the int8 values: the negated values (the sign
    /// of w moves onto x by a select instead of a subtract and a select per token and row) and each group of four
    /// block scales spread over the lanes their blocks occupy ([n / 128, 32] floats: 8 lanes per block).
    /// </summary>
    public static void PrepareQ8_0Tokens(ReadOnlySpan<sbyte> xq, ReadOnlySpan<float> xd, Span<sbyte> negated, Span<float> spreadScales)
    {
        for (int i = 0; i < xq.Length; i++) negated[i] = (sbyte)-xq[i];
        int groups = xq.Length / 128;
        for (int g = 0; g < groups; g++)
            for (int k = 0; k < 4; k++) spreadScales.Slice(32 * g + 8 * k, 8).Fill(xd[4 * g + k]);
    }

    /// <summary>
    /// One Q8_0 row times several tokens' int8 activations: y[t * yStride] for t &lt; tokens. Activations are
    /// [tokens, n] values, negated values and [tokens, n / 32] scales, with [tokens, n / 128 * 32] spread scales
    /// (<see cref="PrepareQ8_0Tokens"/>). The row is loaded and unpacked once per four tokens (batched decode).
    /// Each token's value is bitwise the one <see cref="DotQ8_0Grouped"/> gives: the same exact int32 block sums,
    /// the same products d_w * d_x, the same accumulation order. So a token's result never depends on the batch.
    /// </summary>
    public static void DotQ8_0GroupedTokens(byte* row, float* rowScales, sbyte* xq, sbyte* xqNegated, float* xd, float* xdSpread, int n, int tokens, float* y, long yStride, sbyte* quants = null)
    {
        int t = 0;
        long s = n / 32, spread = n / 128 * 32;
        for (; t + 4 <= tokens; t += 4) Q8_0GroupedTokens<FourTokens>(row, quants, rowScales, xq + (long)t * n, xqNegated + (long)t * n, xd + t * s, xdSpread + t * spread, n, y + t * yStride, yStride);
        switch (tokens - t)
        {
            case 3: Q8_0GroupedTokens<ThreeTokens>(row, quants, rowScales, xq + (long)t * n, xqNegated + (long)t * n, xd + t * s, xdSpread + t * spread, n, y + t * yStride, yStride); break;
            case 2: Q8_0GroupedTokens<TwoTokens>(row, quants, rowScales, xq + (long)t * n, xqNegated + (long)t * n, xd + t * s, xdSpread + t * spread, n, y + t * yStride, yStride); break;
            case 1: Q8_0GroupedTokens<OneToken>(row, quants, rowScales, xq + (long)t * n, xqNegated + (long)t * n, xd + t * s, xdSpread + t * spread, n, y + t * yStride, yStride); break;
        }
    }

    /// <summary>How many tokens a specialised multi-token kernel handles; a constant after JIT specialisation.</summary>
    private interface ITokenCount { static abstract int Value { get; } }
    private struct OneToken : ITokenCount { public static int Value => 1; }
    private struct TwoTokens : ITokenCount { public static int Value => 2; }
    private struct ThreeTokens : ITokenCount { public static int Value => 3; }
    private struct FourTokens : ITokenCount { public static int Value => 4; }

    private static void Q8_0GroupedTokens<TCount>(byte* row, sbyte* quants, float* rowScales, sbyte* xq, sbyte* xqNegated, float* xd, float* xdSpread, int n, float* y, long yStride)
        where TCount : struct, ITokenCount
    {
        int blocks = n / 32, groups = blocks / 4;
        long s = n / 32, spread = groups * 32;
        Vector512<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        var firstPair = Vector512.Create(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
        var secondPair = Vector512.Create(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
        for (int g = 0; g < groups; g++)
        {
            var (w01, w23) = LoadQ8_0Group(row, quants, g);
            // |w|, the sign mask and the spread row scales are shared by the tokens.
            var negative01 = Avx512BW.CompareLessThan(w01, Vector512<sbyte>.Zero);
            var negative23 = Avx512BW.CompareLessThan(w23, Vector512<sbyte>.Zero);
            var abs01 = Avx512BW.Abs(w01);
            var abs23 = Avx512BW.Abs(w23);
            var rowScale4 = Vector128.Load(rowScales + 4 * g).ToVector256Unsafe().ToVector512Unsafe();
            var rowScale01 = Avx512F.PermuteVar16x32(rowScale4, firstPair);
            var rowScale23 = Avx512F.PermuteVar16x32(rowScale4, secondPair);
            long x = g * 128, d = g * 32;
            acc0 = Q8_0GroupStep(acc0, abs01, negative01, abs23, negative23, rowScale01, rowScale23, xq + x, xqNegated + x, xdSpread + d);
            if (TCount.Value > 1) acc1 = Q8_0GroupStep(acc1, abs01, negative01, abs23, negative23, rowScale01, rowScale23, xq + n + x, xqNegated + n + x, xdSpread + spread + d);
            if (TCount.Value > 2) acc2 = Q8_0GroupStep(acc2, abs01, negative01, abs23, negative23, rowScale01, rowScale23, xq + 2L * n + x, xqNegated + 2L * n + x, xdSpread + 2 * spread + d);
            if (TCount.Value > 3) acc3 = Q8_0GroupStep(acc3, abs01, negative01, abs23, negative23, rowScale01, rowScale23, xq + 3L * n + x, xqNegated + 3L * n + x, xdSpread + 3 * spread + d);
        }
        var tail = new TableScales(rowScales);
        bool hasTail = groups * 4 < blocks;
        y[0] = Vector512.Sum(acc0) + (hasTail ? Q8_0Avx2(row, tail, xq, xd, groups * 4, blocks) : 0);
        if (TCount.Value > 1) y[yStride] = Vector512.Sum(acc1) + (hasTail ? Q8_0Avx2(row, tail, xq + n, xd + s, groups * 4, blocks) : 0);
        if (TCount.Value > 2) y[2 * yStride] = Vector512.Sum(acc2) + (hasTail ? Q8_0Avx2(row, tail, xq + 2L * n, xd + 2 * s, groups * 4, blocks) : 0);
        if (TCount.Value > 3) y[3 * yStride] = Vector512.Sum(acc3) + (hasTail ? Q8_0Avx2(row, tail, xq + 3L * n, xd + 3 * s, groups * 4, blocks) : 0);
    }

    /// <summary>Four Q8_0 blocks of one token: exact int32 block sums, then scaled by d_w * d_x into the accumulator.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Q8_0GroupStep(Vector512<float> acc, Vector512<byte> abs01, Vector512<sbyte> negative01, Vector512<byte> abs23,
        Vector512<sbyte> negative23, Vector512<float> rowScale01, Vector512<float> rowScale23, sbyte* x, sbyte* xNegated, float* xdSpread)
    {
        var ones = Vector512.Create((short)1);
        var s01 = Vector512.ConditionalSelect(negative01, Vector512.Load(xNegated), Vector512.Load(x));
        var s23 = Vector512.ConditionalSelect(negative23, Vector512.Load(xNegated + 64), Vector512.Load(x + 64));
        var i01 = Avx512F.ConvertToVector512Single(Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(abs01, s01), ones));
        var i23 = Avx512F.ConvertToVector512Single(Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(abs23, s23), ones));
        acc = Avx512F.FusedMultiplyAdd(i01, rowScale01 * Vector512.Load(xdSpread), acc);
        return Avx512F.FusedMultiplyAdd(i23, rowScale23 * Vector512.Load(xdSpread + 16), acc);
    }

    /// <summary>Whether <see cref="DotQ4_0Grouped"/> runs on this machine.</summary>
    public static bool HasGroupedQ4_0 => Avx512BW.IsSupported;

    /// <summary>
    /// Rearranges int8 activations for <see cref="DotQ4_0Grouped"/>: in each group of four blocks (128 values) the
    /// first halves of the blocks come first, then the second halves, matching four blocks' low and high nibbles
    /// loaded side by side. Blocks after the last full group keep their natural order.
    /// </summary>
    public static void PermuteForQ4_0(ReadOnlySpan<sbyte> natural, Span<sbyte> permuted)
    {
        int groups = natural.Length / 128;
        for (int g = 0; g < groups; g++)
            for (int k = 0; k < 4; k++)
            {
                natural.Slice(128 * g + 32 * k, 16).CopyTo(permuted.Slice(128 * g + 16 * k, 16));
                natural.Slice(128 * g + 32 * k + 16, 16).CopyTo(permuted.Slice(128 * g + 64 + 16 * k, 16));
            }
        natural[(128 * groups)..].CopyTo(permuted[(128 * groups)..]);
    }

    /// <summary>
    /// Q4_0 dot over activations permuted by <see cref="PermuteForQ4_0"/>, four blocks per step with AVX-512BW: one
    /// 512-bit register holds the nibbles of four blocks, the four block scales come from the scale table in one
    /// vector multiply and are spread to their lanes with one permute. About half the instructions of the pairwise
    /// kernel. Requires <see cref="HasGroupedQ4_0"/> and a block-scale table.
    /// </summary>
    /// <param name="nibbles">the row's packed nibbles (<see cref="BlockScales.Pack"/>) or null; the same values either way.</param>
    public static float DotQ4_0Grouped(byte* row, float* rowScales, sbyte* xPermuted, float* xd, int* xs, int n, byte* nibbles = null)
    {
        int blocks = n / 32, groups = blocks / 4;
        var acc = Vector512<float>.Zero;
        var correction = Vector128<float>.Zero;
        var mask = Vector512.Create((byte)0x0F);
        var ones = Vector512.Create((short)1);
        var spread = Vector512.Create(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
        for (int g = 0; g < groups; g++)
        {
            var packed = LoadQ4_0Group(row, nibbles, g);
            var low = packed & mask;
            var high = Vector512.ShiftRightLogical(packed.AsUInt16(), 4).AsByte() & mask;
            sbyte* x = xPermuted + g * 128;
            var pairs = Avx512BW.MultiplyAddAdjacent(low, Vector512.Load(x)) + Avx512BW.MultiplyAddAdjacent(high, Vector512.Load(x + 64));
            var isum = Avx512BW.MultiplyAddAdjacent(pairs, ones); // lanes 4k..4k+3 belong to block k
            var scale4 = Vector128.Load(rowScales + 4 * g) * Vector128.Load(xd + 4 * g);
            acc = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(isum), Avx512F.PermuteVar16x32(scale4.ToVector256Unsafe().ToVector512Unsafe(), spread), acc);
            correction = Vector128.FusedMultiplyAdd(Vector128.ConvertToSingle(Vector128.Load(xs + 4 * g)), scale4, correction);
        }
        float sum = Vector512.Sum(acc) - 8 * Vector128.Sum(correction);
        if (groups * 4 < blocks) sum += Q4_0Avx2(row, new TableScales(rowScales), xPermuted, xd, groups * 4, blocks);
        return sum;
    }

    /// <summary>
    /// One Q4_0 row times several tokens' permuted int8 activations; the nibbles are unpacked once per four tokens.
    /// Each token's value is computed by exactly the operations of <see cref="DotQ4_0Grouped"/>.
    /// </summary>
    public static void DotQ4_0GroupedTokens(byte* row, float* rowScales, sbyte* xPermuted, float* xd, int* xs, int n, int tokens, float* y, long yStride, byte* nibbles = null)
    {
        int t = 0;
        long s = n / 32;
        for (; t + 4 <= tokens; t += 4) Q4_0GroupedTokens<FourTokens>(row, nibbles, rowScales, xPermuted + (long)t * n, xd + t * s, xs + t * s, n, y + t * yStride, yStride);
        switch (tokens - t)
        {
            case 3: Q4_0GroupedTokens<ThreeTokens>(row, nibbles, rowScales, xPermuted + (long)t * n, xd + t * s, xs + t * s, n, y + t * yStride, yStride); break;
            case 2: Q4_0GroupedTokens<TwoTokens>(row, nibbles, rowScales, xPermuted + (long)t * n, xd + t * s, xs + t * s, n, y + t * yStride, yStride); break;
            case 1: Q4_0GroupedTokens<OneToken>(row, nibbles, rowScales, xPermuted + (long)t * n, xd + t * s, xs + t * s, n, y + t * yStride, yStride); break;
        }
    }

    private static void Q4_0GroupedTokens<TCount>(byte* row, byte* nibbles, float* rowScales, sbyte* xPermuted, float* xd, int* xs, int n, float* y, long yStride) where TCount : struct, ITokenCount
    {
        int blocks = n / 32, groups = blocks / 4, s = n / 32;
        Vector512<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        Vector128<float> corr0 = default, corr1 = default, corr2 = default, corr3 = default;
        var mask = Vector512.Create((byte)0x0F);
        for (int g = 0; g < groups; g++)
        {
            var packed = LoadQ4_0Group(row, nibbles, g);
            var low = packed & mask;
            var high = Vector512.ShiftRightLogical(packed.AsUInt16(), 4).AsByte() & mask;
            var rowScale4 = Vector128.Load(rowScales + 4 * g);
            long x = g * 128, d = 4 * g;
            Q4_0GroupStep(ref acc0, ref corr0, low, high, rowScale4, xPermuted + x, xd + d, xs + d);
            if (TCount.Value > 1) Q4_0GroupStep(ref acc1, ref corr1, low, high, rowScale4, xPermuted + n + x, xd + s + d, xs + s + d);
            if (TCount.Value > 2) Q4_0GroupStep(ref acc2, ref corr2, low, high, rowScale4, xPermuted + 2L * n + x, xd + 2L * s + d, xs + 2L * s + d);
            if (TCount.Value > 3) Q4_0GroupStep(ref acc3, ref corr3, low, high, rowScale4, xPermuted + 3L * n + x, xd + 3L * s + d, xs + 3L * s + d);
        }
        var tail = new TableScales(rowScales);
        bool hasTail = groups * 4 < blocks;
        y[0] = Vector512.Sum(acc0) - 8 * Vector128.Sum(corr0) + (hasTail ? Q4_0Avx2(row, tail, xPermuted, xd, groups * 4, blocks) : 0);
        if (TCount.Value > 1) y[yStride] = Vector512.Sum(acc1) - 8 * Vector128.Sum(corr1) + (hasTail ? Q4_0Avx2(row, tail, xPermuted + n, xd + s, groups * 4, blocks) : 0);
        if (TCount.Value > 2) y[2 * yStride] = Vector512.Sum(acc2) - 8 * Vector128.Sum(corr2) + (hasTail ? Q4_0Avx2(row, tail, xPermuted + 2L * n, xd + 2L * s, groups * 4, blocks) : 0);
        if (TCount.Value > 3) y[3 * yStride] = Vector512.Sum(acc3) - 8 * Vector128.Sum(corr3) + (hasTail ? Q4_0Avx2(row, tail, xPermuted + 3L * n, xd + 3L * s, groups * 4, blocks) : 0);
    }

    /// <summary>The values of blocks 4g..4g+3 in two registers: two loads from the packed copy, else four from the row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector512<sbyte>, Vector512<sbyte>) LoadQ8_0Group(byte* row, sbyte* quants, int g)
    {
        if (quants != null) return (Vector512.Load(quants + g * 128), Vector512.Load(quants + g * 128 + 64));
        byte* b0 = row + g * 4 * 34;
        return (Vector512.Create(Vector256.Load((sbyte*)(b0 + 2)), Vector256.Load((sbyte*)(b0 + 36))),
                Vector512.Create(Vector256.Load((sbyte*)(b0 + 70)), Vector256.Load((sbyte*)(b0 + 104))));
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

    /// <summary>Four Q4_0 blocks of one token; sum (q - 8) x = sum q x - 8 sum x, the second term kept apart.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Q4_0GroupStep(ref Vector512<float> acc, ref Vector128<float> correction, Vector512<byte> low, Vector512<byte> high,
        Vector128<float> rowScale4, sbyte* x, float* xd, int* xs)
    {
        var pairs = Avx512BW.MultiplyAddAdjacent(low, Vector512.Load(x)) + Avx512BW.MultiplyAddAdjacent(high, Vector512.Load(x + 64));
        var isum = Avx512BW.MultiplyAddAdjacent(pairs, Vector512.Create((short)1)); // lanes 4k..4k+3 belong to block k
        var scale4 = rowScale4 * Vector128.Load(xd);
        var spread = Vector512.Create(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
        acc = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(isum), Avx512F.PermuteVar16x32(scale4.ToVector256Unsafe().ToVector512Unsafe(), spread), acc);
        correction = Vector128.FusedMultiplyAdd(Vector128.ConvertToSingle(Vector128.Load(xs)), scale4, correction);
    }
}
