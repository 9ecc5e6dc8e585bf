namespace SharpInfer.Models.Tokenization;

/// <summary>
/// A vocabulary or tokenizer.model that cannot be used. The message is one line that names the
/// field (GGUF key or protobuf field) and the offending value or offset.
/// </summary>
public sealed class TokenizerFormatException : Exception
{
    public TokenizerFormatException(string message) : base(message) { }
}
