//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/`) through the same property
//! functions the cargo-fuzz targets run, so every input a fuzzer ever kept is checked by
//! a plain `cargo test`, with or without a fuzzing toolchain.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

/// What `properties.rs` checks: here, the crate's own modules.
mod parsers {
    pub use dsconn::{domain, signing};
}

#[path = "../../fuzz/src/properties.rs"]
mod properties;

fn corpus_files(target: &str) -> Vec<PathBuf> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
        .unwrap_or_else(|error| panic!("{}: {error}", folder.display()))
        .map(|entry| entry.expect("corpus entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

/// Runs every corpus file of `target`; fails listing each file whose property broke.
fn replay(target: &str) {
    let (_, property) = properties::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .unwrap_or_else(|| panic!("no property for {target}"));
    let files = corpus_files(target);
    assert!(
        files.len() >= 10,
        "{target}: only {} corpus files; the seeds are missing",
        files.len()
    );
    let failures: Vec<String> = files
        .iter()
        .filter_map(|path| {
            let data = std::fs::read(path).expect("corpus file is readable");
            catch_unwind(AssertUnwindSafe(|| property(&data)))
                .err()
                .map(|panic| {
                    let message = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                        .unwrap_or_default();
                    format!("{}: {message}", path.display())
                })
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{target}: {} of {} corpus files break a property:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn every_endpoint_list_corpus_input_keeps_the_url_parser_properties() {
    replay("endpoint_list");
}

#[test]
fn every_tag_filter_corpus_input_keeps_the_filter_parser_properties() {
    replay("tag_filter");
}

#[test]
fn every_signing_corpus_request_signs_and_verifies() {
    replay("signing_request");
}

#[test]
fn every_authorization_corpus_header_parses_or_is_refused_cleanly() {
    replay("authorization_header");
}

#[test]
fn every_corpus_folder_has_a_property() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    for entry in std::fs::read_dir(&corpus).expect("fuzz/corpus exists") {
        let name = entry.expect("entry").file_name();
        let name = name.to_string_lossy();
        assert!(
            properties::TARGETS
                .iter()
                .any(|(target, _)| *target == name),
            "fuzz/corpus/{name} is replayed by no property"
        );
    }
}
