//! Name resolution with hickory-resolver, one resolver per configured server so the report can
//! say which server answered, asked in order the way the system resolver does.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::config::{LookupIpStrategy, NameServerConfig, ResolveHosts, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::{Query, ResponseCode};
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use hickory_resolver::{Hosts, TokioResolver};
use tokio::time::{timeout_at, Instant};

use super::Failure;
use crate::reason::Reason;

/// Where addresses come from: the hosts file (unless servers were given) and the DNS servers.
pub struct Resolvers {
    servers: Vec<(String, TokioResolver)>,
    hosts: Option<Hosts>,
    /// What the configuration said that could not be kept.
    pub notes: Vec<String>,
}

/// What a successful lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub addresses: Vec<IpAddr>,
    /// The CNAME chain, in the order it was followed.
    pub cnames: Vec<String>,
    /// The server that answered (`IP`, `IP:PORT`) or `/etc/hosts`.
    pub server: String,
}

pub const SYSTEM_RESOLV_CONF: &str = "/etc/resolv.conf";
/// The `server` of an answer from the hosts file.
pub const HOSTS_FILE: &str = "/etc/hosts";

fn server_label(addr: SocketAddr) -> String {
    if addr.port() == 53 {
        addr.ip().to_string()
    } else {
        addr.to_string()
    }
}

/// The node's resolvers cannot be set up: the node, not the person, must change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ResolverError(String);

/// Name servers given with an interface scope (`fe80::1%eth0`): the resolver library keeps the
/// address but not the scope, so such a server is asked without it, and may not answer.
fn scoped_servers(resolv_conf: &str) -> Vec<String> {
    resolv_conf
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .map(str::trim)
        .filter(|server| server.contains('%'))
        .map(|server| {
            format!("{SYSTEM_RESOLV_CONF} names {server}: its interface scope is not kept, so it is asked without one and may not answer; give --dns-server with another address")
        })
        .collect()
}

impl Resolvers {
    /// The system's configuration: `/etc/resolv.conf` and `/etc/hosts`.
    pub fn from_system(check_timeout: Duration) -> Result<Resolvers, ResolverError> {
        let text = std::fs::read(SYSTEM_RESOLV_CONF).map_err(|e| {
            ResolverError(format!(
                "cannot read {SYSTEM_RESOLV_CONF}: {e}; give a resolver with --dns-server IP"
            ))
        })?;
        let (config, _) = hickory_resolver::system_conf::parse_resolv_conf(&text).map_err(|e| {
            ResolverError(format!(
                "{SYSTEM_RESOLV_CONF}: {e}; give a resolver with --dns-server IP"
            ))
        })?;
        let servers: Vec<SocketAddr> = config
            .name_servers()
            .iter()
            .map(|ns| SocketAddr::new(ns.ip, ns.connections.first().map(|c| c.port).unwrap_or(53)))
            .collect();
        let mut r = Resolvers::from_servers(&servers, check_timeout)?;
        r.hosts = Hosts::from_system().ok();
        r.notes = scoped_servers(&String::from_utf8_lossy(&text));
        Ok(r)
    }

    /// Exactly these servers, in this order, and no hosts file.
    pub fn from_servers(
        servers: &[SocketAddr],
        check_timeout: Duration,
    ) -> Result<Resolvers, ResolverError> {
        let mut out = Vec::new();
        for &addr in servers {
            let mut ns = NameServerConfig::udp_and_tcp(addr.ip());
            for c in &mut ns.connections {
                c.port = addr.port();
            }
            let mut builder = TokioResolver::builder_with_config(
                ResolverConfig::from_name_servers(vec![ns]),
                TokioRuntimeProvider::default(),
            );
            let opts = builder.options_mut();
            opts.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
            opts.use_hosts_file = ResolveHosts::Never;
            opts.preserve_intermediates = true;
            // Two tries per server fit inside one check's deadline; the caller bounds the rest.
            opts.timeout = (check_timeout / 2).max(Duration::from_millis(200));
            opts.attempts = 2;
            let resolver = builder
                .build()
                .map_err(|e| ResolverError(format!("cannot set up a resolver for {addr}: {e}")))?;
            out.push((server_label(addr), resolver));
        }
        if out.is_empty() {
            return Err(ResolverError(
                "no DNS server configured; give one with --dns-server IP".into(),
            ));
        }
        Ok(Resolvers {
            servers: out,
            hosts: None,
            notes: Vec::new(),
        })
    }

    /// Forget every answer kept: the next lookup asks the servers again, whatever the TTL.
    pub fn clear_cache(&self) {
        for (_, resolver) in &self.servers {
            resolver.clear_cache();
        }
    }

    pub fn labels(&self) -> Vec<String> {
        self.servers.iter().map(|(l, _)| l.clone()).collect()
    }

    fn lookup_hosts_file(&self, name: &Name) -> Option<Answer> {
        let hosts = self.hosts.as_ref()?;
        let mut addresses = Vec::new();
        for rt in [RecordType::A, RecordType::AAAA] {
            if let Some(l) = hosts.lookup_static_host(&Query::query(name.clone(), rt)) {
                addresses.extend(l.answers().iter().filter_map(|r| match &r.data {
                    RData::A(a) => Some(IpAddr::V4(a.0)),
                    RData::AAAA(a) => Some(IpAddr::V6(a.0)),
                    _ => None,
                }));
            }
        }
        (!addresses.is_empty()).then(|| Answer {
            addresses,
            cnames: Vec::new(),
            server: HOSTS_FILE.into(),
        })
    }

    /// A and AAAA for `host`, asking each server in turn until one gives a definite answer.
    /// Every server shares the time left before `deadline`.
    pub async fn resolve(&self, host: &str, deadline: Instant) -> Result<Answer, Failure> {
        let fqdn = format!("{}.", host.trim_end_matches('.'));
        let name = Name::from_ascii(&fqdn).map_err(|e| Failure {
            reason: Reason::DnsNxdomain,
            message: format!("'{host}' is not a valid DNS name: {e}"),
        })?;
        if let Some(answer) = self.lookup_hosts_file(&name) {
            return Ok(answer);
        }
        let mut first_failure: Option<Failure> = None;
        let count = self.servers.len() as u32;
        for (i, (label, resolver)) in self.servers.iter().enumerate() {
            let left = deadline.saturating_duration_since(Instant::now());
            let share = deadline.min(Instant::now() + left / (count - i as u32));
            let outcome = match timeout_at(share, resolver.lookup_ip(name.clone())).await {
                Ok(Ok(lookup)) => {
                    let mut cnames = Vec::new();
                    for r in lookup.as_lookup().answers() {
                        if let RData::CNAME(c) = &r.data {
                            let target = c.0.to_ascii().trim_end_matches('.').to_string();
                            if !cnames.contains(&target) {
                                cnames.push(target);
                            }
                        }
                    }
                    let addresses: Vec<IpAddr> = lookup.iter().collect();
                    if addresses.is_empty() {
                        Err((
                            Reason::DnsNoRecords,
                            "answered without an address".to_string(),
                        ))
                    } else {
                        return Ok(Answer {
                            addresses,
                            cnames,
                            server: label.clone(),
                        });
                    }
                }
                Ok(Err(e)) => Err(classify_error(&e)),
                Err(_) => Err((Reason::DnsTimeout, "no answer in time".to_string())),
            };
            let (reason, detail) = outcome.unwrap_or_else(|e| e);
            let failure = Failure {
                reason,
                message: format!("{host}: {detail} (server {label})"),
            };
            // A name that does not exist, or has no address, is a definite answer.
            if matches!(reason, Reason::DnsNxdomain | Reason::DnsNoRecords) {
                return Err(failure);
            }
            first_failure.get_or_insert(failure);
        }
        Err(first_failure.unwrap_or(Failure {
            reason: Reason::DnsTimeout,
            message: format!("{host}: no resolver answered"),
        }))
    }
}

/// What a resolver error means, without parsing strings.
pub fn classify_error(e: &NetError) -> (Reason, String) {
    match e {
        NetError::Dns(DnsError::NoRecordsFound(nr))
            if nr.response_code == ResponseCode::NXDomain =>
        {
            (
                Reason::DnsNxdomain,
                "NXDOMAIN: the name does not exist".into(),
            )
        }
        NetError::Dns(DnsError::NoRecordsFound(nr))
            if nr.response_code == ResponseCode::NoError =>
        {
            (
                Reason::DnsNoRecords,
                "the name exists but has no A or AAAA record".into(),
            )
        }
        // Any other code (an unassigned one, 11 to 15, included) is the server's error, not an
        // answer about the name.
        NetError::Dns(DnsError::NoRecordsFound(nr)) => (
            Reason::DnsServfail,
            format!("the server answered with error {}", nr.response_code),
        ),
        NetError::Dns(DnsError::ResponseCode(ResponseCode::Refused)) => (
            Reason::DnsRefused,
            "the server refused the query (REFUSED)".into(),
        ),
        NetError::Dns(DnsError::ResponseCode(ResponseCode::ServFail)) => (
            Reason::DnsServfail,
            "the server failed to answer (SERVFAIL)".into(),
        ),
        NetError::Dns(DnsError::ResponseCode(code)) => (
            Reason::DnsServfail,
            format!("the server answered with error {code}"),
        ),
        NetError::Timeout => (Reason::DnsTimeout, "no answer in time".into()),
        NetError::Io(io) => (Reason::DnsTimeout, format!("no answer: {io}")),
        NetError::NoConnections => (
            Reason::DnsTimeout,
            "no answer: could not reach the server".into(),
        ),
        other => (Reason::DnsServfail, format!("the lookup failed: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_resolver::net::NoRecords;

    fn no_records(code: ResponseCode) -> NetError {
        let q = Query::query(Name::from_ascii("x.example.net.").unwrap(), RecordType::A);
        NetError::Dns(DnsError::NoRecordsFound(NoRecords::new(q, code)))
    }

    #[test]
    fn resolver_errors_map_to_their_own_reasons() {
        let table: Vec<(NetError, Reason)> = vec![
            (no_records(ResponseCode::NXDomain), Reason::DnsNxdomain),
            (no_records(ResponseCode::NoError), Reason::DnsNoRecords),
            (no_records(ResponseCode::Unknown(11)), Reason::DnsServfail),
            (no_records(ResponseCode::YXDomain), Reason::DnsServfail),
            (
                NetError::Dns(DnsError::ResponseCode(ResponseCode::ServFail)),
                Reason::DnsServfail,
            ),
            (
                NetError::Dns(DnsError::ResponseCode(ResponseCode::Refused)),
                Reason::DnsRefused,
            ),
            (
                NetError::Dns(DnsError::ResponseCode(ResponseCode::NotImp)),
                Reason::DnsServfail,
            ),
            (NetError::Timeout, Reason::DnsTimeout),
            (
                NetError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)),
                Reason::DnsTimeout,
            ),
            (NetError::NoConnections, Reason::DnsTimeout),
        ];
        for (err, want) in table {
            assert_eq!(classify_error(&err).0, want, "{err}");
        }
        let (_, message) = classify_error(&no_records(ResponseCode::Unknown(11)));
        assert!(
            message.starts_with("the server answered with error"),
            "{message}"
        );
    }

    #[test]
    fn server_labels_omit_the_default_port() {
        assert_eq!(server_label("10.0.0.53:53".parse().unwrap()), "10.0.0.53");
        assert_eq!(
            server_label("10.0.0.53:5353".parse().unwrap()),
            "10.0.0.53:5353"
        );
    }

    #[test]
    fn resolvers_need_a_server() {
        assert!(Resolvers::from_servers(&[], Duration::from_secs(1)).is_err());
    }

    #[test]
    fn a_scoped_name_server_is_noted() {
        let notes = scoped_servers("search x\nnameserver 10.0.0.53\nnameserver fe80::1%eth0\n");
        assert_eq!(notes.len(), 1);
        assert!(notes[0].contains("fe80::1%eth0") && notes[0].contains("scope"));
    }
}
