using System.Text.Json;
using System.Text.Json.Serialization;

namespace SharpInfer.Kernels.Definitions;

/// <summary>
/// One line of <c>traces/&lt;author&gt;/&lt;op_type&gt;/&lt;def&gt;.jsonl</c>: a solution evaluated on a workload.
/// With <see cref="Solution"/> and <see cref="Evaluation"/> null it is a workload line of the dataset.
/// </summary>
public sealed record Trace
{
    [JsonPropertyOrder(0)] public required string Definition { get; init; }
    /// <summary>The solution's name, or null in a workload file.</summary>
    [JsonPropertyOrder(1)] public string? Solution { get; init; }
    [JsonPropertyOrder(2)] public required Workload Workload { get; init; }
    [JsonPropertyOrder(3)] public Evaluation? Evaluation { get; init; }
    [JsonExtensionData] public Dictionary<string, JsonElement>? Extra { get; init; }

    public bool Equals(Trace? other) => other is not null && Definition == other.Definition && Solution == other.Solution
        && Workload.Equals(other.Workload) && Equals(Evaluation, other.Evaluation) && JsonEquality.Extra(Extra, other.Extra);
    public override int GetHashCode() => HashCode.Combine(Definition, Solution);
}

/// <summary>
/// The result of one evaluation. PASSED carries correctness and performance; INCORRECT_NUMERICAL carries correctness
/// only; the other statuses neither.
/// </summary>
public sealed record Evaluation
{
    [JsonPropertyOrder(0)] public required EvaluationStatus Status { get; init; }
    [JsonPropertyOrder(1)] public required TraceEnvironment Environment { get; init; }
    /// <summary>ISO 8601.</summary>
    [JsonPropertyOrder(2)] public required string Timestamp { get; init; }
    [JsonPropertyOrder(3)] public string Log { get; init; } = "";
    [JsonPropertyOrder(4)] public Correctness? Correctness { get; init; }
    [JsonPropertyOrder(5)] public Performance? Performance { get; init; }
    [JsonExtensionData] public Dictionary<string, JsonElement>? Extra { get; init; }

    public bool Equals(Evaluation? other) => other is not null && Status == other.Status && Environment.Equals(other.Environment)
        && Timestamp == other.Timestamp && Log == other.Log && Equals(Correctness, other.Correctness)
        && Equals(Performance, other.Performance) && JsonEquality.Extra(Extra, other.Extra);
    public override int GetHashCode() => HashCode.Combine(Status, Timestamp);
}

[JsonConverter(typeof(JsonStringEnumConverter<EvaluationStatus>))]
public enum EvaluationStatus
{
    [JsonStringEnumMemberName("PASSED")] Passed,
    [JsonStringEnumMemberName("INCORRECT_SHAPE")] IncorrectShape,
    [JsonStringEnumMemberName("INCORRECT_NUMERICAL")] IncorrectNumerical,
    [JsonStringEnumMemberName("INCORRECT_DTYPE")] IncorrectDtype,
    [JsonStringEnumMemberName("RUNTIME_ERROR")] RuntimeError,
    [JsonStringEnumMemberName("COMPILE_ERROR")] CompileError,
    [JsonStringEnumMemberName("TIMEOUT")] Timeout,
}

/// <summary>Where the evaluation ran: <c>hardware</c> (a description of the device) and <c>libs</c> (name -> version).</summary>
public sealed record TraceEnvironment
{
    [JsonPropertyOrder(0)] public required string Hardware { get; init; }
    [JsonPropertyOrder(1)] public OrderedDictionary<string, string> Libs { get; init; } = [];
    [JsonExtensionData] public Dictionary<string, JsonElement>? Extra { get; init; }

    public bool Equals(TraceEnvironment? other) => other is not null && Hardware == other.Hardware && JsonEquality.Map(Libs, other.Libs) && JsonEquality.Extra(Extra, other.Extra);
    public override int GetHashCode() => Hardware.GetHashCode();
}

public sealed record Correctness
{
    [JsonPropertyOrder(0)] public required double MaxRelativeError { get; init; }
    [JsonPropertyOrder(1)] public required double MaxAbsoluteError { get; init; }
    /// <summary>Anything else the checker reports (free-form object).</summary>
    [JsonPropertyOrder(2), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public JsonElement? Extra { get; init; }

    public bool Equals(Correctness? other) => other is not null && MaxRelativeError.Equals(other.MaxRelativeError) && MaxAbsoluteError.Equals(other.MaxAbsoluteError)
        && (Extra is null ? other.Extra is null : other.Extra is not null && JsonElement.DeepEquals(Extra.Value, other.Extra.Value));
    public override int GetHashCode() => HashCode.Combine(MaxRelativeError, MaxAbsoluteError);
}

/// <summary>Latencies in milliseconds; <c>speedup_factor</c> = reference latency / latency.</summary>
public sealed record Performance
{
    [JsonPropertyOrder(0)] public required double LatencyMs { get; init; }
    [JsonPropertyOrder(1)] public required double ReferenceLatencyMs { get; init; }
    [JsonPropertyOrder(2)] public required double SpeedupFactor { get; init; }
    /// <summary>Fields beyond the schema (SharpInfer writes bandwidth figures here), kept on read.</summary>
    [JsonExtensionData] public Dictionary<string, JsonElement>? Extra { get; init; }

    public bool Equals(Performance? other) => other is not null && LatencyMs.Equals(other.LatencyMs) && ReferenceLatencyMs.Equals(other.ReferenceLatencyMs)
        && SpeedupFactor.Equals(other.SpeedupFactor) && JsonEquality.Extra(Extra, other.Extra);
    public override int GetHashCode() => HashCode.Combine(LatencyMs, SpeedupFactor);
}
