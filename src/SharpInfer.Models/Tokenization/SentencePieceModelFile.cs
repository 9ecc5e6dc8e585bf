using System.Buffers.Binary;
using System.Text;

namespace SharpInfer.Models.Tokenization;

/// <summary>
/// Reads a sentencepiece tokenizer.model (a serialized sentencepiece.ModelProto) into a "llama"
/// <see cref="TokenizerVocabulary"/>. A hand-written protobuf reader for the few fields needed:
/// <code>
/// ModelProto      1: repeated SentencePiece pieces   2: TrainerSpec   3: NormalizerSpec
/// SentencePiece   1: piece (string)   2: score (float)   3: type (enum, TokenType's numbers; default NORMAL)
/// TrainerSpec     3: model_type (1 UNIGRAM, 2 BPE)   40: unk_id (0)   41: bos_id (1)   42: eos_id (2)   43: pad_id (-1)
/// NormalizerSpec  3: add_dummy_prefix (true)   4: remove_extra_whitespaces (true)
/// </code>
/// Every length is checked against the bytes left; corruption is one TokenizerFormatException naming the field and offset.
/// </summary>
public static class SentencePieceModelFile
{
    public static TokenizerVocabulary Load(string path)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (IOException e) { throw new TokenizerFormatException($"tokenizer.model: cannot read '{path}': {e.Message}"); }
        return Parse(bytes);
    }

    /// <summary>Parses the bytes of a tokenizer.model.</summary>
    public static TokenizerVocabulary Parse(ReadOnlySpan<byte> model)
    {
        var tokens = new List<string>();
        var scores = new List<float>();
        var types = new List<int>();
        int unkId = 0, bosId = 1, eosId = 2, padId = -1, modelType = 1;
        bool addDummyPrefix = true;

        var reader = new ProtoReader(model, 0, model.Length, "ModelProto");
        while (reader.TryReadTag(out int field, out int wire))
        {
            switch (field)
            {
                case 1:
                    {
                        var piece = reader.Nested(wire, "ModelProto.pieces");
                        string text = ""; float score = 0; int type = (int)TokenType.Normal;
                        while (piece.TryReadTag(out int f, out int w))
                        {
                            switch (f)
                            {
                                case 1: text = piece.String(w, "SentencePiece.piece"); break;
                                case 2: score = piece.Float(w, "SentencePiece.score"); break;
                                case 3: type = piece.Int32(w, "SentencePiece.type"); break;
                                default: piece.Skip(w); break;
                            }
                        }
                        if (type < (int)TokenType.Normal || type > (int)TokenType.Byte)
                            throw new TokenizerFormatException($"SentencePiece.type: piece {tokens.Count} has type {type} (expected 1..6) before offset {piece.Position}");
                        tokens.Add(text); scores.Add(score); types.Add(type);
                        break;
                    }
                case 2:
                    {
                        var trainer = reader.Nested(wire, "ModelProto.trainer_spec");
                        while (trainer.TryReadTag(out int f, out int w))
                        {
                            switch (f)
                            {
                                case 3: modelType = trainer.Int32(w, "TrainerSpec.model_type"); break;
                                case 40: unkId = trainer.Int32(w, "TrainerSpec.unk_id"); break;
                                case 41: bosId = trainer.Int32(w, "TrainerSpec.bos_id"); break;
                                case 42: eosId = trainer.Int32(w, "TrainerSpec.eos_id"); break;
                                case 43: padId = trainer.Int32(w, "TrainerSpec.pad_id"); break;
                                default: trainer.Skip(w); break;
                            }
                        }
                        break;
                    }
                case 3:
                    {
                        var normalizer = reader.Nested(wire, "ModelProto.normalizer_spec");
                        while (normalizer.TryReadTag(out int f, out int w))
                        {
                            if (f == 3) addDummyPrefix = normalizer.Int32(w, "NormalizerSpec.add_dummy_prefix") != 0;
                            else normalizer.Skip(w);
                        }
                        break;
                    }
                default:
                    reader.Skip(wire);
                    break;
            }
        }

        if (tokens.Count == 0) throw new TokenizerFormatException("ModelProto.pieces: the model has no pieces");
        if (modelType != 2) throw new TokenizerFormatException($"TrainerSpec.model_type: {modelType} is not BPE (2); only BPE models are supported");
        int n = tokens.Count;
        int? Optional(int id, string field) => id < 0 ? null : id < n ? id : throw new TokenizerFormatException($"{field}: {id} is outside the {n} pieces");
        int Required(int id, string field) => id < 0 ? -1 : id < n ? id : throw new TokenizerFormatException($"{field}: {id} is outside the {n} pieces");

        return new TokenizerVocabulary(
            Model: "llama", Pre: null, Tokens: tokens, Scores: scores, TokenTypes: types, Merges: null,
            BosId: Required(bosId, "TrainerSpec.bos_id"), EosId: Required(eosId, "TrainerSpec.eos_id"),
            UnknownId: Optional(unkId, "TrainerSpec.unk_id"), PaddingId: Optional(padId, "TrainerSpec.pad_id"),
            AddBos: bosId >= 0, AddEos: false, AddSpacePrefix: addDummyPrefix);
    }

    /// <summary>Protobuf wire-format reader over [start, end) of the buffer; every read is bounds-checked.</summary>
    private ref struct ProtoReader
    {
        private const int Varint = 0, Fixed64 = 1, LengthDelimited = 2, Fixed32 = 5;
        private readonly ReadOnlySpan<byte> _buffer;
        private readonly int _end;
        private readonly string _message;
        public int Position { get; private set; }

        public ProtoReader(ReadOnlySpan<byte> buffer, int start, int end, string message)
        {
            _buffer = buffer; Position = start; _end = end; _message = message;
        }

        public bool TryReadTag(out int field, out int wire)
        {
            field = wire = 0;
            if (Position >= _end) return false;
            int at = Position;
            ulong tag = ReadVarint($"{_message} tag");
            wire = (int)(tag & 7);
            ulong number = tag >> 3;
            if (number == 0 || number > int.MaxValue) throw Corrupt($"{_message} tag", $"field number {number}", at);
            field = (int)number;
            return true;
        }

        public ProtoReader Nested(int wire, string field)
        {
            int length = Length(wire, field);
            var nested = new ProtoReader(_buffer, Position, Position + length, field);
            Position += length;
            return nested;
        }

        public string String(int wire, string field)
        {
            int length = Length(wire, field);
            int at = Position;
            Position += length;
            try { return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(_buffer.Slice(at, length)); }
            catch (DecoderFallbackException) { throw Corrupt(field, "invalid UTF-8", at); }
        }

        public float Float(int wire, string field)
        {
            if (wire != Fixed32) throw Corrupt(field, $"wire type {wire} (expected 5, fixed32)", Position);
            Need(4, field);
            float value = BinaryPrimitives.ReadSingleLittleEndian(_buffer.Slice(Position, 4));
            Position += 4;
            return value;
        }

        /// <summary>int32, enum or bool: a varint whose low 32 bits are the value (negative int32s take 10 bytes).</summary>
        public int Int32(int wire, string field)
        {
            if (wire != Varint) throw Corrupt(field, $"wire type {wire} (expected 0, varint)", Position);
            return unchecked((int)ReadVarint(field));
        }

        public void Skip(int wire)
        {
            switch (wire)
            {
                case Varint: ReadVarint($"{_message} unknown varint field"); break;
                case Fixed64: Need(8, $"{_message} unknown fixed64 field"); Position += 8; break;
                case LengthDelimited: Position += Length(wire, $"{_message} unknown length-delimited field"); break;
                case Fixed32: Need(4, $"{_message} unknown fixed32 field"); Position += 4; break;
                default: throw Corrupt($"{_message} tag", $"unsupported wire type {wire}", Position);
            }
        }

        private int Length(int wire, string field)
        {
            if (wire != LengthDelimited) throw Corrupt(field, $"wire type {wire} (expected 2, length-delimited)", Position);
            int at = Position;
            ulong length = ReadVarint(field);
            if (length > (ulong)(_end - Position)) throw Corrupt(field, $"length {length} exceeds the {_end - Position} bytes left", at);
            return (int)length;
        }

        private ulong ReadVarint(string field)
        {
            int at = Position;
            ulong value = 0;
            for (int shift = 0; shift < 70; shift += 7)
            {
                if (Position >= _end) throw Corrupt(field, "truncated varint", at);
                byte b = _buffer[Position++];
                value |= (ulong)(b & 0x7F) << shift;
                if ((b & 0x80) == 0) return value;
            }
            throw Corrupt(field, "varint longer than 10 bytes", at);
        }

        private readonly void Need(int count, string field)
        {
            if (_end - Position < count) throw Corrupt(field, $"needs {count} bytes, {_end - Position} left", Position);
        }

        private static TokenizerFormatException Corrupt(string field, string problem, int offset) =>
            new($"{field}: {problem} at offset {offset}");
    }
}
