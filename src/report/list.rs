//! `amlprobe list`: each selected check as it would run in this context, without the network.

use serde::Serialize;

use super::markdown::cell;
use super::text::printable;
use crate::catalog::Kind;
use crate::plan::Plan;
use crate::result::Target;

#[derive(Serialize)]
pub struct Listed<'a> {
    pub id: &'a str,
    group: &'a str,
    title: &'a str,
    required: bool,
    kind: Kind,
    target: Target,
    #[serde(skip_serializing_if = "Option::is_none")]
    stands_for: Option<&'a str>,
    /// The host was only chosen to stand for the wildcard.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stand_in: bool,
    /// Where a host the node named came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    host_source: Option<&'a str>,
    /// The URL whose redirect names the host probed instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    redirect_from: Option<&'a str>,
    /// For private-endpoint names: the host whose address this one must share.
    #[serde(skip_serializing_if = "Option::is_none")]
    same_address_as: Option<&'a str>,
    /// Probed only when the host answers a private address.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    private_only: bool,
    /// For private-endpoint names: the zone the answer must come through.
    #[serde(skip_serializing_if = "Option::is_none")]
    privatelink: Option<&'a str>,
    /// The flags that fill this check's host.
    needs: Vec<&'static str>,
    /// Why it would be skipped, if it would.
    #[serde(skip_serializing_if = "Option::is_none")]
    skip: Option<String>,
    /// The scenario that added it (`--scenario`).
    #[serde(skip_serializing_if = "Option::is_none")]
    scenario: Option<&'a str>,
    doc: &'a str,
}

/// A scenario of the catalog, for `list`: what it is for, whether this run has it on, and
/// the checks it adds.
pub struct Scenario<'a> {
    pub name: &'a str,
    /// Its line in `probes/defaults.toml`; one of a `--catalog` file's says where it is from.
    pub title: String,
    pub on: bool,
    pub checks: Vec<&'a str>,
}

impl<'a> Scenario<'a> {
    /// Every scenario the entries name, in order.
    pub fn all(
        entries: &'a [std::sync::Arc<crate::catalog::Entry>],
        ctx: &crate::context::Context,
    ) -> Vec<Scenario<'a>> {
        crate::catalog::scenarios(entries)
            .into_iter()
            .map(|name| Scenario {
                name,
                title: crate::catalog::scenario_title(name)
                    .unwrap_or_else(|| "from a --catalog file".into()),
                on: ctx.runs_scenario(Some(name)),
                checks: entries
                    .iter()
                    .filter(|e| e.scenario.as_deref() == Some(name))
                    .map(|e| e.id.as_str())
                    .collect(),
            })
            .collect()
    }
}

impl<'a> Listed<'a> {
    pub fn of(p: &'a Plan) -> Listed<'a> {
        Listed {
            id: &p.entry.id,
            group: &p.entry.group,
            title: &p.entry.title,
            required: p.required,
            kind: p.entry.kind,
            target: Target {
                host: p.host.clone(),
                port: p.entry.port,
                transport: p.entry.transport,
            },
            stands_for: p.stands_for.as_deref(),
            stand_in: p.stand_in,
            host_source: p.host_source.as_deref(),
            redirect_from: p.redirect_from.as_deref(),
            same_address_as: p.same_address_as.as_deref(),
            private_only: p.entry.private_only,
            privatelink: p.privatelink.as_deref(),
            needs: p.entry.host.needs().map(|n| n.input().flag()).collect(),
            skip: p
                .skip
                .as_ref()
                .map(|f| format!("{}: {}", f.reason(), f.message())),
            scenario: p.entry.scenario.as_deref(),
            doc: &p.entry.doc,
        }
    }
}

/// One JSON array, pretty.
pub fn json(listed: &[Listed]) -> String {
    serde_json::to_string_pretty(listed).unwrap_or_default() + "\n"
}

/// Id, kind and target a line, and why a check would be skipped.
pub fn text(listed: &[Listed]) -> String {
    let w = listed.iter().map(|l| l.id.len()).max().unwrap_or(2);
    let mut s = String::new();
    for l in listed {
        let target = l.target.to_string();
        s.push_str(&format!(
            "{:w$}  {:9}  {}",
            l.id,
            l.kind.as_str(),
            printable(&target)
        ));
        if let Some(skip) = &l.skip {
            s.push_str(&format!("  (skip: {})", printable(skip)));
        }
        s.push('\n');
    }
    s
}

/// The scenarios, after the checks: each with what it adds, and how to turn it on.
pub fn scenarios_text(scenarios: &[Scenario]) -> String {
    if scenarios.is_empty() {
        return String::new();
    }
    let w = scenarios.iter().map(|s| s.name.len()).max().unwrap_or(0);
    let mut s = String::from("\nscenarios (--scenario NAME[,NAME] adds their checks):\n");
    for sc in scenarios {
        let state = if sc.on { "on " } else { "off" };
        s.push_str(&format!(
            "  {:w$}  {state}  {}\n",
            sc.name,
            printable(&sc.title)
        ));
        s.push_str(&format!(
            "  {:w$}       adds: {}\n",
            "",
            sc.checks.join(" ")
        ));
    }
    s
}

/// The scenarios as a markdown table.
pub fn scenarios_markdown(scenarios: &[Scenario]) -> String {
    if scenarios.is_empty() {
        return String::new();
    }
    let mut s = String::from("\n| scenario | on | what | adds |\n|---|---|---|---|\n");
    for sc in scenarios {
        s.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            cell(sc.name),
            if sc.on { "yes" } else { "no" },
            cell(&sc.title),
            cell(&sc.checks.join(" "))
        ));
    }
    s
}

/// A markdown table, for a ticket or a wiki page.
pub fn markdown(listed: &[Listed]) -> String {
    let mut s =
        String::from("| check | kind | target | required | skip |\n|---|---|---|---|---|\n");
    for l in listed {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            cell(l.id),
            l.kind.as_str(),
            cell(&l.target.to_string()),
            if l.required { "yes" } else { "no" },
            cell(l.skip.as_deref().unwrap_or(""))
        ));
    }
    s
}
