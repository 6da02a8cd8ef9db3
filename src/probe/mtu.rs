//! A TLS handshake that stalls after TCP connected, told apart from a path-MTU black hole.
//!
//! TCP's handshake is made of small packets; the server's certificate flight is the first
//! large one. A tunnel, gateway or appliance whose MTU is smaller than the node's, and that
//! drops larger packets without the ICMP "fragmentation needed" that would make the server
//! send smaller ones, lets the connection open and the handshake stall. So when the handshake
//! is still stalled halfway to the deadline, two more start, each on a new connection, and run
//! beside the first for the rest of the time: a retry that announces a small MSS, and a control
//! of ordinary size. The first keeps the whole deadline, as it would without them, and decides
//! whenever it ends otherwise than by stalling to the end. One sample a size proves nothing (a
//! load balancer may have sent the first connection to a hung backend and the next ones to a
//! healthy one), so the black hole is named only when the retry got through while both
//! full-size handshakes stalled; a control that got through shows the first connection's stall
//! was its own, not packet size.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::{sleep_until, Instant};

use super::{tcp, tls, Failure, Trace};
use crate::reason::Reason;
use crate::result::{ms, Phase, PhaseKind};

/// The MSS the retry announces: TCP's default when none is announced (RFC 879), so its largest
/// IPv4 packet is 576 bytes, which every IPv4 host must take (RFC 791), and an IPv6 one 596,
/// under IPv6's minimum MTU of 1280: far below any tunnel's MTU, whatever its headers take.
pub const SMALL_MSS: u16 = 536;

/// A retry with less time than this (a new connection and a handshake: two round trips at
/// least) would prove nothing by failing, so it is not tried.
const MIN_RETRY: Duration = Duration::from_millis(100);

/// The handshake over `stream`, recorded as a phase; with `retry`, a small-MSS retry and a
/// full-size control when it is still stalled halfway through what is left of the deadline
/// once TCP connected, each recorded as phases of its own (the retry's with their `mss` set).
pub(super) async fn handshake(
    trust: &tls::Trust,
    stream: TcpStream,
    peer: SocketAddr,
    host: &str,
    retry: bool,
    deadline: Instant,
    trace: &mut Trace,
) -> Result<(tls::Stream, tls::Handshake), Failure> {
    let started = Instant::now();
    let unanswered = std::sync::Mutex::new(None);
    let full = tls::handshake(stream, peer, host, trust, deadline, &unanswered);
    tokio::pin!(full);
    let halfway = started + deadline.saturating_duration_since(started) / 2;
    let early = match retry && deadline.saturating_duration_since(halfway) >= MIN_RETRY {
        true => tokio::select! {
            r = &mut full => Some(r),
            () = sleep_until(halfway) => None,
        },
        false => Some((&mut full).await),
    };
    if let Some(outcome) = early {
        trace.hello_unanswered = *super::lock(&unanswered);
        record_full(trace, peer, started, &outcome);
        return outcome;
    }
    let small = attempt(trust, peer, host, Some(SMALL_MSS), deadline);
    let control = attempt(trust, peer, host, None, deadline);
    tokio::pin!(small, control);
    let mut full_out = None;
    let mut small_out: Option<Attempt> = None;
    let mut control_out: Option<Attempt> = None;
    loop {
        tokio::select! {
            r = &mut full, if full_out.is_none() => full_out = Some(r),
            r = &mut small, if small_out.is_none() => small_out = Some(r),
            r = &mut control, if control_out.is_none() => control_out = Some(r),
        }
        // The full-size handshake decides whenever it ends otherwise than by stalling: a slow
        // handshake that completes passes, as it would have without the retry.
        if let Some(outcome) = full_out.take_if(|o| !stalled(o)) {
            trace.hello_unanswered = *super::lock(&unanswered);
            record_full(trace, peer, started, &outcome);
            return outcome;
        }
        // Only once the full-size handshake has stalled to the deadline, and the retry and the
        // control have ended too (by then they have: they share the deadline), is the stall
        // told apart: a server that was only slow at first still passes.
        let (Some(Err(stall)), Some(retry), Some(control)) = (&full_out, &small_out, &control_out)
        else {
            continue;
        };
        let failure = match (retry.got_through(), control.got_through()) {
            (Ok(took), Err(blocked)) if stalled_too(blocked) => {
                black_hole(host, peer, ms(started.elapsed()), retry, took, blocked)
            }
            (Ok(took), _) => stands(stall, not_alone(retry, took, control)),
            (Err(failed), _) => stands(stall, not_the_size(retry, failed)),
        };
        let stall = Failure {
            reason: Reason::TlsTimeout,
            message: format!(
                "{peer}: TCP connected, but the TLS handshake with {host} stalled at full size"
            ),
        };
        record_full::<()>(trace, peer, started, &Err(stall));
        if let (Some(retry), Some(control)) = (small_out, control_out) {
            retry.record(trace);
            control.record(trace);
        }
        return Err(failure);
    }
}

fn stalled<T>(outcome: &Result<T, Failure>) -> bool {
    matches!(outcome, Err(f) if f.reason == Reason::TlsTimeout)
}

/// A new connection that did not get the server's certificate through because nothing came
/// back before the deadline: its handshake stalled, or its connect had no answer.
fn stalled_too(failed: &Failure) -> bool {
    matches!(failed.reason, Reason::TlsTimeout | Reason::TcpTimeout)
}

/// A handshake phase shows the version and the certificate's names.
fn shows(p: &mut Phase, h: &tls::Handshake) {
    p.version = Some(h.version.clone());
    p.subject = Some(h.subject.clone());
    p.issuer = Some(h.issuer.clone());
}

fn record_full<T>(
    trace: &mut Trace,
    peer: SocketAddr,
    started: Instant,
    outcome: &Result<(T, tls::Handshake), Failure>,
) {
    let mut phase = Phase {
        ms: ms(started.elapsed()),
        ..Phase::of(PhaseKind::Tls).at(peer)
    };
    if let Ok((_, h)) = outcome {
        shows(&mut phase, h);
    }
    trace.record(phase, outcome);
}

/// A new connection and its handshake beside the stalled one: the small-MSS retry, or the
/// control of ordinary size.
struct Attempt {
    connect: Phase,
    /// Once connected, the handshake's phase and outcome; else why the connection failed.
    shake: Result<(Phase, Result<tls::Handshake, Failure>), Failure>,
}

/// A new connection to `peer` announcing `mss` (none: ordinary size), and its handshake.
async fn attempt(
    trust: &tls::Trust,
    peer: SocketAddr,
    host: &str,
    mss: Option<u16>,
    deadline: Instant,
) -> Attempt {
    let phase = |kind: PhaseKind, started: Instant| Phase {
        ms: ms(started.elapsed()),
        mss,
        ..Phase::of(kind).at(peer)
    };
    let started = Instant::now();
    let connected = tcp::connect_one(peer, mss, deadline).await;
    let connect = phase(PhaseKind::Tcp, started);
    let stream = match connected {
        Ok(stream) => stream,
        Err(f) => {
            return Attempt {
                connect,
                shake: Err(f),
            }
        }
    };
    let started = Instant::now();
    let shaken = tls::handshake(stream, peer, host, trust, deadline, &Default::default())
        .await
        .map(|(_, h)| h);
    let mut shake = phase(PhaseKind::Tls, started);
    if let Ok(h) = &shaken {
        shows(&mut shake, h);
    }
    Attempt {
        connect,
        shake: Ok((shake, shaken)),
    }
}

impl Attempt {
    /// How the server's certificate flight fared: `Ok` with the handshake's time when it
    /// reached the node (the handshake completed, or failed only over the certificate it
    /// carried), else why the attempt failed.
    fn got_through(&self) -> Result<u64, &Failure> {
        match &self.shake {
            Err(f) => Err(f),
            Ok((phase, Ok(_))) => Ok(phase.ms),
            Ok((phase, Err(f))) => match f.reason {
                Reason::TlsUntrusted | Reason::TlsNameMismatch | Reason::TlsExpired => Ok(phase.ms),
                _ => Err(f),
            },
        }
    }

    /// How the certificate flight that got through arrived, in `took` ms.
    fn arrived(&self, took: u64) -> String {
        match &self.shake {
            Ok((_, Err(f))) => format!(
                "the server's certificate arrived in {took} ms (and was refused: {})",
                f.message
            ),
            _ => format!("it completed in {took} ms"),
        }
    }

    fn record(self, trace: &mut Trace) {
        match self.shake {
            Err(f) => trace.record::<()>(self.connect, &Err(f)),
            Ok((phase, shaken)) => {
                trace.record(self.connect, &Ok(()));
                trace.record(phase, &shaken);
            }
        }
    }
}

/// The retry got through and the control, at full size, did not.
fn black_hole(
    host: &str,
    peer: SocketAddr,
    stalled_ms: u64,
    retry: &Attempt,
    took: u64,
    control: &Failure,
) -> Failure {
    let arrived = retry.arrived(took);
    let control = match control.reason {
        Reason::TcpTimeout => "got no answer to its connect",
        _ => "stalled too",
    };
    Failure {
        reason: Reason::MtuBlackhole,
        message: format!(
            "{peer}: TCP connected and the TLS handshake with {host} stalled at full size ({stalled_ms} ms); on a new connection with MSS {SMALL_MSS} {arrived}, while a control on a new full-size connection {control}: packets larger than the path allows are dropped without ICMP (a path-MTU black hole)"
        ),
    }
}

/// The stall stands, and `why` says why it is not named a black hole.
fn stands(stall: &Failure, why: String) -> Failure {
    Failure {
        reason: stall.reason,
        message: format!("{}; {why}", stall.message),
    }
}

/// Why the stall stands although the retry got through: the control, at full size, got
/// through too (the stall was the first connection's own), or failed otherwise and could not
/// tell.
fn not_alone(retry: &Attempt, took: u64, control: &Attempt) -> String {
    let small = format!(
        "on a new connection with MSS {SMALL_MSS} {}",
        retry.arrived(took)
    );
    match control.got_through() {
        Ok(took) => format!(
            "{small}, but on a new full-size connection {} as well, so the first connection's stall was its own (a busy or failing server, or a backend behind a load balancer), not packet size: not a path-MTU black hole",
            control.arrived(took)
        ),
        Err(failed) => format!(
            "{small}, but a control on a new full-size connection failed ({}), so it could not tell packet size from the first connection's own trouble: not named a path-MTU black hole",
            failed.message
        ),
    }
}

/// Why the stall stands: the retry did not get the certificate through either.
fn not_the_size(retry: &Attempt, failed: &Failure) -> String {
    match &retry.shake {
        Err(_) => format!(
            "a retry with MSS {SMALL_MSS} could not connect ({}), so packet size could not be tested",
            failed.message
        ),
        Ok((phase, _)) if failed.reason == Reason::TlsTimeout => format!(
            "a retry on a new connection with MSS {SMALL_MSS} stalled too (for the {} ms it had), so packet size is not the cause: not a path-MTU black hole",
            phase.ms
        ),
        Ok(_) => format!(
            "a retry on a new connection with MSS {SMALL_MSS} did not help either ({})",
            failed.message
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use nix::sys::socket::{getsockopt, sockopt::TcpMaxSeg};
    use rcgen::{CertificateParams, KeyPair};
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    use tokio::net::TcpListener;
    use tokio_rustls::TlsAcceptor;

    use super::*;

    #[test]
    fn the_small_mss_fits_every_path() {
        // IPv4 header (20) and TCP header (20): every IPv4 host takes 576-byte packets.
        assert!(u32::from(SMALL_MSS) + 40 <= 576);
        // IPv6 header (40) and TCP header (20) under IPv6's minimum MTU.
        assert!(u32::from(SMALL_MSS) + 60 <= 1280);
    }

    /// How the test server treats a connection.
    #[derive(Clone, Copy)]
    enum Server {
        /// Accepts and never answers.
        Silent,
        /// Answers the handshake only on a connection whose MSS is small, as a path that drops
        /// large packets lets only those through.
        BlackHole,
        /// Answers every handshake after this long.
        Slow(Duration),
        /// Answers the first connection's handshake after this long, later ones at once: a
        /// server busy for a moment.
        SlowAtFirst(Duration),
        /// Never answers the first connection, later ones at once: a load balancer that sent
        /// the first connection to a hung backend and the next ones to healthy ones.
        HangsFirst,
    }

    /// A TLS server on loopback for `localhost`, and the trust that verifies it.
    async fn serve(how: Server) -> (SocketAddr, tls::Trust) {
        let (ca, trust) = tls::test_authority();
        let key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["localhost".into()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        let chain = vec![leaf.der().clone(), CertificateDer::from(ca.der().to_vec())];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let mut first = true;
            while let Ok((stream, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let was_first = std::mem::replace(&mut first, false);
                tokio::spawn(async move {
                    let answers = match how {
                        Server::Silent => false,
                        Server::BlackHole => getsockopt(&stream, TcpMaxSeg).unwrap() < 1000,
                        Server::Slow(after) => {
                            tokio::time::sleep(after).await;
                            true
                        }
                        Server::SlowAtFirst(after) => {
                            if was_first {
                                tokio::time::sleep(after).await;
                            }
                            true
                        }
                        Server::HangsFirst => !was_first,
                    };
                    if answers {
                        let _ = acceptor.accept(stream).await;
                    } else {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                    }
                });
            }
        });
        (addr, trust)
    }

    /// One check's handshake against `how` under a deadline of `budget`: the outcome, the
    /// phases recorded, and how long it took.
    async fn shake(
        how: Server,
        retry: bool,
        budget: Duration,
    ) -> (Result<(), Failure>, Trace, Duration) {
        let (addr, trust) = serve(how).await;
        let mut trace = Trace::of_host("localhost");
        let started = Instant::now();
        let deadline = started + budget;
        let stream = TcpStream::connect(addr).await.unwrap();
        let outcome = handshake(
            &trust,
            stream,
            addr,
            "localhost",
            retry,
            deadline,
            &mut trace,
        )
        .await
        .map(|_| ());
        (outcome, trace, started.elapsed())
    }

    fn kinds(trace: &Trace) -> Vec<(PhaseKind, Option<bool>, Option<u16>)> {
        trace
            .phases
            .iter()
            .map(|p| (p.phase, p.ok, p.mss))
            .collect()
    }

    const BUDGET: Duration = Duration::from_millis(1000);

    /// A handshake that stalls and is retried ends with `reason`, says `says`, and records the
    /// stall, then the retry's connection and handshake with the small MSS, then the control's
    /// at full size (no MSS), within the deadline; `completed`: whether the retry's and the
    /// control's handshakes did.
    async fn retried(how: Server, reason: Reason, says: &str, completed: [bool; 2]) {
        let (outcome, trace, took) = shake(how, true, BUDGET).await;
        let f = outcome.unwrap_err();
        assert_eq!(f.reason, reason, "{}", f.message);
        assert!(f.message.contains(says), "{}", f.message);
        let [small, control] = completed.map(Some);
        let phases = [
            (PhaseKind::Tls, Some(false), None),
            (PhaseKind::Tcp, Some(true), Some(SMALL_MSS)),
            (PhaseKind::Tls, small, Some(SMALL_MSS)),
            (PhaseKind::Tcp, Some(true), None),
            (PhaseKind::Tls, control, None),
        ];
        assert_eq!(kinds(&trace), phases);
        assert!(took < BUDGET + Duration::from_millis(200), "{took:?}");
    }

    #[tokio::test]
    async fn a_handshake_that_completes_only_with_a_small_mss_is_a_black_hole() {
        let says = "with MSS 536 it completed";
        let completed = [true, false];
        retried(Server::BlackHole, Reason::MtuBlackhole, says, completed).await;
    }

    #[tokio::test]
    async fn a_silent_server_stays_a_stall_within_the_deadline() {
        let says = "not a path-MTU black hole";
        retried(Server::Silent, Reason::TlsTimeout, says, [false, false]).await;
    }

    /// The first connection hangs to the deadline and the small-MSS retry completes, but so
    /// does the control at full size: the stall was that connection's own, not packet size.
    #[tokio::test]
    async fn a_first_connection_that_hangs_alone_is_no_black_hole() {
        let says = "on a new full-size connection it completed";
        retried(Server::HangsFirst, Reason::TlsTimeout, says, [true, true]).await;
    }

    #[tokio::test]
    async fn a_slow_handshake_that_completes_in_time_passes() {
        // Past the halfway point, where the retry starts, and before the deadline.
        let slow = Server::Slow(BUDGET * 6 / 10);
        let (outcome, trace, _) = shake(slow, true, BUDGET).await;
        assert_eq!(outcome, Ok(()));
        assert_eq!(kinds(&trace), [(PhaseKind::Tls, Some(true), None)]);
    }

    /// The retry on a new connection completes at once, but the first handshake, slow only
    /// because the server was busy, completes before the deadline: no black hole is claimed.
    #[tokio::test]
    async fn a_server_slow_only_at_first_is_no_black_hole() {
        let (outcome, trace, _) = shake(Server::SlowAtFirst(BUDGET * 7 / 10), true, BUDGET).await;
        assert_eq!(outcome, Ok(()));
        assert_eq!(kinds(&trace), [(PhaseKind::Tls, Some(true), None)]);
    }

    #[tokio::test]
    async fn without_retry_a_black_hole_is_only_a_stall() {
        let (outcome, trace, _) = shake(Server::BlackHole, false, BUDGET).await;
        assert_eq!(outcome.unwrap_err().reason, Reason::TlsTimeout);
        assert_eq!(kinds(&trace), [(PhaseKind::Tls, Some(false), None)]);
    }
}
