using SharpInfer.Kernels.Quantization;

namespace SharpInfer.Kernels.Dense;

/// <summary>
/// A read-only [Rows, Columns] matrix stored row-major in one of the ggml types, usually memory-mapped straight from a
/// GGUF file. The memory belongs to whoever made it (the mapping must outlive the matrix).
/// </summary>
public readonly unsafe struct WeightMatrix
{
    public readonly byte* Data;
    public readonly GgmlType Type;
    public readonly int Rows;
    public readonly int Columns;
    /// <summary>Bytes of one row.</summary>
    public readonly int RowBytes;
    /// <summary>
    /// [Rows, Columns / 32] float32 copies of the f16 block scales of a Q8_0/Q4_0 matrix, or null. The integer dot
    /// products read them instead of converting two halves per pair of blocks (see <see cref="BlockScales"/>).
    /// </summary>
    public readonly float* Scales;
    /// <summary>
    /// The block payloads of a Q4_0 or Q8_0 matrix without the interleaved f16 block scales, or null: [Rows,
    /// Columns / 2] nibbles or [Rows, Columns] int8 values, so that groups of blocks are aligned 512-bit loads
    /// instead of several loads and inserts (see <see cref="BlockScales.Pack"/>). For Q4_K, the super-blocks with
    /// their scales unpacked (<see cref="KQuantDot.Repack"/>).
    /// </summary>
    public readonly byte* Packed;
    /// <summary>
    /// A column-blocked copy of a long-row F16 matrix, or null: blocks of <see cref="BlockColumns"/> columns one after
    /// another, each [Rows, BlockColumns] row-major (see <see cref="RowDot.BlockF16"/>).
    /// </summary>
    public readonly byte* Blocked;
    public readonly int BlockColumns;
    /// <summary>
    /// The f16 block scales again, grouped for <see cref="InterleavedGemm"/>: [Rows / 16, Columns / 32, 16] halves,
    /// the 16 rows of a group side by side for each block (one vector load instead of a gather), or null.
    /// </summary>
    public readonly ushort* GroupScales;
    /// <summary>
    /// The values of a Q8_0 or Q4_0 matrix in groups of 16 rows interleaved by column pairs or quads (see
    /// <see cref="InterleavedGemm.Interleave"/>), or of a Q4_K/Q6_K matrix by quads with its scales beside them
    /// (<see cref="InterleavedGemm.InterleaveKQuant"/>), or null. It sends every token of the matrix through
    /// <see cref="InterleavedGemm"/>.
    /// </summary>
    public readonly byte* Interleaved;
    /// <summary>How <see cref="Interleaved"/> is laid out, which decides the kernels that read it.</summary>
    public readonly InterleavedLayout InterleavedLayout;

    public WeightMatrix(byte* data, GgmlType type, int rows, int columns, float* scales = null, byte* packed = null, byte* blocked = null, int blockColumns = 0,
        ushort* groupScales = null, byte* interleaved = null, InterleavedLayout interleavedLayout = InterleavedLayout.ColumnPairs)
    {
        if (columns % GgmlTypeInfo.BlockSize(type) != 0)
            throw new ArgumentException($"{columns} columns is not a multiple of the {type} block size {GgmlTypeInfo.BlockSize(type)}");
        if (packed != null && type is not (GgmlType.Q4_0 or GgmlType.Q8_0 or GgmlType.Q4_K)) throw new ArgumentException($"packed payloads belong to Q4_0, Q8_0 and Q4_K matrices, not {type}");
        if (blocked != null && (type != GgmlType.F16 || blockColumns <= 0 || blockColumns % 32 != 0 || columns % blockColumns != 0))
            throw new ArgumentException($"a column-blocked copy needs an F16 matrix and blocks of a multiple of 32 columns dividing {columns}");
        Data = data; Type = type; Rows = rows; Columns = columns; Scales = scales; Packed = packed; Blocked = blocked; BlockColumns = blocked == null ? 0 : blockColumns;
        RowBytes = checked((int)GgmlTypeInfo.RowBytes(type, columns));
        if (groupScales != null && (scales == null || rows % 16 != 0)) throw new ArgumentException("grouped scales need the scale table and whole groups of 16 rows");
        GroupScales = groupScales;
        if (interleaved != null && (type is not (GgmlType.Q8_0 or GgmlType.Q4_0 or GgmlType.Q4_K or GgmlType.Q6_K) || rows % InterleavedGemm.GroupRows != 0
            || type is GgmlType.Q4_K or GgmlType.Q6_K && interleavedLayout != InterleavedLayout.ColumnQuads))
            throw new ArgumentException($"an interleaved copy needs a Q8_0 or Q4_0 matrix (or Q4_K/Q6_K by column quads) of whole groups of {InterleavedGemm.GroupRows} rows");
        Interleaved = interleaved;
        InterleavedLayout = interleavedLayout;
    }

    /// <summary>The same matrix with a block-scale table (from <see cref="BlockScales.Create"/>).</summary>
    public WeightMatrix WithScales(float* scales) => new(Data, Type, Rows, Columns, scales, Packed, Blocked, BlockColumns, scales == null ? null : GroupScales, Interleaved, InterleavedLayout);

    /// <summary>The same matrix with its packed payloads (from <see cref="BlockScales.Pack"/>).</summary>
    public WeightMatrix WithPacked(byte* packed) => new(Data, Type, Rows, Columns, Scales, packed, Blocked, BlockColumns, GroupScales, Interleaved, InterleavedLayout);

    /// <summary>The same matrix with its column-blocked copy (from <see cref="RowDot.BlockF16"/>).</summary>
    public WeightMatrix WithBlocked(byte* blocked, int blockColumns) => new(Data, Type, Rows, Columns, Scales, Packed, blocked, blockColumns, GroupScales, Interleaved, InterleavedLayout);

    /// <summary>The same matrix with grouped block scales (from <see cref="BlockScales.Group"/>).</summary>
    public WeightMatrix WithGroupScales(ushort* groupScales) => new(Data, Type, Rows, Columns, Scales, Packed, Blocked, BlockColumns, groupScales, Interleaved, InterleavedLayout);

    /// <summary>The same matrix with its interleaved copy (from <see cref="InterleavedGemm.Interleave"/> with that layout).</summary>
    public WeightMatrix WithInterleaved(byte* interleaved, InterleavedLayout layout) => new(Data, Type, Rows, Columns, Scales, Packed, Blocked, BlockColumns, GroupScales, interleaved, layout);

    /// <summary>Bytes of one row of <see cref="Packed"/>.</summary>
    public int PackedRowBytes => Type switch
    {
        GgmlType.Q4_0 => Columns / 2,
        GgmlType.Q4_K => Columns / KQuantDot.SuperBlock * KQuantDot.RepackedQ4_KBytes,
        _ => Columns,
    };

    public ReadOnlySpan<byte> Row(int row) => new(Data + (long)row * RowBytes, RowBytes);

    /// <summary>Row <paramref name="row"/> as float32.</summary>
    public void DequantizeRow(int row, Span<float> destination) => Dequantize.Row(Type, Row(row), destination[..Columns]);
}
