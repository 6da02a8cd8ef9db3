//! `-o junit`: one test case per check; failures and skips marked, warnings as output (or as
//! failures with `--strict`), so CI systems show the run like a test suite.

use std::fmt::Write;

use super::text::xml;
use super::Report;
use crate::reason::Status;

pub fn render(report: &Report, strict: bool) -> String {
    let s = &report.summary;
    let failures = s.fail + if strict { s.warn } else { 0 };
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let secs = |ms: u64| format!("{:.3}", ms as f64 / 1000.0);
    let _ = writeln!(
        out,
        "<testsuites name=\"amlprobe\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{}\" time=\"{}\">",
        s.total,
        s.skip,
        secs(report.duration_ms)
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"amlprobe\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{}\" time=\"{}\" timestamp=\"{}\">",
        s.total,
        s.skip,
        secs(report.duration_ms),
        xml(&report.started_at)
    );
    for r in &report.results {
        let _ = write!(
            out,
            "    <testcase classname=\"amlprobe.{}\" name=\"{}\" time=\"{}\">",
            xml(&r.group),
            xml(&r.id),
            secs(r.duration_ms)
        );
        let detail = xml(&format!("{}\nfix: {}", r.message, r.remediation));
        let failed = r.status == Status::Fail || (strict && r.status == Status::Warn);
        match r.status {
            _ if failed => {
                let _ = write!(
                    out,
                    "<failure type=\"{}\" message=\"{}\">{detail}</failure>",
                    r.reason.code(),
                    xml(&r.message)
                );
            }
            Status::Warn => {
                let _ = write!(
                    out,
                    "<system-out>warn {}: {detail}</system-out>",
                    r.reason.code()
                );
            }
            Status::Skip => {
                let _ = write!(
                    out,
                    "<skipped message=\"{}: {}\"/>",
                    r.reason.code(),
                    xml(&r.message)
                );
            }
            Status::Pass | Status::Fail => {}
        }
        let _ = writeln!(out, "</testcase>");
    }
    let _ = writeln!(out, "  </testsuite>\n</testsuites>");
    out
}
