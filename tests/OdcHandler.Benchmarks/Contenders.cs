using System.Net;
using System.Net.Http.Headers;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Identity.Client;

namespace OdcHandler.Benchmarks;

/// <summary>The four pipelines under test, built as users build them.</summary>
public static class Contenders
{
    public const string ApiUrl = InMemoryIdentity.Portal + "/api/identity/v1/users";
    public const string ConstantToken = "eyJhbGciOiJSUzI1NiJ9.constant-token.signature";

    public static readonly string[] Names = ["Baseline", "ConstantHeader", "OdcHandler", "OdcOrganizations", "Msal"];

    /// <summary>An API that answers at once with a cached 200: no network, no work.</summary>
    public sealed class CachedOkHandler : HttpMessageHandler
    {
        // Shared and never disposed by the benchmarks: the API costs nothing, so only the pipelines differ.
        private static readonly Task<HttpResponseMessage> s_ok = Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK));

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) => s_ok;
    }

    /// <summary>The practical limit: a fixed header set by hand.</summary>
    public sealed class ConstantHeaderHandler : DelegatingHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + ConstantToken);
            return base.SendAsync(request, cancellationToken);
        }
    }

    /// <summary>MSAL as .NET users most often wire it: AcquireTokenForClient on every request, served from its cache.</summary>
    public sealed class MsalHandler(IConfidentialClientApplication app) : DelegatingHandler
    {
        private static readonly string[] s_scopes = ["https://myorg.outsystems.dev/.default"];

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var result = await app.AcquireTokenForClient(s_scopes).ExecuteAsync(cancellationToken).ConfigureAwait(false);
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", result.AccessToken);
            return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The multi-organisation registration's source: the one benchmark organisation, from memory.</summary>
    public sealed class OneOrganizationSource : IOdcCredentialSource
    {
        private static readonly OdcOrganizationCredentials s_credentials = new("my-client", "a+b/c=d&e%f g");

        public ValueTask<OdcOrganizationCredentials?> GetCredentialsAsync(string portalHost, CancellationToken cancellationToken) =>
            ValueTask.FromResult<OdcOrganizationCredentials?>(portalHost == "myorg.outsystems.dev" ? s_credentials : null);
    }

    private sealed class MsalHttpClientFactory(HttpMessageHandler handler) : IMsalHttpClientFactory
    {
        public HttpClient GetHttpClient() => new(handler, disposeHandler: false);
    }

    public static IConfidentialClientApplication CreateMsal(InMemoryIdentity identity) =>
        ConfidentialClientApplicationBuilder.Create("my-client")
            .WithClientSecret("a+b/c=d&e%f g")
            .WithOidcAuthority(InMemoryIdentity.Portal + "/identity")
            .WithHttpClientFactory(new MsalHttpClientFactory(identity))
            .Build();

    /// <summary>A service provider with one named client per contender, each over the cached-200 API.</summary>
    public static ServiceProvider CreateServices(InMemoryIdentity identity, IConfidentialClientApplication msal)
    {
        var services = new ServiceCollection();
        services.AddHttpClient("Baseline").ConfigurePrimaryHttpMessageHandler(() => new CachedOkHandler());
        services.AddHttpClient("ConstantHeader").AddHttpMessageHandler(() => new ConstantHeaderHandler())
            .ConfigurePrimaryHttpMessageHandler(() => new CachedOkHandler());
        services.AddHttpClient(OdcAuthenticationDefaults.BackchannelHttpClientName).ConfigurePrimaryHttpMessageHandler(() => identity);
        services.AddHttpClient("OdcHandler").AddOdcAuthentication(o =>
        {
            o.PortalDomain = "myorg.outsystems.dev";
            o.ClientId = "my-client";
            o.ClientSecret = "a+b/c=d&e%f g";
        }).ConfigurePrimaryHttpMessageHandler(() => new CachedOkHandler());
        services.AddHttpClient("OdcOrganizations").AddOdcAuthentication<OneOrganizationSource>()
            .ConfigurePrimaryHttpMessageHandler(() => new CachedOkHandler());
        services.AddHttpClient("Msal").AddHttpMessageHandler(() => new MsalHandler(msal))
            .ConfigurePrimaryHttpMessageHandler(() => new CachedOkHandler());
        return services.BuildServiceProvider();
    }

    /// <summary>The same pipelines without IHttpClientFactory, to show the factory's own cost.</summary>
    public static HttpMessageInvoker CreateRawInvoker(string name, IServiceProvider services, IConfidentialClientApplication msal) => name switch
    {
        "Baseline" => new HttpMessageInvoker(new CachedOkHandler()),
        "ConstantHeader" => new HttpMessageInvoker(new ConstantHeaderHandler { InnerHandler = new CachedOkHandler() }),
        "OdcHandler" => new HttpMessageInvoker(new BearerTokenHandler(
            services.GetRequiredService<IOdcAccessTokenProvider>(),
            services.GetRequiredService<Microsoft.Extensions.Options.IOptionsMonitor<OdcAuthenticationOptions>>(),
            Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance,
            "OdcHandler") { InnerHandler = new CachedOkHandler() }),
        "Msal" => new HttpMessageInvoker(new MsalHandler(msal) { InnerHandler = new CachedOkHandler() }),
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };
}
