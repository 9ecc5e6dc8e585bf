using System.Globalization;
using System.Text;

namespace SharpInfer.Models.Chat;

// Template values are plain CLR objects shaped like the Python values Jinja works on:
//   null = None, bool, long = int, double = float, string = str, List<object?> = list (and tuple),
//   Dictionary<string, object?> = dict (insertion-ordered, like Python's), plus the types below.

/// <summary>Jinja's Undefined: the value of a missing variable, attribute or item. Falsy, renders as "".</summary>
internal sealed class Undefined(string description)
{
    /// <summary>What was looked up, for the error raised when an undefined value is used as an object.</summary>
    public string Description { get; } = description;
}

/// <summary>The object <c>namespace(...)</c> returns: the one value a loop body can assign into and have it stick.</summary>
internal sealed class TemplateNamespace
{
    public Dictionary<string, object?> Attributes { get; } = new(StringComparer.Ordinal);
}

/// <summary>A function or bound method a template can call.</summary>
internal sealed class TemplateCallable(string name, Func<CallArguments, object?> invoke)
{
    public string Name { get; } = name;
    public object? Invoke(CallArguments arguments) => invoke(arguments);
}

/// <summary>Evaluated call arguments plus what is needed to report a bad call against the template source.</summary>
internal sealed class CallArguments(string function, List<object?> positional, Dictionary<string, object?> named, TemplateRenderer renderer, int offset)
{
    public string Function { get; } = function;
    public List<object?> Positional { get; } = positional;
    public Dictionary<string, object?> Named { get; } = named;
    public TemplateRenderer Renderer { get; } = renderer;
    public int Offset { get; } = offset;

    public ChatTemplateException Error(string problem) => Renderer.Error(Offset, problem);

    /// <summary>The argument at <paramref name="position"/> or named <paramref name="name"/>, else <paramref name="fallback"/>.</summary>
    public object? Get(int position, string name, object? fallback = null)
    {
        if (position < Positional.Count) return Positional[position];
        return Named.TryGetValue(name, out var value) ? value : fallback;
    }

    public object? Required(int position, string name) =>
        position < Positional.Count || Named.ContainsKey(name) ? Get(position, name) : throw Error($"{Function}() is missing argument '{name}'");

    public void AtMost(int count)
    {
        if (Positional.Count > count) throw Error($"{Function}() takes at most {count} positional argument{(count == 1 ? "" : "s")}, got {Positional.Count}");
    }
}

/// <summary>Python semantics for the values above: truth, str(), repr(), ==, ordering and JSON.</summary>
internal static class TemplateValues
{
    public static bool IsTrue(object? value) => value switch
    {
        null or Undefined => false,
        bool b => b,
        long l => l != 0,
        double d => d != 0,
        string s => s.Length > 0,
        List<object?> list => list.Count > 0,
        Dictionary<string, object?> dict => dict.Count > 0,
        _ => true,
    };

    public static string TypeName(object? value) => value switch
    {
        null => "NoneType",
        Undefined => "undefined",
        bool => "bool",
        long => "int",
        double => "float",
        string => "str",
        List<object?> => "list",
        Dictionary<string, object?> => "dict",
        TemplateNamespace => "Namespace",
        LoopContext => "LoopContext",
        TemplateCallable => "function",
        _ => value.GetType().Name,
    };

    public static bool IsNumber(object? value) => value is long or double or bool;

    /// <summary>Python's str(): what "{{ value }}" and "~" print.</summary>
    public static string ToStr(object? value) => value switch
    {
        string s => s,
        Undefined => "",
        _ => Repr(value),
    };

    public static string Repr(object? value)
    {
        var text = new StringBuilder();
        AppendRepr(text, value, 0);
        return text.ToString();
    }

    private static void AppendRepr(StringBuilder text, object? value, int depth)
    {
        if (depth > 64)
        {
            // A template can nest lists without bound ("set x = [x]" in a loop); past any sane depth, elide like Python's [...].
            text.Append("...");
            return;
        }
        switch (value)
        {
            case null: text.Append("None"); break;
            case Undefined: break;
            case bool b: text.Append(b ? "True" : "False"); break;
            case long l: text.Append(l.ToString(CultureInfo.InvariantCulture)); break;
            case double d: text.Append(FormatFloat(d)); break;
            case string s: AppendQuoted(text, s); break;
            case List<object?> list:
                text.Append('[');
                for (int i = 0; i < list.Count; i++)
                {
                    if (i > 0) text.Append(", ");
                    AppendRepr(text, list[i], depth + 1);
                }
                text.Append(']');
                break;
            case Dictionary<string, object?> dict:
                text.Append('{');
                bool first = true;
                foreach (var (key, item) in dict)
                {
                    if (!first) text.Append(", ");
                    first = false;
                    AppendQuoted(text, key);
                    text.Append(": ");
                    AppendRepr(text, item, depth + 1);
                }
                text.Append('}');
                break;
            case TemplateNamespace: text.Append("<Namespace>"); break;
            case TemplateCallable callable: text.Append("<function ").Append(callable.Name).Append('>'); break;
            default: text.Append('<').Append(TypeName(value)).Append('>'); break;
        }
    }

    /// <summary>Python's repr of a str: single quotes unless the text holds one and no double quote.</summary>
    private static void AppendQuoted(StringBuilder text, string s)
    {
        char quote = s.Contains('\'') && !s.Contains('"') ? '"' : '\'';
        text.Append(quote);
        foreach (char c in s)
        {
            switch (c)
            {
                case '\\': text.Append("\\\\"); break;
                case '\n': text.Append("\\n"); break;
                case '\r': text.Append("\\r"); break;
                case '\t': text.Append("\\t"); break;
                default:
                    if (c == quote) text.Append('\\').Append(c);
                    else if (c < ' ' || c == '\x7f') text.Append("\\x").Append(((int)c).ToString("x2", CultureInfo.InvariantCulture));
                    else text.Append(c);
                    break;
            }
        }
        text.Append(quote);
    }

    /// <summary>Python's repr of a float: shortest round-trip digits, always with a "." or exponent.</summary>
    public static string FormatFloat(double d)
    {
        if (double.IsNaN(d)) return "nan";
        if (double.IsPositiveInfinity(d)) return "inf";
        if (double.IsNegativeInfinity(d)) return "-inf";
        if (d == Math.Floor(d) && Math.Abs(d) < 1e16) return d.ToString("0", CultureInfo.InvariantCulture) + ".0";
        var text = d.ToString("R", CultureInfo.InvariantCulture);
        int e = text.IndexOf('E');
        if (e < 0) return text;
        // .NET writes 1E-05 / 1E+16; Python writes 1e-05 / 1e+16.
        var mantissa = text[..e];
        var exponent = int.Parse(text.AsSpan(e + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
        return $"{mantissa}e{(exponent < 0 ? "-" : "+")}{Math.Abs(exponent):00}";
    }

    public static bool AreEqual(object? left, object? right, int depth = 0)
    {
        if (depth > 64) return false;
        if (left is null || right is null) return left is null && right is null;
        if (left is Undefined || right is Undefined) return left is Undefined && right is Undefined;
        if (IsNumber(left) && IsNumber(right))
        {
            if (left is double || right is double) return ToDouble(left) == ToDouble(right);
            return ToLong(left) == ToLong(right);
        }
        switch (left)
        {
            case string ls: return right is string rs && string.Equals(ls, rs, StringComparison.Ordinal);
            case List<object?> ll:
                if (right is not List<object?> rl || ll.Count != rl.Count) return false;
                for (int i = 0; i < ll.Count; i++)
                {
                    if (!AreEqual(ll[i], rl[i], depth + 1)) return false;
                }
                return true;
            case Dictionary<string, object?> ld:
                if (right is not Dictionary<string, object?> rd || ld.Count != rd.Count) return false;
                foreach (var (key, value) in ld)
                {
                    if (!rd.TryGetValue(key, out var other) || !AreEqual(value, other, depth + 1)) return false;
                }
                return true;
            default:
                return ReferenceEquals(left, right);
        }
    }

    /// <summary>Python ordering for numbers and strings; null when the two cannot be ordered.</summary>
    public static int? Compare(object? left, object? right)
    {
        if (IsNumber(left) && IsNumber(right))
        {
            if (left is double || right is double) return ToDouble(left).CompareTo(ToDouble(right));
            return ToLong(left).CompareTo(ToLong(right));
        }
        if (left is string ls && right is string rs) return Math.Sign(string.CompareOrdinal(ls, rs));
        return null;
    }

    public static long ToLong(object? value) => value switch
    {
        bool b => b ? 1 : 0,
        long l => l,
        _ => throw new InvalidOperationException("not an integer"),
    };

    public static double ToDouble(object? value) => value switch
    {
        bool b => b ? 1 : 0,
        long l => l,
        double d => d,
        _ => throw new InvalidOperationException("not a number"),
    };

    /// <summary>JSON the way Hugging Face's tojson writes it: json.dumps(ensure_ascii=False) with Python's separators.</summary>
    public static void AppendJson(StringBuilder text, object? value, int? indent, int depth, Func<string, Exception> error)
    {
        if (depth > 64) throw error("value nests too deeply for tojson");
        switch (value)
        {
            case null: text.Append("null"); return;
            case bool b: text.Append(b ? "true" : "false"); return;
            case long l: text.Append(l.ToString(CultureInfo.InvariantCulture)); return;
            case double d:
                text.Append(double.IsNaN(d) ? "NaN" : double.IsInfinity(d) ? (d > 0 ? "Infinity" : "-Infinity") : FormatFloat(d));
                return;
            case string s: AppendJsonString(text, s); return;
            case List<object?> list:
                if (list.Count == 0) { text.Append("[]"); return; }
                text.Append('[');
                for (int i = 0; i < list.Count; i++)
                {
                    if (i > 0) text.Append(',');
                    AppendJsonBreak(text, indent, depth + 1, i > 0);
                    AppendJson(text, list[i], indent, depth + 1, error);
                }
                AppendJsonBreak(text, indent, depth, false);
                text.Append(']');
                return;
            case Dictionary<string, object?> dict:
                if (dict.Count == 0) { text.Append("{}"); return; }
                text.Append('{');
                bool first = true;
                foreach (var (key, item) in dict)
                {
                    if (!first) text.Append(',');
                    AppendJsonBreak(text, indent, depth + 1, !first);
                    first = false;
                    AppendJsonString(text, key);
                    text.Append(": ");
                    AppendJson(text, item, indent, depth + 1, error);
                }
                AppendJsonBreak(text, indent, depth, false);
                text.Append('}');
                return;
            default:
                throw error($"Object of type {TypeName(value)} is not JSON serializable");
        }
    }

    private static void AppendJsonBreak(StringBuilder text, int? indent, int depth, bool afterComma)
    {
        if (indent is int spaces) text.Append('\n').Append(' ', spaces * depth);
        else if (afterComma) text.Append(' ');
    }

    private static void AppendJsonString(StringBuilder text, string s)
    {
        text.Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': text.Append("\\\""); break;
                case '\\': text.Append("\\\\"); break;
                case '\n': text.Append("\\n"); break;
                case '\r': text.Append("\\r"); break;
                case '\t': text.Append("\\t"); break;
                case '\b': text.Append("\\b"); break;
                case '\f': text.Append("\\f"); break;
                default:
                    if (c < ' ') text.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else text.Append(c);
                    break;
            }
        }
        text.Append('"');
    }
}

/// <summary>The "loop" variable inside a for loop.</summary>
internal sealed class LoopContext(List<object?> items)
{
    public int Index0 { get; set; }

    public object? Get(string name) => name switch
    {
        "index" => (long)Index0 + 1,
        "index0" => (long)Index0,
        "revindex" => (long)(items.Count - Index0),
        "revindex0" => (long)(items.Count - Index0 - 1),
        "first" => Index0 == 0,
        "last" => Index0 == items.Count - 1,
        "length" => (long)items.Count,
        "previtem" => Index0 > 0 ? items[Index0 - 1] : new Undefined("loop.previtem"),
        "nextitem" => Index0 + 1 < items.Count ? items[Index0 + 1] : new Undefined("loop.nextitem"),
        "depth" => 1L,
        "depth0" => 0L,
        "cycle" => new TemplateCallable("loop.cycle", call =>
            call.Positional.Count == 0 ? throw call.Error("loop.cycle() needs at least one value") : call.Positional[Index0 % call.Positional.Count]),
        _ => new Undefined($"loop.{name}"),
    };
}
