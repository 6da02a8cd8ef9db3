//! One check's path, layer by layer, as a node's own traffic takes it: DNS, then UDP or a TCP
//! connection (or a CONNECT tunnel through the proxy, which resolves the name itself), then
//! SMB, or TLS and above it HTTP or a WebSocket. The first layer that fails decides.

use std::borrow::Cow;
use std::net::SocketAddr;

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::private_endpoint;
use super::{clock, dns, firewall, host, http, lock, mtu, redirect, smb, tcp, tls, udp};
use super::{websocket, Failure, Runner, Trace};
use crate::catalog::{HostCheck, Kind, Transport};
use crate::net::is_private;
use crate::plan::Plan;
use crate::reason::Reason;
use crate::result::{Phase, PhaseKind};

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
        let what = match e.transfer_bytes {
            Some(_) => "a download",
            None => "a blob download",
        };
        Box::pin(redirect::learn(runner, url, what, ask_until, trace)).await;
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
        Kind::Tcp => tcp_only(runner, peer, deadline, trace).await,
        Kind::Smb => Box::pin(smb(stream, peer, deadline, trace)).await,
        Kind::Http => Box::pin(plain_http(plan, stream, peer, deadline, trace)).await,
        // Through a proxy, a smaller MSS would only shrink the packets to the proxy: it says
        // nothing of the path beyond, so the handshake is not retried.
        _ => {
            let direct = proxy.is_none();
            Box::pin(above_tls(
                runner, plan, stream, peer, direct, deadline, trace,
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

/// A TCP connection that was accepted passes, unless something on the path answers handshakes
/// on this port for any address: then the connect proves nothing (`tcp_inconclusive`). The
/// canary started before any check, so a middlebox that answered this handshake has answered
/// the canary's too, or does within a little grace (`firewall::Middlebox::answers_for`).
async fn tcp_only(
    runner: &Runner,
    peer: SocketAddr,
    deadline: Instant,
    trace: &Trace,
) -> Result<String, Failure> {
    let connect = std::time::Duration::from_millis(trace.phases.last().map_or(0, |p| p.ms));
    let Some(canary) = runner.middlebox.answers_for(peer, connect, deadline).await else {
        return Ok(format!("{peer}: TCP connection accepted"));
    };
    let (port, host) = (peer.port(), &trace.host);
    let seen = format!(
        "{peer}: TCP connection accepted, but a connection to {canary}, an address nobody owns, was accepted too"
    );
    // The canary shows the default route; a private address may be routed around what sits
    // there, so its connect may or may not be real: inconclusive, not a failure, either way.
    let message = match is_private(&peer.ip()) {
        false => format!(
            "{seen}: something on the path (a firewall's application-rule proxy) answers every TCP handshake on port {port}, so this connect proves nothing about {host}"
        ),
        true => format!(
            "{seen}: something on the default route (a firewall's application-rule proxy) answers every TCP handshake on port {port}; {} is a private address the virtual network may route around it, so this connect may or may not have reached {host}",
            peer.ip()
        ),
    };
    Err(Failure {
        reason: Reason::TcpInconclusive,
        message,
    })
}

/// Plain HTTP: the service's own answer passes, never the connect alone; a firewall's 470 is
/// its refusal of the name.
async fn plain_http(
    plan: &Plan,
    mut stream: TcpStream,
    peer: SocketAddr,
    deadline: Instant,
    trace: &mut Trace,
) -> Result<String, Failure> {
    let host = trace.host.clone();
    let via = Via::plain(peer.port());
    let spec = &plan.entry.http;
    let head = request(&mut stream, &host, spec, None, &via, deadline, trace).await?;
    Ok(format!("{peer}: {}", in_words(&head)))
}

/// How an HTTP answer came, for a firewall's refusal to name the rule it needs: the port, over
/// TLS or not, and the issuer that re-signed the session, if one did.
struct Via {
    port: u16,
    tls: bool,
    inspected_by: Option<String>,
}

impl Via {
    fn plain(port: u16) -> Via {
        Via {
            port,
            tls: false,
            inspected_by: None,
        }
    }

    fn tls(port: u16, inspected_by: Option<String>) -> Via {
        Via {
            port,
            tls: true,
            inspected_by,
        }
    }
}

/// The entry's request over `stream`, recorded as the `http` phase. An answer the entry does
/// not accept fails it, unless it is the service's own firewall's (`own`), which the caller
/// names; a firewall's 470 / `Action: Deny` is its refusal of the name.
async fn request<S>(
    stream: &mut S,
    host: &str,
    spec: &crate::catalog::HttpSpec,
    own: Option<crate::catalog::FirewallAnswer>,
    via: &Via,
    deadline: Instant,
    trace: &mut Trace,
) -> Result<crate::net::Head, Failure>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let request = async {
        let head = http::exchange(stream, host, spec, deadline).await?;
        let denial = http::egress_denial(&head);
        let refused_by_own = own.is_some_and(|o| http::firewall_denial(o, host, &head).is_some());
        if denial.is_none() && !refused_by_own {
            http::accepted(host, spec, &head)?;
        }
        Ok((head, denial))
    };
    let (head, denial) = trace
        .timed(Phase::of(PhaseKind::Http), request, |p, (head, _)| {
            p.http_status = Some(head.status);
            p.http_server = head.server.clone();
            p.date = head.date.clone();
        })
        .await?;
    match denial {
        Some(quote) => {
            let by = via.inspected_by.clone();
            Err(firewall::answered(
                trace, host, via.port, via.tls, quote, by,
            ))
        }
        None => Ok(head),
    }
}

/// `HTTP 200 from "server"`: an answer, in the words of a pass.
fn in_words(head: &crate::net::Head) -> String {
    let server = head.server.as_ref().map(|s| format!(" from \"{s}\""));
    format!("HTTP {}{}", head.status, server.unwrap_or_default())
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

/// TLS, a certificate from the expected issuers, then HTTP or a WebSocket upgrade. A `direct`
/// handshake that stalls is retried with a small MSS (`mtu`); through a proxy, a smaller MSS
/// would only shrink the packets to the proxy. A session a middlebox re-signs is still taken to
/// the layer above, where a firewall that inspects TLS answers the names it denies.
async fn above_tls(
    runner: &Runner,
    plan: &Plan,
    stream: TcpStream,
    peer: SocketAddr,
    direct: bool,
    deadline: Instant,
    trace: &mut Trace,
) -> Result<String, Failure> {
    let e = &plan.entry;
    let host = trace.host.clone();
    let shaken = mtu::handshake(&runner.trust, stream, peer, &host, direct, deadline, trace).await;
    let (tls_stream, h) = match shaken {
        Ok(shaken) => shaken,
        Err(f) => return Err(handshake_failed(trace, peer, &host, direct, f, deadline).await),
    };
    let expected = e
        .expected_issuers
        .as_ref()
        .unwrap_or(&runner.expected_issuers);
    let inspected_by = tls::intercepted_by(&h, expected);
    let tls_summary = format!(
        "{peer}: {}, certificate for {} issued by {}",
        h.version, h.subject, h.issuer
    );
    let via = Via::tls(peer.port(), inspected_by.clone());
    // What the layer above TLS answered, in words; `None` for a check of TLS alone.
    let above = match (e.kind, &inspected_by) {
        (Kind::Https, _) => https(runner, plan, tls_stream, &via, deadline, trace)
            .await
            .map(Some),
        (Kind::Websocket, _) => upgrade(tls_stream, &host, plan, &via, deadline, trace)
            .await
            .map(Some),
        (_, Some(_)) => behind(tls_stream, &host, &via, deadline, trace)
            .await
            .map(Some),
        (_, None) => Ok(None),
    };
    let Some(by) = inspected_by else {
        return above.map(|answered| match (e.kind, answered) {
            (Kind::Https, Some(answered)) => format!("{tls_summary}; {answered}"),
            (_, Some(answered)) => answered,
            (_, None) => tls_summary,
        });
    };
    let behind = match above {
        Err(f) if f.reason == Reason::FirewallDenied => return Err(f),
        Ok(answered) => answered.unwrap_or_default(),
        Err(Failure { message, .. }) => message,
    };
    Err(Failure {
        reason: Reason::TlsIntercepted,
        message: format!(
            "{host}: the certificate verifies but was issued by {by}, not by Microsoft or DigiCert: a TLS-inspecting middlebox re-signs this traffic; behind it: {behind}"
        ),
    })
}

/// A handshake that failed. When its peer ended the connection right after the ClientHello
/// without a byte, the likely cause is a firewall that refuses the name, confirmed where it can
/// be; through a proxy, the proxy may be the one refusing, so only the signature is told.
async fn handshake_failed(
    trace: &mut Trace,
    peer: SocketAddr,
    host: &str,
    direct: bool,
    f: Failure,
    deadline: Instant,
) -> Failure {
    match trace.hello_unanswered {
        Some(evidence) if direct => {
            firewall::after_hello(trace, peer, host, evidence, deadline).await
        }
        Some(_) => Failure {
            message: format!(
                "{}; the peer ended the connection right after the ClientHello without a TLS byte: the proxy, or a firewall behind it, may refuse the name",
                f.message
            ),
            ..f
        },
        None => f,
    }
}

/// Behind a middlebox that re-signed the session of a `tls` check: one `GET /`, so that a
/// firewall that inspects TLS shows whether it denies the name (its 470). Any other answer is
/// described, not judged: the check is of TLS.
async fn behind(
    mut stream: tls::Stream,
    host: &str,
    via: &Via,
    deadline: Instant,
    trace: &mut Trace,
) -> Result<String, Failure> {
    let spec = crate::catalog::HttpSpec::default();
    let head = request(&mut stream, host, &spec, None, via, deadline, trace).await?;
    Ok(format!("GET / answered {}", in_words(&head)))
}

/// The WebSocket upgrade Jupyter needs; a firewall's 470 in place of it is its refusal.
async fn upgrade(
    stream: tls::Stream,
    host: &str,
    plan: &Plan,
    via: &Via,
    deadline: Instant,
    trace: &mut Trace,
) -> Result<String, Failure> {
    let upgrade = websocket::upgrade(stream, host, &plan.entry.http.path, deadline);
    let up = trace
        .timed(Phase::of(PhaseKind::Websocket), upgrade, |p, up| {
            if let Some(head) = &up.head {
                p.http_status = Some(head.status);
                p.http_server = head.server.clone();
            }
        })
        .await?;
    if let Some(quote) = up.head.as_ref().and_then(http::egress_denial) {
        let by = via.inspected_by.clone();
        return Err(firewall::answered(
            trace, host, via.port, via.tls, quote, by,
        ));
    }
    match up.reason {
        Reason::Ok => Ok(up.message),
        reason => Err(Failure {
            reason,
            message: up.message,
        }),
    }
}

/// One request; its `Date` feeds the clock check, and a firewall's refusal is named: an egress
/// firewall's 470 (`request`), or the storage account's own 403.
async fn https(
    runner: &Runner,
    plan: &Plan,
    mut stream: tls::Stream,
    via: &Via,
    deadline: Instant,
    trace: &mut Trace,
) -> Result<String, Failure> {
    let e = &plan.entry;
    let host = trace.host.clone();
    let (spec, fetch) = asked(plan, trace);
    let own = e.firewall_answer;
    let head = request(&mut stream, &host, &spec, own, via, deadline, trace).await?;
    // A session a middlebox re-signed is not the service's own: its clock is not compared.
    if via.inspected_by.is_none() {
        runner.observe_date(&host, &head);
    }
    if let Some(denied) = e
        .firewall_answer
        .and_then(|service| http::firewall_denial(service, &host, &head))
    {
        return Err(denied);
    }
    match (fetch, e.transfer_bytes) {
        (Some(want), _) => Box::pin(transfer(stream, &host, &head, want, deadline, trace))
            .await
            .map(|moved| format!("{}; {moved}", in_words(&head))),
        (None, Some(_)) => Err(Failure {
            reason: Reason::TransferUntested,
            message: format!(
                "{host}: GET / answered {}, but no download was learned to fetch, so the transfer was not tested",
                in_words(&head)
            ),
        }),
        (None, None) => Ok(in_words(&head)),
    }
}

/// The request an HTTPS check sends, and how many bytes of its body a transfer must read: the
/// entry's own request; for a transfer, the file a redirect named (or the entry's path, where no
/// redirect is asked). A transfer whose redirect named nothing has no file to fetch: only the
/// host's answer to `GET /` can be judged.
fn asked<'a>(plan: &'a Plan, trace: &Trace) -> (Cow<'a, crate::catalog::HttpSpec>, Option<u64>) {
    let e = &plan.entry;
    match (e.transfer_bytes, &trace.redirect_path) {
        (None, _) => (Cow::Borrowed(&e.http), None),
        (Some(want), Some(path)) => {
            let spec = crate::catalog::HttpSpec {
                path: path.clone(),
                ..e.http.clone()
            };
            (Cow::Owned(spec), Some(want))
        }
        (Some(_), None) if plan.redirect_from.is_some() => (Cow::Owned(Default::default()), None),
        (Some(want), None) => (Cow::Borrowed(&e.http), Some(want)),
    }
}

/// Silence this long when the deadline comes makes a transfer stalled; bytes that came more
/// recently make it only slow, which the node may yet complete.
const STALL: std::time::Duration = std::time::Duration::from_secs(1);

/// How a transfer ended short of its goal.
enum Short {
    Deadline,
    Closed,
    Failed(String),
}

/// Read `want` bytes of the answer's body before the deadline; a partial answer whose range
/// says the whole object is smaller needs only that. A body that ends short is no download (a
/// proxy's page in the file's place, or a cut transfer), and silence at the deadline a stall:
/// both are `transfer_stalled`, the message saying how much came, in how long, and how long
/// nothing came. Bytes still arriving at the deadline are `transfer_slow`.
async fn transfer(
    mut stream: tls::Stream,
    host: &str,
    head: &crate::net::Head,
    want: u64,
    deadline: Instant,
    trace: &mut Trace,
) -> Result<String, Failure> {
    let goal = match (head.status, head.range_total) {
        (206, Some(total)) => total.min(want),
        _ => want,
    };
    let started = Instant::now();
    let mut got = head.body_with_head as u64;
    let mut last = started;
    let mut chunk = vec![0u8; 16 * 1024];
    let short = loop {
        if got >= goal {
            break None;
        }
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Err(_) => break Some(Short::Deadline),
            // TLS closed without close_notify is a close too, whatever the library calls it.
            Ok(Ok(0)) => break Some(Short::Closed),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                break Some(Short::Closed)
            }
            Ok(Ok(n)) => {
                got += n as u64;
                last = Instant::now();
            }
            Ok(Err(e)) => break Some(Short::Failed(e.to_string())),
        }
    };
    let ms = started.elapsed().as_millis();
    let rate = u128::from(got) / ms.max(1);
    let quiet = last.elapsed();
    let stalled = |message: String| Failure {
        reason: Reason::TransferStalled,
        message,
    };
    let outcome = match short {
        None => Ok(format!("{got} bytes of the download in {ms} ms ({rate} KB/s)")),
        Some(Short::Deadline) if quiet < STALL => Err(Failure {
            reason: Reason::TransferSlow,
            message: format!(
                "{host}: the download was still arriving at the deadline: {got} of {goal} bytes in {ms} ms ({rate} KB/s), the last {} ms before it",
                quiet.as_millis()
            ),
        }),
        Some(Short::Deadline) => Err(stalled(format!(
            "{host}: the download stalled after {got} of {goal} bytes in {ms} ms; nothing arrived in the last {} ms",
            quiet.as_millis()
        ))),
        Some(Short::Closed) => {
            let what = head
                .content_type
                .as_ref()
                .map(|t| format!(" ({t})"))
                .unwrap_or_default();
            Err(stalled(format!(
                "{host}: the answer{what} ended after {got} of the {goal} bytes asked for, in {ms} ms: the connection was closed, so this is a cut download or a page in the file's place"
            )))
        }
        Some(Short::Failed(e)) => Err(stalled(format!(
            "{host}: the connection failed ({e}) after {got} of {goal} bytes in {ms} ms"
        ))),
    };
    let phase = Phase {
        ms: crate::result::ms(started.elapsed()),
        bytes: Some(got),
        ..Phase::of(PhaseKind::Transfer)
    };
    trace.record(phase, &outcome);
    outcome
}
