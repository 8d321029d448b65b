//! The canonical request, signing and verifying against the SDKs' own vectors.

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
