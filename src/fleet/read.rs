//! Reading reports back for `merge` and `diff`: node reports that `check` wrote, and fleet
//! reports that `merge` wrote. Files anyone could hand over, so each is refused whole, with one
//! line naming the field, unless every field kept has the shape amlprobe gives it. Only what a
//! fleet shows is kept: a node's names, and each check's status and reason.

use std::collections::{HashMap, HashSet};

use serde::de::{Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::Deserialize;

use super::model::{Cell, Check, Fleet, NameFrom, Node, Row, MAX_CHECKS};
use crate::context::Context;
use crate::report::read::{self, is_check_id, kind, short, RawResult, ReportKind, CHECK_ID_CHARS};
use crate::report::redact::Redactor;

/// The longest name or text a report may give a field that is kept.
const TEXT_LIMIT: usize = 255;

/// A node report, reduced to what a fleet keeps, and the names `--redact` must hide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeReport {
    pub node: Node,
    pub rows: Vec<Row>,
    secrets: Secrets,
}

/// The names of a node's report that only redaction needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Secrets {
    workspace_id: Option<String>,
    storage_account: Option<String>,
    workspace_name: Option<String>,
    resource_group: Option<String>,
    proxy: Option<String>,
}

impl NodeReport {
    /// The redactor `check --redact` would have used on this node.
    pub fn redactor(&self) -> Redactor {
        redactor(&self.node, &self.secrets)
    }
}

/// What a fleet report's node names may be redacted with: its own names.
pub fn redactor_of(node: &Node) -> Redactor {
    redactor(node, &Secrets::default())
}

/// The redactor `check --redact` builds, from a node's names and what else its report named.
fn redactor(node: &Node, s: &Secrets) -> Redactor {
    let context = Context {
        workspace_id: s.workspace_id.clone(),
        storage_account: s.storage_account.clone(),
        compute_name: node.compute_name.clone(),
        workspace_name: s.workspace_name.clone(),
        resource_group: s.resource_group.clone(),
        vm_name: node.vm_name.clone(),
        ..Context::default()
    };
    let report_node = crate::report::Node {
        hostname: node.hostname.clone().unwrap_or_default(),
        resolvers: Vec::new(),
        proxy: s.proxy.clone(),
    };
    Redactor::new(&context, &report_node)
}

/// A node report in `bytes` (file `file`, as named), or why it is not one.
pub fn node(bytes: &[u8], file: &str) -> Result<NodeReport, String> {
    match kind(bytes)? {
        ReportKind::Node | ReportKind::Mesh => {}
        ReportKind::Fleet => return Err("a fleet report, where a node report was expected".into()),
    }
    if results_in(bytes) > MAX_CHECKS {
        return Err(format!(
            "results holds more than {MAX_CHECKS} distinct check ids: a fleet shows at most {MAX_CHECKS}"
        ));
    }
    let raw = read::node(bytes)?;
    let of = raw.node.ok_or("node is missing")?;
    let c = raw.context.ok_or("context is missing")?;
    let results = raw.results.ok_or("results is missing")?;
    let region = match c.region {
        Some(r) => Some(
            crate::context::parse_region(&r)
                .map_err(|_| "context.region is not an Azure region name".to_string())?,
        ),
        None => None,
    };
    let node = Node {
        name: String::new(),
        name_from: None,
        region,
        compute_name: text("context.compute_name", c.compute_name)?,
        vm_name: text("context.vm_name", c.vm_name)?,
        hostname: text("node.hostname", of.hostname)?,
        started_at: text("started_at", raw.started_at)?,
        file: file.to_string(),
    };
    let secrets = Secrets {
        workspace_id: text("context.workspace_id", c.workspace_id)?,
        storage_account: text("context.storage_account", c.storage_account)?,
        workspace_name: text("context.workspace_name", c.workspace_name)?,
        resource_group: text("context.resource_group", c.resource_group)?,
        proxy: text("node.proxy", of.proxy)?,
    };
    let mut ids = HashSet::new();
    let mut rows = Vec::with_capacity(results.len());
    for (i, r) in results.into_iter().enumerate() {
        let row = row(r).map_err(|e| format!("results[{i}].{e}"))?;
        if !ids.insert(row.id.clone()) {
            return Err(format!("results[{i}].id repeats an earlier result's"));
        }
        rows.push(row);
    }
    Ok(NodeReport {
        node,
        rows,
        secrets,
    })
}

/// How many results a node report holds, counted without keeping any: a report of more
/// than a fleet can show (its ids must differ) is refused before its results are read into
/// memory, hundreds of bytes each. 0 when `results` is not a list; the reader says why.
fn results_in(bytes: &[u8]) -> usize {
    struct Count;
    impl<'de> Visitor<'de> for Count {
        type Value = usize;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a list")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<usize, A::Error> {
            let mut n = 0;
            while seq.next_element::<IgnoredAny>()?.is_some() {
                n += 1;
            }
            Ok(n)
        }
    }
    fn count<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
        d.deserialize_seq(Count)
    }
    #[derive(Deserialize)]
    struct Results {
        #[serde(default, deserialize_with = "count")]
        results: usize,
    }
    serde_json::from_slice::<Results>(bytes).map_or(0, |r| r.results)
}

fn row(r: RawResult) -> Result<Row, String> {
    let id = r.id.ok_or("id is missing")?;
    if !is_check_id(&id) {
        return Err(format!("id is not a check id ({CHECK_ID_CHARS})"));
    }
    let group = r.group.ok_or("group is missing")?;
    if !is_check_id(&group) {
        return Err(format!("group is not a group name ({CHECK_ID_CHARS})"));
    }
    let title = text("title", r.title)?.ok_or("title is missing")?;
    let required = r.required.ok_or("required is missing")?;
    let (status, reason) = read::state(r.status, r.reason)?;
    Ok(Row {
        id,
        group,
        title,
        required,
        status,
        reason,
    })
}

/// A text field kept for display: at most [`TEXT_LIMIT`] characters.
fn text(field: &str, value: Option<String>) -> Result<Option<String>, String> {
    match value {
        Some(v) if v.chars().count() > TEXT_LIMIT => {
            Err(format!("{field} is longer than {TEXT_LIMIT} characters"))
        }
        v => Ok(v),
    }
}

#[derive(Deserialize)]
struct RawFleet {
    nodes: Option<Vec<RawFleetNode>>,
    checks: Option<Vec<RawFleetCheck>>,
}

#[derive(Deserialize)]
struct RawFleetNode {
    name: Option<String>,
    name_from: Option<String>,
    region: Option<String>,
    compute_name: Option<String>,
    vm_name: Option<String>,
    hostname: Option<String>,
    started_at: Option<String>,
    file: Option<String>,
}

#[derive(Deserialize)]
struct RawFleetCheck {
    id: Option<String>,
    group: Option<String>,
    title: Option<String>,
    required: Option<bool>,
    by_node: Option<std::collections::BTreeMap<String, RawCell>>,
}

#[derive(Deserialize)]
struct RawCell {
    status: Option<String>,
    reason: Option<String>,
}

/// A fleet report in `bytes`, or why it is not one.
pub fn fleet(bytes: &[u8]) -> Result<Fleet, String> {
    match kind(bytes)? {
        ReportKind::Fleet => {}
        ReportKind::Node | ReportKind::Mesh => {
            return Err("a node report, where a fleet report was expected".into())
        }
    }
    let raw: RawFleet = serde_json::from_slice(bytes)
        .map_err(|e| format!("not a fleet report amlprobe wrote: {}", short(e)))?;
    let mut fleet = Fleet::default();
    let mut names = HashMap::new();
    for (i, n) in raw.nodes.ok_or("nodes is missing")?.into_iter().enumerate() {
        let node = fleet_node(n).map_err(|e| format!("nodes[{i}].{e}"))?;
        if names.insert(node.name.clone(), i).is_some() {
            return Err(format!("nodes[{i}].name repeats an earlier node's"));
        }
        fleet.add_node(node, Vec::new());
    }
    for (i, c) in raw
        .checks
        .ok_or("checks is missing")?
        .into_iter()
        .enumerate()
    {
        fleet.room(1, c.by_node.as_ref().map_or(0, |b| b.len()))?;
        fleet_check(&mut fleet, &names, c).map_err(|e| format!("checks[{i}].{e}"))?;
    }
    Ok(fleet)
}

fn fleet_node(n: RawFleetNode) -> Result<Node, String> {
    let name = text("name", n.name)?
        .filter(|n| !n.is_empty())
        .ok_or("name is missing")?;
    let name_from = match n.name_from {
        Some(f) => Some(
            NameFrom::ALL
                .iter()
                .copied()
                .find(|x| x.as_str() == f)
                .ok_or("name_from is not hostname, vm_name, file or position")?,
        ),
        None => None,
    };
    let region = match n.region {
        Some(r) => Some(
            crate::context::parse_region(&r)
                .map_err(|_| "region is not an Azure region name".to_string())?,
        ),
        None => None,
    };
    Ok(Node {
        name,
        name_from,
        region,
        compute_name: text("compute_name", n.compute_name)?,
        vm_name: text("vm_name", n.vm_name)?,
        hostname: text("hostname", n.hostname)?,
        started_at: text("started_at", n.started_at)?,
        file: text("file", n.file)?.unwrap_or_default(),
    })
}

fn fleet_check(
    fleet: &mut Fleet,
    names: &HashMap<String, usize>,
    c: RawFleetCheck,
) -> Result<(), String> {
    let id = c.id.ok_or("id is missing")?;
    if !is_check_id(&id) {
        return Err(format!("id is not a check id ({CHECK_ID_CHARS})"));
    }
    if fleet.check(&id).is_some() {
        return Err("id repeats an earlier check's".into());
    }
    let group = c.group.ok_or("group is missing")?;
    if !is_check_id(&group) {
        return Err(format!("group is not a group name ({CHECK_ID_CHARS})"));
    }
    let title = text("title", c.title)?.ok_or("title is missing")?;
    let required = c.required.ok_or("required is missing")?;
    let at = fleet.add_check(Check {
        id,
        group,
        title,
        required,
    });
    for (name, cell) in c.by_node.ok_or("by_node is missing")? {
        let n = *names
            .get(&name)
            .ok_or("by_node names a node that is not in nodes")?;
        let (status, reason) =
            read::state(cell.status, cell.reason).map_err(|e| format!("by_node.{e}"))?;
        fleet.set(
            at,
            n,
            Some(Cell {
                status,
                reason,
                required,
            }),
        );
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::reason::{Reason, Status};

    /// A node report as `check` writes it, trimmed to what `merge` reads.
    pub fn report(hostname: &str, results: &str) -> String {
        format!(
            r#"{{"schema_version": 1, "tool": {{"name": "amlprobe", "version": "0.1.0"}},
            "started_at": "2026-11-26T07:00:00Z", "duration_ms": 9,
            "node": {{"hostname": {hostname}, "resolvers": [], "proxy": null}},
            "context": {{"cloud": "public", "region": "westeurope", "mode": "auto",
            "compute_name": "ci-one", "vm_name": "vm-7", "storage_account": "amlstore1",
            "workspace_id": "0f3a8d52-6c1e-4b7a-9d2e-5a4b3c2d1e0f"}},
            "results": [{results}]}}"#,
            hostname = serde_json::Value::from(hostname)
        )
    }

    pub const GRAPH: &str = r#"{"id": "graph-443", "group": "azureml", "title": "Microsoft Graph",
        "required": true, "kind": "tls", "status": "fail", "reason": "tcp_timeout",
        "message": "10.0.0.4:443: no answer", "phases": []}"#;

    /// A report of more results than a fleet holds is refused before its results are kept.
    #[test]
    fn results_are_counted_before_they_are_read() {
        assert_eq!(results_in(report("a", GRAPH).as_bytes()), 1);
        assert_eq!(results_in(br#"{"results": 5}"#), 0);
        assert_eq!(results_in(b"[1"), 0);
        let many = vec![GRAPH; MAX_CHECKS + 1].join(",");
        let refused = node(report("a", &many).as_bytes(), "r/a.json").unwrap_err();
        assert!(
            refused.starts_with("results holds more than 10000"),
            "{refused}"
        );
    }

    #[test]
    fn a_node_report_reads_into_its_names_and_rows() {
        let r = node(report("node-one", GRAPH).as_bytes(), "r/a.json").unwrap();
        assert_eq!(r.node.hostname.as_deref(), Some("node-one"));
        assert_eq!(r.node.vm_name.as_deref(), Some("vm-7"));
        assert_eq!(r.node.region.as_deref(), Some("westeurope"));
        assert_eq!(r.node.file, "r/a.json");
        assert_eq!(r.rows.len(), 1);
        assert_eq!(r.rows[0].status, Status::Fail);
        assert_eq!(r.rows[0].reason, Reason::TcpTimeout);
        assert_eq!(kind(report("x", GRAPH).as_bytes()), Ok(ReportKind::Node));
        let mut redactor = r.redactor();
        assert_eq!(
            redactor.scrub("node-one ci-one vm-7 amlstore1 10.0.0.4"),
            "<hostname> <compute-name> <vm-name> <storage-account> <address-1>"
        );
    }

    #[test]
    fn foreign_wrong_version_and_truncated_files_are_refused_with_one_line() {
        let good = report("ci-one", GRAPH);
        let cases = [
            ("{}".to_string(), "tool.name"),
            ("[1, 2]".to_string(), "not a report amlprobe wrote"),
            ("".to_string(), "not a report amlprobe wrote"),
            (
                r#"{"schema_version": 1, "tool": {"name": "other"}}"#.to_string(),
                "tool.name is not \"amlprobe\"",
            ),
            (
                good.replace("\"schema_version\": 1", "\"schema_version\": 2"),
                "schema_version 2 is not one this amlprobe reads (1)",
            ),
            (
                good.replace("\"schema_version\": 1", "\"schema_version\": \"1\""),
                "schema_version \"1\"",
            ),
            (
                good[..good.len() / 2].to_string(),
                "not a report amlprobe wrote",
            ),
            (
                good.replace("\"tcp_timeout\"", "\"nope\""),
                "results[0].reason",
            ),
            (good.replace("\"fail\"", "\"broken\""), "results[0].status"),
            (good.replace("\"graph-443\"", "\"a b\""), "results[0].id"),
            (
                good.replace("\"required\": true, ", ""),
                "results[0].required",
            ),
            (
                good.replace("\"westeurope\"", "\"West Europe\""),
                "context.region",
            ),
            (
                good.replace(
                    "\"ci-one\", \"resolvers\"",
                    &format!("\"{}\", \"resolvers\"", "x".repeat(300)),
                ),
                "node.hostname is longer than 255",
            ),
            (
                report("ci-one", &format!("{GRAPH}, {GRAPH}")),
                "results[1].id repeats",
            ),
            (
                good.replace("\"results\": [", "\"kind\": \"diff\", \"results\": ["),
                "a diff report",
            ),
            (
                good.replace("\"results\": [", "\"kind\": 7, \"results\": ["),
                "kind 7 is not",
            ),
            (
                good.replace("\"results\": [", "\"results\": \"x\", \"r\": ["),
                "not a report amlprobe wrote",
            ),
        ];
        for (text, want) in cases {
            let e = node(text.as_bytes(), "f").unwrap_err();
            assert!(e.contains(want), "{e:?} lacks {want:?}");
            assert!(!e.contains('\n'), "{e:?}");
        }
    }

    #[test]
    fn a_fleet_report_is_told_from_a_node_report() {
        let fleet_text = r#"{"schema_version": 1, "kind": "fleet", "tool": {"name": "amlprobe"},
            "nodes": [{"name": "a"}, {"name": "b", "name_from": "file"}],
            "checks": [{"id": "x", "group": "g", "title": "t", "required": true,
                        "by_node": {"a": {"status": "pass", "reason": "ok"},
                                    "b": {"status": "fail", "reason": "tcp_refused"}}}]}"#;
        assert_eq!(kind(fleet_text.as_bytes()), Ok(ReportKind::Fleet));
        let e = node(fleet_text.as_bytes(), "f").unwrap_err();
        assert!(e.contains("a fleet report"), "{e}");
        let f = fleet(fleet_text.as_bytes()).unwrap();
        assert_eq!(f.nodes.len(), 2);
        assert_eq!(f.nodes[1].name_from, Some(NameFrom::File));
        assert_eq!(f.cell(0, 1).unwrap().reason, Reason::TcpRefused);
        let e = fleet(report("a", GRAPH).as_bytes()).unwrap_err();
        assert!(e.contains("a node report"), "{e}");
        for (text, want) in [
            (
                fleet_text.replace("\"b\": {", "\"c\": {"),
                "checks[0].by_node names a node",
            ),
            (
                fleet_text.replace("{\"name\": \"b\",", "{\"name\": \"a\","),
                "nodes[1].name repeats",
            ),
            (
                fleet_text.replace("\"ok\"", "\"fine\""),
                "checks[0].by_node.reason",
            ),
            (
                fleet_text.replace("\"file\"", "\"guess\""),
                "nodes[1].name_from",
            ),
            (
                fleet_text.replace("\"nodes\"", "\"knots\""),
                "nodes is missing",
            ),
        ] {
            let e = fleet(text.as_bytes()).unwrap_err();
            assert!(e.contains(want), "{e:?} lacks {want:?}");
        }
    }
}
