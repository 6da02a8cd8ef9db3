//! Runs one check's phases (DNS, then TCP or UDP, then TLS) under one deadline, and all checks
//! at once. Each layer lives in its own module as a small async function.

pub mod clock;
pub mod dns;
pub mod host;
pub mod http;
pub mod imds;
mod private_endpoint;
pub mod proxy;
mod redirect;
pub mod smb;
pub mod tcp;
pub mod tls;
pub mod udp;
pub mod websocket;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{mpsc, OnceCell};
use tokio::time::Instant;

use crate::catalog::{self, Entry, Expect, HostCheck, Kind, Transport};
use crate::context::{ComputeType, Context, Mode};
use crate::verdict::{self, Reason, Status, Subject};

/// Why a phase did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub reason: Reason,
    pub message: String,
}

/// One layer of one check, with its own timing.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Phase {
    pub phase: &'static str,
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
    /// The `Date` header of an HTTP answer, as sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// The host a redirect named (its path and signature are not kept).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Phase {
    /// A phase that started at `since`; its `ok` is set when it is recorded.
    fn new(phase: &'static str, since: Instant) -> Phase {
        Phase {
            phase,
            ms: since.elapsed().as_millis() as u64,
            ..Phase::default()
        }
    }

    /// A DNS phase showing what a lookup answered.
    fn dns(phase: &'static str, since: Instant, answer: &Result<dns::Answer, Failure>) -> Phase {
        let mut p = Phase::new(phase, since);
        if let Ok(a) = answer {
            p.addresses = Some(a.addresses.iter().map(IpAddr::to_string).collect());
            p.cnames = Some(a.cnames.clone());
            p.server = Some(a.server.clone());
        }
        p
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Target {
    pub host: String,
    pub port: Option<u16>,
    pub transport: Transport,
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
}

/// A catalog entry made concrete for this context, or the reason it cannot run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub entry: Entry,
    pub host: String,
    pub stands_for: Option<String>,
    /// The host was chosen only to stand for `stands_for` (fixed text and the region, no name
    /// the node gave): if it does not exist in DNS, that is inconclusive, not a failure.
    pub stand_in: bool,
    /// Where a host the node named itself came from (`env:AZ_BATCH_ACCOUNT_URL`).
    pub host_source: Option<String>,
    /// For private-endpoint DNS checks, the zone the CNAME chain must pass through.
    pub privatelink: Option<String>,
    /// An HTTPS URL whose redirect names the host to probe instead.
    pub redirect_from: Option<String>,
    /// For private-endpoint names: the host whose address this one must share, if it could
    /// be built.
    pub same_address_as: Option<String>,
    pub service_tag: Option<String>,
    /// Whether a failure fails the run: the entry's `required`, except that a check of one
    /// networking mode only cannot fail a run whose mode is unknown.
    pub required: bool,
    /// The flag that would supply a missing template value.
    pub missing_flag: Option<&'static str>,
    pub skip: Option<Failure>,
}

/// Whether a host template names something the node gave (a compute, account or workspace):
/// such a host is the real one, not a stand-in.
fn names_the_nodes_own(template: &str) -> bool {
    catalog::PLACEHOLDERS
        .iter()
        .any(|(p, _)| *p != "region" && template.contains(&format!("{{{p}}}")))
}

/// Expand the selected entries for the context; skipped ones carry their reason.
pub fn plan(entries: &[Entry], ctx: &Context, only: &[String], skip: &[String]) -> Vec<Plan> {
    entries
        .iter()
        .filter(|e| e.selected(only, skip))
        .map(|e| plan_one(e, entries, ctx))
        .collect()
}

fn plan_one(e: &Entry, entries: &[Entry], ctx: &Context) -> Plan {
    let in_cloud = e.host_for(ctx.cloud);
    let expand = |t: &String| catalog::expand(t, ctx).unwrap_or_else(|_| t.clone());
    let service_tag = e.service_tag.as_ref().map(expand);
    let template = in_cloud
        .as_ref()
        .map(|c| c.host.clone())
        .unwrap_or_else(|| e.host.clone());
    // A host the node names itself wins over the template.
    let named = e
        .host_from
        .and_then(|from| Some((from.host(ctx)?.to_ascii_lowercase(), from.key())));
    let host_source = named
        .as_ref()
        .and_then(|(_, key)| ctx.sources.get(key).cloned());
    let (host, missing_template) = match (&named, catalog::expand(&template, ctx)) {
        (Some((host, _)), _) => (host.clone(), None),
        (None, Ok(host)) => (host.to_ascii_lowercase(), None),
        (None, Err(flag)) => (template.clone(), Some(flag)),
    };
    let stands_for = in_cloud
        .as_ref()
        .and_then(|c| c.stands_for.as_ref())
        .map(expand);
    let stand_in = stands_for.is_some() && named.is_none() && !names_the_nodes_own(&template);
    let same_address_as = e.same_address_as.as_ref().and_then(|id| {
        let other = entries.iter().find(|o| &o.id == id)?;
        catalog::expand(&other.host_for(ctx.cloud)?.host, ctx)
            .ok()
            .map(|h| h.to_ascii_lowercase())
    });
    let not_applicable = |message: String| {
        let f = Failure {
            reason: Reason::NotApplicable,
            message,
        };
        (Some(f), None)
    };
    let missing = |flag: &'static str, message: String| {
        let f = Failure {
            reason: Reason::MissingInput,
            message,
        };
        (Some(f), Some(flag))
    };
    // The first reason not to run wins; a missing input also names the flag that gives it.
    let (skip, missing_flag) = if in_cloud.is_none() {
        not_applicable(format!(
            "does not exist in the {} cloud",
            ctx.cloud.as_str()
        ))
    } else if ctx.mode != Mode::Auto && !e.modes.contains(&ctx.mode) {
        not_applicable(format!("does not apply in {} mode", ctx.mode.as_str()))
    } else if let Some(t) = ctx.compute_type.filter(|t| !e.compute_types.contains(t)) {
        not_applicable(format!("does not apply to {} compute", t.as_str()))
    } else if ctx.compute_type.is_none()
        && !e
            .compute_types
            .iter()
            .any(|t| matches!(t, ComputeType::Instance | ComputeType::Cluster))
    {
        // Unknown compute is taken for Azure ML's own; checks of other kinds wait to be asked.
        let kinds: Vec<&str> = e.compute_types.iter().map(|t| t.as_str()).collect();
        missing(
            "--compute-type",
            format!(
                "needs --compute-type: applies only to {} compute",
                kinds.join(", ")
            ),
        )
    } else if let Some(flag) = missing_template {
        missing(flag, format!("needs {flag}: the host is {template}"))
    } else {
        (None, None)
    };
    Plan {
        entry: e.clone(),
        host,
        stands_for,
        stand_in,
        host_source,
        privatelink: in_cloud.as_ref().and_then(|c| c.privatelink.clone()),
        redirect_from: in_cloud.and_then(|c| c.redirect_from),
        same_address_as,
        service_tag,
        required: e.required && !(ctx.mode == Mode::Auto && e.modes.len() == 1),
        missing_flag,
        skip,
    }
}

/// A host's lookup and how long it took, shared by every check that names the host.
type SharedLookup = (Result<dns::Answer, Failure>, u64);

/// What every check shares: resolvers (with one lookup per host), trust, the deadline length.
pub struct Env {
    pub resolvers: dns::Resolvers,
    pub trust: tls::Trust,
    pub timeout: Duration,
    pub proxy: Option<proxy::Proxy>,
    /// Issuers that are not interception, unless an entry says otherwise.
    pub expected_issuers: Vec<String>,
    /// Azure DNS (168.63.129.16), asked too when the node uses another resolver.
    pub azure_dns: Option<dns::Resolvers>,
    pub context: Context,
    /// The zones a custom DNS server must forward to Azure DNS in this cloud.
    pub forward_zones: String,
    /// How long UDP silence is awaited: fixed by `--udp-wait`, else from the round trips seen.
    pub udp_wait: udp::Wait,
    /// The `Date` of every verified HTTPS answer, against the node's clock.
    clocks: Mutex<Vec<clock::ServerClock>>,
    lookups: Mutex<HashMap<String, Arc<OnceCell<SharedLookup>>>>,
}

/// A lock that a panicking holder cannot make unusable.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Env {
    pub fn new(
        resolvers: dns::Resolvers,
        trust: tls::Trust,
        timeout: Duration,
        proxy: Option<proxy::Proxy>,
        azure_dns: Option<dns::Resolvers>,
        context: Context,
        udp_wait: Option<Duration>,
    ) -> Env {
        Env {
            resolvers,
            trust,
            timeout,
            proxy,
            azure_dns,
            forward_zones: catalog::forward_zones(context.cloud).join(", "),
            context,
            expected_issuers: catalog::default_expected_issuers(),
            udp_wait: udp::Wait::new(udp_wait),
            clocks: Mutex::new(Vec::new()),
            lookups: Mutex::new(HashMap::new()),
        }
    }

    /// The proxy a connection to `host` goes through: TLS, HTTP and WebSocket only (kinds the
    /// catalog gives a port), never UDP, SMB or plain TCP, and not for hosts in `NO_PROXY`.
    fn proxy_for(&self, kind: Kind, host: &str) -> Option<&proxy::Proxy> {
        let tunnelled = matches!(kind, Kind::Tls | Kind::Https | Kind::Websocket);
        self.proxy
            .as_ref()
            .filter(|p| tunnelled && p.applies_to(host))
    }

    /// Resolve `host` once for all checks that name it; the result and its duration are shared.
    async fn resolve_shared(&self, host: &str, deadline: Instant) -> SharedLookup {
        let cell = lock(&self.lookups)
            .entry(host.to_string())
            .or_default()
            .clone();
        cell.get_or_init(|| async {
            let started = Instant::now();
            let r = self.resolvers.resolve(host, deadline).await;
            let took = started.elapsed();
            // A server that answered gives a round trip; /etc/hosts does not.
            if r.as_ref().is_ok_and(|a| a.server != dns::HOSTS_FILE) {
                self.udp_wait.observe(took);
            }
            (r, took.as_millis() as u64)
        })
        .await
        .clone()
    }

    /// Keep an HTTPS answer's `Date` for the clock check.
    fn observe_date(&self, host: &str, head: &http::Head) {
        if let Some(c) = head
            .date
            .as_deref()
            .and_then(|d| clock::ServerClock::read(host, d))
        {
            lock(&self.clocks).push(c);
        }
    }
}

/// What one check saw while it ran.
struct Trace {
    phases: Vec<Phase>,
    /// The host actually probed: a redirect may name another than the plan's.
    host: String,
    stand_in: bool,
    /// Said after the result's message: where the host came from.
    host_note: Option<String>,
    /// Azure DNS answered a private address: the workspace has a private endpoint, whatever
    /// the mode.
    private_endpoint_seen: bool,
}

impl Trace {
    /// Record a phase's outcome; its `ok` follows the result.
    fn record<T>(&mut self, mut phase: Phase, result: &Result<T, Failure>) {
        phase.ok = Some(result.is_ok());
        if let Err(f) = result {
            phase.error = Some(f.message.clone());
        }
        self.phases.push(phase);
    }
}

/// Run one check: every phase under the same deadline; the first failing phase decides.
pub async fn run_check(env: &Env, plan: &Plan) -> CheckResult {
    let started = Instant::now();
    let deadline = started + env.timeout;
    let e = &plan.entry;
    let mut trace = Trace {
        phases: Vec::new(),
        host: plan.host.clone(),
        stand_in: plan.stand_in,
        host_note: plan.host_source.as_ref().map(|s| format!("host from {s}")),
        private_endpoint_seen: false,
    };
    let outcome = match &plan.skip {
        Some(f) => Err(f.clone()),
        None => run_phases(env, plan, deadline, &mut trace).await,
    };
    let (reason, message) = match outcome {
        Ok(message) => (Reason::Ok, message),
        Err(f) => (f.reason, f.message),
    };
    let (reason, message) = match (reason, &plan.stands_for) {
        // A name made up to stand for a wildcard need not exist: inconclusive, not broken.
        // A resolver that times out or fails is still broken, whatever the name.
        (Reason::DnsNxdomain | Reason::DnsNoRecords, Some(w))
            if trace.stand_in && e.expect == Expect::Open =>
        {
            (
                Reason::StandInUnresolvable,
                format!(
                    "{message}; {} was chosen only to stand for {w}, so the wildcard cannot be tested by name: it must be allowed by {}",
                    trace.host,
                    verdict::allowed_by(plan.service_tag.as_deref())
                ),
            )
        }
        _ => (reason, message),
    };
    let (reason, message) = match e.expect {
        Expect::Open => (reason, message),
        Expect::Blocked => expect_blocked(reason, message),
    };
    // A refused CONNECT reached the proxy, not the target.
    let tested = trace
        .phases
        .iter()
        .filter(|p| !(p.phase == "proxy" && p.ok == Some(false)))
        .map(|p| layer_of(p.phase))
        .max()
        .map(|k| k.min(e.kind))
        .or((e.kind == Kind::Host && plan.skip.is_none()).then_some(Kind::Host));
    let mut message = match (&plan.stands_for, reason) {
        (Some(w), Reason::Ok | Reason::UdpNoReply) => {
            format!("{message} [{} stands for {w}]", trace.host)
        }
        _ => message,
    };
    if let Some(note) = &trace.host_note {
        message = format!("{message} ({note})");
    }
    let required = plan.required || (e.required && trace.private_endpoint_seen);
    if e.required && !required && reason.status() == Status::Fail {
        let mode = e.modes.first().map(|m| m.as_str()).unwrap_or("one");
        message = format!(
            "{message}; this check applies only in {mode} mode and the mode is unknown, so it warns: give --mode {mode} to make it fail"
        );
    }
    let remediation = match (reason, plan.missing_flag) {
        (_, Some(flag)) => format!(
            "Give {flag} (or set AMLPROBE_{}).",
            flag.trim_start_matches("--")
                .replace('-', "_")
                .to_ascii_uppercase()
        ),
        _ => verdict::remediation(
            reason,
            &Subject {
                host: &trace.host,
                port: e.port,
                transport: &e.transport.to_string(),
                service_tag: plan.service_tag.as_deref(),
                stands_for: plan.stands_for.as_deref(),
                forward_zones: &env.forward_zones,
                check: e.host_check,
            },
        ),
    };
    CheckResult {
        id: e.id.clone(),
        group: e.group.clone(),
        title: e.title.clone(),
        required,
        kind: e.kind,
        tested,
        proxy: env
            .proxy_for(e.kind, &trace.host)
            .filter(|_| plan.skip.is_none())
            .map(proxy::Proxy::display),
        target: Target {
            host: trace.host,
            port: e.port,
            transport: e.transport,
        },
        stands_for: plan.stands_for.clone(),
        stand_in: trace.stand_in,
        status: verdict::status_for(reason, required),
        reason,
        message,
        remediation,
        reason_doc: reason.doc(),
        doc: e.doc.clone(),
        duration_ms: started.elapsed().as_millis() as u64,
        phases: trace.phases,
    }
}

/// For a path that must stay closed (an exfiltration path), being blocked is the pass.
fn expect_blocked(reason: Reason, message: String) -> (Reason, String) {
    use Reason::*;
    match reason {
        // A broken resolver or proxy shows nothing about the path itself: those stay failures.
        DnsNxdomain | DnsNoRecords | TcpRefused | TcpTimeout | TcpUnreachable | UdpUnreachable
        | TlsHandshakeFailed | TlsTimeout | ProxyDenied => (
            BlockedAsExpected,
            format!("blocked as it should be ({reason}): {message}"),
        ),
        MissingInput | NotApplicable | NotObservable | UdpNoReply | DnsTimeout | DnsServfail
        | DnsRefused | ProxyRefused | StandInUnresolvable => (reason, message),
        _ => (
            UnexpectedlyReachable,
            format!("reachable, though it should be blocked: {message}"),
        ),
    }
}

fn layer_of(phase: &str) -> Kind {
    match phase {
        "tcp" | "proxy" => Kind::Tcp,
        "udp" => Kind::Udp,
        "tls" => Kind::Tls,
        "http" => Kind::Https,
        "websocket" => Kind::Websocket,
        "smb" => Kind::Smb,
        _ => Kind::Dns,
    }
}

/// What an ICMP rejection or a local refusal means, for TCP and UDP alike; `None` for errors
/// each transport words itself (refused, timed out).
pub fn describe_unreachable(e: &std::io::Error) -> Option<&'static str> {
    use nix::errno::Errno;
    match Errno::from_raw(e.raw_os_error()?) {
        Errno::EHOSTUNREACH => Some(
            "ICMP host unreachable or administratively prohibited: a firewall rejects, or no route",
        ),
        Errno::ENETUNREACH => Some("network unreachable: no route to this address"),
        Errno::EACCES | Errno::EPERM => Some("blocked by this node's own firewall"),
        _ => None,
    }
}

async fn run_phases(
    env: &Env,
    plan: &Plan,
    deadline: Instant,
    trace: &mut Trace,
) -> Result<String, Failure> {
    let e = &plan.entry;
    match e.host_check {
        Some(HostCheck::Clock) => return clock::judge(&lock(&env.clocks)),
        Some(check) => return host::run(check, &env.context),
        None => {}
    }
    if e.kind == Kind::Dns && (plan.privatelink.is_some() || e.same_address_as.is_some()) {
        return private_endpoint::check(env, plan, deadline, trace).await;
    }
    if let Some(url) = &plan.redirect_from {
        // Half the time for learning the host, so the probe of the host keeps the rest.
        let ask_until = Instant::now() + deadline.saturating_duration_since(Instant::now()) / 2;
        redirect::learn(env, url, ask_until, trace).await;
    }
    let host = trace.host.clone();
    let (mut stream, peer) = match env.proxy_for(e.kind, &host) {
        Some(proxy) => {
            let started = Instant::now();
            // The proxy resolves the target: the node's own DNS is not on this path.
            let port = e.port.unwrap_or(443);
            let tunnel = proxy.connect(&env.resolvers, &host, port, deadline).await;
            let mut phase = Phase::new("proxy", started);
            phase.proxy = Some(proxy.display());
            if let Ok((_, p)) = &tunnel {
                phase.address = Some(p.to_string());
            }
            trace.record(phase, &tunnel);
            tunnel?
        }
        None => match direct(env, plan, deadline, trace).await? {
            Direct::Done(message) => return Ok(message),
            Direct::Connected(stream, peer) => (stream, peer),
        },
    };

    if e.kind == Kind::Tcp {
        return Ok(format!("{peer}: TCP connection accepted"));
    }
    if e.kind == Kind::Smb {
        let started = Instant::now();
        let who = format!("{peer}");
        let negotiated = smb::negotiate(&mut stream, &who, deadline).await;
        let mut phase = Phase::new("smb", started);
        phase.address = Some(peer.to_string());
        if let Ok(d) = &negotiated {
            phase.dialect = Some(smb::dialect_name(*d));
        }
        trace.record(phase, &negotiated);
        let d = negotiated?;
        return Ok(format!(
            "{peer}: SMB2 negotiate answered, dialect {}",
            smb::dialect_name(d)
        ));
    }

    let started = Instant::now();
    let shaken = tls::handshake(stream, peer, &host, &env.trust, deadline).await;
    let mut phase = Phase::new("tls", started);
    phase.address = Some(peer.to_string());
    if let Ok((_, h)) = &shaken {
        phase.version = Some(h.version.clone());
        phase.subject = Some(h.subject.clone());
        phase.issuer = Some(h.issuer.clone());
    }
    trace.record(phase, &shaken);
    let (mut tls_stream, h) = shaken?;
    let expected = e.expected_issuers.as_ref().unwrap_or(&env.expected_issuers);
    if let Some(by) = tls::intercepted_by(&h, expected) {
        return Err(Failure {
            reason: Reason::TlsIntercepted,
            message: format!(
                "{host}: the certificate verifies but was issued by {by}, not by Microsoft or DigiCert: a TLS-inspecting middlebox re-signs this traffic"
            ),
        });
    }
    let tls_summary = format!(
        "{peer}: {}, certificate for {} issued by {}",
        h.version, h.subject, h.issuer
    );
    match e.kind {
        Kind::Https => {
            let started = Instant::now();
            let answer = http::request(&mut tls_stream, &host, &e.http, deadline).await;
            let mut phase = Phase::new("http", started);
            if let Ok(head) = &answer {
                phase.http_status = Some(head.status);
                phase.http_server = head.server.clone();
                phase.date = head.date.clone();
                env.observe_date(&host, head);
            }
            trace.record(phase, &answer);
            let head = answer?;
            if let Some(denied) = e
                .firewall_answer
                .and_then(|service| http::firewall_denial(service, &host, &head))
            {
                return Err(denied);
            }
            Ok(format!(
                "{tls_summary}; HTTP {}{}",
                head.status,
                head.server
                    .map(|s| format!(" from \"{s}\""))
                    .unwrap_or_default()
            ))
        }
        Kind::Websocket => {
            let started = Instant::now();
            let upgraded = websocket::upgrade(tls_stream, &host, &e.http.path, deadline).await;
            let mut phase = Phase::new("websocket", started);
            if let Ok(Some(head)) = upgraded.as_ref().map(|u| u.head.as_ref()) {
                phase.http_status = Some(head.status);
                phase.http_server = head.server.clone();
            }
            trace.record(phase, &upgraded);
            let up = upgraded?;
            match up.reason {
                Reason::Ok => Ok(up.message),
                reason => Err(Failure {
                    reason,
                    message: up.message,
                }),
            }
        }
        _ => Ok(tls_summary),
    }
}

/// RFC 1918, RFC 6598 and IPv6 ULA; everything else counts as public.
pub fn is_private(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            o[0] == 10
                || (o[0] == 172 && (16..=31).contains(&o[1]))
                || (o[0] == 192 && o[1] == 168)
                || (o[0] == 100 && (64..=127).contains(&o[1]))
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_private(&IpAddr::V4(v4)),
            None => (v6.segments()[0] & 0xfe00) == 0xfc00,
        },
    }
}

/// Azure's virtual DNS server, reachable only from inside a VNet.
pub const AZURE_DNS: std::net::Ipv4Addr = std::net::Ipv4Addr::new(168, 63, 129, 16);

enum Direct {
    /// The check ended without a TCP stream (DNS-only, UDP).
    Done(String),
    Connected(tokio::net::TcpStream, SocketAddr),
}

/// The node's own path: DNS, then UDP or a TCP connection.
async fn direct(
    env: &Env,
    plan: &Plan,
    deadline: Instant,
    trace: &mut Trace,
) -> Result<Direct, Failure> {
    let e = &plan.entry;
    let host = trace.host.clone();
    let started = Instant::now();
    let (answer, dns_ms) = env.resolve_shared(&host, deadline).await;
    let mut dns_phase = Phase::dns("dns", started, &answer);
    dns_phase.ms = dns_ms;
    trace.record(dns_phase, &answer);
    let answer = answer?;
    let via = match answer.cnames.last() {
        Some(c) => format!("{} via {c}", answer.addresses[0]),
        None => answer.addresses[0].to_string(),
    };
    let Some(port) = e.port else {
        return Ok(Direct::Done(format!("{host} resolves to {via}")));
    };
    if e.private_only && !answer.addresses.iter().any(is_private) {
        return Err(Failure {
            reason: Reason::NotApplicable,
            message: format!(
                "{host} answers the public address {via}: port {port} is served only through a workspace private endpoint, so this node does not use it"
            ),
        });
    }

    if e.transport == Transport::Udp {
        let addr = SocketAddr::new(answer.addresses[0], port);
        let started = Instant::now();
        let outcome = udp::probe(addr, deadline, &env.udp_wait).await;
        let mut phase = Phase::new("udp", started);
        phase.address = Some(addr.to_string());
        let result = match outcome {
            Ok(udp::UdpOutcome::Reply { bytes }) => {
                phase.ok = Some(true);
                Ok(Direct::Done(format!("{addr}: the service answered ({bytes} bytes)")))
            }
            Ok(udp::UdpOutcome::Silence { sent, waited }) => Err(Failure {
                reason: Reason::UdpNoReply,
                message: format!(
                    "{addr}: {sent} datagrams sent, no ICMP rejection within {} ms; UDP cannot be confirmed without a reply",
                    waited.as_millis()
                ),
            }),
            Err(f) => {
                phase.ok = Some(false);
                phase.error = Some(f.message.clone());
                Err(f)
            }
        };
        trace.phases.push(phase);
        return result;
    }

    let started = Instant::now();
    let connected = tcp::connect(&answer.addresses, port, deadline).await;
    let mut phase = Phase::new("tcp", started);
    phase.address = Some(match &connected {
        Ok((_, peer)) => peer.to_string(),
        Err(_) => SocketAddr::new(answer.addresses[0], port).to_string(),
    });
    // An answer, even a refusal, is a round trip; silence is not.
    if !matches!(&connected, Err(f) if f.reason == Reason::TcpTimeout) {
        env.udp_wait.observe(started.elapsed());
    }
    trace.record(phase, &connected);
    let (stream, peer) = connected?;
    Ok(Direct::Connected(stream, peer))
}

/// Checks in flight at once: the built-in catalog runs whole in one wave; a catalog of
/// thousands runs in waves instead of running out of sockets.
pub const MAX_CONCURRENT_CHECKS: usize = 256;

/// Run every plan at once. Results come back in plan order; each is also sent on `progress`
/// as soon as it is known. The clock check reads what the others saw, so it runs after them.
pub async fn run_all(
    env: Arc<Env>,
    plans: Vec<Plan>,
    progress: Option<mpsc::UnboundedSender<CheckResult>>,
) -> Vec<CheckResult> {
    let mut slots: Vec<Option<CheckResult>> = plans.iter().map(|_| None).collect();
    let reads_others = |p: &Plan| p.entry.host_check == Some(HostCheck::Clock);
    for last in [false, true] {
        let mut tasks = tokio::task::JoinSet::new();
        let permits = Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_CHECKS));
        for (i, p) in plans.iter().enumerate() {
            if reads_others(p) != last {
                continue;
            }
            let (env, progress, permits, p) =
                (env.clone(), progress.clone(), permits.clone(), p.clone());
            tasks.spawn(async move {
                // Each check's deadline starts when it starts, after it gets a permit.
                let _permit = permits.acquire_owned().await;
                let r = run_check(&env, &p).await;
                if let Some(tx) = progress {
                    let _ = tx.send(r.clone());
                }
                (i, r)
            });
        }
        while let Some(joined) = tasks.join_next().await {
            if let Ok((i, r)) = joined {
                slots[i] = Some(r);
            }
        }
    }
    slots.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(mode: Mode) -> Context {
        Context {
            region: Some("westeurope".into()),
            mode,
            ..Context::default()
        }
    }

    #[test]
    fn plans_skip_what_lacks_input_and_name_the_flag() {
        let entries = catalog::load(&[]).unwrap();
        let plans = plan(&entries, &ctx(Mode::Auto), &[], &[]);
        let file = plans
            .iter()
            .find(|p| p.entry.id == "storage-file-445")
            .unwrap();
        let skip = file.skip.as_ref().unwrap();
        assert_eq!(skip.reason, Reason::MissingInput);
        assert!(skip.message.contains("--storage-account"));
        let tundra = plans
            .iter()
            .find(|p| p.entry.id == "tundra-udp-5831")
            .unwrap();
        assert!(tundra.skip.is_none());
        assert_eq!(tundra.host, "westeurope.tundra.azureml.ms");
        let blob = plans
            .iter()
            .find(|p| p.entry.id == "storage-blob-443")
            .unwrap();
        assert_eq!(blob.stands_for.as_deref(), Some("*.blob.core.windows.net"));
    }

    #[test]
    fn stand_ins_are_the_names_the_tool_chose() {
        let entries = catalog::load(&[]).unwrap();
        let mut c = ctx(Mode::PublicIp);
        c.compute_name = Some("ci-one".into());
        c.storage_account = Some("amlstore1".into());
        let find =
            |plans: &[Plan], id: &str| plans.iter().find(|p| p.entry.id == id).unwrap().clone();
        let plans = plan(&entries, &c, &[], &[]);
        assert!(find(&plans, "batch-443").stand_in);
        assert!(find(&plans, "mcr-data-443").stand_in);
        assert!(
            !find(&plans, "instances-443").stand_in,
            "the compute's own name"
        );
        assert!(
            !find(&plans, "storage-blob-443").stand_in,
            "the customer's account"
        );
        assert!(!find(&plans, "graph-443").stand_in, "no wildcard");
        // A name the node gives replaces the stand-in, and says where it came from.
        c.batch_account_host = Some("myacct.westeurope.batch.azure.com".into());
        c.sources
            .insert("batch_account_host", "env:AZ_BATCH_ACCOUNT_URL".into());
        let batch = find(&plan(&entries, &c, &[], &[]), "batch-443");
        assert_eq!(batch.host, "myacct.westeurope.batch.azure.com");
        assert!(!batch.stand_in);
        assert_eq!(
            batch.host_source.as_deref(),
            Some("env:AZ_BATCH_ACCOUNT_URL")
        );
        // Even with no region, a named host needs no template value.
        c.region = None;
        assert!(find(&plan(&entries, &c, &[], &[]), "batch-443")
            .skip
            .is_none());
    }

    #[test]
    fn one_mode_checks_cannot_fail_a_run_of_unknown_mode() {
        let entries = catalog::load(&[]).unwrap();
        let required =
            |mode: Mode, id: &str| plan(&entries, &ctx(mode), &[id.to_string()], &[])[0].required;
        assert!(!required(Mode::Auto, "pe-workspace-api"));
        assert!(required(Mode::NoPublicIp, "pe-workspace-api"));
        assert!(required(Mode::Auto, "graph-443"), "both modes");
        assert!(!required(Mode::PublicIp, "pypi-443"), "situational anyway");
    }

    #[test]
    fn private_means_rfc1918_rfc6598_and_ula() {
        for ip in [
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.255",
            "fd00::1",
            "fc00::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_private(&ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "172.15.0.1",
            "172.32.0.1",
            "100.128.0.1",
            "192.0.2.1",
            "198.51.100.1",
            "203.0.113.1",
            "8.8.8.8",
            "2001:db8::1",
            "fe80::1",
            "::ffff:8.8.8.8",
        ] {
            assert!(!is_private(&ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn blocked_paths_pass_only_when_the_path_itself_is_closed() {
        for (seen, verdict) in [
            (Reason::TcpTimeout, Reason::BlockedAsExpected),
            (Reason::Ok, Reason::UnexpectedlyReachable),
            (Reason::HttpStatus, Reason::UnexpectedlyReachable),
            // A broken resolver or proxy shows nothing about the path: it stays itself.
            (Reason::DnsTimeout, Reason::DnsTimeout),
            (Reason::ProxyRefused, Reason::ProxyRefused),
        ] {
            assert_eq!(expect_blocked(seen, "x".into()).0, verdict, "{seen}");
        }
    }

    #[test]
    fn a_missing_compute_type_names_its_own_flag() {
        let entries = catalog::load(&[]).unwrap();
        let plans = plan(&entries, &ctx(Mode::Auto), &["node-os-ubuntu".into()], &[]);
        assert_eq!(plans[0].skip.as_ref().unwrap().reason, Reason::MissingInput);
        assert_eq!(plans[0].missing_flag, Some("--compute-type"));
    }

    #[test]
    fn only_and_skip_select_checks() {
        let entries = catalog::load(&[]).unwrap();
        let plans = plan(
            &entries,
            &ctx(Mode::Auto),
            &["storage".into()],
            &["storage-file-*".into()],
        );
        assert!(!plans.is_empty());
        assert!(plans
            .iter()
            .all(|p| p.entry.group == "storage" && !p.entry.id.starts_with("storage-file-")));
    }
}
