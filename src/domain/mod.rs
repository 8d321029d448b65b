//! Validated domain types and pure policy. Nothing here knows about HTTP, SQL or sockets,
//! so every rule can be unit-tested on its own.

/// Implements utoipa's `ToSchema` for an enum of the wire format as a closed set of
/// strings, built from its `ALL` array and `as_str`, so that the document cannot drift
/// from the code. `$name` is the schema's name in the document.
macro_rules! string_enum_schema {
    ($type:ty, $name:literal, $description:expr) => {
        impl utoipa::PartialSchema for $type {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::Type::String)
                    .description(Some($description))
                    .enum_values(Some(<$type>::ALL.iter().map(|value| value.as_str())))
                    .into()
            }
        }

        impl utoipa::ToSchema for $type {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed($name)
            }
        }
    };
}
pub(crate) use string_enum_schema;

/// Lets an enum of the wire format read as its spelling (`as_str`): compared with text
/// (`state == "ACTIVE"`) and borrowed as `&str` (`connectivity.as_deref()`), as clients
/// and tests that handle the answers as text do.
macro_rules! reads_as_str {
    ($type:ty) => {
        impl std::ops::Deref for $type {
            type Target = str;

            fn deref(&self) -> &str {
                self.as_str()
            }
        }

        impl PartialEq<str> for $type {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl PartialEq<&str> for $type {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}
pub(crate) use reads_as_str;

mod address;
pub mod auth_info;
mod check;
mod connection;
mod endpoint;
mod network_overlap;
mod privilege;
mod scope;
mod stage;
mod tag;
pub mod text;

pub use address::{
    AddressError, NetworkError, parse_exact_network, parse_ip, parse_ipv4, parse_ipv6,
    parse_network,
};
pub use check::{BindingStatus, FailureReason, QueueWorkKind, Reachability, fair_split};

/// Most entries a queue's hosts file holds: the store reads no more, the prober builds
/// no more (issue 24: 20,000 hosts is about 3.3 MB).
pub const MAX_HOSTS_FILE_ENTRIES: usize = 20_000;
pub use connection::{
    ConnectionId, ConnectionName, ConnectionState, NetworkRef, ProjectId, QueueName, Service,
    ValidationError,
};
pub(crate) use connection::{parse_dli_name, parse_new_dli_name};
pub use endpoint::{Endpoint, EndpointList, Host};
pub use network_overlap::{
    ComputeNetwork, DEFAULT_COMPUTE_CIDR, Overlap, PeerNetwork, RESERVED_RANGES, first_overlap,
    reserved_overlap,
};
pub use privilege::{MAX_TABLE_CHARS, Privilege, PrivilegeRequest};
pub use scope::ProjectScope;
pub use stage::{
    MAX_PRIVILEGE_REQUESTS, MAX_STAGES, SessionCheck, StageName, StageResult, StageVerdict,
    parse_database, verified,
};
pub use tag::{MAX_TAGS, Tag, TagFilter, TagFilterTerm, Tags};

/// Milliseconds since the Unix epoch, UTC: the unit of every time on the wire.
pub fn now_millis() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}
