using SharpInfer.Kernels.Attention;
using SharpInfer.Kernels.Quantization;
using SharpInfer.Models.Gguf;
using SharpInfer.Models.Llama;
using SharpInfer.Models.Synthetic;

namespace SharpInfer.Models.Tests.Llama;

/// <summary>
/// The serving engine promises that a request's greedy output is the same alone or in any batch. That needs every
/// logit bit of a request to be independent of the other requests in a step: decode tokens next to prefill chunks,
/// prompts prefilled whole or in chunks, KV long enough to be split.
/// </summary>
public class BatchInvarianceTests
{
    // Three query heads per KV head: a query tile then holds a number of rows that is not a multiple of four, so rows
    // are scored both in fours and alone depending on where the chunking puts them.
    private static readonly ModelShape Shape = new("invariance", Dim: 192, Layers: 2, Heads: 6, KvHeads: 2, FfnDim: 256, VocabSize: 300, ContextLength: 2048);
    // FFN rows of 2048 columns: long rows through every kernel (the Q8_0 matrices take InterleavedGemm; the main
    // shape's 300-row output head, not whole groups of 16, keeps the int8 dots and the tile).
    private static readonly ModelShape LongRowShape = Shape with { Name = "invariance-long-rows", Dim = 96, Heads = 3, KvHeads = 1, FfnDim = 2048 };
    // Rows of whole 256-value super-blocks for the K-quants.
    private static readonly ModelShape SuperBlockShape = Shape with { Name = "invariance-k", Dim = 256, Heads = 4, KvHeads = 2, FfnDim = 512 };
    private const int PageSize = 16;

    private sealed class Sequence(int[] prompt, int firstPage)
    {
        public readonly int[] Prompt = prompt;
        public readonly int[] Pages = Enumerable.Range(firstPage, 64).ToArray();
        public int Length; // tokens in the cache
    }

    /// <summary>One engine step: each entry is (sequence, new tokens); returns each entry's last-token logits.</summary>
    private static float[][] Step(LlamaModel model, PagedKvCache cache, (Sequence Seq, int[] Tokens)[] entries)
    {
        int vocab = model.Config.VocabSize;
        var qoIndptr = new int[entries.Length + 1];
        var indptr = new int[entries.Length + 1];
        var indices = new List<int>();
        var last = new int[entries.Length];
        var tokens = new List<int>();
        for (int i = 0; i < entries.Length; i++)
        {
            var (seq, t) = entries[i];
            tokens.AddRange(t);
            qoIndptr[i + 1] = tokens.Count;
            int length = seq.Length + t.Length, pages = (length + PageSize - 1) / PageSize;
            indices.AddRange(seq.Pages.Take(pages));
            indptr[i + 1] = indices.Count;
            last[i] = length - (pages - 1) * PageSize;
        }
        var logits = new float[entries.Length * vocab];
        model.Forward(tokens.ToArray(), qoIndptr, new PageTable(indptr, indices.ToArray(), last, PageSize), cache, logits);
        foreach (var (seq, t) in entries) seq.Length += t.Length;
        return Enumerable.Range(0, entries.Length).Select(i => logits.AsSpan(i * vocab, vocab).ToArray()).ToArray();
    }

    [Theory]
    [InlineData(GgmlType.Q8_0, true)]
    [InlineData(GgmlType.Q4_0, true)]
    [InlineData(GgmlType.F32, true)]
    [InlineData(GgmlType.F16, true)]
    [InlineData(GgmlType.Q8_0, false)]
    [InlineData(GgmlType.Q4_0, false)]
    [InlineData(GgmlType.F16, false)]
    [InlineData(GgmlType.Q8_0, true, true)]
    [InlineData(GgmlType.Q8_0, false, true)]
    [InlineData(GgmlType.Q4_K, true)] // Q4_K sends every token through its integer kernels either way
    [InlineData(GgmlType.Q6_K, true)]
    [InlineData(GgmlType.Q6_K, false)]
    public void ARequestsLogitsAreTheSameAloneAndInAnyBatch(GgmlType type, bool matrixVectorDecode, bool longRows = false)
    {
        var shape = type is GgmlType.Q4_K or GgmlType.Q6_K ? SuperBlockShape : longRows ? LongRowShape : Shape;
        string path = Path.Combine(Path.GetTempPath(), $"sharpinfer-invariance-{type}-{Guid.NewGuid():N}.gguf");
        RandomModelWriter.Write(path, shape, type, seed: 9);
        try
        {
            using var file = GgufFile.Open(path);
            using var model = new LlamaModel(file, threads: 2, maxTokensPerForward: 1024) { DecodeWithMatrixVector = matrixVectorDecode };
            using var cache = model.CreateKvCache(8 * 64, PageSize);
            var rng = new Random(3);
            int[] Prompt(int n) => Enumerable.Range(0, n).Select(_ => rng.Next(3, shape.VocabSize)).ToArray();
            // Long prompts so that decode attention splits its KV into chunks.
            int[][] prompts = [Prompt(700), Prompt(41), Prompt(3), Prompt(560)];
            int[][] decodes = prompts.Select((_, i) => new[] { 5 + i, 17 + i, 99 + i }).ToArray();

            // Alone: each request prefilled whole, then decoded token by token.
            var alone = new List<float[]>[prompts.Length];
            for (int r = 0; r < prompts.Length; r++)
            {
                var seq = new Sequence(prompts[r], r * 64);
                alone[r] = [Step(model, cache, [(seq, prompts[r])])[0]];
                foreach (int token in decodes[r]) alone[r].Add(Step(model, cache, [(seq, [token])])[0]);
            }

            // Together, the way a continuous-batching engine runs them: decodes first, prompts chunked.
            var s = prompts.Select((p, r) => new Sequence(p, (4 + r) * 64)).ToArray();
            var got = prompts.Select(_ => new List<float[]>()).ToArray();
            var step = Step(model, cache, [(s[0], prompts[0][..300]), (s[1], prompts[1])]);
            got[1].Add(step[1]);
            step = Step(model, cache, [(s[1], [decodes[1][0]]), (s[0], prompts[0][300..]), (s[2], prompts[2]), (s[3], prompts[3][..200])]);
            got[1].Add(step[0]); got[0].Add(step[1]); got[2].Add(step[2]);
            step = Step(model, cache, [(s[0], [decodes[0][0]]), (s[1], [decodes[1][1]]), (s[2], [decodes[2][0]]), (s[3], prompts[3][200..])]);
            got[0].Add(step[0]); got[1].Add(step[1]); got[2].Add(step[2]); got[3].Add(step[3]);
            step = Step(model, cache, [(s[3], [decodes[3][0]]), (s[2], [decodes[2][1]]), (s[0], [decodes[0][1]]), (s[1], [decodes[1][2]])]);
            got[3].Add(step[0]); got[2].Add(step[1]); got[0].Add(step[2]); got[1].Add(step[3]);
            step = Step(model, cache, [(s[2], [decodes[2][2]]), (s[0], [decodes[0][2]]), (s[3], [decodes[3][1]])]);
            got[2].Add(step[0]); got[0].Add(step[1]); got[3].Add(step[2]);
            got[3].Add(Step(model, cache, [(s[3], [decodes[3][2]])])[0]);

            for (int r = 0; r < prompts.Length; r++)
            {
                Assert.Equal(alone[r].Count, got[r].Count);
                for (int i = 0; i < alone[r].Count; i++)
                    for (int v = 0; v < shape.VocabSize; v++)
                        Assert.True(BitConverter.SingleToInt32Bits(alone[r][i][v]) == BitConverter.SingleToInt32Bits(got[r][i][v]),
                            $"{type} request {r} step {i} logit {v}: alone {alone[r][i][v]:R}, batched {got[r][i][v]:R}");
            }
        }
        finally { File.Delete(path); }
    }
}
