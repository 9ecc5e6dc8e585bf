using SharpInfer.Kernels.Dense;
using SharpInfer.Kernels.Tests.Quantization;

namespace SharpInfer.Kernels.Tests.Dense;

public unsafe class FloatGemmTests
{
    [Theory]
    [InlineData(4, 9, 64)]
    [InlineData(3, 4, 72)]
    [InlineData(1, 1, 8)]
    [InlineData(4, 13, 576)]
    [InlineData(2, 5, 30)] // not a multiple of 8: the scalar path
    public void TileMatchesFloat64AndEachPairIsIndependentOfTheBatch(int rows, int tokens, int cols)
    {
        var w = QuantizationTests.RandomValues(rows * cols, rows * 31 + cols);
        var x = QuantizationTests.RandomValues(tokens * cols, tokens * 17 + cols);
        var y = new float[tokens * rows];
        fixed (float* wp = w) fixed (float* xp = x) fixed (float* yp = y) FloatGemm.Tile(wp, rows, cols, xp, tokens, yp, rows);
        for (int t = 0; t < tokens; t++)
            for (int r = 0; r < rows; r++)
            {
                double exact = 0, magnitude = 0;
                for (int i = 0; i < cols; i++) { exact += (double)w[r * cols + i] * x[t * cols + i]; magnitude += Math.Abs((double)w[r * cols + i] * x[t * cols + i]); }
                Assert.True(Math.Abs(y[t * rows + r] - exact) <= 1e-5 * magnitude, $"row {r} token {t}");
                // The same pair computed alone (one token, one row) gives the same bits: batch invariance.
                float alone;
                fixed (float* wp = &w[r * cols]) fixed (float* xp = &x[t * cols]) FloatGemm.Tile(wp, 1, cols, xp, 1, &alone, 1);
                Assert.Equal(alone, y[t * rows + r]);
            }
    }
}
