//! The vectors that the official SDKs made (tests/fixtures/signing-vectors/*.json, from
//! tests/sdk/signing_vectors.py and tests/node-sdk/signing-vectors.mjs): dsconn's verifier
//! accepts each, and refuses each one's twin signed with a wrong secret key.

use std::collections::BTreeMap;

use dsconn::signing::{self, Algorithm, Authorization, RequestParts, SigningError};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde::Deserialize;

#[derive(Deserialize)]
struct VectorFile {
    vectors: Vec<Vector>,
}

#[derive(Deserialize)]
struct Vector {
    mode: String,
    case: String,
    /// The SK the vector was signed with (its twin used another).
    secret_key: String,
    method: String,
    path: String,
    query: String,
    headers: BTreeMap<String, String>,
    body: String,
    authorization: String,
    wrong_key_authorization: String,
}

fn load(name: &str) -> VectorFile {
    let path = format!(
        "{}/tests/fixtures/signing-vectors/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn verify(vector: &Vector, authorization: &str, secret_key: &str) -> Result<(), SigningError> {
    let mut headers = HeaderMap::new();
    for (name, value) in &vector.headers {
        headers.append(
            HeaderName::from_bytes(name.as_bytes()).expect("header name"),
            HeaderValue::from_str(value).expect("header value"),
        );
    }
    let method = Method::from_bytes(vector.method.as_bytes()).expect("method");
    let authorization: Authorization = authorization.parse()?;
    signing::require_signed(&authorization)?;
    let request = RequestParts {
        method: &method,
        raw_path: &vector.path,
        raw_query: &vector.query,
        headers: &headers,
        body: vector.body.as_bytes(),
    };
    signing::verify(
        &authorization,
        secret_key,
        &request,
        &vector.headers["x-sdk-date"],
    )
}

fn check(file: &str, modes: &[Algorithm]) {
    let vectors = load(file);
    for mode in modes {
        let of_mode: Vec<&Vector> = vectors
            .vectors
            .iter()
            .filter(|v| v.mode == mode.name())
            .collect();
        assert!(!of_mode.is_empty(), "{file} has no vector for {mode}");
        for vector in of_mode {
            let what = format!("{file} {} {}", vector.mode, vector.case);
            assert!(
                vector.authorization.starts_with(&format!("{mode} ")),
                "{what}"
            );
            assert_eq!(
                verify(vector, &vector.authorization, &vector.secret_key),
                Ok(()),
                "{what}"
            );
            assert_eq!(
                verify(vector, &vector.wrong_key_authorization, &vector.secret_key),
                Err(SigningError::SignatureMismatch),
                "{what}: signed with the wrong key"
            );
        }
    }
}

#[test]
fn every_python_sdk_mode_verifies_and_its_wrong_key_twin_is_refused() {
    check("python.json", &Algorithm::ALL);
}

#[test]
fn both_node_sdk_modes_verify_and_their_wrong_key_twins_are_refused() {
    check(
        "node.json",
        &[Algorithm::HmacSha256, Algorithm::DerivedHmacSha256],
    );
}
