//! A peer and port's verdict. An attempt alone can mislead: a port refused while the peer was
//! still starting, or dropped in one direction only. So the verdict also weighs what this node
//! heard of the peer otherwise: the other ports it answered on, and whether it connected here.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::wire::{Attempt, Probed};
use crate::catalog::{Kind, Transport};
use crate::reason::{Reason, Status};
use crate::result::{ms, CheckResult, Phase, PhaseKind, Target};
use crate::verdict::judge;

/// What this node heard of one peer besides one port's attempt.
#[derive(Debug, Clone, Default)]
pub struct Heard {
    /// The ports where something answered our attempts.
    pub answered_on: Vec<u16>,
    /// When the peer first connected to this node, while our tries still ran.
    pub reached: Option<SystemTime>,
    /// When it first connected, if only after our tries had ended: it started late, which says
    /// nothing of a one-way block.
    pub late: Option<SystemTime>,
}

impl Heard {
    /// What this node heard of `peer`: from the attempts `done`, and from when it first
    /// connected here (`first`) against when our last try ended (`tried_until`).
    pub fn of(
        peer: &str,
        done: &[Probed],
        first: Option<SystemTime>,
        tried_until: SystemTime,
    ) -> Heard {
        let (reached, late) = match first {
            Some(at) if at > tried_until => (None, Some(at)),
            at => (at, None),
        };
        // In port order, not in the order the attempts ended: a message names the first.
        let mut answered_on: Vec<u16> = done
            .iter()
            .filter(|d| d.peer == peer && d.attempt.answered())
            .map(|d| d.port)
            .collect();
        answered_on.sort_unstable();
        Heard {
            answered_on,
            reached,
            late,
        }
    }
}

/// What every verdict of a run shares: this node's name, `--wait` and `--timeout`, and the
/// names a greeting is weighed against.
pub struct Judge<'a> {
    pub this: &'a str,
    pub wait: Duration,
    pub timeout: Duration,
    pub names: &'a Names,
}

/// What this node knows of the nodes' names, to tell who a greeting came from.
#[derive(Debug, Clone, Default)]
pub struct Names {
    /// This node's own names: its name in the mesh and its hostname.
    pub own: Vec<String>,
    /// This node's own addresses.
    pub own_addresses: Vec<IpAddr>,
    /// Every node of the list, this one included.
    pub peers: Vec<String>,
    /// Addresses as resolved here: of the peers, and of the names greetings gave.
    pub addresses: HashMap<String, Vec<IpAddr>>,
}

/// Who a greeting named, against the peer that was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Named {
    /// The peer: by its very name, by a spelling of it, or by one of its addresses.
    Peer,
    /// This node itself.
    Self_,
    /// Another node of the list.
    Other(String),
    /// A name this node cannot match to the peer or to any node.
    Unknown,
}

/// One host named two ways: the same but for case, or one short name and its FQDN (host names
/// only: `10.0.0.5` is not `10.0.0.6`'s short form).
fn same_host(a: &str, b: &str) -> bool {
    let is_ip = |h: &str| h.parse::<IpAddr>().is_ok();
    let short = |h: &str| h.split('.').next().unwrap_or("").to_ascii_lowercase();
    a.eq_ignore_ascii_case(b) || (!is_ip(a) && !is_ip(b) && short(a) == short(b))
}

impl Names {
    /// A name's addresses: itself when it is an address, else what it resolved to here.
    fn addresses_of(&self, name: &str) -> Vec<IpAddr> {
        match name.parse::<IpAddr>() {
            Ok(ip) => vec![ip.to_canonical()],
            Err(_) => self.addresses.get(name).cloned().unwrap_or_default(),
        }
    }

    /// Whether `a` and `b` share an address, as far as this node can tell.
    fn share_address(&self, a: &str, b: &str) -> bool {
        let b = self.addresses_of(b);
        self.addresses_of(a).iter().any(|ip| b.contains(ip))
    }

    /// Who `name`, a greeting from `peer`, is. A peer listed by address may greet with its
    /// hostname, and a peer listed by name with its address, when its own list differs or it
    /// could not tell which entry it is: those match by address, where this node resolves them.
    /// This node itself comes first: whatever else the name matches, a greeting in this node's
    /// own name came from here.
    fn greeted(&self, peer: &str, name: &str) -> Named {
        if name == peer {
            return Named::Peer;
        }
        let name_ips = self.addresses_of(name);
        if self.own.iter().any(|o| same_host(o, name))
            || name_ips.iter().any(|ip| self.own_addresses.contains(ip))
        {
            return Named::Self_;
        }
        if same_host(peer, name) || self.share_address(peer, name) {
            return Named::Peer;
        }
        match self
            .peers
            .iter()
            .filter(|p| *p != peer && !self.own.contains(p))
            .find(|p| same_host(p, name) || self.share_address(p, name))
        {
            Some(other) => Named::Other(other.clone()),
            None => Named::Unknown,
        }
    }
}

impl Judge<'_> {
    /// One peer's results, a port each in the order of `ports`. `--bandwidth`'s measure, when
    /// taken, goes in the first that passed.
    pub fn peer(
        &self,
        peer: &str,
        ports: &[u16],
        done: &[Probed],
        heard: &Heard,
        speed: Option<&Result<f64, String>>,
    ) -> Vec<CheckResult> {
        let mut results: Vec<CheckResult> = ports
            .iter()
            .filter_map(|&port| done.iter().find(|d| d.peer == peer && d.port == port))
            .map(|d| self.result(d, heard))
            .collect();
        let passed = results.iter_mut().find(|r| r.reason == Reason::Ok);
        if let (Some(r), Some(speed)) = (passed, speed) {
            match speed {
                Ok(bps) => r
                    .message
                    .push_str(&format!("; --bandwidth: {:.1} MB/s", bps / 1e6)),
                Err(e) => r
                    .message
                    .push_str(&format!("; --bandwidth: not measured ({e})")),
            }
        }
        results
    }

    /// The result of one peer and port.
    pub fn result(&self, p: &Probed, heard: &Heard) -> CheckResult {
        let (reason, mut message, error) = self.verdict(p, heard);
        if let (Some(at), Reason::PeerAbsent) = (heard.late, reason) {
            message.push_str(&format!(
                "; it connected to this node at {} UTC, after these tries had ended: it started late, so give a --wait long enough for every node to start",
                clock(at)
            ));
        }
        let mut result = self.unjudged(p, error);
        judge(&mut result, reason, message, "", None);
        result
    }

    /// A result with all but its verdict: the pair, the port and the connection's phase.
    fn unjudged(&self, p: &Probed, error: Option<String>) -> CheckResult {
        let Probed {
            peer, port, took, ..
        } = p;
        let mut phase = Phase::of(PhaseKind::Tcp).at(format!("{peer}:{port}"));
        // The TCP connection itself: open whenever something answered on it.
        phase.ok = Some(p.attempt.answered());
        phase.ms = ms(*took);
        phase.error = error;
        CheckResult {
            id: format!("mesh:{peer}:{port}"),
            group: "mesh".into(),
            title: format!("{} → {peer} TCP {port}", self.this),
            required: true,
            kind: Kind::Tcp,
            tested: Some(Kind::Tcp),
            target: Target {
                host: peer.clone(),
                port: Some(*port),
                transport: Transport::Tcp,
            },
            stands_for: None,
            stand_in: false,
            service_tag: None,
            proxy: None,
            status: Status::Skip,
            reason: Reason::Ok,
            message: String::new(),
            remediation: String::new(),
            reason_doc: String::new(),
            doc: String::new(),
            duration_ms: ms(*took),
            phases: vec![phase],
            history: None,
            trace: None,
            firewall_denial: None,
        }
    }

    /// The reason, message and phase error of one peer and port. The peer is up when it
    /// answered any attempt of ours, or connected to this node (`reached`, when first): then a
    /// failure is this port's, or this direction's, not an absent peer.
    fn verdict(&self, p: &Probed, heard: &Heard) -> (Reason, String, Option<String>) {
        let Probed {
            peer,
            port,
            attempt,
            tries,
            ..
        } = p;
        let other_port = heard.answered_on.iter().find(|q| *q != port);
        let elsewhere = match other_port {
            Some(q) => format!("; amlprobe mesh on {peer} answers on port {q}, so"),
            None => String::new(),
        };
        let reached_us = heard
            .reached
            .map(|at| reached_us(peer, *port, other_port, at));
        let seen = !heard.answered_on.is_empty() || attempt.answered() || heard.reached.is_some();
        let (wait_s, timeout_s) = (
            humantime::format_duration(self.wait),
            humantime::format_duration(self.timeout),
        );
        match attempt {
            Attempt::Greeted(name) => self.greeting(peer, *port, name),
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
}

impl Judge<'_> {
    /// The verdict on a greeting `name` from `peer` on `port`: a pass only when it came from
    /// the peer, as far as this node can tell.
    fn greeting(&self, peer: &str, port: u16, name: &str) -> (Reason, String, Option<String>) {
        let answered = Some(format!("amlprobe mesh answered as {name}"));
        let this = self.this;
        match self.names.greeted(peer, name) {
            Named::Peer if name == peer => {
                (Reason::Ok, format!("amlprobe mesh on {peer} answered"), None)
            }
            Named::Peer => (
                Reason::Ok,
                format!("amlprobe mesh answered, naming itself {name}"),
                None,
            ),
            Named::Self_ => (
                Reason::PeerWrongNode,
                format!("{peer}:{port} reached this node itself: its amlprobe mesh answered, naming itself {name}, which is this node ({this}); {peer} leads back here: a stale hosts file or DNS record, or a wrong address in the list"),
                answered,
            ),
            Named::Other(other) => (
                Reason::PeerWrongNode,
                format!("{peer}:{port} reached another node of the job: amlprobe mesh answered, naming itself {name}, which is {other}, not {peer}: a stale hosts file or DNS record, or two nodes with one address"),
                answered,
            ),
            Named::Unknown => (
                Reason::PeerNameUnverified,
                format!("amlprobe mesh answered on {peer}:{port}, naming itself {name}, which this node cannot match to {peer}: a node listed by address may greet with its hostname, or {peer} leads to another machine; check that {name} is {peer}"),
                answered,
            ),
        }
    }
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

/// `HH:MM:SS` in UTC: the nodes' reports are read side by side, whatever their time zones.
fn clock(at: SystemTime) -> String {
    let s = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) % 86_400;
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probed(peer: &str, port: u16, attempt: Attempt, tries: u32, took: Duration) -> Probed {
        Probed {
            peer: peer.into(),
            port,
            attempt,
            tries,
            took,
        }
    }

    #[test]
    fn a_failure_is_named_by_what_else_the_peer_answered() {
        let t = Duration::from_secs(1);
        let w = Duration::from_secs(6);
        let judge = Judge {
            this: "a",
            wait: w,
            timeout: t,
            names: &Names::default(),
        };
        let r = |a: Attempt, answered: &[u16]| {
            let heard = Heard {
                answered_on: answered.to_vec(),
                ..Heard::default()
            };
            judge.result(&probed("b", 45000, a, 3, t), &heard)
        };
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
        let judge = Judge {
            this: "a",
            wait: w,
            timeout: t,
            names: &Names::default(),
        };
        let r = |a: Attempt, answered: &[u16], reached: Option<SystemTime>| {
            let heard = Heard {
                answered_on: answered.to_vec(),
                reached,
                late: None,
            };
            judge.result(&probed("10.0.0.5", 29500, a, 7, t), &heard)
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
    fn a_late_caller_and_the_bandwidth_are_said_in_the_results_they_concern() {
        let t = Duration::from_secs(1);
        let judge = Judge {
            this: "a",
            wait: Duration::from_secs(6),
            timeout: t,
            names: &Names::default(),
        };
        // 1970-01-02 12:00:03 UTC.
        let at = UNIX_EPOCH + Duration::from_secs(86_400 + 12 * 3600 + 3);
        let done = [
            probed("b", 29500, Attempt::Timeout, 7, t),
            probed("b", 33000, Attempt::Timeout, 7, t),
            probed("c", 29500, Attempt::Refused, 1, t),
            probed("c", 33000, Attempt::Greeted("c".into()), 1, t),
            probed("c", 45000, Attempt::Greeted("c".into()), 1, t),
        ];
        // b connected here only after our tries had ended: it started late, and is absent.
        let heard = Heard::of("b", &done, Some(at), at - t);
        assert_eq!((heard.reached, heard.late), (None, Some(at)));
        let late = judge.peer("b", &[29500, 33000], &done, &heard, None);
        assert_eq!(late.len(), 2);
        for r in &late {
            assert_eq!(r.reason, Reason::PeerAbsent);
            assert!(
                r.message.ends_with("; it connected to this node at 12:00:03 UTC, after these tries had ended: it started late, so give a --wait long enough for every node to start"),
                "{}",
                r.message
            );
        }
        let heard = Heard::of("b", &done, Some(at), at + t);
        assert_eq!((heard.reached, heard.late), (Some(at), None));
        // The measure goes in the first port that passed, and in no other.
        let heard = Heard::of("c", &done, None, at);
        assert_eq!(heard.answered_on, [33000, 45000]);
        // Whatever order the attempts ended in.
        let mut ended = done.clone();
        ended.reverse();
        assert_eq!(Heard::of("c", &ended, None, at).answered_on, [33000, 45000]);
        let c = judge.peer("c", &[29500, 33000, 45000], &done, &heard, Some(&Ok(2.5e6)));
        let said: Vec<&str> = c.iter().map(|r| r.message.as_str()).collect();
        assert_eq!(
            said[1..],
            [
                "amlprobe mesh on c answered; --bandwidth: 2.5 MB/s",
                "amlprobe mesh on c answered"
            ]
        );
        assert_eq!(c[0].reason, Reason::TcpRefused);
        let c = judge.peer("c", &[45000], &done, &heard, Some(&Err("x".into())));
        assert_eq!(
            c[0].message,
            "amlprobe mesh on c answered; --bandwidth: not measured (x)"
        );
    }

    #[test]
    fn a_greeting_passes_only_from_the_peer_it_was_meant_for() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let names = Names {
            own: vec!["10.0.0.4".into(), "node-0".into()],
            own_addresses: vec![ip("10.0.0.4"), ip("127.0.0.1")],
            peers: ["10.0.0.4", "10.0.0.5", "node-2.x.internal"]
                .map(String::from)
                .to_vec(),
            addresses: HashMap::from([
                ("node-1".to_string(), vec![ip("10.0.0.5")]),
                ("node-2.x.internal".to_string(), vec![ip("10.0.0.6")]),
                ("node-9".to_string(), vec![ip("10.0.0.9")]),
            ]),
        };
        let judge = Judge {
            this: "10.0.0.4",
            wait: Duration::from_secs(6),
            timeout: Duration::from_secs(1),
            names: &names,
        };
        let r = |peer: &str, name: &str| {
            let p = probed(peer, 29500, Attempt::Greeted(name.into()), 1, judge.timeout);
            let r = judge.result(&p, &Heard::default());
            (r.status, r.reason, r.message)
        };
        let pass = |name: &str| {
            (
                Status::Pass,
                Reason::Ok,
                format!("amlprobe mesh answered, naming itself {name}"),
            )
        };
        assert_eq!(
            r("10.0.0.5", "10.0.0.5"),
            (
                Status::Pass,
                Reason::Ok,
                "amlprobe mesh on 10.0.0.5 answered".into()
            )
        );
        // The peer under another of its names: its hostname that resolves to its address, or
        // the short form of its FQDN.
        assert_eq!(r("10.0.0.5", "node-1"), pass("node-1"));
        assert_eq!(r("node-2.x.internal", "NODE-2"), pass("NODE-2"));
        assert_eq!(r("node-2.x.internal", "10.0.0.6"), pass("10.0.0.6"));
        // This node itself, by its name in the mesh, its hostname or one of its addresses.
        for me in ["10.0.0.4", "node-0", "node-0.x.internal", "127.0.0.1"] {
            assert_eq!(
                r("10.0.0.5", me),
                (
                    Status::Fail,
                    Reason::PeerWrongNode,
                    format!("10.0.0.5:29500 reached this node itself: its amlprobe mesh answered, naming itself {me}, which is this node (10.0.0.4); 10.0.0.5 leads back here: a stale hosts file or DNS record, or a wrong address in the list")
                ),
                "{me}"
            );
        }
        // Another node of the list, by its name or by its address.
        for other in ["node-2", "10.0.0.6"] {
            assert_eq!(
                r("10.0.0.5", other),
                (
                    Status::Fail,
                    Reason::PeerWrongNode,
                    format!("10.0.0.5:29500 reached another node of the job: amlprobe mesh answered, naming itself {other}, which is node-2.x.internal, not 10.0.0.5: a stale hosts file or DNS record, or two nodes with one address")
                ),
                "{other}"
            );
        }
        // A name that matches no node here, resolved or not: a warning, not a pass.
        for unknown in ["node-9", "node-7", "10.0.0.8"] {
            let (status, reason, message) = r("10.0.0.5", unknown);
            assert_eq!(
                (status, reason),
                (Status::Warn, Reason::PeerNameUnverified),
                "{unknown}"
            );
            assert_eq!(message, format!("amlprobe mesh answered on 10.0.0.5:29500, naming itself {unknown}, which this node cannot match to 10.0.0.5: a node listed by address may greet with its hostname, or 10.0.0.5 leads to another machine; check that {unknown} is 10.0.0.5"));
        }
        let warned = judge.result(
            &probed(
                "10.0.0.5",
                29500,
                Attempt::Greeted("node-7".into()),
                1,
                judge.timeout,
            ),
            &Heard::default(),
        );
        assert_eq!(
            warned.phases[0].error.as_deref(),
            Some("amlprobe mesh answered as node-7")
        );
        assert_eq!(warned.phases[0].ok, Some(true));
        assert!(!warned.remediation.is_empty());
    }

    #[test]
    fn times_are_shown_as_utc_clock_times() {
        assert_eq!(clock(UNIX_EPOCH + Duration::from_secs(86_399)), "23:59:59");
        assert_eq!(clock(UNIX_EPOCH), "00:00:00");
    }
}
