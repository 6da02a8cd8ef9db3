//! amlprobe: checks from an Azure Machine Learning compute node that every endpoint the Azure
//! ML network documents require is reachable, layer by layer, and explains what is not.
//!
//! The pipeline, one module a stage: flags ([`cli`]) → context ([`discover`], [`context`]) →
//! plans ([`plan`], from the [`catalog`]) → probes ([`probe`]) → verdicts ([`verdict`]) →
//! report ([`report`], over the data model in [`result`]). CONTRIBUTING.md has the map.
#![forbid(unsafe_code)]

#[macro_use]
mod wire;

pub mod catalog;
pub mod check;
pub mod cli;
pub mod context;
pub mod discover;
pub mod explain;
pub mod fix;
pub mod fleet;
pub mod input;
pub mod mesh;
pub mod plan;
pub mod probe;
#[cfg(test)]
mod proptests;
pub mod report;
pub mod result;
pub mod verdict;
pub mod watch;

use std::ffi::OsString;
use std::io::Write;

use clap::Parser;

use cli::{CheckArgs, Cli, Command, Format, Shell};
use report::list::Listed;
use report::text::printable;

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

pub fn main_with_args<I: IntoIterator<Item = OsString>>(args: I) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return EXIT_OK;
            }
            eprintln!("amlprobe: {} (see amlprobe --help)", clap_message(&e));
            return EXIT_USAGE;
        }
    };
    let outcome = match cli.command {
        None => check::check(&cli.check),
        Some(Command::Check(args)) => check::check(&args),
        Some(Command::List(args)) => list(&args),
        Some(Command::Explain(args)) => explain::run(&args),
        Some(Command::Fix(args)) => fix::run(&args),
        Some(Command::Merge(args)) => fleet::merge(&args),
        Some(Command::Diff(args)) => fleet::diff(&args),
        Some(Command::Watch(args)) => watch::watch(&args),
        Some(Command::Mesh(args)) => mesh::mesh(&args),
        Some(Command::Completions { shell }) => {
            unpacked(completions(shell)).and_then(|text| emit(&text).map(|()| EXIT_OK))
        }
        Some(Command::Man) => unpacked(MANUAL).and_then(|text| emit(&text).map(|()| EXIT_OK)),
    };
    match outcome {
        Ok(code) => code,
        Err(stop) => {
            // One line, whatever a file, a flag or the network put in the message.
            eprintln!("amlprobe: {}", printable(&stop.message));
            stop.code
        }
    }
}

/// clap's message, on one line: what is wrong.
pub(crate) fn clap_message(e: &clap::Error) -> String {
    let rendered = e.render().to_string();
    let first = rendered.lines().next().unwrap_or("invalid usage");
    printable(first.trim_start_matches("error: ")).into_owned()
}

/// The manual page, rendered by build.rs from the command line's definition: the binary carries
/// the text (deflated) rather than the generator.
const MANUAL: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/amlprobe.1"));

/// A shell's completion script, rendered like the manual page.
fn completions(shell: Shell) -> &'static [u8] {
    match shell {
        Shell::Bash => include_bytes!(concat!(env!("OUT_DIR"), "/completions.bash")),
        Shell::Elvish => include_bytes!(concat!(env!("OUT_DIR"), "/completions.elvish")),
        Shell::Fish => include_bytes!(concat!(env!("OUT_DIR"), "/completions.fish")),
        Shell::Powershell => include_bytes!(concat!(env!("OUT_DIR"), "/completions.powershell")),
        Shell::Zsh => include_bytes!(concat!(env!("OUT_DIR"), "/completions.zsh")),
    }
}

/// A text build.rs stored deflated, as printed.
fn unpacked(packed: &[u8]) -> Result<String, Stop> {
    miniz_oxide::inflate::decompress_to_vec(packed)
        .ok()
        .and_then(|text| String::from_utf8(text).ok())
        .ok_or_else(|| Stop::cannot_run("the text stored in this binary is damaged"))
}

/// Write to stdout. A reader that stopped early (`| head`) is no error; anything else that
/// loses output (a full disk, `> /dev/full`) is, so a script does not take a lost report for a
/// pass.
pub(crate) fn emit(text: &str) -> Result<(), Stop> {
    let mut out = std::io::stdout().lock();
    written(out.write_all(text.as_bytes()).and_then(|()| out.flush()))
}

/// What a write to standard output came to. A closed pipe (`| head`) is not an error worth
/// reporting; any other failure means the output was lost.
fn written(result: std::io::Result<()>) -> Result<(), Stop> {
    match result {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Stop::cannot_run(format!(
            "cannot write to standard output: {e}"
        ))),
        _ => Ok(()),
    }
}

fn list(args: &CheckArgs) -> Result<i32, Stop> {
    let render: fn(&[Listed]) -> String = match check::output_format(args) {
        // `jsonl` has always given the JSON array here.
        Format::Json | Format::Jsonl => report::list::json,
        Format::Markdown => report::list::markdown,
        Format::Table => report::list::text,
        Format::Junit => {
            return Err(Stop::usage(
                "list writes table, json or markdown; -o junit is for check results",
            ))
        }
    };
    let runtime = check::runtime()?;
    let ctx = check::context_from(args, &runtime);
    runtime.shutdown_background();
    let plans = check::plans_for(args, &ctx)?;
    let listed: Vec<Listed> = plans.iter().map(Listed::of).collect();
    emit(&render(&listed))?;
    Ok(EXIT_OK)
}
