//! Measurements for tests/bench/, not used by the tests: the probe's run repeated under GNU time
//! (AMLPROBE_SIM_REPEAT=N), and the checklist a person scripts today timed the same way
//! (AMLPROBE_SIM_BASELINE).

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use amlprobe::catalog::{Kind, Transport};

use super::probe::{peak_kib, wrapped};
use super::sandbox::Sandbox;
use super::scenario::Scenario;
use super::world::World;

/// Whatever the environment asks for: the baseline, then the repeated runs.
pub fn if_asked(name: &str, sb: &Sandbox, sc: &Scenario, world: &World, ca: &Path, cmd: &Command) {
    if std::env::var_os("AMLPROBE_SIM_BASELINE").is_some() {
        baseline(name, sb, sc, world, ca);
    }
    if let Some(runs) = std::env::var("AMLPROBE_SIM_REPEAT")
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
    {
        repeat(name, sc, cmd, runs, &sb.dir);
    }
}

/// `cmd` under GNU time, writing its peak memory (KiB) to `stats`.
fn timed(cmd: &Command, stats: &Path) -> Command {
    let mut time = Command::new("/usr/bin/time");
    time.args(["-f", "%M", "-o"]).arg(stats);
    wrapped(time, cmd)
}

/// Run the same probe command `runs` more times and print wall-time and peak-memory figures
/// (tests/bench/sealed-run.sh).
fn repeat(name: &str, sc: &Scenario, cmd: &Command, runs: usize, dir: &Path) {
    let mut walls = Vec::new();
    let mut peaks = Vec::new();
    let stats = dir.join("time.txt");
    for _ in 0..runs {
        let started = Instant::now();
        let out = timed(cmd, &stats)
            .output()
            .expect("/usr/bin/time (package time)");
        walls.push(started.elapsed().as_millis() as u64);
        assert!(out.status.code().is_some(), "benchmark run was killed");
        peaks.push(peak_kib(&stats).unwrap_or(0));
    }
    walls.sort_unstable();
    peaks.sort_unstable();
    println!(
        "bench {name}: {runs} runs, deadline {}, wall ms min {} median {} max {}, peak RSS KiB median {} max {}",
        sc.timeout.text,
        walls[0],
        walls[runs / 2],
        walls[runs - 1],
        peaks[runs / 2],
        peaks[runs - 1]
    );
}

/// The checklist a person scripts today, one endpoint after another with the same per-check
/// timeout: dig, then nc for TCP/UDP/SMB or curl for TLS/HTTPS/WebSocket. Timed under GNU time
/// inside the same namespace (tests/bench/compare.sh).
fn baseline(name: &str, sb: &Sandbox, sc: &Scenario, world: &World, ca: &Path) {
    let secs = sc.timeout.whole_secs();
    let mut script = String::from("#!/bin/bash\n");
    let mut endpoints = 0;
    for t in world.live() {
        let Some(port) = t.port() else { continue };
        endpoints += 1;
        let host = t.host();
        let _ = writeln!(
            script,
            "dig +time={secs} +tries=1 +short {host} A >/dev/null"
        );
        let addr = world.address(host);
        let line = match (t.transport(), t.kind) {
            (Transport::Udp, _) => format!("nc -u -z -w {secs} {addr} {port}"),
            (Transport::Tcp, Kind::Tls | Kind::Https | Kind::Websocket) => format!(
                "curl -s -o /dev/null --max-time {secs} --cacert {} --resolve {host}:{port}:{addr} https://{host}:{port}/",
                ca.display(),
            ),
            (Transport::Tcp, Kind::Http) => format!(
                "curl -s -o /dev/null --max-time {secs} --resolve {host}:{port}:{addr} http://{host}:{port}/"
            ),
            (Transport::Tcp, Kind::Dns | Kind::Tcp | Kind::Udp | Kind::Smb | Kind::Host) => {
                format!("nc -z -w {secs} {addr} {port}")
            }
        };
        let _ = writeln!(script, "{line} >/dev/null 2>&1");
    }
    let path = sb.dir.join("checklist.sh");
    std::fs::write(&path, script).unwrap();
    let stats = sb.dir.join("checklist-time.txt");
    let started = Instant::now();
    let _ = sb
        .command("/usr/bin/time")
        .args(["-f", "%M", "-o"])
        .arg(&stats)
        .arg("bash")
        .arg(&path)
        .output();
    let wall = started.elapsed().as_millis();
    let rss = std::fs::read_to_string(&stats).unwrap_or_default();
    println!(
        "baseline {name}: sequential dig+nc+curl checklist, {endpoints} endpoints, deadline {}, wall ms {wall}, peak RSS KiB {}",
        sc.timeout.text,
        rss.lines().last().unwrap_or("?").trim()
    );
}
