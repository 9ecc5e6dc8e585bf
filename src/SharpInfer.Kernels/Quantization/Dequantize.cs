using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace SharpInfer.Kernels.Quantization;

/// <summary>
/// Turns rows of any supported type back into float32, following ggml's block layouts exactly.
/// These are the definitions the fast dot products are tested against.
/// </summary>
public static class Dequantize
{
    /// <summary>dst[i] = value i of the row; src holds exactly RowBytes(type, dst.Length) bytes.</summary>
    public static void Row(GgmlType type, ReadOnlySpan<byte> src, Span<float> dst)
    {
        switch (type)
        {
            case GgmlType.F32: MemoryMarshal.Cast<byte, float>(src)[..dst.Length].CopyTo(dst); break;
            case GgmlType.F16: HalfConvert.ToSingle(MemoryMarshal.Cast<byte, ushort>(src)[..dst.Length], dst); break;
            case GgmlType.BF16: BF16(src, dst); break;
            case GgmlType.Q8_0: Q8_0(src, dst); break;
            case GgmlType.Q4_0: Q4_0(src, dst); break;
            case GgmlType.Q4_K: Q4_K(src, dst); break;
            case GgmlType.Q6_K: Q6_K(src, dst); break;
            default: throw new ArgumentOutOfRangeException(nameof(type), type, "unsupported tensor type");
        }
    }

    public static float HalfAt(ReadOnlySpan<byte> src, int offset) => HalfConvert.ToSingle(BinaryPrimitives.ReadUInt16LittleEndian(src[offset..]));

    public static float BF16ToSingle(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    private static void BF16(ReadOnlySpan<byte> src, Span<float> dst)
    {
        var bits = MemoryMarshal.Cast<byte, ushort>(src);
        for (int i = 0; i < dst.Length; i++) dst[i] = BF16ToSingle(bits[i]);
    }

    private static void Q8_0(ReadOnlySpan<byte> src, Span<float> dst)
    {
        const int blockBytes = 34;
        for (int b = 0; b < dst.Length / GgmlTypeInfo.QK; b++)
        {
            var block = src.Slice(b * blockBytes, blockBytes);
            float d = HalfAt(block, 0);
            var q = MemoryMarshal.Cast<byte, sbyte>(block[2..]);
            var y = dst.Slice(b * GgmlTypeInfo.QK, GgmlTypeInfo.QK);
            if (Vector256.IsHardwareAccelerated)
            {
                StoreScaled(Vector256.Create<sbyte>(q), d, y);
                continue;
            }
            for (int j = 0; j < GgmlTypeInfo.QK; j++) y[j] = d * q[j];
        }
    }

    private static void Q4_0(ReadOnlySpan<byte> src, Span<float> dst)
    {
        const int blockBytes = 18;
        for (int b = 0; b < dst.Length / GgmlTypeInfo.QK; b++)
        {
            var block = src.Slice(b * blockBytes, blockBytes);
            float d = HalfAt(block, 0);
            var qs = block[2..];
            var y = dst.Slice(b * GgmlTypeInfo.QK, GgmlTypeInfo.QK);
            if (Vector256.IsHardwareAccelerated)
            {
                var packed = Vector128.Create<byte>(qs);
                var values = Vector256.Create(packed & Vector128.Create((byte)0x0F), Vector128.ShiftRightLogical(packed, 4)).AsSByte() - Vector256.Create((sbyte)8);
                StoreScaled(values, d, y);
                continue;
            }
            for (int j = 0; j < 16; j++)
            {
                y[j] = d * ((qs[j] & 0x0F) - 8);       // low nibbles hold the first half
                y[j + 16] = d * ((qs[j] >> 4) - 8);    // high nibbles the second half
            }
        }
    }

    /// <summary>y[0..32) = d * q: 32 int8 values widened to float and scaled (the vector body of Q8_0 and Q4_0).</summary>
    private static void StoreScaled(Vector256<sbyte> q, float d, Span<float> y)
    {
        var (q0, q1) = Vector256.Widen(q);
        var (i0, i1) = Vector256.Widen(q0);
        var (i2, i3) = Vector256.Widen(q1);
        var scale = Vector256.Create(d);
        (Vector256.ConvertToSingle(i0) * scale).CopyTo(y);
        (Vector256.ConvertToSingle(i1) * scale).CopyTo(y[8..]);
        (Vector256.ConvertToSingle(i2) * scale).CopyTo(y[16..]);
        (Vector256.ConvertToSingle(i3) * scale).CopyTo(y[24..]);
    }

    /// <summary>The 6-bit scale and min of sub-block j, packed into 12 bytes as ggml's get_scale_min_k4 unpacks them.</summary>
    public static (int Scale, int Min) ScaleMinK4(int j, ReadOnlySpan<byte> scales)
    {
        if (j < 4) return (scales[j] & 63, scales[j + 4] & 63);
        return ((scales[j + 4] & 0x0F) | ((scales[j - 4] >> 6) << 4), (scales[j + 4] >> 4) | ((scales[j] >> 6) << 4));
    }

    private static void Q4_K(ReadOnlySpan<byte> src, Span<float> dst)
    {
        const int blockBytes = 144;
        for (int b = 0; b < dst.Length / GgmlTypeInfo.QK_K; b++)
        {
            var block = src.Slice(b * blockBytes, blockBytes);
            float d = HalfAt(block, 0), dmin = HalfAt(block, 2);
            var scales = block.Slice(4, 12);
            var qs = block.Slice(16, 128);
            var y = dst.Slice(b * GgmlTypeInfo.QK_K, GgmlTypeInfo.QK_K);
            // Four groups of 64 values; each group shares 32 bytes of qs: low nibbles first, then high nibbles.
            for (int g = 0; g < 4; g++)
            {
                var (sc1, m1) = ScaleMinK4(2 * g, scales);
                var (sc2, m2) = ScaleMinK4(2 * g + 1, scales);
                float d1 = d * sc1, min1 = dmin * m1, d2 = d * sc2, min2 = dmin * m2;
                var q = qs.Slice(32 * g, 32);
                for (int l = 0; l < 32; l++)
                {
                    y[64 * g + l] = d1 * (q[l] & 0x0F) - min1;
                    y[64 * g + 32 + l] = d2 * (q[l] >> 4) - min2;
                }
            }
        }
    }

    private static void Q6_K(ReadOnlySpan<byte> src, Span<float> dst)
    {
        const int blockBytes = 210;
        for (int b = 0; b < dst.Length / GgmlTypeInfo.QK_K; b++)
        {
            var block = src.Slice(b * blockBytes, blockBytes);
            var ql = block[..128];
            var qh = block.Slice(128, 64);
            var sc = MemoryMarshal.Cast<byte, sbyte>(block.Slice(192, 16));
            float d = HalfAt(block, 208);
            var y = dst.Slice(b * GgmlTypeInfo.QK_K, GgmlTypeInfo.QK_K);
            // Two halves of 128 values; each uses 64 bytes of ql, 32 of qh and 8 scales.
            for (int h = 0; h < 2; h++)
            {
                var l4 = ql.Slice(64 * h, 64);
                var h2 = qh.Slice(32 * h, 32);
                var s = sc.Slice(8 * h, 8);
                var yh = y.Slice(128 * h, 128);
                for (int l = 0; l < 32; l++)
                {
                    int si = l / 16;
                    int q1 = ((l4[l] & 0x0F) | ((h2[l] >> 0 & 3) << 4)) - 32;
                    int q2 = ((l4[l + 32] & 0x0F) | ((h2[l] >> 2 & 3) << 4)) - 32;
                    int q3 = ((l4[l] >> 4) | ((h2[l] >> 4 & 3) << 4)) - 32;
                    int q4 = ((l4[l + 32] >> 4) | ((h2[l] >> 6 & 3) << 4)) - 32;
                    yh[l] = d * s[si] * q1;
                    yh[l + 32] = d * s[si + 2] * q2;
                    yh[l + 64] = d * s[si + 4] * q3;
                    yh[l + 96] = d * s[si + 6] * q4;
                }
            }
        }
    }
}
