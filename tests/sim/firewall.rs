//! The firewall: nftables on the input hook, matched by address, protocol and port so that the
//! ICMP errors the rules send back are not themselves caught.

use std::fmt::Write as _;

use amlprobe::catalog::Transport;

use super::certs::{Certs, Leaf};
use super::sandbox::Sandbox;
use super::scenario::{EgressFirewall, FirewallFault, TlsDeny};
use super::servers::support;
use super::world::{World, DEAD_DNS_ADDR, DNS_ADDR, IMDS_ADDR};

/// The longest packet a path-MTU black hole lets through (`mtu-blackhole`): smaller than the
/// 1500-byte segments of an ordinary connection, larger than those of MSS 536 (576 bytes).
pub const MTU_CUT: u16 = 1200;

pub fn apply(sb: &Sandbox, world: &World) {
    let mut rules = String::new();
    let mut black_hole = false;
    // The dead DNS server exists but never answers, like a resolver behind a dropping firewall;
    // with `dns-timeout` the customer's server is the same.
    let mut silent_dns = vec![DEAD_DNS_ADDR];
    if world.dns_timeout {
        silent_dns.push(DNS_ADDR);
    }
    for addr in silent_dns {
        for transport in [Transport::Udp, Transport::Tcp] {
            rule(&mut rules, addr, Some(53), transport, FirewallFault::Drop);
        }
    }
    for t in world.live() {
        for f in world.faults(t).firewall {
            black_hole |= f == FirewallFault::MtuBlackhole;
            rule(
                &mut rules,
                world.address(t.host()),
                t.port(),
                t.transport(),
                f,
            );
        }
    }
    let ruleset = format!(
        "table inet sim {{\n  chain input {{\n    type filter hook input priority 0;\n{rules}  }}\n}}\n"
    );
    let path = sb.dir.join("rules.nft");
    std::fs::write(&path, ruleset).unwrap();
    sb.run("nft", &["-f", &path.display().to_string()]);
    if black_hole {
        segment_for_real(sb);
    }
}

/// Loopback's MTU is 64 KiB and it passes the kernel's TCP super-segments (GSO) up whole, so
/// a rule on packet length would see packets of any size whatever the MSS. An Ethernet MTU
/// and one segment per packet make each packet the size the MSS allows, as on a real link.
fn segment_for_real(sb: &Sandbox) {
    let args = [
        "link",
        "set",
        "dev",
        "lo",
        "mtu",
        "1500",
        "gso_max_segs",
        "1",
        "gso_max_size",
        "1500",
    ];
    sb.run("ip", &args);
}

fn rule(
    rules: &mut String,
    addr: &str,
    port: Option<u16>,
    transport: Transport,
    fault: FirewallFault,
) {
    // What is sent to the endpoint (`d`), or for a black hole its answers (`s`) by length.
    let (way, verdict) = match fault {
        FirewallFault::Drop => ("d", "drop".to_string()),
        FirewallFault::Reset => ("d", "reject with tcp reset".into()),
        FirewallFault::Prohibit => ("d", "reject with icmpx type admin-prohibited".into()),
        FirewallFault::HostUnreachable => ("d", "reject with icmpx type host-unreachable".into()),
        FirewallFault::PortUnreachable => ("d", "reject with icmpx type port-unreachable".into()),
        FirewallFault::MtuBlackhole => ("s", format!("meta length > {MTU_CUT} drop")),
    };
    let port = port
        .map(|p| format!(" {transport} {way}port {p}"))
        .unwrap_or_default();
    let _ = writeln!(rules, "    ip {way}addr {addr}{port} {verdict}");
}

/// Where the egress firewall listens for the connections redirected to it.
const EGRESS_PORT: u16 = 15001;

/// An egress firewall with application rules on the node's way out: every TCP connection to
/// port 80 or 443 made in the namespace, to any address, is redirected to
/// tests/support/egress_firewall.py, which answers the handshake itself, then passes allowed
/// names on and refuses the others as Azure Firewall does. Its own connections onward carry
/// mark 1 and pass; the metadata service is never behind a firewall. Returns its listener.
pub fn egress(sb: &mut Sandbox, spec: &EgressFirewall, certs: &Certs) -> String {
    let ruleset = format!(
        "table ip egress {{\n  chain out {{\n    type nat hook output priority -100;\n    meta mark 0x1 return\n    ip daddr {IMDS_ADDR} return\n    tcp dport {{ 80, 443 }} redirect to :{EGRESS_PORT}\n  }}\n}}\n"
    );
    let path = sb.dir.join("egress.nft");
    std::fs::write(&path, ruleset).unwrap();
    sb.run("nft", &["-f", &path.display().to_string()]);
    let port = EGRESS_PORT.to_string();
    let deny = spec.deny.join(",");
    let mut args = vec![
        support("egress_firewall.py"),
        "--listen".into(),
        "127.0.0.1".into(),
        "--port".into(),
        port,
        "--deny".into(),
        deny,
        "--tls-deny".into(),
        spec.tls.arg().into(),
    ];
    if let TlsDeny::Inspect = spec.tls {
        let (cert, key) = certs.leaf(Leaf::Intercepted);
        args.extend(["--cert".into(), cert.display().to_string()]);
        args.extend(["--key".into(), key.display().to_string()]);
    }
    sb.spawn(
        "python3",
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    format!("tcp/127.0.0.1:{EGRESS_PORT}")
}
