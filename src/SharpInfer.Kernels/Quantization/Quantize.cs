using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace SharpInfer.Kernels.Quantization;

/// <summary>
/// Writes float32 rows in any supported type. Q8_0 and Q4_0 round the way ggml's reference quantizers do;
/// the K-quants use a simple min/max fit (not ggml's iterative search): the layout is exact, the error a bit larger.
/// </summary>
public static class Quantize
{
    /// <summary>dst receives RowBytes(type, src.Length) bytes; src.Length must be a multiple of the block size.</summary>
    public static void Row(GgmlType type, ReadOnlySpan<float> src, Span<byte> dst)
    {
        int blockSize = GgmlTypeInfo.BlockSize(type);
        if (src.Length % blockSize != 0) throw new ArgumentException($"row length {src.Length} is not a multiple of the {type} block size {blockSize}");
        switch (type)
        {
            case GgmlType.F32: MemoryMarshal.AsBytes(src).CopyTo(dst); break;
            case GgmlType.F16:
                for (int i = 0; i < src.Length; i++) BinaryPrimitives.WriteUInt16LittleEndian(dst[(2 * i)..], BitConverter.HalfToUInt16Bits((Half)src[i]));
                break;
            case GgmlType.BF16:
                for (int i = 0; i < src.Length; i++) BinaryPrimitives.WriteUInt16LittleEndian(dst[(2 * i)..], ToBF16(src[i]));
                break;
            case GgmlType.Q8_0: Q8_0(src, dst); break;
            case GgmlType.Q4_0: Q4_0(src, dst); break;
            case GgmlType.Q4_K: Q4_K(src, dst); break;
            case GgmlType.Q6_K: Q6_K(src, dst); break;
            default: throw new ArgumentOutOfRangeException(nameof(type), type, "unsupported tensor type");
        }
    }

    /// <summary>Round to nearest even, as ggml's fp32 -> bf16 conversion does (NaN kept quiet).</summary>
    public static ushort ToBF16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if ((bits & 0x7fffffff) > 0x7f800000) return (ushort)((bits >> 16) | 64);
        return (ushort)((bits + (0x7fff + ((bits >> 16) & 1))) >> 16);
    }

    private static void WriteHalf(Span<byte> dst, float value) => BinaryPrimitives.WriteUInt16LittleEndian(dst, BitConverter.HalfToUInt16Bits((Half)value));

    private static void Q8_0(ReadOnlySpan<float> src, Span<byte> dst)
    {
        for (int b = 0; b < src.Length / 32; b++)
        {
            var x = src.Slice(b * 32, 32);
            var block = dst.Slice(b * 34, 34);
            float amax = 0;
            foreach (float v in x) amax = MathF.Max(amax, MathF.Abs(v));
            float d = amax / 127f, id = d != 0 ? 1f / d : 0f;
            WriteHalf(block, d);
            for (int j = 0; j < 32; j++) block[2 + j] = (byte)(sbyte)MathF.Round(x[j] * id, MidpointRounding.AwayFromZero);
        }
    }

    private static void Q4_0(ReadOnlySpan<float> src, Span<byte> dst)
    {
        for (int b = 0; b < src.Length / 32; b++)
        {
            var x = src.Slice(b * 32, 32);
            var block = dst.Slice(b * 18, 18);
            // ggml keeps the sign of the value with the largest magnitude so that it maps exactly to -8.
            float amax = 0, max = 0;
            foreach (float v in x) if (MathF.Abs(v) > amax) { amax = MathF.Abs(v); max = v; }
            float d = max / -8f, id = d != 0 ? 1f / d : 0f;
            WriteHalf(block, d);
            for (int j = 0; j < 16; j++)
            {
                int lo = Math.Min(15, (int)(x[j] * id + 8.5f));
                int hi = Math.Min(15, (int)(x[j + 16] * id + 8.5f));
                block[2 + j] = (byte)(lo | (hi << 4));
            }
        }
    }

    private static void Q4_K(ReadOnlySpan<float> src, Span<byte> dst)
    {
        Span<float> scale = stackalloc float[8];
        Span<float> min = stackalloc float[8];
        Span<byte> packedScale = stackalloc byte[8];
        Span<byte> packedMin = stackalloc byte[8];
        for (int b = 0; b < src.Length / 256; b++)
        {
            var x = src.Slice(b * 256, 256);
            var block = dst.Slice(b * 144, 144);
            // Per sub-block of 32: x ~ scale*q - min, q in 0..15, min >= 0.
            float maxScale = 0, maxMin = 0;
            for (int s = 0; s < 8; s++)
            {
                var xs = x.Slice(32 * s, 32);
                float lo = 0, hi = 0;
                foreach (float v in xs) { lo = MathF.Min(lo, v); hi = MathF.Max(hi, v); }
                scale[s] = (hi - lo) / 15f; min[s] = -lo;
                maxScale = MathF.Max(maxScale, scale[s]); maxMin = MathF.Max(maxMin, min[s]);
            }
            float d = (float)(Half)(maxScale / 63f), dmin = (float)(Half)(maxMin / 63f);
            for (int s = 0; s < 8; s++)
            {
                packedScale[s] = (byte)(d > 0 ? Math.Clamp((int)MathF.Round(scale[s] / d), 0, 63) : 0);
                packedMin[s] = (byte)(dmin > 0 ? Math.Clamp((int)MathF.Round(min[s] / dmin), 0, 63) : 0);
            }
            WriteHalf(block, d); WriteHalf(block[2..], dmin);
            var scales = block.Slice(4, 12);
            scales.Clear();
            for (int j = 0; j < 8; j++)
            {
                // Inverse of Dequantize.ScaleMinK4.
                if (j < 4) { scales[j] = packedScale[j]; scales[j + 4] = packedMin[j]; }
                else
                {
                    scales[j + 4] = (byte)((packedScale[j] & 0x0F) | ((packedMin[j] & 0x0F) << 4));
                    scales[j - 4] |= (byte)((packedScale[j] >> 4) << 6);
                    scales[j] |= (byte)((packedMin[j] >> 4) << 6);
                }
            }
            var qs = block.Slice(16, 128);
            for (int g = 0; g < 4; g++)
                for (int l = 0; l < 32; l++)
                {
                    int q0 = QuantizeK4(x[64 * g + l], d * packedScale[2 * g], dmin * packedMin[2 * g]);
                    int q1 = QuantizeK4(x[64 * g + 32 + l], d * packedScale[2 * g + 1], dmin * packedMin[2 * g + 1]);
                    qs[32 * g + l] = (byte)(q0 | (q1 << 4));
                }
        }
    }

    private static int QuantizeK4(float x, float scale, float min) => scale > 0 ? Math.Clamp((int)MathF.Round((x + min) / scale), 0, 15) : 0;

    private static void Q6_K(ReadOnlySpan<float> src, Span<byte> dst)
    {
        Span<float> scale = stackalloc float[16];
        Span<sbyte> packed = stackalloc sbyte[16];
        Span<byte> q = stackalloc byte[256];
        for (int b = 0; b < src.Length / 256; b++)
        {
            var x = src.Slice(b * 256, 256);
            var block = dst.Slice(b * 210, 210);
            float maxScale = 0;
            for (int s = 0; s < 16; s++)
            {
                float amax = 0;
                foreach (float v in x.Slice(16 * s, 16)) amax = MathF.Max(amax, MathF.Abs(v));
                scale[s] = amax / 31f;
                maxScale = MathF.Max(maxScale, scale[s]);
            }
            float d = (float)(Half)(maxScale / 127f);
            for (int s = 0; s < 16; s++) packed[s] = (sbyte)(d > 0 ? Math.Clamp((int)MathF.Round(scale[s] / d), -127, 127) : 0);
            for (int i = 0; i < 256; i++)
            {
                float sd = d * packed[i / 16];
                q[i] = (byte)(sd != 0 ? Math.Clamp((int)MathF.Round(x[i] / sd), -32, 31) + 32 : 32);
            }
            var ql = block[..128];
            var qh = block.Slice(128, 64);
            qh.Clear();
            for (int h = 0; h < 2; h++)
                for (int l = 0; l < 32; l++)
                {
                    int o = 128 * h;
                    byte q1 = q[o + l], q2 = q[o + l + 32], q3 = q[o + l + 64], q4 = q[o + l + 96];
                    ql[64 * h + l] = (byte)((q1 & 0x0F) | ((q3 & 0x0F) << 4));
                    ql[64 * h + l + 32] = (byte)((q2 & 0x0F) | ((q4 & 0x0F) << 4));
                    qh[32 * h + l] = (byte)((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
                }
            MemoryMarshal.AsBytes(packed).CopyTo(block.Slice(192, 16));
            WriteHalf(block[208..], d);
        }
    }
}
