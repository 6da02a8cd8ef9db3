//! Fixes for the tests of the layout and the formats: one of every rule, the same with every
//! name given, with hostile text in every place a value goes, and nothing at all.

use crate::context::{Cloud, Mode};
use crate::fix::model::{Advice, Change, Dest, Fixes, Names, Protocol, Rule, Web, Why};

/// The document every sample change cites.
const DOC: &str = "https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet";

fn why(check: &str, reason: &str) -> Why {
    Why {
        check: check.into(),
        reason: reason.into(),
        doc: DOC.into(),
    }
}

/// A change to make, for one check that failed for `reason`.
fn change(rule: Rule, check: &str, reason: &str) -> Change {
    Change {
        rule,
        why: vec![why(check, reason)],
        confirm: false,
    }
}

/// One of every rule, in the public cloud, names not given.
pub fn every_rule() -> Fixes {
    let mut changes = firewall_rules();
    changes.extend(other_rules());
    changes.push(Change {
        confirm: true,
        ..change(
            Rule::Application {
                fqdn: "*.data.mcr.microsoft.com".into(),
                web: Web::Https,
                port: 443,
            },
            "mcr-data-443",
            "stand_in_unresolvable",
        )
    });
    Fixes {
        cloud: Cloud::Public,
        region: Some("westeurope".into()),
        mode: Mode::NoPublicIp,
        changes,
        advice: vec![Advice {
            why: why("node-clock", "clock_skew"),
            text: "Fix the node's clock.".into(),
        }],
        names: Names::default(),
    }
}

/// Application and network rules: to a name, a wildcard, a UDP and an any-protocol service
/// tag, and a name on a port no application rule carries.
fn firewall_rules() -> Vec<Change> {
    let app = |fqdn: &str, web, port| Rule::Application {
        fqdn: fqdn.into(),
        web,
        port,
    };
    let net = |protocol, port, dest| Rule::Network {
        protocol,
        port,
        dest,
    };
    vec![
        change(
            app("graph.windows.net", Web::Https, 443),
            "graph-443",
            "tcp_refused",
        ),
        change(
            app("*.pythonhosted.org", Web::Https, 443),
            "pythonhosted-443",
            "tls_handshake_failed",
        ),
        change(
            app("login.microsoftonline.com", Web::Http, 80),
            "entra-80",
            "tcp_timeout",
        ),
        change(
            net(
                Protocol::Udp,
                5831,
                Dest::Tag("AzureMachineLearning".into()),
            ),
            "tundra-udp-5831",
            "udp_unreachable",
        ),
        change(
            net(
                Protocol::Any,
                443,
                Dest::Tag("BatchNodeManagement.westeurope".into()),
            ),
            "batch-443",
            "tcp_timeout",
        ),
        change(
            net(
                Protocol::Tcp,
                8787,
                Dest::Fqdn("ci-one.westeurope.instances.azureml.ms".into()),
            ),
            "instances-8787",
            "tcp_timeout",
        ),
    ]
}

/// A route, DNS forwarding and a zone link, a TLS inspection exemption, a storage account's
/// firewall and a proxy.
fn other_rules() -> Vec<Change> {
    vec![
        change(
            Rule::Route {
                tag: "BatchNodeManagement.westeurope".into(),
            },
            "batch-443",
            "tcp_timeout",
        ),
        change(
            Rule::Forward {
                zone: "api.azureml.ms".into(),
            },
            "pe-workspace-api",
            "dns_public_address",
        ),
        change(
            Rule::ZoneLink {
                zone: "privatelink.api.azureml.ms".into(),
            },
            "pe-workspace-api",
            "dns_public_address",
        ),
        change(
            Rule::NoTlsInspection {
                fqdn: "westeurope.api.azureml.ms".into(),
                port: 443,
            },
            "workspace-api-443",
            "tls_intercepted",
        ),
        change(
            Rule::StorageSubnet {
                account: "amlstore1".into(),
            },
            "storage-blob-443",
            "storage_firewall_denied",
        ),
        change(
            Rule::ProxyConnect {
                host: "westeurope.api.azureml.ms".into(),
                port: 443,
            },
            "workspace-api-443",
            "proxy_denied",
        ),
    ]
}

/// The sample with every name given.
pub fn named() -> Fixes {
    let mut fixes = every_rule();
    fixes.names = Names {
        firewall_policy: Some("fw-policy-hub".into()),
        nsg: Some("nsg-aml".into()),
        route_table: Some("rt-aml".into()),
        resource_group: Some("rg-network".into()),
        workspace: Some("ws-aml".into()),
        vnet: Some("vnet-hub".into()),
        subnet: Some("snet-compute".into()),
    };
    fixes
}

/// Text that breaks any format that does not quote it: both quote characters, both template
/// openers, a backslash, a command substitution both ways, a command separator, a comment
/// start, and line breaks, Unicode's among them.
pub const HOSTILE: &str = "a\"b${x}%{y}'\\$(reboot)`reboot`\n\"c\";reboot #\r\u{2028}";

/// The sample with the hostile text as every name, as a check, reason and document beside
/// every change's own, and as the value of one more change of every kind; as a name to
/// confirm, and as advice.
pub fn hostile() -> Fixes {
    let h = || HOSTILE.to_string();
    let mut fixes = every_rule();
    fixes.names = Names {
        firewall_policy: Some(h()),
        nsg: Some(h()),
        route_table: Some(h()),
        resource_group: Some(h()),
        workspace: Some(h()),
        vnet: Some(h()),
        subnet: Some(h()),
    };
    let hostile_why = || Why {
        check: h(),
        reason: h(),
        doc: h(),
    };
    for change in &mut fixes.changes {
        change.why.push(hostile_why());
    }
    let rules = [
        Rule::Application {
            fqdn: h(),
            web: Web::Https,
            port: 443,
        },
        Rule::Network {
            protocol: Protocol::Tcp,
            port: 443,
            dest: Dest::Tag(h()),
        },
        Rule::Network {
            protocol: Protocol::Tcp,
            port: 443,
            dest: Dest::Fqdn(h()),
        },
        Rule::Route { tag: h() },
        Rule::Forward { zone: h() },
        Rule::ZoneLink { zone: h() },
        Rule::NoTlsInspection {
            fqdn: h(),
            port: 443,
        },
        Rule::StorageSubnet { account: h() },
        Rule::ProxyConnect {
            host: h(),
            port: 443,
        },
    ];
    for rule in rules {
        fixes.changes.push(Change {
            rule,
            why: vec![hostile_why()],
            confirm: false,
        });
    }
    fixes.changes.push(Change {
        rule: Rule::Application {
            fqdn: h(),
            web: Web::Http,
            port: 80,
        },
        why: vec![hostile_why()],
        confirm: true,
    });
    fixes.advice.push(Advice {
        why: hostile_why(),
        text: h(),
    });
    fixes
}

/// Nothing at all to change.
pub fn empty() -> Fixes {
    let mut fixes = every_rule();
    fixes.changes.clear();
    fixes.advice.clear();
    fixes
}

/// Only the rules of one kind, from the sample with every name given.
pub fn only(kind: fn(&Rule) -> bool) -> Fixes {
    let mut fixes = named();
    fixes.changes.retain(|c| kind(&c.rule));
    fixes.advice.clear();
    fixes
}

/// Only the changes the node could not confirm.
pub fn confirm_only() -> Fixes {
    let mut fixes = every_rule();
    fixes.changes.retain(|c| c.confirm);
    fixes.advice.clear();
    fixes
}

/// The sample with a network rule and a route to each destination broader than any check
/// needs.
pub fn broad() -> Fixes {
    let mut fixes = every_rule();
    for tag in ["AzureCloud", "Internet", "*", "0.0.0.0/0"] {
        fixes.changes.push(Change {
            rule: Rule::Network {
                protocol: Protocol::Tcp,
                port: 443,
                dest: Dest::Tag(tag.into()),
            },
            why: Vec::new(),
            confirm: false,
        });
        fixes.changes.push(Change {
            rule: Rule::Route { tag: tag.into() },
            why: Vec::new(),
            confirm: false,
        });
    }
    fixes
}

/// A change for one rule, for one check that timed out, with no document.
pub fn one(rule: Rule, check: &str) -> Change {
    Change {
        rule,
        why: vec![Why {
            check: check.into(),
            reason: "tcp_timeout".into(),
            doc: String::new(),
        }],
        confirm: false,
    }
}

/// Fixes with the given changes and nothing else, from no region in no mode.
pub fn bare(changes: Vec<Change>) -> Fixes {
    Fixes {
        cloud: Cloud::Public,
        region: None,
        mode: Mode::Auto,
        changes,
        advice: vec![],
        names: Names::default(),
    }
}
