using System.Net;

namespace OdcHandler;

/// <summary>
/// No access token could be had for an ODC API client: discovery failed, the token endpoint refused the
/// credentials, or it answered with something that is not a usable token.
/// </summary>
/// <remarks>
/// <para>
/// The request that needed the token was not sent. The message says what went wrong and what to
/// check; it never contains the client secret or a token.
/// </para>
/// <para>
/// It is deliberately not an <see cref="HttpRequestException"/>: resilience pipelines (Polly's
/// <c>HttpClientResiliencePredicates</c>, <c>AddStandardResilienceHandler</c>, <c>AddTransientHttpErrorPolicy</c>)
/// treat every <see cref="HttpRequestException"/> as transient and would resend the request, multiplying the
/// identity calls (which OdcHandler already retries within <see cref="OdcAuthenticationOptions.BackchannelTimeout"/>)
/// or delaying a permanent refusal such as <c>invalid_client</c> by their back-off.
/// </para>
/// </remarks>
public sealed class OdcAuthenticationException : Exception
{
    /// <summary>Creates an exception with a message.</summary>
    /// <param name="message">What went wrong.</param>
    public OdcAuthenticationException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with a message and the exception that caused it.</summary>
    /// <param name="message">What went wrong.</param>
    /// <param name="innerException">The cause.</param>
    public OdcAuthenticationException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates an exception for a failed call to the identity service.</summary>
    /// <param name="message">What went wrong.</param>
    /// <param name="error">The OAuth <c>error</c> code the identity service returned, if any.</param>
    /// <param name="errorDescription">The OAuth <c>error_description</c>, if any.</param>
    /// <param name="statusCode">The HTTP status of the failed identity call, if it answered.</param>
    /// <param name="innerException">The cause, if any.</param>
    public OdcAuthenticationException(
        string message,
        string? error,
        string? errorDescription,
        HttpStatusCode? statusCode,
        Exception? innerException = null)
        : base(message, innerException)
    {
        Error = error;
        ErrorDescription = errorDescription;
        StatusCode = statusCode;
    }

    /// <summary>The HTTP status of the failed identity call, or <see langword="null"/> if it did not answer (or answered well but with something unusable and no status applies).</summary>
    public HttpStatusCode? StatusCode { get; }

    /// <summary>The OAuth <c>error</c> code (for example <c>invalid_client</c>), or <see langword="null"/>.</summary>
    public string? Error { get; }

    /// <summary>The OAuth <c>error_description</c>, or <see langword="null"/>.</summary>
    public string? ErrorDescription { get; }
}
