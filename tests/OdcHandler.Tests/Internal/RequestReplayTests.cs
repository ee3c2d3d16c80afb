using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Threading.Channels;
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

    /// <summary>Byte-identical replay, or the 401 back after a single send.</summary>
    private void AssertReplayedIdenticallyOrNotAtAll(HttpResponseMessage response)
    {
        var bodies = _bodies.ToArray();
        Assert.NotEmpty(bodies[0]!);
        if (response.StatusCode == HttpStatusCode.Unauthorized)
        {
            Assert.Single(bodies);
        }
        else
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(2, bodies.Length);
            Assert.Equal(bodies[0], bodies[1]);
        }
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

    [Fact]
    public async Task SendAsync_JsonContentOverAChannel_IsNeverResentWithAnotherBody()
    {
        var client = ClientOfAnApiThatRejectsTheFirstRequest();
        var channel = Completed(1, 2, 3);

        using var response = await client.PostAsync("users", JsonContent.Create(channel.Reader.ReadAllAsync()));

        AssertReplayedIdenticallyOrNotAtAll(response);
        Assert.Equal("[1,2,3]", _bodies.First());
    }

    [Fact]
    public async Task SendAsync_JsonContentWithAChannelInsideAnObject_IsNeverResentWithAnotherBody()
    {
        var client = ClientOfAnApiThatRejectsTheFirstRequest();
        var channel = Completed(1, 2, 3);

        using var response = await client.PostAsync("users", JsonContent.Create(new { name = "batch", items = channel.Reader.ReadAllAsync() }));

        AssertReplayedIdenticallyOrNotAtAll(response);
        Assert.Equal("""{"name":"batch","items":[1,2,3]}""", _bodies.First());
    }

    [Fact]
    public async Task SendAsync_JsonContentOverAOneShotEnumerable_IsNeverResentWithAnotherBody()
    {
        var client = ClientOfAnApiThatRejectsTheFirstRequest();
        var queue = new Queue<int>([1, 2, 3]);

        using var response = await client.PostAsync("users", JsonContent.Create(Drain(queue)));

        AssertReplayedIdenticallyOrNotAtAll(response);
        Assert.Equal("[1,2,3]", _bodies.First());
    }

    [Fact]
    public async Task SendAsync_JsonContentOfMaterializedValues_IsStillReplayed()
    {
        var client = ClientOfAnApiThatRejectsTheFirstRequest();
        var order = new Order("Ada", [new Line("tea", 2)], new Dictionary<string, int> { ["x"] = 1 });

        using var response = await client.PostAsync("users", JsonContent.Create(order));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var bodies = _bodies.ToArray();
        Assert.Equal(2, bodies.Length);
        Assert.Equal(bodies[0], bodies[1]);
    }

    [Fact]
    public void CanReplay_JsonContent_OnlyWhenEveryPartIsMaterialized()
    {
        Assert.True(RequestReplay.CanReplay(JsonContent.Create<object?>(null)));
        Assert.True(RequestReplay.CanReplay(JsonContent.Create(new[] { 1, 2 })));
        Assert.True(RequestReplay.CanReplay(JsonContent.Create(new List<Line> { new("tea", 1) })));
        Assert.True(RequestReplay.CanReplay(JsonContent.Create(new TreeNode("root", [new TreeNode("leaf", [])]))));
        Assert.True(RequestReplay.CanReplay(JsonContent.Create(System.Text.Json.Nodes.JsonNode.Parse("""{"a":[1]}"""))));

        Assert.False(RequestReplay.CanReplay(JsonContent.Create(new { items = Enumerable.Range(0, 3) })));
        Assert.False(RequestReplay.CanReplay(JsonContent.Create(new Dictionary<string, object> { ["a"] = 1 })));
        Assert.False(RequestReplay.CanReplay(JsonContent.Create(new List<int>().GetEnumerator())));
        Assert.False(RequestReplay.CanReplay(JsonContent.Create(new { data = new MemoryStream() })));
    }

    public sealed record TreeNode(string Name, IReadOnlyList<TreeNode> Children);

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

    private static Channel<int> Completed(params int[] items)
    {
        var channel = Channel.CreateUnbounded<int>();
        foreach (var item in items)
        {
            Assert.True(channel.Writer.TryWrite(item));
        }

        channel.Writer.Complete();
        return channel;
    }

    private static IEnumerable<int> Drain(Queue<int> queue)
    {
        while (queue.TryDequeue(out var item))
        {
            yield return item;
        }
    }

    public sealed record Line(string Product, int Quantity);

    public sealed record Order(string Customer, IReadOnlyList<Line> Lines, Dictionary<string, int> Tags);

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
