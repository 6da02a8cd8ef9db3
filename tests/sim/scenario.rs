//! The scenario files' data model. Every fixed vocabulary is an enum, so a misspelt value fails
//! when the file is loaded instead of quietly meaning the default.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use amlprobe::catalog::Kind;
use serde::de::{value, DeserializeOwned, IntoDeserializer};
use serde::{Deserialize, Deserializer};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub description: String,
    #[serde(default)]
    pub args: Vec<String>,
    /// The per-check deadline, passed to `--timeout` as written.
    pub timeout: Deadline,
    #[serde(default)]
    pub resolver: Resolver,
    #[serde(default)]
    pub trust: Trust,
    #[serde(default)]
    pub udp: UdpMode,
    #[serde(default)]
    pub output: Output,
    pub max_wall_ms: Option<u64>,
    /// The most resident memory the run may take (MiB).
    pub max_rss_mib: Option<u64>,
    /// Read the probe's stdout only after this long, as a pager would, to show that a slow
    /// reader holds up no check.
    pub slow_reader_ms: Option<u64>,
    pub exit: i32,
    pub proxy: Option<ProxySpec>,
    /// A metadata service at 169.254.169.254 serving a fixture from tests/fixtures/imds/.
    pub imds: Option<ImdsSpec>,
    /// A second DNS server at 168.63.129.16 playing Azure DNS with the privatelink zones.
    #[serde(default)]
    pub azure_dns: bool,
    /// Environment variables for the probe (and `list`), as a compute node would have them.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// `--env-file`, a fixture under tests/fixtures/.
    pub env_file: Option<String>,
    /// `--catalog`, a fixture under tests/fixtures/.
    pub catalog: Option<String>,
    /// The `ID=` of the namespace's /etc/os-release.
    pub os_release: Option<String>,
    /// Run through packaging/azureml-setup-hook.sh with this AMLPROBE_POLICY.
    pub hook: Option<HookPolicy>,
    /// Run the static binary (AMLPROBE_STATIC_BIN) in a chroot holding only it, a resolv.conf
    /// and a CA bundle.
    #[serde(default)]
    pub chroot: bool,
    /// Add a generated catalog of this many TCP entries (group `scale`) over 50 hosts.
    pub generate_catalog: Option<usize>,
    /// Also run with --redact in every format and look for leaks.
    #[serde(default)]
    pub redact_check: bool,
    /// The customer's DNS answers NXDOMAIN for names it has no record of in Azure's and the
    /// package hosts' zones, as public DNS does (otherwise it refuses them).
    #[serde(default)]
    pub real_dns: bool,
    /// The data host the registry redirects blob downloads to (served too); without it the
    /// registry answers 404 and no redirect comes.
    pub registry_redirect: Option<String>,
    /// Extra (dummy) interfaces and their address, as the node's NICs.
    #[serde(default)]
    pub interfaces: BTreeMap<String, String>,
    /// Compare the JSON report, its timings and clock readings blanked, with
    /// tests/golden/scenario-NAME.json (`AMLPROBE_UPDATE_GOLDEN=1` rewrites it).
    #[serde(default)]
    pub golden: bool,
    /// Run `fix` on the report in every format and compare each with
    /// tests/golden/fix/NAME.FORMAT (`AMLPROBE_UPDATE_GOLDEN=1` rewrites them); `fix` must exit
    /// with this code.
    pub fix_exit: Option<i32>,
    #[serde(default)]
    pub fault: Vec<Fault>,
    /// An egress firewall with application rules on the node's way out: every TCP connection
    /// to port 80 or 443, whatever its address, is redirected to tests/support/egress_firewall.py.
    pub egress_firewall: Option<EgressFirewall>,
    /// Compare the results (not the context) with another scenario's golden report: the same
    /// checks, statuses, reasons, messages and phases.
    pub same_results_as: Option<String>,
    /// Run `watch` instead of `check`, changing the world between its rounds
    /// (tests/sim/watch.rs).
    pub watch: Option<super::watch::WatchSpec>,
    /// Run `explain TEXT --run` instead of `check`: the checks that tell the message's causes
    /// apart, which must be exactly `explain_checks` (`list` is asked for those alone).
    pub explain: Option<String>,
    #[serde(default)]
    pub explain_checks: Vec<String>,
    /// Phrases of the explanation `explain --run` writes to stderr.
    #[serde(default)]
    pub stderr_contains: Vec<String>,
    pub expect: Expect,
}

/// How the probe is started.
#[derive(Debug, Clone, Copy)]
pub enum Launch {
    /// The binary under test, straight.
    Direct,
    /// Through packaging/azureml-setup-hook.sh, which installs it and keeps its reports.
    Hook(HookPolicy),
    /// The static binary alone in an empty root.
    Chroot,
}

impl Scenario {
    pub fn load(name: &str) -> Scenario {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/scenarios")
            .join(format!("{name}.toml"));
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let sc: Scenario =
            toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // The hook runs the installed binary with the node's trust store; the chroot has neither.
        assert!(
            !(sc.chroot && sc.hook.is_some()),
            "{}: hook and chroot exclude each other",
            path.display()
        );
        sc
    }

    pub fn launch(&self) -> Launch {
        match (self.hook, self.chroot) {
            (Some(policy), _) => Launch::Hook(policy),
            (None, true) => Launch::Chroot,
            (None, false) => Launch::Direct,
        }
    }
}

/// `timeout`: kept as written for `--timeout`, and parsed for the benchmark's baseline tools.
#[derive(Debug, Deserialize)]
#[serde(try_from = "String")]
pub struct Deadline {
    pub text: String,
    pub duration: Duration,
}

impl TryFrom<String> for Deadline {
    type Error = String;

    fn try_from(text: String) -> Result<Deadline, String> {
        let duration = humantime::parse_duration(&text)
            .map_err(|e| format!("timeout {text:?} is not a duration ({e}), like 2s or 1500ms"))?;
        Ok(Deadline { text, duration })
    }
}

impl Deadline {
    /// In whole seconds, rounded up and at least one, for tools that take no fractions
    /// (`dig +time`, `nc -w`).
    pub fn whole_secs(&self) -> u64 {
        self.duration.as_millis().div_ceil(1000).max(1) as u64
    }
}

/// Where the probe learns its DNS server.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub enum Resolver {
    /// The namespace's resolv.conf names the DNS server.
    #[default]
    #[serde(rename = "resolv.conf")]
    ResolvConf,
    /// resolv.conf names a dead server and `--dns-server` the real one.
    #[serde(rename = "flag")]
    Flag,
    /// `--dns-server` lists a dead server first, then the real one.
    #[serde(rename = "fallback")]
    Fallback,
}

/// How the probe learns the test CA.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trust {
    /// SSL_CERT_FILE.
    #[default]
    Env,
    /// `--ca-file` (and SSL_CERT_FILE pointing nowhere).
    Flag,
}

/// How UDP listeners behave.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UdpMode {
    /// Take datagrams and never answer, as most Azure UDP services do to a probe.
    #[default]
    Silent,
    /// Send every datagram back.
    Echo,
}

/// The format of the probe's stdout that the scenario reads its report from.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Output {
    #[default]
    Json,
    /// One result a line, then the summary.
    Jsonl,
}

impl Output {
    pub fn arg(self) -> &'static str {
        match self {
            Output::Json => "json",
            Output::Jsonl => "jsonl",
        }
    }
}

/// The hook's AMLPROBE_POLICY.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HookPolicy {
    Fail,
    Record,
}

impl HookPolicy {
    pub fn arg(self) -> &'static str {
        match self {
            HookPolicy::Fail => "fail",
            HookPolicy::Record => "record",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImdsSpec {
    /// File under tests/fixtures/imds/.
    pub document: String,
    #[serde(default)]
    pub mode: ImdsMode,
}

/// How the metadata service (tests/support/imds.py) answers.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImdsMode {
    /// The document, to requests that carry `Metadata: true`.
    #[default]
    Serve,
    /// Accepts and never answers.
    Slow,
    /// Answers with bytes that are not HTTP.
    Garbage,
}

impl ImdsMode {
    pub fn arg(self) -> &'static str {
        match self {
            ImdsMode::Serve => "serve",
            ImdsMode::Slow => "slow",
            ImdsMode::Garbage => "garbage",
        }
    }
}

/// A forward proxy (tinyproxy) in the namespace, or one that is down.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxySpec {
    pub via: ProxyVia,
    #[serde(default)]
    pub auth: bool,
    /// Hosts the proxy refuses to CONNECT to.
    #[serde(default)]
    pub deny: Vec<String>,
    pub no_proxy: Option<String>,
    /// Nothing listens at the proxy's address.
    #[serde(default)]
    pub down: bool,
    /// With `auth`: put the credentials in the proxy URL, or leave them out.
    #[serde(default = "yes")]
    pub send_credentials: bool,
}

fn yes() -> bool {
    true
}

/// How the probe is told of the proxy.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProxyVia {
    /// `--proxy URL`.
    Flag,
    /// HTTPS_PROXY.
    Env,
}

/// A firewall whose application rules deny some names, as Azure Firewall does on the wire.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EgressFirewall {
    /// The names its application rules deny; every other name is passed on.
    #[serde(default)]
    pub deny: Vec<String>,
    /// What a denied name gets over HTTPS.
    pub tls: TlsDeny,
}

/// How the firewall refuses a name over HTTPS.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TlsDeny {
    /// The connection is closed (FIN) after the ClientHello, without a TLS byte.
    Fin,
    /// The connection is reset after the ClientHello.
    Rst,
    /// TLS inspection (Premium): the firewall completes TLS with a certificate from the
    /// inspection CA the node trusts, then answers 470 inside.
    Inspect,
}

impl TlsDeny {
    pub fn arg(self) -> &'static str {
        match self {
            TlsDeny::Fin => "fin",
            TlsDeny::Rst => "rst",
            TlsDeny::Inspect => "inspect",
        }
    }
}

/// A `[[fault]]`: what goes wrong, and where.
#[derive(Debug, Deserialize)]
#[serde(try_from = "RawFault")]
pub enum Fault {
    /// `dns-timeout`: the customer's DNS server never answers, whatever the name, so it names
    /// no check.
    DnsTimeout,
    /// Any other type, on the endpoints of the checks `on` picks.
    Endpoint { on: Scope, kind: FaultKind },
}

/// The checks a fault applies to.
#[derive(Debug)]
pub enum Scope {
    /// `check = "id"`.
    Check(String),
    /// `all = true`: every endpoint, or with `every = N` only every Nth (a third with 3).
    All { every: usize },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFault {
    check: Option<String>,
    #[serde(default)]
    all: bool,
    every: Option<usize>,
    #[serde(rename = "type")]
    kind: FaultType,
}

impl TryFrom<RawFault> for Fault {
    type Error = String;

    fn try_from(raw: RawFault) -> Result<Fault, String> {
        let on = match (raw.check, raw.all, raw.every) {
            (Some(id), false, None) => Some(Scope::Check(id)),
            (None, true, Some(0)) => return Err("every = 0: give 1 or more".into()),
            (None, true, every) => Some(Scope::All {
                every: every.unwrap_or(1),
            }),
            (None, false, None) => None,
            (Some(_), true, _) => return Err("check and all = true exclude each other".into()),
            (Some(_) | None, false, Some(_)) => return Err("every goes with all = true".into()),
        };
        match (raw.kind, on) {
            (FaultType::DnsTimeout, None) => Ok(Fault::DnsTimeout),
            (FaultType::Endpoint(kind), Some(on)) => Ok(Fault::Endpoint { on, kind }),
            (FaultType::DnsTimeout, Some(_)) => {
                Err("dns-timeout takes no check or all: the whole DNS server stops".into())
            }
            (FaultType::Endpoint(kind), None) => {
                Err(format!("{kind:?} needs check = \"id\" or all = true"))
            }
        }
    }
}

/// A fault type, by the layer that plays it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// The customer's DNS server answers the endpoint's name wrongly (dnsmasq's records).
    Dns(DnsFault),
    /// The endpoint's server misbehaves (which server, and how it is configured).
    Server(ServerFault),
    /// The firewall stops the endpoint's packets (an nftables rule).
    Firewall(FirewallFault),
}

/// What `type` names: one fault of the whole DNS server, or a fault of some endpoints.
enum FaultType {
    DnsTimeout,
    Endpoint(FaultKind),
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
enum WholeDnsFault {
    DnsTimeout,
}

impl<'de> Deserialize<'de> for FaultType {
    /// Each layer's enum in turn; a name none of them knows is an error listing them all.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<FaultType, D::Error> {
        fn parse<T: DeserializeOwned>(name: &str) -> Result<T, value::Error> {
            T::deserialize(name.into_deserializer())
        }
        let name = String::deserialize(d)?;
        let whole = parse::<WholeDnsFault>(&name).map(|WholeDnsFault::DnsTimeout| ());
        let dns = parse(&name).map(FaultKind::Dns);
        let server = parse(&name).map(FaultKind::Server);
        let firewall = parse(&name).map(FaultKind::Firewall);
        match (whole, dns, server, firewall) {
            (Ok(()), ..) => Ok(FaultType::DnsTimeout),
            (_, Ok(k), ..) | (_, _, Ok(k), _) | (.., Ok(k)) => Ok(FaultType::Endpoint(k)),
            (Err(w), Err(d), Err(s), Err(f)) => Err(serde::de::Error::custom(format!(
                "unknown fault type {name:?}: for the whole DNS server {}; for a name's DNS \
                 answer {}; for a server {}; for the firewall {}",
                expected(w),
                expected(d),
                expected(s),
                expected(f)
            ))),
        }
    }
}

/// What serde's "unknown variant `x`, expected ..." says was expected.
fn expected(e: value::Error) -> String {
    let text = e.to_string();
    match text.split_once(", ") {
        Some((_, expected)) => expected.to_string(),
        None => text,
    }
}

/// Faults of the customer's DNS server, in order of precedence: a host with two gets the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DnsFault {
    /// A private-endpoint name answered with a public address.
    PePublic,
    /// A private-endpoint name as a hand-made A record, without the privatelink CNAME.
    PeHandMade,
    /// A private-endpoint name the server does not forward to Azure DNS.
    PeNoForwarder,
    Nxdomain,
    /// The name exists but has no A record.
    NoRecords,
    /// Forwarded to an upstream that answers SERVFAIL.
    Servfail,
    Refused,
    /// Answered through a CNAME.
    Cname,
    /// The host's address is a public one (the answer itself is right).
    PublicAddress,
}

/// Faults of an endpoint's server, in order of precedence within each group (hostile servers,
/// certificates): a check with two of a group gets the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServerFault {
    HostileSilent,
    HostileGarbage,
    HostileTrickle,
    HostileEndless,
    BlockPage,
    StorageDenied,
    /// A container registry whose own firewall rejects the client: 403 "client with IP …".
    RegistryDenied,
    /// A download that sends 64 KiB of its body and then nothing.
    TransferStall,
    /// A download that sends 8 KiB every 100 ms: flowing, too slowly for the deadline.
    TransferSlow,
    /// A whole 200 page of 3000 bytes where a download was asked for.
    ShortPage,
    ClockAhead,
    /// The TLS ClientHello is read and the connection closed without a byte back.
    HelloClose,
    Expired,
    WrongName,
    Untrusted,
    Intercepted,
    SelfSigned,
    #[serde(rename = "http-503")]
    Http503,
    StripUpgrade,
    WsAuth,
    NotSmb,
    NotTls,
    Silent,
    NoListener,
}

/// What the firewall does to the endpoint's packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FirewallFault {
    Drop,
    Reset,
    Prohibit,
    HostUnreachable,
    PortUnreachable,
    /// A path-MTU black hole: the endpoint's packets longer than `firewall::MTU_CUT` bytes are
    /// dropped on their way back, without an ICMP error; smaller ones pass.
    MtuBlackhole,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// For every result not listed in `check`; absent = every result must be listed.
    pub default: Option<Want>,
    #[serde(default)]
    pub check: Vec<Want>,
    /// The report's `summary`, count by count; a count may be derived (`Count`).
    pub summary: Option<BTreeMap<String, Count>>,
    /// Values of the report's `context`, by dotted path (`sources.region`).
    #[serde(default)]
    pub context: BTreeMap<String, String>,
    /// Strings some `context.warnings` entry must contain.
    #[serde(default)]
    pub warnings_contain: Vec<String>,
    /// Strings `context.notes` must contain.
    #[serde(default)]
    pub notes_contain: Vec<String>,
    /// Strings that must appear nowhere in the report (values that are not the workspace's).
    #[serde(default)]
    pub report_lacks: Vec<String>,
}

/// A count of `summary`: a number, or one derived from the catalog, so that an endpoint added
/// to it needs no edit of the scenarios whose counts follow from it.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(untagged)]
pub enum Count {
    Exactly(u64),
    Derived(Derived),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Derived {
    /// `total` only: one result per entry of the catalog (the built-in one and the scenario's
    /// `catalog` file) that the scenario's `--only` and `--skip` select.
    Catalog,
    /// The total less every other count.
    Rest,
}

impl Expect {
    /// The summary the report must have, every count a number.
    pub fn summary(&self, sc: &Scenario) -> BTreeMap<String, u64> {
        let Some(given) = &self.summary else {
            return BTreeMap::new();
        };
        let derived = |d: Derived| {
            given
                .iter()
                .filter(move |(_, c)| matches!(c, Count::Derived(x) if *x == d))
        };
        let mut counts: BTreeMap<String, u64> = given
            .iter()
            .filter_map(|(k, c)| match c {
                Count::Exactly(n) => Some((k.clone(), *n)),
                Count::Derived(_) => None,
            })
            .collect();
        for (k, _) in derived(Derived::Catalog) {
            assert_eq!(
                k, "total",
                "summary.{k}: only the total comes from the catalog"
            );
            counts.insert(k.clone(), sc.selected_from_catalog());
        }
        let rest: Vec<&String> = derived(Derived::Rest).map(|(k, _)| k).collect();
        assert!(rest.len() <= 1, "summary: one count at most is the rest");
        if let Some(k) = rest.first() {
            let total = *counts
                .get("total")
                .expect("summary: the rest needs a total");
            let others: u64 = counts
                .iter()
                .filter(|(k, _)| *k != "total")
                .map(|(_, n)| n)
                .sum();
            let n = total
                .checked_sub(others)
                .expect("summary: the counts exceed the total");
            counts.insert(k.to_string(), n);
        }
        counts
    }
}

impl Scenario {
    /// How many entries of the catalog the run selects: the built-in catalog and the scenario's
    /// own file, less what its `--only` and `--skip` leave out (given as flags or variables).
    fn selected_from_catalog(&self) -> u64 {
        assert!(
            self.generate_catalog.is_none() && self.explain.is_none(),
            "total = \"catalog\" counts neither a generated catalog nor the checks explain selects"
        );
        let mut extra = Vec::new();
        if let Some(file) = &self.catalog {
            let path = super::servers::fixture(file);
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            extra.push((path, text));
        }
        let entries = amlprobe::catalog::load(&extra).expect("the catalog loads");
        let values = |flag: &str, var: &str| -> Vec<String> {
            let from_args = self
                .args
                .windows(2)
                .filter(|w| w[0] == flag)
                .map(|w| w[1].clone());
            let from_env = self.env.get(var).cloned();
            from_args
                .chain(from_env)
                .flat_map(|v| v.split(',').map(String::from).collect::<Vec<_>>())
                .collect()
        };
        let only = values("--only", "AMLPROBE_ONLY");
        let skip = values("--skip", "AMLPROBE_SKIP");
        assert!(
            !self
                .args
                .iter()
                .any(|a| a.starts_with("--only=") || a.starts_with("--skip=")),
            "write --only and --skip apart from their value"
        );
        // A scenario's checks count only when it is on (`--acr` and `--key-vault` turn on theirs).
        let mut scenarios = values("--scenario", "AMLPROBE_SCENARIO");
        for (flag, var, scenario) in [
            ("--acr", "AMLPROBE_ACR", "registry"),
            ("--key-vault", "AMLPROBE_KEY_VAULT", "keyvault"),
        ] {
            if !values(flag, var).is_empty() {
                scenarios.push(scenario.into());
            }
        }
        let on = |e: &amlprobe::catalog::Entry| {
            e.scenario
                .as_ref()
                .is_none_or(|s| scenarios.iter().any(|o| o == s || o == "all"))
        };
        entries
            .iter()
            .filter(|e| on(e) && e.selected(&only, &skip))
            .count() as u64
    }
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct Want {
    pub id: Option<String>,
    pub status: WantStatus,
    pub reason: WantReason,
    pub tested: Option<Kind>,
    #[serde(default)]
    pub message_contains: Vec<String>,
    #[serde(default)]
    pub remediation_contains: Vec<String>,
    pub cnames_contain: Option<String>,
    pub server: Option<String>,
    /// Whether the check went through the proxy.
    pub proxied: Option<bool>,
    pub http_status: Option<u16>,
    pub dialect: Option<String>,
    /// The host actually probed (`target.host`).
    pub host: Option<String>,
    /// Whether the result says its host only stood for a wildcard.
    pub stand_in: Option<bool>,
    /// `firewall_denial.evidence`: how the firewall's refusal showed.
    pub evidence: Option<String>,
    /// `firewall_denial.confirmed`.
    pub confirmed: Option<bool>,
}

/// A result's status; `*` accepts any (for scenarios that only measure).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WantStatus {
    Pass,
    Warn,
    Fail,
    Skip,
    #[serde(rename = "*")]
    Any,
}

impl WantStatus {
    /// The status to expect of a result that has `got`.
    pub fn expected(self, got: &str) -> &str {
        match self {
            WantStatus::Pass => "pass",
            WantStatus::Warn => "warn",
            WantStatus::Fail => "fail",
            WantStatus::Skip => "skip",
            WantStatus::Any => got,
        }
    }
}

/// A result's reason code, one the probe has; `*` accepts any.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "String")]
pub enum WantReason {
    Any,
    Code(String),
}

impl TryFrom<String> for WantReason {
    type Error = String;

    fn try_from(code: String) -> Result<WantReason, String> {
        if code == "*" {
            return Ok(WantReason::Any);
        }
        if amlprobe::reason::Reason::ALL
            .iter()
            .any(|r| r.code() == code)
        {
            Ok(WantReason::Code(code))
        } else {
            Err(format!("{code:?} is no reason code of the probe"))
        }
    }
}

impl WantReason {
    /// The reason to expect of a result that has `got`.
    pub fn expected<'a>(&'a self, got: &'a str) -> &'a str {
        match self {
            WantReason::Any => got,
            WantReason::Code(code) => code,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(extra: &str) -> Result<Scenario, toml::de::Error> {
        let text = format!(
            "description = \"d\"\ntimeout = \"1500ms\"\nexit = 0\n{extra}\n[expect]\n\
             default = {{ status = \"pass\", reason = \"ok\" }}\n"
        );
        toml::from_str(&text)
    }

    #[test]
    fn deadlines_round_up_to_whole_seconds() {
        assert_eq!(parse("").unwrap().timeout.whole_secs(), 2);
        for (text, secs) in [("2s", 2), ("100ms", 1), ("3s 1ms", 4)] {
            let d = Deadline::try_from(text.to_string()).unwrap();
            assert_eq!(d.whole_secs(), secs, "{text}");
        }
        assert!(Deadline::try_from("2".to_string()).is_err());
    }

    /// `total = "catalog"` counts the entries the scenario's flags select, whatever the catalog
    /// holds; `"rest"` is what the other counts leave.
    #[test]
    fn summary_counts_come_from_the_catalog() {
        let text = "description = \"d\"\ntimeout = \"2s\"\nexit = 0\n\
                    args = [\"--only\", \"storage,node\", \"--skip\", \"node\"]\n[expect]\n\
                    summary = { total = \"catalog\", pass = \"rest\", warn = 1, fail = 2 }\n";
        let sc: Scenario = toml::from_str(text).unwrap();
        let storage = amlprobe::catalog::load(&[])
            .unwrap()
            .iter()
            .filter(|e| e.group == "storage")
            .count() as u64;
        assert!(storage > 3);
        let want = [
            ("fail", 2),
            ("pass", storage - 3),
            ("total", storage),
            ("warn", 1),
        ];
        let want: BTreeMap<String, u64> = want.iter().map(|(k, n)| (k.to_string(), *n)).collect();
        assert_eq!(sc.expect.summary(&sc), want);
        let typo = text.replace("\"catalog\"", "\"catalgo\"");
        assert!(toml::from_str::<Scenario>(&typo).is_err(), "{typo}");
    }

    #[test]
    fn a_misspelt_word_fails_at_load() {
        assert!(parse("").is_ok());
        for typo in [
            "udp = \"ecko\"",
            "resolver = \"flags\"",
            "trust = \"file\"",
            "output = \"table\"",
            "hook = \"warn\"",
            "imds = { document = \"d.json\", mode = \"slowly\" }",
            "proxy = { via = \"flags\" }",
            "[[fault]]\ncheck = \"x\"\ntype = \"nxdomian\"",
            "[[fault]]\ntype = \"drop\"",
            "[[fault]]\ncheck = \"x\"\ntype = \"dns-timeout\"",
            "[[fault]]\ncheck = \"x\"\nevery = 3\ntype = \"drop\"",
        ] {
            assert!(parse(typo).is_err(), "{typo} was accepted");
        }
        let text = "description = \"d\"\ntimeout = \"2s\"\nexit = 0\n[expect]\n\
                    default = { status = \"pass\", reason = \"dns_timout\" }\n";
        assert!(
            toml::from_str::<Scenario>(text).is_err(),
            "a misspelt reason"
        );
    }
}
