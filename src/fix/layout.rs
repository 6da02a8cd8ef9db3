//! What the formats of `fix` share: the resources a set of fixes comes to, each with a name
//! that is unique among its kind, and the words they print as comments. The formats then only
//! spell the same layout in their own syntax, so they cannot drift apart.

use std::collections::HashSet;

use crate::context::{Cloud, Mode};
use crate::fix::model::too_broad;
use crate::fix::model::{Change, Dest, Fixes, Protocol, Rule, Web, Why, AZURE_DNS};

/// One thing to declare or to mention, with the name it goes by and the checks behind it.
pub struct Item<'a, T> {
    /// Letters, digits and hyphens, starting with a letter; unique within its kind.
    pub name: String,
    pub why: &'a [Why],
    pub what: T,
}

/// An application rule: HTTP or HTTPS to one name.
pub struct App<'a> {
    pub fqdn: &'a str,
    pub web: Web,
    pub port: u16,
}

/// A firewall network rule.
pub struct Net<'a> {
    pub protocol: Protocol,
    pub port: u16,
    pub dest: &'a Dest,
}

/// An NSG outbound rule from the VNet to a service tag.
pub struct Nsg<'a> {
    pub protocol: Protocol,
    pub port: u16,
    pub tag: &'a str,
    pub priority: u32,
}

/// An application rule for a name that TLS inspection must leave alone.
pub struct Tls<'a> {
    pub fqdn: &'a str,
    pub port: u16,
}

/// The first NSG priority used, and the step between two rules: high enough to sit below the
/// rules a team writes by hand, low enough to come before a catch-all deny at 4000 or more.
pub const NSG_FIRST: u32 = 3000;
pub const NSG_STEP: u32 = 10;
/// The lowest priority an NSG rule can have.
const NSG_LAST: u32 = 4096;

/// Everything one set of fixes comes to, by kind, in the model's order.
#[derive(Default)]
pub struct Layout<'a> {
    pub app: Vec<Item<'a, App<'a>>>,
    pub net: Vec<Item<'a, Net<'a>>>,
    pub tls: Vec<Item<'a, Tls<'a>>>,
    pub nsg: Vec<Item<'a, Nsg<'a>>>,
    /// Service tags routed to next hop Internet.
    pub routes: Vec<Item<'a, &'a str>>,
    /// Private DNS zones to link to the VNet.
    pub links: Vec<Item<'a, &'a str>>,
    /// Storage accounts whose own firewall must let the subnet in.
    pub storage: Vec<Item<'a, &'a str>>,
    /// Zones the custom DNS server must forward to Azure DNS.
    pub forwards: Vec<Item<'a, &'a str>>,
    /// Host and port the HTTP proxy must allow CONNECT to.
    pub proxies: Vec<Item<'a, (&'a str, u16)>>,
    /// Changes left out, and why: a destination broader than any check needs, or no NSG
    /// priority left.
    pub refused: Vec<(&'a Change, &'static str)>,
}

/// Why a change whose destination is the whole Internet, or all of Azure, is not written.
const TOO_BROAD: &str = "its destination is broader than any check needs";

impl<'a> Layout<'a> {
    /// The plan for the changes to make; those only to confirm are left to [`confirm_lines`].
    pub fn new(fixes: &'a Fixes) -> Layout<'a> {
        let mut plan = Layout::default();
        // Firewall rules share one rule collection group, so their names share one namespace.
        let mut firewall = Namer::default();
        let mut nsg = Namer::default();
        let mut routes = Namer::default();
        let mut links = Namer::default();
        let mut storage = Namer::default();
        let mut other = Namer::default();
        for change in fixes.to_make() {
            let why = change.why.as_slice();
            let base = base_name(change);
            match &change.rule {
                Rule::Application { fqdn, web, port } => {
                    if too_broad(fqdn) {
                        plan.refused.push((change, TOO_BROAD));
                        continue;
                    }
                    plan.app.push(Item {
                        name: firewall.name(&base),
                        why,
                        what: App {
                            fqdn,
                            web: *web,
                            port: *port,
                        },
                    });
                }
                Rule::Network {
                    protocol,
                    port,
                    dest,
                } => {
                    if too_broad(dest.text()) {
                        plan.refused.push((change, TOO_BROAD));
                        continue;
                    }
                    plan.net.push(Item {
                        name: firewall.name(&base),
                        why,
                        what: Net {
                            protocol: *protocol,
                            port: *port,
                            dest,
                        },
                    });
                    if let Dest::Tag(tag) = dest {
                        let priority = NSG_FIRST + NSG_STEP * plan.nsg.len() as u32;
                        if priority > NSG_LAST {
                            plan.refused
                                .push((change, "its NSG rule: no NSG priority is left below 4096"));
                            continue;
                        }
                        plan.nsg.push(Item {
                            name: nsg.name(&format!("amlprobe-{base}")),
                            why,
                            what: Nsg {
                                protocol: *protocol,
                                port: *port,
                                tag,
                                priority,
                            },
                        });
                    }
                }
                Rule::Route { tag } => {
                    if too_broad(tag) {
                        plan.refused.push((change, TOO_BROAD));
                        continue;
                    }
                    plan.routes.push(Item {
                        name: routes.name(&format!("amlprobe-{tag}")),
                        why,
                        what: tag,
                    });
                }
                Rule::ZoneLink { zone } => plan.links.push(Item {
                    name: links.name(&format!("amlprobe-{zone}")),
                    why,
                    what: zone,
                }),
                Rule::NoTlsInspection { fqdn, port } => {
                    if too_broad(fqdn) {
                        plan.refused.push((change, TOO_BROAD));
                        continue;
                    }
                    plan.tls.push(Item {
                        name: firewall.name(&base),
                        why,
                        what: Tls { fqdn, port: *port },
                    });
                }
                Rule::StorageSubnet { account } => plan.storage.push(Item {
                    name: storage.name(&ident(account)),
                    why,
                    what: account,
                }),
                Rule::Forward { zone } => plan.forwards.push(Item {
                    name: other.name(&base),
                    why,
                    what: zone,
                }),
                Rule::ProxyConnect { host, port } => plan.proxies.push(Item {
                    name: other.name(&base),
                    why,
                    what: (host, *port),
                }),
            }
        }
        plan
    }

    /// Whether the firewall policy gets a rule collection group.
    pub fn firewall(&self) -> bool {
        !(self.app.is_empty() && self.net.is_empty() && self.tls.is_empty())
    }

    /// Whether anything is declared at all (rather than only described in comments).
    pub fn declares(&self) -> bool {
        self.firewall()
            || !self.nsg.is_empty()
            || !self.routes.is_empty()
            || !self.links.is_empty()
            || !self.storage.is_empty()
    }

    /// Network rules to a name, which no NSG rule can stand for.
    pub fn by_name(&self) -> impl Iterator<Item = (&Item<'a, Net<'a>>, &'a str)> {
        self.net.iter().filter_map(|item| match item.what.dest {
            Dest::Fqdn(name) => Some((item, name.as_str())),
            Dest::Tag(_) => None,
        })
    }
}

/// Hands out names unique within one kind: the base, then `base-2`, `base-3`, ….
#[derive(Default)]
struct Namer {
    seen: HashSet<String>,
}

impl Namer {
    fn name(&mut self, base: &str) -> String {
        let base = ident(base);
        let mut name = base.clone();
        let mut n = 1;
        while !self.seen.insert(name.clone()) {
            n += 1;
            name = format!("{base}-{n}");
        }
        name
    }
}

/// The name a change's resources are built from: its first check, or its kind.
fn base_name(change: &Change) -> String {
    match change.why.first() {
        Some(why) => why.check.clone(),
        None => match change.rule {
            Rule::Application { .. } => "application",
            Rule::Network { .. } => "network",
            Rule::Route { .. } => "route",
            Rule::Forward { .. } => "forward",
            Rule::ZoneLink { .. } => "zone-link",
            Rule::NoTlsInspection { .. } => "no-tls-inspection",
            Rule::StorageSubnet { .. } => "storage",
            Rule::ProxyConnect { .. } => "proxy",
        }
        .to_string(),
    }
}

/// Letters, digits and single hyphens, starting with a letter, at most 60 characters: valid
/// as an Azure rule, route or link name, and (with `_` for `-`) as a Terraform label or a
/// Bicep identifier.
pub fn ident(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.truncate(60);
    while out.ends_with('-') {
        out.pop();
    }
    match out.chars().next() {
        Some(c) if c.is_ascii_alphabetic() => out,
        Some(_) => format!("rule-{out}"),
        None => "rule".to_string(),
    }
}

/// Text made safe for a one-line comment: control characters (a newline would end the
/// comment and start code) and Unicode line breaks become spaces.
pub fn comment(text: &str) -> String {
    let line: String = text
        .chars()
        .map(|c| match c {
            c if c.is_control() => ' ',
            '\u{2028}' | '\u{2029}' => ' ',
            c => c,
        })
        .collect();
    line.trim_end().to_string()
}

/// A rule in plain words, for the list of rules to confirm.
pub fn words(rule: &Rule) -> String {
    match rule {
        Rule::Application { fqdn, web, port } => {
            format!(
                "firewall application rule: {} {port} to {fqdn}",
                web.azure()
            )
        }
        Rule::Network {
            protocol,
            port,
            dest: Dest::Tag(tag),
        } => format!(
            "firewall network rule and NSG outbound rule: {} {port} to service tag {tag}",
            protocol.azure()
        ),
        Rule::Network {
            protocol,
            port,
            dest: Dest::Fqdn(name),
        } => format!(
            "firewall network rule: {} {port} to {name} (the policy's DNS proxy on)",
            protocol.azure()
        ),
        Rule::Route { tag } => format!("route: service tag {tag} to next hop Internet"),
        Rule::Forward { zone } => {
            format!("the custom DNS server forwards {zone} to Azure DNS ({AZURE_DNS})")
        }
        Rule::ZoneLink { zone } => {
            format!("private DNS zone {zone} linked to the VNet")
        }
        Rule::NoTlsInspection { fqdn, port } => {
            format!("no TLS inspection for {fqdn} port {port}")
        }
        Rule::StorageSubnet { account } => {
            format!("storage account {account} lets the subnet in through its firewall")
        }
        Rule::ProxyConnect { host, port } => {
            format!("the HTTP proxy allows CONNECT to {host}:{port}")
        }
    }
}

/// Which cloud, region and mode the report was made in, for the first lines of a file.
pub fn context_line(fixes: &Fixes) -> String {
    let cloud = match fixes.cloud {
        Cloud::Public => "Azure public cloud",
        Cloud::Usgov => "Azure Government",
        Cloud::China => "Azure China",
    };
    let region = match &fixes.region {
        Some(region) => format!(", region {region}"),
        None => String::new(),
    };
    let mode = match fixes.mode {
        Mode::PublicIp => ", compute with a public IP",
        Mode::NoPublicIp => ", compute with no public IP",
        Mode::Auto => "",
    };
    format!("Report from the {cloud}{region}{mode}.")
}

/// The comment lines every format ends with (an empty string is a blank line): the DNS and
/// proxy changes no Azure resource holds, what was left out, the advice, and the rules only
/// to confirm.
pub fn closing_lines(fixes: &Fixes, plan: &Layout) -> Vec<String> {
    let mut lines = Vec::new();
    if !plan.forwards.is_empty() {
        lines.push(String::new());
        lines.push(
            "The custom DNS server (not an Azure resource) must forward these zones to Azure DNS,"
                .into(),
        );
        lines.push(format!(
            "{AZURE_DNS}, for the private endpoints' addresses to resolve:"
        ));
        for item in &plan.forwards {
            for why in item.why {
                lines.push(format!("  {}", why.line()));
            }
            lines.push(format!("  forward {} to {AZURE_DNS}", item.what));
        }
    }
    if !plan.proxies.is_empty() {
        lines.push(String::new());
        lines.push("The HTTP proxy (not an Azure resource) must allow CONNECT to:".into());
        for item in &plan.proxies {
            for why in item.why {
                lines.push(format!("  {}", why.line()));
            }
            let (host, port) = item.what;
            lines.push(format!("  CONNECT {host}:{port}"));
        }
    }
    if !plan.refused.is_empty() {
        lines.push(String::new());
        lines.push("Left out; make these by hand if they are really meant:".into());
        for (change, reason) in &plan.refused {
            lines.push(format!("  {} ({reason})", words(&change.rule)));
        }
    }
    if !fixes.advice.is_empty() {
        lines.push(String::new());
        lines.push("No rule fixes these:".into());
        for advice in &fixes.advice {
            lines.push(format!("  {}", advice.why.line()));
            lines.push(format!("    {}", advice.text));
        }
    }
    confirm_lines(fixes, &mut lines);
    lines
}

/// The rules only to confirm: the node could not prove them missing, so they are listed, not
/// added.
fn confirm_lines(fixes: &Fixes, lines: &mut Vec<String>) {
    let mut confirm = fixes.to_confirm().peekable();
    if confirm.peek().is_none() {
        return;
    }
    lines.push(String::new());
    lines.push(
        "Make sure these exist (the node could not tell whether they are missing, so they are"
            .into(),
    );
    lines.push("not added here):".into());
    for change in confirm {
        lines.push(format!("  {}", words(&change.rule)));
        for why in &change.why {
            lines.push(format!("    {}", why.line()));
        }
    }
}

/// Fixes for the formats' tests beyond the model's sample.
#[cfg(test)]
pub mod sample {
    use crate::fix::model::sample::every_rule;
    use crate::fix::model::{Change, Fixes, Names, Rule, Web, Why};

    /// Text that breaks any format that does not quote it: both quote characters, both
    /// template openers, a backslash and line breaks.
    pub const HOSTILE: &str = "a\"b${x}%{y}'\\\n\r";

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

    /// The sample with the hostile text as a name, as a reason, as a check and as a host.
    pub fn hostile() -> Fixes {
        let mut fixes = every_rule();
        fixes.names.firewall_policy = Some(HOSTILE.into());
        fixes.names.resource_group = Some(HOSTILE.into());
        for change in &mut fixes.changes {
            change.why.push(Why {
                check: HOSTILE.into(),
                reason: HOSTILE.into(),
                doc: HOSTILE.into(),
            });
        }
        fixes.changes.push(Change {
            rule: Rule::Application {
                fqdn: HOSTILE.into(),
                web: Web::Https,
                port: 443,
            },
            why: vec![Why {
                check: HOSTILE.into(),
                reason: HOSTILE.into(),
                doc: String::new(),
            }],
            confirm: false,
        });
        fixes.advice[0].text = HOSTILE.into();
        fixes
    }

    /// Nothing at all to change.
    pub fn empty() -> Fixes {
        let mut fixes = every_rule();
        fixes.changes.clear();
        fixes.advice.clear();
        fixes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fix::model::sample::every_rule;

    #[test]
    fn idents_are_safe_and_start_with_a_letter() {
        assert_eq!(ident("tundra-udp-5831"), "tundra-udp-5831");
        assert_eq!(ident("a\"b${x}%{y}'\n\r"), "a-b-x-y");
        assert_eq!(ident("443-only"), "rule-443-only");
        assert_eq!(ident("--"), "rule");
        assert_eq!(ident(&"x".repeat(100)).len(), 60);
    }

    #[test]
    fn names_are_unique_within_a_kind() {
        let mut namer = Namer::default();
        assert_eq!(namer.name("a"), "a");
        assert_eq!(namer.name("a"), "a-2");
        assert_eq!(namer.name("a-2"), "a-2-2");
        assert_eq!(namer.name("a"), "a-3");
    }

    #[test]
    fn broad_destinations_are_refused() {
        for d in [
            "*",
            "Internet",
            "AzureCloud",
            "AzureCloud.westeurope",
            "0.0.0.0/0",
        ] {
            assert!(too_broad(d), "{d}");
        }
        for d in [
            "AzureMachineLearning",
            "*.pythonhosted.org",
            "Storage.westeurope",
        ] {
            assert!(!too_broad(d), "{d}");
        }
    }

    #[test]
    fn comments_keep_to_one_line() {
        assert_eq!(comment("a\nb\r\u{2028}c\u{0}\n"), "a b  c");
    }

    #[test]
    fn every_rule_is_planned() {
        let fixes = every_rule();
        let plan = Layout::new(&fixes);
        assert_eq!(plan.app.len(), 3);
        assert_eq!(plan.net.len(), 3);
        assert_eq!(plan.nsg.len(), 2);
        assert_eq!(plan.nsg[0].what.priority, 3000);
        assert_eq!(plan.nsg[1].what.priority, 3010);
        assert_eq!(plan.routes.len(), 1);
        assert_eq!(plan.links.len(), 1);
        assert_eq!(plan.tls.len(), 1);
        assert_eq!(plan.storage.len(), 1);
        assert_eq!(plan.forwards.len(), 1);
        assert_eq!(plan.proxies.len(), 1);
        assert!(plan.refused.is_empty());
        assert_eq!(plan.by_name().count(), 1);
        // The NSG rule for batch-443 is named for its check, the route for its tag.
        assert_eq!(plan.nsg[1].name, "amlprobe-batch-443");
        assert_eq!(
            plan.routes[0].name,
            "amlprobe-BatchNodeManagement-westeurope"
        );
    }
}
