using System.Globalization;
using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using System.Text;
using SharpInfer.Kernels.Quantization;

namespace SharpInfer.Models.Gguf;

/// <summary>
/// A GGUF file (versions 2 and 3), memory-mapped read-only. The header is parsed and checked on open; tensor data is
/// never copied: <see cref="TensorData"/> points into the mapping, which lives as long as this object.
/// Every count, length and offset in the header is checked against the bytes that remain before anything is
/// allocated, so a corrupt header fails with one <see cref="GgufFormatException"/> instead of a huge allocation.
/// </summary>
public sealed unsafe class GgufFile : IDisposable
{
    public const uint Magic = 0x46554747; // "GGUF" read as a little-endian u32
    public const int DefaultAlignment = 32;

    private readonly MemoryMappedFile? _mapping;
    private readonly MemoryMappedViewAccessor? _view;
    private GCHandle _pinned;
    private readonly byte* _base;
    private readonly Dictionary<string, GgufTensorInfo> _tensorsByName;
    private bool _disposed;

    /// <summary>The path (or name) used in error messages.</summary>
    public string FileName { get; }
    public long Length { get; }
    public uint Version { get; }
    public int Alignment { get; }
    /// <summary>Offset of the tensor data section from the start of the file.</summary>
    public long DataOffset { get; }
    /// <summary>Metadata in file order. Values are boxed scalars (byte, sbyte, ushort, short, uint, int, ulong, long, float, double, bool), strings, or typed arrays of those.</summary>
    public IReadOnlyDictionary<string, object> Metadata { get; }
    public IReadOnlyList<GgufTensorInfo> Tensors { get; }

    private GgufFile(string fileName, byte* basePointer, long length, MemoryMappedFile? mapping, MemoryMappedViewAccessor? view, GCHandle pinned)
    {
        FileName = fileName; _base = basePointer; Length = length; _mapping = mapping; _view = view; _pinned = pinned;
        try
        {
            var reader = new HeaderReader(fileName, basePointer, length);
            (Version, Metadata, Tensors, Alignment, DataOffset) = reader.ReadAll();
            _tensorsByName = Tensors.ToDictionary(t => t.Name);
        }
        catch
        {
            ReleaseMemory();
            throw;
        }
    }

    /// <summary>Opens and memory-maps a file. Throws <see cref="GgufFormatException"/> for anything wrong with its contents.</summary>
    public static GgufFile Open(string path)
    {
        string name = path;
        long length;
        try { length = new FileInfo(path).Length; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        { throw new GgufFormatException($"{name}: cannot open: {e.Message}"); }
        if (!File.Exists(path)) throw new GgufFormatException($"{name}: file not found");
        if (length < 4) throw GgufFormatException.At(name, 0, "magic", $"file is {length} bytes, too short to be GGUF");
        MemoryMappedFile? mapping = null;
        MemoryMappedViewAccessor? view = null;
        try
        {
            mapping = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
            view = mapping.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
            byte* p = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
            p += view.PointerOffset;
            return new GgufFile(name, p, length, mapping, view, default);
        }
        catch (IOException e)
        {
            view?.Dispose(); mapping?.Dispose();
            throw new GgufFormatException($"{name}: cannot map: {e.Message}");
        }
        catch (UnauthorizedAccessException e)
        {
            view?.Dispose(); mapping?.Dispose();
            throw new GgufFormatException($"{name}: cannot map: {e.Message}");
        }
    }

    /// <summary>Parses a GGUF image held in memory (used by tests and fuzzers). The array is pinned, not copied.</summary>
    public static GgufFile Parse(byte[] bytes, string name = "<memory>")
    {
        var handle = GCHandle.Alloc(bytes, GCHandleType.Pinned);
        return new GgufFile(name, (byte*)handle.AddrOfPinnedObject(), bytes.LongLength, null, null, handle);
    }

    public GgufTensorInfo? FindTensor(string name) => _tensorsByName.GetValueOrDefault(name);

    public GgufTensorInfo GetTensor(string name) =>
        FindTensor(name) ?? throw GgufFormatException.InField(FileName, $"tensor '{name}'", "missing");

    /// <summary>Pointer to the first byte of a tensor's data inside the mapping.</summary>
    public byte* TensorData(GgufTensorInfo tensor)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _base + DataOffset + (long)tensor.Offset;
    }

    /// <summary>A tensor's bytes as a span (tensors over 2 GiB must use <see cref="TensorData"/>).</summary>
    public ReadOnlySpan<byte> TensorBytes(GgufTensorInfo tensor) => new(TensorData(tensor), checked((int)tensor.ByteSize));

    /// <summary>A whole tensor dequantized into a new float array (for small tensors: norms, biases).</summary>
    public float[] ReadFloats(GgufTensorInfo tensor)
    {
        var values = new float[checked((int)tensor.ElementCount)];
        Dequantize.Row(tensor.Type, TensorBytes(tensor), values);
        return values;
    }

    // ---- typed metadata access: a missing or mistyped key is a format error naming the key ----

    public bool Has(string key) => Metadata.ContainsKey(key);

    public string GetString(string key) => TryGetString(key) ?? throw Missing(key, "string");

    public string? TryGetString(string key) => Metadata.TryGetValue(key, out var v) ? v as string ?? throw Mistyped(key, v, "string") : null;

    public long GetInteger(string key) => TryGetInteger(key) ?? throw Missing(key, "integer");

    public long? TryGetInteger(string key)
    {
        if (!Metadata.TryGetValue(key, out var v)) return null;
        return v switch
        {
            byte or sbyte or ushort or short or uint or int or long => Convert.ToInt64(v, CultureInfo.InvariantCulture),
            ulong u when u <= long.MaxValue => (long)u,
            _ => throw Mistyped(key, v, "integer"),
        };
    }

    public double? TryGetFloat(string key)
    {
        if (!Metadata.TryGetValue(key, out var v)) return null;
        return v switch
        {
            float f => f,
            double d => d,
            byte or sbyte or ushort or short or uint or int or long or ulong => Convert.ToDouble(v, CultureInfo.InvariantCulture),
            _ => throw Mistyped(key, v, "number"),
        };
    }

    public double GetFloat(string key) => TryGetFloat(key) ?? throw Missing(key, "number");

    public bool? TryGetBool(string key) => Metadata.TryGetValue(key, out var v) ? v as bool? ?? throw Mistyped(key, v, "bool") : null;

    public T[]? TryGetArray<T>(string key) => Metadata.TryGetValue(key, out var v) ? v as T[] ?? throw Mistyped(key, v, $"array of {typeof(T).Name}") : null;

    private GgufFormatException Missing(string key, string kind) => GgufFormatException.InField(FileName, $"metadata key '{key}'", $"missing ({kind} expected)");

    private GgufFormatException Mistyped(string key, object v, string kind) =>
        GgufFormatException.InField(FileName, $"metadata key '{key}'", $"is {DescribeValue(v)}, {kind} expected");

    internal static string DescribeValue(object v) => v is Array a ? $"an array of {a.Length} {a.GetType().GetElementType()!.Name}" : $"{v.GetType().Name} {v}";

    private void ReleaseMemory()
    {
        if (_view != null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _view.Dispose();
        }
        _mapping?.Dispose();
        if (_pinned.IsAllocated) _pinned.Free();
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        ReleaseMemory();
    }

    /// <summary>Bounds-checked sequential reader of the header. Each read names the field it reads for errors.</summary>
    private struct HeaderReader(string file, byte* start, long length)
    {
        private long _pos;

        private readonly long Remaining => length - _pos;

        private readonly GgufFormatException Error(string field, string problem, long? at = null) => GgufFormatException.At(file, at ?? _pos, field, problem);

        private void Need(long bytes, string field)
        {
            if (bytes < 0 || bytes > Remaining) throw Error(field, $"needs {bytes} bytes but the file has {Remaining} left (truncated?)");
        }

        private T Read<T>(string field) where T : unmanaged
        {
            Need(sizeof(T), field);
            T value = *(T*)(start + _pos); // unaligned reads are fine on x64/arm64
            _pos += sizeof(T);
            return value;
        }

        private string ReadString(string field)
        {
            long at = _pos;
            ulong len = Read<ulong>(field + " length");
            if (len > (ulong)Remaining) throw Error(field, $"string length {len} exceeds the {Remaining} bytes left", at);
            string s = Encoding.UTF8.GetString(start + _pos, (int)len);
            _pos += (long)len;
            return s;
        }

        public (uint, IReadOnlyDictionary<string, object>, IReadOnlyList<GgufTensorInfo>, int, long) ReadAll()
        {
            uint magic = Read<uint>("magic");
            if (magic != Magic) throw Error("magic", $"0x{magic:X8} is not GGUF (expected the bytes 'GGUF')", 0);
            long versionAt = _pos;
            uint version = Read<uint>("version");
            if (version is not (2 or 3)) throw Error("version", $"version {version} is not supported (2 and 3 are)", versionAt);
            long countAt = _pos;
            ulong tensorCount = Read<ulong>("tensor_count");
            ulong kvCount = Read<ulong>("metadata_kv_count");
            // Minimum encoded sizes: a kv is key length (8) + type (4) + at least 1 byte; a tensor info is
            // name length (8) + n_dims (4) + 1 dim (8) + type (4) + offset (8).
            if (kvCount > (ulong)Remaining / 13) throw Error("metadata_kv_count", $"{kvCount} key-value pairs cannot fit in the {Remaining} bytes left", countAt + 8);
            if (tensorCount > (ulong)Remaining / 32) throw Error("tensor_count", $"{tensorCount} tensors cannot fit in the {Remaining} bytes left", countAt);

            var metadata = new Dictionary<string, object>((int)kvCount);
            for (ulong i = 0; i < kvCount; i++)
            {
                long at = _pos;
                string key = ReadString($"metadata[{i}].key");
                if (metadata.ContainsKey(key)) throw Error($"metadata key '{key}'", "appears twice", at);
                var type = (GgufValueType)Read<uint>($"metadata key '{key}' type");
                metadata[key] = ReadValue(type, $"metadata key '{key}'");
            }

            int alignment = DefaultAlignment;
            if (metadata.TryGetValue("general.alignment", out var alignValue))
            {
                if (alignValue is not uint a || a == 0 || (a & (a - 1)) != 0 || a > 1 << 20)
                    throw GgufFormatException.InField(file, "metadata key 'general.alignment'", $"{DescribeValue(alignValue)} is not a power-of-two u32");
                alignment = (int)a;
            }

            var tensors = new List<GgufTensorInfo>((int)tensorCount);
            var names = new HashSet<string>();
            for (ulong i = 0; i < tensorCount; i++)
            {
                long at = _pos;
                string name = ReadString($"tensor[{i}].name");
                string field = $"tensor '{name}'";
                if (!names.Add(name)) throw Error(field, "appears twice", at);
                uint nDims = Read<uint>(field + " n_dims");
                if (nDims is < 1 or > 4) throw Error(field, $"n_dims {nDims} outside 1..4", _pos - 4);
                var dims = new ulong[nDims];
                ulong elements = 1;
                for (int d = 0; d < nDims; d++)
                {
                    dims[d] = Read<ulong>($"{field} dims[{d}]");
                    if (dims[d] == 0 || dims[d] > 1UL << 40) throw Error(field, $"dimension {d} is {dims[d]}", _pos - 8);
                    elements = elements * dims[d];
                    if (elements > 1UL << 42) throw Error(field, $"{elements}+ elements is beyond any real model", _pos - 8);
                }
                long typeAt = _pos;
                uint rawType = Read<uint>(field + " type");
                if (!GgmlTypeInfo.IsSupported(rawType)) throw Error(field, $"unsupported tensor type {rawType}{TypeName(rawType)}", typeAt);
                var type = (GgmlType)rawType;
                int blockSize = GgmlTypeInfo.BlockSize(type);
                if (dims[0] % (ulong)blockSize != 0) throw Error(field, $"row length {dims[0]} is not a multiple of the {type} block size {blockSize}", typeAt);
                long offsetAt = _pos;
                ulong offset = Read<ulong>(field + " offset");
                if (offset % (ulong)alignment != 0) throw Error(field, $"data offset {offset} is not a multiple of the alignment {alignment}", offsetAt);
                long bytes = (long)(elements / (ulong)blockSize) * GgmlTypeInfo.BlockBytes(type);
                tensors.Add(new GgufTensorInfo(name, dims, type, offset, bytes));
            }

            long dataOffset = (_pos + alignment - 1) / alignment * alignment;
            long dataLength = length - dataOffset;
            foreach (var t in tensors)
            {
                if (t.Offset > (ulong)Math.Max(0, dataLength) || (long)t.Offset + t.ByteSize > dataLength)
                    throw GgufFormatException.At(file, dataOffset + (long)Math.Min(t.Offset, long.MaxValue / 2), $"tensor '{t.Name}'",
                        $"data [{t.Offset}, {t.Offset + (ulong)t.ByteSize}) lies outside the {Math.Max(0, dataLength)}-byte data section (truncated?)");
            }
            return (version, metadata, tensors, alignment, dataOffset);
        }

        private object ReadValue(GgufValueType type, string field)
        {
            switch (type)
            {
                case GgufValueType.UInt8: return Read<byte>(field);
                case GgufValueType.Int8: return Read<sbyte>(field);
                case GgufValueType.UInt16: return Read<ushort>(field);
                case GgufValueType.Int16: return Read<short>(field);
                case GgufValueType.UInt32: return Read<uint>(field);
                case GgufValueType.Int32: return Read<int>(field);
                case GgufValueType.Float32: return Read<float>(field);
                case GgufValueType.UInt64: return Read<ulong>(field);
                case GgufValueType.Int64: return Read<long>(field);
                case GgufValueType.Float64: return Read<double>(field);
                case GgufValueType.Bool:
                    {
                        byte b = Read<byte>(field);
                        if (b > 1) throw Error(field, $"bool value {b} is neither 0 nor 1", _pos - 1);
                        return b == 1;
                    }
                case GgufValueType.String: return ReadString(field);
                case GgufValueType.Array: return ReadArray(field);
                default: throw Error(field, $"unknown value type {(uint)type}", _pos - 4);
            }
        }

        private object ReadArray(string field)
        {
            long at = _pos;
            var elementType = (GgufValueType)Read<uint>(field + " array type");
            if (elementType == GgufValueType.Array) throw Error(field, "arrays of arrays are not supported", at);
            if ((uint)elementType > (uint)GgufValueType.Float64) throw Error(field, $"unknown array element type {(uint)elementType}", at);
            long countAt = _pos;
            ulong count = Read<ulong>(field + " array count");
            int size = GgufValueTypes.MinimumSize(elementType);
            if (count > (ulong)Remaining / (ulong)size)
                throw Error(field, $"array of {count} {elementType} cannot fit in the {Remaining} bytes left", countAt);
            int n = (int)count;
            switch (elementType)
            {
                case GgufValueType.String:
                    {
                        var a = new string[n];
                        for (int i = 0; i < n; i++) a[i] = ReadString($"{field}[{i}]");
                        return a;
                    }
                case GgufValueType.Bool:
                    {
                        var a = new bool[n];
                        for (int i = 0; i < n; i++)
                        {
                            byte b = Read<byte>(field);
                            if (b > 1) throw Error($"{field}[{i}]", $"bool value {b} is neither 0 nor 1", _pos - 1);
                            a[i] = b == 1;
                        }
                        return a;
                    }
                case GgufValueType.UInt8: return Copy<byte>(n);
                case GgufValueType.Int8: return Copy<sbyte>(n);
                case GgufValueType.UInt16: return Copy<ushort>(n);
                case GgufValueType.Int16: return Copy<short>(n);
                case GgufValueType.UInt32: return Copy<uint>(n);
                case GgufValueType.Int32: return Copy<int>(n);
                case GgufValueType.Float32: return Copy<float>(n);
                case GgufValueType.UInt64: return Copy<ulong>(n);
                case GgufValueType.Int64: return Copy<long>(n);
                default: return Copy<double>(n);
            }
        }

        private T[] Copy<T>(int n) where T : unmanaged
        {
            var a = new T[n];
            new ReadOnlySpan<T>(start + _pos, n).CopyTo(a);
            _pos += (long)n * sizeof(T);
            return a;
        }

        private static string TypeName(uint t) => t switch
        {
            3 => " (Q4_1)", 6 => " (Q5_0)", 7 => " (Q5_1)", 9 => " (Q8_1)", 10 => " (Q2_K)", 11 => " (Q3_K)",
            13 => " (Q5_K)", 15 => " (Q8_K)", >= 16 and <= 23 => " (an IQ type)", _ => "",
        };
    }
}
