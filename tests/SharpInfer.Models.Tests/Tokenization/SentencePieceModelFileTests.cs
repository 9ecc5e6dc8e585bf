using SharpInfer.Models.Tokenization;
using SharpInfer.Tests;
using Tokenizer = SharpInfer.Models.Tokenization.Tokenizer;

namespace SharpInfer.Models.Tests.Tokenization;

/// <summary>The protobuf reader: well-formed hand-made models, and corrupt bytes that must fail only with TokenizerFormatException.</summary>
public sealed class SentencePieceModelFileTests
{
    // Protobuf writers for hand-made models.
    private static byte[] Varint(ulong v)
    {
        var bytes = new List<byte>();
        do { byte b = (byte)(v & 0x7F); v >>= 7; bytes.Add(v != 0 ? (byte)(b | 0x80) : b); } while (v != 0);
        return [.. bytes];
    }
    private static byte[] Tag(int field, int wire) => Varint((ulong)(field << 3 | wire));
    private static byte[] Bytes(int field, byte[] payload) => [.. Tag(field, 2), .. Varint((ulong)payload.Length), .. payload];
    private static byte[] Int(int field, int value) => [.. Tag(field, 0), .. Varint(unchecked((ulong)(long)value))];
    private static byte[] Float(int field, float value) => [.. Tag(field, 5), .. BitConverter.GetBytes(value)];
    private static byte[] Piece(string text, float score, int type) =>
        Bytes(1, [.. Bytes(1, System.Text.Encoding.UTF8.GetBytes(text)), .. Float(2, score), .. Int(3, type)]);

    private static byte[] SmallModel(bool addDummyPrefix = true, int padId = -1, int modelType = 2) =>
    [
        .. Piece("<unk>", 0, 2), .. Piece("<s>", 0, 3), .. Piece("</s>", 0, 3), .. Piece("▁hi", -1, 1),
        .. Piece("hi", -2, 1), .. Piece("▁", -3, 1), .. Piece("h", -4, 1), .. Piece("i", -5, 1),
        .. Bytes(2, [.. Int(3, modelType), .. Int(4, 4), .. Int(40, 0), .. Int(41, 1), .. Int(42, 2), .. Int(43, padId), .. Bytes(45, "<unk>"u8.ToArray())]),
        .. Bytes(3, [.. Bytes(1, "identity"u8.ToArray()), .. Int(3, addDummyPrefix ? 1 : 0), .. Int(4, 0)]),
    ];

    [Fact]
    public void ReadsPiecesScoresTypesAndSpecs()
    {
        TokenizerVocabulary v = SentencePieceModelFile.Parse(SmallModel(padId: 3));
        Assert.Equal(["<unk>", "<s>", "</s>", "▁hi", "hi", "▁", "h", "i"], v.Tokens);
        Assert.Equal([0f, 0f, 0f, -1f, -2f, -3f, -4f, -5f], v.Scores!);
        Assert.Equal([2, 3, 3, 1, 1, 1, 1, 1], v.TokenTypes!);
        Assert.Equal(("llama", 1, 2, (int?)0, (int?)3), (v.Model, v.BosId, v.EosId, v.UnknownId, v.PaddingId));
        Assert.True(v.AddBos);
        Assert.True(v.AddSpacePrefix);
        Assert.Equal([1, 3], Tokenizer.Create(v).Encode("hi"));          // h+i, then ▁+hi
        Assert.Equal([1, 5, 0], Tokenizer.Create(v).Encode("x"));        // no byte pieces: UNK
    }

    [Fact]
    public void NegativePadIdMeansNone() => Assert.Null(SentencePieceModelFile.Parse(SmallModel(padId: -1)).PaddingId);

    [Fact]
    public void AddDummyPrefixFalseIsRead() => Assert.False(SentencePieceModelFile.Parse(SmallModel(addDummyPrefix: false)).AddSpacePrefix);

    [Fact]
    public void UnigramModelsAreRejected()
    {
        var e = Assert.Throws<TokenizerFormatException>(() => SentencePieceModelFile.Parse(SmallModel(modelType: 1)));
        Assert.StartsWith("TrainerSpec.model_type:", e.Message);
    }

    [Fact]
    public void EmptyInputHasNoPieces()
    {
        var e = Assert.Throws<TokenizerFormatException>(() => SentencePieceModelFile.Parse([]));
        Assert.StartsWith("ModelProto.pieces:", e.Message);
    }

    [Fact]
    public void LengthPastTheEndNamesFieldAndOffset()
    {
        byte[] model = [.. Piece("<unk>", 0, 2), .. Tag(1, 2), .. Varint(1000), 1, 2, 3];
        var e = Assert.Throws<TokenizerFormatException>(() => SentencePieceModelFile.Parse(model));
        Assert.Contains("ModelProto.pieces", e.Message);
        Assert.Contains("offset", e.Message);
    }

    [Fact]
    public void BadPieceTypeIsRejected()
    {
        var e = Assert.Throws<TokenizerFormatException>(() => SentencePieceModelFile.Parse([.. Piece("x", 0, 7), .. Piece("y", 0, 1)]));
        Assert.StartsWith("SentencePiece.type:", e.Message);
    }

    [Fact]
    public void TruncationsAndFlippedBytesOnlyEverThrowFormatErrors()
    {
        byte[] original = SmallModel();
        string? llama2 = TestEnvironment.Model("llama2-tokenizer.model");
        // The real model's tail holds the specs; corrupting anywhere in it or in the first pieces exercises every reader path.
        byte[] real = llama2 == null ? original : File.ReadAllBytes(llama2);
        var random = new Random(7);
        int formatErrors = 0;
        for (int trial = 0; trial < 400; trial++)
        {
            byte[] source = trial % 2 == 0 ? original : real;
            byte[] corrupt;
            if (trial % 4 < 2)
            {
                corrupt = source[..random.Next(0, source.Length)];
            }
            else
            {
                corrupt = (byte[])source.Clone();
                int flips = random.Next(1, 4);
                for (int f = 0; f < flips; f++)
                {
                    // Aim half the flips at the start and half at the specs at the end, where structure is dense.
                    int at = random.Next(2) == 0 ? random.Next(0, Math.Min(64, corrupt.Length)) : random.Next(Math.Max(0, corrupt.Length - 400), corrupt.Length);
                    corrupt[at] ^= (byte)random.Next(1, 256);
                }
            }
            try
            {
                TokenizerVocabulary v = SentencePieceModelFile.Parse(corrupt);
                Tokenizer.Create(v).Encode("hi there"); // a model that parses must also be usable or rejected cleanly
            }
            catch (TokenizerFormatException e)
            {
                Assert.DoesNotContain('\n', e.Message);
                formatErrors++;
            }
        }
        Assert.True(formatErrors > 100, $"only {formatErrors} of 400 corruptions were detected");
    }

    [Fact]
    public void MissingFileIsAFormatError()
    {
        Assert.Throws<TokenizerFormatException>(() => SentencePieceModelFile.Load(Path.Combine(Path.GetTempPath(), "no-such-dir-" + Guid.NewGuid(), "tokenizer.model")));
    }
}
