//! SDK-HMAC-SHA256: Huawei Cloud's AK/SK request signature, exactly as the official SDKs
//! compute it. The server uses [`verify`]; the CLI client uses [`sign`]. Both build the
//! same canonical request, so a change here changes both sides at once.

use std::fmt::Write as _;
use std::str::FromStr;

use chrono::{DateTime, NaiveDateTime, Utc};
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::{Digest, Sha256};

pub const ALGORITHM: &str = "SDK-HMAC-SHA256";
pub const DATE_HEADER: &str = "x-sdk-date";
pub const CONTENT_SHA256_HEADER: &str = "x-sdk-content-sha256";
/// The `X-Sdk-Date` format: basic ISO 8601 in UTC.
pub const DATE_FORMAT: &str = "%Y%m%dT%H%M%SZ";
/// What the SDK puts in `X-Sdk-Content-Sha256` when it does not hash the body.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
const EMPTY_BODY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Everything is percent-encoded but the unreserved `A-Za-z0-9-._~` (Python's
/// `quote(s, safe='~')`, which the SDK uses).
const ENCODE_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

type HmacSha256 = Hmac<Sha256>;

/// Why a request cannot be signed or its signature is not valid. The messages go to the
/// client; none contains a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigningError {
    #[error(
        "the Authorization header is malformed: expected \
         'SDK-HMAC-SHA256 Access=<AK>, SignedHeaders=<h1;h2>, Signature=<hex>' ({0})"
    )]
    MalformedAuthorization(&'static str),
    #[error(
        "the Authorization header uses an unsupported algorithm; only SDK-HMAC-SHA256 is accepted"
    )]
    UnsupportedAlgorithm,
    #[error("the signed header {0:?} is not in the request")]
    SignedHeaderMissing(String),
    #[error("the headers {0} must be signed")]
    RequiredHeaderNotSigned(&'static str),
    #[error("X-Sdk-Date {0:?} is not in the form YYYYMMDDTHHMMSSZ")]
    MalformedDate(String),
    #[error("X-Sdk-Content-Sha256 does not match the request body")]
    BodyHashMismatch,
    #[error(
        "X-Sdk-Content-Sha256 is UNSIGNED-PAYLOAD, which dsconn accepts only for requests without a body"
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

/// Hex SHA-256 of the body, or the signed `X-Sdk-Content-Sha256` value.
fn payload_hash(headers: &HeaderMap, signed: &[String], body: &[u8]) -> String {
    if body.is_empty() {
        return EMPTY_BODY_SHA256.to_owned();
    }
    if signed.iter().any(|name| name == CONTENT_SHA256_HEADER)
        && let Some(value) = headers.get(CONTENT_SHA256_HEADER)
    {
        return header_text(value);
    }
    hex::encode(Sha256::digest(body))
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
        payload_hash(request.headers, signed_headers, request.body),
    ))
}

pub fn string_to_sign(sdk_date: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{sdk_date}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    )
}

fn mac(secret_key: &str, string_to_sign: &str) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(secret_key.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(string_to_sign.as_bytes());
    mac
}

/// Hex HMAC-SHA256 of the string to sign with the secret key.
pub fn signature(secret_key: &str, string_to_sign: &str) -> String {
    hex::encode(mac(secret_key, string_to_sign).finalize().into_bytes())
}

/// A parsed `Authorization: SDK-HMAC-SHA256 Access=..., SignedHeaders=..., Signature=...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub access_key: String,
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
        if algorithm != ALGORITHM {
            return Err(SigningError::UnsupportedAlgorithm);
        }
        let (mut access_key, mut signed_headers, mut signature) = (None, None, None);
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
                "Access" => &mut access_key,
                "SignedHeaders" => &mut signed_headers,
                "Signature" => &mut signature,
                _ => return Err(SigningError::MalformedAuthorization("unknown part")),
            };
            if slot.replace(value.to_owned()).is_some() {
                return Err(SigningError::MalformedAuthorization("a part appears twice"));
            }
        }
        let access_key = access_key
            .filter(|ak| !ak.is_empty())
            .ok_or(SigningError::MalformedAuthorization("Access is missing"))?;
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
            access_key,
            signed_headers,
            signature,
        })
    }
}

/// Parses an `X-Sdk-Date` value.
pub fn parse_sdk_date(raw: &str) -> Result<DateTime<Utc>, SigningError> {
    NaiveDateTime::parse_from_str(raw.trim(), DATE_FORMAT)
        .map(|naive| naive.and_utc())
        .map_err(|_| SigningError::MalformedDate(raw.chars().take(40).collect()))
}

/// Checks a signature in constant time. The caller has checked the date window and that
/// `host` and `x-sdk-date` are signed (see [`require_signed`]).
pub fn verify(
    authorization: &Authorization,
    secret_key: &str,
    request: &RequestParts<'_>,
    sdk_date: &str,
) -> Result<(), SigningError> {
    let signed = &authorization.signed_headers;
    if !request.body.is_empty()
        && signed.iter().any(|name| name == CONTENT_SHA256_HEADER)
        && let Some(declared) = request.headers.get(CONTENT_SHA256_HEADER)
    {
        let declared = header_text(declared);
        if declared == UNSIGNED_PAYLOAD {
            return Err(SigningError::UnsignedPayloadWithBody);
        }
        if !declared.eq_ignore_ascii_case(&hex::encode(Sha256::digest(request.body))) {
            return Err(SigningError::BodyHashMismatch);
        }
    }
    let canonical = canonical_request(request, signed)?;
    let expected = mac(secret_key, &string_to_sign(sdk_date, &canonical));
    let given =
        hex::decode(&authorization.signature).map_err(|_| SigningError::SignatureMismatch)?;
    expected
        .verify_slice(&given)
        .map_err(|_| SigningError::SignatureMismatch)
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
/// header present whose name has no `_`. The caller must have set `Host`.
pub fn sign(
    keys: KeyPair<'_>,
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
    let canonical = canonical_request(&request, &signed)?;
    let value = format!(
        "{ALGORITHM} Access={}, SignedHeaders={}, Signature={}",
        keys.access_key,
        signed.join(";"),
        signature(keys.secret_key, &string_to_sign(&sdk_date, &canonical))
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
        let canonical = canonical_request(&request, &signed_list()).expect("canonical");
        assert_eq!(
            signature(SK, &string_to_sign("20240315T081500Z", &canonical)),
            expected
        );

        let authorization = Authorization {
            access_key: AK.into(),
            signed_headers: signed_list(),
            signature: expected.into(),
        };
        assert_eq!(
            verify(&authorization, SK, &request, "20240315T081500Z"),
            Ok(())
        );

        let mut client_headers = vector_headers();
        let now = parse_sdk_date("20240315T081500Z").expect("date");
        sign(KEYS, &method, &path, query, &mut client_headers, b"", now).expect("signed");
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
    fn other_algorithms_are_refused() {
        assert_eq!(
            "V11-HMAC-SHA256 Credential=x".parse::<Authorization>(),
            Err(SigningError::UnsupportedAlgorithm)
        );
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
            access_key: AK.into(),
            signed_headers: signed,
            signature: "00".into(),
        };
        assert_eq!(
            verify(&authorization, SK, &request, "20240315T081500Z"),
            Err(SigningError::BodyHashMismatch)
        );
    }

    fn signed_request(
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
        sign(KEYS, method, path, query, &mut headers, body, now).expect("signed");
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

    proptest! {
        #[test]
        fn what_the_signer_signs_the_verifier_accepts_and_any_change_is_caught(
            segments in proptest::collection::vec("[a-zA-Z0-9 %:@._~-]{1,12}", 1..4),
            query in proptest::collection::vec(("[a-z_]{1,6}", "[a-zA-Z0-9 =,&+:/环境-]{0,10}"), 0..4),
            extra in proptest::collection::vec(("x-[a-z]{1,8}", "[ a-zA-Z0-9]{0,12}"), 0..3),
            body in proptest::collection::vec(any::<u8>(), 0..64),
            tamper in 0usize..3,
        ) {
            let path = format!("/{}", segments.iter().map(|s| encode(s)).collect::<Vec<_>>().join("/"));
            let raw_query = query.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&");
            let method = Method::POST;
            let headers = signed_request(&method, &path, &raw_query, &extra, &body);
            prop_assert_eq!(verify_headers(&headers, &method, &path, &raw_query, &body), Ok(()));

            let outcome = match tamper {
                0 => verify_headers(&headers, &method, &format!("{path}x"), &raw_query, &body),
                1 => verify_headers(&headers, &method, &path, &format!("{raw_query}&zz=1"), &body),
                _ => {
                    let mut changed = body.clone();
                    changed.push(b'!');
                    verify_headers(&headers, &method, &path, &raw_query, &changed)
                }
            };
            prop_assert_eq!(outcome, Err(SigningError::SignatureMismatch));
        }

        #[test]
        fn parsing_any_authorization_header_never_panics(raw in "\\PC{0,120}") {
            let _ = raw.parse::<Authorization>();
        }
    }
}
