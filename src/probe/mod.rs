//! Runs one check's phases (DNS, then TCP or UDP, then TLS) under one deadline, and all checks
//! at once. Each layer lives in its own module as a small async function.

pub mod dns;
pub mod host;
pub mod http;
pub mod imds;
pub mod proxy;
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

use crate::catalog::{self, Entry, Expect, Kind, Transport};
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
    /// For private-endpoint DNS checks, the zone the CNAME chain must pass through.
    pub privatelink: Option<String>,
    pub service_tag: Option<String>,
    /// The flag that would supply a missing template value.
    pub missing_flag: Option<&'static str>,
    pub skip: Option<Failure>,
}

/// Expand the selected entries for the context; skipped ones carry their reason.
pub fn plan(entries: &[Entry], ctx: &Context, only: &[String], skip: &[String]) -> Vec<Plan> {
    entries
        .iter()
        .filter(|e| e.selected(only, skip))
        .map(|e| {
            let in_cloud = e.host_for(ctx.cloud);
            let expand = |t: &String| catalog::expand(t, ctx).unwrap_or_else(|_| t.clone());
            let service_tag = e.service_tag.as_ref().map(expand);
            let template = in_cloud
                .as_ref()
                .map(|c| c.host.clone())
                .unwrap_or_else(|| e.host.clone());
            let (host, missing_template) = match catalog::expand(&template, ctx) {
                Ok(host) => (host.to_ascii_lowercase(), None),
                Err(flag) => (template.clone(), Some(flag)),
            };
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
                not_applicable(format!("does not apply to a {} compute", t.as_str()))
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
                stands_for: in_cloud
                    .as_ref()
                    .and_then(|c| c.stands_for.as_ref())
                    .map(expand),
                privatelink: in_cloud.and_then(|c| c.privatelink),
                service_tag,
                missing_flag,
                skip,
            }
        })
        .collect()
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
    lookups: Mutex<HashMap<String, Arc<OnceCell<SharedLookup>>>>,
}

impl Env {
    pub fn new(
        resolvers: dns::Resolvers,
        trust: tls::Trust,
        timeout: Duration,
        proxy: Option<proxy::Proxy>,
        azure_dns: Option<dns::Resolvers>,
        context: Context,
    ) -> Env {
        Env {
            resolvers,
            trust,
            timeout,
            proxy,
            azure_dns,
            context,
            expected_issuers: catalog::default_expected_issuers(),
            lookups: Mutex::new(HashMap::new()),
        }
    }

    /// The proxy a check goes through: TLS, HTTP and WebSocket only, never UDP, SMB or plain
    /// TCP, and not for hosts in `NO_PROXY`.
    fn proxy_for(&self, plan: &Plan) -> Option<&proxy::Proxy> {
        let e = &plan.entry;
        let tunnelled = matches!(e.kind, Kind::Tls | Kind::Https | Kind::Websocket);
        self.proxy
            .as_ref()
            .filter(|p| tunnelled && e.port.is_some() && p.applies_to(&plan.host))
    }

    /// Resolve `host` once for all checks that name it; the result and its duration are shared.
    async fn resolve_shared(&self, host: &str, deadline: Instant) -> SharedLookup {
        let cell = {
            let mut map = match self.lookups.lock() {
                Ok(m) => m,
                Err(poisoned) => poisoned.into_inner(),
            };
            map.entry(host.to_string()).or_default().clone()
        };
        cell.get_or_init(|| async {
            let started = Instant::now();
            let r = self.resolvers.resolve(host, deadline).await;
            (r, started.elapsed().as_millis() as u64)
        })
        .await
        .clone()
    }
}

/// Run one check: every phase under the same deadline; the first failing phase decides.
pub async fn run_check(env: &Env, plan: &Plan) -> CheckResult {
    let started = Instant::now();
    let deadline = started + env.timeout;
    let e = &plan.entry;
    let mut phases = Vec::new();
    let outcome = match &plan.skip {
        Some(f) => Err(f.clone()),
        None => run_phases(env, plan, deadline, &mut phases).await,
    };
    let (reason, message) = match outcome {
        Ok(message) => (Reason::Ok, message),
        Err(f) => (f.reason, f.message),
    };
    let (reason, message) = match e.expect {
        Expect::Open => (reason, message),
        Expect::Blocked => expect_blocked(reason, message),
    };
    // A refused CONNECT reached the proxy, not the target.
    let tested = phases
        .iter()
        .filter(|p| !(p.phase == "proxy" && p.ok == Some(false)))
        .map(|p| layer_of(p.phase))
        .max()
        .map(|k| k.min(e.kind))
        .or((e.kind == Kind::Host && plan.skip.is_none()).then_some(Kind::Host));
    let message = match (&plan.stands_for, reason) {
        (Some(w), Reason::Ok | Reason::UdpNoReply) => {
            format!("{message} [{} stands for {w}]", plan.host)
        }
        _ => message,
    };
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
                host: &plan.host,
                port: e.port,
                transport: &e.transport.to_string(),
                service_tag: plan.service_tag.as_deref(),
            },
        ),
    };
    CheckResult {
        id: e.id.clone(),
        group: e.group.clone(),
        title: e.title.clone(),
        required: e.required,
        kind: e.kind,
        tested,
        target: Target {
            host: plan.host.clone(),
            port: e.port,
            transport: e.transport,
        },
        stands_for: plan.stands_for.clone(),
        proxy: env.proxy_for(plan).map(proxy::Proxy::display),
        status: verdict::status_for(reason, e.required),
        reason,
        message,
        remediation,
        reason_doc: reason.doc(),
        doc: e.doc.clone(),
        duration_ms: started.elapsed().as_millis() as u64,
        phases,
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
        | DnsRefused | ProxyRefused => (reason, message),
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

/// Record a phase's outcome; its `ok` follows the result.
fn record<T>(phases: &mut Vec<Phase>, mut phase: Phase, result: &Result<T, Failure>) {
    phase.ok = Some(result.is_ok());
    if let Err(f) = result {
        phase.error = Some(f.message.clone());
    }
    phases.push(phase);
}

async fn run_phases(
    env: &Env,
    plan: &Plan,
    deadline: Instant,
    phases: &mut Vec<Phase>,
) -> Result<String, Failure> {
    let e = &plan.entry;
    if let Some(check) = e.host_check {
        return host::run(check, &env.context);
    }
    if e.kind == Kind::Dns && plan.privatelink.is_some() {
        return private_endpoint_dns(env, plan, deadline, phases).await;
    }
    let (mut stream, peer) = match env.proxy_for(plan) {
        Some(proxy) => {
            let started = Instant::now();
            // The proxy resolves the target: the node's own DNS is not on this path.
            let port = e.port.unwrap_or(443);
            let tunnel = proxy
                .connect(&env.resolvers, &plan.host, port, deadline)
                .await;
            let mut phase = Phase::new("proxy", started);
            phase.proxy = Some(proxy.display());
            if let Ok((_, p)) = &tunnel {
                phase.address = Some(p.to_string());
            }
            record(phases, phase, &tunnel);
            tunnel?
        }
        None => match direct(env, plan, deadline, phases).await? {
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
        record(phases, phase, &negotiated);
        let d = negotiated?;
        return Ok(format!(
            "{peer}: SMB2 negotiate answered, dialect {}",
            smb::dialect_name(d)
        ));
    }

    let started = Instant::now();
    let shaken = tls::handshake(stream, peer, &plan.host, &env.trust, deadline).await;
    let mut phase = Phase::new("tls", started);
    phase.address = Some(peer.to_string());
    if let Ok((_, h)) = &shaken {
        phase.version = Some(h.version.clone());
        phase.subject = Some(h.subject.clone());
        phase.issuer = Some(h.issuer.clone());
    }
    record(phases, phase, &shaken);
    let (mut tls_stream, h) = shaken?;
    let expected = e.expected_issuers.as_ref().unwrap_or(&env.expected_issuers);
    if let Some(by) = tls::intercepted_by(&h, expected) {
        return Err(Failure {
            reason: Reason::TlsIntercepted,
            message: format!(
                "{}: the certificate verifies but was issued by {by}, not by Microsoft or DigiCert: a TLS-inspecting middlebox re-signs this traffic",
                plan.host
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
            let answer = http::request(&mut tls_stream, &plan.host, &e.http, deadline).await;
            let mut phase = Phase::new("http", started);
            if let Ok(head) = &answer {
                phase.http_status = Some(head.status);
                phase.http_server = head.server.clone();
            }
            record(phases, phase, &answer);
            let head = answer?;
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
            let upgraded = websocket::upgrade(tls_stream, &plan.host, &e.http.path, deadline).await;
            let mut phase = Phase::new("websocket", started);
            if let Ok(Some(head)) = upgraded.as_ref().map(|u| u.head.as_ref()) {
                phase.http_status = Some(head.status);
                phase.http_server = head.server.clone();
            }
            record(phases, phase, &upgraded);
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

fn describe_answer(a: &dns::Answer) -> String {
    let addrs: Vec<String> = a.addresses.iter().map(IpAddr::to_string).collect();
    match a.cnames.is_empty() {
        true => addrs.join(", "),
        false => format!("{} via {}", addrs.join(", "), a.cnames.join(" -> ")),
    }
}

/// A private-endpoint name must answer a private address through its privatelink CNAME.
/// When the node's resolver is not Azure DNS, Azure DNS is asked too and the answers compared.
async fn private_endpoint_dns(
    env: &Env,
    plan: &Plan,
    deadline: Instant,
    phases: &mut Vec<Phase>,
) -> Result<String, Failure> {
    let host = &plan.host;
    let started = Instant::now();
    let (answer, ms) = env.resolve_shared(host, deadline).await;
    let mut phase = Phase::dns("dns", started, &answer);
    phase.ms = ms;
    let judged = answer.clone().and_then(|a| {
        let zone = plan.privatelink.as_deref().unwrap_or("privatelink");
        let through = a
            .cnames
            .iter()
            .any(|c| c == zone || c.ends_with(&format!(".{zone}")));
        if let Some(public) = a.addresses.iter().find(|ip| !is_private(ip)) {
            Err(Failure {
                reason: Reason::DnsPublicAddress,
                message: format!(
                    "{host} answers the public address {public} ({}), not the private endpoint",
                    describe_answer(&a)
                ),
            })
        } else if !through {
            Err(Failure {
                reason: Reason::DnsNoPrivatelink,
                message: format!(
                    "{host} answers {} without a CNAME through {zone}",
                    describe_answer(&a)
                ),
            })
        } else {
            Ok(format!(
                "{host} answers the private endpoint {}",
                describe_answer(&a)
            ))
        }
    });
    record(phases, phase, &judged);

    let Some(azure) = &env.azure_dns else {
        return judged;
    };
    let started = Instant::now();
    let theirs = azure.resolve(host, deadline).await;
    let mut phase = Phase::dns("dns-azure", started, &theirs);
    phase.server = Some(AZURE_DNS.to_string());
    record(phases, phase, &theirs);
    let Ok(theirs) = theirs else { return judged };
    let mut ours: Vec<IpAddr> = answer
        .as_ref()
        .map(|a| a.addresses.clone())
        .unwrap_or_default();
    let mut azure_addrs = theirs.addresses.clone();
    ours.sort();
    azure_addrs.sort();
    if ours == azure_addrs {
        return judged;
    }
    let zones = "api.azureml.ms, notebooks.azure.net, instances.azureml.ms, aznbcontent.net, inference.ml.azure.com";
    let azure_says = format!(
        "Azure DNS (168.63.129.16) answers {}",
        describe_answer(&theirs)
    );
    let ours_says = match &answer {
        Ok(a) => format!("the node's resolver answers {}", describe_answer(a)),
        Err(f) => format!("the node's resolver fails ({})", f.reason),
    };
    match judged {
        // A failure stays the verdict; Azure DNS's answer shows the way out.
        Err(f) if f.reason.status() == Status::Fail => Err(Failure {
            reason: f.reason,
            message: format!(
                "{}; {azure_says}: forward {zones} to 168.63.129.16",
                f.message
            ),
        }),
        _ => Err(Failure {
            reason: Reason::DnsResolverMismatch,
            message: format!("{host}: {ours_says}, {azure_says}; forward {zones} to 168.63.129.16"),
        }),
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
    phases: &mut Vec<Phase>,
) -> Result<Direct, Failure> {
    let e = &plan.entry;
    let started = Instant::now();
    let (answer, dns_ms) = env.resolve_shared(&plan.host, deadline).await;
    let mut dns_phase = Phase::dns("dns", started, &answer);
    dns_phase.ms = dns_ms;
    record(phases, dns_phase, &answer);
    let answer = answer?;
    let via = match answer.cnames.last() {
        Some(c) => format!("{} via {c}", answer.addresses[0]),
        None => answer.addresses[0].to_string(),
    };
    let Some(port) = e.port else {
        return Ok(Direct::Done(format!("{} resolves to {via}", plan.host)));
    };

    if e.transport == Transport::Udp {
        let addr = SocketAddr::new(answer.addresses[0], port);
        let started = Instant::now();
        let outcome = udp::probe(addr, deadline).await;
        let mut phase = Phase::new("udp", started);
        phase.address = Some(addr.to_string());
        let result = match outcome {
            Ok(udp::UdpOutcome::Reply { bytes }) => {
                phase.ok = Some(true);
                Ok(Direct::Done(format!("{addr}: the service answered ({bytes} bytes)")))
            }
            Ok(udp::UdpOutcome::Silence { sent }) => Err(Failure {
                reason: Reason::UdpNoReply,
                message: format!(
                    "{addr}: {sent} datagrams sent, no ICMP rejection; UDP cannot be confirmed without a reply"
                ),
            }),
            Err(f) => {
                phase.ok = Some(false);
                phase.error = Some(f.message.clone());
                Err(f)
            }
        };
        phases.push(phase);
        return result;
    }

    let started = Instant::now();
    let connected = tcp::connect(&answer.addresses, port, deadline).await;
    let mut phase = Phase::new("tcp", started);
    phase.address = Some(match &connected {
        Ok((_, peer)) => peer.to_string(),
        Err(_) => SocketAddr::new(answer.addresses[0], port).to_string(),
    });
    record(phases, phase, &connected);
    let (stream, peer) = connected?;
    Ok(Direct::Connected(stream, peer))
}

/// Checks in flight at once: the built-in catalog runs whole in one wave; a catalog of
/// thousands runs in waves instead of running out of sockets.
pub const MAX_CONCURRENT_CHECKS: usize = 256;

/// Run every plan at once. Results come back in plan order; each is also sent on `progress`
/// as soon as it is known.
pub async fn run_all(
    env: Arc<Env>,
    plans: Vec<Plan>,
    progress: Option<mpsc::UnboundedSender<CheckResult>>,
) -> Vec<CheckResult> {
    let mut tasks = tokio::task::JoinSet::new();
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_CHECKS));
    for (i, p) in plans.iter().cloned().enumerate() {
        let env = env.clone();
        let progress = progress.clone();
        let permits = permits.clone();
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
    let mut slots: Vec<Option<CheckResult>> = plans.iter().map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        if let Ok((i, r)) = joined {
            slots[i] = Some(r);
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
        assert_eq!(
            expect_blocked(Reason::TcpTimeout, "x".into()).0,
            Reason::BlockedAsExpected
        );
        assert_eq!(
            expect_blocked(Reason::Ok, "x".into()).0,
            Reason::UnexpectedlyReachable
        );
        assert_eq!(
            expect_blocked(Reason::HttpStatus, "x".into()).0,
            Reason::UnexpectedlyReachable
        );
        assert_eq!(
            expect_blocked(Reason::DnsTimeout, "x".into()).0,
            Reason::DnsTimeout
        );
        assert_eq!(
            expect_blocked(Reason::ProxyRefused, "x".into()).0,
            Reason::ProxyRefused
        );
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
