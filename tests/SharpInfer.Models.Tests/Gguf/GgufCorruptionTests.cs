using System.Buffers.Binary;
using System.Text;
using SharpInfer.Kernels.Quantization;
using SharpInfer.Models.Gguf;
using SharpInfer.Models.Llama;

namespace SharpInfer.Models.Tests.Gguf;

/// <summary>One hand-made corrupt file per failure mode, then a fuzzer over thousands of random corruptions.</summary>
public class GgufCorruptionTests
{
    private static byte[] SmallFile()
    {
        var w = new GgufWriter();
        w.Set("general.architecture", "llama").Set("general.name", "tiny").Set("llama.block_count", 1u)
         .Set("tokenizer.ggml.tokens", new[] { "a", "b", "c" }).Set("tokenizer.ggml.scores", new[] { 0f, -1f, -2f });
        w.AddTensor("token_embd.weight", GgmlType.F32, [32, 3], new float[96]);
        w.AddTensor("q.weight", GgmlType.Q8_0, [64, 2], new float[128]);
        return GgufRoundTripTests.Write(w);
    }

    private static GgufFormatException Fails(byte[] bytes) => Assert.Throws<GgufFormatException>(() => GgufFile.Parse(bytes, "bad.gguf").Dispose());

    [Fact]
    public void WrongMagicNamesTheMagic()
    {
        var b = SmallFile();
        b[0] = (byte)'X';
        var e = Fails(b);
        Assert.StartsWith("bad.gguf: offset 0: magic:", e.Message);
    }

    [Fact]
    public void UnsupportedVersionIsNamed()
    {
        var b = SmallFile();
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(4), 1);
        Assert.Contains("version 1 is not supported", Fails(b).Message);
    }

    [Fact]
    public void TruncationInsideTheHeaderSaysTruncated()
    {
        var b = SmallFile();
        var e = Fails(b[..40]);
        Assert.Contains("truncated", e.Message);
        Assert.Contains("offset", e.Message);
    }

    [Fact]
    public void TruncatedTensorDataNamesTheTensor()
    {
        var b = SmallFile();
        var e = Fails(b[..^40]); // past the final padding, into q.weight's data
        Assert.Contains("tensor 'q.weight'", e.Message);
        Assert.Contains("outside", e.Message);
    }

    [Fact]
    public void UnknownTensorTypeIsNamed()
    {
        var b = SmallFile();
        int at = IndexOf(b, "q.weight") + "q.weight".Length + 4 + 16; // after n_dims and two dims
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(at), 13); // Q5_K
        var e = Fails(b);
        Assert.Contains("tensor 'q.weight'", e.Message);
        Assert.Contains("unsupported tensor type 13 (Q5_K)", e.Message);
    }

    [Fact]
    public void HugeStringLengthIsRejectedBeforeAllocating()
    {
        var b = SmallFile();
        int at = IndexOf(b, "general.name") - 8;
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(at), ulong.MaxValue / 2);
        Assert.Contains("exceeds", Fails(b).Message);
    }

    [Fact]
    public void HugeArrayCountIsRejectedBeforeAllocating()
    {
        var b = SmallFile();
        int at = IndexOf(b, "tokenizer.ggml.scores") + "tokenizer.ggml.scores".Length + 4 + 4; // type, element type
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(at), 1UL << 40);
        Assert.Contains("cannot fit", Fails(b).Message);
    }

    [Fact]
    public void HugeTensorCountIsRejected()
    {
        var b = SmallFile();
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(8), 1UL << 50);
        Assert.Contains("tensor_count", Fails(b).Message);
    }

    [Fact]
    public void MissingMetadataKeyIsNamedByTheModelLoader()
    {
        using var f = GgufFile.Parse(SmallFile(), "tiny.gguf");
        var e = Assert.Throws<GgufFormatException>(() => LlamaConfig.FromGguf(f));
        Assert.Equal("tiny.gguf: metadata key 'llama.embedding_length': missing (integer expected)", e.Message);
    }

    [Fact]
    public void UnknownArchitectureIsNamed()
    {
        var w = new GgufWriter();
        w.Set("general.architecture", "mamba");
        using var f = GgufFile.Parse(GgufRoundTripTests.Write(w), "m.gguf");
        var e = Assert.Throws<GgufFormatException>(() => LlamaConfig.FromGguf(f));
        Assert.Contains("architecture 'mamba' is not supported", e.Message);
    }

    [Fact]
    public void FuzzedFilesOnlyEverFailWithTheFormatError()
    {
        var original = SmallFile();
        var rng = new Random(20261126);
        int parsed = 0, rejected = 0;
        long before = GC.GetTotalAllocatedBytes(precise: false);
        for (int iteration = 0; iteration < 6000; iteration++)
        {
            byte[] b = (byte[])original.Clone();
            switch (iteration % 4)
            {
                case 0: b = b[..rng.Next(b.Length)]; break;
                case 1:
                    for (int k = rng.Next(1, 6); k > 0; k--) b[rng.Next(b.Length)] ^= (byte)(1 << rng.Next(8));
                    break;
                case 2:
                    {
                        // A huge or random count/length where a u64 could be.
                        int at = rng.Next(b.Length - 8);
                        ulong value = rng.Next(3) switch { 0 => ulong.MaxValue - (ulong)rng.Next(100), 1 => 1UL << rng.Next(20, 63), _ => (ulong)rng.NextInt64() };
                        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(at), value);
                        break;
                    }
                default:
                    rng.NextBytes(b.AsSpan(rng.Next(b.Length - 16), 16));
                    break;
            }
            try
            {
                using var f = GgufFile.Parse(b, "fuzz.gguf");
                parsed++;
                foreach (var t in f.Tensors) _ = f.TensorBytes(t).Length; // every tensor lies inside the file
            }
            catch (GgufFormatException e)
            {
                rejected++;
                Assert.DoesNotContain('\n', e.Message);
                Assert.StartsWith("fuzz.gguf:", e.Message);
            }
        }
        long allocated = GC.GetTotalAllocatedBytes(precise: false) - before;
        Assert.True(rejected > 1000, $"only {rejected} rejections: the corruptions are not reaching the parser");
        Assert.True(parsed > 0);
        Assert.True(allocated < 2L << 30, $"{allocated} bytes allocated while parsing small files");
    }

    [Fact]
    public void OpeningAMissingOrEmptyFileIsAFormatError()
    {
        Assert.Contains("not found", Assert.ThrowsAny<GgufFormatException>(() => GgufFile.Open("/nonexistent/model.gguf")).Message);
        string empty = Path.GetTempFileName();
        try { Assert.Contains("too short", Assert.Throws<GgufFormatException>(() => GgufFile.Open(empty)).Message); }
        finally { File.Delete(empty); }
    }

    private static int IndexOf(byte[] haystack, string needle)
    {
        var n = Encoding.UTF8.GetBytes(needle);
        int i = haystack.AsSpan().IndexOf(n);
        Assert.True(i >= 0);
        return i;
    }
}
