//! What a report file handed back to amlprobe is, before any command reads it whole: `fix`,
//! `merge` and `diff` take files anyone could hand over, and each refuses another tool's file,
//! another schema, or the wrong kind of report, in the same words.

use serde::Deserialize;
use serde_json::Value;

/// What kind of report a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
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
    #[serde(default)]
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
pub fn kind(bytes: &[u8]) -> Result<Kind, String> {
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
        Value::Null if head.mesh.is_object() => Ok(Kind::Mesh),
        Value::Null => Ok(Kind::Node),
        Value::String(k) if k == "fleet" => Ok(Kind::Fleet),
        Value::String(k) if k == "diff" => {
            Err("a diff report: give node reports (check --report) or fleet reports (merge)".into())
        }
        k => Err(format!(
            "kind {} is not a report this amlprobe reads (a node report has none; \"fleet\")",
            short(k)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_says_what_report_it_is() {
        let node = r#"{"schema_version": 1, "tool": {"name": "amlprobe"}, "results": []}"#;
        assert_eq!(kind(node.as_bytes()), Ok(Kind::Node));
        let mesh = node.replace("\"results\"", "\"mesh\": {\"self\": \"a\"}, \"results\"");
        assert_eq!(kind(mesh.as_bytes()), Ok(Kind::Mesh));
        let fleet = node.replace("\"results\"", "\"kind\": \"fleet\", \"results\"");
        assert_eq!(kind(fleet.as_bytes()), Ok(Kind::Fleet));
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
