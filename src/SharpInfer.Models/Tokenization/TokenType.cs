namespace SharpInfer.Models.Tokenization;

/// <summary>
/// Kind of a vocabulary entry. The numbers are those of GGUF's tokenizer.ggml.token_type and of
/// sentencepiece's ModelProto.SentencePiece.Type, so values from either file map over unchanged.
/// </summary>
public enum TokenType
{
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
}
