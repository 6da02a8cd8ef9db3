//! Plays a scenario file in a sealed network namespace that stands in for an Azure region:
//! dnsmasq answers the catalog's names with addresses on the namespace's loopback, nginx
//! serves TLS with certificates from a test CA, socat listens for UDP, and nftables rules on
//! the input hook drop, reset or reject. Then it runs the compiled binary inside the namespace
//! and checks every result against the scenario's expectations.
//!
//! Every packet stays inside the namespace: it has only `lo`, and no route leaves it.

mod bench;
mod certs;
mod dns;
mod firewall;
mod fix;
pub mod fleet;
mod node;
mod probe;
mod sandbox;
mod scenario;
mod servers;
#[path = "../support/skip.rs"]
mod skip;
mod verify;
mod watch;
mod world;

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use certs::Certs;
use probe::Probe;
use sandbox::Sandbox;
pub use scenario::Scenario;
use world::World;

pub fn play(name: &str) {
    // Loaded first, so that a mistake in the file shows even where the scenario cannot run.
    let sc = Scenario::load(name);
    let static_bin = match prerequisites(&sc) {
        Ok(bin) => bin,
        Err(why) => return skip::skip_unless_ci(&format!("scenario {name}: {why}")),
    };
    let mut sb = Sandbox::new(&sandbox_name(name));
    sb.route_as_a_node();
    node::furnish(&sb, &sc);
    if let Some(imds) = &sc.imds {
        servers::start_imds(&mut sb, imds);
    }
    let targets = probe::list(&sb, &sc);
    let world = World::build(name, &sc, &targets);
    for addr in world.addresses() {
        sb.add_address(addr);
    }
    let mut listeners = dns::start(&mut sb, &sc, &world);
    let certs = Certs::make(&sb.dir, &world.hosts());
    if let Some(bin) = static_bin {
        node::make_root(&sb.dir, &bin, &certs.ca);
    }
    listeners.extend(servers::start(&mut sb, &sc, &world, &certs));
    listeners.extend(watch::start(&mut sb, &sc, &world));
    firewall::apply(&sb, &world);
    if let Some(spec) = &sc.egress_firewall {
        listeners.insert(firewall::egress(&mut sb, spec, &certs));
    }
    sb.wait_for_listeners(&listeners);

    let probe = Probe {
        sb: &sb,
        sc: &sc,
        ca: &certs.ca,
    };
    if sc.watch.is_some() {
        return watch::play(name, &sb, &sc, &world, &targets, &probe);
    }
    let out = probe.run();
    let context = verify::context(name, &sc, &out);
    verify::run(&sc, &out, &context);
    println!("scenario {name}: {} ms wall", out.wall.as_millis());
    // To look at a scenario's results, and its table as a person sees it.
    if std::env::var_os("AMLPROBE_SIM_SHOW").is_some() {
        println!("{}\n{}", verify::compact(&out.stdout), probe.show_table());
    }
    let report = verify::report(&sc, &sb.dir, &out, &context);
    bench::if_asked(name, &sb, &sc, &world, &certs.ca, &out.cmd);
    if sc.redact_check {
        verify::redaction(&report, &|format| probe.check(format));
    }
    verify::saved_report(&report, &out);
    if sc.golden {
        verify::golden(name, &out.stdout);
    }
    if let Some(other) = &sc.same_results_as {
        verify::same_results(other, &out.stdout, &context);
    }
    if let Some(exit) = sc.fix_exit {
        fix::golden(name, &out.report_file, exit);
    }
    verify::check_report(&report, &sc, &targets, &context);
    keep_report(&out.report_file);
}

thread_local! {
    /// Where `play_keeping_report` wants the report of the scenario this thread plays.
    static KEEP: RefCell<Option<PathBuf>> = const { RefCell::new(None) };
}

/// Plays scenario `name` as its own test does, and copies the report its run wrote to `to`;
/// `None` where the scenario could not run here (it says so, as `play` does). The sandbox has a
/// name of its own, so the scenario's own test may play at the same time.
pub fn play_keeping_report(name: &str, to: &Path) -> Option<PathBuf> {
    let _ = std::fs::remove_file(to);
    KEEP.with(|k| *k.borrow_mut() = Some(to.to_path_buf()));
    play(name);
    KEEP.with(|k| k.borrow_mut().take());
    to.exists().then(|| to.to_path_buf())
}

/// The sandbox's name: the scenario's, marked when its report is kept for another test.
fn sandbox_name(name: &str) -> String {
    match KEEP.with(|k| k.borrow().is_some()) {
        true => format!("{name}-kept"),
        false => name.to_string(),
    }
}

fn keep_report(report: &Path) {
    if let Some(to) = KEEP.with(|k| k.borrow().clone()) {
        std::fs::copy(report, &to).expect("copy the scenario's report");
    }
}

/// Root and the tools are needed, and for an empty-root scenario the static binary (returned).
fn prerequisites(sc: &Scenario) -> Result<Option<String>, String> {
    let tools = [
        "ip",
        "nft",
        "dnsmasq",
        "nginx",
        "socat",
        "ss",
        "python3",
        "smbd",
        "tinyproxy",
    ];
    sandbox::root_and_tools(&tools, " (see .ci/run for the packages)")?;
    match (sc.chroot, std::env::var("AMLPROBE_STATIC_BIN")) {
        (false, _) => Ok(None),
        (true, Ok(bin)) => Ok(Some(bin)),
        (true, Err(_)) => Err(
            "needs AMLPROBE_STATIC_BIN, the static build (packaging/build-static.sh prints its path)"
                .into(),
        ),
    }
}
