//! Checks of a run against the scenario's expectations: the run itself, the report's fields,
//! each result's status, texts, target and phases, the report's context, the JSONL stream, and
//! what `--redact` must hide.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::probe::Outcome;
use super::scenario::{Launch, Output, Scenario, Want};
use super::world::{Target, PROXY_PASSWORD};

/// What a failure message starts with: the scenario, the probe's stderr, one line per result.
pub fn context(name: &str, sc: &Scenario, out: &Outcome) -> String {
    format!(
        "scenario {name} ({}):\nstderr: {}\nresults:\n{}",
        sc.description,
        out.stderr,
        compact(&out.stdout)
    )
}

/// What every run must show: the exit code, no progress line, the proxy password nowhere, and
/// the wall time and memory within the scenario's bounds.
pub fn run(sc: &Scenario, out: &Outcome, context: &str) {
    assert_eq!(out.code, Some(sc.exit), "exit code\n{context}");
    assert!(
        !out.stderr.contains(" done, "),
        "no progress line when stderr is not a terminal\n{context}"
    );
    let report_text = std::fs::read_to_string(&out.report_file).unwrap_or_default();
    for (what, text) in [
        ("stdout", &out.stdout),
        ("stderr", &out.stderr),
        ("--report", &report_text),
    ] {
        assert!(
            !text.contains(PROXY_PASSWORD),
            "the proxy password shows in {what}\n{context}"
        );
    }
    for phrase in &sc.stderr_contains {
        assert!(
            out.stderr.contains(phrase.as_str()),
            "stderr lacks {phrase:?}\n{context}"
        );
    }
    if let Some(max) = sc.max_wall_ms {
        assert!(
            out.wall.as_millis() <= u128::from(max),
            "took {:?}, more than {max} ms\n{context}",
            out.wall
        );
    }
    if let Some(max) = sc.max_rss_mib {
        let peak = out.peak_kib.expect("the run's peak memory was measured");
        assert!(
            peak <= max * 1024,
            "peaked at {peak} KiB, more than {max} MiB\n{context}"
        );
    }
}

/// The report as the run gave it: the hook keeps it in its log folder (and prints the table),
/// otherwise it is stdout in the scenario's format.
pub fn report(sc: &Scenario, dir: &Path, out: &Outcome, context: &str) -> Value {
    match (sc.launch(), sc.output) {
        (Launch::Hook(_), _) => {
            let saved = std::fs::read_to_string(dir.join("log/report.json"))
                .expect("the hook keeps report.json");
            let table = std::fs::read_to_string(dir.join("log/report.txt"))
                .expect("the hook keeps report.txt");
            assert!(
                out.stdout.contains(&table) && table.contains("checks:"),
                "the hook prints the table\n{context}"
            );
            assert!(
                dir.join("bin/amlprobe").exists(),
                "the hook installed the binary"
            );
            serde_json::from_str(&saved).expect("report.json is JSON")
        }
        (Launch::Direct | Launch::Chroot, Output::Jsonl) => check_jsonl(&out.stdout, context),
        (Launch::Direct | Launch::Chroot, Output::Json) => serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON: {e}\n{context}")),
    }
}

/// `--report` holds the same results as stdout.
pub fn saved_report(report: &Value, out: &Outcome) {
    let text = std::fs::read_to_string(&out.report_file).expect("--report written");
    let saved: Value = serde_json::from_str(&text).expect("--report is JSON");
    assert_eq!(
        saved["results"].as_array().map(Vec::len),
        report["results"].as_array().map(Vec::len)
    );
}

/// One line per result, for failure messages.
pub fn compact(stdout: &str) -> String {
    let values: Vec<Value> = match serde_json::from_str::<Value>(stdout) {
        Ok(v) => v["results"].as_array().cloned().unwrap_or_default(),
        Err(_) => stdout
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect(),
    };
    if values.is_empty() {
        return stdout.to_string();
    }
    values
        .iter()
        .map(|r| {
            format!(
                "  {} {}/{} {}\n",
                r["id"], r["status"], r["reason"], r["message"]
            )
        })
        .collect()
}

/// `-o jsonl`: one result per line with `"type": "result"`, then the summary line last.
fn check_jsonl(stdout: &str, context: &str) -> Value {
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("line is not JSON: {e}: {l}\n{context}"))
        })
        .collect();
    let (last, results) = lines.split_last().expect("jsonl output");
    assert_eq!(last["type"], "summary", "{context}");
    assert!(results.iter().all(|r| r["type"] == "result"), "{context}");
    let mut report = last.clone();
    report["results"] = Value::Array(results.to_vec());
    report
}

/// With `--redact`, no format may show the workspace's names, the node's name or any address.
pub fn redaction(report: &Value, run: &dyn Fn(&str) -> Command) {
    let c = &report["context"];
    let mut secrets: Vec<String> = [
        "workspace_id",
        "storage_account",
        "compute_name",
        "workspace_name",
        "resource_group",
        "acr",
        "key_vault",
    ]
    .iter()
    .filter_map(|k| c[*k].as_str().map(String::from))
    .collect();
    secrets.extend(report["node"]["hostname"].as_str().map(String::from));
    for r in report["results"].as_array().into_iter().flatten() {
        for p in r["phases"].as_array().into_iter().flatten() {
            for a in p["addresses"].as_array().into_iter().flatten() {
                secrets.extend(a.as_str().map(String::from));
            }
        }
    }
    secrets.retain(|s| s.len() >= 3);
    assert!(secrets.len() >= 4, "too little to redact: {secrets:?}");
    for format in ["json", "jsonl", "table", "markdown", "junit"] {
        let out = run(format)
            .arg("--redact")
            .output()
            .expect("run amlprobe --redact");
        let text = String::from_utf8_lossy(&out.stdout).to_lowercase();
        for secret in &secrets {
            assert!(
                !text.contains(&secret.to_lowercase()),
                "-o {format} --redact still shows {secret}:\n{text}"
            );
        }
        assert!(
            text.contains("<address-") || text.contains("&lt;address-"),
            "-o {format}: placeholders expected"
        );
    }
}

/// The whole report against the scenario: one result per selected entry, each as expected,
/// and the context and summary.
pub fn check_report(report: &Value, sc: &Scenario, targets: &[Target], context: &str) {
    for field in [
        "schema_version",
        "tool",
        "started_at",
        "duration_ms",
        "node",
        "context",
        "summary",
    ] {
        assert!(
            report.get(field).is_some(),
            "report lacks {field}\n{context}"
        );
    }
    let results = report["results"].as_array().expect("results");
    assert_eq!(
        results.len(),
        targets.len(),
        "one result per selected entry\n{context}"
    );
    let listed: BTreeSet<&str> = sc
        .expect
        .check
        .iter()
        .filter_map(|w| w.id.as_deref())
        .collect();
    for id in &listed {
        assert!(
            results.iter().any(|r| r["id"] == *id),
            "expected check {id} is not in the report\n{context}"
        );
    }
    for r in results {
        let id = r["id"].as_str().unwrap_or_default();
        let want = sc
            .expect
            .check
            .iter()
            .find(|w| w.id.as_deref() == Some(id))
            .or(sc.expect.default.as_ref())
            .unwrap_or_else(|| panic!("no expectation for {id}\n{context}"));
        let at = Checked { r, id, context };
        at.fields();
        at.status(want);
        at.texts(want);
        at.target(want);
        at.phases(want);
        at.denial(want);
    }
    report_context(report, sc, context);
    // The context names a middlebox that answers handshakes for any address when, and only
    // when, the scenario puts one on the path.
    assert_eq!(
        report["context"].get("middlebox").is_some(),
        sc.egress_firewall.is_some(),
        "context.middlebox: {}\n{context}",
        report["context"]["middlebox"]
    );
}

/// One result of the report, with what a failure message needs.
struct Checked<'a> {
    r: &'a Value,
    id: &'a str,
    context: &'a str,
}

impl Checked<'_> {
    fn fields(&self) {
        for field in [
            "id",
            "group",
            "title",
            "required",
            "kind",
            "target",
            "status",
            "reason",
            "message",
            "remediation",
            "doc",
            "duration_ms",
            "phases",
        ] {
            assert!(
                self.r.get(field).is_some(),
                "{} lacks {field}\n{}",
                self.id,
                self.context
            );
        }
    }

    fn status(&self, want: &Want) {
        let (r, id, context) = (self.r, self.id, self.context);
        let status = r["status"].as_str().unwrap_or("?");
        let reason = r["reason"].as_str().unwrap_or("?");
        assert_eq!(
            format!("{status}/{reason}"),
            format!(
                "{}/{}",
                want.status.expected(status),
                want.reason.expected(reason)
            ),
            "{id}: {}\n{context}",
            r["message"]
        );
    }

    /// The message and the remediation say what they must.
    fn texts(&self, want: &Want) {
        let (r, id, context) = (self.r, self.id, self.context);
        for (field, needles) in [
            ("message", &want.message_contains),
            ("remediation", &want.remediation_contains),
        ] {
            let text = r[field].as_str().unwrap_or_default();
            for needle in needles {
                assert!(
                    text.contains(needle.as_str()),
                    "{id}: {field} {text:?} lacks {needle:?}\n{context}"
                );
            }
        }
    }

    /// The host probed, whether it stood in for a wildcard, the layer tested, the proxy.
    fn target(&self, want: &Want) {
        let (r, id, context) = (self.r, self.id, self.context);
        if let Some(host) = &want.host {
            assert_eq!(
                r["target"]["host"].as_str(),
                Some(host.as_str()),
                "{id}: target host\n{context}"
            );
        }
        if let Some(stand_in) = want.stand_in {
            assert_eq!(
                r["stand_in"].as_bool().unwrap_or(false),
                stand_in,
                "{id}: stand_in\n{context}"
            );
        }
        if let Some(tested) = want.tested {
            assert_eq!(
                r["tested"].as_str(),
                Some(tested.as_str()),
                "{id}: tested layer\n{context}"
            );
        }
        if let Some(proxied) = want.proxied {
            assert_eq!(
                r["proxy"].is_string(),
                proxied,
                "{id}: went through the proxy?\n{context}"
            );
        }
    }

    /// A firewall's refusal carries its evidence, the name and the rule; nothing else does.
    fn denial(&self, want: &Want) {
        let (r, id, context) = (self.r, self.id, self.context);
        let denial = &r["firewall_denial"];
        let refused = r["reason"] == "firewall_denied"
            || r["message"]
                .as_str()
                .is_some_and(|m| m.contains("(firewall_denied)"));
        assert_eq!(
            denial.is_object(),
            refused,
            "{id}: firewall_denial {denial}\n{context}"
        );
        if refused {
            // A name chosen only to stand for a wildcard: the rule is for the wildcard.
            let name = match r["stand_in"].as_bool() {
                Some(true) => &r["stands_for"],
                _ => &r["target"]["host"],
            };
            assert_eq!(&denial["fqdn"], name, "{id}: fqdn\n{context}");
            let rule = denial["rule"].as_str().unwrap_or_default();
            let port = r["target"]["port"].to_string();
            assert!(
                rule == format!("Https:{port}") || rule == format!("Http:{port}"),
                "{id}: rule {rule}\n{context}"
            );
        }
        if let Some(evidence) = &want.evidence {
            assert_eq!(
                denial["evidence"].as_str(),
                Some(evidence.as_str()),
                "{id}: evidence\n{context}"
            );
        }
        if let Some(confirmed) = want.confirmed {
            assert_eq!(
                denial["confirmed"].as_bool(),
                Some(confirmed),
                "{id}: confirmed\n{context}"
            );
        }
    }

    fn phase(&self, name: &str) -> Option<&Value> {
        self.r["phases"]
            .as_array()
            .and_then(|p| p.iter().find(|p| p["phase"] == name))
    }

    /// What the DNS, HTTP (or WebSocket) and SMB phases found; a probed check has a DNS phase.
    fn phases(&self, want: &Want) {
        let (r, id, context) = (self.r, self.id, self.context);
        let dns = self.phase("dns");
        if let Some(c) = &want.cnames_contain {
            let cnames = dns.map(|d| d["cnames"].to_string()).unwrap_or_default();
            assert!(
                cnames.contains(c.as_str()),
                "{id}: cnames {cnames} lack {c}\n{context}"
            );
        }
        if let Some(server) = &want.server {
            assert_eq!(
                dns.and_then(|d| d["server"].as_str()),
                Some(server.as_str()),
                "{id}: server\n{context}"
            );
        }
        if let Some(status) = want.http_status {
            let got = self.phase("http").or_else(|| self.phase("websocket"));
            assert_eq!(
                got.and_then(|p| p["http_status"].as_u64()),
                Some(u64::from(status)),
                "{id}: HTTP status\n{context}"
            );
        }
        if let Some(dialect) = &want.dialect {
            assert_eq!(
                self.phase("smb").and_then(|p| p["dialect"].as_str()),
                Some(dialect.as_str()),
                "{id}: dialect\n{context}"
            );
        }
        if r["status"] != "skip" && !r["proxy"].is_string() && r["kind"] != "host" {
            assert!(
                dns.is_some(),
                "{id}: a probed check has a dns phase\n{context}"
            );
        }
    }
}

/// The report's context values, warnings and notes, what it must not show, and the summary.
fn report_context(report: &Value, sc: &Scenario, context: &str) {
    let expect = &sc.expect;
    for (path, want) in &expect.context {
        let got = path.split('.').fold(&report["context"], |v, k| &v[k]);
        let got = got
            .as_str()
            .map(String::from)
            .unwrap_or_else(|| got.to_string());
        let want = want.replace("CARGO_MANIFEST_DIR", env!("CARGO_MANIFEST_DIR"));
        assert_eq!(got, want, "context.{path}\n{context}");
    }
    for (field, needles) in [
        ("warnings", &expect.warnings_contain),
        ("notes", &expect.notes_contain),
    ] {
        let have = report["context"][field].to_string();
        for n in needles {
            assert!(
                have.contains(n.as_str()),
                "context.{field} {have} lack {n:?}\n{context}"
            );
        }
    }
    let whole = report.to_string();
    for absent in &expect.report_lacks {
        assert!(
            !whole.contains(absent.as_str()),
            "the report shows {absent:?}\n{context}"
        );
    }
    for (k, v) in expect.summary(sc) {
        assert_eq!(
            report["summary"][&k].as_u64(),
            Some(v),
            "summary.{k}\n{context}"
        );
    }
}

/// The report must match its golden file byte for byte, once what varies from run to run or
/// from checkout to checkout is blanked: durations, the start time, HTTP `Date` headers, the
/// host name, the checkout's path, and the C library's wording of an OS error (the static build
/// links musl, the test build glibc; the error number stays). The text is compared as printed,
/// so a field that moves is caught too.
pub fn golden(name: &str, stdout: &str) {
    let got: String = stdout
        .lines()
        .map(|l| blank_what_varies(l) + "\n")
        .collect();
    let got = blank_milliseconds(&blank_os_wording(&got));
    let got = got.replace(env!("CARGO_MANIFEST_DIR"), "<checkout>");
    matches_golden(&format!("scenario-{name}.json"), &got, &got);
}

/// The results equal those of scenario `other`'s golden report, once what varies is blanked:
/// the same checks, statuses, reasons, messages, remediations and phases.
pub fn same_results(other: &str, stdout: &str, context: &str) {
    let results = |text: &str| -> Value {
        let blanked: String = text.lines().map(|l| blank_what_varies(l) + "\n").collect();
        let blanked = blank_milliseconds(&blank_os_wording(&blanked))
            .replace(env!("CARGO_MANIFEST_DIR"), "<checkout>");
        let report: Value = serde_json::from_str(&blanked).expect("a JSON report");
        report["results"].clone()
    };
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("scenario-{other}.json"));
    let want = std::fs::read_to_string(&path).expect("the other scenario's golden report");
    let (got, want) = (results(stdout), results(&want));
    let got_rows = got.as_array().map(Vec::len);
    assert_eq!(got_rows, want.as_array().map(Vec::len), "{context}");
    for (g, w) in got
        .as_array()
        .into_iter()
        .flatten()
        .zip(want.as_array().into_iter().flatten())
    {
        assert_eq!(
            g, w,
            "{} differs from scenario {other}'s\n{context}",
            g["id"]
        );
    }
}

/// `got` must equal `tests/golden/FILE` byte for byte; `AMLPROBE_UPDATE_GOLDEN=1` rewrites the
/// file first. `context` is shown when they differ.
pub fn matches_golden(file: &str, got: &str, context: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(file);
    if std::env::var_os("AMLPROBE_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().expect("a golden file has a folder"))
            .expect("make the golden folder");
        std::fs::write(&path, got).expect("write the golden file");
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        got == want,
        "{} differs; rerun with AMLPROBE_UPDATE_GOLDEN=1 and review the diff\n{context}",
        path.display()
    );
}

/// One line of the pretty report, its value blanked if it is one that varies.
fn blank_what_varies(line: &str) -> String {
    for key in ["ms", "duration_ms", "started_at", "date", "hostname"] {
        let field = format!("\"{key}\": ");
        if let Some(at) = line.find(&field) {
            if line[..at].trim().is_empty() {
                let comma = if line.ends_with(',') { "," } else { "" };
                return format!("{}\"<varies>\"{comma}", &line[..at + field.len()]);
            }
        }
    }
    line.to_string()
}

/// `within 300 ms` → `within N ms`, `difference 0 s)` → `difference N s)`: waits that follow
/// measured round trips, and clock differences that a second's turn can change.
/// `s` with the words before each `(os error N)`, back to the bracket that opens them, blanked.
fn blank_os_wording(s: &str) -> String {
    const MARK: &str = " (os error ";
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find(MARK) {
        let from = rest[..at].rfind('(').map_or(0, |b| b + 1);
        out.push_str(&rest[..from]);
        out.push_str("<libc wording>");
        out.push_str(MARK);
        rest = &rest[at + MARK.len()..];
    }
    out.push_str(rest);
    out
}

fn blank_milliseconds(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut digits = String::new();
    for (i, c) in s.char_indices() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        if !digits.is_empty() {
            let unit = s[i..].starts_with(" ms") || s[i..].starts_with(" s)");
            out.push_str(if unit { "N" } else { &digits });
            digits.clear();
        }
        out.push(c);
    }
    out.push_str(&digits);
    out
}
