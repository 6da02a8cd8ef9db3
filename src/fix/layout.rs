//! The one layout every format of `fix` writes: the Azure objects a set of fixes comes to, each
//! with its name, collection and priority, the values a file takes as its inputs, the words a
//! rule is described in, the notes beside the rules, and the lines every format ends with. The
//! formats only spell this layout in their own syntax, so a team that runs the script and
//! later adopts Terraform or Bicep finds the same group, collections and rules, not a second
//! copy under other names.

use std::collections::HashSet;

use crate::context::{Cloud, Mode};
use crate::fix::model::too_broad;
use crate::fix::model::{Change, Dest, Fixes, Names, Protocol, Rule, Web, Why};
use crate::net::AZURE_DNS;
use crate::report::text::printable;

/// What the name of every object the layout adds on its own (NSG rules, routes, links,
/// collections) starts with, so that they are easy to find among a team's own.
pub const PREFIX: &str = "amlprobe";

/// The rule collection group that holds every firewall rule, and its priority: after the
/// groups a platform team usually keeps for its own rules (100–200), before catch-all groups.
pub const GROUP: &str = "amlprobe-fix";
pub const GROUP_PRIORITY: u32 = 300;

/// The first NSG priority used, and the step between two rules: high enough to sit below the
/// rules a team writes by hand, low enough to come before a catch-all deny at 4000 or more.
pub const NSG_FIRST: u32 = 3000;
pub const NSG_STEP: u32 = 10;
/// The lowest priority an NSG rule can have.
const NSG_LAST: u32 = 4096;

/// The filter rule collections of the group, in the order they are matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collection {
    Network,
    NoTlsInspection,
    Application,
}

impl Collection {
    pub const ALL: [Collection; 3] = [
        Collection::Network,
        Collection::NoTlsInspection,
        Collection::Application,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Collection::Network => "amlprobe-network",
            Collection::NoTlsInspection => "amlprobe-no-tls-inspection",
            Collection::Application => "amlprobe-application",
        }
    }

    /// Network rules first; then the names TLS inspection must leave alone, before the
    /// application rules that would otherwise match them; then application rules.
    pub fn priority(self) -> u32 {
        match self {
            Collection::Network => 100,
            Collection::NoTlsInspection => 150,
            Collection::Application => 200,
        }
    }

    /// The kind of rule it holds, as Azure names it.
    pub fn rule_type(self) -> &'static str {
        match self {
            Collection::Network => "NetworkRule",
            Collection::NoTlsInspection | Collection::Application => "ApplicationRule",
        }
    }

    /// The lines said above the collection.
    pub fn note(self) -> &'static [&'static str] {
        match self {
            Collection::NoTlsInspection => &[
                "Names TLS inspection must leave alone. Inspection is a Premium policy's: on a",
                "Premium policy these rules keep it off, as long as no group matched earlier (a",
                "lower priority number) inspects them. Another appliance than Azure Firewall:",
                "add these names to its TLS inspection bypass list.",
            ],
            Collection::Network | Collection::Application => &[],
        }
    }
}

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

/// The rules of one collection.
pub enum Rules<'l, 'a> {
    Network(&'l [Item<'a, Net<'a>>]),
    Application(&'l [Item<'a, App<'a>>]),
}

/// Everything one set of fixes comes to, by kind, in the model's order.
#[derive(Default)]
pub struct Layout<'a> {
    pub app: Vec<Item<'a, App<'a>>>,
    pub net: Vec<Item<'a, Net<'a>>>,
    /// HTTPS application rules for the names TLS inspection must leave alone.
    pub tls: Vec<Item<'a, App<'a>>>,
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
/// Why a network rule to a service tag goes without its NSG rule.
pub const NO_NSG_PRIORITY: &str = "its NSG rule: no NSG priority is left below 4096";

/// One namer for each namespace: firewall rules share one rule collection group, so their
/// names share one namespace; NSG rules, routes, links and storage accounts each have theirs.
#[derive(Default)]
struct Namers {
    firewall: Namer,
    nsg: Namer,
    routes: Namer,
    links: Namer,
    storage: Namer,
    other: Namer,
}

impl<'a> Layout<'a> {
    /// The layout of the changes to make; those only to confirm are left to
    /// [`closing_lines`].
    pub fn new(fixes: &'a Fixes) -> Layout<'a> {
        let mut layout = Layout::default();
        let mut namers = Namers::default();
        for change in fixes.to_make() {
            layout.place(change, &mut namers);
        }
        layout
    }

    fn place(&mut self, change: &'a Change, namers: &mut Namers) {
        if destination(&change.rule).is_some_and(too_broad) {
            self.refused.push((change, TOO_BROAD));
            return;
        }
        let why = change.why.as_slice();
        let base = base_name(change);
        match &change.rule {
            Rule::Application { fqdn, web, port } => self.app.push(Item {
                name: namers.firewall.name(&base),
                why,
                what: App {
                    fqdn,
                    web: *web,
                    port: *port,
                },
            }),
            Rule::Network {
                protocol,
                port,
                dest,
            } => self.network(change, namers, &base, *protocol, *port, dest),
            Rule::Route { tag } => self.routes.push(Item {
                name: namers.routes.name(&format!("{PREFIX}-{tag}")),
                why,
                what: tag,
            }),
            Rule::ZoneLink { zone } => self.links.push(Item {
                name: namers.links.name(&format!("{PREFIX}-{zone}")),
                why,
                what: zone,
            }),
            Rule::NoTlsInspection { fqdn, port } => self.tls.push(Item {
                name: namers.firewall.name(&base),
                why,
                what: App {
                    fqdn,
                    web: Web::Https,
                    port: *port,
                },
            }),
            Rule::StorageSubnet { account } => self.storage.push(Item {
                name: namers.storage.name(&ident(account)),
                why,
                what: account,
            }),
            Rule::Forward { zone } => self.forwards.push(Item {
                name: namers.other.name(&base),
                why,
                what: zone,
            }),
            Rule::ProxyConnect { host, port } => self.proxies.push(Item {
                name: namers.other.name(&base),
                why,
                what: (host, *port),
            }),
        }
    }

    /// A firewall network rule; to a service tag, also an NSG rule, while priorities last.
    fn network(
        &mut self,
        change: &'a Change,
        namers: &mut Namers,
        base: &str,
        protocol: Protocol,
        port: u16,
        dest: &'a Dest,
    ) {
        let why = change.why.as_slice();
        self.net.push(Item {
            name: namers.firewall.name(base),
            why,
            what: Net {
                protocol,
                port,
                dest,
            },
        });
        let Dest::Tag(tag) = dest else { return };
        let priority = NSG_FIRST + NSG_STEP * self.nsg.len() as u32;
        if priority > NSG_LAST {
            self.refused.push((change, NO_NSG_PRIORITY));
            return;
        }
        self.nsg.push(Item {
            name: namers.nsg.name(&format!("{PREFIX}-{base}")),
            why,
            what: Nsg {
                protocol,
                port,
                tag,
                priority,
            },
        });
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

    /// The group's collections that hold rules, in the order they are matched.
    pub fn collections(&self) -> Vec<(Collection, Rules<'_, 'a>)> {
        let mut collections = Vec::new();
        for collection in Collection::ALL {
            let rules = match collection {
                Collection::Network if !self.net.is_empty() => Rules::Network(&self.net),
                Collection::NoTlsInspection if !self.tls.is_empty() => {
                    Rules::Application(&self.tls)
                }
                Collection::Application if !self.app.is_empty() => Rules::Application(&self.app),
                _ => continue,
            };
            collections.push((collection, rules));
        }
        collections
    }

    /// Network rules to a name, which no NSG rule can stand for.
    pub fn by_name(&self) -> impl Iterator<Item = (&Item<'a, Net<'a>>, &'a str)> {
        self.net.iter().filter_map(|item| match item.what.dest {
            Dest::Fqdn(name) => Some((item, name.as_str())),
            Dest::Tag(_) => None,
        })
    }

    /// The values the objects of this layout are found and set by, in the order a file
    /// declares them: Terraform's variables by these names, Bicep's parameters in camelCase,
    /// the script's shell variables in capitals.
    pub fn inputs(&self, names: &Names) -> Vec<Input> {
        use Role::{Common, Resource};
        let mut inputs = vec![Input::text(
            "resource_group_name",
            "The resource group of the resources below, unless its own variable names another.",
            names.resource_group(),
            Common,
        )];
        if self.firewall() {
            inputs.extend([
                Input::text(
                    "firewall_policy_name",
                    "The firewall policy that gets the rule collection group.",
                    names.firewall_policy(),
                    Resource,
                ),
                Input::elsewhere(
                    "firewall_policy_resource_group_name",
                    "The firewall policy's resource group, where it is not resource_group_name.",
                ),
                Input::text(
                    "rule_collection_group_name",
                    "A rule collection group of the policy's that does not exist yet.",
                    GROUP.into(),
                    Resource,
                ),
                Input {
                    name: "rule_collection_group_priority",
                    description: "Its priority (100-65000): lower numbers are matched first.",
                    value: Value::Number(GROUP_PRIORITY),
                    role: Resource,
                },
                Input {
                    name: "source_addresses",
                    description:
                        "The address ranges of the compute subnet, as the firewall sees them.",
                    value: Value::List(names.source_range()),
                    role: Resource,
                },
            ]);
        }
        if !self.nsg.is_empty() {
            inputs.extend([
                Input::text(
                    "nsg_name",
                    "The network security group of the compute subnet.",
                    names.nsg(),
                    Resource,
                ),
                Input::elsewhere(
                    "nsg_resource_group_name",
                    "The NSG's resource group, where it is not resource_group_name.",
                ),
            ]);
        }
        if !self.routes.is_empty() {
            inputs.extend([
                Input::text(
                    "route_table_name",
                    "The route table of the compute subnet.",
                    names.route_table(),
                    Resource,
                ),
                Input::elsewhere(
                    "route_table_resource_group_name",
                    "The route table's resource group, where it is not resource_group_name.",
                ),
            ]);
        }
        self.network_inputs(names, &mut inputs);
        inputs
    }

    /// The VNet, the subnet and the groups of what they hold: the VNet for zone links and
    /// the storage accounts' rules, the subnet for the latter alone.
    fn network_inputs(&self, names: &Names, inputs: &mut Vec<Input>) {
        use Role::{Resource, Storage};
        let (links, storage) = (!self.links.is_empty(), !self.storage.is_empty());
        if links || storage {
            inputs.extend([
                Input::text(
                    "vnet_name",
                    "The virtual network of the compute subnet.",
                    names.vnet(),
                    if links { Resource } else { Storage },
                ),
                Input::elsewhere(
                    "vnet_resource_group_name",
                    "The virtual network's resource group, where it is not resource_group_name.",
                ),
            ]);
        }
        if links {
            inputs.push(Input::elsewhere(
                "private_dns_zone_resource_group_name",
                "The private DNS zones' resource group, where it is not resource_group_name.",
            ));
        }
        if storage {
            inputs.extend([
                Input::text(
                    "subnet_name",
                    "The compute subnet.",
                    names.subnet(),
                    Storage,
                ),
                Input::elsewhere(
                    "storage_account_resource_group_name",
                    "The storage accounts' resource group, where it is not resource_group_name.",
                ),
            ]);
        }
    }
}

/// A value a file takes from whoever runs it, with its default.
pub struct Input {
    /// In snake case, as Terraform names it.
    pub name: &'static str,
    pub description: &'static str,
    pub value: Value,
    pub role: Role,
}

pub enum Value {
    Text(String),
    Number(u32),
    /// A list of one string.
    List(String),
    /// None: the common resource group stands for it.
    Null,
}

/// What an input is for, so that each format leaves out what it has no use for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The resource group of every resource that does not name its own.
    Common,
    /// A resource that is declared or changed, or a setting of one.
    Resource,
    /// The resource group of one kind of resource, where it is not the common one.
    Elsewhere,
    /// What only the storage accounts' rules need, which the declaring formats leave in
    /// comments.
    Storage,
}

impl Input {
    fn text(name: &'static str, description: &'static str, value: String, role: Role) -> Input {
        Input {
            name,
            description,
            value: Value::Text(value),
            role,
        }
    }

    fn elsewhere(name: &'static str, description: &'static str) -> Input {
        Input {
            name,
            description,
            value: Value::Null,
            role: Role::Elsewhere,
        }
    }
}

/// The part of a rule that must not be broader than any check needs, for the rules that
/// open a flow to somewhere.
fn destination(rule: &Rule) -> Option<&str> {
    match rule {
        Rule::Application { fqdn, .. } | Rule::NoTlsInspection { fqdn, .. } => Some(fqdn),
        Rule::Network { dest, .. } => Some(dest.text()),
        Rule::Route { tag } => Some(tag),
        Rule::Forward { .. }
        | Rule::ZoneLink { .. }
        | Rule::StorageSubnet { .. }
        | Rule::ProxyConnect { .. } => None,
    }
}

/// Hands out names unique within one kind: the base, then `base-2`, `base-3`, ….
#[derive(Default)]
pub struct Namer {
    seen: HashSet<String>,
}

impl Namer {
    pub fn name(&mut self, base: &str) -> String {
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

/// The name a change's objects are built from: its first check, or its kind.
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

/// Text made safe for a one-line comment in any format: a newline would end the comment and
/// start code, and an invisible character could hide what the line says, so every character
/// that does not print as itself is written as a visible `\u{…}` escape.
pub fn comment(text: &str) -> String {
    printable(text).trim_end().to_string()
}

/// A rule in plain words, for the lists of rules to confirm and of rules left out.
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

/// The first line of every format: what it is.
pub fn title(format: &str) -> String {
    format!("amlprobe fix: the rules that make the report's checks pass, as {format}.")
}

/// The cloud as Azure calls it.
pub fn cloud_name(cloud: Cloud) -> &'static str {
    match cloud {
        Cloud::Public => "Azure public cloud",
        Cloud::Usgov => "Azure Government",
        Cloud::China => "Azure China",
    }
}

/// Which cloud, region and mode the report was made in, for the first lines of a file.
pub fn context_line(fixes: &Fixes) -> String {
    let cloud = cloud_name(fixes.cloud);
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

/// What every format says when the report calls for no change.
pub const NOTHING_TO_CHANGE: &str =
    "Nothing to change: no rule is missing from the firewall, NSG, routes or DNS.";

/// What a format says instead of its objects when it has none: nothing to change at all, or
/// only changes outside Azure (which [`closing_lines`] lists). `None` when there are objects.
pub fn nothing(fixes: &Fixes, layout: &Layout) -> Option<&'static str> {
    if fixes.to_make().next().is_none() {
        Some(NOTHING_TO_CHANGE)
    } else if !layout.declares() {
        Some("Nothing to declare in Azure: the changes below are made outside it.")
    } else {
        None
    }
}

/// Above the rule collection group.
pub const GROUP_NOTE: [&str; 2] = [
    "One rule collection group for all the rules below. Network rules are matched before",
    "application rules.",
];

/// Above the NSG rules.
pub fn nsg_note() -> String {
    format!(
        "Outbound rules from the VNet, priorities from {NSG_FIRST} up: before a catch-all deny."
    )
}

/// Above the routes.
pub const ROUTES_NOTE: &str =
    "These service tags go straight out, past the default route through the firewall.";

/// Beside a network rule to a name: the firewall resolves it only with its DNS proxy on,
/// which `setting` of `resource` turns on.
pub fn dns_proxy_note(resource: &str, setting: &str) -> [String; 2] {
    [
        format!("A name in a network rule needs the policy's DNS proxy on ({resource}:"),
        format!("{setting}), or the firewall cannot resolve it."),
    ]
}

/// Where an NSG rule would go for a network rule to a name.
pub fn by_name_note(name: &str, port: u16) -> [String; 3] {
    [
        format!("No NSG rule for {name} port {port}:"),
        "an NSG cannot filter by name, only by address or service tag. Where the NSG denies".into(),
        "outbound traffic, allow that port to the name's addresses by hand.".into(),
    ]
}

/// Beside a storage account's rule: the two ways to let the subnet in.
pub fn storage_note(account: &str) -> [String; 4] {
    [
        format!("The storage account {account} must let the compute subnet in through its own"),
        "firewall, and the subnet needs the Microsoft.Storage service endpoint (added to the"
            .into(),
        "endpoints it has). Or reach the account through a private endpoint instead, with its"
            .into(),
        "privatelink zones linked to the VNet.".into(),
    ]
}

/// The Azure CLI command that adds one storage account rule and keeps the others, for the
/// formats that leave the account's rules in comments.
pub fn storage_command(names: &Names, account: &str) -> String {
    format!(
        "  az storage account network-rule add --resource-group {} --account-name {account} --vnet-name {} --subnet {}",
        names.resource_group(),
        names.vnet(),
        names.subnet()
    )
}

/// The comment lines every format that targets the user's own VNet ends with (an empty string
/// is a blank line): the DNS and proxy changes no Azure resource holds, then [`trailer`].
pub fn closing_lines(fixes: &Fixes, layout: &Layout) -> Vec<String> {
    let mut lines = Vec::new();
    if !layout.forwards.is_empty() {
        lines.push(String::new());
        lines.push(
            "The custom DNS server (not an Azure resource) must forward these zones to Azure DNS,"
                .into(),
        );
        lines.push(format!(
            "{AZURE_DNS}, for the private endpoints' addresses to resolve:"
        ));
        for item in &layout.forwards {
            for why in item.why {
                lines.push(format!("  {}", why.line()));
            }
            lines.push(format!("  forward {} to {AZURE_DNS}", item.what));
        }
    }
    if !layout.proxies.is_empty() {
        lines.push(String::new());
        lines.push("The HTTP proxy (not an Azure resource) must allow CONNECT to:".into());
        for item in &layout.proxies {
            for why in item.why {
                lines.push(format!("  {}", why.line()));
            }
            let (host, port) = item.what;
            lines.push(format!("  CONNECT {host}:{port}"));
        }
    }
    trailer(fixes, &layout.refused, &mut lines);
    lines
}

/// What every format ends with: the changes left out, the advice no rule stands for, and the
/// rules only to confirm (the node could not prove them missing, so they are listed, not
/// added).
pub fn trailer(fixes: &Fixes, refused: &[(&Change, &str)], lines: &mut Vec<String>) {
    if !refused.is_empty() {
        lines.push(String::new());
        lines.push("Left out; make these by hand if they are really meant:".into());
        for (change, reason) in refused {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fix::sample::every_rule;

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
        // Names from any text are valid Azure names, well under 80 characters, the number
        // that makes one unique included.
        assert_eq!(namer.name("Odd id_with.dots"), "Odd-id-with-dots");
        let long = [namer.name(&"x".repeat(300)), namer.name(&"x".repeat(300))];
        assert_eq!(long[1], format!("{}-2", "x".repeat(60)));
        for name in long {
            assert!(name.len() < 80, "{name}");
            assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        }
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
    fn comments_keep_to_one_line_and_show_what_hides() {
        assert_eq!(
            comment("a\nb\r\u{2028}c\u{0}\u{202e}d \n"),
            "a\\u{a}b\\u{d}\\u{2028}c\\u{0}\\u{202e}d \\u{a}"
        );
        assert_eq!(comment("a  "), "a");
    }

    #[test]
    fn every_rule_is_laid_out() {
        let fixes = every_rule();
        let layout = Layout::new(&fixes);
        assert_eq!(layout.app.len(), 3);
        assert_eq!(layout.net.len(), 3);
        assert_eq!(layout.nsg.len(), 2);
        assert_eq!(layout.nsg[0].what.priority, 3000);
        assert_eq!(layout.nsg[1].what.priority, 3010);
        assert_eq!(layout.routes.len(), 1);
        assert_eq!(layout.links.len(), 1);
        assert_eq!(layout.tls.len(), 1);
        assert_eq!(layout.storage.len(), 1);
        assert_eq!(layout.forwards.len(), 1);
        assert_eq!(layout.proxies.len(), 1);
        assert!(layout.refused.is_empty());
        assert_eq!(layout.by_name().count(), 1);
        // The NSG rule for batch-443 is named for its check, the route for its tag.
        assert_eq!(layout.nsg[1].name, "amlprobe-batch-443");
        assert_eq!(
            layout.routes[0].name,
            "amlprobe-BatchNodeManagement-westeurope"
        );
        let collections: Vec<Collection> = layout.collections().iter().map(|c| c.0).collect();
        assert_eq!(collections, Collection::ALL);
    }

    #[test]
    fn nsg_rules_stop_where_priorities_end() {
        let mut fixes = every_rule();
        let template = fixes.changes[3].clone();
        fixes.changes = (0..120)
            .map(|port| {
                let mut change = template.clone();
                if let Rule::Network { port: p, .. } = &mut change.rule {
                    *p = port;
                }
                change
            })
            .collect();
        let layout = Layout::new(&fixes);
        assert_eq!(layout.net.len(), 120);
        assert_eq!(layout.nsg.len(), 110);
        assert_eq!(layout.nsg.last().unwrap().what.priority, 4090);
        assert_eq!(layout.refused.len(), 10);
        assert!(layout.refused.iter().all(|r| r.1 == NO_NSG_PRIORITY));
    }
}
