namespace SharpInfer.Server.Api;

/// <summary>A request the server refuses, with the HTTP status and OpenAI's error type, param and code.</summary>
public sealed class ApiException(int status, string message, string type = ApiException.InvalidRequest, string? param = null, string? code = null)
    : Exception(message)
{
    // The types OpenAI itself sends: a missing or wrong key (401) and an unknown model or route (404) are
    // "invalid_request_error" too, told apart by status and code; a rate limit's type is what was limited.
    public const string InvalidRequest = "invalid_request_error";
    public const string RequestsLimit = "requests";
    public const string Server = "server_error";

    public int Status { get; } = status;
    public string Type { get; } = type;
    public string? Param { get; } = param;
    public string? Code { get; } = code;

    /// <summary>A 400 naming the request field at fault.</summary>
    public static ApiException BadField(string param, string message) => new(400, message, InvalidRequest, param);
}
