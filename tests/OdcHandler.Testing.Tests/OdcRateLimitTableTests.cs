namespace OdcHandler.Testing.Tests;

public sealed class OdcRateLimitTableTests
{
    private static readonly OdcRateLimitTable s_published = OdcRateLimitTable.Published;

    [Theory]
    [InlineData("identity/v1", "identity", 100)]
    [InlineData("portfolios/v1", "portfolios", 100)]
    [InlineData("portfolios/v2", "portfolios", 100)]
    [InlineData("builds/v1", "builds", 100)]
    [InlineData("deployments/v1", "deployments", 100)]
    [InlineData("asset-repository/v1", "asset-repository", 100)]
    [InlineData("asset-configurations/v1", "asset-configurations", 100)]
    [InlineData("dependency-management/v1", "dependency-management", 100)]
    [InlineData("environment-configurations/v1", "environment-configurations", 10)]
    [InlineData("external-libraries/v1", "external-libraries", 100)]
    [InlineData("code-quality/v1", "code-quality", 100)]
    [InlineData("native-mobile-builds/v1", "native-mobile-builds", 100)]
    [InlineData("subscription/v1", "subscription", 100)]
    public void Published_HasEveryListedDomainWithItsLimit(string basePath, string name, int perMinute)
    {
        var domain = s_published.FindDomain($"/api/{basePath}/anything/{Guid.NewGuid()}");

        Assert.NotNull(domain);
        Assert.Equal(name, domain.Name);
        Assert.Equal(perMinute, domain.PermitsPerMinute);
        Assert.Contains(basePath, domain.PathPrefixes);
    }

    [Fact]
    public void Published_HasThirteenBasePathsInTwelveDomains_OrganizationIsNotListed()
    {
        Assert.Equal(12, s_published.Domains.Count);
        Assert.Equal(13, s_published.Domains.Sum(d => d.PathPrefixes.Count));
        Assert.Null(s_published.FindDomain("/api/organization/v1/organization"));
        Assert.Null(s_published.FindDomain("/api/identity/v2/users"));
        Assert.Null(s_published.FindDomain("/api/identity-v1/users"));
    }

    [Theory]
    [InlineData("POST", "identity/v1/users/bulk", 5)]
    [InlineData("POST", "builds/v1/build-operations", 10)]
    [InlineData("POST", "builds/v1/build-operations/3f1c/generated-code", 10)]
    [InlineData("POST", "deployments/v1/deployment-operations", 10)]
    [InlineData("POST", "asset-repository/v1/assets", 10)]
    [InlineData("POST", "external-libraries/v1/anything", 10)]
    [InlineData("POST", "code-quality/v1/code-analyses", 10)]
    [InlineData("POST", "native-mobile-builds/v1/anything", 5)]
    [InlineData("PATCH", "native-mobile-builds/v1/anything/3f1c", 10)]
    public void Published_CapsTheseEndpoints(string method, string path, int perMinute)
    {
        var cap = Assert.Single(s_published.FindEndpointLimits(new HttpMethod(method), "/api/" + path));

        Assert.Equal(perMinute, cap.PermitsPerMinute);
    }

    [Theory]
    [InlineData("GET", "identity/v1/users/bulk")]
    [InlineData("GET", "identity/v1/users/bulk/3f1c")]
    [InlineData("POST", "identity/v1/users")]
    [InlineData("GET", "builds/v1/build-operations")]
    [InlineData("GET", "deployments/v1/deployment-operations/3f1c")]
    [InlineData("POST", "asset-repository/v1/assets/3f1c")]
    [InlineData("DELETE", "asset-repository/v1/assets/3f1c")]
    [InlineData("POST", "code-quality/v1/code-analyses/3f1c")]
    [InlineData("PATCH", "builds/v1/anything")]
    [InlineData("POST", "environment-configurations/v1/anything")]
    public void Published_DoesNotCapOtherEndpoints(string method, string path)
    {
        Assert.Empty(s_published.FindEndpointLimits(new HttpMethod(method), "/api/" + path));
    }

    [Fact]
    public void Published_EachEndpointCapIsInsideAListedDomain()
    {
        Assert.All(s_published.Endpoints, cap => Assert.NotNull(s_published.FindDomain("/api/" + cap.PathTemplate.Replace("**", "x", StringComparison.Ordinal))));
        Assert.Equal(8, s_published.Endpoints.Count);
    }

    [Fact]
    public void EndpointTemplate_MatchesSegmentsCaseInsensitivelyWithPlaceholders()
    {
        var cap = new OdcEndpointRateLimit(HttpMethod.Patch, "native-mobile-builds/v1/builds/{key}", 2);
        var table = new OdcRateLimitTable([], [cap]);

        Assert.Single(table.FindEndpointLimits(HttpMethod.Patch, "/api/Native-Mobile-Builds/v1/builds/abc"));
        Assert.Single(table.FindEndpointLimits(HttpMethod.Patch, "native-mobile-builds/v1/builds/abc"));
        Assert.Empty(table.FindEndpointLimits(HttpMethod.Patch, "/api/native-mobile-builds/v1/builds"));
        Assert.Empty(table.FindEndpointLimits(HttpMethod.Patch, "/api/native-mobile-builds/v1/builds/abc/x"));
        Assert.Empty(table.FindEndpointLimits(HttpMethod.Post, "/api/native-mobile-builds/v1/builds/abc"));
        Assert.False(cap.AppliesToEachEndpoint);
        Assert.True(new OdcEndpointRateLimit(HttpMethod.Post, "builds/v1/**", 10).AppliesToEachEndpoint);
    }

    [Fact]
    public void Constructors_RefuseNonsense()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new OdcDomainRateLimit("identity", -1, "identity/v1"));
        Assert.Throws<ArgumentException>(() => new OdcDomainRateLimit("identity", 100));
        Assert.Throws<ArgumentException>(() => new OdcDomainRateLimit(" ", 100, "identity/v1"));
        Assert.Throws<ArgumentException>(() => new OdcDomainRateLimit("identity", 100, "/api/identity/v1"));
        Assert.Throws<ArgumentOutOfRangeException>(() => new OdcEndpointRateLimit(HttpMethod.Post, "builds/v1/**", -1));
        Assert.Throws<ArgumentException>(() => new OdcEndpointRateLimit(HttpMethod.Post, "builds/**/x", 10));
        Assert.Throws<ArgumentException>(() => new OdcRateLimitTable(
            [new OdcDomainRateLimit("a", 1, "identity/v1"), new OdcDomainRateLimit("b", 1, "identity/v1")], []));
    }
}
