//! The terminal table: grouped, the worst first, a "why" and a "fix" under each problem.

use std::fmt::Write;

use super::text::printable;
use super::Report;
use crate::reason::{Reason, Status};
use crate::result::CheckResult;

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

/// The context line, then what discovery warned of and noted.
fn header(out: &mut String, report: &Report, paint: &Paint) {
    let c = &report.context;
    let _ = writeln!(
        out,
        "amlprobe {}  region {}  cloud {}  mode {}  timeout {}ms  resolvers {}",
        report.tool.version,
        printable(c.region.as_deref().unwrap_or("?")),
        c.cloud.as_str(),
        c.mode.as_str(),
        report.timeout_ms,
        printable(&report.node.resolvers.join(", ")),
    );
    if let Some(t) = c.compute_type {
        let _ = writeln!(out, "compute {}", t.as_str());
    }
    if let Some(w) = &report.watch {
        let _ = writeln!(
            out,
            "watched {} rounds, one every {}ms (stopped: {})",
            w.rounds,
            w.interval_ms,
            w.stopped.as_str()
        );
    }
    for w in &c.warnings {
        let _ = writeln!(out, "{} {}", paint.wrap("33", "warning:"), printable(w));
    }
    for n in &c.notes {
        let _ = writeln!(out, "note: {}", printable(n));
    }
}

/// Groups in report order, the group with the worst result first.
fn groups(report: &Report) -> Vec<&str> {
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
    groups
}

/// One row, and under a problem its why, fix and document.
fn row(out: &mut String, r: &CheckResult, paint: &Paint, (id_w, target_w): (usize, usize)) {
    let _ = writeln!(
        out,
        "  {}  {:id_w$}  {:target_w$}  {:22} {:>6}ms",
        paint.status(r.status),
        printable(&r.id),
        printable(&r.target.to_string()),
        r.reason.code(),
        r.duration_ms,
    );
    if r.status == Status::Pass {
        return;
    }
    let _ = writeln!(out, "        why: {}", printable(&r.message));
    if !r.remediation.is_empty() {
        let _ = writeln!(out, "        fix: {}", printable(&r.remediation));
    }
    if !r.reason_doc.is_empty() && r.status != Status::Skip {
        let _ = writeln!(out, "        see: {}", printable(&r.reason_doc));
    }
}

/// The hosts a TLS-inspecting middlebox re-signs, in one plain line.
fn interception(out: &mut String, report: &Report, paint: &Paint) {
    let intercepted: Vec<&str> = report
        .results
        .iter()
        .filter(|r| r.reason == Reason::TlsIntercepted)
        .map(|r| r.target.host.as_str())
        .collect();
    if !intercepted.is_empty() {
        let _ = writeln!(
            out,
            "\n{} Azure ML does not support TLS inspection. Exempt these hosts from inspection on the firewall or proxy: {}",
            paint.wrap("1;33", "TLS inspection:"),
            printable(&intercepted.join(", "))
        );
    }
}

pub fn render(report: &Report, colour: bool) -> String {
    let paint = Paint(colour);
    let mut out = String::new();
    header(&mut out, report, &paint);
    let widest = |len: fn(&CheckResult) -> usize| report.results.iter().map(len).max();
    let id_w = widest(|r| printable(&r.id).len()).unwrap_or(2).max(5);
    let target_w = widest(|r| printable(&r.target.to_string()).len())
        .unwrap_or(6)
        .min(60);
    for g in groups(report) {
        let _ = writeln!(out, "\n{}", paint.wrap("1", &format!("[{}]", printable(g))));
        let mut rows: Vec<&CheckResult> = report.results.iter().filter(|r| r.group == g).collect();
        rows.sort_by_key(|r| r.status);
        for r in rows {
            row(&mut out, r, &paint, (id_w, target_w));
        }
    }
    interception(&mut out, report, &paint);
    let s = &report.summary;
    let _ = writeln!(
        out,
        "\n{} checks: {} passed, {} failed, {} warnings, {} skipped  ({} ms)",
        s.total, s.pass, s.fail, s.warn, s.skip, report.duration_ms
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reason::Reason;

    use crate::report::fixture::{report, result};

    #[test]
    fn worst_groups_and_failures_come_first_with_why_and_fix() {
        let text = render(&report(), false);
        let at = |s: &str| {
            text.find(s)
                .unwrap_or_else(|| panic!("{s} missing in\n{text}"))
        };
        assert!(
            at("[second]") < at("[first]"),
            "the group with a failure first\n{text}"
        );
        assert!(at("FAIL  broken") < at("PASS  fine"));
        assert!(at("WARN  quiet") < at("PASS  ok-one"));
        assert!(at("why: message of broken") < at("fix: fix of broken"));
        assert!(
            !text.contains("why: message of fine"),
            "passes get no why line"
        );
        assert!(text.contains("4 checks: 2 passed, 1 failed, 1 warnings, 0 skipped"));
        assert!(!text.contains('\x1b'), "no colour when asked for none");
        assert!(render(&report(), true).contains("\x1b[1;31mFAIL\x1b[0m"));
        assert!(!text.contains("TLS inspection"));
    }

    #[test]
    fn interception_is_stated_plainly_with_the_hosts_to_exempt() {
        let mut r = report();
        r.results.push(result(
            "inspected",
            "second",
            Status::Warn,
            Reason::TlsIntercepted,
        ));
        let text = render(&r, false);
        assert!(
            text.contains("Azure ML does not support TLS inspection. Exempt these hosts from inspection on the firewall or proxy: inspected.example.net"),
            "{text}"
        );
    }
}
