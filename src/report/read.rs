//! Reading a report file handed back to amlprobe: `fix`, `merge` and `diff` take files anyone
//! could hand over. First what the file is (each command refuses another tool's file, another
//! schema, or the wrong kind of report, in the same words); then a node report's fields, read
//! once into [`Raw`], from which each command keeps what it needs.

use serde::Deserialize;
use serde_json::Value;

use crate::reason::{Reason, Status};

/// What kind of report a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKind {
    /// One node's, from `check` (or `watch`).
    Node,
    /// One node's, from `mesh`: a node report with a `mesh` object.
    Mesh,
    /// Many nodes', from `merge`.
    Fleet,
}

/// Only the fields that say what a file is.
#[derive(Deserialize)]
struct Head {
    #[serde(default)]
    schema_version: Value,
    tool: Option<HeadTool>,
    #[serde(default)]
    kind: Value,
    #[serde(default)]
    mesh: Value,
}

#[derive(Deserialize)]
struct HeadTool {
    #[serde(default)]
    name: Value,
}

/// An error of serde's, or a value from the file, cut short: it may quote the file.
pub fn short(e: impl std::fmt::Display) -> String {
    let e = e.to_string();
    match e.char_indices().nth(160) {
        Some((at, _)) => format!("{}…", &e[..at]),
        None => e,
    }
}

/// A check id or group as reports hold them: the catalog's (`tundra-udp-5831`), and `mesh`'s
/// (`mesh:10.0.0.5:29500`, an IPv6 peer's colons too).
pub fn is_check_id(s: &str) -> bool {
    (1..=200).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// What `is_check_id` refuses, for messages.
pub const CHECK_ID_CHARS: &str = "letters, digits, '-', '_', '.', ':'";

/// What the file is, or why it is not a report this amlprobe reads.
pub fn kind(bytes: &[u8]) -> Result<ReportKind, String> {
    let head: Head = serde_json::from_slice(bytes)
        .map_err(|e| format!("not a report amlprobe wrote: {}", short(e)))?;
    let name = head.tool.map(|t| t.name).unwrap_or(Value::Null);
    if name != "amlprobe" {
        return Err("not a report amlprobe wrote: tool.name is not \"amlprobe\"".into());
    }
    if head.schema_version != serde_json::json!(1) {
        return Err(format!(
            "schema_version {} is not one this amlprobe reads (1)",
            short(&head.schema_version)
        ));
    }
    match &head.kind {
        Value::Null if head.mesh.is_object() => Ok(ReportKind::Mesh),
        Value::Null => Ok(ReportKind::Node),
        Value::String(k) if k == "fleet" => Ok(ReportKind::Fleet),
        Value::String(k) if k == "diff" => {
            Err("a diff report: give node reports (check --report) or fleet reports (merge)".into())
        }
        k => Err(format!(
            "kind {} is not a report this amlprobe reads (a node report has none; \"fleet\")",
            short(k)
        )),
    }
}

/// A node report as `check` writes it, read back: every field that `fix`, `merge` or `diff`
/// reads, each optional. Each command says which fields it needs and what values it takes,
/// naming a field by its path (`results[0].target.host`); a field of the wrong JSON type
/// refuses the file for every command.
#[derive(Deserialize)]
pub struct Raw {
    pub started_at: Option<String>,
    pub node: Option<RawNode>,
    pub context: Option<RawContext>,
    pub results: Option<Vec<RawResult>>,
}

#[derive(Deserialize)]
pub struct RawNode {
    pub hostname: Option<String>,
    pub proxy: Option<String>,
}

#[derive(Deserialize)]
pub struct RawContext {
    pub cloud: Option<String>,
    pub mode: Option<String>,
    pub region: Option<String>,
    pub compute_name: Option<String>,
    pub vm_name: Option<String>,
    pub workspace_id: Option<String>,
    pub storage_account: Option<String>,
    pub workspace_name: Option<String>,
    pub resource_group: Option<String>,
}

#[derive(Deserialize)]
pub struct RawResult {
    pub id: Option<String>,
    pub group: Option<String>,
    pub title: Option<String>,
    pub required: Option<bool>,
    pub kind: Option<String>,
    pub target: Option<RawTarget>,
    pub stands_for: Option<String>,
    pub stand_in: Option<bool>,
    pub service_tag: Option<String>,
    pub status: Option<String>,
    pub reason: Option<String>,
    pub remediation: Option<String>,
    pub doc: Option<String>,
}

#[derive(Deserialize)]
pub struct RawTarget {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub transport: Option<String>,
}

/// The node report in `bytes` (one that [`kind`] calls a node or mesh report), or why not.
pub fn node(bytes: &[u8]) -> Result<Raw, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("not a report amlprobe wrote: {}", short(e)))
}

/// A result's status and reason code, both known to this amlprobe.
pub fn state(status: Option<String>, reason: Option<String>) -> Result<(Status, Reason), String> {
    let status = status.ok_or("status is missing")?;
    let status = Status::from_wire(&status).ok_or("status is not pass, warn, fail or skip")?;
    let reason = reason.ok_or("reason is missing")?;
    let reason =
        Reason::from_code(&reason).ok_or("reason is not a reason code this amlprobe knows")?;
    Ok((status, reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_says_what_report_it_is() {
        let node = r#"{"schema_version": 1, "tool": {"name": "amlprobe"}, "results": []}"#;
        assert_eq!(kind(node.as_bytes()), Ok(ReportKind::Node));
        let mesh = node.replace("\"results\"", "\"mesh\": {\"self\": \"a\"}, \"results\"");
        assert_eq!(kind(mesh.as_bytes()), Ok(ReportKind::Mesh));
        let fleet = node.replace("\"results\"", "\"kind\": \"fleet\", \"results\"");
        assert_eq!(kind(fleet.as_bytes()), Ok(ReportKind::Fleet));
        for (text, want) in [
            ("{}", "tool.name"),
            ("[1,2]", "not a report amlprobe wrote"),
            (
                r#"{"schema_version": 2, "tool": {"name": "amlprobe"}}"#,
                "schema_version 2",
            ),
            (
                r#"{"schema_version": 1, "tool": {"name": "amlprobe"}, "kind": "diff"}"#,
                "a diff report",
            ),
            (
                r#"{"schema_version": 1, "tool": {"name": "amlprobe"}, "kind": 7}"#,
                "kind 7",
            ),
        ] {
            let e = kind(text.as_bytes()).unwrap_err();
            assert!(e.contains(want), "{text}: {e}");
            assert!(!e.contains('\n'));
        }
    }
}
