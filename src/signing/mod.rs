//! Huawei Cloud's AK/SK request signature, exactly as the official SDKs compute it, in
//! each of their algorithms (see [`algorithms`]). The server uses [`verify`]; the CLI
//! client uses [`sign`]. Both build the same canonical request, so a change here changes
//! both sides at once.

pub mod algorithms;

use std::fmt::Write as _;
use std::str::FromStr;

use chrono::{DateTime, NaiveDateTime, Utc};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

pub use algorithms::{Algorithm, SigningMode};

/// The default algorithm's name, the one clients use unless told otherwise.
pub const ALGORITHM: &str = Algorithm::HmacSha256.name();
pub const DATE_HEADER: &str = "x-sdk-date";
pub const CONTENT_SHA256_HEADER: &str = "x-sdk-content-sha256";
/// The `X-Sdk-Date` format: basic ISO 8601 in UTC.
pub const DATE_FORMAT: &str = "%Y%m%dT%H%M%SZ";
/// What the SDK puts in `X-Sdk-Content-Sha256` when it does not hash the body.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// Everything is percent-encoded but the unreserved `A-Za-z0-9-._~` (Python's
/// `quote(s, safe='~')`, which the SDK uses).
const ENCODE_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

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

/// Percent-encodes one path segment, query key or query value.
pub fn encode(text: &str) -> String {
    utf8_percent_encode(text, ENCODE_SET).to_string()
}

fn decode(text: &str) -> String {
    percent_decode_str(text).decode_utf8_lossy().into_owned()
}

/// The path as signed: decoded, each segment re-encoded, with a trailing `/`.
pub fn canonical_uri(raw_path: &str) -> String {
    let decoded = decode(raw_path);
    let mut uri = decoded.split('/').map(encode).collect::<Vec<_>>().join("/");
    if !uri.ends_with('/') {
        uri.push('/');
    }
    uri
}

/// A query key or value as the handlers read it (form decoding, like serde_urlencoded):
/// `+` is a space and `%2B` a plus. The SDKs send both as `%20` and `%2B`, so this only
/// matters for other clients: what they signed is what the handler acts on.
fn decode_query_part(text: &str) -> String {
    decode(&text.replace('+', " "))
}

/// The query as signed: pairs decoded, sorted by key then value, re-encoded.
pub fn canonical_query(raw_query: &str) -> String {
    let mut pairs: Vec<(String, String)> = raw_query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) => (decode_query_part(key), decode_query_part(value)),
            None => (decode_query_part(pair), String::new()),
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(key, value)| format!("{}={}", encode(key), encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

fn header_text(value: &HeaderValue) -> String {
    // The SDK sends UTF-8 bytes and signs the text they encode.
    String::from_utf8_lossy(value.as_bytes()).trim().to_owned()
}

/// `name:value\n` for each signed header, in the signed order.
fn canonical_headers(headers: &HeaderMap, signed: &[String]) -> Result<String, SigningError> {
    let mut canonical = String::new();
    for name in signed {
        let values: Vec<String> = headers
            .get_all(name.as_str())
            .iter()
            .map(header_text)
            .collect();
        if values.is_empty() {
            return Err(SigningError::SignedHeaderMissing(name.clone()));
        }
        let _ = writeln!(canonical, "{name}:{}", values.join(","));
    }
    Ok(canonical)
}

/// Hex hash of the body (SHA-256 or SM3, by algorithm), or the signed
/// `X-Sdk-Content-Sha256` / `X-Sdk-Content-Sm3` value.
fn payload_hash(
    algorithm: Algorithm,
    headers: &HeaderMap,
    signed: &[String],
    body: &[u8],
) -> String {
    let declared = algorithm.content_hash_header();
    if !body.is_empty()
        && signed.iter().any(|name| name == declared)
        && let Some(value) = headers.get(declared)
    {
        return header_text(value);
    }
    algorithm.hash_hex(body)
}

/// The parts of a request that a signature covers.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    pub method: &'a Method,
    /// The path as sent, still percent-encoded.
    pub raw_path: &'a str,
    /// The query as sent, without `?`; empty if none.
    pub raw_query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// The canonical request: method, URI, query, headers, signed header list, payload hash.
pub fn canonical_request(
    algorithm: Algorithm,
    request: &RequestParts<'_>,
    signed_headers: &[String],
) -> Result<String, SigningError> {
    Ok(format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        request.method.as_str().to_ascii_uppercase(),
        canonical_uri(request.raw_path),
        canonical_query(request.raw_query),
        canonical_headers(request.headers, signed_headers)?,
        signed_headers.join(";"),
        payload_hash(algorithm, request.headers, signed_headers, request.body),
    ))
}

/// `<algorithm>\n<X-Sdk-Date>\n[<credential scope>\n]<hex hash of the canonical request>`;
/// only V11-HMAC-SHA256 has a credential scope.
pub fn string_to_sign(
    algorithm: Algorithm,
    sdk_date: &str,
    scope: Option<&str>,
    canonical_request: &str,
) -> String {
    let hash = algorithm.hash_hex(canonical_request.as_bytes());
    match scope {
        Some(scope) => format!("{}\n{sdk_date}\n{scope}\n{hash}", algorithm.name()),
        None => format!("{}\n{sdk_date}\n{hash}", algorithm.name()),
    }
}

/// Hex HMAC-SHA256 of the string to sign with the secret key.
pub fn signature(secret_key: &str, string_to_sign: &str) -> String {
    algorithms::sign_string(Algorithm::HmacSha256, "", secret_key, None, string_to_sign)
        .unwrap_or_default()
}

/// A parsed `Authorization: <algorithm> Access=..., SignedHeaders=..., Signature=...`
/// (`Credential=<AK>/<scope>` instead of `Access=<AK>` for V11-HMAC-SHA256).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub algorithm: Algorithm,
    pub access_key: String,
    /// V11-HMAC-SHA256's `<yyyymmdd>/<region>/<service>`, which its key is derived for.
    pub credential_scope: Option<String>,
    /// Lower-case header names, in the order the client signed them.
    pub signed_headers: Vec<String>,
    pub signature: String,
}

impl FromStr for Authorization {
    type Err = SigningError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let raw = raw.trim();
        let (algorithm, rest) = raw
            .split_once(' ')
            .ok_or(SigningError::MalformedAuthorization(
                "no credentials after the algorithm",
            ))?;
        let algorithm: Algorithm = algorithm.parse()?;
        let (mut access_key, mut signed_headers, mut signature) = (None, None, None);
        let access_part = if algorithm.is_derived() {
            "Credential"
        } else {
            "Access"
        };
        for part in rest.split(',') {
            let (key, value) = part
                .trim()
                .split_once('=')
                .ok_or(SigningError::MalformedAuthorization("a part has no '='"))?;
            let value = value.trim();
            if value.contains(char::is_whitespace) {
                return Err(SigningError::MalformedAuthorization(
                    "parts must be separated by ', '",
                ));
            }
            let slot = match key {
                _ if key == access_part => &mut access_key,
                "SignedHeaders" => &mut signed_headers,
                "Signature" => &mut signature,
                _ => return Err(SigningError::MalformedAuthorization("unknown part")),
            };
            if slot.replace(value.to_owned()).is_some() {
                return Err(SigningError::MalformedAuthorization("a part appears twice"));
            }
        }
        let access_key =
            access_key
                .filter(|ak| !ak.is_empty())
                .ok_or(SigningError::MalformedAuthorization(
                    if algorithm.is_derived() {
                        "Credential is missing"
                    } else {
                        "Access is missing"
                    },
                ))?;
        let (access_key, credential_scope) = if algorithm.is_derived() {
            let (access_key, scope) = split_credential(&access_key)?;
            (access_key, Some(scope))
        } else {
            (access_key, None)
        };
        let signed_headers: Vec<String> = signed_headers
            .ok_or(SigningError::MalformedAuthorization(
                "SignedHeaders is missing",
            ))?
            .split(';')
            .map(str::to_ascii_lowercase)
            .collect();
        if signed_headers.iter().any(String::is_empty) {
            return Err(SigningError::MalformedAuthorization(
                "SignedHeaders has an empty name",
            ));
        }
        let signature = signature
            .filter(|sig| !sig.is_empty())
            .ok_or(SigningError::MalformedAuthorization("Signature is missing"))?;
        Ok(Self {
            algorithm,
            access_key,
            credential_scope,
            signed_headers,
            signature,
        })
    }
}

/// `<AK>/<yyyymmdd>/<region>/<service>` into the AK and the scope after it.
fn split_credential(credential: &str) -> Result<(String, String), SigningError> {
    const MALFORMED: SigningError = SigningError::MalformedAuthorization(
        "Credential is not <AK>/<yyyymmdd>/<region>/<service>",
    );
    let (access_key, scope) = credential.split_once('/').ok_or(MALFORMED)?;
    let parts: Vec<&str> = scope.split('/').collect();
    let well_formed = !access_key.is_empty()
        && parts.len() == 3
        && parts[0].len() == 8
        && parts[0].bytes().all(|b| b.is_ascii_digit())
        && parts.iter().all(|part| !part.is_empty());
    if !well_formed {
        return Err(MALFORMED);
    }
    Ok((access_key.to_owned(), scope.to_owned()))
}

/// Parses an `X-Sdk-Date` value.
pub fn parse_sdk_date(raw: &str) -> Result<DateTime<Utc>, SigningError> {
    NaiveDateTime::parse_from_str(raw.trim(), DATE_FORMAT)
        .map(|naive| naive.and_utc())
        .map_err(|_| SigningError::MalformedDate(raw.chars().take(40).collect()))
}

/// Checks a signature in the algorithm that the Authorization header names (HMACs in
/// constant time). The caller has checked the date window and that `host` and
/// `x-sdk-date` are signed (see [`require_signed`]).
pub fn verify(
    authorization: &Authorization,
    secret_key: &str,
    request: &RequestParts<'_>,
    sdk_date: &str,
) -> Result<(), SigningError> {
    let algorithm = authorization.algorithm;
    let signed = &authorization.signed_headers;
    let content_header = algorithm.content_hash_header();
    if !request.body.is_empty()
        && signed.iter().any(|name| name == content_header)
        && let Some(declared) = request.headers.get(content_header)
    {
        let declared = header_text(declared);
        if declared == UNSIGNED_PAYLOAD {
            return Err(SigningError::UnsignedPayloadWithBody);
        }
        if !declared.eq_ignore_ascii_case(&algorithm.hash_hex(request.body)) {
            return Err(SigningError::BodyHashMismatch);
        }
    }
    let scope = authorization.credential_scope.as_deref();
    if let Some(scope) = scope
        && scope.get(..8) != sdk_date.get(..8)
    {
        return Err(SigningError::CredentialDateMismatch);
    }
    let canonical = canonical_request(algorithm, request, signed)?;
    algorithms::verify_string(
        algorithm,
        &authorization.access_key,
        secret_key,
        scope,
        &string_to_sign(algorithm, sdk_date, scope, &canonical),
        &authorization.signature,
    )
}

/// The headers every signature must cover, so a signature cannot be replayed against
/// another host or at another time.
pub fn require_signed(authorization: &Authorization) -> Result<(), SigningError> {
    let signs = |name: &str| authorization.signed_headers.iter().any(|h| h == name);
    if !signs("host") || !signs(DATE_HEADER) {
        return Err(SigningError::RequiredHeaderNotSigned("host and x-sdk-date"));
    }
    Ok(())
}

/// An access key and its secret key, as a client holds them.
#[derive(Clone, Copy)]
pub struct KeyPair<'a> {
    pub access_key: &'a str,
    pub secret_key: &'a str,
}

/// Signs a request as the SDK does: sets `X-Sdk-Date` (unless present) and signs every
/// header present whose name has no `_`, with the mode's algorithm. The caller must have
/// set `Host`.
#[allow(clippy::too_many_arguments)]
pub fn sign(
    keys: KeyPair<'_>,
    mode: SigningMode<'_>,
    method: &Method,
    raw_path: &str,
    raw_query: &str,
    headers: &mut HeaderMap,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(), SigningError> {
    if !headers.contains_key(DATE_HEADER) {
        let date = now.format(DATE_FORMAT).to_string();
        let value = HeaderValue::from_str(&date).map_err(|_| SigningError::MalformedDate(date))?;
        headers.insert(HeaderName::from_static(DATE_HEADER), value);
    }
    let sdk_date = headers
        .get(DATE_HEADER)
        .map(header_text)
        .unwrap_or_default();
    let mut signed: Vec<String> = headers
        .keys()
        .map(|name| name.as_str().to_owned())
        .filter(|name| !name.contains('_') && name != "authorization")
        .collect();
    signed.sort();
    signed.dedup();
    let request = RequestParts {
        method,
        raw_path,
        raw_query,
        headers,
        body,
    };
    let algorithm = mode.algorithm;
    let canonical = canonical_request(algorithm, &request, &signed)?;
    let scope = algorithm.is_derived().then(|| {
        format!(
            "{}/{}/{}",
            sdk_date.get(..8).unwrap_or_default(),
            mode.region,
            mode.service
        )
    });
    let signature = algorithms::sign_string(
        algorithm,
        keys.access_key,
        keys.secret_key,
        scope.as_deref(),
        &string_to_sign(algorithm, &sdk_date, scope.as_deref(), &canonical),
    )?;
    let credential = match &scope {
        Some(scope) => format!("Credential={}/{scope}", keys.access_key),
        None => format!("Access={}", keys.access_key),
    };
    let value = format!(
        "{algorithm} {credential}, SignedHeaders={}, Signature={signature}",
        signed.join(";"),
    );
    let value = HeaderValue::from_str(&value).map_err(|_| {
        SigningError::MalformedAuthorization("the access key is not a valid header value")
    })?;
    headers.insert(http::header::AUTHORIZATION, value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    const AK: &str = "HPUATESTAK0000000001";
    const SK: &str = "testSecretKey0000000000000000000000000001";
    const PROJECT: &str = "5f0c1e2d3b4a49588776655443322110";
    const KEYS: KeyPair<'static> = KeyPair {
        access_key: AK,
        secret_key: SK,
    };

    fn vector_headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("host", "dli.cn-north-4.myhuaweicloud.com"),
            ("x-sdk-date", "20240315T081500Z"),
            ("content-type", "application/json"),
            ("user-agent", "huaweicloud-usdk-python/3.0"),
            ("x-project-id", PROJECT),
        ] {
            headers.insert(
                HeaderName::from_static(name),
                HeaderValue::from_str(value).expect("valid header"),
            );
        }
        headers
    }

    fn signed_list() -> Vec<String> {
        "content-type;host;user-agent;x-project-id;x-sdk-date"
            .split(';')
            .map(str::to_owned)
            .collect()
    }

    #[rstest]
    #[case::list_with_tags(
        Method::GET,
        format!("/v2.0/{PROJECT}/datasource-connection"),
        "tags=env%3Dprod%2Cteam%3Ddata",
        "d3321d87082e792c446df7ae1e62feafa35682037c90048a976b1ca38e987b84"
    )]
    #[case::delete(
        Method::DELETE,
        format!("/v2.0/{PROJECT}/datasource-connection/2b3c4d5e-6f70-4812-9a3b-4c5d6e7f8091"),
        "",
        "04e3645468a8283f714ec1cf16523e3df8c85af815a97fe6b14709708cc345f3"
    )]
    fn the_official_sdk_test_vectors_verify_and_sign_identically(
        #[case] method: Method,
        #[case] path: String,
        #[case] query: &str,
        #[case] expected: &str,
    ) {
        let headers = vector_headers();
        let request = RequestParts {
            method: &method,
            raw_path: &path,
            raw_query: query,
            headers: &headers,
            body: b"",
        };
        let canonical =
            canonical_request(Algorithm::HmacSha256, &request, &signed_list()).expect("canonical");
        assert_eq!(
            signature(
                SK,
                &string_to_sign(Algorithm::HmacSha256, "20240315T081500Z", None, &canonical)
            ),
            expected
        );

        let authorization = Authorization {
            algorithm: Algorithm::HmacSha256,
            access_key: AK.into(),
            credential_scope: None,
            signed_headers: signed_list(),
            signature: expected.into(),
        };
        assert_eq!(
            verify(&authorization, SK, &request, "20240315T081500Z"),
            Ok(())
        );

        let mut client_headers = vector_headers();
        let now = parse_sdk_date("20240315T081500Z").expect("date");
        sign(
            KEYS,
            SigningMode::default(),
            &method,
            &path,
            query,
            &mut client_headers,
            b"",
            now,
        )
        .expect("signed");
        let header = client_headers[http::header::AUTHORIZATION]
            .to_str()
            .expect("ascii");
        assert!(
            header.ends_with(&format!("Signature={expected}")),
            "{header}"
        );
    }

    #[test]
    fn the_query_is_sorted_by_key_then_value_and_re_encoded() {
        assert_eq!(canonical_query("b=2&a=2&a=1&c="), "a=1&a=2&b=2&c=");
        assert_eq!(canonical_query("k=a%20b&x=%7e"), "k=a%20b&x=~");
        assert_eq!(canonical_query("flag"), "flag=");
        // Form decoding, as the handlers parse the query: `+` is a space, `%2B` a plus.
        assert_eq!(canonical_query("k=a+b"), "k=a%20b");
        assert_eq!(canonical_query("k=a%2Bb"), "k=a%2Bb");
        assert_eq!(canonical_query("a+key=1"), "a%20key=1");
        assert_eq!(canonical_query(""), "");
        assert_eq!(
            canonical_query("t=%E7%8E%AF%E5%A2%83"),
            "t=%E7%8E%AF%E5%A2%83"
        );
    }

    #[test]
    fn the_path_is_decoded_then_each_segment_encoded_with_a_trailing_slash() {
        assert_eq!(
            canonical_uri("/v2.0/p/datasource-connection"),
            "/v2.0/p/datasource-connection/"
        );
        assert_eq!(canonical_uri("/a%20b/c"), "/a%20b/c/");
        assert_eq!(canonical_uri("/%E7%8E%AF/"), "/%E7%8E%AF/");
        assert_eq!(canonical_uri("/a:b@c"), "/a%3Ab%40c/");
    }

    #[test]
    fn header_values_are_trimmed() {
        let mut headers = HeaderMap::new();
        headers.insert("x-a", HeaderValue::from_static("  spaced  "));
        assert_eq!(
            canonical_headers(&headers, &["x-a".into()]),
            Ok("x-a:spaced\n".into())
        );
        assert_eq!(
            canonical_headers(&headers, &["x-b".into()]),
            Err(SigningError::SignedHeaderMissing("x-b".into()))
        );
    }

    #[rstest]
    #[case("", "no credentials")]
    #[case("SDK-HMAC-SHA256", "no credentials")]
    #[case("SDK-HMAC-SHA256 Access=A, SignedHeaders=host", "Signature is missing")]
    #[case(
        "SDK-HMAC-SHA256 Access=A, SignedHeaders=host;;x, Signature=ab",
        "empty name"
    )]
    #[case(
        "SDK-HMAC-SHA256 Access=A, Access=B, SignedHeaders=h, Signature=ab",
        "twice"
    )]
    #[case("SDK-HMAC-SHA256 Access=A SignedHeaders=h", "separated")]
    #[case(
        "SDK-HMAC-SHA256 Access=A, Region=x, SignedHeaders=h, Signature=ab",
        "unknown part"
    )]
    fn malformed_authorization_headers_are_refused(#[case] raw: &str, #[case] reason: &str) {
        let error = raw.parse::<Authorization>().expect_err("malformed");
        assert!(error.to_string().contains(reason), "{error}");
    }

    #[test]
    fn other_algorithms_are_refused_with_a_message_that_lists_the_accepted_ones() {
        let error = "SDK-HMAC-SHA512 Access=x"
            .parse::<Authorization>()
            .expect_err("unknown algorithm");
        assert_eq!(error, SigningError::UnsupportedAlgorithm);
        for algorithm in Algorithm::ALL {
            assert!(error.to_string().contains(algorithm.name()), "{error}");
        }
    }

    #[test]
    fn a_v11_authorization_carries_its_credential_scope() {
        let parsed: Authorization = "V11-HMAC-SHA256 Credential=AK1/20240315/cn-north-4/dli, \
             SignedHeaders=host;x-sdk-date, Signature=ab"
            .parse()
            .expect("parsed");
        assert_eq!(parsed.algorithm, Algorithm::DerivedHmacSha256);
        assert_eq!(parsed.access_key, "AK1");
        assert_eq!(
            parsed.credential_scope.as_deref(),
            Some("20240315/cn-north-4/dli")
        );
    }

    #[rstest]
    #[case(
        "V11-HMAC-SHA256 Access=AK1, SignedHeaders=host, Signature=ab",
        "unknown part"
    )]
    #[case(
        "V11-HMAC-SHA256 Credential=AK1, SignedHeaders=host, Signature=ab",
        "Credential is not"
    )]
    #[case(
        "V11-HMAC-SHA256 Credential=AK1/2024/r/s, SignedHeaders=host, Signature=ab",
        "Credential is not"
    )]
    #[case(
        "V11-HMAC-SHA256 Credential=AK1/20240315/r/s/x, SignedHeaders=host, Signature=ab",
        "Credential is not"
    )]
    #[case(
        "SDK-SM2-SM3 Credential=AK1/20240315/r/s, SignedHeaders=host, Signature=ab",
        "unknown part"
    )]
    fn malformed_credentials_are_refused(#[case] raw: &str, #[case] reason: &str) {
        let error = raw.parse::<Authorization>().expect_err("malformed");
        assert!(error.to_string().contains(reason), "{error}");
    }

    #[test]
    fn a_v11_scope_dated_another_day_than_x_sdk_date_is_refused() {
        let method = Method::GET;
        let mut headers = signed_request(Algorithm::DerivedHmacSha256, &method, "/p", "", &[], b"");
        let moved = headers[http::header::AUTHORIZATION]
            .to_str()
            .expect("ascii")
            .replace("/20240315/", "/20240316/");
        headers.insert(
            http::header::AUTHORIZATION,
            HeaderValue::from_str(&moved).expect("header"),
        );
        assert_eq!(
            verify_headers(&headers, &method, "/p", "", b""),
            Err(SigningError::CredentialDateMismatch)
        );
    }

    #[test]
    fn the_sm3_modes_check_the_body_against_x_sdk_content_sm3() {
        for algorithm in [Algorithm::HmacSm3, Algorithm::Sm2Sm3] {
            let method = Method::POST;
            let extra = [("x-sdk-content-sm3".to_owned(), "00".to_owned())];
            let headers = signed_request(algorithm, &method, "/p", "", &extra, b"{}");
            assert_eq!(
                verify_headers(&headers, &method, "/p", "", b"{}"),
                Err(SigningError::BodyHashMismatch),
                "{algorithm}"
            );
        }
    }

    #[test]
    fn algorithm_names_parse_back() {
        for algorithm in Algorithm::ALL {
            assert_eq!(algorithm.name().parse(), Ok(algorithm));
            assert_eq!(algorithm.name().to_lowercase().parse(), Ok(algorithm));
        }
    }

    #[test]
    fn a_body_that_differs_from_its_declared_hash_is_refused() {
        let mut headers = vector_headers();
        headers.insert(CONTENT_SHA256_HEADER, HeaderValue::from_static("00"));
        let method = Method::POST;
        let request = RequestParts {
            method: &method,
            raw_path: "/v2.0/p/datasource-connection",
            raw_query: "",
            headers: &headers,
            body: b"{}",
        };
        let mut signed = signed_list();
        signed.push(CONTENT_SHA256_HEADER.into());
        let authorization = Authorization {
            algorithm: Algorithm::HmacSha256,
            access_key: AK.into(),
            credential_scope: None,
            signed_headers: signed,
            signature: "00".into(),
        };
        assert_eq!(
            verify(&authorization, SK, &request, "20240315T081500Z"),
            Err(SigningError::BodyHashMismatch)
        );
    }

    fn signed_request(
        algorithm: Algorithm,
        method: &Method,
        path: &str,
        query: &str,
        extra: &[(String, String)],
        body: &[u8],
    ) -> HeaderMap {
        let mut headers = vector_headers();
        for (name, value) in extra {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                headers.append(name, value);
            }
        }
        let now = parse_sdk_date("20240315T081500Z").expect("date");
        sign(
            KEYS,
            SigningMode::of(algorithm),
            method,
            path,
            query,
            &mut headers,
            body,
            now,
        )
        .expect("signed");
        headers
    }

    fn verify_headers(
        headers: &HeaderMap,
        method: &Method,
        path: &str,
        query: &str,
        body: &[u8],
    ) -> Result<(), SigningError> {
        let authorization: Authorization = headers[http::header::AUTHORIZATION]
            .to_str()
            .expect("ascii")
            .parse()?;
        require_signed(&authorization)?;
        let request = RequestParts {
            method,
            raw_path: path,
            raw_query: query,
            headers,
            body,
        };
        verify(&authorization, SK, &request, "20240315T081500Z")
    }

    /// Signs a random request in `algorithm`, checks that it verifies, then that a
    /// changed path, query or body does not.
    fn round_trip(
        algorithm: Algorithm,
        segments: &[String],
        query: &[(String, String)],
        extra: &[(String, String)],
        body: &[u8],
        tamper: usize,
    ) -> Result<(), TestCaseError> {
        let path = format!(
            "/{}",
            segments
                .iter()
                .map(|s| encode(s))
                .collect::<Vec<_>>()
                .join("/")
        );
        let raw_query = query
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let method = Method::POST;
        let headers = signed_request(algorithm, &method, &path, &raw_query, extra, body);
        prop_assert!(
            headers[http::header::AUTHORIZATION]
                .to_str()
                .is_ok_and(|value| value.starts_with(algorithm.name()))
        );
        prop_assert_eq!(
            verify_headers(&headers, &method, &path, &raw_query, body),
            Ok(())
        );
        let outcome = match tamper {
            0 => verify_headers(&headers, &method, &format!("{path}x"), &raw_query, body),
            1 => verify_headers(&headers, &method, &path, &format!("{raw_query}&zz=1"), body),
            _ => {
                let mut changed = body.to_vec();
                changed.push(b'!');
                verify_headers(&headers, &method, &path, &raw_query, &changed)
            }
        };
        prop_assert_eq!(outcome, Err(SigningError::SignatureMismatch));
        Ok(())
    }

    /// One proptest per algorithm (fewer cases for the asymmetric ones, whose debug
    /// builds are slow).
    macro_rules! round_trip_proptest {
        ($name:ident, $algorithm:expr, $cases:expr) => {
            proptest! {
                #![proptest_config(ProptestConfig::with_cases($cases))]
                #[test]
                fn $name(
                    segments in proptest::collection::vec("[a-zA-Z0-9 %:@._~-]{1,12}", 1..4),
                    query in proptest::collection::vec(("[a-z_]{1,6}", "[a-zA-Z0-9 =,&+:/环境-]{0,10}"), 0..4),
                    extra in proptest::collection::vec(("x-[a-z]{1,8}", "[ a-zA-Z0-9]{0,12}"), 0..3),
                    body in proptest::collection::vec(any::<u8>(), 0..64),
                    tamper in 0usize..3,
                ) {
                    round_trip($algorithm, &segments, &query, &extra, &body, tamper)?;
                }
            }
        };
    }

    round_trip_proptest!(
        what_the_signer_signs_the_verifier_accepts_and_any_change_is_caught,
        Algorithm::HmacSha256,
        256
    );
    round_trip_proptest!(hmac_sm3_round_trips, Algorithm::HmacSm3, 256);
    round_trip_proptest!(ecdsa_p256_round_trips, Algorithm::EcdsaP256Sha256, 32);
    round_trip_proptest!(sm2_sm3_round_trips, Algorithm::Sm2Sm3, 32);
    round_trip_proptest!(v11_derived_round_trips, Algorithm::DerivedHmacSha256, 256);

    proptest! {
        #[test]
        fn parsing_any_authorization_header_never_panics(raw in "\\PC{0,120}") {
            let _ = raw.parse::<Authorization>();
        }
    }
}
