//! `fix --format az`: a bash script of Azure CLI commands for a VNet of the user's own,
//! for the team that owns its firewall policy, NSG, route table and DNS. It makes the objects
//! of the shared [`Layout`], under the names and priorities the Terraform and Bicep formats
//! give them, so a team that runs it and later adopts either finds them as they are.
//!
//! The script is meant to be read before it is run. Every name it acts on is a shell variable
//! at the top, named as the Terraform variable it stands for, holding a `REPLACE-` placeholder
//! where the report did not name the resource, so nothing runs against a resource by accident.
//! Every value from the report is single-quoted, and every text from it that lands in a
//! comment is kept to one line, so that no host name, tag or reason can add a command of its
//! own. Only the changes to make become commands; the ones the node could not confirm, and the
//! advice, stay in comments.
//!
//! Flags are those of the Azure CLI and its `azure-firewall` extension (installed on first use
//! of `az network firewall policy …`): `rule-collection-group create`,
//! `collection add-filter-collection` and `collection rule add` (`--rcg-name`,
//! `--collection-priority`, `--rule-type`, `--protocols Https=443`, `--target-fqdns`,
//! `--ip-protocols`, `--destination-addresses`, `--destination-fqdns`, `--destination-ports`,
//! `--enable-tls-inspection`), `nsg rule create`, `route-table route create`,
//! `private-dns link vnet create`, `vnet subnet update --service-endpoints` and
//! `storage account network-rule add`.

use std::fmt::Write;

use crate::context::Cloud;
use crate::fix::layout::{self, App, Collection, Item, Layout, Net, Role, Rules, Value};
use crate::fix::model::{Dest, Fixes, Names, Why};
use crate::report::text::hidden;

/// The flags that name the firewall policy, and the rule collection group in it.
const POLICY: &str = "--resource-group \"$RESOURCE_GROUP\" --policy-name \"$FIREWALL_POLICY\"";
const GROUP: &str = "--resource-group \"$RESOURCE_GROUP\" --policy-name \"$FIREWALL_POLICY\" \
                     --rcg-name \"$RULE_COLLECTION_GROUP\"";
/// Where every firewall rule allows traffic from.
const SOURCE: &str = "--source-addresses \"$SOURCE_ADDRESSES\"";

pub fn render(fixes: &Fixes) -> String {
    let layout = Layout::new(fixes);
    let mut out = String::new();
    header(
        &mut out,
        fixes,
        "Azure CLI commands",
        "Meant to run once: a rule that is already there makes its command fail.",
    );
    match layout::nothing(fixes, &layout) {
        Some(nothing) => comment(&mut out, nothing),
        None => {
            variables(&mut out, &layout, &fixes.names);
            firewall(&mut out, &layout);
            nsg(&mut out, &layout);
            routes(&mut out, &layout);
            links(&mut out, &layout);
            storage(&mut out, &layout);
        }
    }
    comments(&mut out, &layout::closing_lines(fixes, &layout));
    out
}

/// `#!/usr/bin/env bash`, what the script is, the report's cloud, region and mode, what
/// running it twice does, how to point the Azure CLI at a cloud other than the public one,
/// and `set -euo pipefail`: the first failing command stops the rest.
pub(super) fn header(out: &mut String, fixes: &Fixes, what: &str, rerun: &str) {
    out.push_str("#!/usr/bin/env bash\n");
    comment(out, &layout::title(what));
    comment(out, &layout::context_line(fixes));
    comment(
        out,
        &format!(
            "Read each command before running it, and set every REPLACE- value first. {rerun}"
        ),
    );
    if fixes.cloud != Cloud::Public {
        comment(
            out,
            &format!(
                "The report is from {}: point the Azure CLI at that cloud first \
                 (az cloud list shows the names, az cloud set --name NAME picks one).",
                layout::cloud_name(fixes.cloud)
            ),
        );
    }
    out.push_str("set -euo pipefail\n");
}

/// Lines of comments, an empty one a blank line.
pub(super) fn comments(out: &mut String, lines: &[String]) {
    for text in lines {
        match text.is_empty() {
            true => out.push('\n'),
            false => comment(out, text),
        }
    }
}

/// One comment line per check that calls for the change.
pub(super) fn whys(out: &mut String, why: &[Why]) {
    for why in why {
        comment(out, &why.line());
    }
}

/// A `#` comment ends at the end of its line, so a newline in the text would start a command:
/// the text is kept to one line as every format keeps its comments ([`layout::comment`]).
pub(super) fn comment(out: &mut String, text: &str) {
    out.push_str("# ");
    out.push_str(&layout::comment(text));
    out.push('\n');
}

/// `value` as one bash word that stands for exactly that text: in single quotes, where
/// nothing expands, with each `'` written as `'\''` (close, an escaped quote, reopen). A
/// character that does not print as itself is written as `$'\xHH'` bytes between the quotes,
/// so a value never spans lines and never hides part of itself from whoever reads the script.
pub(super) fn sh_quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match c {
            '\'' => out.push_str("'\\''"),
            c if hidden(c) => {
                out.push_str("'$'");
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    let _ = write!(out, "\\x{b:02x}");
                }
                out.push_str("''");
            }
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// `NAME='value'`: a name the commands use as `"$NAME"`.
pub(super) fn variable(out: &mut String, name: &str, value: &str) {
    let _ = writeln!(out, "{name}={}", sh_quote(value));
}

/// The shell variable for a layout input: `firewall_policy_name` is `FIREWALL_POLICY`.
fn shell(input: &str) -> String {
    input
        .strip_suffix("_name")
        .unwrap_or(input)
        .to_ascii_uppercase()
}

/// The layout's inputs the commands use, one variable each. Each command names its resource
/// group, so the other groups are for the reader to change there.
fn variables(out: &mut String, layout: &Layout, names: &Names) {
    out.push('\n');
    for input in layout.inputs(names) {
        let description = match input.role {
            Role::Elsewhere => continue,
            Role::Common => {
                "The resource group of the resources below: where one is in another, change \
                 that command's --resource-group."
            }
            Role::Resource | Role::Storage => input.description,
        };
        let value = match input.value {
            Value::Text(text) | Value::List(text) => text,
            Value::Number(n) => n.to_string(),
            Value::Null => continue,
        };
        comment(out, description);
        variable(out, &shell(input.name), &value);
    }
}

/// One command: `az …` and its flags, one group of flags to a line, joined by `\`.
fn command(out: &mut String, lines: &[String]) {
    out.push_str(&lines.join(" \\\n  "));
    out.push('\n');
}

/// The rule collection group, then its collections in order: the first rule of each creates
/// it, the rest are added to it.
fn firewall(out: &mut String, layout: &Layout) {
    if !layout.firewall() {
        return;
    }
    out.push('\n');
    for note in layout::GROUP_NOTE {
        comment(out, note);
    }
    command(
        out,
        &[
            "az network firewall policy rule-collection-group create".into(),
            POLICY.into(),
            "--name \"$RULE_COLLECTION_GROUP\" --priority \"$RULE_COLLECTION_GROUP_PRIORITY\""
                .into(),
        ],
    );
    let mut dns_proxy = false;
    for (collection, rules) in layout.collections() {
        match rules {
            Rules::Network(items) => {
                for (n, item) in items.iter().enumerate() {
                    network_rule(out, n == 0, item, &mut dns_proxy);
                }
            }
            Rules::Application(items) => {
                for (n, item) in items.iter().enumerate() {
                    application_rule(out, collection, n == 0, item);
                }
            }
        }
    }
}

/// What comes before a firewall rule: a blank line, the collection's note above its first
/// rule, and the checks that call for it.
fn before_rule(out: &mut String, collection: Collection, first: bool, why: &[Why]) {
    out.push('\n');
    if first {
        collection.note().iter().for_each(|note| comment(out, note));
    }
    whys(out, why);
}

/// A network rule. A name in one needs the policy's DNS proxy, which changes DNS for every
/// client of the firewall: the command that turns it on is shown, not run.
fn network_rule(out: &mut String, first: bool, item: &Item<Net>, dns_proxy: &mut bool) {
    let net = &item.what;
    before_rule(out, Collection::Network, first, item.why);
    let to = match net.dest {
        Dest::Tag(tag) => format!("--destination-addresses {}", sh_quote(tag)),
        Dest::Fqdn(name) => {
            let setting = "--enable-dns-proxy true";
            for text in layout::dns_proxy_note("az network firewall policy update", setting) {
                comment(out, &text);
            }
            if !std::mem::replace(dns_proxy, true) {
                comment(
                    out,
                    "It changes DNS for every client of the firewall, and the VNet's DNS servers \
                     must be set to the firewall, so it is left for you to run:",
                );
                comment(
                    out,
                    &format!(
                        "az network firewall policy update --resource-group \"$RESOURCE_GROUP\" \
                         --name \"$FIREWALL_POLICY\" {setting}"
                    ),
                );
            }
            format!("--destination-fqdns {}", sh_quote(name))
        }
    };
    let flags = vec![
        SOURCE.into(),
        format!("--ip-protocols {} {to}", net.protocol.azure()),
        format!("--destination-ports {}", net.port),
    ];
    filter_rule(out, Collection::Network, first, &item.name, flags);
}

/// An application rule; in the collection of names TLS inspection must leave alone, one with
/// inspection off.
fn application_rule(out: &mut String, collection: Collection, first: bool, item: &Item<App>) {
    let app = &item.what;
    before_rule(out, collection, first, item.why);
    let mut flags = vec![
        SOURCE.into(),
        format!(
            "--protocols {}={} --target-fqdns {}",
            app.web.azure(),
            app.port,
            sh_quote(app.fqdn)
        ),
    ];
    if collection == Collection::NoTlsInspection {
        flags.push("--enable-tls-inspection false".into());
    }
    filter_rule(out, collection, first, &item.name, flags);
}

/// A rule in one of the group's filter collections: the first rule of a collection creates
/// it; the rest are added to it.
fn filter_rule(
    out: &mut String,
    collection: Collection,
    first: bool,
    name: &str,
    flags: Vec<String>,
) {
    let mut lines: Vec<String> = match first {
        true => vec![
            "az network firewall policy rule-collection-group collection add-filter-collection"
                .into(),
            GROUP.into(),
            format!(
                "--name {} --collection-priority {} --action Allow",
                collection.name(),
                collection.priority()
            ),
            format!(
                "--rule-name {} --rule-type {}",
                sh_quote(name),
                collection.rule_type()
            ),
        ],
        false => vec![
            "az network firewall policy rule-collection-group collection rule add".into(),
            GROUP.into(),
            format!(
                "--collection-name {} --name {} --rule-type {}",
                collection.name(),
                sh_quote(name),
                collection.rule_type()
            ),
        ],
    };
    lines.extend(flags);
    command(out, &lines);
}

/// The NSG rules to service tags, at the layout's priorities; a note for each name, which an
/// NSG cannot filter by.
fn nsg(out: &mut String, layout: &Layout) {
    if !layout.nsg.is_empty() {
        out.push('\n');
        comment(out, &layout::nsg_note());
    }
    for item in &layout.nsg {
        let rule = &item.what;
        out.push('\n');
        whys(out, item.why);
        command(
            out,
            &[
                "az network nsg rule create".into(),
                format!(
                    "--resource-group \"$RESOURCE_GROUP\" --nsg-name \"$NSG\" --name {}",
                    sh_quote(&item.name)
                ),
                format!(
                    "--priority {} --direction Outbound --access Allow --protocol {}",
                    rule.priority,
                    sh_quote(rule.protocol.nsg())
                ),
                format!(
                    "--source-address-prefixes VirtualNetwork --destination-address-prefixes {}",
                    sh_quote(rule.tag)
                ),
                format!("--destination-port-ranges {}", rule.port),
            ],
        );
    }
    let mut by_name = layout.by_name().peekable();
    if by_name.peek().is_some() {
        out.push('\n');
    }
    for (item, name) in by_name {
        for text in layout::by_name_note(name, item.what.port) {
            comment(out, &text);
        }
    }
}

fn routes(out: &mut String, layout: &Layout) {
    if layout.routes.is_empty() {
        return;
    }
    out.push('\n');
    comment(out, layout::ROUTES_NOTE);
    for item in &layout.routes {
        out.push('\n');
        whys(out, item.why);
        command(
            out,
            &[
                "az network route-table route create".into(),
                "--resource-group \"$RESOURCE_GROUP\" --route-table-name \"$ROUTE_TABLE\"".into(),
                format!(
                    "--name {} --address-prefix {} --next-hop-type Internet",
                    sh_quote(&item.name),
                    sh_quote(item.what)
                ),
            ],
        );
    }
}

fn links(out: &mut String, layout: &Layout) {
    for item in &layout.links {
        out.push('\n');
        whys(out, item.why);
        comment(
            out,
            "--resource-group is the zone's. --virtual-network takes the VNet's full resource ID \
             when the VNet is in another resource group.",
        );
        command(
            out,
            &[
                "az network private-dns link vnet create".into(),
                format!(
                    "--resource-group \"$RESOURCE_GROUP\" --zone-name {} --name {}",
                    sh_quote(item.what),
                    sh_quote(&item.name)
                ),
                "--virtual-network \"$VNET\" --registration-enabled false".into(),
            ],
        );
    }
}

/// Each storage account's rule for the subnet, after the subnet's service endpoint, which the
/// first adds.
fn storage(out: &mut String, layout: &Layout) {
    for (n, item) in layout.storage.iter().enumerate() {
        out.push('\n');
        whys(out, item.why);
        for text in layout::storage_note(item.what) {
            comment(out, &text);
        }
        if n == 0 {
            comment(
                out,
                "--service-endpoints sets the subnet's whole list: add any it has already \
                 (az network vnet subnet show --query serviceEndpoints).",
            );
            command(
                out,
                &[
                    "az network vnet subnet update".into(),
                    "--resource-group \"$RESOURCE_GROUP\" --vnet-name \"$VNET\" --name \"$SUBNET\""
                        .into(),
                    "--service-endpoints Microsoft.Storage".into(),
                ],
            );
        }
        comment(
            out,
            "--resource-group is the account's; for a VNet in another resource group, give \
             --subnet the subnet's full resource ID instead of --vnet-name.",
        );
        command(
            out,
            &[
                "az storage account network-rule add".into(),
                format!(
                    "--resource-group \"$RESOURCE_GROUP\" --account-name {}",
                    sh_quote(item.what)
                ),
                "--vnet-name \"$VNET\" --subnet \"$SUBNET\"".into(),
            ],
        );
    }
}

#[cfg(test)]
pub(super) mod tests {
    //! Checks of the script as bash sees it, shared with the managed-network format: it parses,
    //! every command is `az` in a known command group, no value can run or break a line, and
    //! nothing opens traffic to everywhere.

    use std::io::Write as _;
    use std::process::{Command, Stdio};

    use super::*;
    use crate::fix::render::conformance::{Format, Uses};
    use crate::fix::sample::{self, hostile, HOSTILE};

    /// The command groups the formats may use.
    const GROUPS: &[&str] = &[
        "network firewall policy",
        "network nsg rule",
        "network route-table route",
        "network private-dns link vnet",
        "network vnet subnet",
        "storage account network-rule",
        "ml workspace outbound-rule",
    ];

    /// Runs bash on the script, with `args` before it reads stdin; returns stdout.
    fn bash(args: &[&str], script: &str) -> Result<Vec<u8>, String> {
        let mut child = Command::new("bash")
            .args(args)
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("bash: {e}"))?;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(script.as_bytes())
            .map_err(|e| format!("stdin: {e}"))?;
        let output = child.wait_with_output().map_err(|e| format!("bash: {e}"))?;
        match output.status.success() {
            true => Ok(output.stdout),
            false => Err(String::from_utf8_lossy(&output.stderr).into_owned()),
        }
    }

    /// `bash -n`: the script parses.
    pub(in crate::fix::render) fn bash_n(script: &str) {
        if let Err(e) = bash(&["-n"], script) {
            panic!("bash -n failed: {e}\n{script}");
        }
    }

    /// The arguments of every `az` call, from running the script with `az` replaced by a shell
    /// function that prints them (each ended by a NUL, each call by an RS character); nothing
    /// else in the script is a command, so nothing else runs.
    pub(in crate::fix::render) fn az_calls(script: &str) -> Vec<Vec<String>> {
        run(script, "")
    }

    /// The script run with the stub `az`, then `after`; what the stub and `after` printed, as
    /// calls.
    fn run(script: &str, after: &str) -> Vec<Vec<String>> {
        let stub = "az() { printf '%s\\0' \"$@\" $'\\x1e'; }\n";
        let out = bash(&["-s"], &format!("{stub}{script}{after}"))
            .unwrap_or_else(|e| panic!("running the script failed: {e}\n{script}"));
        let text = String::from_utf8(out).expect("UTF-8");
        let mut calls = vec![];
        let mut call = vec![];
        // Every argument ends in a NUL, so the piece after the last one is empty.
        let mut args: Vec<&str> = text.split('\0').collect();
        assert_eq!(args.pop(), Some(""), "output not ended by a NUL: {text:?}");
        for arg in args {
            match arg == "\u{1e}" {
                true => calls.push(std::mem::take(&mut call)),
                false => call.push(arg.to_string()),
            }
        }
        assert!(call.is_empty(), "an unfinished call: {call:?}");
        calls
    }

    /// The variables the script sets, in order.
    pub(in crate::fix::render) fn script_inputs(script: &str) -> Vec<String> {
        script
            .lines()
            .filter_map(|line| line.split_once("='"))
            .map(|(name, _)| name)
            .filter(|name| name.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
            .map(str::to_string)
            .collect()
    }

    /// The script's values as bash holds them: each variable, and each flag of each `az`
    /// call with the argument after it.
    pub(in crate::fix::render) fn script_strings(script: &str) -> Vec<(String, String)> {
        check_shape(script);
        let names = script_inputs(script);
        let dump: String = names
            .iter()
            .map(|name| format!("az \"${name}\"\n"))
            .collect();
        let mut calls = run(script, &dump);
        let values = calls.split_off(calls.len() - names.len());
        let mut found: Vec<(String, String)> = names
            .into_iter()
            .zip(values)
            .map(|(name, mut value)| (name, value.remove(0)))
            .collect();
        for call in calls {
            for pair in call.windows(2) {
                if pair[0].starts_with("--") {
                    found.push((pair[0].clone(), pair[1].clone()));
                }
            }
        }
        found
    }

    /// A format that is a bash script of `az` commands, read by running it with a stub `az`:
    /// what it renders and where its values go; the table reads every such script alike.
    pub(in crate::fix::render) trait ScriptFormat {
        fn render(fixes: &Fixes) -> String;
        const PLACEHOLDERS: &'static [(&'static str, &'static str)];
        const LEFT: (&'static str, &'static str);
        const HOSTILE_KEYS: &'static [&'static str];
        const ROUTE_ONLY: Uses;
        const LINK_ONLY: Uses;
    }

    impl<S: ScriptFormat> Format for S {
        fn render(fixes: &Fixes) -> String {
            S::render(fixes)
        }
        fn strings(text: &str) -> Vec<(String, String)> {
            script_strings(text)
        }
        fn code(text: &str) -> Vec<String> {
            let mut code = script_inputs(text);
            code.extend(commands(text));
            code
        }
        fn inputs(text: &str) -> Vec<String> {
            script_inputs(text)
        }
        fn objects(text: &str) -> Vec<String> {
            commands(text)
                .iter()
                .map(|c| {
                    let words = c.split(" --").next().unwrap_or_default();
                    words.trim_start_matches("az ").trim().to_string()
                })
                .collect()
        }
        fn quote(value: &str) -> String {
            sh_quote(value)
        }
        fn is_comment(line: &str) -> bool {
            line.trim_start().starts_with('#')
        }
        fn destination(flag: &str) -> bool {
            flag.starts_with("--destination")
                || ["--address-prefix", "--target-fqdns", "--service-tag"].contains(&flag)
        }
        fn next_hop(flag: &str) -> bool {
            flag == "--next-hop-type"
        }
        const PLACEHOLDERS: &'static [(&'static str, &'static str)] = S::PLACEHOLDERS;
        const LEFT: (&'static str, &'static str) = S::LEFT;
        const HOSTILE_KEYS: &'static [&'static str] = S::HOSTILE_KEYS;
        const ROUTE_ONLY: Uses = S::ROUTE_ONLY;
        const LINK_ONLY: Uses = S::LINK_ONLY;
    }

    pub(in crate::fix::render) struct Az;

    impl ScriptFormat for Az {
        fn render(fixes: &Fixes) -> String {
            render(fixes)
        }
        const PLACEHOLDERS: &'static [(&'static str, &'static str)] = &[
            ("RESOURCE_GROUP", "REPLACE-resource-group"),
            ("FIREWALL_POLICY", "REPLACE-firewall-policy"),
            ("NSG", "REPLACE-nsg"),
            ("ROUTE_TABLE", "REPLACE-route-table"),
            ("VNET", "REPLACE-vnet"),
            ("SUBNET", "REPLACE-subnet"),
            ("SOURCE_ADDRESSES", "REPLACE-subnet-address-range"),
        ];
        const LEFT: (&'static str, &'static str) =
            ("SOURCE_ADDRESSES", "REPLACE-address-range-of-snet-compute");
        const HOSTILE_KEYS: &'static [&'static str] = &[
            "FIREWALL_POLICY",
            "--resource-group",
            "--target-fqdns",
            "--destination-addresses",
            "--destination-fqdns",
            "--address-prefix",
            "--zone-name",
            "--account-name",
        ];
        const ROUTE_ONLY: Uses = (
            &["RESOURCE_GROUP", "ROUTE_TABLE"],
            &["network route-table route create"],
        );
        const LINK_ONLY: Uses = (
            &["RESOURCE_GROUP", "VNET"],
            &["network private-dns link vnet create"],
        );
    }

    /// The script's commands: its lines without comments, blank lines, `NAME='value'`
    /// variables and `set -euo pipefail`, with lines that end in `\` joined to the next.
    pub(in crate::fix::render) fn commands(script: &str) -> Vec<String> {
        let mut commands = vec![];
        let mut current = String::new();
        for line in script.lines() {
            let trimmed = line.trim();
            if current.is_empty() {
                let variable = trimmed.split_once('=').is_some_and(|(name, _)| {
                    !name.is_empty() && name.chars().all(|c| c.is_ascii_uppercase() || c == '_')
                });
                if trimmed.is_empty()
                    || trimmed.starts_with('#')
                    || variable
                    || trimmed == "set -euo pipefail"
                {
                    continue;
                }
            }
            match trimmed.strip_suffix('\\') {
                Some(part) => {
                    current.push_str(part);
                }
                None => {
                    current.push_str(trimmed);
                    commands.push(std::mem::take(&mut current));
                }
            }
        }
        assert!(current.is_empty(), "a command ends in \\: {current}");
        commands
    }

    /// Whether every `needle` in `line` is inside single quotes (or `$'…'`) as bash reads it.
    pub(in crate::fix::render) fn only_quoted(line: &str, needle: &str) -> bool {
        let chars: Vec<char> = line.chars().collect();
        let mut quoted = vec![false; chars.len()];
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '\\' => i += 2,
                '\'' => {
                    i += 1;
                    while i < chars.len() && chars[i] != '\'' {
                        quoted[i] = true;
                        i += 1;
                    }
                    i += 1;
                }
                '$' if chars.get(i + 1) == Some(&'\'') => {
                    i += 2;
                    while i < chars.len() && chars[i] != '\'' {
                        quoted[i] = true;
                        i += if chars[i] == '\\' { 2 } else { 1 };
                    }
                    i += 1;
                }
                _ => i += 1,
            }
        }
        let needle: Vec<char> = needle.chars().collect();
        (0..chars.len())
            .filter(|&i| chars[i..].starts_with(&needle))
            .all(|i| quoted[i..i + needle.len()].iter().all(|&q| q))
    }

    /// What every script must hold to: it keeps its shape, and names neither the whole of
    /// Azure nor the internet but as a route's next hop.
    pub(in crate::fix::render) fn check_script(script: &str) {
        check_shape(script);
        assert!(!script.contains("0.0.0.0/0"), "{script}");
        assert!(!script.contains("AzureCloud"), "{script}");
        let rest = script.replace("--next-hop-type Internet", "");
        assert!(!rest.to_lowercase().contains("internet"), "{script}");
    }

    /// The shape of every script: it parses; every command is `az` in a known group; nothing
    /// is `*` as a destination.
    fn check_shape(script: &str) {
        bash_n(script);
        assert!(script.starts_with("#!/usr/bin/env bash\n"), "{script}");
        assert!(script.contains("\nset -euo pipefail\n"), "{script}");
        for command in commands(script) {
            let group = command.strip_prefix("az ").unwrap_or_else(|| {
                panic!("not an az command: {command}");
            });
            assert!(
                GROUPS.iter().any(|g| group.starts_with(&format!("{g} "))),
                "not a known command group: {command}"
            );
            let words: Vec<&str> = command.split_whitespace().collect();
            for pair in words.windows(2) {
                if pair[0].starts_with("--dest") {
                    assert!(
                        pair[1] != "*" && pair[1] != "'*'",
                        "everywhere as a destination: {command}"
                    );
                }
            }
        }
    }

    /// The hostile fixes come out harmless: the script parses, every command is still an az
    /// command (no value or Why started a line of its own), `$(reboot)` is only ever inside
    /// single quotes, and the value reaches `az` exactly as it was.
    pub(in crate::fix::render) fn check_hostile(script: &str) {
        check_script(script);
        for line in script.lines() {
            let code = line.trim_start();
            if !code.starts_with('#') {
                assert!(only_quoted(code, "$(reboot)"), "unquoted: {line}");
                assert!(only_quoted(code, "`reboot`"), "unquoted: {line}");
                assert!(!code.starts_with("reboot"), "{line}");
            }
        }
        let calls = az_calls(script);
        assert!(!calls.is_empty());
        assert!(
            calls.iter().flatten().any(|arg| arg == HOSTILE),
            "the value did not reach az intact: {calls:?}"
        );
    }

    #[test]
    fn every_rule_is_a_valid_script() {
        let script = render(&sample::every_rule());
        check_script(&script);
        let calls = az_calls(&script);
        assert_eq!(calls.len(), commands(&script).len());
    }

    #[test]
    fn the_udp_tag_rule_is_a_firewall_and_an_nsg_rule() {
        let script = render(&sample::every_rule());
        let nsg = "az network nsg rule create \\
  --resource-group \"$RESOURCE_GROUP\" --nsg-name \"$NSG\" --name 'amlprobe-tundra-udp-5831' \\
  --priority 3000 --direction Outbound --access Allow --protocol 'Udp' \\
  --source-address-prefixes VirtualNetwork --destination-address-prefixes 'AzureMachineLearning' \\
  --destination-port-ranges 5831
";
        assert!(script.contains(nsg), "{script}");
        let firewall =
            "az network firewall policy rule-collection-group collection add-filter-collection \\
  --resource-group \"$RESOURCE_GROUP\" --policy-name \"$FIREWALL_POLICY\" --rcg-name \"$RULE_COLLECTION_GROUP\" \\
  --name amlprobe-network --collection-priority 100 --action Allow \\
  --rule-name 'tundra-udp-5831' --rule-type NetworkRule \\
  --source-addresses \"$SOURCE_ADDRESSES\" \\
  --ip-protocols UDP --destination-addresses 'AzureMachineLearning' \\
  --destination-ports 5831
";
        assert!(script.contains(firewall), "{script}");
    }

    #[test]
    fn commands_run_with_the_values_and_numbers_they_show() {
        let calls = az_calls(&render(&sample::every_rule()));
        let find = |name: &str| {
            calls
                .iter()
                .find(|c| c.windows(2).any(|w| w[1] == name))
                .unwrap_or_else(|| panic!("no call names {name}: {calls:?}"))
                .clone()
        };
        let after = |call: &[String], flag: &str| {
            let i = call.iter().position(|a| a == flag).expect(flag);
            call[i + 1].clone()
        };
        // NSG rules count up from the layout's first priority.
        assert_eq!(
            after(&find("amlprobe-tundra-udp-5831"), "--priority"),
            "3000"
        );
        let batch = find("amlprobe-batch-443");
        assert_eq!(after(&batch, "--priority"), "3010");
        assert_eq!(after(&batch, "--protocol"), "*");
        // The first application rule makes the collection; the next ones join it.
        assert_eq!(find("graph-443")[5], "add-filter-collection");
        assert_eq!(
            after(&find("graph-443"), "--collection-priority"),
            "200",
            "{calls:?}"
        );
        let pythonhosted = find("pythonhosted-443");
        assert_eq!(pythonhosted[5..7], ["rule".to_string(), "add".to_string()]);
        assert_eq!(after(&pythonhosted, "--target-fqdns"), "*.pythonhosted.org");
        assert_eq!(after(&pythonhosted, "--protocols"), "Https=443");
        assert_eq!(
            after(&find("entra-80"), "--protocols"),
            "Http=80",
            "{calls:?}"
        );
        // Placeholders reach the command as they are.
        assert_eq!(after(&batch, "--resource-group"), "REPLACE-resource-group");
        assert_eq!(
            after(&find("graph-443"), "--source-addresses"),
            "REPLACE-subnet-address-range"
        );
        let route = find("amlprobe-BatchNodeManagement-westeurope");
        assert_eq!(
            after(&route, "--address-prefix"),
            "BatchNodeManagement.westeurope"
        );
        assert_eq!(after(&route, "--next-hop-type"), "Internet");
        let tls = find("workspace-api-443");
        assert_eq!(after(&tls, "--collection-priority"), "150");
        assert_eq!(after(&tls, "--enable-tls-inspection"), "false");
        assert_eq!(after(&tls, "--target-fqdns"), "westeurope.api.azureml.ms");
        let link = find("amlprobe-privatelink-api-azureml-ms");
        assert_eq!(after(&link, "--zone-name"), "privatelink.api.azureml.ms");
        assert_eq!(after(&link, "--registration-enabled"), "false");
        let names = |call: &Vec<String>| call.join(" ");
        assert!(calls.iter().any(|c| names(c).contains("vnet subnet update")
            && after(c, "--service-endpoints") == "Microsoft.Storage"));
        assert!(calls
            .iter()
            .any(|c| names(c).contains("network-rule add")
                && after(c, "--account-name") == "amlstore1"));
    }

    #[test]
    fn a_name_in_a_network_rule_needs_the_dns_proxy_and_gets_no_nsg_rule() {
        let script = render(&sample::every_rule());
        assert!(script.contains("--destination-fqdns 'ci-one.westeurope.instances.azureml.ms'"));
        assert!(script.contains(
            "# az network firewall policy update --resource-group \"$RESOURCE_GROUP\" \
             --name \"$FIREWALL_POLICY\" --enable-dns-proxy true\n"
        ));
        assert!(script.contains("# an NSG cannot filter by name"));
        assert!(!script.contains("amlprobe-instances-8787"));
    }

    #[test]
    fn only_changes_to_make_become_commands() {
        let script = render(&sample::every_rule());
        let at = script
            .find("# Make sure these exist")
            .expect("a block of changes to confirm");
        let (commands_part, confirm_part) = script.split_at(at);
        assert!(!commands_part.contains("data.mcr.microsoft.com"));
        assert!(confirm_part.contains(
            "#   firewall application rule: Https 443 to *.data.mcr.microsoft.com\n\
             #     mcr-data-443 (stand_in_unresolvable), \
             https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet\n"
        ));
        assert!(commands(confirm_part).is_empty());
        // Forwarding, the proxy and the advice are words, not commands.
        let words = &script[script.find("# The custom DNS server").expect("forwards")..];
        assert!(commands(words).is_empty());
        assert!(words.contains("#   forward api.azureml.ms to 168.63.129.16\n"));
        assert!(words.contains("#   CONNECT westeurope.api.azureml.ms:443\n"));
        assert!(words.contains("# No rule fixes these:\n#   node-clock (clock_skew), "));
        assert!(words.contains("#     Fix the node's clock.\n"));
    }

    #[test]
    fn each_rule_follows_its_reasons() {
        let script = render(&sample::every_rule());
        let reason = script
            .find("# graph-443 (tcp_refused), https://")
            .expect("the reason");
        let rule = script.find("'graph-443'").expect("the rule");
        assert!(reason < rule);
    }

    #[test]
    fn hostile_values_stay_quoted_and_on_their_line() {
        let script = render(&hostile());
        check_hostile(&script);
        assert!(script.contains(
            "--target-fqdns 'a\"b${x}%{y}'\\''\\$(reboot)`reboot`'$'\\x0a''\"c\";reboot #'$'\\x0d'''$'\\xe2\\x80\\xa8'''"
        ));
        // The Why's line breaks are visible escapes in its comment.
        let shown = "a\"b${x}%{y}'\\$(reboot)`reboot`\\u{a}\"c\";reboot #\\u{d}\\u{2028}";
        assert!(script.contains(&format!("\n# {shown} ({shown}), {shown}\n")));
    }

    #[test]
    fn sh_quote_makes_one_word_of_any_text() {
        assert_eq!(sh_quote(""), "''");
        assert_eq!(sh_quote("pypi.org"), "'pypi.org'");
        assert_eq!(sh_quote("*.pythonhosted.org"), "'*.pythonhosted.org'");
        assert_eq!(sh_quote("it's"), "'it'\\''s'");
        assert_eq!(sh_quote("a\nb"), "'a'$'\\x0a''b'");
        assert_eq!(sh_quote("a\u{202e}b"), "'a'$'\\xe2\\x80\\xae''b'");
        let values = [
            "",
            "it's",
            "a\nb",
            "$(reboot)",
            "'",
            "''",
            "\\'",
            "a\u{85}b",
            "é",
        ];
        let script: String = values
            .iter()
            .map(|v| format!("az {}\n", sh_quote(v)))
            .collect();
        let calls = az_calls(&script);
        let got: Vec<&str> = calls.iter().map(|c| c[0].as_str()).collect();
        assert_eq!(got, values);
    }

    #[test]
    fn comment_keeps_any_text_on_one_line() {
        let mut out = String::new();
        comment(&mut out, "a\nreboot\r\u{1b}[2J\u{2028}b");
        assert_eq!(out, "# a\\u{a}reboot\\u{d}\\u{1b}[2J\\u{2028}b\n");
        assert_eq!(out.lines().count(), 1);
        bash_n(&out);
    }

    #[test]
    fn other_clouds_are_named_in_the_header() {
        let mut f = sample::every_rule();
        f.cloud = Cloud::Usgov;
        let script = render(&f);
        check_script(&script);
        assert!(script.contains("# The report is from Azure Government: point the Azure CLI"));
        assert!(script.contains("# Report from the Azure Government, region westeurope"));
    }
}
