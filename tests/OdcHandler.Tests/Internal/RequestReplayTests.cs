using System.Collections.Concurrent;
using System.Net;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using OdcHandler.Internal;
using OdcHandler.Tests.Fakes;

namespace OdcHandler.Tests.Internal;

/// <summary>
/// A body is replayed after a 401 only when the second send is byte-identical to the first; otherwise the
/// caller gets the 401, nothing thrown and nothing sent twice.
/// </summary>
public sealed class RequestReplayTests : IDisposable
{
    private readonly FakeIdentityServer _server = new();
    private readonly ConcurrentQueue<string?> _bodies = new();
    private ServiceProvider? _services;

    public void Dispose() => _services?.Dispose();

    /// <summary>The API answers 401 to the first request, whatever its token, then 200; it records every body.</summary>
    private HttpClient ClientOfAnApiThatRejectsTheFirstRequest()
    {
        var answered = 0;
        _server.ApiResponder = request =>
        {
            _bodies.Enqueue(request.Body);
            return Task.FromResult(Interlocked.Increment(ref answered) == 1
                ? FakeIdentityServer.Json(HttpStatusCode.Unauthorized, "{}")
                : FakeIdentityServer.Json(HttpStatusCode.OK, """{"ok":true}"""));
        };
        _services = OdcTestHost.Build(_server);
        return _services.Client();
    }

    [Fact]
    public async Task SendAsync_NonSeekableStreamWithExplicitContentLength_ReturnsTheUnauthorizedAfterOneSend()
    {
        var client = ClientOfAnApiThatRejectsTheFirstRequest();
        var payload = Encoding.UTF8.GetBytes("payload");
        using var content = new StreamContent(new NonSeekableStream(payload));
        content.Headers.ContentLength = payload.Length;

        using var response = await client.PostAsync("users", content);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal(["payload"], _bodies);
    }

    [Fact]
    public async Task SendAsync_SeekableStreamWithExplicitContentLength_IsReplayedIdentically()
    {
        var client = ClientOfAnApiThatRejectsTheFirstRequest();
        var payload = Encoding.UTF8.GetBytes("payload");
        using var content = new StreamContent(new MemoryStream(payload));
        content.Headers.ContentLength = payload.Length;

        using var response = await client.PostAsync("users", content);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(["payload", "payload"], _bodies);
    }

    /// <summary>What RequestReplay relies on in StreamContent's own behaviour, held here against the running .NET.</summary>
    [Fact]
    public async Task CanReplay_SeekableStreamAfterASend_IsTrueAndTheNextSendIsIdenticalAndTheStreamStaysOpen()
    {
        using var stream = new MemoryStream(Encoding.UTF8.GetBytes("--payload"));
        stream.Position = 2;
        using var content = new StreamContent(stream);
        content.Headers.ContentLength = 7;
        Assert.Equal("payload", await SendOnce(content));

        Assert.True(RequestReplay.CanReplay(content));

        Assert.True(stream.CanRead, "probing must not dispose the caller's stream");
        Assert.Equal("payload", await SendOnce(content));
        Assert.True(RequestReplay.CanReplay(content));
        Assert.Equal("payload", await SendOnce(content));
    }

    [Fact]
    public async Task CanReplay_NonSeekableStreamWithContentLengthAfterASend_IsFalse()
    {
        using var content = new StreamContent(new NonSeekableStream(Encoding.UTF8.GetBytes("payload")));
        content.Headers.ContentLength = 7;
        Assert.Equal("payload", await SendOnce(content));

        Assert.False(RequestReplay.CanReplay(content));
        await Assert.ThrowsAsync<InvalidOperationException>(() => SendOnce(content));
    }

    [Fact]
    public void CanReplay_NonSeekableStreamNeverRead_IsFalse()
    {
        using var content = new StreamContent(new NonSeekableStream(Encoding.UTF8.GetBytes("payload")));
        content.Headers.ContentLength = 7;

        Assert.False(RequestReplay.CanReplay(content));
    }

    [Fact]
    public async Task CanReplay_StreamContentSubclass_IsFalse()
    {
        using var content = new CustomStreamContent(new MemoryStream(Encoding.UTF8.GetBytes("payload")));
        Assert.Equal("payload", await SendOnce(content));

        Assert.False(RequestReplay.CanReplay(content));
    }

    [Fact]
    public void CanReplay_BuffersAndMultipartsOfThem_AreTrue()
    {
        using var multipart = new MultipartFormDataContent { new StringContent("a"), new ByteArrayContent([1, 2]) };

        Assert.True(RequestReplay.CanReplay(null));
        Assert.True(RequestReplay.CanReplay(new StringContent("a")));
        Assert.True(RequestReplay.CanReplay(new ReadOnlyMemoryContent(new byte[] { 1 })));
        Assert.True(RequestReplay.CanReplay(multipart));
    }

    /// <summary>Serializes the content as a handler sending it would.</summary>
    private static async Task<string> SendOnce(HttpContent content)
    {
        using var sent = new MemoryStream();
        await content.CopyToAsync(sent);
        return Encoding.UTF8.GetString(sent.ToArray());
    }

    private sealed class CustomStreamContent(Stream stream) : StreamContent(stream);

    private sealed class NonSeekableStream(byte[] content) : MemoryStream(content)
    {
        public override bool CanSeek => false;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }
    }
}
