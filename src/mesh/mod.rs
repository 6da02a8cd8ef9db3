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
pub mod wire;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::catalog::{Kind, Transport};
use crate::cli::{Format, MeshArgs};
use crate::context::Context;
use crate::exit::{emit, Stop};
use crate::report::{self, Meshed, Node};
use crate::result::{ms, CheckResult, Phase, PhaseKind, Target};
use crate::session::{self, assemble, hostname, writable};
use crate::verdict::{remediation, Reason, Subject};
use peers::{local_addresses, pick_self, ports, PeerSource, Peers, SelfFrom};
use wire::{first_seen, listen_all, probe_all, resolve_all, speeds, Attempt, Callers};

/// `HH:MM:SS` in UTC: the nodes' reports are read side by side, whatever their time zones.
fn clock(at: SystemTime) -> String {
    let s = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) % 86_400;
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
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
                None => e.clone(),
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
    let callers = Callers::default();
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
            .filter(|d| d.peer == *peer && d.attempt.answered())
            .map(|d| d.port)
            .collect();
        for &port in ports {
            if let Some(d) = done.iter().find(|d| d.peer == *peer && d.port == port) {
                let mut r = result(
                    name,
                    peer,
                    port,
                    &d.attempt,
                    d.tries,
                    d.took,
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
    fn times_are_shown_as_utc_clock_times() {
        assert_eq!(clock(UNIX_EPOCH + Duration::from_secs(86_399)), "23:59:59");
        assert_eq!(clock(UNIX_EPOCH), "00:00:00");
    }
}
