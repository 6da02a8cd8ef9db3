//! `merge` and `diff`: reports of many nodes, or of one node at two times, side by side. Both
//! read only the reports they are given and send nothing.
//!
//! `read.rs` checks each report and keeps only what a fleet shows (`model.rs`: nodes × checks,
//! a status and a reason a cell); `diff.rs` compares two of them; `table.rs`, `json.rs`,
//! `markdown.rs` and `html.rs` are the views.

pub mod diff;
pub mod html;
pub mod json;
pub mod markdown;
pub mod model;
pub mod read;
pub mod table;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use crate::cli::{DiffArgs, FleetFormat, MergeArgs};
use crate::exit::{emit, written, Stop, EXIT_FAILED, EXIT_OK};
use crate::report::read::{kind, ReportKind};
use crate::report::redact::Redactor;
use diff::{Diff, Of};
use model::{Fleet, Node};

/// The most reports one `merge` reads.
pub const MAX_REPORTS: usize = 10_000;

/// The format on stdout: the flag, else a table for a person and JSON for a program.
fn output_format(flag: Option<FleetFormat>) -> FleetFormat {
    flag.unwrap_or(if std::io::stdout().is_terminal() {
        FleetFormat::Table
    } else {
        FleetFormat::Json
    })
}

/// Colour as `check` has it (merge and diff take no `--no-color`; `NO_COLOR` counts).
fn colour() -> bool {
    crate::session::colour(false)
}

/// The report files the inputs name: files as given, and each directory's `*.json` files
/// sorted by name.
pub fn report_files(inputs: &[PathBuf]) -> Result<Vec<PathBuf>, Stop> {
    let too_many = || {
        Stop::usage(format!(
            "more than {MAX_REPORTS} reports: merge reads at most {MAX_REPORTS}; merge groups of nodes separately"
        ))
    };
    let mut files = Vec::new();
    for input in inputs {
        let shown = input.display();
        let meta = std::fs::metadata(input).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                Stop::usage(format!("{shown}: cannot read: no such file"))
            }
            _ => Stop::usage(format!("{shown}: cannot read: {e}")),
        })?;
        if !meta.is_dir() {
            files.push(input.clone());
            if files.len() > MAX_REPORTS {
                return Err(too_many());
            }
            continue;
        }
        let entries = std::fs::read_dir(input)
            .map_err(|e| Stop::usage(format!("{shown}: cannot read the directory: {e}")))?;
        let mut found = Vec::new();
        for entry in entries {
            let entry = entry
                .map_err(|e| Stop::usage(format!("{shown}: cannot read the directory: {e}")))?;
            let path = entry.path();
            if path.extension().is_some_and(|x| x == "json") && !path.is_dir() {
                found.push(path);
                if files.len() + found.len() > MAX_REPORTS {
                    return Err(too_many());
                }
            }
        }
        if found.is_empty() {
            return Err(Stop::usage(format!(
                "{shown}: no *.json report in this directory"
            )));
        }
        found.sort();
        files.extend(found);
    }
    Ok(files)
}

/// A file's bytes, or exit 2 naming it.
fn read_file(path: &Path) -> Result<Vec<u8>, Stop> {
    crate::input::read(path, crate::input::REPORT_LIMIT)
        .map_err(|e| Stop::usage(format!("{}: {e}", path.display())))
}

/// A node's names and its file (`path`) with what `redactor` knows hidden.
fn hide_names(node: &mut Node, path: &Path, redactor: &mut Redactor) {
    for v in [
        &mut node.hostname,
        &mut node.vm_name,
        &mut node.compute_name,
    ]
    .into_iter()
    .flatten()
    {
        *v = redactor.scrub(v);
    }
    node.file = redacted_file(path, redactor);
}

/// The file's name as `--redact` shows it: no directory, the node's names hidden.
fn redacted_file(path: &Path, redactor: &mut Redactor) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    redactor.scrub(&name)
}

/// A view written to standard output as it is made, through a buffer, then flushed.
fn streamed(
    write: impl FnOnce(&mut std::io::BufWriter<std::io::StdoutLock<'static>>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    write(&mut out)?;
    out.flush()
}

/// The node report in `bytes` (file `path`), added to `fleet`; redacted with its own names
/// first, when asked.
fn add_node_report(fleet: &mut Fleet, path: &Path, bytes: &[u8], redact: bool) -> Result<(), Stop> {
    let shown = path.display().to_string();
    let report = read::node(bytes, &shown).map_err(|e| Stop::usage(format!("{shown}: {e}")))?;
    fleet
        .room_for(&report.rows)
        .map_err(|e| Stop::usage(format!("{shown}: {e}")))?;
    let mut node = report.node.clone();
    if redact {
        hide_names(&mut node, path, &mut report.redactor());
    }
    fleet.add_node(node, report.rows);
    Ok(())
}

/// `amlprobe merge`: node reports from `check` into a fleet, or from `mesh` into the from→to
/// matrix, as the first file is; all must be alike. One report at a time: only its compact form
/// outlives it.
pub fn merge(args: &MergeArgs) -> Result<i32, Stop> {
    let files = report_files(&args.inputs)?;
    let mut fleet = Fleet::default();
    let mut matrix = crate::mesh::matrix::Matrix::default();
    let mut first = None;
    for path in &files {
        let shown = path.display();
        let bytes = read_file(path)?;
        let this = kind(&bytes).map_err(|e| Stop::usage(format!("{shown}: {e}")))?;
        if this == ReportKind::Fleet {
            return Err(Stop::usage(format!(
                "{shown}: a fleet report; merge takes node reports (check --report FILE or -o json), and diff compares fleet reports"
            )));
        }
        if *first.get_or_insert(this) != this {
            return Err(Stop::usage(format!(
                "{shown}: merge takes mesh reports, or check reports, not both"
            )));
        }
        match this {
            ReportKind::Mesh => {
                let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
                    Stop::usage(format!("{shown}: not a report amlprobe wrote: {e}"))
                })?;
                matrix
                    .add(&value, &shown.to_string())
                    .map_err(|e| Stop::usage(format!("{shown}: {e}")))?;
            }
            _ => add_node_report(&mut fleet, path, &bytes, args.redact)?,
        }
    }
    if first == Some(ReportKind::Mesh) {
        if args.redact {
            matrix.redact();
        }
        for line in matrix.contested() {
            eprintln!("amlprobe: {}", crate::report::text::printable(&line));
        }
        emit(&match output_format(args.output) {
            FleetFormat::Json => matrix.json(),
            FleetFormat::Table => matrix.table(),
            FleetFormat::Markdown => matrix.markdown(),
            FleetFormat::Html => matrix.html(),
        })?;
        return Ok(match matrix.clean() {
            true => EXIT_OK,
            false => EXIT_FAILED,
        });
    }
    model::name_nodes(&mut fleet.nodes, args.redact);
    match output_format(args.output) {
        FleetFormat::Json => written(json::fleet(&fleet, std::io::stdout().lock()))?,
        FleetFormat::Table => emit(&table::fleet(&fleet, colour()))?,
        FleetFormat::Markdown => written(streamed(|out| markdown::fleet_to(&fleet, out)))?,
        FleetFormat::Html => written(streamed(|out| html::fleet_to(&fleet, out)))?,
    }
    Ok(match fleet.failing_nodes().is_empty() {
        true => EXIT_OK,
        false => EXIT_FAILED,
    })
}

/// One side of a diff: a fleet of one node, or a fleet report read back.
fn side(path: &Path, redact: bool) -> Result<(Fleet, Of), Stop> {
    let shown = path.display().to_string();
    let bytes = read_file(path)?;
    let kind = kind(&bytes).map_err(|e| Stop::usage(format!("{shown}: {e}")))?;
    match kind {
        ReportKind::Node | ReportKind::Mesh => {
            let mut fleet = Fleet::default();
            add_node_report(&mut fleet, path, &bytes, redact)?;
            model::name_nodes(&mut fleet.nodes, redact);
            Ok((fleet, Of::Node))
        }
        ReportKind::Fleet => {
            let fleet = read::fleet(&bytes).map_err(|e| Stop::usage(format!("{shown}: {e}")))?;
            Ok((fleet, Of::Fleet))
        }
    }
}

/// Two fleet reports with their nodes renamed `node-N` alike on both sides (the same name the
/// same placeholder), and their names hidden.
fn redact_fleets(before: &mut Fleet, after: &mut Fleet) {
    let mut names: Vec<String> = Vec::new();
    for fleet in [&mut *before, &mut *after] {
        for node in &mut fleet.nodes {
            let at = match names.iter().position(|n| *n == node.name) {
                Some(at) => at,
                None => {
                    names.push(node.name.clone());
                    names.len() - 1
                }
            };
            let file = PathBuf::from(&node.file);
            hide_names(node, &file, &mut read::redactor_of(node));
            node.name = format!("node-{}", at + 1);
            node.name_from = Some(model::NameFrom::Position);
        }
    }
}

/// The differences between the two reports `args` names.
pub fn compare(args: &DiffArgs) -> Result<Diff, Stop> {
    let (mut before, of_before) = side(&args.before, args.redact)?;
    let (mut after, of_after) = side(&args.after, args.redact)?;
    if of_before != of_after {
        return Err(Stop::usage(format!(
            "{} is a {} report and {} a {} report: diff compares two node reports or two fleet reports",
            args.before.display(),
            of_before.as_str(),
            args.after.display(),
            of_after.as_str()
        )));
    }
    let file = |p: &Path, fleet: &Fleet| match (args.redact, fleet.nodes.first()) {
        (false, _) => p.display().to_string(),
        (true, Some(node)) if of_before == Of::Node => node.file.clone(),
        (true, _) => redacted_file(p, &mut read::redactor_of(&Node::default())),
    };
    let files = [file(&args.before, &before), file(&args.after, &after)];
    if args.redact && of_before == Of::Fleet {
        redact_fleets(&mut before, &mut after);
    }
    Ok(diff::diff(
        &before,
        &after,
        of_before,
        [&files[0], &files[1]],
    ))
}

/// `amlprobe diff`.
pub fn diff(args: &DiffArgs) -> Result<i32, Stop> {
    let d = compare(args)?;
    match output_format(args.output) {
        FleetFormat::Json => written(json::diff(&d, std::io::stdout().lock()))?,
        FleetFormat::Table => emit(&table::diff(&d, colour()))?,
        FleetFormat::Markdown => written(streamed(|out| markdown::diff_to(&d, out)))?,
        FleetFormat::Html => written(streamed(|out| html::diff_to(&d, out)))?,
    }
    Ok(match d.worse() {
        true => EXIT_FAILED,
        false => EXIT_OK,
    })
}
