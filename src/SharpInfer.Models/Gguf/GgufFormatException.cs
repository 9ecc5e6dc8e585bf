using System.Text;

namespace SharpInfer.Models.Gguf;

/// <summary>
/// A GGUF file that cannot be used as it is. The message is one line naming the file, the offset or field and the
/// problem, fit to show a user as it is (control characters from corrupt names are escaped).
/// </summary>
public sealed class GgufFormatException(string message) : Exception(OneLine(message))
{
    public static GgufFormatException At(string file, long offset, string field, string problem) =>
        new($"{file}: offset {offset}: {field}: {problem}");

    public static GgufFormatException InField(string file, string field, string problem) =>
        new($"{file}: {field}: {problem}");

    private static string OneLine(string message)
    {
        var sb = new StringBuilder(Math.Min(message.Length, 600));
        foreach (char c in message)
        {
            if (sb.Length >= 600) { sb.Append('…'); break; }
            if (char.IsControl(c)) sb.Append($"\\u{(int)c:X4}"); else sb.Append(c);
        }
        return sb.ToString();
    }
}
