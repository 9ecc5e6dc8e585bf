using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace SharpInfer.Server.Api;

// The response bodies of the OpenAI API, field for field. Fields OpenAI always sends (even as null, such as
// finish_reason in a stream chunk) are always written; the few it leaves out when absent are marked.
// system_fingerprint is null: this server has no backend fingerprint to report, and the clients take null
// (openai-python declares it Optional[str]; openai-node passes response bodies through unchecked).

public sealed record Usage(int PromptTokens, int CompletionTokens, int TotalTokens);

public sealed record CompletionChoice(string Text, int Index, object? Logprobs, string? FinishReason);

public sealed record CompletionResponse(
    string Id, string Object, long Created, string Model, IReadOnlyList<CompletionChoice> Choices,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] Usage? Usage, string? SystemFingerprint = null);

/// <summary>The assistant's message; refusal is always null (no safety refusals here) but OpenAI always sends it.</summary>
public sealed record ChatMessageBody(string Role, string Content, string? Refusal = null);

public sealed record ChatChoice(int Index, ChatMessageBody Message, object? Logprobs, string? FinishReason);

public sealed record ChatCompletionResponse(
    string Id, string Object, long Created, string Model, IReadOnlyList<ChatChoice> Choices, Usage Usage, string? SystemFingerprint = null);

public sealed record ChatDelta(
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Role,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Content);

public sealed record ChatChunkChoice(int Index, ChatDelta Delta, object? Logprobs, string? FinishReason);

public sealed record ChatCompletionChunk(
    string Id, string Object, long Created, string Model, IReadOnlyList<ChatChunkChoice> Choices,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] Usage? Usage, string? SystemFingerprint = null);

public sealed record ModelCard(string Id, string Object, long Created, string OwnedBy);

public sealed record ModelList(string Object, IReadOnlyList<ModelCard> Data);

public sealed record ErrorDetail(string Message, string Type, string? Param, string? Code);

public sealed record ErrorBody(ErrorDetail Error);

public sealed record HealthBody(string Status);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(CompletionResponse))]
[JsonSerializable(typeof(ChatCompletionResponse))]
[JsonSerializable(typeof(ChatCompletionChunk))]
[JsonSerializable(typeof(ModelList))]
[JsonSerializable(typeof(ModelCard))]
[JsonSerializable(typeof(ErrorBody))]
[JsonSerializable(typeof(HealthBody))]
internal sealed partial class OpenAiJsonContext : JsonSerializerContext
{
    /// <summary>
    /// As the attribute says, but writing quotes and non-ASCII text as themselves (\" rather than \u0022), as
    /// OpenAI does; control characters and line breaks stay escaped, so every event stays on one line.
    /// </summary>
    public static OpenAiJsonContext Wire { get; } = new(new JsonSerializerOptions
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });
}
