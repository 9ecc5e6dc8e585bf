using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using SharpInfer.Kernels.Quantization;

namespace SharpInfer.Models.Gguf;

/// <summary>
/// Writes GGUF files (version 2 or 3) in every tensor type the reader supports. Tensor data is produced by a callback
/// while writing, so multi-gigabyte random-weight models are streamed to disk, never held in memory.
/// </summary>
public sealed class GgufWriter
{
    private readonly List<KeyValuePair<string, object>> _metadata = [];
    private readonly List<PendingTensor> _tensors = [];

    public uint Version { get; init; } = 3;
    public int Alignment { get; init; } = GgufFile.DefaultAlignment;

    private sealed record PendingTensor(string Name, ulong[] Dimensions, GgmlType Type, long ByteSize, Action<Stream> WriteData);

    /// <summary>Adds or replaces a metadata value: a scalar (byte .. double, bool), a string, or a typed array of those.</summary>
    public GgufWriter Set(string key, object value)
    {
        GgufValueTypes.Of(value, out _); // rejects unsupported .NET types now, not at write time
        int i = _metadata.FindIndex(kv => kv.Key == key);
        if (i >= 0) _metadata[i] = new(key, value); else _metadata.Add(new(key, value));
        return this;
    }

    /// <summary>Adds a tensor whose data (exactly RowBytes(type, dims[0]) * rows bytes) the callback writes.</summary>
    /// <param name="dimensions">Innermost first, as ggml: a [out, in] matrix is { in, out }.</param>
    public GgufWriter AddTensor(string name, GgmlType type, ulong[] dimensions, Action<Stream> writeData)
    {
        if (_tensors.Any(t => t.Name == name)) throw new ArgumentException($"tensor '{name}' added twice");
        if (dimensions.Length is < 1 or > 4) throw new ArgumentException($"tensor '{name}': {dimensions.Length} dimensions");
        ulong elements = 1;
        foreach (ulong d in dimensions) elements *= d;
        if (dimensions[0] % (ulong)GgmlTypeInfo.BlockSize(type) != 0)
            throw new ArgumentException($"tensor '{name}': row length {dimensions[0]} is not a multiple of the {type} block size");
        long bytes = (long)(elements / (ulong)GgmlTypeInfo.BlockSize(type)) * GgmlTypeInfo.BlockBytes(type);
        _tensors.Add(new PendingTensor(name, dimensions, type, bytes, writeData));
        return this;
    }

    /// <summary>Adds a tensor from float values, quantized row by row into <paramref name="type"/>.</summary>
    public GgufWriter AddTensor(string name, GgmlType type, ulong[] dimensions, float[] values)
    {
        ulong elements = 1;
        foreach (ulong d in dimensions) elements *= d;
        if ((ulong)values.LongLength != elements) throw new ArgumentException($"tensor '{name}': {values.Length} values for {elements} elements");
        int rowLength = (int)dimensions[0];
        return AddTensor(name, type, dimensions, stream => WriteRows(stream, type, rowLength, (int)(elements / (ulong)rowLength), (r, row) => values.AsSpan(r * rowLength, rowLength).CopyTo(row)));
    }

    /// <summary>Adds a tensor of already-encoded bytes (e.g. copied from another file).</summary>
    public GgufWriter AddTensorBytes(string name, GgmlType type, ulong[] dimensions, ReadOnlyMemory<byte> data) =>
        AddTensor(name, type, dimensions, s => s.Write(data.Span));

    /// <summary>Quantizes and writes <paramref name="rows"/> rows, each produced by <paramref name="fillRow"/>.</summary>
    public static void WriteRows(Stream stream, GgmlType type, int rowLength, int rows, Action<int, Span<float>> fillRow)
    {
        var values = ArrayPool<float>.Shared.Rent(rowLength);
        var encoded = ArrayPool<byte>.Shared.Rent((int)GgmlTypeInfo.RowBytes(type, rowLength));
        try
        {
            int rowBytes = (int)GgmlTypeInfo.RowBytes(type, rowLength);
            for (int r = 0; r < rows; r++)
            {
                fillRow(r, values.AsSpan(0, rowLength));
                Quantize.Row(type, values.AsSpan(0, rowLength), encoded.AsSpan(0, rowBytes));
                stream.Write(encoded, 0, rowBytes);
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(values);
            ArrayPool<byte>.Shared.Return(encoded);
        }
    }

    public void WriteFile(string path)
    {
        string temp = path + ".partial";
        using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            Write(stream);
        File.Move(temp, path, overwrite: true); // never leave a half-written model under the real name
    }

    public void Write(Stream output)
    {
        var header = new MemoryStream();
        var w = new BinaryWriter(header, Encoding.UTF8, leaveOpen: true);
        w.Write(GgufFile.Magic);
        w.Write(Version);
        w.Write((ulong)_tensors.Count);
        var metadata = _metadata.ToList();
        if (Alignment != GgufFile.DefaultAlignment && !metadata.Any(kv => kv.Key == "general.alignment"))
            metadata.Insert(0, new("general.alignment", (uint)Alignment));
        w.Write((ulong)metadata.Count);
        foreach (var (key, value) in metadata)
        {
            WriteString(w, key);
            var type = GgufValueTypes.Of(value, out var elementType);
            w.Write((uint)type);
            if (type == GgufValueType.Array)
            {
                var array = (Array)value;
                w.Write((uint)elementType);
                w.Write((ulong)array.Length);
                foreach (object element in array) WriteScalar(w, element);
            }
            else WriteScalar(w, value);
        }
        ulong offset = 0;
        var offsets = new List<ulong>();
        foreach (var t in _tensors)
        {
            WriteString(w, t.Name);
            w.Write((uint)t.Dimensions.Length);
            foreach (ulong d in t.Dimensions) w.Write(d);
            w.Write((uint)t.Type);
            w.Write(offset);
            offsets.Add(offset);
            offset = Align(offset + (ulong)t.ByteSize, (ulong)Alignment);
        }
        w.Flush();
        header.Position = 0;
        header.CopyTo(output);
        long position = header.Length;
        position = Pad(output, position);
        for (int i = 0; i < _tensors.Count; i++)
        {
            var t = _tensors[i];
            long before = output.CanSeek ? output.Position : -1;
            t.WriteData(output);
            if (before >= 0 && output.Position - before != t.ByteSize)
                throw new InvalidOperationException($"tensor '{t.Name}': wrote {output.Position - before} bytes, expected {t.ByteSize}");
            position += t.ByteSize;
            position = Pad(output, position);
        }
        output.Flush();
    }

    private long Pad(Stream output, long position)
    {
        long aligned = (long)Align((ulong)position, (ulong)Alignment);
        for (; position < aligned; position++) output.WriteByte(0);
        return position;
    }

    private static ulong Align(ulong x, ulong a) => (x + a - 1) / a * a;

    private static void WriteString(BinaryWriter w, string s)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(s);
        w.Write((ulong)bytes.Length);
        w.Write(bytes);
    }

    private static void WriteScalar(BinaryWriter w, object value)
    {
        switch (value)
        {
            case byte v: w.Write(v); break;
            case sbyte v: w.Write(v); break;
            case ushort v: w.Write(v); break;
            case short v: w.Write(v); break;
            case uint v: w.Write(v); break;
            case int v: w.Write(v); break;
            case float v: w.Write(v); break;
            case bool v: w.Write((byte)(v ? 1 : 0)); break;
            case string v: WriteString(w, v); break;
            case ulong v: w.Write(v); break;
            case long v: w.Write(v); break;
            case double v: w.Write(v); break;
            default: throw new ArgumentException($"{value.GetType().Name} cannot be stored in GGUF metadata");
        }
    }
}
