//! `fix --format managed`: a bash script of `az ml workspace outbound-rule set` commands, for a
//! workspace whose compute runs in the managed network Azure ML runs for it.
//!
//! A managed network has no firewall policy, NSG, route table or DNS of the user's to change:
//! its only knob is the workspace's outbound rules, of three types. An `fqdn` rule allows a
//! name on ports 80 and 443 (and makes Azure ML add a managed Azure Firewall, which is billed);
//! a `service_tag` rule allows a protocol and ports to a service tag; a `private_endpoint` rule
//! gives a resource, such as a storage account, a private endpoint in the network. Every
//! other change is explained in a comment: how the managed network already handles it, or
//! where outside the managed network it would have to be made.
//!
//! The rules are those of the shared [`Layout`], named as the layout names its NSG rules
//! (`amlprobe-` and the check), and the script follows the same rules as `--format az`: names
//! in variables with `REPLACE-` placeholders, every value single-quoted, every comment one line.

use super::az::{comment, comments, header, sh_quote, variable, whys};
use crate::fix::layout::{self, App, Item, Layout, Namer, Net, NO_NSG_PRIORITY, PREFIX};
use crate::fix::model::{Dest, Fixes, Protocol, PLACEHOLDER_PREFIX};
use crate::net::AZURE_DNS;

pub fn render(fixes: &Fixes) -> String {
    let mut layout = Layout::new(fixes);
    // A managed network has no NSG: a network rule that got no NSG priority is whole here.
    layout.refused.retain(|(_, why)| *why != NO_NSG_PRIORITY);
    let mut out = String::new();
    header(
        &mut out,
        fixes,
        "Azure ML managed network outbound rules",
        "Setting a rule that is there already updates it.",
    );
    match fixes.to_make().next() {
        None => comment(&mut out, layout::NOTHING_TO_CHANGE),
        Some(_) => {
            variables(&mut out, fixes, &layout);
            Script::default().write(&mut out, &layout);
        }
    }
    let mut lines = Vec::new();
    layout::trailer(fixes, &layout.refused, &mut lines);
    comments(&mut out, &lines);
    out
}

/// The ports an `fqdn` rule carries.
fn fqdn_port(port: u16) -> bool {
    port == 80 || port == 443
}

/// Whether a network rule to a name can be an `fqdn` rule: on one of its ports, and not UDP
/// alone (an `fqdn` rule is TCP).
fn fqdn_rule(net: &Net) -> bool {
    net.protocol != Protocol::Udp && fqdn_port(net.port)
}

/// Whether any rule becomes a command here, rather than a comment.
fn commands(layout: &Layout) -> bool {
    layout.app.iter().any(|item| fqdn_port(item.what.port))
        || layout.net.iter().any(|item| match item.what.dest {
            Dest::Tag(_) => true,
            Dest::Fqdn(_) => fqdn_rule(&item.what),
        })
        || !layout.storage.is_empty()
}

/// The workspace, and the subscription of a storage account that gets a private endpoint.
fn variables(out: &mut String, fixes: &Fixes, layout: &Layout) {
    if !commands(layout) {
        return;
    }
    out.push('\n');
    comment(
        out,
        "The workspace whose managed network the rules are for.",
    );
    variable(out, "RESOURCE_GROUP", &fixes.names.resource_group());
    variable(out, "WORKSPACE", &fixes.names.workspace());
    if !layout.storage.is_empty() {
        comment(out, "The subscription of the storage accounts below.");
        variable(
            out,
            "SUBSCRIPTION",
            &format!("{PLACEHOLDER_PREFIX}subscription-id"),
        );
    }
    out.push('\n');
    comment(
        out,
        "Azure ML adds the rules its own services need (the AzureMachineLearning and \
         BatchNodeManagement tags among them) by itself. To see what is there:",
    );
    comment(
        out,
        "az ml workspace outbound-rule list --resource-group \"$RESOURCE_GROUP\" \
         --workspace-name \"$WORKSPACE\"",
    );
}

/// `az ml workspace outbound-rule set` for the workspace, with the rule's own flags.
fn set(out: &mut String, name: &str, flags: &[String]) {
    let mut lines = vec![
        "az ml workspace outbound-rule set".to_string(),
        format!(
            "--resource-group \"$RESOURCE_GROUP\" --workspace-name \"$WORKSPACE\" --rule {}",
            sh_quote(name)
        ),
    ];
    lines.extend_from_slice(flags);
    out.push_str(&lines.join(" \\\n  "));
    out.push('\n');
}

/// What the script has said so far: the note on what an FQDN rule costs comes once, and the
/// workspace's outbound rules share one namespace.
#[derive(Default)]
struct Script {
    fqdn_rules: bool,
    names: Namer,
}

/// A blank line and the checks that call for the item.
fn start<T>(out: &mut String, item: &Item<T>) {
    out.push('\n');
    whys(out, item.why);
}

impl Script {
    /// Every item of the layout, in the model's order: a rule where the managed network takes
    /// one, a comment where it does not.
    fn write(&mut self, out: &mut String, layout: &Layout) {
        layout
            .app
            .iter()
            .for_each(|item| self.application(out, item));
        layout.net.iter().for_each(|item| self.network(out, item));
        layout.routes.iter().for_each(|item| route(out, item));
        layout.forwards.iter().for_each(|item| forward(out, item));
        layout.links.iter().for_each(|item| link(out, item));
        layout
            .tls
            .iter()
            .for_each(|item| no_tls_inspection(out, item));
        layout
            .storage
            .iter()
            .for_each(|item| self.storage(out, item));
        layout.proxies.iter().for_each(|item| proxy(out, item));
    }

    /// The rule's name: the layout's, marked as this tool's as an NSG rule's is, and unique
    /// among the workspace's outbound rules.
    fn name<T>(&mut self, item: &Item<T>) -> String {
        self.names.name(&format!("{PREFIX}-{}", item.name))
    }

    fn application(&mut self, out: &mut String, item: &Item<App>) {
        let App { fqdn, web, port } = item.what;
        start(out, item);
        if fqdn_port(port) {
            return self.fqdn(out, item, fqdn);
        }
        comment(
            out,
            &format!(
                "An fqdn rule carries only ports 80 and 443, so {} on port {port} to {fqdn} \
                 cannot be allowed by name, and no service tag is known to cover it.",
                web.azure()
            ),
        );
    }

    fn network(&mut self, out: &mut String, item: &Item<Net>) {
        let net = &item.what;
        start(out, item);
        match net.dest {
            Dest::Tag(tag) => {
                let name = self.name(item);
                set(
                    out,
                    &name,
                    &[
                        format!("--type service_tag --service-tag {}", sh_quote(tag)),
                        format!(
                            "--protocol {} --port-ranges {}",
                            sh_quote(net.protocol.managed()),
                            net.port
                        ),
                    ],
                );
            }
            Dest::Fqdn(fqdn) if fqdn_rule(net) => self.fqdn(out, item, fqdn),
            Dest::Fqdn(fqdn) => comment(
                out,
                &format!(
                    "An fqdn rule carries only TCP ports 80 and 443, so {} port {} to {fqdn} \
                     cannot be allowed by name. A service_tag rule could allow it, but no \
                     service tag is known to cover this name.",
                    net.protocol.azure(),
                    net.port
                ),
            ),
        }
    }

    /// An `fqdn` rule; the first says what it brings with it.
    fn fqdn<T>(&mut self, out: &mut String, item: &Item<T>, fqdn: &str) {
        if !std::mem::replace(&mut self.fqdn_rules, true) {
            comment(
                out,
                "An fqdn rule makes Azure ML add a managed Azure Firewall to the network, \
                 which is billed.",
            );
        }
        let name = self.name(item);
        set(
            out,
            &name,
            &[format!("--type fqdn --destination {}", sh_quote(fqdn))],
        );
    }

    /// A private endpoint for the account's blob service.
    fn storage(&mut self, out: &mut String, item: &Item<&str>) {
        start(out, item);
        comment(
            out,
            "A managed network reaches a storage account through a private endpoint, not a \
             subnet rule. Azure ML adds one itself for the workspace's default storage account \
             when it needs one.",
        );
        comment(
            out,
            "This one is for blob; jobs that use the account's file shares need another with \
             --subresource-target file. Change resourceGroups/ if the account is not in \
             $RESOURCE_GROUP.",
        );
        let name = self.name(item);
        set(
            out,
            &name,
            &[
                "--type private_endpoint".into(),
                format!(
                    "--service-resource-id \"/subscriptions/$SUBSCRIPTION/resourceGroups/\
                     $RESOURCE_GROUP/providers/Microsoft.Storage/storageAccounts/\"{}",
                    sh_quote(item.what)
                ),
                "--subresource-target blob --spark-enabled false".into(),
            ],
        );
    }
}

fn route(out: &mut String, item: &Item<&str>) {
    start(out, item);
    comment(
        out,
        &format!(
            "A managed network has no route table of yours: Azure ML routes its traffic itself, \
             so there is no route to add for {}.",
            item.what
        ),
    );
}

fn forward(out: &mut String, item: &Item<&str>) {
    let zone = item.what;
    start(out, item);
    comment(
        out,
        &format!(
            "Azure ML makes the private endpoints of a managed network and their DNS records \
             itself, so the managed network needs no forwarding for {zone}."
        ),
    );
    comment(
        out,
        &format!(
            "A custom DNS server in a network of your own, where clients reach the workspace, \
             still forwards {zone} to Azure DNS, {AZURE_DNS}."
        ),
    );
}

fn link(out: &mut String, item: &Item<&str>) {
    start(out, item);
    comment(
        out,
        &format!(
            "Azure ML links the private DNS zones of a managed network itself. {} needs a link \
             only to a VNet of your own, where clients reach the workspace (see --format az).",
            item.what
        ),
    );
}

fn no_tls_inspection(out: &mut String, item: &Item<App>) {
    start(out, item);
    comment(
        out,
        &format!(
            "The firewall of a managed network (Standard or Basic) does not inspect TLS. If {} \
             (port {}) is inspected, it is by a firewall or proxy of yours: exempt it there.",
            item.what.fqdn, item.what.port
        ),
    );
}

fn proxy(out: &mut String, item: &Item<(&str, u16)>) {
    let (host, port) = item.what;
    start(out, item);
    comment(
        out,
        &format!(
            "A managed network does not go through a proxy of yours. If jobs set one \
             (HTTPS_PROXY), it must allow CONNECT to {host}:{port}."
        ),
    );
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::az::tests::{
        az_calls, check_hostile, check_script, commands as script_commands, ScriptFormat,
    };
    use super::*;
    use crate::fix::model::Rule;
    use crate::fix::model::Web;
    use crate::fix::render::conformance::Uses;
    use crate::fix::sample::{self, bare, hostile, one};

    pub(in crate::fix::render) struct Managed;

    impl ScriptFormat for Managed {
        fn render(fixes: &Fixes) -> String {
            render(fixes)
        }
        const PLACEHOLDERS: &'static [(&'static str, &'static str)] = &[
            ("RESOURCE_GROUP", "REPLACE-resource-group"),
            ("WORKSPACE", "REPLACE-workspace"),
            ("SUBSCRIPTION", "REPLACE-subscription-id"),
        ];
        const LEFT: (&'static str, &'static str) = ("SUBSCRIPTION", "REPLACE-subscription-id");
        const HOSTILE_KEYS: &'static [&'static str] = &[
            "RESOURCE_GROUP",
            "WORKSPACE",
            "--resource-group",
            "--destination",
            "--service-tag",
        ];
        const ROUTE_ONLY: Uses = (&[], &[]);
        const LINK_ONLY: Uses = (&[], &[]);
    }

    /// The value after `flag` in one call.
    fn after(call: &[String], flag: &str) -> String {
        let i = call.iter().position(|a| a == flag).expect(flag);
        call[i + 1].clone()
    }

    /// The call that sets the rule `name`.
    fn rule(calls: &[Vec<String>], name: &str) -> Vec<String> {
        calls
            .iter()
            .find(|c| c.windows(2).any(|w| w[0] == "--rule" && w[1] == name))
            .unwrap_or_else(|| panic!("no rule {name}: {calls:?}"))
            .clone()
    }

    #[test]
    fn every_rule_is_a_valid_script() {
        let script = render(&sample::every_rule());
        check_script(&script);
        let calls = az_calls(&script);
        assert_eq!(calls.len(), script_commands(&script).len());
        // Three fqdn rules, two service tags, a private endpoint; the rest are comments.
        assert_eq!(calls.len(), 6, "{script}");
        for call in &calls {
            assert_eq!(call[..4], ["ml", "workspace", "outbound-rule", "set"]);
        }
    }

    #[test]
    fn the_udp_tag_rule_is_a_service_tag_rule() {
        let script = render(&sample::every_rule());
        let expected = "az ml workspace outbound-rule set \\
  --resource-group \"$RESOURCE_GROUP\" --workspace-name \"$WORKSPACE\" --rule 'amlprobe-tundra-udp-5831' \\
  --type service_tag --service-tag 'AzureMachineLearning' \\
  --protocol 'UDP' --port-ranges 5831
";
        assert!(script.contains(expected), "{script}");
        let calls = az_calls(&script);
        let batch = rule(&calls, "amlprobe-batch-443");
        assert_eq!(after(&batch, "--protocol"), "*");
        assert_eq!(
            after(&batch, "--service-tag"),
            "BatchNodeManagement.westeurope"
        );
        assert_eq!(after(&batch, "--port-ranges"), "443");
    }

    #[test]
    fn names_on_80_and_443_are_fqdn_rules() {
        let script = render(&sample::every_rule());
        let calls = az_calls(&script);
        let pythonhosted = rule(&calls, "amlprobe-pythonhosted-443");
        assert_eq!(after(&pythonhosted, "--type"), "fqdn");
        assert_eq!(after(&pythonhosted, "--destination"), "*.pythonhosted.org");
        assert_eq!(
            after(&rule(&calls, "amlprobe-entra-80"), "--destination"),
            "login.microsoftonline.com"
        );
        // The cost note comes once, before the first.
        assert_eq!(script.matches("which is billed").count(), 1);
        // Port 8787 to a name cannot be a rule here.
        assert!(!script.contains("--destination 'ci-one"));
        assert!(script.contains(
            "# An fqdn rule carries only TCP ports 80 and 443, so TCP port 8787 to \
             ci-one.westeurope.instances.azureml.ms cannot be allowed by name."
        ));
    }

    #[test]
    fn other_ports_and_udp_to_names_are_explained() {
        let script = render(&bare(vec![
            one(
                Rule::Application {
                    fqdn: "example.org".into(),
                    web: Web::Https,
                    port: 8443,
                },
                "a",
            ),
            one(
                Rule::Network {
                    protocol: Protocol::Udp,
                    port: 443,
                    dest: Dest::Fqdn("example.net".into()),
                },
                "b",
            ),
            one(
                Rule::Network {
                    protocol: Protocol::Any,
                    port: 443,
                    dest: Dest::Fqdn("example.com".into()),
                },
                "c",
            ),
        ]));
        check_script(&script);
        let calls = az_calls(&script);
        assert_eq!(calls.len(), 1, "{script}");
        assert_eq!(after(&calls[0], "--destination"), "example.com");
        assert!(script.contains("Https on port 8443 to example.org cannot be allowed by name"));
        assert!(script.contains("UDP port 443 to example.net cannot be allowed by name"));
    }

    #[test]
    fn storage_gets_a_private_endpoint() {
        let calls = az_calls(&render(&sample::every_rule()));
        let pe = rule(&calls, "amlprobe-amlstore1");
        assert_eq!(after(&pe, "--type"), "private_endpoint");
        assert_eq!(
            after(&pe, "--service-resource-id"),
            "/subscriptions/REPLACE-subscription-id/resourceGroups/REPLACE-resource-group\
             /providers/Microsoft.Storage/storageAccounts/amlstore1"
        );
        assert_eq!(after(&pe, "--subresource-target"), "blob");
        assert_eq!(after(&pe, "--spark-enabled"), "false");
    }

    #[test]
    fn the_rest_is_explained_in_comments() {
        let script = render(&sample::every_rule());
        for text in [
            "# A managed network has no route table of yours",
            "still forwards api.azureml.ms to Azure DNS, 168.63.129.16.",
            "# Azure ML links the private DNS zones of a managed network itself. \
             privatelink.api.azureml.ms",
            "If westeurope.api.azureml.ms (port 443) is inspected",
            "it must allow CONNECT to westeurope.api.azureml.ms:443.",
            "#   firewall application rule: Https 443 to *.data.mcr.microsoft.com",
            "#     Fix the node's clock.",
        ] {
            assert!(script.contains(text), "{text}\n{script}");
        }
        assert!(!script.contains("--destination '*.data.mcr.microsoft.com'"));
    }

    #[test]
    fn hostile_values_stay_quoted_and_on_their_line() {
        check_hostile(&render(&hostile()));
    }
}
