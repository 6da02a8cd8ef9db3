//! Reason codes: what each means on an Azure ML node, the status it earns and what it shows of
//! the path. The vocabulary every stage shares, so it imports nothing of theirs: the probes
//! decide *which* reason applies, the verdict stage what to tell and what to change.

use std::fmt;

use serde::Serialize;

/// Why a phase did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub reason: Reason,
    pub message: String,
}

wire_enum! {
    /// Ordered worst first, so sorting puts failures on top.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
    pub enum Status {
        Fail = "fail",
        Warn = "warn",
        Skip = "skip",
        Pass = "pass",
    }
}

/// What a reason shows about the path to the endpoint. Every reason must say, so a path that
/// must stay closed (`expect = "blocked"`) is judged by it, never by a default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// The name does not exist: nothing can reach it by name.
    Absent,
    /// Something on the path refused, dropped or cut the connection.
    Closed,
    /// A resolver, proxy or input problem, or silence: nothing is known of the path itself.
    Unknown,
    /// The endpoint, or something in its place, answered. Reasons that are not about reaching
    /// a path (the node's own checks, the clock, verdicts) are here too: a check whose path must
    /// stay closed reports them as reachable.
    Open,
}

/// One row per reason code: its variant, wire code, status, what it shows of the path, and
/// what it means.
macro_rules! reasons {
    ($($variant:ident = $code:literal, $status:ident, $path:ident, $meaning:literal;)*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        pub enum Reason { $(#[serde(rename = $code)] $variant),* }

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

            /// What the reason shows about the network path itself.
            pub fn path(self) -> Path {
                match self { $(Reason::$variant => Path::$path),* }
            }

            pub fn meaning(self) -> &'static str {
                match self { $(Reason::$variant => $meaning),* }
            }
        }
    };
}

reasons! {
    Ok = "ok", Pass, Open, "every phase succeeded";
    BlockedAsExpected = "blocked_as_expected", Pass, Open, "a check that must be blocked (exfiltration path) is blocked";
    WsAuthRequired = "ws_auth_required", Pass, Open, "the WebSocket upgrade reached the service, which asks for sign-in";
    DnsNxdomain = "dns_nxdomain", Fail, Absent, "the name does not exist";
    DnsNoRecords = "dns_no_records", Fail, Absent, "the name exists but has no address";
    DnsTimeout = "dns_timeout", Fail, Unknown, "no resolver answered in time";
    DnsServfail = "dns_servfail", Fail, Unknown, "the resolver failed (SERVFAIL)";
    DnsRefused = "dns_refused", Fail, Unknown, "the resolver refused the query";
    DnsPublicAddress = "dns_public_address", Fail, Open, "a name that must resolve to a private endpoint answered a public address";
    DnsResolverMismatch = "dns_resolver_mismatch", Warn, Open, "the configured resolver and Azure DNS (168.63.129.16) answer differently";
    TcpRefused = "tcp_refused", Fail, Closed, "connection refused (RST)";
    TcpTimeout = "tcp_timeout", Fail, Closed, "no answer to the connection attempt: silently dropped";
    TcpUnreachable = "tcp_unreachable", Fail, Closed, "no route, or ICMP unreachable / administratively prohibited";
    TcpInconclusive = "tcp_inconclusive", Warn, Unknown, "the TCP connection was accepted, but something on the path answers TCP handshakes on this port for any address (an address nobody owns answered too): a connect proves nothing here";
    UdpUnreachable = "udp_unreachable", Fail, Closed, "ICMP says the port is closed or prohibited";
    UdpNoReply = "udp_no_reply", Warn, Unknown, "datagram sent, no rejection: cannot be confirmed without a reply";
    TlsUntrusted = "tls_untrusted", Fail, Open, "the certificate chain is not trusted";
    TlsIntercepted = "tls_intercepted", Warn, Open, "the chain is trusted but not issued by Microsoft/DigiCert: a TLS-inspecting middlebox";
    TlsNameMismatch = "tls_name_mismatch", Fail, Open, "the certificate is not for this host";
    TlsExpired = "tls_expired", Fail, Open, "the certificate is outside its validity";
    TlsHandshakeFailed = "tls_handshake_failed", Fail, Closed, "the handshake failed or the connection was reset during it";
    FirewallDenied = "firewall_denied", Fail, Closed, "an egress firewall's application rules refused the name: it closed or reset the connection after the TLS ClientHello without a single TLS byte back, or answered HTTP 470 / Action: Deny";
    TlsTimeout = "tls_timeout", Fail, Closed, "the handshake did not finish in time";
    MtuBlackhole = "mtu_blackhole", Fail, Open, "the TLS handshake stalls at full packet size and completes with a small TCP MSS: packets larger than the path allows are dropped without an ICMP \"fragmentation needed\" (a path-MTU black hole)";
    HttpStatus = "http_status", Fail, Open, "an HTTP status that the check does not accept";
    HttpBadResponse = "http_bad_response", Fail, Open, "the peer did not speak HTTP";
    HttpTimeout = "http_timeout", Fail, Open, "no HTTP response in time";
    WsNotUpgraded = "ws_not_upgraded", Fail, Open, "the server answered without upgrading (a proxy stripped Upgrade?)";
    ProxyRefused = "proxy_refused", Fail, Unknown, "the proxy itself could not be reached";
    ProxyDenied = "proxy_denied", Fail, Closed, "the proxy refused the CONNECT";
    SmbBadReply = "smb_bad_reply", Fail, Open, "port 445 answered but not with an SMB2 negotiate response";
    UnexpectedlyReachable = "unexpectedly_reachable", Warn, Open, "a path that should be blocked (exfiltration) is open";
    MissingInput = "missing_input", Skip, Unknown, "the check needs a value that was neither given nor discovered";
    DnsNoPrivatelink = "dns_no_privatelink", Warn, Open, "a private-endpoint name answers a private address without the privatelink CNAME";
    HostNotUbuntu = "host_not_ubuntu", Fail, Open, "an attached virtual machine does not run Ubuntu";
    HostDockerBridge = "host_docker_bridge", Fail, Open, "a node address lies in 172.17.0.0/16, Docker's default bridge";
    HostRegionMismatch = "host_region_mismatch", Warn, Open, "the node runs in another region than the workspace";
    NotObservable = "not_observable", Skip, Unknown, "the requirement cannot be proven from the node itself";
    NotApplicable = "not_applicable", Skip, Unknown, "the check does not apply to this mode or cloud";
    StandInUnresolvable = "stand_in_unresolvable", Warn, Unknown, "a host that only stands for a wildcard does not resolve: inconclusive, allow the wildcard by tag or rule";
    StorageFirewallDenied = "storage_firewall_denied", Fail, Open, "the storage account answered 403 AuthorizationFailure: its own firewall rejects this node";
    RegistryFirewallDenied = "registry_firewall_denied", Fail, Open, "the container registry answered 403 \"client with IP … is not allowed access\": its own firewall rejects this node";
    TransferStalled = "transfer_stalled", Fail, Closed, "the download began but stopped, or crawled, before enough of it arrived: something on the path (an inspecting firewall, IDPS or proxy) cuts or stalls transfers after the handshake";
    TransferSlow = "transfer_slow", Warn, Unknown, "the download was still arriving when the check's deadline came: too slow to tell whether it completes (the message gives the rate)";
    TransferUntested = "transfer_untested", Warn, Unknown, "the host answered, but no object to download was learned (the redirect that names it failed), so the transfer itself was not tested";
    ClockSkew = "clock_skew", Warn, Open, "the node's clock differs from the servers' Date by more than 5 minutes";
    DnsPrivateMismatch = "dns_private_mismatch", Warn, Open, "a name that must answer the workspace's private endpoint answers another private address";
    DnsFlapping = "dns_flapping", Fail, Open, "over the rounds of watch, the name's answer moved between private and public addresses, or to other private addresses: the node's resolvers or zones disagree";
    Intermittent = "intermittent", Warn, Open, "over the rounds of watch, the check failed in some rounds and not in others: the path works only some of the time";
    PeerNotAmlprobe = "peer_not_amlprobe", Fail, Open, "mesh: the peer's port answered, but not with amlprobe mesh's greeting: another program holds the port, or something on the path answers in its place";
    PeerAbsent = "peer_absent", Fail, Unknown, "mesh: the peer answered on no port before --wait ran out: it is down, never ran amlprobe mesh, or every packet to it is dropped";
    PeerWrongNode = "peer_wrong_node", Fail, Open, "mesh: amlprobe mesh answered, but as this node itself or as another node of the job: the peer's name or address leads elsewhere (a stale hosts file or DNS record, a wrong address in the list)";
    PeerNameUnverified = "peer_name_unverified", Warn, Open, "mesh: amlprobe mesh answered under another name than the peer's, which this node cannot match to the peer or its addresses: a node listed by address may greet with its hostname, or the peer's address leads to another machine";
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
const DISTRIBUTED: &str =
    "https://learn.microsoft.com/azure/machine-learning/how-to-train-distributed-gpu";
/// MTU, fragmentation and path MTU discovery on Azure, and why an MSS is clamped.
const TCPIP_TUNING: &str =
    "https://learn.microsoft.com/azure/virtual-network/virtual-network-tcpip-performance-tuning";
/// Azure Firewall answers TCP handshakes on the ports of its application rules itself.
const FIREWALL_FAQ: &str = "https://learn.microsoft.com/azure/firewall/firewall-faq";
const OUTBOUND: &str =
    "https://learn.microsoft.com/azure/load-balancer/troubleshoot-outbound-connection";

impl Reason {
    /// The document section that explains the requirement behind a reason ("" for none).
    pub fn doc(self) -> String {
        use Reason::*;
        match self {
            Ok | MissingInput | NotApplicable => String::new(),
            DnsNxdomain | DnsNoRecords | DnsTimeout | DnsServfail | DnsRefused | DnsPublicAddress
            | DnsResolverMismatch | DnsNoPrivatelink | DnsPrivateMismatch | DnsFlapping => CUSTOM_DNS.into(),
            Intermittent => OUTBOUND.into(),
            MtuBlackhole => TCPIP_TUNING.into(),
            PeerNotAmlprobe | PeerAbsent | PeerWrongNode | PeerNameUnverified => {
                DISTRIBUTED.into()
            }
            StandInUnresolvable => format!("{TRAINING_VNET}#compute-instancecluster-with-no-public-ip"),
            StorageFirewallDenied => "https://learn.microsoft.com/azure/storage/common/storage-network-security".into(),
            RegistryFirewallDenied => "https://learn.microsoft.com/azure/container-registry/container-registry-access-selected-networks".into(),
            TransferStalled | TransferSlow | TransferUntested => FIREWALL.into(),
            ClockSkew => "https://learn.microsoft.com/azure/virtual-machines/linux/time-sync".into(),
            TcpInconclusive => FIREWALL_FAQ.into(),
            TcpRefused | TcpTimeout | TcpUnreachable | UdpUnreachable | UdpNoReply => {
                format!("{TRAINING_VNET}#compute-instancecluster-with-no-public-ip")
            }
            TlsUntrusted | TlsIntercepted | TlsNameMismatch | TlsExpired | TlsHandshakeFailed | TlsTimeout
            | FirewallDenied | HttpStatus | HttpBadResponse | HttpTimeout | ProxyRefused | ProxyDenied => FIREWALL.into(),
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
        Status::Fail if required => Status::Fail,
        Status::Fail | Status::Warn => Status::Warn,
        Status::Skip => Status::Skip,
        Status::Pass => Status::Pass,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
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
    fn situational_failures_are_warnings() {
        assert_eq!(status_for(Reason::TcpTimeout, true), Status::Fail);
        assert_eq!(status_for(Reason::TcpTimeout, false), Status::Warn);
        assert_eq!(status_for(Reason::Ok, false), Status::Pass);
        assert_eq!(status_for(Reason::UdpNoReply, true), Status::Warn);
    }
}
