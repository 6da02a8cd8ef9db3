//! The firewall: nftables on the input hook, matched by address, protocol and port so that the
//! ICMP errors the rules send back are not themselves caught.

use std::fmt::Write as _;

use amlprobe::catalog::Transport;

use super::sandbox::Sandbox;
use super::scenario::FirewallFault;
use super::world::{World, DEAD_DNS_ADDR, DNS_ADDR};

pub fn apply(sb: &Sandbox, world: &World) {
    let mut rules = String::new();
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
}

fn rule(
    rules: &mut String,
    addr: &str,
    port: Option<u16>,
    transport: Transport,
    fault: FirewallFault,
) {
    let port = port
        .map(|p| format!(" {transport} dport {p}"))
        .unwrap_or_default();
    let verdict = match fault {
        FirewallFault::Drop => "drop",
        FirewallFault::Reset => "reject with tcp reset",
        FirewallFault::Prohibit => "reject with icmpx type admin-prohibited",
        FirewallFault::HostUnreachable => "reject with icmpx type host-unreachable",
        FirewallFault::PortUnreachable => "reject with icmpx type port-unreachable",
    };
    let _ = writeln!(rules, "    ip daddr {addr}{port} {verdict}");
}
