namespace SharpInfer.Models.Gguf;

/// <summary>Metadata value types as numbered in the GGUF specification.</summary>
public enum GgufValueType : uint
{
    UInt8 = 0, Int8 = 1, UInt16 = 2, Int16 = 3, UInt32 = 4, Int32 = 5, Float32 = 6, Bool = 7,
    String = 8, Array = 9, UInt64 = 10, Int64 = 11, Float64 = 12,
}

/// <summary>Maps between GGUF value types and the .NET types that carry them in <see cref="GgufFile.Metadata"/>.</summary>
public static class GgufValueTypes
{
    /// <summary>Bytes of one scalar of the type; strings take at least 8 (their length).</summary>
    public static int MinimumSize(GgufValueType type) => type switch
    {
        GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
        GgufValueType.UInt16 or GgufValueType.Int16 => 2,
        GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
        GgufValueType.UInt64 or GgufValueType.Int64 or GgufValueType.Float64 or GgufValueType.String => 8,
        GgufValueType.Array => 12,
        _ => throw new ArgumentOutOfRangeException(nameof(type)),
    };

    /// <summary>The GGUF type of a metadata value as the reader produces it (a boxed scalar, a string or a typed array).</summary>
    public static GgufValueType Of(object value, out GgufValueType elementType)
    {
        elementType = default;
        switch (value)
        {
            case Array array:
                elementType = OfScalar(array.GetType().GetElementType()!);
                return GgufValueType.Array;
            default:
                return OfScalar(value.GetType());
        }
    }

    private static GgufValueType OfScalar(Type t) =>
        t == typeof(byte) ? GgufValueType.UInt8 :
        t == typeof(sbyte) ? GgufValueType.Int8 :
        t == typeof(ushort) ? GgufValueType.UInt16 :
        t == typeof(short) ? GgufValueType.Int16 :
        t == typeof(uint) ? GgufValueType.UInt32 :
        t == typeof(int) ? GgufValueType.Int32 :
        t == typeof(float) ? GgufValueType.Float32 :
        t == typeof(bool) ? GgufValueType.Bool :
        t == typeof(string) ? GgufValueType.String :
        t == typeof(ulong) ? GgufValueType.UInt64 :
        t == typeof(long) ? GgufValueType.Int64 :
        t == typeof(double) ? GgufValueType.Float64 :
        throw new ArgumentException($"{t.Name} cannot be stored in GGUF metadata");
}
