using System.Collections;
using System.Collections.Concurrent;
using System.Net.Http.Json;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace OdcHandler.Internal;

/// <summary>
/// Decides whether a request's body, already sent once, can be sent again byte for byte. A body that
/// cannot is never resent: the caller gets the 401 instead.
/// </summary>
internal static class RequestReplay
{
    private const int MaxDepth = 32;

    /// <summary>Shapes already judged, by the runtime type of a <see cref="JsonContent"/>'s value.</summary>
    private static readonly ConcurrentDictionary<Type, bool> s_stableShapes = new();

    /// <summary>Types serialized as one value, whose serialization does not change between two sends.</summary>
    private static readonly HashSet<Type> s_leaves =
    [
        typeof(string), typeof(decimal), typeof(DateTime), typeof(DateTimeOffset), typeof(DateOnly), typeof(TimeOnly),
        typeof(TimeSpan), typeof(Guid), typeof(Uri), typeof(Version), typeof(JsonElement), typeof(JsonDocument),
        typeof(ReadOnlyMemory<byte>), typeof(Memory<byte>),
    ];

    /// <summary>Asked after the first send, never before: probing a <see cref="StreamContent"/> marks it as read.</summary>
    public static bool CanReplay(HttpContent? content) => content switch
    {
        null => true,

        // Exact types: a subclass may serialize differently on each send.
        _ when content.GetType() == typeof(ByteArrayContent) || content.GetType() == typeof(StringContent)
            || content.GetType() == typeof(FormUrlEncodedContent) || content.GetType() == typeof(ReadOnlyMemoryContent) => true,
        MultipartContent multipart => multipart.All(CanReplay),
        _ when content.GetType() == typeof(StreamContent) => CanReplayStream(content),
        JsonContent json => CanReplayJson(json),
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

    /// <summary>
    /// JsonContent serializes its value on every send, so a value that is a one-shot sequence (an
    /// IAsyncEnumerable over a channel, an iterator, an enumerator, a stream) would be sent the second time as
    /// something else, typically "[]". Judged by type, without touching the value: the value's runtime type, then
    /// the declared type of every public property and field, recursively, must be a plain value, a materialized
    /// collection (an array, or a type implementing ICollection, ICollection&lt;T&gt; or IReadOnlyCollection&lt;T&gt;)
    /// of such, or an object made of such. A declared IEnumerable&lt;T&gt; or object may hold anything, so it is
    /// refused too: the caller gets the 401 rather than a different body.
    /// </summary>
    private static bool CanReplayJson(JsonContent json) =>
        json.Value is not { } value || s_stableShapes.GetOrAdd(value.GetType(), static type => IsStable(type, [], 0));

    private static bool IsStable(Type type, HashSet<Type> visiting, int depth)
    {
        if (Nullable.GetUnderlyingType(type) is { } underlying)
        {
            type = underlying;
        }

        if (type.IsPrimitive || type.IsEnum || s_leaves.Contains(type) || typeof(JsonNode).IsAssignableFrom(type))
        {
            return true;
        }

        if (type == typeof(object) || depth > MaxDepth || typeof(Stream).IsAssignableFrom(type) || typeof(Delegate).IsAssignableFrom(type)
            || typeof(IEnumerator).IsAssignableFrom(type) || Implements(type, typeof(IAsyncEnumerable<>)) || Implements(type, typeof(IAsyncEnumerator<>)))
        {
            return false;
        }

        // Polymorphism or a custom converter declared on the type: the bytes depend on what the value holds at run
        // time, which is not judged here without reading it.
        if (IsPolymorphicOrConverted(type))
        {
            return false;
        }

        // A type met again further down is being judged already; its other members decide.
        if (!visiting.Add(type))
        {
            return true;
        }

        try
        {
            if (type.IsArray)
            {
                return IsStable(type.GetElementType()!, visiting, depth + 1);
            }

            if (typeof(IEnumerable).IsAssignableFrom(type))
            {
                var materialized = typeof(ICollection).IsAssignableFrom(type) || Implements(type, typeof(ICollection<>)) || Implements(type, typeof(IReadOnlyCollection<>));
                var element = ElementType(type);
                return materialized && element is not null && IsStable(element, visiting, depth + 1);
            }

            foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
            {
                if (property.GetMethod is { IsPublic: true } && property.GetIndexParameters().Length == 0
                    && (IsPolymorphicOrConverted(property) || !IsStable(property.PropertyType, visiting, depth + 1)))
                {
                    return false;
                }
            }

            foreach (var field in type.GetFields(BindingFlags.Public | BindingFlags.Instance))
            {
                if (IsPolymorphicOrConverted(field) || !IsStable(field.FieldType, visiting, depth + 1))
                {
                    return false;
                }
            }

            return true;
        }
        finally
        {
            visiting.Remove(type);
        }
    }

    /// <summary>
    /// [JsonPolymorphic], [JsonDerivedType], [JsonConverter] or [JsonExtensionData]: what is written depends on the
    /// runtime value. (Polymorphism added through the serializer options' type info resolver is not visible here.)
    /// </summary>
    private static bool IsPolymorphicOrConverted(MemberInfo member) =>
        member.IsDefined(typeof(System.Text.Json.Serialization.JsonPolymorphicAttribute), inherit: true)
        || member.IsDefined(typeof(System.Text.Json.Serialization.JsonDerivedTypeAttribute), inherit: true)
        || member.IsDefined(typeof(System.Text.Json.Serialization.JsonConverterAttribute), inherit: true)
        || member.IsDefined(typeof(System.Text.Json.Serialization.JsonExtensionDataAttribute), inherit: true);

    /// <summary>Whether <paramref name="type"/> is, or implements, the generic interface <paramref name="definition"/>.</summary>
    private static bool Implements(Type type, Type definition) =>
        (type.IsGenericType && type.GetGenericTypeDefinition() == definition)
        || type.GetInterfaces().Any(i => i.IsGenericType && i.GetGenericTypeDefinition() == definition);

    /// <summary>The T of the sequence's IEnumerable&lt;T&gt;; null when it has none or several.</summary>
    private static Type? ElementType(Type type)
    {
        var sequences = (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(IEnumerable<>) ? [type] : Array.Empty<Type>())
            .Concat(type.GetInterfaces().Where(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IEnumerable<>)))
            .Distinct()
            .ToList();
        return sequences.Count == 1 ? sequences[0].GetGenericArguments()[0] : null;
    }
}
