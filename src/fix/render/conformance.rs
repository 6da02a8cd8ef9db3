//! One table of the behaviours every format that writes changes keeps, run over each of them:
//! placeholders stand for names not given and given names replace them; hostile values stay
//! values; nothing to change, rules only to confirm and changes made outside Azure declare
//! nothing; only what the rules use is asked for; and destinations broader than any check
//! needs are left out. Each format says how its own reader reads it and where it puts what;
//! the assertions are the table's. Markdown is not in it: its code blocks are these formats,
//! and its prose has tests of its own.

use crate::fix::layout::NOTHING_TO_CHANGE;
use crate::fix::model::{Fixes, Rule, PLACEHOLDER_PREFIX};
use crate::fix::sample::{self, HOSTILE};

/// A format as the table reads it.
pub(super) trait Format {
    fn render(fixes: &Fixes) -> String;
    /// Every string value the text sets, as the format's own reader reads it, with what it is
    /// the value of: a dotted path (Terraform), a parameter or property (Bicep), a variable or
    /// an `az` flag (scripts). Panics unless the text is well formed and keeps what every
    /// output keeps: valid and unique names, only the resources and commands the format may
    /// use, and nothing that stands for everywhere as a destination.
    fn strings(text: &str) -> Vec<(String, String)>;
    /// The lines that are code, not comments, blank lines or a script's own setup.
    fn code(text: &str) -> Vec<String>;
    /// The names of the inputs the text asks for (variables or parameters), in order.
    fn inputs(text: &str) -> Vec<String>;
    /// What the text declares or changes, in order: resource and data source types, or the
    /// `az` commands it runs.
    fn objects(text: &str) -> Vec<String>;
    /// `value` as the format writes it in a string.
    fn quote(value: &str) -> String;
    fn is_comment(line: &str) -> bool;
    /// Whether the value under `key` is where traffic goes.
    fn destination(key: &str) -> bool;
    /// Whether `key` is a route's next hop, the one place `Internet` may stand.
    fn next_hop(key: &str) -> bool;

    /// The key and value of each placeholder in the sample, names not given.
    const PLACEHOLDERS: &'static [(&'static str, &'static str)];
    /// The placeholder no name given fills in, as it stands with every name given.
    const LEFT: (&'static str, &'static str);
    /// Keys where the hostile value must arrive whole.
    const HOSTILE_KEYS: &'static [&'static str];
    /// What a route alone asks for and declares; likewise a zone link alone.
    const ROUTE_ONLY: Uses;
    const LINK_ONLY: Uses;
}

/// Inputs asked for, and objects declared or changed.
pub(super) type Uses = (&'static [&'static str], &'static [&'static str]);

/// The names the sample gives, for the placeholders they replace.
const GIVEN: &[(&str, &str)] = &[
    ("REPLACE-firewall-policy", "fw-policy-hub"),
    ("REPLACE-nsg", "nsg-aml"),
    ("REPLACE-route-table", "rt-aml"),
    ("REPLACE-resource-group", "rg-network"),
    ("REPLACE-workspace", "ws-aml"),
    ("REPLACE-vnet", "vnet-hub"),
    ("REPLACE-subnet", "snet-compute"),
];

fn has(found: &[(String, String)], key: &str, value: &str) -> bool {
    found.iter().any(|(k, v)| k == key && v == value)
}

/// The text's strings, once it is found well formed and free of the broadest destinations.
fn read<F: Format>(text: &str) -> Vec<(String, String)> {
    assert!(!text.contains("0.0.0.0/0"), "{text}");
    assert!(!text.contains("AzureCloud"), "{text}");
    checked::<F>(text)
}

/// The text's strings, with `Internet` only as a next hop and `*` never as a destination.
fn checked<F: Format>(text: &str) -> Vec<(String, String)> {
    let found = F::strings(text);
    for (key, value) in &found {
        assert!(value != "Internet" || F::next_hop(key), "{key} = {value}");
        assert!(!(F::destination(key) && value == "*"), "{key} = *");
    }
    found
}

pub(super) fn placeholders_stand_for_names_not_given<F: Format>() {
    let text = F::render(&sample::every_rule());
    let found = read::<F>(&text);
    for (key, placeholder) in F::PLACEHOLDERS {
        assert!(
            has(&found, key, placeholder),
            "{key} = {placeholder}\n{text}"
        );
    }
}

pub(super) fn given_names_replace_the_placeholders<F: Format>() {
    let text = F::render(&sample::named());
    let found = read::<F>(&text);
    for (key, placeholder) in F::PLACEHOLDERS {
        let name = match GIVEN.iter().find(|(p, _)| p == placeholder) {
            Some((_, name)) => name,
            None => {
                assert_eq!(*key, F::LEFT.0, "{placeholder} has no name to stand for");
                F::LEFT.1
            }
        };
        assert!(has(&found, key, name), "{key} = {name}\n{text}");
    }
    // Only the value no name gives is still to fill in, and the header's word for them; every
    // other value, in every command and declaration, is a given name.
    assert_eq!(text.matches(PLACEHOLDER_PREFIX).count(), 2, "{text}");
    for (key, value) in &found {
        let rest = value.replace(F::LEFT.1, "");
        assert!(!rest.contains(PLACEHOLDER_PREFIX), "{key} = {value}");
    }
}

pub(super) fn hostile_values_stay_values<F: Format>() {
    let text = F::render(&sample::hostile());
    assert!(!text.contains('\r'), "{text}");
    let found = read::<F>(&text);
    for key in F::HOSTILE_KEYS {
        assert!(has(&found, key, HOSTILE), "{key}: {found:?}");
    }
    // Wherever the text shows it, the value is in a comment or quoted whole up to its closing
    // quote: its line breaks never end a line early, and nothing of it spills into code.
    let quoted = F::quote(HOSTILE);
    let from_inside = &quoted[1..];
    for line in text.lines().filter(|l| l.contains("{y}")) {
        assert!(
            F::is_comment(line) || line.contains(from_inside),
            "{line}\n{text}"
        );
    }
}

/// Declares and runs nothing, and asks for nothing.
fn declares_nothing<F: Format>(text: &str) {
    assert_eq!(F::code(text), Vec::<String>::new(), "{text}");
    assert_eq!(read::<F>(text), vec![], "{text}");
}

pub(super) fn nothing_to_change_declares_nothing<F: Format>() {
    let text = F::render(&sample::empty());
    assert!(text.contains(NOTHING_TO_CHANGE), "{text}");
    declares_nothing::<F>(&text);
}

pub(super) fn rules_only_to_confirm_declare_nothing<F: Format>() {
    let text = F::render(&sample::confirm_only());
    assert!(text.contains("Make sure these exist"), "{text}");
    assert!(text.contains("*.data.mcr.microsoft.com"), "{text}");
    declares_nothing::<F>(&text);
}

pub(super) fn changes_outside_azure_declare_nothing<F: Format>() {
    let text = F::render(&sample::only(|rule| {
        matches!(rule, Rule::Forward { .. } | Rule::ProxyConnect { .. })
    }));
    assert!(text.contains(" api.azureml.ms "), "{text}");
    assert!(text.contains("westeurope.api.azureml.ms:443"), "{text}");
    declares_nothing::<F>(&text);
}

pub(super) fn only_what_the_rules_use_is_declared<F: Format>() {
    let route = sample::only(|rule| matches!(rule, Rule::Route { .. }));
    let link = sample::only(|rule| matches!(rule, Rule::ZoneLink { .. }));
    for (fixes, (inputs, objects)) in [(route, F::ROUTE_ONLY), (link, F::LINK_ONLY)] {
        let text = F::render(&fixes);
        read::<F>(&text);
        assert_eq!(F::inputs(&text), inputs, "{text}");
        assert_eq!(F::objects(&text), objects, "{text}");
    }
}

pub(super) fn broad_destinations_are_left_out<F: Format>() {
    let text = F::render(&sample::broad());
    // Named in the list of what was left out, never as a value.
    assert!(text.contains("Left out"), "{text}");
    for line in F::code(&text) {
        for broad in ["AzureCloud", "0.0.0.0/0"] {
            assert!(!line.contains(broad), "{line}");
        }
    }
    for (key, value) in checked::<F>(&text) {
        if F::destination(&key) {
            assert!(
                !["AzureCloud", "Internet", "*", "0.0.0.0/0"].contains(&value.as_str()),
                "{key} = {value}"
            );
        }
    }
}

/// The named objects a text makes with their priorities, as a team finds them in Azure: the
/// rule collection group, its collections and the NSG's rules, each an `amlprobe-` name paired
/// with the priority set after it; comments and descriptions left out. Sorted, as formats order
/// their declarations each in its own way.
fn named_priorities<F: Format>(text: &str) -> Vec<(String, u32)> {
    let mut found = Vec::new();
    let mut name: Option<String> = None;
    let mut pending = false;
    for line in text.lines().filter(|l| !F::is_comment(l.trim_start())) {
        if line.contains("description") {
            continue;
        }
        if let Some(at) = line.find("amlprobe-") {
            let rest = &line[at..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')))
                .unwrap_or(rest.len());
            name = Some(rest[..end].to_string());
        }
        // A priority on its own line, or the value of an input named for one (Terraform's
        // `default = 300` under `variable "…_priority"`).
        let at = match line.to_ascii_lowercase().find("priority") {
            Some(at) => at,
            None if pending => 0,
            None => continue,
        };
        let digits: String = line[at..]
            .chars()
            .skip_while(|c| !c.is_ascii_digit())
            .take_while(char::is_ascii_digit)
            .collect();
        pending = digits.is_empty();
        if let (Some(n), Ok(priority)) = (name.as_ref(), digits.parse()) {
            found.push((n.clone(), priority));
            name = None;
        }
    }
    found.sort();
    found
}

/// Whichever format a team runs, then adopts another, it finds the same group, collections
/// and NSG rules at the same priorities, as the layout names them.
#[test]
fn every_format_makes_the_same_objects_at_the_same_priorities() {
    use crate::fix::layout::{Collection, GROUP, GROUP_PRIORITY};
    use crate::fix::render::{az::tests::Az, bicep::tests::Bicep, terraform::tests::Terraform};
    let fixes = sample::every_rule();
    let az = named_priorities::<Az>(&Az::render(&fixes));
    let terraform = named_priorities::<Terraform>(&Terraform::render(&fixes));
    let bicep = named_priorities::<Bicep>(&Bicep::render(&fixes));
    assert!(az.contains(&(GROUP.to_string(), GROUP_PRIORITY)), "{az:?}");
    for c in Collection::ALL {
        assert!(az.contains(&(c.name().to_string(), c.priority())), "{az:?}");
    }
    assert!(
        az.iter()
            .any(|(n, p)| n.starts_with("amlprobe-") && *p >= 3000),
        "no NSG rule in {az:?}"
    );
    assert_eq!(az, terraform);
    assert_eq!(az, bicep);
}

/// Every behaviour of the table, as a test of each format.
macro_rules! table {
    ($($module:ident: $format:ty),* $(,)?) => {$(
        mod $module {
            #[test]
            fn placeholders_stand_for_names_not_given() {
                super::placeholders_stand_for_names_not_given::<$format>();
            }

            #[test]
            fn given_names_replace_the_placeholders() {
                super::given_names_replace_the_placeholders::<$format>();
            }

            #[test]
            fn hostile_values_stay_values() {
                super::hostile_values_stay_values::<$format>();
            }

            #[test]
            fn nothing_to_change_declares_nothing() {
                super::nothing_to_change_declares_nothing::<$format>();
            }

            #[test]
            fn rules_only_to_confirm_declare_nothing() {
                super::rules_only_to_confirm_declare_nothing::<$format>();
            }

            #[test]
            fn changes_outside_azure_declare_nothing() {
                super::changes_outside_azure_declare_nothing::<$format>();
            }

            #[test]
            fn only_what_the_rules_use_is_declared() {
                super::only_what_the_rules_use_is_declared::<$format>();
            }

            #[test]
            fn broad_destinations_are_left_out() {
                super::broad_destinations_are_left_out::<$format>();
            }
        }
    )*};
}

table! {
    az: crate::fix::render::az::tests::Az,
    managed: crate::fix::render::managed::tests::Managed,
    terraform: crate::fix::render::terraform::tests::Terraform,
    bicep: crate::fix::render::bicep::tests::Bicep,
}
