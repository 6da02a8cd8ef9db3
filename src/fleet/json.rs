//! `-o json` of `merge` (`kind: "fleet"`, which `diff` reads back) and of `diff`
//! (`kind: "diff"`). Written as it is made: a fleet of thousands of nodes is never held twice.

use std::io::Write;

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use super::diff::{Diff, DiffRow, Side, State};
use super::model::{Counts, Fleet, NameFrom};
use crate::report::{Tool, SCHEMA_VERSION};

fn tool() -> Tool {
    Tool {
        name: "amlprobe",
        version: env!("CARGO_PKG_VERSION"),
    }
}

#[derive(Serialize)]
struct FleetJson<'a> {
    schema_version: u32,
    kind: &'static str,
    tool: Tool,
    nodes: Vec<NodeJson<'a>>,
    summary: Summary<'a>,
    checks: Vec<CheckJson<'a>>,
}

#[derive(Serialize)]
struct NodeJson<'a> {
    name: &'a str,
    name_from: Option<NameFrom>,
    region: Option<&'a str>,
    compute_name: Option<&'a str>,
    vm_name: Option<&'a str>,
    hostname: Option<&'a str>,
    started_at: Option<&'a str>,
    file: &'a str,
    counts: Counts,
}

#[derive(Serialize)]
struct Summary<'a> {
    nodes: usize,
    checks: usize,
    /// Nodes that fail a check their report calls required.
    failing_nodes: Vec<&'a str>,
    /// Checks that fail on at least one node.
    failing_checks: usize,
    /// Checks that pass on most nodes and fail or warn on a few.
    odd_checks: usize,
}

#[derive(Serialize)]
struct CheckJson<'a> {
    id: &'a str,
    group: &'a str,
    title: &'a str,
    required: bool,
    counts: Counts,
    by_node: ByNode<'a>,
    odd_nodes: Vec<&'a str>,
}

/// One check's cells, node name → status and reason, in node order.
struct ByNode<'a> {
    fleet: &'a Fleet,
    check: usize,
}

impl Serialize for ByNode<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let f = self.fleet;
        let mut map = s.serialize_map(None)?;
        for (n, node) in f.nodes.iter().enumerate() {
            if let Some(cell) = f.cell(self.check, n) {
                map.serialize_entry(&node.name, &State::from(cell))?;
            }
        }
        map.end()
    }
}

fn names<'a>(f: &'a Fleet, nodes: &[usize]) -> Vec<&'a str> {
    nodes.iter().map(|&n| f.nodes[n].name.as_str()).collect()
}

/// The fleet report.
pub fn fleet(f: &Fleet, out: impl Write) -> std::io::Result<()> {
    let report = FleetJson {
        schema_version: SCHEMA_VERSION,
        kind: "fleet",
        tool: tool(),
        nodes: f
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| NodeJson {
                name: &n.name,
                name_from: n.name_from,
                region: n.region.as_deref(),
                compute_name: n.compute_name.as_deref(),
                vm_name: n.vm_name.as_deref(),
                hostname: n.hostname.as_deref(),
                started_at: n.started_at.as_deref(),
                file: &n.file,
                counts: f.node_counts(i),
            })
            .collect(),
        summary: Summary {
            nodes: f.nodes.len(),
            checks: f.checks.len(),
            failing_nodes: names(f, &f.failing_nodes()),
            failing_checks: (0..f.checks.len())
                .filter(|&c| f.counts(c).fail > 0)
                .count(),
            odd_checks: (0..f.checks.len())
                .filter(|&c| !f.odd_nodes(c).is_empty())
                .count(),
        },
        checks: f
            .checks
            .iter()
            .enumerate()
            .map(|(c, check)| CheckJson {
                id: &check.id,
                group: &check.group,
                title: &check.title,
                required: check.required,
                counts: f.counts(c),
                by_node: ByNode { fleet: f, check: c },
                odd_nodes: names(f, &f.odd_nodes(c)),
            })
            .collect(),
    };
    write(&report, out)
}

#[derive(Serialize)]
struct DiffJson<'a> {
    schema_version: u32,
    kind: &'static str,
    tool: Tool,
    of: &'static str,
    inputs: Inputs<'a>,
    summary: DiffSummary,
    fixed: &'a [DiffRow],
    broken: &'a [DiffRow],
    changed: &'a [DiffRow],
    added: &'a [DiffRow],
    removed: &'a [DiffRow],
}

#[derive(Serialize)]
struct Inputs<'a> {
    before: &'a Side,
    after: &'a Side,
}

#[derive(Serialize)]
struct DiffSummary {
    fixed: usize,
    broken: usize,
    changed: usize,
    added: usize,
    removed: usize,
    worse: bool,
}

/// The diff report.
pub fn diff(d: &Diff, out: impl Write) -> std::io::Result<()> {
    let report = DiffJson {
        schema_version: SCHEMA_VERSION,
        kind: "diff",
        tool: tool(),
        of: d.of.as_str(),
        inputs: Inputs {
            before: &d.before,
            after: &d.after,
        },
        summary: DiffSummary {
            fixed: d.fixed.len(),
            broken: d.broken.len(),
            changed: d.changed.len(),
            added: d.added.len(),
            removed: d.removed.len(),
            worse: d.worse(),
        },
        fixed: &d.fixed,
        broken: &d.broken,
        changed: &d.changed,
        added: &d.added,
        removed: &d.removed,
    };
    write(&report, out)
}

/// Pretty JSON and a newline, with hidden characters written as escapes (the same value).
fn write(value: &impl Serialize, out: impl Write) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(out);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, Shown::default());
    value.serialize(&mut ser).map_err(std::io::Error::other)?;
    out.write_all(b"\n")?;
    out.flush()
}

/// serde_json's pretty formatter, but every hidden character in a string (which JSON allows
/// raw past U+001F) is written as a `\uXXXX` escape, as `report::text::json_shown` does.
#[derive(Default)]
struct Shown(serde_json::ser::PrettyFormatter<'static>);

impl serde_json::ser::Formatter for Shown {
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut from = 0;
        for (at, c) in fragment.char_indices() {
            if crate::report::text::hidden(c) {
                writer.write_all(&fragment.as_bytes()[from..at])?;
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    write!(writer, "\\u{unit:04x}")?;
                }
                from = at + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[from..])
    }

    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object_value(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::model::tests::fleet as five;

    fn text(f: impl Fn(&mut Vec<u8>) -> std::io::Result<()>) -> String {
        let mut out = Vec::new();
        f(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_fleet_report_reads_back_as_the_same_fleet() {
        let f = five();
        let json = text(|o| fleet(&f, o));
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["kind"], "fleet");
        assert_eq!(v["schema_version"], 1);
        assert_eq!(
            v["summary"]["failing_nodes"],
            serde_json::json!(["n4", "n5"])
        );
        assert_eq!(v["checks"][0]["odd_nodes"], serde_json::json!(["n4"]));
        assert_eq!(
            v["checks"][0]["by_node"]["n4"],
            serde_json::json!({"status": "fail", "reason": "tcp_refused"})
        );
        assert_eq!(v["checks"][2]["by_node"].as_object().unwrap().len(), 4);
        assert_eq!(v["nodes"][0]["name_from"], "hostname");
        let back = crate::fleet::read::fleet(json.as_bytes()).unwrap();
        assert_eq!(
            back.nodes.iter().map(|n| &n.name).collect::<Vec<_>>(),
            f.nodes.iter().map(|n| &n.name).collect::<Vec<_>>()
        );
        let cells = |f: &Fleet| -> Vec<Vec<_>> {
            (0..f.checks.len())
                .map(|c| f.cells_of(c).collect())
                .collect()
        };
        assert_eq!(cells(&back), cells(&f));
        assert_eq!(back.checks, f.checks);
    }

    #[test]
    fn hidden_characters_are_escaped_and_the_value_kept() {
        let mut f = five();
        f.nodes[0].name = "a\u{1b}[2J\u{202E}b".into();
        let json = text(|o| fleet(&f, o));
        assert!(!json.contains('\u{1b}') && !json.contains('\u{202E}'));
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["nodes"][0]["name"], "a\u{1b}[2J\u{202E}b");
    }
}
