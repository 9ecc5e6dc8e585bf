using SharpInfer.Kernels.Quantization;
using SharpInfer.Models.Gguf;

namespace SharpInfer.Models.Tests.Gguf;

public class GgufRoundTripTests
{
    internal static byte[] Write(GgufWriter writer)
    {
        var ms = new MemoryStream();
        writer.Write(ms);
        return ms.ToArray();
    }

    [Theory]
    [InlineData(2u, 32)]
    [InlineData(3u, 32)]
    [InlineData(3u, 64)]
    public void EveryMetadataTypeAndTensorTypeRoundTrips(uint version, int alignment)
    {
        var writer = new GgufWriter { Version = version, Alignment = alignment };
        var metadata = new Dictionary<string, object>
        {
            ["u8"] = (byte)200, ["i8"] = (sbyte)-100, ["u16"] = (ushort)60000, ["i16"] = (short)-30000,
            ["u32"] = 4000000000u, ["i32"] = -2000000000, ["f32"] = 3.5f, ["bool"] = true,
            ["string"] = "héllo ▁wörld 🦙", ["u64"] = ulong.MaxValue, ["i64"] = long.MinValue, ["f64"] = Math.PI,
            ["arr.u8"] = new byte[] { 1, 2, 3 }, ["arr.i32"] = new[] { -1, 0, 1 }, ["arr.f32"] = new[] { 1.5f, -2.5f },
            ["arr.str"] = new[] { "a", "", "▁b" }, ["arr.bool"] = new[] { true, false }, ["arr.f64"] = new[] { 0.25 },
            ["arr.empty"] = Array.Empty<long>(),
        };
        foreach (var (k, v) in metadata) writer.Set(k, v);
        var tensors = new Dictionary<string, (GgmlType Type, ulong[] Dims, byte[] Data)>();
        int i = 0;
        foreach (var type in GgmlTypeInfo.All)
        {
            int block = GgmlTypeInfo.BlockSize(type);
            ulong[] dims = [(ulong)(block == 1 ? 48 : 2 * block), 3];
            var data = new byte[GgmlTypeInfo.RowBytes(type, (long)dims[0]) * 3];
            new Random(i++).NextBytes(data);
            tensors[$"t.{type}"] = (type, dims, data);
            writer.AddTensorBytes($"t.{type}", type, dims, data);
        }
        writer.AddTensor("t.vector", GgmlType.F32, [5], new float[] { 1, 2, 3, 4, 5 });

        using var file = GgufFile.Parse(Write(writer), "roundtrip.gguf");
        Assert.Equal(version, file.Version);
        Assert.Equal(alignment, file.Alignment);
        foreach (var (k, v) in metadata) Assert.Equal(v, file.Metadata[k]);
        Assert.Equal(tensors.Count + 1, file.Tensors.Count);
        foreach (var (name, (type, dims, data)) in tensors)
        {
            var t = file.GetTensor(name);
            Assert.Equal(type, t.Type);
            Assert.Equal(dims, t.Dimensions);
            Assert.Equal(data, file.TensorBytes(t).ToArray());
            Assert.Equal(0, (file.DataOffset + (long)t.Offset) % alignment);
        }
        Assert.Equal([1f, 2, 3, 4, 5], file.ReadFloats(file.GetTensor("t.vector")));
    }

    [Fact]
    public void ReadsTheRealStoriesModel()
    {
        string? path = SharpInfer.Tests.TestEnvironment.Model("stories260K.gguf");
        if (path == null) return;
        using var file = GgufFile.Open(path);
        Assert.Equal(3u, file.Version);
        Assert.Equal(48, file.Tensors.Count);
        Assert.Equal("llama", file.GetString("general.architecture"));
        Assert.Equal(64, file.GetInteger("llama.embedding_length"));
        Assert.Equal(512, file.TryGetArray<string>("tokenizer.ggml.tokens")!.Length);
        Assert.All(file.Tensors, t => Assert.Equal(GgmlType.F32, t.Type));
    }

    [Fact]
    public void WriterRefusesWhatTheReaderWouldReject()
    {
        var writer = new GgufWriter();
        Assert.Throws<ArgumentException>(() => writer.Set("bad", new object()));
        Assert.Throws<ArgumentException>(() => writer.AddTensorBytes("q", GgmlType.Q8_0, [33], new byte[34]));
        writer.AddTensorBytes("x", GgmlType.F32, [1], new byte[4]);
        Assert.Throws<ArgumentException>(() => writer.AddTensorBytes("x", GgmlType.F32, [1], new byte[4]));
    }
}
