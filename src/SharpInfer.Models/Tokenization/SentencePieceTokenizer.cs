using System.Text;

namespace SharpInfer.Models.Tokenization;

/// <summary>
/// SentencePiece-style BPE ("llama"), with llama.cpp's llm_tokenizer_spm semantics: spaces become
/// U+2581 (plus one in front when add_space_prefix), the text starts as one symbol per code point,
/// and the adjacent pair whose joined text is a piece with the highest score merges first (leftmost
/// on ties) until no pair joins into a piece; a code point left over that is no piece becomes its
/// UTF-8 bytes as &lt;0xXX&gt; tokens (else the unknown token).
/// </summary>
internal sealed class SentencePieceTokenizer : TokenizerCore
{
    private const char SpaceMark = '\u2581';

    // Pieces a merge may produce: Normal and UserDefined, as in sentencepiece (control, byte and
    // unused pieces are never the result of merging text).
    private readonly Dictionary<string, int> _mergeable;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _mergeableBySpan;
    private readonly float[] _scores;
    private readonly int[] _byteTokenIds; // -1 where the vocabulary has no <0xXX> piece
    private readonly int? _unknownId;
    private readonly bool _addSpacePrefix;

    public SentencePieceTokenizer(TokenizerVocabulary vocabulary, TokenType[] types) : base(vocabulary, types)
    {
        int n = Pieces.Length;
        _scores = vocabulary.Scores?.ToArray() ?? new float[n];
        _mergeable = new Dictionary<string, int>(n, StringComparer.Ordinal);
        _byteTokenIds = new int[256];
        Array.Fill(_byteTokenIds, -1);
        for (int id = 0; id < n; id++)
        {
            if (types[id] is TokenType.Normal or TokenType.UserDefined) _mergeable[Pieces[id]] = id;
            else if (types[id] == TokenType.Byte && ParseBytePiece(Pieces[id]) is int b and >= 0 && _byteTokenIds[b] < 0) _byteTokenIds[b] = id;
        }
        _mergeableBySpan = _mergeable.GetAlternateLookup<ReadOnlySpan<char>>();
        _unknownId = vocabulary.UnknownId;
        _addSpacePrefix = vocabulary.AddSpacePrefix;
    }

    protected override bool DropsLeadingSpace => _addSpacePrefix;

    protected override byte[] DecodePiece(int id)
    {
        string piece = Pieces[id];
        return Types[id] switch
        {
            TokenType.Byte => ParseBytePiece(piece) is int b and >= 0 ? [(byte)b] : [],
            TokenType.UserDefined => RawBytes(id), // llama.cpp copies user-defined pieces verbatim
            _ => Encoding.UTF8.GetBytes(piece.Replace(SpaceMark, ' ')),
        };
    }

    protected override void EncodeText(ReadOnlySpan<char> text, bool followsSpecial, List<int> output)
    {
        bool prefix = _addSpacePrefix && followsSpecial;
        int length = text.Length + (prefix ? 1 : 0);
        if (length == 0) return;
        var normalized = new char[length];
        if (prefix) normalized[0] = SpaceMark;
        text.Replace(normalized.AsSpan(prefix ? 1 : 0), ' ', SpaceMark);

        // Symbols: one per code point to start with, as a doubly linked list over the buffer.
        // (symbol) start/length in chars; length 0 marks a symbol merged into its left neighbour.
        var start = new int[length];
        var size = new int[length];
        var prev = new int[length];
        var next = new int[length];
        int count = 0;
        for (int i = 0; i < length;)
        {
            int width = char.IsHighSurrogate(normalized[i]) && i + 1 < length && char.IsLowSurrogate(normalized[i + 1]) ? 2 : 1;
            start[count] = i;
            size[count] = width;
            prev[count] = count - 1;
            next[count] = i + width < length ? count + 1 : -1;
            count++;
            i += width;
        }

        // Min-heap on (-score, left): the highest score pops first, the leftmost among equals.
        var queue = new PriorityQueue<(int Left, int Right, int Size), (float NegativeScore, int Left)>();
        void TryAddPair(int left, int right)
        {
            if (left < 0 || right < 0) return;
            int pairSize = size[left] + size[right];
            if (_mergeableBySpan.TryGetValue(normalized.AsSpan(start[left], pairSize), out int id))
                queue.Enqueue((left, right, pairSize), (-_scores[id], left));
        }
        for (int i = 1; i < count; i++) TryAddPair(i - 1, i);

        while (queue.TryDequeue(out var pair, out _))
        {
            // A pair is stale when either side has since been merged away or grown.
            if (size[pair.Left] == 0 || size[pair.Right] == 0 || size[pair.Left] + size[pair.Right] != pair.Size) continue;
            size[pair.Left] = pair.Size;
            size[pair.Right] = 0;
            next[pair.Left] = next[pair.Right];
            if (next[pair.Right] >= 0) prev[next[pair.Right]] = pair.Left;
            TryAddPair(prev[pair.Left], pair.Left);
            TryAddPair(pair.Left, next[pair.Left]);
        }

        for (int s = 0; s >= 0 && count > 0; s = next[s])
        {
            var piece = normalized.AsSpan(start[s], size[s]);
            if (_mergeableBySpan.TryGetValue(piece, out int id)) output.Add(id);
            else AppendByteFallback(piece, output);
        }
    }

    /// <summary>A code point no piece covers: its UTF-8 bytes as byte tokens, or UNK when one is missing.</summary>
    private void AppendByteFallback(ReadOnlySpan<char> codePoint, List<int> output)
    {
        Span<byte> utf8 = stackalloc byte[8];
        int byteCount = Encoding.UTF8.GetBytes(codePoint, utf8);
        bool allPresent = true;
        for (int i = 0; i < byteCount; i++) allPresent &= _byteTokenIds[utf8[i]] >= 0;
        if (allPresent)
        {
            for (int i = 0; i < byteCount; i++) output.Add(_byteTokenIds[utf8[i]]);
        }
        else if (_unknownId is int unknown)
        {
            output.Add(unknown);
        }
        // else: nothing can stand for this character in this vocabulary; it is dropped.
    }
}
