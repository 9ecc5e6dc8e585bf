using System.Text.Json;
using System.Text.Json.Serialization;

namespace SharpInfer.Kernels.Definitions;

/// <summary>
/// A FlashInfer Trace definition (<c>definitions/&lt;op_type&gt;/&lt;name&gt;.json</c>): what an operator computes,
/// independent of any implementation. Properties mirror the JSON field for field (snake_case on disk); the order of
/// axes, inputs and outputs is kept; fields this type does not know are kept in <see cref="Extra"/> and written back.
/// Equality is semantic: two definitions read from equivalent JSON are equal.
/// </summary>
public sealed record Definition
{
    [JsonPropertyOrder(0)] public required string Name { get; init; }
    [JsonPropertyOrder(1), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Description { get; init; }
    /// <summary>Free string: gemm, gqa_paged, gqa_ragged, rmsnorm, rope, sampling, moe, mla_paged, ...</summary>
    [JsonPropertyOrder(2)] public required string OpType { get; init; }
    [JsonPropertyOrder(3)] public IReadOnlyList<string> Tags { get; init; } = [];
    /// <summary>Axis name -> const (with value) or var (inferred from the input shapes).</summary>
    [JsonPropertyOrder(4)] public required OrderedDictionary<string, AxisSpec> Axes { get; init; }
    /// <summary>Expression strings (Python syntax) relating axes and inputs; null when the file has none.</summary>
    [JsonPropertyOrder(5), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public IReadOnlyList<string>? Constraints { get; init; }
    /// <summary>Ordered: the order is the reference's argument order.</summary>
    [JsonPropertyOrder(6)] public required OrderedDictionary<string, TensorSpec> Inputs { get; init; }
    [JsonPropertyOrder(7)] public required OrderedDictionary<string, TensorSpec> Outputs { get; init; }
    /// <summary>Source text of the reference <c>run</c> (Python in the public dataset).</summary>
    [JsonPropertyOrder(8)] public required string Reference { get; init; }
    [JsonExtensionData] public Dictionary<string, JsonElement>? Extra { get; init; }

    /// <summary>Value of a const axis; throws when the axis is absent or var.</summary>
    public long Const(string axis) => Axes.TryGetValue(axis, out var a) && a.Type == AxisSpec.ConstType && a.Value is { } v
        ? v : throw new KeyNotFoundException($"definition {Name} has no const axis '{axis}'");

    public bool Equals(Definition? other) => other is not null && Name == other.Name && Description == other.Description
        && OpType == other.OpType && Tags.SequenceEqual(other.Tags) && JsonEquality.Map(Axes, other.Axes)
        && JsonEquality.List(Constraints, other.Constraints) && JsonEquality.Map(Inputs, other.Inputs)
        && JsonEquality.Map(Outputs, other.Outputs) && Reference == other.Reference && JsonEquality.Extra(Extra, other.Extra);

    public override int GetHashCode() => HashCode.Combine(Name, OpType, Axes.Count, Inputs.Count, Outputs.Count);

    /// <summary>
    /// Same signature: op_type, axes (type and value, in any order), constraints, and inputs/outputs (names in order,
    /// shapes, dtypes). Descriptions, tags and reference text are ignored: they name the model a definition was
    /// captured from, not what it computes.
    /// </summary>
    public bool SameSignature(Definition other)
    {
        if (OpType != other.OpType || Axes.Count != other.Axes.Count) return false;
        foreach (var (name, axis) in Axes)
            if (!other.Axes.TryGetValue(name, out var o) || o.Type != axis.Type || o.Value != axis.Value) return false;
        static bool Tensors(OrderedDictionary<string, TensorSpec> a, OrderedDictionary<string, TensorSpec> b) =>
            a.Count == b.Count && a.Zip(b).All(p => p.First.Key == p.Second.Key && JsonEquality.List(p.First.Value.Shape, p.Second.Value.Shape) && p.First.Value.Dtype == p.Second.Value.Dtype);
        return JsonEquality.List(Constraints ?? [], other.Constraints ?? []) && Tensors(Inputs, other.Inputs) && Tensors(Outputs, other.Outputs);
    }
}

/// <summary>One axis: <c>{"type":"const","value":N}</c> or <c>{"type":"var"}</c>.</summary>
public sealed record AxisSpec
{
    public const string ConstType = "const";
    public const string VarType = "var";

    [JsonPropertyOrder(0)] public required string Type { get; init; }
    [JsonPropertyOrder(1), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public long? Value { get; init; }
    [JsonPropertyOrder(2), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Description { get; init; }
    [JsonExtensionData] public Dictionary<string, JsonElement>? Extra { get; init; }

    public static AxisSpec Const(long value, string? description = null) => new() { Type = ConstType, Value = value, Description = description };
    public static AxisSpec Var(string? description = null) => new() { Type = VarType, Description = description };

    public bool Equals(AxisSpec? other) => other is not null && Type == other.Type && Value == other.Value
        && Description == other.Description && JsonEquality.Extra(Extra, other.Extra);
    public override int GetHashCode() => HashCode.Combine(Type, Value);
}

/// <summary>
/// One input or output tensor: <c>shape</c> lists axis names (null = a scalar, [] = a 0-d tensor), <c>dtype</c> is one
/// of <see cref="DType"/>'s names (kept as a string, so unknown dtypes still load).
/// </summary>
public sealed record TensorSpec
{
    [JsonPropertyOrder(0)] public required IReadOnlyList<string>? Shape { get; init; }
    [JsonPropertyOrder(1)] public required string Dtype { get; init; }
    [JsonPropertyOrder(2), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Description { get; init; }
    /// <summary>Present in some definitions (gdn): the tensor may be passed as None.</summary>
    [JsonPropertyOrder(3), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public bool? Optional { get; init; }
    [JsonExtensionData] public Dictionary<string, JsonElement>? Extra { get; init; }

    public static TensorSpec Of(string dtype, params string[] shape) => new() { Shape = shape, Dtype = dtype };
    public static TensorSpec Scalar(string dtype, string? description = null) => new() { Shape = null, Dtype = dtype, Description = description };

    public bool Equals(TensorSpec? other) => other is not null && JsonEquality.List(Shape, other.Shape) && Dtype == other.Dtype
        && Description == other.Description && Optional == other.Optional && JsonEquality.Extra(Extra, other.Extra);
    public override int GetHashCode() => HashCode.Combine(Dtype, Shape?.Count);
}

/// <summary>The dtype names of FlashInfer Trace.</summary>
public static class DType
{
    public const string Float32 = "float32", Float16 = "float16", BFloat16 = "bfloat16", Float8E4M3 = "float8_e4m3fn",
        Float8E5M2 = "float8_e5m2", Float4E2M1 = "float4_e2m1", Int64 = "int64", Int32 = "int32", Int16 = "int16", Int8 = "int8", Bool = "bool";

    public static readonly IReadOnlyList<string> All = [Float32, Float16, BFloat16, Float8E4M3, Float8E5M2, Float4E2M1, Int64, Int32, Int16, Int8, Bool];
}

/// <summary>Semantic equality of the collections in the trace records (records compare lists by reference).</summary>
internal static class JsonEquality
{
    public static bool List<T>(IReadOnlyList<T>? a, IReadOnlyList<T>? b) => a is null ? b is null : b is not null && a.SequenceEqual(b);

    public static bool Map<TValue>(IReadOnlyDictionary<string, TValue>? a, IReadOnlyDictionary<string, TValue>? b)
    {
        if (a is null || b is null) return a is null && b is null;
        return a.Count == b.Count && a.Zip(b).All(p => p.First.Key == p.Second.Key && EqualityComparer<TValue>.Default.Equals(p.First.Value, p.Second.Value));
    }

    public static bool Extra(IReadOnlyDictionary<string, JsonElement>? a, IReadOnlyDictionary<string, JsonElement>? b)
    {
        int ca = a?.Count ?? 0, cb = b?.Count ?? 0;
        if (ca != cb) return false;
        if (ca == 0) return true;
        foreach (var (k, v) in a!)
            if (!b!.TryGetValue(k, out var w) || !JsonElement.DeepEquals(v, w)) return false;
        return true;
    }
}
