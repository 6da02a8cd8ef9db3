//! The `mesh` command: node-to-node reachability for distributed training. Every node listens on
//! the ports, greets whoever connects with its name, and connects to every other peer on each
//! port; one result a peer and port. `merge` over the nodes' reports draws the from→to matrix
//! (`matrix.rs`).
//!
//! When a node stops: once its own connections are decided, and not before `--wait` has passed
//! since it started, plus one `--timeout` for a peer's attempt in flight. So nodes that start
//! within `--wait` of each other all find each other, and none waits on another to finish.

pub mod matrix;
pub mod peers;

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::catalog::{Kind, Transport};
use crate::cli::{Format, MeshArgs};
use crate::context::parse_peer;
use crate::context::Context;
use crate::exit::{emit, Stop};
use crate::report::{self, Meshed, Node};
use crate::result::{ms, CheckResult, Phase, PhaseKind, Target};
use crate::session::{self, assemble, hostname, writable};
use crate::verdict::{remediation, Reason, Subject};
use peers::{local_addresses, pick_self, ports, PeerSource, Peers, SelfFrom};

/// The first word of the greeting, and its version.
const GREETING: &str = "amlprobe-mesh 1 ";

/// The longest greeting read.
const GREETING_LIMIT: usize = 300;

/// How long a listener keeps a connection: the greeting, then whatever `--bandwidth` sends.
const SINK_LIMIT: Duration = Duration::from_secs(120);

/// How long a refused or unanswered peer that has not come up yet waits before the next try.
const RETRY_GAP: Duration = Duration::from_millis(500);

/// The most callers a listener remembers: enough for any job, and anyone may connect.
const CALLERS_LIMIT: usize = 1024;

/// Who connected to this node's listeners, and when first: a peer that did is up, and its
/// packets reach this node, whatever became of this node's attempts to it.
type Callers = Arc<Mutex<HashMap<IpAddr, SystemTime>>>;

/// What one peer and port came to: the peer, the port, the last attempt, the tries, how long
/// the last one took.
type Tried = (String, u16, Attempt, u32, Duration);

/// What a node sends to whoever connects.
pub fn greeting(name: &str) -> String {
    format!("{GREETING}{name}\n")
}

/// The node name in a greeting, or `None` when it is not amlprobe mesh's.
pub fn parse_greeting(bytes: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(bytes).ok()?;
    let line = text.strip_suffix('\n')?;
    let name = line.strip_prefix(GREETING)?;
    parse_peer(name).ok().filter(|n| n == name)
}

/// What one connection attempt came to.
#[derive(Debug, Clone)]
enum Attempt {
    /// amlprobe mesh answered, with this name.
    Greeted(String),
    /// Something accepted the connection but did not greet: what it did.
    Stranger(String),
    Refused,
    Timeout,
    Unreachable(String),
}

impl Attempt {
    fn answered(&self) -> bool {
        matches!(self, Attempt::Greeted(_) | Attempt::Stranger(_))
    }
}

fn shown(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text: String = text.trim_end().chars().take(40).collect();
    crate::report::text::printable(&text).into_owned()
}

async fn attempt(peer: &str, port: u16, timeout: Duration) -> Attempt {
    let stream = match tokio::time::timeout(timeout, TcpStream::connect((peer, port))).await {
        Err(_) => return Attempt::Timeout,
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => return Attempt::Refused,
        Ok(Err(e)) => return Attempt::Unreachable(e.to_string()),
        Ok(Ok(s)) => s,
    };
    let mut stream = stream;
    let mut buf = Vec::new();
    let read = tokio::time::timeout(timeout, async {
        let mut chunk = [0u8; 128];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) => return Ok(()),
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    if buf.contains(&b'\n') || buf.len() >= GREETING_LIMIT {
                        return Ok(());
                    }
                }
                Err(e) => return Err(e),
            }
        }
    })
    .await;
    if let Some(end) = buf.iter().position(|b| *b == b'\n') {
        buf.truncate(end + 1);
    }
    if let Some(name) = parse_greeting(&buf) {
        return Attempt::Greeted(name);
    }
    let what = match (read, buf.is_empty()) {
        (_, false) => format!(
            "answered \"{}\" instead of amlprobe mesh's greeting",
            shown(&buf)
        ),
        (Err(_), true) => format!(
            "sent nothing within {}",
            humantime::format_duration(timeout)
        ),
        (Ok(Err(e)), true) => format!("cut the connection without a greeting ({e})"),
        (Ok(Ok(())), true) => "closed the connection without a greeting".to_string(),
    };
    Attempt::Stranger(what)
}

/// One peer and port, tried until decided: until it answers, or until the peer answered on
/// any port (a failure is then final), or until `deadline`.
async fn probe(
    peer: String,
    port: u16,
    timeout: Duration,
    deadline: Instant,
    seen: Arc<Mutex<HashSet<String>>>,
) -> (String, u16, Attempt, u32, Duration) {
    let mut tries = 0;
    loop {
        tries += 1;
        let began = Instant::now();
        let a = attempt(&peer, port, timeout).await;
        let took = began.elapsed();
        if a.answered() {
            crate::probe::lock(&seen).insert(peer.clone());
            return (peer, port, a, tries, took);
        }
        let peer_seen = crate::probe::lock(&seen).contains(&peer);
        if peer_seen || Instant::now() + RETRY_GAP >= deadline {
            return (peer, port, a, tries, took);
        }
        tokio::time::sleep(RETRY_GAP).await;
    }
}

/// Send `size` bytes to amlprobe mesh on `peer`, after its greeting, and wait for it to close:
/// bytes a second, or why not.
async fn throughput(peer: &str, port: u16, size: u64, timeout: Duration) -> Result<f64, String> {
    let mut s = tokio::time::timeout(timeout, TcpStream::connect((peer, port)))
        .await
        .map_err(|_| "timed out".to_string())?
        .map_err(|e| e.to_string())?;
    let mut hello = [0u8; GREETING_LIMIT];
    let n = tokio::time::timeout(timeout, s.read(&mut hello))
        .await
        .map_err(|_| "no greeting".to_string())?
        .map_err(|e| e.to_string())?;
    if parse_greeting(&hello[..n]).is_none() {
        return Err("no greeting".into());
    }
    let block = vec![0u8; 64 << 10];
    let began = Instant::now();
    let send = async {
        let mut left = size;
        while left > 0 {
            let n = usize::try_from(left.min(block.len() as u64)).unwrap_or(block.len());
            s.write_all(&block[..n]).await?;
            left -= n as u64;
        }
        s.shutdown().await?;
        // The peer closes once it has read everything.
        let mut rest = [0u8; 64];
        while s.read(&mut rest).await? > 0 {}
        Ok::<(), std::io::Error>(())
    };
    tokio::time::timeout(SINK_LIMIT, send)
        .await
        .map_err(|_| "did not finish in time".to_string())?
        .map_err(|e| e.to_string())?;
    Ok(size as f64 / began.elapsed().as_secs_f64().max(1e-6))
}

/// Remember a caller the first time it connects. IPv4 callers of a dual-stack listener come
/// as IPv4-mapped IPv6 addresses: kept as IPv4, so they match the peers' IPv4 addresses.
fn note_caller(callers: &Mutex<HashMap<IpAddr, SystemTime>>, from: IpAddr) {
    let mut callers = crate::probe::lock(callers);
    if callers.len() < CALLERS_LIMIT {
        callers
            .entry(from.to_canonical())
            .or_insert_with(SystemTime::now);
    }
}

/// The addresses a peer connects from, as far as this node can tell: its own when it is an
/// address, else what its name resolves to here; none when it does not resolve in time.
async fn addresses_of(peer: &str, timeout: Duration) -> Vec<IpAddr> {
    if let Ok(ip) = peer.parse::<IpAddr>() {
        return vec![ip.to_canonical()];
    }
    match tokio::time::timeout(timeout, tokio::net::lookup_host((peer, 0))).await {
        Ok(Ok(found)) => found.map(|a| a.ip().to_canonical()).collect(),
        _ => Vec::new(),
    }
}

/// Every peer's addresses, looked up at once so that many peers cost one timeout at most.
async fn resolve_all(peers: Vec<String>, timeout: Duration) -> HashMap<String, Vec<IpAddr>> {
    let mut lookups = tokio::task::JoinSet::new();
    for peer in peers {
        lookups.spawn(async move {
            let found = addresses_of(&peer, timeout).await;
            (peer, found)
        });
    }
    let mut out = HashMap::new();
    while let Some(done) = lookups.join_next().await {
        if let Ok((peer, found)) = done {
            out.insert(peer, found);
        }
    }
    out
}

/// When a peer, by any of its addresses, first connected to this node.
fn first_seen(addresses: &[IpAddr], callers: &HashMap<IpAddr, SystemTime>) -> Option<SystemTime> {
    addresses
        .iter()
        .filter_map(|a| callers.get(a))
        .min()
        .copied()
}

/// `HH:MM:SS` in UTC: the nodes' reports are read side by side, whatever their time zones.
fn clock(at: SystemTime) -> String {
    let s = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) % 86_400;
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// Listen on every port; the ports that cannot be listened on, and why.
async fn listen_all(
    addr: IpAddr,
    ports: &[u16],
    name: &str,
    callers: &Callers,
    tasks: &mut tokio::task::JoinSet<()>,
) -> Vec<String> {
    let hello: Arc<[u8]> = greeting(name).into_bytes().into();
    let mut failed = Vec::new();
    for &port in ports {
        match TcpListener::bind(SocketAddr::new(addr, port)).await {
            Ok(listener) => {
                let hello = hello.clone();
                let callers = callers.clone();
                tasks.spawn(async move {
                    while let Ok((mut s, from)) = listener.accept().await {
                        note_caller(&callers, from.ip());
                        let hello = hello.clone();
                        tokio::spawn(async move {
                            let _ = tokio::time::timeout(SINK_LIMIT, async {
                                let _ = s.write_all(&hello).await;
                                let _ = s.shutdown().await;
                                // Wait for the peer to close, so it reads the greeting whole.
                                let mut sink = vec![0u8; 64 << 10];
                                while let Ok(n) = s.read(&mut sink).await {
                                    if n == 0 {
                                        break;
                                    }
                                }
                            })
                            .await;
                        });
                    }
                });
            }
            Err(e) => failed.push(format!("{port}: {e}")),
        }
    }
    failed
}

/// How a message about a peer that connected to this node begins. Its connection is the
/// stronger evidence: the peer runs and the way back works, so what fails is this direction.
fn reached_us(peer: &str, port: u16, other_port: Option<&u16>, at: SystemTime) -> String {
    let answers = other_port.map_or(String::new(), |p| format!(" and answers on port {p}"));
    format!(
        "{peer} reached us at {} UTC{answers}; our connections to it on {port} are",
        clock(at)
    )
}

/// The reason, message and phase error of one peer and port. The peer is up when it answered
/// any attempt of ours, or connected to this node (`reached`, when first): then a failure is
/// this port's, or this direction's, not an absent peer.
#[allow(clippy::too_many_arguments)]
fn verdict(
    peer: &str,
    port: u16,
    attempt: &Attempt,
    tries: u32,
    answered_on: &[u16],
    reached: Option<SystemTime>,
    wait: Duration,
    timeout: Duration,
) -> (Reason, String, Option<String>) {
    let other_port = answered_on.iter().find(|p| **p != port);
    let elsewhere = match other_port {
        Some(p) => format!("; amlprobe mesh on {peer} answers on port {p}, so"),
        None => String::new(),
    };
    let reached_us = reached.map(|at| reached_us(peer, port, other_port, at));
    let seen = !answered_on.is_empty() || attempt.answered() || reached.is_some();
    let (wait_s, timeout_s) = (
        humantime::format_duration(wait),
        humantime::format_duration(timeout),
    );
    match attempt {
        Attempt::Greeted(name) if name == peer => {
            (Reason::Ok, format!("amlprobe mesh on {peer} answered"), None)
        }
        Attempt::Greeted(name) => (
            Reason::Ok,
            format!("amlprobe mesh answered, naming itself {name}"),
            None,
        ),
        Attempt::Stranger(what) => (
            Reason::PeerNotAmlprobe,
            format!("{peer}:{port} accepted the connection but {what}"),
            Some(what.clone()),
        ),
        Attempt::Refused if seen => (
            Reason::TcpRefused,
            match (&reached_us, other_port) {
                (Some(r), None) => format!("{r} refused (RST): a firewall on its side rejects this node, or nothing listens there"),
                (Some(r), Some(_)) => format!("{r} refused (RST): a firewall on its side rejects this port"),
                (None, None) => format!("connection refused (RST) on port {port}: nothing listens there, or a firewall rejects it"),
                (None, Some(_)) => format!("connection refused (RST) on port {port}{elsewhere} a firewall rejects this port"),
            },
            Some("connection refused".to_string()),
        ),
        Attempt::Refused => (
            Reason::TcpRefused,
            format!("connection refused (RST) on every try for {wait_s} ({tries} tries): amlprobe mesh never listened on {peer}, or a firewall rejects this node"),
            Some("connection refused".to_string()),
        ),
        Attempt::Timeout if seen => (
            Reason::TcpTimeout,
            match (&reached_us, other_port) {
                (Some(r), None) => format!("{r} dropped: an inbound rule on its side, or a route"),
                (Some(r), Some(_)) => format!("{r} dropped: an inbound rule on its side drops this port"),
                (None, None) => format!("no answer within {timeout_s} on port {port}: packets are dropped"),
                (None, Some(_)) => format!("no answer within {timeout_s} on port {port}{elsewhere} packets to this port are dropped"),
            },
            Some("timed out".to_string()),
        ),
        Attempt::Unreachable(e) if seen => (
            Reason::TcpUnreachable,
            match &reached_us {
                Some(r) => format!("{r} unreachable ({e}): a route on the way, or a firewall that rejects them with ICMP"),
                None => format!("port {port}: {e}"),
            },
            Some(e.clone()),
        ),
        Attempt::Timeout | Attempt::Unreachable(_) => {
            let last = match attempt {
                Attempt::Unreachable(e) => e.clone(),
                _ => "timed out".to_string(),
            };
            (
                Reason::PeerAbsent,
                format!("{peer} answered on no port within --wait {wait_s} ({tries} tries here; last: {last})"),
                Some(last),
            )
        }
    }
}

/// The result of one peer and port.
#[allow(clippy::too_many_arguments)]
fn result(
    this: &str,
    peer: &str,
    port: u16,
    attempt: &Attempt,
    tries: u32,
    took: Duration,
    answered_on: &[u16],
    reached: Option<SystemTime>,
    wait: Duration,
    timeout: Duration,
) -> CheckResult {
    let (reason, message, error) = verdict(
        peer,
        port,
        attempt,
        tries,
        answered_on,
        reached,
        wait,
        timeout,
    );
    let subject = Subject {
        host: peer,
        port: Some(port),
        transport: "tcp",
        service_tag: None,
        stands_for: None,
        forward_zones: "",
        check: None,
    };
    let mut phase = Phase::of(PhaseKind::Tcp).at(format!("{peer}:{port}"));
    // The TCP connection itself: open whenever something answered on it.
    phase.ok = Some(attempt.answered());
    phase.ms = ms(took);
    phase.error = error;
    CheckResult {
        id: format!("mesh:{peer}:{port}"),
        group: "mesh".into(),
        title: format!("{this} → {peer} TCP {port}"),
        required: true,
        kind: Kind::Tcp,
        tested: Some(Kind::Tcp),
        target: Target {
            host: peer.to_string(),
            port: Some(port),
            transport: Transport::Tcp,
        },
        stands_for: None,
        stand_in: false,
        service_tag: None,
        proxy: None,
        status: reason.status(),
        reason,
        message,
        remediation: remediation(reason, &subject),
        reason_doc: reason.doc(),
        doc: String::new(),
        duration_ms: ms(took),
        phases: vec![phase],
        history: None,
        trace: None,
        firewall_denial: None,
    }
}

/// Each peer and port tried until decided (`probe`), in parallel.
async fn probe_all(
    others: &[String],
    ports: &[u16],
    timeout: Duration,
    deadline: Instant,
) -> Vec<Tried> {
    let seen = Arc::new(Mutex::new(HashSet::new()));
    let mut probes = tokio::task::JoinSet::new();
    for peer in others {
        for &port in ports {
            probes.spawn(probe(peer.clone(), port, timeout, deadline, seen.clone()));
        }
    }
    let mut done = Vec::new();
    while let Some(r) = probes.join_next().await {
        if let Ok(r) = r {
            done.push(r);
        }
    }
    done
}

/// `--bandwidth`: one peer at a time, on the first port that greeted, so transfers do not share
/// the link.
async fn speeds(
    size: u64,
    others: &[String],
    ports: &[u16],
    done: &[Tried],
    timeout: Duration,
) -> Vec<(String, Result<f64, String>)> {
    let mut speeds = Vec::new();
    for peer in others {
        let port = ports.iter().copied().find(|port| {
            done.iter()
                .any(|(p, q, a, _, _)| p == peer && q == port && matches!(a, Attempt::Greeted(_)))
        });
        if let Some(port) = port {
            speeds.push((peer.clone(), throughput(peer, port, size, timeout).await));
        }
    }
    speeds
}

/// Listen, try every peer on every port, and listen on for the peers' attempts: the ports this
/// node could not listen on, and one result a peer and port.
async fn run(
    args: &MeshArgs,
    ports: &[u16],
    name: &str,
    others: &[String],
    started: Instant,
) -> (Vec<String>, Vec<CheckResult>) {
    let (wait, timeout) = (args.wait, args.timeout);
    let callers: Callers = Arc::default();
    let mut listeners = tokio::task::JoinSet::new();
    let not_listening = listen_all(args.listen, ports, name, &callers, &mut listeners).await;
    // Looked up while the probes run, so that telling callers apart adds nothing to the run.
    let resolving = tokio::spawn(resolve_all(others.to_vec(), timeout));
    let deadline = started + wait;
    let done = probe_all(others, ports, timeout, deadline).await;
    // A peer that connected here only after every try of ours had ended started late: that is
    // no evidence of a one-way block.
    let tried_until = SystemTime::now();
    let speeds = match args.bandwidth {
        Some(size) => speeds(size, others, ports, &done, timeout).await,
        None => Vec::new(),
    };
    // Listen on: for the whole wait, and one attempt more for a peer's in flight.
    tokio::time::sleep_until((deadline.max(Instant::now()) + timeout).into()).await;
    listeners.abort_all();
    // Read once the listeners have stopped: every attempt a peer made within the wait is in.
    let callers = crate::probe::lock(&callers).clone();
    let addresses = resolving.await.unwrap_or_default();
    let mut results = Vec::new();
    for peer in others {
        let first = addresses.get(peer).and_then(|a| first_seen(a, &callers));
        let (reached, late) = match first {
            Some(at) if at > tried_until => (None, Some(at)),
            at => (at, None),
        };
        let answered_on: Vec<u16> = done
            .iter()
            .filter(|(p, _, a, _, _)| p == peer && a.answered())
            .map(|(_, port, _, _, _)| *port)
            .collect();
        for &port in ports {
            if let Some((_, _, a, tries, took)) =
                done.iter().find(|(p, q, _, _, _)| p == peer && *q == port)
            {
                let mut r = result(
                    name,
                    peer,
                    port,
                    a,
                    *tries,
                    *took,
                    &answered_on,
                    reached,
                    wait,
                    timeout,
                );
                if let (Some(at), Reason::PeerAbsent) = (late, r.reason) {
                    r.message.push_str(&format!(
                        "; it connected to this node at {} UTC, after these tries had ended: it started late, so give a --wait long enough for every node to start",
                        clock(at)
                    ));
                }
                results.push(r);
            }
        }
    }
    for (peer, speed) in speeds {
        let said = match speed {
            Ok(bps) => format!("; --bandwidth: {:.1} MB/s", bps / 1e6),
            Err(e) => format!("; --bandwidth: not measured ({e})"),
        };
        let first = results
            .iter_mut()
            .find(|r| r.target.host == peer && r.reason == Reason::Ok);
        if let Some(r) = first {
            r.message.push_str(&said);
        }
    }
    (not_listening, results)
}

/// The report's notes: which node this is, where the peers came from, what could not be done.
fn context(
    this: &str,
    self_from: SelfFrom,
    peers_from: &PeerSource,
    listen_only: bool,
    not_listening: &[String],
) -> Context {
    let mut context = Context::default();
    context.notes.push(format!(
        "mesh: this node is {this} ({self_from}); peers from {peers_from}"
    ));
    if listen_only {
        context.notes.push(format!(
            "mesh: {peers_from} names only this node, the master: it listened for the workers and tested no one"
        ));
    }
    if self_from == SelfFrom::None {
        context.notes.push(format!(
            "mesh: no peer is this node's hostname or address; give --self NAME. Every peer was tried, as {this}"
        ));
    }
    for n in not_listening {
        context.notes.push(format!(
            "mesh: cannot listen on port {n}; peers reaching it find another program"
        ));
    }
    context
}

/// `amlprobe mesh`.
pub fn mesh(args: &MeshArgs) -> Result<i32, Stop> {
    let started = Instant::now();
    let started_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let peers = Peers::find(&args.peers, &env)?;
    let ports = ports(&args.ports, env("MASTER_PORT"));
    let host = hostname();
    let (this, self_from) = pick_self(
        &peers.hosts,
        args.self_.as_deref(),
        &host,
        &local_addresses(),
    );
    let others = peers.others(&this)?;
    if let Some(path) = &args.report {
        writable(path)?;
    }
    let runtime = crate::session::runtime()?;
    let (not_listening, results) = runtime.block_on(run(args, &ports, &this, &others, started));
    runtime.shutdown_background();
    let context = context(
        &this,
        self_from,
        &peers.from,
        others.is_empty(),
        &not_listening,
    );
    let node = Node {
        hostname: host,
        resolvers: Vec::new(),
        proxy: None,
    };
    let mut report = assemble(
        started,
        started_at,
        ms(args.timeout),
        node,
        context,
        results,
    );
    report.mesh = Some(Meshed {
        this,
        self_from: self_from.to_string(),
        peers: peers.hosts.clone(),
        peers_from: peers.from.to_string(),
        ports,
        wait_ms: ms(args.wait),
        not_listening,
    });
    let shown = session::Shown {
        format: session::format_or_default(args.output),
        report_file: args.report.as_deref(),
        colour: session::colour(args.no_color),
        strict: false,
    };
    if shown.format == Format::Jsonl {
        // The results were not streamed as they finished: their lines come before the summary.
        let lines: String = report
            .results
            .iter()
            .map(|r| report::jsonl_result(r) + "\n")
            .collect();
        emit(&lines)?;
    }
    shown.write(&report)?;
    Ok(report.summary.exit_code(false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greetings_round_trip_and_strangers_do_not_parse() {
        assert_eq!(
            parse_greeting(greeting("node-1").as_bytes()),
            Some("node-1".into())
        );
        assert_eq!(
            parse_greeting(b"amlprobe-mesh 1 10.0.0.4\n"),
            Some("10.0.0.4".into())
        );
        for bad in [
            &b"SSH-2.0-x\r\n"[..],
            b"amlprobe-mesh 1 node-1",
            b"amlprobe-mesh 2 node-1\n",
            b"amlprobe-mesh 1 \n",
            b"amlprobe-mesh 1 a b\n",
            b"amlprobe-mesh 1 \x1b[2J\n",
            b"\xff\xfe",
        ] {
            assert_eq!(parse_greeting(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_failure_is_named_by_what_else_the_peer_answered() {
        let t = Duration::from_secs(1);
        let w = Duration::from_secs(6);
        let r =
            |a: Attempt, answered: &[u16]| result("a", "b", 45000, &a, 3, t, answered, None, w, t);
        let refused = r(Attempt::Refused, &[29500]);
        assert_eq!(refused.reason, Reason::TcpRefused);
        assert!(
            refused
                .message
                .contains("answers on port 29500, so a firewall rejects this port"),
            "{}",
            refused.message
        );
        let never = r(Attempt::Refused, &[]);
        assert_eq!(never.reason, Reason::TcpRefused);
        assert!(never.message.contains("every try"), "{}", never.message);
        assert_eq!(r(Attempt::Timeout, &[29500]).reason, Reason::TcpTimeout);
        assert_eq!(r(Attempt::Timeout, &[]).reason, Reason::PeerAbsent);
        assert_eq!(
            r(Attempt::Unreachable("no route".into()), &[]).reason,
            Reason::PeerAbsent
        );
        assert_eq!(
            r(Attempt::Unreachable("no route".into()), &[29500]).reason,
            Reason::TcpUnreachable
        );
        let stranger = r(Attempt::Stranger("sent nothing within 1s".into()), &[]);
        assert_eq!(
            (stranger.reason, stranger.status),
            (Reason::PeerNotAmlprobe, crate::reason::Status::Fail)
        );
        let ok = r(Attempt::Greeted("b".into()), &[45000]);
        assert_eq!(
            (ok.id.as_str(), ok.group.as_str(), ok.reason),
            ("mesh:b:45000", "mesh", Reason::Ok)
        );
        assert_eq!(ok.target.to_string(), "b:45000/tcp");
        assert!(!r(Attempt::Timeout, &[]).remediation.is_empty());
    }

    #[test]
    fn a_peer_that_reached_this_node_is_up_whatever_our_attempts_met() {
        let t = Duration::from_secs(1);
        let w = Duration::from_secs(6);
        // 1970-01-02 12:00:03 UTC.
        let at = UNIX_EPOCH + Duration::from_secs(86_400 + 12 * 3600 + 3);
        let r = |a: Attempt, answered: &[u16], reached: Option<SystemTime>| {
            result("a", "10.0.0.5", 29500, &a, 7, t, answered, reached, w, t)
        };
        let dropped = r(Attempt::Timeout, &[], Some(at));
        assert_eq!(dropped.reason, Reason::TcpTimeout);
        assert_eq!(
            dropped.message,
            "10.0.0.5 reached us at 12:00:03 UTC; our connections to it on 29500 are dropped: an inbound rule on its side, or a route"
        );
        assert_eq!(dropped.phases[0].error.as_deref(), Some("timed out"));
        let refused = r(Attempt::Refused, &[], Some(at));
        assert_eq!(refused.reason, Reason::TcpRefused);
        assert_eq!(
            refused.message,
            "10.0.0.5 reached us at 12:00:03 UTC; our connections to it on 29500 are refused (RST): a firewall on its side rejects this node, or nothing listens there"
        );
        let unreachable = r(
            Attempt::Unreachable("no route to host".into()),
            &[],
            Some(at),
        );
        assert_eq!(unreachable.reason, Reason::TcpUnreachable);
        assert_eq!(
            unreachable.message,
            "10.0.0.5 reached us at 12:00:03 UTC; our connections to it on 29500 are unreachable (no route to host): a route on the way, or a firewall that rejects them with ICMP"
        );
        // Seen both ways: the listener's record leads, and the port that answered still shows.
        let both = r(Attempt::Timeout, &[33000], Some(at));
        assert_eq!(both.reason, Reason::TcpTimeout);
        assert_eq!(
            both.message,
            "10.0.0.5 reached us at 12:00:03 UTC and answers on port 33000; our connections to it on 29500 are dropped: an inbound rule on its side drops this port"
        );
        let both = r(Attempt::Refused, &[33000], Some(at));
        assert!(
            both.message
                .ends_with("refused (RST): a firewall on its side rejects this port"),
            "{}",
            both.message
        );
        // Nothing either way: absent, as before.
        let absent = r(Attempt::Timeout, &[], None);
        assert_eq!(absent.reason, Reason::PeerAbsent);
        assert!(!absent.message.contains("reached us"), "{}", absent.message);
        assert_eq!(
            r(Attempt::Unreachable("no route".into()), &[], None).reason,
            Reason::PeerAbsent
        );
        let ok = r(Attempt::Greeted("10.0.0.5".into()), &[29500], Some(at));
        assert_eq!(
            (ok.reason, ok.message.as_str()),
            (Reason::Ok, "amlprobe mesh on 10.0.0.5 answered")
        );
    }

    #[test]
    fn callers_are_remembered_first_bounded_and_matched_in_either_ip_form() {
        let callers = Mutex::new(HashMap::new());
        let v4: IpAddr = "10.0.0.5".parse().unwrap();
        let mapped: IpAddr = "::ffff:10.0.0.5".parse().unwrap();
        note_caller(&callers, mapped);
        let first = callers.lock().unwrap()[&v4];
        std::thread::sleep(Duration::from_millis(5));
        note_caller(&callers, v4);
        let seen = callers.lock().unwrap().clone();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[&v4], first);
        let rt = crate::session::runtime().unwrap();
        let t = Duration::from_millis(100);
        for peer in ["10.0.0.5", "::ffff:10.0.0.5"] {
            let addrs = rt.block_on(addresses_of(peer, t));
            assert_eq!(addrs, [v4], "{peer}");
            assert_eq!(first_seen(&addrs, &seen), Some(first), "{peer}");
        }
        let other = rt.block_on(addresses_of("10.0.0.6", t));
        assert_eq!(first_seen(&other, &seen), None);
        assert_eq!(first_seen(&[], &seen), None);
        for i in 0..2000u32 {
            note_caller(&callers, IpAddr::from(std::net::Ipv4Addr::from(i)));
        }
        assert_eq!(callers.lock().unwrap().len(), CALLERS_LIMIT);
        assert_eq!(clock(UNIX_EPOCH + Duration::from_secs(86_399)), "23:59:59");
        assert_eq!(clock(UNIX_EPOCH), "00:00:00");
    }
}
