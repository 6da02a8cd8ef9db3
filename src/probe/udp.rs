//! UDP reachability: a connected socket and a few datagrams. Only a reply proves the path;
//! an ICMP rejection disproves it; silence proves nothing and is reported as such.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use nix::sys::socket::{setsockopt, sockopt};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::time::{sleep_until, Instant};

use super::Failure;
use crate::reason::Reason;

/// An ICMP rejection comes back within one round trip to the device that sends it, so silence
/// is judged over a window of several round trips, not the whole deadline: the slowest round
/// trip the run has seen (TCP connects, DNS answers) times this factor, between a floor and a
/// ceiling.
pub const ROUND_TRIPS: u32 = 4;
pub const SILENCE_FLOOR: Duration = Duration::from_millis(300);
pub const SILENCE_CEILING: Duration = Duration::from_millis(1500);
const DATAGRAMS: u32 = 3;

/// How long UDP silence is awaited: fixed (`--udp-wait`), or from the round trips seen so far.
#[derive(Debug)]
pub struct Wait {
    fixed: Option<Duration>,
    slowest_micros: AtomicU64,
}

impl Wait {
    pub fn new(fixed: Option<Duration>) -> Wait {
        Wait {
            fixed,
            slowest_micros: AtomicU64::new(0),
        }
    }

    /// A round trip that something on the network answered.
    pub fn observe(&self, rtt: Duration) {
        let micros = u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX);
        self.slowest_micros.fetch_max(micros, Ordering::Relaxed);
    }

    /// Forget the round trips seen, as a new run starts.
    pub fn reset(&self) {
        self.slowest_micros.store(0, Ordering::Relaxed);
    }

    /// The window now; it only grows as slower round trips are seen.
    pub fn window(&self) -> Duration {
        if let Some(d) = self.fixed {
            return d;
        }
        let slowest = Duration::from_micros(self.slowest_micros.load(Ordering::Relaxed));
        (slowest * ROUND_TRIPS).clamp(SILENCE_FLOOR, SILENCE_CEILING)
    }
}
const PAYLOAD: &[u8] = b"amlprobe reachability check\n";

/// What the UDP exchange showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UdpOutcome {
    Reply { bytes: usize },
    Silence { sent: u32, waited: Duration },
}

/// A non-blocking socket of `ty` for `addr`'s family that takes ICMP errors (`IP_RECVERR`):
/// without it a connected UDP socket reports only port-unreachable and prohibited; with it,
/// host and net unreachable surface as errors too, and each error, with the router or host
/// that sent it, waits on the socket's error queue (which `--trace` reads).
pub(super) fn icmp_aware(addr: SocketAddr, ty: Type, protocol: Protocol) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), ty, Some(protocol))?;
    match addr {
        SocketAddr::V4(_) => setsockopt(&socket, sockopt::Ipv4RecvErr, &true)?,
        SocketAddr::V6(_) => setsockopt(&socket, sockopt::Ipv6RecvErr, &true)?,
    }
    socket.set_nonblocking(true)?;
    Ok(socket)
}

fn open(addr: SocketAddr) -> io::Result<UdpSocket> {
    let socket = icmp_aware(addr, Type::DGRAM, Protocol::UDP)?;
    socket.connect(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

/// Send a few datagrams spread over the window and wait for a reply or a rejection. The
/// window is read again at every wake-up, so round trips measured meanwhile lengthen it.
pub async fn probe(
    addr: SocketAddr,
    deadline: Instant,
    wait: &Wait,
) -> Result<UdpOutcome, Failure> {
    let fail = |e: io::Error| Failure {
        reason: Reason::UdpUnreachable,
        message: format!("{addr}: {}", describe_udp_error(&e)),
    };
    let socket = open(addr).map_err(fail)?;
    let started = Instant::now();
    let mut buf = [0u8; 2048];
    let mut sent = 0;
    loop {
        let window = wait.window();
        let end = deadline.min(started + window);
        let next_send = started + window * sent / DATAGRAMS;
        if sent < DATAGRAMS && Instant::now() >= next_send {
            match tokio::time::timeout_at(end, socket.send(PAYLOAD)).await {
                Ok(r) => r.map_err(fail)?,
                Err(_) => return Ok(silence(sent, started)),
            };
            sent += 1;
            continue;
        }
        let wake = if sent < DATAGRAMS {
            next_send.min(end)
        } else {
            end
        };
        tokio::select! {
            r = socket.recv(&mut buf) => match r {
                Ok(bytes) => return Ok(UdpOutcome::Reply { bytes }),
                Err(e) => return Err(fail(e)),
            },
            _ = sleep_until(wake) => {
                if Instant::now() >= deadline.min(started + wait.window()) {
                    return Ok(silence(sent, started));
                }
            }
        }
    }
}

fn silence(sent: u32, started: Instant) -> UdpOutcome {
    UdpOutcome::Silence {
        sent,
        waited: started.elapsed(),
    }
}

fn describe_udp_error(e: &io::Error) -> String {
    super::tcp::describe_unreachable(
        e,
        "ICMP port unreachable: nothing listens, or a firewall rejects",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_follows_the_slowest_round_trip_within_bounds() {
        let w = Wait::new(None);
        assert_eq!(w.window(), SILENCE_FLOOR);
        w.observe(Duration::from_millis(20));
        assert_eq!(w.window(), SILENCE_FLOOR, "4 x 20 ms is under the floor");
        w.observe(Duration::from_millis(150));
        w.observe(Duration::from_millis(5));
        assert_eq!(w.window(), Duration::from_millis(600));
        w.observe(Duration::from_secs(2));
        assert_eq!(w.window(), SILENCE_CEILING);
        let fixed = Wait::new(Some(Duration::from_millis(50)));
        fixed.observe(Duration::from_secs(1));
        assert_eq!(fixed.window(), Duration::from_millis(50));
    }

    #[test]
    fn icmp_errors_are_explained() {
        use nix::errno::Errno;
        for (errno, words) in [
            (Errno::ECONNREFUSED, "port unreachable"),
            (Errno::EHOSTUNREACH, "prohibited"),
            (Errno::ENETUNREACH, "no route"),
            (Errno::EPERM, "own firewall"),
        ] {
            let e = io::Error::from_raw_os_error(errno as i32);
            assert!(describe_udp_error(&e).contains(words), "{errno}");
        }
    }

    #[tokio::test]
    async fn reply_silence_and_port_unreachable_on_loopback() {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        let deadline = Instant::now() + Duration::from_secs(3);
        let wait = Wait::new(None);
        // Silence: the listener reads but never answers; nothing slow was seen, so the floor.
        let started = Instant::now();
        let UdpOutcome::Silence { sent, waited } = probe(addr, deadline, &wait).await.unwrap()
        else {
            panic!("silence expected")
        };
        assert_eq!(sent, DATAGRAMS);
        assert!(waited >= SILENCE_FLOOR, "{waited:?}");
        assert!(started.elapsed() < SILENCE_FLOOR + Duration::from_millis(200));
        // Reply, from a fresh listener (the first one holds the unanswered datagrams).
        drop(server);
        let server = UdpSocket::bind(addr).await.unwrap();
        let echo = tokio::spawn(async move {
            let mut b = [0u8; 64];
            let (n, from) = server.recv_from(&mut b).await.unwrap();
            server.send_to(&b[..n], from).await.unwrap();
            server
        });
        assert!(matches!(
            probe(addr, deadline, &wait).await.unwrap(),
            UdpOutcome::Reply { .. }
        ));
        drop(echo.await.unwrap());
        // Closed port: the kernel answers ICMP port unreachable.
        let err = probe(addr, deadline, &wait).await.unwrap_err();
        assert_eq!(err.reason, Reason::UdpUnreachable);
        assert!(err.message.contains("port unreachable"), "{}", err.message);
    }
}
