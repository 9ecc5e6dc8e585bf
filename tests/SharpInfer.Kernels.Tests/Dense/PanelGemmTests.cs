using System.Runtime.Intrinsics.X86;
using SharpInfer.Kernels.Dense;
using SharpInfer.Kernels.Quantization;
using SharpInfer.Kernels.Tests.Quantization;
using SharpInfer.Kernels.Threading;

namespace SharpInfer.Kernels.Tests.Dense;

/// <summary>
/// The outer-product GEMM of long Q8_0 rows (<see cref="PanelGemm"/>): its transposed dequantization gives the tile
/// dequantizer's values, its products match a float64 reference of the same weights, and a token's bits do not depend
/// on the batch, the thread count or the token group that computed it.
/// </summary>
public unsafe class PanelGemmTests
{
    /// <summary>A Q8_0 matrix with the tables the model builds: scales, packed payloads, grouped scales.</summary>
    private sealed class Q8Matrix : IDisposable
    {
        private readonly byte[] _data;
        private readonly System.Runtime.InteropServices.GCHandle _pin;
        private readonly float* _scales, _grouped;
        private readonly byte* _packed;
        public readonly WeightMatrix Panels;  // takes the panel GEMM
        public readonly WeightMatrix Tiles;   // the same matrix without grouped scales: the tile GEMM
        public readonly double[] Dequantized; // [rows, cols]

        public Q8Matrix(int rows, int cols, int seed)
        {
            var values = QuantizationTests.RandomValues(rows * cols, seed, 2f);
            long rowBytes = GgmlTypeInfo.RowBytes(GgmlType.Q8_0, cols);
            _data = GC.AllocateArray<byte>((int)(rows * rowBytes), pinned: true);
            for (int r = 0; r < rows; r++) Quantize.Row(GgmlType.Q8_0, values.AsSpan(r * cols, cols), _data.AsSpan((int)(r * rowBytes), (int)rowBytes));
            _pin = System.Runtime.InteropServices.GCHandle.Alloc(_data, System.Runtime.InteropServices.GCHandleType.Pinned);
            var w = new WeightMatrix((byte*)_pin.AddrOfPinnedObject(), GgmlType.Q8_0, rows, cols);
            _scales = BlockScales.Create(w);
            w = w.WithScales(_scales);
            _packed = BlockScales.Pack(w);
            Tiles = w.WithPacked(_packed);
            _grouped = BlockScales.Group(Tiles);
            Panels = Tiles.WithGroupScales(_grouped);
            Dequantized = new double[rows * cols];
            var row = new float[cols];
            for (int r = 0; r < rows; r++)
            {
                w.DequantizeRow(r, row);
                for (int c = 0; c < cols; c++) Dequantized[r * cols + c] = row[c];
            }
        }

        public void Dispose()
        {
            BlockScales.Free(_scales); BlockScales.Free(_packed); BlockScales.Free(_grouped);
            _pin.Free();
        }
    }

    private static float[] Run(WeightMatrix w, float[] x, int first, int count, int threads, int gemv = 0, bool decodeTakesTile = false)
    {
        using var pool = new WorkerPool(threads);
        var y = GC.AllocateArray<float>(count * w.Rows, pinned: true);
        fixed (float* xp = x) fixed (float* yp = y)
            new MatMul(pool) { MatrixVectorTokensTakeTile = decodeTakesTile }.Run(w, xp + (long)first * w.Columns, yp, count, gemv);
        return y;
    }

    private static void AssertSameBits(float[] expected, int expectedOffset, float[] actual, int actualOffset, int count, string what)
    {
        for (int i = 0; i < count; i++)
            Assert.True(BitConverter.SingleToInt32Bits(expected[expectedOffset + i]) == BitConverter.SingleToInt32Bits(actual[actualOffset + i]),
                $"{what}: element {i}: {actual[actualOffset + i]:R} != {expected[expectedOffset + i]:R}");
    }

    [Fact]
    public void LongQ8_0RowsWithGroupedScalesTakeThePanels()
    {
        using var m = new Q8Matrix(48, 2048, 1);
        Assert.Equal(Avx512Vbmi.IsSupported, PanelGemm.Applies(m.Panels));
        Assert.False(PanelGemm.Applies(m.Tiles)); // no grouped scales: the tile GEMM
        using var shortRows = new Q8Matrix(16, PanelGemm.MinColumns - 32, 2);
        Assert.False(PanelGemm.Applies(shortRows.Panels));
    }

    [Fact]
    public void DequantizedGroupsHoldTheTileDequantizersValues()
    {
        if (!Avx512Vbmi.IsSupported) return; // the transposition needs VBMI; elsewhere the panels are never built
        const int rows = 48, cols = 2048;
        using var m = new Q8Matrix(rows, cols, 3);
        var panel = GC.AllocateArray<float>(PanelGemm.PanelRows * cols, pinned: true);
        var row = GC.AllocateArray<float>(cols, pinned: true);
        fixed (float* pp = panel) fixed (float* rp = row)
            for (int g = 0; g < rows / 16; g++)
            {
                PanelGemm.DequantizeGroup(m.Panels, g * 16, pp + 16 * (g % 2));
                for (int i = 0; i < 16; i++)
                {
                    TileDequantizer.Row(m.Tiles, g * 16 + i, rp);
                    for (int k = 0; k < cols; k++)
                        Assert.True(BitConverter.SingleToInt32Bits(row[k]) == BitConverter.SingleToInt32Bits(panel[k * PanelGemm.PanelRows + 16 * (g % 2) + i]),
                            $"row {g * 16 + i} column {k}: panel {panel[k * PanelGemm.PanelRows + 16 * (g % 2) + i]:R}, tile {row[k]:R}");
                }
            }
    }

    /// <summary>
    /// 80 rows: with two threads the items are 32, 32 and 16 rows, so a half panel runs too; 19 tokens: groups of
    /// 8, 8, 2 and 1, against the same tokens in GEMMs of other sizes on one thread.
    /// </summary>
    [Fact]
    public void PromptTokensMatchTheReferenceAndDoNotDependOnTheBatch()
    {
        const int rows = 80, cols = 2048, tokens = 19;
        using var m = new Q8Matrix(rows, cols, 5);
        var x = GC.AllocateArray<float>(tokens * cols, pinned: true);
        QuantizationTests.RandomValues(tokens * cols, 6, 1.5f).CopyTo(x, 0);
        var all = Run(m.Panels, x, 0, tokens, threads: 2);

        double maxRef = 0, maxErr = 0;
        for (int t = 0; t < tokens; t++)
            for (int r = 0; r < rows; r++)
            {
                double sum = 0;
                for (int k = 0; k < cols; k++) sum += m.Dequantized[r * cols + k] * x[t * cols + k];
                maxRef = Math.Max(maxRef, Math.Abs(sum));
                maxErr = Math.Max(maxErr, Math.Abs(all[t * rows + r] - sum));
            }
        Assert.True(maxErr <= 1e-4 * maxRef, $"max |out - ref| {maxErr:E3} > 1e-4 * max |ref| {maxRef:E3}");

        foreach (var (first, count) in new[] { (0, 1), (5, 3), (2, 8), (7, 12), (18, 1) })
        {
            var part = Run(m.Panels, x, first, count, threads: 1);
            AssertSameBits(all, first * rows, part, 0, count * rows, $"tokens {first}..{first + count - 1} as a GEMM of {count}");
        }

        if (!Avx512Vbmi.IsSupported) return;
        // The panels ran: their sums (column order, one lane) differ in the last bits from the tile's (eight lanes).
        var tiles = Run(m.Tiles, x, 0, tokens, threads: 2);
        int differing = 0;
        for (int i = 0; i < all.Length; i++) differing += BitConverter.SingleToInt32Bits(all[i]) != BitConverter.SingleToInt32Bits(tiles[i]) ? 1 : 0;
        Assert.True(differing > 0, "the panel GEMM gave the tile GEMM's bits everywhere: it did not run");
    }

    /// <summary>
    /// The serving engine's GEMM decode: the leading decode tokens take the tile arithmetic (the bits of the matrix
    /// without panels), alone or next to prompt tokens, and the prompt tokens behind them keep the panels' bits.
    /// </summary>
    [Fact]
    public void DecodeTokensTakeTheTileAndPromptTokensThePanels()
    {
        const int rows = 64, cols = 2048, tokens = 10, decode = 4;
        using var m = new Q8Matrix(rows, cols, 7);
        var x = GC.AllocateArray<float>(tokens * cols, pinned: true);
        QuantizationTests.RandomValues(tokens * cols, 8, 1.5f).CopyTo(x, 0);
        var mixed = Run(m.Panels, x, 0, tokens, threads: 2, gemv: decode, decodeTakesTile: true);
        var tiles = Run(m.Tiles, x, 0, decode, threads: 1);
        AssertSameBits(tiles, 0, mixed, 0, decode * rows, "decode tokens against the tile GEMM");
        for (int t = 0; t < decode; t++)
        {
            var alone = Run(m.Panels, x, t, 1, threads: 1, gemv: 1, decodeTakesTile: true);
            AssertSameBits(alone, 0, mixed, t * rows, rows, $"decode token {t} alone");
        }
        var prompt = Run(m.Panels, x, decode, tokens - decode, threads: 1);
        AssertSameBits(prompt, 0, mixed, decode * rows, (tokens - decode) * rows, "prompt tokens against the panel GEMM alone");
    }
}
