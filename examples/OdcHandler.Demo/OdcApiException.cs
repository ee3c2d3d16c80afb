using System.Net;

namespace OdcHandler.Demo;

/// <summary>An ODC API answered with an error; the fields come from its RFC 7807 ProblemDetails body.</summary>
public sealed class OdcApiException(HttpStatusCode status, string? title, string? detail, string? errorCode, string? traceId)
    : HttpRequestException($"ODC answered {(int)status} {title}{(detail is null ? string.Empty : ": " + detail)}{(errorCode is null ? string.Empty : $" (errorCode {errorCode})")}.", null, status)
{
    /// <summary>The ProblemDetails title.</summary>
    public string? Title { get; } = title;

    /// <summary>The ProblemDetails detail.</summary>
    public string? Detail { get; } = detail;

    /// <summary>ODC's own error code, if any.</summary>
    public string? ErrorCode { get; } = errorCode;

    /// <summary>ODC's trace id, to quote to OutSystems support.</summary>
    public string? TraceId { get; } = traceId;
}
