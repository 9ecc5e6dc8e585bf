using System.Text;

namespace SharpInfer.Models.Tokenization;

/// <summary>
/// What both tokenizer kinds share: the id tables, special-token splitting, BOS/EOS, the
/// end-of-generation set, and decoding as "token -> UTF-8 bytes, then one UTF-8 decode" so that
/// byte-fallback and byte-level pieces that split a character join up again.
/// </summary>
internal abstract class TokenizerCore : ITokenizer
{
    // Token texts llama.cpp treats as end of generation besides EOS (llama-vocab.cpp, special_eog_ids).
    private static readonly HashSet<string> EndOfGenerationTexts = new(StringComparer.Ordinal)
    {
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>",
        "<EOT>", "_<EOT>", "<|end_of_text|>", "<end_of_utterance>",
    };

    protected readonly string[] Pieces;
    protected readonly TokenType[] Types;
    private readonly bool _addBos;
    private readonly bool _addEos;
    private readonly HashSet<int> _endOfGeneration = new();
    private readonly SpecialTokenSplitter _splitter;
    // UTF-8 bytes each token decodes to; filled lazily (a 150K vocabulary need not be converted up front).
    private readonly byte[]?[] _decodedBytes;
    private readonly byte[][] _rawBytes;

    protected TokenizerCore(TokenizerVocabulary vocabulary, TokenType[] types)
    {
        Pieces = vocabulary.Tokens.ToArray();
        Types = types;
        BosId = vocabulary.BosId;
        EosId = vocabulary.EosId;
        _addBos = vocabulary.AddBos;
        _addEos = vocabulary.AddEos;
        if (EosId >= 0) _endOfGeneration.Add(EosId);
        for (int id = 0; id < Pieces.Length; id++)
            if (EndOfGenerationTexts.Contains(Pieces[id]) && (types[id] is TokenType.Control or TokenType.UserDefined))
                _endOfGeneration.Add(id);
        _splitter = new SpecialTokenSplitter(Pieces, types);
        _decodedBytes = new byte[Pieces.Length][];
        _rawBytes = new byte[Pieces.Length][];
    }

    public int VocabularySize => Pieces.Length;
    public int BosId { get; }
    public int EosId { get; }

    public IReadOnlyList<int> Encode(string text, bool addSpecialTokens = true) => Encode(text, addSpecialTokens, parseSpecial: false);

    public IReadOnlyList<int> Encode(string text, bool addSpecialTokens, bool parseSpecial)
    {
        ArgumentNullException.ThrowIfNull(text);
        var output = new List<int>(text.Length / 3 + 2);
        if (addSpecialTokens && _addBos) output.Add(BosId);
        bool followsSpecial = true; // the start of the input counts as "after a special token"
        foreach (var fragment in _splitter.Split(text, parseSpecial))
        {
            if (fragment.IsText)
            {
                EncodeText(text.AsSpan(fragment.Start, fragment.Length), followsSpecial, output);
                followsSpecial = false;
            }
            else
            {
                output.Add(fragment.TokenId);
                followsSpecial = true;
            }
        }
        if (addSpecialTokens && _addEos) output.Add(EosId);
        return output;
    }

    /// <summary>Appends the ids of plain text (no special tokens in it).</summary>
    protected abstract void EncodeText(ReadOnlySpan<char> text, bool followsSpecial, List<int> output);

    public string Decode(ReadOnlySpan<int> ids, bool skipSpecialTokens = true)
    {
        var bytes = new List<byte>(ids.Length * 4);
        bool atTextStart = true;
        foreach (int id in ids) bytes.AddRange(TokenBytes(id, skipSpecialTokens, ref atTextStart));
        return Encoding.UTF8.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes));
    }

    /// <summary>
    /// The UTF-8 bytes <paramref name="id"/> adds to decoded text. <paramref name="atTextStart"/> is
    /// true until the first piece of real text; SentencePiece drops that piece's leading space.
    /// </summary>
    internal ReadOnlySpan<byte> TokenBytes(int id, bool skipSpecialTokens, ref bool atTextStart)
    {
        CheckId(id);
        switch (Types[id])
        {
            case TokenType.Control:
            case TokenType.Unknown:
                // Rendered as their own text, and never the start of the text (sentencepiece renders them as "").
                return skipSpecialTokens ? default : RawBytes(id);
            case TokenType.Unused:
                return default; // llama.cpp suppresses unused pieces like control tokens, always
            default:
                byte[] decoded = _decodedBytes[id] ??= DecodePiece(id);
                bool strip = atTextStart && DropsLeadingSpace && decoded.Length > 0 && decoded[0] == (byte)' ' && Types[id] != TokenType.Byte;
                atTextStart = false;
                return strip ? decoded.AsSpan(1) : decoded;
        }
    }

    /// <summary>Whether the first piece of text loses one leading space (the space add_space_prefix put there).</summary>
    protected abstract bool DropsLeadingSpace { get; }

    /// <summary>UTF-8 bytes of a Normal, UserDefined or Byte piece.</summary>
    protected abstract byte[] DecodePiece(int id);

    protected byte[] RawBytes(int id) => _rawBytes[id] ??= Encoding.UTF8.GetBytes(Pieces[id]);

    /// <summary>The byte a "&lt;0xXX&gt;" piece stands for, or -1 when the piece is not spelled that way.</summary>
    protected static int ParseBytePiece(string piece)
    {
        if (piece.Length != 6 || !piece.StartsWith("<0x", StringComparison.Ordinal) || piece[5] != '>') return -1;
        return byte.TryParse(piece.AsSpan(3, 2), System.Globalization.NumberStyles.AllowHexSpecifier, null, out byte value) ? value : -1;
    }

    public string TokenText(int id)
    {
        CheckId(id);
        return Pieces[id];
    }

    public bool IsEndOfGeneration(int id) => _endOfGeneration.Contains(id);

    public TokenType GetTokenType(int id)
    {
        CheckId(id);
        return Types[id];
    }

    private void CheckId(int id)
    {
        if ((uint)id >= (uint)Pieces.Length)
            throw new ArgumentOutOfRangeException(nameof(id), id, $"token id outside the vocabulary of {Pieces.Length}");
    }
}
