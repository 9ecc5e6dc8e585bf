namespace SharpInfer.Server.Api;

/// <summary>A request the server refuses, with the HTTP status and OpenAI's error type, param and code.</summary>
public sealed class ApiException(int status, string message, string type = ApiException.InvalidRequest, string? param = null, string? code = null)
    : Exception(message)
{
    public const string InvalidRequest = "invalid_request_error";
    public const string Authentication = "authentication_error";
    public const string NotFound = "not_found_error";
    public const string RateLimit = "rate_limit_error";
    public const string Server = "server_error";
    public const string Unavailable = "service_unavailable_error";

    public int Status { get; } = status;
    public string Type { get; } = type;
    public string? Param { get; } = param;
    public string? Code { get; } = code;

    /// <summary>A 400 naming the request field at fault.</summary>
    public static ApiException BadField(string param, string message) => new(400, message, InvalidRequest, param);
}
