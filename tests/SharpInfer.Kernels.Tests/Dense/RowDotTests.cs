using SharpInfer.Kernels.Dense;
using SharpInfer.Kernels.Quantization;
using SharpInfer.Kernels.Tests.Quantization;
using SharpInfer.Kernels.Threading;

namespace SharpInfer.Kernels.Tests.Dense;

public unsafe class RowDotTests
{
    public static TheoryData<GgmlType> Types() => new(GgmlTypeInfo.All);

    /// <summary>float64 dot of the dequantized row with x.</summary>
    private static double Reference(GgmlType type, byte[] row, float[] x)
    {
        var w = new float[x.Length];
        Dequantize.Row(type, row, w);
        double s = 0;
        for (int i = 0; i < x.Length; i++) s += (double)w[i] * x[i];
        return s;
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void MatchesTheFloat64ReferenceAtEveryLength(GgmlType type)
    {
        int block = GgmlTypeInfo.BlockSize(type);
        for (int blocks = 1; blocks <= 40; blocks += type is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16 ? 1 : 3)
        {
            int n = block == 1 ? blocks * 7 : blocks * block; // odd lengths reach the scalar tails of float types
            var w = QuantizationTests.RandomValues(n, n, 2f);
            var x = QuantizationTests.RandomValues(n, n + 1);
            var row = new byte[GgmlTypeInfo.RowBytes(type, n)];
            Quantize.Row(type, w, row);
            double expected = Reference(type, row, x);
            double magnitude = 0;
            var wd = new float[n];
            Dequantize.Row(type, row, wd);
            for (int i = 0; i < n; i++) magnitude += Math.Abs((double)wd[i] * x[i]);
            float actual;
            fixed (byte* r = row) fixed (float* xp = x) actual = RowDot.Dot(type, r, xp, n);
            Assert.True(Math.Abs(actual - expected) <= 1e-5 * magnitude + 1e-6, $"{type} n={n}: {actual} vs {expected}");
        }
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void MatMulIsTheSameForAnyThreadCountAndMatchesTheReference(GgmlType type)
    {
        int rows = 70, cols = 512, tokens = 3;
        var wValues = QuantizationTests.RandomValues(rows * cols, 3);
        int rowBytes = (int)GgmlTypeInfo.RowBytes(type, cols);
        var wBytes = new byte[rows * rowBytes];
        for (int r = 0; r < rows; r++) Quantize.Row(type, wValues.AsSpan(r * cols, cols), wBytes.AsSpan(r * rowBytes, rowBytes));
        var x = QuantizationTests.RandomValues(tokens * cols, 4);
        float[] Run(int threads, int tokenCount)
        {
            using var pool = new WorkerPool(threads);
            var y = new float[tokenCount * rows];
            fixed (byte* wp = wBytes) fixed (float* xp = x) fixed (float* yp = y)
                new MatMul(pool).Run(new WeightMatrix(wp, type, rows, cols), xp, yp, tokenCount);
            return y;
        }
        var one = Run(1, tokens);
        Assert.Equal(one, Run(2, tokens));
        Assert.Equal(one, Run(3, tokens));
        double maxRef = 0, maxErr = 0;
        for (int t = 0; t < tokens; t++)
            for (int r = 0; r < rows; r++)
            {
                double e = Reference(type, wBytes.AsSpan(r * rowBytes, rowBytes).ToArray(), x.AsSpan(t * cols, cols).ToArray());
                maxRef = Math.Max(maxRef, Math.Abs(e));
                maxErr = Math.Max(maxErr, Math.Abs(e - one[t * rows + r]));
            }
        Assert.True(maxErr <= 1e-4 * maxRef, $"{type}: max error {maxErr}, max |ref| {maxRef}");
        // The single-token path (typed dot) agrees with the batched path (dequantize then dot) to float precision.
        var single = Run(2, 1);
        for (int r = 0; r < rows; r++) Assert.True(Math.Abs(single[r] - one[r]) <= 1e-4 * maxRef);
    }
}
