namespace OdcHandler.Tests.Fakes;

/// <summary>What a fake server saw of one request, captured when it arrived.</summary>
public sealed record RecordedRequest(HttpMethod Method, Uri Uri, string? Authorization, string? Body, string? RequestId = null);
