using System.Text.Json;
using System.Text.Json.Serialization;

namespace SharpInfer.Kernels.Definitions;

/// <summary>
/// An implementation of a definition (<c>solutions/&lt;author&gt;/&lt;op_type&gt;/&lt;def&gt;/&lt;name&gt;.json</c>):
/// its sources and how to build and call them. SharpInfer's own solutions are compiled in (see
/// <c>SharpInfer.Kernels.Dispatch.KernelRegistry</c>); this record is for reading and writing the files.
/// </summary>
public sealed record Solution
{
    [JsonPropertyOrder(0)] public required string Name { get; init; }
    [JsonPropertyOrder(1)] public required string Definition { get; init; }
    [JsonPropertyOrder(2)] public required string Author { get; init; }
    [JsonPropertyOrder(3), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Description { get; init; }
    [JsonPropertyOrder(4)] public required SolutionSpec Spec { get; init; }
    [JsonPropertyOrder(5)] public IReadOnlyList<SourceFile> Sources { get; init; } = [];
    [JsonExtensionData] public Dictionary<string, JsonElement>? Extra { get; init; }

    public bool Equals(Solution? other) => other is not null && Name == other.Name && Definition == other.Definition && Author == other.Author
        && Description == other.Description && Spec.Equals(other.Spec) && Sources.SequenceEqual(other.Sources) && JsonEquality.Extra(Extra, other.Extra);
    public override int GetHashCode() => HashCode.Combine(Name, Definition, Author);
}

public sealed record SolutionSpec
{
    [JsonPropertyOrder(0)] public required string Language { get; init; }
    [JsonPropertyOrder(1)] public IReadOnlyList<string> TargetHardware { get; init; } = [];
    /// <summary>"file::function".</summary>
    [JsonPropertyOrder(2)] public required string EntryPoint { get; init; }
    [JsonPropertyOrder(3)] public IReadOnlyList<string> Dependencies { get; init; } = [];
    [JsonPropertyOrder(4)] public bool DestinationPassingStyle { get; init; } = true;
    [JsonExtensionData] public Dictionary<string, JsonElement>? Extra { get; init; }

    public bool Equals(SolutionSpec? other) => other is not null && Language == other.Language && TargetHardware.SequenceEqual(other.TargetHardware)
        && EntryPoint == other.EntryPoint && Dependencies.SequenceEqual(other.Dependencies)
        && DestinationPassingStyle == other.DestinationPassingStyle && JsonEquality.Extra(Extra, other.Extra);
    public override int GetHashCode() => HashCode.Combine(Language, EntryPoint);
}

/// <summary>One source file: a relative path (no "..") and its text.</summary>
public sealed record SourceFile(string Path, string Content);
