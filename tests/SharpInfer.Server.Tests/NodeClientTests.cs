using System.Security.Cryptography;
using System.Text.Json;
using SharpInfer.Models.Loading;
using SharpInfer.Server.Clients;
using SharpInfer.Tests;
using Xunit.Abstractions;

namespace SharpInfer.Server.Tests;

/// <summary>
/// The official `openai` npm package (node/client.mjs) against a real server, with nothing changed but the base
/// URL: chat and completions whole and streamed, models, and the SDK's typed errors for the server's refusals.
/// </summary>
public sealed class NodeClientTests(ITestOutputHelper output)
{
    private const string StoryStart = ", there was a little girl named Lily";
    private const string ApiKey = "sk-node-client";

    [Fact]
    public async Task OfficialOpenAiNodeClientWorksWithOnlyTheBaseUrlChanged()
    {
        // The model first: without it (outside CI) there is nothing to install the client for.
        await using var server = await RunningServer.StartStoriesAsync(o => o with { ApiKeys = ApiKeysFile.Parse([$"{ApiKey} node-client"], "keys") });
        if (server == null) return;
        await using var fullQueue = await RunningServer.StartStoriesAsync(maxQueue: 0);
        if (TestEnvironment.Program("node") is not { } node || TestEnvironment.Program("npm") is not { } npm) return;
        if (await NodeOpenAiClient.PrepareAsync(npm, output) is not { } clientFolder) return;

        var run = await ExternalProgram.RunAsync(node,
            [Path.Combine(clientFolder, NodeOpenAiClient.Script), BaseUrl(server), ApiKey, BaseUrl(fullQueue!)], clientFolder);
        output.WriteLine(run.Transcript);
        Assert.True(run.ExitCode == 0, run.Transcript);
        var results = JsonDocument.Parse(run.StandardOutput).RootElement;
        string pinned = JsonDocument.Parse(File.ReadAllText(Path.Combine(clientFolder, "package.json"))).RootElement
            .GetProperty("dependencies").GetProperty("openai").GetString()!;
        Assert.Equal(pinned, Text(results, "sdkVersion")); // the pinned client ran, not some other install

        var chat = results.GetProperty("chat");
        Assert.Equal("chat.completion", Text(chat, "object"));
        Assert.StartsWith("chatcmpl-", Text(chat, "id"));
        Assert.Equal(RunningServer.ModelId, Text(chat, "model"));
        Assert.StartsWith("req_", Text(chat, "requestId"));
        Assert.True(chat.GetProperty("hasSystemFingerprint").GetBoolean());
        var chatChoice = Assert.Single(chat.GetProperty("choices").EnumerateArray());
        Assert.Equal("assistant", Text(chatChoice, "role"));
        string chatText = Text(chatChoice, "content");
        Assert.False(string.IsNullOrWhiteSpace(chatText));
        Assert.Equal(JsonValueKind.Null, chatChoice.GetProperty("refusal").ValueKind);
        Assert.Equal(JsonValueKind.Null, chatChoice.GetProperty("logprobs").ValueKind);
        string chatFinish = Text(chatChoice, "finishReason");
        Assert.Contains(chatFinish, new[] { "stop", "length" });
        var chatUsage = AssertUsageAddsUp(chat.GetProperty("usage"));
        Assert.InRange(chatUsage.Completion, 1, 12);
        if (chatFinish == "length") Assert.Equal(12, chatUsage.Completion);

        var chatStream = results.GetProperty("chatStream");
        Assert.Equal(["chat.completion.chunk"], Texts(chatStream, "objects"));
        Assert.Single(Texts(chatStream, "ids"));
        Assert.Equal(["assistant"], Texts(chatStream, "roles"));
        Assert.Equal(chatText, Text(chatStream, "content")); // greedy: the same reply streamed or not
        Assert.Equal([chatFinish], Texts(chatStream, "finishReasons"));
        Assert.Equal(chatUsage, AssertUsageAddsUp(chatStream.GetProperty("usage")));

        var completion = results.GetProperty("completion");
        Assert.Equal("text_completion", Text(completion, "object"));
        Assert.StartsWith("cmpl-", Text(completion, "id"));
        string completionText = Text(completion, "text");
        Assert.StartsWith(StoryStart, completionText);
        Assert.Equal("length", Text(completion, "finishReason"));
        Assert.Equal(JsonValueKind.Null, completion.GetProperty("logprobs").ValueKind);
        Assert.Equal((5, 20), AssertUsageAddsUp(completion.GetProperty("usage"))); // BOS and 4 prompt tokens

        var completionStream = results.GetProperty("completionStream");
        Assert.Equal(["text_completion"], Texts(completionStream, "objects"));
        Assert.Equal(completionText, Text(completionStream, "text"));
        Assert.Equal(["length"], Texts(completionStream, "finishReasons"));
        Assert.Equal((5, 20), AssertUsageAddsUp(completionStream.GetProperty("usage")));
        Assert.True(completionStream.GetProperty("chunks").GetInt32() > 2);

        var model = Assert.Single(results.GetProperty("models").EnumerateArray());
        Assert.Equal(RunningServer.ModelId, Text(model, "id"));
        Assert.Equal("model", Text(model, "object"));
        Assert.Equal("sharpinfer", Text(model, "ownedBy"));
        Assert.Equal(RunningServer.ModelId, Text(results.GetProperty("retrievedModel"), "id"));

        var errors = results.GetProperty("errors");
        var overLimit = AssertSdkError(errors.GetProperty("maxTokensOverLimit"), "BadRequestError", 400, "invalid_request_error");
        Assert.Equal("max_tokens", Text(overLimit, "param"));
        Assert.Contains("max_tokens", Text(overLimit, "message"));
        Assert.Equal("max_tokens", Text(AssertSdkError(errors.GetProperty("maxTokensOverLimitStreamed"), "BadRequestError", 400, "invalid_request_error"), "param"));
        Assert.Equal("invalid_api_key", Text(AssertSdkError(errors.GetProperty("wrongApiKey"), "AuthenticationError", 401, "invalid_request_error"), "code"));
        var unknownModel = AssertSdkError(errors.GetProperty("unknownModel"), "NotFoundError", 404, "invalid_request_error");
        Assert.Equal("model_not_found", Text(unknownModel, "code"));
        Assert.Equal("model", Text(unknownModel, "param"));
        var queueFull = AssertSdkError(errors.GetProperty("fullQueue"), "RateLimitError", 429, "requests");
        Assert.Equal("rate_limit_exceeded", Text(queueFull, "code"));
        Assert.True(int.Parse(Text(queueFull, "retryAfter")) >= 1);
        Assert.True(long.Parse(Text(queueFull, "retryAfterMs")) >= 1);
    }

    private static string BaseUrl(RunningServer server) => new Uri(server.BaseAddress, "/v1").ToString();

    private static string Text(JsonElement element, string name) =>
        element.GetProperty(name).GetString() ?? throw new Xunit.Sdk.XunitException($"'{name}' is null in {element}");

    private static string[] Texts(JsonElement element, string name) => [.. element.GetProperty(name).EnumerateArray().Select(e => e.GetString()!)];

    /// <summary>Asserts prompt + completion = total; returns (prompt, completion).</summary>
    private static (int Prompt, int Completion) AssertUsageAddsUp(JsonElement usage)
    {
        int prompt = usage.GetProperty("prompt_tokens").GetInt32(), completion = usage.GetProperty("completion_tokens").GetInt32();
        Assert.True(prompt > 0, usage.ToString());
        Assert.Equal(prompt + completion, usage.GetProperty("total_tokens").GetInt32());
        return (prompt, completion);
    }

    private static JsonElement AssertSdkError(JsonElement error, string className, int status, string type)
    {
        Assert.True(error.GetProperty("thrown").GetBoolean(), $"the SDK did not throw: {error}");
        Assert.True(error.GetProperty("isApiError").GetBoolean(), error.ToString());
        Assert.Equal(className, Text(error, "className"));
        Assert.Equal(status, error.GetProperty("status").GetInt32());
        Assert.Equal(type, Text(error, "type"));
        Assert.StartsWith("req_", Text(error, "requestId"));
        return error;
    }
}

/// <summary>
/// node/client.mjs beside an installed `openai` package, in the download cache (SHARPINFER_CACHE, else
/// ~/.cache/sharpinfer) under a folder named by the lock file's hash: installed once per pinned version and
/// reused offline afterwards. Nothing is installed into the repository.
/// </summary>
internal static class NodeOpenAiClient
{
    public const string Script = "client.mjs";
    private static readonly SemaphoreSlim Installing = new(1, 1);

    /// <summary>The folder to run the script in, or null when npm could not install the package outside CI.</summary>
    public static async Task<string?> PrepareAsync(string npm, ITestOutputHelper output)
    {
        string source = Path.Combine(AppContext.BaseDirectory, "node");
        string hash = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Path.Combine(source, "package-lock.json"))))[..16];
        string folder = Path.Combine(new ModelLocator().CacheDirectory, "node", $"openai-client-{hash}");
        await Installing.WaitAsync();
        try
        {
            if (!File.Exists(Path.Combine(folder, "node_modules", "openai", "package.json")))
            {
                // Install beside the final folder and move it into place, so an interrupted install (or another
                // test run installing at the same time) never leaves a half-filled folder that looks complete.
                string staging = $"{folder}.partial-{Guid.NewGuid():N}";
                Directory.CreateDirectory(staging);
                foreach (string file in new[] { "package.json", "package-lock.json" })
                    File.Copy(Path.Combine(source, file), Path.Combine(staging, file));
                var install = await ExternalProgram.RunAsync(npm, ["ci", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"], staging, TimeSpan.FromMinutes(5));
                if (install.ExitCode != 0)
                {
                    Directory.Delete(staging, recursive: true);
                    string problem = $"npm ci of the openai package failed (offline without a cached copy?)\n{install.Transcript}";
                    if (TestEnvironment.IsCi) throw new InvalidOperationException(problem);
                    output.WriteLine($"skipped: {problem}");
                    return null;
                }
                if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true); // an incomplete earlier attempt
                try { Directory.Move(staging, folder); }
                catch (IOException) when (File.Exists(Path.Combine(folder, "node_modules", "openai", "package.json")))
                {
                    Directory.Delete(staging, recursive: true); // another test run got there first
                }
            }
            File.Copy(Path.Combine(source, Script), Path.Combine(folder, Script), overwrite: true);
            return folder;
        }
        finally { Installing.Release(); }
    }
}
