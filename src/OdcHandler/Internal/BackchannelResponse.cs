using System.Net;
using System.Text;
using System.Text.Json;

namespace OdcHandler.Internal;

/// <summary>
/// Reads identity-service answers defensively: bounded in size, parsed without trusting their shape,
/// and described in errors without echoing anything that could be a secret or a token.
/// </summary>
internal static class BackchannelResponse
{
    private const int MaxServerTextLength = 300;

    public static async Task<byte[]> ReadBoundedAsync(HttpResponseMessage response, int maxBytes, string what, CancellationToken cancellationToken)
    {
        if (response.Content.Headers.ContentLength is long declared && declared > maxBytes)
        {
            throw new OdcAuthenticationException(
                $"The {what} answered HTTP {(int)response.StatusCode} with a {declared}-byte body; more than {maxBytes} bytes is not a plausible answer, so it was not read.",
                error: null, errorDescription: null, response.StatusCode);
        }

        var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            var buffer = new byte[Math.Min(maxBytes + 1, 16 * 1024)];
            var length = 0;
            while (true)
            {
                if (length == buffer.Length)
                {
                    if (length > maxBytes)
                    {
                        throw new OdcAuthenticationException(
                            $"The {what} answered HTTP {(int)response.StatusCode} with a body of more than {maxBytes} bytes; reading stopped there.",
                            error: null, errorDescription: null, response.StatusCode);
                    }

                    Array.Resize(ref buffer, Math.Min(buffer.Length * 2, maxBytes + 1));
                }

                var read = await stream.ReadAsync(buffer.AsMemory(length), cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }

                length += read;
            }

            if (length > maxBytes)
            {
                throw new OdcAuthenticationException(
                    $"The {what} answered HTTP {(int)response.StatusCode} with a body of more than {maxBytes} bytes; reading stopped there.",
                    error: null, errorDescription: null, response.StatusCode);
            }

            Array.Resize(ref buffer, length);
            return buffer;
        }
    }

    /// <summary>
    /// The body as UTF-8 without a byte order mark, which is what the JSON parser reads: servers and proxies
    /// legitimately add a BOM or declare a charset, and an answer in UTF-16 or another charset .NET knows is
    /// transcoded. An unknown charset leaves the bytes as they are (JSON is UTF-8 by RFC 8259).
    /// </summary>
    public static byte[] ToUtf8(byte[] body, HttpResponseMessage response)
    {
        var charset = response.Content.Headers.ContentType?.CharSet?.Trim().Trim('"');
        Encoding? declared = null;
        if (!string.IsNullOrEmpty(charset) && !IsUtf8(charset))
        {
            try
            {
                declared = Encoding.GetEncoding(charset);
            }
            catch (ArgumentException)
            {
                // Not an encoding this runtime knows: read the bytes as UTF-8, the only encoding JSON allows.
            }
        }

        if (declared is not null && declared.CodePage != Encoding.UTF8.CodePage)
        {
            var preamble = declared.GetPreamble();
            var start = preamble.Length > 0 && body.AsSpan().StartsWith(preamble) ? preamble.Length : 0;
            return Encoding.UTF8.GetBytes(declared.GetString(body, start, body.Length - start));
        }

        return body.AsSpan().StartsWith(Utf8ByteOrderMark) ? body[Utf8ByteOrderMark.Length..] : body;
    }

    private static ReadOnlySpan<byte> Utf8ByteOrderMark => [0xEF, 0xBB, 0xBF];

    private static bool IsUtf8(string charset) =>
        string.Equals(charset, "utf-8", StringComparison.OrdinalIgnoreCase) || string.Equals(charset, "utf8", StringComparison.OrdinalIgnoreCase);

    /// <summary>Parses a JSON object, or explains in safe words why the body is not one.</summary>
    public static JsonDocument ParseObject(byte[] body, HttpResponseMessage response, string what)
    {
        if (body.Length == 0)
        {
            throw Problem($"The {what} answered HTTP {(int)response.StatusCode} with an empty body; a JSON object was expected.", response);
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException exception)
        {
            throw Problem($"The {what} answered HTTP {(int)response.StatusCode} with a body that is not valid JSON ({Describe(response, body)}; invalid at line {exception.LineNumber + 1}, byte {exception.BytePositionInLine + 1}).", response);
        }

        if (document.RootElement.ValueKind != JsonValueKind.Object)
        {
            var kind = document.RootElement.ValueKind;
            document.Dispose();
            throw Problem($"The {what} answered HTTP {(int)response.StatusCode} with a JSON {kind.ToString().ToLowerInvariant()} where a JSON object was expected.", response);
        }

        return document;
    }

    /// <summary>Reads an optional string property; a value of another JSON type is an error.</summary>
    public static string? GetString(JsonElement root, string property, string what, HttpResponseMessage response)
    {
        if (!root.TryGetProperty(property, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.String)
        {
            throw Problem($"The {what}'s \"{property}\" is a JSON {value.ValueKind.ToString().ToLowerInvariant()}; a string was expected.", response);
        }

        return value.GetString();
    }

    /// <summary>
    /// Text an identity service sent back (an error description) may be long, hold control characters,
    /// or, from a hostile or buggy server, echo the secret: clean it, mask the secret in any form, then
    /// bound it, and mask a beginning of the secret the cut (or the server) left at the end.
    /// </summary>
    /// <remarks>
    /// Masking comes before shortening: shortened first, an occurrence cut in two would no longer be found
    /// and its first part would survive. See <see cref="SecretMask"/> for why nothing of 6 characters or more survives.
    /// </remarks>
    public static string? Sanitize(string? serverText, string? secret, string? clientId = null)
    {
        if (string.IsNullOrEmpty(serverText))
        {
            return serverText;
        }

        // One for one, and before matching, so the secret is looked for in the text as it will be shown.
        var text = string.Create(serverText.Length, serverText, static (span, source) =>
        {
            for (var i = 0; i < source.Length; i++)
            {
                span[i] = char.IsControl(source[i]) ? ' ' : source[i];
            }
        });
        var mask = string.IsNullOrEmpty(secret) ? null : new SecretMask(secret, clientId);
        if (mask is not null)
        {
            text = mask.MaskOccurrences(text);
        }

        var shortened = text.Length > MaxServerTextLength;
        if (shortened)
        {
            text = text[..(char.IsHighSurrogate(text[MaxServerTextLength - 1]) ? MaxServerTextLength - 1 : MaxServerTextLength)];
        }

        if (mask is not null)
        {
            text = mask.MaskTrailingFragment(text);
        }

        return shortened ? text + "…" : text;
    }

    public static string Describe(HttpResponseMessage response, byte[] body)
    {
        var mediaType = response.Content.Headers.ContentType?.MediaType ?? "no content type";
        var looksLikeHtml = body.AsSpan().TrimStart(" \t\r\n"u8).StartsWith("<"u8);
        return $"{mediaType}, {body.Length} bytes{(looksLikeHtml ? ", looks like an HTML page" : string.Empty)}";
    }

    private static OdcAuthenticationException Problem(string message, HttpResponseMessage response) =>
        new(message, error: null, errorDescription: null, response.StatusCode);

    public static bool IsRedirect(HttpStatusCode status) => (int)status is >= 300 and < 400;
}
