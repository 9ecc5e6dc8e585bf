using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Prometheus;
using SharpInfer.Engine.Serving;
using SharpInfer.Server.Api;
using SharpInfer.Server.Metrics;

namespace SharpInfer.Server;

/// <summary>
/// The OpenAI-compatible HTTP server over a serving engine: /v1/completions, /v1/chat/completions, /v1/models,
/// /health and /metrics on Kestrel. The engine is the caller's: the server never disposes it.
/// </summary>
public static class SharpInferServer
{
    /// <summary>Builds the server; start it with RunAsync (until SIGTERM/Ctrl+C) or StartAsync/StopAsync.</summary>
    public static WebApplication Build(IServingEngine engine, ServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(engine);
        if (options.Validate() is { } problem) throw new ArgumentException(problem, nameof(options));
        var address = ParseHost(options.Host);

        // The slim builder reads no appsettings files and binds no URLs of its own: the options say everything.
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.SetMinimumLevel(options.MinimumLogLevel);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Limits.MaxRequestBodySize = options.MaxRequestBodyBytes;
            kestrel.Listen(address, options.Port);
        });
        // Drain first, then give Kestrel a moment to finish writing the last responses.
        builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = options.DrainTimeout + TimeSpan.FromSeconds(5));
        builder.Services.AddSingleton(engine);
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton<ServerState>();
        builder.Services.AddSingleton(new ServerMetrics(engine, options.MaxTrackedClients));
        builder.Services.AddSingleton<OpenAiEndpoints>();
        builder.Services.AddHostedService<DrainOnShutdown>();

        var app = builder.Build();
        var state = app.Services.GetRequiredService<ServerState>();
        var metrics = app.Services.GetRequiredService<ServerMetrics>();
        var endpoints = app.Services.GetRequiredService<OpenAiEndpoints>();
        var log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("SharpInfer.Server");

        app.Use((context, next) => HandleErrorsAndCountAsync(context, next, metrics, log));
        if (options.ApiKeys is { Count: > 0 } keys)
            app.Use((context, next) => AuthenticateAsync(context, next, keys));

        app.MapPost("/v1/completions", endpoints.Completions);
        app.MapPost("/v1/chat/completions", endpoints.ChatCompletions);
        app.MapGet("/v1/models", endpoints.ListModels);
        app.MapGet("/v1/models/{id}", endpoints.GetModel);
        app.MapGet("/health", context => state.Draining
            ? OpenAiEndpoints.WriteJsonAsync(context, 503, new HealthBody("draining"), OpenAiJsonContext.Wire.HealthBody)
            : OpenAiEndpoints.WriteJsonAsync(context, 200, new HealthBody("ok"), OpenAiJsonContext.Wire.HealthBody));
        app.MapMetrics("/metrics", metrics.Registry);
        app.MapFallback(RouteNotFound);
        return app;
    }

    /// <summary>The method each fixed route answers, so a wrong method gets 405 rather than 404.</summary>
    private static readonly Dictionary<string, string> RouteMethods = new(StringComparer.OrdinalIgnoreCase)
    {
        ["/v1/completions"] = "POST", ["/v1/chat/completions"] = "POST", ["/v1/models"] = "GET", ["/health"] = "GET", ["/metrics"] = "GET",
    };

    private static Task RouteNotFound(HttpContext context)
    {
        string path = context.Request.Path.Value?.TrimEnd('/') ?? "";
        if (RouteMethods.TryGetValue(path, out string? method))
        {
            context.Response.Headers.Allow = method;
            return ErrorWriter.WriteAsync(context, 405, $"{path} answers {method}, not {context.Request.Method}", ApiException.InvalidRequest, "method_not_allowed");
        }
        throw new ApiException(404, $"there is no route {context.Request.Method} {context.Request.Path}");
    }

    /// <summary>The address the started server listens on, such as http://127.0.0.1:41234 (port 0 resolved).</summary>
    public static Uri ListeningAddress(WebApplication app) =>
        new(app.Urls.FirstOrDefault() ?? throw new InvalidOperationException("the server is not started"));

    private static IPAddress ParseHost(string host) =>
        host == "localhost" ? IPAddress.Loopback :
        IPAddress.TryParse(host, out var ip) ? ip :
        throw new ArgumentException($"host '{host}' must be an IP address (such as 127.0.0.1 or 0.0.0.0) or localhost", nameof(host));

    public const string RequestIdHeader = "x-request-id";
    public const string RetryAfterMsHeader = "retry-after-ms";

    private static async Task HandleErrorsAndCountAsync(HttpContext context, Func<Task> next, ServerMetrics metrics, ILogger log)
    {
        // OpenAI's clients surface x-request-id on every response and error (requestID, _request_id), so a
        // failure a user reports can be found in the logs.
        string requestId = $"req_{Guid.NewGuid():N}";
        context.Response.Headers[RequestIdHeader] = requestId;
        string status;
        try
        {
            await next();
            if (!context.Response.HasStarted && context.Response.StatusCode >= 400)
            {
                // Statuses routing sets without a body (405 Method Not Allowed, ...) still get an OpenAI error body.
                int code = context.Response.StatusCode;
                await ErrorWriter.WriteAsync(context, code, $"{ReasonPhrases(code)}: {context.Request.Method} {context.Request.Path}",
                    code >= 500 ? ApiException.Server : ApiException.InvalidRequest);
            }
            status = context.Response.StatusCode.ToString(CultureInfo.InvariantCulture);
        }
        catch (Exception) when (context.RequestAborted.IsCancellationRequested)
        {
            status = "cancelled"; // the client went away: nobody to answer
        }
        catch (Exception e)
        {
            var body = ErrorWriter.Body(e, out int code);
            if (code >= 500) log.LogError(e, "request {RequestId} {Method} {Path} failed", requestId, context.Request.Method, context.Request.Path);
            if (context.Response.HasStarted)
            {
                // Half a response cannot be turned into an error: cut the connection so the client sees a failure.
                context.Abort();
                status = "aborted";
            }
            else
            {
                context.Response.Clear(); // also clears the headers
                context.Response.Headers[RequestIdHeader] = requestId;
                if (e is QueueFullException full)
                {
                    // Retry-After has whole seconds only; OpenAI's clients prefer retry-after-ms when it is there.
                    context.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(full.RetryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
                    context.Response.Headers[RetryAfterMsHeader] = Math.Max(1, (long)Math.Ceiling(full.RetryAfter.TotalMilliseconds)).ToString(CultureInfo.InvariantCulture);
                }
                if (code == 401) context.Response.Headers.WWWAuthenticate = "Bearer";
                await OpenAiEndpoints.WriteJsonAsync(context, code, body, OpenAiJsonContext.Wire.ErrorBody);
                status = code.ToString(CultureInfo.InvariantCulture);
            }
        }
        string route = (context.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText is { } pattern && !pattern.StartsWith("{*", StringComparison.Ordinal) ? pattern : "unmatched";
        metrics.CountRequest(route, status);
    }

    private static string ReasonPhrases(int status) =>
        Microsoft.AspNetCore.WebUtilities.ReasonPhrases.GetReasonPhrase(status) is { Length: > 0 } phrase ? phrase : $"status {status}";

    private static Task AuthenticateAsync(HttpContext context, Func<Task> next, IReadOnlyDictionary<string, Clients.ApiClient> keys)
    {
        if (!context.Request.Path.StartsWithSegments("/v1")) return next();
        string? header = context.Request.Headers.Authorization;
        const string scheme = "Bearer ";
        if (header == null || !header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
            throw new ApiException(401, "an API key is required: send 'Authorization: Bearer <key>'", code: "invalid_api_key");
        if (!keys.TryGetValue(header[scheme.Length..].Trim(), out var client))
            throw new ApiException(401, "the API key is not valid", code: "invalid_api_key");
        context.Items[OpenAiEndpoints.ClientItem] = client;
        return next();
    }
}
