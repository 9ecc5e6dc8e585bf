using System.Text;

namespace SharpInfer.Models.Chat;

/// <summary>
/// Walks a parsed template and writes its output. Jinja semantics where chat templates depend on them: undefined
/// values are falsy and print as "", a for loop has its own scope (so only namespace attributes survive it), and
/// "and"/"or" return an operand, not a bool. Every statement and expression costs a step, and the step count, output
/// length and collection sizes are capped so that no template, however malformed, runs away.
/// </summary>
internal sealed class TemplateRenderer
{
    public const long MaxSteps = 2_000_000;
    public const int MaxOutputLength = 32 * 1024 * 1024;
    public const int MaxCollectionLength = 1_000_000;

    private enum Flow { Normal, Break, Continue }

    private readonly string _source;
    private readonly IReadOnlyDictionary<string, object?> _globals;
    private readonly List<Dictionary<string, object?>> _scopes = [new(StringComparer.Ordinal)];
    private StringBuilder _output = new();
    private long _steps;

    private TemplateRenderer(string source, IReadOnlyDictionary<string, object?> globals)
    {
        _source = source;
        _globals = globals;
    }

    public static string Render(string source, IReadOnlyList<Statement> template, IReadOnlyDictionary<string, object?> globals)
    {
        var renderer = new TemplateRenderer(source, globals);
        renderer.Execute(template);
        return renderer._output.ToString();
    }

    public ChatTemplateException Error(int offset, string problem) => new(_source, offset, problem);

    private void Step(int offset)
    {
        if (++_steps > MaxSteps) throw Error(offset, $"template ran for more than {MaxSteps} steps");
    }

    /// <summary>Rejects a string or collection a template is about to build past the size caps.</summary>
    public void CheckSize(long length, int offset)
    {
        if (length > MaxOutputLength) throw Error(offset, $"value would be longer than {MaxOutputLength} characters");
    }

    private void Write(string text, int offset)
    {
        CheckSize((long)_output.Length + text.Length, offset);
        _output.Append(text);
    }

    private Flow Execute(IReadOnlyList<Statement> statements)
    {
        foreach (var statement in statements)
        {
            Step(statement.Offset);
            var flow = statement switch
            {
                TextStatement text => WriteText(text),
                OutputStatement output => WriteValue(output),
                IfStatement ifStatement => ExecuteIf(ifStatement),
                ForStatement forStatement => ExecuteFor(forStatement),
                SetStatement set => ExecuteSet(set),
                SetBlockStatement setBlock => ExecuteSetBlock(setBlock),
                BreakStatement => Flow.Break,
                ContinueStatement => Flow.Continue,
                _ => throw Error(statement.Offset, $"unsupported statement {statement.GetType().Name}"),
            };
            if (flow != Flow.Normal) return flow;
        }
        return Flow.Normal;
    }

    private Flow WriteText(TextStatement text)
    {
        Write(text.Text, text.Offset);
        return Flow.Normal;
    }

    private Flow WriteValue(OutputStatement output)
    {
        Write(TemplateValues.ToStr(Evaluate(output.Value)), output.Offset);
        return Flow.Normal;
    }

    private Flow ExecuteIf(IfStatement statement)
    {
        foreach (var branch in statement.Branches)
        {
            if (TemplateValues.IsTrue(Evaluate(branch.Condition))) return Execute(branch.Body);
        }
        return statement.ElseBody is null ? Flow.Normal : Execute(statement.ElseBody);
    }

    private Flow ExecuteFor(ForStatement statement)
    {
        var items = Iterate(Evaluate(statement.Iterable), statement.Iterable.Offset);
        var scope = new Dictionary<string, object?>(StringComparer.Ordinal);
        _scopes.Add(scope);
        try
        {
            if (statement.Filter is not null)
            {
                var kept = new List<object?>();
                foreach (var item in items)
                {
                    Bind(scope, statement.Targets, item, statement.Offset);
                    if (TemplateValues.IsTrue(Evaluate(statement.Filter))) kept.Add(item);
                }
                items = kept;
                scope.Clear();
            }

            var loop = new LoopContext(items);
            for (int i = 0; i < items.Count; i++)
            {
                Step(statement.Offset);
                loop.Index0 = i;
                scope["loop"] = loop;
                Bind(scope, statement.Targets, items[i], statement.Offset);
                if (Execute(statement.Body) == Flow.Break) break;
            }
        }
        finally
        {
            _scopes.RemoveAt(_scopes.Count - 1);
        }
        if (items.Count == 0 && statement.ElseBody is not null) return Execute(statement.ElseBody);
        return Flow.Normal;
    }

    private void Bind(Dictionary<string, object?> scope, IReadOnlyList<string> targets, object? item, int offset)
    {
        if (targets.Count == 1)
        {
            scope[targets[0]] = item;
            return;
        }
        var parts = item switch
        {
            List<object?> list => list,
            string s => Iterate(s, offset),
            _ => throw Error(offset, $"cannot unpack a {TemplateValues.TypeName(item)} into {targets.Count} loop variables"),
        };
        if (parts.Count != targets.Count)
            throw Error(offset, $"cannot unpack {parts.Count} values into {targets.Count} loop variables");
        for (int i = 0; i < targets.Count; i++) scope[targets[i]] = parts[i];
    }

    private Flow ExecuteSet(SetStatement set)
    {
        var value = Evaluate(set.Value);
        if (set.Attribute is null)
        {
            _scopes[^1][set.Name] = value;
            return Flow.Normal;
        }
        if (Lookup(set.Name) is not TemplateNamespace ns)
            throw Error(set.Offset, $"cannot assign '{set.Name}.{set.Attribute}': '{set.Name}' is not a namespace()");
        ns.Attributes[set.Attribute] = value;
        return Flow.Normal;
    }

    private Flow ExecuteSetBlock(SetBlockStatement set)
    {
        var outer = _output;
        _output = new StringBuilder();
        try
        {
            Execute(set.Body);
            _scopes[^1][set.Name] = _output.ToString();
        }
        finally
        {
            _output = outer;
        }
        return Flow.Normal;
    }

    private object? Lookup(string name)
    {
        for (int i = _scopes.Count - 1; i >= 0; i--)
        {
            if (_scopes[i].TryGetValue(name, out var value)) return value;
        }
        return _globals.TryGetValue(name, out var global) ? global : new Undefined($"'{name}' is undefined");
    }

    /// <summary>The items a for loop or a filter walks: a list's items, a dict's keys, a string's characters.</summary>
    public List<object?> Iterate(object? value, int offset) => value switch
    {
        List<object?> list => [.. list],
        Dictionary<string, object?> dict => [.. dict.Keys],
        string s => [.. s.EnumerateRunes().Select(rune => (object?)rune.ToString())],
        Undefined => [],
        _ => throw Error(offset, $"'{TemplateValues.TypeName(value)}' object is not iterable"),
    };

    public object? Evaluate(Expression expression)
    {
        Step(expression.Offset);
        switch (expression)
        {
            case LiteralExpression literal:
                return literal.Value;
            case NameExpression name:
                return Lookup(name.Name);
            case ListExpression list:
                return list.Items.Select(Evaluate).ToList();
            case DictExpression dict:
                var result = new Dictionary<string, object?>(StringComparer.Ordinal);
                foreach (var (keyExpression, valueExpression) in dict.Entries)
                {
                    if (Evaluate(keyExpression) is not string key) throw Error(keyExpression.Offset, "dict keys must be strings");
                    result[key] = Evaluate(valueExpression);
                }
                return result;
            case AttributeExpression attribute:
                return GetAttribute(Evaluate(attribute.Target), attribute.Name, attribute.Offset);
            case IndexExpression index:
                return GetItem(Evaluate(index.Target), Evaluate(index.Index), index.Offset);
            case SliceExpression slice:
                return Slice(slice);
            case CallExpression call:
                return Call(call);
            case FilterExpression filter:
                return TemplateBuiltins.ApplyFilter(filter.Name, Evaluate(filter.Value), EvaluateArguments(filter.Name, filter.Arguments, filter.Offset));
            case TestExpression test:
                var passed = TemplateBuiltins.ApplyTest(test.Name, Evaluate(test.Value), EvaluateArguments(test.Name, test.Arguments, test.Offset));
                return passed != test.Negated;
            case UnaryExpression unary:
                return EvaluateUnary(unary);
            case BinaryExpression binary:
                return EvaluateBinary(binary);
            case ConditionalExpression conditional:
                if (TemplateValues.IsTrue(Evaluate(conditional.Condition))) return Evaluate(conditional.Then);
                return conditional.Otherwise is null ? new Undefined("the missing else of a conditional expression") : Evaluate(conditional.Otherwise);
            default:
                throw Error(expression.Offset, $"unsupported expression {expression.GetType().Name}");
        }
    }

    private CallArguments EvaluateArguments(string function, Arguments arguments, int offset)
    {
        var positional = arguments.Positional.Select(Evaluate).ToList();
        var named = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (name, value) in arguments.Named) named[name] = Evaluate(value);
        return new CallArguments(function, positional, named, this, offset);
    }

    private object? Call(CallExpression call)
    {
        var callee = Evaluate(call.Callee);
        return callee switch
        {
            TemplateCallable function => function.Invoke(EvaluateArguments(function.Name, call.Arguments, call.Offset)),
            Undefined undefined => throw Error(call.Offset, $"cannot call an undefined value ({undefined.Description})"),
            _ => throw Error(call.Offset, $"'{TemplateValues.TypeName(callee)}' object is not callable"),
        };
    }

    public object? GetAttribute(object? target, string name, int offset) => target switch
    {
        Undefined undefined => throw Error(offset, $"cannot read '{name}' of an undefined value ({undefined.Description})"),
        Dictionary<string, object?> dict => TemplateBuiltins.DictMethod(dict, name)
            ?? (dict.TryGetValue(name, out var value) ? value : new Undefined($"dict has no attribute '{name}'")),
        string s => (object?)TemplateBuiltins.StringMethod(s, name) ?? new Undefined($"str has no attribute '{name}'"),
        TemplateNamespace ns => ns.Attributes.TryGetValue(name, out var value) ? value : new Undefined($"namespace has no attribute '{name}'"),
        LoopContext loop => loop.Get(name),
        _ => new Undefined($"{TemplateValues.TypeName(target)} has no attribute '{name}'"),
    };

    public object? GetItem(object? target, object? key, int offset)
    {
        switch (target)
        {
            case Undefined undefined:
                throw Error(offset, $"cannot index an undefined value ({undefined.Description})");
            case Dictionary<string, object?> dict:
                return key is string name && dict.TryGetValue(name, out var value) ? value : new Undefined($"dict has no item {TemplateValues.Repr(key)}");
            case List<object?> list when key is long or bool:
                long index = TemplateValues.ToLong(key);
                if (index < 0) index += list.Count;
                return index >= 0 && index < list.Count ? list[(int)index] : new Undefined($"list index {TemplateValues.Repr(key)} out of range");
            case string s when key is long or bool:
                var characters = Iterate(s, offset);
                long position = TemplateValues.ToLong(key);
                if (position < 0) position += characters.Count;
                return position >= 0 && position < characters.Count ? characters[(int)position] : new Undefined($"string index {TemplateValues.Repr(key)} out of range");
            default:
                // Jinja falls back from item to attribute lookup: loop['index'], ns['x'], text['strip'].
                return key is string attribute && target is not List<object?>
                    ? GetAttribute(target, attribute, offset)
                    : new Undefined($"{TemplateValues.TypeName(target)} has no item {TemplateValues.Repr(key)}");
        }
    }

    private object? Slice(SliceExpression slice)
    {
        var target = Evaluate(slice.Target);
        long? Bound(Expression? expression)
        {
            if (expression is null) return null;
            var value = Evaluate(expression);
            return value switch
            {
                null => null,
                long or bool => TemplateValues.ToLong(value),
                _ => throw Error(expression.Offset, $"slice indices must be integers or none, not {TemplateValues.TypeName(value)}"),
            };
        }
        long? start = Bound(slice.Start), stop = Bound(slice.Stop), step = Bound(slice.Step);
        if (step == 0) throw Error(slice.Offset, "slice step cannot be zero");
        var items = target switch
        {
            List<object?> list => list,
            string s => Iterate(s, slice.Offset),
            Undefined undefined => throw Error(slice.Offset, $"cannot slice an undefined value ({undefined.Description})"),
            _ => throw Error(slice.Offset, $"'{TemplateValues.TypeName(target)}' object cannot be sliced"),
        };
        var picked = new List<object?>();
        foreach (var i in SliceIndices(items.Count, start, stop, step ?? 1)) picked.Add(items[i]);
        return target is string ? string.Concat(picked.Cast<string>()) : picked;
    }

    /// <summary>The indices Python's seq[start:stop:step] visits in a sequence of <paramref name="length"/>.</summary>
    private static IEnumerable<int> SliceIndices(int length, long? start, long? stop, long step)
    {
        long Clamp(long? bound, long whenMissing, long low, long high)
        {
            if (bound is not long value) return whenMissing;
            if (value < 0) value += length;
            return Math.Clamp(value, low, high);
        }
        if (step > 0)
        {
            long from = Clamp(start, 0, 0, length), to = Clamp(stop, length, 0, length);
            for (long i = from; i < to; i += step) yield return (int)i;
        }
        else
        {
            long from = Clamp(start, length - 1, -1, length - 1), to = Clamp(stop, -1, -1, length - 1);
            for (long i = from; i > to; i += step) yield return (int)i;
        }
    }

    private object? EvaluateUnary(UnaryExpression unary)
    {
        var operand = Evaluate(unary.Operand);
        switch (unary.Operator)
        {
            case "not":
                return !TemplateValues.IsTrue(operand);
            case "-":
                if (operand is double d) return -d;
                if (operand is long or bool)
                {
                    long l = TemplateValues.ToLong(operand);
                    if (l == long.MinValue) throw Error(unary.Offset, "integer overflow");
                    return -l;
                }
                break;
            case "+":
                if (operand is double or long) return operand;
                if (operand is bool b) return b ? 1L : 0L;
                break;
        }
        throw Error(unary.Offset, $"bad operand type for unary {unary.Operator}: '{TemplateValues.TypeName(operand)}'");
    }

    private object? EvaluateBinary(BinaryExpression binary)
    {
        var left = Evaluate(binary.Left);
        switch (binary.Operator)
        {
            case "and": return TemplateValues.IsTrue(left) ? Evaluate(binary.Right) : left;
            case "or": return TemplateValues.IsTrue(left) ? left : Evaluate(binary.Right);
        }
        var right = Evaluate(binary.Right);
        switch (binary.Operator)
        {
            case "==": return TemplateValues.AreEqual(left, right);
            case "!=": return !TemplateValues.AreEqual(left, right);
            case "<": return Order(left, right, binary) < 0;
            case ">": return Order(left, right, binary) > 0;
            case "<=": return Order(left, right, binary) <= 0;
            case ">=": return Order(left, right, binary) >= 0;
            case "in": return Contains(right, left, binary.Offset);
            case "not in": return !Contains(right, left, binary.Offset);
            case "~":
                var joined = TemplateValues.ToStr(left) + TemplateValues.ToStr(right);
                CheckSize(joined.Length, binary.Offset);
                return joined;
            default:
                return Arithmetic(binary.Operator, left, right, binary.Offset);
        }
    }

    private int Order(object? left, object? right, BinaryExpression binary) =>
        TemplateValues.Compare(left, right)
        ?? throw Error(binary.Offset, $"'{binary.Operator}' not supported between '{TemplateValues.TypeName(left)}' and '{TemplateValues.TypeName(right)}'");

    public bool Contains(object? container, object? item, int offset)
    {
        switch (container)
        {
            case string s:
                if (item is not string part) throw Error(offset, $"'in <string>' requires a string on the left, not {TemplateValues.TypeName(item)}");
                return s.Contains(part, StringComparison.Ordinal);
            case List<object?> list:
                return list.Any(element => TemplateValues.AreEqual(element, item));
            case Dictionary<string, object?> dict:
                return item is string key && dict.ContainsKey(key);
            case Undefined:
                return false;
            default:
                throw Error(offset, $"argument of type '{TemplateValues.TypeName(container)}' is not iterable");
        }
    }

    private object? Arithmetic(string op, object? left, object? right, int offset)
    {
        ChatTemplateException Unsupported() =>
            Error(offset, $"unsupported operand types for {op}: '{TemplateValues.TypeName(left)}' and '{TemplateValues.TypeName(right)}'");

        if (TemplateValues.IsNumber(left) && TemplateValues.IsNumber(right))
        {
            try
            {
                return NumberArithmetic(op, left, right, offset);
            }
            catch (OverflowException)
            {
                throw Error(offset, $"integer overflow in {op}");
            }
        }
        switch (op)
        {
            case "+" when left is string ls && right is string rs:
                CheckSize((long)ls.Length + rs.Length, offset);
                return ls + rs;
            case "+" when left is List<object?> ll && right is List<object?> rl:
                CheckCollection((long)ll.Count + rl.Count, offset);
                return new List<object?>([.. ll, .. rl]);
            case "*" when left is string || right is string:
            case "*" when left is List<object?> || right is List<object?>:
                var (sequence, times) = TemplateValues.IsNumber(right) && right is not double ? (left, right) : (right, left);
                if (!TemplateValues.IsNumber(times) || times is double) throw Unsupported();
                long count = Math.Max(0, TemplateValues.ToLong(times));
                if (sequence is string text)
                {
                    if (text.Length == 0 || count == 0) return "";
                    if (count > MaxOutputLength / text.Length) CheckSize(long.MaxValue, offset);
                    return new StringBuilder(text.Length * (int)count).Insert(0, text, (int)count).ToString();
                }
                if (sequence is List<object?> items)
                {
                    if (items.Count == 0 || count == 0) return new List<object?>();
                    if (count > MaxCollectionLength / items.Count) CheckCollection(long.MaxValue, offset);
                    var repeated = new List<object?>();
                    for (long i = 0; i < count; i++) repeated.AddRange(items);
                    return repeated;
                }
                throw Unsupported();
            case "%" when left is string:
                throw Error(offset, "printf-style string formatting ('%' on a string) is not supported");
            default:
                throw Unsupported();
        }
    }

    private void CheckCollection(long count, int offset)
    {
        if (count > MaxCollectionLength) throw Error(offset, $"list would be longer than {MaxCollectionLength} items");
    }

    private object NumberArithmetic(string op, object? left, object? right, int offset)
    {
        bool floating = left is double || right is double || op == "/";
        if (floating)
        {
            double a = TemplateValues.ToDouble(left), b = TemplateValues.ToDouble(right);
            switch (op)
            {
                case "+": return a + b;
                case "-": return a - b;
                case "*": return a * b;
                case "**": return Math.Pow(a, b);
                case "/" or "//" or "%" when b == 0: throw Error(offset, "division by zero");
                case "/": return a / b;
                case "//": return Math.Floor(a / b);
                case "%":
                    double remainder = a % b;
                    return remainder != 0 && (remainder < 0) != (b < 0) ? remainder + b : remainder;
            }
        }
        else
        {
            long a = TemplateValues.ToLong(left), b = TemplateValues.ToLong(right);
            switch (op)
            {
                case "+": return checked(a + b);
                case "-": return checked(a - b);
                case "*": return checked(a * b);
                case "**":
                    if (b < 0) return Math.Pow(a, b);
                    long power = 1;
                    for (long i = 0; i < b; i++)
                    {
                        power = checked(power * a);
                        if (power is 0 or 1 && i > 0) break; // 0 and 1 are fixed points; no need to loop a huge exponent
                    }
                    return b > 0 && a == -1 ? (b % 2 == 0 ? 1L : -1L) : power;
                case "//" or "%" when b == 0: throw Error(offset, "integer division or modulo by zero");
                case "//":
                    if (a == long.MinValue && b == -1) throw new OverflowException();
                    long quotient = a / b;
                    return (a % b != 0) && ((a < 0) != (b < 0)) ? quotient - 1 : quotient;
                case "%":
                    if (b == -1) return 0L;
                    long modulo = a % b;
                    return modulo != 0 && (modulo < 0) != (b < 0) ? modulo + b : modulo;
            }
        }
        throw Error(offset, $"unsupported operator {op}");
    }
}
