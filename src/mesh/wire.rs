//! The mesh's wire: the greeting every node sends to whoever connects, the attempts to reach a
//! peer's listeners, `--bandwidth`'s transfer, and the listeners that note who called.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{lookup_host, TcpListener, TcpStream};
use tokio::sync::oneshot;

use crate::context::parse_peer;
use crate::probe::tcp;
use crate::reason::{Failure, Reason};

/// The first word of the greeting, and its version.
const GREETING: &str = "amlprobe-mesh 1 ";

/// The longest greeting read.
const GREETING_LIMIT: usize = 300;

/// How long a listener keeps a connection under `--bandwidth`: the greeting, then whatever the
/// peer sends.
pub const SINK_LIMIT: Duration = Duration::from_secs(120);

/// The most connections the listeners hold at once, every port together: far more than a job's
/// peers open at once, and far below the file limit, so that no client can take every
/// descriptor this node has.
const HELD_LIMIT: usize = 256;

/// How long a listener waits after a failed accept before the next: long enough not to spin
/// while descriptors run out, short enough that a peer's attempt still meets its greeting.
const ACCEPT_PAUSE: Duration = Duration::from_millis(50);

/// How long a refused or unanswered peer that has not come up yet waits before the next try.
const RETRY_GAP: Duration = Duration::from_millis(500);

/// The most callers a listener remembers: enough for any job, and anyone may connect.
const CALLERS_LIMIT: usize = 1024;

/// Who connected to this node's listeners, and when first: a peer that did is up, and its
/// packets reach this node, whatever became of this node's attempts to it.
pub type Callers = Arc<Mutex<HashMap<IpAddr, SystemTime>>>;

/// What a node sends to whoever connects.
pub fn greeting(name: &str) -> String {
    format!("{GREETING}{name}\n")
}

/// The node name in a greeting, or `None` when it is not amlprobe mesh's.
pub fn parse_greeting(bytes: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(bytes).ok()?;
    let line = text.strip_suffix('\n')?;
    let name = line.strip_prefix(GREETING)?;
    parse_peer(name).ok().filter(|n| n == name)
}

/// What one connection attempt came to.
#[derive(Debug, Clone)]
pub enum Attempt {
    /// amlprobe mesh answered, with this name.
    Greeted(String),
    /// Something accepted the connection but did not greet: what it did.
    Stranger(String),
    Refused,
    Timeout,
    /// The connection failed otherwise: `HOST:PORT: why`, in `check`'s words.
    Unreachable(String),
}

impl Attempt {
    pub fn answered(&self) -> bool {
        matches!(self, Attempt::Greeted(_) | Attempt::Stranger(_))
    }
}

/// What one peer and port came to: the last attempt, how many tries, how long the last took.
#[derive(Debug, Clone)]
pub struct Probed {
    pub peer: String,
    pub port: u16,
    pub attempt: Attempt,
    pub tries: u32,
    pub took: Duration,
}

/// What a stranger sent, short and printable.
fn shown(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text: String = text.trim_end().chars().take(40).collect();
    crate::report::text::printable(&text).into_owned()
}

impl From<Failure> for Attempt {
    fn from(f: Failure) -> Attempt {
        match f.reason {
            Reason::TcpRefused => Attempt::Refused,
            Reason::TcpTimeout => Attempt::Timeout,
            _ => Attempt::Unreachable(f.message),
        }
    }
}

/// A connection to `peer` on `port` within `timeout`: the name resolved as the system resolves
/// it, its addresses tried in turn. A failure is told apart and worded as `check` words it, so
/// a refusal, a drop and an ICMP rejection read the same in both.
async fn connect(peer: &str, port: u16, timeout: Duration) -> Result<TcpStream, Failure> {
    let deadline = tokio::time::Instant::now() + timeout;
    let failed = |reason, why: String| Failure {
        reason,
        message: format!("{peer}:{port}: {why}"),
    };
    let addrs = match tokio::time::timeout_at(deadline, lookup_host((peer, port))).await {
        Err(_) => return Err(failed(Reason::TcpTimeout, "not resolved in time".into())),
        Ok(Err(e)) => return Err(failed(Reason::TcpUnreachable, e.to_string())),
        Ok(Ok(addrs)) => addrs,
    };
    let mut last = failed(Reason::TcpUnreachable, "resolves to no address".into());
    for addr in addrs {
        match tcp::connect_one(addr, None, deadline).await {
            Ok(stream) => return Ok(stream),
            Err(f) => last = f,
        }
    }
    Err(last)
}

/// One connection to `peer` on `port`, and what answered it.
async fn attempt(peer: &str, port: u16, timeout: Duration) -> Attempt {
    let mut stream = match connect(peer, port, timeout).await {
        Ok(stream) => stream,
        Err(f) => return f.into(),
    };
    let mut buf = Vec::new();
    let read = tokio::time::timeout(timeout, async {
        let mut chunk = [0u8; 128];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) => return Ok(()),
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    if buf.contains(&b'\n') || buf.len() >= GREETING_LIMIT {
                        return Ok(());
                    }
                }
                Err(e) => return Err(e),
            }
        }
    })
    .await;
    if let Some(end) = buf.iter().position(|b| *b == b'\n') {
        buf.truncate(end + 1);
    }
    if let Some(name) = parse_greeting(&buf) {
        return Attempt::Greeted(name);
    }
    let what = match (read, buf.is_empty()) {
        (_, false) => format!(
            "answered \"{}\" instead of amlprobe mesh's greeting",
            shown(&buf)
        ),
        (Err(_), true) => format!(
            "sent nothing within {}",
            humantime::format_duration(timeout)
        ),
        (Ok(Err(e)), true) => format!("cut the connection without a greeting ({e})"),
        (Ok(Ok(())), true) => "closed the connection without a greeting".to_string(),
    };
    Attempt::Stranger(what)
}

/// One peer and port, tried until decided: until it answers, until the peer had answered on
/// another port before an attempt began (a failure is then final), or until `deadline`.
async fn probe(
    peer: String,
    port: u16,
    timeout: Duration,
    deadline: Instant,
    seen: Arc<Mutex<HashSet<String>>>,
) -> Probed {
    let mut tries = 0;
    loop {
        tries += 1;
        // A failure is final once the peer has answered on another port, as its listeners are
        // then all up; but only if it had answered before this attempt began: a refusal that
        // met the peer before it listened may be followed, a moment later, by an answer on
        // another port, and this port then deserves another try.
        let seen_before = crate::probe::lock(&seen).contains(&peer);
        let began = Instant::now();
        let got = attempt(&peer, port, timeout).await;
        let took = began.elapsed();
        let answered = got.answered();
        if answered {
            crate::probe::lock(&seen).insert(peer.clone());
        }
        if answered || seen_before || Instant::now() + RETRY_GAP >= deadline {
            return Probed {
                peer,
                port,
                attempt: got,
                tries,
                took,
            };
        }
        tokio::time::sleep(RETRY_GAP).await;
    }
}

/// Each peer and port tried until decided (`probe`), in parallel.
pub async fn probe_all(
    others: &[String],
    ports: &[u16],
    timeout: Duration,
    deadline: Instant,
) -> Vec<Probed> {
    let seen = Arc::new(Mutex::new(HashSet::new()));
    let mut probes = tokio::task::JoinSet::new();
    for peer in others {
        for &port in ports {
            probes.spawn(probe(peer.clone(), port, timeout, deadline, seen.clone()));
        }
    }
    let mut done = Vec::new();
    while let Some(r) = probes.join_next().await {
        if let Ok(r) = r {
            done.push(r);
        }
    }
    done
}

/// What a transfer that the run's end cut short says.
const CUT_SHORT: &str = "did not finish before the run ended";

/// Send `size` bytes to amlprobe mesh on `peer`, after its greeting, and wait for it to close:
/// bytes a second, or why not. All of it by `until`, the run's end: a peer that greets and then
/// never reads must not hold the run past its --wait and --timeout.
async fn throughput(
    peer: &str,
    port: u16,
    size: u64,
    timeout: Duration,
    until: Instant,
) -> Result<f64, String> {
    let timeout = timeout.min(until.saturating_duration_since(Instant::now()));
    if timeout.is_zero() {
        return Err(CUT_SHORT.into());
    }
    let mut s = connect(peer, port, timeout).await.map_err(|f| f.message)?;
    let mut hello = [0u8; GREETING_LIMIT];
    let n = tokio::time::timeout(timeout, s.read(&mut hello))
        .await
        .map_err(|_| "no greeting".to_string())?
        .map_err(|e| e.to_string())?;
    if parse_greeting(&hello[..n]).is_none() {
        return Err("no greeting".into());
    }
    let block = vec![0u8; 64 << 10];
    let began = Instant::now();
    let send = async {
        let mut left = size;
        while left > 0 {
            let n = usize::try_from(left.min(block.len() as u64)).unwrap_or(block.len());
            s.write_all(&block[..n]).await?;
            left -= n as u64;
        }
        s.shutdown().await?;
        // The peer closes once it has read everything.
        let mut rest = [0u8; 64];
        while s.read(&mut rest).await? > 0 {}
        Ok::<(), std::io::Error>(())
    };
    tokio::time::timeout_at(until.into(), send)
        .await
        .map_err(|_| CUT_SHORT.to_string())?
        .map_err(|e| e.to_string())?;
    Ok(size as f64 / began.elapsed().as_secs_f64().max(1e-6))
}

/// `--bandwidth`: one peer at a time, on the first port that greeted, so transfers do not share
/// the link; all of them by `until`, the run's end.
pub async fn speeds(
    size: u64,
    others: &[String],
    ports: &[u16],
    done: &[Probed],
    timeout: Duration,
    until: Instant,
) -> Vec<(String, Result<f64, String>)> {
    let mut speeds = Vec::new();
    for peer in others {
        let port = ports.iter().copied().find(|port| {
            done.iter().any(|d| {
                d.peer == *peer && d.port == *port && matches!(d.attempt, Attempt::Greeted(_))
            })
        });
        if let Some(port) = port {
            let speed = throughput(peer, port, size, timeout, until).await;
            speeds.push((peer.clone(), speed));
        }
    }
    speeds
}

/// Listen on every port; the ports that cannot be listened on, and why. A connection is held
/// for `hold` at most: as long as a greeting needs, or a `--bandwidth` transfer.
pub async fn listen_all(
    addr: IpAddr,
    ports: &[u16],
    name: &str,
    hold: Duration,
    callers: &Callers,
    tasks: &mut tokio::task::JoinSet<()>,
) -> Vec<String> {
    let hello: Arc<[u8]> = greeting(name).into_bytes().into();
    let held = Arc::new(Mutex::new(Held::default()));
    let mut failed = Vec::new();
    for &port in ports {
        match TcpListener::bind(SocketAddr::new(addr, port)).await {
            Ok(listener) => {
                let (hello, callers, held) = (hello.clone(), callers.clone(), held.clone());
                tasks.spawn(async move {
                    // Never ends on an error: a listener that stopped would leave its port
                    // closed for the rest of the run, and every peer would then blame a firewall.
                    loop {
                        match listener.accept().await {
                            Ok((s, from)) => {
                                note_caller(&callers, from.ip());
                                let (release, closed) = Held::hold(&held);
                                tokio::spawn(serve(s, hello.clone(), hold, closed, release));
                            }
                            Err(e) => {
                                // Out of descriptors: the caller waits in the backlog, and closing
                                // the oldest connection frees one for it at once; a moment lets
                                // that connection's task close it. Any other error: a pause.
                                let errno = e.raw_os_error().map(nix::errno::Errno::from_raw);
                                let out_of_files = matches!(
                                    errno,
                                    Some(nix::errno::Errno::EMFILE | nix::errno::Errno::ENFILE)
                                );
                                let freed =
                                    out_of_files && crate::probe::lock(&held).close_oldest();
                                tokio::time::sleep(match freed {
                                    true => Duration::from_millis(1),
                                    false => ACCEPT_PAUSE,
                                })
                                .await;
                            }
                        }
                    }
                });
            }
            Err(e) => failed.push(format!("{port}: {e}")),
        }
    }
    failed
}

/// One connection: the greeting, then wait for the peer to close, so it reads the greeting
/// whole; until `hold` has passed, or the connection is closed to make room (`Held`).
async fn serve(
    mut s: TcpStream,
    hello: Arc<[u8]>,
    hold: Duration,
    closed: oneshot::Receiver<()>,
    _release: Release,
) {
    let _ = tokio::time::timeout(hold, async {
        // The greeting before anything else, so that a connection closed to make room has it
        // already: a few bytes, which a new connection's send buffer always takes at once.
        let _ = s.write_all(&hello).await;
        let _ = s.shutdown().await;
        tokio::select! {
            () = until_closed(&mut s) => {}
            _ = closed => {}
        }
    })
    .await;
}

/// Read until the peer closes, and throw away what it sends.
async fn until_closed(s: &mut TcpStream) {
    // A peer that only reads the greeting sends nothing; the sink is allocated only for a
    // `--bandwidth` transfer, once its first byte arrives.
    let mut first = [0u8; 1];
    if !matches!(s.read(&mut first).await, Ok(n) if n > 0) {
        return;
    }
    let mut sink = vec![0u8; 64 << 10];
    while let Ok(n) = s.read(&mut sink).await {
        if n == 0 {
            break;
        }
    }
}

/// The connections the listeners hold, oldest first. Beyond `HELD_LIMIT` the oldest is
/// closed, rather than the newest refused: a connection is greeted the moment it is accepted,
/// so closing an old one costs its peer nothing it still needs (but a `--bandwidth` transfer,
/// which its peer then reports as not measured), while refusing new ones would let one client
/// that holds the limit shut out every peer after it.
#[derive(Debug, Default)]
struct Held {
    next: u64,
    /// Dropping a connection's sender tells its task to close it.
    open: BTreeMap<u64, oneshot::Sender<()>>,
}

/// A held connection's place in `Held`, given up when its task ends.
struct Release {
    held: Arc<Mutex<Held>>,
    id: u64,
}

impl Held {
    /// Hold one more connection, closing the oldest beyond the limit: its place, and what
    /// resolves when it is to be closed to make room.
    fn hold(held: &Arc<Mutex<Held>>) -> (Release, oneshot::Receiver<()>) {
        let (tell, closed) = oneshot::channel();
        let mut h = crate::probe::lock(held);
        let id = h.next;
        h.next += 1;
        h.open.insert(id, tell);
        while h.open.len() > HELD_LIMIT {
            h.close_oldest();
        }
        let release = Release {
            held: held.clone(),
            id,
        };
        (release, closed)
    }

    /// Close the oldest connection; whether there was one.
    fn close_oldest(&mut self) -> bool {
        self.open.pop_first().is_some()
    }
}

impl Drop for Release {
    fn drop(&mut self) {
        crate::probe::lock(&self.held).open.remove(&self.id);
    }
}

/// Remember a caller the first time it connects. IPv4 callers of a dual-stack listener come
/// as IPv4-mapped IPv6 addresses: kept as IPv4, so they match the peers' IPv4 addresses.
fn note_caller(callers: &Mutex<HashMap<IpAddr, SystemTime>>, from: IpAddr) {
    let mut callers = crate::probe::lock(callers);
    if callers.len() < CALLERS_LIMIT {
        callers
            .entry(from.to_canonical())
            .or_insert_with(SystemTime::now);
    }
}

/// The addresses a peer connects from, as far as this node can tell: its own when it is an
/// address, else what its name resolves to here; none when it does not resolve in time.
async fn addresses_of(peer: &str, timeout: Duration) -> Vec<IpAddr> {
    if let Ok(ip) = peer.parse::<IpAddr>() {
        return vec![ip.to_canonical()];
    }
    match tokio::time::timeout(timeout, tokio::net::lookup_host((peer, 0))).await {
        Ok(Ok(found)) => found.map(|a| a.ip().to_canonical()).collect(),
        _ => Vec::new(),
    }
}

/// Every peer's addresses, looked up at once so that many peers cost one timeout at most.
pub async fn resolve_all(peers: Vec<String>, timeout: Duration) -> HashMap<String, Vec<IpAddr>> {
    let mut lookups = tokio::task::JoinSet::new();
    for peer in peers {
        lookups.spawn(async move {
            let found = addresses_of(&peer, timeout).await;
            (peer, found)
        });
    }
    let mut out = HashMap::new();
    while let Some(done) = lookups.join_next().await {
        if let Ok((peer, found)) = done {
            out.insert(peer, found);
        }
    }
    out
}

/// When a peer, by any of its addresses, first connected to this node.
pub fn first_seen(
    addresses: &[IpAddr],
    callers: &HashMap<IpAddr, SystemTime>,
) -> Option<SystemTime> {
    addresses
        .iter()
        .filter_map(|a| callers.get(a))
        .min()
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greetings_round_trip_and_strangers_do_not_parse() {
        assert_eq!(
            parse_greeting(greeting("node-1").as_bytes()),
            Some("node-1".into())
        );
        assert_eq!(
            parse_greeting(b"amlprobe-mesh 1 10.0.0.4\n"),
            Some("10.0.0.4".into())
        );
        for bad in [
            &b"SSH-2.0-x\r\n"[..],
            b"amlprobe-mesh 1 node-1",
            b"amlprobe-mesh 2 node-1\n",
            b"amlprobe-mesh 1 \n",
            b"amlprobe-mesh 1 a b\n",
            b"amlprobe-mesh 1 \x1b[2J\n",
            b"\xff\xfe",
        ] {
            assert_eq!(parse_greeting(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn connections_are_told_apart_as_check_tells_them() {
        let failed = |reason, message: &str| {
            Attempt::from(Failure {
                reason,
                message: message.into(),
            })
        };
        assert!(matches!(failed(Reason::TcpRefused, "x"), Attempt::Refused));
        assert!(matches!(failed(Reason::TcpTimeout, "x"), Attempt::Timeout));
        let said = "10.0.0.5:29500: network unreachable: no route to this address";
        assert!(
            matches!(failed(Reason::TcpUnreachable, said), Attempt::Unreachable(m) if m == said)
        );
        // On loopback: a port that greets, one that does not, and one that nothing listens on.
        let rt = crate::session::runtime().unwrap();
        let t = Duration::from_secs(2);
        rt.block_on(async {
            let mut tasks = tokio::task::JoinSet::new();
            let callers = Callers::default();
            let lo: IpAddr = "127.0.0.1".parse().unwrap();
            let free = TcpListener::bind((lo, 0)).await.unwrap();
            let port = free.local_addr().unwrap().port();
            drop(free);
            assert!(matches!(
                attempt("127.0.0.1", port, t).await,
                Attempt::Refused
            ));
            assert!(listen_all(lo, &[port], "node-1", t, &callers, &mut tasks)
                .await
                .is_empty());
            assert!(
                matches!(attempt("127.0.0.1", port, t).await, Attempt::Greeted(n) if n == "node-1")
            );
            assert!(crate::probe::lock(&callers).contains_key(&lo));
            let until = Instant::now() + t;
            let bytes = throughput("127.0.0.1", port, 1 << 20, t, until).await;
            assert!(bytes.unwrap() > 0.0);
            // No time left in the run: not even tried.
            let late = throughput("127.0.0.1", port, 1 << 20, t, Instant::now()).await;
            assert_eq!(late, Err(CUT_SHORT.to_string()));
            tasks.abort_all();
        });
    }

    #[test]
    fn connections_beyond_the_limit_close_the_oldest_and_an_ended_one_gives_up_its_place() {
        let held = Arc::new(Mutex::new(Held::default()));
        let mut kept = Vec::new();
        for _ in 0..HELD_LIMIT {
            kept.push(Held::hold(&held));
        }
        let (newest, mut newest_closed) = Held::hold(&held);
        assert_eq!(held.lock().unwrap().open.len(), HELD_LIMIT);
        // The oldest is told to close; the second oldest and the newest are not.
        assert_eq!(
            kept[0].1.try_recv(),
            Err(oneshot::error::TryRecvError::Closed)
        );
        assert_eq!(
            kept[1].1.try_recv(),
            Err(oneshot::error::TryRecvError::Empty)
        );
        assert_eq!(
            newest_closed.try_recv(),
            Err(oneshot::error::TryRecvError::Empty)
        );
        kept.truncate(10);
        assert_eq!(held.lock().unwrap().open.len(), 10);
        assert!(held.lock().unwrap().close_oldest());
        assert_eq!(held.lock().unwrap().open.len(), 9);
        drop(kept);
        drop(newest);
        assert!(!held.lock().unwrap().close_oldest());
    }

    #[test]
    fn callers_are_remembered_first_bounded_and_matched_in_either_ip_form() {
        let callers = Mutex::new(HashMap::new());
        let v4: IpAddr = "10.0.0.5".parse().unwrap();
        let mapped: IpAddr = "::ffff:10.0.0.5".parse().unwrap();
        note_caller(&callers, mapped);
        let first = callers.lock().unwrap()[&v4];
        std::thread::sleep(Duration::from_millis(5));
        note_caller(&callers, v4);
        let seen = callers.lock().unwrap().clone();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[&v4], first);
        let rt = crate::session::runtime().unwrap();
        let t = Duration::from_millis(100);
        for peer in ["10.0.0.5", "::ffff:10.0.0.5"] {
            let addrs = rt.block_on(addresses_of(peer, t));
            assert_eq!(addrs, [v4], "{peer}");
            assert_eq!(first_seen(&addrs, &seen), Some(first), "{peer}");
        }
        let other = rt.block_on(addresses_of("10.0.0.6", t));
        assert_eq!(first_seen(&other, &seen), None);
        assert_eq!(first_seen(&[], &seen), None);
        for i in 0..2000u32 {
            note_caller(&callers, IpAddr::from(std::net::Ipv4Addr::from(i)));
        }
        assert_eq!(callers.lock().unwrap().len(), CALLERS_LIMIT);
    }
}
