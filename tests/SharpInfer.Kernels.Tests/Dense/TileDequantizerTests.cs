using SharpInfer.Kernels.Dense;
using SharpInfer.Kernels.Quantization;
using SharpInfer.Kernels.Tests.Quantization;

namespace SharpInfer.Kernels.Tests.Dense;

public unsafe class TileDequantizerTests
{
    /// <summary>The GEMM's fast dequantizer must give the reference dequantizer's values bit for bit.</summary>
    [Theory]
    [InlineData(GgmlType.Q8_0)]
    [InlineData(GgmlType.Q4_0)]
    [InlineData(GgmlType.F16)]
    [InlineData(GgmlType.Q4_K)]
    [InlineData(GgmlType.Q6_K)]
    public void RowsEqualTheReferenceDequantization(GgmlType type)
    {
        const int rows = 5, cols = 512;
        var values = QuantizationTests.RandomValues(rows * cols, 11, 4f);
        long rowBytes = GgmlTypeInfo.RowBytes(type, cols);
        var data = GC.AllocateArray<byte>((int)(rows * rowBytes), pinned: true);
        for (int r = 0; r < rows; r++) Quantize.Row(type, values.AsSpan(r * cols, cols), data.AsSpan((int)(r * rowBytes), (int)rowBytes));
        var expected = new float[cols];
        var actual = GC.AllocateArray<float>(cols, pinned: true);
        fixed (byte* p = data) fixed (float* a = actual)
        {
            var plain = new WeightMatrix(p, type, rows, cols);
            float* table = BlockScales.Applies(type) ? BlockScales.Create(plain) : null;
            byte* packed = type is GgmlType.Q8_0 or GgmlType.Q4_0 ? BlockScales.Pack(plain) : type == GgmlType.Q4_K && KQuantDot.HasKernels ? KQuantDot.Repack(plain) : null;
            try
            {
                // Plain rows, with the scale table, and with the table and the packed payloads (Q4_K: the repacked copy).
                var variants = table != null ? new[] { plain, plain.WithScales(table), plain.WithScales(table).WithPacked(packed) }
                    : packed != null ? new[] { plain, plain.WithPacked(packed) } : new[] { plain };
                foreach (var w in variants)
                    for (int r = 0; r < rows; r++)
                    {
                        Dequantize.Row(type, data.AsSpan((int)(r * rowBytes), (int)rowBytes), expected);
                        TileDequantizer.Row(w, r, a);
                        for (int i = 0; i < cols; i++)
                            Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i]), $"{type} row {r} value {i}: {actual[i]} != {expected[i]}");
                    }
            }
            finally { BlockScales.Free(table); BlockScales.Free(packed); }
        }
    }
}
