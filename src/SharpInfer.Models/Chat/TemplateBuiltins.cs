using System.Globalization;
using System.Text;

namespace SharpInfer.Models.Chat;

/// <summary>The filters, tests, methods and global functions chat templates call, with Python/Jinja behaviour.</summary>
internal static class TemplateBuiltins
{
    /// <summary>The functions every template sees besides the render variables.</summary>
    public static void AddGlobals(Dictionary<string, object?> globals)
    {
        globals["raise_exception"] = new TemplateCallable("raise_exception", call =>
            throw call.Error(TemplateValues.ToStr(call.Get(0, "message", "raise_exception() was called"))));
        globals["namespace"] = new TemplateCallable("namespace", call =>
        {
            var ns = new TemplateNamespace();
            if (call.Positional.Count > 0 && call.Positional[0] is Dictionary<string, object?> initial)
            {
                foreach (var (key, value) in initial) ns.Attributes[key] = value;
            }
            foreach (var (key, value) in call.Named) ns.Attributes[key] = value;
            return ns;
        });
        globals["dict"] = new TemplateCallable("dict", call => new Dictionary<string, object?>(call.Named, StringComparer.Ordinal));
        globals["range"] = new TemplateCallable("range", Range);
    }

    private static object? Range(CallArguments call)
    {
        call.AtMost(3);
        if (call.Positional.Count == 0) throw call.Error("range() expects at least 1 argument");
        var bounds = call.Positional.Select(value => value is long or bool ? TemplateValues.ToLong(value)
            : throw call.Error($"range() arguments must be integers, not {TemplateValues.TypeName(value)}")).ToArray();
        long start = bounds.Length > 1 ? bounds[0] : 0, stop = bounds.Length > 1 ? bounds[1] : bounds[0], step = bounds.Length > 2 ? bounds[2] : 1;
        if (step == 0) throw call.Error("range() step must not be zero");
        var items = new List<object?>();
        for (long i = start; step > 0 ? i < stop : i > stop; i += step)
        {
            if (items.Count >= TemplateRenderer.MaxCollectionLength) throw call.Error($"range() would be longer than {TemplateRenderer.MaxCollectionLength} items");
            items.Add(i);
        }
        return items;
    }

    public static object? ApplyFilter(string name, object? value, CallArguments call)
    {
        var renderer = call.Renderer;
        switch (name)
        {
            case "trim":
                var chars = call.Get(0, "chars");
                return chars is string set ? TemplateValues.ToStr(value).Trim(set.ToCharArray()) : TemplateValues.ToStr(value).Trim();
            case "length" or "count":
                return Length(value, call);
            case "upper": return TemplateValues.ToStr(value).ToUpperInvariant();
            case "lower": return TemplateValues.ToStr(value).ToLowerInvariant();
            case "title": return Title(TemplateValues.ToStr(value));
            case "capitalize": return Capitalize(TemplateValues.ToStr(value));
            case "string": return TemplateValues.ToStr(value);
            case "safe": return value;
            case "tojson":
                if (value is Undefined undefined) throw call.Error($"tojson of an undefined value ({undefined.Description})");
                var indent = call.Get(0, "indent");
                var json = new StringBuilder();
                TemplateValues.AppendJson(json, value, indent is long spaces ? (int)Math.Clamp(spaces, 0, 64) : null, 0, call.Error);
                return json.ToString();
            case "default" or "d":
                bool orFalsy = TemplateValues.IsTrue(call.Get(1, "boolean", false));
                bool useDefault = value is Undefined || (orFalsy && !TemplateValues.IsTrue(value));
                return useDefault ? call.Get(0, "default_value", "") : value;
            case "join":
                var separator = TemplateValues.ToStr(call.Get(0, "d", ""));
                var joinAttribute = call.Get(1, "attribute") as string;
                var parts = renderer.Iterate(value, call.Offset)
                    .Select(item => TemplateValues.ToStr(joinAttribute is null ? item : Attribute(item, joinAttribute, call)));
                var joined = string.Join(separator, parts);
                renderer.CheckSize(joined.Length, call.Offset);
                return joined;
            case "list":
                return renderer.Iterate(value, call.Offset);
            case "first":
                var all = renderer.Iterate(value, call.Offset);
                return all.Count > 0 ? all[0] : new Undefined("first of an empty sequence");
            case "last":
                var items = renderer.Iterate(value, call.Offset);
                return items.Count > 0 ? items[^1] : new Undefined("last of an empty sequence");
            case "reverse":
                var reversed = renderer.Iterate(value, call.Offset);
                reversed.Reverse();
                return value is string ? string.Concat(reversed.Cast<string>()) : reversed;
            case "items":
                return value switch
                {
                    Dictionary<string, object?> dict => dict.Select(pair => (object?)new List<object?> { pair.Key, pair.Value }).ToList(),
                    Undefined => new List<object?>(),
                    _ => throw call.Error($"items filter needs a mapping, not {TemplateValues.TypeName(value)}"),
                };
            case "select" or "reject":
                return Select(value, call, attribute: false, keep: name == "select");
            case "selectattr" or "rejectattr":
                return Select(value, call, attribute: true, keep: name == "selectattr");
            case "map":
                return Map(value, call);
            case "unique":
                var unique = new List<object?>();
                foreach (var item in renderer.Iterate(value, call.Offset))
                {
                    if (!unique.Any(seen => TemplateValues.AreEqual(seen, item))) unique.Add(item);
                }
                return unique;
            case "int":
                return ToInteger(value, call.Get(0, "default", 0L));
            case "float":
                return ToFloat(value, call.Get(0, "default", 0.0));
            case "abs":
                return value switch
                {
                    long l when l != long.MinValue => Math.Abs(l),
                    double d => Math.Abs(d),
                    bool b => b ? 1L : 0L,
                    _ => throw call.Error($"bad operand type for abs(): '{TemplateValues.TypeName(value)}'"),
                };
            case "replace":
                return Replace(TemplateValues.ToStr(value), call);
            case "indent":
                return Indent(TemplateValues.ToStr(value), call);
            default:
                throw call.Error($"unknown filter '{name}'");
        }
    }

    private static long Length(object? value, CallArguments call) => value switch
    {
        string s => s.EnumerateRunes().Count(),
        List<object?> list => list.Count,
        Dictionary<string, object?> dict => dict.Count,
        TemplateNamespace ns => ns.Attributes.Count,
        Undefined => 0,
        _ => throw call.Error($"object of type '{TemplateValues.TypeName(value)}' has no len()"),
    };

    /// <summary>Python's str.title(): a cased letter is upper-cased after an uncased character, lower-cased after a cased one.</summary>
    private static string Title(string text)
    {
        var result = new StringBuilder(text.Length);
        bool previousCased = false;
        foreach (char c in text)
        {
            result.Append(previousCased ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c));
            previousCased = char.IsLetter(c);
        }
        return result.ToString();
    }

    private static string Capitalize(string text) =>
        text.Length == 0 ? text : char.ToUpperInvariant(text[0]) + text[1..].ToLowerInvariant();

    /// <summary>"attr" or a dotted "attr.sub" path read the way Jinja's attribute filters read it: item first, then attribute.</summary>
    private static object? Attribute(object? item, string path, CallArguments call)
    {
        foreach (var part in path.Split('.'))
        {
            item = long.TryParse(part, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long index)
                ? call.Renderer.GetItem(item, index, call.Offset)
                : call.Renderer.GetItem(item, part, call.Offset);
            if (item is Undefined) return item;
        }
        return item;
    }

    private static List<object?> Select(object? value, CallArguments call, bool attribute, bool keep)
    {
        var renderer = call.Renderer;
        int testAt = attribute ? 1 : 0;
        string? attributeName = null;
        if (attribute)
        {
            attributeName = call.Positional.Count > 0 && call.Positional[0] is string attr ? attr : throw call.Error($"{call.Function}() needs an attribute name");
        }
        string? testName = call.Positional.Count > testAt ? call.Positional[testAt] as string ?? throw call.Error($"{call.Function}() needs a test name") : null;
        var testArguments = new CallArguments(testName ?? "", [.. call.Positional.Skip(testAt + 1)], [], renderer, call.Offset);

        var kept = new List<object?>();
        foreach (var item in renderer.Iterate(value, call.Offset))
        {
            var subject = attributeName is null ? item : Attribute(item, attributeName, call);
            bool passed = testName is null ? TemplateValues.IsTrue(subject) : ApplyTest(testName, subject, testArguments);
            if (passed == keep) kept.Add(item);
        }
        return kept;
    }

    private static List<object?> Map(object? value, CallArguments call)
    {
        var renderer = call.Renderer;
        var items = renderer.Iterate(value, call.Offset);
        if (call.Named.TryGetValue("attribute", out var attribute))
        {
            if (attribute is not string path) throw call.Error("map(attribute=...) needs a string");
            var fallback = call.Named.TryGetValue("default", out var d) ? d : null;
            return items.Select(item =>
            {
                var mapped = Attribute(item, path, call);
                return mapped is Undefined && call.Named.ContainsKey("default") ? fallback : mapped;
            }).ToList();
        }
        if (call.Positional.Count == 0 || call.Positional[0] is not string filter) throw call.Error("map() needs a filter name or attribute=");
        var filterArguments = new CallArguments(filter, [.. call.Positional.Skip(1)], call.Named, renderer, call.Offset);
        return items.Select(item => ApplyFilter(filter, item, filterArguments)).ToList();
    }

    private static object? ToInteger(object? value, object? fallback) => value switch
    {
        long l => l,
        bool b => b ? 1L : 0L,
        double d when !double.IsNaN(d) && Math.Abs(d) < 9e18 => (long)Math.Truncate(d),
        string s when long.TryParse(s.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long parsed) => parsed,
        string s when double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out double parsed) && Math.Abs(parsed) < 9e18 => (long)Math.Truncate(parsed),
        _ => fallback,
    };

    private static object? ToFloat(object? value, object? fallback) => value switch
    {
        long or bool or double => TemplateValues.ToDouble(value),
        string s when double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out double parsed) => parsed,
        _ => fallback,
    };

    private static string Replace(string text, CallArguments call)
    {
        var old = TemplateValues.ToStr(call.Required(0, "old"));
        var replacement = TemplateValues.ToStr(call.Required(1, "new"));
        long limit = call.Get(2, "count") is long c ? c : -1;
        var result = new StringBuilder();
        int position = 0, replaced = 0;
        while (limit < 0 || replaced < limit)
        {
            int found = old.Length == 0
                ? (position <= text.Length ? position : -1)
                : text.IndexOf(old, position, StringComparison.Ordinal);
            if (found < 0) break;
            result.Append(text, position, found - position).Append(replacement);
            call.Renderer.CheckSize(result.Length, call.Offset);
            replaced++;
            if (old.Length == 0)
            {
                // Python inserts the replacement between every character and at both ends.
                if (found < text.Length) result.Append(text[found]);
                position = found + 1;
            }
            else
            {
                position = found + old.Length;
            }
        }
        if (position < text.Length) result.Append(text, position, text.Length - position);
        return result.ToString();
    }

    private static string Indent(string text, CallArguments call)
    {
        var width = call.Get(0, "width", 4L);
        var prefix = width is string s ? s : new string(' ', (int)Math.Clamp(width is long w ? w : 4, 0, 1000));
        bool first = TemplateValues.IsTrue(call.Get(1, "first", false));
        bool blank = TemplateValues.IsTrue(call.Get(2, "blank", false));
        var lines = text.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            if ((i > 0 || first) && (blank || lines[i].Length > 0)) lines[i] = prefix + lines[i];
        }
        var indented = string.Join('\n', lines);
        call.Renderer.CheckSize(indented.Length, call.Offset);
        return indented;
    }

    public static bool ApplyTest(string name, object? value, CallArguments call)
    {
        object? Argument() => call.Required(0, "value");
        switch (name)
        {
            case "defined": return value is not Undefined;
            case "undefined": return value is Undefined;
            case "none": return value is null;
            case "string": return value is string;
            case "number": return value is long or double or bool;
            case "integer": return value is long;
            case "float": return value is double;
            case "boolean": return value is bool;
            case "true": return value is true;
            case "false": return value is false;
            case "mapping": return value is Dictionary<string, object?>;
            case "iterable": return value is string or List<object?> or Dictionary<string, object?> or Undefined;
            case "sequence": return value is string or List<object?> or Dictionary<string, object?>;
            case "callable": return value is TemplateCallable;
            case "lower": return value is string lower && lower == lower.ToLowerInvariant();
            case "upper": return value is string upper && upper == upper.ToUpperInvariant();
            case "odd" or "even" or "divisibleby":
                if (value is not (long or bool)) throw call.Error($"test '{name}' needs an integer, not {TemplateValues.TypeName(value)}");
                long number = TemplateValues.ToLong(value);
                if (name == "odd") return number % 2 != 0;
                if (name == "even") return number % 2 == 0;
                var divisor = Argument();
                if (divisor is not (long or bool) || TemplateValues.ToLong(divisor) == 0) throw call.Error("divisibleby needs a non-zero integer");
                return number % TemplateValues.ToLong(divisor) == 0;
            case "equalto" or "eq" or "==": return TemplateValues.AreEqual(value, Argument());
            case "ne" or "!=": return !TemplateValues.AreEqual(value, Argument());
            case "lt" or "<" or "lessthan": return CompareForTest(value, Argument(), call) < 0;
            case "le" or "<=": return CompareForTest(value, Argument(), call) <= 0;
            case "gt" or ">" or "greaterthan": return CompareForTest(value, Argument(), call) > 0;
            case "ge" or ">=": return CompareForTest(value, Argument(), call) >= 0;
            case "in": return call.Renderer.Contains(Argument(), value, call.Offset);
            case "sameas":
                var other = Argument();
                return value is null || other is null || value is bool || other is bool
                    ? TemplateValues.AreEqual(value, other) && value?.GetType() == other?.GetType()
                    : ReferenceEquals(value, other);
            default:
                throw call.Error($"unknown test '{name}'");
        }
    }

    private static int CompareForTest(object? left, object? right, CallArguments call) =>
        TemplateValues.Compare(left, right)
        ?? throw call.Error($"cannot compare '{TemplateValues.TypeName(left)}' with '{TemplateValues.TypeName(right)}'");

    /// <summary>The bound dict method a template reaches with "mapping.name", or null if there is none by that name.</summary>
    public static TemplateCallable? DictMethod(Dictionary<string, object?> dict, string name) => name switch
    {
        "items" => new TemplateCallable("items", _ => dict.Select(pair => (object?)new List<object?> { pair.Key, pair.Value }).ToList()),
        "keys" => new TemplateCallable("keys", _ => dict.Keys.Select(key => (object?)key).ToList()),
        "values" => new TemplateCallable("values", _ => dict.Values.ToList()),
        "get" => new TemplateCallable("get", call =>
            call.Required(0, "key") is string key && dict.TryGetValue(key, out var value) ? value : call.Get(1, "default")),
        _ => null,
    };

    /// <summary>The bound str method a template reaches with "text.name", or null if there is none by that name.</summary>
    public static TemplateCallable? StringMethod(string text, string name) => name switch
    {
        "strip" => new TemplateCallable(name, call => Strip(text, call, start: true, end: true)),
        "lstrip" => new TemplateCallable(name, call => Strip(text, call, start: true, end: false)),
        "rstrip" => new TemplateCallable(name, call => Strip(text, call, start: false, end: true)),
        "upper" => new TemplateCallable(name, _ => text.ToUpperInvariant()),
        "lower" => new TemplateCallable(name, _ => text.ToLowerInvariant()),
        "title" => new TemplateCallable(name, _ => Title(text)),
        "capitalize" => new TemplateCallable(name, _ => Capitalize(text)),
        "startswith" => new TemplateCallable(name, call => Affixes(call).Any(affix => text.StartsWith(affix, StringComparison.Ordinal))),
        "endswith" => new TemplateCallable(name, call => Affixes(call).Any(affix => text.EndsWith(affix, StringComparison.Ordinal))),
        "split" => new TemplateCallable(name, call => Split(text, call)),
        "replace" => new TemplateCallable(name, call => Replace(text, call)),
        "find" => new TemplateCallable(name, call => (long)text.IndexOf(TemplateValues.ToStr(call.Required(0, "sub")), StringComparison.Ordinal)),
        "count" => new TemplateCallable(name, call => CountOccurrences(text, TemplateValues.ToStr(call.Required(0, "sub")))),
        "join" => new TemplateCallable(name, call =>
        {
            var joined = string.Join(text, call.Renderer.Iterate(call.Required(0, "iterable"), call.Offset).Select(TemplateValues.ToStr));
            call.Renderer.CheckSize(joined.Length, call.Offset);
            return joined;
        }),
        "isdigit" => new TemplateCallable(name, _ => text.Length > 0 && text.All(char.IsDigit)),
        "isspace" => new TemplateCallable(name, _ => text.Length > 0 && text.All(char.IsWhiteSpace)),
        _ => null,
    };

    private static string Strip(string text, CallArguments call, bool start, bool end)
    {
        var chars = call.Get(0, "chars");
        if (chars is string set)
        {
            var trim = set.ToCharArray();
            return start && end ? text.Trim(trim) : start ? text.TrimStart(trim) : text.TrimEnd(trim);
        }
        return start && end ? text.Trim() : start ? text.TrimStart() : text.TrimEnd();
    }

    /// <summary>startswith/endswith accept one string or a tuple of them.</summary>
    private static IEnumerable<string> Affixes(CallArguments call) => call.Required(0, "prefix") switch
    {
        string s => [s],
        List<object?> list => list.Select(item => item as string ?? throw call.Error($"{call.Function}() tuple items must be strings")),
        var other => throw call.Error($"{call.Function}() needs a string or a tuple of strings, not {TemplateValues.TypeName(other)}"),
    };

    private static long CountOccurrences(string text, string part)
    {
        if (part.Length == 0) return text.Length + 1;
        long count = 0;
        for (int i = text.IndexOf(part, StringComparison.Ordinal); i >= 0; i = text.IndexOf(part, i + part.Length, StringComparison.Ordinal)) count++;
        return count;
    }

    /// <summary>Python's str.split: with no separator, on runs of whitespace ignoring the ends; else on each separator.</summary>
    private static List<object?> Split(string text, CallArguments call)
    {
        var separator = call.Get(0, "sep");
        long limit = call.Get(1, "maxsplit") is long m ? m : -1;
        var parts = new List<object?>();
        if (separator is null)
        {
            int i = 0;
            while (true)
            {
                while (i < text.Length && char.IsWhiteSpace(text[i])) i++;
                if (i >= text.Length) break;
                if (limit >= 0 && parts.Count >= limit)
                {
                    parts.Add(text[i..].TrimEnd());
                    break;
                }
                int start = i;
                while (i < text.Length && !char.IsWhiteSpace(text[i])) i++;
                parts.Add(text[start..i]);
            }
            return parts;
        }
        if (separator is not string sep) throw call.Error($"split() separator must be a string, not {TemplateValues.TypeName(separator)}");
        if (sep.Length == 0) throw call.Error("split() separator is empty");
        int position = 0;
        while (limit < 0 || parts.Count < limit)
        {
            int found = text.IndexOf(sep, position, StringComparison.Ordinal);
            if (found < 0) break;
            parts.Add(text[position..found]);
            position = found + sep.Length;
        }
        parts.Add(text[position..]);
        return parts;
    }
}
