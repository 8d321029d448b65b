//! Exit codes of the client commands, so scripts can tell failures apart.

use std::fmt;

/// 1: the server said no (a DLI error), or a connection ended in the wrong state.
pub const SERVER_REFUSED: u8 = 1;
/// 2: the command line or the settings are wrong (clap uses 2 for usage errors too).
pub const USAGE: u8 = 2;
/// 3: the server could not be reached.
pub const UNREACHABLE: u8 = 3;
/// 4: `wait` (or `create --wait`) ran out of time.
pub const TIMED_OUT: u8 = 4;

/// An error that ends the process with a given exit code.
#[derive(Debug)]
pub struct CliError {
    pub code: u8,
    pub message: String,
}

impl CliError {
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(USAGE, message)
    }

    /// Ok when nothing `failed`; else the server refused (part of) the command, as
    /// `message` says of the failed ones.
    pub fn refused_if_any(
        failed: &[&str],
        message: impl FnOnce(&[&str]) -> String,
    ) -> Result<(), Self> {
        if failed.is_empty() {
            Ok(())
        } else {
            Err(Self::new(SERVER_REFUSED, message(failed)))
        }
    }

    /// An exit code whose reason the command has already printed: `main` prints nothing.
    pub fn quiet(code: u8) -> Self {
        Self::new(code, String::new())
    }

    /// True when `main` should not print the error (see [`CliError::quiet`]).
    pub fn is_quiet(&self) -> bool {
        self.message.is_empty()
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}
