using Microsoft.Extensions.Internal;

namespace OdcHandler.Internal;

/// <summary>
/// <c>MemoryCache</c> judges idle expiration by its own clock; this makes it read the injected
/// <see cref="TimeProvider"/>, so an organisation's entry expires on the same time as its token.
/// </summary>
internal sealed class TimeProviderClock(TimeProvider timeProvider) : ISystemClock
{
    public DateTimeOffset UtcNow => timeProvider.GetUtcNow();
}
