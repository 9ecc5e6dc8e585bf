using SharpInfer.Kernels.Dense;
using SharpInfer.Kernels.Quantization;
using SharpInfer.Kernels.Threading;

namespace SharpInfer.Kernels.Tests.Dense;

public unsafe class PreparedWeightsTests
{
    /// <summary>
    /// Float matrices of 2 MiB and more are copied into huge pages at load and their source pages advised out: the
    /// copy must hold the same bytes, the source must keep its data (here GC memory, where the advice may only swap),
    /// and the products must be the source's bits, for one token and for several.
    /// </summary>
    [Theory]
    [InlineData(GgmlType.F32, 160, 4096)] // 2.6 MB
    [InlineData(GgmlType.F16, 288, 4000)] // 2.3 MB, rows too short for the column-blocked copy
    [InlineData(GgmlType.BF16, 272, 4096)] // 2.2 MB
    public void LargeFloatMatricesAreCopiedWithTheirBitsAndTheSourceIsKept(GgmlType type, int rows, int cols)
    {
        var rng = new Random(rows);
        long rowBytes = GgmlTypeInfo.RowBytes(type, cols), bytes = rows * rowBytes;
        var data = GC.AllocateArray<byte>((int)bytes, pinned: true);
        var values = new float[cols];
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < cols; c++) values[c] = (float)(rng.NextDouble() * 2 - 1);
            Quantize.Row(type, values, data.AsSpan((int)(r * rowBytes), (int)rowBytes));
        }
        var original = data.ToArray();
        const int tokens = 3;
        var x = new float[tokens * cols];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        using var pool = new WorkerPool(2);
        fixed (byte* p = data) fixed (float* xp = x)
        {
            var plain = new WeightMatrix(p, type, rows, cols);
            using var weights = new PreparedWeights();
            var prepared = weights.Prepare(plain);
            Assert.True(prepared.Data != plain.Data, "a float matrix of 2 MiB or more should be read from its copy");
            Assert.True(new ReadOnlySpan<byte>(prepared.Data, (int)bytes).SequenceEqual(original), "the copy differs from the source");
            Assert.True(data.AsSpan().SequenceEqual(original), "the source lost its data");
            foreach (int count in new[] { 1, tokens })
            {
                var expected = new float[count * rows];
                var actual = new float[count * rows];
                fixed (float* e = expected) fixed (float* a = actual)
                {
                    new MatMul(pool).Run(plain, xp, e, count);
                    new MatMul(pool).Run(prepared, xp, a, count);
                }
                Assert.Equal(expected, actual);
            }
        }
    }
}
