//! `--trace`: the last hop a silently dropped flow reached. TTL-limited probes of the check's
//! own protocol and port (a TCP connect, or a UDP datagram), one socket a probe and every hop at
//! once; the ICMP time-exceeded each router sends back is read from that socket's error queue
//! (`IP_RECVERR`, `recvmsg` with `MSG_ERRQUEUE`), which names the router. No raw socket.
//!
//! A time-exceeded to a connecting TCP socket aborts the connect (`EHOSTUNREACH`) and, with
//! `IP_RECVERR`, queues the router's address; a UDP socket queues it the same way.

use std::future::Future;
use std::io::{self, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, SockaddrStorage};
use socket2::{Protocol, Socket, Type};
use tokio::net::{TcpStream, UdpSocket};
use tokio::task::JoinSet;
use tokio::time::{timeout_at, Instant};

use super::udp::icmp_aware;
use crate::catalog::Transport;
use crate::net::is_private;
use crate::reason::Reason;
use crate::result::{CheckResult, Hop, Route};

/// The highest TTL probed: Azure paths to a service are a handful of visible hops.
pub const MAX_HOPS: u8 = 16;
/// Probes a hop at most: a second only for the hops that did not answer the first (a lost
/// packet, a router's ICMP rate limit).
pub const PROBES: u32 = 2;
/// How long one probe's answer is awaited.
pub const WAIT: Duration = Duration::from_millis(1000);
/// The most a trace adds to its check: one wait a round of probes.
pub const BUDGET: Duration = Duration::from_millis(1000 * PROBES as u64);
/// A probe that has not ended this long after its wait (a send that blocks) counts as silence.
const GRACE: Duration = Duration::from_millis(100);
/// The most checks one run traces (one `check`, or one round of `watch`). A trace holds up to
/// `MAX_HOPS` sockets at once beside those of the checks still connecting; uncapped, the traces
/// of many timed-out checks could take the file descriptors a healthy check needs, and fail it.
/// The traces a run allows run at once, each as its check ends: a run whose checks start in one
/// wave (the built-in catalog's do) takes about one `BUDGET` more, however many timed out.
pub const MAX_TRACED: usize = 16;

/// How many checks the run has traced so far, against `MAX_TRACED`.
#[derive(Debug, Default)]
pub struct Allowance(AtomicUsize);

impl Allowance {
    /// A new run (a round of `watch`) may trace `MAX_TRACED` checks again.
    pub fn reset(&self) {
        self.0.store(0, Ordering::Relaxed);
    }

    /// Take one of the run's traces: false once all are taken.
    fn take(&self) -> bool {
        self.0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < MAX_TRACED).then_some(n + 1)
            })
            .is_ok()
    }
}

const PAYLOAD: &[u8] = b"amlprobe trace\n";

/// Whether a result is one `--trace` follows: the flow was met with silence.
pub fn traced(reason: Reason) -> bool {
    matches!(reason, Reason::TcpTimeout | Reason::UdpNoReply)
}

/// Trace a timed-out check's flow to `dest` (the address the check found silent) and add the
/// route and its conclusion to the result. The status and reason stay: the trace is evidence.
/// A check that went through a proxy is not traced: the node's own packets went to the proxy.
/// Nor is one once the run has traced `MAX_TRACED` checks: its message says so.
pub async fn follow(result: &mut CheckResult, dest: Option<SocketAddr>, allowance: &Allowance) {
    if !traced(result.reason) {
        return;
    }
    if let Some(proxy) = &result.proxy {
        result.message.push_str(&format!(
            "; not traced: the check went through the proxy {proxy}, so the node's own path ends there"
        ));
        return;
    }
    let Some(dest) = dest else {
        return;
    };
    if !allowance.take() {
        result.message.push_str(&format!(
            "; not traced: {MAX_TRACED} checks were traced in this run already; trace this one alone with --only {} --trace",
            result.id
        ));
        return;
    }
    let transport = result.target.transport;
    let traced = trace(transport, dest).await;
    result.message.push_str("; ");
    result.message.push_str(&traced.conclusion(transport, dest));
    result.trace = Some(traced.route);
}

/// What a trace found: the route, and how many probes it tried (`route.unsent` of them could
/// not be sent, the first for `first_error`).
#[derive(Debug)]
pub struct Traced {
    pub route: Route,
    pub probes: u32,
    pub first_error: Option<String>,
}

impl Traced {
    /// What the trace says of the drop, in words: nothing, when a probe could not be sent, as
    /// the silence of its hop is then no evidence.
    fn conclusion(&self, transport: Transport, dest: SocketAddr) -> String {
        match self.route.unsent {
            0 => conclusion(&self.route, transport, dest),
            unsent => {
                let answered = answered(&self.route);
                format!(
                    "trace incomplete: {unsent} of {} probes could not be sent (first error: {}), so it does not show where the flow is dropped; hops that answered: {}",
                    self.probes,
                    self.first_error.as_deref().unwrap_or("unknown"),
                    match answered.is_empty() {
                        true => "none".to_string(),
                        false => answered.join(", "),
                    }
                )
            }
        }
    }
}

/// Probe every TTL at once, then once more the hops that stayed silent, up to the destination
/// once it answered.
pub async fn trace(transport: Transport, dest: SocketAddr) -> Traced {
    trace_with(dest, move |ttl, until| probe(transport, dest, ttl, until)).await
}

/// `trace` with `probe` sending the probe of a TTL and awaiting its answer until an instant.
/// A probe that could not be sent is counted, never taken for silence.
async fn trace_with<P, F>(dest: SocketAddr, probe: P) -> Traced
where
    P: Fn(u8, Instant) -> F,
    F: Future<Output = io::Result<Option<IpAddr>>> + Send + 'static,
{
    let mut answers: Vec<Option<IpAddr>> = vec![None; usize::from(MAX_HOPS)];
    let (mut probes, mut unsent, mut first_error) = (0, 0, None);
    let mut failed = |e: String| {
        unsent += 1;
        first_error.get_or_insert(e);
    };
    for _ in 0..PROBES {
        let reached = answers.iter().position(|a| *a == Some(dest.ip()));
        let silent: Vec<u8> = (1..=MAX_HOPS)
            .filter(|ttl| reached.is_none_or(|r| usize::from(*ttl) <= r))
            .filter(|ttl| answers[usize::from(*ttl) - 1].is_none())
            .collect();
        if silent.is_empty() {
            break;
        }
        let until = Instant::now() + WAIT;
        let mut round = JoinSet::new();
        for ttl in silent {
            let answer = timeout_at(until + GRACE, probe(ttl, until));
            round.spawn(async move { (ttl, answer.await) });
            probes += 1;
        }
        while let Some(done) = round.join_next().await {
            match done {
                Ok((ttl, Ok(Ok(Some(from))))) => answers[usize::from(ttl) - 1] = Some(from),
                Ok((_, Ok(Ok(None)) | Err(_))) => {}
                Ok((_, Ok(Err(e)))) => failed(e.to_string()),
                Err(e) => failed(e.to_string()),
            }
        }
    }
    let mut route = route(dest.ip(), &answers);
    route.unsent = unsent;
    Traced {
        route,
        probes,
        first_error,
    }
}

/// The route the answers show, up to the destination when it answered.
fn route(dest: IpAddr, answers: &[Option<IpAddr>]) -> Route {
    let reached = answers.iter().position(|a| *a == Some(dest));
    let hops: Vec<Hop> = (1..)
        .zip(answers)
        .take(reached.map_or(answers.len(), |r| r + 1))
        .map(|(ttl, a)| Hop {
            ttl,
            address: a.map(|ip| ip.to_string()),
        })
        .collect();
    let last = hops.iter().rev().find(|h| h.address.is_some());
    Route {
        last_answered: last.and_then(|h| h.address.clone()),
        last_ttl: last.map(|h| h.ttl),
        reached: reached.is_some(),
        hops,
        unsent: 0,
    }
}

/// The hops that answered, in words.
fn answered(route: &Route) -> Vec<String> {
    route
        .hops
        .iter()
        .filter_map(|h| h.address.as_ref().map(|a| format!("{a} (hop {})", h.ttl)))
        .collect()
}

/// What the route says of the drop, in words, when every probe was sent.
fn conclusion(route: &Route, transport: Transport, dest: SocketAddr) -> String {
    let answered = answered(route);
    let probes = u32::from(MAX_HOPS) * PROBES;
    let (Some(last), Some(ttl)) = (&route.last_answered, route.last_ttl) else {
        return format!(
            "trace: no hop answered any of {probes} TTL-limited probes to {dest}/{transport}: the drop is at the first hop, or ICMP time-exceeded is filtered on the way back"
        );
    };
    if route.reached {
        return format!(
            "trace: {}; the destination itself answered at hop {ttl}, so this flow gets through now: the timeout comes and goes, or a rule drops only some connections",
            answered.join(", ")
        );
    }
    let private = matches!(last.parse::<IpAddr>(), Ok(ip) if is_private(&ip));
    let answered = answered.join(", ");
    match (transport, private) {
        (Transport::Tcp, true) => format!(
            "trace: {answered} answered, then silence up to hop {MAX_HOPS}: dropped after {last} (hop {ttl}), a private address: most likely the Azure Firewall or NVA the route sends this traffic through"
        ),
        (Transport::Tcp, false) => format!(
            "trace: {answered} answered, then silence up to hop {MAX_HOPS}: dropped after {last} (hop {ttl}), a public address: the flow is dropped beyond it, outside the virtual network or at the destination's side"
        ),
        // A service need not answer a datagram it does not understand (tundra never does), so
        // silence past the last hop is no proof of a drop.
        (Transport::Udp, true) => format!(
            "trace: {answered} answered, then silence up to hop {MAX_HOPS}: datagrams get at least as far as {last} (hop {ttl}), a private address; beyond it, either the Azure Firewall or NVA there drops them, or they arrive and the service stays silent"
        ),
        (Transport::Udp, false) => format!(
            "trace: {answered} answered, then silence up to hop {MAX_HOPS}: datagrams get at least as far as {last} (hop {ttl}), a public address, beyond the virtual network; a silent service is the likelier end"
        ),
    }
}

/// One probe with `ttl`: who answered it before `until`, the destination or a router.
async fn probe(
    transport: Transport,
    dest: SocketAddr,
    ttl: u8,
    until: Instant,
) -> io::Result<Option<IpAddr>> {
    let ty = match transport {
        Transport::Tcp => (Type::STREAM, Protocol::TCP),
        Transport::Udp => (Type::DGRAM, Protocol::UDP),
    };
    let socket = icmp_aware(dest, ty.0, ty.1)?;
    match dest {
        SocketAddr::V4(_) => socket.set_ttl_v4(u32::from(ttl))?,
        SocketAddr::V6(_) => socket.set_unicast_hops_v6(u32::from(ttl))?,
    }
    match transport {
        Transport::Tcp => tcp(socket, dest, until).await,
        Transport::Udp => udp(socket, dest, until).await,
    }
}

/// A connect: accepted or reset is the destination; aborted by an ICMP error, the sender.
async fn tcp(socket: Socket, dest: SocketAddr, until: Instant) -> io::Result<Option<IpAddr>> {
    match socket.connect(&dest.into()) {
        Err(e) if e.raw_os_error() == Some(Errno::EINPROGRESS as i32) => {}
        Err(e) => return Err(e),
        Ok(()) => return Ok(Some(dest.ip())),
    }
    let stream = TcpStream::from_std(std::net::TcpStream::from(socket))?;
    // Writable once the connect ends either way; silence lasts until `until`.
    let ended = timeout_at(until, stream.writable()).await;
    if let Some(from) = sender(&stream) {
        return Ok(Some(from));
    }
    let Ok(ready) = ended else {
        return Ok(None);
    };
    ready?;
    Ok(match stream.take_error()? {
        None => Some(dest.ip()),
        Some(e) if e.raw_os_error() == Some(Errno::ECONNREFUSED as i32) => Some(dest.ip()),
        Some(_) => None,
    })
}

/// A datagram: a reply is the destination; an ICMP error names its sender.
async fn udp(socket: Socket, dest: SocketAddr, until: Instant) -> io::Result<Option<IpAddr>> {
    socket.connect(&dest.into())?;
    let socket = UdpSocket::from_std(socket.into())?;
    socket.send(PAYLOAD).await?;
    let mut buf = [0u8; 512];
    let answered = timeout_at(until, socket.recv(&mut buf)).await;
    if let Some(from) = sender(&socket) {
        return Ok(Some(from));
    }
    Ok(match answered {
        Ok(Ok(_)) => Some(dest.ip()),
        _ => None,
    })
}

/// The sender of the ICMP error queued on `socket`, if one is.
fn sender(socket: &impl AsRawFd) -> Option<IpAddr> {
    let mut data = [0u8; 512];
    let mut iov = [IoSliceMut::new(&mut data)];
    let mut control = nix::cmsg_space!(nix::libc::sock_extended_err, nix::libc::sockaddr_in6);
    let flags = MsgFlags::MSG_ERRQUEUE | MsgFlags::MSG_DONTWAIT;
    let msg =
        recvmsg::<SockaddrStorage>(socket.as_raw_fd(), &mut iov, Some(&mut control), flags).ok()?;
    let found = msg.cmsgs().ok()?.find_map(|c| match c {
        ControlMessageOwned::Ipv4RecvErr(e, Some(from))
            if e.ee_origin == nix::libc::SO_EE_ORIGIN_ICMP =>
        {
            Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                from.sin_addr.s_addr,
            ))))
        }
        ControlMessageOwned::Ipv6RecvErr(e, Some(from))
            if e.ee_origin == nix::libc::SO_EE_ORIGIN_ICMP6 =>
        {
            Some(IpAddr::V6(Ipv6Addr::from(from.sin6_addr.s6_addr)))
        }
        _ => None,
    });
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answers(list: &[Option<&str>]) -> Vec<Option<IpAddr>> {
        let mut all: Vec<Option<IpAddr>> =
            list.iter().map(|a| a.map(|a| a.parse().unwrap())).collect();
        all.resize(usize::from(MAX_HOPS), None);
        all
    }

    const DEST: &str = "20.50.0.9:443";

    #[test]
    fn a_private_hop_before_silence_is_named_the_firewall() {
        let dest: SocketAddr = DEST.parse().unwrap();
        let r = route(dest.ip(), &answers(&[Some("10.0.0.1"), Some("10.0.1.4")]));
        assert_eq!(r.last_answered.as_deref(), Some("10.0.1.4"));
        assert_eq!((r.last_ttl, r.reached, r.hops.len()), (Some(2), false, 16));
        assert_eq!(r.hops[2].address, None);
        let said = conclusion(&r, Transport::Tcp, dest);
        assert_eq!(
            said,
            "trace: 10.0.0.1 (hop 1), 10.0.1.4 (hop 2) answered, then silence up to hop 16: dropped after 10.0.1.4 (hop 2), a private address: most likely the Azure Firewall or NVA the route sends this traffic through"
        );
        // UDP silence past a hop may be the service's: no drop is claimed.
        let udp = conclusion(&r, Transport::Udp, dest);
        assert!(
            udp.contains("datagrams get at least as far as 10.0.1.4 (hop 2)"),
            "{udp}"
        );
        assert!(udp.contains("the service stays silent") && !udp.contains("dropped after"));
        let public = route(dest.ip(), &answers(&[Some("10.0.0.1"), Some("51.1.2.3")]));
        assert!(conclusion(&public, Transport::Tcp, dest).contains("a public address"));
        let udp = conclusion(&public, Transport::Udp, dest);
        assert!(
            udp.contains("a silent service is the likelier end"),
            "{udp}"
        );
    }

    #[test]
    fn the_destination_answering_ends_the_route_and_silence_everywhere_is_said() {
        let dest: SocketAddr = DEST.parse().unwrap();
        let r = route(
            dest.ip(),
            &answers(&[Some("10.0.0.1"), None, Some("20.50.0.9")]),
        );
        assert!(r.reached);
        assert_eq!(r.hops.len(), 3);
        assert_eq!(r.last_ttl, Some(3));
        assert!(conclusion(&r, Transport::Tcp, dest)
            .contains("the destination itself answered at hop 3"));
        let none = route(dest.ip(), &answers(&[]));
        assert_eq!(
            (none.last_answered.clone(), none.last_ttl, none.reached),
            (None, None, false)
        );
        assert!(conclusion(&none, Transport::Tcp, dest).starts_with(
            "trace: no hop answered any of 32 TTL-limited probes to 20.50.0.9:443/tcp"
        ));
    }

    /// The help of `--trace` states the budget and the cap.
    #[test]
    fn the_budget_is_the_one_the_help_states() {
        assert_eq!(MAX_TRACED, 16);
        assert_eq!(BUDGET, Duration::from_secs(2));
        assert_eq!(BUDGET, WAIT * PROBES);
    }

    /// Only silence is traced, and never what went through a proxy: that is said instead.
    #[tokio::test]
    async fn a_proxied_or_answered_check_is_not_traced() {
        use crate::reason::Status;
        use crate::report::fixture::result;
        let dest = Some("127.0.0.1:9".parse().unwrap());
        let mut proxied = result("p", "g", Status::Fail, Reason::TcpTimeout);
        proxied.proxy = Some("http://proxy.example.net:3128".into());
        let allowance = Allowance::default();
        follow(&mut proxied, dest, &allowance).await;
        assert!(proxied.trace.is_none());
        assert!(
            proxied.message.ends_with(
                "; not traced: the check went through the proxy http://proxy.example.net:3128, so the node's own path ends there"
            ),
            "{}",
            proxied.message
        );
        let mut refused = result("r", "g", Status::Fail, Reason::TcpRefused);
        follow(&mut refused, dest, &allowance).await;
        assert_eq!(
            (refused.trace, refused.message.as_str()),
            (None, "message of r")
        );
        assert!(allowance.take(), "neither took one of the run's traces");
    }

    /// Past `MAX_TRACED` traces in a run, a timed-out check is not traced, and says how to
    /// trace it; the next run (a round of `watch`) traces again.
    #[tokio::test]
    async fn a_run_traces_at_most_max_traced_checks() {
        use crate::reason::Status;
        use crate::report::fixture::result;
        let allowance = Allowance::default();
        for _ in 0..MAX_TRACED {
            assert!(allowance.take());
        }
        assert!(!allowance.take());
        let mut late = result("late", "g", Status::Fail, Reason::TcpTimeout);
        follow(&mut late, Some("127.0.0.1:9".parse().unwrap()), &allowance).await;
        assert!(late.trace.is_none());
        assert_eq!(
            late.message,
            "message of late; not traced: 16 checks were traced in this run already; trace this one alone with --only late --trace"
        );
        allowance.reset();
        assert!(allowance.take());
    }

    /// A probe that could not be sent is not silence: the trace says it is incomplete and
    /// claims no drop, and the route counts the probes.
    #[tokio::test]
    async fn probes_that_could_not_be_sent_leave_the_drop_unclaimed() {
        let dest: SocketAddr = DEST.parse().unwrap();
        let emfile = || io::Error::from_raw_os_error(Errno::EMFILE as i32);
        // Hop 1 answers, hops 2 to 4 stay silent, no socket is left for the others.
        let traced = trace_with(dest, move |ttl, _| async move {
            match ttl {
                1 => Ok(Some("10.0.0.1".parse().unwrap())),
                2..=4 => Ok(None),
                _ => Err(emfile()),
            }
        })
        .await;
        // 16 probes, then 15 again for the hops that did not answer; 12 fail each round.
        assert_eq!((traced.probes, traced.route.unsent), (31, 24));
        assert_eq!(traced.route.last_ttl, Some(1));
        let json = serde_json::to_value(&traced.route).unwrap();
        assert_eq!(json["unsent"], 24);
        let said = traced.conclusion(Transport::Tcp, dest);
        assert_eq!(
            said,
            format!("trace incomplete: 24 of 31 probes could not be sent (first error: {}), so it does not show where the flow is dropped; hops that answered: 10.0.0.1 (hop 1)", emfile())
        );
        assert!(!said.contains("dropped after"), "{said}");

        let none = trace_with(dest, move |_, _| async move {
            Err(io::Error::from_raw_os_error(Errno::EPERM as i32))
        })
        .await;
        let said = none.conclusion(Transport::Udp, dest);
        assert!(
            said.starts_with("trace incomplete: 32 of 32 probes could not be sent (first error: Operation not permitted")
                && said.ends_with("; hops that answered: none"),
            "{said}"
        );
        assert!(!said.contains("first hop"), "{said}");

        // Every probe sent: no `unsent` in the JSON, and the usual conclusion.
        let sent = trace_with(dest, move |_, _| async move { Ok(None) }).await;
        assert_eq!((sent.probes, sent.route.unsent), (32, 0));
        assert!(serde_json::to_value(&sent.route)
            .unwrap()
            .get("unsent")
            .is_none());
        assert!(sent
            .conclusion(Transport::Tcp, dest)
            .starts_with("trace: no hop answered any of 32 TTL-limited probes"));
    }

    /// On loopback the destination is the first hop: a listener accepts, a closed port resets,
    /// and each is the destination answering.
    #[tokio::test]
    async fn loopback_is_reached_at_the_first_hop() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let open = listener.local_addr().unwrap();
        let r = trace(Transport::Tcp, open).await.route;
        assert!(r.reached && r.unsent == 0, "{r:?}");
        assert_eq!(r.hops.len(), 1);
        assert_eq!(r.last_answered.as_deref(), Some("127.0.0.1"));
        drop(listener);
        let started = std::time::Instant::now();
        let r = trace(Transport::Tcp, open).await.route;
        assert!(r.reached && r.last_ttl == Some(1), "{r:?}");
        // Closed UDP port: ICMP port unreachable from the destination itself.
        let r = trace(Transport::Udp, open).await.route;
        assert!(r.reached && r.last_ttl == Some(1), "{r:?}");
        assert!(started.elapsed() < WAIT, "answers end the wait");
    }
}
