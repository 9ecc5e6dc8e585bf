using SharpInfer.Kernels.Quantization;
using SharpInfer.Models.Gguf;

namespace SharpInfer.Models.Synthetic;

/// <summary>
/// Writes a GGUF model of a given shape with random weights and a synthetic SentencePiece-style vocabulary
/// (control tokens, 256 byte tokens, then made-up pieces). Real shapes make real speed; the text is noise.
/// Weights are drawn from a seeded generator and streamed to disk row by row.
/// </summary>
public static class RandomModelWriter
{
    /// <param name="type">Type of the 2-D weight matrices; norms stay F32 as in real GGUF files.</param>
    public static void Write(string path, ModelShape shape, GgmlType type, int seed = 1234, GgmlType? embeddingType = null, bool qkvBias = false)
    {
        var writer = new GgufWriter();
        string arch = shape.Architecture;
        writer.Set("general.architecture", arch)
            .Set("general.name", $"random {shape.Name} {type}")
            .Set($"{arch}.context_length", (uint)shape.ContextLength)
            .Set($"{arch}.embedding_length", (uint)shape.Dim)
            .Set($"{arch}.block_count", (uint)shape.Layers)
            .Set($"{arch}.feed_forward_length", (uint)shape.FfnDim)
            .Set($"{arch}.attention.head_count", (uint)shape.Heads)
            .Set($"{arch}.attention.head_count_kv", (uint)shape.KvHeads)
            .Set($"{arch}.attention.layer_norm_rms_epsilon", shape.RmsEps)
            .Set($"{arch}.rope.freq_base", (float)shape.RopeBase)
            .Set($"{arch}.rope.dimension_count", (uint)shape.HeadDim);
        AddVocabulary(writer, shape.VocabSize);

        var embType = embeddingType ?? type;
        int tensorIndex = 0;
        void Matrix(string name, int rows, int cols, GgmlType t, float scale)
        {
            int s = seed * 7919 + tensorIndex++;
            writer.AddTensor(name, t, [(ulong)cols, (ulong)rows], stream =>
                GgufWriter.WriteRows(stream, t, cols, rows, (r, row) => Fill(row, s, r, scale)));
        }
        void Norm(string name, int length)
        {
            int s = seed * 7919 + tensorIndex++;
            var values = new float[length];
            Fill(values, s, 0, 0.2f);
            for (int i = 0; i < length; i++) values[i] += 1f; // near 1, as trained norms are
            writer.AddTensor(name, GgmlType.F32, [(ulong)length], values);
        }
        void Bias(string name, int length)
        {
            int s = seed * 7919 + tensorIndex++;
            var values = new float[length];
            Fill(values, s, 0, 0.1f);
            writer.AddTensor(name, GgmlType.F32, [(ulong)length], values);
        }

        int qDim = shape.Heads * shape.HeadDim, kvDim = shape.KvHeads * shape.HeadDim;
        Matrix("token_embd.weight", shape.VocabSize, shape.Dim, embType, 1f);
        for (int l = 0; l < shape.Layers; l++)
        {
            string p = $"blk.{l}.";
            Norm(p + "attn_norm.weight", shape.Dim);
            Matrix(p + "attn_q.weight", qDim, shape.Dim, type, 1f / MathF.Sqrt(shape.Dim));
            Matrix(p + "attn_k.weight", kvDim, shape.Dim, type, 1f / MathF.Sqrt(shape.Dim));
            Matrix(p + "attn_v.weight", kvDim, shape.Dim, type, 1f / MathF.Sqrt(shape.Dim));
            if (qkvBias) { Bias(p + "attn_q.bias", qDim); Bias(p + "attn_k.bias", kvDim); Bias(p + "attn_v.bias", kvDim); }
            Matrix(p + "attn_output.weight", shape.Dim, qDim, type, 1f / MathF.Sqrt(qDim));
            Norm(p + "ffn_norm.weight", shape.Dim);
            Matrix(p + "ffn_gate.weight", shape.FfnDim, shape.Dim, type, 1f / MathF.Sqrt(shape.Dim));
            Matrix(p + "ffn_up.weight", shape.FfnDim, shape.Dim, type, 1f / MathF.Sqrt(shape.Dim));
            Matrix(p + "ffn_down.weight", shape.Dim, shape.FfnDim, type, 1f / MathF.Sqrt(shape.FfnDim));
        }
        Norm("output_norm.weight", shape.Dim);
        if (!shape.TiedEmbeddings) Matrix("output.weight", shape.VocabSize, shape.Dim, type, 1f / MathF.Sqrt(shape.Dim));
        writer.WriteFile(path);
    }

    /// <summary>Uniform values in [-scale*sqrt(3), scale*sqrt(3)] (standard deviation = scale), deterministic per (seed, row).</summary>
    private static void Fill(Span<float> row, int seed, int rowIndex, float scale)
    {
        ulong state = (ulong)(uint)seed * 0x9E3779B97F4A7C15UL ^ (ulong)(uint)rowIndex * 0xD1B54A32D192ED03UL ^ 0x2545F4914F6CDD1DUL;
        float a = scale * 1.7320508f;
        for (int i = 0; i < row.Length; i++)
        {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17;
            row[i] = ((state >> 40) * (1f / (1 << 24)) * 2f - 1f) * a;
        }
    }

    /// <summary>&lt;unk&gt;, &lt;s&gt;, &lt;/s&gt;, 256 byte tokens, then pieces built from letters, with descending scores.</summary>
    private static void AddVocabulary(GgufWriter writer, int vocabSize)
    {
        if (vocabSize < 259 + 26) throw new ArgumentException($"vocabulary of {vocabSize} is too small for the synthetic tokenizer (at least {259 + 26})");
        var tokens = new string[vocabSize];
        var scores = new float[vocabSize];
        var types = new int[vocabSize];
        tokens[0] = "<unk>"; types[0] = 2;
        tokens[1] = "<s>"; types[1] = 3;
        tokens[2] = "</s>"; types[2] = 3;
        for (int b = 0; b < 256; b++) { tokens[3 + b] = $"<0x{b:X2}>"; types[3 + b] = 6; }
        var seen = new HashSet<string>(tokens.Take(259));
        int next = 259;
        const string letters = "etaoinshrdlcumwfgypbvkjxqz";
        // Single letters with and without the word-start marker first, then longer combinations.
        var queue = new Queue<string>();
        foreach (char c in letters) { queue.Enqueue(c.ToString()); queue.Enqueue("\u2581" + c); }
        queue.Enqueue("\u2581");
        while (next < vocabSize && queue.Count > 0)
        {
            string piece = queue.Dequeue();
            if (!seen.Add(piece)) continue;
            tokens[next] = piece; types[next] = 1; scores[next] = -next;
            next++;
            if (piece.TrimStart('\u2581').Length < 6)
                foreach (char c in letters.AsSpan(0, 12)) queue.Enqueue(piece + c);
        }
        writer.Set("tokenizer.ggml.model", "llama")
            .Set("tokenizer.ggml.tokens", tokens)
            .Set("tokenizer.ggml.scores", scores)
            .Set("tokenizer.ggml.token_type", types)
            .Set("tokenizer.ggml.bos_token_id", 1u)
            .Set("tokenizer.ggml.eos_token_id", 2u)
            .Set("tokenizer.ggml.unknown_token_id", 0u);
    }
}
