//! `fix --format markdown`, the default: what to change and why in plain words, for a change
//! request or a ticket, with every other format below in fenced blocks.

use std::fmt::Write;

use crate::fix::model::{Change, Dest, Fixes, Rule, Why};
use crate::net::AZURE_DNS;
use crate::report::markdown::{code, escaped, fence};

pub fn render(fixes: &Fixes) -> String {
    let mut out = String::from("# Changes that would make this report pass\n\n");
    let region = fixes.region.as_deref().unwrap_or("unknown");
    let _ = writeln!(
        out,
        "Cloud {}, region {region}, networking mode {}. Only the flows the checks saw fail are opened, each as narrowly as its rule type allows.\n",
        fixes.cloud, fixes.mode
    );
    let make: Vec<&Change> = fixes.to_make().collect();
    let confirm: Vec<&Change> = fixes.to_confirm().collect();
    if fixes.nothing() {
        out.push_str("Nothing to change: no check failed, and no warning calls for a change.\n");
    }
    if !make.is_empty() {
        out.push_str("## What to change\n\n");
        for (i, c) in make.iter().enumerate() {
            let _ = writeln!(out, "{}. **{}**", i + 1, title(&c.rule));
            let _ = writeln!(out, "   {}", words(&c.rule));
            let _ = writeln!(out, "   Because: {}.", because(&c.why));
        }
        out.push('\n');
    }
    if !confirm.is_empty() {
        out.push_str("## Make sure these exist\n\nThe node cannot confirm these flows (a UDP port that never answers, a name that only stands for a wildcard): they are not failures, but the rules below must be in place.\n\n");
        for c in &confirm {
            let _ = writeln!(
                out,
                "- **{}**. {} Because: {}.",
                title(&c.rule),
                words(&c.rule),
                because(&c.why)
            );
        }
        out.push('\n');
    }
    if !fixes.advice.is_empty() {
        out.push_str("## No rule fixes these\n\n");
        for a in &fixes.advice {
            let _ = writeln!(
                out,
                "- {}: {}",
                because(std::slice::from_ref(&a.why)),
                prose(&a.text)
            );
        }
        out.push('\n');
    }
    if !make.is_empty() {
        let blocks = [
            (
                "As Azure CLI commands (`--format az`)",
                "bash",
                super::az::render(fixes),
            ),
            (
                "As Bicep (`--format bicep`)",
                "bicep",
                super::bicep::render(fixes),
            ),
            (
                "As Terraform (`--format terraform`)",
                "hcl",
                super::terraform::render(fixes),
            ),
            (
                "For a workspace-managed VNet (`--format managed-network`)",
                "bash",
                super::managed::render(fixes),
            ),
        ];
        for (heading, lang, text) in blocks {
            let fence = fence(&text);
            let _ = writeln!(
                out,
                "## {heading}\n\n{fence}{lang}\n{}{fence}\n",
                ensure_newline(&text)
            );
        }
    }
    out
}

/// The rule in a few words: the heading of its item. Names are code spans ([`code`]), so a
/// name cannot end its span and what would hide in it shows as an escape.
fn title(rule: &Rule) -> String {
    match rule {
        Rule::Application { fqdn, web, port } => {
            format!(
                "Azure Firewall application rule: {} {port} to {}",
                web.azure().to_uppercase(),
                code(fqdn)
            )
        }
        Rule::Network {
            protocol,
            port,
            dest,
        } => format!(
            "Network rule: {} {port} to {}",
            protocol.azure(),
            dest_words(dest)
        ),
        Rule::Route { tag } => format!("Route: service tag {} to next hop Internet", code(tag)),
        Rule::Forward { zone } => format!("DNS: forward {} to Azure DNS ({AZURE_DNS})", code(zone)),
        Rule::ZoneLink { zone } => {
            format!("DNS: link the private DNS zone {} to the VNet", code(zone))
        }
        Rule::NoTlsInspection { fqdn, port } => {
            format!("TLS inspection: exempt {} ({port})", code(fqdn))
        }
        Rule::StorageSubnet { account } => {
            format!(
                "Storage account {}: let this subnet through its firewall",
                code(account)
            )
        }
        Rule::ProxyConnect { host, port } => {
            format!(
                "Proxy: allow CONNECT to {}",
                code(&format!("{host}:{port}"))
            )
        }
    }
}

fn dest_words(dest: &Dest) -> String {
    match dest {
        Dest::Tag(t) => format!("service tag {}", code(t)),
        Dest::Fqdn(f) => code(f),
    }
}

/// What the change is and why it has this form, in plain words.
fn words(rule: &Rule) -> String {
    match rule {
        Rule::Application { fqdn, .. } if fqdn.starts_with("*.") => "An application rule names the host, so it is the narrowest rule for HTTP and HTTPS. The check's host only stood for this wildcard, the name the documents give.".into(),
        Rule::Application { .. } => "An application rule names the host, so it is the narrowest rule for HTTP and HTTPS.".into(),
        Rule::Network { dest: Dest::Tag(_), .. } => "An Azure Firewall network rule, and an outbound rule in the subnet's NSG from VirtualNetwork. Application rules carry only HTTP and HTTPS, so this flow needs a network rule.".into(),
        Rule::Network { dest: Dest::Fqdn(_), .. } => "An Azure Firewall network rule to the name: the firewall resolves it only with its DNS proxy on (firewall policy, DNS settings), and an NSG cannot name hosts. Application rules carry only HTTP and HTTPS, so this flow needs a network rule.".into(),
        Rule::Route { .. } => "In the subnet's route table. A default route through a firewall (forced tunnelling) sends Azure ML's management traffic to it, and the documents ask for these routes to go around it.".into(),
        Rule::Forward { .. } => format!("On the custom DNS server this VNet uses: a conditional forwarder to {AZURE_DNS}, which answers the private endpoint's address."),
        Rule::ZoneLink { .. } => "A virtual network link from the private DNS zone to the compute's VNet, so Azure DNS answers the private endpoint's address.".into(),
        Rule::NoTlsInspection { .. } => "Azure ML does not support TLS inspection. On Azure Firewall Premium, an application rule for this host without TLS inspection; on another appliance, its inspection bypass list.".into(),
        Rule::StorageSubnet { .. } => "A virtual network rule on the storage account (the subnet needs the Microsoft.Storage service endpoint). A private endpoint instead keeps the account off public addresses, at the cost of a private DNS zone.".into(),
        Rule::ProxyConnect { .. } => "On the HTTP proxy the node uses: allow CONNECT to this host and port.".into(),
    }
}

/// `check (reason)` for each check, with its document.
fn because(why: &[Why]) -> String {
    let each: Vec<String> = why
        .iter()
        .map(|w| match w.doc.is_empty() {
            true => format!("`{}` ({})", w.check, w.reason),
            false => format!("`{}` ({}, [doc]({}))", w.check, w.reason, w.doc),
        })
        .collect();
    each.join("; ")
}

/// Text from the report (a result's advice) in prose: one line, hidden characters shown, and
/// nothing Markdown or HTML would read as syntax, emphasis and headings included.
fn prose(s: &str) -> String {
    escaped(s, "*_#")
}

fn ensure_newline(s: &str) -> String {
    match s.ends_with('\n') || s.is_empty() {
        true => s.to_string(),
        false => format!("{s}\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fix::model::Advice;
    use crate::fix::sample;

    #[test]
    fn every_rule_is_worded_and_justified() {
        let text = render(&sample::every_rule());
        assert!(text.contains("## What to change"), "{text}");
        assert!(
            text.contains("**Network rule: UDP 5831 to service tag `AzureMachineLearning`**"),
            "{text}"
        );
        assert!(
            text.contains("`tundra-udp-5831` (udp_unreachable, [doc](https://learn.microsoft.com/"),
            "{text}"
        );
        assert!(text.contains("## Make sure these exist"), "{text}");
        assert!(text.contains("`*.data.mcr.microsoft.com`"), "{text}");
        assert!(text.contains("## No rule fixes these"), "{text}");
    }

    #[test]
    fn nothing_to_change_says_so() {
        let mut f = sample::every_rule();
        f.changes.clear();
        f.advice.clear();
        let text = render(&f);
        assert!(text.contains("Nothing to change"), "{text}");
        assert!(!text.contains("```"), "{text}");
    }

    #[test]
    fn advice_from_the_report_is_shown_not_obeyed() {
        let mut f = sample::every_rule();
        f.advice = vec![Advice {
            why: f.advice[0].why.clone(),
            text: "<script>x</script>\n# heading [link](javascript:x) ```".into(),
        }];
        let text = render(&f);
        let line = text.lines().find(|l| l.contains("script")).unwrap();
        assert!(line.contains("\\<script\\>"), "{line}");
        assert!(line.contains(r"\\u{a}\# heading \[link\]"), "{line}");
        assert!(!text.lines().any(|l| l.starts_with("# heading")), "{text}");
    }

    #[test]
    fn a_fence_outlasts_the_backticks_inside() {
        assert_eq!(fence("a ``` b"), "````");
        assert_eq!(fence("plain"), "```");
    }
}
