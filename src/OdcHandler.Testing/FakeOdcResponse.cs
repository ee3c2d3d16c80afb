using System.Net;
using System.Text;
using System.Text.Json;

namespace OdcHandler.Testing;

/// <summary>
/// What a route handler of <see cref="FakeOdcServer"/> answers when a plain object (serialized as a
/// 200 JSON body) is not enough: another status, a ProblemDetails error, or no content.
/// </summary>
public sealed class FakeOdcResponse
{
    internal static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web);

    private FakeOdcResponse(HttpStatusCode status, string? json, string mediaType)
    {
        Status = status;
        JsonBody = json;
        MediaType = mediaType;
    }

    /// <summary>The HTTP status.</summary>
    public HttpStatusCode Status { get; }

    /// <summary>The body, or <see langword="null"/>.</summary>
    public string? JsonBody { get; }

    internal string MediaType { get; }

    /// <summary>A JSON answer with the given status.</summary>
    /// <param name="status">The status.</param>
    /// <param name="body">Serialized with web defaults (camelCase).</param>
    /// <returns>The response.</returns>
    public static FakeOdcResponse Json(HttpStatusCode status, object? body) =>
        new(status, JsonSerializer.Serialize(body, JsonOptions), "application/json");

    /// <summary>An RFC 7807 ProblemDetails answer, shaped as ODC's: type, title, status, detail, instance, traceId, errorCode.</summary>
    /// <param name="status">The status.</param>
    /// <param name="title">A short summary.</param>
    /// <param name="detail">What went wrong.</param>
    /// <param name="errorCode">ODC's error code, if any.</param>
    /// <returns>The response.</returns>
    public static FakeOdcResponse Problem(HttpStatusCode status, string title, string? detail = null, string? errorCode = null) =>
        new(status, JsonSerializer.Serialize(new
        {
            type = $"https://httpstatuses.io/{(int)status}",
            title,
            status = (int)status,
            detail,
            instance = (string?)null,
            traceId = Guid.NewGuid().ToString("N"),
            errorCode,
        }, JsonOptions), "application/problem+json");

    /// <summary>204 No Content.</summary>
    public static FakeOdcResponse NoContent { get; } = new(HttpStatusCode.NoContent, null, "application/json");

    internal HttpResponseMessage ToHttpResponse()
    {
        var response = new HttpResponseMessage(Status);
        if (JsonBody is not null)
        {
            response.Content = new StringContent(JsonBody, Encoding.UTF8, MediaType);
        }

        return response;
    }
}
