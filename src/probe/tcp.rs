//! TCP connect, telling refused (RST), silently dropped and unreachable apart.

use std::io;
use std::net::{IpAddr, SocketAddr};

use nix::errno::Errno;
use nix::sys::socket::{setsockopt, sockopt::TcpMaxSeg};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinSet;
use tokio::time::{timeout_at, Instant};

use super::Failure;
use crate::reason::Reason;

pub const MAX_ADDRESSES: usize = 8;

/// A connection attempt still pending at the deadline.
const SILENT: &str = "no answer before the deadline (packets silently dropped)";

/// Connect to every address at once; the first to connect wins. When none does, the first
/// address's outcome decides (an attempt still pending at the deadline counts as dropped).
pub async fn connect(
    addrs: &[IpAddr],
    port: u16,
    deadline: Instant,
) -> Result<(TcpStream, SocketAddr), Failure> {
    // A handful of addresses is what clients try; a DNS answer with thousands is not an
    // invitation to open thousands of sockets.
    let targets: Vec<SocketAddr> = addrs
        .iter()
        .take(MAX_ADDRESSES)
        .map(|ip| SocketAddr::new(*ip, port))
        .collect();
    let mut attempts = JoinSet::new();
    for (i, &addr) in targets.iter().enumerate() {
        attempts.spawn(async move { (i, TcpStream::connect(addr).await) });
    }
    let mut errors: Vec<Option<io::Error>> = targets.iter().map(|_| None).collect();
    loop {
        match timeout_at(deadline, attempts.join_next()).await {
            Ok(Some(Ok((i, Ok(stream))))) => return Ok((stream, targets[i])),
            Ok(Some(Ok((i, Err(e))))) => errors[i] = Some(e),
            Ok(Some(Err(_join))) => {}
            Ok(None) | Err(_) => break,
        }
    }
    let Some(first) = targets.first() else {
        return Err(Failure {
            reason: Reason::TcpUnreachable,
            message: "no address to connect to".into(),
        });
    };
    let (reason, detail) = match &errors[0] {
        Some(e) => (classify_connect_error(e), describe_connect_error(e)),
        None => (Reason::TcpTimeout, SILENT.into()),
    };
    let mut message = format!("{first}: {detail}");
    if targets.len() > 1 {
        let others: Vec<String> = targets[1..]
            .iter()
            .zip(&errors[1..])
            .map(|(a, e)| match e {
                Some(e) => format!("{a}: {}", describe_connect_error(e)),
                None => format!("{a}: no answer"),
            })
            .collect();
        message.push_str(&format!("; also tried {}", others.join(", ")));
    }
    Err(Failure { reason, message })
}

/// A connection to `peer` alone, failing as `connect` does. With `mss`, its SYN announces that
/// MSS: the server then sends no segment larger than that, whatever the path. The MSS is set
/// before the connect, when it is announced; without it, the connection is of ordinary size.
pub async fn connect_one(
    peer: SocketAddr,
    mss: Option<u16>,
    deadline: Instant,
) -> Result<TcpStream, Failure> {
    let failed = |e: io::Error| Failure {
        reason: classify_connect_error(&e),
        message: format!("{peer}: {}", describe_connect_error(&e)),
    };
    let socket = match peer {
        SocketAddr::V4(_) => TcpSocket::new_v4(),
        SocketAddr::V6(_) => TcpSocket::new_v6(),
    }
    .map_err(failed)?;
    if let Some(mss) = mss {
        setsockopt(&socket, TcpMaxSeg, &u32::from(mss)).map_err(|e| failed(e.into()))?;
    }
    match timeout_at(deadline, socket.connect(peer)).await {
        Ok(connected) => connected.map_err(failed),
        Err(_) => Err(Failure {
            reason: Reason::TcpTimeout,
            message: format!("{peer}: {SILENT}"),
        }),
    }
}

/// What a failed connect means.
pub fn classify_connect_error(e: &io::Error) -> Reason {
    match e.kind() {
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset => {
            return Reason::TcpRefused
        }
        io::ErrorKind::TimedOut => return Reason::TcpTimeout,
        _ => {}
    }
    match e.raw_os_error().map(Errno::from_raw) {
        Some(Errno::ETIMEDOUT) => Reason::TcpTimeout,
        Some(Errno::ECONNREFUSED) => Reason::TcpRefused,
        _ => Reason::TcpUnreachable,
    }
}

fn describe_connect_error(e: &io::Error) -> String {
    describe_unreachable(
        e,
        "connection refused (TCP reset): nothing listens, or a firewall rejects",
    )
}

/// What a failed send or connection means, for TCP and UDP alike; only a refusal is worded
/// by each transport (a TCP reset, an ICMP port unreachable).
pub fn describe_unreachable(e: &io::Error, refused: &str) -> String {
    let said = match e.raw_os_error().map(Errno::from_raw) {
        Some(Errno::ECONNREFUSED) => refused,
        Some(Errno::EHOSTUNREACH) => {
            "ICMP host unreachable or administratively prohibited: a firewall rejects, or no route"
        }
        Some(Errno::ENETUNREACH) => "network unreachable: no route to this address",
        Some(Errno::EACCES | Errno::EPERM) => "blocked by this node's own firewall",
        _ => return e.to_string(),
    };
    said.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_errors_map_to_their_own_reasons() {
        let table = [
            (Errno::ECONNREFUSED, Reason::TcpRefused),
            (Errno::ECONNRESET, Reason::TcpRefused),
            (Errno::ETIMEDOUT, Reason::TcpTimeout),
            (Errno::EHOSTUNREACH, Reason::TcpUnreachable),
            (Errno::ENETUNREACH, Reason::TcpUnreachable),
            (Errno::EACCES, Reason::TcpUnreachable),
            (Errno::EPERM, Reason::TcpUnreachable),
        ];
        for (errno, want) in table {
            let e = io::Error::from_raw_os_error(errno as i32);
            assert_eq!(classify_connect_error(&e), want, "{errno}");
        }
    }

    #[tokio::test]
    async fn refused_and_accepted_on_loopback() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let deadline = Instant::now() + std::time::Duration::from_secs(2);
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let (_, addr) = connect(&[lo], port, deadline).await.unwrap();
        assert_eq!(addr.port(), port);
        drop(listener);
        let err = connect(&[lo], port, deadline).await.unwrap_err();
        assert_eq!(err.reason, Reason::TcpRefused);
    }
}
