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
