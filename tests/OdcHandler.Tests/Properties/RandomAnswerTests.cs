using System.Net;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using OdcHandler.Tests.Fakes;

namespace OdcHandler.Tests.Properties;

/// <summary>
/// Random discovery and token answers, from a seeded generator: whatever they are, the caller gets a
/// usable token or an <see cref="OdcAuthenticationException"/>, never another exception and never a hang.
/// </summary>
public sealed class RandomAnswerTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private const int Iterations = 1500;

    private static readonly string[] s_fragments =
    [
        "{", "}", "[", "]", ",", ":", "\"", "null", "true", "false", "0", "-1", "1e309", "43200", "1.5", "\"Bearer\"", "\"bearer\"", "\"MAC\"",
        "\"access_token\"", "\"token_type\"", "\"expires_in\"", "\"token_endpoint\"", "\"error\"", "\"invalid_client\"", "\"abc.def.ghi\"",
        "\"https://myorg.outsystems.dev/t\"", "\"http://myorg.outsystems.dev/t\"", "\"https://evil.example.com/t\"", "\"\\u0000\"", "\"a\\r\\nb\"",
        "<html>", "\u00e9", "\ud83d\ude00", " ", "\n", "99999999999999999999",
    ];

    /// <summary>A valid answer, mutated: fields dropped, retyped or garbled, the text cut or spliced with fragments.</summary>
    private static string RandomBody(Random random, bool discovery)
    {
        var fields = discovery
            ? new List<string> { "\"issuer\":\"https://myorg.outsystems.dev/auth/realms/x\"", "\"token_endpoint\":\"https://myorg.outsystems.dev/auth/realms/x/protocol/openid-connect/token\"" }
            : new List<string> { "\"access_token\":\"eyJ.abc.def\"", "\"expires_in\":43200", "\"token_type\":\"Bearer\"" };
        for (var i = 0; i < fields.Count; i++)
        {
            switch (random.Next(5))
            {
                case 0:
                    fields[i] = string.Empty;
                    break;
                case 1:
                    var colon = fields[i].IndexOf(':', StringComparison.Ordinal);
                    fields[i] = fields[i][..(colon + 1)] + s_fragments[random.Next(s_fragments.Length)];
                    break;
            }
        }

        var text = "{" + string.Join(",", fields.Where(f => f.Length > 0)) + "}";
        var edits = random.Next(4);
        for (var e = 0; e < edits; e++)
        {
            var at = random.Next(text.Length + 1);
            text = random.Next(3) switch
            {
                0 => text[..at],
                1 => text[..at] + s_fragments[random.Next(s_fragments.Length)] + text[at..],
                _ => text[..at] + (char)random.Next(0, 0x3000) + text[at..],
            };
        }

        return text;
    }

    private static HttpStatusCode RandomStatus(Random random) =>
        random.Next(10) < 7 ? HttpStatusCode.OK : (HttpStatusCode)new[] { 200, 201, 204, 301, 400, 401, 403, 404, 429, 500, 503 }[random.Next(11)];

    [Fact]
    public async Task AnyAnswer_YieldsATokenOrOdcAuthenticationException()
    {
        var random = new Random(20261130);
        var server = new FakeIdentityServer();
        using var services = OdcTestHost.Build(server, o => o.FailureCooldown = TimeSpan.Zero);
        var provider = services.GetRequiredService<IOdcAccessTokenProvider>();
        int tokens = 0, failures = 0;

        for (var i = 0; i < Iterations; i++)
        {
            var fuzzDiscovery = random.Next(2) == 0;
            var body = RandomBody(random, fuzzDiscovery);
            var status = RandomStatus(random);
            var mediaType = random.Next(4) == 0 ? "text/html" : "application/json";
            HttpResponseMessage Answer() => new(status) { Content = new StringContent(body, Encoding.UTF8, mediaType) };
            server.DiscoveryResponder = fuzzDiscovery ? _ => Answer() : null;
            server.TokenResponder = fuzzDiscovery ? null : _ => Answer();

            // Expire the cached discovery document and token so that every iteration asks again.
            server.Time.Advance(TimeSpan.FromDays(2));
            try
            {
                var token = await provider.GetTokenAsync(OdcTestHost.ClientName).AsTask().WaitAsync(TimeSpan.FromSeconds(30));
                Assert.False(string.IsNullOrEmpty(token.Value));
                Assert.True(token.ExpiresAt > server.Time.GetUtcNow(), $"iteration {i}: an expired token was returned");
                Assert.All(token.Value, c => Assert.InRange(c, '!', '~'));
                tokens++;
            }
            catch (OdcAuthenticationException exception)
            {
                Assert.False(string.IsNullOrWhiteSpace(exception.Message));
                failures++;
            }
            catch (Exception exception) when (exception is not Xunit.Sdk.XunitException)
            {
                Assert.Fail($"iteration {i} (seed 20261130): {exception.GetType().Name} for {(fuzzDiscovery ? "discovery" : "token")} answer {(int)status} {body}");
            }
        }

        output.WriteLine($"{Iterations} random answers: {tokens} tokens, {failures} OdcAuthenticationException, {server.DiscoveryRequests} discovery and {server.TokenRequests} token requests");

        // The generator must exercise both outcomes, or it proves nothing.
        Assert.True(tokens > 25, $"only {tokens} tokens");
        Assert.True(failures > 500, $"only {failures} failures");
    }
}
