using System.Diagnostics;
using SharpInfer.Models.Chat;

namespace SharpInfer.Models.Tests.Chat;

/// <summary>
/// Random damage to the real templates: whatever Parse and Render make of it, they either succeed or throw
/// <see cref="ChatTemplateException"/> (never another exception type, a hang or a stack overflow).
/// </summary>
public class ChatTemplateFuzzTests
{
    // Fragments that tend to produce interesting breakage: tag delimiters, operators, keywords, quotes.
    private static readonly string[] Fragments =
    [
        "{{", "}}", "{%", "%}", "{#", "#}", "-", "+", "'", "\"", "(", ")", "[", "]", "{", "}", ",", ".", ":", "|", "~", "*", "**", "/", "//",
        " if ", " else ", " elif ", " endif ", " for ", " endfor ", " in ", " not ", " and ", " or ", " is ", " set ", " = ", "==",
        "loop", "messages", "ns", "namespace(", "raise_exception(", "range(99999)", "[::-1]", "| length", "| tojson", "| trim",
        "{% for x in messages %}", "{% endfor %}", "{% if x %}", "{% endif %}", "{% set q = q + q %}", "\\", "\n", "0", "-1", "9999999999",
    ];

    private static readonly ChatMessage[][] Conversations =
    [
        [new("system", "sys"), new("user", "hi"), new("assistant", "yo"), new("user", "again")],
        [new("user", "only")],
        [],
        [new("assistant", "first"), new("tool", "x"), new("user", "y")],
    ];

    [Fact]
    public void MutatedRealTemplatesOnlyEverThrowChatTemplateException()
    {
        var random = new Random(20240726);
        var templates = RealChatTemplates.All.Select(t => t.Source).Append(ChatTemplate.ChatMl.Source).ToArray();
        var clock = Stopwatch.StartNew();
        int parsed = 0, rendered = 0;
        for (int iteration = 0; iteration < 4000; iteration++)
        {
            var source = Mutate(templates[random.Next(templates.Length)], random);
            ChatTemplate template;
            try
            {
                template = ChatTemplate.Parse(source);
                parsed++;
            }
            catch (ChatTemplateException error)
            {
                Assert.DoesNotContain('\n', error.Message);
                continue;
            }
            catch (Exception other)
            {
                Assert.Fail($"Parse threw {other.GetType().Name}: {other.Message}\n--- template ---\n{source}");
                throw;
            }

            var messages = Conversations[random.Next(Conversations.Length)];
            try
            {
                template.Render(messages, random.Next(2) == 0, "<s>", "</s>");
                rendered++;
            }
            catch (ChatTemplateException error)
            {
                Assert.DoesNotContain('\n', error.Message);
            }
            catch (Exception other)
            {
                Assert.Fail($"Render threw {other.GetType().Name}: {other.Message}\n--- template ---\n{source}");
            }
        }
        // The fuzzer must exercise rendering, not only parse errors.
        Assert.True(parsed > 400, $"only {parsed} mutants parsed");
        Assert.True(rendered > 200, $"only {rendered} mutants rendered");
        Assert.True(clock.Elapsed < TimeSpan.FromMinutes(2), $"fuzzing took {clock.Elapsed}");
    }

    private static string Mutate(string source, Random random)
    {
        int edits = 1 + random.Next(4);
        for (int i = 0; i < edits; i++)
        {
            int at = random.Next(source.Length + 1);
            switch (random.Next(6))
            {
                case 0: // truncate
                    source = source[..at];
                    break;
                case 1: // delete a span
                    int length = Math.Min(random.Next(1, 12), source.Length - at);
                    source = source.Remove(at, length);
                    break;
                case 2: // insert a fragment
                    source = source.Insert(at, Fragments[random.Next(Fragments.Length)]);
                    break;
                case 3: // replace one character with a random printable one
                    if (at < source.Length) source = source.Remove(at, 1).Insert(at, ((char)random.Next(32, 127)).ToString());
                    break;
                case 4: // duplicate a span (repeats tags and loops)
                    int span = Math.Min(random.Next(1, 80), source.Length - at);
                    source = source.Insert(at, source.Substring(at, span));
                    break;
                default: // splice a piece of one place into another
                    if (source.Length > 0)
                    {
                        int from = random.Next(source.Length);
                        int take = Math.Min(random.Next(1, 40), source.Length - from);
                        source = source.Insert(at, source.Substring(from, take));
                    }
                    break;
            }
        }
        return source;
    }
}
