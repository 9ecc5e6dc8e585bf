using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using SharpInfer.Kernels.Quantization;

namespace SharpInfer.Kernels.Dense;

/// <summary>
/// Dot products of Q4_K and Q6_K weight rows (256-value super-blocks) with the same int8 activation blocks the Q8_0
/// and Q4_0 paths use (<see cref="ActivationQuantizer"/>: 32 values and one float scale d_x per block).
/// <para>
/// Q4_K: w = d * sc_j * q - dmin * m_j for sub-block j (32 values, q in 0..15). A sub-block lines up with one
/// activation block, so its contribution is d * d_x * sc_j * (exact int sum of q * x_q) - dmin * m_j * d_x * (sum
/// of x_q). Q6_K: w = d * sc_s * (q - 32) for 16-value sub-blocks s (q in 0..63, sc_s int8), two to an activation
/// block: d * d_x * sc_s * (sum of q * x_q) - 32 * d * d_x * sc_s * (sum of x_q over the 16 values). The unsigned
/// q feed vpmaddubsw directly (no sign fix-up; pairs stay below 2 * 63 * 127), vpmaddwd by the sub-block scales
/// spread over their int16 lanes gives exact int32 partial sums already times sc, and one conversion and one FMA per
/// 16 lanes (by d * d_x spread over the lanes of each activation block) finish in float.
/// </para>
/// <para>
/// The activation terms that do not depend on the row (the spread d_x, d_x times the block sums, the 16-value sums
/// times 32 d_x) are computed once per token and call by <see cref="Prepare"/>. A row's value for a token depends on
/// that row and token alone (a token's kernel is the same whatever else the call holds), so results are
/// batch-invariant. AVX-512BW only: elsewhere these types keep the float path (<see cref="IsSupported"/>).
/// </para>
/// </summary>
public static unsafe class KQuantDot
{
    public const int SuperBlock = 256;

    /// <summary>Whether the kernels run on this machine.</summary>
    public static bool HasKernels => Avx512BW.IsSupported;

    public static bool IsSupported(GgmlType type) => type is GgmlType.Q4_K or GgmlType.Q6_K && HasKernels;

    /// <summary>Floats per token of the prepared activation terms of an <paramref name="n"/>-value row.</summary>
    public static int PreparedFloats(int n) => n / 4 + n / 32 + n / 16;

    /// <summary>
    /// The row-independent activation terms of one token, into <paramref name="prepared"/> (<see cref="PreparedFloats"/>):
    /// [n / 4] the block scales d_x spread over the 8 int32 lanes their 32 values occupy after vpmaddwd, then
    /// [n / 32] d_x * (sum of the block's x_q) (the Q4_K min term), then [n / 16] 32 * d_x * (sum of x_q over each 16
    /// values) (the Q6_K offset term).
    /// </summary>
    public static void Prepare(ReadOnlySpan<sbyte> xq, ReadOnlySpan<float> xd, ReadOnlySpan<int> xs, Span<float> prepared)
    {
        int n = xq.Length, blocks = n / 32;
        if (n % SuperBlock != 0 || prepared.Length < PreparedFloats(n) || xd.Length < blocks || xs.Length < blocks)
            throw new ArgumentException($"K-quant activations: {n} values must be whole super-blocks of {SuperBlock} with room for the prepared terms");
        var spread = prepared[..(n / 4)];
        var scaledSums = prepared.Slice(n / 4, blocks);
        var offsets = prepared.Slice(n / 4 + blocks, n / 16);
        for (int b = 0; b < blocks; b++)
        {
            spread.Slice(8 * b, 8).Fill(xd[b]);
            scaledSums[b] = xd[b] * xs[b];
            int low = 0;
            for (int i = 0; i < 16; i++) low += xq[32 * b + i];
            offsets[2 * b] = 32 * xd[b] * low;
            offsets[2 * b + 1] = 32 * xd[b] * (xs[b] - low);
        }
    }

    /// <summary>
    /// The definition, one super-block at a time in plain integer and float arithmetic: exact int sums per
    /// sub-block, then the float terms above. The vector kernels give the same value up to float rounding.
    /// </summary>
    public static float Scalar(GgmlType type, byte* row, sbyte* xq, float* xd, int n)
    {
        double sum = 0;
        for (int s = 0; s < n / SuperBlock; s++)
        {
            sbyte* x = xq + s * SuperBlock;
            float* d = xd + s * 8;
            if (type == GgmlType.Q4_K)
            {
                byte* block = row + s * 144;
                float dw = HalfConvert.ToSingle(block), dmin = HalfConvert.ToSingle(block + 2);
                var scales = new ReadOnlySpan<byte>(block + 4, 12);
                byte* qs = block + 16;
                for (int j = 0; j < 8; j++)
                {
                    var (sc, m) = Dequantize.ScaleMinK4(j, scales);
                    int dot = 0, xsum = 0;
                    for (int i = 0; i < 32; i++)
                    {
                        byte packed = qs[32 * (j / 2) + i];
                        int q = j % 2 == 0 ? packed & 0x0F : packed >> 4;
                        dot += q * x[32 * j + i];
                        xsum += x[32 * j + i];
                    }
                    sum += (double)dw * d[j] * sc * dot - (double)dmin * m * d[j] * xsum;
                }
            }
            else
            {
                byte* block = row + s * 210;
                byte* ql = block, qh = block + 128;
                sbyte* sc = (sbyte*)(block + 192);
                float dw = HalfConvert.ToSingle(block + 208);
                for (int k = 0; k < SuperBlock; k++)
                {
                    // Value k of the super-block: half h = k / 128, within it quarter c = (k % 128) / 32 and l = k % 32.
                    int h = k / 128, c = k % 128 / 32, l = k % 32;
                    byte low = ql[64 * h + 32 * (c % 2) + l];
                    int q = (c < 2 ? low & 0x0F : low >> 4) | (qh[32 * h + l] >> (2 * c) & 3) << 4;
                    sum += (double)dw * d[k / 32] * sc[k / 16] * (q - 32) * x[k];
                }
            }
        }
        return (float)sum;
    }

    /// <summary>
    /// y[t * yStride] = row . x_t for t &lt; tokens: <paramref name="xq"/> [tokens, n] int8 activations and
    /// <paramref name="prepared"/> [tokens, <see cref="PreparedFloats"/>(n)] their terms. Requires <see cref="HasKernels"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot(GgmlType type, byte* row, sbyte* xq, float* prepared, int n, int tokens, float* y, long yStride)
    {
        int preparedFloats = PreparedFloats(n);
        for (int t = 0; t < tokens; t++) // the row stays in L1 while its tokens pass
        {
            sbyte* x = xq + (long)t * n;
            float* p = prepared + (long)t * preparedFloats;
            y[t * yStride] = type == GgmlType.Q4_K ? Q4_K(row, x, p, n) : Q6_K(row, x, p, n);
        }
    }

    /// <summary>The 8 six-bit scales (low 8 bytes) and mins (high 8 bytes) of a Q4_K super-block's 12 packed bytes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> UnpackScalesMinsK4(byte* packed)
    {
        // As 32-bit words a, b, c: bytes of a hold scales 0-3 (low 6 bits) with bits 4-5 of scales 4-7 on top, b the
        // same for the mins, c the low 4 bits of scales 4-7 (low nibbles) and of mins 4-7 (high nibbles). Result
        // words: a & 0x3F.., c & 0x0F.. | (a >> 6 & 3..) << 4, b & 0x3F.., c >> 4 & 0x0F.. | (b >> 6 & 3..) << 4.
        // The 16-byte load reads 4 bytes past the 12 (the super-block's values follow them).
        var words = Vector128.Load((uint*)packed);
        var lowParts = Avx2.ShiftRightLogicalVariable(Sse2.Shuffle(words, 0b10_01_10_00), Vector128.Create(0u, 0, 0, 4)); // a, c, b, c >> 4
        var topBits = Sse2.ShiftRightLogical(Sse2.Shuffle(words, 0b01_01_00_00), 2);                                  // a, a, b, b >> 2
        var result = (lowParts & Vector128.Create(0x3F3F3F3Fu, 0x0F0F0F0F, 0x3F3F3F3F, 0x0F0F0F0F))
            | (topBits & Vector128.Create(0u, 0x30303030, 0, 0x30303030));
        return result.AsByte();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Q4_K(byte* row, sbyte* x, float* prepared, int n)
    {
        int superBlocks = n / SuperBlock;
        float* spread = prepared, scaledSums = prepared + n / 4;
        var acc = Vector512<float>.Zero;
        var minAcc = Vector256<float>.Zero;
        var nibble = Vector512.Create((byte)0x0F);
        // vpermw indices putting sub-block j's scale on the 16 int16 lanes of its 32 values.
        var index0 = Vector512.Create(Vector256.Create((short)0), Vector256.Create((short)1));
        var index1 = Vector512.Create(Vector256.Create((short)2), Vector256.Create((short)3));
        var index2 = Vector512.Create(Vector256.Create((short)4), Vector256.Create((short)5));
        var index3 = Vector512.Create(Vector256.Create((short)6), Vector256.Create((short)7));
        for (int s = 0; s < superBlocks; s++)
        {
            byte* block = row + s * 144;
            var scales = HalfConvert.ToSingle(Avx2.ConvertToVector256Int32((ushort*)block).AsUInt32()); // d, dmin in lanes 0, 1
            var scalesMins = UnpackScalesMinsK4(block + 4);
            var scales16 = Avx2.ConvertToVector256Int16(scalesMins).AsInt16().ToVector512Unsafe(); // lanes 0-7 scales
            var mins = Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(Sse2.ShiftRightLogical128BitLane(scalesMins, 8)));
            minAcc = Fma.MultiplyAdd(mins * Vector256.Create(scales.GetElement(1)), Vector256.Load(scaledSums + 8 * s), minAcc);
            sbyte* xs = x + s * SuperBlock;
            float* sp = spread + s * 64;
            // 64 packed bytes hold sub-blocks 4k (low nibbles of bytes 0-31), 4k + 1 (their high nibbles), 4k + 2
            // and 4k + 3 (bytes 32-63): the nibbles of all 64 bytes at once, then two 256-bit shuffles for value order.
            var sum = Q4_KHalf(Vector512<float>.Zero, block + 16, xs, sp, scales16, index0, index1, nibble);
            sum = Q4_KHalf(sum, block + 80, xs + 128, sp + 32, scales16, index2, index3, nibble);
            acc = Avx512F.FusedMultiplyAdd(sum, Vector512.Create(scales.ToScalar()), acc);
        }
        return Vector512.Sum(acc) - Vector256.Sum(minAcc);
    }

    /// <summary>
    /// 64 packed bytes, sub-blocks 4k (low nibbles of bytes 0-31), 4k + 1 (their high nibbles), 4k + 2 and 4k + 3
    /// (bytes 32-63): the nibbles of all 64 bytes at once, then two 256-bit shuffles put them in value order.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Q4_KHalf(Vector512<float> sum, byte* qs, sbyte* x, float* spread, Vector512<short> scales16,
        Vector512<short> firstIndex, Vector512<short> secondIndex, Vector512<byte> nibble)
    {
        var packed = Vector512.Load(qs);
        var low = (packed & nibble).AsUInt64();
        var high = (Vector512.ShiftRightLogical(packed.AsUInt16(), 4).AsByte() & nibble).AsUInt64();
        sum = Q4_KStep(sum, Avx512F.Shuffle4x128(low, high, 0b01_00_01_00).AsByte(), x, spread, scales16, firstIndex);
        return Q4_KStep(sum, Avx512F.Shuffle4x128(low, high, 0b11_10_11_10).AsByte(), x + 64, spread + 16, scales16, secondIndex);
    }

    /// <summary>Two sub-blocks' 64 four-bit values (in value order) against their activations; sum is d-free.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Q4_KStep(Vector512<float> sum, Vector512<byte> q, sbyte* x, float* spread, Vector512<short> scales16, Vector512<short> index)
    {
        var products = Avx512BW.MultiplyAddAdjacent(q, Vector512.Load(x));
        var sums = Avx512BW.MultiplyAddAdjacent(products, Avx512BW.PermuteVar32x16(scales16, index));
        return Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(sums), Vector512.Load(spread), sum);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Q6_K(byte* row, sbyte* x, float* prepared, int n)
    {
        int superBlocks = n / SuperBlock;
        float* spread = prepared, offsets = prepared + n / 4 + n / 32;
        var acc = Vector512<float>.Zero;
        var offsetAcc = Vector512<float>.Zero;
        var low4 = Vector512.Create((byte)0x0F);
        var bits01 = Vector512.Create((byte)0x03);
        var bits45 = Vector512.Create((byte)0x30);
        // vpermw indices putting scale 4v + i on int16 lanes 8i .. 8i + 7 (the pair sums of its 16 values).
        var quarters = Vector512.Create(Vector256.Create(Vector128<short>.Zero, Vector128<short>.One), Vector256.Create(Vector128.Create((short)2), Vector128.Create((short)3)));
        var index0 = quarters;
        var index1 = quarters + Vector512.Create((short)4);
        var index2 = quarters + Vector512.Create((short)8);
        var index3 = quarters + Vector512.Create((short)12);
        for (int s = 0; s < superBlocks; s++)
        {
            byte* block = row + s * 210;
            float dScalar = HalfConvert.ToSingle(block + 208);
            var d = Vector512.Create(dScalar);
            var scaleBytes = Vector128.Load((sbyte*)(block + 192));
            // sum over 16-value sub-blocks of sc * 32 * d_x * (sum of x_q): the -32 of every stored q.
            offsetAcc = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(scaleBytes)) * d,
                Vector512.Load(offsets + 16 * s), offsetAcc);
            var scales16 = Avx2.ConvertToVector256Int16(scaleBytes).ToVector512Unsafe();
            sbyte* xs = x + s * SuperBlock;
            float* sp = spread + s * 64;
            // Each half: 64 bytes of low bits and 32 of high bits give 128 six-bit values: the low nibbles are values
            // 0-63 with bits 0-1 / 2-3 of the high bytes on top, the high nibbles values 64-127 with bits 4-5 / 6-7.
            var (first, second) = UnpackQ6_K(block, block + 128, low4, bits01, bits45);
            acc = Q6_KStep(acc, first, xs, scales16, index0, d, sp);
            acc = Q6_KStep(acc, second, xs + 64, scales16, index1, d, sp + 16);
            (first, second) = UnpackQ6_K(block + 64, block + 160, low4, bits01, bits45);
            acc = Q6_KStep(acc, first, xs + 128, scales16, index2, d, sp + 32);
            acc = Q6_KStep(acc, second, xs + 192, scales16, index3, d, sp + 48);
        }
        return Vector512.Sum(acc - offsetAcc);
    }

    /// <summary>The 128 six-bit values of one half of a Q6_K super-block, in order: values 0-63, then 64-127.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static (Vector512<byte> First, Vector512<byte> Second) UnpackQ6_K(byte* lowBits, byte* highBits, Vector512<byte> low4, Vector512<byte> bits01, Vector512<byte> bits45)
    {
        var ql = Vector512.Load(lowBits);
        var qh256 = Vector256.Load(highBits);
        var qh = Vector512.Create(qh256, Vector256.ShiftRightLogical(qh256.AsUInt16(), 2).AsByte());
        var first = (ql & low4) | Vector512.ShiftLeft((qh & bits01).AsUInt16(), 4).AsByte();
        var second = (Vector512.ShiftRightLogical(ql.AsUInt16(), 4).AsByte() & low4) | (qh & bits45);
        return (first, second);
    }

    /// <summary>64 six-bit values (vector v of the super-block) against their activations; index spreads scales 4v..4v+3.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Q6_KStep(Vector512<float> acc, Vector512<byte> q, sbyte* x, Vector512<short> scales16, Vector512<short> index, Vector512<float> d, float* spread)
    {
        var products = Avx512BW.MultiplyAddAdjacent(q, Vector512.Load(x));
        var sums = Avx512BW.MultiplyAddAdjacent(products, Avx512BW.PermuteVar32x16(scales16, index));
        return Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(sums), d * Vector512.Load(spread), acc);
    }
}
