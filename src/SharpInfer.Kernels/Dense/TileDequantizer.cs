using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using SharpInfer.Kernels.Quantization;

namespace SharpInfer.Kernels.Dense;

/// <summary>
/// Dequantizes weight rows into the float tiles the GEMM multiplies. For Q8_0/Q4_0 with AVX-512 and a block-scale
/// table it widens 16 values per instruction straight from memory and takes the scale from the table, about three
/// times fewer instructions than the span-based <see cref="Dequantize.Row"/>; the values are the same (one exact
/// int-to-float conversion and one multiply by the same scale), so results do not depend on which path ran.
/// </summary>
public static unsafe class TileDequantizer
{
    public static void Row(in WeightMatrix w, int row, float* destination)
    {
        if (w.Blocked != null)
        {
            // A column-blocked F16 copy: the row's blocks, each converted exactly, so the values are the row's.
            int bc = w.BlockColumns;
            for (int b = 0; b < w.Columns / bc; b++)
                HalfConvert.ToSingle(new ReadOnlySpan<ushort>(w.Blocked + ((long)b * w.Rows + row) * bc * 2, bc), new Span<float>(destination + b * bc, bc));
            return;
        }
        byte* data = w.Data + (long)row * w.RowBytes;
        int blocks = w.Columns / 32;
        if (Avx512F.IsSupported && w.Scales != null)
        {
            float* scales = w.Scales + (long)row * blocks;
            // The packed payloads (when the model made them) are the same values without the f16 scales in between.
            int stride = GgmlTypeInfo.BlockBytes(w.Type);
            byte* payload = data + 2;
            if (w.Packed != null) { stride -= 2; payload = w.Packed + (long)row * w.PackedRowBytes; }
            if (w.Type == GgmlType.Q8_0) { Q8_0(payload, stride, scales, destination, blocks); return; }
            if (w.Type == GgmlType.Q4_0) { Q4_0(payload, stride, scales, destination, blocks); return; }
        }
        w.DequantizeRow(row, new Span<float>(destination, w.Columns));
    }

    /// <param name="payload">block 0's values; block b's start <paramref name="stride"/> * b bytes later.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Q8_0(byte* payload, int stride, float* scales, float* y, int blocks)
    {
        for (int b = 0; b < blocks; b++)
        {
            sbyte* q = (sbyte*)(payload + b * stride);
            var d = Vector512.Create(scales[b]);
            (Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(Vector128.Load(q))) * d).Store(y + 32 * b);
            (Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(Vector128.Load(q + 16))) * d).Store(y + 32 * b + 16);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Q4_0(byte* payload, int stride, float* scales, float* y, int blocks)
    {
        var eight = Vector512.Create(8);
        var mask = Vector128.Create((byte)0x0F);
        for (int b = 0; b < blocks; b++)
        {
            var packed = Vector128.Load(payload + b * stride);
            var d = Vector512.Create(scales[b]);
            // Byte j holds value j in its low nibble and value j + 16 in its high nibble.
            var low = Avx512F.ConvertToVector512Int32(packed & mask) - eight;
            var high = Avx512F.ConvertToVector512Int32(Vector128.ShiftRightLogical(packed, 4)) - eight;
            (Avx512F.ConvertToVector512Single(low) * d).Store(y + 32 * b);
            (Avx512F.ConvertToVector512Single(high) * d).Store(y + 32 * b + 16);
        }
    }
}
