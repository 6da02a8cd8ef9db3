//! DNS: the customer's server (dnsmasq with exact host records, faulted names answered as the
//! fault says), Azure DNS with the privatelink zones, and an upstream that answers SERVFAIL.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::sandbox::Sandbox;
use super::scenario::{DnsFault, Scenario};
use super::servers::support;
use super::world::{Target, World, AZURE_DNS_ADDR, DNS_ADDR, SERVFAIL_DNS_ADDR};

/// The zones whose unknown names public DNS answers NXDOMAIN, for `real_dns` scenarios.
const REAL_ZONES: &[&str] = &[
    "azure.com",
    "microsoft.com",
    "microsoftonline.com",
    "azureml.ms",
    "azureml.net",
    "windows.net",
    "azure.net",
    "visualstudio.com",
    "applicationinsights.us",
    "azure.us",
    "usgovcloudapi.net",
    "azure.cn",
    "chinacloudapi.cn",
    "pypi.org",
    "pythonhosted.org",
    "anaconda.com",
    "anaconda.org",
    "r-project.org",
    "pytorch.org",
    "tensorflow.org",
];

const HEAD: &str = "no-resolv\nno-hosts\nbind-interfaces\nuser=root\n";

/// The servers' configurations, one host at a time.
struct Zones {
    /// The customer's server.
    customer: String,
    /// Azure DNS, for the private-endpoint names.
    azure: String,
    /// Some name is forwarded to the SERVFAIL upstream.
    servfail: bool,
}

/// Starts the DNS servers the scenario needs; returns the listeners to wait for.
pub fn start(sb: &mut Sandbox, sc: &Scenario, world: &World) -> BTreeSet<String> {
    let zones = zones(sc, world);
    let mut listeners = BTreeSet::new();
    start_dnsmasq(sb, "dnsmasq", &zones.customer);
    listeners.insert(format!("udp/{DNS_ADDR}:53"));
    if sc.azure_dns {
        start_dnsmasq(sb, "azure-dns", &zones.azure);
        listeners.insert(format!("udp/{AZURE_DNS_ADDR}:53"));
    }
    if zones.servfail {
        let script = support("dns_rcode.py");
        sb.spawn("python3", &[&script, SERVFAIL_DNS_ADDR, "53", "2"]);
        listeners.insert(format!("udp/{SERVFAIL_DNS_ADDR}:53"));
    }
    listeners
}

/// dnsmasq in the foreground with `conf`, its files named after `name`.
fn start_dnsmasq(sb: &mut Sandbox, name: &str, conf: &str) {
    let path = sb.dir.join(format!("{name}.conf"));
    std::fs::write(&path, conf).unwrap();
    let conf = path.display().to_string();
    let pid = format!(
        "--pid-file={}",
        sb.dir.join(format!("{name}.pid")).display()
    );
    sb.spawn("dnsmasq", &["-k", "-C", &conf, &pid, "--log-facility=-"]);
}

fn zones(sc: &Scenario, world: &World) -> Zones {
    let mut zones = Zones {
        customer: format!("{HEAD}listen-address={DNS_ADDR}\n"),
        azure: format!("{HEAD}listen-address={AZURE_DNS_ADDR}\n"),
        servfail: false,
    };
    if sc.real_dns {
        for zone in REAL_ZONES {
            let _ = writeln!(zones.customer, "local=/{zone}/");
        }
    }
    let mut done = BTreeSet::new();
    for t in world.served() {
        if !done.insert(t.host()) {
            continue;
        }
        // A host with several DNS faults answers as the first says.
        let fault = world.host_faults(t.host()).dns.first().copied();
        // The name's first check that is a private endpoint's, if any.
        let pe = world
            .served()
            .iter()
            .filter(|o| o.host() == t.host())
            .find(|o| o.privatelink.is_some() || o.same_address_as.is_some());
        match pe {
            Some(o) => zones.private_endpoint(o, world.address(t.host()), done.len(), fault),
            None => zones.plain(t.host(), world.address(t.host()), fault),
        }
    }
    zones
}

impl Zones {
    /// Azure DNS answers through the privatelink zone (or, for a name that shares another's
    /// address, with that address); the customer's server forwards (the default) or gets it
    /// wrong as the fault says.
    fn private_endpoint(&mut self, o: &Target, addr: &str, n: usize, fault: Option<DnsFault>) {
        let host = o.host();
        let record = match &o.privatelink {
            Some(zone) => {
                let first = host.split('.').next().unwrap_or("x");
                let edge = format!("{first}-{n}.{zone}");
                format!("host-record={edge},{addr}\ncname={host},{edge}\n")
            }
            None => format!("host-record={host},{addr}\n"),
        };
        // A name that does not exist is in no zone, Azure's included.
        if fault != Some(DnsFault::Nxdomain) {
            self.azure.push_str(&record);
        }
        let customer = &mut self.customer;
        match fault {
            Some(DnsFault::PePublic) => {
                let _ = writeln!(customer, "host-record={host},203.0.113.10");
            }
            Some(DnsFault::PeHandMade) => {
                let _ = writeln!(customer, "host-record={host},{addr}");
            }
            Some(DnsFault::PeNoForwarder | DnsFault::Nxdomain) => {
                let _ = writeln!(customer, "local=/{host}/");
            }
            Some(
                DnsFault::NoRecords
                | DnsFault::Servfail
                | DnsFault::Refused
                | DnsFault::Cname
                | DnsFault::PublicAddress,
            )
            | None => customer.push_str(&record),
        }
    }

    /// A name the customer's server answers itself.
    fn plain(&mut self, host: &str, addr: &str, fault: Option<DnsFault>) {
        let customer = &mut self.customer;
        match fault {
            Some(DnsFault::Nxdomain) => {
                let _ = writeln!(customer, "local=/{host}/");
            }
            Some(DnsFault::NoRecords) => {
                let _ = writeln!(
                    customer,
                    "local=/{host}/\ntxt-record={host},\"no address here\""
                );
            }
            Some(DnsFault::Servfail) => {
                let _ = writeln!(customer, "server=/{host}/{SERVFAIL_DNS_ADDR}");
                self.servfail = true;
            }
            // dnsmasq refuses names it has no data and no upstream for.
            Some(DnsFault::Refused) => {}
            Some(DnsFault::Cname) => {
                let edge = format!("{host}.privatelink.example.net");
                let _ = writeln!(customer, "host-record={edge},{addr}\ncname={host},{edge}");
            }
            Some(fault @ (DnsFault::PePublic | DnsFault::PeHandMade | DnsFault::PeNoForwarder)) => {
                panic!("{fault:?} on {host}, which no check names as a private endpoint")
            }
            Some(DnsFault::PublicAddress) | None => {
                let _ = writeln!(customer, "host-record={host},{addr}");
            }
        }
    }
}
