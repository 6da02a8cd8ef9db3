//! Scenarios that run `watch` instead of `check`, and change the world between its rounds: a
//! name's answer (through a forwarding dnsmasq that holds the watched names in a hosts file and
//! re-reads it on SIGHUP) or an nftables rule that drops a check's packets. The test reads the
//! probe's JSONL rounds as they come and makes each change right after the round it follows,
//! long before the next round starts, so what every round saw is known.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;

use super::probe::{Outcome, Probe};
use super::sandbox::Sandbox;
use super::scenario::{Launch, Scenario};
use super::verify;
use super::world::{Target, World, DNS_ADDR};

/// The forwarding DNS server the watched names are answered by; everything else it asks of
/// the customer's server.
pub const FLIP_DNS_ADDR: &str = "10.77.0.55";
/// The public address a name answers after `answer-public`.
pub const PUBLIC_ADDR: &str = "203.0.113.10";

/// `[watch]`: run `watch` for `rounds` rounds `interval` apart, changing the world as the steps
/// say.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchSpec {
    pub rounds: u32,
    /// Passed to `--interval` as written; longer than a round by far, so that every step is made
    /// between two rounds.
    pub interval: String,
    /// Also write `--metrics` and validate it with `promtool check metrics`.
    #[serde(default)]
    pub metrics: bool,
    #[serde(default)]
    pub step: Vec<Step>,
}

/// `[[watch.step]]`: after round `after`, change what check `check` meets.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub after: u32,
    pub check: String,
    #[serde(rename = "type")]
    pub kind: StepKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepKind {
    /// The check's name answers a public address.
    AnswerPublic,
    /// The check's name answers its own (private) address again.
    AnswerOwn,
    /// The firewall drops the check's packets.
    Drop,
    /// The firewall lets them through again.
    Undrop,
}

fn answers(spec: &WatchSpec) -> bool {
    spec.step
        .iter()
        .any(|s| matches!(s.kind, StepKind::AnswerPublic | StepKind::AnswerOwn))
}

fn target<'a>(world: &'a World, id: &str) -> &'a Target {
    world
        .live()
        .iter()
        .find(|t| t.id == id)
        .unwrap_or_else(|| panic!("a watch step names {id}, which is not a live check"))
}

/// The forwarding DNS server, when a step changes an answer: the names the steps change in its
/// hosts file, at their own addresses to begin with. Returns the listeners to wait for.
pub fn start(sb: &mut Sandbox, sc: &Scenario, world: &World) -> BTreeSet<String> {
    let Some(spec) = sc.watch.as_ref().filter(|s| answers(s)) else {
        return BTreeSet::new();
    };
    flips(spec, world).write(sb);
    sb.add_address(FLIP_DNS_ADDR);
    let conf = format!(
        "no-resolv\nno-hosts\nbind-interfaces\nuser=root\nlisten-address={FLIP_DNS_ADDR}\nserver={DNS_ADDR}\naddn-hosts={}\n",
        hosts_file(sb).display()
    );
    let path = sb.dir.join("flip-dns.conf");
    std::fs::write(&path, conf).unwrap();
    let pid = format!("--pid-file={}", sb.dir.join("flip-dns.pid").display());
    let conf = path.display().to_string();
    sb.spawn("dnsmasq", &["-k", "-C", &conf, &pid, "--log-facility=-"]);
    BTreeSet::from([format!("udp/{FLIP_DNS_ADDR}:53")])
}

/// The names the answer steps change, each at its own address.
fn flips(spec: &WatchSpec, world: &World) -> Flips {
    let mut names: Vec<(String, String)> = spec
        .step
        .iter()
        .filter(|s| matches!(s.kind, StepKind::AnswerPublic | StepKind::AnswerOwn))
        .map(|s| {
            let host = target(world, &s.check).host();
            (host.to_string(), world.address(host).to_string())
        })
        .collect();
    names.sort();
    names.dedup();
    Flips { names }
}

fn hosts_file(sb: &Sandbox) -> PathBuf {
    sb.dir.join("flip.hosts")
}

/// The names the forwarding server answers itself, and the address each answers now.
#[derive(Default)]
struct Flips {
    names: Vec<(String, String)>,
}

impl Flips {
    fn write(&self, sb: &Sandbox) {
        let text: String = self
            .names
            .iter()
            .map(|(host, addr)| format!("{addr} {host}\n"))
            .collect();
        std::fs::write(hosts_file(sb), text).unwrap();
    }

    /// Point `host` at `addr` and have dnsmasq read its hosts file again.
    fn answer(&mut self, sb: &Sandbox, host: &str, addr: &str) {
        for (h, a) in &mut self.names {
            if h == host {
                *a = addr.to_string();
            }
        }
        self.write(sb);
        let pid = std::fs::read_to_string(sb.dir.join("flip-dns.pid"))
            .expect("the forwarding dnsmasq wrote its pid");
        let pid: i32 = pid.trim().parse().expect("a pid");
        use nix::sys::signal::{kill, Signal};
        kill(nix::unistd::Pid::from_raw(pid), Signal::SIGHUP).expect("SIGHUP to dnsmasq");
    }
}

/// The checks whose packets the firewall drops now, as one table of their own.
#[derive(Default)]
struct Drops {
    rules: Vec<String>,
}

impl Drops {
    fn apply(&self, sb: &Sandbox) {
        // Made, emptied and filled in one transaction, whether or not it existed.
        let ruleset = format!(
            "table inet simwatch {{}}\ndelete table inet simwatch\ntable inet simwatch {{\n  chain input {{\n    type filter hook input priority -1;\n{}  }}\n}}\n",
            self.rules.concat()
        );
        let path = sb.dir.join("watch-rules.nft");
        std::fs::write(&path, ruleset).unwrap();
        sb.run("nft", &["-f", &path.display().to_string()]);
    }
}

fn drop_rule(world: &World, t: &Target) -> String {
    let port = t
        .port()
        .map(|p| format!(" {} dport {p}", t.transport()))
        .unwrap_or_default();
    format!("    ip daddr {}{port} drop\n", world.address(t.host()))
}

/// Runs `watch` in the sandbox, making the steps between rounds, then checks the report as
/// `check`'s is checked, and the history and metrics only a watch has.
pub fn play(
    name: &str,
    sb: &Sandbox,
    sc: &Scenario,
    world: &World,
    targets: &[Target],
    probe: &Probe,
) {
    let spec = sc.watch.as_ref().expect("a watch scenario");
    assert!(
        matches!(sc.launch(), Launch::Direct),
        "{name}: watch scenarios run the binary directly, without the hook or the empty root"
    );
    let report_file = sb.dir.join("report.json");
    let metrics_file = sb.dir.join("metrics/amlprobe.prom");
    let mut cmd = as_watch(&probe.check("jsonl"));
    cmd.args(["--interval", &spec.interval])
        .args(["--count", &spec.rounds.to_string()])
        .arg("--report")
        .arg(&report_file);
    if answers(spec) {
        cmd.args(["--dns-server", FLIP_DNS_ADDR]);
    }
    if spec.metrics {
        std::fs::create_dir_all(metrics_file.parent().unwrap()).unwrap();
        cmd.arg("--metrics").arg(&metrics_file);
    }
    let stderr_file = sb.dir.join("watch.stderr");
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr_file).unwrap())
        .spawn()
        .expect("run amlprobe watch");
    // Nothing may hang: past a generous bound the probe is killed and the test fails.
    let (done, watchdog) = mpsc::channel::<()>();
    let pid = child.id() as i32;
    let interval = humantime::parse_duration(&spec.interval).expect("interval");
    let bound = interval * spec.rounds + Duration::from_secs(60);
    let killer = std::thread::spawn(move || {
        if watchdog.recv_timeout(bound).is_err() {
            use nix::sys::signal::{kill, Signal};
            let _ = kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
        }
    });
    let mut flips = flips(spec, world);
    let mut drops = Drops::default();
    let mut stdout = String::new();
    let mut metrics_seen = Vec::new();
    let reader = BufReader::new(child.stdout.take().expect("stdout"));
    for line in reader.lines() {
        let line = line.expect("read the probe's stdout");
        stdout.push_str(&line);
        stdout.push('\n');
        let v: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("{name}: a line that is not JSON ({e}): {line}"));
        if v["type"] != "round" {
            continue;
        }
        let round = v["round"].as_u64().expect("round number") as u32;
        if spec.metrics {
            // Written before the round's line: it is the round's.
            let text = std::fs::read_to_string(&metrics_file).expect("--metrics written");
            metrics_seen.push(text);
        }
        for s in spec.step.iter().filter(|s| s.after == round) {
            let t = target(world, &s.check);
            match s.kind {
                StepKind::AnswerPublic => flips.answer(sb, t.host(), PUBLIC_ADDR),
                StepKind::AnswerOwn => flips.answer(sb, t.host(), world.address(t.host())),
                StepKind::Drop => {
                    drops.rules.push(drop_rule(world, t));
                    drops.apply(sb);
                }
                StepKind::Undrop => {
                    let rule = drop_rule(world, t);
                    drops.rules.retain(|r| *r != rule);
                    drops.apply(sb);
                }
            }
        }
    }
    let status = child.wait().expect("wait for amlprobe watch");
    let _ = done.send(());
    let _ = killer.join();
    let out = Outcome {
        code: status.code(),
        stdout,
        stderr: std::fs::read_to_string(&stderr_file).unwrap_or_default(),
        wall: started.elapsed(),
        report_file: report_file.clone(),
        cmd,
        peak_kib: None,
    };
    let context = verify::context(name, sc, &out);
    verify::run(sc, &out, &context);
    println!("scenario {name}: {} ms wall", out.wall.as_millis());
    let text = std::fs::read_to_string(&report_file).expect("--report written");
    let report: Value = serde_json::from_str(&text).expect("--report is JSON");
    if std::env::var_os("AMLPROBE_SIM_SHOW").is_some() {
        println!("{}", verify::compact(&text));
    }
    stream(&out.stdout, spec, &report, &context);
    history(&report, spec, world, &context);
    verify::check_report(&report, sc, targets, &context);
    if spec.metrics {
        assert_eq!(metrics_seen.len(), spec.rounds as usize, "{context}");
        metrics(name, &metrics_file, &metrics_seen, spec, &report, &context);
    }
}

/// `check`'s command line for the scenario, as `watch`: the same flags after the subcommand.
fn as_watch(check: &Command) -> Command {
    let mut cmd = Command::new(check.get_program());
    let mut replaced = false;
    for arg in check.get_args() {
        if !replaced && arg == "check" {
            cmd.arg("watch");
            replaced = true;
        } else {
            cmd.arg(arg);
        }
    }
    assert!(replaced, "the probe's command names its subcommand");
    for (k, v) in check.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    cmd
}

/// `-o jsonl`: one line per round, in order, then one per result, then the summary.
fn stream(stdout: &str, spec: &WatchSpec, report: &Value, context: &str) {
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<&str> = lines
        .iter()
        .map(|l| l["type"].as_str().unwrap_or("?"))
        .collect();
    let rounds = spec.rounds as usize;
    let results = report["results"].as_array().map(Vec::len).unwrap_or(0);
    assert_eq!(kinds.len(), rounds + results + 1, "{kinds:?}\n{context}");
    assert!(
        kinds[..rounds].iter().all(|k| *k == "round"),
        "{kinds:?}\n{context}"
    );
    assert!(
        kinds[rounds..rounds + results]
            .iter()
            .all(|k| *k == "result"),
        "{context}"
    );
    assert_eq!(kinds.last(), Some(&"summary"), "{context}");
    for (i, l) in lines[..rounds].iter().enumerate() {
        assert_eq!(l["round"].as_u64(), Some(i as u64 + 1), "{context}");
        assert!(
            l["started_at"].is_string() && l["summary"]["total"].is_u64(),
            "{context}"
        );
        // Each step shows in the round after it, as a change of the check it names.
        for s in spec.step.iter().filter(|s| s.after == i as u32) {
            let changed = l["changed"].as_array().unwrap();
            assert!(
                changed.iter().any(|c| c["id"] == s.check.as_str()),
                "round {} lists {} as changed: {l}\n{context}",
                i + 1,
                s.check
            );
        }
    }
    assert_eq!(report["watch"]["rounds"], spec.rounds, "{context}");
    assert_eq!(report["watch"]["stopped"], "count", "{context}");
}

/// Every result carries its history; a name the steps moved shows each answer with its round
/// and server, and a check they dropped shows the round it failed in.
fn history(report: &Value, spec: &WatchSpec, world: &World, context: &str) {
    for r in report["results"].as_array().into_iter().flatten() {
        let h = &r["history"];
        assert_eq!(h["rounds"], spec.rounds, "{}: history\n{context}", r["id"]);
    }
    let result = |id: &str| {
        report["results"]
            .as_array()
            .and_then(|rs| rs.iter().find(|r| r["id"] == id))
            .unwrap_or_else(|| panic!("{id} in the report\n{context}"))
    };
    for s in &spec.step {
        let h = &result(&s.check)["history"];
        match s.kind {
            StepKind::AnswerPublic | StepKind::AnswerOwn => {
                let t = target(world, &s.check);
                let answers = h["answers"].as_array().expect("answers");
                let want = match s.kind {
                    StepKind::AnswerPublic => PUBLIC_ADDR,
                    _ => world.address(t.host()),
                };
                let next = answers
                    .iter()
                    .find(|a| a["round"] == s.after + 1)
                    .unwrap_or_else(|| {
                        panic!("an answer of round {}: {h}\n{context}", s.after + 1)
                    });
                assert_eq!(
                    next["addresses"],
                    serde_json::json!([want]),
                    "{h}\n{context}"
                );
                assert_eq!(next["server"], FLIP_DNS_ADDR, "{h}\n{context}");
                assert!(next["at"].is_string(), "{h}\n{context}");
            }
            StepKind::Drop => {
                assert_eq!(h["first_failure"]["round"], s.after + 1, "{h}\n{context}");
            }
            StepKind::Undrop => {
                assert_eq!(h["last_failure"]["round"], s.after, "{h}\n{context}");
            }
        }
    }
}

/// Each round's metrics file, and the last one validated by `promtool check metrics`.
fn metrics(
    name: &str,
    file: &Path,
    seen: &[String],
    spec: &WatchSpec,
    report: &Value,
    context: &str,
) {
    for (i, text) in seen.iter().enumerate() {
        let round = format!("amlprobe_rounds {}\n", i + 1);
        assert!(text.contains(&round), "round {}: {text}\n{context}", i + 1);
        // A check the firewall drops in this round shows as failing in its file.
        for s in spec
            .step
            .iter()
            .filter(|s| s.kind == StepKind::Drop && s.after == i as u32)
        {
            let failing = format!("amlprobe_check_success{{id=\"{}\",", s.check);
            let line = text
                .lines()
                .find(|l| l.starts_with(&failing))
                .unwrap_or_else(|| panic!("{failing} in round {}: {text}", i + 1));
            assert!(line.ends_with(" 0"), "{line}\n{context}");
        }
    }
    let last = seen.last().expect("a round");
    for r in report["results"].as_array().into_iter().flatten() {
        if r["status"] != "skip" {
            let series = format!(
                "amlprobe_check_success{{id=\"{}\",",
                r["id"].as_str().unwrap()
            );
            assert!(last.contains(&series), "{series} in {last}\n{context}");
        }
    }
    for s in spec
        .step
        .iter()
        .filter(|s| s.kind == StepKind::AnswerPublic)
    {
        let host = report["results"]
            .as_array()
            .and_then(|rs| rs.iter().find(|r| r["id"] == s.check.as_str()))
            .and_then(|r| r["target"]["host"].as_str())
            .unwrap_or_default()
            .to_string();
        let changes = format!("amlprobe_dns_answer_changes{{name=\"{host}\"}} ");
        let line = last.lines().find(|l| l.starts_with(&changes));
        let n: u32 = line
            .and_then(|l| l[changes.len()..].parse().ok())
            .unwrap_or_else(|| panic!("{changes} in {last}"));
        assert!(n >= 1, "{line:?}\n{context}");
    }
    let leftovers: Vec<_> = std::fs::read_dir(file.parent().unwrap())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "only the metrics file: {leftovers:?}");
    promtool(name, file);
}

/// `promtool check metrics` must accept the file. Without promtool that fails under CI and is
/// a framed notice elsewhere, as a scenario that cannot run is.
fn promtool(name: &str, file: &Path) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("promtool").exists()))
        .unwrap_or(false);
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "scenario {name} cannot validate --metrics in CI: needs promtool (Debian package prometheus; .ci/run installs it)"
        );
        let line = format!(
            "SKIPPED promtool check of --metrics in scenario {name}: needs promtool (Debian package prometheus); CI=1 fails instead"
        );
        let frame = "!".repeat(line.len() + 8);
        let _ = writeln!(std::io::stderr().lock(), "{frame}\n!!! {line} !!!\n{frame}");
        return;
    }
    let out = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(file).expect("the metrics file"))
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "promtool check metrics rejects {}:\n{}{}\n{}",
        file.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(file).unwrap_or_default()
    );
}
