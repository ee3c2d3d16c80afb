using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace OdcHandler.Internal;

/// <summary>
/// Acquires the tokens of clients that asked for it when the host starts: in the background for
/// <see cref="OdcAuthenticationOptions.WarmUpOnStart"/>, before the start completes for
/// <see cref="OdcAuthenticationOptions.RequireTokenOnStart"/>.
/// </summary>
internal sealed class OdcTokenWarmUpService(
    OdcAccessTokenProvider provider,
    IOptionsMonitor<OdcAuthenticationOptions> optionsMonitor,
    ILogger<OdcTokenWarmUpService> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (var name in provider.ClientNames)
        {
            var options = optionsMonitor.Get(name);
            if (options.RequireTokenOnStart)
            {
                await provider.GetTokenAsync(name, cancellationToken).ConfigureAwait(false);
            }
            else if (options.WarmUpOnStart)
            {
                _ = WarmUpAsync(name);
            }
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private async Task WarmUpAsync(string name)
    {
        try
        {
            await provider.GetTokenAsync(name).ConfigureAwait(false);
        }
        catch (OdcAuthenticationException exception)
        {
            logger.WarmUpFailed(name, exception.Message);
        }
    }
}
