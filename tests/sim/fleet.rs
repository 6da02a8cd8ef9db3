//! `merge` and `diff` over the reports real scenarios write: two nodes of a healthy region and
//! one behind a firewall that rejects, each format against its golden file, the HTML parsed; and
//! the memory a merge of 200 nodes takes. `merge` and `diff` themselves send no packet.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use serde_json::Value;

use super::probe::{amlprobe, measured, peak_kib};

/// Compare with `tests/golden/fleet/NAME`; `AMLPROBE_UPDATE_GOLDEN=1` rewrites it.
fn golden(name: &str, got: &str) {
    super::verify::matches_golden(&format!("fleet/{name}"), got, got);
}

/// A copy of a node report as another node would have written it: its own hostname, and a
/// start time fixed so that the outputs compare from run to run.
fn as_node(report: &Path, hostname: &str, started_at: &str, to: &Path) {
    let text = std::fs::read_to_string(report).expect("the kept report");
    let mut v: Value = serde_json::from_str(&text).expect("the report is JSON");
    v["node"]["hostname"] = hostname.into();
    v["started_at"] = started_at.into();
    std::fs::write(to, serde_json::to_string_pretty(&v).unwrap()).unwrap();
}

/// `amlprobe ARGS` in `dir`, so that the files it names are named as given.
fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(amlprobe())
        .current_dir(dir)
        .args(args)
        .env_remove("NO_COLOR")
        .output()
        .expect("run amlprobe")
}

fn stdout(out: &Output, what: &str, code: i32) -> String {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{what}: {err}");
    assert!(err.is_empty(), "{what}: {err}");
    String::from_utf8(out.stdout.clone()).expect("UTF-8")
}

/// Checks the page is well-formed HTML (every element closed, in order) with Python's own
/// parser, and prints its text, one piece a line.
const HTML_TEXT: &str = r#"
import html.parser, sys
VOID = {"meta", "br", "img", "hr", "input", "link", "col", "area", "base", "wbr", "source"}
class P(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.text = [], []
    def handle_starttag(self, tag, attrs):
        if tag not in VOID:
            self.stack.append(tag)
        if tag in ("script", "iframe", "object", "embed", "link", "img"):
            sys.exit("forbidden element <%s>" % tag)
        for name, value in attrs:
            if name.startswith("on") or name in ("src", "href"):
                sys.exit("forbidden attribute %s on <%s>" % (name, tag))
    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            sys.exit("</%s> closes nothing open" % tag)
    def handle_data(self, data):
        if data.strip():
            self.text.append(data.strip())
p = P()
p.feed(open(sys.argv[1], encoding="utf-8").read())
p.close()
if p.stack:
    sys.exit("left open: %s" % p.stack)
print("\n".join(p.text))
"#;

/// The text of the page in `file`, parsed as HTML.
fn html_text(file: &Path) -> Vec<String> {
    let out = Command::new("python3")
        .args(["-c", HTML_TEXT])
        .arg(file)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{} is not well-formed HTML: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Every node name and check id shows as text in the page.
fn holds_every_node_and_check(page: &Path, nodes: &[&str], checks: &[String]) {
    let text = html_text(page);
    let html = std::fs::read_to_string(page).unwrap();
    assert!(html.contains(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
    ));
    for want in nodes
        .iter()
        .copied()
        .chain(checks.iter().map(String::as_str))
    {
        assert!(
            text.iter().any(|t| t == want),
            "{want} is not text of {}",
            page.display()
        );
    }
}

pub fn merge_and_diff() {
    let dir = std::env::temp_dir().join(format!("amlprobe-fleet-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let Some(healthy) = super::play_keeping_report("healthy", &dir.join("played-healthy.json"))
    else {
        return;
    };
    let Some(rejecting) =
        super::play_keeping_report("firewall_rejects", &dir.join("played-firewall.json"))
    else {
        return;
    };
    // Three nodes of one region: two healthy, one behind a firewall that rejects.
    as_node(
        &healthy,
        "node-a",
        "2026-11-26T07:00:00Z",
        &dir.join("node-a.json"),
    );
    as_node(
        &healthy,
        "node-b",
        "2026-11-26T07:00:05Z",
        &dir.join("node-b.json"),
    );
    as_node(
        &rejecting,
        "node-c",
        "2026-11-26T07:00:09Z",
        &dir.join("node-c.json"),
    );
    let nodes = ["node-a.json", "node-b.json", "node-c.json"];

    let merged = |format: &str| {
        let args: Vec<&str> = ["merge"]
            .into_iter()
            .chain(nodes)
            .chain(["-o", format])
            .collect();
        stdout(&run(&dir, &args), &format!("merge -o {format}"), 1)
    };
    let json = merged("json");
    golden("merge.json", &json);
    golden("merge.txt", &merged("table"));
    golden("merge.md", &merged("markdown"));
    let fleet: Value = serde_json::from_str(&json).unwrap();
    let checks: Vec<String> = fleet["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        checks.len(),
        33,
        "the built-in catalog, as the scenarios run it"
    );
    let names: Vec<&str> = fleet["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["node-a", "node-b", "node-c"]);
    assert_eq!(
        fleet["summary"]["failing_nodes"],
        serde_json::json!(["node-c"])
    );
    let check = |id: &str| {
        fleet["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap_or_else(|| panic!("{id} in the fleet"))
            .clone()
    };
    let graph = check("graph-443");
    assert_eq!(graph["odd_nodes"], serde_json::json!(["node-c"]));
    assert_eq!(
        graph["counts"],
        serde_json::json!({"pass": 2, "warn": 0, "fail": 1, "skip": 0})
    );
    assert_eq!(
        graph["by_node"]["node-c"],
        serde_json::json!({"status": "fail", "reason": "tcp_refused"})
    );
    let tundra = check("tundra-udp-5831");
    assert_eq!(
        tundra["odd_nodes"],
        serde_json::json!([]),
        "no node passes: nobody is odd"
    );
    std::fs::write(dir.join("fleet.html"), merged("html")).unwrap();
    holds_every_node_and_check(&dir.join("fleet.html"), &names, &checks);

    // One node, before and after its firewall changed.
    std::fs::copy(dir.join("node-a.json"), dir.join("healthy.json")).unwrap();
    std::fs::copy(dir.join("node-c.json"), dir.join("firewall_rejects.json")).unwrap();
    let diffed = |format: &str| {
        let args = [
            "diff",
            "healthy.json",
            "firewall_rejects.json",
            "-o",
            format,
        ];
        stdout(&run(&dir, &args), &format!("diff -o {format}"), 1)
    };
    let json = diffed("json");
    golden("diff.json", &json);
    golden("diff.txt", &diffed("table"));
    golden("diff.md", &diffed("markdown"));
    let d: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(d["kind"], "diff");
    assert!(d["broken"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["id"] == "graph-443" && e["after"]["reason"] == "tcp_refused"));
    assert!(d["changed"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["id"] == "tundra-udp-5831"
            && e["before"]["reason"] == "udp_no_reply"
            && e["after"]["reason"] == "udp_unreachable"
            && e["worse"] == true));
    std::fs::write(dir.join("diff.html"), diffed("html")).unwrap();
    let broken: Vec<String> = d["broken"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    holds_every_node_and_check(&dir.join("diff.html"), &[], &broken);
    // Back again: fixed, nothing worse.
    let out = run(
        &dir,
        &[
            "diff",
            "firewall_rejects.json",
            "healthy.json",
            "-o",
            "json",
        ],
    );
    let back: Value = serde_json::from_str(&stdout(&out, "diff back", 0)).unwrap();
    assert_eq!(back["summary"]["fixed"], d["summary"]["broken"]);

    // A fleet before and after node-c's firewall changed, and node-d joined.
    as_node(
        &healthy,
        "node-c",
        "2026-11-26T06:00:09Z",
        &dir.join("node-c-before.json"),
    );
    as_node(
        &healthy,
        "node-d",
        "2026-11-26T07:00:11Z",
        &dir.join("node-d.json"),
    );
    let out = run(
        &dir,
        &["merge", "node-a.json", "node-b.json", "node-c-before.json"],
    );
    std::fs::write(dir.join("before.json"), stdout(&out, "merge before", 0)).unwrap();
    let out = run(
        &dir,
        &[
            "merge",
            "node-a.json",
            "node-b.json",
            "node-c.json",
            "node-d.json",
        ],
    );
    std::fs::write(dir.join("after.json"), stdout(&out, "merge after", 1)).unwrap();
    let out = run(&dir, &["diff", "before.json", "after.json", "-o", "json"]);
    let fd: Value = serde_json::from_str(&stdout(&out, "diff of fleets", 1)).unwrap();
    assert_eq!(fd["of"], "fleet");
    let broken = fd["broken"].as_array().unwrap();
    assert!(
        !broken.is_empty() && broken.iter().all(|e| e["node"] == "node-c"),
        "{fd}"
    );
    assert_eq!(
        fd["added"],
        serde_json::json!([{"id": null, "node": "node-d", "before": null, "after": null, "worse": false,
            "checks": {"pass": 32, "warn": 1, "fail": 0, "skip": 0}}])
    );
    let out = run(&dir, &["diff", "before.json", "after.json", "-o", "html"]);
    std::fs::write(
        dir.join("fleet-diff.html"),
        stdout(&out, "diff of fleets", 1),
    )
    .unwrap();
    holds_every_node_and_check(&dir.join("fleet-diff.html"), &["node-c", "node-d"], &[]);

    // --redact: no name of the nodes' own, no address.
    let secrets = redaction_secrets(&[&healthy, &rejecting]);
    for format in ["json", "table", "markdown", "html"] {
        let mut args = vec!["merge", "--redact", "-o", format];
        args.extend(nodes);
        let text = stdout(&run(&dir, &args), &format!("merge --redact -o {format}"), 1);
        let mut args = vec!["diff", "--redact", "-o", format];
        args.extend(["before.json", "after.json"]);
        let fleets = stdout(&run(&dir, &args), &format!("diff --redact -o {format}"), 1);
        for s in &secrets {
            assert!(
                !text.contains(s.as_str()),
                "merge --redact -o {format} shows {s}\n{text}"
            );
            assert!(
                !fleets.contains(s.as_str()),
                "diff --redact -o {format} shows {s}\n{fleets}"
            );
        }
        assert!(text.contains("node-1") && text.contains("node-3"), "{text}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// What `--redact` must hide of these reports: the node's and the workspace's names, and the
/// region's addresses.
fn redaction_secrets(reports: &[&Path]) -> Vec<String> {
    let mut secrets: Vec<String> = vec![
        "node-a".into(),
        "node-b".into(),
        "node-c".into(),
        "node-d".into(),
        "10.77.".into(),
    ];
    for report in reports {
        let v: Value = serde_json::from_str(&std::fs::read_to_string(report).unwrap()).unwrap();
        for key in ["workspace_id", "storage_account", "compute_name", "vm_name"] {
            if let Some(s) = v["context"][key].as_str() {
                secrets.push(s.to_string());
            }
        }
    }
    secrets
}

/// The number of nodes the memory bound is measured on: a large cluster's.
const NODES: usize = 1_000;
/// The most a merge of them may take.
const MAX_RSS_MIB: u64 = 64;

/// `nodes` node reports of the built-in catalog in `reports`: the healthy scenario's, each node
/// with its own hostname and some checks of its own failing.
fn node_reports(reports: &Path, nodes: usize) {
    std::fs::create_dir_all(reports).unwrap();
    let template = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/scenario-healthy.json");
    let template: Value =
        serde_json::from_str(&std::fs::read_to_string(template).unwrap()).unwrap();
    for i in 0..nodes {
        let mut v = template.clone();
        v["node"]["hostname"] = format!("node-{i:03}").into();
        v["started_at"] = "2026-11-26T07:00:00Z".into();
        v["duration_ms"] = 2049.into();
        for r in v["results"].as_array_mut().unwrap() {
            let id = r["id"].as_str().unwrap_or_default().to_string();
            let (status, reason) = match id.as_str() {
                "graph-443" if i % 50 == 7 => ("fail", "tcp_refused"),
                "storage-file-445" if i % 20 == 3 => ("fail", "tcp_timeout"),
                "pypi-443" if i % 9 == 0 => ("warn", "tls_untrusted"),
                _ => continue,
            };
            r["status"] = status.into();
            r["reason"] = reason.into();
        }
        let text = serde_json::to_string_pretty(&v).unwrap();
        std::fs::write(reports.join(format!("node-{i:03}.json")), text).unwrap();
    }
}

/// A fresh directory for `fleet_merge_NAME` and `nodes` node reports in its `reports`
/// ([`node_reports`]); none where python3, which measures peak memory, is missing.
fn measured_merge(name: &str, nodes: usize) -> Option<(PathBuf, PathBuf)> {
    if Command::new("python3").arg("-V").output().is_err() {
        super::skip::skip_unless_ci(&format!(
            "fleet_merge_{name}: needs python3 to measure peak memory"
        ));
        return None;
    }
    let dir = std::env::temp_dir().join(format!("amlprobe-fleet-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let reports = dir.join("reports");
    node_reports(&reports, nodes);
    Some((dir, reports))
}

/// The distinct checks of the one wide report in [`merge_wide_memory`].
const WIDE: usize = 9_000;

/// 100 ordinary node reports and one of 9,000 checks of its own: the page and the table have a
/// cell for each of 900,000 node-check pairs, tens of megabytes, and are written as they are
/// made, so the merge stays within 64 MiB in every format.
pub fn merge_wide_memory() {
    let Some((dir, reports)) = measured_merge("wide", 100) else {
        return;
    };
    let mut wide: Value =
        serde_json::from_str(&std::fs::read_to_string(reports.join("node-000.json")).unwrap())
            .unwrap();
    let first = wide["results"][0].clone();
    wide["node"]["hostname"] = "wide".into();
    wide["results"] = (0..WIDE)
        .map(|i| {
            let mut r = first.clone();
            r["id"] = format!("wide-{i}").into();
            r
        })
        .collect();
    std::fs::write(reports.join("wide.json"), wide.to_string()).unwrap();
    for format in ["json", "table", "markdown", "html"] {
        let mut cmd = Command::new(amlprobe());
        cmd.args(["merge", "-o", format]).arg(&reports);
        let stats = dir.join("peak.txt");
        let out = measured(&cmd, &stats).output().expect("python3");
        let peak = peak_kib(&stats).expect("the merge's peak memory was measured");
        let text = stdout(&out, &format!("merge of a wide report -o {format}"), 1);
        println!(
            "bench fleet_merge_wide: 101 node reports, {WIDE} checks on one, -o {format}, peak RSS KiB {peak}, output {} bytes",
            text.len()
        );
        assert!(text.contains("wide-8999"), "{format}");
        assert!(
            peak <= MAX_RSS_MIB * 1024,
            "merge -o {format} of a wide report peaked at {peak} KiB, more than {MAX_RSS_MIB} MiB"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// 1,000 node reports of the built-in catalog (the healthy scenario's, each node with its own
/// hostname and some checks of its own failing), merged in every format under the peak-memory
/// measurement that the scenarios use: at most 64 MiB. Its lines join the figures of
/// tests/bench/compare.sh, which also holds the wall time to its 2 s goal.
pub fn merge_memory() {
    let Some((dir, reports)) = measured_merge("1000", NODES) else {
        return;
    };
    for format in ["json", "table", "markdown", "html"] {
        let mut cmd = Command::new(amlprobe());
        cmd.args(["merge", "-o", format]).arg(&reports);
        let stats = dir.join("peak.txt");
        let started = Instant::now();
        let out = measured(&cmd, &stats).output().expect("python3");
        let wall = started.elapsed();
        let peak = peak_kib(&stats).expect("the merge's peak memory was measured");
        let text = stdout(&out, &format!("merge of {NODES} reports -o {format}"), 1);
        println!(
            "bench fleet_merge_1000: {NODES} node reports -o {format}, wall ms {}, peak RSS KiB {peak}, output {} bytes",
            wall.as_millis(),
            text.len()
        );
        assert!(
            peak <= MAX_RSS_MIB * 1024,
            "merge of {NODES} reports peaked at {peak} KiB, more than {MAX_RSS_MIB} MiB"
        );
        if format == "json" {
            let fleet: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(fleet["nodes"].as_array().unwrap().len(), NODES);
            let graph = &fleet["checks"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["id"] == "graph-443")
                .unwrap();
            let odd: Vec<String> = (0..NODES)
                .filter(|i| i % 50 == 7)
                .map(|i| format!("node-{i:03}"))
                .collect();
            assert_eq!(graph["odd_nodes"], serde_json::json!(odd));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
