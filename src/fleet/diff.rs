//! What changed between two reports: of one node (two node reports), or of a fleet (two fleet
//! reports, compared node by node and check by check).

use std::collections::HashSet;

use serde::Serialize;

use super::model::{Cell, Counts, Fleet};
use crate::reason::{Reason, Status};

wire_enum! {
    /// What was compared.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Of {
        Node = "node",
        Fleet = "fleet",
    }
}

/// A check's status and reason on one side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct State {
    pub status: Status,
    pub reason: Reason,
}

impl From<Cell> for State {
    fn from(c: Cell) -> State {
        State {
            status: c.status,
            reason: c.reason,
        }
    }
}

/// One difference: a check (on a node, for fleets), or a whole node that one side lacks
/// (`id` is then null, and `checks` counts the node's results on the side that has it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiffRow {
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    pub before: Option<State>,
    pub after: Option<State>,
    /// Whether this difference makes things worse (and the exit code 1).
    pub worse: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checks: Option<Counts>,
}

/// Where a difference belongs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Failed or warned, now passes.
    Fixed,
    /// Passed or was skipped, now fails or warns.
    Broken,
    /// Another reason or status, neither of the above.
    Changed,
    /// Only after.
    Added,
    /// Only before.
    Removed,
}

/// How bad a status is: a skip is no worse than a pass.
fn rank(s: Status) -> u8 {
    match s {
        Status::Fail => 2,
        Status::Warn => 1,
        Status::Skip | Status::Pass => 0,
    }
}

/// Where a check's change belongs, and whether it made things worse; `None` when nothing
/// changed.
pub fn classify(before: Option<Cell>, after: Option<Cell>) -> Option<(Class, bool)> {
    match (before, after) {
        (None, None) => None,
        // A new check that fails is a new failure.
        (None, Some(a)) => Some((Class::Added, a.status == Status::Fail)),
        // A required check that is gone tests nothing any more.
        (Some(b), None) => Some((Class::Removed, b.required)),
        (Some(b), Some(a)) => {
            let bad = |s: Status| matches!(s, Status::Fail | Status::Warn);
            if bad(b.status) && a.status == Status::Pass {
                Some((Class::Fixed, false))
            } else if !bad(b.status) && bad(a.status) {
                Some((Class::Broken, true))
            } else if (b.status, b.reason) != (a.status, a.reason) {
                Some((Class::Changed, rank(a.status) > rank(b.status)))
            } else {
                None
            }
        }
    }
}

/// One of the two reports compared.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Side {
    pub file: String,
    pub nodes: usize,
    /// Of a node report: the node's hostname and when the run started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
}

impl Side {
    /// The report `file` that holds `fleet`.
    pub fn of(fleet: &Fleet, of: Of, file: &str) -> Side {
        let node = fleet.nodes.first().filter(|_| of == Of::Node);
        Side {
            file: file.to_string(),
            nodes: fleet.nodes.len(),
            hostname: node.and_then(|n| n.hostname.clone()),
            started_at: node.and_then(|n| n.started_at.clone()),
        }
    }
}

/// Every difference, in five lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diff {
    pub of: Of,
    pub before: Side,
    pub after: Side,
    pub fixed: Vec<DiffRow>,
    pub broken: Vec<DiffRow>,
    pub changed: Vec<DiffRow>,
    pub added: Vec<DiffRow>,
    pub removed: Vec<DiffRow>,
}

impl Diff {
    /// Whether anything got worse.
    pub fn worse(&self) -> bool {
        self.lists().iter().any(|(_, l)| l.iter().any(|e| e.worse))
    }

    /// The lists, each with its name, worst first.
    pub fn lists(&self) -> [(&'static str, &[DiffRow]); 5] {
        [
            ("broken", &self.broken),
            ("changed", &self.changed),
            ("removed", &self.removed),
            ("fixed", &self.fixed),
            ("added", &self.added),
        ]
    }

    /// `N broken, N fixed, N changed, N added, N removed: ` and `worse` (as the format marks
    /// it) or `nothing got worse`.
    pub fn counts(&self, worse: &str) -> String {
        format!(
            "{} broken, {} fixed, {} changed, {} added, {} removed: {}",
            self.broken.len(),
            self.fixed.len(),
            self.changed.len(),
            self.added.len(),
            self.removed.len(),
            match self.worse() {
                true => worse,
                false => "nothing got worse",
            }
        )
    }

    pub fn is_empty(&self) -> bool {
        self.lists().iter().all(|(_, l)| l.is_empty())
    }

    fn push(&mut self, class: Class, entry: DiffRow) {
        match class {
            Class::Fixed => self.fixed.push(entry),
            Class::Broken => self.broken.push(entry),
            Class::Changed => self.changed.push(entry),
            Class::Added => self.added.push(entry),
            Class::Removed => self.removed.push(entry),
        }
    }
}

/// The differences from `before` to `after`. Of one node, the two fleets hold one node each,
/// compared whatever their names; of fleets, nodes are matched by name.
pub fn diff(before: &Fleet, after: &Fleet, of: Of, files: [&str; 2]) -> Diff {
    let mut d = Diff {
        of,
        before: Side::of(before, of, files[0]),
        after: Side::of(after, of, files[1]),
        fixed: Vec::new(),
        broken: Vec::new(),
        changed: Vec::new(),
        added: Vec::new(),
        removed: Vec::new(),
    };
    let after_names = after.by_name();
    let pairs: Vec<(usize, usize)> = match of {
        Of::Node => match (before.nodes.is_empty(), after.nodes.is_empty()) {
            (false, false) => vec![(0, 0)],
            _ => Vec::new(),
        },
        Of::Fleet => before
            .nodes
            .iter()
            .enumerate()
            .filter_map(|(b, n)| after_names.get(n.name.as_str()).map(|&a| (b, a)))
            .collect(),
    };
    if of == Of::Fleet {
        whole_nodes(&mut d, before, after);
    }
    // Checks in the order before shows them, then the ones only after has.
    let mut ids: Vec<&str> = before.checks.iter().map(|c| c.id.as_str()).collect();
    let known: HashSet<&str> = ids.iter().copied().collect();
    ids.extend(
        after
            .checks
            .iter()
            .map(|c| c.id.as_str())
            .filter(|id| !known.contains(id)),
    );
    // Each node's pair, on either side (names are unique on a side, so a node is in one pair at
    // most): a check is compared only on the pairs where a side holds it, not on every pair,
    // as a fleet holds only the cells that exist.
    let mut pair_of_before = vec![None; before.nodes.len()];
    let mut pair_of_after = vec![None; after.nodes.len()];
    for (p, &(nb, na)) in pairs.iter().enumerate() {
        pair_of_before[nb] = Some(p);
        pair_of_after[na] = Some(p);
    }
    let mut held = Vec::new();
    for id in ids {
        let (cb, ca) = (before.check(id), after.check(id));
        held.clear();
        if let Some(c) = cb {
            held.extend(before.cells_of(c).filter_map(|(n, _)| pair_of_before[n]));
        }
        if let Some(c) = ca {
            held.extend(after.cells_of(c).filter_map(|(n, _)| pair_of_after[n]));
        }
        held.sort_unstable();
        held.dedup();
        for &(nb, na) in held.iter().map(|&p| &pairs[p]) {
            let b = cb.and_then(|c| before.cell(c, nb));
            let a = ca.and_then(|c| after.cell(c, na));
            if let Some((class, worse)) = classify(b, a) {
                let node = match of {
                    Of::Node => None,
                    Of::Fleet => Some(before.nodes[nb].name.clone()),
                };
                let entry = DiffRow {
                    id: Some(id.to_string()),
                    node,
                    before: b.map(State::from),
                    after: a.map(State::from),
                    worse,
                    checks: None,
                };
                d.push(class, entry);
            }
        }
    }
    d
}

/// Nodes only one side has: removed (before only), then added (after only).
fn whole_nodes(d: &mut Diff, before: &Fleet, after: &Fleet) {
    for (side, other, class) in [
        (before, after, Class::Removed),
        (after, before, Class::Added),
    ] {
        let others = other.by_name();
        for (n, node) in side.nodes.iter().enumerate() {
            if !others.contains_key(node.name.as_str()) {
                let entry = DiffRow {
                    id: None,
                    node: Some(node.name.clone()),
                    before: None,
                    after: None,
                    worse: false,
                    checks: Some(side.node_counts(n)),
                };
                d.push(class, entry);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::model::tests::{node, row};
    use crate::fleet::model::{name_nodes, Row};

    fn cell(status: Status, reason: Reason) -> Option<Cell> {
        Some(Cell {
            status,
            reason,
            required: true,
        })
    }

    #[test]
    fn changes_are_classified() {
        use Reason::*;
        use Status::*;
        let c = classify;
        assert_eq!(
            c(cell(Fail, TcpTimeout), cell(Pass, Ok)),
            Some((Class::Fixed, false))
        );
        assert_eq!(
            c(cell(Warn, UdpNoReply), cell(Pass, Ok)),
            Some((Class::Fixed, false))
        );
        assert_eq!(
            c(cell(Pass, Ok), cell(Fail, TcpTimeout)),
            Some((Class::Broken, true))
        );
        assert_eq!(
            c(cell(Skip, NotApplicable), cell(Warn, TcpTimeout)),
            Some((Class::Broken, true))
        );
        assert_eq!(
            c(cell(Fail, TcpTimeout), cell(Fail, TlsUntrusted)),
            Some((Class::Changed, false)),
            "another reason, same status"
        );
        assert_eq!(
            c(cell(Warn, UdpNoReply), cell(Fail, UdpUnreachable)),
            Some((Class::Changed, true))
        );
        assert_eq!(
            c(cell(Fail, TcpTimeout), cell(Warn, TcpTimeout)),
            Some((Class::Changed, false))
        );
        assert_eq!(
            c(cell(Fail, TcpTimeout), cell(Skip, NotApplicable)),
            Some((Class::Changed, false))
        );
        assert_eq!(
            c(cell(Pass, Ok), cell(Pass, WsAuthRequired)),
            Some((Class::Changed, false))
        );
        assert_eq!(c(cell(Pass, Ok), cell(Pass, Ok)), None);
        assert_eq!(c(None, cell(Fail, TcpTimeout)), Some((Class::Added, true)));
        assert_eq!(c(None, cell(Pass, Ok)), Some((Class::Added, false)));
        assert_eq!(c(cell(Pass, Ok), None), Some((Class::Removed, true)));
        let optional = Some(Cell {
            status: Pass,
            reason: Ok,
            required: false,
        });
        assert_eq!(c(optional, None), Some((Class::Removed, false)));
    }

    fn one(rows: Vec<Row>, hostname: &str) -> Fleet {
        let mut f = Fleet::default();
        f.add_node(node(hostname, None, "x.json"), rows);
        name_nodes(&mut f.nodes, false);
        f
    }

    #[test]
    fn two_node_reports_compare_whatever_their_names() {
        let before = one(
            vec![
                row("a", Status::Pass, Reason::Ok),
                row("b", Status::Fail, Reason::TcpTimeout),
                row("gone", Status::Pass, Reason::Ok),
            ],
            "one",
        );
        let after = one(
            vec![
                row("new", Status::Pass, Reason::Ok),
                row("b", Status::Fail, Reason::TlsUntrusted),
                row("a", Status::Pass, Reason::Ok),
            ],
            "two",
        );
        let d = diff(&before, &after, Of::Node, ["b.json", "a.json"]);
        assert_eq!(d.changed.len(), 1);
        assert_eq!(d.changed[0].id.as_deref(), Some("b"));
        assert_eq!(d.changed[0].node, None);
        assert_eq!(d.added[0].id.as_deref(), Some("new"));
        assert_eq!(d.removed[0].id.as_deref(), Some("gone"));
        assert!(d.worse(), "a required check was removed");
        assert!(diff(&before, &before, Of::Node, ["b.json", "b.json"]).is_empty());
    }

    #[test]
    fn fleets_compare_node_by_node_and_list_whole_nodes() {
        let mut before = crate::fleet::model::tests::fleet();
        let mut after = before.clone();
        // n4's graph is fixed, n1's breaks; n5 leaves and n6 joins.
        after.set(0, 3, cell(Status::Pass, Reason::Ok));
        after.set(0, 0, cell(Status::Fail, Reason::TlsUntrusted));
        after.nodes[4].name = "n6".into();
        before.nodes[4].vm_name = Some("keep".into());
        let d = diff(&before, &after, Of::Fleet, ["b.json", "a.json"]);
        assert_eq!(d.fixed.len(), 1);
        assert_eq!(d.fixed[0].node.as_deref(), Some("n4"));
        assert_eq!(d.broken.len(), 1);
        assert_eq!(d.broken[0].node.as_deref(), Some("n1"));
        assert_eq!(d.removed.len(), 1);
        assert_eq!(d.removed[0].node.as_deref(), Some("n5"));
        assert_eq!(d.removed[0].id, None);
        assert_eq!(d.removed[0].checks.unwrap().fail, 1);
        assert_eq!(d.added[0].node.as_deref(), Some("n6"));
        assert!(d.worse());
        let json = serde_json::to_value(&d.broken[0]).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"id": "graph-443", "node": "n1",
                "before": {"status": "pass", "reason": "ok"},
                "after": {"status": "fail", "reason": "tls_untrusted"}, "worse": true})
        );
    }
}
