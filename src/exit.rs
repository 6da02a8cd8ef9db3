//! How a command ends: the exit codes of the public interface, the problem that stops a run
//! before any check (exit 2 or 3), and writing to stdout so that lost output is an error.

use std::io::Write;

use crate::probe;
use crate::report::text::printable;

/// Exit codes of the public interface.
pub const EXIT_OK: i32 = 0;
pub const EXIT_FAILED: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_CANNOT_RUN: i32 = 3;

/// A problem that stops the run before any check: bad input (2) or an unusable node (3).
#[derive(Debug)]
pub struct Stop {
    pub code: i32,
    pub message: String,
}

impl Stop {
    /// The person must change a flag, a variable or a file they named.
    pub fn usage(message: impl Into<String>) -> Stop {
        Stop {
            code: EXIT_USAGE,
            message: message.into(),
        }
    }

    /// The node cannot run the checks as it is.
    pub fn cannot_run(message: impl Into<String>) -> Stop {
        Stop {
            code: EXIT_CANNOT_RUN,
            message: message.into(),
        }
    }
}

impl From<probe::tls::TrustError> for Stop {
    fn from(e: probe::tls::TrustError) -> Stop {
        use probe::tls::TrustError;
        match e {
            TrustError::CaFile { .. }
            | TrustError::CertFile { .. }
            | TrustError::CertDir { .. }
            | TrustError::Verifier { ca_files: true, .. } => Stop::usage(e.to_string()),
            TrustError::NoAnchors
            | TrustError::Verifier {
                ca_files: false, ..
            } => Stop::cannot_run(e.to_string()),
        }
    }
}

impl From<probe::dns::ResolverError> for Stop {
    fn from(e: probe::dns::ResolverError) -> Stop {
        Stop::cannot_run(e.to_string())
    }
}

impl From<probe::proxy::ProxyError> for Stop {
    fn from(e: probe::proxy::ProxyError) -> Stop {
        Stop::usage(e.to_string())
    }
}

/// Write to stdout. A reader that stopped early (`| head`) is no error; anything else that
/// loses output (a full disk, `> /dev/full`) is, so a script does not take a lost report for a
/// pass.
pub fn emit(text: &str) -> Result<(), Stop> {
    let mut out = std::io::stdout().lock();
    written(out.write_all(text.as_bytes()).and_then(|()| out.flush()))
}

/// What a write to standard output came to. A closed pipe (`| head`) is not an error worth
/// reporting; any other failure means the output was lost.
pub fn written(result: std::io::Result<()>) -> Result<(), Stop> {
    match result {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Stop::cannot_run(format!(
            "cannot write to standard output: {e}"
        ))),
        _ => Ok(()),
    }
}

/// clap's message, on one line: what is wrong.
pub fn clap_message(e: &clap::Error) -> String {
    let rendered = e.render().to_string();
    let first = rendered.lines().next().unwrap_or("invalid usage");
    printable(first.trim_start_matches("error: ")).into_owned()
}
