//! Host templates: text with `{placeholder}` slots that the context fills. Every placeholder
//! is known here, with the input that supplies it; a template is checked once, when the
//! catalog is loaded.

use std::borrow::Cow;
use std::fmt;

use crate::context::{Context, Input};

wire_enum! {
    /// A value a template can name, by the name written between braces.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Placeholder {
        Region = "region",
        StorageAccount = "storage_account",
        ComputeName = "compute_name",
        WorkspaceId = "workspace_id",
        /// The workspace's name as the notebooks private-link name holds it: lowercase
        /// letters, digits and '-', cut so that `ml-<it>-<region>-<workspace id>` fits one DNS
        /// label. Azure does not publish its exact rule, so a host with it is a stand-in.
        WorkspaceLabel = "workspace_label",
        Acr = "acr",
        KeyVault = "key_vault",
    }
}

/// The longest DNS label.
const LABEL_MAX: usize = 63;

impl Placeholder {
    /// The name written between braces.
    pub fn name(self) -> &'static str {
        self.as_str()
    }

    /// The flag (and variable) that gives the value when discovery does not.
    pub fn input(self) -> Input {
        match self {
            Placeholder::Region => Input::Region,
            Placeholder::StorageAccount => Input::StorageAccount,
            Placeholder::ComputeName => Input::ComputeName,
            Placeholder::WorkspaceId => Input::WorkspaceId,
            Placeholder::WorkspaceLabel => Input::WorkspaceName,
            Placeholder::Acr => Input::Acr,
            Placeholder::KeyVault => Input::KeyVault,
        }
    }

    fn value(self, ctx: &Context) -> Option<Cow<'_, str>> {
        fn given(v: &Option<String>) -> Option<Cow<'_, str>> {
            v.as_deref().map(Cow::Borrowed)
        }
        match self {
            Placeholder::Region => given(&ctx.region),
            Placeholder::StorageAccount => given(&ctx.storage_account),
            Placeholder::ComputeName => given(&ctx.compute_name),
            Placeholder::WorkspaceId => given(&ctx.workspace_id),
            Placeholder::WorkspaceLabel => ctx
                .workspace_name
                .as_deref()
                .map(|name| Cow::Owned(workspace_label(name, ctx.region.as_deref()))),
            Placeholder::Acr => given(&ctx.acr),
            Placeholder::KeyVault => given(&ctx.key_vault),
        }
    }

    /// A value the tool derived by a rule Azure does not publish, so the name is a guess.
    pub fn guessed(self) -> bool {
        self == Placeholder::WorkspaceLabel
    }

    fn named(name: &str) -> Option<Placeholder> {
        Placeholder::ALL.iter().copied().find(|p| p.name() == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Text(String),
    Slot(Placeholder),
}

/// A parsed host template (or a service tag, which may name the region too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    text: String,
    segments: Vec<Segment>,
}

impl Template {
    /// DNS characters, `*` and known `{placeholders}`.
    pub fn parse(t: &str) -> Result<Template, String> {
        let template = Template::scan(t)?;
        let literal = template.segments.iter().filter_map(|s| match s {
            Segment::Text(text) => Some(text),
            Segment::Slot(_) => None,
        });
        let allowed = |c: &char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '*' | '_');
        if let Some(c) = literal.flat_map(|text| text.chars()).find(|c| !allowed(c)) {
            return Err(format!(
                "character '{c}' cannot appear in a host name (\"{t}\")"
            ));
        }
        Ok(template)
    }

    /// Text with known `{placeholders}`, whatever its other characters.
    fn scan(t: &str) -> Result<Template, String> {
        if t.is_empty() {
            return Err("is empty".into());
        }
        let mut segments = Vec::new();
        let mut rest = t;
        while let Some(open) = rest.find('{') {
            let close = rest[open..]
                .find('}')
                .ok_or_else(|| format!("unclosed '{{' in \"{t}\""))?;
            let name = &rest[open + 1..open + close];
            let slot = Placeholder::named(name).ok_or_else(|| {
                let known: Vec<_> = Placeholder::ALL
                    .iter()
                    .map(|p| format!("{{{}}}", p.name()))
                    .collect();
                format!(
                    "unknown placeholder {{{name}}} (known: {})",
                    known.join(" ")
                )
            })?;
            segments.push(Segment::Text(rest[..open].to_string()));
            segments.push(Segment::Slot(slot));
            rest = &rest[open + close + 1..];
        }
        segments.push(Segment::Text(rest.to_string()));
        segments.retain(|s| !matches!(s, Segment::Text(text) if text.is_empty()));
        Ok(Template {
            text: t.to_string(),
            segments,
        })
    }

    /// Whether it can be a DNS name once filled: labels of 1-63 characters that neither start
    /// nor end with `-`, 253 characters in all, at least two labels, and not an IP address.
    /// `*` may stand as a whole label where `wildcard` allows it. Placeholders count as one
    /// character: their values are checked where they are given, and the filled host again
    /// ([`Template::check_filled`]).
    pub fn check_host(&self, wildcard: bool) -> Result<(), String> {
        let filled: String = self
            .segments
            .iter()
            .map(|s| match s {
                Segment::Text(text) => text.as_str(),
                Segment::Slot(_) => "x",
            })
            .collect();
        let t = format!("\"{}\"", self.text);
        check_name(&filled, &t, wildcard)
    }

    /// Whether `filled`, this template filled from the context, is a DNS name. Each value is
    /// valid alone, yet values and text together can make a label or a name too long.
    pub fn check_filled(&self, filled: &str) -> Result<(), String> {
        let t = format!("\"{}\" filled in", self.text);
        check_name(filled, &t, false)
    }

    /// Free text such as a service tag, its known placeholders filled where the context has
    /// them; text that names an unknown one, or a missing value, stays as written.
    pub fn fill(text: &str, ctx: &Context) -> String {
        Template::scan(text).map_or_else(|_| text.to_string(), |t| t.expand_or_text(ctx))
    }

    /// The template filled from the context; `Err` names the first value missing.
    pub fn expand(&self, ctx: &Context) -> Result<String, Input> {
        let mut out = String::with_capacity(self.text.len() + 32);
        for segment in &self.segments {
            match segment {
                Segment::Text(text) => out.push_str(text),
                Segment::Slot(p) => out.push_str(&p.value(ctx).ok_or(p.input())?),
            }
        }
        Ok(out)
    }

    /// The template filled where it can be, its text where it cannot.
    pub fn expand_or_text(&self, ctx: &Context) -> String {
        self.expand(ctx).unwrap_or_else(|_| self.text.clone())
    }

    /// The placeholders it names, each once, in the order of [`Placeholder::ALL`].
    pub fn needs(&self) -> impl Iterator<Item = Placeholder> + '_ {
        Placeholder::ALL
            .iter()
            .copied()
            .filter(|p| self.segments.contains(&Segment::Slot(*p)))
    }

    /// Whether it names the compute itself (`{compute_name}`), which exists only once created.
    pub fn names_the_compute(&self) -> bool {
        self.needs().any(|p| p == Placeholder::ComputeName)
    }

    /// Whether it names something the node gave (a compute, account or workspace): such a
    /// host is the real one, not a stand-in.
    pub fn names_the_nodes_own(&self) -> bool {
        self.needs().any(|p| p != Placeholder::Region)
    }

    /// Whether its host, given a wildcard to stand for, is only the tool's choice: made of fixed
    /// text and the region, or holding a value derived by a rule Azure does not publish.
    pub fn stands_in(&self) -> bool {
        !self.names_the_nodes_own() || self.needs().any(Placeholder::guessed)
    }
}

/// The workspace's name in the notebooks private-link label `ml-<it>-<region>-<workspace id>`:
/// lowercase letters, digits and '-', cut so that the label fits 63 characters (the rest of
/// it is 41 characters and the region).
pub fn workspace_label(name: &str, region: Option<&str>) -> String {
    let kept: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let room = LABEL_MAX.saturating_sub("ml---".len() + 36 + region.map_or(0, str::len));
    kept.chars()
        .take(room)
        .collect::<String>()
        .trim_matches('-')
        .to_string()
}

/// Whether `filled` is a DNS name, as [`Template::check_host`] says; `t` names it in errors.
fn check_name(filled: &str, t: &str, wildcard: bool) -> Result<(), String> {
    let name = filled.strip_suffix('.').unwrap_or(filled);
    if name.len() > 253 {
        return Err(format!("{t} is longer than a DNS name can be (253)"));
    }
    if name.parse::<std::net::IpAddr>().is_ok()
        || name
            .rsplit('.')
            .next()
            .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!("{t} is an address, not a host name"));
    }
    if !name.contains('.') {
        return Err(format!("{t} needs at least two labels (a.example)"));
    }
    for label in name.split('.') {
        let why = match label {
            "" => Some("an empty label (two dots, or a leading dot)"),
            "*" if wildcard => None,
            l if l.contains('*') => Some("'*' only as a whole label, in stands_for"),
            l if l.len() > 63 => Some("a label longer than 63 characters"),
            l if l.starts_with('-') || l.ends_with('-') => {
                Some("a label that starts or ends with '-'")
            }
            _ => None,
        };
        if let Some(why) = why {
            return Err(format!("{t} has {why}"));
        }
    }
    Ok(())
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str) -> Template {
        Template::parse(text).unwrap()
    }

    #[test]
    fn missing_input_names_the_flag() {
        let ctx = Context::default();
        assert_eq!(
            t("{region}.tundra.azureml.ms").expand(&ctx),
            Err(Input::Region)
        );
        assert_eq!(
            t("{storage_account}.file.core.windows.net").expand(&ctx),
            Err(Input::StorageAccount)
        );
        assert_eq!(
            t("graph.windows.net").expand(&ctx).as_deref(),
            Ok("graph.windows.net")
        );
    }

    #[test]
    fn templates_expand_and_say_what_they_need() {
        let ctx = Context {
            region: Some("westeurope".into()),
            compute_name: Some("ci-one".into()),
            ..Context::default()
        };
        let host = t("{compute_name}.{region}.instances.azureml.ms");
        assert_eq!(
            host.expand(&ctx).as_deref(),
            Ok("ci-one.westeurope.instances.azureml.ms")
        );
        assert_eq!(
            host.needs().collect::<Vec<_>>(),
            [Placeholder::Region, Placeholder::ComputeName]
        );
        assert!(host.names_the_nodes_own());
        assert!(!t("{region}.batch.azure.com").names_the_nodes_own());
        assert_eq!(
            host.to_string(),
            "{compute_name}.{region}.instances.azureml.ms"
        );
    }

    /// The notebooks name's label fits 63 characters for the longest workspace name and a long
    /// region, holds only DNS characters, and marks the host as a guess.
    #[test]
    fn the_notebooks_label_fits_one_dns_label() {
        let notebooks =
            t("ml-{workspace_label}-{region}-{workspace_id}.{region}.notebooks.azure.net");
        assert!(notebooks.stands_in(), "a guessed name stands in");
        assert!(
            !t("{acr}.azurecr.io").stands_in(),
            "the customer's registry"
        );
        let mut ctx = Context {
            region: Some("southafricanorth".into()),
            workspace_id: Some("0f3a8d52-6c1e-4b7a-9d2e-5a4b3c2d1e0f".into()),
            workspace_name: Some("My_Workspace-With-33-Characters-x".into()),
            ..Context::default()
        };
        let host = notebooks.expand(&ctx).unwrap();
        let label = host.split('.').next().unwrap();
        assert_eq!(
            label,
            "ml-mywork-southafricanorth-0f3a8d52-6c1e-4b7a-9d2e-5a4b3c2d1e0f"
        );
        assert_eq!(label.len(), 63);
        notebooks.check_filled(&host).unwrap();
        ctx.region = Some("eastus".into());
        ctx.workspace_name = Some("ws1".into());
        assert_eq!(
            notebooks.expand(&ctx).unwrap(),
            "ml-ws1-eastus-0f3a8d52-6c1e-4b7a-9d2e-5a4b3c2d1e0f.eastus.notebooks.azure.net"
        );
        ctx.workspace_name = None;
        assert_eq!(notebooks.expand(&ctx), Err(Input::WorkspaceName));
    }

    #[test]
    fn impossible_host_names_are_refused() {
        let long = format!("{}.example.net", "a".repeat(64));
        let longest = format!("{}.net", vec!["a".repeat(60); 5].join("."));
        for (text, why) in [
            (long.as_str(), "longer than 63"),
            (longest.as_str(), "253"),
            ("-x.example.net", "starts or ends with '-'"),
            ("a..b.example", "empty label"),
            ("10.0.0.1", "an address"),
            ("[fd00::1]", "cannot appear"),
            ("localhost", "two labels"),
            ("a*.example.net", "whole label"),
        ] {
            let e = Template::parse(text).and_then(|t| t.check_host(false));
            assert!(e.as_ref().is_err_and(|e| e.contains(why)), "{text}: {e:?}");
        }
        assert!(t("*.{region}.batch.azure.com").check_host(true).is_ok());
        assert!(t("*.blob.core.windows.net").check_host(false).is_err());
        assert!(t("{compute_name}.{region}.instances.azureml.ms")
            .check_host(false)
            .is_ok());
    }

    /// Values valid alone can make a host too long together: the filled host is checked too.
    #[test]
    fn a_filled_host_is_checked_again() {
        let host = t("x.blob{workspace_id}{workspace_id}.example.com");
        assert!(host.check_host(false).is_ok());
        let ctx = Context {
            workspace_id: Some("0f3a8d52-6c1e-4b7a-9d2e-5a4b3c2d1e0f".into()),
            ..Context::default()
        };
        let filled = host.expand(&ctx).unwrap();
        assert_eq!(
            host.check_filled(&filled).unwrap_err(),
            "\"x.blob{workspace_id}{workspace_id}.example.com\" filled in has a label longer than 63 characters"
        );
        let short = t("{workspace_id}.workspace.{region}.api.azureml.ms");
        let ctx = Context {
            region: Some("westeurope".into()),
            ..ctx
        };
        assert_eq!(short.check_filled(&short.expand(&ctx).unwrap()), Ok(()));
    }

    #[test]
    fn bad_templates_say_why() {
        for (text, why) in [
            ("", "is empty"),
            ("{region.example", "unclosed"),
            ("{tenant}.example", "unknown placeholder {tenant}"),
            ("a b.example", "cannot appear"),
        ] {
            let e = Template::parse(text).unwrap_err();
            assert!(e.contains(why), "{text}: {e}");
        }
    }
}
