using Microsoft.AspNetCore.Http;
using SharpInfer.Engine.Generation;
using SharpInfer.Engine.Serving;

namespace SharpInfer.Server.Api;

/// <summary>Turns exceptions into OpenAI error bodies and HTTP statuses.</summary>
internal static class ErrorWriter
{
    public static ErrorBody Body(Exception e, out int status)
    {
        switch (e)
        {
            case ApiException api:
                status = api.Status;
                return new ErrorBody(new ErrorDetail(api.Message, api.Type, api.Param, api.Code));
            case QueueFullException full:
                status = 429;
                return new ErrorBody(new ErrorDetail(full.Message, ApiException.RequestsLimit, null, "rate_limit_exceeded"));
            case PromptTooLongException tooLong:
                status = 400;
                return new ErrorBody(new ErrorDetail(tooLong.Message, ApiException.InvalidRequest, "prompt", "context_length_exceeded"));
            case BadHttpRequestException bad:
                // Kestrel's own refusals: a body over the size limit (413), a malformed request, a slow upload.
                status = bad.StatusCode;
                string message = bad.StatusCode == StatusCodes.Status413PayloadTooLarge ? "the request body is larger than this server accepts" : bad.Message;
                return new ErrorBody(new ErrorDetail(message, ApiException.InvalidRequest, null, null));
            default:
                status = 500;
                return new ErrorBody(new ErrorDetail($"internal error: {e.GetType().Name}: {e.Message}", ApiException.Server, null, null));
        }
    }

    public static Task WriteAsync(HttpContext context, int status, string message, string type, string? code = null) =>
        OpenAiEndpoints.WriteJsonAsync(context, status, new ErrorBody(new ErrorDetail(message, type, null, code)), OpenAiJsonContext.Wire.ErrorBody);
}
