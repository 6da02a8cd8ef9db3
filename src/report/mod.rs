//! One `Report` value; the renderers are views over it and decide nothing.

pub mod table;

use serde::Serialize;

use crate::context::Context;
use crate::probe::CheckResult;
use crate::verdict::Status;

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize)]
pub struct Tool {
    pub name: &'static str,
    pub version: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct Node {
    pub hostname: String,
    pub resolvers: Vec<String>,
    pub proxy: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Summary {
    pub total: usize,
    pub pass: usize,
    pub fail: usize,
    pub warn: usize,
    pub skip: usize,
}

impl Summary {
    pub fn of(results: &[CheckResult]) -> Summary {
        let mut s = Summary {
            total: results.len(),
            ..Summary::default()
        };
        for r in results {
            match r.status {
                Status::Pass => s.pass += 1,
                Status::Fail => s.fail += 1,
                Status::Warn => s.warn += 1,
                Status::Skip => s.skip += 1,
            }
        }
        s
    }

    /// `0` nothing failed; `1` something failed (or warned, when strict).
    pub fn exit_code(&self, strict: bool) -> i32 {
        if self.fail > 0 || (strict && self.warn > 0) {
            1
        } else {
            0
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub tool: Tool,
    pub started_at: String,
    pub duration_ms: u64,
    pub timeout_ms: u64,
    pub node: Node,
    pub context: Context,
    pub summary: Summary,
    pub results: Vec<CheckResult>,
}

impl Report {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}

/// One line of `-o jsonl` for a result, as it finishes.
pub fn jsonl_result(r: &CheckResult) -> String {
    let mut v = serde_json::to_value(r).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("type".into(), "result".into());
    }
    v.to_string()
}

/// The last line of `-o jsonl`.
pub fn jsonl_summary(report: &Report) -> String {
    serde_json::json!({
        "type": "summary",
        "schema_version": report.schema_version,
        "tool": report.tool,
        "started_at": report.started_at,
        "duration_ms": report.duration_ms,
        "node": report.node,
        "context": report.context,
        "summary": report.summary,
    })
    .to_string()
}
