namespace OdcHandler;

/// <summary>
/// How the client id and secret are sent to the token endpoint.
/// </summary>
public enum ClientCredentialStyle
{
    /// <summary>
    /// <c>client_id</c> and <c>client_secret</c> in the form-urlencoded request body
    /// (<c>client_secret_post</c>). This is what the ODC documentation shows, and the default.
    /// </summary>
    FormBody = 0,

    /// <summary>
    /// An HTTP Basic <c>Authorization</c> header (<c>client_secret_basic</c>), with the id and the
    /// secret each form-urlencoded before they are joined and base64-encoded, as RFC 6749 §2.3.1 requires.
    /// </summary>
    BasicAuthHeader = 1,
}
