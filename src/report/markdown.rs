//! `-o markdown`: ready to paste into a support ticket.

use std::fmt::Write;

use super::text::{json_shown, printable};
use super::Report;
use crate::reason::Status;

/// A table cell: one line, `|` escaped, hidden characters shown.
pub(crate) fn cell(s: &str) -> String {
    printable(&s.replace('\n', " ")).replace('|', "\\|")
}

pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let s = &report.summary;
    let _ = writeln!(out, "# amlprobe report\n");
    let _ = writeln!(
        out,
        "amlprobe {} at {}, {} ms, deadline {} ms per check.\n",
        report.tool.version,
        printable(&report.started_at),
        report.duration_ms,
        report.timeout_ms
    );
    if let Some(w) = &report.watch {
        let _ = writeln!(
            out,
            "Watched {} rounds, one every {} ms (stopped: {}); each result's history is in the JSON report.\n",
            w.rounds,
            w.interval_ms,
            w.stopped.as_str()
        );
    }
    context(&mut out, report);
    let _ = writeln!(
        out,
        "\n## Summary\n\n{} checks: **{} failed**, {} warnings, {} passed, {} skipped.\n",
        s.total, s.fail, s.warn, s.pass, s.skip
    );
    problems(&mut out, report);
    all_checks(&mut out, report);
    let _ = writeln!(
        out,
        "\n<details><summary>JSON report</summary>\n\n```json\n{}\n```\n\n</details>",
        json_shown(&report.to_json())
    );
    out
}

fn context(out: &mut String, report: &Report) {
    let c = &report.context;
    let _ = writeln!(out, "## Context\n\n| | |\n|---|---|");
    let resolvers = report.node.resolvers.join(", ");
    for (k, v) in [
        ("cloud", Some(c.cloud.as_str())),
        ("region", c.region.as_deref()),
        ("mode", Some(c.mode.as_str())),
        ("compute type", c.compute_type.map(|t| t.as_str())),
        ("compute name", c.compute_name.as_deref()),
        ("workspace id", c.workspace_id.as_deref()),
        ("storage account", c.storage_account.as_deref()),
        ("resolvers", Some(resolvers.as_str())),
        ("proxy", report.node.proxy.as_deref()),
    ] {
        let _ = writeln!(out, "| {k} | {} |", cell(v.unwrap_or("—")));
    }
}

/// Each failure and warning with its why, fix and document.
fn problems(out: &mut String, report: &Report) {
    let problems: Vec<_> = report
        .results
        .iter()
        .filter(|r| matches!(r.status, Status::Fail | Status::Warn))
        .collect();
    if problems.is_empty() {
        return;
    }
    let _ = writeln!(out, "## Failures and warnings\n");
    for r in problems {
        let _ = writeln!(
            out,
            "### {} `{}` — `{}`\n",
            r.status.as_str().to_uppercase(),
            printable(&r.id),
            r.reason.code()
        );
        let _ = writeln!(out, "- **why:** {}", printable(&r.message));
        if !r.remediation.is_empty() {
            let _ = writeln!(out, "- **fix:** {}", printable(&r.remediation));
        }
        if !r.reason_doc.is_empty() {
            let _ = writeln!(out, "- **see:** {}", printable(&r.reason_doc));
        }
        let _ = writeln!(out);
    }
}

fn all_checks(out: &mut String, report: &Report) {
    let _ = writeln!(
        out,
        "## All checks\n\n| status | check | target | reason | ms |\n|---|---|---|---|---|"
    );
    for r in &report.results {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            r.status.as_str(),
            cell(&r.id),
            cell(&r.target.to_string()),
            r.reason.code(),
            r.duration_ms
        );
    }
}
