//! `--redact`: the report without the customer's names and addresses, in every format. Each
//! value gets a stable placeholder, so the same address is the same `<address-2>` everywhere.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use super::{Node, Report};
use crate::context::Context;
use crate::probe::firewall::{CANARY_V4, CANARY_V6};
use crate::result::CheckResult;

pub struct Redactor {
    /// Literal values and their placeholders, longest first so `ws-one-dev` goes before `ws-one`.
    names: Vec<(String, String)>,
    addresses: HashMap<IpAddr, String>,
}

impl Redactor {
    pub fn new(c: &Context, node: &Node) -> Redactor {
        let mut names: Vec<(String, String)> = [
            (c.workspace_id.clone(), "<workspace-id>"),
            (c.storage_account.clone(), "<storage-account>"),
            (c.compute_name.clone(), "<compute-name>"),
            (c.workspace_name.clone(), "<workspace-name>"),
            // As the notebooks private-link name holds it, cut short: only in that name's
            // form, as a short cut could be part of any host.
            (
                c.workspace_name.as_deref().map(|n| {
                    format!(
                        "ml-{}-",
                        crate::catalog::workspace_label(n, c.region.as_deref())
                    )
                }),
                "ml-<workspace-name>-",
            ),
            (c.acr.clone(), "<acr>"),
            (c.key_vault.clone(), "<key-vault>"),
            (c.resource_group.clone(), "<resource-group>"),
            (c.vm_name.clone(), "<vm-name>"),
            (
                Some(node.hostname.clone()).filter(|h| !h.is_empty()),
                "<hostname>",
            ),
        ]
        .into_iter()
        .filter_map(|(v, p)| v.filter(|v| !v.is_empty()).map(|v| (v, p.to_string())))
        .collect();
        if let Some(proxy) = &node.proxy {
            // The proxy's host, without scheme and port.
            let host = proxy
                .trim_start_matches("http://")
                .trim_start_matches("***@");
            let host = host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host);
            if !host.is_empty() && host.parse::<IpAddr>().is_err() {
                names.push((
                    host.trim_matches(|c| c == '[' || c == ']').to_string(),
                    "<proxy-host>".into(),
                ));
            }
        }
        names.sort_by_key(|(v, _)| std::cmp::Reverse(v.len()));
        Redactor {
            names,
            addresses: HashMap::new(),
        }
    }

    fn address(&mut self, ip: IpAddr) -> String {
        // The canary's address is nobody's: it tells nothing of the customer's network.
        if ip == IpAddr::from(CANARY_V4) || ip == IpAddr::from(CANARY_V6) {
            return ip.to_string();
        }
        let n = self.addresses.len() + 1;
        self.addresses
            .entry(ip)
            .or_insert_with(|| format!("<address-{n}>"))
            .clone()
    }

    /// Replace every known name (case-insensitively), every IP address and anything shaped
    /// like a GUID (a subscription or a malformed workspace id) in `s`. A name of one or two
    /// characters is replaced only where it stands alone, so that other words survive.
    pub fn scrub(&mut self, s: &str) -> String {
        let mut out = s.to_string();
        for (value, placeholder) in &self.names {
            out = match value.len() {
                ..=2 => replace(&out, value, placeholder, true),
                _ => replace_ignore_case(&out, value, placeholder),
            };
        }
        scrub_firewall_rules(&scrub_guids(&self.scrub_addresses(&out)))
    }

    fn scrub_addresses(&mut self, s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        let mut token = String::new();
        let flush = |token: &mut String, out: &mut String, me: &mut Redactor| {
            if !token.is_empty() {
                out.push_str(&me.redact_token(token));
                token.clear();
            }
        };
        for ch in s.chars() {
            if ch.is_ascii_hexdigit() || ch == '.' || ch == ':' || ch == '[' || ch == ']' {
                token.push(ch);
            } else {
                flush(&mut token, &mut out, self);
                out.push(ch);
            }
        }
        flush(&mut token, &mut out, self);
        out
    }

    /// An address, `address:port` or `[v6]:port`, possibly with trailing punctuation.
    fn redact_token(&mut self, token: &str) -> String {
        let core = token.trim_end_matches(['.', ':']);
        let tail = &token[core.len()..];
        if let Ok(ip) = core.parse::<IpAddr>() {
            return format!("{}{tail}", self.address(ip));
        }
        if let Ok(sa) = core.parse::<SocketAddr>() {
            return format!("{}:{}{tail}", self.address(sa.ip()), sa.port());
        }
        token.to_string()
    }
}

/// A firewall's refusal may name the customer's policy and rules (`Action: Deny. Policy: hub.
/// Rule Collection: block. Rule: ml`): each name becomes `<firewall-rule>`.
fn scrub_firewall_rules(s: &str) -> String {
    const LABELS: [&str; 4] = [
        "Policy: ",
        "Rule Collection Group: ",
        "Rule Collection: ",
        "Rule: ",
    ];
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some((at, label)) = LABELS
        .iter()
        .filter_map(|l| rest.find(l).map(|at| (at, *l)))
        .min_by_key(|(at, _)| *at)
    {
        let value = &rest[at + label.len()..];
        let end = value.find(['.', '"', ';', '\n']).unwrap_or(value.len());
        out.push_str(&rest[..at + label.len()]);
        out.push_str("<firewall-rule>");
        rest = &value[end..];
    }
    out.push_str(rest);
    out
}

/// Every 8-4-4-4-12 run of hex digits becomes `<guid>`.
fn scrub_guids(s: &str) -> String {
    const SHAPE: [usize; 5] = [8, 4, 4, 4, 12];
    let bytes = s.as_bytes();
    let hex_run = |from: usize| {
        bytes[from..]
            .iter()
            .take_while(|b| b.is_ascii_hexdigit())
            .count()
    };
    let mut out = String::with_capacity(s.len());
    let mut at = 0;
    let mut copied = 0;
    while at < bytes.len() {
        let starts = at == 0 || !bytes[at - 1].is_ascii_alphanumeric();
        let mut end = at;
        let fits = starts
            && SHAPE.iter().enumerate().all(|(i, &len)| {
                let ok = hex_run(end) == len && (i == 4 || bytes.get(end + len) == Some(&b'-'));
                end += len + usize::from(i < 4);
                ok
            })
            && !bytes.get(end).is_some_and(|b| b.is_ascii_alphanumeric());
        if fits {
            out.push_str(&s[copied..at]);
            out.push_str("<guid>");
            copied = end;
            at = end;
        } else {
            at += 1;
        }
    }
    out.push_str(&s[copied..]);
    out
}

fn replace_ignore_case(haystack: &str, needle: &str, with: &str) -> String {
    replace(haystack, needle, with, false)
}

/// `needle` replaced, case-insensitively; with `whole_word`, only where neither neighbour is a
/// letter, a digit, `-` or `_`.
fn replace(haystack: &str, needle: &str, with: &str, whole_word: bool) -> String {
    let part_of_name =
        |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '_');
    let lower = haystack.to_ascii_lowercase();
    let n = needle.to_ascii_lowercase();
    if n.is_empty() {
        return haystack.to_string();
    }
    let mut out = String::with_capacity(haystack.len());
    let mut last = 0;
    for (at, _) in lower.match_indices(&n) {
        let alone = !part_of_name(haystack[..at].chars().next_back())
            && !part_of_name(haystack[at + n.len()..].chars().next());
        if at < last || (whole_word && !alone) {
            continue;
        }
        out.push_str(&haystack[last..at]);
        out.push_str(with);
        last = at + n.len();
    }
    out.push_str(&haystack[last..]);
    out
}

/// Redact every string of one result in place.
pub fn redact_result(r: &mut Redactor, res: &mut CheckResult) {
    let mut s = |v: &mut String| *v = r.scrub(v);
    s(&mut res.target.host);
    s(&mut res.message);
    s(&mut res.remediation);
    for v in [&mut res.stands_for, &mut res.proxy].into_iter().flatten() {
        s(v);
    }
    for p in &mut res.phases {
        for list in [&mut p.addresses, &mut p.cnames].into_iter().flatten() {
            list.iter_mut().for_each(&mut s);
        }
        for v in [
            &mut p.server,
            &mut p.address,
            &mut p.subject,
            &mut p.issuer,
            &mut p.error,
            &mut p.proxy,
            &mut p.http_server,
            &mut p.redirect_host,
        ]
        .into_iter()
        .flatten()
        {
            s(v);
        }
    }
    if let Some(d) = &mut res.firewall_denial {
        for v in [&mut d.fqdn, &mut d.rule].into_iter().chain(&mut d.answer) {
            s(v);
        }
        if let Some(v) = &mut d.inspected_by {
            s(v);
        }
    }
    if let Some(route) = &mut res.trace {
        let hops = route.hops.iter_mut().filter_map(|h| h.address.as_mut());
        hops.chain(&mut route.last_answered).for_each(&mut s);
    }
    for a in res.history.iter_mut().flat_map(|h| &mut h.answers) {
        a.addresses.iter_mut().for_each(&mut s);
        if let Some(v) = &mut a.server {
            s(v);
        }
    }
}

/// Redact every string of the report in place.
pub fn redact(r: &mut Redactor, report: &mut Report) {
    for res in &mut report.results {
        redact_result(r, res);
    }
    let mut s = |v: &mut String| *v = r.scrub(v);
    s(&mut report.node.hostname);
    report.node.resolvers.iter_mut().for_each(&mut s);
    if let Some(p) = &mut report.node.proxy {
        s(p);
    }
    let c = &mut report.context;
    for v in [
        &mut c.workspace_id,
        &mut c.storage_account,
        &mut c.compute_name,
        &mut c.workspace_name,
        &mut c.acr,
        &mut c.key_vault,
        &mut c.resource_group,
        &mut c.vm_name,
        &mut c.mode_reason,
        &mut c.service_endpoint_host,
        &mut c.batch_account_host,
        &mut c.batch_node_host,
    ]
    .into_iter()
    .flatten()
    {
        s(v);
    }
    for w in &mut c.warnings {
        if let Some((_, withheld)) = c.withheld.iter().find(|(full, _)| full == w) {
            *w = withheld.clone();
        }
    }
    c.warnings.iter_mut().for_each(&mut s);
    c.notes.iter_mut().for_each(&mut s);
    for v in c.sources.values_mut() {
        s(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_firewall_refusal_keeps_its_words_and_loses_the_customer_rule_names() {
        let said = "HTTP/1.1 470 status code 470 / Action: Deny. Policy: contoso-hub. Rule Collection Group: DefaultApplicationRuleCollectionGroup. Rule Collection: block-sites. Rule: block-ml";
        assert_eq!(
            scrub_firewall_rules(said),
            "HTTP/1.1 470 status code 470 / Action: Deny. Policy: <firewall-rule>. Rule Collection Group: <firewall-rule>. Rule Collection: <firewall-rule>. Rule: <firewall-rule>"
        );
        let default = "Action: Deny. Reason: No rule matched. Proceeding with default action.";
        assert_eq!(scrub_firewall_rules(default), default);
    }

    fn redactor(name: &str, placeholder: &str) -> Redactor {
        Redactor {
            names: vec![(name.into(), placeholder.into())],
            addresses: HashMap::new(),
        }
    }

    #[test]
    fn addresses_get_stable_placeholders() {
        let mut r = redactor("ws-one", "<workspace-name>");
        assert_eq!(
            r.scrub("10.0.0.4:443: refused; also tried [fd00::4]:443 and 10.0.0.4. WS-ONE"),
            "<address-1>:443: refused; also tried <address-2>:443 and <address-1>. <workspace-name>"
        );
        assert_eq!(
            r.scrub("TLS 1.3, dialect 3.1.1, 5831/udp, deadbeef"),
            "TLS 1.3, dialect 3.1.1, 5831/udp, deadbeef"
        );
        assert_eq!(replace_ignore_case("Ab-ab", "ab", "x"), "x-x");
    }

    /// `watch`'s history names servers and addresses too.
    #[test]
    fn a_history_hides_its_answers() {
        use crate::result::{DnsAnswer, History};
        let mut res = crate::report::fixture::result(
            "c",
            "g",
            crate::reason::Status::Pass,
            crate::reason::Reason::Ok,
        );
        res.history = Some(History {
            answers: vec![DnsAnswer {
                round: 1,
                at: "t".into(),
                server: Some("10.0.0.53".into()),
                addresses: vec!["10.1.0.5".into(), "203.0.113.10".into()],
            }],
            ..History::default()
        });
        let mut r = redactor("ws-one", "<workspace-name>");
        redact_result(&mut r, &mut res);
        let text = serde_json::to_string(&res).unwrap();
        for shown in ["10.0.0.53", "10.1.0.5", "203.0.113.10"] {
            assert!(!text.contains(shown), "{shown} in {text}");
        }
        assert!(text.contains("<address-"));
    }

    /// `--trace` names the routers on the way.
    #[test]
    fn a_trace_hides_its_hops() {
        use crate::reason::{Reason, Status};
        use crate::report::fixture::result;
        use crate::result::{Hop, Route};
        let mut res = result("c", "g", Status::Fail, Reason::TcpTimeout);
        let hop = |ttl, a: Option<&str>| Hop {
            ttl,
            address: a.map(String::from),
        };
        res.trace = Some(Route {
            hops: vec![
                hop(1, Some("10.0.0.1")),
                hop(2, Some("10.9.1.4")),
                hop(3, None),
            ],
            last_answered: Some("10.9.1.4".into()),
            last_ttl: Some(2),
            reached: false,
            unsent: 0,
        });
        let mut r = redactor("ws-one", "<workspace-name>");
        redact_result(&mut r, &mut res);
        let route = res.trace.unwrap();
        let shown: Vec<Option<&str>> = route.hops.iter().map(|h| h.address.as_deref()).collect();
        assert_eq!(shown, [Some("<address-1>"), Some("<address-2>"), None]);
        assert_eq!(route.last_answered.as_deref(), Some("<address-2>"));
    }

    #[test]
    fn short_names_and_guids_are_redacted_too() {
        let mut r = redactor("rg", "<resource-group>");
        assert_eq!(
            r.scrub("group rg, not rgx or a-rg; (RG)"),
            "group <resource-group>, not rgx or a-rg; (<resource-group>)"
        );
        assert_eq!(
            r.scrub("'{0F3A8D52-6C1E-4B7A-9D2E-5A4B3C2D1E0F}' is not a workspace id"),
            "'{<guid>}' is not a workspace id"
        );
        assert_eq!(
            r.scrub("x0f3a8d52-6c1e-4b7a-9d2e-5a4b3c2d1e0f"),
            "x0f3a8d52-6c1e-4b7a-9d2e-5a4b3c2d1e0f"
        );
        assert_eq!(r.scrub("ab-cdef"), "ab-cdef");
    }
}
