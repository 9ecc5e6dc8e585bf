using System.Text;

namespace SharpInfer.Models.Tokenization;

/// <summary>
/// GPT-2 style byte-level BPE ("gpt2"), as llama.cpp's llm_tokenizer_bpe: split words with the
/// vocabulary's pre-tokenizer, spell each word's UTF-8 bytes in GPT-2's byte alphabet, then merge
/// the adjacent pair with the best (lowest) merge rank, leftmost on ties, until none applies.
/// </summary>
internal sealed class ByteLevelBpeTokenizer : TokenizerCore
{
    private readonly Dictionary<string, int> _ids;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _idsBySpan;
    private readonly int[] _byteTokenIds; // id of each byte's one-character piece; -1 if absent
    // (left id, right id) -> (rank, merged id); merges whose sides or result are not tokens are dropped.
    private readonly Dictionary<long, (int Rank, int Merged)> _merges;
    private readonly PreTokenizer _preTokenizer;

    public ByteLevelBpeTokenizer(TokenizerVocabulary vocabulary, TokenType[] types, PreTokenizer preTokenizer) : base(vocabulary, types)
    {
        _preTokenizer = preTokenizer;
        _ids = new Dictionary<string, int>(Pieces.Length, StringComparer.Ordinal);
        for (int id = 0; id < Pieces.Length; id++) _ids[Pieces[id]] = id; // last wins, as llama.cpp's token_to_id
        _idsBySpan = _ids.GetAlternateLookup<ReadOnlySpan<char>>();
        _byteTokenIds = new int[256];
        for (int b = 0; b < 256; b++)
            _byteTokenIds[b] = _idsBySpan.TryGetValue([ByteLevelAlphabet.CharOf((byte)b)], out int id) ? id : -1;

        IReadOnlyList<string> merges = vocabulary.Merges!;
        _merges = new Dictionary<long, (int, int)>(merges.Count);
        for (int rank = 0; rank < merges.Count; rank++)
        {
            string line = merges[rank];
            int space = line.IndexOf(' ', 1); // from 1: a merge's left side may itself be a space
            var left = line.AsSpan(0, space);
            var right = line.AsSpan(space + 1);
            if (!_idsBySpan.TryGetValue(left, out int leftId) || !_idsBySpan.TryGetValue(right, out int rightId)) continue;
            if (!_ids.TryGetValue(string.Concat(left, right), out int mergedId)) continue;
            _merges.TryAdd(Key(leftId, rightId), (rank, mergedId)); // first (best) rank wins
        }
    }

    private static long Key(int left, int right) => ((long)left << 32) | (uint)right;

    protected override bool DropsLeadingSpace => false; // llama.cpp never adds a space prefix for gpt2 vocabularies

    protected override byte[] DecodePiece(int id)
    {
        string piece = Pieces[id];
        if (Types[id] == TokenType.UserDefined) return RawBytes(id);
        if (Types[id] == TokenType.Byte) return ParseBytePiece(piece) is int b and >= 0 ? [(byte)b] : [];
        var bytes = new List<byte>(piece.Length);
        foreach (char c in piece)
        {
            int b = ByteLevelAlphabet.ByteOf(c);
            if (b >= 0) bytes.Add((byte)b);
            else bytes.AddRange(Encoding.UTF8.GetBytes(c.ToString())); // not a byte-level piece: its own text
        }
        return bytes.ToArray();
    }

    protected override void EncodeText(ReadOnlySpan<char> text, bool followsSpecial, List<int> output)
    {
        var words = new List<(int Start, int Length)>();
        _preTokenizer.Split(text, words);
        byte[] utf8 = new byte[256];
        char[] spelled = new char[256];
        var symbolIds = new List<int>();
        var prev = new List<int>();
        var next = new List<int>();
        var queue = new PriorityQueue<(int Left, int Right, int LeftId, int RightId), (int Rank, int Left)>();

        foreach (var (start, length) in words)
        {
            var word = text.Slice(start, length);
            int maxBytes = Encoding.UTF8.GetMaxByteCount(word.Length);
            if (utf8.Length < maxBytes) { utf8 = new byte[maxBytes]; spelled = new char[maxBytes]; }
            int byteCount = Encoding.UTF8.GetBytes(word, utf8);
            for (int i = 0; i < byteCount; i++) spelled[i] = ByteLevelAlphabet.CharOf(utf8[i]);

            if (_preTokenizer.IgnoreMerges && _idsBySpan.TryGetValue(spelled.AsSpan(0, byteCount), out int whole))
            {
                output.Add(whole);
                continue;
            }

            symbolIds.Clear(); prev.Clear(); next.Clear();
            for (int i = 0; i < byteCount; i++)
            {
                symbolIds.Add(_byteTokenIds[utf8[i]]);
                prev.Add(i - 1);
                next.Add(i + 1 < byteCount ? i + 1 : -1);
            }

            queue.Clear();
            void TryAddPair(int left, int right)
            {
                if (left < 0 || right < 0) return;
                int leftId = symbolIds[left], rightId = symbolIds[right];
                if (leftId >= 0 && rightId >= 0 && _merges.TryGetValue(Key(leftId, rightId), out var merge))
                    queue.Enqueue((left, right, leftId, rightId), (merge.Rank, left));
            }
            for (int i = 1; i < byteCount; i++) TryAddPair(i - 1, i);

            while (queue.TryDequeue(out var pair, out _))
            {
                // Stale when either side was merged away (id -2) or has since become another token.
                if (symbolIds[pair.Left] != pair.LeftId || symbolIds[pair.Right] != pair.RightId) continue;
                if (next[pair.Left] != pair.Right) continue;
                symbolIds[pair.Left] = _merges[Key(pair.LeftId, pair.RightId)].Merged;
                symbolIds[pair.Right] = -2;
                next[pair.Left] = next[pair.Right];
                if (next[pair.Right] >= 0) prev[next[pair.Right]] = pair.Left;
                TryAddPair(prev[pair.Left], pair.Left);
                TryAddPair(pair.Left, next[pair.Left]);
            }

            for (int s = 0; s >= 0 && byteCount > 0; s = next[s])
                if (symbolIds[s] >= 0) output.Add(symbolIds[s]); // a byte with no piece is dropped, as in llama.cpp
        }
    }
}
