using System.Text;
using System.Text.Json;
using SharpInfer.Engine.Sampling;

namespace SharpInfer.Server.Api;

/// <summary>
/// Reads OpenAI request bodies from a parsed JSON document, checking every field's type and range so a bad request
/// gets a 400 naming the field. Unknown fields are ignored, and a null field counts as absent, as OpenAI does.
/// </summary>
internal static class RequestReader
{
    /// <summary>Most stop strings per request.</summary>
    public const int MaxStopStrings = 16;
    /// <summary>Longest `user` string.</summary>
    public const int MaxUserLength = 256;

    public static CompletionRequest ReadCompletion(JsonElement root, int vocabularySize, int maxChoices)
    {
        RequireObject(root);
        var fields = ReadFields(root, maxChoices, chat: false);
        if (!TryGet(root, "prompt", out var prompt)) throw ApiException.BadField("prompt", "'prompt' is required");
        return new CompletionRequest(fields, ReadPrompts(prompt, vocabularySize));
    }

    public static ChatRequest ReadChat(JsonElement root, int maxChoices)
    {
        RequireObject(root);
        var fields = ReadFields(root, maxChoices, chat: true);
        if (!TryGet(root, "messages", out var messages)) throw ApiException.BadField("messages", "'messages' is required");
        if (messages.ValueKind != JsonValueKind.Array) throw ApiException.BadField("messages", "'messages' must be an array of messages");
        if (messages.GetArrayLength() == 0) throw ApiException.BadField("messages", "'messages' must not be empty");
        var list = new List<(string, string)>();
        int i = 0;
        foreach (var message in messages.EnumerateArray())
        {
            string where = $"messages[{i++}]";
            if (message.ValueKind != JsonValueKind.Object) throw ApiException.BadField(where, $"'{where}' must be an object with 'role' and 'content'");
            if (!TryGet(message, "role", out var role) || role.ValueKind != JsonValueKind.String || role.GetString() is not { Length: > 0 } roleText)
                throw ApiException.BadField($"{where}.role", $"'{where}.role' must be a non-empty string");
            list.Add((roleText, ReadContent(message, where)));
        }
        return new ChatRequest(fields, list);
    }

    private static string ReadContent(JsonElement message, string where)
    {
        // Content is a string, or an array of parts of which only text parts mean anything to a text model;
        // an assistant message that only called tools has none.
        if (!TryGet(message, "content", out var content)) return "";
        if (content.ValueKind == JsonValueKind.String) return content.GetString()!;
        if (content.ValueKind != JsonValueKind.Array) throw ApiException.BadField($"{where}.content", $"'{where}.content' must be a string or an array of text parts");
        var text = new StringBuilder();
        int i = 0;
        foreach (var part in content.EnumerateArray())
        {
            string partWhere = $"{where}.content[{i++}]";
            if (part.ValueKind != JsonValueKind.Object || !TryGet(part, "type", out var type) || type.ValueKind != JsonValueKind.String)
                throw ApiException.BadField(partWhere, $"'{partWhere}' must be an object with a 'type'");
            if (type.GetString() != "text")
                throw ApiException.BadField(partWhere, $"'{partWhere}' is of type '{type.GetString()}'; this model only reads text parts");
            if (!TryGet(part, "text", out var partText) || partText.ValueKind != JsonValueKind.String)
                throw ApiException.BadField($"{partWhere}.text", $"'{partWhere}.text' must be a string");
            text.Append(partText.GetString());
        }
        return text.ToString();
    }

    private static List<PromptInput> ReadPrompts(JsonElement prompt, int vocabularySize)
    {
        switch (prompt.ValueKind)
        {
            case JsonValueKind.String:
                return [new PromptInput(prompt.GetString(), null)];
            case JsonValueKind.Array when prompt.GetArrayLength() == 0:
                throw ApiException.BadField("prompt", "'prompt' must not be an empty array");
            case JsonValueKind.Array:
                var first = prompt[0];
                if (first.ValueKind == JsonValueKind.Number) return [new PromptInput(null, ReadTokenIds(prompt, "prompt", vocabularySize))];
                var prompts = new List<PromptInput>();
                int i = 0;
                foreach (var item in prompt.EnumerateArray())
                {
                    string where = $"prompt[{i++}]";
                    prompts.Add(item.ValueKind switch
                    {
                        JsonValueKind.String => new PromptInput(item.GetString(), null),
                        JsonValueKind.Array when item.GetArrayLength() > 0 => new PromptInput(null, ReadTokenIds(item, where, vocabularySize)),
                        _ => throw ApiException.BadField("prompt", $"'{where}' must be a string or a non-empty array of token ids"),
                    });
                }
                return prompts;
            default:
                throw ApiException.BadField("prompt", "'prompt' must be a string, an array of strings, or an array of token ids");
        }
    }

    private static int[] ReadTokenIds(JsonElement array, string where, int vocabularySize)
    {
        var ids = new int[array.GetArrayLength()];
        int i = 0;
        foreach (var item in array.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt32(out int id) || id < 0 || id >= vocabularySize)
                throw ApiException.BadField("prompt", $"'{where}[{i}]' must be a token id between 0 and {vocabularySize - 1}");
            ids[i++] = id;
        }
        return ids;
    }

    private static GenerationFields ReadFields(JsonElement root, int maxChoices, bool chat)
    {
        string? model = OptionalString(root, "model");
        // Chat has max_completion_tokens, which supersedes the deprecated max_tokens there.
        string maxParam = chat && TryGet(root, "max_completion_tokens", out _) ? "max_completion_tokens" : "max_tokens";
        long? maxTokens = OptionalInteger(root, maxParam, 1, int.MaxValue);
        var sampling = new SamplingParameters
        {
            // OpenAI's defaults (plain sampling from the full distribution), not the CLI's.
            Temperature = (float)(OptionalNumber(root, "temperature", 0, 2) ?? 1),
            TopP = (float)(OptionalNumber(root, "top_p", 0, 1, minExclusive: true) ?? 1),
            // -1 is vLLM's spelling of "off".
            TopK = (int)Math.Max(0, OptionalInteger(root, "top_k", -1, int.MaxValue) ?? 0),
            MinP = (float)(OptionalNumber(root, "min_p", 0, 1) ?? 0),
            PresencePenalty = (float)(OptionalNumber(root, "presence_penalty", -2, 2) ?? 0),
            FrequencyPenalty = (float)(OptionalNumber(root, "frequency_penalty", -2, 2) ?? 0),
            RepetitionPenalty = (float)(OptionalNumber(root, "repetition_penalty", 0, 10, minExclusive: true) ?? 1),
            // OpenAI's penalties count every token so far, not a recent window.
            PenaltyLastN = -1,
            Seed = OptionalInteger(root, "seed", long.MinValue, long.MaxValue) is { } seed ? unchecked((ulong)seed) : null,
        };
        bool stream = OptionalBool(root, "stream") ?? false;
        bool includeUsage = false;
        if (TryGet(root, "stream_options", out var streamOptions))
        {
            if (streamOptions.ValueKind != JsonValueKind.Object) throw ApiException.BadField("stream_options", "'stream_options' must be an object");
            includeUsage = OptionalBool(streamOptions, "include_usage", "stream_options.include_usage") ?? false;
        }
        return new GenerationFields
        {
            Model = model,
            MaxTokens = (int?)maxTokens,
            MaxTokensParam = maxParam,
            Sampling = sampling,
            Stop = ReadStop(root),
            N = (int)(OptionalInteger(root, "n", 1, maxChoices) ?? 1),
            Stream = stream,
            IncludeUsage = includeUsage,
            User = ReadUser(root),
        };
    }

    private static string? ReadUser(JsonElement root)
    {
        // The user names a client in the engine's counters and in /metrics labels: a megabyte of it would be kept.
        string? user = OptionalString(root, "user");
        if (user?.Length > MaxUserLength) throw ApiException.BadField("user", $"'user' is {user.Length} characters; at most {MaxUserLength} are allowed");
        return user;
    }

    private static IReadOnlyList<string> ReadStop(JsonElement root)
    {
        if (!TryGet(root, "stop", out var stop)) return [];
        if (stop.ValueKind == JsonValueKind.String)
            return stop.GetString() is { Length: > 0 } s ? [s] : throw ApiException.BadField("stop", "'stop' must not be an empty string");
        if (stop.ValueKind != JsonValueKind.Array) throw ApiException.BadField("stop", "'stop' must be a string or an array of strings");
        if (stop.GetArrayLength() > MaxStopStrings) throw ApiException.BadField("stop", $"'stop' has {stop.GetArrayLength()} strings; at most {MaxStopStrings} are allowed");
        var list = new List<string>();
        foreach (var item in stop.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.String || item.GetString() is not { Length: > 0 } s)
                throw ApiException.BadField("stop", "'stop' must contain only non-empty strings");
            list.Add(s);
        }
        return list;
    }

    private static void RequireObject(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object) throw new ApiException(400, "the request body must be a JSON object");
    }

    private static bool TryGet(JsonElement obj, string name, out JsonElement value) =>
        obj.TryGetProperty(name, out value) && value.ValueKind != JsonValueKind.Null;

    private static string? OptionalString(JsonElement obj, string name)
    {
        if (!TryGet(obj, name, out var v)) return null;
        return v.ValueKind == JsonValueKind.String ? v.GetString() : throw ApiException.BadField(name, $"'{name}' must be a string");
    }

    private static bool? OptionalBool(JsonElement obj, string name, string? param = null)
    {
        param ??= name;
        if (!TryGet(obj, name, out var v)) return null;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw ApiException.BadField(param, $"'{param}' must be true or false"),
        };
    }

    private static double? OptionalNumber(JsonElement obj, string name, double min, double max, bool minExclusive = false)
    {
        if (!TryGet(obj, name, out var v)) return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out double x)) throw ApiException.BadField(name, $"'{name}' must be a number");
        bool inRange = (minExclusive ? x > min : x >= min) && x <= max;
        if (!inRange)
            throw ApiException.BadField(name, FormattableString.Invariant($"'{name}' is {x}; it must be {(minExclusive ? "above" : "at least")} {min} and at most {max}"));
        return x;
    }

    private static long? OptionalInteger(JsonElement obj, string name, long min, long max)
    {
        if (!TryGet(obj, name, out var v)) return null;
        long x;
        // Integral values written as 5.0 are accepted, as Python clients sometimes send them.
        if (v.ValueKind != JsonValueKind.Number) throw ApiException.BadField(name, $"'{name}' must be an integer");
        if (!v.TryGetInt64(out x))
        {
            if (!v.TryGetDouble(out double d) || d != Math.Floor(d) || d < long.MinValue || d > long.MaxValue)
                throw ApiException.BadField(name, $"'{name}' must be an integer");
            x = (long)d;
        }
        if (x < min || x > max) throw ApiException.BadField(name, $"'{name}' is {x}; it must be at least {min} and at most {max}");
        return x;
    }
}
