//! The probe stage: every plan's path under one deadline per check, all checks at once. Each
//! layer lives in its own module as a small async function; `path` chains them.

mod cert;
pub mod clock;
pub mod dns;
pub mod firewall;
pub mod host;
pub mod http;
mod mtu;
mod path;
pub mod private_endpoint;
pub mod proxy;
mod redirect;
pub mod smb;
pub mod tcp;
pub mod tls;
pub mod traceroute;
pub mod udp;
pub mod websocket;

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::OnceCell;
use tokio::time::Instant;

use crate::catalog::{self, HostCheck, Kind};
use crate::context::Context;
use crate::plan::Plan;
pub use crate::reason::Failure;
use crate::reason::Reason;
use crate::result::Seen;
use crate::result::{ms, CheckResult, Denial, Evidence, Phase, PhaseKind};
use crate::verdict;

/// A host's lookup and how long it took, shared by every check that names the host.
type SharedLookup = (Result<dns::Answer, Failure>, u64);

/// What every check shares: resolvers (with one lookup per host), trust, the proxy, the
/// deadline's length, and what the checks learn from each other (round trips, server clocks).
pub struct Runner {
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
    /// `--trace`: follow each flow met with silence hop by hop once its check has ended.
    pub trace: bool,
    /// The checks this run has traced, up to `traceroute::MAX_TRACED`.
    traces: traceroute::Allowance,
    /// Whether something on the path answers TCP handshakes for any address (the canary).
    pub middlebox: firewall::Middlebox,
    /// The `Date` of every verified HTTPS answer, against the node's clock.
    pub(crate) clocks: Mutex<Vec<clock::ServerClock>>,
    lookups: Mutex<HashMap<String, Arc<OnceCell<SharedLookup>>>>,
}

/// What a run's flags and node give every check: the rest of a [`Runner`] it makes itself.
pub struct Given {
    pub resolvers: dns::Resolvers,
    pub trust: tls::Trust,
    pub timeout: Duration,
    pub proxy: Option<proxy::Proxy>,
    /// Azure DNS, to ask beside a custom resolver.
    pub azure_dns: Option<dns::Resolvers>,
    pub context: Context,
    /// `--udp-wait`, if given.
    pub udp_wait: Option<Duration>,
    /// `--trace`.
    pub trace: bool,
}

/// A lock that a panicking holder cannot make unusable.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Runner {
    pub fn new(given: Given) -> Runner {
        let Given {
            resolvers,
            trust,
            timeout,
            proxy,
            azure_dns,
            context,
            udp_wait,
            trace,
        } = given;
        Runner {
            resolvers,
            trust,
            timeout,
            proxy,
            azure_dns,
            forward_zones: catalog::forward_zones(context.cloud).join(", "),
            context,
            expected_issuers: catalog::default_expected_issuers(),
            udp_wait: udp::Wait::new(udp_wait),
            trace,
            traces: traceroute::Allowance::default(),
            middlebox: firewall::Middlebox::default(),
            clocks: Mutex::new(Vec::new()),
            lookups: Mutex::new(HashMap::new()),
        }
    }

    /// Start another run of every check (a round of `watch`) as if it were the first: names are
    /// asked again rather than taken from the last run or a resolver's cache, server clocks and
    /// round trips are those of this run only, and so are the checks traced.
    pub fn new_round(&self) {
        lock(&self.lookups).clear();
        self.traces.reset();
        self.middlebox.reset();
        lock(&self.clocks).clear();
        self.udp_wait.reset();
        self.resolvers.clear_cache();
        if let Some(azure) = &self.azure_dns {
            azure.clear_cache();
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
            (r, ms(took))
        })
        .await
        .clone()
    }

    /// The zones a custom DNS server must forward for the plan's name, as a remediation names
    /// them: the workspace's, or another service's own.
    pub(crate) fn zones_for(&self, plan: &Plan) -> std::borrow::Cow<'_, str> {
        match &plan.privatelink {
            Some(zone) => {
                let zones = catalog::zones_to_forward(self.context.cloud, Some(zone), &plan.host);
                match zones.join(", ") {
                    same if same == self.forward_zones => {
                        std::borrow::Cow::Borrowed(&self.forward_zones)
                    }
                    other => std::borrow::Cow::Owned(other),
                }
            }
            None => std::borrow::Cow::Borrowed(&self.forward_zones),
        }
    }

    /// Keep an HTTPS answer's `Date` for the clock check.
    fn observe_date(&self, host: &str, head: &crate::net::Head) {
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
pub struct Trace {
    pub phases: Vec<Phase>,
    /// The host actually probed: a redirect may name another than the plan's.
    pub host: String,
    pub stand_in: bool,
    /// Said after the result's message: where the host came from.
    pub host_note: Option<String>,
    /// The path a redirect named on the host, for a transfer to fetch; never reported (a
    /// download URL may carry a signature).
    pub redirect_path: Option<String>,
    /// Azure DNS answered a private address: the workspace has a private endpoint, whatever
    /// the mode.
    pub private_endpoint_seen: bool,
    /// Azure DNS, asked beside a custom resolver, answered the name with addresses.
    pub name_exists: bool,
    /// The address and port that met silence (a connect with no answer, UDP with no reply),
    /// for `--trace`.
    pub silent_at: Option<SocketAddr>,
    /// The TLS handshake's peer ended the connection after the ClientHello without a byte.
    pub hello_unanswered: Option<Evidence>,
    /// What showed that an egress firewall refused the name.
    pub denial: Option<Box<Denial>>,
}

impl Trace {
    fn new(plan: &Plan) -> Trace {
        Trace {
            phases: Vec::new(),
            host: plan.host.clone(),
            stand_in: plan.stand_in,
            host_note: plan.host_source.as_ref().map(|s| format!("host from {s}")),
            redirect_path: None,
            private_endpoint_seen: false,
            name_exists: false,
            silent_at: None,
            hello_unanswered: None,
            denial: None,
        }
    }

    /// A trace of `host` with nothing seen yet, for tests of one layer.
    #[cfg(test)]
    pub(crate) fn of_host(host: &str) -> Trace {
        Trace {
            phases: Vec::new(),
            host: host.into(),
            stand_in: false,
            host_note: None,
            redirect_path: None,
            private_endpoint_seen: false,
            name_exists: false,
            silent_at: None,
            hello_unanswered: None,
            denial: None,
        }
    }

    /// Record a phase's outcome: `ok` follows the result, except that silence (UDP) could not
    /// tell and leaves it null.
    /// What the verdict needs of the run: the outcome and the plain facts the trace gathered.
    fn into_seen(
        self,
        outcome: Result<String, Failure>,
        proxy: Option<String>,
        duration_ms: u64,
    ) -> Seen {
        Seen {
            outcome,
            host: self.host,
            stand_in: self.stand_in,
            host_note: self.host_note,
            private_endpoint_seen: self.private_endpoint_seen,
            name_exists: self.name_exists,
            phases: self.phases,
            denial: self.denial,
            proxy,
            duration_ms,
        }
    }

    fn record<T>(&mut self, mut phase: Phase, result: &Result<T, Failure>) {
        match result {
            Ok(_) => phase.ok = Some(true),
            Err(f) if f.reason == Reason::UdpNoReply => {}
            Err(f) => {
                phase.ok = Some(false);
                phase.error = Some(f.message.clone());
            }
        }
        self.phases.push(phase);
    }

    /// Keep `at` as the address that met silence when `result` failed for `silence`.
    fn silent_if<T>(&mut self, at: SocketAddr, result: &Result<T, Failure>, silence: Reason) {
        if matches!(result, Err(f) if f.reason == silence) {
            self.silent_at = Some(at);
        }
    }

    /// Run one layer and record it as `phase`: its time, its outcome, and what `show` reads
    /// from a success.
    async fn timed<T>(
        &mut self,
        mut phase: Phase,
        layer: impl Future<Output = Result<T, Failure>>,
        show: impl FnOnce(&mut Phase, &T),
    ) -> Result<T, Failure> {
        let started = Instant::now();
        let result = layer.await;
        phase.ms = ms(started.elapsed());
        if let Ok(value) = &result {
            show(&mut phase, value);
        }
        self.record(phase, &result);
        result
    }
}

/// The node's own lookup as a phase: the shared lookup's time (it may have run for another
/// check) and what it answered.
fn lookup_phase(ms: u64, answer: &Result<dns::Answer, Failure>) -> Phase {
    let mut phase = Phase {
        ms,
        ..Phase::of(PhaseKind::Dns)
    };
    if let Ok(a) = answer {
        shows_answer(&mut phase, a);
    }
    phase
}

/// A DNS phase shows what the lookup answered.
fn shows_answer(phase: &mut Phase, a: &dns::Answer) {
    phase.addresses = Some(a.addresses.iter().map(IpAddr::to_string).collect());
    phase.cnames = Some(a.cnames.clone());
    phase.server = Some(a.server.clone());
}

/// A name that need not exist, reported missing: when the name it exists with answers through
/// its privatelink zone, the service has a private endpoint, which gives this name a record
/// there too; the record is missing, and that is a failure to report, not a set-up without it.
async fn must_exist(
    runner: &Runner,
    f: Failure,
    other: &str,
    zone: &str,
    deadline: Instant,
    trace: &mut Trace,
) -> Failure {
    let (answer, _) = runner.resolve_shared(other, deadline).await;
    let through = answer.is_ok_and(|a| a.cnames.iter().any(|c| crate::net::in_zone(c, zone)));
    if !through {
        return f;
    }
    trace.name_exists = true;
    Failure {
        message: format!(
            "{}; {other} answers through {zone}, so the service has a private endpoint, which gives this name a record in that zone too: the record is missing",
            f.message
        ),
        ..f
    }
}

/// Run one check: every phase under the same deadline; the first failing phase decides.
pub async fn run_check(runner: &Runner, plan: &Plan) -> CheckResult {
    let started = Instant::now();
    let deadline = started + runner.timeout;
    let mut trace = Trace::new(plan);
    let outcome = match &plan.skip {
        Some(skip) => Err(Failure {
            reason: skip.reason(),
            message: skip.message().to_string(),
        }),
        None => path::run(runner, plan, deadline, &mut trace).await,
    };
    let outcome = match (outcome, &plan.exists_with) {
        (Err(f), Some(with)) if f.reason == Reason::DnsNxdomain => {
            let (other, zone) = &**with;
            Err(must_exist(runner, f, other, zone, deadline, &mut trace).await)
        }
        (outcome, _) => outcome,
    };
    let proxy = runner
        .proxy_for(plan.entry.kind, &trace.host)
        .filter(|_| plan.skip.is_none())
        .map(proxy::Proxy::display);
    let silent_at = trace.silent_at;
    let seen = trace.into_seen(outcome, proxy, ms(started.elapsed()));
    let mut result = verdict::finish(plan, seen, &runner.zones_for(plan));
    // After the check's own time: the trace adds to the run, not to the check's duration.
    if runner.trace {
        traceroute::follow(&mut result, silent_at, &runner.traces).await;
    }
    result
}

/// Checks in flight at once: the built-in catalog runs whole in one wave; a catalog of
/// thousands runs in waves instead of running out of sockets. With `--trace`, a check that
/// timed out traces in its slot, and a run traces at most `traceroute::MAX_TRACED` checks of
/// up to `traceroute::MAX_HOPS` sockets each: 256 sockets more at most, whatever the catalog.
pub const MAX_CONCURRENT_CHECKS: usize = 256;

/// Run every plan at once. Results come back in plan order; each is also shown to `progress`
/// as soon as it is known. The clock check reads what the others saw, so it runs after them.
pub async fn run_all(
    runner: Arc<Runner>,
    plans: Vec<Plan>,
    mut progress: impl FnMut(&CheckResult),
) -> Vec<CheckResult> {
    let canary = canary_ports(&plans);
    if !canary.is_empty() {
        runner.middlebox.start(&canary);
    }
    let mut slots: Vec<Option<CheckResult>> = plans.iter().map(|_| None).collect();
    let mut plans: Vec<Option<Plan>> = plans.into_iter().map(Some).collect();
    let reads_others = |p: &Plan| p.entry.host_check == Some(HostCheck::Clock);
    for last in [false, true] {
        // A task is spawned only when it can start, and joined as soon as it ends: a task holds
        // the state of a whole check from its spawn until it is joined, so thousands spawned
        // up front to wait their turn would cost memory in proportion to the catalog. Each
        // task owns its plan, so a plan (and its entry) is freed once its result is made.
        let mut tasks = tokio::task::JoinSet::new();
        for (i, plan) in plans.iter_mut().enumerate() {
            let Some(plan) = plan.take_if(|p| reads_others(p) == last) else {
                continue;
            };
            while tasks.len() >= MAX_CONCURRENT_CHECKS {
                keep(tasks.join_next().await, &mut slots, &mut progress);
            }
            let runner = runner.clone();
            tasks.spawn(async move {
                // Each check's deadline starts when it starts.
                (i, run_check(&runner, &plan).await)
            });
        }
        while !tasks.is_empty() {
            keep(tasks.join_next().await, &mut slots, &mut progress);
        }
    }
    // The canary lasts as long as the checks, never longer.
    runner.middlebox.stop();
    // `filter_map` collects in place, where `flatten` would copy every result into a new `Vec`.
    #[allow(clippy::filter_map_identity)]
    let results = slots.into_iter().filter_map(|r| r).collect();
    results
}

/// The ports the canary tries: none when no check opens a TCP connection of its own (a run of
/// the node's own checks sends nothing); else 443 and 80, where an application-rule proxy
/// answers, and the ports of the TCP-only checks, whose pass depends on it.
fn canary_ports(plans: &[Plan]) -> Vec<u16> {
    let live = |p: &&Plan| p.skip.is_none() && p.entry.transport == catalog::Transport::Tcp;
    let connects = |p: &&Plan| !matches!(p.entry.kind, Kind::Dns | Kind::Host);
    if !plans.iter().filter(live).any(|p| connects(&p)) {
        return Vec::new();
    }
    let mut ports = firewall::WEB_PORTS.to_vec();
    let tcp_only = plans
        .iter()
        .filter(live)
        .filter(|p| p.entry.kind == Kind::Tcp);
    for port in tcp_only.filter_map(|p| p.entry.port) {
        if !ports.contains(&port) && ports.len() < firewall::MAX_CANARY_PORTS {
            ports.push(port);
        }
    }
    ports
}

/// Show a finished check's result to `progress` and put it in its plan's slot.
fn keep(
    joined: Option<Result<(usize, CheckResult), tokio::task::JoinError>>,
    slots: &mut [Option<CheckResult>],
    progress: &mut impl FnMut(&CheckResult),
) {
    if let Some(Ok((i, r))) = joined {
        progress(&r);
        slots[i] = Some(r);
    }
}
