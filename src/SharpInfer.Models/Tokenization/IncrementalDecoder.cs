using System.Text;

namespace SharpInfer.Models.Tokenization;

/// <summary>
/// Turns generated ids into text as they arrive. Each <see cref="Push"/> returns only what the token
/// adds; bytes of a character split across tokens (byte-fallback &lt;0xE2&gt;&lt;0x96&gt;..., gpt2
/// byte-level pieces) are held until the character completes, and SentencePiece's leading space is
/// dropped once, as <see cref="ITokenizer.Decode"/> does. Concatenating every Push and
/// <see cref="Flush"/> gives Decode of all the ids. Not thread-safe: one decoder per sequence.
/// </summary>
public sealed class IncrementalDecoder
{
    private readonly ITokenizer _tokenizer;
    private readonly bool _skipSpecialTokens;

    // For our tokenizers: bytes go through one stateful UTF-8 decoder, O(1) per token. A chunked
    // System.Text.Decoder yields exactly what one whole-buffer decode yields.
    private readonly TokenizerCore? _core;
    private readonly Decoder? _utf8;
    private char[] _chars = new char[64];
    private bool _atTextStart = true;

    // For any other ITokenizer: decode the whole prefix and emit what is new (O(n) per token).
    private readonly List<int>? _ids;
    private int _emitted;

    public IncrementalDecoder(ITokenizer t, bool skipSpecialTokens = true)
    {
        ArgumentNullException.ThrowIfNull(t);
        _tokenizer = t;
        _skipSpecialTokens = skipSpecialTokens;
        _core = t as TokenizerCore;
        if (_core != null) _utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false).GetDecoder();
        else _ids = new List<int>();
    }

    /// <summary>The text <paramref name="id"/> completes; "" while a character is still incomplete.</summary>
    public string Push(int id)
    {
        if (_core != null)
        {
            ReadOnlySpan<byte> bytes = _core.TokenBytes(id, _skipSpecialTokens, ref _atTextStart);
            return Convert(bytes, flush: false);
        }
        _ids!.Add(id);
        string full = _tokenizer.Decode(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_ids), _skipSpecialTokens);
        // A trailing U+FFFD may be a character still arriving: wait for more.
        if (full.Length <= _emitted || full[^1] == '\uFFFD') return "";
        string added = full[_emitted..];
        _emitted = full.Length;
        return added;
    }

    /// <summary>Whatever is held back, with an incomplete trailing character as U+FFFD; the decoder is then reset to empty.</summary>
    public string Flush()
    {
        if (_core != null)
        {
            string rest = Convert(default, flush: true);
            _atTextStart = true;
            return rest;
        }
        string full = _tokenizer.Decode(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_ids), _skipSpecialTokens);
        string tail = full.Length > _emitted ? full[_emitted..] : "";
        _ids!.Clear();
        _emitted = 0;
        return tail;
    }

    private string Convert(ReadOnlySpan<byte> bytes, bool flush)
    {
        int needed = _utf8!.GetCharCount(bytes, flush);
        if (needed == 0 && !flush) { _utf8.GetChars(bytes, Span<char>.Empty, flush); return ""; }
        if (_chars.Length < needed) _chars = new char[Math.Max(needed, _chars.Length * 2)];
        int written = _utf8.GetChars(bytes, _chars, flush);
        return written == 0 ? "" : new string(_chars, 0, written);
    }
}
