namespace SharpInfer.Models.Chat;

/// <summary>
/// A chat template that cannot be parsed or rendered. The message is one line, "chat template LINE:COLUMN: what is wrong",
/// where LINE:COLUMN (1-based) points into the template source, so a server can log it next to the model's name.
/// </summary>
public sealed class ChatTemplateException : Exception
{
    internal ChatTemplateException(string source, int offset, string problem)
        : base(Format(source, offset, problem))
    {
        (Line, Column) = Locate(source, offset);
    }

    /// <summary>1-based line of the template source the problem is at.</summary>
    public int Line { get; }

    /// <summary>1-based column (in UTF-16 characters) of the template source the problem is at.</summary>
    public int Column { get; }

    private static string Format(string source, int offset, string problem)
    {
        var (line, column) = Locate(source, offset);
        // Template-supplied text (raise_exception messages, quoted names) may hold newlines; the message must stay one line.
        var oneLine = problem.Replace("\r\n", " ").Replace('\n', ' ').Replace('\r', ' ');
        return $"chat template {line}:{column}: {oneLine}";
    }

    internal static (int Line, int Column) Locate(string source, int offset)
    {
        offset = Math.Clamp(offset, 0, source.Length);
        int line = 1, lineStart = 0;
        for (int i = 0; i < offset; i++)
        {
            if (source[i] == '\n') { line++; lineStart = i + 1; }
        }
        return (line, offset - lineStart + 1);
    }
}
