#!/usr/bin/env bash
# Packs OdcHandler and OdcHandler.Testing into a local folder, then builds and runs a fresh console
# project outside the solution that references them as packages (not projects), as a user would.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
version="0.1.0-ci.$(date +%s)"

dotnet pack "$root/src/OdcHandler/OdcHandler.csproj" -c Release -o "$work/packages" -p:Version="$version" --nologo -v q
dotnet pack "$root/src/OdcHandler.Testing/OdcHandler.Testing.csproj" -c Release -o "$work/packages" -p:Version="$version" --nologo -v q
dotnet pack "$root/src/OdcHandler.Redis/OdcHandler.Redis.csproj" -c Release -o "$work/packages" -p:Version="$version" --nologo -v q

for package in OdcHandler OdcHandler.Testing OdcHandler.Redis; do
  nupkg="$work/packages/$package.$version.nupkg"
  test -f "$work/packages/$package.$version.snupkg" || { echo "missing symbols package for $package" >&2; exit 1; }
  contents=$(python3 -m zipfile -l "$nupkg")
  for expected in README.md "lib/net8.0/$package.dll" "lib/net8.0/$package.xml" "lib/net10.0/$package.dll" "lib/net10.0/$package.xml"; do
    grep -q "$expected" <<<"$contents" || { echo "$package package lacks $expected" >&2; exit 1; }
  done
  python3 -m zipfile -e "$nupkg" "$work/unpacked-$package" >/dev/null
  grep -q "<license type=\"expression\">MIT</license>" "$work/unpacked-$package/$package.nuspec" || { echo "$package has no license expression" >&2; exit 1; }
done

mkdir -p "$work/consumer"
cat > "$work/consumer/nuget.config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <add key="local" value="$work/packages" />
  </packageSources>
</configuration>
XML
cat > "$work/consumer/Consumer.csproj" <<XML
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <OutputType>Exe</OutputType>
    <TargetFramework>net10.0</TargetFramework>
    <ImplicitUsings>enable</ImplicitUsings>
    <Nullable>enable</Nullable>
    <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
  </PropertyGroup>
  <ItemGroup>
    <PackageReference Include="OdcHandler" Version="$version" />
    <PackageReference Include="OdcHandler.Testing" Version="$version" />
  </ItemGroup>
</Project>
XML
cat > "$work/consumer/Program.cs" <<'CS'
using Microsoft.Extensions.DependencyInjection;
using OdcHandler;
using OdcHandler.Testing;

var odc = new FakeOdcServer();
odc.MapGet("/api/portfolios/v2/environments", _ => new { results = new[] { new { key = "dev", name = "Development" } } });
var services = new ServiceCollection();
services.AddHttpClient("odc", c => c.BaseAddress = new Uri(odc.PortalUri, "/api/"))
    .AddOdcAuthentication(o =>
    {
        o.PortalDomain = odc.PortalDomain;
        o.ClientId = FakeOdcServer.DefaultClientId;
        o.ClientSecret = FakeOdcServer.DefaultClientSecret;
    })
    .UseFakeOdc(odc);
using var provider = services.BuildServiceProvider();
var client = provider.GetRequiredService<IHttpClientFactory>().CreateClient("odc");
var body = await client.GetStringAsync("portfolios/v2/environments");
var token = await provider.GetRequiredService<IOdcAccessTokenProvider>().GetTokenAsync("odc");
Console.WriteLine($"package consumer: {body} ({odc.TokenRequests} token request, token valid until {token.ExpiresAt:O})");
return body.Contains("Development") && odc.TokenRequests == 1 ? 0 : 1;
CS

cd "$work/consumer"
# Restore from the local folder first (our packages) and nuget.org for their dependencies.
dotnet restore --source "$work/packages" --source https://api.nuget.org/v3/index.json --nologo -v q
dotnet run --no-restore -c Release
echo "package smoke test passed ($version)"
