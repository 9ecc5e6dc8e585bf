namespace SharpInfer.Kernels.Quantization;

/// <summary>Tensor element types, numbered as ggml numbers them (the values are written into GGUF files).</summary>
public enum GgmlType : uint
{
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q8_0 = 8,
    Q4_K = 12,
    Q6_K = 14,
    BF16 = 30,
}

/// <summary>Block geometry of each supported type: how many values a block holds and how many bytes it takes.</summary>
public static class GgmlTypeInfo
{
    /// <summary>Values per super-block of the K-quants.</summary>
    public const int QK_K = 256;
    /// <summary>Values per block of Q4_0 and Q8_0.</summary>
    public const int QK = 32;

    public static bool IsSupported(uint type) => type is 0 or 1 or 2 or 8 or 12 or 14 or 30;

    /// <summary>Values per block (1 for the float types).</summary>
    public static int BlockSize(GgmlType type) => type switch
    {
        GgmlType.F32 or GgmlType.F16 or GgmlType.BF16 => 1,
        GgmlType.Q4_0 or GgmlType.Q8_0 => QK,
        GgmlType.Q4_K or GgmlType.Q6_K => QK_K,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "unsupported tensor type"),
    };

    /// <summary>Bytes per block.</summary>
    public static int BlockBytes(GgmlType type) => type switch
    {
        GgmlType.F32 => 4,
        GgmlType.F16 or GgmlType.BF16 => 2,
        GgmlType.Q4_0 => 2 + QK / 2,                 // f16 d; u8 qs[16]
        GgmlType.Q8_0 => 2 + QK,                     // f16 d; i8 q[32]
        GgmlType.Q4_K => 2 + 2 + 12 + QK_K / 2,      // f16 d, dmin; u8 scales[12]; u8 qs[128]
        GgmlType.Q6_K => QK_K / 2 + QK_K / 4 + QK_K / 16 + 2, // ql[128]; qh[64]; i8 scales[16]; f16 d
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "unsupported tensor type"),
    };

    /// <summary>Bytes of one row of <paramref name="columns"/> values; columns must be a multiple of the block size.</summary>
    public static long RowBytes(GgmlType type, long columns) => columns / BlockSize(type) * BlockBytes(type);

    /// <summary>Types the fuzzers and writers iterate over.</summary>
    public static readonly GgmlType[] All = [GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_K, GgmlType.Q6_K];
}
