namespace OdcHandler.Internal;

/// <summary>Marks an HttpClient name that <c>AddOdcAuthentication&lt;TCredentialSource&gt;</c> was called on, with its source.</summary>
internal sealed record OdcOrganizationsRegistration(string ClientName, Type CredentialSourceType);
