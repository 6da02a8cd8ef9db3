//! Reason codes: what each means on an Azure ML node and how to fix it. The probes decide
//! *which* reason applies; this module says what it means and what to change.

use std::fmt;

use serde::Serialize;

use crate::catalog::HostCheck;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Fail,
    Warn,
    Skip,
    Pass,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Warn => "warn",
            Status::Skip => "skip",
        }
    }
}

macro_rules! reasons {
    ($($variant:ident = $code:literal, $status:ident, $meaning:literal;)*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum Reason { $($variant),* }

        impl Reason {
            pub const ALL: &'static [Reason] = &[$(Reason::$variant),*];

            pub fn code(self) -> &'static str {
                match self { $(Reason::$variant => $code),* }
            }

            /// The status a check gets for this reason (a situational check softens
            /// `fail` to `warn`; see [`status_for`]).
            pub fn status(self) -> Status {
                match self { $(Reason::$variant => Status::$status),* }
            }

            pub fn meaning(self) -> &'static str {
                match self { $(Reason::$variant => $meaning),* }
            }
        }
    };
}

reasons! {
    Ok = "ok", Pass, "every phase succeeded";
    BlockedAsExpected = "blocked_as_expected", Pass, "a check that must be blocked (exfiltration path) is blocked";
    WsAuthRequired = "ws_auth_required", Pass, "the WebSocket upgrade reached the service, which asks for sign-in";
    DnsNxdomain = "dns_nxdomain", Fail, "the name does not exist";
    DnsNoRecords = "dns_no_records", Fail, "the name exists but has no address";
    DnsTimeout = "dns_timeout", Fail, "no resolver answered in time";
    DnsServfail = "dns_servfail", Fail, "the resolver failed (SERVFAIL)";
    DnsRefused = "dns_refused", Fail, "the resolver refused the query";
    DnsPublicAddress = "dns_public_address", Fail, "a name that must resolve to a private endpoint answered a public address";
    DnsResolverMismatch = "dns_resolver_mismatch", Warn, "the configured resolver and Azure DNS (168.63.129.16) answer differently";
    TcpRefused = "tcp_refused", Fail, "connection refused (RST)";
    TcpTimeout = "tcp_timeout", Fail, "no answer to the connection attempt: silently dropped";
    TcpUnreachable = "tcp_unreachable", Fail, "no route, or ICMP unreachable / administratively prohibited";
    UdpUnreachable = "udp_unreachable", Fail, "ICMP says the port is closed or prohibited";
    UdpNoReply = "udp_no_reply", Warn, "datagram sent, no rejection: cannot be confirmed without a reply";
    TlsUntrusted = "tls_untrusted", Fail, "the certificate chain is not trusted";
    TlsIntercepted = "tls_intercepted", Warn, "the chain is trusted but not issued by Microsoft/DigiCert: a TLS-inspecting middlebox";
    TlsNameMismatch = "tls_name_mismatch", Fail, "the certificate is not for this host";
    TlsExpired = "tls_expired", Fail, "the certificate is outside its validity";
    TlsHandshakeFailed = "tls_handshake_failed", Fail, "the handshake failed or the connection was reset during it";
    TlsTimeout = "tls_timeout", Fail, "the handshake did not finish in time";
    HttpStatus = "http_status", Fail, "an HTTP status that the check does not accept";
    HttpBadResponse = "http_bad_response", Fail, "the peer did not speak HTTP";
    HttpTimeout = "http_timeout", Fail, "no HTTP response in time";
    WsNotUpgraded = "ws_not_upgraded", Fail, "the server answered without upgrading (a proxy stripped Upgrade?)";
    ProxyRefused = "proxy_refused", Fail, "the proxy itself could not be reached";
    ProxyDenied = "proxy_denied", Fail, "the proxy refused the CONNECT";
    SmbBadReply = "smb_bad_reply", Fail, "port 445 answered but not with an SMB2 negotiate response";
    UnexpectedlyReachable = "unexpectedly_reachable", Warn, "a path that should be blocked (exfiltration) is open";
    MissingInput = "missing_input", Skip, "the check needs a value that was neither given nor discovered";
    DnsNoPrivatelink = "dns_no_privatelink", Warn, "a private-endpoint name answers a private address without the privatelink CNAME";
    HostNotUbuntu = "host_not_ubuntu", Fail, "an attached virtual machine does not run Ubuntu";
    HostDockerBridge = "host_docker_bridge", Fail, "a node address lies in 172.17.0.0/16, Docker's default bridge";
    HostRegionMismatch = "host_region_mismatch", Warn, "the node runs in another region than the workspace";
    NotObservable = "not_observable", Skip, "the requirement cannot be proven from the node itself";
    NotApplicable = "not_applicable", Skip, "the check does not apply to this mode or cloud";
    StandInUnresolvable = "stand_in_unresolvable", Warn, "a host that only stands for a wildcard does not resolve: inconclusive, allow the wildcard by tag or rule";
    StorageFirewallDenied = "storage_firewall_denied", Fail, "the storage account answered 403 AuthorizationFailure: its own firewall rejects this node";
    ClockSkew = "clock_skew", Warn, "the node's clock differs from the servers' Date by more than 5 minutes";
    DnsPrivateMismatch = "dns_private_mismatch", Warn, "a name that must answer the workspace's private endpoint answers another private address";
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

const TRAINING_VNET: &str = "https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet?view=azureml-api-1";
const FIREWALL: &str =
    "https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall";
const CUSTOM_DNS: &str = "https://learn.microsoft.com/azure/machine-learning/how-to-custom-dns";

impl Reason {
    /// The document section that explains the requirement behind a reason ("" for none).
    pub fn doc(self) -> String {
        use Reason::*;
        match self {
            Ok | MissingInput | NotApplicable => String::new(),
            DnsNxdomain | DnsNoRecords | DnsTimeout | DnsServfail | DnsRefused | DnsPublicAddress
            | DnsResolverMismatch | DnsNoPrivatelink | DnsPrivateMismatch => CUSTOM_DNS.into(),
            StandInUnresolvable => format!("{TRAINING_VNET}#compute-instancecluster-with-no-public-ip"),
            StorageFirewallDenied => "https://learn.microsoft.com/azure/storage/common/storage-network-security".into(),
            ClockSkew => "https://learn.microsoft.com/azure/virtual-machines/linux/time-sync".into(),
            TcpRefused | TcpTimeout | TcpUnreachable | UdpUnreachable | UdpNoReply => {
                format!("{TRAINING_VNET}#compute-instancecluster-with-no-public-ip")
            }
            TlsUntrusted | TlsIntercepted | TlsNameMismatch | TlsExpired | TlsHandshakeFailed | TlsTimeout
            | HttpStatus | HttpBadResponse | HttpTimeout | ProxyRefused | ProxyDenied => FIREWALL.into(),
            WsAuthRequired | WsNotUpgraded => format!("{TRAINING_VNET}#prerequisites"),
            SmbBadReply => format!("{TRAINING_VNET}#limitations"),
            HostNotUbuntu => format!("{TRAINING_VNET}#azure-hdinsight-or-virtual-machine"),
            HostDockerBridge => "https://learn.microsoft.com/azure/machine-learning/how-to-network-isolation-planning".into(),
            HostRegionMismatch => format!("{TRAINING_VNET}#limitations"),
            NotObservable => format!("{TRAINING_VNET}#compute-instancecluster-with-public-ip"),
            BlockedAsExpected | UnexpectedlyReachable => {
                "https://learn.microsoft.com/azure/machine-learning/how-to-prevent-data-loss-exfiltration".into()
            }
        }
    }

    pub fn from_code(code: &str) -> Option<Reason> {
        Reason::ALL.iter().copied().find(|r| r.code() == code)
    }
}

/// A failure of a situational check (package hosts, `required = false`) is a warning: the
/// node works without it, but jobs that need it will not.
pub fn status_for(reason: Reason, required: bool) -> Status {
    match reason.status() {
        Status::Fail if !required => Status::Warn,
        s => s,
    }
}

/// What the fix is talks about a concrete endpoint.
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
    let host = s.host;
    match reason {
        Reason::Ok | Reason::BlockedAsExpected | Reason::WsAuthRequired => String::new(),
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
        Reason::StorageFirewallDenied => format!(
            "The storage account behind {host} rejects this node's address in its own firewall (not the NSG): in the account's Networking settings add a virtual network rule for this subnet (with the Microsoft.Storage service endpoint) or reach it through a private endpoint."
        ),
        Reason::ClockSkew => "Fix the node's clock: enable time synchronisation (chrony or systemd-timesyncd with the Azure PTP clock, or NTP to time.windows.com over UDP 123). Skew breaks TLS validity checks and Microsoft Entra tokens.".into(),
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
        Reason::UdpNoReply => format!(
            "Not necessarily a problem: the service does not answer probes. Make sure {} is allowed; if it is, this warning is expected.",
            s.rule()
        ),
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
        Reason::TlsTimeout => format!(
            "The TCP connection opened but the handshake stalled: a firewall or proxy holds TLS to {host}; allow the FQDN in its application rules."
        ),
        Reason::HttpStatus | Reason::HttpBadResponse | Reason::HttpTimeout => format!(
            "Something between the node and {host} answers HTTP in place of the service: check proxies and firewall application rules."
        ),
        Reason::WsNotUpgraded => format!(
            "Allow WebSocket upgrades to {host}: proxies and firewalls must pass the Upgrade and Connection headers (Jupyter needs them)."
        ),
        Reason::ProxyRefused => "Check the proxy address (--proxy or HTTPS_PROXY) and that the proxy is running and reachable.".into(),
        Reason::ProxyDenied => format!("Allow CONNECT to {host} on the proxy."),
        Reason::SmbBadReply => format!(
            "Port 445 to {host} is answered by something that is not Azure Files: check the private endpoint record and firewall for SMB interception."
        ),
        Reason::UnexpectedlyReachable => format!(
            "{host} should be blocked (exfiltration path): apply a service endpoint policy or firewall rule that closes it."
        ),
        Reason::MissingInput => "Give the missing value with the flag named in the message.".into(),
        Reason::DnsNoPrivatelink => format!(
            "{host} answers a private address from a hand-made record: link the Azure-managed privatelink zone (or forward to 168.63.129.16) so the record follows the private endpoint."
        ),
        Reason::HostNotUbuntu => "Attach a virtual machine that runs Ubuntu: Azure ML supports no other OS for attached compute.".into(),
        Reason::HostDockerBridge => "Move the compute to a subnet outside 172.17.0.0/16 (Docker's default bridge), or change Docker's bip setting on the node.".into(),
        Reason::HostRegionMismatch => "Put the compute in the workspace's region (SDK v1 requires it; v2 clusters may differ but pay in latency and transfer costs).".into(),
        Reason::NotObservable => match s.check {
            Some(HostCheck::Clock) => "Nothing answered HTTPS to compare with: compare the clock by hand (timedatectl, chronyc tracking).".into(),
            _ => "Check it outside the node: the subnet's NSG must allow inbound TCP 44224 from service tag AzureMachineLearning.".into(),
        },
        Reason::NotApplicable => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_match_the_interface_table() {
        for r in Reason::ALL {
            assert_eq!(Reason::from_code(r.code()), Some(*r));
            let json = serde_json::to_string(r).unwrap();
            assert_eq!(json, format!("\"{}\"", r.code()));
            assert!(!r.meaning().is_empty());
        }
        assert_eq!(Reason::from_code("nope"), None);
        assert_eq!(Reason::UdpNoReply.status(), Status::Warn);
        assert_eq!(Reason::MissingInput.status(), Status::Skip);
    }

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

    #[test]
    fn situational_failures_are_warnings() {
        assert_eq!(status_for(Reason::TcpTimeout, true), Status::Fail);
        assert_eq!(status_for(Reason::TcpTimeout, false), Status::Warn);
        assert_eq!(status_for(Reason::Ok, false), Status::Pass);
        assert_eq!(status_for(Reason::UdpNoReply, true), Status::Warn);
    }
}
