//! The `tls` stage's handshake and its judgement of the certificate: chain against the
//! given CA (or this machine's roots), host name against the endpoint as written, and
//! days to expiry. The decision on what FAILS is in the module doc of `session`.

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, ProtocolVersion, RootCertStore};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio_rustls::TlsConnector;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::X509Certificate;

use super::SessionRequest;
use super::stages::{Step, Verdict};
use crate::probe::protocol::tls::AcceptAnyCertificate;

const SECONDS_PER_DAY: i64 = 86_400;
/// SAN entries named in a mismatch message; a certificate may list hundreds.
const NAMES_SHOWN: usize = 5;

/// What the server showed in its handshake.
pub(super) struct Presented {
    chain: Vec<CertificateDer<'static>>,
    version: Option<ProtocolVersion>,
}

/// The name to send as SNI and check the certificate against: the host as written, or
/// the peer's address when that is not a valid name.
fn server_name(written: &str, address: IpAddr) -> ServerName<'static> {
    let host = written.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_owned()).unwrap_or_else(|_| ServerName::IpAddress(address.into()))
}

/// A TLS handshake over `io` that accepts any certificate, then a polite close.
pub(super) async fn handshake<S>(io: S, request: &SessionRequest) -> Result<Presented, String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let connector = connector()?;
    let name = server_name(&request.server_name, request.address.ip());
    let mut stream = connector
        .connect(name, io)
        .await
        .map_err(|error| format!("the TLS handshake failed: {error}"))?;
    let (_, connection) = stream.get_ref();
    let presented = Presented {
        chain: connection
            .peer_certificates()
            .unwrap_or_default()
            .iter()
            .map(|certificate| certificate.clone().into_owned())
            .collect(),
        version: connection.protocol_version(),
    };
    // The stage has what it needs; a server that does not answer the close is no error.
    let _ = stream.shutdown().await;
    Ok(presented)
}

fn connector() -> Result<TlsConnector, String> {
    static CONNECTOR: OnceLock<Result<TlsConnector, String>> = OnceLock::new();
    CONNECTOR
        .get_or_init(|| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .map_err(|error| format!("TLS set-up failed: {error}"))?
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate::new(provider)))
                .with_no_client_auth();
            Ok(TlsConnector::from(Arc::new(config)))
        })
        .clone()
}

/// This machine's roots, read once; None when it has none.
fn machine_roots() -> Option<Arc<RootCertStore>> {
    static ROOTS: OnceLock<Option<Arc<RootCertStore>>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let mut roots = RootCertStore::empty();
            roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            (!roots.is_empty()).then(|| Arc::new(roots))
        })
        .clone()
}

/// Where the chain was checked, in words.
enum Anchor {
    GivenCa,
    MachineRoots,
}

/// Judges what the server showed; see the module doc of `session` for what FAILS.
pub(super) fn judge(presented: &Presented, request: &SessionRequest) -> Step<()> {
    let Some((leaf, intermediates)) = presented.chain.split_first() else {
        return Step::fail("TLS_FAILED", "the server showed no certificate");
    };
    let certificate = match x509_parser::parse_x509_certificate(leaf) {
        Ok((_, certificate)) => certificate,
        Err(error) => {
            return Step::fail(
                "TLS_FAILED",
                format!("the server's certificate could not be read: {error}"),
            );
        }
    };
    let subject = certificate.subject().to_string();
    let issuer = certificate.issuer().to_string();
    let now = chrono::Utc::now().timestamp();
    let not_after = certificate.validity().not_after.timestamp();
    let not_before = certificate.validity().not_before.timestamp();
    if now > not_after {
        return Step::fail(
            "TLS_EXPIRED",
            format!(
                "the server's certificate ({subject}) expired on {} ({} days ago); renew it on \
                 the server",
                date(not_after),
                (now - not_after) / SECONDS_PER_DAY
            ),
        );
    }
    if now < not_before {
        return Step::fail(
            "TLS_FAILED",
            format!(
                "the server's certificate ({subject}) is not valid before {}; check the \
                 server's clock or the certificate",
                date(not_before)
            ),
        );
    }
    let name = server_name(&request.server_name, request.address.ip());
    let (anchor, verifier) = match verifier(request) {
        Ok(found) => found,
        Err(failed) => return failed,
    };
    let trust = verifier.map(|verifier| {
        verifier.verify_server_cert(leaf, intermediates, &name, &[], UnixTime::now())
    });
    let trusted = match &trust {
        // The chain is checked before the name: a name error means the chain is trusted.
        Some(Ok(_)) => Ok(()),
        Some(Err(rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ))) => Ok(()),
        Some(Err(rustls::Error::InvalidCertificate(error))) => Err(untrusted_why(error, &issuer)),
        Some(Err(error)) => Err(error.to_string()),
        None => Err("this machine has no trusted root certificates to check it against".into()),
    };
    let name_matches = webpki::EndEntityCert::try_from(leaf)
        .and_then(|end_entity| end_entity.verify_is_valid_for_subject_name(&name))
        .is_ok();
    let shown_name = name.to_str();
    let given_ca = matches!(anchor, Anchor::GivenCa);
    if given_ca && let Err(why) = &trusted {
        return Step::fail(
            "TLS_UNTRUSTED",
            format!(
                "the server's certificate ({subject}) does not chain to the given CA: {why}; \
                 give the CA that issued it, or install a certificate that CA issued"
            ),
        );
    }
    if given_ca && !name_matches {
        return Step::fail(
            "TLS_NAME_MISMATCH",
            format!(
                "the server's certificate is for {}, not {shown_name}; use a host name the \
                 certificate names, or reissue it for {shown_name}",
                names_of(&certificate)
            ),
        );
    }
    let version = match presented.version {
        Some(ProtocolVersion::TLSv1_3) => "TLS 1.3",
        Some(ProtocolVersion::TLSv1_2) => "TLS 1.2",
        _ => "TLS",
    };
    let chain = match (&trusted, anchor) {
        (Ok(()), Anchor::GivenCa) => "chain trusted by the given CA".to_owned(),
        (Ok(()), Anchor::MachineRoots) => "chain trusted by this machine's roots".to_owned(),
        (Err(why), _) => {
            format!("not trusted by this machine's roots ({why}; give the source's CA to check it)")
        }
    };
    let host = if name_matches {
        "host name matches".to_owned()
    } else {
        format!(
            "host name {shown_name} does not match (the certificate names {})",
            names_of(&certificate)
        )
    };
    Step::Done(
        (),
        Verdict::passed(format!(
            "{version}, {chain}, {host}, expires in {} days ({}); subject {subject}, issuer \
             {issuer}",
            (not_after - now) / SECONDS_PER_DAY,
            date(not_after)
        )),
    )
}

/// The verifier for the given CA, or this machine's roots (None when it has none).
fn verifier(
    request: &SessionRequest,
) -> Result<(Anchor, Option<Arc<WebPkiServerVerifier>>), Step<()>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let (anchor, roots) = match &request.ca_pem {
        Some(pem) => {
            let mut roots = RootCertStore::empty();
            let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
                .filter_map(Result::ok)
                .collect();
            let (added, _) = roots.add_parsable_certificates(certificates);
            if added == 0 {
                return Err(Step::fail(
                    "TLS_FAILED",
                    "the given CA holds no PEM certificate that could be read; give the CA \
                     certificate in PEM form (-----BEGIN CERTIFICATE-----)",
                ));
            }
            (Anchor::GivenCa, Some(Arc::new(roots)))
        }
        None => (Anchor::MachineRoots, machine_roots()),
    };
    let verifier = roots.and_then(|roots| {
        WebPkiServerVerifier::builder_with_provider(roots, provider)
            .build()
            .ok()
    });
    Ok((anchor, verifier))
}

fn untrusted_why(error: &CertificateError, issuer: &str) -> String {
    match error {
        CertificateError::UnknownIssuer => format!("issued by {issuer}, an unknown authority"),
        CertificateError::BadSignature => "a signature in the chain does not verify".to_owned(),
        other => other.to_string(),
    }
}

/// The names a certificate is for, from its subject alternative names.
fn names_of(certificate: &X509Certificate<'_>) -> String {
    let mut names: Vec<String> = certificate
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|extension| {
            extension
                .value
                .general_names
                .iter()
                .filter_map(|name| match name {
                    GeneralName::DNSName(dns) => Some((*dns).to_owned()),
                    GeneralName::IPAddress(bytes) => ip_text(bytes),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    if names.is_empty() {
        return "no host names".to_owned();
    }
    let more = names.len().saturating_sub(NAMES_SHOWN);
    names.truncate(NAMES_SHOWN);
    let mut text = names.join(", ");
    if more > 0 {
        text.push_str(&format!(" and {more} more"));
    }
    text
}

fn ip_text(bytes: &[u8]) -> Option<String> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes)
            .ok()
            .map(|octets| IpAddr::from(octets).to_string()),
        16 => <[u8; 16]>::try_from(bytes)
            .ok()
            .map(|octets| IpAddr::from(octets).to_string()),
        _ => None,
    }
}

/// `YYYY-MM-DD` (UTC) of a Unix time.
fn date(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0)
        .map(|time| time.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| seconds.to_string())
}
