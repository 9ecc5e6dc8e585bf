using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using SharpInfer.Kernels.Quantization;

namespace SharpInfer.Kernels.Dense;

/// <summary>
/// Q8_0 weights times int8-quantized activations (<see cref="ActivationQuantizer"/>) through 16-bit multiply-adds,
/// for any number of tokens, one token included.
/// <para>
/// The weights are copied at load into groups of 16 rows interleaved by column pairs (<see cref="Interleave"/>):
/// for each block of 32 columns, 16 vectors of [16 rows][2 columns] int8. One such vector, sign-extended to int16,
/// meets a token's two activations of the same columns (broadcast as one 32-bit pair) in vpmaddwd, which leaves each
/// row's two products summed in that row's own int32 lane. Sixteen of them give a block's exact int32 sums for 16
/// rows at once: no sign fix-up (maddubs needs one operand unsigned, which costs Q8_0 about as much as the products)
/// and no horizontal sums. Per block and token one conversion and one FMA by d_w * d_x finish the float result.
/// .NET 10 has no VNNI API, and on Zen 4 vpmaddwd plus vpaddd retire 32 multiply-adds per cycle against 16 for a
/// float FMA.
/// </para>
/// <para>
/// Measured on the 2-core Zen 4 reference machine (one thread, scratch benchmark against the float tile GEMM of
/// <see cref="FloatGemm"/> over <see cref="TileDequantizer"/> rows): 78-84 G multiply-adds/s against 45-52 at
/// 576 x 1536 and 16-128 tokens, 70 against 40-44 at 2048 x 5632 and 128 tokens; one token streams 16-21 GB/s of
/// weights against 11-14 for <see cref="IntegerDot.DotQ8_0Grouped"/> on a 28 MB matrix.
/// </para>
/// <para>
/// Every y[t, r] is one lane of one accumulator: exact int32 block sums (their order cannot matter), then
/// f = fma(float(sum_b), d_w[r, b] * d_x[t, b], f) for b = 0, 1, ... in order, whichever of the 1..8-token kernels
/// computed it. A token's result therefore never depends on the batch, the thread count or how rows were split.
/// </para>
/// </summary>
public static unsafe class InterleavedQ8_0
{
    /// <summary>Rows of one interleaved group: one int32 lane each in a 512-bit vector.</summary>
    public const int GroupRows = 16;

    /// <summary>Bytes of one block (32 columns) of one group: 16 column pairs x 16 rows x 2.</summary>
    private const int GroupBlockBytes = 32 * GroupRows;

    /// <summary>
    /// Whether <paramref name="w"/> can be interleaved and multiplied here: Q8_0 with a scale table
    /// (<see cref="BlockScales.Create"/>), whole groups of 16 rows, on a machine with AVX-512BW.
    /// The loader asks this before building the copy.
    /// </summary>
    public static bool Suits(in WeightMatrix w) =>
        Avx512BW.IsSupported && w.Type == GgmlType.Q8_0 && w.Scales != null && w.Rows % GroupRows == 0;

    /// <summary>Whether <paramref name="w"/> has its interleaved copy and grouped scales, so its tokens take this path.</summary>
    public static bool Applies(in WeightMatrix w) => w.Interleaved != null && w.GroupScales != null && Avx512BW.IsSupported;

    /// <summary>
    /// Copies the int8 values of a Q8_0 matrix (see <see cref="Suits"/>) as [Rows / 16, Columns / 32, 16 pairs,
    /// 16 rows, 2]: byte ((g * blocks + b) * 16 + p) * 32 + 2 * i + j holds W[16 g + i, 32 b + 2 p + j].
    /// Rows * Columns bytes, 64-byte aligned; free it with <see cref="BlockScales.Free"/>.
    /// </summary>
    public static byte* Interleave(in WeightMatrix w)
    {
        if (w.Type != GgmlType.Q8_0 || w.Rows % GroupRows != 0)
            throw new ArgumentException($"interleaving needs a Q8_0 matrix of whole groups of {GroupRows} rows, not {w.Type} with {w.Rows} rows");
        int blocks = w.Columns / 32, blockBytes = GgmlTypeInfo.BlockBytes(GgmlType.Q8_0);
        var copy = (byte*)NativeMemory.AlignedAlloc((nuint)((long)w.Rows * w.Columns), 64);
        for (long g = 0; g < w.Rows / GroupRows; g++)
            for (int i = 0; i < GroupRows; i++)
            {
                byte* row = w.Data + (g * GroupRows + i) * w.RowBytes;
                for (int b = 0; b < blocks; b++)
                {
                    ushort* pairs = (ushort*)(row + (long)b * blockBytes + 2); // the block's 16 column pairs
                    ushort* group = (ushort*)(copy + (g * blocks + b) * GroupBlockBytes) + i;
                    for (int p = 0; p < 16; p++) group[p * GroupRows] = pairs[p];
                }
            }
        return copy;
    }

    /// <summary>Sign-extends <paramref name="n"/> int8 activations to int16, the form the kernels broadcast in pairs.</summary>
    public static void Widen(sbyte* source, short* destination, long n)
    {
        long i = 0;
        for (; i + 32 <= n; i += 32) Avx512BW.ConvertToVector512Int16(Vector256.Load(source + i)).Store(destination + i);
        for (; i < n; i++) destination[i] = source[i];
    }

    /// <summary>
    /// y[t * yStride + r] for rows [start, end) (multiples of 16) and <paramref name="tokens"/> tokens of widened
    /// activations x16 ([tokens, Columns] int16, <see cref="Widen"/>) with block scales xd ([tokens, Columns / 32]).
    /// </summary>
    public static void Run(in WeightMatrix w, int start, int end, short* x16, float* xd, int tokens, float* y, long yStride)
    {
        if (!Applies(w)) throw new InvalidOperationException("the matrix has no interleaved copy (or this machine no AVX-512BW)");
        if (start % GroupRows != 0 || (end % GroupRows != 0 && end != w.Rows)) throw new ArgumentException($"rows [{start}, {end}) are not whole groups of {GroupRows}");
        int cols = w.Columns, blocks = cols / 32;
        for (int r = start; r < end; r += GroupRows)
        {
            var group = new Group((sbyte*)w.Interleaved + (long)r * cols, w.GroupScales + (long)r * blocks, blocks);
            int t = 0;
            for (; t + 8 <= tokens; t += 8) Tokens<Eight>(group, x16, xd, cols, t, y + r, yStride);
            switch (tokens - t)
            {
                case 7: Tokens<Seven>(group, x16, xd, cols, t, y + r, yStride); break;
                case 6: Tokens<Six>(group, x16, xd, cols, t, y + r, yStride); break;
                case 5: Tokens<Five>(group, x16, xd, cols, t, y + r, yStride); break;
                case 4: Tokens<Four>(group, x16, xd, cols, t, y + r, yStride); break;
                case 3: Tokens<Three>(group, x16, xd, cols, t, y + r, yStride); break;
                case 2: Tokens<Two>(group, x16, xd, cols, t, y + r, yStride); break;
                case 1: Tokens<One>(group, x16, xd, cols, t, y + r, yStride); break;
            }
        }
    }

    private readonly struct Group(sbyte* weights, float* scales, int blocks)
    {
        public readonly sbyte* Weights = weights;
        public readonly float* Scales = scales;
        public readonly int Blocks = blocks;
    }

    /// <summary>How many tokens one kernel instance handles; a constant after JIT specialisation.</summary>
    private interface ITokenCount { static abstract int Value { get; } }
    private struct One : ITokenCount { public static int Value => 1; }
    private struct Two : ITokenCount { public static int Value => 2; }
    private struct Three : ITokenCount { public static int Value => 3; }
    private struct Four : ITokenCount { public static int Value => 4; }
    private struct Five : ITokenCount { public static int Value => 5; }
    private struct Six : ITokenCount { public static int Value => 6; }
    private struct Seven : ITokenCount { public static int Value => 7; }
    private struct Eight : ITokenCount { public static int Value => 8; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> PairProducts(Vector512<short> weights, int* pair) =>
        Avx512BW.MultiplyAddAdjacent(weights, Vector512.Create(*pair).AsInt16());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Scaled(Vector512<float> acc, Vector512<int> sums, Vector512<float> rowScales, float tokenScale) =>
        Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(sums), rowScales * tokenScale, acc);

    /// <summary>
    /// Tokens [first, first + TCount) against one group of 16 rows. The accumulators are separate locals, guarded by
    /// a count the JIT knows, so they stay in registers (an array of them would not).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tokens<TCount>(in Group group, short* x16, float* xd, int cols, int first, float* y, long yStride) where TCount : struct, ITokenCount
    {
        int n = TCount.Value, blocks = group.Blocks;
        int* x = (int*)(x16 + (long)first * cols); // column pairs
        long xs = cols / 2;                         // pairs per token
        float* d = xd + (long)first * blocks;
        Vector512<float> f0 = default, f1 = default, f2 = default, f3 = default, f4 = default, f5 = default, f6 = default, f7 = default;
        for (int b = 0; b < blocks; b++)
        {
            Vector512<int> i0 = default, i1 = default, i2 = default, i3 = default, i4 = default, i5 = default, i6 = default, i7 = default;
            sbyte* wb = group.Weights + (long)b * GroupBlockBytes;
            int* xb = x + b * 16;
            for (int p = 0; p < 16; p++)
            {
                var v = Avx512BW.ConvertToVector512Int16(Vector256.Load(wb + 32 * p));
                int* xp = xb + p;
                i0 += PairProducts(v, xp);
                if (n > 1) i1 += PairProducts(v, xp + xs);
                if (n > 2) i2 += PairProducts(v, xp + 2 * xs);
                if (n > 3) i3 += PairProducts(v, xp + 3 * xs);
                if (n > 4) i4 += PairProducts(v, xp + 4 * xs);
                if (n > 5) i5 += PairProducts(v, xp + 5 * xs);
                if (n > 6) i6 += PairProducts(v, xp + 6 * xs);
                if (n > 7) i7 += PairProducts(v, xp + 7 * xs);
            }
            var s = Vector512.Load(group.Scales + 16 * b);
            float* db = d + b;
            f0 = Scaled(f0, i0, s, db[0]);
            if (n > 1) f1 = Scaled(f1, i1, s, db[blocks]);
            if (n > 2) f2 = Scaled(f2, i2, s, db[2 * blocks]);
            if (n > 3) f3 = Scaled(f3, i3, s, db[3 * blocks]);
            if (n > 4) f4 = Scaled(f4, i4, s, db[4 * blocks]);
            if (n > 5) f5 = Scaled(f5, i5, s, db[5 * blocks]);
            if (n > 6) f6 = Scaled(f6, i6, s, db[6 * blocks]);
            if (n > 7) f7 = Scaled(f7, i7, s, db[7 * blocks]);
        }
        float* yt = y + first * yStride;
        f0.Store(yt);
        if (n > 1) f1.Store(yt + yStride);
        if (n > 2) f2.Store(yt + 2 * yStride);
        if (n > 3) f3.Store(yt + 3 * yStride);
        if (n > 4) f4.Store(yt + 4 * yStride);
        if (n > 5) f5.Store(yt + 5 * yStride);
        if (n > 6) f6.Store(yt + 6 * yStride);
        if (n > 7) f7.Store(yt + 7 * yStride);
    }
}
