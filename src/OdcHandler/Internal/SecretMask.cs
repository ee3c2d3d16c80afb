using System.Text;

namespace OdcHandler.Internal;

/// <summary>
/// Finds the client secret in text an identity service sent back, in every form the service could have
/// echoed it: raw, percent-encoded (either hex case, '+' or %20 for a space, or any mix of encoded and
/// plain characters, as form encoders differ in what they escape), form-decoded ('+' read as a space),
/// and inside the Basic credentials (base64 of id:secret, form-encoded per RFC 6749 §2.3.1 or not).
/// </summary>
/// <remarks>
/// Why this is sound:
/// <list type="bullet">
/// <item>Full occurrences are replaced in one left-to-right pass that tries every position. The mask is made
/// of a character that no form of the secret can match (not in the secret, not '+', ' ' or '%', not base64),
/// so no occurrence can run into or out of a mask; an occurrence left after the pass would have to start at
/// a position the pass tried on the same characters, so none is left.</item>
/// <item>Shortening only removes characters, so it can expose no fragment that the masked text did not
/// hold; but the last characters kept may be the beginning of an occurrence (or the server ended its own
/// text in the middle of one). So a trailing piece of 6 characters or more that is the beginning of any form
/// is masked as well. Shorter pieces, and pieces elsewhere that merely share characters with the secret,
/// are left alone, so ordinary words never vanish.</item>
/// </list>
/// </remarks>
internal sealed class SecretMask
{
    /// <summary>The shortest trailing piece of a form that is masked.</summary>
    public const int MinFragment = 6;

    private static readonly char[] s_maskCharacters = ['*', '#', '~', '_', '\u2022'];

    private readonly Rune[] _secret;
    private readonly string[] _base64Forms;
    private readonly int _longestForm;
    private readonly char _firstRaw;

    public SecretMask(string secret, string? clientId)
    {
        _secret = secret.EnumerateRunes().ToArray();
        _firstRaw = secret.Length > 0 ? secret[0] : '\0';
        var maskCharacter = s_maskCharacters.FirstOrDefault(c => !secret.Contains(c, StringComparison.Ordinal), '*');
        Mask = new string(maskCharacter, 3);

        // Padded before unpadded, so a full value goes with its '=' and one written without them still goes.
        var forms = new List<string>();
        if (!string.IsNullOrEmpty(clientId))
        {
            foreach (var pair in new[] { TokenEndpointClient.FormEncode(clientId) + ":" + TokenEndpointClient.FormEncode(secret), clientId + ":" + secret })
            {
                var base64 = Convert.ToBase64String(Encoding.UTF8.GetBytes(pair));
                forms.Add(base64);
                forms.Add(base64.TrimEnd('='));
            }
        }

        _base64Forms = [.. forms.Distinct(StringComparer.Ordinal)];
        _longestForm = Math.Max(_secret.Sum(r => 3 * r.Utf8SequenceLength), _base64Forms.Select(f => f.Length).DefaultIfEmpty(0).Max());
    }

    public string Mask { get; }

    /// <summary>Replaces every full occurrence of every form of the secret.</summary>
    public string MaskOccurrences(string text)
    {
        if (_secret.Length == 0)
        {
            return text;
        }

        var builder = new StringBuilder(text.Length);
        var position = 0;
        while (position < text.Length)
        {
            if (Match(text, position) is { Complete: true } match)
            {
                builder.Append(Mask);
                position += match.Length;
            }
            else
            {
                builder.Append(text[position]);
                position++;
            }
        }

        var masked = builder.ToString();
        foreach (var form in _base64Forms)
        {
            masked = masked.Replace(form, Mask, StringComparison.Ordinal);
        }

        return masked;
    }

    /// <summary>Masks the end of <paramref name="text"/> if it is the first <see cref="MinFragment"/> or more characters of a form.</summary>
    public string MaskTrailingFragment(string text)
    {
        if (_secret.Length == 0)
        {
            return text;
        }

        // The earliest start wins, so the whole fragment goes.
        for (var start = Math.Max(0, text.Length - _longestForm); start <= text.Length - MinFragment; start++)
        {
            if (Match(text, start) is { Complete: false, Length: > 0 } || StartsABase64Form(text.AsSpan(start)))
            {
                return string.Concat(text.AsSpan(0, start), Mask);
            }
        }

        return text;
    }

    private bool StartsABase64Form(ReadOnlySpan<char> tail)
    {
        foreach (var form in _base64Forms)
        {
            if (form.AsSpan().StartsWith(tail, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Matches the secret at <paramref name="start"/>, each character of it written in any of its forms.
    /// Runs as a set of candidate positions (a '%' in the secret can be matched raw or as "%25", so one
    /// greedy choice is not enough). Complete: the whole secret matched, over Length characters. Not complete
    /// with a Length: the text ended first, its last Length characters being the beginning of an occurrence.
    /// </summary>
    private (bool Complete, int Length)? Match(string text, int start)
    {
        // Most positions start with none of the characters any form could start with: no sets for them.
        var first = text[start];
        if (first != _firstRaw && first is not ('%' or '+' or ' '))
        {
            return null;
        }

        var positions = new HashSet<int> { start };
        var next = new HashSet<int>();
        var ranOut = false;
        foreach (var rune in _secret)
        {
            next.Clear();
            foreach (var position in positions)
            {
                ranOut |= Step(text, position, rune, next);
            }

            if (next.Count == 0)
            {
                return ranOut ? (false, text.Length - start) : null;
            }

            (positions, next) = (next, positions);
        }

        return (true, positions.Max() - start);
    }

    /// <summary>Adds to <paramref name="next"/> where each way of writing <paramref name="rune"/> at <paramref name="position"/> ends; true if the text ended part-way.</summary>
    private static bool Step(string text, int position, Rune rune, HashSet<int> next)
    {
        var remaining = text.Length - position;
        if (remaining == 0)
        {
            return true;
        }

        var ranOut = false;
        Span<char> chars = stackalloc char[2];
        var length = rune.EncodeToUtf16(chars);
        var raw = chars[..length];
        if (text.AsSpan(position).StartsWith(raw, StringComparison.Ordinal))
        {
            next.Add(position + length);
        }
        else if (remaining < length && raw.StartsWith(text.AsSpan(position), StringComparison.Ordinal))
        {
            ranOut = true;
        }

        // A form decoder reads '+' as a space; form encoding writes a space as '+'; control characters were
        // turned into spaces before matching.
        var c = text[position];
        if ((rune.Value == ' ' && c == '+') || ((rune.Value == '+' || Rune.IsControl(rune)) && c == ' '))
        {
            next.Add(position + 1);
        }

        Span<byte> bytes = stackalloc byte[4];
        var byteCount = rune.EncodeToUtf8(bytes);
        var at = position;
        for (var i = 0; i < byteCount; i++)
        {
            for (var j = 0; j < 3; j++, at++)
            {
                if (at == text.Length)
                {
                    return true;
                }

                var expected = j switch
                {
                    0 => '%',
                    1 => HexDigit(bytes[i] >> 4),
                    _ => HexDigit(bytes[i] & 0xF),
                };
                if (char.ToUpperInvariant(text[at]) != expected)
                {
                    return ranOut;
                }
            }
        }

        next.Add(at);
        return ranOut;
    }

    private static char HexDigit(int value) => (char)(value < 10 ? '0' + value : 'A' + value - 10);
}
