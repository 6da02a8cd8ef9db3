//! One `Report` value; the renderers are views over it and decide nothing.

pub mod junit;
pub mod list;
pub mod markdown;
pub mod read;
pub mod redact;
pub mod table;
pub mod text;

use std::io::Write;

use serde::Serialize;

use crate::context::Context;
use crate::reason::{Reason, Status};
use crate::result::CheckResult;

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

wire_enum! {
    /// Why a watch ended.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Stopped {
        /// `--count` rounds ran.
        Count = "count",
        /// `--for` was over.
        Duration = "duration",
        /// SIGINT or SIGTERM.
        Interrupted = "interrupted",
        /// The reader of `-o jsonl` went away (`| head`).
        OutputClosed = "output_closed",
    }
}

/// How a `watch` ran; `check`'s reports leave it out.
#[derive(Debug, Clone, Serialize)]
pub struct Watched {
    pub rounds: u32,
    pub interval_ms: u64,
    pub stopped: Stopped,
}

/// How a `mesh` ran: which node this is, the peers and where their list came from; other
/// commands leave it out.
#[derive(Debug, Clone, Serialize)]
pub struct Meshed {
    /// This node, as the peer list names it.
    #[serde(rename = "self")]
    pub this: String,
    /// How this node was picked out of the list: `flag`, `hostname`, `address` or `none`.
    pub self_from: String,
    pub peers: Vec<String>,
    /// `flag`, or `env:NAME` (`file:PATH` for an MPI host file).
    pub peers_from: String,
    pub ports: Vec<u16>,
    pub wait_ms: u64,
    /// Ports this node could not listen on, and why: peers reaching them find another program.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_listening: Vec<String>,
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watch: Option<Watched>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mesh: Option<Meshed>,
    pub results: Vec<CheckResult>,
}

impl Report {
    /// Why the run proves nothing: no required check was tested (every one was skipped), or,
    /// where none was selected, no check at all. Exit 0 must mean that what is required passed.
    pub fn untested(&self) -> Option<String> {
        let tested = |r: &&CheckResult| r.status != Status::Skip;
        let required: Vec<&CheckResult> = self.results.iter().filter(|r| r.required).collect();
        let nothing = match required.is_empty() {
            false => !required.iter().any(tested),
            true => !self.results.iter().any(|r| tested(&r)),
        };
        if !nothing {
            return None;
        }
        let fixes = remediations(&self.results);
        let skipped = if required.is_empty() {
            self.results.len()
        } else {
            required.len()
        };
        let what = if required.is_empty() { "" } else { "required " };
        Some(format!(
            "nothing was tested: all {skipped} selected {what}checks were skipped. {}",
            match fixes.is_empty() {
                true => "Select checks that apply here (see amlprobe list).".to_string(),
                false => fixes.join(" "),
            }
        ))
    }

    /// Under `--strict`, why the run is no pass although something was tested: required checks
    /// that could not run for want of a value (`missing_input`). They tested nothing, and a
    /// strict run passes only if what is required was tested and passed.
    pub fn required_not_run(&self) -> Option<String> {
        let not_run: Vec<&CheckResult> = self
            .results
            .iter()
            .filter(|r| r.required && r.reason == Reason::MissingInput)
            .collect();
        let first = not_run.first()?;
        let (what, more) = match not_run.len() {
            1 => ("a required check".to_string(), String::new()),
            n => (
                format!("{n} required checks"),
                format!(" and {} more", n - 1),
            ),
        };
        Some(format!(
            "--strict: {what} could not run for want of a value ({}{more}). {}",
            first.id,
            remediations(not_run.iter().copied()).join(" ")
        ))
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// The JSON of `to_json` and its newline, written as it is made: a report of thousands of
    /// results is never held whole in memory.
    pub fn write_json(&self, out: impl Write) -> std::io::Result<()> {
        let mut out = std::io::BufWriter::new(out);
        serde_json::to_writer_pretty(&mut out, self)?;
        out.write_all(b"\n")?;
        out.flush()
    }
}

/// What the results say to do, each remedy once, sorted.
fn remediations<'a>(results: impl IntoIterator<Item = &'a CheckResult>) -> Vec<&'a str> {
    let mut fixes: Vec<&str> = results
        .into_iter()
        .map(|r| r.remediation.as_str())
        .filter(|f| !f.is_empty())
        .collect();
    fixes.sort_unstable();
    fixes.dedup();
    fixes
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

/// A small report for renderer tests.
#[cfg(test)]
pub(crate) mod fixture {
    use super::*;
    use crate::catalog::{Kind, Transport};
    use crate::reason::{Reason, Status};
    use crate::result::Target;

    pub fn result(id: &str, group: &str, status: Status, reason: Reason) -> CheckResult {
        CheckResult {
            id: id.into(),
            group: group.into(),
            title: "t".into(),
            required: true,
            kind: Kind::Tls,
            tested: Some(Kind::Tcp),
            target: Target {
                host: format!("{id}.example.net"),
                port: Some(443),
                transport: Transport::Tcp,
            },
            stands_for: None,
            stand_in: false,
            service_tag: None,
            proxy: None,
            status,
            reason,
            message: format!("message of {id}"),
            reason_doc: String::new(),
            remediation: if status == Status::Pass {
                String::new()
            } else {
                format!("fix of {id}")
            },
            doc: "https://learn.microsoft.com/x".into(),
            duration_ms: 7,
            phases: Vec::new(),
            history: None,
            trace: None,
            firewall_denial: None,
        }
    }

    pub fn report() -> Report {
        let results = vec![
            result("ok-one", "first", Status::Pass, Reason::Ok),
            result("broken", "second", Status::Fail, Reason::TcpTimeout),
            result("fine", "second", Status::Pass, Reason::Ok),
            result("quiet", "first", Status::Warn, Reason::UdpNoReply),
        ];
        Report {
            schema_version: 1,
            tool: Tool {
                name: "amlprobe",
                version: "0.1.0",
            },
            started_at: "2026-11-26T07:00:00Z".into(),
            duration_ms: 9,
            timeout_ms: 5000,
            node: Node {
                hostname: "n".into(),
                resolvers: vec!["10.0.0.53".into()],
                proxy: None,
            },
            context: Context::default(),
            summary: Summary::of(&results),
            watch: None,
            mesh: None,
            results,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixture::report;
    use super::*;

    /// Compare with the committed golden file; `AMLPROBE_UPDATE_GOLDEN=1` rewrites it.
    fn golden(name: &str, got: &str) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden")
            .join(name);
        if std::env::var_os("AMLPROBE_UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, got).unwrap();
        }
        let want = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(
            got,
            want,
            "{} differs; rerun with AMLPROBE_UPDATE_GOLDEN=1 and review",
            path.display()
        );
    }

    #[test]
    fn table_matches_its_golden_file() {
        let table = table::render(&report(), false);
        golden("report.txt", &table);
        assert!(!table.contains('\x1b'), "no colour when asked for none");
    }

    #[test]
    fn json_matches_its_golden_file() {
        golden("report.json", &(report().to_json() + "\n"));
    }

    /// A certificate name is whatever the server sends: JUnit stays well-formed XML and no
    /// human format carries a hidden character.
    #[test]
    fn hostile_names_stay_well_formed_and_visible() {
        let mut r = report();
        let hostile = "CN=\u{FFFE}\u{FFFF}\u{1b}[2J\u{0}\u{9b}\u{202E}";
        r.results[0].message = hostile.into();
        r.results[0].target.host = hostile.into();
        r.context.warnings.push(hostile.into());
        let xml = junit::render(&r, true);
        roxmltree::Document::parse(&xml).expect("well-formed XML");
        for text in [table::render(&r, true), markdown::render(&r), xml] {
            for c in ['\u{FFFE}', '\u{FFFF}', '\u{0}', '\u{9b}', '\u{202E}'] {
                assert!(!text.contains(c), "{c:?} in {text}");
            }
            assert!(!text.contains("\u{1b}[2J"));
        }
    }

    #[test]
    fn markdown_matches_its_golden_file() {
        let md = markdown::render(&report());
        golden("report.md", &md);
        assert!(md.contains("### FAIL `broken` — `tcp_timeout`") && md.contains("<details>"));
    }

    #[test]
    fn junit_matches_its_golden_file_and_parses() {
        let xml = junit::render(&report(), false);
        golden("report.junit.xml", &xml);
        let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
        let cases: Vec<_> = doc
            .descendants()
            .filter(|n| n.has_tag_name("testcase"))
            .collect();
        assert_eq!(cases.len(), 4);
        let failed: Vec<_> = cases
            .iter()
            .filter(|c| c.children().any(|n| n.has_tag_name("failure")))
            .map(|c| c.attribute("name").unwrap())
            .collect();
        assert_eq!(failed, ["broken"]);
        let suite = doc
            .descendants()
            .find(|n| n.has_tag_name("testsuite"))
            .unwrap();
        assert_eq!(suite.attribute("failures"), Some("1"));
        let strict = junit::render(&report(), true);
        let doc = roxmltree::Document::parse(&strict).unwrap();
        assert_eq!(
            doc.descendants()
                .filter(|n| n.has_tag_name("failure"))
                .count(),
            2,
            "warnings fail with --strict"
        );
    }
}
