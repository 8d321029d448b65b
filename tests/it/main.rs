//! Integration tests: the real server on a real SQLite file, driven over HTTP, with real
//! TCP listeners and a loopback DNS server as probe targets.

mod agent_netns;
mod agents;
mod auth;
mod bindings;
mod cli;
mod cli_enhanced;
mod crash;
mod crash_rounds;
mod create_validation;
mod enhanced;
mod enhanced_setup;
mod fanout;
mod fuzz_corpus;
mod helpers;
mod isolation;
mod lifecycle;
mod limits;
mod listing;
mod logs;
mod openapi;
mod operations;
mod outbound_policy;
mod persistence;
mod pg_cluster;
mod probes;
mod queues;
mod reachability;
mod replicas;
mod resource_tags;
mod sharing;
mod signing_modes;
mod signing_vectors;
mod store_conformance;
mod terraform_privilege;
mod terraform_shaped;
