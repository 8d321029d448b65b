//! The properties dsconn's parsers must keep on any input, one function per fuzz target.
//!
//! Each takes the raw bytes a fuzzer (or a corpus file) gives and panics when a property
//! breaks. The fuzz targets in `fuzz_targets/` call these, and `cargo test` replays every
//! file of `corpus/<target>/` through them (`tests/it/fuzz_corpus.rs` includes this file
//! as a module), so both check exactly the same thing. The includer provides `parsers`:
//! dsconn's `domain` and `signing` modules (the crate's in the test; the same source
//! files, compiled into the fuzz crate, in the fuzz targets).

use super::parsers::domain::{EndpointList, Service, Tag, TagFilter};
use super::parsers::signing::{
    self, ALGORITHM, Authorization, CONTENT_SHA256_HEADER, DATE_HEADER, KeyPair, RequestParts,
    UNSIGNED_PAYLOAD,
};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use sha2::{Digest, Sha256};

/// A property: panics when the input breaks it.
pub type Property = fn(&[u8]);

/// Every fuzz target by name, with its property: the names are the corpus folders.
pub const TARGETS: [(&str, Property); 4] = [
    ("endpoint_list", endpoint_list),
    ("tag_filter", tag_filter),
    ("signing_request", signing_request),
    ("authorization_header", authorization_header),
];

/// `EndpointList::parse`: the first byte picks the service, the rest is the url.
///
/// Never panics; an accepted url lists at least one endpoint, each with a port; its
/// normalised form is a fixed point that parses back to the same endpoints.
pub fn endpoint_list(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let service = Service::ALL[usize::from(selector) % Service::ALL.len()];
    let raw = String::from_utf8_lossy(rest);
    let Ok(parsed) = EndpointList::parse(&raw, service) else {
        return;
    };
    assert!(
        !parsed.endpoints().is_empty(),
        "{raw:?} parsed to no endpoint"
    );
    assert!(
        parsed.endpoints().iter().all(|endpoint| endpoint.port > 0),
        "{raw:?} parsed to port 0: {parsed:?}"
    );
    let normalized = parsed.normalized();
    // The limit holds for the normalised form too (default ports written out).
    assert!(
        normalized.chars().count() <= MAX_URL_CHARS,
        "{raw:?} accepted, but normalises past the limit: {normalized:?}"
    );
    // Under every other service too: the normalised form carries every port.
    for other in Service::ALL {
        let again = EndpointList::parse(&normalized, other).unwrap_or_else(|error| {
            panic!("{raw:?} normalised to {normalized:?}, which {other:?} refuses: {error}")
        });
        assert_eq!(again, parsed, "{raw:?} -> {normalized:?}");
        assert_eq!(again.normalized(), normalized, "not a fixed point: {raw:?}");
    }
}

/// `TagFilter::parse` of a `tags` query value (lossy UTF-8 of the input).
///
/// Never panics; an accepted filter has at most 20 terms with non-empty trimmed keys,
/// re-renders as `k=v,k` to the same filter, matches tags made from its own terms, and
/// matches a connection without tags only if it has no terms.
pub fn tag_filter(data: &[u8]) {
    let raw = String::from_utf8_lossy(data);
    let Ok(filter) = TagFilter::parse(&raw) else {
        return;
    };
    let terms = filter.terms();
    assert!(terms.len() <= 20, "{raw:?}: {} terms", terms.len());
    for term in terms {
        assert!(!term.key.is_empty(), "{raw:?}: empty key");
        assert_eq!(term.key.trim(), term.key, "{raw:?}: untrimmed key");
        assert!(!term.key.contains([',', '=']), "{raw:?}: {term:?}");
        if let Some(value) = &term.value {
            assert_eq!(value.trim(), value, "{raw:?}: untrimmed value");
            assert!(!value.contains(','), "{raw:?}: {term:?}");
        }
    }
    let rendered = terms
        .iter()
        .map(|term| match &term.value {
            Some(value) => format!("{}={value}", term.key),
            None => term.key.clone(),
        })
        .collect::<Vec<_>>()
        .join(",");
    let again = TagFilter::parse(&rendered)
        .unwrap_or_else(|error| panic!("{raw:?} re-rendered as {rendered:?} is refused: {error}"));
    assert_eq!(again, filter, "{raw:?} -> {rendered:?}");

    let own_tags: Vec<Tag> = terms
        .iter()
        .map(|term| Tag {
            key: term.key.clone(),
            value: term.value.clone().unwrap_or_default(),
        })
        .collect();
    assert!(filter.matches(&own_tags), "{raw:?} misses its own tags");
    assert_eq!(filter.matches(&[]), filter.is_empty(), "{raw:?} on no tags");
}

/// The most characters a create's `url` may have, as the API contract says.
const MAX_URL_CHARS: usize = 512;
/// A secret key for the signing property; its value does not matter.
const SECRET_KEY: &str = "fuzzSecretKey0000000000000000000000000001";
const ACCESS_KEY: &str = "FUZZAK00000000000001";
const SIGNED_AT: &str = "20240315T081500Z";

/// The signing canonicaliser, on a request written like HTTP/1.1:
/// `METHOD path?query`, then `name: value` header lines, an empty line, and the body.
///
/// The canonical path and query are ASCII fixed points; what `sign` signs, `verify`
/// accepts (unless the request declares a body hash its body does not have, which
/// `verify` refuses); and a changed path or query is refused.
pub fn signing_request(data: &[u8]) {
    let (head, body) = match find(data, b"\n\n") {
        Some(at) => (&data[..at], &data[at + 2..]),
        None => (data, &[][..]),
    };
    let mut lines = head.split(|&b| b == b'\n');
    let request_line = String::from_utf8_lossy(lines.next().unwrap_or_default()).into_owned();
    let (method, target) = request_line
        .split_once(' ')
        .unwrap_or(("GET", request_line.as_str()));
    let method = Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET);
    let (path, query) = target.split_once('?').unwrap_or((target, ""));

    for (canonical, name) in [
        (signing::canonical_uri(path), "uri"),
        (signing::canonical_query(query), "query"),
    ] {
        assert!(canonical.is_ascii(), "canonical {name} of {target:?}");
        assert!(
            !canonical.contains(|c: char| c.is_ascii_whitespace() || c.is_ascii_control()),
            "canonical {name} of {target:?} is {canonical:?}"
        );
    }
    let uri = signing::canonical_uri(path);
    assert!(uri.ends_with('/'), "{path:?} -> {uri:?}");
    assert_eq!(signing::canonical_uri(&uri), uri, "uri of {path:?}");
    let canonical_query = signing::canonical_query(query);
    assert_eq!(
        signing::canonical_query(&canonical_query),
        canonical_query,
        "query of {query:?}"
    );

    let mut headers = HeaderMap::new();
    for line in lines {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(line[..colon].trim_ascii()),
            HeaderValue::from_bytes(line[colon + 1..].trim_ascii()),
        ) else {
            continue;
        };
        headers.append(name, value);
    }
    if !headers.contains_key(http::header::HOST) {
        headers.insert(http::header::HOST, HeaderValue::from_static("dsconn.test"));
    }
    let keys = KeyPair {
        access_key: ACCESS_KEY,
        secret_key: SECRET_KEY,
    };
    let now = signing::parse_sdk_date(SIGNED_AT).expect("a valid date");
    signing::sign(
        keys,
        signing::SigningMode::default(),
        &method,
        path,
        query,
        &mut headers,
        body,
        now,
    )
    .unwrap_or_else(|error| panic!("signing {request_line:?} failed: {error}"));

    let verify = |path: &str, query: &str| {
        let header = headers[http::header::AUTHORIZATION]
            .to_str()
            .expect("the signer writes an ASCII Authorization header");
        let authorization: Authorization = header
            .parse()
            .unwrap_or_else(|error| panic!("the signer wrote {header:?}: {error}"));
        signing::require_signed(&authorization).expect("host and x-sdk-date are signed");
        let sdk_date = text(&headers[DATE_HEADER]);
        let request = RequestParts {
            method: &method,
            raw_path: path,
            raw_query: query,
            headers: &headers,
            body,
        };
        signing::verify(&authorization, SECRET_KEY, &request, &sdk_date)
    };

    let declared = headers.get(CONTENT_SHA256_HEADER).map(text);
    let body_hash_is_wrong = !body.is_empty()
        && declared.is_some_and(|declared| {
            declared == UNSIGNED_PAYLOAD
                || !declared.eq_ignore_ascii_case(&hex::encode(Sha256::digest(body)))
        });
    let outcome = verify(path, query);
    assert_eq!(
        outcome.is_ok(),
        !body_hash_is_wrong,
        "{request_line:?} signed, then verified: {outcome:?}"
    );
    let changed_path = verify(&format!("{path}x"), query);
    assert!(changed_path.is_err(), "{request_line:?}: path + x verified");
    let changed_query = verify(path, &format!("{query}&zz=1"));
    assert!(
        changed_query.is_err(),
        "{request_line:?}: query + zz verified"
    );
}

/// `Authorization` (`FromStr`) of a header value (lossy UTF-8 of the input).
///
/// Never panics; an accepted header has a non-empty access key and signature, lower-case
/// non-empty signed header names, and renders back (as the signer writes it) to itself.
pub fn authorization_header(data: &[u8]) {
    let raw = String::from_utf8_lossy(data);
    let Ok(parsed) = raw.parse::<Authorization>() else {
        return;
    };
    assert!(!parsed.access_key.is_empty(), "{raw:?}: {parsed:?}");
    assert!(!parsed.signature.is_empty(), "{raw:?}: {parsed:?}");
    for name in &parsed.signed_headers {
        assert!(!name.is_empty(), "{raw:?}: {parsed:?}");
        assert_eq!(*name, name.to_ascii_lowercase(), "{raw:?}: {parsed:?}");
    }
    let rendered = format!(
        "{ALGORITHM} Access={}, SignedHeaders={}, Signature={}",
        parsed.access_key,
        parsed.signed_headers.join(";"),
        parsed.signature
    );
    let again: Authorization = rendered
        .parse()
        .unwrap_or_else(|error| panic!("{raw:?} rendered as {rendered:?} is refused: {error}"));
    assert_eq!(again, parsed, "{raw:?} -> {rendered:?}");
}

/// A header value as the signer reads it: lossy UTF-8, trimmed.
fn text(value: &HeaderValue) -> String {
    String::from_utf8_lossy(value.as_bytes()).trim().to_owned()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}
