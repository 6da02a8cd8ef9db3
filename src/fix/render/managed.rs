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
//! The script follows the same rules as `--format az`: names in variables with `REPLACE-`
//! placeholders, every value single-quoted, every comment one line.

use super::az::{comment, first_check, header, sh_quote, trailer, variable, whys, Namer};
use crate::fix::model::{Change, Dest, Fixes, Protocol, Rule, AZURE_DNS, PLACEHOLDER_PREFIX};

pub fn render(fixes: &Fixes) -> String {
    let mut out = String::new();
    header(
        &mut out,
        fixes,
        "Azure ML managed network outbound rules",
        "Setting a rule that is there already updates it.",
    );
    let make: Vec<&Change> = fixes.to_make().collect();
    if make.is_empty() {
        comment(&mut out, "Nothing to change.");
    } else {
        variables(&mut out, fixes, &make);
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

/// Whether a rule becomes a command here, rather than a comment.
fn commands(rule: &Rule) -> bool {
    match rule {
        Rule::Application { port, .. } => fqdn_port(*port),
        Rule::Network {
            protocol,
            port,
            dest,
        } => match dest {
            Dest::Tag(_) => true,
            Dest::Fqdn(_) => *protocol != Protocol::Udp && fqdn_port(*port),
        },
        Rule::StorageSubnet { .. } => true,
        Rule::Route { .. }
        | Rule::Forward { .. }
        | Rule::ZoneLink { .. }
        | Rule::NoTlsInspection { .. }
        | Rule::ProxyConnect { .. } => false,
    }
}

/// The ports an `fqdn` rule carries.
fn fqdn_port(port: u16) -> bool {
    port == 80 || port == 443
}

/// The workspace, and the subscription of a storage account that gets a private endpoint.
fn variables(out: &mut String, fixes: &Fixes, make: &[&Change]) {
    if !make.iter().any(|c| commands(&c.rule)) {
        return;
    }
    out.push('\n');
    comment(
        out,
        "The workspace whose managed network the rules are for.",
    );
    variable(out, "RG", &fixes.names.resource_group());
    variable(out, "WORKSPACE", &fixes.names.workspace());
    if make
        .iter()
        .any(|c| matches!(c.rule, Rule::StorageSubnet { .. }))
    {
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
        "az ml workspace outbound-rule list --resource-group \"$RG\" --workspace-name \"$WORKSPACE\"",
    );
}

/// `az ml workspace outbound-rule set` for the workspace, with the rule's own flags.
fn set(out: &mut String, name: &str, flags: &[String]) {
    let mut lines = vec![
        "az ml workspace outbound-rule set".to_string(),
        format!(
            "--resource-group \"$RG\" --workspace-name \"$WORKSPACE\" --rule {}",
            sh_quote(name)
        ),
    ];
    lines.extend_from_slice(flags);
    out.push_str(&lines.join(" \\\n  "));
    out.push('\n');
}

/// What the script has said so far: the note on what an FQDN rule costs comes once.
#[derive(Default)]
struct Script {
    fqdn_rules: bool,
    names: Namer,
}

impl Script {
    fn change(&mut self, out: &mut String, change: &Change) {
        let check = first_check(&change.why);
        match &change.rule {
            Rule::Application { fqdn, port, .. } if fqdn_port(*port) => {
                self.fqdn(out, check, fqdn);
            }
            Rule::Application { fqdn, web, port } => comment(
                out,
                &format!(
                    "An fqdn rule carries only ports 80 and 443, so {} on port {port} to {fqdn} \
                     cannot be allowed by name, and no service tag is known to cover it.",
                    web.azure()
                ),
            ),
            Rule::Network {
                protocol,
                port,
                dest: Dest::Tag(tag),
            } => {
                // `*` is how the rule writes every protocol; it is quoted for the shell.
                let protocol = match protocol {
                    Protocol::Tcp => "TCP",
                    Protocol::Udp => "UDP",
                    Protocol::Any => "'*'",
                };
                let name = self.names.name(check, "tag");
                set(
                    out,
                    &name,
                    &[
                        format!("--type service_tag --service-tag {}", sh_quote(tag)),
                        format!("--protocol {protocol} --port-ranges {port}"),
                    ],
                );
            }
            Rule::Network {
                protocol,
                port,
                dest: Dest::Fqdn(fqdn),
            } => match *protocol != Protocol::Udp && fqdn_port(*port) {
                true => self.fqdn(out, check, fqdn),
                false => comment(
                    out,
                    &format!(
                        "An fqdn rule carries only TCP ports 80 and 443, so {} port {port} to \
                         {fqdn} cannot be allowed by name. A service_tag rule could allow it, \
                         but no service tag is known to cover this name.",
                        protocol.azure()
                    ),
                ),
            },
            Rule::Route { tag } => comment(
                out,
                &format!(
                    "A managed network has no route table of yours: Azure ML routes its \
                     traffic itself, so there is no route to add for {tag}."
                ),
            ),
            Rule::Forward { zone } => {
                comment(
                    out,
                    &format!(
                        "Azure ML makes the private endpoints of a managed network and their \
                         DNS records itself, so the managed network needs no forwarding for \
                         {zone}."
                    ),
                );
                comment(
                    out,
                    &format!(
                        "A custom DNS server in a network of your own, where clients reach the \
                         workspace, still forwards {zone} to Azure DNS, {AZURE_DNS}."
                    ),
                );
            }
            Rule::ZoneLink { zone } => comment(
                out,
                &format!(
                    "Azure ML links the private DNS zones of a managed network itself. {zone} \
                     needs a link only to a VNet of your own, where clients reach the \
                     workspace (see --format az)."
                ),
            ),
            Rule::NoTlsInspection { fqdn, port } => comment(
                out,
                &format!(
                    "The firewall of a managed network (Standard or Basic) does not inspect \
                     TLS. If {fqdn} (port {port}) is inspected, it is by a firewall or proxy of \
                     yours: exempt it there."
                ),
            ),
            Rule::StorageSubnet { account } => {
                comment(
                    out,
                    "A managed network reaches a storage account through a private endpoint, \
                     not a subnet rule. Azure ML adds one itself for the workspace's default \
                     storage account when it needs one.",
                );
                comment(
                    out,
                    "This one is for blob; jobs that use the account's file shares need another \
                     with --subresource-target file. Change resourceGroups/ if the account is \
                     not in $RG.",
                );
                let name = self.names.name(check, "pe");
                set(
                    out,
                    &name,
                    &[
                        "--type private_endpoint".into(),
                        format!(
                            "--service-resource-id \"/subscriptions/$SUBSCRIPTION/resourceGroups/\
                             $RG/providers/Microsoft.Storage/storageAccounts/\"{}",
                            sh_quote(account)
                        ),
                        "--subresource-target blob --spark-enabled false".into(),
                    ],
                );
            }
            Rule::ProxyConnect { host, port } => comment(
                out,
                &format!(
                    "A managed network does not go through a proxy of yours. If jobs set one \
                     (HTTPS_PROXY), it must allow CONNECT to {host}:{port}."
                ),
            ),
        }
    }

    /// An `fqdn` rule; the first says what it brings with it.
    fn fqdn(&mut self, out: &mut String, check: Option<&str>, fqdn: &str) {
        if !self.fqdn_rules {
            self.fqdn_rules = true;
            comment(
                out,
                "An fqdn rule makes Azure ML add a managed Azure Firewall to the network, \
                 which is billed.",
            );
        }
        let name = self.names.name(check, "fqdn");
        set(
            out,
            &name,
            &[format!("--type fqdn --destination {}", sh_quote(fqdn))],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::az::tests::{
        az_calls, bash_n, change, check_hostile, check_script, commands as script_commands, fixes,
        hostile,
    };
    use super::*;
    use crate::fix::model::{sample, Names, Web};

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
  --resource-group \"$RG\" --workspace-name \"$WORKSPACE\" --rule 'tundra-udp-5831-tag' \\
  --type service_tag --service-tag 'AzureMachineLearning' \\
  --protocol UDP --port-ranges 5831
";
        assert!(script.contains(expected), "{script}");
        let calls = az_calls(&script);
        let batch = rule(&calls, "batch-443-tag");
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
        let pythonhosted = rule(&calls, "pythonhosted-443-fqdn");
        assert_eq!(after(&pythonhosted, "--type"), "fqdn");
        assert_eq!(after(&pythonhosted, "--destination"), "*.pythonhosted.org");
        assert_eq!(
            after(&rule(&calls, "entra-80-fqdn"), "--destination"),
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
        let script = render(&fixes(vec![
            change(
                Rule::Application {
                    fqdn: "example.org".into(),
                    web: Web::Https,
                    port: 8443,
                },
                "a",
            ),
            change(
                Rule::Network {
                    protocol: Protocol::Udp,
                    port: 443,
                    dest: Dest::Fqdn("example.net".into()),
                },
                "b",
            ),
            change(
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
        let pe = rule(&calls, "storage-blob-443-pe");
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
            "#   an application rule that allows Https on port 443 to *.data.mcr.microsoft.com",
            "#   Fix the node's clock.",
        ] {
            assert!(script.contains(text), "{text}\n{script}");
        }
        assert!(!script.contains("--destination '*.data.mcr.microsoft.com'"));
    }

    #[test]
    fn placeholders_and_given_names() {
        let script = render(&sample::every_rule());
        assert!(script.contains("\nRG='REPLACE-resource-group'\nWORKSPACE='REPLACE-workspace'\n"));
        assert!(script.contains("\nSUBSCRIPTION='REPLACE-subscription-id'\n"));
        let mut f = sample::every_rule();
        f.names = Names {
            resource_group: Some("rg-ml".into()),
            workspace: Some("ws-prod".into()),
            ..Names::default()
        };
        let script = render(&f);
        check_script(&script);
        assert!(script.contains("\nRG='rg-ml'\nWORKSPACE='ws-prod'\n"));
        let calls = az_calls(&script);
        assert!(calls.iter().all(|c| after(c, "--resource-group") == "rg-ml"
            && after(c, "--workspace-name") == "ws-prod"));
    }

    #[test]
    fn nothing_to_change_is_a_valid_script_that_says_so() {
        let script = render(&fixes(vec![]));
        check_script(&script);
        assert!(script.contains("# Nothing to change.\n"));
        assert!(!script.contains("exit"));
        assert!(az_calls(&script).is_empty());
        // Comments only: no variables either.
        let script = render(&fixes(vec![change(
            Rule::Route {
                tag: "AzureMachineLearning".into(),
            },
            "r",
        )]));
        bash_n(&script);
        assert!(!script.contains("RG="));
    }

    #[test]
    fn hostile_values_stay_quoted_and_on_their_line() {
        check_hostile(&render(&hostile()));
    }
}
