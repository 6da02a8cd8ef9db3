//! `fix --format terraform`: a root module of its own for the azurerm provider (4.x) that adds
//! the missing rules to a firewall policy, an NSG, a route table and private DNS zones that
//! already exist. It finds them by name through data sources and creates none of them, so a
//! plan shows only additions. Names not given are `REPLACE-` placeholders in the variables'
//! defaults, which no Azure resource can be called, so nothing runs against the wrong one.

use std::fmt::Write as _;

use crate::context::Cloud;
use crate::fix::layout::{self, comment, Collection, Item, Layout, Rules, Value};
use crate::fix::model::{Dest, Fixes, Why};
use crate::report::text::hidden;

/// The Terraform text for a set of fixes: the changes to make as resources (or, for a storage
/// account's rules, as a commented block), and everything else as comments. With nothing to
/// make, only comments, which Terraform reads as an empty module.
pub fn render(fixes: &Fixes) -> String {
    let layout = Layout::new(fixes);
    let mut out = String::new();
    line(&mut out, 0, &layout::title("Terraform (azurerm)"));
    line(&mut out, 0, &layout::context_line(fixes));
    match layout::nothing(fixes, &layout) {
        Some(nothing) => line(&mut out, 0, nothing),
        None => {
            header(&mut out, fixes);
            variables(&mut out, fixes, &layout);
            firewall(&mut out, &layout);
            nsg(&mut out, &layout);
            routes(&mut out, &layout);
            links(&mut out, &layout);
            storage(&mut out, fixes, &layout);
        }
    }
    for text in layout::closing_lines(fixes, &layout) {
        match text.is_empty() {
            true => out.push('\n'),
            false => line(&mut out, 0, &text),
        }
    }
    out
}

fn header(out: &mut String, fixes: &Fixes) {
    for text in [
        "",
        "A root module of its own: in an empty directory, terraform init, then terraform plan,",
        "and apply what the plan shows. It adds rules to resources that exist and creates none",
        "of them. Values starting REPLACE- are placeholders: set those variables (-var, or a",
        "terraform.tfvars file) before planning.",
    ] {
        match text.is_empty() {
            true => out.push_str("#\n"),
            false => line(out, 0, text),
        }
    }
    out.push_str(
        "\nterraform {\n  required_providers {\n    azurerm = {\n      source  = \"hashicorp/azurerm\"\n      version = \"~> 4.0\"\n    }\n  }\n}\n\nprovider \"azurerm\" {\n  features {}\n",
    );
    match fixes.cloud {
        Cloud::Public => {}
        Cloud::Usgov => out.push_str("  environment = \"usgovernment\"\n"),
        Cloud::China => out.push_str("  environment = \"china\"\n"),
    }
    out.push_str("}\n");
}

/// Every input of the layout, as a variable with its default: Terraform has a use for each,
/// the storage accounts' commented block too.
fn variables(out: &mut String, fixes: &Fixes, layout: &Layout) {
    for input in layout.inputs(&fixes.names) {
        let (kind, default) = match &input.value {
            Value::Text(text) => ("string", quote(text)),
            Value::Number(n) => ("number", n.to_string()),
            Value::List(item) => ("list(string)", list(&[item])),
            Value::Null => ("string", "null".into()),
        };
        let _ = writeln!(out, "\nvariable \"{}\" {{", input.name);
        attrs(
            out,
            1,
            &[
                ("description", quote(input.description)),
                ("type", kind.to_string()),
                ("default", default),
            ],
        );
        out.push_str("}\n");
    }
}

/// A data source found by name in its resource group variable (or the common one).
fn data(out: &mut String, kind: &str, label: &str, name: String, group_var: &str) {
    let _ = writeln!(out, "\ndata \"{kind}\" \"{label}\" {{");
    attrs(
        out,
        1,
        &[
            ("name", name),
            (
                "resource_group_name",
                format!("coalesce(var.{group_var}, var.resource_group_name)"),
            ),
        ],
    );
    out.push_str("}\n");
}

fn firewall(out: &mut String, layout: &Layout) {
    if !layout.firewall() {
        return;
    }
    data(
        out,
        "azurerm_firewall_policy",
        "this",
        "var.firewall_policy_name".into(),
        "firewall_policy_resource_group_name",
    );
    out.push('\n');
    for note in layout::GROUP_NOTE {
        line(out, 0, note);
    }
    out.push_str("resource \"azurerm_firewall_policy_rule_collection_group\" \"amlprobe\" {\n");
    attrs(
        out,
        1,
        &[
            ("name", "var.rule_collection_group_name".into()),
            (
                "firewall_policy_id",
                "data.azurerm_firewall_policy.this.id".into(),
            ),
            ("priority", "var.rule_collection_group_priority".into()),
        ],
    );
    for (collection, rules) in layout.collections() {
        out.push('\n');
        for note in collection.note() {
            line(out, 1, note);
        }
        let kind = match rules {
            Rules::Network(_) => "network",
            Rules::Application(_) => "application",
        };
        let _ = writeln!(out, "  {kind}_rule_collection {{");
        attrs(
            out,
            2,
            &[
                ("name", quote(collection.name())),
                ("priority", collection.priority().to_string()),
                ("action", quote("Allow")),
            ],
        );
        match rules {
            Rules::Network(items) => items.iter().for_each(|item| network_rule(out, item)),
            Rules::Application(items) => items.iter().for_each(|item| {
                application_rule(out, item, collection == Collection::NoTlsInspection)
            }),
        }
        out.push_str("  }\n");
    }
    out.push_str("}\n");
}

fn why_lines(out: &mut String, indent: usize, why: &[Why]) {
    for why in why {
        line(out, indent, &why.line());
    }
}

fn network_rule(out: &mut String, item: &Item<layout::Net>) {
    let net = &item.what;
    out.push('\n');
    why_lines(out, 2, item.why);
    let dest = match net.dest {
        Dest::Tag(tag) => ("destination_addresses", list(&[tag])),
        Dest::Fqdn(name) => {
            let note =
                layout::dns_proxy_note("azurerm_firewall_policy", "dns { proxy_enabled = true }");
            note.iter().for_each(|text| line(out, 2, text));
            ("destination_fqdns", list(&[name]))
        }
    };
    out.push_str("    rule {\n");
    attrs(
        out,
        3,
        &[
            ("name", quote(&item.name)),
            ("protocols", list(&[net.protocol.azure()])),
            ("source_addresses", "var.source_addresses".into()),
            dest,
            ("destination_ports", list(&[&net.port.to_string()])),
        ],
    );
    out.push_str("    }\n");
}

fn application_rule(out: &mut String, item: &Item<layout::App>, no_tls: bool) {
    let app = &item.what;
    out.push('\n');
    why_lines(out, 2, item.why);
    out.push_str("    rule {\n");
    attrs(out, 3, &[("name", quote(&item.name))]);
    out.push_str("      protocols {\n");
    attrs(
        out,
        4,
        &[
            ("type", quote(app.web.azure())),
            ("port", app.port.to_string()),
        ],
    );
    out.push_str("      }\n");
    let mut rest = vec![
        ("source_addresses", "var.source_addresses".to_string()),
        ("destination_fqdns", list(&[app.fqdn])),
    ];
    if no_tls {
        rest.push(("terminate_tls", "false".into()));
    }
    attrs(out, 3, &rest);
    out.push_str("    }\n");
}

fn nsg(out: &mut String, layout: &Layout) {
    if !layout.nsg.is_empty() {
        data(
            out,
            "azurerm_network_security_group",
            "this",
            "var.nsg_name".into(),
            "nsg_resource_group_name",
        );
        out.push('\n');
        line(out, 0, &layout::nsg_note());
    }
    for item in &layout.nsg {
        let rule = &item.what;
        out.push('\n');
        why_lines(out, 0, item.why);
        let _ = writeln!(
            out,
            "resource \"azurerm_network_security_rule\" \"{}\" {{",
            label(&item.name)
        );
        attrs(
            out,
            1,
            &[
                ("name", quote(&item.name)),
                (
                    "resource_group_name",
                    "data.azurerm_network_security_group.this.resource_group_name".into(),
                ),
                (
                    "network_security_group_name",
                    "data.azurerm_network_security_group.this.name".into(),
                ),
                ("priority", rule.priority.to_string()),
                ("direction", quote("Outbound")),
                ("access", quote("Allow")),
                ("protocol", quote(rule.protocol.nsg())),
                ("source_address_prefix", quote("VirtualNetwork")),
                ("source_port_range", quote("*")),
                ("destination_address_prefix", quote(rule.tag)),
                ("destination_port_range", quote(&rule.port.to_string())),
            ],
        );
        out.push_str("}\n");
    }
    let mut by_name = layout.by_name().peekable();
    if by_name.peek().is_some() {
        out.push('\n');
    }
    for (item, name) in by_name {
        for text in layout::by_name_note(name, item.what.port) {
            line(out, 0, &text);
        }
    }
}

fn routes(out: &mut String, layout: &Layout) {
    if layout.routes.is_empty() {
        return;
    }
    data(
        out,
        "azurerm_route_table",
        "this",
        "var.route_table_name".into(),
        "route_table_resource_group_name",
    );
    out.push('\n');
    line(out, 0, layout::ROUTES_NOTE);
    for item in &layout.routes {
        out.push('\n');
        why_lines(out, 0, item.why);
        let _ = writeln!(
            out,
            "resource \"azurerm_route\" \"{}\" {{",
            label(&item.name)
        );
        attrs(
            out,
            1,
            &[
                ("name", quote(&item.name)),
                (
                    "resource_group_name",
                    "data.azurerm_route_table.this.resource_group_name".into(),
                ),
                (
                    "route_table_name",
                    "data.azurerm_route_table.this.name".into(),
                ),
                ("address_prefix", quote(item.what)),
                ("next_hop_type", quote("Internet")),
            ],
        );
        out.push_str("}\n");
    }
}

fn links(out: &mut String, layout: &Layout) {
    if layout.links.is_empty() {
        return;
    }
    data(
        out,
        "azurerm_virtual_network",
        "this",
        "var.vnet_name".into(),
        "vnet_resource_group_name",
    );
    for item in &layout.links {
        let zone = label(&layout::ident(item.what));
        data(
            out,
            "azurerm_private_dns_zone",
            &zone,
            quote(item.what),
            "private_dns_zone_resource_group_name",
        );
        out.push('\n');
        why_lines(out, 0, item.why);
        line(
            out,
            0,
            "With azurerm 5.x, private_dns_zone_id replaces the zone's name and resource group.",
        );
        let _ = writeln!(
            out,
            "resource \"azurerm_private_dns_zone_virtual_network_link\" \"{}\" {{",
            label(&item.name)
        );
        attrs(
            out,
            1,
            &[
                ("name", quote(&item.name)),
                (
                    "resource_group_name",
                    format!("data.azurerm_private_dns_zone.{zone}.resource_group_name"),
                ),
                (
                    "private_dns_zone_name",
                    format!("data.azurerm_private_dns_zone.{zone}.name"),
                ),
                (
                    "virtual_network_id",
                    "data.azurerm_virtual_network.this.id".into(),
                ),
                ("registration_enabled", "false".into()),
            ],
        );
        out.push_str("}\n");
    }
}

/// The storage accounts' network rules, as comments: `azurerm_storage_account_network_rules`
/// is the only resource for them and it replaces the account's whole rule set, so declared
/// as it stands it would shut out every subnet and address the account lets in today. The
/// Azure CLI adds the one rule and keeps the others.
fn storage(out: &mut String, fixes: &Fixes, layout: &Layout) {
    for (n, item) in layout.storage.iter().enumerate() {
        let account = item.what;
        out.push('\n');
        why_lines(out, 0, item.why);
        for text in layout::storage_note(account) {
            line(out, 0, &text);
        }
        for text in [
            "Not declared: azurerm_storage_account_network_rules replaces the account's whole rule",
            "set, so any subnet or address it lets in today that is not listed would lose access.",
            "The Azure CLI adds the one rule and keeps the others:",
            &layout::storage_command(&fixes.names, account),
            "Or uncomment this, listing every rule the account has today (its ip_rules, bypass",
            "and other subnets):",
        ] {
            line(out, 0, text);
        }
        let mut block = String::new();
        if n == 0 {
            data_subnet(&mut block);
        }
        let label = label(&item.name);
        data(
            &mut block,
            "azurerm_storage_account",
            &label,
            quote(account),
            "storage_account_resource_group_name",
        );
        let _ = writeln!(
            block,
            "\nresource \"azurerm_storage_account_network_rules\" \"{label}\" {{"
        );
        attrs(
            &mut block,
            1,
            &[
                (
                    "storage_account_id",
                    format!("data.azurerm_storage_account.{label}.id"),
                ),
                ("default_action", quote("Deny")),
                (
                    "virtual_network_subnet_ids",
                    "[data.azurerm_subnet.this.id]".into(),
                ),
            ],
        );
        block.push_str("}\n");
        // Commented out line by line; a blank line stays a comment so the block reads as one.
        for code in block.lines() {
            match code.is_empty() {
                true => out.push_str("#\n"),
                false => {
                    let _ = writeln!(out, "# {code}");
                }
            }
        }
    }
}

fn data_subnet(out: &mut String) {
    out.push_str("\ndata \"azurerm_subnet\" \"this\" {\n");
    attrs(
        out,
        1,
        &[
            ("name", "var.subnet_name".into()),
            ("virtual_network_name", "var.vnet_name".into()),
            (
                "resource_group_name",
                "coalesce(var.vnet_resource_group_name, var.resource_group_name)".into(),
            ),
        ],
    );
    out.push_str("}\n");
}

/// A Terraform block label from a name: letters, digits and underscores.
fn label(name: &str) -> String {
    name.replace('-', "_")
}

/// A comment line at an indentation of two spaces a level, its text kept to one line.
fn line(out: &mut String, indent: usize, text: &str) {
    let _ = writeln!(out, "{:width$}# {}", "", comment(text), width = indent * 2);
}

/// Attributes with their `=` aligned, as `terraform fmt` writes them.
fn attrs(out: &mut String, indent: usize, pairs: &[(&str, String)]) {
    let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (key, value) in pairs {
        let _ = writeln!(
            out,
            "{:indent$}{key:width$} = {value}",
            "",
            indent = indent * 2
        );
    }
}

/// An HCL string literal: quotes and backslashes escaped, `${` and `%{` doubled so no value
/// starts an interpolation or a template directive, control characters as escapes.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' | '%' if chars.peek() == Some(&'{') => {
                out.push(c);
                out.push(c);
            }
            // Every character the az script and the comments escape (all of them in the
            // Basic Multilingual Plane, so four digits hold each): a bidirectional override or
            // a byte-order mark would otherwise sit raw in the file, hiding or reordering text.
            c if hidden(c) => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A list of HCL strings on one line.
fn list(values: &[&str]) -> String {
    let items: Vec<String> = values.iter().map(|v| quote(v)).collect();
    format!("[{}]", items.join(", "))
}

#[cfg(test)]
pub(super) mod tests {
    use hcl_edit::expr::{Expression, ObjectKey};
    use hcl_edit::structure::{BlockLabel, Body, Structure};
    use serde_json::{Map, Value};

    use super::*;
    use crate::fix::render::conformance::{Format, Uses};
    use crate::fix::sample::{every_rule, HOSTILE};

    /// The only resource and data source types the format may use.
    const RESOURCES: &[&str] = &[
        "azurerm_firewall_policy_rule_collection_group",
        "azurerm_network_security_rule",
        "azurerm_route",
        "azurerm_private_dns_zone_virtual_network_link",
    ];
    const DATA: &[&str] = &[
        "azurerm_firewall_policy",
        "azurerm_network_security_group",
        "azurerm_route_table",
        "azurerm_virtual_network",
        "azurerm_private_dns_zone",
    ];

    /// The text as HCL reads it, as JSON: a block is a list under its type, labelled blocks
    /// nest by label, strings are their values, and any other expression (`var.x`, a function
    /// call) is `${…}` around its text. A template (a string with `${` or `%{` left unescaped)
    /// fails the test: this format writes none, so one is a value that escaped its quoting.
    fn parse(text: &str) -> Value {
        let body =
            hcl_edit::parser::parse_body(text).unwrap_or_else(|e| panic!("not HCL: {e}\n{text}"));
        body_json(&body)
    }

    fn body_json(body: &Body) -> Value {
        let mut map = Map::new();
        for structure in body.iter() {
            match structure {
                Structure::Attribute(attr) => {
                    map.insert(attr.key.to_string(), expr_json(&attr.value));
                }
                Structure::Block(block) => {
                    let mut value = body_json(&block.body);
                    for label in block.labels.iter().rev() {
                        let label = match label {
                            BlockLabel::Ident(ident) => ident.to_string(),
                            BlockLabel::String(string) => string.value().clone(),
                        };
                        value = Value::Object(Map::from_iter([(label, value)]));
                    }
                    let list = map
                        .entry(block.ident.to_string())
                        .or_insert_with(|| Value::Array(vec![]));
                    list.as_array_mut().expect("blocks").push(value);
                }
            }
        }
        Value::Object(map)
    }

    fn expr_json(expr: &Expression) -> Value {
        match expr {
            Expression::Null(_) => Value::Null,
            Expression::Bool(b) => Value::Bool(*b.value()),
            Expression::Number(n) => {
                let n = n.value();
                n.as_u64()
                    .map_or_else(|| Value::from(n.as_f64()), Value::from)
            }
            Expression::String(s) => Value::String(s.value().clone()),
            Expression::Array(items) => Value::Array(items.iter().map(expr_json).collect()),
            Expression::Object(object) => Value::Object(
                object
                    .iter()
                    .map(|(key, value)| {
                        let key = match key {
                            ObjectKey::Ident(ident) => ident.to_string(),
                            ObjectKey::Expression(e) => e.to_string(),
                        };
                        (key.trim().to_string(), expr_json(value.expr()))
                    })
                    .collect(),
            ),
            Expression::StringTemplate(_) | Expression::HeredocTemplate(_) => {
                panic!("a template where a value was written: {expr}")
            }
            other => Value::String(format!("${{{}}}", other.to_string().trim())),
        }
    }

    /// The blocks of one kind (`resource`, `data`) as (type, label, body).
    fn blocks<'v>(doc: &'v Value, kind: &str) -> Vec<(&'v str, &'v str, &'v Value)> {
        let mut found = Vec::new();
        for entry in doc[kind].as_array().into_iter().flatten() {
            for (kind, labelled) in entry.as_object().expect("a block") {
                for (label, body) in labelled.as_object().expect("a labelled block") {
                    found.push((kind.as_str(), label.as_str(), body));
                }
            }
        }
        found
    }

    /// Every string in the document with the path of keys to it, dotted.
    fn strings(value: &Value, path: &str, found: &mut Vec<(String, String)>) {
        match value {
            Value::String(s) => found.push((path.to_string(), s.clone())),
            Value::Array(items) => items.iter().for_each(|v| strings(v, path, found)),
            Value::Object(map) => map.iter().for_each(|(k, v)| {
                let path = match path.is_empty() {
                    true => k.clone(),
                    false => format!("{path}.{k}"),
                };
                strings(v, &path, found)
            }),
            _ => {}
        }
    }

    pub(in crate::fix::render) struct Terraform;

    impl Format for Terraform {
        fn render(fixes: &Fixes) -> String {
            render(fixes)
        }
        fn strings(text: &str) -> Vec<(String, String)> {
            let doc = parse(text);
            assert_safe(text, &doc);
            let mut found = Vec::new();
            strings(&doc, "", &mut found);
            found
        }
        fn code(text: &str) -> Vec<String> {
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_string)
                .collect()
        }
        fn inputs(text: &str) -> Vec<String> {
            let doc = parse(text);
            let variables = doc["variable"].as_array().into_iter().flatten();
            variables
                .flat_map(|v| v.as_object().expect("a variable").keys().cloned())
                .collect()
        }
        fn objects(text: &str) -> Vec<String> {
            let doc = parse(text);
            let data = blocks(&doc, "data")
                .into_iter()
                .map(|b| format!("data.{}", b.0));
            let resources = blocks(&doc, "resource")
                .into_iter()
                .map(|b| b.0.to_string());
            data.chain(resources).collect()
        }
        fn quote(value: &str) -> String {
            quote(value)
        }
        fn is_comment(line: &str) -> bool {
            line.trim_start().starts_with('#')
        }
        fn destination(key: &str) -> bool {
            let attribute = key.rsplit('.').next().unwrap_or(key);
            attribute.starts_with("destination_") || attribute == "address_prefix"
        }
        fn next_hop(key: &str) -> bool {
            key.ends_with(".next_hop_type")
        }
        const PLACEHOLDERS: &'static [(&'static str, &'static str)] = &[
            (
                "variable.firewall_policy_name.default",
                "REPLACE-firewall-policy",
            ),
            ("variable.nsg_name.default", "REPLACE-nsg"),
            ("variable.route_table_name.default", "REPLACE-route-table"),
            (
                "variable.resource_group_name.default",
                "REPLACE-resource-group",
            ),
            ("variable.vnet_name.default", "REPLACE-vnet"),
            ("variable.subnet_name.default", "REPLACE-subnet"),
            (
                "variable.source_addresses.default",
                "REPLACE-subnet-address-range",
            ),
        ];
        const LEFT: (&'static str, &'static str) = (
            "variable.source_addresses.default",
            "REPLACE-address-range-of-snet-compute",
        );
        const HOSTILE_KEYS: &'static [&'static str] = &[
            "variable.firewall_policy_name.default",
            "variable.resource_group_name.default",
            "resource.azurerm_firewall_policy_rule_collection_group.amlprobe\
             .application_rule_collection.rule.destination_fqdns",
            "resource.azurerm_firewall_policy_rule_collection_group.amlprobe\
             .network_rule_collection.rule.destination_addresses",
        ];
        const ROUTE_ONLY: Uses = (
            &[
                "resource_group_name",
                "route_table_name",
                "route_table_resource_group_name",
            ],
            &["data.azurerm_route_table", "azurerm_route"],
        );
        const LINK_ONLY: Uses = (
            &[
                "resource_group_name",
                "vnet_name",
                "vnet_resource_group_name",
                "private_dns_zone_resource_group_name",
            ],
            &[
                "data.azurerm_virtual_network",
                "data.azurerm_private_dns_zone",
                "azurerm_private_dns_zone_virtual_network_link",
            ],
        );
    }

    fn valid_label(label: &str) -> bool {
        label.starts_with(|c: char| c.is_ascii_alphabetic())
            && label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    }

    /// Every quoted string ends on the line it starts on, as HCL requires.
    fn assert_strings_end_on_their_line(text: &str) {
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with('#') {
                continue;
            }
            let (mut open, mut escaped) = (false, false);
            for c in line.chars() {
                match (open, escaped, c) {
                    (true, false, '\\') => escaped = true,
                    (true, true, _) => escaped = false,
                    (_, false, '"') => open = !open,
                    (false, _, '#') => break,
                    _ => {}
                }
            }
            assert!(!open, "line {} leaves a string open: {line}", n + 1);
        }
    }

    /// What every output must keep to: only allowed types, valid and unique labels (the
    /// conformance table checks the values).
    fn assert_safe(text: &str, doc: &Value) {
        assert_strings_end_on_their_line(text);
        let mut labels = std::collections::HashSet::new();
        for (kind, label, _) in blocks(doc, "resource") {
            assert!(RESOURCES.contains(&kind), "resource type {kind}");
            assert!(valid_label(label), "label {label}");
            assert!(labels.insert((kind, label)), "{kind}.{label} twice");
        }
        for (kind, label, _) in blocks(doc, "data") {
            assert!(DATA.contains(&kind), "data source type {kind}");
            assert!(valid_label(label), "label {label}");
            assert!(labels.insert((kind, label)), "data {kind}.{label} twice");
        }
    }

    fn variable_default<'v>(doc: &'v Value, name: &str) -> &'v Value {
        doc["variable"]
            .as_array()
            .expect("variables")
            .iter()
            .find_map(|v| v.get(name))
            .unwrap_or_else(|| panic!("no variable {name}"))
            .get("default")
            .expect("a default")
    }

    /// A string in the file, commented out or not, shows what the az script and the comments
    /// show as escapes: HCL reads the escape back as the character.
    #[test]
    fn quote_shows_what_would_hide_or_reorder_text() {
        let text = "a\u{202E}b\u{FEFF}c\u{FFFE}";
        assert_eq!(quote(text), r#""a\u202eb\ufeffc\ufffe""#);
        assert_eq!(parse(&format!("x = {}\n", quote(text)))["x"], text);
    }

    #[test]
    fn quote_escapes_every_hostile_character() {
        assert_eq!(
            quote(HOSTILE),
            r#""a\"b$${x}%%{y}'\\$(reboot)`reboot`\n\"c\";reboot #\r\u2028""#
        );
        // HCL reads it back as it was.
        let parsed = parse(&format!("x = {}\n", quote(HOSTILE)));
        assert_eq!(parsed["x"], HOSTILE);
        assert_eq!(quote("a\u{1}b\tc"), r#""a\u0001b\tc""#);
        assert_eq!(quote("$x %y ${"), r#""$x %y $${""#);
        assert_eq!(
            list(&["a", "*.b"]),
            r#"["a", "*.b"]"#,
            "wildcard names pass as they are"
        );
    }

    #[test]
    fn every_rule_parses_with_allowed_types_only() {
        let text = render(&every_rule());
        let doc = parse(&text);
        assert_safe(&text, &doc);
        let kinds: Vec<&str> = blocks(&doc, "resource").iter().map(|b| b.0).collect();
        for kind in RESOURCES {
            assert!(kinds.contains(kind), "{kind} missing");
        }
        assert_eq!(blocks(&doc, "data").len(), DATA.len());
    }

    #[test]
    fn every_rule_has_the_expected_blocks() {
        let text = render(&every_rule());
        let udp = r#"    # tundra-udp-5831 (udp_unreachable), https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet
    rule {
      name                  = "tundra-udp-5831"
      protocols             = ["UDP"]
      source_addresses      = var.source_addresses
      destination_addresses = ["AzureMachineLearning"]
      destination_ports     = ["5831"]
    }
"#;
        assert!(text.contains(udp), "{text}");
        let nsg = r#"resource "azurerm_network_security_rule" "amlprobe_tundra_udp_5831" {
  name                        = "amlprobe-tundra-udp-5831"
  resource_group_name         = data.azurerm_network_security_group.this.resource_group_name
  network_security_group_name = data.azurerm_network_security_group.this.name
  priority                    = 3000
  direction                   = "Outbound"
  access                      = "Allow"
  protocol                    = "Udp"
  source_address_prefix       = "VirtualNetwork"
  source_port_range           = "*"
  destination_address_prefix  = "AzureMachineLearning"
  destination_port_range      = "5831"
}
"#;
        assert!(text.contains(nsg), "{text}");
        assert!(text.contains("priority                    = 3010"));
        assert!(text.contains("protocol                    = \"*\""));
        let route = r#"  address_prefix      = "BatchNodeManagement.westeurope"
  next_hop_type       = "Internet"
"#;
        assert!(text.contains(route), "{text}");
        let tls = r#"      destination_fqdns = ["westeurope.api.azureml.ms"]
      terminate_tls     = false
"#;
        assert!(text.contains(tls), "{text}");
        assert!(text.contains("destination_fqdns = [\"*.pythonhosted.org\"]"));
        assert!(text.contains("registration_enabled  = false"));
        // A name, not a tag: a network rule that needs the DNS proxy, and no NSG rule.
        assert!(text.contains("destination_fqdns = [\"ci-one.westeurope.instances.azureml.ms\"]"));
        assert!(text.contains("proxy_enabled = true"));
        assert!(text.contains("an NSG cannot filter by name"));
        assert!(!text.contains("destination_address_prefix  = \"ci-one"));
        // Comments only: the storage account's rules, DNS forwarding, the proxy, advice.
        assert!(text.contains("# resource \"azurerm_storage_account_network_rules\" \"amlstore1\""));
        assert!(text.contains("az storage account network-rule add"));
        assert!(text.contains("Microsoft.Storage service endpoint"));
        assert!(text.contains("private endpoint"));
        assert!(text.contains("#   forward api.azureml.ms to 168.63.129.16"));
        assert!(text.contains("#   CONNECT westeurope.api.azureml.ms:443"));
        assert!(text.contains("#     Fix the node's clock."));
        // The rule only to confirm is listed, not declared.
        let confirm = text.find("# Make sure these exist").expect("confirm block");
        assert!(text[confirm..].contains("Https 443 to *.data.mcr.microsoft.com"));
        assert_eq!(text.matches("*.data.mcr.microsoft.com").count(), 1);
    }

    #[test]
    fn collections_are_grouped_and_ordered() {
        let text = render(&every_rule());
        let doc = parse(&text);
        let groups: Vec<_> = blocks(&doc, "resource")
            .into_iter()
            .filter(|b| b.0 == "azurerm_firewall_policy_rule_collection_group")
            .collect();
        assert_eq!(groups.len(), 1);
        let group = groups[0].2;
        assert_eq!(group["priority"], "${var.rule_collection_group_priority}");
        let net = &group["network_rule_collection"];
        assert_eq!(net.as_array().unwrap().len(), 1);
        assert_eq!(net[0]["priority"], 100);
        assert_eq!(net[0]["rule"].as_array().unwrap().len(), 3);
        assert_eq!(net[0]["rule"][0]["destination_ports"][0], "5831");
        let app = group["application_rule_collection"].as_array().unwrap();
        assert_eq!(app.len(), 2);
        assert_eq!(app[0]["priority"], 150);
        assert_eq!(app[0]["rule"][0]["terminate_tls"], false);
        assert_eq!(app[1]["priority"], 200);
        assert_eq!(app[1]["rule"].as_array().unwrap().len(), 3);
        assert_eq!(app[1]["rule"][2]["protocols"][0]["type"], "Http");
        assert_eq!(app[1]["rule"][2]["protocols"][0]["port"], 80);
        assert_eq!(
            variable_default(&doc, "rule_collection_group_priority"),
            300
        );
    }

    #[test]
    fn sovereign_clouds_set_the_provider_environment() {
        let mut fixes = every_rule();
        fixes.cloud = Cloud::Usgov;
        assert!(render(&fixes).contains("  environment = \"usgovernment\"\n"));
        fixes.cloud = Cloud::China;
        assert!(render(&fixes).contains("  environment = \"china\"\n"));
        assert!(!render(&every_rule()).contains("environment ="));
    }
}
