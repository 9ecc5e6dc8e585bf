using SharpInfer.Models.Chat;
using SharpInfer.Models.Gguf;
using SharpInfer.Models.Tests.Gguf;

namespace SharpInfer.Models.Tests.Chat;

/// <summary>The Jinja subset one construct at a time, the error messages, and GGUF lookup.</summary>
public class ChatTemplateLanguageTests
{
    private static readonly ChatMessage[] TwoMessages = [new("system", "Be brief."), new("user", "Hi")];

    private static string Render(string source, IReadOnlyList<ChatMessage>? messages = null, bool addGenerationPrompt = true) =>
        ChatTemplate.Parse(source).Render(messages ?? TwoMessages, addGenerationPrompt, "<s>", "</s>");

    [Theory]
    [InlineData("plain text", "plain text")]
    [InlineData("{{ 'a' + \"b\" }}", "ab")]
    [InlineData(@"{{ 'line\nbreak\t\'q\'' }}", "line\nbreak\t'q'")]
    [InlineData("{{ 1 + 2 * 3 }}|{{ (1 + 2) * 3 }}|{{ 7 // 2 }}|{{ -7 // 2 }}|{{ 7 % 3 }}|{{ -7 % 3 }}|{{ 2 ** 10 }}", "7|9|3|-4|1|2|1024")]
    [InlineData("{{ 7 / 2 }}|{{ 4 / 2 }}|{{ 1.5 * 2 }}", "3.5|2.0|3.0")]
    [InlineData("{{ 1 ~ 'x' ~ none ~ true }}", "1xNoneTrue")]
    [InlineData("{{ true }}{{ False }}{{ none }}{{ None }}", "TrueFalseNoneNone")]
    [InlineData("{{ [1, 'a', none] }}|{{ {'k': 'v'} }}", "[1, 'a', None]|{'k': 'v'}")]
    [InlineData("{{ 1 < 2 and 2 <= 2 and 3 > 2 and 3 >= 4 }}|{{ 1 == 1.0 }}|{{ 'a' != 'b' }}", "False|True|True")]
    [InlineData("{{ 'b' in 'abc' }}|{{ 2 in [1, 2] }}|{{ 'k' in {'k': 1} }}|{{ 3 not in [1] }}", "True|True|True|True")]
    [InlineData("{{ 0 or 'x' }}|{{ '' and 'y' }}|{{ not none }}", "x||True")]
    [InlineData("{{ 'yes' if 1 else 'no' }}|{{ 'yes' if 0 else 'no' }}|{{ 'only' if false }}", "yes|no|")]
    [InlineData("{{ messages[0].role }}|{{ messages[1]['content'] }}|{{ messages[-1].role }}|{{ messages | length }}", "system|Hi|user|2")]
    [InlineData("{{ messages[1:] | length }}|{{ 'abcdef'[1:3] }}|{{ 'abcdef'[::-1] }}|{{ [1, 2, 3][-2:] }}", "1|bc|fedcba|[2, 3]")]
    [InlineData("{{ bos_token }}{{ eos_token }}{{ add_generation_prompt }}", "<s></s>True")]
    public void Expressions(string source, string expected) => Assert.Equal(expected, Render(source));

    [Theory]
    [InlineData("{{ '  x  ' | trim }}|{{ 'ab' | upper }}|{{ 'AB' | lower }}|{{ 'hello world' | title }}", "x|AB|ab|Hello World")]
    [InlineData("{{ 'abc' | length }}|{{ [1, 2] | count }}|{{ undefined_thing | length }}", "3|2|0")]
    [InlineData("{{ missing | default('d') }}|{{ '' | default('d') }}|{{ '' | default('d', true) }}", "d||d")]
    [InlineData("{{ ['a', 'b'] | join(', ') }}|{{ [3, 1] | first }}|{{ [3, 1] | last }}|{{ 'ab' | list }}", "a, b|3|1|['a', 'b']")]
    [InlineData("{{ {'a': 1, 'b': [true, none, 'x\"y']} | tojson }}", "{\"a\": 1, \"b\": [true, null, \"x\\\"y\"]}")]
    [InlineData("{{ {'a': [1]} | tojson(indent=2) }}", "{\n  \"a\": [\n    1\n  ]\n}")]
    [InlineData("{{ messages | selectattr('role', 'equalto', 'user') | map(attribute='content') | list }}", "['Hi']")]
    [InlineData("{{ ['a', 'code', 'b'] | reject('equalto', 'code') | join('+') }}", "a+b")]
    [InlineData("{% for k, v in {'x': 1, 'y': 2} | items %}{{ k }}={{ v }};{% endfor %}", "x=1;y=2;")]
    [InlineData("{{ 'a-b' | replace('-', '+') }}|{{ 5 | string }}|{{ '12' | int + 1 }}", "a+b|5|13")]
    public void Filters(string source, string expected) => Assert.Equal(expected, Render(source));

    [Theory]
    [InlineData("{{ '  x ' .strip() }}|{{ 'xxaxx'.strip('x') }}|{{ 'abc'.startswith('ab') }}|{{ 'abc'.endswith(('x', 'c')) }}", "x|a|True|True")]
    [InlineData("{{ 'a b  c'.split() }}|{{ 'a,b'.split(',') }}|{{ 'aB'.upper() }}{{ 'aB'.lower() }}|{{ 'hi there'.title() }}", "['a', 'b', 'c']|['a', 'b']|ABab|Hi There")]
    [InlineData("{{ {'a': 1}.get('a') }}|{{ {'a': 1}.get('b', 2) }}|{{ {'a': 1}.keys() | list }}", "1|2|['a']")]
    public void Methods(string source, string expected) => Assert.Equal(expected, Render(source));

    [Theory]
    [InlineData("{{ x is defined }}|{{ messages is defined }}|{{ x is not defined }}|{{ x is undefined }}", "False|True|True|True")]
    [InlineData("{{ none is none }}|{{ 'a' is string }}|{{ 1 is string }}|{{ {} is mapping }}|{{ [] is iterable }}", "True|True|False|True|True")]
    [InlineData("{{ 3 is odd }}|{{ 4 is even }}|{{ 9 is divisibleby 3 }}|{{ 1 is number }}|{{ 'x' is equalto('x') }}", "True|True|True|True|True")]
    public void Tests(string source, string expected) => Assert.Equal(expected, Render(source));

    [Fact]
    public void ForLoopExposesLoopVariables()
    {
        var source = "{% for m in messages %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}|{% endfor %}";
        Assert.Equal("10TrueFalse2|21FalseTrue2|", Render(source));
    }

    [Fact]
    public void ForLoopFilterElseBreakAndContinue()
    {
        Assert.Equal("2,4,", Render("{% for i in range(1, 6) if i is even %}{{ i }},{% endfor %}"));
        Assert.Equal("empty", Render("{% for i in [] %}{{ i }}{% else %}empty{% endfor %}"));
        Assert.Equal("13", Render("{% for i in [1, 2, 3, 4] %}{% if i == 2 %}{% continue %}{% endif %}{% if i == 4 %}{% break %}{% endif %}{{ i }}{% endfor %}"));
    }

    [Fact]
    public void SetInsideALoopDoesNotLeakButNamespaceAttributesDo()
    {
        var source = "{% set count = 0 %}{% set ns = namespace(total=0) %}" +
                     "{% for m in messages %}{% set count = count + 1 %}{% set ns.total = ns.total + 1 %}{% endfor %}" +
                     "{{ count }}/{{ ns.total }}";
        Assert.Equal("0/2", Render(source));
    }

    [Fact]
    public void SetInsideIfIsVisibleAfterIt()
    {
        Assert.Equal("x", Render("{% if true %}{% set v = 'x' %}{% endif %}{{ v }}"));
        Assert.Equal("[captured]", Render("{% set v %}captured{% endset %}[{{ v }}]"));
    }

    [Fact]
    public void IfElifElse()
    {
        var source = "{% for m in messages %}{% if m.role == 'user' %}U{% elif m.role == 'system' %}S{% else %}?{% endif %}{% endfor %}";
        Assert.Equal("SU", Render(source));
    }

    [Fact]
    public void CommentsAndWhitespaceControl()
    {
        Assert.Equal("ab", Render("a  {#- note -#}  b"));
        Assert.Equal("a|b", Render("a  {{- '|' -}}  \n b"));
        Assert.Equal("ab", Render("a\n  {%- if true -%}\n  b{% endif %}"));
    }

    [Fact]
    public void TrimBlocksAndLstripBlocksAreOnLikeHuggingFace()
    {
        // trim_blocks removes the newline after a block tag; lstrip_blocks the indentation before one. Output tags keep both.
        Assert.Equal("x\n", Render("{% if true %}\n    {% if true %}\nx\n    {% endif %}\n{% endif %}\n"));
        Assert.Equal("  y\n", Render("{% if true %}\n  {{ 'y' }}\n{% endif %}"));
        // "{%+" keeps the indentation before a tag, "+%}" the newline after one.
        Assert.Equal("  z", Render("  {%+ if true %}z{% endif %}"));
        Assert.Equal("\nz", Render("{% if true +%}\nz{% endif %}"));
    }

    [Fact]
    public void UndefinedValuesAreFalsyAndRenderEmpty()
    {
        Assert.Equal("[]no", Render("[{{ nothing }}]{% if nothing %}yes{% else %}no{% endif %}"));
        Assert.Equal("", Render("{{ messages[5] }}{{ messages[0].nope }}"));
    }

    [Fact]
    public void SyntaxErrorNamesLineAndColumnOnOneLine()
    {
        var error = Assert.Throws<ChatTemplateException>(() => ChatTemplate.Parse("line one\n{% if messages %}\n  {{ 1 + }}\n{% endif %}"));
        Assert.Equal(3, error.Line);
        Assert.Equal(10, error.Column);
        Assert.StartsWith("chat template 3:10: ", error.Message);
        Assert.Contains("expected an expression", error.Message);
        Assert.DoesNotContain('\n', error.Message);
    }

    [Theory]
    [InlineData("{% if x %}never closed", "1:1", "never closed")]
    [InlineData("{% for x in y %}{% endif %}", "1:20", "unexpected 'endif'")]
    [InlineData("{{ 'unterminated }}", "1:4", "string literal is never closed")]
    [InlineData("text {{ x ", "1:6", "never closed")]
    [InlineData("{# open comment", "1:1", "comment")]
    [InlineData("{% macro m() %}{% endmacro %}", "1:4", "unknown tag 'macro'")]
    [InlineData("{% endfor %}", "1:4", "unexpected 'endfor'")]
    [InlineData("{{ x $ y }}", "1:6", "unexpected character '$'")]
    [InlineData("{% break %}", "1:4", "outside a for loop")]
    public void SyntaxErrors(string source, string position, string problem)
    {
        var error = Assert.Throws<ChatTemplateException>(() => ChatTemplate.Parse(source));
        Assert.StartsWith($"chat template {position}: ", error.Message);
        Assert.Contains(problem, error.Message);
    }

    [Fact]
    public void UnknownFilterIsAClearErrorAtItsPosition()
    {
        var template = ChatTemplate.Parse("ok\n{{ messages | frobnicate }}");
        var error = Assert.Throws<ChatTemplateException>(() => template.Render(TwoMessages));
        Assert.Equal("chat template 2:13: unknown filter 'frobnicate'", error.Message);
    }

    [Fact]
    public void UnknownFilterInAnUntakenBranchDoesNotStopRendering()
    {
        // Real templates carry branches for features the server never passes (tools, images); those may use filters
        // this renderer lacks without making the template unusable.
        Assert.Equal("fine", Render("{% if tools is defined %}{{ tools | frobnicate }}{% endif %}fine"));
    }

    [Theory]
    [InlineData("{{ raise_exception('bad ' ~ messages | length) }}", "chat template 1:4: bad 2")]
    [InlineData("{{ nothing.attribute }}", "undefined")]
    [InlineData("{{ 1 + 'a' }}", "unsupported operand types for +: 'int' and 'str'")]
    [InlineData("{{ 1 // 0 }}", "division or modulo by zero")]
    [InlineData("{{ 1 < 'a' }}", "not supported between")]
    [InlineData("{% for x in 5 %}{% endfor %}", "not iterable")]
    [InlineData("{{ 9223372036854775807 + 1 }}", "overflow")]
    [InlineData("{{ 'x' * 100000000 }}", "longer than")]
    [InlineData("{{ x is frobnicated }}", "unknown test 'frobnicated'")]
    public void RuntimeErrors(string source, string problem)
    {
        var error = Assert.Throws<ChatTemplateException>(() => Render(source));
        Assert.Contains(problem, error.Message);
    }

    [Fact]
    public void RunawayTemplateHitsTheStepLimit()
    {
        var source = "{% for a in range(1000) %}{% for b in range(1000) %}{% for c in range(1000) %}{% endfor %}{% endfor %}{% endfor %}";
        var error = Assert.Throws<ChatTemplateException>(() => Render(source));
        Assert.Contains("steps", error.Message);
    }

    [Fact]
    public void RunawayOutputHitsTheOutputLimit()
    {
        var source = "{% set s = 'x' * 1000000 %}{% for a in range(100) %}{{ s }}{% endfor %}";
        var error = Assert.Throws<ChatTemplateException>(() => Render(source));
        Assert.Contains("longer than", error.Message);
    }

    [Fact]
    public void DeepNestingIsASyntaxErrorNotAStackOverflow()
    {
        var source = "{{ " + new string('(', 10000) + "1" + new string(')', 10000) + " }}";
        Assert.Throws<ChatTemplateException>(() => ChatTemplate.Parse(source));
    }

    [Fact]
    public void FromGgufReadsTheChatTemplateMetadata()
    {
        var withTemplate = new GgufWriter()
            .Set("general.architecture", "llama")
            .Set(ChatTemplate.GgufMetadataKey, RealChatTemplates.Llama3Instruct);
        using (var file = GgufFile.Parse(GgufRoundTripTests.Write(withTemplate)))
        {
            Assert.Equal(RealChatTemplates.Llama3Instruct, ChatTemplate.FromGguf(file).Source);
        }

        var withoutTemplate = new GgufWriter().Set("general.architecture", "llama");
        using (var file = GgufFile.Parse(GgufRoundTripTests.Write(withoutTemplate)))
        {
            Assert.Same(ChatTemplate.ChatMl, ChatTemplate.FromGguf(file));
        }
    }
}
