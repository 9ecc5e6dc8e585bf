namespace SharpInfer.Models.Chat;

// The parsed form of a template. Every node keeps the source offset it came from so that runtime errors can name
// the line and column of the expression or tag that failed.

internal abstract record Statement(int Offset);

internal sealed record TextStatement(string Text, int Offset) : Statement(Offset);

internal sealed record OutputStatement(Expression Value, int Offset) : Statement(Offset);

internal sealed record IfBranch(Expression Condition, IReadOnlyList<Statement> Body);

internal sealed record IfStatement(IReadOnlyList<IfBranch> Branches, IReadOnlyList<Statement>? ElseBody, int Offset) : Statement(Offset);

/// <summary>"{% for a, b in items if filter %}...{% else %}...{% endfor %}".</summary>
internal sealed record ForStatement(
    IReadOnlyList<string> Targets, Expression Iterable, Expression? Filter,
    IReadOnlyList<Statement> Body, IReadOnlyList<Statement>? ElseBody, int Offset) : Statement(Offset);

/// <summary>"{% set name = value %}" or, with <see cref="Attribute"/>, "{% set ns.attribute = value %}".</summary>
internal sealed record SetStatement(string Name, string? Attribute, Expression Value, int Offset) : Statement(Offset);

/// <summary>"{% set name %}body{% endset %}": captures rendered text.</summary>
internal sealed record SetBlockStatement(string Name, IReadOnlyList<Statement> Body, int Offset) : Statement(Offset);

internal sealed record BreakStatement(int Offset) : Statement(Offset);

internal sealed record ContinueStatement(int Offset) : Statement(Offset);

internal abstract record Expression(int Offset);

internal sealed record LiteralExpression(object? Value, int Offset) : Expression(Offset);

internal sealed record ListExpression(IReadOnlyList<Expression> Items, int Offset) : Expression(Offset);

internal sealed record DictExpression(IReadOnlyList<(Expression Key, Expression Value)> Entries, int Offset) : Expression(Offset);

internal sealed record NameExpression(string Name, int Offset) : Expression(Offset);

internal sealed record AttributeExpression(Expression Target, string Name, int Offset) : Expression(Offset);

internal sealed record IndexExpression(Expression Target, Expression Index, int Offset) : Expression(Offset);

internal sealed record SliceExpression(Expression Target, Expression? Start, Expression? Stop, Expression? Step, int Offset) : Expression(Offset);

internal sealed record Arguments(IReadOnlyList<Expression> Positional, IReadOnlyList<(string Name, Expression Value)> Named)
{
    public static readonly Arguments None = new([], []);
}

internal sealed record CallExpression(Expression Callee, Arguments Arguments, int Offset) : Expression(Offset);

internal sealed record FilterExpression(Expression Value, string Name, Arguments Arguments, int Offset) : Expression(Offset);

internal sealed record TestExpression(Expression Value, string Name, Arguments Arguments, bool Negated, int Offset) : Expression(Offset);

internal sealed record UnaryExpression(string Operator, Expression Operand, int Offset) : Expression(Offset);

/// <summary>Arithmetic, comparison, "in"/"not in", "~", and the short-circuiting "and"/"or".</summary>
internal sealed record BinaryExpression(string Operator, Expression Left, Expression Right, int Offset) : Expression(Offset);

/// <summary>"then if condition else otherwise"; a missing else yields undefined, as in Jinja.</summary>
internal sealed record ConditionalExpression(Expression Then, Expression Condition, Expression? Otherwise, int Offset) : Expression(Offset);
