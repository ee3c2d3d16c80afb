using System.Text;

namespace OdcHandler.Testing;

/// <summary>
/// Strict application/x-www-form-urlencoded decoding, as an identity service does it: a secret sent
/// unencoded or encoded twice does not decode to the right value, and malformed input is refused.
/// </summary>
internal static class FormDecoding
{
    public static bool TryParse(string body, out Dictionary<string, string> form)
    {
        form = new Dictionary<string, string>(StringComparer.Ordinal);
        if (body.Length == 0)
        {
            return false;
        }

        foreach (var pair in body.Split('&'))
        {
            var equals = pair.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0 || !TryDecode(pair[..equals], out var name) || !TryDecode(pair[(equals + 1)..], out var value) || !form.TryAdd(name, value))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>RFC 6749 §2.3.1: base64 of form-encoded id, a colon, form-encoded secret.</summary>
    public static bool TryParseBasic(string? parameter, out string? clientId, out string? clientSecret)
    {
        clientId = clientSecret = null;
        if (parameter is null)
        {
            return false;
        }

        string decoded;
        try
        {
            decoded = Encoding.UTF8.GetString(Convert.FromBase64String(parameter));
        }
        catch (FormatException)
        {
            return false;
        }

        var colon = decoded.IndexOf(':', StringComparison.Ordinal);
        return colon > 0 && TryDecode(decoded[..colon], out clientId) && TryDecode(decoded[(colon + 1)..], out clientSecret);
    }

    public static Dictionary<string, string> ParseQuery(string query)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var equals = pair.IndexOf('=', StringComparison.Ordinal);
            var name = Uri.UnescapeDataString(equals < 0 ? pair : pair[..equals]);
            values[name] = equals < 0 ? string.Empty : Uri.UnescapeDataString(pair[(equals + 1)..].Replace('+', ' '));
        }

        return values;
    }

    public static List<string> ParseQueryValues(string query, string name)
    {
        var values = new List<string>();
        foreach (var pair in query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var equals = pair.IndexOf('=', StringComparison.Ordinal);
            if (Uri.UnescapeDataString(equals < 0 ? pair : pair[..equals]) == name)
            {
                values.Add(equals < 0 ? string.Empty : Uri.UnescapeDataString(pair[(equals + 1)..].Replace('+', ' ')));
            }
        }

        return values;
    }

    private static bool TryDecode(string encoded, out string decoded)
    {
        decoded = string.Empty;
        for (var i = 0; i < encoded.Length; i++)
        {
            var c = encoded[i];
            if (c == '%')
            {
                if (i + 2 >= encoded.Length || !Uri.IsHexDigit(encoded[i + 1]) || !Uri.IsHexDigit(encoded[i + 2]))
                {
                    return false;
                }

                i += 2;
            }
            else if (c is ' ' or '&' or '=' || char.IsControl(c))
            {
                return false;
            }
        }

        decoded = Uri.UnescapeDataString(encoded.Replace('+', ' '));
        return true;
    }
}
