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
pub(crate) mod check;
pub(crate) mod cli;
pub(crate) mod context;
pub(crate) mod discover;
pub(crate) mod exit;
pub(crate) mod explain;
pub(crate) mod fix;
pub(crate) mod fleet;
pub(crate) mod input;
#[cfg(test)]
mod interface;
pub(crate) mod mesh;
pub(crate) mod net;
pub(crate) mod plan;
pub(crate) mod probe;
#[cfg(test)]
mod proptests;
pub mod reason;
pub(crate) mod report;
pub(crate) mod result;
pub(crate) mod session;
pub(crate) mod verdict;
pub(crate) mod watch;

use std::ffi::OsString;

use clap::Parser;

use cli::{CheckArgs, Cli, Command, Format, Shell};
use exit::{clap_message, emit, Stop, EXIT_OK, EXIT_USAGE};
use report::list::Listed;
use report::text::printable;

pub fn main_with_args<I: IntoIterator<Item = OsString>>(args: I) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                // Help that could not be written is lost output, as a lost report is.
                let shown = e
                    .print()
                    .and_then(|()| std::io::Write::flush(&mut std::io::stdout()));
                return ended(exit::written(shown).map(|()| EXIT_OK));
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
    ended(outcome)
}

/// The exit code of a command's outcome; a stop is told on stderr.
fn ended(outcome: Result<i32, Stop>) -> i32 {
    match outcome {
        Ok(code) => code,
        Err(stop) => {
            // One line, whatever a file, a flag or the network put in the message.
            eprintln!("amlprobe: {}", printable(&stop.message));
            stop.code
        }
    }
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

fn list(args: &CheckArgs) -> Result<i32, Stop> {
    let render: fn(&[Listed]) -> String = match session::output_format(args) {
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
    let runtime = session::runtime()?;
    let ctx = session::context_from(args, &runtime);
    runtime.shutdown_background();
    let entries = session::catalog_for(args)?;
    let plans = session::plans_of(args, &ctx, &entries)?;
    let listed: Vec<Listed> = plans.iter().map(Listed::of).collect();
    let scenarios = report::list::Scenario::all(&entries, &ctx);
    let after = match session::output_format(args) {
        Format::Table => report::list::scenarios_text(&scenarios),
        Format::Markdown => report::list::scenarios_markdown(&scenarios),
        // The JSON array is the checks alone, as it always was; each says its scenario.
        _ => String::new(),
    };
    emit(&(render(&listed) + &after))?;
    Ok(EXIT_OK)
}
