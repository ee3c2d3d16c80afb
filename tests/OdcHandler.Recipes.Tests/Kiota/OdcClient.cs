using Microsoft.Kiota.Abstractions;
using Microsoft.Kiota.Abstractions.Extensions;
using Microsoft.Kiota.Abstractions.Serialization;
using Microsoft.Kiota.Serialization.Json;

// Written by hand in the shape Kiota generates (the generator needs an OpenAPI description and is not run in
// the tests). A generated client nests one request builder per path segment (client.Api.Identity.V1.Users);
// this one keeps the users builder at the root.
namespace OdcHandler.Recipes.Tests.Kiota;

/// <summary>The root of the client, as Kiota generates it: registers the JSON serializers and the base URL.</summary>
public partial class OdcClient : BaseRequestBuilder
{
    public OdcClient(IRequestAdapter requestAdapter)
        : base(requestAdapter, "{+baseurl}", new Dictionary<string, object>())
    {
        ApiClientBuilder.RegisterDefaultSerializer<JsonSerializationWriterFactory>();
        ApiClientBuilder.RegisterDefaultDeserializer<JsonParseNodeFactory>();
        if (string.IsNullOrEmpty(RequestAdapter.BaseUrl))
        {
            RequestAdapter.BaseUrl = "https://myorg.outsystems.dev";
        }

        PathParameters.TryAdd("baseurl", RequestAdapter.BaseUrl);
    }

    /// <summary>/api/identity/v1/users</summary>
    public UsersRequestBuilder Users => new(PathParameters, RequestAdapter);
}

/// <summary>Builds and sends requests to /api/identity/v1/users.</summary>
public partial class UsersRequestBuilder : BaseRequestBuilder
{
    public UsersRequestBuilder(Dictionary<string, object> pathParameters, IRequestAdapter requestAdapter)
        : base(requestAdapter, "{+baseurl}/api/identity/v1/users{?limit*,offset*}", pathParameters)
    {
    }

    public async Task<UserPage?> GetAsync(Action<RequestConfiguration<UsersRequestBuilderGetQueryParameters>>? requestConfiguration = default, CancellationToken cancellationToken = default)
    {
        var requestInfo = ToGetRequestInformation(requestConfiguration);
        return await RequestAdapter.SendAsync(requestInfo, UserPage.CreateFromDiscriminatorValue, default, cancellationToken).ConfigureAwait(false);
    }

    public async Task<User?> PostAsync(NewUser body, Action<RequestConfiguration<DefaultQueryParameters>>? requestConfiguration = default, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(body);
        var requestInfo = ToPostRequestInformation(body, requestConfiguration);
        return await RequestAdapter.SendAsync(requestInfo, User.CreateFromDiscriminatorValue, default, cancellationToken).ConfigureAwait(false);
    }

    public RequestInformation ToGetRequestInformation(Action<RequestConfiguration<UsersRequestBuilderGetQueryParameters>>? requestConfiguration = default)
    {
        var requestInfo = new RequestInformation(Method.GET, UrlTemplate, PathParameters);
        requestInfo.Configure(requestConfiguration);
        requestInfo.Headers.TryAdd("Accept", "application/json");
        return requestInfo;
    }

    public RequestInformation ToPostRequestInformation(NewUser body, Action<RequestConfiguration<DefaultQueryParameters>>? requestConfiguration = default)
    {
        ArgumentNullException.ThrowIfNull(body);
        var requestInfo = new RequestInformation(Method.POST, UrlTemplate, PathParameters);
        requestInfo.Configure(requestConfiguration);
        requestInfo.Headers.TryAdd("Accept", "application/json");
        requestInfo.SetContentFromParsable(RequestAdapter, "application/json", body);
        return requestInfo;
    }
}

/// <summary>The query parameters of GET /api/identity/v1/users.</summary>
public partial class UsersRequestBuilderGetQueryParameters
{
    [QueryParameter("limit")]
    public int? Limit { get; set; }

    [QueryParameter("offset")]
    public int? Offset { get; set; }
}

/// <summary>An ODC user.</summary>
public partial class User : IAdditionalDataHolder, IParsable
{
    public IDictionary<string, object> AdditionalData { get; set; } = new Dictionary<string, object>();

    public string? Key { get; set; }

    public string? Name { get; set; }

    public string? Email { get; set; }

    public static User CreateFromDiscriminatorValue(IParseNode parseNode)
    {
        ArgumentNullException.ThrowIfNull(parseNode);
        return new User();
    }

    public virtual IDictionary<string, Action<IParseNode>> GetFieldDeserializers() => new Dictionary<string, Action<IParseNode>>
    {
        { "key", n => Key = n.GetStringValue() },
        { "name", n => Name = n.GetStringValue() },
        { "email", n => Email = n.GetStringValue() },
    };

    public virtual void Serialize(ISerializationWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteStringValue("key", Key);
        writer.WriteStringValue("name", Name);
        writer.WriteStringValue("email", Email);
        writer.WriteAdditionalData(AdditionalData);
    }
}

/// <summary>What creates an ODC user.</summary>
public partial class NewUser : IAdditionalDataHolder, IParsable
{
    public IDictionary<string, object> AdditionalData { get; set; } = new Dictionary<string, object>();

    public string? Name { get; set; }

    public string? Email { get; set; }

    public static NewUser CreateFromDiscriminatorValue(IParseNode parseNode)
    {
        ArgumentNullException.ThrowIfNull(parseNode);
        return new NewUser();
    }

    public virtual IDictionary<string, Action<IParseNode>> GetFieldDeserializers() => new Dictionary<string, Action<IParseNode>>
    {
        { "name", n => Name = n.GetStringValue() },
        { "email", n => Email = n.GetStringValue() },
    };

    public virtual void Serialize(ISerializationWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteStringValue("name", Name);
        writer.WriteStringValue("email", Email);
        writer.WriteAdditionalData(AdditionalData);
    }
}

/// <summary>A page of users.</summary>
public partial class UserPage : IAdditionalDataHolder, IParsable
{
    public IDictionary<string, object> AdditionalData { get; set; } = new Dictionary<string, object>();

    public List<User>? Results { get; set; }

    public static UserPage CreateFromDiscriminatorValue(IParseNode parseNode)
    {
        ArgumentNullException.ThrowIfNull(parseNode);
        return new UserPage();
    }

    public virtual IDictionary<string, Action<IParseNode>> GetFieldDeserializers() => new Dictionary<string, Action<IParseNode>>
    {
        { "results", n => Results = n.GetCollectionOfObjectValues(User.CreateFromDiscriminatorValue)?.AsList() },
    };

    public virtual void Serialize(ISerializationWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteCollectionOfObjectValues("results", Results);
        writer.WriteAdditionalData(AdditionalData);
    }
}
