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
    /// [Rows, Columns / 2] the nibbles of a Q4_0 matrix without the interleaved block scales, or null: four blocks
    /// are then one aligned 512-bit load instead of four loads and three inserts (see <see cref="BlockScales.PackQ4_0"/>).
    /// </summary>
    public readonly byte* Nibbles;

    public WeightMatrix(byte* data, GgmlType type, int rows, int columns, float* scales = null, byte* nibbles = null)
    {
        if (columns % GgmlTypeInfo.BlockSize(type) != 0)
            throw new ArgumentException($"{columns} columns is not a multiple of the {type} block size {GgmlTypeInfo.BlockSize(type)}");
        if (nibbles != null && type != GgmlType.Q4_0) throw new ArgumentException($"packed nibbles belong to Q4_0 matrices, not {type}");
        Data = data; Type = type; Rows = rows; Columns = columns; Scales = scales; Nibbles = nibbles;
        RowBytes = checked((int)GgmlTypeInfo.RowBytes(type, columns));
    }

    /// <summary>The same matrix with a block-scale table (from <see cref="BlockScales.Create"/>).</summary>
    public WeightMatrix WithScales(float* scales) => new(Data, Type, Rows, Columns, scales, Nibbles);

    /// <summary>The same Q4_0 matrix with its packed nibbles (from <see cref="BlockScales.PackQ4_0"/>).</summary>
    public WeightMatrix WithNibbles(byte* nibbles) => new(Data, Type, Rows, Columns, Scales, nibbles);

    public ReadOnlySpan<byte> Row(int row) => new(Data + (long)row * RowBytes, RowBytes);

    /// <summary>Row <paramref name="row"/> as float32.</summary>
    public void DequantizeRow(int row, Span<float> destination) => Dequantize.Row(Type, Row(row), destination[..Columns]);
}
