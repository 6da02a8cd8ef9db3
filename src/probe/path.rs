//! One check's path, layer by layer, as a node's own traffic takes it: DNS, then UDP or a TCP
//! connection (or a CONNECT tunnel through the proxy, which resolves the name itself), then
//! SMB, or TLS and above it HTTP or a WebSocket. The first layer that fails decides.

use std::net::SocketAddr;

use tokio::net::TcpStream;
use tokio::time::Instant;

use super::private_endpoint::{self, is_private};
use super::{clock, dns, host, http, lock, mtu, redirect, smb, tcp, tls, udp, websocket};
use super::{Failure, Runner, Trace};
use crate::catalog::{HostCheck, Kind, Transport};
use crate::plan::Plan;
use crate::result::{Phase, PhaseKind};
use crate::verdict::Reason;

/// Run the plan's layers before `deadline`; `Ok` carries the pass message.
pub(super) async fn run(
    runner: &Runner,
    plan: &Plan,
    deadline: Instant,
    trace: &mut Trace,
) -> Result<String, Failure> {
    let e = &plan.entry;
    match e.host_check {
        Some(HostCheck::Clock) => return clock::judge(&lock(&runner.clocks)),
        Some(check) => return host::run(check, &runner.context),
        None => {}
    }
    // The deeper layers are boxed: a check in flight holds the state of its longest path, and
    // hundreds of checks that end at TCP would each hold room for TLS and HTTP.
    if e.kind == Kind::Dns && (plan.privatelink.is_some() || e.same_address_as.is_some()) {
        return Box::pin(private_endpoint::check(runner, plan, deadline, trace)).await;
    }
    if let Some(url) = &plan.redirect_from {
        // Half the time for learning the host, so the probe of the host keeps the rest.
        let ask_until = Instant::now() + deadline.saturating_duration_since(Instant::now()) / 2;
        Box::pin(redirect::learn(runner, url, ask_until, trace)).await;
    }
    let host = trace.host.clone();
    let proxy = runner.proxy_for(e.kind, &host);
    let (stream, peer) = match proxy {
        Some(proxy) => {
            // The proxy resolves the target: the node's own DNS is not on this path.
            let port = e.port.unwrap_or(443);
            let phase = Phase {
                proxy: Some(proxy.display()),
                ..Phase::of(PhaseKind::Proxy)
            };
            let tunnel = proxy.connect(&runner.resolvers, &host, port, deadline);
            trace
                .timed(phase, tunnel, |p, (_, peer)| {
                    p.address = Some(peer.to_string())
                })
                .await?
        }
        None => match direct(runner, plan, deadline, trace).await? {
            Direct::Done(message) => return Ok(message),
            Direct::Connected(stream, peer) => (stream, peer),
        },
    };
    match e.kind {
        Kind::Tcp => Ok(format!("{peer}: TCP connection accepted")),
        Kind::Smb => Box::pin(smb(stream, peer, deadline, trace)).await,
        // Through a proxy, a smaller MSS would only shrink the packets to the proxy: it says
        // nothing of the path beyond, so the handshake is not retried.
        _ => {
            let mss_retry = proxy.is_none();
            Box::pin(above_tls(
                runner, plan, stream, peer, mss_retry, deadline, trace,
            ))
            .await
        }
    }
}

enum Direct {
    /// The check ended without a TCP stream (DNS-only, UDP).
    Done(String),
    Connected(TcpStream, SocketAddr),
}

/// The node's own path: DNS, then UDP or a TCP connection.
async fn direct(
    runner: &Runner,
    plan: &Plan,
    deadline: Instant,
    trace: &mut Trace,
) -> Result<Direct, Failure> {
    let e = &plan.entry;
    let host = trace.host.clone();
    let (answer, ms) = runner.resolve_shared(&host, deadline).await;
    trace.record(super::lookup_phase(ms, &answer), &answer);
    let answer = answer?;
    let via = match answer.cnames.last() {
        Some(c) => format!("{} via {c}", answer.addresses[0]),
        None => answer.addresses[0].to_string(),
    };
    let Some(port) = e.port else {
        return Ok(Direct::Done(format!("{host} resolves to {via}")));
    };
    if e.private_only && !answer.addresses.iter().any(is_private) {
        return Err(Failure {
            reason: Reason::NotApplicable,
            message: format!(
                "{host} answers the public address {via}: port {port} is served only through a workspace private endpoint, so this node does not use it"
            ),
        });
    }
    match e.transport {
        Transport::Udp => Box::pin(udp(
            runner,
            SocketAddr::new(answer.addresses[0], port),
            deadline,
            trace,
        ))
        .await
        .map(Direct::Done),
        Transport::Tcp => {
            let (stream, peer) = tcp(runner, &answer, port, deadline, trace).await?;
            Ok(Direct::Connected(stream, peer))
        }
    }
}

/// A datagram with a reply passes; silence is inconclusive (`udp_no_reply`), not a pass.
async fn udp(
    runner: &Runner,
    addr: SocketAddr,
    deadline: Instant,
    trace: &mut Trace,
) -> Result<String, Failure> {
    let probe = async {
        match udp::probe(addr, deadline, &runner.udp_wait).await? {
            udp::UdpOutcome::Reply { bytes } => {
                Ok(format!("{addr}: the service answered ({bytes} bytes)"))
            }
            udp::UdpOutcome::Silence { sent, waited } => Err(Failure {
                reason: Reason::UdpNoReply,
                message: format!(
                    "{addr}: {sent} datagrams sent, no ICMP rejection within {} ms; UDP cannot be confirmed without a reply",
                    waited.as_millis()
                ),
            }),
        }
    };
    let answered = trace
        .timed(Phase::of(PhaseKind::Udp).at(addr), probe, |_, _| {})
        .await;
    trace.silent_if(addr, &answered, Reason::UdpNoReply);
    answered
}

async fn tcp(
    runner: &Runner,
    answer: &dns::Answer,
    port: u16,
    deadline: Instant,
    trace: &mut Trace,
) -> Result<(TcpStream, SocketAddr), Failure> {
    let started = Instant::now();
    let connect = async {
        let connected = tcp::connect(&answer.addresses, port, deadline).await;
        // An answer, even a refusal, is a round trip; silence is not.
        if !matches!(&connected, Err(f) if f.reason == Reason::TcpTimeout) {
            runner.udp_wait.observe(started.elapsed());
        }
        connected
    };
    let first = SocketAddr::new(answer.addresses[0], port);
    let phase = Phase::of(PhaseKind::Tcp).at(first);
    let connected = trace
        .timed(phase, connect, |p, (_, peer)| {
            p.address = Some(peer.to_string())
        })
        .await;
    // The first address's outcome decides a failure: a timeout is its silence.
    trace.silent_if(first, &connected, Reason::TcpTimeout);
    connected
}

async fn smb(
    mut stream: TcpStream,
    peer: SocketAddr,
    deadline: Instant,
    trace: &mut Trace,
) -> Result<String, Failure> {
    let who = peer.to_string();
    let negotiate = smb::negotiate(&mut stream, &who, deadline);
    let dialect = trace
        .timed(Phase::of(PhaseKind::Smb).at(peer), negotiate, |p, d| {
            p.dialect = Some(smb::dialect_name(*d))
        })
        .await?;
    Ok(format!(
        "{peer}: SMB2 negotiate answered, dialect {}",
        smb::dialect_name(dialect)
    ))
}

/// TLS, a certificate from the expected issuers, then HTTP or a WebSocket upgrade. With
/// `mss_retry`, a handshake that stalls is retried with a small MSS (`mtu`).
async fn above_tls(
    runner: &Runner,
    plan: &Plan,
    stream: TcpStream,
    peer: SocketAddr,
    mss_retry: bool,
    deadline: Instant,
    trace: &mut Trace,
) -> Result<String, Failure> {
    let e = &plan.entry;
    let host = trace.host.clone();
    let (tls_stream, h) = mtu::handshake(
        &runner.trust,
        stream,
        peer,
        &host,
        mss_retry,
        deadline,
        trace,
    )
    .await?;
    let expected = e
        .expected_issuers
        .as_ref()
        .unwrap_or(&runner.expected_issuers);
    if let Some(by) = tls::intercepted_by(&h, expected) {
        return Err(Failure {
            reason: Reason::TlsIntercepted,
            message: format!(
                "{host}: the certificate verifies but was issued by {by}, not by Microsoft or DigiCert: a TLS-inspecting middlebox re-signs this traffic"
            ),
        });
    }
    let tls_summary = format!(
        "{peer}: {}, certificate for {} issued by {}",
        h.version, h.subject, h.issuer
    );
    match e.kind {
        Kind::Https => https(runner, plan, tls_stream, deadline, trace)
            .await
            .map(|answered| format!("{tls_summary}; {answered}")),
        Kind::Websocket => {
            let upgrade = websocket::upgrade(tls_stream, &host, &e.http.path, deadline);
            let up = trace
                .timed(Phase::of(PhaseKind::Websocket), upgrade, |p, up| {
                    if let Some(head) = &up.head {
                        p.http_status = Some(head.status);
                        p.http_server = head.server.clone();
                    }
                })
                .await?;
            match up.reason {
                Reason::Ok => Ok(up.message),
                reason => Err(Failure {
                    reason,
                    message: up.message,
                }),
            }
        }
        _ => Ok(tls_summary),
    }
}

/// One request; its `Date` feeds the clock check, and a storage firewall's 403 is named.
async fn https(
    runner: &Runner,
    plan: &Plan,
    mut stream: tls::Stream,
    deadline: Instant,
    trace: &mut Trace,
) -> Result<String, Failure> {
    let e = &plan.entry;
    let host = trace.host.clone();
    let request = http::request(&mut stream, &host, &e.http, deadline);
    let head = trace
        .timed(Phase::of(PhaseKind::Http), request, |p, head| {
            p.http_status = Some(head.status);
            p.http_server = head.server.clone();
            p.date = head.date.clone();
        })
        .await?;
    runner.observe_date(&host, &head);
    if let Some(denied) = e
        .firewall_answer
        .and_then(|service| http::firewall_denial(service, &host, &head))
    {
        return Err(denied);
    }
    let server = head.server.map(|s| format!(" from \"{s}\""));
    Ok(format!(
        "HTTP {}{}",
        head.status,
        server.unwrap_or_default()
    ))
}
