using Microsoft.Extensions.Logging;
using SharpInfer.Server.Chat;
using SharpInfer.Server.Clients;

namespace SharpInfer.Server;

/// <summary>How the HTTP server listens, whom it serves and which limits it enforces.</summary>
public sealed record ServerOptions
{
    /// <summary>The model id clients name in requests and see in /v1/models (the GGUF file name without extension).</summary>
    public required string ModelId { get; init; }
    /// <summary>Address to bind; loopback unless the operator chooses otherwise.</summary>
    public string Host { get; init; } = "127.0.0.1";
    /// <summary>Port to bind; 0 picks a free one (see <see cref="SharpInferServer.ListeningAddress"/>).</summary>
    public int Port { get; init; } = 8000;
    /// <summary>API key to client; null or empty means no authentication (every request is anonymous or its `user`).</summary>
    public IReadOnlyDictionary<string, ApiClient>? ApiKeys { get; init; }
    /// <summary>Largest request body in bytes; larger ones get 413.</summary>
    public long MaxRequestBodyBytes { get; init; } = 1 << 20;
    /// <summary>Largest max_tokens a request may ask for, and the default cap when it asks for none.</summary>
    public int MaxTokensLimit { get; init; } = 4096;
    /// <summary>Most choices (n) one request may ask for.</summary>
    public int MaxChoices { get; init; } = 16;
    /// <summary>
    /// Most clients named by the request `user` field that get an id (and /metrics labels) of their own; later
    /// ones are counted together as "other", so client-chosen names cannot grow memory without bound.
    /// </summary>
    public int MaxTrackedClients { get; init; } = 1000;
    /// <summary>How long a shutdown waits for running requests to finish.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(30);
    public IChatPromptRenderer ChatRenderer { get; init; } = ChatMlPromptRenderer.Instance;
    public LogLevel MinimumLogLevel { get; init; } = LogLevel.Warning;

    /// <summary>Checks ranges; returns a one-line problem or null.</summary>
    public string? Validate() =>
        string.IsNullOrWhiteSpace(ModelId) ? "the model id must not be empty" :
        Port is < 0 or > 65535 ? $"port {Port} must be between 0 and 65535" :
        MaxRequestBodyBytes < 1024 ? $"the request body limit {MaxRequestBodyBytes} must be at least 1024 bytes" :
        MaxTokensLimit < 1 ? $"the max-tokens limit {MaxTokensLimit} must be at least 1" :
        MaxChoices < 1 ? $"the choices limit {MaxChoices} must be at least 1" :
        MaxTrackedClients < 1 ? $"the tracked-clients limit {MaxTrackedClients} must be at least 1" :
        DrainTimeout < TimeSpan.Zero ? "the drain timeout must not be negative" : null;
}
