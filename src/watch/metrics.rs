//! `--metrics FILE`: the latest round in Prometheus text exposition, for node_exporter's
//! textfile collector. The file is replaced whole after each round (written beside it, then
//! renamed), so the collector never reads half of one.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::exit::Stop;
use crate::reason::Status;
use crate::result::CheckResult;

use super::history::is_problem;

/// A label value as the exposition format writes it: backslash, double quote and line feed
/// escaped, everything else as it is.
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// `{k="v",…}`.
fn labels(pairs: &[(&str, &str)]) -> String {
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

fn family(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
}

/// Milliseconds as seconds.
fn seconds(ms: u64) -> String {
    format!("{}", ms as f64 / 1000.0)
}

/// The exposition of one round: each check's success, each phase's duration, each name's
/// answer changes so far, and the round itself. Skipped checks have no success to show.
pub fn render(
    results: &[&CheckResult],
    answer_changes: &[(String, u32)],
    round: u32,
    round_unix_ms: u64,
) -> String {
    let mut out = String::new();
    family(
        &mut out,
        "amlprobe_check_success",
        "Whether the check succeeded in the latest round (1) or failed or warned (0); UDP silence (udp_no_reply) counts as success, skipped checks are left out.",
    );
    for r in results.iter().filter(|r| r.status != Status::Skip) {
        let target = r.target.to_string();
        let pairs = [
            ("id", r.id.as_str()),
            ("group", r.group.as_str()),
            ("target", target.as_str()),
            ("reason", r.reason.code()),
            ("status", r.status.as_str()),
        ];
        let ok = u8::from(!is_problem(r));
        let _ = writeln!(out, "amlprobe_check_success{} {ok}", labels(&pairs));
    }
    family(
        &mut out,
        "amlprobe_phase_duration_seconds",
        "How long each phase of each check took in the latest round.",
    );
    for r in results {
        // A phase that ran again (the small-MSS retry of a stalled TLS handshake, and its
        // full-size control, which run beside the first) is one series: the check's own first
        // run of it, as the other phases are.
        let mut phases: Vec<(String, u64)> = Vec::new();
        for p in &r.phases {
            let name = serde_json::to_value(p.phase)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default();
            if !phases.iter().any(|(n, _)| *n == name) {
                phases.push((name, p.ms));
            }
        }
        for (phase, ms) in phases {
            let pairs = [("id", r.id.as_str()), ("phase", phase.as_str())];
            let _ = writeln!(
                out,
                "amlprobe_phase_duration_seconds{} {}",
                labels(&pairs),
                seconds(ms)
            );
        }
    }
    family(
        &mut out,
        "amlprobe_dns_answer_changes",
        "How many times the name's set of addresses changed between rounds since the watch started.",
    );
    for (name, changes) in answer_changes {
        let _ = writeln!(
            out,
            "amlprobe_dns_answer_changes{} {changes}",
            labels(&[("name", name)])
        );
    }
    family(
        &mut out,
        "amlprobe_round_timestamp_seconds",
        "When the latest round started, in seconds since the Unix epoch.",
    );
    let _ = writeln!(
        out,
        "amlprobe_round_timestamp_seconds {}",
        seconds(round_unix_ms)
    );
    family(
        &mut out,
        "amlprobe_rounds",
        "Rounds finished since the watch started.",
    );
    let _ = writeln!(out, "amlprobe_rounds {round}");
    out
}

/// Where a file is written before it is renamed over `path`: beside it (a rename does not cross
/// file systems), hidden, and not ending in `.prom`, so the collector never reads it.
fn temporary(path: &Path) -> Result<PathBuf, String> {
    let name = path
        .file_name()
        .ok_or_else(|| "names no file".to_string())?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    Ok(dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    )))
}

/// Replace `path` with `text` in one step.
pub fn write(path: &Path, text: &str) -> Result<(), String> {
    let tmp = temporary(path)?;
    let written = std::fs::File::create(&tmp)
        .and_then(|mut f| {
            f.write_all(text.as_bytes())?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.map_err(|e| e.to_string())
}

/// `--metrics FILE` is tried before the first round, as `--report` is: a path that cannot be
/// written must not cost a watch. Nothing is written to FILE itself yet.
pub fn writable(path: &Path) -> Result<(), Stop> {
    let fail = |why: String| {
        Stop::cannot_run(format!("--metrics {}: cannot write: {why}", path.display()))
    };
    if path.is_dir() {
        return Err(fail("it is a directory".into()));
    }
    let tmp = temporary(path).map_err(fail)?;
    std::fs::File::create(&tmp).map_err(|e| fail(e.to_string()))?;
    let _ = std::fs::remove_file(&tmp);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reason::Reason;
    use crate::report::fixture;
    use crate::result::{Phase, PhaseKind};

    #[test]
    fn label_values_escape_backslash_quote_and_newline() {
        assert_eq!(escape(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(escape("two\nlines"), "two\\nlines");
        assert_eq!(
            escape("plain.example.net:443/tcp"),
            "plain.example.net:443/tcp"
        );
        assert_eq!(
            labels(&[("id", "x\"y"), ("target", "h\\")]),
            r#"{id="x\"y",target="h\\"}"#
        );
    }

    #[test]
    fn a_round_renders_every_family_with_help_and_type() {
        let mut ok = fixture::result("graph-443", "azureml", Status::Pass, Reason::Ok);
        ok.phases = vec![
            Phase {
                ms: 3,
                ..Phase::of(PhaseKind::Dns)
            },
            Phase {
                ms: 1500,
                ..Phase::of(PhaseKind::Tcp)
            },
            // A stalled handshake, then its small-MSS retry: the series is the first.
            Phase {
                ms: 900,
                ..Phase::of(PhaseKind::Tls)
            },
            Phase {
                ms: 5,
                mss: Some(536),
                ..Phase::of(PhaseKind::Tls)
            },
        ];
        let silent = fixture::result("tundra", "azureml", Status::Warn, Reason::UdpNoReply);
        let tls_lines = |text: &str| -> Vec<String> {
            text.lines()
                .filter(|l| l.contains(r#"phase="tls""#))
                .map(String::from)
                .collect()
        };
        let broken = fixture::result("arm\"\n", "x", Status::Fail, Reason::TcpTimeout);
        let skipped = fixture::result("skipped", "x", Status::Skip, Reason::NotApplicable);
        let text = render(
            &[&ok, &silent, &broken, &skipped],
            &[("graph.windows.net".into(), 2)],
            3,
            1_764_140_400_250,
        );
        assert_eq!(
            tls_lines(&text),
            [r#"amlprobe_phase_duration_seconds{id="graph-443",phase="tls"} 0.9"#]
        );
        for line in [
            "# HELP amlprobe_check_success ",
            "# TYPE amlprobe_check_success gauge",
            r#"amlprobe_check_success{id="graph-443",group="azureml",target="graph-443.example.net:443/tcp",reason="ok",status="pass"} 1"#,
            r#"amlprobe_check_success{id="tundra",group="azureml",target="tundra.example.net:443/tcp",reason="udp_no_reply",status="warn"} 1"#,
            r#"amlprobe_check_success{id="arm\"\n",group="x",target="arm\"\n.example.net:443/tcp",reason="tcp_timeout",status="fail"} 0"#,
            r#"amlprobe_phase_duration_seconds{id="graph-443",phase="dns"} 0.003"#,
            r#"amlprobe_phase_duration_seconds{id="graph-443",phase="tcp"} 1.5"#,
            r#"amlprobe_phase_duration_seconds{id="graph-443",phase="tls"} 0.9"#,
            "# TYPE amlprobe_dns_answer_changes gauge",
            r#"amlprobe_dns_answer_changes{name="graph.windows.net"} 2"#,
            "amlprobe_round_timestamp_seconds 1764140400.25",
            "amlprobe_rounds 3",
        ] {
            assert!(
                text.lines().any(|l| l.starts_with(line)),
                "{line} in\n{text}"
            );
        }
        assert!(
            !text.contains("id=\"skipped\",group"),
            "a skipped check has no success"
        );
        assert!(text.ends_with('\n'));
    }

    /// docs/interface.md lists every family the file holds, with its labels, and no other.
    #[test]
    fn every_family_is_documented_with_its_labels() {
        use crate::interface::{code, first_code, table};
        use std::collections::{BTreeMap, BTreeSet};
        let mut ok = fixture::result("graph-443", "azureml", Status::Pass, Reason::Ok);
        ok.phases = vec![Phase::of(PhaseKind::Dns)];
        let text = render(&[&ok], &[("graph.windows.net".into(), 1)], 1, 1);
        let mut written: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (name, rest) = line.split_at(line.find(['{', ' ']).unwrap());
            let labels = rest
                .strip_prefix('{')
                .and_then(|r| r.split_once('}'))
                .map(|(inner, _)| inner.split(',').map(|kv| kv.split('=').next().unwrap()));
            let family = written.entry(name.to_string()).or_default();
            family.extend(labels.into_iter().flatten().map(String::from));
        }
        let documented: BTreeMap<String, BTreeSet<String>> = table(&["Reports", "Watch metrics"])
            .iter()
            .map(|r| {
                let labels = code(&r[1]).into_iter().map(String::from).collect();
                (first_code(&r[0]).to_string(), labels)
            })
            .collect();
        assert_eq!(documented, written, "docs/interface.md's metrics");
    }

    #[test]
    fn the_file_is_replaced_whole_and_nothing_is_left_beside_it() {
        let dir = std::env::temp_dir().join(format!("amlprobe-metrics-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("amlprobe.prom");
        writable(&path).unwrap();
        assert!(!path.exists(), "trying the directory writes nothing");
        write(&path, "one\n").unwrap();
        write(&path, "two\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two\n");
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file stays");
        assert!(writable(&dir).is_err(), "a directory is no file");
        assert!(writable(&dir.join("missing/amlprobe.prom")).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
