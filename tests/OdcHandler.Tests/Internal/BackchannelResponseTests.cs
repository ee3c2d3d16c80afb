using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using OdcHandler.Internal;
using OdcHandler.Tests.Fakes;

namespace OdcHandler.Tests.Internal;

/// <summary>
/// An identity service that echoes the secret back (in <c>error_description</c> or <c>error</c>), in any encoding
/// and wherever the description gets shortened, never leaks a fragment of it of 6 characters or more.
/// </summary>
public sealed partial class BackchannelResponseTests : IDisposable
{
    private const string ClientId = "my-client";

    /// <summary>Long, with a space, reserved characters, '%' and non-ASCII: every encoding differs from the raw form.</summary>
    private const string Secret = "Qz7+Kp/w=Lm&Rt%Xv Nb9éY~Hd";

    private const string Filler = "The credentials that were presented with this request could not be verified by the server. ";

    private readonly FakeIdentityServer _server = new();
    private readonly CapturingLoggerProvider _logs = new();

    public void Dispose() => _logs.Dispose();

    /// <summary>Every form a server could echo: raw, form-encoded (upper and lower hex, '+' or %20 for space, or every byte escaped), and Basic.</summary>
    public static TheoryData<string> EchoedForms() => new(Forms(Secret).Values);

    private static Dictionary<string, string> Forms(string secret)
    {
        var formEncoded = TokenEndpointClient.FormEncode(secret);
        var escaped = Uri.EscapeDataString(secret);
        return new()
        {
            ["raw"] = secret,
            ["form-encoded"] = formEncoded,
            ["form-encoded, lowercase hex"] = LowerHex(formEncoded),
            ["escaped"] = escaped,
            ["escaped, lowercase hex"] = LowerHex(escaped),
            ["every byte percent-encoded"] = string.Concat(Encoding.UTF8.GetBytes(secret).Select(b => $"%{b:X2}")),
            ["basic"] = Convert.ToBase64String(Encoding.UTF8.GetBytes(TokenEndpointClient.FormEncode(ClientId) + ":" + formEncoded)),
            ["basic, unencoded pair"] = Convert.ToBase64String(Encoding.UTF8.GetBytes(ClientId + ":" + secret)),
        };
    }

    private static string LowerHex(string encoded) => PercentEscape().Replace(encoded, m => m.Value.ToLowerInvariant());

    [GeneratedRegex("%[0-9A-F]{2}")]
    private static partial Regex PercentEscape();

    /// <summary>Fails naming the fragment if any 6-character piece of any form of the secret is in <paramref name="text"/>.</summary>
    private static void AssertNoFragment(string? text, string where)
    {
        if (text is null)
        {
            return;
        }

        foreach (var (name, form) in Forms(Secret))
        {
            for (var i = 0; i + 6 <= form.Length; i++)
            {
                var fragment = form.Substring(i, 6);
                Assert.False(text.Contains(fragment, StringComparison.Ordinal), $"{where} holds '{fragment}' of the {name} secret: {text}");
            }
        }
    }

    [Fact]
    public void Sanitize_FormStraddlingTheCutAtEveryOffset_LeavesNoFragment()
    {
        foreach (var form in Forms(Secret).Values)
        {
            var filler = string.Concat(Enumerable.Repeat(Filler, 4));
            for (var offset = 300 - form.Length - 2; offset <= 302; offset++)
            {
                var text = filler[..offset] + form + " and then some more words after it";

                var sanitized = BackchannelResponse.Sanitize(text, Secret, ClientId);

                AssertNoFragment(sanitized, $"offset {offset}");
                Assert.StartsWith(filler[..Math.Min(offset, 250)], sanitized, StringComparison.Ordinal);
            }
        }
    }

    [Theory]
    [MemberData(nameof(EchoedForms))]
    public void Sanitize_EchoedForm_IsMaskedAndTheWordsAroundItStay(string form)
    {
        var sanitized = BackchannelResponse.Sanitize($"Invalid client secret '{form}' for client", Secret, ClientId);

        Assert.Equal("Invalid client secret '***' for client", sanitized);
    }

    [Fact]
    public void Sanitize_SecretEndingTheServersOwnText_TrailingFragmentIsMasked()
    {
        var sanitized = BackchannelResponse.Sanitize("bad secret " + Secret[..12], Secret, ClientId);

        Assert.Equal("bad secret ***", sanitized);
    }

    [Fact]
    public void Sanitize_LongTextWithoutTheSecret_IsShortenedWithItsWordsIntact()
    {
        var text = string.Concat(Enumerable.Repeat(Filler, 5));

        var sanitized = BackchannelResponse.Sanitize(text, Secret, ClientId);

        Assert.Equal(text[..300] + "…", sanitized);
    }

    [Theory]
    [MemberData(nameof(EchoedForms))]
    public async Task GetTokenAsync_ServerEchoesTheSecretInAnyForm_NoFragmentInExceptionOrLogs(string form)
    {
        var longDescription = string.Concat(Enumerable.Repeat(Filler, 4))[..(300 - (form.Length / 2))] + form + " (end)";
        string[] bodies =
        [
            $$"""{"error":"invalid_client","error_description":"Invalid client secret {{form}}"}""",
            $$"""{"error":"invalid_client","error_description":"{{longDescription}}"}""",
            $$"""{"error":"{{form}}"}""",
            $$"""{"error":"invalid_client {{form}}","error_description":"{{longDescription}}"}""",
        ];
        foreach (var body in bodies)
        {
            _server.TokenResponder = _ => FakeIdentityServer.Json(HttpStatusCode.Unauthorized, body);
            using var services = OdcTestHost.Build(_server, o =>
            {
                o.ClientSecret = Secret;
                o.FailureCooldown = TimeSpan.Zero;
            }, logs: _logs);

            var failure = await Assert.ThrowsAsync<OdcAuthenticationException>(() => services.Client().GetAsync("users"));

            Assert.NotNull(failure.Error);
            AssertNoFragment(failure.Message, "Message");
            AssertNoFragment(failure.ToString(), "ToString()");
            AssertNoFragment(failure.Error, "Error");
            AssertNoFragment(failure.ErrorDescription, "ErrorDescription");
        }

        Assert.Contains(_logs.Entries, e => e.EventId.Name == "TokenAcquisitionFailed");
        foreach (var text in _logs.AllText())
        {
            AssertNoFragment(text, "a log entry");
        }
    }
}
