namespace OdcHandler.Internal;

/// <summary>
/// Decides whether a request's body, already sent once, can be sent again byte for byte. A body that
/// cannot is never resent: the caller gets the 401 instead.
/// </summary>
internal static class RequestReplay
{
    /// <summary>Asked after the first send, never before: probing a <see cref="StreamContent"/> marks it as read.</summary>
    public static bool CanReplay(HttpContent? content) => content switch
    {
        null => true,
        ByteArrayContent or ReadOnlyMemoryContent => true,
        MultipartContent multipart => multipart.All(CanReplay),
        _ when content.GetType() == typeof(StreamContent) => CanReplayStream(content),
        System.Net.Http.Json.JsonContent => true,
        _ => false,
    };

    /// <summary>
    /// A <see cref="StreamContent"/> can be sent again only if its stream seeks back; its Content-Length says
    /// nothing about that, as the caller may set it on a stream that does not seek. StreamContent keeps the
    /// stream private, but after a send <see cref="HttpContent.ReadAsStream()"/> throws
    /// <see cref="InvalidOperationException"/> when the stream was read and cannot seek, and otherwise returns a
    /// read-only wrapper whose CanSeek is the stream's (and which rewinds it, as the next send does anyway).
    /// The wrapper is not disposed: that would dispose the caller's stream.
    /// </summary>
    private static bool CanReplayStream(HttpContent content)
    {
        try
        {
            return content.ReadAsStream().CanSeek;
        }
        catch (Exception exception) when (exception is InvalidOperationException or ObjectDisposedException or NotSupportedException)
        {
            return false;
        }
    }
}
