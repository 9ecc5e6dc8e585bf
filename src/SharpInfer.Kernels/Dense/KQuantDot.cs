using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using System.Runtime.InteropServices;
using SharpInfer.Kernels.Quantization;

namespace SharpInfer.Kernels.Dense;

/// <summary>
/// Dot products of Q4_K and Q6_K weight rows (256-value super-blocks) with int8 activations quantized in blocks of
/// 256 (<see cref="ActivationQuantizer.QuantizeSuperBlocks"/>, llama.cpp's Q8_K): one activation scale d_x per
/// super-block, so a super-block's products sum exactly in int32 and convert to float once.
/// <para>
/// Q4_K: w = d * sc_j * q - dmin * m_j for 32-value sub-blocks j (q in 0..15, sc and m six-bit), so a super-block
/// gives d * d_x * sum_j sc_j * (sum of q * x_q) - dmin * d_x * sum_j m_j * (sum of x_q over j). Q6_K:
/// w = d * sc_s * (q - 32) for 16-value sub-blocks s (q in 0..63, sc_s int8): d * d_x * sum_s sc_s * sum (q - 32) x_q.
/// The unsigned q feed vpmaddubsw directly (no sign fix-up; a pair stays below 2 * 63 * 127), Q6_K subtracts
/// 32 * (x_2i + x_2i+1) from each pair sum (prepared per token), and vpmaddwd by the sub-block scales spread over their
/// int16 lanes gives exact int32 partial sums already times sc.
/// </para>
/// <para>
/// The activation terms that do not depend on the row (the sums of 32 values, the 32 * pair sums) are computed once
/// per token and call by <see cref="Prepare"/>. A row's value for a token depends on that row and token alone (a
/// token's kernel is the same whatever else the call holds), so results are batch-invariant. AVX-512BW only:
/// elsewhere these types keep the float path (<see cref="IsSupported"/>).
/// </para>
/// </summary>
public static unsafe class KQuantDot
{
    public const int SuperBlock = ActivationQuantizer.SuperBlockSize;

    /// <summary>Whether the kernels run on this machine.</summary>
    public static bool HasKernels => Avx512BW.IsSupported;

    public static bool IsSupported(GgmlType type) => type is GgmlType.Q4_K or GgmlType.Q6_K && HasKernels;

    /// <summary>Int16 values per token of the prepared activation terms of an <paramref name="n"/>-value row.</summary>
    public static int PreparedShorts(int n) => n / 32 + n / 2;

    /// <summary>
    /// The row-independent terms of one token's int8 activations, into <paramref name="prepared"/>
    /// (<see cref="PreparedShorts"/>): [n / 32] the sum of each 32 values (the Q4_K mins' term), then [n / 2]
    /// 32 * (x_2i + x_2i+1), what vpmaddubsw of 32s and x gives (the Q6_K offset of 32).
    /// </summary>
    public static void Prepare(ReadOnlySpan<sbyte> xq, Span<short> prepared)
    {
        int n = xq.Length;
        if (n % SuperBlock != 0 || prepared.Length < PreparedShorts(n))
            throw new ArgumentException($"K-quant activations: {n} values must be whole super-blocks of {SuperBlock} with room for the prepared terms");
        var sums = prepared[..(n / 32)];
        var pairs = prepared.Slice(n / 32, n / 2);
        for (int b = 0; b < n / 32; b++)
        {
            int sum = 0;
            for (int i = 0; i < 32; i++) sum += xq[32 * b + i];
            sums[b] = (short)sum;
        }
        int done = 0;
        if (HasKernels)
        {
            // vpmaddubsw of 32s (unsigned) and x (signed) is 32 * (x_2i + x_2i+1) exactly.
            var thirtyTwo = Vector512.Create((byte)32);
            fixed (sbyte* x = xq) fixed (short* pair = pairs)
                for (; done + 64 <= n; done += 64) Avx512BW.MultiplyAddAdjacent(thirtyTwo, Vector512.Load(x + done)).Store(pair + done / 2);
        }
        for (int i = done / 2; i < n / 2; i++) pairs[i] = (short)(32 * (xq[2 * i] + xq[2 * i + 1]));
    }

    /// <summary>
    /// The definition, one super-block at a time in plain integer and float arithmetic: exact int sums per
    /// super-block, then d * d_x and dmin * d_x. The vector kernels give the same value up to float rounding.
    /// </summary>
    /// <param name="xd">[n / 256] the activation scales.</param>
    public static float Scalar(GgmlType type, byte* row, sbyte* xq, float* xd, int n)
    {
        if (type is not (GgmlType.Q4_K or GgmlType.Q6_K)) throw new ArgumentException($"K-quant dot products take Q4_K or Q6_K rows, not {type}");
        double sum = 0;
        for (int s = 0; s < n / SuperBlock; s++)
        {
            sbyte* x = xq + s * SuperBlock;
            if (type == GgmlType.Q4_K)
            {
                byte* block = row + s * 144;
                float dw = HalfConvert.ToSingle(block), dmin = HalfConvert.ToSingle(block + 2);
                var scales = new ReadOnlySpan<byte>(block + 4, 12);
                byte* qs = block + 16;
                long dots = 0, mins = 0;
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
                    dots += sc * dot;
                    mins += m * xsum;
                }
                sum += (double)dw * xd[s] * dots - (double)dmin * xd[s] * mins;
            }
            else
            {
                byte* block = row + s * 210;
                byte* ql = block, qh = block + 128;
                sbyte* sc = (sbyte*)(block + 192);
                float dw = HalfConvert.ToSingle(block + 208);
                long dots = 0;
                for (int k = 0; k < SuperBlock; k++)
                {
                    // Value k of the super-block: half h = k / 128, within it quarter c = (k % 128) / 32 and l = k % 32.
                    int h = k / 128, c = k % 128 / 32, l = k % 32;
                    byte low = ql[64 * h + 32 * (c % 2) + l];
                    int q = (c < 2 ? low & 0x0F : low >> 4) | (qh[32 * h + l] >> (2 * c) & 3) << 4;
                    dots += sc[k / 16] * (q - 32) * x[k];
                }
                sum += (double)dw * xd[s] * dots;
            }
        }
        return (float)sum;
    }

    /// <summary>
    /// y[t * yStride] = row . x_t for t &lt; tokens: <paramref name="xq"/> [tokens, n] int8 activations with
    /// <paramref name="xd"/> [tokens, n / 256] scales and <paramref name="prepared"/> [tokens,
    /// <see cref="PreparedShorts"/>(n)] their terms. Requires <see cref="HasKernels"/>.
    /// </summary>
    /// <param name="repacked">for Q4_K, the row in <see cref="Repack"/>'s form (the same values), or null.</param>
    /// <remarks>
    /// Up to four tokens share one pass over the row (its values unpacked and its scales spread once per super-block);
    /// each token's operations are those of the one-token kernel, so its value does not depend on its batch.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot(GgmlType type, byte* row, sbyte* xq, float* xd, short* prepared, int n, int tokens, float* y, long yStride, byte* repacked = null)
    {
        if (!IsSupported(type)) throw new ArgumentException($"K-quant dot products take Q4_K or Q6_K rows on an AVX-512BW machine, not {type}{(HasKernels ? "" : " (no AVX-512BW here)")}");
        var io = new Tokens(xq, xd, prepared, n);
        int t = 0;
        for (; t + 4 <= tokens; t += 4) Dot<FourTokens>(type, row, repacked, io.Skip(t), y + t * yStride, yStride);
        switch (tokens - t)
        {
            case 3: Dot<ThreeTokens>(type, row, repacked, io.Skip(t), y + t * yStride, yStride); break;
            case 2: Dot<TwoTokens>(type, row, repacked, io.Skip(t), y + t * yStride, yStride); break;
            case 1: Dot<OneToken>(type, row, repacked, io.Skip(t), y + t * yStride, yStride); break;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Dot<TCount>(GgmlType type, byte* row, byte* repacked, in Tokens io, float* y, long yStride) where TCount : struct, ITokenCount
    {
        if (type != GgmlType.Q4_K) Q6_K<TCount>(row, io, y, yStride);
        else if (repacked != null) Q4_K<RepackedQ4_K, TCount>(repacked, io, y, yStride);
        else Q4_K<StoredQ4_K, TCount>(row, io, y, yStride);
    }

    /// <summary>Where the tokens of a call keep their activations: token t's values, scales and prepared terms.</summary>
    private readonly struct Tokens(sbyte* xq, float* xd, short* prepared, int n)
    {
        public readonly int N = n;
        public sbyte* Values(int t) => xq + (long)t * N;
        public float* Scales(int t) => xd + (long)t * (N / SuperBlock);
        public short* Prepared(int t) => prepared + (long)t * PreparedShorts(N);
        public Tokens Skip(int t) => new(Values(t), Scales(t), Prepared(t), N);
    }

    // vpermw index vectors as constant data (one load each; building them from narrower vectors cost a row ~70 cycles).
    /// <summary>The four vpermw index vectors of a table (one per 64 values of a super-block).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector512<short>, Vector512<short>, Vector512<short>, Vector512<short>) ScaleIndices(ReadOnlySpan<short> table)
    {
        ref short first = ref MemoryMarshal.GetReference(table);
        return (Vector512.LoadUnsafe(ref first), Vector512.LoadUnsafe(ref first, 32), Vector512.LoadUnsafe(ref first, 64), Vector512.LoadUnsafe(ref first, 96));
    }

    /// <summary>Step v (32 int16 lanes each): sub-block 2v's scale on lanes 0-15, 2v + 1's on 16-31.</summary>
    private static ReadOnlySpan<short> Q4_KScaleIndices =>
    [
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
        2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
        4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5,
        6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    ];

    /// <summary>Step v: scale 4v + i on lanes 8i .. 8i + 7.</summary>
    private static ReadOnlySpan<short> Q6_KScaleIndices =>
    [
        0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3,
        4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7,
        8, 8, 8, 8, 8, 8, 8, 8, 9, 9, 9, 9, 9, 9, 9, 9, 10, 10, 10, 10, 10, 10, 10, 10, 11, 11, 11, 11, 11, 11, 11, 11,
        12, 12, 12, 12, 12, 12, 12, 12, 13, 13, 13, 13, 13, 13, 13, 13, 14, 14, 14, 14, 14, 14, 14, 14, 15, 15, 15, 15, 15, 15, 15, 15,
    ];

    /// <summary>How many tokens a kernel instance handles; a constant after JIT specialisation.</summary>
    private interface ITokenCount { static abstract int Value { get; } }
    private struct OneToken : ITokenCount { public static int Value => 1; }
    private struct TwoTokens : ITokenCount { public static int Value => 2; }
    private struct ThreeTokens : ITokenCount { public static int Value => 3; }
    private struct FourTokens : ITokenCount { public static int Value => 4; }

    /// <summary>Bytes of a Q4_K super-block in <see cref="Repack"/>'s form: d and dmin (float), 8 scales, 8 mins, 128 packed values.</summary>
    public const int RepackedQ4_KBytes = 152;

    /// <summary>
    /// A native copy of a Q4_K matrix (free it with <see cref="BlockScales.Free"/>), each super-block as
    /// [d: float][dmin: float][8 scales: u8][8 mins: u8][128 bytes of packed values, as stored]: the f16 scales
    /// converted exactly and the 6-bit scales and mins unpacked once at load instead of for every token. Requires
    /// <see cref="HasKernels"/>.
    /// </summary>
    public static byte* Repack(in WeightMatrix w)
    {
        if (w.Type != GgmlType.Q4_K) throw new ArgumentException($"only Q4_K matrices are repacked, not {w.Type}");
        int superBlocks = w.Columns / SuperBlock;
        long rowBytes = (long)superBlocks * RepackedQ4_KBytes;
        var copy = (byte*)HugePages.AllocCopy((nuint)(w.Rows * rowBytes));
        for (long r = 0; r < w.Rows; r++)
            for (int s = 0; s < superBlocks; s++)
            {
                byte* block = w.Data + r * w.RowBytes + s * 144, dst = copy + r * rowBytes + s * RepackedQ4_KBytes;
                *(float*)dst = HalfConvert.ToSingle(block);
                *(float*)(dst + 4) = HalfConvert.ToSingle(block + 2);
                UnpackScalesMinsK4(block + 4).Store(dst + 8); // 8 scales, then 8 mins
                Buffer.MemoryCopy(block + 16, dst + 24, 128, 128);
            }
        return copy;
    }

    /// <summary>Where a Q4_K kernel finds a super-block's scales: the stored block, or the repacked one.</summary>
    internal interface IQ4_KLayout
    {
        static abstract int BlockBytes { get; }
        static abstract int ValuesOffset { get; }
        /// <summary>d and dmin as floats, and the scales (bytes 0-7) and mins (bytes 8-15).</summary>
        static abstract (float D, float DMin, Vector128<byte> ScalesMins) Header(byte* block);
    }

    internal struct StoredQ4_K : IQ4_KLayout
    {
        public static int BlockBytes => 144;
        public static int ValuesOffset => 16;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        // Scalar conversions: they run on the integer ports beside the vector work (the vector form cost ~13 cycles
        // of a ~45-cycle super-block, measured in isolation).
        public static (float, float, Vector128<byte>) Header(byte* block) => (HalfConvert.ToSingle(block), HalfConvert.ToSingle(block + 2), UnpackScalesMinsK4(block + 4));
    }

    internal struct RepackedQ4_K : IQ4_KLayout
    {
        public static int BlockBytes => RepackedQ4_KBytes;
        public static int ValuesOffset => 24;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static (float, float, Vector128<byte>) Header(byte* block) => (*(float*)block, *(float*)(block + 4), Vector128.Load(block + 8));
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

    // One compiled body per layout and token count (inlining them all into Dot overran the JIT's inlining budget,
    // and the per-token helpers below then stayed calls with their vectors passed through memory: ~2-4x slower).
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Q4_K<TLayout, TCount>(byte* row, in Tokens io, float* y, long yStride)
        where TLayout : struct, IQ4_KLayout where TCount : struct, ITokenCount
    {
        int superBlocks = io.N / SuperBlock;
        // Accumulators per token: separate locals guarded by a count the JIT knows, so they stay in registers.
        var acc0 = Vector512<float>.Zero; var acc1 = Vector512<float>.Zero; var acc2 = Vector512<float>.Zero; var acc3 = Vector512<float>.Zero;
        var min0 = Vector128<float>.Zero; var min1 = Vector128<float>.Zero; var min2 = Vector128<float>.Zero; var min3 = Vector128<float>.Zero;
        var nibble = Vector512.Create((byte)0x0F);
        // vpermw indices putting sub-block j's scale on the 16 int16 lanes of its 32 values.
        var (index0, index1, index2, index3) = ScaleIndices(Q4_KScaleIndices);
        for (int s = 0; s < superBlocks; s++)
        {
            byte* block = row + s * TLayout.BlockBytes;
            var (dw, dmw, scalesMins) = TLayout.Header(block);
            var scales16 = Avx2.ConvertToVector256Int16(scalesMins).ToVector512Unsafe(); // lanes 0-7 scales
            var mins16 = Sse41.ConvertToVector128Int16(Sse2.ShiftRightLogical128BitLane(scalesMins, 8));
            byte* qs = block + TLayout.ValuesOffset;
            var (q0, q1) = UnpackQ4_K(qs, nibble);
            var (q2, q3) = UnpackQ4_K(qs + 64, nibble);
            var sc0 = Avx512BW.PermuteVar32x16(scales16, index0);
            var sc1 = Avx512BW.PermuteVar32x16(scales16, index1);
            var sc2 = Avx512BW.PermuteVar32x16(scales16, index2);
            var sc3 = Avx512BW.PermuteVar32x16(scales16, index3);
            Q4_KToken(ref acc0, ref min0, io, 0, s, q0, q1, q2, q3, sc0, sc1, sc2, sc3, mins16, dw, dmw);
            if (TCount.Value > 1) Q4_KToken(ref acc1, ref min1, io, 1, s, q0, q1, q2, q3, sc0, sc1, sc2, sc3, mins16, dw, dmw);
            if (TCount.Value > 2) Q4_KToken(ref acc2, ref min2, io, 2, s, q0, q1, q2, q3, sc0, sc1, sc2, sc3, mins16, dw, dmw);
            if (TCount.Value > 3) Q4_KToken(ref acc3, ref min3, io, 3, s, q0, q1, q2, q3, sc0, sc1, sc2, sc3, mins16, dw, dmw);
        }
        y[0] = Vector512.Sum(acc0) - Vector128.Sum(min0);
        if (TCount.Value > 1) y[yStride] = Vector512.Sum(acc1) - Vector128.Sum(min1);
        if (TCount.Value > 2) y[2 * yStride] = Vector512.Sum(acc2) - Vector128.Sum(min2);
        if (TCount.Value > 3) y[3 * yStride] = Vector512.Sum(acc3) - Vector128.Sum(min3);
    }

    /// <summary>
    /// One token's part of a Q4_K super-block: exact int32 sums of q * x_q times the sub-block scales, then times
    /// d * d_x; the mins times the 32-value sums of x_q, times dmin * d_x.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Q4_KToken(ref Vector512<float> acc, ref Vector128<float> minAcc, in Tokens io, int t, int s,
        Vector512<byte> q0, Vector512<byte> q1, Vector512<byte> q2, Vector512<byte> q3,
        Vector512<short> sc0, Vector512<short> sc1, Vector512<short> sc2, Vector512<short> sc3, Vector128<short> mins16, float dw, float dmw)
    {
        sbyte* x = io.Values(t) + s * SuperBlock;
        float dx = io.Scales(t)[s];
        var sums = Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(q0, Vector512.Load(x)), sc0)
            + Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(q1, Vector512.Load(x + 64)), sc1)
            + Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(q2, Vector512.Load(x + 128)), sc2)
            + Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(q3, Vector512.Load(x + 192)), sc3);
        acc = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(sums), Vector512.Create(dw * dx), acc);
        var minSums = Sse2.MultiplyAddAdjacent(mins16, Vector128.Load(io.Prepared(t) + 8 * s));
        minAcc = Fma.MultiplyAdd(Sse2.ConvertToVector128Single(minSums), Vector128.Create(dmw * dx), minAcc);
    }

    /// <summary>
    /// The 128 four-bit values of 64 packed bytes in value order (values 0-63, then 64-127): the bytes hold sub-block
    /// 4k in the low nibbles of bytes 0-31, 4k + 1 in their high nibbles, 4k + 2 and 4k + 3 in bytes 32-63. The nibbles
    /// of all 64 bytes come out at once; two 256-bit shuffles put them in order.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector512<byte> First, Vector512<byte> Second) UnpackQ4_K(byte* qs, Vector512<byte> nibble)
    {
        var packed = Vector512.Load(qs);
        var low = (packed & nibble).AsUInt64();
        var high = (Vector512.ShiftRightLogical(packed.AsUInt16(), 4).AsByte() & nibble).AsUInt64();
        return (Avx512F.Shuffle4x128(low, high, 0b01_00_01_00).AsByte(), Avx512F.Shuffle4x128(low, high, 0b11_10_11_10).AsByte());
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Q6_K<TCount>(byte* row, in Tokens io, float* y, long yStride) where TCount : struct, ITokenCount
    {
        int superBlocks = io.N / SuperBlock;
        var acc0 = Vector512<float>.Zero; var acc1 = Vector512<float>.Zero; var acc2 = Vector512<float>.Zero; var acc3 = Vector512<float>.Zero;
        var low4 = Vector512.Create((byte)0x0F);
        var bits01 = Vector512.Create((byte)0x03);
        var bits45 = Vector512.Create((byte)0x30);
        // vpermw indices putting scale 4v + i on int16 lanes 8i .. 8i + 7 (the pair sums of its 16 values).
        var (index0, index1, index2, index3) = ScaleIndices(Q6_KScaleIndices);
        for (int s = 0; s < superBlocks; s++)
        {
            byte* block = row + s * 210;
            // Each half: 64 bytes of low bits and 32 of high bits give 128 six-bit values. The block is read in
            // address order, values before the scales and d at its end.
            var (q0, q1) = UnpackQ6_K(block, block + 128, low4, bits01, bits45);
            var (q2, q3) = UnpackQ6_K(block + 64, block + 160, low4, bits01, bits45);
            var scales16 = Avx2.ConvertToVector256Int16(Vector128.Load((sbyte*)(block + 192))).ToVector512Unsafe();
            float dw = HalfConvert.ToSingle(block + 208);
            var sc0 = Avx512BW.PermuteVar32x16(scales16, index0);
            var sc1 = Avx512BW.PermuteVar32x16(scales16, index1);
            var sc2 = Avx512BW.PermuteVar32x16(scales16, index2);
            var sc3 = Avx512BW.PermuteVar32x16(scales16, index3);
            acc0 = Q6_KToken(acc0, io, 0, s, q0, q1, q2, q3, sc0, sc1, sc2, sc3, dw);
            if (TCount.Value > 1) acc1 = Q6_KToken(acc1, io, 1, s, q0, q1, q2, q3, sc0, sc1, sc2, sc3, dw);
            if (TCount.Value > 2) acc2 = Q6_KToken(acc2, io, 2, s, q0, q1, q2, q3, sc0, sc1, sc2, sc3, dw);
            if (TCount.Value > 3) acc3 = Q6_KToken(acc3, io, 3, s, q0, q1, q2, q3, sc0, sc1, sc2, sc3, dw);
        }
        y[0] = Vector512.Sum(acc0);
        if (TCount.Value > 1) y[yStride] = Vector512.Sum(acc1);
        if (TCount.Value > 2) y[2 * yStride] = Vector512.Sum(acc2);
        if (TCount.Value > 3) y[3 * yStride] = Vector512.Sum(acc3);
    }

    /// <summary>One token's part of a Q6_K super-block: exact int32 sums of (q - 32) x_q times the sub-block scales, then times d * d_x.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Q6_KToken(Vector512<float> acc, in Tokens io, int t, int s, Vector512<byte> q0, Vector512<byte> q1, Vector512<byte> q2, Vector512<byte> q3,
        Vector512<short> sc0, Vector512<short> sc1, Vector512<short> sc2, Vector512<short> sc3, float dw)
    {
        sbyte* x = io.Values(t) + s * SuperBlock;
        short* pairs32 = io.Prepared(t) + io.N / 32 + s * 128;
        var sums = Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(q0, Vector512.Load(x)) - Vector512.Load(pairs32), sc0)
            + Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(q1, Vector512.Load(x + 64)) - Vector512.Load(pairs32 + 32), sc1)
            + Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(q2, Vector512.Load(x + 128)) - Vector512.Load(pairs32 + 64), sc2)
            + Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(q3, Vector512.Load(x + 192)) - Vector512.Load(pairs32 + 96), sc3);
        return Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(sums), Vector512.Create(dw * io.Scales(t)[s]), acc);
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
}
