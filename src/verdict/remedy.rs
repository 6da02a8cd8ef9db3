//! The concrete fix for a reason on one endpoint: which rule, on which host, port and tag.

use crate::catalog::HostCheck;
use crate::reason::Reason;

/// The endpoint a fix talks about.
pub struct Subject<'a> {
    pub host: &'a str,
    pub port: Option<u16>,
    pub transport: &'a str,
    pub service_tag: Option<&'a str>,
    /// The wildcard requirement the host stands for, if any.
    pub stands_for: Option<&'a str>,
    /// The zones a custom DNS server must forward to Azure DNS in this cloud, comma-separated.
    pub forward_zones: &'a str,
    /// For checks of the node itself: which one.
    pub check: Option<HostCheck>,
}

impl Subject<'_> {
    fn rule(&self) -> String {
        let port = self.port.map(|p| format!(" {p}")).unwrap_or_default();
        let proto = self.transport.to_ascii_uppercase();
        match self.service_tag {
            Some(tag) => format!(
                "outbound {proto}{port} to service tag {tag} (NSG) and to {} (firewall FQDN rule)",
                self.host
            ),
            None => format!("outbound {proto}{port} to {}", self.host),
        }
    }
}

/// What allows a wildcard that cannot be tested by name: its service tag, or a firewall rule.
pub fn allowed_by(service_tag: Option<&str>) -> String {
    match service_tag {
        Some(tag) => format!("service tag {tag} (NSG) or a firewall FQDN rule"),
        None => "a firewall FQDN rule".into(),
    }
}

/// The concrete fix for a reason on this endpoint.
pub fn remediation(reason: Reason, s: &Subject) -> String {
    use Reason::*;
    // Every reason is placed in one family here, so a new one cannot be forgotten; each
    // family's own match words the fix (a test holds that no problem goes without one).
    match reason {
        Ok | BlockedAsExpected | WsAuthRequired | NotApplicable => String::new(),
        DnsNxdomain | DnsNoRecords | DnsTimeout | DnsServfail | DnsRefused | DnsPublicAddress
        | DnsResolverMismatch | DnsPrivateMismatch | StandInUnresolvable | DnsNoPrivatelink
        | DnsFlapping => name(reason, s),
        StorageFirewallDenied
        | RegistryFirewallDenied
        | TransferStalled
        | TransferSlow
        | TransferUntested
        | TcpRefused
        | TcpTimeout
        | TcpUnreachable
        | TcpInconclusive
        | UdpUnreachable
        | UdpNoReply
        | ProxyRefused
        | ProxyDenied
        | UnexpectedlyReachable
        | Intermittent => path(reason, s),
        PeerNotAmlprobe | PeerAbsent | PeerWrongNode | PeerNameUnverified => peer(reason, s),
        TlsUntrusted | TlsIntercepted | TlsNameMismatch | TlsExpired | TlsHandshakeFailed
        | FirewallDenied | TlsTimeout | HttpStatus | HttpBadResponse | HttpTimeout
        | WsNotUpgraded | SmbBadReply => service(reason, s),
        MtuBlackhole => size(reason, s),
        ClockSkew | MissingInput | HostNotUbuntu | HostDockerBridge | HostRegionMismatch
        | NotObservable => node(reason, s),
    }
}

/// Names: resolvers, private endpoints and the names that stand for wildcards.
fn name(reason: Reason, s: &Subject) -> String {
    let host = s.host;
    match reason {
        Reason::DnsNxdomain => format!(
            "Check the name {host}. With a custom DNS server, forward Azure zones to Azure DNS (168.63.129.16); with private endpoints, link the privatelink zone to this VNet."
        ),
        Reason::DnsNoRecords => format!(
            "{host} exists but has no A/AAAA record: a private DNS zone linked to this VNet may hold the name without a record; add the record or unlink the zone."
        ),
        Reason::DnsTimeout | Reason::DnsServfail | Reason::DnsRefused => format!(
            "Fix the DNS server this node uses (see node.resolvers): it must answer for {host}, recursively or by forwarding to Azure DNS (168.63.129.16). Allow UDP and TCP 53 to it."
        ),
        Reason::DnsPublicAddress => format!(
            "{host} must answer the private endpoint's address: forward {} to 168.63.129.16 and link the privatelink zones to this VNet.",
            s.forward_zones
        ),
        Reason::DnsResolverMismatch => format!(
            "Make the custom DNS server forward the Azure ML zones ({}) to 168.63.129.16.",
            s.forward_zones
        ),
        Reason::DnsPrivateMismatch => format!(
            "{host} must answer the workspace private endpoint's address: fix the record in the private DNS zone (or forward {} to 168.63.129.16) so it follows the workspace's private endpoint.",
            s.forward_zones
        ),
        Reason::StandInUnresolvable => {
            let wildcard = s.stands_for.unwrap_or("the documented wildcard");
            format!(
                "Inconclusive, not a failure: {host} was only chosen to stand for {wildcard} and does not exist in DNS, so the wildcard cannot be tested by name. Allow {wildcard} by {}.",
                allowed_by(s.service_tag)
            )
        }
        Reason::DnsFlapping => format!(
            "{host} answers differently from one round to the next: the node's DNS servers, or the forwarders behind one, disagree (some ask Azure DNS, some do not), or a private DNS zone is linked to some resolvers' VNets only. Make every DNS server the node uses forward {} to 168.63.129.16, and link the privatelink zones to the VNet those servers resolve from; the history shows which server gave which answer, and when.",
            s.forward_zones
        ),
        Reason::DnsNoPrivatelink => format!(
            "{host} answers a private address from a hand-made record: link the Azure-managed privatelink zone (or forward to 168.63.129.16) so the record follows the private endpoint."
        ),
        _ => String::new(),
    }
}

/// The path: what drops, refuses or rejects the flow, and the proxy on it.
fn path(reason: Reason, s: &Subject) -> String {
    let host = s.host;
    match reason {
        Reason::StorageFirewallDenied => format!(
            "The storage account behind {host} rejects this node's address in its own firewall (not the NSG): in the account's Networking settings add a virtual network rule for this subnet (with the Microsoft.Storage service endpoint) or reach it through a private endpoint."
        ),
        Reason::RegistryFirewallDenied => format!(
            "The container registry {host} rejects this node's address in its own firewall (not the NSG): in the registry's Networking settings allow this subnet's address (or its NAT or firewall's public address), or reach it through a private endpoint; the Premium tier is needed for either."
        ),
        Reason::TransferStalled => format!(
            "Something on the path lets the connection open and then stops the download: an egress firewall's TLS inspection or IDPS, or a proxy's content scanning. Exempt {host} from TLS inspection and IDPS (Azure Firewall Premium: its TLS inspection bypass list), or from the proxy's scanning; the VS Code server download fails the same way (a 0-byte vscode-server.tar.gz)."
        ),
        Reason::TransferSlow => format!(
            "The download from {host} flows, but too slowly to finish 1 MiB within the check's deadline: give a longer --timeout to tell a slow path from one that stalls; if it stays slow, look for a proxy or inspecting firewall that throttles it, or a forced tunnel's bandwidth."
        ),
        Reason::TransferUntested => format!(
            "Not a failure of {host}: the download it serves could not be started, because the host that names it did not redirect. Fix that host's check first (it is listed with the same scenario), then check again."
        ),
        Reason::TcpRefused => format!(
            "Something on the path refused the connection. Allow {}; if it is allowed, the endpoint itself is not listening.",
            s.rule()
        ),
        Reason::TcpTimeout => format!(
            "Packets are silently dropped. Allow {}; check the subnet's NSG, any firewall or NVA the route table (UDR) sends traffic through, and the storage account's firewall for storage.",
            s.rule()
        ),
        Reason::TcpUnreachable => format!(
            "No route or an explicit reject: check the subnet's route table (UDR) and NVA, then allow {}.",
            s.rule()
        ),
        Reason::UdpUnreachable => format!(
            "A firewall or the target rejects UDP: allow {}. Compute management needs it in both networking modes.",
            s.rule()
        ),
        Reason::TcpInconclusive => format!(
            "Not necessarily a problem: something on the path (a firewall's application-rule proxy, or a transparent proxy) answers every TCP handshake{} by itself, so the connection proves nothing about {host}. Make sure {} is allowed; an HTTP or TLS check of {host} shows what the firewall decides.",
            s.port.map(|p| format!(" port {p}")).unwrap_or_default(),
            s.rule()
        ),
        Reason::UdpNoReply => format!(
            "Not necessarily a problem: the service does not answer probes. Make sure {} is allowed; if it is, this warning is expected.",
            s.rule()
        ),
        Reason::ProxyRefused => "Check the proxy address (--proxy or HTTPS_PROXY) and that the proxy is running and reachable.".into(),
        Reason::ProxyDenied => format!("Allow CONNECT to {host} on the proxy."),
        Reason::Intermittent => format!(
            "The path to {host} works only some of the time, so the rule that allows {} exists but something on the path fails now and then: compare the failing rounds' times (history) with the logs of the firewall or NVA the route table sends traffic through, look for SNAT port exhaustion on the NAT gateway, load balancer or firewall, and for a DNS server or proxy that sometimes stops answering.",
            s.rule()
        ),
        Reason::UnexpectedlyReachable => format!(
            "{host} should be blocked (exfiltration path): apply a service endpoint policy or firewall rule that closes it."
        ),
        _ => String::new(),
    }
}

/// Another node of a distributed job (`mesh`).
fn peer(reason: Reason, s: &Subject) -> String {
    let host = s.host;
    let port = s.port.map(|p| format!(" {p}")).unwrap_or_default();
    match reason {
        Reason::PeerNotAmlprobe => format!(
            "Port{port} on {host} is held by another program, or something on the path answers in its place: free the port on {host} (or pick other --ports) and run amlprobe mesh there again; if nothing else listens there, look for a proxy or NVA between the nodes."
        ),
        Reason::PeerAbsent => format!(
            "Nothing from {host} answered within --wait: make sure amlprobe mesh runs on {host} too (every node of the job), raise --wait if nodes start far apart, and allow inbound TCP{port} between the nodes of the subnet in its NSG (the default rule AllowVnetInBound does)."
        ),
        Reason::PeerWrongNode => format!(
            "{host} does not lead to the node it names: correct the entry for {host} in /etc/hosts or DNS (getent hosts {host}), or the address in the list of nodes (--peers, AZ_BATCH_HOST_LIST, the MPI host file, MASTER_ADDR), so that every node reaches {host} at {host}'s own address; a job would otherwise rendezvous with the wrong node."
        ),
        Reason::PeerNameUnverified => format!(
            "Make sure the node that answered is {host}: compare its greeting's name with {host}'s hostname and addresses (getent hosts {host} on this node, hostname -I on {host}); give every node the same list of nodes, or --self with the name the others list it by, so that names match."
        ),
        _ => String::new(),
    }
}

/// The size of packets the path carries: a tunnel, gateway or appliance that drops what is
/// larger than its MTU without saying so.
fn size(reason: Reason, s: &Subject) -> String {
    let host = s.host;
    match reason {
        Reason::MtuBlackhole => format!(
            "Packets to this node from {host} larger than the path's MTU are dropped, and the ICMP \"fragmentation needed\" that would make the sender shrink them never arrives: a VPN or ExpressRoute tunnel, a VPN gateway or an NVA (firewall) on a forced-tunnel route. Clamp the TCP MSS on that device's tunnel or interface to what its MTU carries (for Azure VPN Gateway, clamp TCP MSS at 1350 bytes on the on-premises VPN device, or set the tunnel interface's MTU to 1400: https://learn.microsoft.com/azure/vpn-gateway/vpn-gateway-about-vpn-devices#ipsec), and let ICMP type 3 code 4 (fragmentation needed) through every firewall on the path. No firewall rule for {host} fixes this; lowering the node's own MTU only works around it."
        ),
        _ => String::new(),
    }
}

/// What answers in place of the service: TLS, HTTP, WebSocket and SMB.
fn service(reason: Reason, s: &Subject) -> String {
    let host = s.host;
    match reason {
        Reason::TlsUntrusted => "The node does not trust the certificate's issuer: if a firewall re-signs TLS, exempt Azure ML traffic from TLS inspection (Azure ML does not support it); else update the CA bundle or pass --ca-file.".into(),
        Reason::TlsIntercepted => format!(
            "A middlebox re-signs TLS for {host}: Azure ML does not support TLS inspection; exempt this host from inspection on the firewall or proxy."
        ),
        Reason::TlsNameMismatch => format!(
            "The server answering for {host} presents a certificate for another name: the name resolves to the wrong server (DNS or private endpoint record) or a middlebox answers in its place."
        ),
        Reason::TlsExpired => "Check the node's clock (timedatectl); if it is right, the server or an inspecting middlebox presents an expired certificate.".into(),
        Reason::TlsHandshakeFailed => format!(
            "The TCP port is open but TLS fails: a firewall may reset TLS to {host} after reading the server name (SNI); allow the FQDN in its application rules."
        ),
        Reason::FirewallDenied => refused_by_name(host, &format!("Https:{}", s.port.unwrap_or(443))),
        Reason::TlsTimeout => format!(
            "The TCP connection opened but the handshake stalled: a firewall or proxy holds TLS to {host}; allow the FQDN in its application rules."
        ),
        Reason::HttpStatus | Reason::HttpBadResponse | Reason::HttpTimeout => format!(
            "Something between the node and {host} answers HTTP in place of the service: check proxies and firewall application rules."
        ),
        Reason::WsNotUpgraded => format!(
            "Allow WebSocket upgrades to {host}: proxies and firewalls must pass the Upgrade and Connection headers (Jupyter needs them)."
        ),
        Reason::SmbBadReply => format!(
            "Port 445 to {host} is answered by something that is not Azure Files: check the private endpoint record and firewall for SMB interception."
        ),
        _ => String::new(),
    }
}

/// The fix for a name an egress firewall's application rules refuse: a rule for exactly that
/// name on `rule` (`Https:443`, as Azure Firewall writes it).
pub fn refused_by_name(name: &str, rule: &str) -> String {
    format!(
        "An egress firewall's application rules refuse {name}: add an application rule that allows {rule} to exactly {name} (Azure Firewall: target FQDN {name}); with TLS inspection (Premium), also check its URL and web-category filters. A network rule to the name or its addresses is not the fix: the firewall decides on the name it reads."
    )
}

/// The node itself, and the values it was not given.
fn node(reason: Reason, s: &Subject) -> String {
    match reason {
        Reason::ClockSkew => "Fix the node's clock: enable time synchronisation (chrony or systemd-timesyncd with the Azure PTP clock, or NTP to time.windows.com over UDP 123). Skew breaks TLS validity checks and Microsoft Entra tokens.".into(),
        Reason::MissingInput => "Give the missing value with the flag named in the message.".into(),
        Reason::HostNotUbuntu => "Attach a virtual machine that runs Ubuntu: Azure ML supports no other OS for attached compute.".into(),
        Reason::HostDockerBridge => "Move the compute to a subnet outside 172.17.0.0/16 (Docker's default bridge), or change Docker's bip setting on the node.".into(),
        Reason::HostRegionMismatch => "Put the compute in the workspace's region (SDK v1 requires it; v2 clusters may differ but pay in latency and transfer costs).".into(),
        Reason::NotObservable => match s.check {
            Some(HostCheck::Clock) => "Nothing answered HTTPS to compare with: compare the clock by hand (timedatectl, chronyc tracking).".into(),
            // Only the clock and inbound 44224 observe nothing; `explain` asks for no check.
            Some(HostCheck::Inbound44224 | HostCheck::OsUbuntu | HostCheck::DockerBridge | HostCheck::RegionMatch) | None => "Check it outside the node: the subnet's NSG must allow inbound TCP 44224 from service tag AzureMachineLearning.".into(),
        },
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reason::Status;

    #[test]
    fn every_problem_has_a_concrete_fix() {
        let s = Subject {
            host: "graph.windows.net",
            port: Some(443),
            transport: "tcp",
            service_tag: Some("AzureActiveDirectory"),
            stands_for: Some("*.windows.net"),
            forward_zones: "api.azureml.ms",
            check: None,
        };
        for r in Reason::ALL {
            let fix = remediation(*r, &s);
            match r.status() {
                Status::Pass => assert!(fix.is_empty(), "{r}"),
                Status::Fail | Status::Warn => assert!(!fix.is_empty(), "{r} has a fix"),
                Status::Skip => {}
            }
        }
        assert!(remediation(Reason::TcpTimeout, &s)
            .contains("TCP 443 to service tag AzureActiveDirectory"));
    }
}
