using System.Net;
using System.Net.Http.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using OdcHandler.Testing;

namespace OdcHandler.Tests.Organizations;

/// <summary>The organisation comes from the request's host, and its token goes nowhere else.</summary>
public sealed class OrganizationRoutingTests
{
    private readonly FakeTimeProvider _time = new();
    private readonly TestCredentialSource _source = new();

    [Fact]
    public async Task ThreeOrganizations_InterleavedAsyncAndSync_EachTokenGoesOnlyToItsOwnHost()
    {
        var orgs = new[] { "acme", "globex", "initech" }.Select(n => OrganizationsTestHost.Organization(_time, _source, n)).ToArray();
        var router = new RecordingRouter(orgs);
        using var services = OrganizationsTestHost.Build(_time, _source, router);
        var client = services.Client();

        for (var round = 0; round < 4; round++)
        {
            foreach (var org in orgs)
            {
                using var response = round % 2 == 0
                    ? await client.GetAsync(org.WhoAmI())
                    : client.Send(new HttpRequestMessage(HttpMethod.Get, org.WhoAmI()));
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                var who = await response.Content.ReadFromJsonAsync<WhoAmI>();
                Assert.Equal($"{org.PortalUri.Host.Split('.')[0]}-client", who!.Client);
            }
        }

        // Every bearer token seen on the wire went to exactly one host, and each host saw exactly one token.
        var bearer = router.Sent.Where(s => s.Authorization?.StartsWith("Bearer ", StringComparison.Ordinal) == true).ToList();
        Assert.Equal(12, bearer.Count);
        Assert.All(bearer.GroupBy(s => s.Authorization), g => Assert.Single(g.Select(s => s.Address.Authority).Distinct()));
        Assert.All(bearer.GroupBy(s => s.Address.Authority), g => Assert.Single(g.Select(s => s.Authorization).Distinct()));
        Assert.All(orgs, org =>
        {
            Assert.Equal(1, org.TokenRequests);
            Assert.Equal(0, org.RejectedApiRequests);
            Assert.Equal(1, _source.Asked(org.PortalUri.Authority));
        });
    }

    [Fact]
    public async Task UnknownHost_ThrowsOdcAuthenticationExceptionNamingTheHost_AndNothingIsSent()
    {
        var acme = OrganizationsTestHost.Organization(_time, _source, "acme");
        var router = new RecordingRouter([acme]);
        using var services = OrganizationsTestHost.Build(_time, _source, router);

        var async = await Assert.ThrowsAsync<OdcAuthenticationException>(() => services.Client().GetAsync(new Uri("https://umbrella.outsystems.dev/api/whoami")));
        var sync = Assert.Throws<OdcAuthenticationException>(() => services.Client().Send(new HttpRequestMessage(HttpMethod.Get, "https://umbrella.outsystems.dev/api/whoami")));

        Assert.All([async, sync], e => Assert.Contains("'umbrella.outsystems.dev'", e.Message, StringComparison.Ordinal));
        Assert.Empty(router.Sent);
        Assert.Equal(2, _source.Asked("umbrella.outsystems.dev"));
        Assert.Equal(0, services.Organizations().LiveManagers);
    }

    [Fact]
    public async Task CredentialSourceThrows_RequestIsNotSent_AndTheSourcesMessageIsNotRepeated()
    {
        var router = new RecordingRouter([]);
        var collection = new ServiceCollection();
        collection.AddSingleton<TimeProvider>(_time);
        collection.AddHttpClient("x").AddOdcAuthentication<ThrowingSource>().ConfigurePrimaryHttpMessageHandler(router.CreateHandler);
        await using var services = collection.BuildServiceProvider();

        var error = await Assert.ThrowsAsync<OdcAuthenticationException>(() => services.GetRequiredService<IHttpClientFactory>().CreateClient("x").GetAsync(new Uri("https://acme.outsystems.dev/api/whoami")));

        Assert.Contains("'acme.outsystems.dev'", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cr3t", error.Message, StringComparison.Ordinal);
        // Not even as the inner exception: an exception logged with its inner exceptions would print the secret.
        Assert.Null(error.InnerException);
        Assert.Contains(nameof(InvalidOperationException), error.Message, StringComparison.Ordinal);
        Assert.Empty(router.Sent);

    }

    [Fact]
    public async Task PlainHttpToANonLoopbackHost_PassesUntouchedWithoutAskingTheSource()
    {
        var plain = new FakeOdcServer(new Uri("http://acme.outsystems.dev"), _time) { RateLimits = null };
        var router = new RecordingRouter([plain]);
        using var services = OrganizationsTestHost.Build(_time, _source, router);

        using var response = await services.Client().GetAsync(new Uri("http://acme.outsystems.dev/api/whoami"));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Null(Assert.Single(router.Sent).Authorization);
        Assert.Equal(0, _source.AskedInAll);
    }

    [Fact]
    public async Task LoopbackPortals_HttpAndTwoPorts_AreTwoOrganisationsEachWithItsOwnToken()
    {
        var first = OrganizationsTestHost.Organization(_time, _source, "first", "http://127.0.0.1:5001");
        var second = OrganizationsTestHost.Organization(_time, _source, "second", "http://127.0.0.1:5002");
        var router = new RecordingRouter([first, second]);
        using var services = OrganizationsTestHost.Build(_time, _source, router);

        var one = await services.Client().GetFromJsonAsync<WhoAmI>(first.WhoAmI());
        var two = await services.Client().GetFromJsonAsync<WhoAmI>(second.WhoAmI());

        Assert.Equal("first-client", one!.Client);
        Assert.Equal("second-client", two!.Client);
        Assert.Equal(1, _source.Asked("127.0.0.1:5001"));
        Assert.Equal(1, _source.Asked("127.0.0.1:5002"));
    }

    [Fact]
    public async Task RedirectToAnotherTenantsPortal_Answering401_NeitherGetsTheTokenNorDropsIt()
    {
        var acme = OrganizationsTestHost.Organization(_time, _source, "acme");
        var globex = OrganizationsTestHost.Organization(_time, _source, "globex");
        var router = new RecordingRouter([acme, globex])
        {
            Redirect = address => address.AbsolutePath == "/api/moved" ? globex.WhoAmI() : null,
        };
        using var services = OrganizationsTestHost.Build(_time, _source, router);
        var client = services.Client();
        using var warm = await client.GetAsync(acme.WhoAmI());

        using var async = await client.GetAsync(new Uri(acme.PortalUri, "/api/moved"));
        using var sync = client.Send(new HttpRequestMessage(HttpMethod.Get, new Uri(acme.PortalUri, "/api/moved")));

        Assert.Equal(HttpStatusCode.Unauthorized, async.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, sync.StatusCode);
        Assert.All(router.Sent.Where(s => s.Address.Authority == "globex.outsystems.dev"), s => Assert.Null(s.Authorization));
        Assert.Equal(2, router.Sent.Count(s => s.Address.Authority == "globex.outsystems.dev"));
        Assert.Equal(1, acme.TokenRequests);
        Assert.Equal(0, globex.TokenRequests);
        Assert.Equal(0, _source.Asked("globex.outsystems.dev"));
    }

    [Fact]
    public async Task RedirectToTheOrganisationsOwnAdditionalHost_GetsThatOrganisationsTokenByTheSingleOrganisationRules()
    {
        var acme = OrganizationsTestHost.Organization(_time, _source, "acme");
        var api = new FakeOdcServer(new Uri("https://api.acme.example"), _time) { RateLimits = null };
        api.MapGet("/api/whoami", r => new { client = "reached", host = r.Uri.Authority });
        _source.Organizations["acme.outsystems.dev"] = new OdcOrganizationCredentials("acme-client", "acme-secret+/=&%") { AdditionalApiHosts = ["api.acme.example"] };
        var router = new RecordingRouter([acme, api])
        {
            Redirect = address => address.AbsolutePath == "/api/moved" ? api.WhoAmI() : null,
        };
        using var services = OrganizationsTestHost.Build(_time, _source, router);

        using var response = await services.Client().GetAsync(new Uri(acme.PortalUri, "/api/moved"));

        // The fake at api.acme.example knows none of acme's tokens, so it answers 401 to the resend with the same token,
        // and then to the one retry with a fresh token: the rules of the single-organisation handler. What matters is
        // that acme's own additional host received acme's tokens, and nothing was asked for another organisation.
        var tokens = router.Sent.Where(s => s.Authorization is not null).GroupBy(s => s.Address.Authority).ToDictionary(g => g.Key, g => g.Select(s => s.Authorization).ToList());
        Assert.Equal(2, tokens["api.acme.example"].Count);
        Assert.Equal(tokens["acme.outsystems.dev"][0], tokens["api.acme.example"][0]);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal(2, acme.TokenRequests);
        Assert.Equal(0, _source.Asked("api.acme.example"));
    }

    private sealed record WhoAmI(string Client, string Host);

    private sealed class ThrowingSource : IOdcCredentialSource
    {
        public ValueTask<OdcOrganizationCredentials?> GetCredentialsAsync(string portalHost, CancellationToken cancellationToken) =>
            throw new InvalidOperationException("connection string has password=s3cr3t");
    }
}
