//! The simulated region: the fixed addresses of its services, the endpoints to serve with an
//! address for each host, and the scenario's faults sorted by check and by layer.

use std::collections::{BTreeMap, BTreeSet};

use amlprobe::catalog::{Kind, Transport};
use serde::Deserialize;

use super::scenario::{DnsFault, Fault, FaultKind, FirewallFault, Scenario, Scope, ServerFault};

/// The customer's DNS server.
pub const DNS_ADDR: &str = "10.77.0.53";
/// The upstream that answers SERVFAIL.
pub const SERVFAIL_DNS_ADDR: &str = "10.77.0.54";
/// A DNS server that exists but never answers, like a resolver behind a dropping firewall.
pub const DEAD_DNS_ADDR: &str = "10.77.0.99";
pub const PROXY_ADDR: &str = "10.77.0.80";
pub const DOWN_PROXY_ADDR: &str = "10.77.0.81";
pub const PROXY_PASSWORD: &str = "s3cret-proxy-pass";
pub const IMDS_ADDR: &str = "169.254.169.254";
pub const AZURE_DNS_ADDR: &str = "168.63.129.16";

/// An entry of `amlprobe list -o json`: what would be checked.
#[derive(Debug, Clone, Deserialize)]
pub struct Target {
    pub id: String,
    pub kind: Kind,
    pub target: Endpoint,
    /// Why the check is skipped, if it is.
    pub skip: Option<String>,
    pub privatelink: Option<String>,
    /// A private-endpoint name that must answer this other host's address.
    pub same_address_as: Option<String>,
    /// An HTTPS URL whose redirect names the host to probe.
    pub redirect_from: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Endpoint {
    pub host: String,
    pub port: Option<u16>,
    pub transport: Transport,
}

impl Target {
    pub fn host(&self) -> &str {
        &self.target.host
    }

    pub fn port(&self) -> Option<u16> {
        self.target.port
    }

    pub fn transport(&self) -> Transport {
        self.target.transport
    }

    /// A host served for the scenario that no check names (a registry, a redirect's target).
    fn extra(host: &str, kind: Kind) -> Target {
        Target {
            id: format!("served-{host}"),
            kind,
            target: Endpoint {
                host: host.to_string(),
                port: Some(443),
                transport: Transport::Tcp,
            },
            skip: None,
            privatelink: None,
            same_address_as: None,
            redirect_from: None,
        }
    }
}

pub struct World {
    /// The live checks' endpoints first (those that meet a server: not skipped, not of the
    /// node itself), then the hosts served besides.
    served: Vec<Target>,
    live: usize,
    faults: BTreeMap<String, Vec<FaultKind>>,
    /// The customer's DNS server never answers.
    pub dns_timeout: bool,
    /// Hosts whose redirect the probe asks for, served as registries.
    pub registry_hosts: BTreeSet<String>,
    /// Downloads other than a registry's: the redirect's host and path, and the check's host
    /// that serves the file.
    redirects: Vec<(String, String, String)>,
    /// Hosts that serve a download a redirect names.
    pub download_hosts: BTreeSet<String>,
    addr_of: BTreeMap<String, String>,
}

impl World {
    pub fn build(name: &str, sc: &Scenario, targets: &[Target]) -> World {
        let live: Vec<Target> = targets
            .iter()
            .filter(|t| t.skip.is_none() && t.kind != Kind::Host)
            .cloned()
            .collect();
        let (faults, dns_timeout) = faults_by_check(name, sc, &live);
        // Hosts served besides the checks': the registry a redirect is asked of, and the data
        // host it redirects to.
        let registry_hosts: BTreeSet<String> = live
            .iter()
            .filter_map(|t| t.redirect_from.as_deref())
            .filter_map(url_host)
            .collect();
        let extra: Vec<Target> = registry_hosts
            .iter()
            .filter(|h| !live.iter().any(|t| t.host() == *h && t.port() == Some(443)))
            .map(|h| Target::extra(h, Kind::Https))
            .chain(
                sc.registry_redirect
                    .iter()
                    .map(|d| Target::extra(d, Kind::Tls)),
            )
            .collect();
        let redirects: Vec<(String, String, String)> = live
            .iter()
            .filter_map(|t| {
                let url = t.redirect_from.as_deref()?;
                let from = url_host(url)?;
                let path = url.strip_prefix("https://")?.strip_prefix(from.as_str())?;
                (!path.starts_with("/v2/"))
                    .then(|| (from.clone(), path.to_string(), t.host().to_string()))
            })
            .collect();
        let download_hosts = redirects.iter().map(|(_, _, to)| to.clone()).collect();
        let mut world = World {
            redirects,
            download_hosts,
            live: live.len(),
            served: live.into_iter().chain(extra).collect(),
            faults,
            dns_timeout,
            registry_hosts,
            addr_of: BTreeMap::new(),
        };
        world.addr_of = world.assign_addresses();
        world
    }

    /// One address per host, on the namespace's loopback; a private-endpoint name that must
    /// answer another name's address shares it, and a `public-address` fault gives a public one.
    fn assign_addresses(&self) -> BTreeMap<String, String> {
        let alias: BTreeMap<&str, &str> = self
            .served
            .iter()
            .filter_map(|t| Some((t.host(), t.same_address_as.as_deref()?)))
            .filter(|(_, other)| self.served.iter().any(|t| t.host() == *other))
            .collect();
        let mut addr_of: BTreeMap<String, String> = BTreeMap::new();
        // Hosts with an address of their own first, so that the aliases find theirs.
        for pass in [false, true] {
            for t in &self.served {
                if alias.contains_key(t.host()) != pass || addr_of.contains_key(t.host()) {
                    continue;
                }
                let n = addr_of.len() + 1;
                let addr = if self
                    .host_faults(t.host())
                    .dns
                    .contains(&DnsFault::PublicAddress)
                {
                    format!("203.0.113.{}", n % 250 + 1)
                } else if let Some(other) = alias.get(t.host()) {
                    addr_of[*other].clone()
                } else {
                    format!("10.77.{}.{}", 1 + n / 250, n % 250 + 1)
                };
                addr_of.insert(t.host().to_string(), addr);
            }
        }
        addr_of
    }

    /// The downloads `host` redirects to: each path, and the host that serves it.
    pub fn redirects_from(&self, host: &str) -> Vec<(String, String)> {
        self.redirects
            .iter()
            .filter(|(from, _, _)| from == host)
            .map(|(_, path, to)| (path.clone(), to.clone()))
            .collect()
    }

    /// Every endpoint to serve.
    pub fn served(&self) -> &[Target] {
        &self.served
    }

    /// The checks' endpoints that meet a server.
    pub fn live(&self) -> &[Target] {
        &self.served[..self.live]
    }

    pub fn address(&self, host: &str) -> &str {
        &self.addr_of[host]
    }

    /// Every address the hosts have, once each.
    pub fn addresses(&self) -> BTreeSet<&str> {
        self.addr_of.values().map(String::as_str).collect()
    }

    /// Every host served, for the certificates' names (a placeholder if none is, as a
    /// certificate needs a name).
    pub fn hosts(&self) -> Vec<String> {
        if self.addr_of.is_empty() {
            vec!["unused.example.net".into()]
        } else {
            self.addr_of.keys().cloned().collect()
        }
    }

    fn of(&self, t: &Target) -> impl Iterator<Item = FaultKind> + '_ {
        self.faults.get(&t.id).into_iter().flatten().copied()
    }

    /// The faults of a check's endpoint.
    pub fn faults(&self, t: &Target) -> Layers {
        self.of(t).collect()
    }

    /// The faults of a host, from every check that probes it.
    pub fn host_faults(&self, host: &str) -> Layers {
        let on_host = self.served.iter().filter(|t| t.host() == host);
        on_host.flat_map(|t| self.of(t)).collect()
    }
}

/// Faults sorted by the layer that plays them; the sets are first in precedence first, the
/// firewall's in the scenario's order (one rule each).
#[derive(Default)]
pub struct Layers {
    pub dns: BTreeSet<DnsFault>,
    pub server: BTreeSet<ServerFault>,
    pub firewall: Vec<FirewallFault>,
}

impl FromIterator<FaultKind> for Layers {
    fn from_iter<I: IntoIterator<Item = FaultKind>>(faults: I) -> Layers {
        let mut layers = Layers::default();
        for f in faults {
            match f {
                FaultKind::Dns(d) => {
                    layers.dns.insert(d);
                }
                FaultKind::Server(s) => {
                    layers.server.insert(s);
                }
                FaultKind::Firewall(w) => layers.firewall.push(w),
            }
        }
        layers
    }
}

/// Faults by check id (a scope of `all` applies to every live endpoint, or every Nth), and
/// whether the DNS server times out.
fn faults_by_check(
    name: &str,
    sc: &Scenario,
    live: &[Target],
) -> (BTreeMap<String, Vec<FaultKind>>, bool) {
    let mut faults: BTreeMap<String, Vec<FaultKind>> = BTreeMap::new();
    let mut dns_timeout = false;
    for f in &sc.fault {
        let (on, kind) = match f {
            Fault::DnsTimeout => {
                dns_timeout = true;
                continue;
            }
            Fault::Endpoint { on, kind } => (on, *kind),
        };
        let ids: Vec<&String> = match on {
            Scope::Check(id) => {
                assert!(
                    live.iter().any(|t| &t.id == id),
                    "{name}: fault names unknown or skipped check {id}"
                );
                vec![id]
            }
            Scope::All { every } => live.iter().step_by(*every).map(|t| &t.id).collect(),
        };
        for id in ids {
            faults.entry(id.clone()).or_default().push(kind);
        }
    }
    (faults, dns_timeout)
}

/// The host of an `https://host/...` URL.
fn url_host(url: &str) -> Option<String> {
    let rest = url.strip_prefix("https://")?;
    let host = rest.split(['/', ':', '?']).next()?;
    (!host.is_empty()).then(|| host.to_string())
}
