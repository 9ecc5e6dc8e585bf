using SharpInfer.Tests;

namespace SharpInfer.Models.Tests.Tokenization;

/// <summary>Texts that exercise tokenizers: whitespace runs, digits, punctuation, emoji, CJK, RTL, combining marks, rare characters.</summary>
internal static class TokenizerCorpus
{
    public static readonly string[] Varied =
    [
        "",
        " ",
        "  ",
        "\n",
        "Once upon a time",
        "Hello world",
        " Hello world",
        "Hello world ",
        "   three leading spaces and two trailing  ",
        "multiple    inner     spaces",
        "tab\tseparated\tvalues\t",
        "line one\nline two\n\nline four\r\nwindows line\r\n",
        "\n\n\nleading newlines",
        "Numbers: 0 1 12 123 1234 12345 3.14159 -42 1,000,000 2024-01-31",
        "Phone 555-0199, ZIP 90210; room #4B.",
        "Punctuation!?!... \"quoted\" 'single' (parens) [brackets] {braces} <angle> a/b\\c ~`@#$%^&*_+=|",
        "Contractions: I'm, you're, he's, we've, they'll, I'd, don't, CAN'T, It'S",
        "Emoji: 😀 😃 🎉 👍🏽 ❤️ 🇺🇸 🏳️‍🌈",
        "ZWJ family: 👨‍👩‍👧‍👦 and 🧑‍💻 coder",
        "CJK: 你好，世界！今天天气很好。日本語のテキスト、カタカナ。한국어 텍스트입니다.",
        "Arabic: مرحبا بالعالم، كيف حالك؟",
        "Hebrew: שלום עולם",
        "Combining: e\u0301 a\u0308 n\u0303 Z\u0351\u0356\u0353a\u036Ch\u0301",
        "Accents: café naïve façade résumé Ærøskøbing Straße",
        "Greek and Cyrillic: Αλφάβητο Ελληνικά, Русский текст",
        "Rare: \u0001\u0007\u001F \u00AD soft hyphen \uFEFF BOM \u2028 LS \u200B ZWSP",
        "Astral: 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝐀𝐁𝐂 𠀀𠀁 🜁",
        "Private use: \uE000\uF8FF and replacement \uFFFD",
        "Symbols: ∑∫√∞ ≠ ≤ ≥ → ← ↔ ™ © ® ° ± × ÷ € £ ¥ ₹",
        "Byte fallback heavy: ☃☄★☆☇☈ ⌘⌥⇧ ▁▂▃▄▅▆▇█",
        "Mixed: The 3 little 🐷🐷🐷 went to 北京 for 2 weeks!!!",
        "code: for (int i = 0; i < n; i++) { sum += a[i] * b[i]; } // done",
        "URL https://example.com/path?q=1&r=two#frag and email a.b@c.org",
        "<s> literal control text </s> and <unk> and <0x41>",
        "▁ already escaped space mark ▁▁",
        "ends with emoji 🎉",
        "a",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    ];

    /// <summary>Lines and multi-line chunks of the TinyStories validation text; empty when the shared file is absent.</summary>
    public static IReadOnlyList<string> TinyStories(int maxLines = 300, int chunkLines = 25)
    {
        string? path = TestEnvironment.SharedFile("data", "tinystories-valid-part1.txt");
        if (path == null) return [];
        string[] lines = File.ReadAllLines(path);
        var texts = new List<string>();
        texts.AddRange(lines.Take(maxLines));
        for (int i = 0; i + chunkLines <= Math.Min(lines.Length, maxLines * 3); i += chunkLines)
            texts.Add(string.Join("\n", lines, i, chunkLines));
        return texts;
    }

    public static IEnumerable<string> All() => Varied.Concat(TinyStories());
}
