//! `fix --format az`: a bash script of Azure CLI commands for a VNet of the user's own,
//! for the team that owns its firewall policy, NSG, route table and DNS.
//!
//! The script is meant to be read before it is run. Every name it acts on is a shell variable
//! at the top, holding a `REPLACE-` placeholder where the report did not name the resource, so
//! nothing runs against a resource by accident. Every value from the report is single-quoted,
//! and every text from it that lands in a comment is kept to one line, so that no host name,
//! tag or reason can add a command of its own. Only the changes to make become commands; the
//! ones the node could not confirm, and the advice, stay in comments.
//!
//! Flags are those of the Azure CLI and its `azure-firewall` extension (installed on first use
//! of `az network firewall policy …`): `rule-collection-group create`,
//! `collection add-filter-collection` and `collection rule add` (`--rcg-name`,
//! `--collection-priority`, `--rule-type`, `--protocols Https=443`, `--target-fqdns`,
//! `--ip-protocols`, `--destination-addresses`, `--destination-fqdns`, `--destination-ports`,
//! `--enable-tls-inspection`), `nsg rule create`, `route-table route create`,
//! `private-dns link vnet create`, `vnet subnet update --service-endpoints` and
//! `storage account network-rule add`.

use std::collections::HashSet;
use std::fmt::Write;

use crate::context::Cloud;
use crate::fix::model::{
    Change, Dest, Fixes, Names, Protocol, Rule, Why, AZURE_DNS, PLACEHOLDER_PREFIX,
};
use crate::report::text::{hidden, printable};

/// The rule collection group the script creates, unless the user picks another name.
const GROUP: &str = "aml-outbound";

/// The first NSG priority, and the step between rules: lower numbers win, so the base must sit
/// below any outbound deny rule; 3000 leaves room on both sides within 100–4096.
const NSG_BASE: u16 = 3000;
const NSG_STEP: u16 = 10;

pub fn render(fixes: &Fixes) -> String {
    let mut out = String::new();
    header(
        &mut out,
        fixes,
        "Azure CLI changes",
        "Meant to run once: a rule that is already there makes its command fail.",
    );
    let make: Vec<&Change> = fixes.to_make().collect();
    if make.is_empty() {
        comment(&mut out, "Nothing to change.");
    } else {
        variables(&mut out, &fixes.names, &Needs::of(&make));
        let mut script = Script::default();
        for change in make {
            out.push('\n');
            whys(&mut out, change);
            script.change(&mut out, change);
        }
    }
    trailer(&mut out, fixes);
    out
}

/// `#!/usr/bin/env bash`, what the script is and what running it twice does, the cloud when it
/// is not the public one, and `set -euo pipefail`: the first failing command stops the rest.
pub(super) fn header(out: &mut String, fixes: &Fixes, what: &str, rerun: &str) {
    out.push_str("#!/usr/bin/env bash\n");
    let region = match &fixes.region {
        Some(r) => format!(", region {r}"),
        None => String::new(),
    };
    comment(
        out,
        &format!(
            "{what} that would make the failing checks of an amlprobe report pass \
             (cloud {}{region}).",
            fixes.cloud
        ),
    );
    comment(
        out,
        &format!(
            "Read each command before running it, and set every REPLACE- value first. {rerun}"
        ),
    );
    let cloud = match fixes.cloud {
        Cloud::Public => None,
        Cloud::Usgov => Some("Azure US Government"),
        Cloud::China => Some("Azure China"),
    };
    if let Some(cloud) = cloud {
        comment(
            out,
            &format!(
                "The report is from {cloud}: point the Azure CLI at that cloud first \
                 (az cloud list shows the names, az cloud set --name NAME picks one)."
            ),
        );
    }
    out.push_str("set -euo pipefail\n");
}

/// The changes to confirm and the advice, in comments: nothing here runs.
pub(super) fn trailer(out: &mut String, fixes: &Fixes) {
    let confirm: Vec<&Change> = fixes.to_confirm().collect();
    if !confirm.is_empty() {
        out.push('\n');
        comment(
            out,
            "Make sure these exist. The node could not confirm that they are missing, \
             so no command adds them:",
        );
        for change in confirm {
            whys(out, change);
            comment(out, &format!("  {}", describe(&change.rule)));
        }
    }
    if !fixes.advice.is_empty() {
        out.push('\n');
        comment(out, "No rule fixes these:");
        for advice in &fixes.advice {
            comment(out, &advice.why.line());
            comment(out, &format!("  {}", advice.text));
        }
    }
}

/// One comment line per check that calls for the change.
pub(super) fn whys(out: &mut String, change: &Change) {
    for why in &change.why {
        comment(out, &why.line());
    }
}

/// A `#` comment ends at the end of its line, so a newline in the text would start a command:
/// every character that does not print as itself (newlines, carriage returns, escapes,
/// invisible format characters) is written as a visible `\u{…}` escape instead.
pub(super) fn comment(out: &mut String, text: &str) {
    out.push_str("# ");
    out.push_str(&printable(text));
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

/// A rule in words, for the changes only to confirm.
pub(super) fn describe(rule: &Rule) -> String {
    match rule {
        Rule::Application { fqdn, web, port } => format!(
            "an application rule that allows {} on port {port} to {fqdn}",
            web.azure()
        ),
        Rule::Network {
            protocol,
            port,
            dest,
        } => {
            let to = match dest {
                Dest::Tag(tag) => format!("service tag {tag}"),
                Dest::Fqdn(name) => name.clone(),
            };
            format!(
                "a network rule that allows {} port {port} to {to}",
                protocol.azure()
            )
        }
        Rule::Route { tag } => {
            format!("a route that sends service tag {tag} out directly, not through the firewall")
        }
        Rule::Forward { zone } => {
            format!("the custom DNS server forwards {zone} to Azure DNS ({AZURE_DNS})")
        }
        Rule::ZoneLink { zone } => format!("the private DNS zone {zone} is linked to the VNet"),
        Rule::NoTlsInspection { fqdn, port } => {
            format!("{fqdn} port {port} is exempt from TLS inspection")
        }
        Rule::StorageSubnet { account } => {
            format!("the storage account {account} lets the compute subnet in")
        }
        Rule::ProxyConnect { host, port } => {
            format!("the proxy allows CONNECT to {host}:{port}")
        }
    }
}

/// Names for rules: the first check's id and a word for the kind of rule, in letters, digits
/// and hyphens (what firewall, NSG, route and link names all allow), under 80 characters, and
/// a number added where two rules would otherwise share a name.
#[derive(Default)]
pub(super) struct Namer {
    used: HashSet<String>,
}

impl Namer {
    pub(super) fn name(&mut self, check: Option<&str>, kind: &str) -> String {
        let mut stem = String::new();
        for c in check.unwrap_or("").chars() {
            if c.is_ascii_alphanumeric() {
                stem.push(c.to_ascii_lowercase());
            } else if !stem.is_empty() && !stem.ends_with('-') {
                stem.push('-');
            }
            if stem.len() >= 60 {
                break;
            }
        }
        let stem = stem.trim_end_matches('-');
        let base = match stem.is_empty() {
            true => format!("rule-{kind}"),
            false => format!("{stem}-{kind}"),
        };
        let mut name = base.clone();
        let mut n = 2;
        while !self.used.insert(name.clone()) {
            name = format!("{base}-{n}");
            n += 1;
        }
        name
    }
}

/// The check a change's name comes from: its first.
pub(super) fn first_check(why: &[Why]) -> Option<&str> {
    why.first().map(|w| w.check.as_str())
}

/// Which variables the commands use, so the script asks only for the names it needs.
#[derive(Default)]
struct Needs {
    firewall: bool,
    network: bool,
    application: bool,
    no_tls: bool,
    nsg: bool,
    route: bool,
    link: bool,
    storage: bool,
}

impl Needs {
    fn of(changes: &[&Change]) -> Needs {
        let mut n = Needs::default();
        for c in changes {
            match &c.rule {
                Rule::Application { .. } => n.application = true,
                Rule::Network { dest, .. } => {
                    n.network = true;
                    n.nsg |= matches!(dest, Dest::Tag(_));
                }
                Rule::NoTlsInspection { .. } => n.no_tls = true,
                Rule::Route { .. } => n.route = true,
                Rule::ZoneLink { .. } => n.link = true,
                Rule::StorageSubnet { .. } => n.storage = true,
                Rule::Forward { .. } | Rule::ProxyConnect { .. } => {}
            }
        }
        n.firewall = n.application || n.network || n.no_tls;
        n
    }

    /// Whether any command runs at all (forwarding and proxy changes are comments only).
    fn any(&self) -> bool {
        self.firewall || self.route || self.link || self.storage
    }
}

/// `NAME='value'`: a name the commands use as `"$NAME"`.
pub(super) fn variable(out: &mut String, name: &str, value: &str) {
    let _ = writeln!(out, "{name}={}", sh_quote(value));
}

/// The names the commands act on, one variable each.
fn variables(out: &mut String, names: &Names, needs: &Needs) {
    if !needs.any() {
        return;
    }
    out.push('\n');
    comment(
        out,
        "The resources to change. One resource group stands for all of them: where one lives \
         elsewhere, change that command's --resource-group.",
    );
    variable(out, "RG", &names.resource_group());
    if needs.firewall {
        variable(out, "POLICY", &names.firewall_policy());
    }
    if needs.nsg {
        variable(out, "NSG", &names.nsg());
    }
    if needs.route {
        variable(out, "ROUTE_TABLE", &names.route_table());
    }
    if needs.link || needs.storage {
        variable(out, "VNET", &names.vnet());
    }
    if needs.storage {
        variable(out, "SUBNET", &names.subnet());
    }
    if needs.firewall {
        comment(
            out,
            "The compute subnet's address range, where the firewall rules allow traffic from \
             (az network vnet subnet show --query addressPrefix shows it).",
        );
        variable(
            out,
            "SOURCE",
            &format!("{}subnet-address-range", PLACEHOLDER_PREFIX),
        );
        comment(
            out,
            "A rule collection group of its own: creating it replaces any group of that name.",
        );
        variable(out, "RCG", GROUP);
        variable(out, "RCG_PRIORITY", "500");
        if needs.network {
            variable(out, "NET_PRIORITY", "200");
        }
        if needs.no_tls {
            comment(
                out,
                "The TLS inspection exemptions come before any rule that inspects the same names.",
            );
            variable(out, "NO_TLS_PRIORITY", "300");
        }
        if needs.application {
            variable(out, "APP_PRIORITY", "400");
        }
    }
    if needs.nsg {
        comment(
            out,
            &format!(
                "NSG rules count up from here in steps of {NSG_STEP}. Lower numbers win: keep \
                 them below any outbound deny rule."
            ),
        );
        variable(out, "NSG_PRIORITY", &NSG_BASE.to_string());
    }
}

/// A filter rule collection in the script's rule collection group.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Collection {
    Network,
    NoTls,
    Application,
}

impl Collection {
    fn name(self) -> &'static str {
        match self {
            Collection::Network => "aml-network",
            Collection::NoTls => "aml-no-tls-inspection",
            Collection::Application => "aml-application",
        }
    }

    fn priority(self) -> &'static str {
        match self {
            Collection::Network => "NET_PRIORITY",
            Collection::NoTls => "NO_TLS_PRIORITY",
            Collection::Application => "APP_PRIORITY",
        }
    }

    fn rule_type(self) -> &'static str {
        match self {
            Collection::Network => "NetworkRule",
            Collection::NoTls | Collection::Application => "ApplicationRule",
        }
    }
}

/// One command: `az …` and its flags, one group of flags to a line, joined by `\`.
fn command(out: &mut String, lines: &[String]) {
    out.push_str(&lines.join(" \\\n  "));
    out.push('\n');
}

/// What the script has made so far: the group and each collection are created by the first
/// rule that needs them, NSG rules are numbered in order, and the subnet's service endpoint
/// and the DNS proxy note come once.
#[derive(Default)]
struct Script {
    group: bool,
    collections: HashSet<Collection>,
    nsg_rules: u16,
    service_endpoint: bool,
    dns_proxy: bool,
    names: Namer,
}

impl Script {
    fn change(&mut self, out: &mut String, change: &Change) {
        let check = first_check(&change.why);
        match &change.rule {
            Rule::Application { fqdn, web, port } => {
                let name = self.names.name(check, "app");
                self.filter_rule(
                    out,
                    Collection::Application,
                    &name,
                    vec![
                        "--source-addresses \"$SOURCE\"".into(),
                        format!(
                            "--protocols {}={port} --target-fqdns {}",
                            web.azure(),
                            sh_quote(fqdn)
                        ),
                    ],
                );
            }
            Rule::Network {
                protocol,
                port,
                dest,
            } => self.network(out, check, *protocol, *port, dest),
            Rule::Route { tag } => {
                comment(
                    out,
                    "Sends the tag's addresses out directly, past a default route through the \
                     firewall.",
                );
                let name = self.names.name(Some(tag), "route");
                command(
                    out,
                    &[
                        "az network route-table route create".into(),
                        "--resource-group \"$RG\" --route-table-name \"$ROUTE_TABLE\"".into(),
                        format!(
                            "--name {} --address-prefix {} --next-hop-type Internet",
                            sh_quote(&name),
                            sh_quote(tag)
                        ),
                    ],
                );
            }
            Rule::Forward { zone } => {
                comment(
                    out,
                    &format!(
                        "The custom DNS server must forward {zone} to Azure DNS, {AZURE_DNS}. \
                         The server is not an Azure resource, so there is no command for it."
                    ),
                );
                comment(
                    out,
                    &format!(
                        "{AZURE_DNS} answers only inside Azure: a server outside forwards to a \
                         DNS resolver (or DNS server) in the VNet instead."
                    ),
                );
            }
            Rule::ZoneLink { zone } => {
                comment(
                    out,
                    "--resource-group is the zone's. --virtual-network takes the VNet's full \
                     resource ID when the VNet is in another resource group.",
                );
                let name = self.names.name(Some(zone), "link");
                command(
                    out,
                    &[
                        "az network private-dns link vnet create".into(),
                        format!(
                            "--resource-group \"$RG\" --zone-name {} --name {}",
                            sh_quote(zone),
                            sh_quote(&name)
                        ),
                        "--virtual-network \"$VNET\" --registration-enabled false".into(),
                    ],
                );
            }
            Rule::NoTlsInspection { fqdn, port } => {
                comment(
                    out,
                    "Azure Firewall Premium: an application rule for this name with TLS \
                     inspection off, ahead of the rules that inspect.",
                );
                let name = self.names.name(check, "no-tls");
                self.filter_rule(
                    out,
                    Collection::NoTls,
                    &name,
                    vec![
                        "--source-addresses \"$SOURCE\"".into(),
                        format!("--protocols Https={port} --target-fqdns {}", sh_quote(fqdn)),
                        "--enable-tls-inspection false".into(),
                    ],
                );
                comment(
                    out,
                    &format!(
                        "Another firewall or proxy that inspects TLS: add {fqdn} (port {port}) \
                         to its inspection bypass list."
                    ),
                );
            }
            Rule::StorageSubnet { account } => {
                comment(
                    out,
                    "A service endpoint lets the subnet past the account's firewall with no DNS \
                     change; a private endpoint instead gives the account an address in the VNet.",
                );
                if !self.service_endpoint {
                    self.service_endpoint = true;
                    comment(
                        out,
                        "--service-endpoints sets the subnet's whole list: add any it has \
                         already (az network vnet subnet show --query serviceEndpoints).",
                    );
                    command(
                        out,
                        &[
                            "az network vnet subnet update".into(),
                            "--resource-group \"$RG\" --vnet-name \"$VNET\" --name \"$SUBNET\""
                                .into(),
                            "--service-endpoints Microsoft.Storage".into(),
                        ],
                    );
                }
                comment(
                    out,
                    "--resource-group is the account's; for a VNet in another resource group, \
                     give --subnet the subnet's full resource ID instead of --vnet-name.",
                );
                command(
                    out,
                    &[
                        "az storage account network-rule add".into(),
                        format!(
                            "--resource-group \"$RG\" --account-name {}",
                            sh_quote(account)
                        ),
                        "--vnet-name \"$VNET\" --subnet \"$SUBNET\"".into(),
                    ],
                );
            }
            Rule::ProxyConnect { host, port } => {
                comment(
                    out,
                    &format!(
                        "The HTTP proxy must allow CONNECT to {host}:{port}. The proxy is not an \
                         Azure resource, so there is no command for it."
                    ),
                );
            }
        }
    }

    /// A firewall network rule; to a service tag, also an NSG rule, since an NSG on the
    /// subnet filters the same flow. An NSG takes no names, so a name gets the firewall rule
    /// only, and that needs the policy's DNS proxy.
    fn network(
        &mut self,
        out: &mut String,
        check: Option<&str>,
        protocol: Protocol,
        port: u16,
        dest: &Dest,
    ) {
        let to = match dest {
            Dest::Tag(tag) => format!("--destination-addresses {}", sh_quote(tag)),
            Dest::Fqdn(name) if self.dns_proxy => {
                comment(
                    out,
                    "A name in a network rule needs the DNS proxy on (see above).",
                );
                format!("--destination-fqdns {}", sh_quote(name))
            }
            Dest::Fqdn(name) => {
                self.dns_proxy = true;
                comment(
                    out,
                    "A name in a network rule needs the firewall policy's DNS proxy on, and the \
                     VNet's DNS servers set to the firewall. Turning it on changes DNS for \
                     every client of the firewall, so it is left for you to run:",
                );
                comment(
                    out,
                    "az network firewall policy update --resource-group \"$RG\" --name \
                     \"$POLICY\" --enable-dns-proxy true",
                );
                format!("--destination-fqdns {}", sh_quote(name))
            }
        };
        let name = self.names.name(check, "net");
        self.filter_rule(
            out,
            Collection::Network,
            &name,
            vec![
                "--source-addresses \"$SOURCE\"".into(),
                format!("--ip-protocols {} {to}", protocol.azure()),
                format!("--destination-ports {port}"),
            ],
        );
        let tag = match dest {
            Dest::Tag(tag) => tag,
            Dest::Fqdn(_) => {
                comment(
                    out,
                    "An NSG cannot filter by name: no NSG rule for this one.",
                );
                return;
            }
        };
        let priority = match self.nsg_rules {
            0 => "\"$NSG_PRIORITY\"".to_string(),
            n => format!(
                "\"$((NSG_PRIORITY + {}))\"",
                u32::from(n) * u32::from(NSG_STEP)
            ),
        };
        self.nsg_rules += 1;
        let protocol = match protocol {
            Protocol::Tcp => "Tcp",
            Protocol::Udp => "Udp",
            Protocol::Any => "'*'",
        };
        let name = self.names.name(check, "nsg");
        command(
            out,
            &[
                "az network nsg rule create".into(),
                format!(
                    "--resource-group \"$RG\" --nsg-name \"$NSG\" --name {}",
                    sh_quote(&name)
                ),
                format!(
                    "--priority {priority} --direction Outbound --access Allow --protocol {protocol}"
                ),
                format!(
                    "--source-address-prefixes VirtualNetwork --destination-address-prefixes {}",
                    sh_quote(tag)
                ),
                format!("--destination-port-ranges {port}"),
            ],
        );
    }

    /// A rule in one of the group's filter collections: the first rule of a collection creates
    /// it (and the first of all creates the group); the rest are added to it.
    fn filter_rule(
        &mut self,
        out: &mut String,
        collection: Collection,
        name: &str,
        flags: Vec<String>,
    ) {
        if !self.group {
            self.group = true;
            command(
                out,
                &[
                    "az network firewall policy rule-collection-group create".into(),
                    "--resource-group \"$RG\" --policy-name \"$POLICY\"".into(),
                    "--name \"$RCG\" --priority \"$RCG_PRIORITY\"".into(),
                ],
            );
        }
        let mut lines: Vec<String> = if self.collections.insert(collection) {
            vec![
                "az network firewall policy rule-collection-group collection add-filter-collection"
                    .into(),
                "--resource-group \"$RG\" --policy-name \"$POLICY\" --rcg-name \"$RCG\"".into(),
                format!(
                    "--name {} --collection-priority \"${}\" --action Allow",
                    collection.name(),
                    collection.priority()
                ),
                format!(
                    "--rule-name {} --rule-type {}",
                    sh_quote(name),
                    collection.rule_type()
                ),
            ]
        } else {
            vec![
                "az network firewall policy rule-collection-group collection rule add".into(),
                "--resource-group \"$RG\" --policy-name \"$POLICY\" --rcg-name \"$RCG\"".into(),
                format!(
                    "--collection-name {} --name {} --rule-type {}",
                    collection.name(),
                    sh_quote(name),
                    collection.rule_type()
                ),
            ]
        };
        lines.extend(flags);
        command(out, &lines);
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
    use crate::context::Mode;
    use crate::fix::model::{sample, Advice, Web};

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
        let stub = "az() { printf '%s\\0' \"$@\" $'\\x1e'; }\n";
        let out = bash(&["-s"], &format!("{stub}{script}"))
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

    /// What every script must hold to: it parses; every command is `az` in a known group;
    /// nothing opens traffic to everywhere or names the whole of Azure or the internet.
    pub(in crate::fix::render) fn check_script(script: &str) {
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
        assert!(!script.contains("0.0.0.0/0"), "{script}");
        assert!(!script.contains("AzureCloud"), "{script}");
        let rest = script.replace("--next-hop-type Internet", "");
        assert!(!rest.to_lowercase().contains("internet"), "{script}");
    }

    /// A change for one rule.
    pub(in crate::fix::render) fn change(rule: Rule, check: &str) -> Change {
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

    /// Fixes with the given changes and nothing else.
    pub(in crate::fix::render) fn fixes(changes: Vec<Change>) -> Fixes {
        Fixes {
            cloud: Cloud::Public,
            region: None,
            mode: Mode::Auto,
            changes,
            advice: vec![],
            names: Names::default(),
        }
    }

    /// A value that would run a command, or start one on a new line, if it were not quoted.
    pub(in crate::fix::render) const HOSTILE: &str = "a'b$(reboot)`reboot`\n\"c\";reboot #\r";

    /// Every rule, with the hostile value in each place a value goes, and a Why that would
    /// start a new line.
    pub(in crate::fix::render) fn hostile() -> Fixes {
        let h = || HOSTILE.to_string();
        let rules = vec![
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
                protocol: Protocol::Udp,
                port: 53,
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
        let mut changes: Vec<Change> = rules
            .into_iter()
            .map(|rule| {
                let mut c = change(rule, "x\nreboot\r\nreboot");
                c.why[0].reason = "y\nreboot".into();
                c.why[0].doc = "\nreboot\u{2028}reboot".into();
                c
            })
            .collect();
        let mut confirm = change(
            Rule::Application {
                fqdn: h(),
                web: Web::Http,
                port: 80,
            },
            "\nreboot",
        );
        confirm.confirm = true;
        changes.push(confirm);
        let mut f = fixes(changes);
        f.advice = vec![Advice {
            why: Why {
                check: "c\nreboot".into(),
                reason: "r".into(),
                doc: String::new(),
            },
            text: "t\nreboot".into(),
        }];
        f.names = Names {
            firewall_policy: Some(h()),
            nsg: Some(h()),
            route_table: Some(h()),
            resource_group: Some(h()),
            workspace: Some(h()),
            vnet: Some(h()),
            subnet: Some(h()),
        };
        f
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
  --resource-group \"$RG\" --nsg-name \"$NSG\" --name 'tundra-udp-5831-nsg' \\
  --priority \"$NSG_PRIORITY\" --direction Outbound --access Allow --protocol Udp \\
  --source-address-prefixes VirtualNetwork --destination-address-prefixes 'AzureMachineLearning' \\
  --destination-port-ranges 5831
";
        assert!(script.contains(nsg), "{script}");
        let firewall =
            "az network firewall policy rule-collection-group collection add-filter-collection \\
  --resource-group \"$RG\" --policy-name \"$POLICY\" --rcg-name \"$RCG\" \\
  --name aml-network --collection-priority \"$NET_PRIORITY\" --action Allow \\
  --rule-name 'tundra-udp-5831-net' --rule-type NetworkRule \\
  --source-addresses \"$SOURCE\" \\
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
        // NSG rules count up from the base.
        assert_eq!(after(&find("tundra-udp-5831-nsg"), "--priority"), "3000");
        let batch = find("batch-443-nsg");
        assert_eq!(after(&batch, "--priority"), "3010");
        assert_eq!(after(&batch, "--protocol"), "*");
        // The first application rule makes the collection; the next ones join it.
        assert_eq!(find("graph-443-app")[5], "add-filter-collection");
        let pythonhosted = find("pythonhosted-443-app");
        assert_eq!(pythonhosted[5..7], ["rule".to_string(), "add".to_string()]);
        assert_eq!(after(&pythonhosted, "--target-fqdns"), "*.pythonhosted.org");
        assert_eq!(after(&pythonhosted, "--protocols"), "Https=443");
        assert_eq!(
            after(&find("entra-80-app"), "--protocols"),
            "Http=80",
            "{calls:?}"
        );
        // Placeholders reach the command as they are.
        assert_eq!(after(&batch, "--resource-group"), "REPLACE-resource-group");
        assert_eq!(
            after(&find("graph-443-app"), "--source-addresses"),
            "REPLACE-subnet-address-range"
        );
        let route = find("batchnodemanagement-westeurope-route");
        assert_eq!(
            after(&route, "--address-prefix"),
            "BatchNodeManagement.westeurope"
        );
        assert_eq!(after(&route, "--next-hop-type"), "Internet");
        let tls = find("workspace-api-443-no-tls");
        assert_eq!(after(&tls, "--enable-tls-inspection"), "false");
        assert_eq!(after(&tls, "--target-fqdns"), "westeurope.api.azureml.ms");
        let link = find("privatelink-api-azureml-ms-link");
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
            "# az network firewall policy update --resource-group \"$RG\" --name \"$POLICY\" \
             --enable-dns-proxy true\n"
        ));
        assert!(script.contains("# An NSG cannot filter by name"));
        assert!(!script.contains("instances-8787-nsg"));
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
            "# mcr-data-443 (stand_in_unresolvable), \
             https://learn.microsoft.com/azure/machine-learning/how-to-secure-training-vnet\n\
             #   an application rule that allows Https on port 443 to *.data.mcr.microsoft.com\n"
        ));
        assert!(commands(confirm_part).is_empty());
        assert!(confirm_part.contains("# No rule fixes these:\n# node-clock (clock_skew), "));
        assert!(confirm_part.contains("#   Fix the node's clock.\n"));
        // Forwarding and the proxy are words, not commands.
        assert!(commands_part.contains(
            "# The custom DNS server must forward api.azureml.ms to Azure DNS, 168.63.129.16."
        ));
        assert!(commands_part
            .contains("# The HTTP proxy must allow CONNECT to westeurope.api.azureml.ms:443."));
    }

    #[test]
    fn each_rule_follows_its_reasons() {
        let script = render(&sample::every_rule());
        let reason = script
            .find("# graph-443 (tcp_refused), https://")
            .expect("the reason");
        let rule = script.find("'graph-443-app'").expect("the rule");
        assert!(reason < rule);
    }

    #[test]
    fn rule_names_are_distinct_and_valid() {
        let mut namer = Namer::default();
        let a = namer.name(Some("batch-443"), "net");
        let b = namer.name(Some("batch-443"), "net");
        assert_eq!(
            (a.as_str(), b.as_str()),
            ("batch-443-net", "batch-443-net-2")
        );
        assert_eq!(
            namer.name(Some("Odd id_with.dots"), "app"),
            "odd-id-with-dots-app"
        );
        assert_eq!(namer.name(Some("--"), "app"), "rule-app");
        assert_eq!(namer.name(None, "link"), "rule-link");
        let long = namer.name(Some(&"x".repeat(300)), "no-tls-2");
        assert!(long.len() < 80, "{long}");
        for name in [a, b, long] {
            assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        }
    }

    #[test]
    fn placeholders_stand_for_names_not_given() {
        let script = render(&sample::every_rule());
        for line in [
            "RG='REPLACE-resource-group'",
            "POLICY='REPLACE-firewall-policy'",
            "NSG='REPLACE-nsg'",
            "ROUTE_TABLE='REPLACE-route-table'",
            "VNET='REPLACE-vnet'",
            "SUBNET='REPLACE-subnet'",
            "SOURCE='REPLACE-subnet-address-range'",
            "RCG='aml-outbound'",
            "NSG_PRIORITY='3000'",
        ] {
            assert!(script.contains(&format!("\n{line}\n")), "{line}\n{script}");
        }
    }

    #[test]
    fn given_names_replace_the_placeholders() {
        let mut fixes = sample::every_rule();
        fixes.names = Names {
            firewall_policy: Some("fw-policy".into()),
            nsg: Some("nsg-compute".into()),
            route_table: Some("rt-compute".into()),
            resource_group: Some("rg-net".into()),
            workspace: Some("ws".into()),
            vnet: Some("vnet-hub".into()),
            subnet: Some("snet-compute".into()),
        };
        let script = render(&fixes);
        check_script(&script);
        for line in [
            "RG='rg-net'",
            "POLICY='fw-policy'",
            "NSG='nsg-compute'",
            "ROUTE_TABLE='rt-compute'",
            "VNET='vnet-hub'",
            "SUBNET='snet-compute'",
        ] {
            assert!(script.contains(&format!("\n{line}\n")), "{line}\n{script}");
        }
        assert!(!script.contains("REPLACE-resource-group"));
        // Only the address range, which no report holds, is left to fill in.
        let left: Vec<&str> = script
            .lines()
            .filter(|l| !l.starts_with('#') && l.contains("REPLACE-"))
            .collect();
        assert_eq!(left, ["SOURCE='REPLACE-subnet-address-range'"]);
    }

    #[test]
    fn only_the_names_used_are_asked_for() {
        let script = render(&fixes(vec![change(
            Rule::Route {
                tag: "AzureMachineLearning".into(),
            },
            "aml-443",
        )]));
        check_script(&script);
        assert!(
            script.contains("\nRG='REPLACE-resource-group'\nROUTE_TABLE='REPLACE-route-table'\n")
        );
        assert!(!script.contains("POLICY="));
        assert!(!script.contains("NSG="));
    }

    #[test]
    fn nothing_to_change_is_a_valid_script_that_says_so() {
        let script = render(&fixes(vec![]));
        check_script(&script);
        assert!(commands(&script).is_empty());
        assert!(script.contains("# Nothing to change.\n"));
        assert!(!script.contains("exit"));
        assert!(az_calls(&script).is_empty());
    }

    #[test]
    fn comments_and_forwards_alone_run_nothing() {
        let script = render(&fixes(vec![
            change(
                Rule::Forward {
                    zone: "api.azureml.ms".into(),
                },
                "dns",
            ),
            change(
                Rule::ProxyConnect {
                    host: "pypi.org".into(),
                    port: 443,
                },
                "proxy",
            ),
        ]));
        check_script(&script);
        assert!(commands(&script).is_empty());
        assert!(!script.contains("RG="));
    }

    #[test]
    fn hostile_values_stay_quoted_and_on_their_line() {
        let script = render(&hostile());
        check_hostile(&script);
        assert!(script.contains(
            "--target-fqdns 'a'\\''b$(reboot)`reboot`'$'\\x0a''\"c\";reboot #'$'\\x0d'''"
        ));
        // The Why's newline is a visible escape in its comment.
        assert!(script.contains(
            "# x\\u{a}reboot\\u{d}\\u{a}reboot (y\\u{a}reboot), \\u{a}reboot\\u{2028}reboot\n"
        ));
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
        assert!(script.contains("# The report is from Azure US Government: point the Azure CLI"));
    }
}
