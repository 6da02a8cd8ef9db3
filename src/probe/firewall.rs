//! An egress firewall on the path, as the node sees it. Azure Firewall's application rules are
//! a transparent proxy: on TCP 80 and 443 (and on any port some application rule names) the
//! firewall completes the handshake itself, for any destination address, before it has read
//! the name; then it decides on the TLS server name (SNI) or the HTTP `Host`. A name it denies
//! gets, over HTTPS, a closed (sometimes reset) connection without a single TLS byte, and over
//! HTTP, or inside a session it re-signs (TLS inspection), the answer `470` with
//! `Action: Deny`. So a TCP connect on those ports proves nothing, and the refusal has a
//! signature of its own, which this module words and confirms.
//!
//! The canary tells whether something answers handshakes for any address: a connection to an
//! address nobody owns (RFC 5737, RFC 3849) that completes was answered on the way.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Mutex;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::{http, lock, tcp, Failure, Trace};
use crate::catalog::HttpSpec;
use crate::reason::Reason;
use crate::result::{Denial, Evidence, Phase, PhaseKind};

/// An IPv4 address nobody owns: TEST-NET-1 (RFC 5737).
pub const CANARY_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// An IPv6 address nobody owns: the documentation prefix (RFC 3849).
pub const CANARY_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);

/// The ports the canary always tries, whatever the checks: the ones an application-rule proxy
/// always takes.
pub const WEB_PORTS: [u16; 2] = [443, 80];

/// The most ports the canary tries in one run: the web ports and those of TCP-only checks.
pub const MAX_CANARY_PORTS: usize = 16;

/// How long past its own connect time a TCP-only check waits for the canary of its port. The
/// canary starts before any check, and a middlebox answers it as fast as it answered the check;
/// so once the canary has been in flight for twice the check's connect time and this much
/// more, its silence is silence, and checks of later waves do not wait at all.
pub const CANARY_GRACE: Duration = Duration::from_millis(50);

/// The protocol and port an application rule must allow, as Azure Firewall writes them.
pub fn rule(tls: bool, port: u16) -> String {
    match tls {
        true => format!("Https:{port}"),
        false => format!("Http:{port}"),
    }
}

/// An egress firewall refused `denial.fqdn`: keep what showed it for the report.
fn refused(trace: &mut Trace, denial: Denial, message: String) -> Failure {
    trace.denial = Some(Box::new(denial));
    Failure {
        reason: Reason::FirewallDenied,
        message,
    }
}

/// The HTTP answer `quote` (470 / `Action: Deny`) to a request for `host`; `inspected_by` names
/// the issuer that re-signed the TLS session it came in.
pub(super) fn answered(
    trace: &mut Trace,
    host: &str,
    port: u16,
    tls: bool,
    quote: String,
    inspected_by: Option<String>,
) -> Failure {
    let rule = rule(tls, port);
    let inside = match &inspected_by {
        Some(by) => format!(" inside a TLS session re-signed by {by} (TLS inspection)"),
        None => String::new(),
    };
    let message = format!(
        "{host}: the request was answered \"{quote}\"{inside}: an egress firewall's application rules deny {host}; an application rule must allow {rule} to {host}"
    );
    let denial = Denial {
        evidence: Evidence::Http470,
        confirmed: true,
        answer: Some(quote),
        inspected_by,
        fqdn: host.to_string(),
        rule,
    };
    refused(trace, denial, message)
}

/// The handshake with `host` at `peer` ended without a TLS byte after the ClientHello, as
/// `evidence` says. A plain request for the same name to port 80 of the same address tells
/// whether it was a firewall: its 470 confirms it; without one, it is only the most likely
/// cause.
pub(super) async fn after_hello(
    trace: &mut Trace,
    peer: SocketAddr,
    host: &str,
    evidence: Evidence,
    deadline: Instant,
) -> Failure {
    let ended = match evidence {
        Evidence::ResetAfterHello => "reset (RST)",
        Evidence::ClosedAfterHello | Evidence::Http470 => "closed (FIN)",
    };
    let rule = rule(true, peer.port());
    let seen = format!(
        "{peer}: TCP connected and the ClientHello naming {host} went out, then the connection was {ended} without a single TLS byte back"
    );
    let confirmed = confirm(trace, peer, host, deadline).await;
    let message = match &confirmed {
        Ok(quote) => format!(
            "{seen}; a plain request for {host} to port 80 of the same address was answered \"{quote}\": an egress firewall's application rules deny {host}; an application rule must allow {rule} to {host}"
        ),
        Err(port_80) => format!(
            "{seen} ({port_80}): most likely an egress firewall's application rules deny {host} (it reads the name from the ClientHello); an application rule must allow {rule} to {host}"
        ),
    };
    let denial = Denial {
        evidence,
        confirmed: confirmed.is_ok(),
        answer: confirmed.ok(),
        inspected_by: None,
        fqdn: host.to_string(),
        rule,
    };
    refused(trace, denial, message)
}

/// One plain `GET /` for `host` to port 80 of `peer`'s address, recorded as a `confirm` phase:
/// the firewall's quoted refusal, or what port 80 did instead.
async fn confirm(
    trace: &mut Trace,
    peer: SocketAddr,
    host: &str,
    deadline: Instant,
) -> Result<String, String> {
    let at = SocketAddr::new(peer.ip(), 80);
    let ask = async {
        let mut stream = tcp::connect_one(at, None, deadline).await?;
        http::exchange(&mut stream, host, &HttpSpec::default(), deadline).await
    };
    let phase = Phase::of(PhaseKind::Confirm).at(at);
    let answer = trace
        .timed(phase, ask, |p, head| {
            p.http_status = Some(head.status);
            p.http_server = head.server.clone();
        })
        .await;
    match answer {
        Ok(head) => http::egress_denial(&head).ok_or_else(|| {
            format!(
                "port 80 answered HTTP {}, not a firewall's 470",
                head.status
            )
        }),
        Err(f) => Err(format!("port 80 did not answer: {}", f.message)),
    }
}

/// What the canary found for one address and port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Canary {
    /// The connect is in flight.
    Pending,
    /// It completed: something on the path answered for an address nobody owns.
    Answered,
    /// It failed at once (no route, refused): nothing answered in its place.
    Failed,
}

/// Whether something on the path answers TCP handshakes for any address, port by port, as
/// the canary's connects find out during a run.
pub struct Middlebox {
    seen: watch::Sender<BTreeMap<SocketAddr, Canary>>,
    /// When the canary started, and its connects in flight.
    attempts: Mutex<Option<(Instant, tokio::task::AbortHandle)>>,
}

impl Default for Middlebox {
    fn default() -> Middlebox {
        Middlebox {
            seen: watch::Sender::new(BTreeMap::new()),
            attempts: Mutex::new(None),
        }
    }
}

/// A non-blocking connect to `target`: its SYN is sent within this call.
fn send_syn(target: SocketAddr) -> std::io::Result<TcpStream> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(
        Domain::for_address(target),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_nonblocking(true)?;
    match socket.connect(&target.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(nix::errno::Errno::EINPROGRESS as i32) => {}
        Err(e) => return Err(e),
    }
    TcpStream::from_std(std::net::TcpStream::from(socket))
}

/// Whether the connect `send_syn` began completed: the socket turns writable either way, and
/// holds the error when it failed.
async fn completed(stream: &TcpStream) -> bool {
    stream.writable().await.is_ok() && matches!(stream.take_error(), Ok(None))
}

/// The canary's address in `ip`'s family.
fn canary_for(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => IpAddr::V4(CANARY_V4),
        IpAddr::V6(_) => IpAddr::V6(CANARY_V6),
    }
}

impl Middlebox {
    /// Connect to the canary on `ports`, in both families, for as long as the run lasts.
    pub fn start(&self, ports: &[u16]) {
        let targets: Vec<SocketAddr> = ports
            .iter()
            .take(MAX_CANARY_PORTS)
            .flat_map(|&p| {
                [
                    SocketAddr::new(CANARY_V4.into(), p),
                    SocketAddr::new(CANARY_V6.into(), p),
                ]
            })
            .collect();
        let started = Instant::now();
        // Each SYN leaves here, before any check's: a middlebox that answers a check's
        // handshake has had the canary's first.
        let sent: Vec<(SocketAddr, std::io::Result<TcpStream>)> =
            targets.into_iter().map(|t| (t, send_syn(t))).collect();
        self.seen.send_replace(
            sent.iter()
                .map(|(t, s)| {
                    (
                        *t,
                        if s.is_ok() {
                            Canary::Pending
                        } else {
                            Canary::Failed
                        },
                    )
                })
                .collect::<BTreeMap<_, _>>(),
        );
        let seen = self.seen.clone();
        let task = tokio::spawn(async move {
            let mut connects = JoinSet::new();
            for (target, stream) in sent {
                if let Ok(stream) = stream {
                    connects.spawn(async move { (target, completed(&stream).await) });
                }
            }
            // Each connection is closed as soon as it is known to have completed.
            while let Some(Ok((target, answered))) = connects.join_next().await {
                let found = match answered {
                    true => Canary::Answered,
                    false => Canary::Failed,
                };
                seen.send_modify(|m| {
                    m.insert(target, found);
                });
            }
        });
        *lock(&self.attempts) = Some((started, task.abort_handle()));
    }

    /// End the canary's connects still in flight: the run is over.
    pub fn stop(&self) {
        if let Some((_, task)) = lock(&self.attempts).as_ref() {
            task.abort();
        }
    }

    /// Forget the last run's canary (a new round of `watch`).
    pub fn reset(&self) {
        self.stop();
        *lock(&self.attempts) = None;
        self.seen.send_replace(BTreeMap::new());
    }

    /// The canary address that answered on `peer`'s port in its family, for a check whose own
    /// connect took `connect`: while the canary's connect is in flight, it is waited for until
    /// it has been in flight for twice that and `CANARY_GRACE`, and never past `deadline`.
    pub async fn answers_for(
        &self,
        peer: SocketAddr,
        connect: Duration,
        deadline: Instant,
    ) -> Option<SocketAddr> {
        let started = lock(&self.attempts).as_ref().map(|(at, _)| *at)?;
        let until = deadline.min(started + 2 * connect + CANARY_GRACE);
        let canary = SocketAddr::new(canary_for(peer.ip()), peer.port());
        let mut seen = self.seen.subscribe();
        let decided = seen.wait_for(|m| m.get(&canary) != Some(&Canary::Pending));
        let found = match tokio::time::timeout_at(until, decided).await {
            Ok(Ok(m)) => m.get(&canary).copied(),
            _ => None,
        };
        (found == Some(Canary::Answered)).then_some(canary)
    }

    /// What the canary found in the run: the ports something answered for an address nobody
    /// owns, if any did.
    pub fn found(&self) -> Option<crate::context::Middlebox> {
        let answered: Vec<SocketAddr> = self
            .seen
            .borrow()
            .iter()
            .filter(|(_, c)| **c == Canary::Answered)
            .map(|(a, _)| *a)
            .collect();
        if answered.is_empty() {
            return None;
        }
        let mut ports: Vec<u16> = answered.iter().map(SocketAddr::port).collect();
        ports.sort_unstable();
        ports.dedup();
        Some(crate::context::Middlebox {
            answers_handshakes_on: ports,
            canary: answered,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Plan;

    fn trace() -> Trace {
        Trace::of_host("localhost")
    }

    #[test]
    fn the_rule_is_the_protocol_and_port_azure_firewall_writes() {
        assert_eq!(rule(true, 443), "Https:443");
        assert_eq!(rule(false, 80), "Http:80");
        assert_eq!(rule(true, 8443), "Https:8443");
    }

    /// A close after the hello that nothing confirms is only the most likely cause, and says
    /// so; what port 80 did is kept as a phase. Port 80 on loopback answers no 470 here.
    #[tokio::test]
    async fn an_unconfirmed_close_after_the_hello_is_only_most_likely_a_firewall() {
        let mut t = trace();
        let peer: SocketAddr = "127.0.0.1:443".parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(1);
        let f = after_hello(
            &mut t,
            peer,
            "localhost",
            Evidence::ClosedAfterHello,
            deadline,
        )
        .await;
        assert_eq!(f.reason, Reason::FirewallDenied);
        assert!(f.message.contains("most likely"), "{}", f.message);
        assert!(
            f.message.contains("must allow Https:443 to localhost"),
            "{}",
            f.message
        );
        let d = t.denial.unwrap();
        assert_eq!(
            (d.confirmed, d.answer, d.evidence),
            (false, None, Evidence::ClosedAfterHello)
        );
        assert_eq!(t.phases[0].phase, PhaseKind::Confirm);
        assert_eq!(t.phases[0].address.as_deref(), Some("127.0.0.1:80"));
    }

    #[tokio::test]
    async fn a_470_is_quoted_with_the_session_that_carried_it() {
        let mut t = trace();
        let quote = "HTTP/1.1 470 status code 470".to_string();
        let by = Some("CN=Contoso TLS Inspection CA".to_string());
        let f = answered(&mut t, "management.azure.com", 443, true, quote, by);
        assert!(
            f.message
                .contains("inside a TLS session re-signed by CN=Contoso"),
            "{}",
            f.message
        );
        let d = t.denial.unwrap();
        assert_eq!(
            (d.evidence, d.rule.as_str()),
            (Evidence::Http470, "Https:443")
        );
    }

    /// The canary as the checks see it: answered, failed at once, not tried, or still in
    /// flight when the check stops waiting.
    #[tokio::test]
    async fn a_check_waits_for_the_canary_of_its_port_no_longer_than_it_may() {
        let m = Middlebox::default();
        let on = |port| SocketAddr::new(CANARY_V4.into(), port);
        let peer = |port| SocketAddr::new("10.0.0.4".parse().unwrap(), port);
        let deadline = Instant::now() + Duration::from_secs(2);
        let took = Duration::from_millis(5);
        // No canary in this run: nothing to wait for.
        assert_eq!(m.answers_for(peer(443), took, deadline).await, None);
        let started = Instant::now();
        let task = tokio::spawn(async {}).abort_handle();
        *lock(&m.attempts) = Some((started, task));
        m.seen.send_replace(BTreeMap::from([
            (on(443), Canary::Answered),
            (on(80), Canary::Failed),
            (on(8787), Canary::Pending),
        ]));
        assert_eq!(
            m.answers_for(peer(443), took, deadline).await,
            Some(on(443))
        );
        assert_eq!(m.answers_for(peer(80), took, deadline).await, None);
        assert_eq!(m.answers_for(peer(22), took, deadline).await, None);
        // Silent: waited for until it has been in flight for twice the connect and the grace.
        assert_eq!(m.answers_for(peer(8787), took, deadline).await, None);
        let waited = started.elapsed();
        assert!(
            waited >= CANARY_GRACE && waited < Duration::from_millis(500),
            "{waited:?}"
        );
        // A check of a later wave does not wait for a canary that has been silent so long: here
        // it would wait until the deadline, two seconds away, if it did.
        let long_ago = Instant::now() - Duration::from_secs(10);
        *lock(&m.attempts) = Some((long_ago, tokio::spawn(async {}).abort_handle()));
        let later = Instant::now();
        assert_eq!(m.answers_for(peer(8787), took, deadline).await, None);
        assert!(later.elapsed() < Duration::from_secs(1));
        // An answer that comes while a check waits counts.
        *lock(&m.attempts) = Some((Instant::now(), tokio::spawn(async {}).abort_handle()));
        let late = async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            m.seen.send_modify(|s| {
                s.insert(on(8787), Canary::Answered);
            });
        };
        let slow = Duration::from_millis(200);
        let (found, ()) = tokio::join!(m.answers_for(peer(8787), slow, deadline), late);
        assert_eq!(found, Some(on(8787)));
        let seen = m.found().unwrap();
        assert_eq!(seen.answers_handshakes_on, [443, 8787]);
        assert!(seen.note().contains("port 443 and 8787"), "{}", seen.note());
        m.reset();
        assert_eq!(m.found(), None);
    }

    /// A run of the node's own checks sends nothing, the canary neither; otherwise it tries the
    /// web ports and those of the TCP-only checks.
    #[test]
    fn the_canary_tries_the_web_ports_and_the_tcp_only_checks() {
        let entries = crate::catalog::load(&[]).unwrap();
        let ctx = crate::context::Context {
            region: Some("westeurope".into()),
            compute_name: Some("ci-one".into()),
            ..Default::default()
        };
        let plans = |only: &[&str]| -> Vec<Plan> {
            let only: Vec<String> = only.iter().map(|s| s.to_string()).collect();
            crate::plan::plan(&entries, &ctx, &only, &[]).unwrap()
        };
        assert!(super::super::canary_ports(&plans(&["node"])).is_empty());
        assert!(super::super::canary_ports(&plans(&["tundra-*"])).is_empty());
        assert_eq!(
            super::super::canary_ports(&plans(&["graph-443"])),
            [443, 80]
        );
        assert_eq!(
            super::super::canary_ports(&plans(&["instances-*"])),
            [443, 80, 8787, 18881]
        );
    }
}
