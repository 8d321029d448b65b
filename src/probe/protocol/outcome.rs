//! What a protocol check found out: the leaf type every check returns.

/// What the protocol check found out about one connected address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolOutcome {
    /// The destination speaks the service's protocol. `detail` e.g. "MariaDB 10.11.19
    /// greeting", "PostgreSQL (SSL not offered)", "Elasticsearch 8.11.0".
    Verified { detail: String },
    /// It answered, but not in the service's protocol. `detail` says what it looked like
    /// instead (e.g. "expected a MySQL/MariaDB greeting, got an HTTP response"), so a
    /// person can act on it.
    Mismatch { detail: String },
    /// TLS was needed and the handshake failed.
    TlsError { detail: String },
    /// Connected, but no answer within the timeout.
    Timeout { detail: String },
}

impl ProtocolOutcome {
    pub fn is_verified(&self) -> bool {
        matches!(self, ProtocolOutcome::Verified { .. })
    }

    pub(super) fn verified(detail: impl Into<String>) -> Self {
        ProtocolOutcome::Verified {
            detail: detail.into(),
        }
    }

    pub(super) fn mismatch(detail: impl Into<String>) -> Self {
        ProtocolOutcome::Mismatch {
            detail: detail.into(),
        }
    }

    pub(super) fn tls_error(detail: impl Into<String>) -> Self {
        ProtocolOutcome::TlsError {
            detail: detail.into(),
        }
    }

    pub(super) fn timeout(detail: impl Into<String>) -> Self {
        ProtocolOutcome::Timeout {
            detail: detail.into(),
        }
    }
}
