using SharpInfer.Kernels.Attention;
using SharpInfer.Kernels.Quantization;
using SharpInfer.Models.Gguf;
using SharpInfer.Models.Llama;
using SharpInfer.Models.Synthetic;
using SharpInfer.Models.Tokenization;
using SharpInfer.Tests;

namespace SharpInfer.Models.Tests.Llama;

public class LlamaModelTests
{
    // K-quants need rows that are multiples of 256: dim, the query width and the FFN width all are.
    private static readonly ModelShape Small = new("small", Dim: 256, Layers: 2, Heads: 4, KvHeads: 2, FfnDim: 512, VocabSize: 300, ContextLength: 128);

    public static TheoryData<GgmlType> Types() => new(GgmlTypeInfo.All);

    private static string WriteModel(ModelShape shape, GgmlType type, bool qkvBias = false)
    {
        string path = Path.Combine(Path.GetTempPath(), $"sharpinfer-test-{shape.Name}-{shape.Architecture}-{type}-{Environment.ProcessId}-{Guid.NewGuid():N}.gguf");
        RandomModelWriter.Write(path, shape, type, seed: 42, qkvBias: qkvBias);
        return path;
    }

    /// <summary>Prefill in one forward (logits of every position), then decode steps; each compared with the float64 reference.</summary>
    /// <remarks>
    /// With quantized activations the reference quantizes float64 activations and the fast path float32 ones, and
    /// the two can round an element that sits near a rounding boundary to neighbouring int8 values. Such flips are
    /// common (a float32 rounding of ~1e-7 relative is ~1e-5 of a quantization step at |q| ~ 127, and a step has
    /// ~30K quantized elements); one moves this small random model's logits by up to ~4e-2 relative, and a flip in
    /// K or V moves every later position too. So a position may be off by up to 5e-2 of max |ref|, but at least
    /// three must match to 1e-5, as they do between flips: a wiring error (a wrong scale, offset or token) moves
    /// every position. With identical inputs the integer kernels meet 1e-5 (IntegerDotTests, SolutionAccuracyTests).
    /// </remarks>
    private static void AssertMatchesReference(string path, int threads, int[] prompt, int[] decode, int maxTokensPerForward = 64, bool quantizeActivations = false)
    {
        double tolerance = quantizeActivations ? 5e-2 : 1e-4;
        int exact = 0; // positions within 1e-5
        using var file = GgufFile.Open(path);
        using var model = new LlamaModel(file, threads, maxTokensPerForward) { QuantizeActivations = quantizeActivations, IntegerPathMaxTokens = int.MaxValue };
        var reference = new ReferenceLlama(file) { QuantizeActivations = quantizeActivations };
        int vocab = model.Config.VocabSize;
        using var cache = model.CreateKvCache(16, pageSize: 4);
        int[] pages = [7, 3, 12, 0, 5, 9, 1, 14, 2, 11]; // out of order on purpose
        var logits = new float[prompt.Length * vocab];
        model.Forward(prompt, [0, prompt.Length], PageTable.ForSingle(pages, prompt.Length, 4), cache, logits, allTokens: true);
        int position = prompt.Length;
        for (int i = 0; i < prompt.Length; i++)
            if (AssertClose(reference.Step(prompt[i]), logits.AsSpan(i * vocab, vocab), $"prompt position {i}", tolerance) <= 1e-5) exact++;
        foreach (int token in decode)
        {
            position++;
            var step = new float[vocab];
            model.Forward([token], [0, 1], PageTable.ForSingle(pages, position, 4), cache, step);
            if (AssertClose(reference.Step(token), step, $"decode position {position - 1}", tolerance) <= 1e-5) exact++;
        }
        int total = prompt.Length + decode.Length;
        Assert.True(!quantizeActivations || exact >= 3, $"only {exact} of {total} positions are within 1e-5 of max |ref|");
    }

    /// <summary>Asserts max |actual - expected| &lt;= tolerance * max |expected| and returns the ratio.</summary>
    private static double AssertClose(double[] expected, ReadOnlySpan<float> actual, string where, double tolerance = 1e-4)
    {
        double maxRef = expected.Max(Math.Abs), maxErr = 0;
        for (int i = 0; i < expected.Length; i++) maxErr = Math.Max(maxErr, Math.Abs(actual[i] - expected[i]));
        Assert.True(maxRef > 0, "reference logits are all zero: the test would prove nothing");
        Assert.True(maxErr <= tolerance * maxRef, $"{where}: max |fast - ref| = {maxErr:E3} > {tolerance} * {maxRef:E3}");
        return maxErr / maxRef;
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void RandomLlamaMatchesTheFloat64ReferenceInEveryType(GgmlType type)
    {
        string path = WriteModel(Small, type);
        // Nine prompt tokens: the per-token steps between the products run on the pool from 8 tokens on, decode alone.
        try { AssertMatchesReference(path, threads: 2, prompt: [1, 17, 250, 33, 99, 5, 61, 140, 2], decode: [8, 260, 77]); }
        finally { File.Delete(path); }
    }

    [Theory]
    [InlineData(GgmlType.Q8_0)]
    [InlineData(GgmlType.Q4_0)]
    [InlineData(GgmlType.Q4_K)] // activations in blocks of 256 (with AVX-512BW; elsewhere the K-quants take the float path)
    [InlineData(GgmlType.Q6_K)]
    public void IntegerActivationPathMatchesAReferenceThatQuantizesTheSameWay(GgmlType type)
    {
        string path = WriteModel(Small, type);
        try { AssertMatchesReference(path, threads: 2, prompt: [1, 17, 250, 33, 99, 5], decode: [8, 260, 77], quantizeActivations: true); }
        finally { File.Delete(path); }
    }

    [Fact]
    public void Qwen2WithBiasesAndNeoxRopeMatchesTheReference()
    {
        string path = WriteModel(Small with { Name = "smallq", Architecture = "qwen2" }, GgmlType.Q8_0, qkvBias: true);
        try
        {
            using (var f = GgufFile.Open(path)) Assert.NotNull(f.FindTensor("blk.0.attn_q.bias"));
            AssertMatchesReference(path, threads: 2, prompt: [1, 2, 3, 200, 17, 90, 6, 44, 250], decode: [4, 5]); // biases on the pooled and the serial path
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void LongPromptsSplitIntoChunksGiveTheSameLogits()
    {
        string path = WriteModel(Small, GgmlType.F16);
        try { AssertMatchesReference(path, threads: 1, prompt: [1, 9, 8, 7, 6, 5, 4, 3, 2, 10, 11], decode: [12], maxTokensPerForward: 4); }
        finally { File.Delete(path); }
    }

    [Fact]
    public void StoriesModelMatchesTheReferenceAndTokenizesLikeLlamaCpp()
    {
        string? path = TestEnvironment.Model("stories260K.gguf");
        if (path == null) return;
        using var file = GgufFile.Open(path);
        var tokenizer = Tokenizer.Create(GgufVocabulary.Read(file));
        var ids = tokenizer.Encode("Once upon a time");
        Assert.Equal([1, 403, 407, 261, 378], ids);
        AssertMatchesReference(path, threads: 2, prompt: [.. ids], decode: [432, 383]);
    }

    [Fact]
    public void ShapeMismatchBetweenMetadataAndTensorIsNamed()
    {
        string path = WriteModel(Small, GgmlType.F32);
        try
        {
            var bytes = File.ReadAllBytes(path);
            // Claim a wider FFN than the tensors have.
            var w = new GgufWriter();
            using (var f = GgufFile.Parse(bytes, "m.gguf"))
            {
                foreach (var (k, v) in f.Metadata) w.Set(k, k == "llama.feed_forward_length" ? 768u : v);
                foreach (var t in f.Tensors) w.AddTensorBytes(t.Name, t.Type, t.Dimensions, f.TensorBytes(t).ToArray());
            }
            var ms = new MemoryStream();
            w.Write(ms);
            using var bad = GgufFile.Parse(ms.ToArray(), "bad.gguf");
            var e = Assert.Throws<GgufFormatException>(() => new LlamaModel(bad, 1).Dispose());
            Assert.Equal("bad.gguf: tensor 'blk.0.ffn_gate.weight': shape 512 x 256 but the metadata implies 768 x 256", e.Message);
        }
        finally { File.Delete(path); }
    }
}
