using System.Text.Json;
using System.Text.Json.Serialization;

namespace SharpInfer.Kernels.Definitions;

/// <summary>
/// One concrete call of a definition: the values of its var axes and where each input comes from. In the dataset a
/// workload is the <c>workload</c> field of one line of <c>workloads/&lt;op_type&gt;/&lt;def&gt;.jsonl</c>, a
/// <see cref="Trace"/> whose solution and evaluation are null.
/// </summary>
public sealed record Workload
{
    [JsonPropertyOrder(0), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Uuid { get; init; }
    /// <summary>Var axis name -> value.</summary>
    [JsonPropertyOrder(1)] public OrderedDictionary<string, long> Axes { get; init; } = [];
    /// <summary>Input name -> how to produce it.</summary>
    [JsonPropertyOrder(2)] public OrderedDictionary<string, WorkloadInput> Inputs { get; init; } = [];
    [JsonExtensionData] public Dictionary<string, JsonElement>? Extra { get; init; }

    public bool Equals(Workload? other) => other is not null && Uuid == other.Uuid && JsonEquality.Map(Axes, other.Axes)
        && JsonEquality.Map(Inputs, other.Inputs) && JsonEquality.Extra(Extra, other.Extra);
    public override int GetHashCode() => HashCode.Combine(Uuid, Axes.Count);
}

/// <summary><c>{"type":"random"}</c> | <c>{"type":"scalar","value":x}</c> | <c>{"type":"safetensors","path":...,"tensor_key":...}</c>.</summary>
public sealed record WorkloadInput
{
    public const string RandomType = "random", ScalarType = "scalar", SafetensorsType = "safetensors";

    [JsonPropertyOrder(0)] public required string Type { get; init; }
    /// <summary>The scalar's value (a number or a bool) when Type is "scalar".</summary>
    [JsonPropertyOrder(1), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public JsonElement? Value { get; init; }
    /// <summary>Blob path relative to the dataset root when Type is "safetensors".</summary>
    [JsonPropertyOrder(2), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Path { get; init; }
    [JsonPropertyOrder(3), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? TensorKey { get; init; }
    [JsonExtensionData] public Dictionary<string, JsonElement>? Extra { get; init; }

    public static WorkloadInput Random { get; } = new() { Type = RandomType };
    public static WorkloadInput Scalar(double value) => new() { Type = ScalarType, Value = JsonSerializer.SerializeToElement(value) };

    public bool Equals(WorkloadInput? other) => other is not null && Type == other.Type && Path == other.Path && TensorKey == other.TensorKey
        && (Value is null ? other.Value is null : other.Value is not null && JsonElement.DeepEquals(Value.Value, other.Value.Value))
        && JsonEquality.Extra(Extra, other.Extra);
    public override int GetHashCode() => HashCode.Combine(Type, Path, TensorKey);
}
