using System.CommandLine;
using SharpInfer.Kernels.Quantization;
using SharpInfer.Models.Synthetic;

namespace SharpInfer.Cli.Commands;

/// <summary>`sharpinfer create-model`: writes a random-weight GGUF of a real model's shape, for speed work.</summary>
public static class CreateModelCommand
{
    public static Command Create()
    {
        var shape = new Option<string>("--shape") { Description = $"One of: {string.Join(", ", ModelShape.Presets.Keys)}", DefaultValueFactory = _ => "smollm2-135m" };
        var type = new Option<string>("--type") { Description = "Weight type: f32, f16, bf16, q8_0, q4_0, q4_k, q6_k", DefaultValueFactory = _ => "q8_0" };
        var output = new Option<string>("--output", "-o") { Description = "Where to write the .gguf file", Required = true };
        var seed = new Option<int>("--seed") { Description = "Seed of the random weights", DefaultValueFactory = _ => 1234 };
        var command = new Command("create-model", "Write a random-weight GGUF model of a real shape (for benchmarks)") { shape, type, output, seed };
        command.SetAction(parse =>
        {
            string shapeName = parse.GetValue(shape)!;
            if (!ModelShape.Presets.TryGetValue(shapeName, out var s))
                throw new CliInputException($"--shape '{shapeName}' is unknown (known: {string.Join(", ", ModelShape.Presets.Keys)})");
            var t = ParseType(parse.GetValue(type)!);
            string path = parse.GetValue(output)!;
            try { RandomModelWriter.Write(path, s, t, parse.GetValue(seed)); }
            catch (ArgumentException e) { throw new CliInputException($"cannot write {s.Name} in {t}: {e.Message}"); }
            parse.InvocationConfiguration.Output.WriteLine($"wrote {path}: {s.Name} ({s.ParameterCount:N0} parameters) in {t}, {new FileInfo(path).Length:N0} bytes");
            return CliRunner.Ok;
        });
        return command;
    }

    public static GgmlType ParseType(string name) => name.ToLowerInvariant() switch
    {
        "f32" => GgmlType.F32, "f16" => GgmlType.F16, "bf16" => GgmlType.BF16, "q8_0" => GgmlType.Q8_0,
        "q4_0" => GgmlType.Q4_0, "q4_k" => GgmlType.Q4_K, "q6_k" => GgmlType.Q6_K,
        _ => throw new CliInputException($"--type '{name}' is unknown (f32, f16, bf16, q8_0, q4_0, q4_k, q6_k)"),
    };
}
