using System.Runtime.InteropServices;
using SharpInfer.Kernels.Quantization;

namespace SharpInfer.Kernels.Dense;

/// <summary>
/// Float32 tables of the f16 block scales of Q8_0/Q4_0 matrices, built once at load. A decode step converts every
/// block scale of the model, and .NET has no F16C intrinsic: with the table it is one load instead of ~7 integer ops,
/// for 4 bytes per 32 weights of extra memory. The table is native memory owned by the caller.
/// </summary>
public static unsafe class BlockScales
{
    public static bool Applies(GgmlType type) => IntegerDot.IsSupported(type);

    /// <summary>Allocates and fills the table of <paramref name="w"/>: [Rows, Columns / 32]. Free it with <see cref="Free"/>.</summary>
    public static float* Create(in WeightMatrix w)
    {
        if (!Applies(w.Type)) throw new ArgumentException($"{w.Type} has no f16 block scales to tabulate");
        int blocks = w.Columns / 32, blockBytes = GgmlTypeInfo.BlockBytes(w.Type);
        var table = (float*)NativeMemory.AlignedAlloc((nuint)((long)w.Rows * blocks * sizeof(float)), 64);
        for (long r = 0; r < w.Rows; r++)
        {
            byte* row = w.Data + r * w.RowBytes;
            float* scales = table + r * blocks;
            for (int b = 0; b < blocks; b++) scales[b] = HalfConvert.ToSingle(*(ushort*)(row + b * blockBytes));
        }
        return table;
    }

    /// <summary>
    /// The f16 block scales of <paramref name="w"/> (Q8_0 or Q4_0, Rows a multiple of 16), as stored, regrouped as
    /// [Rows / 16, Columns / 32, 16] for <see cref="InterleavedGemm"/>: the 16 rows of a group side by side for each
    /// block, one 256-bit load. Kept as halves, so a block costs the 2 bytes the file spends on it, not 4: decode reads
    /// every scale once per token. Free it with <see cref="Free"/>.
    /// </summary>
    public static ushort* Group(in WeightMatrix w)
    {
        if (!Applies(w.Type) || w.Rows % 16 != 0) throw new ArgumentException($"grouping needs Q8_0 or Q4_0 scales and whole groups of 16 rows, not {w.Type} with {w.Rows} rows");
        int blocks = w.Columns / 32, blockBytes = GgmlTypeInfo.BlockBytes(w.Type);
        var grouped = (ushort*)NativeMemory.AlignedAlloc((nuint)((long)w.Rows * blocks * sizeof(ushort)), 64);
        for (long g = 0; g < w.Rows / 16; g++)
            for (int i = 0; i < 16; i++)
            {
                byte* row = w.Data + (g * 16 + i) * w.RowBytes;
                for (int b = 0; b < blocks; b++) grouped[(g * blocks + b) * 16 + i] = *(ushort*)(row + (long)b * blockBytes);
            }
        return grouped;
    }

    /// <summary>
    /// Frees a table or copy that <see cref="PreparedWeights"/> keeps: from <see cref="Create"/>, <see cref="Group"/>,
    /// <see cref="Pack"/>, <see cref="InterleavedGemm.Interleave"/>, <see cref="InterleavedGemm.InterleaveKQuant"/>,
    /// <see cref="KQuantDot.Repack"/>, <see cref="RowDot.BlockF16"/> or a float matrix's huge-page copy.
    /// </summary>
    public static void Free(void* table)
    {
        HugePages.FreeCopy(table);
    }

    /// <summary>
    /// Copies the block payloads of a Q4_0 or Q8_0 matrix without their f16 scales: [Rows, Columns / 2] nibbles or
    /// [Rows, Columns] int8 values, each row 64-byte aligned when Columns is a multiple of 128. With the scale table
    /// beside it, the packed copy holds everything the kernels read. Free it with <see cref="Free"/>.
    /// </summary>
    public static byte* Pack(in WeightMatrix w)
    {
        if (w.Type is not (GgmlType.Q4_0 or GgmlType.Q8_0)) throw new ArgumentException($"only Q4_0 and Q8_0 payloads are packed, not {w.Type}");
        int blocks = w.Columns / 32, blockBytes = GgmlTypeInfo.BlockBytes(w.Type), payload = blockBytes - 2;
        long rowBytes = (long)blocks * payload;
        var packed = (byte*)HugePages.AllocCopy((nuint)(w.Rows * rowBytes));
        for (long r = 0; r < w.Rows; r++)
        {
            byte* row = w.Data + r * w.RowBytes, dst = packed + r * rowBytes;
            for (int b = 0; b < blocks; b++) Buffer.MemoryCopy(row + b * blockBytes + 2, dst + b * payload, payload, payload);
        }
        return packed;
    }
}
