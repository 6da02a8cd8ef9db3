//! `merge` over `mesh` reports: the from→to matrix (rows: the node that connected, columns: the
//! node it connected to) and the blocked pairs, each with its direction, port and reason. Reports
//! read back are checked field by field: names pass `--peers`' rules, reasons are known codes.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;

use crate::context::parse_peer;
use crate::reason::{Reason, Status};

/// The most nodes one matrix shows.
pub const MAX_NODES: usize = 1000;

/// One blocked direction on one port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Blocked {
    pub from: String,
    pub to: String,
    pub port: u16,
    pub reason: Reason,
}

/// The nodes, and what each node's report said of each other node, port by port.
#[derive(Debug, Default)]
pub struct Matrix {
    pub nodes: Vec<String>,
    /// The nodes whose report was read.
    pub reported: Vec<String>,
    cells: BTreeMap<(String, String), Vec<(u16, Reason)>>,
    /// The file each reported node's report came from, in `reported`'s order. Vectors, not
    /// maps: few nodes are claimed twice, and a map of new types costs the binary tens of KB.
    files: Vec<String>,
    /// The nodes more than one report claimed, and those reports' files.
    contested: Vec<(String, Vec<String>)>,
}

fn peer(v: &Value, field: &str) -> Result<String, String> {
    v.as_str()
        .and_then(|s| parse_peer(s).ok().filter(|p| p == s))
        .ok_or_else(|| format!("{field} is not a host name or address"))
}

impl Matrix {
    fn node(&mut self, name: &str) -> Result<(), String> {
        if !self.nodes.iter().any(|n| n == name) {
            if self.nodes.len() >= MAX_NODES {
                return Err(format!("more than {MAX_NODES} nodes in the mesh reports"));
            }
            self.nodes.push(name.to_string());
        }
        Ok(())
    }

    /// Add one node's mesh report, read from `file`. Any report may claim to be any node, so
    /// when a second report claims a node already reported, neither is kept (which one is
    /// forged cannot be told, and keeping either would let a forged one hide what the other
    /// saw): the node's row shows `?`, the other reports stay, and [`Matrix::contested`] names
    /// both files.
    pub fn add(&mut self, report: &Value, file: &str) -> Result<(), String> {
        let mesh = &report["mesh"];
        let this = peer(&mesh["self"], "mesh.self")?;
        let peers = mesh["peers"].as_array().ok_or("mesh.peers is not a list")?;
        let peers = peers
            .iter()
            .map(|p| peer(p, "mesh.peers[]"))
            .collect::<Result<Vec<_>, _>>()?;
        let results = report["results"]
            .as_array()
            .ok_or("results is not a list")?;
        let mut seen = Vec::new();
        for r in results {
            if r["group"] != "mesh" {
                continue;
            }
            let to = peer(&r["target"]["host"], "results[].target.host")?;
            let port = r["target"]["port"]
                .as_u64()
                .and_then(|p| u16::try_from(p).ok())
                .ok_or("results[].target.port is not a port")?;
            let reason = r["reason"]
                .as_str()
                .and_then(Reason::from_code)
                .ok_or("results[].reason is not a reason code")?;
            seen.push((to, port, reason));
        }
        if let Some((_, files)) = self.contested.iter_mut().find(|(n, _)| *n == this) {
            files.push(file.to_string());
            return Ok(());
        }
        if let Some(at) = self.reported.iter().position(|n| *n == this) {
            self.reported.remove(at);
            self.cells.retain(|(from, _), _| *from != this);
            let first = self.files.remove(at);
            self.contested.push((this, vec![first, file.to_string()]));
            return Ok(());
        }
        self.node(&this)?;
        for p in &peers {
            self.node(p)?;
        }
        for (to, port, reason) in seen {
            self.node(&to)?;
            self.cells
                .entry((this.clone(), to))
                .or_default()
                .push((port, reason));
        }
        self.files.push(file.to_string());
        self.reported.push(this);
        Ok(())
    }

    /// One line for each node that more than one report claimed, naming their files.
    pub fn contested(&self) -> Vec<String> {
        let mut lines: Vec<(&String, String)> = self
            .contested
            .iter()
            .map(|(node, files)| {
                let line = format!(
                    "{}: {} reports claim node {node}; none of them is kept, its row shows ?",
                    files.join(", "),
                    files.len()
                );
                (node, line)
            })
            .collect();
        lines.sort();
        lines.into_iter().map(|(_, line)| line).collect()
    }

    /// Replace every node's name with `node-N`, in the matrix's order.
    pub fn redact(&mut self) {
        let placeholder = |nodes: &[String], n: &str| {
            let at = nodes.iter().position(|m| m == n).unwrap_or(0);
            format!("node-{}", at + 1)
        };
        let nodes = self.nodes.clone();
        self.reported = self
            .reported
            .iter()
            .map(|n| placeholder(&nodes, n))
            .collect();
        self.cells = std::mem::take(&mut self.cells)
            .into_iter()
            .map(|((f, t), v)| ((placeholder(&nodes, &f), placeholder(&nodes, &t)), v))
            .collect();
        for (n, _) in &mut self.contested {
            *n = placeholder(&nodes, n);
        }
        self.nodes = (1..=nodes.len()).map(|i| format!("node-{i}")).collect();
    }

    /// A cell: `-` a node to itself, `?` no report from the row's node (or no result for the
    /// pair), `pass`, or the failing ports' reason codes joined by `+`.
    pub fn cell(&self, from: &str, to: &str) -> String {
        if from == to {
            return "-".into();
        }
        let Some(ports) = self.cells.get(&(from.to_string(), to.to_string())) else {
            return "?".into();
        };
        let mut codes: Vec<&str> = ports
            .iter()
            .filter(|(_, r)| r.status() != Status::Pass)
            .map(|(_, r)| r.code())
            .collect();
        codes.dedup();
        match codes.is_empty() {
            true => "pass".into(),
            false => {
                let mut seen = Vec::new();
                for c in codes {
                    if !seen.contains(&c) {
                        seen.push(c);
                    }
                }
                seen.join("+")
            }
        }
    }

    /// Every direction and port that did not pass, in the matrix's order.
    pub fn blocked(&self) -> Vec<Blocked> {
        let mut out = Vec::new();
        for from in &self.nodes {
            for to in &self.nodes {
                if let Some(ports) = self.cells.get(&(from.clone(), to.clone())) {
                    for (port, reason) in ports {
                        if reason.status() != Status::Pass {
                            out.push(Blocked {
                                from: from.clone(),
                                to: to.clone(),
                                port: *port,
                                reason: *reason,
                            });
                        }
                    }
                }
            }
        }
        out
    }

    /// The nodes named as peers that sent no report: their rows are unknown.
    pub fn missing(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|n| !self.reported.contains(n))
            .cloned()
            .collect()
    }

    /// Whether every pair of every report passed and every node reported.
    pub fn clean(&self) -> bool {
        self.blocked().is_empty() && self.missing().is_empty()
    }

    pub fn json(&self) -> String {
        let matrix: BTreeMap<&str, BTreeMap<&str, String>> = self
            .nodes
            .iter()
            .map(|f| {
                let row = self
                    .nodes
                    .iter()
                    .filter(|t| *t != f)
                    .map(|t| (t.as_str(), self.cell(f, t)))
                    .collect();
                (f.as_str(), row)
            })
            .collect();
        let v = serde_json::json!({
            "schema_version": crate::report::SCHEMA_VERSION,
            "kind": "mesh",
            "tool": {"name": "amlprobe", "version": env!("CARGO_PKG_VERSION")},
            "nodes": self.nodes,
            "missing": self.missing(),
            "matrix": matrix,
            "blocked": self.blocked(),
        });
        serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"
    }

    fn grid(&self) -> Vec<Vec<String>> {
        let mut rows = vec![std::iter::once("from \\ to".to_string())
            .chain(self.nodes.iter().cloned())
            .collect::<Vec<_>>()];
        for f in &self.nodes {
            let mut row = vec![f.clone()];
            row.extend(self.nodes.iter().map(|t| self.cell(f, t)));
            rows.push(row);
        }
        rows
    }

    fn blocked_lines(&self) -> Vec<String> {
        self.blocked()
            .iter()
            .map(|b| format!("{} → {}  TCP {}  {}", b.from, b.to, b.port, b.reason))
            .collect()
    }

    pub fn table(&self) -> String {
        let grid = self.grid();
        let widths: Vec<usize> = (0..grid[0].len())
            .map(|c| grid.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
            .collect();
        let mut out = format!(
            "mesh: {} nodes, rows connect to columns\n\n",
            self.nodes.len()
        );
        for row in &grid {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            let _ = writeln!(out, "{}", cells.join("  ").trim_end());
        }
        self.footer(&mut out, "");
        out
    }

    fn footer(&self, out: &mut String, bullet: &str) {
        let blocked = self.blocked_lines();
        match blocked.is_empty() {
            true => out.push_str("\nno blocked pair\n"),
            false => {
                let _ = writeln!(out, "\nblocked ({}):", blocked.len());
                for b in blocked {
                    let _ = writeln!(out, "{bullet}  {b}");
                }
            }
        }
        let missing = self.missing();
        if !missing.is_empty() {
            let _ = writeln!(
                out,
                "\nno report from: {} (their rows are ?)",
                missing.join(", ")
            );
        }
    }

    pub fn markdown(&self) -> String {
        let grid = self.grid();
        let mut out = String::from("## Mesh: rows connect to columns\n\n");
        for (i, row) in grid.iter().enumerate() {
            let _ = writeln!(out, "| {} |", row.join(" | "));
            if i == 0 {
                let _ = writeln!(out, "|{}", "---|".repeat(row.len()));
            }
        }
        self.footer(&mut out, "-");
        out
    }

    pub fn html(&self) -> String {
        let esc = |s: &str| crate::report::text::xml(s);
        let mut out = String::from(
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>amlprobe mesh</title></head><body>\n<h1>Mesh: rows connect to columns</h1>\n<table border=\"1\">\n",
        );
        for row in self.grid() {
            out.push_str("<tr>");
            for c in row {
                let _ = write!(out, "<td>{}</td>", esc(&c));
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</table>\n<ul>\n");
        for b in self.blocked_lines() {
            let _ = writeln!(out, "<li>{}</li>", esc(&b));
        }
        out.push_str("</ul>\n</body></html>\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(this: &str, peers: &[&str], results: &[(&str, u16, &str)]) -> Value {
        serde_json::json!({
            "mesh": {"self": this, "peers": peers},
            "results": results.iter().map(|(to, port, reason)| serde_json::json!({
                "group": "mesh", "target": {"host": to, "port": port}, "reason": reason,
            })).collect::<Vec<_>>(),
        })
    }

    #[test]
    fn the_matrix_names_the_blocked_directions() {
        let peers = ["a", "b", "c"];
        let mut m = Matrix::default();
        m.add(
            &report(
                "a",
                &peers,
                &[
                    ("b", 1, "ok"),
                    ("b", 2, "tcp_timeout"),
                    ("c", 1, "ok"),
                    ("c", 2, "ok"),
                ],
            ),
            "x.json",
        )
        .unwrap();
        m.add(
            &report(
                "b",
                &peers,
                &[
                    ("a", 1, "ok"),
                    ("a", 2, "ok"),
                    ("c", 1, "ok"),
                    ("c", 2, "ok"),
                ],
            ),
            "x.json",
        )
        .unwrap();
        assert_eq!(m.cell("a", "b"), "tcp_timeout");
        assert_eq!(m.cell("b", "a"), "pass");
        assert_eq!(m.cell("c", "a"), "?");
        assert_eq!(m.cell("a", "a"), "-");
        assert_eq!(m.missing(), ["c"]);
        assert_eq!(
            m.blocked(),
            [Blocked {
                from: "a".into(),
                to: "b".into(),
                port: 2,
                reason: Reason::TcpTimeout
            }]
        );
        assert!(m.table().contains("a → b  TCP 2  tcp_timeout"));
        let v: Value = serde_json::from_str(&m.json()).unwrap();
        assert_eq!(v["matrix"]["a"]["b"], "tcp_timeout");
        assert!(Matrix::default()
            .add(&report("a b", &peers, &[]), "x")
            .is_err());
        assert!(Matrix::default()
            .add(&report("a", &peers, &[("b", 1, "nope")]), "x")
            .is_err());
        m.redact();
        assert_eq!(m.nodes, ["node-1", "node-2", "node-3"]);
        assert_eq!(m.cell("node-1", "node-2"), "tcp_timeout");
    }

    /// A report that claims a node another report already gave leaves that node's row unknown
    /// and names both files; the other nodes' rows stay.
    #[test]
    fn a_node_claimed_twice_is_left_out_and_the_rest_kept() {
        let peers = ["a", "b", "c"];
        let mut m = Matrix::default();
        m.add(&report("a", &peers, &[("b", 1, "tcp_timeout")]), "a.json")
            .unwrap();
        m.add(&report("b", &peers, &[("a", 1, "ok")]), "b.json")
            .unwrap();
        m.add(&report("a", &peers, &[("b", 1, "ok")]), "forged.json")
            .unwrap();
        assert_eq!(m.cell("a", "b"), "?");
        assert_eq!(m.cell("b", "a"), "pass");
        assert_eq!(m.missing(), ["a", "c"]);
        assert!(!m.clean());
        assert_eq!(
            m.contested(),
            ["a.json, forged.json: 2 reports claim node a; none of them is kept, its row shows ?"]
        );
        m.add(&report("a", &peers, &[]), "third.json").unwrap();
        assert!(m.contested()[0].starts_with("a.json, forged.json, third.json: 3 reports"));
        m.redact();
        assert!(
            m.contested()[0].contains("claim node node-1;"),
            "{:?}",
            m.contested()
        );
    }
}
