//! `fix --format bicep`: a Bicep file, deployed into a resource group, that adds the missing
//! rules to a firewall policy, an NSG, a route table and private DNS zones that already exist.
//! It refers to them as `existing` resources by name and creates none of them, so a what-if
//! shows only additions. Names not given are `REPLACE-` placeholders in the parameters'
//! defaults, which no Azure resource can be called, so nothing runs against the wrong one.

use std::fmt::Write as _;

use crate::fix::layout::{self, comment, ident, Collection, Item, Layout, Role, Rules, Value};
use crate::fix::model::{Dest, Fixes, Why};
use crate::report::text::hidden;

/// The API version of the Microsoft.Network types used (firewall policies, NSGs, route
/// tables, virtual networks).
const NETWORK_API: &str = "2024-05-01";
/// The API version of the private DNS zone types.
const PRIVATE_DNS_API: &str = "2024-06-01";

/// The Bicep text for a set of fixes: the changes to make as resources, and everything else
/// (a storage account's rules among them) as comments. With nothing to make, only comments.
pub fn render(fixes: &Fixes) -> String {
    let layout = Layout::new(fixes);
    let mut w = Writer::default();
    w.comment(&layout::title("Bicep"));
    w.comment(&layout::context_line(fixes));
    match layout::nothing(fixes, &layout) {
        Some(nothing) => w.comment(nothing),
        None => {
            header(&mut w, fixes);
            params(&mut w, fixes, &layout);
            firewall(&mut w, &layout);
            nsg(&mut w, &layout);
            routes(&mut w, &layout);
            links(&mut w, &layout);
            storage(&mut w, fixes, &layout);
        }
    }
    for text in layout::closing_lines(fixes, &layout) {
        match text.is_empty() {
            true => w.blank(),
            false => w.comment(&text),
        }
    }
    w.out
}

fn header(w: &mut Writer, fixes: &Fixes) {
    w.comment("");
    w.comment(
        "Deploy into the resource group that holds the firewall policy, NSG, route table and",
    );
    w.comment("private DNS zones below:");
    w.comment(&format!(
        "  az deployment group create --resource-group {} --template-file fix.bicep",
        fixes.names.resource_group()
    ));
    w.comment("It adds rules to resources that exist and creates none of them. Values starting");
    w.comment("REPLACE- are placeholders: set those parameters (--parameters NAME=VALUE) first.");
    w.comment(
        "Where the resources are in different resource groups, deploy once into each, keeping",
    );
    w.comment("the part for that group.");
    w.blank();
    w.line("targetScope = 'resourceGroup'");
}

/// The layout's inputs for what is declared, as parameters. A deployment goes into one
/// resource group, which holds the resources; only the VNet a zone link points to may be in
/// another, so it alone has a resource group parameter.
fn params(w: &mut Writer, fixes: &Fixes, layout: &Layout) {
    for input in layout.inputs(&fixes.names) {
        if input.role != Role::Resource {
            continue;
        }
        let (kind, default) = match &input.value {
            Value::Text(text) => ("string", quote(text)),
            Value::Number(n) => ("int", n.to_string()),
            Value::List(item) => ("array", format!("[\n  {}\n]", quote(item))),
            Value::Null => continue,
        };
        w.param(&camel(input.name), input.description, kind, &default);
    }
    if !layout.links.is_empty() {
        w.param(
            "vnetResourceGroupName",
            "The virtual network's resource group.",
            "string",
            &quote(&fixes.names.resource_group()),
        );
    }
}

/// A Terraform variable's name as a Bicep parameter's: `rule_collection_group_name` is
/// `ruleCollectionGroupName`.
fn camel(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        match c {
            '_' => upper = true,
            c if upper => {
                out.push(c.to_ascii_uppercase());
                upper = false;
            }
            c => out.push(c),
        }
    }
    out
}

fn firewall(w: &mut Writer, layout: &Layout) {
    if !layout.firewall() {
        return;
    }
    w.blank();
    w.open(&format!(
        "resource firewallPolicy 'Microsoft.Network/firewallPolicies@{NETWORK_API}' existing = {{"
    ));
    w.line("name: firewallPolicyName");
    w.close("}");
    w.blank();
    for note in layout::GROUP_NOTE {
        w.comment(note);
    }
    w.open(&format!(
        "resource ruleCollectionGroup 'Microsoft.Network/firewallPolicies/ruleCollectionGroups@{NETWORK_API}' = {{"
    ));
    w.line("parent: firewallPolicy");
    w.line("name: ruleCollectionGroupName");
    w.open("properties: {");
    w.line("priority: ruleCollectionGroupPriority");
    w.open("ruleCollections: [");
    for (collection, rules) in layout.collections() {
        for note in collection.note() {
            w.comment(note);
        }
        w.collection(collection);
        match rules {
            Rules::Network(items) => items.iter().for_each(|item| network_rule(w, item)),
            Rules::Application(items) => items.iter().for_each(|item| {
                application_rule(w, item, collection == Collection::NoTlsInspection)
            }),
        }
        w.close("]");
        w.close("}");
    }
    w.close("]");
    w.close("}");
    w.close("}");
}

fn network_rule(w: &mut Writer, item: &Item<layout::Net>) {
    let net = &item.what;
    w.whys(item.why);
    let (key, value) = match net.dest {
        Dest::Tag(tag) => ("destinationAddresses", tag),
        Dest::Fqdn(name) => {
            let note = layout::dns_proxy_note(
                "firewallPolicies",
                "properties.dnsSettings.enableProxy: true",
            );
            note.iter().for_each(|text| w.comment(text));
            ("destinationFqdns", name)
        }
    };
    w.open("{");
    w.kv("ruleType", &quote(Collection::Network.rule_type()));
    w.kv("name", &quote(&item.name));
    w.list("ipProtocols", &[net.protocol.azure()]);
    w.line("sourceAddresses: sourceAddresses");
    w.list(key, &[value]);
    w.list("destinationPorts", &[&net.port.to_string()]);
    w.close("}");
}

fn application_rule(w: &mut Writer, item: &Item<layout::App>, no_tls: bool) {
    let app = &item.what;
    w.whys(item.why);
    w.open("{");
    w.kv("ruleType", &quote(Collection::Application.rule_type()));
    w.kv("name", &quote(&item.name));
    w.open("protocols: [");
    w.open("{");
    w.kv("protocolType", &quote(app.web.azure()));
    w.kv("port", &app.port.to_string());
    w.close("}");
    w.close("]");
    w.line("sourceAddresses: sourceAddresses");
    w.list("targetFqdns", &[app.fqdn]);
    if no_tls {
        w.line("terminateTLS: false");
    }
    w.close("}");
}

/// A Bicep identifier from a name: letters, digits and underscores, after a kind prefix.
fn symbol(kind: &str, name: &str) -> String {
    format!("{kind}_{}", name.replace('-', "_"))
}

fn nsg(w: &mut Writer, layout: &Layout) {
    if !layout.nsg.is_empty() {
        w.blank();
        w.open(&format!(
            "resource nsg 'Microsoft.Network/networkSecurityGroups@{NETWORK_API}' existing = {{"
        ));
        w.line("name: nsgName");
        w.close("}");
        w.blank();
        w.comment(&layout::nsg_note());
        w.comment("Each waits for the one before, as an NSG takes one change at a time.");
    }
    let mut previous: Option<String> = None;
    for item in &layout.nsg {
        let rule = &item.what;
        let name = symbol("nsgRule", &item.name);
        w.blank();
        w.whys(item.why);
        w.open(&format!(
            "resource {name} 'Microsoft.Network/networkSecurityGroups/securityRules@{NETWORK_API}' = {{"
        ));
        w.line("parent: nsg");
        w.kv("name", &quote(&item.name));
        w.open("properties: {");
        w.kv("priority", &rule.priority.to_string());
        w.line("direction: 'Outbound'");
        w.line("access: 'Allow'");
        w.kv("protocol", &quote(rule.protocol.nsg()));
        w.line("sourceAddressPrefix: 'VirtualNetwork'");
        w.line("sourcePortRange: '*'");
        w.kv("destinationAddressPrefix", &quote(rule.tag));
        w.kv("destinationPortRange", &quote(&rule.port.to_string()));
        w.close("}");
        w.depends_on(previous.as_deref());
        w.close("}");
        previous = Some(name);
    }
    let mut by_name = layout.by_name().peekable();
    if by_name.peek().is_some() {
        w.blank();
    }
    for (item, name) in by_name {
        for text in layout::by_name_note(name, item.what.port) {
            w.comment(&text);
        }
    }
}

fn routes(w: &mut Writer, layout: &Layout) {
    if layout.routes.is_empty() {
        return;
    }
    w.blank();
    w.open(&format!(
        "resource routeTable 'Microsoft.Network/routeTables@{NETWORK_API}' existing = {{"
    ));
    w.line("name: routeTableName");
    w.close("}");
    w.blank();
    w.comment(layout::ROUTES_NOTE);
    let mut previous: Option<String> = None;
    for item in &layout.routes {
        let name = symbol("route", &item.name);
        w.blank();
        w.whys(item.why);
        w.open(&format!(
            "resource {name} 'Microsoft.Network/routeTables/routes@{NETWORK_API}' = {{"
        ));
        w.line("parent: routeTable");
        w.kv("name", &quote(&item.name));
        w.open("properties: {");
        w.kv("addressPrefix", &quote(item.what));
        w.line("nextHopType: 'Internet'");
        w.close("}");
        w.depends_on(previous.as_deref());
        w.close("}");
        previous = Some(name);
    }
}

fn links(w: &mut Writer, layout: &Layout) {
    if layout.links.is_empty() {
        return;
    }
    w.blank();
    w.open(&format!(
        "resource vnet 'Microsoft.Network/virtualNetworks@{NETWORK_API}' existing = {{"
    ));
    w.line("name: vnetName");
    w.line("scope: resourceGroup(vnetResourceGroupName)");
    w.close("}");
    for item in &layout.links {
        let zone = symbol("zone", &ident(item.what));
        w.blank();
        w.open(&format!(
            "resource {zone} 'Microsoft.Network/privateDnsZones@{PRIVATE_DNS_API}' existing = {{"
        ));
        w.kv("name", &quote(item.what));
        w.close("}");
        w.blank();
        w.whys(item.why);
        w.open(&format!(
            "resource {} 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@{PRIVATE_DNS_API}' = {{",
            symbol("link", &item.name)
        ));
        w.line(&format!("parent: {zone}"));
        w.kv("name", &quote(&item.name));
        w.line("location: 'global'");
        w.open("properties: {");
        w.line("registrationEnabled: false");
        w.open("virtualNetwork: {");
        w.line("id: vnet.id");
        w.close("}");
        w.close("}");
        w.close("}");
    }
}

/// The storage accounts' network rules, as comments: in a template they are the account's
/// `networkAcls`, which a deployment writes whole, so declaring them here would take the
/// account's every other setting with them. The Azure CLI adds the one rule and keeps the
/// others.
fn storage(w: &mut Writer, fixes: &Fixes, layout: &Layout) {
    for item in &layout.storage {
        let account = item.what;
        w.blank();
        w.whys(item.why);
        for text in layout::storage_note(account) {
            w.comment(&text);
        }
        for text in [
            "Not declared: the rule belongs to the account's properties.networkAcls, which a",
            "deployment writes whole, with the rest of the account. Where the account is declared",
            "in a template, add the subnet to networkAcls.virtualNetworkRules there. Otherwise the",
            "Azure CLI adds the one rule and keeps the others:",
            &layout::storage_command(&fixes.names, account),
        ] {
            w.comment(text);
        }
    }
}

/// Bicep text at two spaces a level, every comment kept to one line.
#[derive(Default)]
struct Writer {
    out: String,
    depth: usize,
}

impl Writer {
    fn line(&mut self, text: &str) {
        let _ = writeln!(self.out, "{:width$}{text}", "", width = self.depth * 2);
    }

    fn blank(&mut self) {
        self.out.push('\n');
    }

    fn comment(&mut self, text: &str) {
        match text.is_empty() {
            true => self.line("//"),
            false => self.line(&format!("// {}", comment(text))),
        }
    }

    fn whys(&mut self, why: &[Why]) {
        for why in why {
            self.comment(&why.line());
        }
    }

    /// A line that opens a brace or bracket; what follows is one level deeper.
    fn open(&mut self, text: &str) {
        self.line(text);
        self.depth += 1;
    }

    fn close(&mut self, text: &str) {
        self.depth -= 1;
        self.line(text);
    }

    fn kv(&mut self, key: &str, value: &str) {
        self.line(&format!("{key}: {value}"));
    }

    /// An array of strings, one a line (valid in every Bicep version).
    fn list(&mut self, key: &str, values: &[&str]) {
        self.open(&format!("{key}: ["));
        for value in values {
            self.line(&quote(value));
        }
        self.close("]");
    }

    /// A parameter with its description and default (a default of several lines is indented
    /// by its own lines).
    fn param(&mut self, name: &str, description: &str, kind: &str, default: &str) {
        self.blank();
        self.line(&format!("@description({})", quote(description)));
        self.line(&format!("param {name} {kind} = {default}"));
    }

    fn collection(&mut self, collection: Collection) {
        self.open("{");
        self.line("ruleCollectionType: 'FirewallPolicyFilterRuleCollection'");
        self.kv("name", &quote(collection.name()));
        self.kv("priority", &collection.priority().to_string());
        self.open("action: {");
        self.line("type: 'Allow'");
        self.close("}");
        self.open("rules: [");
    }

    fn depends_on(&mut self, previous: Option<&str>) {
        if let Some(previous) = previous {
            self.open("dependsOn: [");
            self.line(previous);
            self.close("]");
        }
    }
}

/// A Bicep string literal: single quotes and backslashes escaped, `${` escaped so no value
/// starts an interpolation, line breaks and other control characters as escapes.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' if chars.peek() == Some(&'{') => out.push_str("\\$"),
            // Every character the az script and the comments escape: a bidirectional override
            // or a byte-order mark would otherwise sit raw in the file, hiding or reordering text.
            c if hidden(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
pub(super) mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::fix::render::conformance::{Format, Uses};
    use crate::fix::sample::{every_rule, named, HOSTILE};

    /// The string literals of a Bicep file, unescaped, once every literal is found well formed
    /// (closed on its line, known escapes only, no interpolation: this format writes none) and
    /// every brace, bracket and parenthesis outside strings and comments closes in order.
    fn scan(text: &str) -> Result<Vec<String>, String> {
        let chars: Vec<char> = text.chars().collect();
        let at = |i: usize| chars.get(i).copied();
        let mut stack = Vec::new();
        let mut strings = Vec::new();
        let mut i = 0;
        while let Some(c) = at(i) {
            match c {
                '/' if at(i + 1) == Some('/') => {
                    while at(i).is_some_and(|c| c != '\n') {
                        i += 1;
                    }
                }
                '/' if at(i + 1) == Some('*') => {
                    i += 2;
                    while !(at(i) == Some('*') && at(i + 1) == Some('/')) {
                        at(i).ok_or("a comment left open")?;
                        i += 1;
                    }
                    i += 1;
                }
                '\'' => {
                    if at(i + 1) == Some('\'') && at(i + 2) == Some('\'') {
                        return Err("a multi-line string".into());
                    }
                    let mut s = String::new();
                    i += 1;
                    loop {
                        match at(i).ok_or("a string left open")? {
                            '\'' => break,
                            '\n' | '\r' => return Err(format!("a line break in '{s}")),
                            '$' if at(i + 1) == Some('{') => {
                                return Err(format!("an interpolation in '{s}"))
                            }
                            '\\' => {
                                i += 1;
                                match at(i).ok_or("an escape at the end")? {
                                    '\\' => s.push('\\'),
                                    '\'' => s.push('\''),
                                    'n' => s.push('\n'),
                                    'r' => s.push('\r'),
                                    't' => s.push('\t'),
                                    '$' => s.push('$'),
                                    'u' if at(i + 1) == Some('{') => {
                                        i += 2;
                                        let mut hex = String::new();
                                        while let Some(h) = at(i).filter(|h| h.is_ascii_hexdigit())
                                        {
                                            hex.push(h);
                                            i += 1;
                                        }
                                        let code = u32::from_str_radix(&hex, 16)
                                            .ok()
                                            .and_then(char::from_u32)
                                            .filter(|_| at(i) == Some('}') && hex.len() <= 6)
                                            .ok_or(format!("a bad \\u{{{hex}"))?;
                                        s.push(code);
                                    }
                                    other => return Err(format!("an unknown escape \\{other}")),
                                }
                            }
                            c => s.push(c),
                        }
                        i += 1;
                    }
                    strings.push(s);
                }
                '{' | '[' | '(' => stack.push(c),
                '}' | ']' | ')' => {
                    let open = stack.pop().ok_or(format!("{c} closes nothing"))?;
                    if !matches!((open, c), ('{', '}') | ('[', ']') | ('(', ')')) {
                        return Err(format!("{open} closed by {c}"));
                    }
                }
                _ => {}
            }
            i += 1;
        }
        match stack.is_empty() {
            true => Ok(strings),
            false => Err(format!("{stack:?} left open")),
        }
    }

    /// The lines that are code, not comments or blank.
    fn code(text: &str) -> impl Iterator<Item = &str> {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("//"))
    }

    /// What every output must keep to: well formed, nothing broad as a destination, Internet
    /// only as a next hop, valid and unique symbols (the conformance table checks the text).
    fn assert_safe(text: &str) -> Vec<String> {
        let strings = scan(text).unwrap_or_else(|e| panic!("{e}:\n{text}"));
        assert!(!text.contains('\r'));
        let mut symbols = HashSet::new();
        for line in code(text) {
            if line.contains("Internet") {
                assert_eq!(line, "nextHopType: 'Internet'");
            }
            // An array item alone on its line is an address, a name or a port: never `*`.
            assert_ne!(line, "'*'", "{text}");
            assert!(!line.starts_with("destinationAddressPrefix: '*'"));
            for keyword in ["resource ", "param "] {
                if let Some(rest) = line.strip_prefix(keyword) {
                    let symbol = rest.split(' ').next().unwrap();
                    assert!(
                        symbol.starts_with(|c: char| c.is_ascii_alphabetic())
                            && symbol
                                .chars()
                                .all(|c| c.is_ascii_alphanumeric() || c == '_'),
                        "symbol {symbol}"
                    );
                    assert!(symbols.insert(symbol.to_string()), "{symbol} twice");
                }
            }
        }
        strings
    }

    /// What each string literal of the text is the value of, in order: `param.NAME` for a
    /// parameter's default, `@description`, `resource` for a resource's type, the property
    /// on its line, or for an array item alone on its line, the array's property.
    fn keys(text: &str) -> Vec<String> {
        let mut arrays: Vec<String> = Vec::new();
        let mut keys = Vec::new();
        for line in code(text) {
            let key = if let Some(rest) = line.strip_prefix("param ") {
                format!("param.{}", rest.split(' ').next().unwrap_or_default())
            } else if line.starts_with("@description(") {
                "@description".into()
            } else if line.starts_with("resource ") {
                "resource".into()
            } else {
                match line.split_once(':') {
                    Some((key, _)) if !key.contains('\'') => key.to_string(),
                    _ => arrays.last().cloned().unwrap_or_default(),
                }
            };
            if line.starts_with(']') {
                arrays.pop();
            }
            if line.ends_with('[') {
                arrays.push(key.clone());
            }
            keys.extend(std::iter::repeat_n(key, literals(line)));
        }
        keys
    }

    /// How many string literals start on a line of code.
    fn literals(line: &str) -> usize {
        let (mut count, mut open, mut escaped) = (0, false, false);
        for c in line.chars() {
            match (open, escaped, c) {
                (true, false, '\\') => escaped = true,
                (true, true, _) => escaped = false,
                (true, false, '\'') => open = false,
                (false, _, '\'') => {
                    open = true;
                    count += 1;
                }
                _ => {}
            }
        }
        count
    }

    pub(in crate::fix::render) struct Bicep;

    impl Format for Bicep {
        fn render(fixes: &Fixes) -> String {
            render(fixes)
        }
        fn strings(text: &str) -> Vec<(String, String)> {
            let values = assert_safe(text);
            let keys = keys(text);
            assert_eq!(keys.len(), values.len(), "{keys:?} {values:?}");
            keys.into_iter().zip(values).collect()
        }
        fn code(text: &str) -> Vec<String> {
            code(text).map(str::to_string).collect()
        }
        fn inputs(text: &str) -> Vec<String> {
            code(text)
                .filter_map(|l| l.strip_prefix("param "))
                .map(|rest| rest.split(' ').next().unwrap_or_default().to_string())
                .collect()
        }
        fn objects(text: &str) -> Vec<String> {
            code(text)
                .filter(|l| l.starts_with("resource "))
                .map(|l| {
                    let kind = l.split('\'').nth(1).unwrap_or_default();
                    let kind = kind.split('@').next().unwrap_or_default();
                    match l.contains(" existing = {") {
                        true => format!("{kind} existing"),
                        false => kind.to_string(),
                    }
                })
                .collect()
        }
        fn quote(value: &str) -> String {
            quote(value)
        }
        fn is_comment(line: &str) -> bool {
            line.trim_start().starts_with("//")
        }
        fn destination(key: &str) -> bool {
            key.starts_with("destination") || ["addressPrefix", "targetFqdns"].contains(&key)
        }
        fn next_hop(key: &str) -> bool {
            key == "nextHopType"
        }
        const PLACEHOLDERS: &'static [(&'static str, &'static str)] = &[
            ("param.firewallPolicyName", "REPLACE-firewall-policy"),
            ("param.nsgName", "REPLACE-nsg"),
            ("param.routeTableName", "REPLACE-route-table"),
            ("param.vnetName", "REPLACE-vnet"),
            ("param.vnetResourceGroupName", "REPLACE-resource-group"),
            ("param.sourceAddresses", "REPLACE-subnet-address-range"),
        ];
        const LEFT: (&'static str, &'static str) = (
            "param.sourceAddresses",
            "REPLACE-address-range-of-snet-compute",
        );
        const HOSTILE_KEYS: &'static [&'static str] = &[
            "param.firewallPolicyName",
            "param.vnetResourceGroupName",
            "targetFqdns",
            "destinationAddresses",
            "addressPrefix",
        ];
        const ROUTE_ONLY: Uses = (
            &["routeTableName"],
            &[
                "Microsoft.Network/routeTables existing",
                "Microsoft.Network/routeTables/routes",
            ],
        );
        const LINK_ONLY: Uses = (
            &["vnetName", "vnetResourceGroupName"],
            &[
                "Microsoft.Network/virtualNetworks existing",
                "Microsoft.Network/privateDnsZones existing",
                "Microsoft.Network/privateDnsZones/virtualNetworkLinks",
            ],
        );
    }

    #[test]
    fn the_scanner_finds_what_is_broken() {
        assert_eq!(scan("x = 'a\\'b' // '{").unwrap(), ["a'b"]);
        assert_eq!(scan("x = '\\u{1F642}\\$'").unwrap(), ["\u{1F642}$"]);
        for bad in [
            "x = {",
            "x = [ }",
            "x = 'a",
            "x = 'a\nb'",
            "x = 'a\\qb'",
            "x = 'a${b}'",
            "x = '''a'''",
            "/* open",
        ] {
            assert!(scan(bad).is_err(), "{bad}");
        }
    }

    /// A string shows what the az script and the comments show as escapes, and Bicep reads
    /// the escape back as the character.
    #[test]
    fn quote_shows_what_would_hide_or_reorder_text() {
        let text = "a\u{202E}b\u{FEFF}c\u{FFFE}";
        assert_eq!(quote(text), r"'a\u{202e}b\u{feff}c\u{fffe}'");
        assert_eq!(scan(&quote(text)).unwrap(), [text]);
    }

    #[test]
    fn quote_escapes_every_hostile_character() {
        assert_eq!(
            quote(HOSTILE),
            r#"'a"b\${x}%{y}\'\\$(reboot)`reboot`\n"c";reboot #\r\u{2028}'"#
        );
        assert_eq!(scan(&quote(HOSTILE)).unwrap(), [HOSTILE]);
        assert_eq!(quote("a\u{1}b\tc"), r"'a\u{1}b\tc'");
        assert_eq!(quote("$x ${"), r"'$x \${'");
        for text in ["\u{2028}", "\\${", "'''", "a\u{7f}z"] {
            assert_eq!(scan(&quote(text)).unwrap(), [text]);
        }
    }

    #[test]
    fn every_rule_is_well_formed() {
        let text = render(&every_rule());
        assert_safe(&text);
        assert!(text.contains("\ntargetScope = 'resourceGroup'\n"));
        for param in [
            "param firewallPolicyName string = 'REPLACE-firewall-policy'",
            "param ruleCollectionGroupPriority int = 300",
            "param sourceAddresses array = [\n  'REPLACE-subnet-address-range'\n]",
            "param nsgName string = 'REPLACE-nsg'",
            "param routeTableName string = 'REPLACE-route-table'",
            "param vnetName string = 'REPLACE-vnet'",
            "param vnetResourceGroupName string = 'REPLACE-resource-group'",
        ] {
            assert!(text.contains(param), "{param}");
        }
        for existing in [
            "resource firewallPolicy 'Microsoft.Network/firewallPolicies@2024-05-01' existing = {",
            "resource nsg 'Microsoft.Network/networkSecurityGroups@2024-05-01' existing = {",
            "resource routeTable 'Microsoft.Network/routeTables@2024-05-01' existing = {",
            "resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' existing = {",
            "resource zone_privatelink_api_azureml_ms 'Microsoft.Network/privateDnsZones@2024-06-01' existing = {",
        ] {
            assert!(text.contains(existing), "{existing}");
        }
    }

    #[test]
    fn every_rule_has_the_expected_blocks() {
        let text = render(&every_rule());
        let udp = "          // tundra-udp-5831 (udp_unreachable), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet
          {
            ruleType: 'NetworkRule'
            name: 'tundra-udp-5831'
            ipProtocols: [
              'UDP'
            ]
            sourceAddresses: sourceAddresses
            destinationAddresses: [
              'AzureMachineLearning'
            ]
            destinationPorts: [
              '5831'
            ]
          }
";
        assert!(text.contains(udp), "{text}");
        let nsg = "resource nsgRule_amlprobe_tundra_udp_5831 'Microsoft.Network/networkSecurityGroups/securityRules@2024-05-01' = {
  parent: nsg
  name: 'amlprobe-tundra-udp-5831'
  properties: {
    priority: 3000
    direction: 'Outbound'
    access: 'Allow'
    protocol: 'Udp'
    sourceAddressPrefix: 'VirtualNetwork'
    sourcePortRange: '*'
    destinationAddressPrefix: 'AzureMachineLearning'
    destinationPortRange: '5831'
  }
}
";
        assert!(text.contains(nsg), "{text}");
        // The second NSG rule waits for the first, and takes both protocols.
        assert!(text.contains("    priority: 3010\n"));
        assert!(text.contains("    protocol: '*'\n"));
        assert!(text.contains("  dependsOn: [\n    nsgRule_amlprobe_tundra_udp_5831\n  ]\n"));
        let route = "  properties: {
    addressPrefix: 'BatchNodeManagement.westeurope'
    nextHopType: 'Internet'
  }
";
        assert!(text.contains(route), "{text}");
        let link = "  parent: zone_privatelink_api_azureml_ms
  name: 'amlprobe-privatelink-api-azureml-ms'
  location: 'global'
  properties: {
    registrationEnabled: false
    virtualNetwork: {
      id: vnet.id
    }
  }
";
        assert!(text.contains(link), "{text}");
        let tls = "            targetFqdns: [
              'westeurope.api.azureml.ms'
            ]
            terminateTLS: false
";
        assert!(text.contains(tls), "{text}");
        assert_eq!(text.matches("terminateTLS").count(), 1);
        for priority in ["priority: 100\n", "priority: 150\n", "priority: 200\n"] {
            assert_eq!(text.matches(priority).count(), 1, "{priority}");
        }
        assert_eq!(text.matches("resource ruleCollectionGroup ").count(), 1);
        assert!(text.contains("              '*.pythonhosted.org'\n"));
        assert!(text.contains("protocolType: 'Http'\n                port: 80\n"));
        // A name, not a tag: a network rule that needs the DNS proxy, and no NSG rule.
        assert!(text.contains(
            "destinationFqdns: [\n              'ci-one.westeurope.instances.azureml.ms'"
        ));
        assert!(text.contains("dnsSettings.enableProxy: true"));
        assert!(text.contains("an NSG cannot filter by name"));
        assert_eq!(text.matches("securityRules@").count(), 2);
        // Comments only: the storage account's rules, DNS forwarding, the proxy, advice.
        assert!(text.contains("az storage account network-rule add"));
        assert!(text.contains("Microsoft.Storage service endpoint"));
        assert!(text.contains("private endpoint"));
        assert!(!text.contains("Microsoft.Storage/storageAccounts"));
        assert!(text.contains("//   forward api.azureml.ms to 168.63.129.16"));
        assert!(text.contains("//   CONNECT westeurope.api.azureml.ms:443"));
        assert!(text.contains("//     Fix the node's clock."));
        let confirm = text
            .find("// Make sure these exist")
            .expect("confirm block");
        assert!(text[confirm..].contains("Https 443 to *.data.mcr.microsoft.com"));
        assert_eq!(text.matches("*.data.mcr.microsoft.com").count(), 1);
    }

    #[test]
    fn given_names_reach_the_comments_too() {
        let text = render(&named());
        assert!(text.contains("--resource-group rg-network --template-file"));
        assert!(text.contains("--vnet-name vnet-hub --subnet snet-compute"));
    }

    #[test]
    fn every_string_has_its_key() {
        let strings = Bicep::strings(&render(&every_rule()));
        for pair in [
            ("param.firewallPolicyName", "REPLACE-firewall-policy"),
            ("param.sourceAddresses", "REPLACE-subnet-address-range"),
            ("@description", "The route table of the compute subnet."),
            (
                "resource",
                "Microsoft.Network/routeTables/routes@2024-05-01",
            ),
            ("destinationAddresses", "AzureMachineLearning"),
            ("destinationPorts", "5831"),
            ("nextHopType", "Internet"),
            ("targetFqdns", "*.pythonhosted.org"),
        ] {
            assert!(
                strings
                    .iter()
                    .any(|(k, v)| (k.as_str(), v.as_str()) == pair),
                "{pair:?}: {strings:?}"
            );
        }
    }
}
