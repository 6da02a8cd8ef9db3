//! `-o table` of `merge` and `diff`, for a terminal: a matrix of checks × nodes while the nodes
//! fit across a screen, else one line a check with its counts and odd nodes.

use std::fmt::Write;

use super::diff::{Diff, DiffRow, Of, State};
use super::model::{Counts, Fleet};
use crate::reason::Status;
use crate::report::text::printable;

/// The most nodes shown as columns; more get a line a check.
pub const MATRIX_NODES: usize = 20;
/// The most node names listed in one place.
const NAMES: usize = 8;

struct Paint(bool);

impl Paint {
    fn wrap(&self, code: &str, text: &str) -> String {
        match self.0 {
            true => format!("\x1b[{code}m{text}\x1b[0m"),
            false => text.to_string(),
        }
    }

    fn status(&self, s: Status, text: &str) -> String {
        let code = match s {
            Status::Pass => "32",
            Status::Fail => "1;31",
            Status::Warn => "33",
            Status::Skip => "2",
        };
        self.wrap(code, text)
    }
}

/// `s` shown safely, padded to `width` characters.
fn pad(s: &str, width: usize) -> String {
    let s = printable(s);
    let n = s.chars().count();
    format!("{s}{}", " ".repeat(width.saturating_sub(n)))
}

fn width<'a>(items: impl Iterator<Item = &'a str>, min: usize, max: usize) -> usize {
    items
        .map(|s| printable(s).chars().count())
        .max()
        .unwrap_or(0)
        .clamp(min, max)
}

/// One character a status; `-` where the report has no such check.
fn mark(s: Option<Status>) -> &'static str {
    match s {
        Some(Status::Pass) => ".",
        Some(Status::Warn) => "W",
        Some(Status::Fail) => "F",
        Some(Status::Skip) => "s",
        None => "-",
    }
}

fn counts(c: Counts) -> String {
    format!("{:>4} {:>4} {:>4} {:>4}", c.pass, c.warn, c.fail, c.skip)
}

/// The merge table.
pub fn fleet(f: &Fleet, colour: bool) -> String {
    let paint = Paint(colour);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "amlprobe fleet report: {} nodes, {} checks",
        f.nodes.len(),
        f.checks.len()
    );
    let id_w = width(f.checks.iter().map(|c| c.id.as_str()), 5, 40);
    let matrix = f.nodes.len() <= MATRIX_NODES;
    if matrix {
        nodes(&mut out, f);
    }
    let col = f.nodes.len().to_string().len();
    let _ = write!(out, "\n  {}  ", pad("check", id_w));
    if matrix {
        let numbers: Vec<String> = (1..=f.nodes.len()).map(|n| format!("{n:>col$}")).collect();
        let _ = write!(out, "{}  ", numbers.join(" "));
    }
    let _ = writeln!(out, "pass warn fail skip  odd nodes");
    for (c, check) in f.checks.iter().enumerate() {
        let _ = write!(out, "  {}  ", pad(&check.id, id_w));
        if matrix {
            let marks: Vec<String> = (0..f.nodes.len())
                .map(|n| {
                    let status = f.cell(c, n).map(|cell| cell.status);
                    let m = format!("{:>col$}", mark(status));
                    match status {
                        Some(s) if s != Status::Pass => paint.status(s, &m),
                        _ => m,
                    }
                })
                .collect();
            let _ = write!(out, "{}  ", marks.join(" "));
        }
        let odd = f.odd_nodes(c);
        let _ = writeln!(
            out,
            "{}  {}",
            counts(f.counts(c)),
            printable(&f.names(&odd, NAMES))
        );
        trim_line(&mut out);
    }
    if matrix {
        let _ = writeln!(
            out,
            "\n  . pass  W warn  F fail  s skip  - not in the node's report"
        );
    }
    problems(&mut out, f, &paint, id_w);
    summary(&mut out, f);
    out
}

/// Trailing spaces off the line just written.
fn trim_line(out: &mut String) {
    let body = out.trim_end_matches('\n').trim_end().len();
    out.truncate(body);
    out.push('\n');
}

/// The numbered node list the matrix's columns refer to.
fn nodes(out: &mut String, f: &Fleet) {
    let name_w = width(f.nodes.iter().map(|n| n.name.as_str()), 4, 40);
    let region_w = width(f.nodes.iter().filter_map(|n| n.region.as_deref()), 6, 40);
    let compute_w = width(
        f.nodes.iter().filter_map(|n| n.compute_name.as_deref()),
        7,
        40,
    );
    let started_w = width(
        f.nodes.iter().filter_map(|n| n.started_at.as_deref()),
        7,
        40,
    );
    let num_w = f.nodes.len().to_string().len().max(1);
    let _ = writeln!(
        out,
        "\n  {:>num_w$}  {}  {:8}  {}  {}  {}  file",
        "#",
        pad("node", name_w),
        "from",
        pad("region", region_w),
        pad("compute", compute_w),
        pad("started", started_w),
    );
    for (i, n) in f.nodes.iter().enumerate() {
        let _ = writeln!(
            out,
            "  {:>num_w$}  {}  {:8}  {}  {}  {}  {}",
            i + 1,
            pad(&n.name, name_w),
            n.name_from.map_or("", |x| x.as_str()),
            pad(n.region.as_deref().unwrap_or("-"), region_w),
            pad(n.compute_name.as_deref().unwrap_or("-"), compute_w),
            pad(n.started_at.as_deref().unwrap_or("-"), started_w),
            printable(&n.file)
        );
    }
}

/// Each check that fails or warns somewhere: its reasons and the nodes that gave them.
fn problems(out: &mut String, f: &Fleet, paint: &Paint, id_w: usize) {
    let troubled: Vec<usize> = (0..f.checks.len()).filter(|&c| f.troubled(c)).collect();
    if troubled.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nfailures and warnings");
    for c in troubled {
        let groups: Vec<String> = f
            .problems(c)
            .iter()
            .map(|(status, reason, nodes)| {
                format!(
                    "{} {}: {}",
                    paint.status(*status, status.as_str()),
                    reason.code(),
                    printable(&f.names(nodes, NAMES))
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "  {}  {}",
            pad(&f.checks[c].id, id_w),
            groups.join("; ")
        );
    }
}

fn summary(out: &mut String, f: &Fleet) {
    let sentence = f.overview().sentence(f, NAMES, |clause, names| {
        format!("{clause} ({})", printable(names))
    });
    let _ = writeln!(out, "\n{sentence}");
}

/// `status reason`, or `-` for a side without the check.
pub(super) fn state(s: Option<State>) -> String {
    match s {
        Some(s) => format!("{} {}", s.status.as_str(), s.reason.code()),
        None => "-".into(),
    }
}

/// A whole node one side of a diff lacks, as the before and after cells show it: its counts on
/// the side that has it (after for an added node, before for a removed one), `—` on the other.
pub(super) fn whole_node_sides(list: &str, c: Counts) -> (String, String) {
    let text = whole_node(c);
    match list {
        "added" => ("—".to_string(), text),
        _ => (text, "—".to_string()),
    }
}

/// A whole node, counted.
fn whole_node(c: Counts) -> String {
    format!("whole node, {}", counted(c))
}

/// A whole node's results, counted.
pub(super) fn counted(c: Counts) -> String {
    format!(
        "{} checks: {} pass, {} warn, {} fail, {} skip",
        c.total(),
        c.pass,
        c.warn,
        c.fail,
        c.skip
    )
}

/// The diff table.
pub fn diff(d: &Diff, colour: bool) -> String {
    let paint = Paint(colour);
    let mut out = String::new();
    let side = |s: &super::diff::Side| {
        let about: Vec<&str> = [s.hostname.as_deref(), s.started_at.as_deref()]
            .into_iter()
            .flatten()
            .collect();
        match (d.of, about.is_empty()) {
            (Of::Node, false) => {
                format!("{} ({})", printable(&s.file), printable(&about.join(", ")))
            }
            (Of::Fleet, _) => format!("{} ({} nodes)", printable(&s.file), s.nodes),
            (Of::Node, true) => printable(&s.file).into_owned(),
        }
    };
    let _ = writeln!(
        out,
        "amlprobe diff of {} reports\n  before: {}\n  after:  {}",
        d.of.as_str(),
        side(&d.before),
        side(&d.after)
    );
    let all = d.lists();
    let entries = || all.iter().flat_map(|(_, l)| l.iter());
    let id_w = width(entries().filter_map(|e| e.id.as_deref()), 5, 40);
    let node_w = width(entries().filter_map(|e| e.node.as_deref()), 4, 40);
    let before_w = entries().map(|e| state(e.before).len()).max().unwrap_or(0);
    for (name, list) in all {
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n{name}");
        for e in list {
            // A broken check is always worse: said only where it is news.
            let worse = e.worse && name != "broken";
            let _ = writeln!(
                out,
                "{}",
                entry(e, d.of, worse, &paint, (id_w, node_w, before_w))
            );
            trim_line(&mut out);
        }
    }
    if d.is_empty() {
        let _ = writeln!(out, "\nno difference");
    }
    let _ = writeln!(out, "\n{}", d.counts(&paint.wrap("1;31", "worse")));
    out
}

fn entry(
    e: &DiffRow,
    of: Of,
    worse: bool,
    paint: &Paint,
    (id_w, node_w, before_w): (usize, usize, usize),
) -> String {
    let node = match (of, &e.node) {
        (Of::Fleet, Some(n)) => format!("{}  ", pad(n, node_w)),
        _ => String::new(),
    };
    let Some(id) = &e.id else {
        let c = e.checks.unwrap_or_default();
        return format!("  {}  {node}{}", pad("-", id_w), whole_node(c));
    };
    let painted = |s: Option<State>, w: usize| {
        let text = format!("{:w$}", state(s));
        match s {
            Some(s) if s.status != Status::Pass => paint.status(s.status, &text),
            _ => text,
        }
    };
    format!(
        "  {}  {node}{}  ->  {}{}",
        pad(id, id_w),
        painted(e.before, before_w),
        painted(e.after, 0),
        if worse { "  (worse)" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::model::tests::fleet as five;

    #[test]
    fn the_matrix_shows_each_node_and_the_odd_ones_out() {
        let text = fleet(&five(), false);
        assert!(
            text.contains("amlprobe fleet report: 5 nodes, 3 checks"),
            "{text}"
        );
        assert!(
            text.contains("  graph-443        . . . F .     4    0    1    0  n4\n"),
            "{text}"
        );
        assert!(
            text.contains("  pypi-443         s - s s s     0    0    0    4\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "tundra-udp-5831  fail udp_unreachable: n5; warn udp_no_reply: n1, n2, n3, n4"
            ),
            "{text}"
        );
        assert!(
            text.contains("2 nodes fail a required check (n4, n5)"),
            "{text}"
        );
        assert!(!text.contains('\x1b'));
        assert!(!text.lines().any(|l| l.ends_with(' ')), "{text}");
    }

    #[test]
    fn many_nodes_get_a_line_a_check() {
        let mut f = Fleet::default();
        for i in 0..30 {
            let status = if i % 10 == 3 {
                Status::Fail
            } else {
                Status::Pass
            };
            let reason = if status == Status::Pass {
                crate::reason::Reason::Ok
            } else {
                crate::reason::Reason::TcpTimeout
            };
            f.add_node(
                crate::fleet::model::tests::node(&format!("host-{i}"), None, "f"),
                vec![crate::fleet::model::tests::row("graph-443", status, reason)],
            );
        }
        crate::fleet::model::name_nodes(&mut f.nodes, false);
        let text = fleet(&f, false);
        assert!(
            text.contains("  graph-443    27    0    3    0  host-3, host-13, host-23\n"),
            "{text}"
        );
        assert!(!text.contains("host-4"), "no node list: {text}");
    }
}
