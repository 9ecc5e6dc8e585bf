using System.Globalization;

namespace SharpInfer.Models.Chat;

/// <summary>
/// Recursive-descent parser for the Jinja2 subset chat templates use. Operator precedence follows Jinja:
/// conditional &lt; or &lt; and &lt; not &lt; comparison &lt; + - &lt; ~ &lt; * / // % &lt; ** &lt; unary, with
/// filters ("|") and tests ("is") binding tightest, to the postfix expression on their left.
/// </summary>
internal sealed class TemplateParser
{
    // Deeper nesting than this is no real template; the cap keeps a hostile one from overflowing the stack.
    private const int MaxNesting = 128;

    private readonly string _source;
    private readonly List<Token> _tokens;
    private int _index;
    private int _nesting;
    private int _loopDepth;

    private TemplateParser(string source)
    {
        _source = source;
        _tokens = TemplateLexer.Tokenize(source);
    }

    public static IReadOnlyList<Statement> Parse(string source)
    {
        var parser = new TemplateParser(source);
        var body = parser.ParseBody(out var endTag, []);
        if (endTag is not null) throw parser.Error(endTag.Value.Offset, $"unexpected '{endTag.Value.Value}'");
        return body;
    }

    private Token Current => _tokens[_index];

    private ChatTemplateException Error(int offset, string problem) => new(_source, offset, problem);

    private ChatTemplateException Unexpected(string expected) =>
        Error(Current.Offset, Current.Kind switch
        {
            TokenKind.EndOfInput => $"expected {expected}, found the end of the template",
            TokenKind.OutputEnd or TokenKind.StatementEnd => $"expected {expected}, found the end of the tag",
            TokenKind.String => $"expected {expected}, found a string",
            _ => $"expected {expected}, found '{Current.Value}'",
        });

    private Token Advance() => _tokens[_index++];

    private void ExpectOperator(string op)
    {
        if (!Current.IsOperator(op)) throw Unexpected($"'{op}'");
        _index++;
    }

    private string ExpectName(string what)
    {
        if (Current.Kind != TokenKind.Name) throw Unexpected(what);
        return Advance().Value;
    }

    private void ExpectStatementEnd()
    {
        if (Current.Kind != TokenKind.StatementEnd) throw Unexpected("'%}'");
        _index++;
    }

    private void Enter()
    {
        if (++_nesting > MaxNesting) throw Error(Current.Offset, $"nesting deeper than {MaxNesting} levels");
    }

    /// <summary>
    /// Parses statements until the end of input or a "{% name %}" whose name is in <paramref name="endNames"/>;
    /// that tag's name token is left current and returned in <paramref name="endTag"/>.
    /// </summary>
    private List<Statement> ParseBody(out Token? endTag, string[] endNames)
    {
        Enter();
        var body = new List<Statement>();
        while (true)
        {
            var token = Current;
            switch (token.Kind)
            {
                case TokenKind.EndOfInput:
                    endTag = null;
                    _nesting--;
                    return body;
                case TokenKind.Text:
                    _index++;
                    body.Add(new TextStatement(token.Value, token.Offset));
                    break;
                case TokenKind.OutputBegin:
                    _index++;
                    var value = ParseExpression();
                    if (Current.Kind != TokenKind.OutputEnd) throw Unexpected("'}}'");
                    _index++;
                    body.Add(new OutputStatement(value, token.Offset));
                    break;
                case TokenKind.StatementBegin:
                    _index++;
                    var name = Current;
                    if (name.Kind != TokenKind.Name) throw Unexpected("a tag name");
                    if (Array.IndexOf(endNames, name.Value) >= 0 || IsEndName(name.Value))
                    {
                        endTag = name;
                        _nesting--;
                        return body;
                    }
                    ParseStatement(body, token.Offset);
                    break;
                default:
                    throw Unexpected("text or a tag");
            }
        }
    }

    private static bool IsEndName(string name) => name is "endif" or "elif" or "else" or "endfor" or "endset" or "endgeneration";

    private void ParseStatement(List<Statement> body, int offset)
    {
        var name = Advance();
        switch (name.Value)
        {
            case "if": body.Add(ParseIf(offset)); break;
            case "for": body.Add(ParseFor(offset)); break;
            case "set": body.Add(ParseSet(offset)); break;
            case "break":
                if (_loopDepth == 0) throw Error(name.Offset, "'break' outside a for loop");
                ExpectStatementEnd();
                body.Add(new BreakStatement(offset));
                break;
            case "continue":
                if (_loopDepth == 0) throw Error(name.Offset, "'continue' outside a for loop");
                ExpectStatementEnd();
                body.Add(new ContinueStatement(offset));
                break;
            case "generation":
                // Hugging Face's assistant-mask extension: marks assistant text for training, renders as its body.
                ExpectStatementEnd();
                body.AddRange(ParseBlockUntil(offset, "generation", "endgeneration"));
                break;
            default:
                throw Error(name.Offset, $"unknown tag '{name.Value}'");
        }
    }

    private IReadOnlyList<Statement> ParseBlockUntil(int openOffset, string opener, string endName)
    {
        var body = ParseBody(out var endTag, [endName]);
        if (endTag is null) throw Error(openOffset, $"'{{% {opener} %}}' is never closed with '{{% {endName} %}}'");
        if (endTag.Value.Value != endName) throw Error(endTag.Value.Offset, $"unexpected '{endTag.Value.Value}' inside '{opener}', expected '{endName}'");
        _index++;
        ExpectStatementEnd();
        return body;
    }

    private IfStatement ParseIf(int offset)
    {
        var branches = new List<IfBranch>();
        IReadOnlyList<Statement>? elseBody = null;
        var condition = ParseExpression();
        ExpectStatementEnd();
        while (true)
        {
            var body = ParseBody(out var endTag, ["elif", "else", "endif"]);
            if (endTag is null) throw Error(offset, "'{% if %}' is never closed with '{% endif %}'");
            branches.Add(new IfBranch(condition, body));
            var tag = endTag.Value;
            _index++;
            if (tag.Value == "elif")
            {
                condition = ParseExpression();
                ExpectStatementEnd();
                continue;
            }
            if (tag.Value == "else")
            {
                ExpectStatementEnd();
                elseBody = ParseBlockUntil(offset, "if", "endif");
                break;
            }
            if (tag.Value != "endif") throw Error(tag.Offset, $"unexpected '{tag.Value}' inside 'if'");
            ExpectStatementEnd();
            break;
        }
        return new IfStatement(branches, elseBody, offset);
    }

    private ForStatement ParseFor(int offset)
    {
        var targets = new List<string> { ExpectName("a loop variable") };
        while (Current.IsOperator(","))
        {
            _index++;
            targets.Add(ExpectName("a loop variable"));
        }
        if (!Current.IsName("in")) throw Unexpected("'in'");
        _index++;
        // The iterable may not itself be a conditional expression: a trailing "if" filters the items instead.
        var iterable = ParseOr();
        Expression? filter = null;
        if (Current.IsName("if"))
        {
            _index++;
            filter = ParseOr();
        }
        if (Current.IsName("recursive")) throw Error(Current.Offset, "recursive loops are not supported");
        ExpectStatementEnd();

        _loopDepth++;
        var body = ParseBody(out var endTag, ["else", "endfor"]);
        _loopDepth--;
        if (endTag is null) throw Error(offset, "'{% for %}' is never closed with '{% endfor %}'");
        IReadOnlyList<Statement>? elseBody = null;
        if (endTag.Value.Value == "else")
        {
            _index++;
            ExpectStatementEnd();
            elseBody = ParseBlockUntil(offset, "for", "endfor");
        }
        else
        {
            if (endTag.Value.Value != "endfor") throw Error(endTag.Value.Offset, $"unexpected '{endTag.Value.Value}' inside 'for'");
            _index++;
            ExpectStatementEnd();
        }
        return new ForStatement(targets, iterable, filter, body, elseBody, offset);
    }

    private Statement ParseSet(int offset)
    {
        var name = ExpectName("a variable name");
        string? attribute = null;
        if (Current.IsOperator("."))
        {
            _index++;
            attribute = ExpectName("an attribute name");
        }
        if (attribute is null && Current.Kind == TokenKind.StatementEnd)
        {
            _index++;
            var body = ParseBlockUntil(offset, "set", "endset");
            return new SetBlockStatement(name, body, offset);
        }
        ExpectOperator("=");
        var value = ParseExpression();
        if (Current.IsOperator(","))
        {
            // "set x = a, b" builds a tuple.
            var items = new List<Expression> { value };
            while (Current.IsOperator(","))
            {
                _index++;
                items.Add(ParseExpression());
            }
            value = new ListExpression(items, value.Offset);
        }
        ExpectStatementEnd();
        return new SetStatement(name, attribute, value, offset);
    }

    public Expression ParseExpression()
    {
        Enter();
        var offset = Current.Offset;
        var value = ParseOr();
        if (Current.IsName("if"))
        {
            _index++;
            var condition = ParseOr();
            Expression? otherwise = null;
            if (Current.IsName("else"))
            {
                _index++;
                otherwise = ParseExpression();
            }
            value = new ConditionalExpression(value, condition, otherwise, offset);
        }
        _nesting--;
        return value;
    }

    private Expression ParseOr()
    {
        var left = ParseAnd();
        while (Current.IsName("or"))
        {
            var op = Advance();
            left = new BinaryExpression("or", left, ParseAnd(), op.Offset);
        }
        return left;
    }

    private Expression ParseAnd()
    {
        var left = ParseNot();
        while (Current.IsName("and"))
        {
            var op = Advance();
            left = new BinaryExpression("and", left, ParseNot(), op.Offset);
        }
        return left;
    }

    private Expression ParseNot()
    {
        if (Current.IsName("not"))
        {
            var op = Advance();
            Enter();
            var operand = ParseNot();
            _nesting--;
            return new UnaryExpression("not", operand, op.Offset);
        }
        return ParseComparison();
    }

    private static readonly string[] ComparisonOperators = ["==", "!=", "<", ">", "<=", ">="];

    private Expression ParseComparison()
    {
        var left = ParseAdditive();
        while (true)
        {
            var token = Current;
            if (token.Kind == TokenKind.Operator && Array.IndexOf(ComparisonOperators, token.Value) >= 0)
            {
                _index++;
                left = new BinaryExpression(token.Value, left, ParseAdditive(), token.Offset);
            }
            else if (token.IsName("in"))
            {
                _index++;
                left = new BinaryExpression("in", left, ParseAdditive(), token.Offset);
            }
            else if (token.IsName("not") && _tokens[_index + 1].IsName("in"))
            {
                _index += 2;
                left = new BinaryExpression("not in", left, ParseAdditive(), token.Offset);
            }
            else
            {
                return left;
            }
        }
    }

    private Expression ParseAdditive()
    {
        var left = ParseConcatenation();
        while (Current.IsOperator("+") || Current.IsOperator("-"))
        {
            var op = Advance();
            left = new BinaryExpression(op.Value, left, ParseConcatenation(), op.Offset);
        }
        return left;
    }

    private Expression ParseConcatenation()
    {
        var left = ParseMultiplicative();
        while (Current.IsOperator("~"))
        {
            var op = Advance();
            left = new BinaryExpression("~", left, ParseMultiplicative(), op.Offset);
        }
        return left;
    }

    private Expression ParseMultiplicative()
    {
        var left = ParsePower();
        while (Current.IsOperator("*") || Current.IsOperator("/") || Current.IsOperator("//") || Current.IsOperator("%"))
        {
            var op = Advance();
            left = new BinaryExpression(op.Value, left, ParsePower(), op.Offset);
        }
        return left;
    }

    private Expression ParsePower()
    {
        var left = ParseUnary();
        while (Current.IsOperator("**"))
        {
            var op = Advance();
            left = new BinaryExpression("**", left, ParseUnary(), op.Offset);
        }
        return left;
    }

    private Expression ParseUnary()
    {
        if (Current.IsOperator("-") || Current.IsOperator("+"))
        {
            var op = Advance();
            Enter();
            var operand = ParseUnary();
            _nesting--;
            return ParseFiltersAndTests(new UnaryExpression(op.Value, operand, op.Offset));
        }
        return ParseFiltersAndTests(ParsePostfix(ParsePrimary()));
    }

    private Expression ParseFiltersAndTests(Expression value)
    {
        while (true)
        {
            if (Current.IsOperator("|"))
            {
                var bar = Advance();
                var name = ParseDottedName("a filter name");
                var arguments = Current.IsOperator("(") ? ParseArguments() : Arguments.None;
                value = new FilterExpression(value, name, arguments, bar.Offset);
            }
            else if (Current.IsName("is"))
            {
                var isToken = Advance();
                bool negated = false;
                if (Current.IsName("not"))
                {
                    negated = true;
                    _index++;
                }
                var name = ParseDottedName("a test name");
                Arguments arguments;
                if (Current.IsOperator("(")) arguments = ParseArguments();
                else if (StartsBareTestArgument(Current)) arguments = new Arguments([ParsePostfix(ParsePrimary())], []);
                else arguments = Arguments.None;
                value = new TestExpression(value, name, arguments, negated, isToken.Offset);
            }
            else
            {
                return value;
            }
        }
    }

    // "x is divisibleby 3" / "x is sameas none": Jinja lets a test take one argument without parentheses.
    private static bool StartsBareTestArgument(Token token) =>
        token.Kind is TokenKind.String or TokenKind.Integer or TokenKind.Float
        || (token.Kind == TokenKind.Name && token.Value is not ("and" or "or" or "not" or "if" or "else" or "in" or "is"));

    private string ParseDottedName(string what)
    {
        var name = ExpectName(what);
        while (Current.IsOperator(".") && _tokens[_index + 1].Kind == TokenKind.Name)
        {
            _index++;
            name += "." + Advance().Value;
        }
        return name;
    }

    private Expression ParsePostfix(Expression target)
    {
        while (true)
        {
            var token = Current;
            if (token.IsOperator("."))
            {
                _index++;
                if (Current.Kind == TokenKind.Integer)
                {
                    // "items.0" indexes like items[0].
                    var index = Advance();
                    target = new IndexExpression(target, new LiteralExpression(long.Parse(index.Value, CultureInfo.InvariantCulture), index.Offset), token.Offset);
                    continue;
                }
                target = new AttributeExpression(target, ExpectName("an attribute name"), token.Offset);
            }
            else if (token.IsOperator("["))
            {
                _index++;
                target = ParseSubscript(target, token.Offset);
            }
            else if (token.IsOperator("("))
            {
                target = new CallExpression(target, ParseArguments(), target.Offset); // errors point at the callee, not the "("
            }
            else
            {
                return target;
            }
        }
    }

    private Expression ParseSubscript(Expression target, int offset)
    {
        Expression? start = null, stop = null, step = null;
        if (!Current.IsOperator(":")) start = ParseExpression();
        if (!Current.IsOperator(":"))
        {
            if (start is null) throw Unexpected("an index");
            ExpectOperator("]");
            return new IndexExpression(target, start, offset);
        }
        _index++;
        if (!Current.IsOperator(":") && !Current.IsOperator("]")) stop = ParseExpression();
        if (Current.IsOperator(":"))
        {
            _index++;
            if (!Current.IsOperator("]")) step = ParseExpression();
        }
        ExpectOperator("]");
        return new SliceExpression(target, start, stop, step, offset);
    }

    private Arguments ParseArguments()
    {
        ExpectOperator("(");
        Enter();
        var positional = new List<Expression>();
        var named = new List<(string, Expression)>();
        while (!Current.IsOperator(")"))
        {
            if (Current.Kind == TokenKind.Name && _tokens[_index + 1].IsOperator("="))
            {
                var name = Advance().Value;
                _index++;
                named.Add((name, ParseExpression()));
            }
            else
            {
                if (named.Count > 0) throw Error(Current.Offset, "positional argument after a keyword argument");
                positional.Add(ParseExpression());
            }
            if (!Current.IsOperator(",")) break;
            _index++;
        }
        ExpectOperator(")");
        _nesting--;
        return new Arguments(positional, named);
    }

    private Expression ParsePrimary()
    {
        var token = Current;
        switch (token.Kind)
        {
            case TokenKind.String:
                _index++;
                var text = token.Value;
                // Adjacent literals concatenate, as in Python: "a" "b" is "ab".
                while (Current.Kind == TokenKind.String) text += Advance().Value;
                return new LiteralExpression(text, token.Offset);
            case TokenKind.Integer:
                _index++;
                return new LiteralExpression(long.Parse(token.Value, CultureInfo.InvariantCulture), token.Offset);
            case TokenKind.Float:
                _index++;
                return new LiteralExpression(double.Parse(token.Value, CultureInfo.InvariantCulture), token.Offset);
            case TokenKind.Name:
                _index++;
                return token.Value switch
                {
                    "true" or "True" => new LiteralExpression(true, token.Offset),
                    "false" or "False" => new LiteralExpression(false, token.Offset),
                    "none" or "None" => new LiteralExpression(null, token.Offset),
                    _ => new NameExpression(token.Value, token.Offset),
                };
            case TokenKind.Operator when token.Value == "(":
                _index++;
                return ParseParenthesized(token.Offset);
            case TokenKind.Operator when token.Value == "[":
                _index++;
                return new ListExpression(ParseSequence("]"), token.Offset);
            case TokenKind.Operator when token.Value == "{":
                _index++;
                return ParseDict(token.Offset);
            default:
                throw Unexpected("an expression");
        }
    }

    private Expression ParseParenthesized(int offset)
    {
        Enter();
        if (Current.IsOperator(")"))
        {
            _index++;
            _nesting--;
            return new ListExpression([], offset); // the empty tuple
        }
        var first = ParseExpression();
        if (Current.IsOperator(")"))
        {
            _index++;
            _nesting--;
            return first;
        }
        // A tuple; Jinja templates only read tuples, so a list stands in for one.
        var items = new List<Expression> { first };
        while (Current.IsOperator(","))
        {
            _index++;
            if (Current.IsOperator(")")) break;
            items.Add(ParseExpression());
        }
        ExpectOperator(")");
        _nesting--;
        return new ListExpression(items, offset);
    }

    private List<Expression> ParseSequence(string close)
    {
        Enter();
        var items = new List<Expression>();
        while (!Current.IsOperator(close))
        {
            items.Add(ParseExpression());
            if (!Current.IsOperator(",")) break;
            _index++;
        }
        ExpectOperator(close);
        _nesting--;
        return items;
    }

    private DictExpression ParseDict(int offset)
    {
        Enter();
        var entries = new List<(Expression, Expression)>();
        while (!Current.IsOperator("}"))
        {
            var key = ParseExpression();
            ExpectOperator(":");
            entries.Add((key, ParseExpression()));
            if (!Current.IsOperator(",")) break;
            _index++;
        }
        ExpectOperator("}");
        _nesting--;
        return new DictExpression(entries, offset);
    }
}
