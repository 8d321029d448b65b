//! cargo-fuzz targets for dsconn's parsers: the url/endpoint list, the `tags` filter and
//! the SDK-HMAC-SHA256 canonicaliser. The properties are in `properties.rs`, shared with
//! the corpus replay in `cargo test`.

/// dsconn's `domain` module, compiled from the crate's own source files.
///
/// It and `signing` depend on nothing else of dsconn, so the fuzz build skips the
/// server's dependencies (sqlx, axum, rustls, ...): a cold build takes half a minute, not
/// several. Should either ever use `crate::`, this stops compiling: then depend on
/// `dsconn` instead.
#[path = "../../src/domain/mod.rs"]
pub mod domain;
/// dsconn's `signing` module, compiled from the crate's own source files.
#[path = "../../src/signing/mod.rs"]
pub mod signing;

/// What `properties.rs` checks.
mod parsers {
    pub use super::{domain, signing};
}

mod properties;

pub use properties::{
    Property, TARGETS, authorization_header, endpoint_list, signing_request, tag_filter,
};
