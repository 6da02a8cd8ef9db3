//! The `mesh` command: node-to-node reachability for distributed training. Every node listens on
//! the ports, greets whoever connects with its name, and connects to every other peer on each
//! port; one result a peer and port. `merge` over the nodes' reports draws the from→to matrix
//! (`matrix.rs`).
//!
//! When a node stops: once its own connections are decided, and not before `--wait` has passed
//! since it started, plus one `--timeout` for a peer's attempt in flight. So nodes that start
//! within `--wait` of each other all find each other, and none waits on another to finish.

mod judge;
pub mod matrix;
pub mod peers;
pub mod wire;

use std::collections::BTreeSet;
use std::time::{Instant, SystemTime};

use crate::cli::{Format, MeshArgs};
use crate::context::Context;
use crate::exit::{emit, Stop};
use crate::report::{self, Meshed, Node};
use crate::result::{ms, CheckResult};
use crate::session::{self, assemble, hostname, writable};
use judge::{Heard, Judge, Names};
use peers::{local_addresses, pick_self, ports, PeerSource, Peers, SelfFrom};
use wire::{first_seen, listen_all, probe_all, resolve_all, speeds, Attempt, Callers, SINK_LIMIT};

/// `amlprobe mesh`.
pub fn mesh(args: &MeshArgs) -> Result<i32, Stop> {
    // Each peer's attempt and every caller holds a descriptor while the listeners run.
    session::raise_open_file_limit();
    let started = Instant::now();
    let started_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let peers = Peers::find(&args.peers, &env)?;
    let ports = ports(&args.ports, env("MASTER_PORT"));
    let host = hostname();
    let own_addresses = local_addresses();
    let (this, self_from) = pick_self(&peers.hosts, args.self_.as_deref(), &host, &own_addresses);
    let others = peers.others(&this)?;
    if let Some(path) = &args.report {
        writable(path)?;
    }
    let names = Names {
        own: vec![this.clone(), host.clone()],
        own_addresses,
        peers: peers.hosts.clone(),
        addresses: Default::default(),
    };
    let runtime = crate::session::runtime()?;
    let (not_listening, results) =
        runtime.block_on(run(args, &ports, &this, &others, names, started));
    runtime.shutdown_background();
    let context = context(
        &this,
        self_from,
        &peers.from,
        others.is_empty(),
        &not_listening,
    );
    let node = Node {
        hostname: host,
        resolvers: Vec::new(),
        proxy: None,
    };
    let mut report = assemble(
        started,
        started_at,
        ms(args.timeout),
        node,
        context,
        results,
    );
    report.mesh = Some(Meshed {
        this,
        self_from: self_from.to_string(),
        peers: peers.hosts.clone(),
        peers_from: peers.from.to_string(),
        ports,
        wait_ms: ms(args.wait),
        not_listening,
    });
    let shown = session::Shown {
        format: session::format_or_default(args.output),
        report_file: args.report.as_deref(),
        colour: session::colour(args.no_color),
        strict: false,
    };
    if shown.format == Format::Jsonl {
        // The results were not streamed as they finished: their lines come before the summary.
        let lines: String = report
            .results
            .iter()
            .map(|r| report::jsonl_result(r) + "\n")
            .collect();
        emit(&lines)?;
    }
    shown.write(&report)?;
    Ok(report.summary.exit_code(false))
}

/// Listen, try every peer on every port, and listen on for the peers' attempts: the ports this
/// node could not listen on, and one result a peer and port.
async fn run(
    args: &MeshArgs,
    ports: &[u16],
    name: &str,
    others: &[String],
    mut names: Names,
    started: Instant,
) -> (Vec<String>, Vec<CheckResult>) {
    let (wait, timeout) = (args.wait, args.timeout);
    let callers = Callers::default();
    let mut listeners = tokio::task::JoinSet::new();
    // A peer only reads the greeting, within its own --timeout; a transfer takes longer.
    let hold = match args.bandwidth {
        Some(_) => SINK_LIMIT,
        None => timeout,
    };
    let not_listening = listen_all(args.listen, ports, name, hold, &callers, &mut listeners).await;
    // Looked up while the probes run, so that telling callers apart adds nothing to the run.
    let resolving = tokio::spawn(resolve_all(others.to_vec(), timeout));
    let deadline = started + wait;
    let done = probe_all(others, ports, timeout, deadline).await;
    // A greeting under another name than the peer's is weighed by that name's addresses too:
    // looked up only then, and while the listeners run on, so that it adds nothing to the run.
    let other_names: BTreeSet<String> = done
        .iter()
        .filter_map(|d| match &d.attempt {
            Attempt::Greeted(n) if *n != d.peer && !others.contains(n) => Some(n.clone()),
            _ => None,
        })
        .collect();
    let other_names = tokio::spawn(resolve_all(other_names.into_iter().collect(), timeout));
    // A peer that connected here only after every try of ours had ended started late: that is
    // no evidence of a one-way block.
    let tried_until = SystemTime::now();
    // Listen on: for the whole wait, and one attempt more for a peer's in flight. `--bandwidth`'s
    // transfers fit in that time too, so that it never makes the run longer.
    let until = deadline.max(Instant::now()) + timeout;
    let speeds = match args.bandwidth {
        Some(size) => speeds(size, others, ports, &done, timeout, until).await,
        None => Vec::new(),
    };
    tokio::time::sleep_until(until.into()).await;
    listeners.abort_all();
    // Read once the listeners have stopped: every attempt a peer made within the wait is in.
    let callers = crate::probe::lock(&callers).clone();
    let addresses = resolving.await.unwrap_or_default();
    names.addresses = other_names.await.unwrap_or_default();
    names.addresses.extend(addresses.clone());
    let judge = Judge {
        this: name,
        wait,
        timeout,
        names: &names,
    };
    let mut results = Vec::new();
    for peer in others {
        let first = addresses.get(peer).and_then(|a| first_seen(a, &callers));
        let heard = Heard::of(peer, &done, first, tried_until);
        let speed = speeds.iter().find(|(p, _)| p == peer).map(|(_, s)| s);
        results.extend(judge.peer(peer, ports, &done, &heard, speed));
    }
    (not_listening, results)
}

/// The report's notes: which node this is, where the peers came from, what could not be done.
fn context(
    this: &str,
    self_from: SelfFrom,
    peers_from: &PeerSource,
    listen_only: bool,
    not_listening: &[String],
) -> Context {
    let mut context = Context::default();
    context.notes.push(format!(
        "mesh: this node is {this} ({self_from}); peers from {peers_from}"
    ));
    if listen_only {
        context.notes.push(format!(
            "mesh: {peers_from} names only this node, the master: it listened for the workers and tested no one"
        ));
    }
    if self_from == SelfFrom::None {
        context.notes.push(format!(
            "mesh: no peer is this node's hostname or address; give --self NAME. Every peer was tried, as {this}"
        ));
    }
    for n in not_listening {
        context.notes.push(format!(
            "mesh: cannot listen on port {n}; peers reaching it find another program"
        ));
    }
    context
}
