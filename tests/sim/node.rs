//! The compute node as the probe sees it from inside the namespace: the fixed services'
//! addresses, its NICs, its /etc, a generated catalog, and the empty root of the static binary.

use std::fmt::Write as _;
use std::path::Path;

use super::sandbox::Sandbox;
use super::scenario::{Resolver, Scenario};
use super::world::{
    AZURE_DNS_ADDR, DEAD_DNS_ADDR, DNS_ADDR, DOWN_PROXY_ADDR, IMDS_ADDR, PROXY_ADDR,
    SERVFAIL_DNS_ADDR,
};

pub fn furnish(sb: &Sandbox, sc: &Scenario) {
    let mut base = vec![
        DNS_ADDR,
        SERVFAIL_DNS_ADDR,
        DEAD_DNS_ADDR,
        PROXY_ADDR,
        DOWN_PROXY_ADDR,
    ];
    if sc.imds.is_some() {
        base.push(IMDS_ADDR);
    }
    if sc.azure_dns {
        base.push(AZURE_DNS_ADDR);
    }
    for a in base {
        sb.add_address(a);
    }
    for (nic, addr) in &sc.interfaces {
        // A veth pair with both ends inside the namespace: an address, and nowhere to send.
        let peer = format!("{nic}-peer");
        let link = ["link", "add", nic, "type", "veth", "peer", "name", &peer];
        sb.run("ip", &link);
        sb.run("ip", &["addr", "add", &format!("{addr}/32"), "dev", nic]);
    }
    write_etc(&sb.etc(), sc);
    if let Some(n) = sc.generate_catalog {
        generate_catalog(&sb.dir.join("generated.toml"), n);
    }
}

fn write_etc(etc: &Path, sc: &Scenario) {
    std::fs::create_dir_all(etc).unwrap();
    let nameserver = match sc.resolver {
        Resolver::ResolvConf => DNS_ADDR,
        Resolver::Flag | Resolver::Fallback => DEAD_DNS_ADDR,
    };
    std::fs::write(
        etc.join("resolv.conf"),
        format!("nameserver {nameserver}\noptions timeout:1\n"),
    )
    .unwrap();
    std::fs::write(etc.join("hosts"), "127.0.0.1 localhost\n").unwrap();
    if let Some(id) = &sc.os_release {
        std::fs::write(etc.join("os-release"), format!("NAME=\"{id}\"\nID={id}\n")).unwrap();
    }
}

/// `n` TCP entries over 50 hosts, in group `scale`.
fn generate_catalog(path: &Path, n: usize) {
    let mut text = String::new();
    for i in 0..n {
        let _ = writeln!(
            text,
            "[[endpoint]]\nid = \"scale-{i}\"\ngroup = \"scale\"\ntitle = \"generated {i}\"\nhost = \"h{}.scale.example.net\"\nport = 443\nkind = \"tcp\"\ndoc = \"https://learn.microsoft.com/azure/machine-learning/\"\n",
            i % 50
        );
    }
    std::fs::write(path, text).unwrap();
}

/// An empty root for the static binary: it, a resolv.conf and a CA bundle, nothing else.
pub fn make_root(dir: &Path, bin: &str, ca: &Path) {
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::copy(bin, root.join("amlprobe")).expect("copy the static binary");
    std::fs::write(
        root.join("etc/resolv.conf"),
        format!("nameserver {DNS_ADDR}\n"),
    )
    .unwrap();
    std::fs::copy(ca, root.join("ca.pem")).unwrap();
}
