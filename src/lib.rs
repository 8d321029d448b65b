//! dsconn: a self-hostable, wire-compatible implementation of Huawei Cloud DLI's classic
//! datasource-connection API.

pub mod api;
pub mod app;
pub mod check;
pub mod cli;
pub mod client;
pub mod config;
pub mod credentials;
pub mod domain;
pub mod issuing;
#[cfg(test)]
mod layering;
pub mod probe;
pub mod rate_limit;
pub mod read_cache;
pub mod server;
pub mod signing;
pub mod store;
pub mod telemetry;
pub mod worker;
