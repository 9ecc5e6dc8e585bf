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
        if (KQuantDot.HasKernels && w.Type == GgmlType.Q4_K)
        {
            // The repacked copy (when the model made one) holds the same values with the scales unpacked.
            if (w.Packed != null) Q4_K<KQuantDot.RepackedQ4_K>(w.Packed + (long)row * w.PackedRowBytes, destination, w.Columns / 256);
            else Q4_K<KQuantDot.StoredQ4_K>(data, destination, w.Columns / 256);
            return;
        }
        if (KQuantDot.HasKernels && w.Type == GgmlType.Q6_K) { Q6_K(data, destination, w.Columns / 256); return; }
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

    /// <summary>
    /// Stored Q4_K or Q6_K super-blocks (<paramref name="superBlocks"/> of them, as the file holds them) to floats with
    /// the vector dequantizers; the values of <see cref="Dequantize.Row"/>. Requires <see cref="KQuantDot.HasKernels"/>.
    /// </summary>
    internal static void KQuantSuperBlocks(GgmlType type, byte* blocks, float* y, int superBlocks)
    {
        if (type == GgmlType.Q4_K) Q4_K<KQuantDot.StoredQ4_K>(blocks, y, superBlocks);
        else Q6_K(blocks, y, superBlocks);
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

    /// <summary>
    /// Q4_K super-blocks: y = (d * sc) * q - dmin * m per 32-value sub-block, the float operations of
    /// <see cref="Dequantize.Row"/> in the same order (a multiply, then a subtract), so the values are the same.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Q4_K<TLayout>(byte* row, float* y, int superBlocks) where TLayout : struct, KQuantDot.IQ4_KLayout
    {
        byte* scalesMins = stackalloc byte[16];
        var nibble = Vector128.Create((byte)0x0F);
        for (int s = 0; s < superBlocks; s++, y += 256)
        {
            byte* block = row + s * TLayout.BlockBytes;
            var (d, dmin, unpacked) = TLayout.Header(block);
            unpacked.Store(scalesMins);
            byte* qs = block + TLayout.ValuesOffset;
            for (int j = 0; j < 8; j += 2)
            {
                // 32 bytes: sub-block j in the low nibbles, j + 1 in the high nibbles.
                var scaleLow = Vector512.Create(d * scalesMins[j]);
                var minLow = Vector512.Create(dmin * scalesMins[8 + j]);
                var scaleHigh = Vector512.Create(d * scalesMins[j + 1]);
                var minHigh = Vector512.Create(dmin * scalesMins[9 + j]);
                for (int i = 0; i < 32; i += 16)
                {
                    var packed = Vector128.Load(qs + 16 * j + i);
                    var low = Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(packed & nibble));
                    var high = Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(Vector128.ShiftRightLogical(packed, 4)));
                    (low * scaleLow - minLow).Store(y + 32 * j + i);
                    (high * scaleHigh - minHigh).Store(y + 32 * j + 32 + i);
                }
            }
        }
    }

    /// <summary>Q6_K super-blocks: y = (d * sc) * (q - 32) per 16-value sub-block, as <see cref="Dequantize.Row"/> computes it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Q6_K(byte* row, float* y, int superBlocks)
    {
        byte* values = stackalloc byte[128];
        var low4 = Vector512.Create((byte)0x0F);
        var bits01 = Vector512.Create((byte)0x03);
        var bits45 = Vector512.Create((byte)0x30);
        var offset = Vector512.Create(32);
        for (int s = 0; s < superBlocks; s++)
        {
            byte* block = row + s * 210;
            sbyte* scales = (sbyte*)(block + 192);
            float d = HalfConvert.ToSingle(block + 208);
            for (int h = 0; h < 2; h++, y += 128)
            {
                // The six-bit values of this half in order (see KQuantDot.Q6_K), then 16 at a time to float.
                var (first, second) = KQuantDot.UnpackQ6_K(block + 64 * h, block + 128 + 32 * h, low4, bits01, bits45);
                first.Store(values);
                second.Store(values + 64);
                for (int i = 0; i < 128; i += 16)
                {
                    var q = Avx512F.ConvertToVector512Int32(Vector128.Load(values + i)) - offset;
                    (Avx512F.ConvertToVector512Single(q) * Vector512.Create(d * scales[8 * h + i / 16])).Store(y + i);
                }
            }
        }
    }
}
