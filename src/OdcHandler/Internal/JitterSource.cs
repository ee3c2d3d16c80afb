namespace OdcHandler.Internal;

/// <summary>
/// Where the refresh jitter's randomness comes from: <see cref="Random.Shared"/> in production, a fixed
/// sequence in tests, so a jittered refresh moment is still deterministic there.
/// </summary>
internal sealed class JitterSource(Func<double> nextFraction)
{
    public static JitterSource Shared { get; } = new(Random.Shared.NextDouble);

    /// <summary>A fraction in [0, 1).</summary>
    public double NextFraction() => Math.Clamp(nextFraction(), 0, 1);
}
