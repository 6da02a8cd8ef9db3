//! Who the job's nodes are, which ports they meet on, and which node this one is: from the
//! flags, else from the variables a multi-node job sets.

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::context::parse_peer;
use crate::exit::Stop;

/// The rendezvous port PyTorch uses when MASTER_PORT is not set.
pub const RENDEZVOUS_PORT: u16 = 29500;

/// NCCL and Gloo open their data connections on ports the kernel picks from the ephemeral range
/// (32768–60999 on Linux): three fixed ports spread over it stand for that range, so an NSG or
/// firewall that allows only the rendezvous port shows.
pub const EPHEMERAL_SAMPLE: [u16; 3] = [33000, 45000, 60000];

/// The variables that name the master alone: PyTorch's, then Batch's (`ip:port`).
const MASTER_VARS: [&str; 2] = ["MASTER_ADDR", "AZ_BATCH_MASTER_NODE"];

/// The variable that names an MPI host file.
const HOST_FILE_VAR: &str = "AZ_BATCHAI_MPI_HOST_FILE";

/// Where the list of peers came from. The report says it as `flag`, `env:NAME` or
/// `file:PATH (env:AZ_BATCHAI_MPI_HOST_FILE)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerSource {
    Flag,
    /// A variable that lists the nodes, or names the master.
    Env(&'static str),
    /// The MPI host file that `AZ_BATCHAI_MPI_HOST_FILE` names.
    HostFile(PathBuf),
}

impl PeerSource {
    /// Whether the list names only the master: then the master has no one to test, and
    /// listens so that every worker can test it.
    pub fn master_only(&self) -> bool {
        matches!(self, PeerSource::Env(name) if MASTER_VARS.contains(name))
    }
}

impl fmt::Display for PeerSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerSource::Flag => f.write_str("flag"),
            PeerSource::Env(name) => write!(f, "env:{name}"),
            PeerSource::HostFile(path) => {
                write!(f, "file:{} (env:{HOST_FILE_VAR})", path.display())
            }
        }
    }
}

/// The job's nodes and where their list came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peers {
    pub hosts: Vec<String>,
    pub from: PeerSource,
}

impl Peers {
    /// The peers: the flag, else the job's variables.
    pub fn find(flag: &[String], env: &dyn Fn(&str) -> Option<String>) -> Result<Peers, Stop> {
        match flag.is_empty() {
            false => Some(Peers {
                hosts: hosts(flag.iter().map(String::as_str)),
                from: PeerSource::Flag,
            }),
            true => peers_from_env(env, &read_small),
        }
        .ok_or_else(|| {
            Stop::usage(
                "no peers: give --peers HOST,HOST (this node included), or run where AZ_BATCH_HOST_LIST, AZ_BATCH_NODE_LIST, AZ_BATCHAI_MPI_HOST_FILE or MASTER_ADDR names the job's nodes",
            )
        })
    }

    /// The peers other than `this`, the ones to test. None is an error unless the list names
    /// only the master, which this node then is.
    pub fn others(&self, this: &str) -> Result<Vec<String>, Stop> {
        let others: Vec<String> = self.hosts.iter().filter(|p| *p != this).cloned().collect();
        if others.is_empty() && !self.from.master_only() {
            return Err(Stop::usage(format!(
                "no other peer than this node ({this}) in the list from {}: give --peers with every node of the job",
                self.from
            )));
        }
        Ok(others)
    }
}

/// `host`, or `host:port` with the port cut (IPv6 addresses keep their colons).
fn host_of(entry: &str) -> &str {
    let entry = entry.trim();
    match entry.split_once(':') {
        Some((host, port))
            if !port.contains(':')
                && !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit()) =>
        {
            host
        }
        _ => entry,
    }
}

/// The valid hosts of a list, each once, in order.
fn hosts<'a>(items: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in items {
        let host = host_of(item);
        if host.is_empty() {
            continue;
        }
        if let Ok(h) = parse_peer(host) {
            if !out.contains(&h) {
                out.push(h);
            }
        }
    }
    out
}

/// The hosts of an MPI host file: the first word of each line (`host slots=4`), no comments.
pub fn parse_host_file(text: &str) -> Vec<String> {
    hosts(
        text.lines()
            .map(|l| l.split('#').next().unwrap_or(""))
            .filter_map(|l| l.split_whitespace().next()),
    )
}

/// The peers a multi-node job's variables name, in this order: `AZ_BATCH_HOST_LIST` (Batch,
/// comma-separated), `AZ_BATCH_NODE_LIST` (Batch, semicolon-separated), the MPI host file
/// `AZ_BATCHAI_MPI_HOST_FILE`, then only the master: `MASTER_ADDR` (PyTorch), or
/// `AZ_BATCH_MASTER_NODE` (`ip:port`).
pub fn peers_from_env(
    var: &dyn Fn(&str) -> Option<String>,
    read: &dyn Fn(&Path) -> Option<String>,
) -> Option<Peers> {
    let found =
        |hosts: Vec<String>, from: PeerSource| (!hosts.is_empty()).then_some(Peers { hosts, from });
    for (name, separator) in [("AZ_BATCH_HOST_LIST", ','), ("AZ_BATCH_NODE_LIST", ';')] {
        if let Some(v) = var(name) {
            if let Some(p) = found(hosts(v.split(separator)), PeerSource::Env(name)) {
                return Some(p);
            }
        }
    }
    if let Some(path) = var(HOST_FILE_VAR) {
        let path = Path::new(path.trim());
        if let Some(text) = read(path) {
            let from = PeerSource::HostFile(path.to_path_buf());
            if let Some(p) = found(parse_host_file(&text), from) {
                return Some(p);
            }
        }
    }
    for name in MASTER_VARS {
        if let Some(v) = var(name) {
            if let Some(p) = found(hosts(std::iter::once(v.as_str())), PeerSource::Env(name)) {
                return Some(p);
            }
        }
    }
    None
}

fn read_small(path: &Path) -> Option<String> {
    crate::input::read(path, crate::input::HOST_FILE_LIMIT)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
}

/// The ports: the flag, else MASTER_PORT (or 29500) and the ephemeral sample.
pub fn ports(flag: &[u16], master_port: Option<String>) -> Vec<u16> {
    if !flag.is_empty() {
        let mut seen = BTreeSet::new();
        return flag.iter().copied().filter(|p| seen.insert(*p)).collect();
    }
    let first = master_port
        .and_then(|p| p.trim().parse::<u16>().ok())
        .filter(|p| *p != 0)
        .unwrap_or(RENDEZVOUS_PORT);
    let mut out = vec![first];
    out.extend(EPHEMERAL_SAMPLE.iter().filter(|p| **p != first));
    out
}

wire_enum! {
    /// How this node was picked out of the peers.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum SelfFrom {
        /// `--self`.
        Flag = "flag",
        Hostname = "hostname",
        Address = "address",
        /// No peer is this node: every peer is tried, and this node goes by its hostname.
        None = "none",
    }
}

/// Which peer this node is, and how that was found.
pub fn pick_self(
    peers: &[String],
    flag: Option<&str>,
    hostname: &str,
    addresses: &[IpAddr],
) -> (String, SelfFrom) {
    if let Some(name) = flag {
        return (name.to_string(), SelfFrom::Flag);
    }
    let short = |h: &str| h.split('.').next().unwrap_or("").to_ascii_lowercase();
    if !hostname.is_empty() {
        if let Some(p) = peers.iter().find(|p| {
            p.eq_ignore_ascii_case(hostname)
                || (p.parse::<IpAddr>().is_err() && short(p) == short(hostname))
        }) {
            return (p.clone(), SelfFrom::Hostname);
        }
    }
    if let Some(p) = peers
        .iter()
        .find(|p| p.parse::<IpAddr>().is_ok_and(|ip| addresses.contains(&ip)))
    {
        return (p.clone(), SelfFrom::Address);
    }
    (hostname.to_string(), SelfFrom::None)
}

/// This node's addresses, for `pick_self`.
pub fn local_addresses() -> Vec<IpAddr> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    addrs
        .filter_map(|a| a.address)
        .filter_map(|a| {
            a.as_sockaddr_in()
                .map(|v4| IpAddr::V4(v4.ip()))
                .or_else(|| a.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip())))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    fn no_file(_: &Path) -> Option<String> {
        None
    }

    #[test]
    fn peers_come_from_each_variable_in_order() {
        let p = peers_from_env(
            &vars(&[("AZ_BATCH_HOST_LIST", "10.0.0.4,10.0.0.5, 10.0.0.6")]),
            &no_file,
        )
        .unwrap();
        assert_eq!(p.hosts, ["10.0.0.4", "10.0.0.5", "10.0.0.6"]);
        assert_eq!(p.from.to_string(), "env:AZ_BATCH_HOST_LIST");
        let p = peers_from_env(
            &vars(&[("AZ_BATCH_NODE_LIST", "10.0.0.4;10.0.0.5;")]),
            &no_file,
        )
        .unwrap();
        assert_eq!(
            (p.hosts.len(), p.from.to_string().as_str()),
            (2, "env:AZ_BATCH_NODE_LIST")
        );
        let both = [
            ("AZ_BATCH_NODE_LIST", "10.0.0.9;10.0.0.8"),
            ("AZ_BATCH_HOST_LIST", "10.0.0.4,10.0.0.5"),
        ];
        assert_eq!(
            peers_from_env(&vars(&both), &no_file)
                .unwrap()
                .from
                .to_string(),
            "env:AZ_BATCH_HOST_LIST"
        );
        let file = |p: &Path| {
            (p == Path::new("/h"))
                .then(|| "# nodes\nnode-0 slots=4\nnode-1 slots=4\n\nnode-0\n".to_string())
        };
        let p = peers_from_env(&vars(&[("AZ_BATCHAI_MPI_HOST_FILE", "/h")]), &file).unwrap();
        assert_eq!(p.hosts, ["node-0", "node-1"]);
        assert!(p.from.to_string().starts_with("file:/h"));
        assert_eq!(p.from.to_string(), "file:/h (env:AZ_BATCHAI_MPI_HOST_FILE)");
        assert!(!p.from.master_only());
        let p = peers_from_env(&vars(&[("MASTER_ADDR", "node-0")]), &no_file).unwrap();
        assert_eq!(
            (p.hosts, p.from.to_string().as_str()),
            (vec!["node-0".to_string()], "env:MASTER_ADDR")
        );
        assert!(p.from.master_only());
        let p = peers_from_env(
            &vars(&[("AZ_BATCH_MASTER_NODE", "10.0.0.4:6000")]),
            &no_file,
        )
        .unwrap();
        assert_eq!(p.hosts, ["10.0.0.4"]);
        assert!(p.from.master_only());
        assert!(!PeerSource::Flag.master_only());
        assert!(!PeerSource::Env("AZ_BATCH_HOST_LIST").master_only());
        assert!(peers_from_env(&vars(&[]), &no_file).is_none());
        assert!(peers_from_env(&vars(&[("AZ_BATCH_HOST_LIST", " , ;$(x)")]), &no_file).is_none());
    }

    #[test]
    fn only_a_master_only_list_may_leave_no_one_to_test() {
        let only = |from: PeerSource| Peers {
            hosts: vec!["node-0".into()],
            from,
        };
        let none: &[String] = &[];
        assert_eq!(
            only(PeerSource::Env("MASTER_ADDR"))
                .others("node-0")
                .unwrap(),
            none
        );
        let err = only(PeerSource::Flag).others("node-0").unwrap_err();
        assert!(
            err.message.contains("(node-0) in the list from flag"),
            "{}",
            err.message
        );
        assert_eq!(only(PeerSource::Flag).others("node-1").unwrap(), ["node-0"]);
    }

    #[test]
    fn ports_default_to_the_rendezvous_and_the_ephemeral_sample() {
        assert_eq!(ports(&[], None), [29500, 33000, 45000, 60000]);
        assert_eq!(ports(&[], Some("6000".into())), [6000, 33000, 45000, 60000]);
        assert_eq!(ports(&[], Some("nope".into()))[0], 29500);
        assert_eq!(ports(&[7, 7, 8], Some("6000".into())), [7, 8]);
    }

    #[test]
    fn this_node_is_picked_by_flag_hostname_or_address() {
        let peers: Vec<String> = ["node-0.x.internal", "10.0.0.5"].map(String::from).to_vec();
        assert_eq!(
            pick_self(&peers, Some("n"), "node-0", &[]),
            ("n".into(), SelfFrom::Flag)
        );
        assert_eq!(
            pick_self(&peers, None, "node-0", &[]),
            ("node-0.x.internal".into(), SelfFrom::Hostname)
        );
        let ip: IpAddr = "10.0.0.5".parse().unwrap();
        assert_eq!(
            pick_self(&peers, None, "other", &[ip]),
            ("10.0.0.5".into(), SelfFrom::Address)
        );
        assert_eq!(
            pick_self(&peers, None, "other", &[]),
            ("other".into(), SelfFrom::None)
        );
        // The report's words.
        let words: Vec<&str> = SelfFrom::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(words, ["flag", "hostname", "address", "none"]);
    }
}
