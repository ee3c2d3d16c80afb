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

    private FakeOdcResponse(HttpStatusCode status, string? json)
    {
        Status = status;
        JsonBody = json;
    }

    /// <summary>The HTTP status.</summary>
    public HttpStatusCode Status { get; }

    /// <summary>The body, or <see langword="null"/>.</summary>
    public string? JsonBody { get; }

    /// <summary>A JSON answer with the given status.</summary>
    /// <param name="status">The status.</param>
    /// <param name="body">Serialized with web defaults (camelCase).</param>
    /// <returns>The response.</returns>
    public static FakeOdcResponse Json(HttpStatusCode status, object? body) =>
        new(status, JsonSerializer.Serialize(body, JsonOptions));

    /// <summary>
    /// An RFC 7807 ProblemDetails answer, shaped as ODC's: type, title, status, detail, instance, traceId, errorCode,
    /// served as <c>application/json</c> (as ODC declares it, not <c>application/problem+json</c>).
    /// </summary>
    /// <remarks><c>type</c> and <c>instance</c> are <see langword="null"/>: ODC documents no values for them.</remarks>
    /// <param name="status">The status.</param>
    /// <param name="title">A short summary.</param>
    /// <param name="detail">What went wrong.</param>
    /// <param name="errorCode">ODC's error code, if any.</param>
    /// <returns>The response.</returns>
    public static FakeOdcResponse Problem(HttpStatusCode status, string title, string? detail = null, string? errorCode = null) =>
        new(status, JsonSerializer.Serialize(new
        {
            type = (string?)null,
            title,
            status = (int)status,
            detail,
            instance = (string?)null,
            traceId = Guid.NewGuid().ToString("N"),
            errorCode,
        }, JsonOptions));

    /// <summary>204 No Content.</summary>
    public static FakeOdcResponse NoContent { get; } = new(HttpStatusCode.NoContent, null);

    internal HttpResponseMessage ToHttpResponse()
    {
        var response = new HttpResponseMessage(Status);
        if (JsonBody is not null)
        {
            response.Content = new StringContent(JsonBody, Encoding.UTF8, "application/json");
        }

        return response;
    }
}
