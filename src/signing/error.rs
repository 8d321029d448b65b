//! Why a request cannot be signed, or its signature is not valid.

/// Why a request cannot be signed or its signature is not valid. The messages go to the
/// client; none contains a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigningError {
    #[error(
        "the Authorization header is malformed: expected \
         '<algorithm> Access=<AK>, SignedHeaders=<h1;h2>, Signature=<hex>' or \
         'V11-HMAC-SHA256 Credential=<AK>/<yyyymmdd>/<region>/<service>, SignedHeaders=<h1;h2>, \
         Signature=<hex>' ({0})"
    )]
    MalformedAuthorization(&'static str),
    #[error(
        "the Authorization header uses an unsupported algorithm; accepted are SDK-HMAC-SHA256, \
         SDK-HMAC-SM3, SDK-ECDSA-P256-SHA256, SDK-SM2-SM3 and V11-HMAC-SHA256"
    )]
    UnsupportedAlgorithm,
    #[error("the date in Credential is not the date of X-Sdk-Date")]
    CredentialDateMismatch,
    #[error("no signing key can be derived from this access key")]
    KeyDerivationFailed,
    #[error("the signed header {0:?} is not in the request")]
    SignedHeaderMissing(String),
    #[error("the headers {0} must be signed")]
    RequiredHeaderNotSigned(&'static str),
    #[error("X-Sdk-Date {0:?} is not in the form YYYYMMDDTHHMMSSZ")]
    MalformedDate(String),
    #[error("X-Sdk-Content-Sha256 (or -Sm3) does not match the request body")]
    BodyHashMismatch,
    #[error(
        "X-Sdk-Content-Sha256 (or -Sm3) is UNSIGNED-PAYLOAD, which dsconn accepts only for \
         requests without a body"
    )]
    UnsignedPayloadWithBody,
    #[error(
        "the signature does not match: check the secret key, and that nothing changed the request after it was signed"
    )]
    SignatureMismatch,
}
