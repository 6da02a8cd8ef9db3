//! The result data model: what one check found, layer by layer. Probes fill it, verdicts
//! finish it, and the report presents it; none of them needs the others to read it.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::catalog::{Kind, Transport};
use crate::reason::{Failure, Reason, Status};

/// Milliseconds, as the report writes every duration.
pub fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// What one check's run left behind for its verdict: plain data, so the stage that judges needs
/// nothing of the probes.
pub struct Seen {
    /// The pass message, or why it did not pass.
    pub outcome: Result<String, Failure>,
    /// The host probed: a stand-in's name where the catalog names a wildcard.
    pub host: String,
    pub stand_in: bool,
    /// Where the host came from, when not from the catalog.
    pub host_note: Option<String>,
    /// Whether a private endpoint answered for the name.
    pub private_endpoint_seen: bool,
    /// The name exists, whatever the node's resolver said: Azure DNS answered it, or the name
    /// it exists with (`exists_with`) shows its private endpoint. Its absence is then a fault,
    /// never a name that need not exist.
    pub name_exists: bool,
    pub phases: Vec<Phase>,
    /// How an egress firewall refused the name, when one did.
    pub denial: Option<Box<Denial>>,
    /// The proxy the check went through, credentials hidden.
    pub proxy: Option<String>,
    pub duration_ms: u64,
}

/// The layers a check's phases can show, in the order a connection meets them.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum PhaseKind {
    /// The node's own resolver.
    #[default]
    Dns,
    /// Azure DNS, asked beside a custom resolver.
    DnsAzure,
    /// A request whose redirect names the host to probe.
    Redirect,
    /// A plain HTTP request to port 80 of the same address, sent when a TLS handshake was
    /// closed without an answer, to learn whether an egress firewall refused the name.
    Confirm,
    /// The CONNECT tunnel through an HTTP proxy.
    Proxy,
    Tcp,
    Udp,
    Tls,
    Http,
    Websocket,
    Smb,
    /// A bounded download over the HTTPS connection: the body's first bytes, in time.
    Transfer,
}

impl PhaseKind {
    /// The deepest layer of the check's own path this phase proves.
    pub fn layer(self) -> Kind {
        match self {
            // Asking another resolver, or another host for a redirect, proves nothing beyond
            // the name itself.
            // Asking another port to confirm a firewall proves nothing of this path either.
            PhaseKind::Dns | PhaseKind::DnsAzure | PhaseKind::Redirect | PhaseKind::Confirm => {
                Kind::Dns
            }
            PhaseKind::Proxy | PhaseKind::Tcp => Kind::Tcp,
            PhaseKind::Udp => Kind::Udp,
            PhaseKind::Tls => Kind::Tls,
            PhaseKind::Http | PhaseKind::Transfer => Kind::Https,
            PhaseKind::Websocket => Kind::Websocket,
            PhaseKind::Smb => Kind::Smb,
        }
    }
}

/// One layer of one check, with its own timing.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Phase {
    pub phase: PhaseKind,
    /// `null` when the phase ran but could not tell (UDP silence).
    pub ok: Option<bool>,
    pub ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addresses: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cnames: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_server: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dialect: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy: Option<String>,
    /// The TCP maximum segment size the connection announced, when set smaller than the
    /// interface's to learn whether large packets are lost (a path-MTU black hole); absent
    /// for a connection of ordinary size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mss: Option<u16>,
    /// The `Date` header of an HTTP answer, as sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// The host a redirect named (its path and signature are not kept).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_host: Option<String>,
    /// The body's bytes a transfer received.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Phase {
    /// A phase of this kind, to be filled and then timed.
    pub fn of(phase: PhaseKind) -> Phase {
        Phase {
            phase,
            ..Phase::default()
        }
    }

    /// The same phase, showing `address`.
    pub fn at(mut self, address: impl fmt::Display) -> Phase {
        self.address = Some(address.to_string());
        self
    }
}

/// Where a check looked: a host, and for connections the port and transport.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Target {
    pub host: String,
    pub port: Option<u16>,
    pub transport: Transport,
}

impl fmt::Display for Target {
    /// `host:port/transport`, or the bare host for checks without a port.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(p) => write!(f, "{}:{p}/{}", self.host, self.transport),
            None => f.write_str(&self.host),
        }
    }
}

/// The result of one catalog entry.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    pub id: String,
    pub group: String,
    pub title: String,
    pub required: bool,
    pub kind: Kind,
    /// The deepest layer the probe reached (may be shallower than `kind`); null if skipped.
    pub tested: Option<Kind>,
    pub target: Target,
    /// The wildcard requirement the concrete host stands for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stands_for: Option<String>,
    /// The host was only chosen to stand for the wildcard: not resolving is inconclusive.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stand_in: bool,
    /// The service tag that allows the flow (NSG, firewall network rule), region filled in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_tag: Option<String>,
    /// The HTTP proxy this check went through, credentials hidden.
    pub proxy: Option<String>,
    pub status: Status,
    pub reason: Reason,
    pub message: String,
    pub remediation: String,
    /// The document section behind the reason ("" for none).
    pub reason_doc: String,
    pub doc: String,
    pub duration_ms: u64,
    pub phases: Vec<Phase>,
    /// What the check did over the rounds of `watch`; `check` leaves it out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<History>,
    /// `--trace`: the hops a timed-out flow reached; left out when the check was not traced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace: Option<Route>,
    /// What showed that an egress firewall refused the name (`firewall_denied`); left out
    /// otherwise. Boxed: every result of a large catalog is kept until the report is written,
    /// and few have one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub firewall_denial: Option<Box<Denial>>,
}

wire_enum! {
    /// How an egress firewall showed that its application rules refused a name.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Evidence {
        /// TCP connected, the ClientHello naming the host went out, and the peer closed the
        /// connection (FIN) without a single TLS byte back.
        ClosedAfterHello = "closed_after_hello",
        /// The same, ended by a reset instead of a close.
        ResetAfterHello = "reset_after_hello",
        /// An HTTP answer with status 470 or `Action: Deny`, inside TLS or not.
        Http470 = "http_470",
    }
}

/// An egress firewall's refusal of a name, as the wire showed it, and the application rule
/// that would let the flow through.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Denial {
    pub evidence: Evidence,
    /// For a close or reset after the hello: a plain HTTP request for the same name to port 80
    /// of the same address was answered 470 / `Action: Deny`, which confirms the firewall.
    pub confirmed: bool,
    /// The firewall's answer as received (its status line and the `Action: Deny` text),
    /// printable and bounded; absent for a close or reset that nothing confirmed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    /// The 470 came inside a TLS session this issuer re-signed (TLS inspection).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inspected_by: Option<String>,
    /// The name the application rule must allow.
    pub fqdn: String,
    /// The protocol and port it must allow, as Azure Firewall writes them: `Https:443`, `Http:80`.
    pub rule: String,
}

/// The route `--trace` found for a flow met with silence: every TTL probed, in order, with the
/// address that answered it (a router's ICMP time-exceeded, or the destination itself).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Route {
    /// TTL 1 upwards, up to the destination when it answered, else every TTL probed.
    pub hops: Vec<Hop>,
    /// The farthest hop that answered; null when none did.
    pub last_answered: Option<String>,
    pub last_ttl: Option<u8>,
    /// The destination itself answered a probe.
    pub reached: bool,
    /// Probes that could not be sent (a local error: out of file descriptors or buffers, a
    /// local firewall); left out when every probe went out. With any, the silence of a hop is
    /// no evidence of where the flow is dropped.
    #[serde(skip_serializing_if = "is_zero")]
    pub unsent: u32,
}

/// One TTL of a route: who answered its probes, null for silence.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Hop {
    pub ttl: u8,
    pub address: Option<String>,
}

/// A round of `watch` that counted against a check: its number, when it started (RFC 3339), and
/// the reason it had.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Failed {
    pub round: u32,
    pub at: String,
    pub reason: Reason,
}

/// What a name answered in a round of `watch`: kept for the first round and whenever the
/// server or the addresses differ from the round before.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DnsAnswer {
    pub round: u32,
    pub at: String,
    pub server: Option<String>,
    pub addresses: Vec<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// One check over the rounds of `watch`: how many rounds gave each status, the rounds that
/// counted against it, and what its name answered.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct History {
    pub rounds: u32,
    pub pass: u32,
    pub warn: u32,
    pub fail: u32,
    pub skip: u32,
    /// Rounds that failed, or warned for anything but UDP silence (`udp_no_reply`).
    pub failures: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_failure: Option<Failed>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<Failed>,
    /// The name's answers: the first round's, then each that differs from the one before.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub answers: Vec<DnsAnswer>,
    /// How many times the name's set of addresses changed from one answer to the next.
    #[serde(skip_serializing_if = "is_zero")]
    pub answer_changes: u32,
    /// Answers left out after the first, to keep a long watch's history bounded.
    #[serde(skip_serializing_if = "is_zero")]
    pub answers_omitted: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_names_are_the_reports() {
        for (kind, name) in [
            (PhaseKind::Dns, "dns"),
            (PhaseKind::DnsAzure, "dns-azure"),
            (PhaseKind::Redirect, "redirect"),
            (PhaseKind::Confirm, "confirm"),
            (PhaseKind::Proxy, "proxy"),
            (PhaseKind::Websocket, "websocket"),
        ] {
            assert_eq!(serde_json::to_value(kind).unwrap(), name);
        }
    }

    /// The report, the command line and text read one name per variant.
    #[test]
    fn wire_names_are_one_name() {
        use crate::context::{Cloud, ComputeType, Mode};
        use clap::ValueEnum;
        fn same<T: Serialize + ValueEnum>(all: &[T], name: impl Fn(&T) -> &'static str) {
            for v in all {
                assert_eq!(serde_json::to_value(v).unwrap(), name(v));
                assert_eq!(v.to_possible_value().unwrap().get_name(), name(v));
            }
        }
        same(Mode::ALL, |m| m.as_str());
        same(Cloud::ALL, |c| c.as_str());
        same(ComputeType::ALL, |t| t.as_str());
        same(Status::ALL, |s| s.as_str());
        same(Transport::ALL, |t| t.as_str());
        same(Kind::ALL, |k| k.as_str());
        assert_eq!(ComputeType::AttachedVm.to_string(), "attached-vm");
    }

    #[test]
    fn a_target_reads_host_port_transport() {
        let mut t = Target {
            host: "a.example".into(),
            port: Some(5831),
            transport: Transport::Udp,
        };
        assert_eq!(t.to_string(), "a.example:5831/udp");
        t.port = None;
        assert_eq!(t.to_string(), "a.example");
    }
}
