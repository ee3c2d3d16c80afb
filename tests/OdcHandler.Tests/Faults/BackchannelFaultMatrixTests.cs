using System.Net;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using OdcHandler.Tests.Fakes;

namespace OdcHandler.Tests.Faults;

/// <summary>
/// Every bad answer a discovery or token endpoint can give, table-driven. Each case: the caller gets an
/// <see cref="OdcAuthenticationException"/> naming the problem, nothing is cached from the bad answer, and
/// the next request after the server recovers succeeds.
/// </summary>
public sealed class BackchannelFaultMatrixTests
{
    public enum Endpoint
    {
        Discovery,
        Token,
    }

    private static HttpResponseMessage Body(string body, string mediaType = "application/json", HttpStatusCode status = HttpStatusCode.OK) =>
        new(status) { Content = new StringContent(body, Encoding.UTF8, mediaType) };

    private static readonly Dictionary<string, Func<HttpResponseMessage>> s_answers = new()
    {
        ["empty body"] = () => Body(string.Empty),
        ["HTML error page"] = () => Body("<!DOCTYPE html><html><body>502 Bad Gateway</body></html>", "text/html"),
        ["truncated JSON"] = () => Body("""{"token_endpoint":"https://myorg.outsys"""),
        ["JSON array"] = () => Body("[]"),
        ["declared 100 MB body"] = () => new HttpResponseMessage(HttpStatusCode.OK) { Content = new DeclaredHugeContent() },
        ["endless body"] = () => new HttpResponseMessage(HttpStatusCode.OK) { Content = new StreamContent(new EndlessStream()) },
        ["redirect"] = () =>
        {
            var redirect = new HttpResponseMessage(HttpStatusCode.TemporaryRedirect);
            redirect.Headers.Location = new Uri("https://evil.example.com/token");
            return redirect;
        },
        ["connection reset"] = () => throw new HttpRequestException("An error occurred while sending the request.", new IOException("Connection reset by peer")),
    };

    public static TheoryData<Endpoint, string, string> Cases() => new()
    {
        { Endpoint.Discovery, "empty body", "empty body" },
        { Endpoint.Discovery, "HTML error page", "looks like an HTML page" },
        { Endpoint.Discovery, "truncated JSON", "not valid JSON" },
        { Endpoint.Discovery, "JSON array", "JSON array where a JSON object was expected" },
        { Endpoint.Discovery, "declared 100 MB body", "104857600-byte body" },
        { Endpoint.Discovery, "endless body", "more than 1048576 bytes" },
        { Endpoint.Discovery, "redirect", "redirect (HTTP 307)" },
        { Endpoint.Discovery, "connection reset", "could not be reached" },
        { Endpoint.Token, "empty body", "empty body" },
        { Endpoint.Token, "HTML error page", "looks like an HTML page" },
        { Endpoint.Token, "truncated JSON", "not valid JSON" },
        { Endpoint.Token, "JSON array", "JSON array where a JSON object was expected" },
        { Endpoint.Token, "declared 100 MB body", "104857600-byte body" },
        { Endpoint.Token, "endless body", "more than 65536 bytes" },
        { Endpoint.Token, "redirect", "redirect (HTTP 307)" },
        { Endpoint.Token, "connection reset", "could not be reached" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task BadAnswer_IsATypedErrorNothingIsCachedAndRecoveryWorks(Endpoint endpoint, string answer, string expected)
    {
        var server = new FakeIdentityServer();
        var failing = true;
        if (endpoint == Endpoint.Discovery)
        {
            server.DiscoveryResponder = _ => s_answers[answer]();
        }
        else
        {
            server.TokenResponder = _ => failing ? s_answers[answer]() : server.IssueToken();
        }

        using var services = OdcTestHost.Build(server, o => o.FailureCooldown = TimeSpan.Zero);
        var client = services.Client();

        var failure = await Assert.ThrowsAsync<OdcAuthenticationException>(() => client.GetAsync("users"));
        Assert.Contains(expected, failure.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(FakeIdentityServer.Secret, failure.ToString(), StringComparison.Ordinal);
        Assert.Equal(0, server.ApiRequests);
        Assert.DoesNotContain(server.Requests, r => r.Uri.Host == "evil.example.com");

        failing = false;
        if (endpoint == Endpoint.Discovery)
        {
            server.DiscoveryResponder = null;
        }

        using var response = await client.GetAsync("users");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(1, server.ApiRequests);
    }

    [Theory]
    [InlineData(Endpoint.Discovery)]
    [InlineData(Endpoint.Token)]
    public async Task SlowBody_IsCutOffByTheBackchannelTimeout(Endpoint endpoint)
    {
        var server = new FakeIdentityServer();
        Func<HttpRequestMessage, HttpResponseMessage> stall = _ => new HttpResponseMessage(HttpStatusCode.OK) { Content = new StreamContent(new StallingStream()) };
        if (endpoint == Endpoint.Discovery)
        {
            server.DiscoveryResponder = stall;
        }
        else
        {
            server.TokenResponder = stall;
        }

        using var services = OdcTestHost.Build(server, o => o.BackchannelTimeout = TimeSpan.FromSeconds(5));

        var failure = await Assert.ThrowsAsync<OdcAuthenticationException>(
            () => services.Client().GetAsync("users").DriveAsync(server.Time, TimeSpan.FromSeconds(1)));

        Assert.Contains("did not finish sending its body within 5 s", failure.Message, StringComparison.Ordinal);
        Assert.Equal(0, server.ApiRequests);
    }

    [Fact]
    public async Task EndlessBody_IsNotReadPastTheBound()
    {
        var server = new FakeIdentityServer();
        var stream = new EndlessStream();
        server.TokenResponder = _ => new HttpResponseMessage(HttpStatusCode.OK) { Content = new StreamContent(stream) };
        using var services = OdcTestHost.Build(server, o => o.FailureCooldown = TimeSpan.Zero);

        await Assert.ThrowsAsync<OdcAuthenticationException>(() => services.Client().GetAsync("users"));

        Assert.InRange(stream.BytesRead, 64 * 1024, 200 * 1024);
    }

    /// <summary>Declares a body larger than any plausible answer; reading it would fail the test.</summary>
    private sealed class DeclaredHugeContent : HttpContent
    {
        protected override Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context) =>
            throw new InvalidOperationException("A declared 100 MB body must not be read.");

        protected override bool TryComputeLength(out long length)
        {
            length = 100L * 1024 * 1024;
            return true;
        }
    }

    /// <summary>A body that never ends, counting what was read from it.</summary>
    private sealed class EndlessStream : Stream
    {
        public long BytesRead { get; private set; }

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            Array.Fill(buffer, (byte)'a', offset, count);
            BytesRead += count;
            return count;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    /// <summary>A body whose first read never completes until cancelled.</summary>
    private sealed class StallingStream : Stream
    {
        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
            return 0;
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
