//! Huawei Cloud's AK/SK request signature, exactly as the official SDKs compute it, in
//! each of their algorithms (see [`algorithms`]). The server uses [`verify`]; the CLI
//! client uses [`sign`]. Both build the same canonical request, so a change here changes
//! both sides at once.

pub mod algorithms;
mod error;

use std::fmt::Write as _;
use std::str::FromStr;

use chrono::{DateTime, NaiveDateTime, Utc};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

pub use algorithms::{Algorithm, SigningMode};
pub use error::SigningError;

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
mod tests;
