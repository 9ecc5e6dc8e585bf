namespace SharpInfer.Planner;

/// <summary>Built-in model shapes. GPT-3 96B/134B follow the BPipe paper's sizes (reconstructed: 96 layers, head width 128 or 112).</summary>
public static class ModelPresets
{
    private static readonly Dictionary<string, ModelSpec> Presets = new(StringComparer.OrdinalIgnoreCase)
    {
        ["gpt3-96b"] = ModelSpec.Gpt("GPT-3 96B", layers: 96, hidden: 9216, heads: 72),
        ["gpt3-134b"] = ModelSpec.Gpt("GPT-3 134B", layers: 96, hidden: 10752, heads: 96),
        ["gpt3-175b"] = ModelSpec.Gpt("GPT-3 175B", layers: 96, hidden: 12288, heads: 96),
        ["llama-7b"] = Llama("LLaMA 7B", 32, 4096, 32, 32, 11008, 2048),
        ["llama-13b"] = Llama("LLaMA 13B", 40, 5120, 40, 40, 13824, 2048),
        ["llama-33b"] = Llama("LLaMA 33B", 60, 6656, 52, 52, 17920, 2048),
        ["llama-65b"] = Llama("LLaMA 65B", 80, 8192, 64, 64, 22016, 2048),
        ["llama2-70b"] = Llama("Llama-2 70B", 80, 8192, 64, 8, 28672, 4096),
    };

    private static ModelSpec Llama(string name, int layers, int hidden, int heads, int kvHeads, int ffn, int context) =>
        new(name, layers, hidden, heads, kvHeads, ffn, 32000, context, MlpKind.SwiGlu, TiedEmbeddings: false);

    /// <summary>Preset names accepted by <see cref="Get"/>.</summary>
    public static IReadOnlyCollection<string> Names => Presets.Keys;

    /// <summary>Finds a preset by name; "gpt3-175b", "GPT-3-175B", "llama_65b" and "llama-2-70b" all work.</summary>
    public static bool TryGet(string name, out ModelSpec model)
    {
        string key = Normalize(name);
        foreach (var (presetName, spec) in Presets)
            if (Normalize(presetName) == key) { model = spec; return true; }
        model = null!;
        return false;
    }

    public static ModelSpec Get(string name) => TryGet(name, out var m) ? m
        : throw new PlannerInputException($"unknown model preset '{name}' (known: {string.Join(", ", Presets.Keys)}; or give a .gguf or config.json path)");

    private static string Normalize(string name) =>
        new(name.ToLowerInvariant().Where(char.IsLetterOrDigit).ToArray());
}
