//! `-o markdown`: ready to paste into a support ticket.

use std::fmt::Write;

use super::text::{json_shown, printable};
use super::Report;
use crate::reason::Status;

/// Characters by which Markdown or the HTML it lets through would read text from a report as
/// syntax: a tag (`<`, `>`), a link or image (`[`, `]`, `!`), a code span, an escape, and a
/// table's column separator. Names, certificates and messages come from whoever answers the
/// node, and a ticket must show them, not render them.
const SYNTAX: &str = "\\`[]<>|!";

/// Text from a report for Markdown prose or a table: hidden characters shown, then `SYNTAX`
/// and the characters in `also` escaped with a backslash, so each shows as itself.
pub(crate) fn escaped(s: &str, also: &str) -> String {
    let shown = printable(s);
    let mut out = String::with_capacity(shown.len());
    for c in shown.chars() {
        if SYNTAX.contains(c) || also.contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A table cell: one line, nothing Markdown reads as syntax, hidden characters shown.
pub(crate) fn cell(s: &str) -> String {
    escaped(&s.replace('\n', " "), "")
}

/// Text from a report as a code span: hidden characters shown, inside backticks that outlast
/// any run of backticks in it (padded where it starts or ends with one), since a backslash
/// escapes nothing in a code span and a lone backtick would end it early.
pub(crate) fn code(s: &str) -> String {
    let shown = printable(s);
    let longest = shown.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let ticks = "`".repeat(longest + 1);
    match shown.starts_with('`') || shown.ends_with('`') {
        true => format!("{ticks} {shown} {ticks}"),
        false => format!("{ticks}{shown}{ticks}"),
    }
}

/// A fence longer than any run of backticks in the text it holds, so the text cannot close it.
pub(crate) fn fence(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    "`".repeat(longest.max(2) + 1)
}

pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let s = &report.summary;
    let _ = writeln!(out, "# amlprobe report\n");
    let _ = writeln!(
        out,
        "amlprobe {} at {}, {} ms, deadline {} ms per check.\n",
        escaped(report.tool.version, ""),
        escaped(&report.started_at, ""),
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
    let json = json_shown(&report.to_json()).into_owned();
    let fence = fence(&json);
    let _ = writeln!(
        out,
        "\n<details><summary>JSON report</summary>\n\n{fence}json\n{json}\n{fence}\n\n</details>"
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
            "### {} {} — `{}`\n",
            r.status.as_str().to_uppercase(),
            code(&r.id),
            r.reason.code()
        );
        let _ = writeln!(out, "- **why:** {}", escaped(&r.message, ""));
        if !r.remediation.is_empty() {
            let _ = writeln!(out, "- **fix:** {}", escaped(&r.remediation, ""));
        }
        if !r.reason_doc.is_empty() {
            let _ = writeln!(out, "- **see:** {}", escaped(&r.reason_doc, ""));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_id_cannot_end_its_code_span() {
        assert_eq!(code("graph-443"), "`graph-443`");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`[x](javascript:y)"), "`` `[x](javascript:y) ``");
    }

    #[test]
    fn a_json_report_cannot_close_its_fence() {
        let mut r = super::super::fixture::report();
        r.results[0].message = "```\n<img src=x onerror=alert(1)>".into();
        let text = render(&r);
        let opened = text.lines().find(|l| l.ends_with("json")).unwrap();
        assert_eq!(opened, "````json", "{text}");
    }
}
