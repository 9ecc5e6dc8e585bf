using System.Globalization;
using System.Text.Json;
using SharpInfer.Models.Gguf;

namespace SharpInfer.Planner;

/// <summary>Builds a <see cref="ModelSpec"/> from a GGUF's metadata or a Hugging Face config.json.</summary>
public static class ModelLoaders
{
    /// <summary>
    /// Reads the architecture keys of GGUF metadata (values are boxed .NET primitives, strings or arrays).
    /// </summary>
    /// <param name="metadata">The file's key/value metadata.</param>
    /// <param name="parameterCount">Sum of the tensors' element counts, when known.</param>
    /// <param name="name">Display name (usually the file name).</param>
    public static ModelSpec FromGgufMetadata(IReadOnlyDictionary<string, object> metadata, long? parameterCount, string name)
    {
        if (!metadata.TryGetValue("general.architecture", out var archValue) || archValue is not string arch)
            throw new PlannerInputException($"GGUF '{name}' has no general.architecture");
        int Required(string key) => GgufInt(metadata, $"{arch}.{key}")
            ?? throw new PlannerInputException($"GGUF '{name}' is missing {arch}.{key}");
        int hidden = Required("embedding_length");
        int layers = Required("block_count");
        int ffn = Required("feed_forward_length");
        int heads = Required("attention.head_count");
        int kvHeads = GgufInt(metadata, $"{arch}.attention.head_count_kv") ?? heads;
        int context = GgufInt(metadata, $"{arch}.context_length") ?? 2048;
        int vocab = GgufInt(metadata, $"{arch}.vocab_size")
            ?? (metadata.TryGetValue("tokenizer.ggml.tokens", out var tokens) && tokens is Array array ? array.Length : 0);
        if (vocab <= 0) throw new PlannerInputException($"GGUF '{name}' has neither {arch}.vocab_size nor tokenizer.ggml.tokens");
        // GPT-2-like architectures use a GeLU MLP; LLaMA and its descendants SwiGLU.
        var mlp = arch is "gpt2" or "gptj" or "gptneox" or "bloom" or "falcon" or "starcoder" or "mpt" ? MlpKind.Gelu : MlpKind.SwiGlu;
        return new ModelSpec(name, layers, hidden, heads, kvHeads, ffn, vocab, context, mlp, TiedEmbeddings: false,
            ParameterCountOverride: parameterCount is > 0 ? parameterCount : null).Validated();
    }

    private static int? GgufInt(IReadOnlyDictionary<string, object> metadata, string key)
    {
        if (!metadata.TryGetValue(key, out var value)) return null;
        return value switch
        {
            byte v => v, sbyte v => v, ushort v => v, short v => v, uint v => checked((int)v), int v => v,
            ulong v => checked((int)v), long v => checked((int)v),
            // Some converters store per-layer arrays (e.g. head_count_kv); take the first entry.
            int[] a when a.Length > 0 => a[0], uint[] a when a.Length > 0 => checked((int)a[0]),
            _ => throw new PlannerInputException($"GGUF key {key} has a non-integer value ({value.GetType().Name})"),
        };
    }

    /// <summary>Parses a Hugging Face config.json text.</summary>
    public static ModelSpec FromHuggingFaceConfig(string json, string name)
    {
        JsonDocument document;
        try { document = JsonDocument.Parse(json); }
        catch (JsonException e) { throw new PlannerInputException($"config '{name}' is not valid JSON: {e.Message}", e); }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new PlannerInputException($"config '{name}' is not a JSON object");
            int Required(string field) => Int(root, field) ?? throw new PlannerInputException($"config '{name}' is missing the field '{field}'");
            int hidden = Required("hidden_size");
            int layers = Required("num_hidden_layers");
            int heads = Required("num_attention_heads");
            int kvHeads = Int(root, "num_key_value_heads") ?? heads;
            int ffn = Required("intermediate_size");
            int vocab = Required("vocab_size");
            int context = Int(root, "max_position_embeddings") ?? throw new PlannerInputException($"config '{name}' is missing the field 'max_position_embeddings'");
            string activation = root.TryGetProperty("hidden_act", out var act) && act.ValueKind == JsonValueKind.String ? act.GetString()! : "silu";
            bool tied = root.TryGetProperty("tie_word_embeddings", out var tie) && tie.ValueKind == JsonValueKind.True;
            var mlp = activation.Contains("gelu", StringComparison.OrdinalIgnoreCase) ? MlpKind.Gelu : MlpKind.SwiGlu;
            return new ModelSpec(name, layers, hidden, heads, kvHeads, ffn, vocab, context, mlp, tied).Validated();
        }
    }

    private static int? Int(JsonElement root, string field)
    {
        if (!root.TryGetProperty(field, out var value) || value.ValueKind == JsonValueKind.Null) return null;
        if (value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out int n)) return n;
        if (value.ValueKind == JsonValueKind.String && int.TryParse(value.GetString(), NumberStyles.Integer, CultureInfo.InvariantCulture, out n)) return n;
        throw new PlannerInputException($"config field '{field}' is not an integer");
    }

    /// <summary>Opens a GGUF file and reads its hyper-parameters; the parameter count is the sum of its tensors' elements.</summary>
    public static ModelSpec FromGgufFile(string path)
    {
        try
        {
            using var file = GgufFile.Open(path);
            long parameters = 0;
            foreach (var tensor in file.Tensors) parameters += checked((long)tensor.ElementCount);
            return FromGgufMetadata(file.Metadata, parameters, Path.GetFileNameWithoutExtension(path));
        }
        catch (GgufFormatException e) { throw new PlannerInputException($"cannot read GGUF: {e.Message}", e); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        { throw new PlannerInputException($"cannot read '{path}': {e.Message}", e); }
    }

    /// <summary>Reads a config.json file (I/O lives here and in the GGUF glue only).</summary>
    public static ModelSpec FromHuggingFaceConfigFile(string path)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        { throw new PlannerInputException($"cannot read '{path}': {e.Message}", e); }
        return FromHuggingFaceConfig(text, Path.GetFileName(Path.GetDirectoryName(Path.GetFullPath(path))) is { Length: > 0 } dir ? dir : Path.GetFileName(path));
    }
}
