using System.Text.Encodings.Web;
using System.Text.Json;

namespace SharpInfer.Kernels.Definitions;

/// <summary>A definition, workload, solution or trace file that does not parse or does not hold together.</summary>
public sealed class DefinitionFormatException(string message) : Exception(message);

/// <summary>
/// Reading and writing the FlashInfer Trace records. Field names are snake_case as in the dataset; definitions and
/// solutions are written indented (2 spaces), workload and trace lines as one compact line each.
/// </summary>
public static class TraceJson
{
    private static JsonSerializerOptions Make(bool indented) => new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = indented,
        IndentSize = 2,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, // keep the Python of "reference" readable
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
        AllowTrailingCommas = false,
        // A failed check can carry an infinite or NaN error; JSON numbers cannot hold them, so they are written (and
        // read back) as "Infinity" / "NaN" strings rather than failing the whole file.
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static JsonSerializerOptions Indented { get; } = Make(true);
    public static JsonSerializerOptions Compact { get; } = Make(false);

    /// <param name="source">Named in error messages (usually the file path).</param>
    public static Definition ReadDefinition(string json, string source = "<json>")
    {
        var definition = Deserialize<Definition>(json, source);
        if (DefinitionValidation.FirstProblem(definition) is { } problem)
            throw new DefinitionFormatException($"{source}: {problem.Path}: {problem.Message}");
        return definition;
    }

    public static string Write(Definition definition) => JsonSerializer.Serialize(definition, Indented);
    public static string Write(Solution solution) => JsonSerializer.Serialize(solution, Indented);
    public static Solution ReadSolution(string json, string source = "<json>") => Deserialize<Solution>(json, source);

    /// <summary>One jsonl line (a workload line of the dataset or a trace).</summary>
    public static Trace ReadTraceLine(string line, string source = "<json>") => Deserialize<Trace>(line, source);
    public static string WriteLine(Trace trace) => JsonSerializer.Serialize(trace, Compact);

    /// <summary>Every non-blank line of a .jsonl file; errors name the file and line number.</summary>
    public static IReadOnlyList<Trace> ReadTraceFile(string path)
    {
        var traces = new List<Trace>();
        int number = 0;
        foreach (string line in File.ReadLines(path))
        {
            number++;
            if (!string.IsNullOrWhiteSpace(line)) traces.Add(ReadTraceLine(line, $"{path}:{number}"));
        }
        return traces;
    }

    private static T Deserialize<T>(string json, string source)
    {
        try
        {
            return JsonSerializer.Deserialize<T>(json, Indented) ?? throw new DefinitionFormatException($"{source}: $: null instead of an object");
        }
        catch (JsonException e)
        {
            throw new DefinitionFormatException($"{source}: {e.Path ?? "$"}: {OneLine(e)}");
        }
    }

    /// <summary>System.Text.Json's message without its "Path: ... | LineNumber: ..." tail (the path is printed first), plus the line.</summary>
    private static string OneLine(JsonException e)
    {
        string message = e.Message;
        int cut = message.IndexOf(" Path: ", StringComparison.Ordinal);
        if (cut >= 0) message = message[..cut];
        message = message.ReplaceLineEndings(" ").Trim();
        return e.LineNumber is { } line ? $"{message} (line {line + 1})" : message;
    }
}

/// <summary>Checks what the JSON shape alone does not: axis types, const values, shape axis names, name clashes.</summary>
internal static class DefinitionValidation
{
    public static (string Path, string Message)? FirstProblem(Definition d)
    {
        if (string.IsNullOrWhiteSpace(d.Name)) return ("$.name", "empty name");
        if (string.IsNullOrWhiteSpace(d.OpType)) return ("$.op_type", "empty op_type");
        foreach (var (name, axis) in d.Axes)
        {
            if (axis.Type == AxisSpec.ConstType)
            {
                if (axis.Value is not { } v) return ($"$.axes.{name}", "const axis without a value");
                if (v < 0) return ($"$.axes.{name}.value", $"negative value {v}");
            }
            else if (axis.Type != AxisSpec.VarType) return ($"$.axes.{name}.type", $"'{axis.Type}' is neither 'const' nor 'var'");
        }
        foreach (var (section, tensors) in new[] { ("inputs", d.Inputs), ("outputs", d.Outputs) })
            foreach (var (name, tensor) in tensors)
            {
                if (string.IsNullOrWhiteSpace(tensor.Dtype)) return ($"$.{section}.{name}.dtype", "empty dtype");
                if (tensor.Shape is { } shape)
                    for (int i = 0; i < shape.Count; i++)
                        if (!d.Axes.ContainsKey(shape[i])) return ($"$.{section}.{name}.shape[{i}]", $"unknown axis '{shape[i]}'");
                if (section == "outputs" && d.Inputs.ContainsKey(name)) return ($"$.outputs.{name}", "name also used by an input");
            }
        return null;
    }
}
