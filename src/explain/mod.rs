//! The `explain` command: a reason code's meaning and fix, or, for an error message Azure ML
//! printed, the checks that tell its causes apart, which `--run` runs (the texts are
//! in [`text`], the messages Azure ML prints in [`messages`]).

pub(crate) mod messages;
pub(crate) mod text;

use clap::Parser;

use crate::cli::{ExplainArgs, RunFlags};
use crate::exit::{clap_message, emit, Stop, EXIT_OK};
use crate::reason::Reason;
use crate::{catalog, check, input};

use messages::Message;

/// `amlprobe explain WHAT [--run [CHECK FLAGS]]`.
pub fn run(args: &ExplainArgs) -> Result<i32, Stop> {
    let what = read_what(&args.what)?;
    // `--run` may also come after the check flags, which are kept as they are until it runs.
    let mut flags = args.flags.clone();
    let run = args.run || flags.iter().any(|f| f == "--run");
    flags.retain(|f| f != "--run");
    if !run && !flags.is_empty() {
        return Err(Stop::usage(format!(
            "'{}' after the message is a flag for --run: add --run to run the checks, or leave it out",
            flags[0]
        )));
    }
    if let Some(reason) = Reason::from_code(&what.trim().to_ascii_lowercase()) {
        if run {
            return Err(Stop::usage(
                "--run takes an error message, not a reason code: `amlprobe --only ID` runs checks by id",
            ));
        }
        emit(&text::render(reason))?;
        return Ok(EXIT_OK);
    }
    let found = messages::matching(&what);
    if found.is_empty() {
        return Err(unknown(&what));
    }
    let catalog = catalog::load(&[]).map_err(|e| Stop::cannot_run(e.to_string()))?;
    let text: Vec<String> = found
        .iter()
        .map(|m| text::render_message(m, &catalog))
        .collect();
    let text = text.join("\n");
    if !run {
        emit(&text)?;
        return Ok(EXIT_OK);
    }
    run_checks(&found, flags, &text)
}

/// The reason code or message: as given, or read from standard input for `-`.
fn read_what(given: &str) -> Result<String, Stop> {
    match given {
        "-" => {
            let bytes = input::read_at_most(std::io::stdin().lock(), input::MESSAGE_LIMIT)
                .map_err(|e| Stop::usage(format!("standard input: {e}")))?;
            Ok(String::from_utf8_lossy(&bytes).into_owned())
        }
        given => Ok(given.to_string()),
    }
}

/// Neither a reason code nor a known message: what was probably meant.
fn unknown(what: &str) -> Stop {
    let word = what.trim();
    let like_a_code = word.contains('_')
        && word
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if like_a_code {
        let known: Vec<&str> = Reason::ALL.iter().map(|r| r.code()).collect();
        return Stop::usage(format!(
            "unknown reason code '{word}'; known codes: {}",
            known.join(", ")
        ));
    }
    let closest: Vec<String> = messages::closest(what, 3)
        .iter()
        .map(|m| format!("'{}'", text::short(m)))
        .collect();
    let mut shown: String = word.chars().take(80).collect();
    if shown.len() < word.len() {
        shown.push('…');
    }
    Stop::usage(format!(
        "unknown reason code or Azure ML error message '{shown}'; the closest known messages: {}; see docs/reasons.md",
        closest.join(", ")
    ))
}

/// `--run`: the checks that tell the messages' causes apart, with the check flags given after
/// the message; the explanation goes to the terminal, the report to standard output.
fn run_checks(found: &[&Message], flags: Vec<String>, text: &str) -> Result<i32, Stop> {
    if flags
        .iter()
        .any(|f| f == "--only" || f.starts_with("--only="))
    {
        return Err(Stop::usage(
            "--run picks the checks from the message: leave out --only (--skip still applies)",
        ));
    }
    let program = "amlprobe explain MESSAGE --run".to_string();
    let mut check = match RunFlags::try_parse_from(std::iter::once(program).chain(flags)) {
        Ok(parsed) => parsed.check,
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelp => {
            emit(&e.render().to_string())?;
            return Ok(EXIT_OK);
        }
        Err(e) => {
            return Err(Stop::usage(format!(
                "{} (see amlprobe explain --help)",
                clap_message(&e)
            )))
        }
    };
    let only = text::run_only(found);
    if only.is_empty() {
        let notes: Vec<&str> = found
            .iter()
            .map(|m| m.note)
            .filter(|n| !n.is_empty())
            .collect();
        return Err(Stop::usage(format!(
            "no check of amlprobe check tells this message's causes apart: {}",
            notes.join("; ")
        )));
    }
    // The explanation goes to the terminal; standard output carries the report alone.
    eprint!("{text}");
    // The message's checks, whatever AMLPROBE_ONLY says, and the scenarios they belong to.
    let entries = crate::session::catalog_for(&check)?;
    for e in entries.iter().filter(|e| e.selected(&only, &[])) {
        match &e.scenario {
            Some(s) if !check.scenario.contains(s) => check.scenario.push(s.clone()),
            _ => {}
        }
    }
    check.only = only;
    check::check(&check)
}
