//! `-o markdown` of `merge` and `diff`: ready for a ticket or a pull request.

use std::fmt::Write;
use std::io;

use super::diff::{Diff, Of, Side, State};
use super::html::spill;
use super::model::{Cell, Fleet};
use super::table::whole_node_sides;
use crate::reason::{Reason, Status};
use crate::report::markdown::cell;

/// The most node names listed in one cell.
const NAMES: usize = 20;

/// A matrix cell: the status, and the reason where it says more than `ok`.
fn shown(c: Option<Cell>) -> String {
    match c {
        None => "—".into(),
        Some(c) if c.reason == Reason::Ok => c.status.as_str().into(),
        Some(c) if c.status == Status::Pass || c.status == Status::Skip => {
            format!("{} `{}`", c.status.as_str(), c.reason.code())
        }
        Some(c) => format!("**{}** `{}`", c.status.as_str(), c.reason.code()),
    }
}

/// The merge report, whole, as the tests read it.
#[cfg(test)]
pub fn fleet(f: &Fleet) -> String {
    let mut out = Vec::new();
    let _ = fleet_to(f, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// The merge report, written to `out` as it is made: its last table has a cell for every
/// check on every node, so no more than a chunk of it is held at once.
pub fn fleet_to(f: &Fleet, out: &mut impl io::Write) -> io::Result<()> {
    let mut b = String::new();
    let _ = writeln!(b, "# amlprobe fleet report\n");
    let overview = f.overview();
    let sentence = overview.sentence(f, NAMES, |clause, names| {
        format!("**{clause}** ({})", cell(names))
    });
    let _ = writeln!(b, "{sentence}.\n");
    nodes(&mut b, f);
    troubled(&mut b, f, &overview.troubled);
    matrix(&mut b, f, out)?;
    out.write_all(b.as_bytes())
}

/// Each node: where its name came from, where and when it ran, and its counts.
fn nodes(out: &mut String, f: &Fleet) {
    let _ = writeln!(
        out,
        "## Nodes\n\n| node | name from | region | compute | started | file | pass | warn | fail | skip |\n|---|---|---|---|---|---|---|---|---|---|"
    );
    for (n, node) in f.nodes.iter().enumerate() {
        let c = f.node_counts(n);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            cell(&node.name),
            node.name_from.map_or("", |x| x.as_str()),
            cell(node.region.as_deref().unwrap_or("—")),
            cell(node.compute_name.as_deref().unwrap_or("—")),
            cell(node.started_at.as_deref().unwrap_or("—")),
            cell(&node.file),
            c.pass,
            c.warn,
            c.fail,
            c.skip
        );
    }
}

/// The checks that fail or warn somewhere: one row a status and reason, with its nodes.
fn troubled(out: &mut String, f: &Fleet, troubled: &[usize]) {
    if troubled.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n## Checks that fail or warn\n");
    let _ = writeln!(
        out,
        "| check | required | pass | warn | fail | skip | odd nodes out | status | reason | nodes |\n|---|---|---|---|---|---|---|---|---|---|"
    );
    for &c in troubled {
        let check = &f.checks[c];
        let counts = f.counts(c);
        for (i, (status, reason, nodes)) in f.problems(c).iter().enumerate() {
            let head = match i {
                0 => format!(
                    "{} | {} | {} | {} | {} | {} | {}",
                    cell(&check.id),
                    if check.required { "yes" } else { "no" },
                    counts.pass,
                    counts.warn,
                    counts.fail,
                    counts.skip,
                    cell(&f.names(&f.odd_nodes(c), NAMES))
                ),
                _ => " | | | | | | ".to_string(),
            };
            let _ = writeln!(
                out,
                "| {head} | {} | `{}` | {} |",
                status.as_str(),
                reason.code(),
                cell(&f.names(nodes, NAMES))
            );
        }
    }
}

/// Every check on every node.
fn matrix(out: &mut String, f: &Fleet, to: &mut impl io::Write) -> io::Result<()> {
    let _ = writeln!(out, "\n## All checks\n");
    let _ = write!(out, "| check |");
    for node in &f.nodes {
        let _ = write!(out, " {} |", cell(&node.name));
    }
    let _ = write!(out, "\n|---|");
    for _ in &f.nodes {
        out.push_str("---|");
    }
    out.push('\n');
    for (c, check) in f.checks.iter().enumerate() {
        let _ = write!(out, "| {} |", cell(&check.id));
        for n in 0..f.nodes.len() {
            let _ = write!(out, " {} |", shown(f.cell(c, n)));
        }
        out.push('\n');
        spill(out, to)?;
    }
    Ok(())
}

fn side(s: &Side, of: Of) -> String {
    match of {
        Of::Node => {
            let about: Vec<&str> = [s.hostname.as_deref(), s.started_at.as_deref()]
                .into_iter()
                .flatten()
                .collect();
            match about.is_empty() {
                true => cell(&s.file),
                false => format!("{} ({})", cell(&s.file), cell(&about.join(", "))),
            }
        }
        Of::Fleet => format!("{} ({} nodes)", cell(&s.file), s.nodes),
    }
}

fn state_md(s: Option<State>) -> String {
    match s {
        Some(s) => format!("{} `{}`", s.status.as_str(), s.reason.code()),
        None => "—".into(),
    }
}

/// The diff report, whole, as the tests read it.
#[cfg(test)]
pub fn diff(d: &Diff) -> String {
    let mut out = Vec::new();
    let _ = diff_to(d, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// The diff report, written to `to` a chunk at a time: a row for every cell that changed.
pub fn diff_to(d: &Diff, to: &mut impl io::Write) -> io::Result<()> {
    let mut out = String::new();
    let _ = writeln!(out, "# amlprobe diff\n");
    let _ = writeln!(
        out,
        "{} reports compared: before {}, after {}.\n",
        match d.of {
            Of::Node => "Node",
            Of::Fleet => "Fleet",
        },
        side(&d.before, d.of),
        side(&d.after, d.of)
    );
    let _ = writeln!(out, "{}.", d.counts("**worse**"));
    let fleet = d.of == Of::Fleet;
    for (name, list) in d.lists() {
        if list.is_empty() {
            continue;
        }
        let mut title = name.to_string();
        title[..1].make_ascii_uppercase();
        let _ = writeln!(out, "\n## {title}\n");
        let _ = writeln!(
            out,
            "| check |{} before | after | worse |\n|---|{}---|---|---|",
            if fleet { " node |" } else { "" },
            if fleet { "---|" } else { "" }
        );
        for e in list {
            let node = match (&e.node, fleet) {
                (Some(n), true) => format!(" {} |", cell(n)),
                _ => String::new(),
            };
            let (before, after) = match &e.id {
                Some(_) => (state_md(e.before), state_md(e.after)),
                None => whole_node_sides(name, e.checks.unwrap_or_default()),
            };
            let _ = writeln!(
                out,
                "| {} |{node} {before} | {after} | {} |",
                e.id.as_deref().map_or("—".to_string(), cell),
                if e.worse { "yes" } else { "" }
            );
            spill(&mut out, to)?;
        }
    }
    to.write_all(out.as_bytes())
}
