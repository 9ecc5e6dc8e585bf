using System.Globalization;
using System.Text;

namespace SharpInfer.Models.Chat;

internal enum TokenKind
{
    Text,
    OutputBegin,     // {{
    OutputEnd,       // }}
    StatementBegin,  // {%
    StatementEnd,    // %}
    Name,
    String,
    Integer,
    Float,
    Operator,
    EndOfInput,
}

/// <summary>One lexical token; <see cref="Offset"/> is where it starts in the template source, for error positions.</summary>
internal readonly record struct Token(TokenKind Kind, string Value, int Offset)
{
    public bool Is(TokenKind kind, string value) => Kind == kind && Value == value;
    public bool IsOperator(string value) => Is(TokenKind.Operator, value);
    public bool IsName(string value) => Is(TokenKind.Name, value);
}

/// <summary>
/// Splits a template into text and tag tokens, applying whitespace control as it goes: "{%-"/"-%}" (and the
/// "{{"/"{#" forms) strip all whitespace on that side, and — because Hugging Face renders chat templates with
/// trim_blocks and lstrip_blocks on — a block or comment tag also eats the one newline after it and the spaces
/// and tabs before it on its own line ("{%+" opts out of the latter, "+%}" of the former).
/// Expressions inside tags are tokenized in the same pass, so a "}}" inside a string literal does not end a tag.
/// </summary>
internal sealed class TemplateLexer
{
    private readonly string _source;
    private readonly List<Token> _tokens = [];
    private int _position;

    private TemplateLexer(string source) => _source = source;

    public static List<Token> Tokenize(string source)
    {
        var lexer = new TemplateLexer(source);
        lexer.Run();
        return lexer._tokens;
    }

    private ChatTemplateException Error(int offset, string problem) => new(_source, offset, problem);

    private void Run()
    {
        bool stripLeadingWhitespace = false; // previous tag ended with "-"
        bool trimLeadingNewline = false;     // previous tag was a block or comment (trim_blocks)
        bool textStartsLine = true;          // the text about to be read starts at the beginning of a line

        while (_position <= _source.Length)
        {
            int tagStart = FindTagStart(_position);
            int textEnd = tagStart < 0 ? _source.Length : tagStart;
            int textStart = _position;

            if (stripLeadingWhitespace)
            {
                while (textStart < textEnd && char.IsWhiteSpace(_source[textStart])) textStart++;
            }
            else if (trimLeadingNewline)
            {
                if (textStart < textEnd && _source[textStart] == '\n') textStart++;
                else if (textStart + 1 < textEnd && _source[textStart] == '\r' && _source[textStart + 1] == '\n') textStart += 2;
            }
            if (textStart > _position) textStartsLine = _source[textStart - 1] == '\n';

            if (tagStart >= 0)
            {
                char kind = _source[tagStart + 1];
                char modifier = tagStart + 2 < _source.Length ? _source[tagStart + 2] : '\0';
                if (modifier == '-')
                {
                    while (textEnd > textStart && char.IsWhiteSpace(_source[textEnd - 1])) textEnd--;
                }
                else if (kind != '{' && modifier != '+')
                {
                    // lstrip_blocks: drop the spaces and tabs between the start of the line and a block or comment tag.
                    int lineStart = textEnd;
                    while (lineStart > textStart && _source[lineStart - 1] is ' ' or '\t') lineStart--;
                    bool atLineStart = lineStart > textStart ? _source[lineStart - 1] == '\n' : textStartsLine;
                    if (atLineStart) textEnd = lineStart;
                }
            }

            if (textEnd > textStart) _tokens.Add(new Token(TokenKind.Text, _source[textStart..textEnd], textStart));
            if (tagStart < 0) break;

            (stripLeadingWhitespace, trimLeadingNewline) = ReadTag(tagStart);
            textStartsLine = false;
        }
        _tokens.Add(new Token(TokenKind.EndOfInput, "", _source.Length));
    }

    private int FindTagStart(int from)
    {
        for (int i = _source.IndexOf('{', from); i >= 0 && i + 1 < _source.Length; i = _source.IndexOf('{', i + 1))
        {
            if (_source[i + 1] is '{' or '%' or '#') return i;
        }
        return -1;
    }

    /// <summary>Reads one tag starting at <paramref name="tagStart"/>; returns how the text after it must be trimmed.</summary>
    private (bool StripWhitespace, bool TrimNewline) ReadTag(int tagStart)
    {
        char kind = _source[tagStart + 1];
        _position = tagStart + 2;
        if (_position < _source.Length && _source[_position] is '-' or '+') _position++;

        if (kind == '#')
        {
            int end = _source.IndexOf("#}", _position, StringComparison.Ordinal);
            if (end < 0) throw Error(tagStart, "comment '{#' is never closed with '#}'");
            bool dash = end > _position && _source[end - 1] == '-';
            _position = end + 2;
            return (dash, !dash);
        }

        bool isOutput = kind == '{';
        _tokens.Add(new Token(isOutput ? TokenKind.OutputBegin : TokenKind.StatementBegin, isOutput ? "{{" : "{%", tagStart));
        int bracketDepth = 0;
        while (true)
        {
            while (_position < _source.Length && char.IsWhiteSpace(_source[_position])) _position++;
            if (_position >= _source.Length)
                throw Error(tagStart, $"tag '{(isOutput ? "{{" : "{%")}' is never closed with '{(isOutput ? "}}" : "%}")}'");

            // A "-" or "+" right before the closing delimiter is whitespace control, not an operator.
            char c = _source[_position];
            int closeAt = c is '-' or '+' ? _position + 1 : _position;
            bool closes = isOutput
                ? bracketDepth == 0 && At(closeAt, "}}")
                : At(closeAt, "%}");
            if (closes && (closeAt == _position || c == '-' || !isOutput))
            {
                _tokens.Add(new Token(isOutput ? TokenKind.OutputEnd : TokenKind.StatementEnd, isOutput ? "}}" : "%}", _position));
                _position = closeAt + 2;
                bool dash = c == '-';
                bool plus = c == '+';
                return (dash, !isOutput && !dash && !plus);
            }
            ReadExpressionToken(ref bracketDepth);
        }
    }

    private bool At(int index, string text) =>
        index >= 0 && index + text.Length <= _source.Length && string.CompareOrdinal(_source, index, text, 0, text.Length) == 0;

    private static readonly string[] TwoCharOperators = ["//", "**", "==", "!=", "<=", ">="];
    private const string OneCharOperators = "+-*/%~<>=()[]{},.:|";

    private void ReadExpressionToken(ref int bracketDepth)
    {
        int start = _position;
        char c = _source[start];
        if (char.IsAsciiLetter(c) || c == '_')
        {
            while (_position < _source.Length && (char.IsAsciiLetterOrDigit(_source[_position]) || _source[_position] == '_')) _position++;
            _tokens.Add(new Token(TokenKind.Name, _source[start.._position], start));
            return;
        }
        if (char.IsAsciiDigit(c))
        {
            ReadNumber(start);
            return;
        }
        if (c is '\'' or '"')
        {
            _tokens.Add(new Token(TokenKind.String, ReadString(start, c), start));
            return;
        }
        foreach (var op in TwoCharOperators)
        {
            if (At(start, op))
            {
                _position += 2;
                _tokens.Add(new Token(TokenKind.Operator, op, start));
                return;
            }
        }
        if (OneCharOperators.Contains(c))
        {
            if (c is '(' or '[' or '{') bracketDepth++;
            else if (c is ')' or ']' or '}') bracketDepth = Math.Max(0, bracketDepth - 1);
            _position++;
            _tokens.Add(new Token(TokenKind.Operator, c.ToString(), start));
            return;
        }
        throw Error(start, $"unexpected character '{c}' in expression");
    }

    private void ReadNumber(int start)
    {
        while (_position < _source.Length && (char.IsAsciiDigit(_source[_position]) || _source[_position] == '_')) _position++;
        bool isFloat = false;
        if (_position + 1 < _source.Length && _source[_position] == '.' && char.IsAsciiDigit(_source[_position + 1]))
        {
            isFloat = true;
            _position++;
            while (_position < _source.Length && (char.IsAsciiDigit(_source[_position]) || _source[_position] == '_')) _position++;
        }
        if (_position < _source.Length && _source[_position] is 'e' or 'E')
        {
            int exponent = _position + 1;
            if (exponent < _source.Length && _source[exponent] is '+' or '-') exponent++;
            if (exponent < _source.Length && char.IsAsciiDigit(_source[exponent]))
            {
                isFloat = true;
                _position = exponent;
                while (_position < _source.Length && char.IsAsciiDigit(_source[_position])) _position++;
            }
        }
        var text = _source[start.._position].Replace("_", "");
        if (isFloat)
        {
            if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out _)) throw Error(start, $"bad number '{text}'");
            _tokens.Add(new Token(TokenKind.Float, text, start));
        }
        else
        {
            if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out _)) throw Error(start, $"integer '{text}' is too large");
            _tokens.Add(new Token(TokenKind.Integer, text, start));
        }
    }

    /// <summary>Reads a quoted literal with Python's escapes; an unknown escape keeps its backslash, as Python does.</summary>
    private string ReadString(int start, char quote)
    {
        var text = new StringBuilder();
        _position = start + 1;
        while (true)
        {
            if (_position >= _source.Length) throw Error(start, "string literal is never closed");
            char c = _source[_position++];
            if (c == quote) return text.ToString();
            if (c != '\\')
            {
                text.Append(c);
                continue;
            }
            if (_position >= _source.Length) throw Error(start, "string literal is never closed");
            char escaped = _source[_position++];
            switch (escaped)
            {
                case 'n': text.Append('\n'); break;
                case 't': text.Append('\t'); break;
                case 'r': text.Append('\r'); break;
                case '0': text.Append('\0'); break;
                case 'b': text.Append('\b'); break;
                case 'f': text.Append('\f'); break;
                case 'v': text.Append('\v'); break;
                case 'a': text.Append('\a'); break;
                case '\\': case '\'': case '"': text.Append(escaped); break;
                case '\n': break; // a backslash-newline continues the literal on the next line
                case 'x': text.Append(ReadHexEscape(2)); break;
                case 'u': text.Append(ReadHexEscape(4)); break;
                case 'U': text.Append(ReadHexEscape(8)); break;
                default: text.Append('\\').Append(escaped); break;
            }
        }
    }

    private string ReadHexEscape(int digits)
    {
        int start = _position;
        if (start + digits > _source.Length
            || !int.TryParse(_source.AsSpan(start, digits), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out int codePoint)
            || codePoint > 0x10FFFF || codePoint is >= 0xD800 and <= 0xDFFF)
        {
            throw Error(start - 2, $"bad \\{_source[start - 1]} escape in string literal");
        }
        _position += digits;
        return char.ConvertFromUtf32(codePoint);
    }
}
