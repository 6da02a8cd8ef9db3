//! From a report's results to the changes that would make them pass. Each failing or warning
//! result adds the narrowest rule its reason calls for, or advice in words where no rule
//! fixes it; nothing here widens a rule beyond the flow the check made.

use std::collections::BTreeMap;

use super::model::too_broad;
use super::model::{Advice, Change, Dest, Fixes, Names, Protocol, Rule, Web, Why};
use super::read::{Finding, Findings};
use crate::catalog;
use crate::context::Mode;
use crate::reason::{Reason, Status};

/// The tags a forced tunnel must let out directly: the management traffic the documents route
/// to next hop Internet.
const MANAGEMENT: &[&str] = &["AzureMachineLearning", "BatchNodeManagement"];

/// Every change and piece of advice for `report`.
pub fn derive(report: &Findings, names: Names) -> Fixes {
    let mut rules: BTreeMap<Rule, (Vec<Why>, bool)> = BTreeMap::new();
    let mut advice = Vec::new();
    let forced_tunnel = suggests_forced_tunnel(report);
    for r in &report.results {
        if !matches!(r.status, Status::Fail | Status::Warn) {
            continue;
        }
        let why = Why {
            check: r.id.clone(),
            reason: r.reason.code().into(),
            doc: r.doc.clone(),
        };
        let found = for_result(report, r, forced_tunnel);
        if found.rules.is_empty() || found.also_advise {
            advice.push(Advice {
                why: why.clone(),
                text: found.advice.unwrap_or_else(|| r.remediation.clone()),
            });
        }
        for rule in found.rules {
            let (whys, confirm) = rules.entry(rule).or_insert((Vec::new(), true));
            if !whys.contains(&why) {
                whys.push(why.clone());
            }
            *confirm &= found.confirm;
        }
    }
    Fixes {
        cloud: report.cloud,
        region: report.region.clone(),
        mode: report.mode,
        changes: rules
            .into_iter()
            .map(|(rule, (why, confirm))| Change { rule, why, confirm })
            .collect(),
        advice,
        names: Names {
            workspace: names.workspace.or_else(|| report.workspace_name.clone()),
            ..names
        },
    }
}

/// What one result calls for.
#[derive(Default)]
struct Found {
    rules: Vec<Rule>,
    /// Only to make sure of: the check cannot be confirmed from the node.
    confirm: bool,
    /// Words instead of the result's own remediation, when no rule fixes it.
    advice: Option<String>,
    /// Advice beside the rules.
    also_advise: bool,
}

fn for_result(report: &Findings, r: &Finding, forced_tunnel: bool) -> Found {
    use Reason::*;
    match r.reason {
        TcpRefused | TcpTimeout | TcpUnreachable | UdpUnreachable | TlsHandshakeFailed
        | TlsTimeout => {
            let mut rules = allow(r);
            if forced_tunnel && is_timeout(r.reason) && management(r) {
                rules.extend(routes(report));
            }
            Found {
                advice: rules.is_empty().then(|| no_rule_for(r)),
                rules,
                ..Found::default()
            }
        }
        FirewallDenied => Found {
            rules: refused(r).into_iter().collect(),
            ..Found::default()
        },
        UdpNoReply | StandInUnresolvable | TcpInconclusive => Found {
            rules: allow(r),
            confirm: true,
            ..Found::default()
        },
        TlsIntercepted => Found {
            rules: name(r)
                .map(|fqdn| Rule::NoTlsInspection {
                    fqdn,
                    port: r.port.unwrap_or(443),
                })
                .into_iter()
                .collect(),
            ..Found::default()
        },
        ProxyDenied => Found {
            rules: vec![Rule::ProxyConnect {
                host: r.host.clone(),
                port: r.port.unwrap_or(443),
            }],
            ..Found::default()
        },
        DnsPublicAddress | DnsResolverMismatch | DnsNoPrivatelink | DnsFlapping => {
            let privatelink = privatelink_zone(report, r);
            let zones = catalog::zones_to_forward(report.cloud, privatelink.as_deref(), &r.host);
            let mut rules: Vec<Rule> = zones
                .into_iter()
                .map(|zone| Rule::Forward { zone })
                .collect();
            rules.extend(privatelink.map(|zone| Rule::ZoneLink { zone }));
            Found {
                rules,
                ..Found::default()
            }
        }
        StorageFirewallDenied => match &report.storage_account {
            Some(account) => Found {
                rules: vec![Rule::StorageSubnet {
                    account: account.clone(),
                }],
                ..Found::default()
            },
            None => Found::default(),
        },
        DnsNxdomain => Found {
            advice: Some(format!(
                "No rule: {} does not exist in DNS. Check the name (a typo, a deleted resource, or a private DNS zone linked to this VNet that lacks the record); no firewall change makes a missing name resolve.",
                r.host
            )),
            ..Found::default()
        },
        // Everything else is fixed at the service, the node or the resolver, in words.
        Ok | BlockedAsExpected | WsAuthRequired | DnsNoRecords | DnsTimeout | DnsServfail
        | DnsRefused | DnsPrivateMismatch | TlsUntrusted | TlsNameMismatch | TlsExpired
        | HttpStatus | HttpBadResponse | HttpTimeout | WsNotUpgraded | ProxyRefused
        // The registry's own firewall, or a transfer cut by inspection: the remediation's words.
        | RegistryFirewallDenied | TransferStalled | TransferSlow | TransferUntested
        | SmbBadReply | UnexpectedlyReachable | MissingInput | HostNotUbuntu
        | HostDockerBridge | HostRegionMismatch | NotObservable | NotApplicable | ClockSkew
        | Intermittent
        // The size of packets, not a flow to allow: the remediation's words (MSS clamping).
        | MtuBlackhole
        // Between the nodes of one job: the remediation's words, no rule toward the internet.
        | PeerNotAmlprobe | PeerAbsent | PeerWrongNode | PeerNameUnverified => {
            Found::default()
        }
    }
}

/// The application rule a name an egress firewall refused needs: that name (or the wildcard
/// a stand-in stood for), on the protocol and port the check used; nothing wider, and never a
/// network rule, which the firewall would not read for it.
fn refused(r: &Finding) -> Option<Rule> {
    let web = match r.kind.as_str() {
        "http" => Web::Http,
        _ => Web::Https,
    };
    Some(Rule::Application {
        fqdn: name(r)?,
        web,
        port: r.port?,
    })
}

fn is_timeout(reason: Reason) -> bool {
    matches!(reason, Reason::TcpTimeout | Reason::TlsTimeout)
}

/// The flow's service tag, unless it is one no rule should name.
fn tag(r: &Finding) -> Option<&str> {
    r.service_tag.as_deref().filter(|t| !too_broad(t))
}

fn management(r: &Finding) -> bool {
    tag(r).is_some_and(|t| {
        MANAGEMENT
            .iter()
            .any(|m| t == *m || t.starts_with(&format!("{m}.")))
    })
}

/// The name a rule for `r` names: the host itself, or the wildcard it only stood for.
fn name(r: &Finding) -> Option<String> {
    match (&r.stands_for, r.stand_in) {
        (Some(wildcard), true) => Some(wildcard.clone()),
        _ if r.host.is_empty() => None,
        _ => Some(r.host.clone()),
    }
}

/// The rule that lets the checked flow through: HTTP and HTTPS to a name are application
/// rules; everything else (UDP, other ports, SMB, Batch's "ANY 443") a network rule to the
/// service tag, or to the name where there is none.
fn allow(r: &Finding) -> Vec<Rule> {
    let Some(port) = r.port else {
        return Vec::new();
    };
    let batch = tag(r).is_some_and(|t| t.starts_with("BatchNodeManagement"));
    let web = match (r.udp, port, r.kind.as_str()) {
        (false, 443, "smb" | "udp") | (false, 80, "smb" | "udp") => None,
        (false, 443, _) if !batch => Some(Web::Https),
        (false, 80, _) => Some(Web::Http),
        _ => None,
    };
    match web {
        Some(web) => name(r)
            .map(|fqdn| Rule::Application { fqdn, web, port })
            .into_iter()
            .collect(),
        None => {
            let protocol = match (r.udp, batch) {
                (true, _) => Protocol::Udp,
                (false, true) => Protocol::Any,
                (false, false) => Protocol::Tcp,
            };
            // A network rule cannot take a wildcard name: without a tag, only a real host.
            let dest = match tag(r) {
                Some(t) => Some(Dest::Tag(t.to_string())),
                None if !r.stand_in && !r.host.is_empty() => Some(Dest::Fqdn(r.host.clone())),
                None => None,
            };
            dest.map(|dest| Rule::Network {
                protocol,
                port,
                dest,
            })
            .into_iter()
            .collect()
        }
    }
}

/// The routes that let management traffic past a default route through a firewall.
fn routes(report: &Findings) -> Vec<Rule> {
    let mut tags = vec!["AzureMachineLearning".to_string()];
    if let Some(region) = &report.region {
        tags.push(format!("BatchNodeManagement.{region}"));
    }
    tags.into_iter().map(|tag| Rule::Route { tag }).collect()
}

/// A node with a public address whose management traffic times out: the documents' forced
/// tunnel, a default route (0.0.0.0/0) through a firewall that drops what Batch and Azure ML
/// send back. With a public address the NSG Azure ML creates already allows that traffic.
fn suggests_forced_tunnel(report: &Findings) -> bool {
    report.mode == Mode::PublicIp
        && report
            .results
            .iter()
            .any(|r| r.status == Status::Fail && is_timeout(r.reason) && management(r))
}

/// The privatelink zone of a private-endpoint name: the zone the catalog entry names, for the
/// report's cloud.
fn privatelink_zone(report: &Findings, r: &Finding) -> Option<String> {
    let entries = catalog::load(&[]).ok()?;
    let entry = entries.iter().find(|e| e.id == r.id)?;
    entry.host_for(report.cloud)?.privatelink
}

fn no_rule_for(r: &Finding) -> String {
    format!(
        "No rule can be derived for {}: it names neither a port nor a service tag and host a rule could hold. {}",
        r.id, r.remediation
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Kind;
    use crate::context::Cloud;

    /// A failing result for a built-in entry, its templates as written.
    fn failing(e: &catalog::Entry) -> Finding {
        let stands_for = e.stands_for.as_ref().map(|t| t.to_string());
        let reason = match (e.kind, e.transport == catalog::Transport::Udp) {
            (Kind::Dns, _) => Reason::DnsPublicAddress,
            (Kind::Host, _) => Reason::NotObservable,
            (_, true) => Reason::UdpUnreachable,
            (_, false) => Reason::TcpTimeout,
        };
        Finding {
            id: e.id.clone(),
            kind: e.kind.as_str().into(),
            host: e.host.to_string(),
            port: e.port,
            udp: e.transport == catalog::Transport::Udp,
            stand_in: stands_for.is_some() && e.host.stands_in(),
            stands_for,
            service_tag: e.service_tag.clone(),
            status: Status::Fail,
            reason,
            remediation: String::new(),
            doc: String::new(),
        }
    }

    /// The guide's table: each built-in entry, the rule a failure of it gets, and where to.
    fn table() -> String {
        let mut rows = vec![
            "| entry | rule when it fails | destination |".to_string(),
            "|---|---|---|".to_string(),
        ];
        for e in catalog::load(&[]).unwrap() {
            let report = Findings {
                cloud: Cloud::Public,
                region: Some("{region}".into()),
                mode: Mode::NoPublicIp,
                storage_account: None,
                workspace_name: None,
                results: vec![failing(&e)],
            };
            let fixes = derive(&report, Names::default());
            let (rule, dest) = match fixes.changes.first().map(|c| &c.rule) {
                Some(Rule::Application { fqdn, web, port }) => (
                    format!(
                        "firewall application rule, {} {port}",
                        web.azure().to_uppercase()
                    ),
                    fqdn.clone(),
                ),
                Some(Rule::Network {
                    protocol,
                    port,
                    dest,
                }) => {
                    let nsg = match dest {
                        Dest::Tag(_) => " and NSG outbound rule",
                        Dest::Fqdn(_) => " (DNS proxy on)",
                    };
                    (
                        format!("firewall network rule{nsg}, {} {port}", protocol.azure()),
                        dest.text().to_string(),
                    )
                }
                Some(Rule::Forward { .. }) => (
                    "DNS: forwarders to 168.63.129.16, and the zone's VNet link".to_string(),
                    fixes
                        .changes
                        .iter()
                        .find_map(|c| match &c.rule {
                            Rule::ZoneLink { zone } => Some(zone.clone()),
                            _ => None,
                        })
                        .unwrap_or_else(|| "the cloud's Azure ML zones".into()),
                ),
                _ => (
                    "none: checked on the node, advice only".to_string(),
                    "".to_string(),
                ),
            };
            let dest = match dest.is_empty() {
                true => String::new(),
                false => format!("`{dest}`"),
            };
            rows.push(format!("| `{}` | {rule} | {dest} |", e.id));
        }
        rows.join("\n") + "\n"
    }

    #[test]
    fn the_guide_shows_the_rule_of_every_entry() {
        let guide = include_str!("../../GUIDE.md");
        let table = table();
        assert!(
            guide.contains(&table),
            "GUIDE.md lacks this table (paste it in):\n{table}"
        );
    }

    #[test]
    fn a_forced_tunnel_adds_routes_only_for_a_public_node_whose_management_times_out() {
        let entries = catalog::load(&[]).unwrap();
        let batch = entries.iter().find(|e| e.id == "batch-443").unwrap();
        let mut r = failing(batch);
        r.service_tag = Some("BatchNodeManagement.westeurope".into());
        let mut report = Findings {
            cloud: Cloud::Public,
            region: Some("westeurope".into()),
            mode: Mode::PublicIp,
            storage_account: None,
            workspace_name: None,
            results: vec![r.clone()],
        };
        let routes = |report: &Findings| {
            derive(report, Names::default())
                .changes
                .iter()
                .filter(|c| matches!(c.rule, Rule::Route { .. }))
                .count()
        };
        assert_eq!(routes(&report), 2);
        report.mode = Mode::NoPublicIp;
        assert_eq!(routes(&report), 0);
        report.mode = Mode::PublicIp;
        report.results[0].reason = Reason::TcpRefused;
        assert_eq!(routes(&report), 0);
    }

    #[test]
    fn no_tag_wider_than_a_service_is_ever_a_destination() {
        let entries = catalog::load(&[]).unwrap();
        let tundra = entries.iter().find(|e| e.id == "tundra-udp-5831").unwrap();
        let mut r = failing(tundra);
        r.host = "westeurope.tundra.azureml.ms".into();
        for wide in [
            "AzureCloud",
            "AzureCloud.westeurope",
            "Internet",
            "VirtualNetwork",
        ] {
            r.service_tag = Some(wide.into());
            let report = Findings {
                cloud: Cloud::Public,
                region: Some("westeurope".into()),
                mode: Mode::NoPublicIp,
                storage_account: None,
                workspace_name: None,
                results: vec![r.clone()],
            };
            let fixes = derive(&report, Names::default());
            assert_eq!(
                fixes.changes[0].rule,
                Rule::Network {
                    protocol: Protocol::Udp,
                    port: 5831,
                    dest: Dest::Fqdn("westeurope.tundra.azureml.ms".into())
                },
                "{wide}"
            );
        }
    }
}
