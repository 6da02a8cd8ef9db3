//! UDP reachability: a connected socket and a few datagrams. Only a reply proves the path;
//! an ICMP rejection disproves it; silence proves nothing and is reported as such.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::socket::{setsockopt, sockopt};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::time::{sleep_until, Instant};

use super::Failure;
use crate::verdict::Reason;

/// ICMP errors come back within a round trip, so silence is judged over this window (or the
/// deadline, if sooner), not the whole deadline.
pub const SILENCE_WINDOW: Duration = Duration::from_millis(1500);
const DATAGRAMS: u32 = 3;
const PAYLOAD: &[u8] = b"amlprobe reachability check\n";

/// What the UDP exchange showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UdpOutcome {
    Reply { bytes: usize },
    Silence { sent: u32 },
}

fn open(addr: SocketAddr) -> io::Result<UdpSocket> {
    let domain = if addr.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    // Without IP_RECVERR a connected socket only reports port-unreachable and prohibited;
    // with it, host and net unreachable surface as errors too.
    let _ = if addr.is_ipv4() {
        setsockopt(&socket, sockopt::Ipv4RecvErr, &true)
    } else {
        setsockopt(&socket, sockopt::Ipv6RecvErr, &true)
    };
    socket.set_nonblocking(true)?;
    socket.connect(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

pub async fn probe(addr: SocketAddr, deadline: Instant) -> Result<UdpOutcome, Failure> {
    let fail = |e: io::Error| Failure {
        reason: Reason::UdpUnreachable,
        message: format!("{addr}: {}", describe_udp_error(&e)),
    };
    let socket = open(addr).map_err(fail)?;
    let end = deadline.min(Instant::now() + SILENCE_WINDOW);
    let gap = SILENCE_WINDOW / DATAGRAMS;
    let mut buf = [0u8; 2048];
    let mut sent = 0;
    let mut next_send = Instant::now();
    loop {
        if sent < DATAGRAMS && Instant::now() >= next_send {
            match tokio::time::timeout_at(end, socket.send(PAYLOAD)).await {
                Ok(sent) => sent.map_err(fail)?,
                Err(_) => return Ok(UdpOutcome::Silence { sent }),
            };
            sent += 1;
            next_send += gap;
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
                if Instant::now() >= end {
                    return Ok(UdpOutcome::Silence { sent });
                }
            }
        }
    }
}

fn describe_udp_error(e: &io::Error) -> String {
    if e.raw_os_error() == Some(Errno::ECONNREFUSED as i32) {
        return "ICMP port unreachable: nothing listens, or a firewall rejects".into();
    }
    super::describe_unreachable(e).map_or_else(|| e.to_string(), String::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icmp_errors_are_explained() {
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
        // Silence: the listener reads but never answers.
        let started = Instant::now();
        assert_eq!(
            probe(addr, deadline).await.unwrap(),
            UdpOutcome::Silence { sent: DATAGRAMS }
        );
        assert!(started.elapsed() < SILENCE_WINDOW + Duration::from_millis(300));
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
            probe(addr, deadline).await.unwrap(),
            UdpOutcome::Reply { .. }
        ));
        drop(echo.await.unwrap());
        // Closed port: the kernel answers ICMP port unreachable.
        let err = probe(addr, deadline).await.unwrap_err();
        assert_eq!(err.reason, Reason::UdpUnreachable);
        assert!(err.message.contains("port unreachable"), "{}", err.message);
    }
}
