namespace SharpInfer.Models.Gguf;

/// <summary>
/// A GGUF file that cannot be used as it is. The message is one line naming the file, the offset or field and the
/// problem, fit to show a user as it is.
/// </summary>
public sealed class GgufFormatException(string message) : Exception(message)
{
    public static GgufFormatException At(string file, long offset, string field, string problem) =>
        new($"{file}: offset {offset}: {field}: {problem}");

    public static GgufFormatException InField(string file, string field, string problem) =>
        new($"{file}: {field}: {problem}");
}
