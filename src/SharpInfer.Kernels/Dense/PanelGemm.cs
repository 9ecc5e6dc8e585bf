using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SharpInfer.Kernels.Dense;

/// <summary>
/// Outer-product float GEMM for the prompt tokens of long Q8_0 rows (the 1.1B shape's 2048- and 5632-column
/// matrices). A panel of 32 rows is dequantized column by column ([cols, 32] floats) straight from the packed int8
/// rows: 16 rows x 16 columns of bytes are transposed with four AVX-512 VBMI two-source byte permutes and four more,
/// then widened, converted and scaled, so the layout costs no second copy of the weights. The kernel then loads the
/// 32 rows of column k in two 512-bit vectors and broadcasts each token's x[k]: eight tokens keep 16 accumulators
/// busy, each holding 16 outputs, with no horizontal sums. On the 2-core Zen 4 reference machine (128 tokens, one
/// thread, scratch benchmark) it ran 52-54 G multiply-adds/s against 41-48 for the row-major 4x4 tile of
/// <see cref="FloatGemm"/> at 2048-5632 columns, whose 4-row tiles of long rows no longer fit L1; at 576 columns the
/// two tie (55 G), so shorter rows keep the tile. In the model (1.1B Q8_0, two threads, in-process A/B) prompts of
/// 128 tokens ran 1.19-1.28x; decode tokens stay on the tile (see <see cref="MatMul.MatrixVectorTokensTakeTile"/>),
/// as transposing costs about twice the row-wise dequantization, which one token cannot amortize.
/// <para>
/// Every output y[t, r] is one lane of one accumulator filled by FMAs in column order 0, 1, ..., cols - 1 from the
/// same dequantized values (int8 * scale, as <see cref="TileDequantizer"/> computes them), whichever token group
/// (8, 4, 2 or 1) computed it, so a token's result never depends on the batch it came in.
/// </para>
/// </summary>
public static unsafe class PanelGemm
{
    /// <summary>Rows of one panel: two groups of 16, one 512-bit vector each.</summary>
    public const int PanelRows = 32;
    private const int GroupRows = 16;

    /// <summary>
    /// Whether a matrix's prompt tokens take this path: packed Q8_0 rows of at least <see cref="MinColumns"/> columns
    /// with grouped scales (<see cref="BlockScales.Group"/>), and AVX-512 VBMI. The choice depends on the matrix alone.
    /// </summary>
    public static bool Applies(in WeightMatrix w) => w.GroupScales != null && Suits(w);

    /// <summary>
    /// Whether grouping <paramref name="w"/>'s scales (<see cref="BlockScales.Group"/>) would send it here: packed
    /// Q8_0 rows of at least <see cref="MinColumns"/> columns in whole groups of 16, on a machine with AVX-512 VBMI.
    /// The loader asks this, so no table is built that nothing reads.
    /// </summary>
    public static bool Suits(in WeightMatrix w) =>
        Avx512Vbmi.IsSupported && w.Type == Quantization.GgmlType.Q8_0 && w.Packed != null && w.Scales != null
        && w.Columns >= MinColumns && w.Rows % GroupRows == 0;

    /// <summary>Rows at least this long take the panels (2048 and 5632 on the 1.1B shape); shorter ones keep the
    /// tile, as fast there.</summary>
    public const int MinColumns = 2048;

    // Byte permutes of the 16 x 16 transposition. Stage 1 combines two vectors of four rows x 16 columns into eight
    // columns x eight rows; stage 2 combines two of those into four columns x 16 rows.
    private static readonly Vector512<byte> FirstLow, FirstHigh, SecondLow, SecondHigh;

    static PanelGemm()
    {
        var a = new byte[64]; var b = new byte[64]; var c = new byte[64]; var d = new byte[64];
        for (int k = 0; k < 8; k++)
            for (int r = 0; r < 8; r++)
            {
                a[k * 8 + r] = (byte)(r / 4 * 64 + r % 4 * 16 + k);
                b[k * 8 + r] = (byte)(r / 4 * 64 + r % 4 * 16 + 8 + k);
            }
        for (int k = 0; k < 4; k++)
            for (int r = 0; r < 16; r++)
            {
                c[k * 16 + r] = (byte)(r < 8 ? k * 8 + r : 64 + k * 8 + r - 8);
                d[k * 16 + r] = (byte)(r < 8 ? (4 + k) * 8 + r : 64 + (4 + k) * 8 + r - 8);
            }
        FirstLow = Vector512.Create(a); FirstHigh = Vector512.Create(b); SecondLow = Vector512.Create(c); SecondHigh = Vector512.Create(d);
    }

    /// <summary>
    /// Writes rows [row, row + 16) of <paramref name="w"/> (see <see cref="Applies"/>) as float columns:
    /// panel[k * 32 + i] = W[row + i, k], exactly the values <see cref="TileDequantizer.Row"/> gives.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void DequantizeGroup(in WeightMatrix w, int row, float* panel)
    {
        int cols = w.Columns, blocks = cols / 32;
        byte* rows = w.Packed + (long)row * cols;
        float* scales = w.GroupScales + (long)row * blocks; // group row / 16, 16 scales per block
        for (int b = 0; b < blocks; b++)
        {
            var d = Vector512.Load(scales + 16 * b);
            for (int h = 0; h < 2; h++)
            {
                byte* src = rows + 32 * b + 16 * h;
                var z0 = Load4(src, cols); var z1 = Load4(src + 4L * cols, cols);
                var z2 = Load4(src + 8L * cols, cols); var z3 = Load4(src + 12L * cols, cols);
                var lowRows = Avx512Vbmi.PermuteVar64x8x2(z0, FirstLow, z1);
                var lowRowsHigh = Avx512Vbmi.PermuteVar64x8x2(z0, FirstHigh, z1);
                var highRows = Avx512Vbmi.PermuteVar64x8x2(z2, FirstLow, z3);
                var highRowsHigh = Avx512Vbmi.PermuteVar64x8x2(z2, FirstHigh, z3);
                float* o = panel + (long)(32 * b + 16 * h) * PanelRows;
                Emit4(Avx512Vbmi.PermuteVar64x8x2(lowRows, SecondLow, highRows), d, o);
                Emit4(Avx512Vbmi.PermuteVar64x8x2(lowRows, SecondHigh, highRows), d, o + 4 * PanelRows);
                Emit4(Avx512Vbmi.PermuteVar64x8x2(lowRowsHigh, SecondLow, highRowsHigh), d, o + 8 * PanelRows);
                Emit4(Avx512Vbmi.PermuteVar64x8x2(lowRowsHigh, SecondHigh, highRowsHigh), d, o + 12 * PanelRows);
            }
        }
    }

    /// <summary>Four rows' 16 bytes at <paramref name="p"/>, p + stride, ... in one vector.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<byte> Load4(byte* p, int stride) =>
        Vector512.Create(Vector256.Create(Vector128.Load(p), Vector128.Load(p + stride)),
            Vector256.Create(Vector128.Load(p + 2L * stride), Vector128.Load(p + 3L * stride)));

    /// <summary>Four columns of 16 int8 rows -> float, times the rows' scales, stored 32 floats apart.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Emit4(Vector512<byte> columns, Vector512<float> d, float* o)
    {
        var s = columns.AsSByte();
        (Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(s.GetLower().GetLower())) * d).Store(o);
        (Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(s.GetLower().GetUpper())) * d).Store(o + PanelRows);
        (Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(s.GetUpper().GetLower())) * d).Store(o + 2 * PanelRows);
        (Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(s.GetUpper().GetUpper())) * d).Store(o + 3 * PanelRows);
    }

    /// <param name="panel">[cols, 32] float weights, 64-byte aligned.</param>
    /// <param name="x">[tokens, cols] activations.</param>
    /// <param name="y">Output: y[t * yStride + i] for rows i &lt; <paramref name="rows"/>.</param>
    /// <param name="rows">32, or 16 when only the panel's first group is valid (the rest is computed and dropped).</param>
    public static void Run(float* panel, int cols, float* x, int tokens, float* y, int yStride, int rows)
    {
        if (rows is not (GroupRows or PanelRows)) throw new ArgumentOutOfRangeException(nameof(rows), rows, "a panel stores 16 or 32 rows");
        bool upper = rows == PanelRows;
        int t = 0;
        for (; t + 8 <= tokens; t += 8) Kernel8(panel, cols, x + (long)t * cols, cols, y + (long)t * yStride, yStride, upper);
        if (t + 4 <= tokens) { Kernel4(panel, cols, x + (long)t * cols, cols, y + (long)t * yStride, yStride, upper); t += 4; }
        if (t + 2 <= tokens) { Kernel2(panel, cols, x + (long)t * cols, cols, y + (long)t * yStride, yStride, upper); t += 2; }
        if (t < tokens) Kernel1(panel, cols, x + (long)t * cols, cols, y + (long)t * yStride, yStride, upper);
    }

    // One kernel per token group size: the JIT keeps named locals in registers but not an array of accumulators, so
    // the groups are written out. All four fill each accumulator lane in the same column order.
    private static void Kernel8(float* panel, int cols, float* x, int xStride, float* y, int yStride, bool upper)
    {
        float* x0 = x;
        float* x1 = x + 1L * xStride;
        float* x2 = x + 2L * xStride;
        float* x3 = x + 3L * xStride;
        float* x4 = x + 4L * xStride;
        float* x5 = x + 5L * xStride;
        float* x6 = x + 6L * xStride;
        float* x7 = x + 7L * xStride;
        Vector512<float> a0 = default, b0 = default;
        Vector512<float> a1 = default, b1 = default;
        Vector512<float> a2 = default, b2 = default;
        Vector512<float> a3 = default, b3 = default;
        Vector512<float> a4 = default, b4 = default;
        Vector512<float> a5 = default, b5 = default;
        Vector512<float> a6 = default, b6 = default;
        Vector512<float> a7 = default, b7 = default;
        for (int k = 0; k < cols; k++)
        {
            var w0 = Vector512.Load(panel + PanelRows * k);
            var w1 = Vector512.Load(panel + PanelRows * k + 16);
            var u0 = Vector512.Create(x0[k]); a0 = Avx512F.FusedMultiplyAdd(w0, u0, a0); b0 = Avx512F.FusedMultiplyAdd(w1, u0, b0);
            var u1 = Vector512.Create(x1[k]); a1 = Avx512F.FusedMultiplyAdd(w0, u1, a1); b1 = Avx512F.FusedMultiplyAdd(w1, u1, b1);
            var u2 = Vector512.Create(x2[k]); a2 = Avx512F.FusedMultiplyAdd(w0, u2, a2); b2 = Avx512F.FusedMultiplyAdd(w1, u2, b2);
            var u3 = Vector512.Create(x3[k]); a3 = Avx512F.FusedMultiplyAdd(w0, u3, a3); b3 = Avx512F.FusedMultiplyAdd(w1, u3, b3);
            var u4 = Vector512.Create(x4[k]); a4 = Avx512F.FusedMultiplyAdd(w0, u4, a4); b4 = Avx512F.FusedMultiplyAdd(w1, u4, b4);
            var u5 = Vector512.Create(x5[k]); a5 = Avx512F.FusedMultiplyAdd(w0, u5, a5); b5 = Avx512F.FusedMultiplyAdd(w1, u5, b5);
            var u6 = Vector512.Create(x6[k]); a6 = Avx512F.FusedMultiplyAdd(w0, u6, a6); b6 = Avx512F.FusedMultiplyAdd(w1, u6, b6);
            var u7 = Vector512.Create(x7[k]); a7 = Avx512F.FusedMultiplyAdd(w0, u7, a7); b7 = Avx512F.FusedMultiplyAdd(w1, u7, b7);
        }
        a0.Store(y);
        a1.Store(y + 1L * yStride);
        a2.Store(y + 2L * yStride);
        a3.Store(y + 3L * yStride);
        a4.Store(y + 4L * yStride);
        a5.Store(y + 5L * yStride);
        a6.Store(y + 6L * yStride);
        a7.Store(y + 7L * yStride);
        if (upper)
        {
            b0.Store(y + 16);
            b1.Store(y + 1L * yStride + 16);
            b2.Store(y + 2L * yStride + 16);
            b3.Store(y + 3L * yStride + 16);
            b4.Store(y + 4L * yStride + 16);
            b5.Store(y + 5L * yStride + 16);
            b6.Store(y + 6L * yStride + 16);
            b7.Store(y + 7L * yStride + 16);
        }
    }

    private static void Kernel4(float* panel, int cols, float* x, int xStride, float* y, int yStride, bool upper)
    {
        float* x0 = x;
        float* x1 = x + 1L * xStride;
        float* x2 = x + 2L * xStride;
        float* x3 = x + 3L * xStride;
        Vector512<float> a0 = default, b0 = default;
        Vector512<float> a1 = default, b1 = default;
        Vector512<float> a2 = default, b2 = default;
        Vector512<float> a3 = default, b3 = default;
        for (int k = 0; k < cols; k++)
        {
            var w0 = Vector512.Load(panel + PanelRows * k);
            var w1 = Vector512.Load(panel + PanelRows * k + 16);
            var u0 = Vector512.Create(x0[k]); a0 = Avx512F.FusedMultiplyAdd(w0, u0, a0); b0 = Avx512F.FusedMultiplyAdd(w1, u0, b0);
            var u1 = Vector512.Create(x1[k]); a1 = Avx512F.FusedMultiplyAdd(w0, u1, a1); b1 = Avx512F.FusedMultiplyAdd(w1, u1, b1);
            var u2 = Vector512.Create(x2[k]); a2 = Avx512F.FusedMultiplyAdd(w0, u2, a2); b2 = Avx512F.FusedMultiplyAdd(w1, u2, b2);
            var u3 = Vector512.Create(x3[k]); a3 = Avx512F.FusedMultiplyAdd(w0, u3, a3); b3 = Avx512F.FusedMultiplyAdd(w1, u3, b3);
        }
        a0.Store(y);
        a1.Store(y + 1L * yStride);
        a2.Store(y + 2L * yStride);
        a3.Store(y + 3L * yStride);
        if (upper)
        {
            b0.Store(y + 16);
            b1.Store(y + 1L * yStride + 16);
            b2.Store(y + 2L * yStride + 16);
            b3.Store(y + 3L * yStride + 16);
        }
    }

    private static void Kernel2(float* panel, int cols, float* x, int xStride, float* y, int yStride, bool upper)
    {
        float* x0 = x;
        float* x1 = x + 1L * xStride;
        Vector512<float> a0 = default, b0 = default;
        Vector512<float> a1 = default, b1 = default;
        for (int k = 0; k < cols; k++)
        {
            var w0 = Vector512.Load(panel + PanelRows * k);
            var w1 = Vector512.Load(panel + PanelRows * k + 16);
            var u0 = Vector512.Create(x0[k]); a0 = Avx512F.FusedMultiplyAdd(w0, u0, a0); b0 = Avx512F.FusedMultiplyAdd(w1, u0, b0);
            var u1 = Vector512.Create(x1[k]); a1 = Avx512F.FusedMultiplyAdd(w0, u1, a1); b1 = Avx512F.FusedMultiplyAdd(w1, u1, b1);
        }
        a0.Store(y);
        a1.Store(y + 1L * yStride);
        if (upper)
        {
            b0.Store(y + 16);
            b1.Store(y + 1L * yStride + 16);
        }
    }

    private static void Kernel1(float* panel, int cols, float* x, int xStride, float* y, int yStride, bool upper)
    {
        float* x0 = x;
        Vector512<float> a0 = default, b0 = default;
        for (int k = 0; k < cols; k++)
        {
            var w0 = Vector512.Load(panel + PanelRows * k);
            var w1 = Vector512.Load(panel + PanelRows * k + 16);
            var u0 = Vector512.Create(x0[k]); a0 = Avx512F.FusedMultiplyAdd(w0, u0, a0); b0 = Avx512F.FusedMultiplyAdd(w1, u0, b0);
        }
        a0.Store(y);
        if (upper)
        {
            b0.Store(y + 16);
        }
    }
}
