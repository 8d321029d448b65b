//! TLS for the client: the CAs it trusts beyond the built-in roots (`--ca-cert`), a
//! clear error for a certificate it does not trust, and where credentials may travel.

use std::net::IpAddr;
use std::path::Path;

/// `builder` trusting, besides the built-in roots, the PEM CA certificates in `ca_cert`;
/// the error is a settings error's text.
pub(super) fn trusting(
    builder: reqwest::ClientBuilder,
    ca_cert: Option<&Path>,
) -> Result<reqwest::ClientBuilder, String> {
    let Some(file) = ca_cert else {
        return Ok(builder);
    };
    let pem = std::fs::read(file)
        .map_err(|error| format!("cannot read the CA file {}: {error}", file.display()))?;
    let certificates = reqwest::Certificate::from_pem_bundle(&pem).map_err(|error| {
        format!(
            "the CA file {} is not PEM certificates: {error}",
            file.display()
        )
    })?;
    if certificates.is_empty() {
        return Err(format!(
            "the CA file {} holds no certificate (no -----BEGIN CERTIFICATE----- block)",
            file.display()
        ));
    }
    Ok(certificates
        .into_iter()
        .fold(builder, reqwest::ClientBuilder::add_root_certificate))
}

/// The advice for a request that failed because the server's certificate was refused,
/// if that is why it failed.
pub(super) fn untrusted_certificate(
    error: &reqwest::Error,
    endpoint: &reqwest::Url,
) -> Option<String> {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        // rustls' error arrives wrapped in io::Errors, whose `source` skips what they wrap.
        let mut inner: &(dyn std::error::Error + 'static) = cause;
        while let Some(wrapped) = inner
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            inner = wrapped;
        }
        let refused = inner.downcast_ref::<rustls::Error>();
        if let Some(rustls::Error::InvalidCertificate(why)) = refused {
            let advice = match why {
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. } => format!(
                    "the certificate of {endpoint} is not made for its host ({why:?}); use a \
                     name or address the certificate names in --endpoint"
                ),
                _ => format!(
                    "the certificate of {endpoint} is not trusted ({why:?}); pass the CA with \
                     --ca-cert or DSCONN_CA_CERT"
                ),
            };
            return Some(advice);
        }
        source = cause.source();
    }
    None
}

/// Whether credentials (e.g. a datasource's password for an agent's check) may be sent
/// to `endpoint`: over TLS to any host, and over plain HTTP only to this machine
/// (127.0.0.0/8, `::1`, `::ffff:127.x.y.z`, which is IPv4 loopback, and `localhost`;
/// not `*.localhost`, which a resolver may send elsewhere).
pub fn secrets_may_travel(endpoint: &reqwest::Url) -> Result<(), String> {
    match endpoint.scheme() {
        "https" => return Ok(()),
        "http" if is_loopback(endpoint) => return Ok(()),
        _ => {}
    }
    Err(format!(
        "credentials are sent only over TLS or loopback: the server {endpoint} is plain HTTP \
         to another host; serve with --tls-cert/--tls-key and use https://, or give the agent \
         the credentials itself with --auth-info NAME=FILE"
    ))
}

fn is_loopback(endpoint: &reqwest::Url) -> bool {
    let Some(host) = endpoint.host_str() else {
        return false;
    };
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    // An IPv6 host comes in brackets.
    let address = host.trim_start_matches('[').trim_end_matches(']');
    match address.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.is_loopback(),
        Ok(IpAddr::V6(v6)) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case::tls_anywhere("https://10.0.0.1:8443/", true)]
    #[case::tls_by_name("https://dsconn.example.com/", true)]
    #[case::loopback("http://127.0.0.1:8080/", true)]
    #[case::all_of_127_8("http://127.0.0.2/", true)]
    #[case::ipv6_loopback("http://[::1]:8080/", true)]
    #[case::localhost("http://localhost:8080/", true)]
    #[case::localhost_any_case("http://LocalHost/", true)]
    // Connecting to it reaches IPv4 loopback: it never leaves the machine.
    #[case::mapped_ipv4_loopback("http://[::ffff:127.0.0.1]/", true)]
    #[case::private_address("http://10.0.0.1/", false)]
    #[case::mapped_other_ipv4("http://[::ffff:10.0.0.1]/", false)]
    #[case::other_ipv6("http://[2001:db8::1]/", false)]
    #[case::unspecified("http://0.0.0.0:8080/", false)]
    #[case::subdomain_of_localhost("http://evil.localhost/", false)]
    #[case::name_that_starts_like_loopback("http://127.0.0.1.example.com/", false)]
    #[case::other_scheme("ftp://127.0.0.1/", false)]
    fn credentials_travel_over_tls_or_to_loopback(#[case] endpoint: &str, #[case] allowed: bool) {
        let url = reqwest::Url::parse(endpoint).expect("url");
        assert_eq!(secrets_may_travel(&url).is_ok(), allowed, "{endpoint}");
    }

    #[test]
    fn the_refusal_says_why_and_what_to_do() {
        let url = reqwest::Url::parse("http://10.1.2.3:8080").expect("url");
        let why = secrets_may_travel(&url).expect_err("plain HTTP to another host");
        assert_eq!(
            why,
            "credentials are sent only over TLS or loopback: the server http://10.1.2.3:8080/ \
             is plain HTTP to another host; serve with --tls-cert/--tls-key and use https://, \
             or give the agent the credentials itself with --auth-info NAME=FILE"
        );
    }

    #[test]
    fn a_ca_file_must_hold_certificates() {
        let dir = tempfile::tempdir().expect("dir");
        let missing = dir.path().join("missing.pem");
        let error = trusting(reqwest::Client::builder(), Some(&missing))
            .expect_err("a missing file is refused");
        assert!(error.contains("cannot read the CA file"), "{error}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").expect("write");
        let error = trusting(reqwest::Client::builder(), Some(&empty))
            .expect_err("a file without certificates is refused");
        assert!(error.contains("holds no certificate"), "{error}");
    }
}
