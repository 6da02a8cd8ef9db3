//! A fleet in compact form: each node's status and reason for each check, and nothing else of
//! its report. `merge` builds one from node reports; `diff` reads one back from a fleet report,
//! or builds a fleet of one node from a node report.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde::Serialize;

use crate::reason::{Reason, Status};

wire_enum! {
    /// Which of a node's names became its name in the fleet: the first that is unique among
    /// the inputs, or its place among them (always, with `--redact`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum NameFrom {
        Hostname = "hostname",
        VmName = "vm_name",
        File = "file",
        Position = "position",
    }
}

/// One check as the fleet shows it: the first node that ran it describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub id: String,
    pub group: String,
    pub title: String,
    /// Required on any node that ran it.
    pub required: bool,
}

/// What one node found for one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cell {
    pub status: Status,
    pub reason: Reason,
    /// Whether the node's own report said the check is required.
    pub required: bool,
}

/// One node: its name in the fleet and what its report says of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    pub name_from: Option<NameFrom>,
    pub region: Option<String>,
    pub compute_name: Option<String>,
    pub vm_name: Option<String>,
    pub hostname: Option<String>,
    pub started_at: Option<String>,
    /// The report file, as named on the command line (with `--redact`, its file name only).
    pub file: String,
}

/// How many nodes gave each status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub pass: usize,
    pub warn: usize,
    pub fail: usize,
    pub skip: usize,
}

impl Counts {
    fn add(&mut self, status: Status) {
        match status {
            Status::Pass => self.pass += 1,
            Status::Warn => self.warn += 1,
            Status::Fail => self.fail += 1,
            Status::Skip => self.skip += 1,
        }
    }

    /// Nodes that tested the check (a skip tests nothing).
    pub fn ran(&self) -> usize {
        self.pass + self.warn + self.fail
    }

    pub fn total(&self) -> usize {
        self.ran() + self.skip
    }
}

/// One row of a node report, as the reader hands it over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub id: String,
    pub group: String,
    pub title: String,
    pub required: bool,
    pub status: Status,
    pub reason: Reason,
}

/// The most distinct checks a fleet holds. The built-in catalog has a few dozen and a custom
/// one rarely more than a few hundred, so this leaves room for any real fleet while a forged
/// report of countless check ids is refused before its matrix fills memory and every view.
pub const MAX_CHECKS: usize = 10_000;

/// The most cells (a node's result for a check) a fleet holds. The built-in catalog gives a
/// node a few dozen results, a few hundred thousand on all [`super::MAX_REPORTS`] nodes; this
/// leaves ten times that for custom catalogs, while the cells (8 bytes each) stay within
/// 32 MB and a diff's rows, one at most for each cell, stay countable.
pub const MAX_CELLS: usize = 4_000_000;

/// Nodes × checks, holding only the cells that exist: a node that never ran a check costs
/// nothing, however many checks other nodes ran.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fleet {
    /// In input order.
    pub nodes: Vec<Node>,
    /// In the order they were first seen.
    pub checks: Vec<Check>,
    /// `cells[check]`: the nodes that hold the check and their cells, by node.
    cells: Vec<Vec<(u32, Cell)>>,
    /// How many cells `cells` holds.
    held: usize,
    index: HashMap<String, usize>,
}

/// The fleet at a glance, as every merge format opens: the nodes that fail a required check,
/// the checks that fail or warn somewhere, and how many of those only on a few odd nodes out.
pub struct Overview {
    pub failing: Vec<usize>,
    pub troubled: Vec<usize>,
    pub odd: usize,
}

impl Overview {
    /// The headline sentence. `failing` marks up the failing nodes' clause ("2 nodes fail a
    /// required check") and the list of their names (at most `most`) in the format's own way.
    pub fn sentence(
        &self,
        f: &Fleet,
        most: usize,
        failing: impl Fn(&str, &str) -> String,
    ) -> String {
        let nodes = match self.failing.len() {
            0 => "no node fails a required check".to_string(),
            1 => failing(
                "1 node fails a required check",
                &f.names(&self.failing, most),
            ),
            k => failing(
                &format!("{k} nodes fail a required check"),
                &f.names(&self.failing, most),
            ),
        };
        format!(
            "{} nodes, {} checks: {nodes}; {} checks fail or warn somewhere, {} of them on a few odd nodes out",
            f.nodes.len(),
            f.checks.len(),
            self.troubled.len(),
            self.odd
        )
    }
}

impl Fleet {
    /// The check's place in `checks`.
    pub fn check(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    /// A check, added if it is new; its place.
    pub fn add_check(&mut self, check: Check) -> usize {
        if let Some(&at) = self.index.get(&check.id) {
            self.checks[at].required |= check.required;
            return at;
        }
        let at = self.checks.len();
        self.index.insert(check.id.clone(), at);
        self.checks.push(check);
        self.cells.push(Vec::new());
        at
    }

    /// Why the fleet cannot take `new_checks` more distinct checks and `new_cells` more
    /// cells without passing [`MAX_CHECKS`] or [`MAX_CELLS`], if it cannot.
    pub fn room(&self, new_checks: usize, new_cells: usize) -> Result<(), String> {
        if self.checks.len() + new_checks > MAX_CHECKS {
            return Err(format!(
                "more than {MAX_CHECKS} distinct check ids in the reports: a fleet shows at most {MAX_CHECKS}"
            ));
        }
        if self.held + new_cells > MAX_CELLS {
            return Err(format!(
                "more than {MAX_CELLS} results in the reports: a fleet shows at most {MAX_CELLS}"
            ));
        }
        Ok(())
    }

    /// Whether a node of `rows` fits: [`Fleet::room`] for its new check ids and its rows.
    pub fn room_for(&self, rows: &[Row]) -> Result<(), String> {
        let mut new = HashSet::new();
        for r in rows {
            if !self.index.contains_key(&r.id) {
                new.insert(r.id.as_str());
            }
        }
        self.room(new.len(), rows.len())
    }

    /// Set the cell of check `c` for node `n` (`None` removes it).
    pub fn set(&mut self, c: usize, n: usize, cell: Option<Cell>) {
        let Some(row) = self.cells.get_mut(c) else {
            return;
        };
        let n = n as u32;
        match (row.binary_search_by_key(&n, |(m, _)| *m), cell) {
            (Ok(at), Some(cell)) => row[at].1 = cell,
            (Ok(at), None) => {
                row.remove(at);
                self.held -= 1;
            }
            (Err(at), Some(cell)) => {
                row.insert(at, (n, cell));
                self.held += 1;
            }
            (Err(_), None) => {}
        }
    }

    /// The nodes that hold check `c`, in node order, with their cells.
    pub fn cells_of(&self, c: usize) -> impl Iterator<Item = (usize, Cell)> + '_ {
        self.cells
            .get(c)
            .into_iter()
            .flatten()
            .map(|&(n, cell)| (n as usize, cell))
    }

    /// A node and its rows; the caller names it (see [`name_nodes`]). Returns its place.
    pub fn add_node(&mut self, node: Node, rows: Vec<Row>) -> usize {
        let at = self.nodes.len();
        self.nodes.push(node);
        for r in rows {
            let cell = Cell {
                status: r.status,
                reason: r.reason,
                required: r.required,
            };
            let c = self.add_check(Check {
                id: r.id,
                group: r.group,
                title: r.title,
                required: r.required,
            });
            self.set(c, at, Some(cell));
        }
        at
    }

    /// The cell of check `c` for node `n`.
    pub fn cell(&self, c: usize, n: usize) -> Option<Cell> {
        let row = self.cells.get(c)?;
        let at = row.binary_search_by_key(&(n as u32), |(m, _)| *m).ok()?;
        Some(row[at].1)
    }

    /// How many nodes gave each status for check `c`.
    pub fn counts(&self, c: usize) -> Counts {
        let mut counts = Counts::default();
        for (_, cell) in self.cells_of(c) {
            counts.add(cell.status);
        }
        counts
    }

    /// How many checks gave each status on node `n`.
    pub fn node_counts(&self, n: usize) -> Counts {
        let mut counts = Counts::default();
        for c in 0..self.checks.len() {
            if let Some(cell) = self.cell(c, n) {
                counts.add(cell.status);
            }
        }
        counts
    }

    /// The odd nodes out of check `c`: where it passes on a strict majority of the nodes that
    /// tested it, the nodes where it fails or warns.
    pub fn odd_nodes(&self, c: usize) -> Vec<usize> {
        let counts = self.counts(c);
        if counts.pass * 2 <= counts.ran() || counts.fail + counts.warn == 0 {
            return Vec::new();
        }
        self.nodes_where(c, |s| matches!(s, Status::Fail | Status::Warn))
    }

    /// The nodes whose cell of check `c` has a status that `wanted` takes.
    pub fn nodes_where(&self, c: usize, wanted: impl Fn(Status) -> bool) -> Vec<usize> {
        self.cells_of(c)
            .filter(|(_, cell)| wanted(cell.status))
            .map(|(n, _)| n)
            .collect()
    }

    /// Whether check `c` fails or warns on any node.
    pub fn troubled(&self, c: usize) -> bool {
        let counts = self.counts(c);
        counts.fail + counts.warn > 0
    }

    /// What the first lines of every merge report say.
    pub fn overview(&self) -> Overview {
        Overview {
            failing: self.failing_nodes(),
            troubled: (0..self.checks.len())
                .filter(|&c| self.troubled(c))
                .collect(),
            odd: (0..self.checks.len())
                .filter(|&c| !self.odd_nodes(c).is_empty())
                .count(),
        }
    }

    /// Nodes that fail a check their own report calls required.
    pub fn failing_nodes(&self) -> Vec<usize> {
        let mut failing: Vec<usize> = (0..self.checks.len())
            .flat_map(|c| self.cells_of(c))
            .filter(|(_, cell)| cell.status == Status::Fail && cell.required)
            .map(|(n, _)| n)
            .collect();
        failing.sort_unstable();
        failing.dedup();
        failing
    }

    /// The nodes where check `c` fails or warns, by status (failures first) and reason, each
    /// group in the order the reasons were first seen.
    pub fn problems(&self, c: usize) -> Vec<(Status, Reason, Vec<usize>)> {
        let mut groups: Vec<(Status, Reason, Vec<usize>)> = Vec::new();
        for (n, cell) in self.cells_of(c) {
            if !matches!(cell.status, Status::Fail | Status::Warn) {
                continue;
            }
            match groups
                .iter_mut()
                .find(|(s, r, _)| (*s, *r) == (cell.status, cell.reason))
            {
                Some((_, _, nodes)) => nodes.push(n),
                None => groups.push((cell.status, cell.reason, vec![n])),
            }
        }
        groups.sort_by_key(|(s, _, _)| *s);
        groups
    }

    /// Names of `nodes`, at most `most` of them, then how many more.
    pub fn names(&self, nodes: &[usize], most: usize) -> String {
        let mut out: Vec<&str> = nodes
            .iter()
            .take(most)
            .filter_map(|&n| self.nodes.get(n))
            .map(|n| n.name.as_str())
            .collect();
        let more = nodes.len().saturating_sub(most);
        let more = format!("and {more} more");
        if nodes.len() > most {
            out.push(&more);
        }
        out.join(", ")
    }

    /// Each node's place by its name.
    pub fn by_name(&self) -> HashMap<&str, usize> {
        self.nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.as_str(), i))
            .collect()
    }
}

/// The names a node may go by, in the order they are tried.
fn candidates(node: &Node) -> [(NameFrom, Option<String>); 3] {
    let stem = Path::new(&node.file)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned());
    let given = |v: &Option<String>| v.clone().filter(|v| !v.trim().is_empty());
    [
        (NameFrom::Hostname, given(&node.hostname)),
        (NameFrom::VmName, given(&node.vm_name)),
        (NameFrom::File, given(&stem)),
    ]
}

/// Name every node: its hostname, else its VM name, else its file's name, taking the first
/// that no other input shares; a node with none of them unique gets `node-N` (its place).
/// With `redact`, every node is `node-N`: no name of the customer's is kept.
pub fn name_nodes(nodes: &mut [Node], redact: bool) {
    if redact {
        for (i, node) in nodes.iter_mut().enumerate() {
            node.name = format!("node-{}", i + 1);
            node.name_from = Some(NameFrom::Position);
        }
        return;
    }
    let all: Vec<_> = nodes.iter().map(candidates).collect();
    // How often each value of each source occurs among the inputs.
    let mut seen: HashMap<(NameFrom, &str), usize> = HashMap::new();
    for cands in &all {
        for (from, value) in cands {
            if let Some(v) = value {
                *seen.entry((*from, v.as_str())).or_default() += 1;
            }
        }
    }
    let mut taken: HashSet<String> = HashSet::new();
    let mut names = Vec::with_capacity(nodes.len());
    for (i, cands) in all.iter().enumerate() {
        let chosen = cands.iter().find_map(|(from, value)| {
            let v = value.as_deref()?;
            (seen.get(&(*from, v)) == Some(&1) && !taken.contains(v))
                .then(|| (v.to_string(), *from))
        });
        let (name, from) = chosen.unwrap_or_else(|| {
            let mut name = format!("node-{}", i + 1);
            let mut k = 1;
            while taken.contains(&name) {
                k += 1;
                name = format!("node-{}-{k}", i + 1);
            }
            (name, NameFrom::Position)
        });
        taken.insert(name.clone());
        names.push((name, from));
    }
    for (node, (name, from)) in nodes.iter_mut().zip(names) {
        node.name = name;
        node.name_from = Some(from);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn row(id: &str, status: Status, reason: Reason) -> Row {
        Row {
            id: id.into(),
            group: "g".into(),
            title: format!("title of {id}"),
            required: true,
            status,
            reason,
        }
    }

    pub fn node(hostname: &str, vm: Option<&str>, file: &str) -> Node {
        Node {
            hostname: Some(hostname.into()),
            vm_name: vm.map(Into::into),
            file: file.into(),
            region: Some("westeurope".into()),
            ..Node::default()
        }
    }

    /// Five nodes: `graph-443` fails on the fourth, `tundra` warns on all but the fifth.
    pub fn fleet() -> Fleet {
        let mut f = Fleet::default();
        for i in 1..=5 {
            let graph = match i {
                4 => (Status::Fail, Reason::TcpRefused),
                _ => (Status::Pass, Reason::Ok),
            };
            let tundra = match i {
                5 => (Status::Fail, Reason::UdpUnreachable),
                _ => (Status::Warn, Reason::UdpNoReply),
            };
            let mut rows = vec![
                row("graph-443", graph.0, graph.1),
                row("tundra-udp-5831", tundra.0, tundra.1),
            ];
            if i != 2 {
                rows.push(row("pypi-443", Status::Skip, Reason::NotApplicable));
            }
            f.add_node(node(&format!("n{i}"), None, &format!("r/n{i}.json")), rows);
        }
        name_nodes(&mut f.nodes, false);
        f
    }

    #[test]
    fn checks_keep_their_first_seen_order_and_absent_cells_stay_absent() {
        let f = fleet();
        let ids: Vec<_> = f.checks.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["graph-443", "tundra-udp-5831", "pypi-443"]);
        assert_eq!(f.cell(2, 1), None);
        assert_eq!(
            f.counts(0),
            Counts {
                pass: 4,
                warn: 0,
                fail: 1,
                skip: 0
            }
        );
        assert_eq!(f.counts(2).skip, 4);
        assert_eq!(f.failing_nodes(), [3, 4]);
    }

    /// Only the cells that exist are held, set in any order; the bounds count what is held.
    #[test]
    fn cells_are_held_by_node_and_bounded() {
        let mut f = fleet();
        assert_eq!(f.held, 14);
        let cell = f.cell(0, 0);
        f.set(0, 0, None);
        assert_eq!((f.cell(0, 0), f.held), (None, 13));
        f.set(0, 0, cell);
        assert_eq!(f, fleet());
        assert_eq!(f.nodes_where(0, |_| true), [0, 1, 2, 3, 4]);
        assert!(f.room(MAX_CHECKS - 3, MAX_CELLS - 14).is_ok());
        assert!(f.room(MAX_CHECKS - 2, 0).is_err());
        assert!(f.room(0, MAX_CELLS - 13).is_err());
        let rows: Vec<Row> = (0..=MAX_CHECKS)
            .map(|i| row(&format!("c{i}"), Status::Pass, Reason::Ok))
            .collect();
        let refused = f.room_for(&rows).unwrap_err();
        assert!(
            refused.contains("more than 10000 distinct check ids"),
            "{refused}"
        );
    }

    #[test]
    fn odd_nodes_are_the_few_where_most_pass() {
        let f = fleet();
        assert_eq!(f.odd_nodes(0), [3], "graph fails on one node of five");
        assert!(
            f.odd_nodes(1).is_empty(),
            "tundra passes nowhere: no majority"
        );
        assert!(f.odd_nodes(2).is_empty(), "skipped everywhere");
        // Half is not a majority.
        let mut even = Fleet::default();
        even.add_node(
            node("a", None, "a"),
            vec![row("x", Status::Pass, Reason::Ok)],
        );
        even.add_node(
            node("b", None, "b"),
            vec![row("x", Status::Fail, Reason::TcpTimeout)],
        );
        assert!(even.odd_nodes(0).is_empty());
        // Skips do not count among the nodes that ran it.
        even.add_node(
            node("c", None, "c"),
            vec![row("x", Status::Skip, Reason::NotApplicable)],
        );
        even.add_node(
            node("d", None, "d"),
            vec![row("x", Status::Pass, Reason::Ok)],
        );
        assert_eq!(even.odd_nodes(0), [1]);
    }

    #[test]
    fn duplicate_hostnames_fall_back_to_the_vm_name_then_the_file() {
        let mut nodes = vec![
            node("ci", Some("vm-1"), "reports/a.json"),
            node("ci", Some("vm-2"), "reports/b.json"),
            node("ci", None, "reports/c.json"),
            node("solo", Some("vm-1"), "reports/d.json"),
            node("", None, "other/a.json"),
            node("ci", Some("vm-9"), "x/a.json"),
        ];
        name_nodes(&mut nodes, false);
        let got: Vec<_> = nodes
            .iter()
            .map(|n| (n.name.as_str(), n.name_from.unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                ("node-1", NameFrom::Position),
                ("vm-2", NameFrom::VmName),
                ("c", NameFrom::File),
                ("solo", NameFrom::Hostname),
                ("node-5", NameFrom::Position),
                ("vm-9", NameFrom::VmName),
            ],
            "the first node shares its hostname, VM name and file name with others"
        );
        // A node whose hostname another node's file already claimed.
        let mut nodes = vec![node("", None, "web.json"), node("web", None, "x.json")];
        name_nodes(&mut nodes, false);
        assert_eq!(nodes[0].name, "web");
        assert_eq!(nodes[1].name, "x");
        // A place's name that a hostname already took.
        let mut nodes = vec![
            node("node-2", None, "d1/r.json"),
            node("", None, "d2/r.json"),
        ];
        name_nodes(&mut nodes, false);
        assert_eq!(nodes[0].name, "node-2");
        assert_eq!(nodes[1].name, "node-2-2");
        let mut nodes = vec![node("a", None, "a.json"), node("b", None, "b.json")];
        name_nodes(&mut nodes, true);
        assert_eq!(nodes[0].name, "node-1");
        assert_eq!(nodes[1].name_from, Some(NameFrom::Position));
    }
}
