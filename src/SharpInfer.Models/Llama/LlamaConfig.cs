using SharpInfer.Kernels.Elementwise;
using SharpInfer.Models.Gguf;

namespace SharpInfer.Models.Llama;

/// <summary>Hyper-parameters of a Llama-family model (llama, mistral, qwen2), read from GGUF metadata.</summary>
public sealed record LlamaConfig
{
    public static readonly string[] SupportedArchitectures = ["llama", "mistral", "qwen2"];

    public required string Architecture { get; init; }
    public required int ContextLength { get; init; }
    /// <summary>Model (embedding) width.</summary>
    public required int Dim { get; init; }
    public required int Layers { get; init; }
    public required int FfnDim { get; init; }
    public required int Heads { get; init; }
    public required int KvHeads { get; init; }
    public required int HeadDim { get; init; }
    public required float RmsEps { get; init; }
    public required double RopeBase { get; init; }
    public required int RopeDim { get; init; }
    public required RopeStyle RopeStyle { get; init; }
    /// <summary>Linear RoPE scaling: positions are divided by this.</summary>
    public double RopeLinearScale { get; init; } = 1;
    /// <summary>llama-3 style per-frequency divisors computed from metadata (the rope_freqs tensor wins when present).</summary>
    public float[]? RopeFrequencyFactors { get; init; }
    public required int VocabSize { get; init; }
    /// <summary>Sliding-window attention span of mistral-style models (0 = full attention).</summary>
    public int SlidingWindow { get; init; }

    public int QueryDim => Heads * HeadDim;
    public int KvDim => KvHeads * HeadDim;

    public static LlamaConfig FromGguf(GgufFile file)
    {
        string arch = file.GetString("general.architecture");
        if (!SupportedArchitectures.Contains(arch))
            throw GgufFormatException.InField(file.FileName, "general.architecture", $"architecture '{arch}' is not supported (supported: {string.Join(", ", SupportedArchitectures)})");
        int Int(string key) => Positive(file, $"{arch}.{key}", file.GetInteger($"{arch}.{key}"));
        int dim = Int("embedding_length");
        int heads = Int("attention.head_count");
        int kvHeads = file.TryGetInteger($"{arch}.attention.head_count_kv") is { } kv ? Positive(file, $"{arch}.attention.head_count_kv", kv) : heads;
        if (heads % kvHeads != 0)
            throw GgufFormatException.InField(file.FileName, $"metadata key '{arch}.attention.head_count_kv'", $"{kvHeads} does not divide the {heads} query heads");
        int headDim = file.TryGetInteger($"{arch}.attention.key_length") is { } kl ? Positive(file, $"{arch}.attention.key_length", kl) : dim / heads;
        if (file.TryGetInteger($"{arch}.attention.key_length") is null && dim % heads != 0)
            throw GgufFormatException.InField(file.FileName, $"metadata key '{arch}.embedding_length'", $"{dim} is not a multiple of the {heads} heads");
        int ropeDim = file.TryGetInteger($"{arch}.rope.dimension_count") is { } rd ? Positive(file, $"{arch}.rope.dimension_count", rd) : headDim;
        if (ropeDim > headDim || ropeDim % 2 != 0)
            throw GgufFormatException.InField(file.FileName, $"metadata key '{arch}.rope.dimension_count'", $"{ropeDim} must be even and at most the head size {headDim}");
        double ropeBase = file.TryGetFloat($"{arch}.rope.freq_base") ?? 10000.0;
        int vocab = file.TryGetInteger($"{arch}.vocab_size") is { } vs ? (int)vs
            : file.Metadata.TryGetValue("tokenizer.ggml.tokens", out var tokens) && tokens is string[] t ? t.Length
            : checked((int)file.GetTensor("token_embd.weight").Dimensions[^1]);

        string scaling = file.TryGetString($"{arch}.rope.scaling.type") ?? "none";
        double linear = 1;
        float[]? factors = null;
        switch (scaling)
        {
            case "none": break;
            case "linear":
                linear = file.TryGetFloat($"{arch}.rope.scaling.factor") ?? 1.0;
                break;
            case "llama3":
                factors = Rope.Llama3FrequencyFactors(ropeDim, ropeBase,
                    file.GetFloat($"{arch}.rope.scaling.factor"),
                    file.TryGetFloat($"{arch}.rope.scaling.low_freq_factor") ?? 1.0,
                    file.TryGetFloat($"{arch}.rope.scaling.high_freq_factor") ?? 4.0,
                    file.TryGetFloat($"{arch}.rope.scaling.original_context_length") ?? 8192);
                break;
            default:
                throw GgufFormatException.InField(file.FileName, $"metadata key '{arch}.rope.scaling.type'", $"'{scaling}' is not supported (none, linear, llama3 are)");
        }

        return new LlamaConfig
        {
            Architecture = arch,
            ContextLength = Int("context_length"),
            Dim = dim,
            Layers = Int("block_count"),
            FfnDim = Int("feed_forward_length"),
            Heads = heads,
            KvHeads = kvHeads,
            HeadDim = headDim,
            RmsEps = (float)(file.TryGetFloat($"{arch}.attention.layer_norm_rms_epsilon") ?? 1e-5),
            RopeBase = ropeBase,
            RopeDim = ropeDim,
            RopeStyle = arch == "qwen2" ? RopeStyle.NeoX : RopeStyle.Interleaved,
            RopeLinearScale = linear,
            RopeFrequencyFactors = factors,
            VocabSize = vocab,
            SlidingWindow = (int)(file.TryGetInteger($"{arch}.attention.sliding_window") ?? 0),
        };
    }

    private static int Positive(GgufFile file, string key, long value) =>
        value is > 0 and <= 1 << 24 ? (int)value : throw GgufFormatException.InField(file.FileName, $"metadata key '{key}'", $"{value} is out of range");
}
