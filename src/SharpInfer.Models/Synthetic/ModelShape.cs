namespace SharpInfer.Models.Synthetic;

/// <summary>The hyper-parameters that fix a Llama-family model's tensor shapes.</summary>
public sealed record ModelShape(string Name, int Dim, int Layers, int Heads, int KvHeads, int FfnDim, int VocabSize, int ContextLength = 2048,
    string Architecture = "llama", bool TiedEmbeddings = false, double RopeBase = 10000, float RmsEps = 1e-5f)
{
    public int HeadDim => Dim / Heads;

    /// <summary>Shapes of real models, for speed work with random weights.</summary>
    public static readonly IReadOnlyDictionary<string, ModelShape> Presets = new Dictionary<string, ModelShape>(StringComparer.OrdinalIgnoreCase)
    {
        ["smollm2-135m"] = new("smollm2-135m", 576, 30, 9, 3, 1536, 49152, 8192, TiedEmbeddings: true, RopeBase: 100000),
        ["tinyllama-1.1b"] = new("tinyllama-1.1b", 2048, 22, 32, 4, 5632, 32000, 2048),
        ["stories260k"] = new("stories260k", 64, 5, 8, 4, 172, 512, 512),
        ["stories15m"] = new("stories15m", 288, 6, 6, 6, 768, 32000, 256),
    };

    public long ParameterCount =>
        (long)VocabSize * Dim * (TiedEmbeddings ? 1 : 2) + Dim
        + Layers * (2L * Dim + (long)Dim * Dim * 2 + 2L * Dim * KvHeads * HeadDim + 3L * Dim * FfnDim);
}
