//! What the commands print, and what happens when nobody reads it any more (issue 24).
//!
//! Rust ignores SIGPIPE, so a write to a closed pipe (`dsconn list | head -1`) fails
//! with EPIPE, and `println!` turns that into a panic (exit 101 and a backtrace hint).
//! Here a closed standard output ends the command at once and quietly with exit 0, as
//! `head` expects of the writer it stops reading: nothing printed after it could be
//! read. Diagnostics on standard error are best effort: a closed standard error loses
//! them and changes nothing else (the exit code stays the command's own).
//!
//! The long-running commands (`serve`, `agent`) do not use [`outln!`]: their product is
//! not their output, so a closed pipe must not stop them; their log (tracing) drops
//! lines it cannot write.

use std::fmt;
use std::io::Write;

use clap::ValueEnum;
use comfy_table::{Table, presets};

/// `println!` for a command's result: a closed standard output ends the command with
/// exit 0 (see the module's comment).
macro_rules! outln {
    () => {
        $crate::cli::output::stdout_line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::cli::output::stdout_line(format_args!($($arg)*))
    };
}
pub(crate) use outln;

/// `eprintln!` that never panics: a closed standard error loses the line.
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::cli::output::stderr_line(format_args!($($arg)*))
    };
}
pub(crate) use errln;

/// Writes one line on standard output (see [`outln!`]).
pub fn stdout_line(line: fmt::Arguments<'_>) {
    let mut stdout = std::io::stdout().lock();
    let written = stdout
        .write_fmt(line)
        .and_then(|()| stdout.write_all(b"\n"))
        .and_then(|()| stdout.flush());
    if let Err(error) = written {
        output_failed(&error);
    }
}

/// Writes bytes on standard output as they are (a completion script), with
/// [`outln!`]'s handling of a closed output.
pub fn stdout_bytes(bytes: &[u8]) {
    let mut stdout = std::io::stdout().lock();
    if let Err(error) = stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        output_failed(&error);
    }
}

/// Writes one line on standard error, ignoring a failure (see [`errln!`]).
pub fn stderr_line(line: fmt::Arguments<'_>) {
    let mut stderr = std::io::stderr().lock();
    let _ = stderr
        .write_fmt(line)
        .and_then(|()| stderr.write_all(b"\n"));
}

/// Whether an error is a reader that went away: the quiet end of a command's output.
pub fn is_closed_output(error: &std::io::Error) -> bool {
    error.kind() == std::io::ErrorKind::BrokenPipe
}

/// A write to standard output failed: a closed pipe ends the command with exit 0; any
/// other failure (a full disk behind a redirect) with exit 1 and one line saying so, as
/// the result did not get where it was sent.
fn output_failed(error: &std::io::Error) -> ! {
    if is_closed_output(error) {
        std::process::exit(0);
    }
    stderr_line(format_args!(
        "dsconn: cannot write to standard output: {error}"
    ));
    std::process::exit(1);
}

/// How an admin command (`credential`, `token`) prints its result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum ClientOutput {
    /// A readable table.
    #[default]
    Table,
    /// The table with more columns.
    Wide,
    /// The server's JSON, for scripts.
    Json,
}

pub(super) fn print_json(value: &serde_json::Value) {
    outln!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
    );
}

pub(super) fn local_time(millis: i64) -> String {
    chrono::DateTime::from_timestamp_millis(millis)
        .map(|time| {
            time.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_else(|| "-".to_owned())
}

pub(super) fn or_dash(text: &str) -> String {
    if text.is_empty() {
        "-".to_owned()
    } else {
        text.to_owned()
    }
}

/// `key=value,...` of tags, `-` for none.
pub(super) fn tag_pairs(tags: &[crate::domain::Tag]) -> String {
    or_dash(
        &tags
            .iter()
            .map(|tag| format!("{}={}", tag.key, tag.value))
            .collect::<Vec<_>>()
            .join(","),
    )
}

/// The first line of a message, at most `chars` characters of it.
pub(super) fn message_start(message: &str, chars: usize) -> String {
    let line = message.lines().next().unwrap_or_default();
    if line.chars().count() > chars {
        let mut start: String = line.chars().take(chars.saturating_sub(3)).collect();
        start.push_str("...");
        start
    } else {
        or_dash(line)
    }
}

/// Prints a table without the padding comfy-table leaves at the end of each line.
pub(super) fn print_table(table: &Table) {
    for line in table.to_string().lines() {
        outln!("{}", line.trim_end());
    }
}

pub(super) fn table() -> Table {
    let mut table = Table::new();
    table.load_preset(presets::NOTHING);
    table
}

pub(super) fn percent(process: f64) -> String {
    format!("{:.0}%", (process.clamp(0.0, 1.0) * 100.0).floor())
}

/// A "Label: value" table, one row each, as `show` prints a resource.
pub(super) fn details_table<'a>(rows: impl IntoIterator<Item = (&'a str, String)>) -> Table {
    let mut details = table();
    for (label, value) in rows {
        details.add_row(vec![format!("{label}:"), value]);
    }
    details
}

/// The stages of a test, failing one first in the message above, in order here.
pub(super) fn stages_table(stages: &[crate::domain::StageResult]) -> comfy_table::Table {
    let mut table = table();
    table.set_header(["Stage", "Verdict", "Reason", "Took", "Message"]);
    for stage in stages {
        table.add_row([
            stage.stage.as_str().to_owned(),
            stage.verdict.as_str().to_owned(),
            or_dash(&stage.reason).to_owned(),
            format!("{} ms", stage.elapsed_ms),
            or_dash(&stage.message).to_owned(),
        ]);
    }
    table
}
