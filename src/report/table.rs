//! The terminal table: grouped, the worst first, a "why" and a "fix" under each problem.

use std::fmt::Write;

use super::Report;
use crate::probe::CheckResult;
use crate::verdict::Status;

struct Paint(bool);

impl Paint {
    fn status(&self, s: Status) -> String {
        let (code, word) = match s {
            Status::Pass => ("32", "PASS"),
            Status::Fail => ("1;31", "FAIL"),
            Status::Warn => ("33", "WARN"),
            Status::Skip => ("2", "SKIP"),
        };
        self.wrap(code, word)
    }

    fn wrap(&self, code: &str, text: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

fn target(r: &CheckResult) -> String {
    match r.target.port {
        Some(p) => format!("{}:{p}/{}", r.target.host, r.target.transport),
        None => r.target.host.clone(),
    }
}

pub fn render(report: &Report, colour: bool) -> String {
    let paint = Paint(colour);
    let mut out = String::new();
    let c = &report.context;
    let _ = writeln!(
        out,
        "amlprobe {}  region {}  cloud {}  mode {}  timeout {}ms  resolvers {}",
        report.tool.version,
        c.region.as_deref().unwrap_or("?"),
        serde_json::to_value(c.cloud)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default(),
        serde_json::to_value(c.mode)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default(),
        report.timeout_ms,
        report.node.resolvers.join(", "),
    );
    let mut groups: Vec<&str> = Vec::new();
    for r in &report.results {
        if !groups.contains(&r.group.as_str()) {
            groups.push(&r.group);
        }
    }
    let worst = |g: &str| {
        report
            .results
            .iter()
            .filter(|r| r.group == g)
            .map(|r| r.status)
            .min()
            .unwrap_or(Status::Pass)
    };
    groups.sort_by_key(|g| worst(g));
    let id_w = report
        .results
        .iter()
        .map(|r| r.id.len())
        .max()
        .unwrap_or(2)
        .max(5);
    let target_w = report
        .results
        .iter()
        .map(|r| target(r).len())
        .max()
        .unwrap_or(6)
        .min(60);
    for g in groups {
        let _ = writeln!(out, "\n{}", paint.wrap("1", &format!("[{g}]")));
        let mut rows: Vec<&CheckResult> = report.results.iter().filter(|r| r.group == g).collect();
        rows.sort_by_key(|r| r.status);
        for r in rows {
            let _ = writeln!(
                out,
                "  {}  {:id_w$}  {:target_w$}  {:22} {:>6}ms",
                paint.status(r.status),
                r.id,
                target(r),
                r.reason.code(),
                r.duration_ms,
            );
            if r.status != Status::Pass {
                let _ = writeln!(out, "        why: {}", r.message);
                if !r.remediation.is_empty() {
                    let _ = writeln!(out, "        fix: {}", r.remediation);
                }
            }
        }
    }
    let s = &report.summary;
    let _ = writeln!(
        out,
        "\n{} checks: {} passed, {} failed, {} warnings, {} skipped  ({} ms)",
        s.total, s.pass, s.fail, s.warn, s.skip, report.duration_ms
    );
    out
}
