using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace OdcHandler.Internal;

/// <summary>
/// Posts the client-credentials grant and turns the answer into a token or an
/// <see cref="OdcAuthenticationException"/> that says what was wrong and what to check.
/// </summary>
internal sealed class TokenEndpointClient(IHttpClientFactory httpClientFactory, TimeProvider timeProvider)
{
    private const int MaxResponseBytes = 64 * 1024;
    private const string What = "token endpoint";

    /// <summary>No ODC token lives longer than days; a year is generous and keeps absurd values out.</summary>
    private static readonly TimeSpan s_maxLifetime = TimeSpan.FromDays(365);

    public async Task<TokenResponse> RequestTokenAsync(Uri tokenEndpoint, OdcClientSettings settings, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, tokenEndpoint);
        request.Headers.Accept.ParseAdd("application/json");
        var form = new List<KeyValuePair<string, string>> { new("grant_type", "client_credentials") };
        if (settings.Options.CredentialStyle == ClientCredentialStyle.BasicAuthHeader)
        {
            // RFC 6749 §2.3.1: form-encode each part before joining and base64-encoding. Attached only by the
            // backchannel's innermost handler, so the factory's request logging never sees it.
            var pair = FormEncode(settings.ClientId) + ":" + FormEncode(settings.ClientSecret);
            BackchannelCredentialsHandler.Attach(request, new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(pair))));
        }
        else
        {
            form.Add(new("client_id", settings.ClientId));
            form.Add(new("client_secret", settings.ClientSecret));
        }

        request.Content = new FormUrlEncodedContent(form);

        var (response, body) = await Backchannel.SendAsync(httpClientFactory, timeProvider, request, settings, What, "odc.token_request", MaxResponseBytes, cancellationToken).ConfigureAwait(false);
        using var answer = response;
        if (!response.IsSuccessStatusCode)
        {
            throw DescribeError(response, body, settings);
        }

        using var document = BackchannelResponse.ParseObject(body, response, What);
        var root = document.RootElement;
        var accessToken = BackchannelResponse.GetString(root, "access_token", What, response);
        if (string.IsNullOrEmpty(accessToken))
        {
            var error = BackchannelResponse.GetString(root, "error", What, response);
            if (error is not null)
            {
                throw DescribeError(response, body, settings);
            }

            throw Problem($"The token endpoint answered HTTP {(int)response.StatusCode} without an \"access_token\".", response);
        }

        if (!OdcAccessToken.IsHeaderSafe(accessToken))
        {
            throw Problem("The token endpoint's \"access_token\" holds characters that cannot be sent in an HTTP header (controls, spaces or non-ASCII); it was not used.", response);
        }

        var tokenType = BackchannelResponse.GetString(root, "token_type", What, response);
        if (!string.Equals(tokenType, "Bearer", StringComparison.OrdinalIgnoreCase))
        {
            throw Problem(
                tokenType is null
                    ? "The token endpoint's answer has no \"token_type\"; a Bearer token was expected."
                    : $"The token endpoint issued a \"{BackchannelResponse.Sanitize(tokenType, settings.ClientSecret, settings.ClientId)}\" token; only Bearer tokens can be sent to the ODC APIs.",
                response);
        }

        return new TokenResponse(accessToken, ReadLifetime(root, response));
    }

    private static TimeSpan ReadLifetime(JsonElement root, HttpResponseMessage response)
    {
        if (!root.TryGetProperty("expires_in", out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return OdcAuthenticationDefaults.LifetimeWhenUnstated;
        }

        if (value.ValueKind != JsonValueKind.Number)
        {
            throw Problem($"The token endpoint's \"expires_in\" is a JSON {value.ValueKind.ToString().ToLowerInvariant()}; a number of seconds was expected.", response);
        }

        if (!value.TryGetInt64(out var seconds) || seconds <= 0 || seconds > (long)s_maxLifetime.TotalSeconds)
        {
            throw Problem($"The token endpoint's \"expires_in\" ({value.GetRawText()}) is not a whole number of seconds between 1 and {(long)s_maxLifetime.TotalSeconds}.", response);
        }

        return TimeSpan.FromSeconds(seconds);
    }

    private static OdcAuthenticationException DescribeError(HttpResponseMessage response, byte[] body, OdcClientSettings settings)
    {
        var status = (int)response.StatusCode;
        string? error = null;
        string? description = null;
        try
        {
            using var document = JsonDocument.Parse(body);
            if (document.RootElement.ValueKind == JsonValueKind.Object)
            {
                error = StringOrNull(document.RootElement, "error");
                description = StringOrNull(document.RootElement, "error_description");
            }
        }
        catch (JsonException)
        {
            // Not an OAuth error body (an HTML error page, a proxy's text): described below by its shape.
        }

        error = BackchannelResponse.Sanitize(error, settings.ClientSecret, settings.ClientId);
        description = BackchannelResponse.Sanitize(description, settings.ClientSecret, settings.ClientId);
        if (error is null)
        {
            var shape = body.Length == 0 ? "an empty body" : $"a body that is not an OAuth error ({BackchannelResponse.Describe(response, body)})";
            return new OdcAuthenticationException(
                $"The token endpoint answered HTTP {status} {BackchannelResponse.Sanitize(response.ReasonPhrase, settings.ClientSecret, settings.ClientId)} with {shape} for client id '{settings.ClientId}'.",
                error: null, errorDescription: null, response.StatusCode);
        }

        var detail = description is null ? error : $"{error}: {description}";
        return new OdcAuthenticationException(
            $"The token endpoint refused client id '{settings.ClientId}' (HTTP {status}, {detail}). {Advice(error)}",
            error, description, response.StatusCode);
    }

    private static string Advice(string error) => error switch
    {
        "invalid_client" => "Check ClientId and ClientSecret (the secret exactly as the ODC Portal showed it, not URL-encoded). ODC client secrets expire after 90 days by default, and a suspended or deleted API client is refused too.",
        "unauthorized_client" => "The API client may not use the client_credentials grant, or it is suspended; check it in the ODC Portal.",
        "invalid_request" or "unsupported_grant_type" => "The identity service did not accept the request's form; try the other CredentialStyle.",
        "invalid_scope" => "ODC grants permissions per API client in the Portal, not through scopes.",
        _ => "See the identity service's description above.",
    };

    private static string? StringOrNull(JsonElement root, string property) =>
        root.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static OdcAuthenticationException Problem(string message, HttpResponseMessage response) =>
        new(message, error: null, errorDescription: null, response.StatusCode);

    /// <summary>application/x-www-form-urlencoded, as FormUrlEncodedContent does: percent-encoding with spaces as '+'.</summary>
    internal static string FormEncode(string value) => Uri.EscapeDataString(value).Replace("%20", "+", StringComparison.Ordinal);
}
