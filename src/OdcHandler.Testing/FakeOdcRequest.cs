using System.Text.Json;

namespace OdcHandler.Testing;

/// <summary>An authenticated API request as a route handler of <see cref="FakeOdcServer"/> sees it.</summary>
public sealed class FakeOdcRequest
{
    internal FakeOdcRequest(HttpMethod method, Uri uri, IReadOnlyDictionary<string, string> routeValues, IReadOnlyDictionary<string, string> query, string? body, string clientId)
    {
        Method = method;
        Uri = uri;
        RouteValues = routeValues;
        Query = query;
        Body = body;
        ClientId = clientId;
    }

    /// <summary>The HTTP method.</summary>
    public HttpMethod Method { get; }

    /// <summary>The full request address.</summary>
    public Uri Uri { get; }

    /// <summary>Values of the route template's <c>{name}</c> segments, e.g. <c>RouteValues["key"]</c>.</summary>
    public IReadOnlyDictionary<string, string> RouteValues { get; }

    /// <summary>The query string's parameters, decoded; the last value wins when a name repeats.</summary>
    public IReadOnlyDictionary<string, string> Query { get; }

    /// <summary>The request body as text, or <see langword="null"/> when there is none.</summary>
    public string? Body { get; }

    /// <summary>The id of the API client whose token authorized this request.</summary>
    public string ClientId { get; }

    /// <summary>
    /// Every value of a query parameter that repeats, in order, as ODC's array parameters are sent
    /// (<c>assetTypes=WebApplication&amp;assetTypes=MobileApplication</c>); empty when it is absent.
    /// </summary>
    /// <param name="name">The parameter's name.</param>
    /// <returns>The values.</returns>
    public IReadOnlyList<string> QueryValues(string name) => FormDecoding.ParseQueryValues(Uri.Query, name);

    /// <summary>Reads an integer query parameter, or returns <paramref name="fallback"/> when it is absent or not a number.</summary>
    /// <param name="name">The parameter's name.</param>
    /// <param name="fallback">The value to use when it is absent.</param>
    /// <returns>The parameter's value or <paramref name="fallback"/>.</returns>
    public int QueryInt(string name, int fallback) =>
        Query.TryGetValue(name, out var text) && int.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, out var value) ? value : fallback;

    /// <summary>Deserializes the JSON body (web defaults: camelCase, case-insensitive).</summary>
    /// <typeparam name="T">The body's type.</typeparam>
    /// <returns>The body, or <see langword="default"/> when there is none.</returns>
    /// <exception cref="JsonException">The body is not JSON of that shape.</exception>
    public T? ReadJson<T>() => Body is null ? default : JsonSerializer.Deserialize<T>(Body, FakeOdcResponse.JsonOptions);
}
