using System.Collections.Concurrent;
using System.Text.RegularExpressions;

namespace SharpInfer.Models.Tokenization;

/// <summary>
/// The word splitter a gpt2 (byte-level BPE) vocabulary names in tokenizer.ggml.pre, with the
/// regexes of llama.cpp's llm_tokenizer_bpe. Several regexes apply in turn, each cutting every
/// piece the previous ones left (text between matches stays a piece of its own), as llama.cpp's
/// unicode_regex_split does.
/// </summary>
/// <remarks>
/// .NET regexes see UTF-16 code units, so a letter or digit outside the BMP (e.g. U+1D400) counts
/// as "not a letter" here where llama.cpp's code-point tables call it a letter; emoji and other
/// astral symbols behave the same in both.
/// </remarks>
internal sealed class PreTokenizer
{
    // The contraction group spelled case by case, as llama.cpp does: (?i:...) in .NET would also
    // match the Kelvin sign and the long s.
    private const string Contractions = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";
    internal const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
    private const string Gpt2PatternLlamaCpp = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";
    internal const string Llama3Pattern = Contractions + @"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    internal const string Qwen2Pattern = Contractions + @"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    private static readonly ConcurrentDictionary<string, Regex> Compiled = new(StringComparer.Ordinal);

    private readonly Regex[] _regexes;

    /// <summary>Llama-3 style vocabularies look a whole word up before merging (llama.cpp's ignore_merges).</summary>
    public bool IgnoreMerges { get; }

    private PreTokenizer(string[] patterns, bool ignoreMerges)
    {
        _regexes = patterns.Select(p => Compiled.GetOrAdd(p, static q => new Regex(q, RegexOptions.Compiled | RegexOptions.CultureInvariant))).ToArray();
        IgnoreMerges = ignoreMerges;
    }

    /// <summary>The splitter for a tokenizer.ggml.pre name; null means "default".</summary>
    public static PreTokenizer ForName(string? pre) => pre switch
    {
        null or "default" => new([@"[\p{P}\$\+<=>\^~\|]+", Gpt2PatternLlamaCpp, @"\p{N}+", "[0-9][0-9][0-9]"], false),
        "llama3" or "llama-v3" or "llama-bpe" or "falcon3" or "falcon-h1" or "pixtral" => new([Llama3Pattern], true),
        "dbrx" or "smaug-bpe" or "chatglm-bpe" or "glm4" => new([Llama3Pattern], false),
        "qwen2" or "deepseek-r1-qwen" or "stablelm2" or "hunyuan" => new([Qwen2Pattern], false),
        "gpt2" or "gpt-2" or "phi-2" or "mpt" or "olmo" or "jais" or "roberta-bpe" or "jina-es" or "jina-de"
            or "jina-v1-en" or "jina-v2-es" or "jina-v2-de" or "jina-v2-code" or "gigachat" => new([Gpt2Pattern], false),
        "smollm" or "starcoder" or "refact" or "command-r" or "codeshell" or "exaone" or "minerva" => new([@"\p{N}", Gpt2PatternLlamaCpp], false),
        _ => throw new TokenizerFormatException($"tokenizer.ggml.pre: unsupported pre-tokenizer '{pre}'"),
    };

    /// <summary>Appends (start, length) of each word of <paramref name="text"/>, in order.</summary>
    public void Split(ReadOnlySpan<char> text, List<(int Start, int Length)> words)
    {
        words.Clear();
        if (text.IsEmpty) return;
        words.Add((0, text.Length));
        var cut = new List<(int Start, int Length)>();
        foreach (Regex regex in _regexes)
        {
            cut.Clear();
            foreach (var (start, length) in words)
            {
                int position = start;
                foreach (ValueMatch match in regex.EnumerateMatches(text.Slice(start, length)))
                {
                    if (match.Length == 0) continue;
                    int matchStart = start + match.Index;
                    if (matchStart > position) cut.Add((position, matchStart - position));
                    cut.Add((matchStart, match.Length));
                    position = matchStart + match.Length;
                }
                if (position < start + length) cut.Add((position, start + length - position));
            }
            words.Clear();
            words.AddRange(cut);
        }
    }
}
