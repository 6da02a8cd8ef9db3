//! `mesh` across four nodes (with `--bandwidth`) and a fifth peer that never comes up: sealed network namespaces joined by a bridge that lives in a fifth,
//! on 10.88.0.0/24 with no route out. A firewall on B drops one port from A, C resets every new
//! connection from D, another program holds one of C's ports, and D starts late. Each node's
//! results, and the matrix `merge` draws from their reports, must name exactly those.
//!
//! Then three nodes on 10.88.1.0/24 (apart, so both tests may run at once) and one port that the
//! second drops from the first only: the first must name the one-way block, not an absent peer.
//!
//! Then a node that may open only 64 files, and a client that holds more connections to it than
//! that: a peer that starts after must still meet its greeting (10.88.2.0/24, on one loopback).
//! And a peer that greets and then never reads: `--bandwidth` must end with the run, not wait on
//! it (10.88.3.0/24).
//! And greetings from the wrong node: a peer address that leads back to this node (10.88.4.0/24),
//! and peers that answer as another node of the list or as a name no node has (10.88.5.0/24).

#[allow(dead_code)]
#[path = "sim/sandbox.rs"]
mod sandbox;
#[path = "support/skip.rs"]
mod skip;

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sandbox::Sandbox;
use serde_json::Value;

const PORTS: &str = "29500,33000,45000";
const NODES: [&str; 4] = ["10.88.0.1", "10.88.0.2", "10.88.0.3", "10.88.0.4"];
/// A peer on the list that never comes up: no namespace holds its address.
const ABSENT: &str = "10.88.0.9";

/// Whether the namespaces can be made here; a test that cannot run fails in CI, and elsewhere
/// says it was skipped.
fn can_run(test: &str) -> bool {
    let Err(why) = sandbox::root_and_tools(&["ip", "nft", "socat", "ss", "prlimit"], "") else {
        return true;
    };
    skip::skip_unless_ci(&format!("{test}: {why}"));
    false
}

/// Kills what it holds when dropped, so a failed assertion leaves no process behind.
struct Running(Vec<Child>);

impl Running {
    /// Each one's exit code, in order, once all have finished within `secs`.
    fn codes(&mut self, secs: u64) -> Vec<Option<i32>> {
        let until = Instant::now() + Duration::from_secs(secs);
        let mut codes = Vec::new();
        for child in &mut self.0 {
            loop {
                if let Some(status) = child.try_wait().unwrap() {
                    codes.push(status.code());
                    break;
                }
                assert!(Instant::now() < until, "mesh did not finish");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        codes
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A bridge in a namespace of its own, and one namespace a node plugged into it with its
/// address on `eth0`. Every namespace's name starts with `name`, so tests running at once differ.
fn network(name: &str, addrs: &[&str]) -> (Sandbox, Vec<Sandbox>) {
    let bridge = Sandbox::new(&format!("{name}-br"));
    bridge.run("ip", &["link", "add", "br0", "type", "bridge"]);
    bridge.run("ip", &["link", "set", "br0", "up"]);
    let mut nodes: Vec<Sandbox> = Vec::new();
    for (i, addr) in addrs.iter().enumerate() {
        let sb = Sandbox::new(&format!("{name}-n{}", i + 1));
        let port = format!("v{}", i + 1);
        bridge.run(
            "ip",
            &[
                "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &sb.netns,
            ],
        );
        bridge.run("ip", &["link", "set", &port, "master", "br0", "up"]);
        sb.run("ip", &["addr", "add", &format!("{addr}/24"), "dev", "eth0"]);
        sb.run("ip", &["link", "set", "eth0", "up"]);
        nodes.push(sb);
    }
    (bridge, nodes)
}

fn nft(sb: &Sandbox, rules: &str) {
    let text = format!(
        "table inet mesh {{\n  chain input {{\n    type filter hook input priority 0;\n    {rules}\n  }}\n}}\n"
    );
    let path = sb.dir.join("rules.nft");
    std::fs::write(&path, text).unwrap();
    sb.run("nft", &["-f", &path.display().to_string()]);
}

/// A node's run, started: its JSON report to `report`, whatever the environment's port.
fn start(cmd: &mut Command, report: &std::path::Path) -> Child {
    cmd.args(["-o", "json", "--report"])
        .arg(report)
        .env_remove("MASTER_PORT")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start amlprobe mesh")
}

fn mesh(sb: &Sandbox, report: &std::path::Path) -> Child {
    let mut cmd = sb.command(env!("CARGO_BIN_EXE_amlprobe"));
    cmd.args([
        "mesh",
        "--peers",
        &format!("{},{ABSENT}", NODES.join(",")),
        "--ports",
        PORTS,
    ])
    .args(["--wait", "6s", "--timeout", "1s", "--bandwidth", "1MiB"]);
    start(&mut cmd, report)
}

fn reasons(report: &Value) -> BTreeSet<(String, String)> {
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_string(),
                r["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn mesh_names_exactly_the_blocked_pairs() {
    if !can_run("mesh test") {
        return;
    }
    let (bridge, mut nodes) = network("mesh", &NODES);
    let [a, b, c, d] = NODES;
    // B drops A's new connections to 45000; C resets every new connection from D.
    nft(
        &nodes[1],
        &format!("ip saddr {a} tcp dport 45000 ct state new drop"),
    );
    nft(
        &nodes[2],
        &format!("ip saddr {d} tcp flags syn ct state new reject with tcp reset"),
    );
    // Another program holds C's port 33000 and answers like an SSH server.
    nodes[2].spawn(
        "socat",
        &[
            "TCP-LISTEN:33000,fork,reuseaddr",
            "SYSTEM:printf 'SSH-2.0-x\\r\\n'; sleep 2",
        ],
    );
    nodes[2].wait_for_listeners(&BTreeSet::from(["tcp/0.0.0.0:33000".to_string()]));

    let dir = bridge.dir.clone();
    let report = |i: usize| dir.join(format!("n{}.json", i + 1));
    let mut running = Running(Vec::new());
    for (i, sb) in nodes.iter().enumerate().take(3) {
        running.0.push(mesh(sb, &report(i)));
    }
    // D starts 3s after the others, within their --wait.
    std::thread::sleep(Duration::from_secs(3));
    running.0.push(mesh(&nodes[3], &report(3)));
    // Every node fails: none reaches the absent peer.
    assert_eq!(running.codes(40), [Some(1), Some(1), Some(1), Some(1)]);

    let read =
        |i: usize| -> Value { serde_json::from_slice(&std::fs::read(report(i)).unwrap()).unwrap() };
    let ids = |me: &str, fails: &[(&str, u16, &str)]| -> BTreeSet<(String, String)> {
        NODES
            .iter()
            .chain([&ABSENT])
            .filter(|n| **n != me)
            .flat_map(|n| [29500u16, 33000, 45000].map(|p| (n.to_string(), p)))
            .map(|(n, p)| {
                let reason = fails
                    .iter()
                    .find(|(f, q, _)| *f == n && *q == p)
                    .map_or(if n == ABSENT { "peer_absent" } else { "ok" }, |f| f.2);
                (format!("mesh:{n}:{p}"), reason.to_string())
            })
            .collect()
    };
    let ra = read(0);
    assert_eq!(ra["mesh"]["self"], a);
    assert_eq!(ra["mesh"]["self_from"], "address");
    assert_eq!(ra["mesh"]["peers_from"], "flag");
    assert_eq!(
        reasons(&ra),
        ids(
            a,
            &[(b, 45000, "tcp_timeout"), (c, 33000, "peer_not_amlprobe")]
        )
    );
    assert_eq!(
        reasons(&read(1)),
        ids(b, &[(c, 33000, "peer_not_amlprobe")])
    );
    // --bandwidth: once a peer, on the first port that greeted.
    let to_b = ra["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == format!("mesh:{b}:29500"))
        .unwrap();
    let said = to_b["message"].as_str().unwrap();
    assert!(
        said.contains("--bandwidth: ") && said.ends_with(" MB/s"),
        "{said}"
    );
    // B also connected to A: the drop is named from both sides.
    let a_to_b = ra["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == format!("mesh:{b}:45000"))
        .unwrap();
    let said = a_to_b["message"].as_str().unwrap();
    assert!(
        said.starts_with(&format!("{b} reached us at "))
            && said.contains(" and answers on port 29500; ")
            && said.contains(" on 45000 are dropped"),
        "{said}"
    );
    let rc = read(2);
    assert_eq!(reasons(&rc), ids(c, &[]));
    assert!(rc["mesh"]["not_listening"][0]
        .as_str()
        .unwrap()
        .starts_with("33000: "));
    let refused = [
        (c, 29500, "tcp_refused"),
        (c, 33000, "tcp_refused"),
        (c, 45000, "tcp_refused"),
    ];
    assert_eq!(reasons(&read(3)), ids(d, &refused));

    let out = Command::new(env!("CARGO_BIN_EXE_amlprobe"))
        .args(["merge", "-o", "json"])
        .args((0..4).map(report))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m: Value = serde_json::from_slice(&out.stdout).unwrap();
    let blocked: BTreeSet<(String, String, u64, String)> = m["blocked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["from"].as_str().unwrap().to_string(),
                x["to"].as_str().unwrap().to_string(),
                x["port"].as_u64().unwrap(),
                x["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: BTreeSet<(String, String, u64, String)> = [
        (a, b, 45000, "tcp_timeout"),
        (a, c, 33000, "peer_not_amlprobe"),
        (b, c, 33000, "peer_not_amlprobe"),
        (d, c, 29500, "tcp_refused"),
        (d, c, 33000, "tcp_refused"),
        (d, c, 45000, "tcp_refused"),
    ]
    .into_iter()
    .chain(
        NODES
            .into_iter()
            .flat_map(|n| [29500, 33000, 45000].map(|p| (n, ABSENT, p, "peer_absent"))),
    )
    .map(|(f, t, p, r)| (f.to_string(), t.to_string(), p, r.to_string()))
    .collect();
    assert_eq!(blocked, want);
    assert_eq!(m["missing"], serde_json::json!([ABSENT]));
    assert_eq!(m["matrix"][a][ABSENT], "peer_absent");
    assert_eq!(m["matrix"][ABSENT][a], "?");
    assert_eq!(m["matrix"][a][b], "tcp_timeout");
    assert_eq!(m["matrix"][b][a], "pass");
    assert_eq!(m["matrix"][d][c], "tcp_refused");
    assert_eq!(m["matrix"][c][d], "pass");
    assert_eq!(m["matrix"][a][d], "pass");
    drop(running);
    drop(nodes);
}

/// Three nodes; B drops A's connections to 29500, so A's attempts to B all go unanswered while
/// B reaches A and C, and C reaches both.
const ONE_WAY: [&str; 3] = ["10.88.1.1", "10.88.1.2", "10.88.1.3"];

fn mesh_one_way(sb: &Sandbox, report: &std::path::Path) -> Child {
    let mut cmd = sb.command(env!("CARGO_BIN_EXE_amlprobe"));
    cmd.args(["mesh", "--peers", &ONE_WAY.join(","), "--ports", "29500"])
        .args(["--wait", "4s", "--timeout", "1s"]);
    start(&mut cmd, report)
}

#[test]
fn mesh_names_a_one_way_block_not_an_absent_peer() {
    if !can_run("mesh one-way test") {
        return;
    }
    let (bridge, nodes) = network("mesh-ow", &ONE_WAY);
    let [a, b, c] = ONE_WAY;
    nft(&nodes[1], &format!("ip saddr {a} tcp dport 29500 drop"));
    let dir = bridge.dir.clone();
    let report = |i: usize| dir.join(format!("n{}.json", i + 1));
    let mut running = Running(Vec::new());
    for (i, sb) in nodes.iter().enumerate() {
        running.0.push(mesh_one_way(sb, &report(i)));
    }
    assert_eq!(running.codes(30), [Some(1), Some(0), Some(0)]);
    let read =
        |i: usize| -> Value { serde_json::from_slice(&std::fs::read(report(i)).unwrap()).unwrap() };
    let want = |pairs: &[(&str, &str)]| -> BTreeSet<(String, String)> {
        pairs
            .iter()
            .map(|(n, r)| (format!("mesh:{n}:29500"), r.to_string()))
            .collect()
    };
    let ra = read(0);
    assert_eq!(reasons(&ra), want(&[(b, "tcp_timeout"), (c, "ok")]));
    let to_b = ra["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == format!("mesh:{b}:29500"))
        .unwrap();
    let said = to_b["message"].as_str().unwrap();
    assert!(
        said.starts_with(&format!("{b} reached us at ")) && said.contains(" dropped"),
        "{said}"
    );
    assert_eq!(reasons(&read(1)), want(&[(a, "ok"), (c, "ok")]));
    assert_eq!(reasons(&read(2)), want(&[(a, "ok"), (b, "ok")]));
    drop(running);
    drop(nodes);
}

/// A node whose file limit, soft and hard, is 64, and a peer: on the loopback of one namespace.
const HELD: [&str; 2] = ["10.88.2.1", "10.88.2.2"];

/// `amlprobe mesh` as `me` among `HELD`, with at most `files` open files if given.
fn mesh_held(sb: &Sandbox, me: &str, files: Option<u32>, report: &std::path::Path) -> Child {
    let mut cmd = match files {
        Some(n) => {
            let mut cmd = sb.command("prlimit");
            cmd.arg(format!("--nofile={n}:{n}"))
                .arg(env!("CARGO_BIN_EXE_amlprobe"));
            cmd
        }
        None => sb.command(env!("CARGO_BIN_EXE_amlprobe")),
    };
    cmd.args([
        "mesh",
        "--listen",
        me,
        "--self",
        me,
        "--peers",
        &HELD.join(","),
    ])
    .args(["--ports", "29500", "--wait", "4s", "--timeout", "1s"]);
    start(&mut cmd, report)
}

/// Up to `count` connections to `addr` from inside the namespace `netns`, held by the caller.
fn connections(netns: &str, addr: &str, count: usize) -> Vec<std::net::TcpStream> {
    let (netns, addr) = (
        netns.to_string(),
        addr.parse::<std::net::SocketAddr>().unwrap(),
    );
    // A thread of its own enters the namespace, so the test's other threads stay outside it.
    std::thread::spawn(move || {
        let ns = std::fs::File::open(format!("/var/run/netns/{netns}")).unwrap();
        nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        // One that fails is left out: a listener that stopped refuses the rest.
        (0..count)
            .filter_map(|_| {
                std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()
            })
            .collect()
    })
    .join()
    .unwrap()
}

#[test]
fn a_client_holding_more_connections_than_files_does_not_close_the_port() {
    if !can_run("mesh held-connections test") {
        return;
    }
    let sb = Sandbox::new("mesh-held");
    for addr in HELD {
        sb.add_address(addr);
    }
    let [a, b] = HELD;
    let report = |i: usize| sb.dir.join(format!("n{}.json", i + 1));
    let mut running = Running(vec![mesh_held(&sb, a, Some(64), &report(0))]);
    sb.wait_for_listeners(&BTreeSet::from([format!("tcp/{a}:29500")]));
    // More connections than A may hold files, kept open while the honest peer starts.
    let hostile = connections(&sb.netns, &format!("{a}:29500"), 200);
    running.0.push(mesh_held(&sb, b, None, &report(1)));
    let codes = running.codes(30);
    let rb: Value = serde_json::from_slice(&std::fs::read(report(1)).unwrap()).unwrap();
    assert_eq!(
        reasons(&rb),
        BTreeSet::from([(format!("mesh:{a}:29500"), "ok".to_string())]),
        "{rb}"
    );
    assert_eq!(codes[1], Some(0));
    drop(hostile);
    drop(running);
    drop(sb);
}

/// A node, and a peer that greets as amlprobe mesh does and then never reads.
const MUTE: [&str; 2] = ["10.88.3.1", "10.88.3.2"];

#[test]
fn a_peer_that_greets_and_never_reads_does_not_hold_bandwidth_past_the_run() {
    if !can_run("mesh bandwidth test") {
        return;
    }
    let mut sb = Sandbox::new("mesh-mute");
    for addr in MUTE {
        sb.add_address(addr);
    }
    let [a, b] = MUTE;
    sb.spawn(
        "socat",
        &[
            &format!("TCP-LISTEN:29500,bind={b},fork,reuseaddr"),
            // echo: socat would strip the quotes that printf's spaces need.
            &format!("SYSTEM:echo amlprobe-mesh 1 {b}; sleep 300"),
        ],
    );
    sb.wait_for_listeners(&BTreeSet::from([format!("tcp/{b}:29500")]));
    let report = sb.dir.join("a.json");
    let mut cmd = sb.command(env!("CARGO_BIN_EXE_amlprobe"));
    cmd.args([
        "mesh",
        "--listen",
        a,
        "--self",
        a,
        "--peers",
        &MUTE.join(","),
    ])
    .args(["--ports", "29500", "--wait", "2s", "--timeout", "1s"])
    .args(["--bandwidth", "64MiB"]);
    let began = Instant::now();
    let mut running = Running(vec![start(&mut cmd, &report)]);
    // The run ends one --timeout after its --wait; the transfer is cut there, not 120s later.
    let codes = running.codes(15);
    assert!(
        began.elapsed() < Duration::from_secs(10),
        "{:?}",
        began.elapsed()
    );
    let ra: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(codes, [Some(0)], "{ra}");
    let result = &ra["results"][0];
    assert_eq!(
        (&result["id"], &result["status"], &result["reason"]),
        (
            &format!("mesh:{b}:29500").into(),
            &"pass".into(),
            &"ok".into()
        )
    );
    assert_eq!(
        result["message"],
        format!("amlprobe mesh on {b} answered; --bandwidth: not measured (did not finish before the run ended)")
    );
    drop(running);
    drop(sb);
}

/// A listener on `addr`:29500 in `sb` that greets as amlprobe mesh would, naming itself `name`.
fn greeter(sb: &mut Sandbox, addr: &str, name: &str) {
    sb.spawn(
        "socat",
        &[
            &format!("TCP-LISTEN:29500,bind={addr},fork,reuseaddr"),
            &format!("SYSTEM:echo amlprobe-mesh 1 {name}; sleep 5"),
        ],
    );
}

/// Each result's id, status, reason and message.
fn verdicts(report: &std::path::Path) -> Vec<[String; 4]> {
    let r: Value = serde_json::from_slice(&std::fs::read(report).unwrap()).unwrap();
    r["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| ["id", "status", "reason", "message"].map(|k| r[k].as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn a_greeting_from_this_node_or_another_does_not_pass() {
    if !can_run("mesh greeting test") {
        return;
    }
    // The peer's address is on this node's own loopback, as a stale hosts file would make it:
    // the attempt meets this node's own listener.
    let own = Sandbox::new("mesh-self");
    for addr in ["10.88.4.1", "10.88.4.2"] {
        own.add_address(addr);
    }
    // Two peers, nodes of their own, whose greetings name another node of the list, and a name
    // no node has.
    let (bridge, mut who) = network("mesh-who", &["10.88.5.1", "10.88.5.2", "10.88.5.3"]);
    greeter(&mut who[1], "10.88.5.2", "10.88.5.3");
    greeter(&mut who[2], "10.88.5.3", "node-x");
    who[1].wait_for_listeners(&BTreeSet::from(["tcp/10.88.5.2:29500".to_string()]));
    who[2].wait_for_listeners(&BTreeSet::from(["tcp/10.88.5.3:29500".to_string()]));
    let (self_report, who_report) = (own.dir.join("self.json"), bridge.dir.join("who.json"));
    let mut to_self = own.command(env!("CARGO_BIN_EXE_amlprobe"));
    to_self
        .args([
            "mesh",
            "--self",
            "10.88.4.1",
            "--peers",
            "10.88.4.1,10.88.4.2",
        ])
        .args(["--ports", "29500", "--wait", "2s", "--timeout", "1s"]);
    let mut to_others = who[0].command(env!("CARGO_BIN_EXE_amlprobe"));
    to_others
        .args(["mesh", "--listen", "10.88.5.1", "--self", "10.88.5.1"])
        .args(["--peers", "10.88.5.1,10.88.5.2,10.88.5.3"])
        .args(["--ports", "29500", "--wait", "2s", "--timeout", "1s"]);
    let mut running = Running(vec![
        start(&mut to_self, &self_report),
        start(&mut to_others, &who_report),
    ]);
    assert_eq!(running.codes(20), [Some(1), Some(1)]);
    assert_eq!(
        verdicts(&self_report),
        [[
            "mesh:10.88.4.2:29500",
            "fail",
            "peer_wrong_node",
            "10.88.4.2:29500 reached this node itself: its amlprobe mesh answered, naming itself 10.88.4.1, which is this node (10.88.4.1); 10.88.4.2 leads back here: a stale hosts file or DNS record, or a wrong address in the list"
        ]
        .map(String::from)]
    );
    assert_eq!(
        verdicts(&who_report),
        [
            [
                "mesh:10.88.5.2:29500",
                "fail",
                "peer_wrong_node",
                "10.88.5.2:29500 reached another node of the job: amlprobe mesh answered, naming itself 10.88.5.3, which is 10.88.5.3, not 10.88.5.2: a stale hosts file or DNS record, or two nodes with one address"
            ],
            [
                "mesh:10.88.5.3:29500",
                "warn",
                "peer_name_unverified",
                "amlprobe mesh answered on 10.88.5.3:29500, naming itself node-x, which this node cannot match to 10.88.5.3: a node listed by address may greet with its hostname, or 10.88.5.3 leads to another machine; check that node-x is 10.88.5.3"
            ]
        ]
        .map(|r| r.map(String::from))
    );
    drop(running);
    drop((own, who, bridge));
}
