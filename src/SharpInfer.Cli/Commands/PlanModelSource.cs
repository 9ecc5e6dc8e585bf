using SharpInfer.Planner;

namespace SharpInfer.Cli.Commands;

/// <summary>Resolves --model: a preset name, a GGUF file or a Hugging Face config.json (file or folder holding one).</summary>
public static class PlanModelSource
{
    public static ModelSpec Load(string modelArgument)
    {
        if (ModelPresets.TryGet(modelArgument, out var preset)) return preset;
        if (Directory.Exists(modelArgument) && File.Exists(Path.Combine(modelArgument, "config.json")))
            return ModelLoaders.FromHuggingFaceConfigFile(Path.Combine(modelArgument, "config.json"));
        if (File.Exists(modelArgument))
        {
            if (modelArgument.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase)) return ModelLoaders.FromGgufFile(modelArgument);
            if (modelArgument.EndsWith(".json", StringComparison.OrdinalIgnoreCase)) return ModelLoaders.FromHuggingFaceConfigFile(modelArgument);
            throw new PlannerInputException($"'{modelArgument}' is neither a .gguf file nor a config.json");
        }
        if (modelArgument.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase) || modelArgument.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
            throw new PlannerInputException($"model file '{modelArgument}' does not exist");
        return ModelPresets.Get(modelArgument); // throws the "unknown preset" message
    }
}
