//! Planning: which catalog entries run in this context, against which concrete host, and why
//! the others are skipped. Nothing here touches the network.

use std::sync::Arc;

use crate::catalog::{CloudHost, Entry, Kind, Template};
use crate::context::{ComputeType, Context, Input, Mode};
use crate::reason::Reason;

/// Why a check does not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// The requirement does not exist for this cloud, mode or compute.
    NotApplicable(String),
    /// A value the check needs was neither given nor discovered.
    MissingInput { input: Input, message: String },
}

impl Skip {
    pub fn reason(&self) -> Reason {
        match self {
            Skip::NotApplicable(_) => Reason::NotApplicable,
            Skip::MissingInput { .. } => Reason::MissingInput,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Skip::NotApplicable(m) | Skip::MissingInput { message: m, .. } => m,
        }
    }

    /// What to do about it: give the missing value.
    pub fn remediation(&self) -> Option<String> {
        match self {
            Skip::NotApplicable(_) => None,
            Skip::MissingInput { input, .. } => {
                Some(format!("Give {} (or set {}).", input.flag(), input.env()))
            }
        }
    }
}

/// A catalog entry made concrete for this context, or the reason it cannot run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Shared with the catalog: a plan per entry must not copy every entry.
    pub entry: Arc<Entry>,
    pub host: String,
    pub stands_for: Option<String>,
    /// The host was chosen only to stand for `stands_for` (fixed text and the region, no name
    /// the node gave): if it does not exist in DNS, that is inconclusive, not a failure.
    pub stand_in: bool,
    /// Where a host the node named itself came from (`env:AZ_BATCH_ACCOUNT_URL`).
    pub host_source: Option<String>,
    /// For private-endpoint DNS checks, the zone the CNAME chain must pass through.
    pub privatelink: Option<String>,
    /// An HTTPS URL whose redirect names the host to probe instead.
    pub redirect_from: Option<String>,
    /// For private-endpoint names: the host whose address this one must share, if it could
    /// be built.
    pub same_address_as: Option<String>,
    /// For an `if_exists` name: the host and privatelink zone whose answer through the zone
    /// shows that this name must exist. Boxed: most plans have none, and a catalog of
    /// thousands holds a plan an entry.
    pub exists_with: Option<Box<(String, String)>>,
    pub service_tag: Option<String>,
    /// Whether a failure fails the run: the entry's `required`, except that a check of one
    /// networking mode only cannot fail a run whose mode is unknown.
    pub required: bool,
    pub skip: Option<Skip>,
}

/// Expand the selected entries for the context; skipped ones carry their reason. `Err` names
/// an entry whose host, filled from the context, is no DNS name.
pub fn plan(
    entries: &[Arc<Entry>],
    ctx: &Context,
    only: &[String],
    skip: &[String],
) -> Result<Vec<Plan>, String> {
    entries
        .iter()
        .filter(|e| ctx.runs_scenario(e.scenario.as_deref()) && e.selected(only, skip))
        .map(|e| plan_one(e, entries, ctx))
        .collect()
}

/// The host a plan probes, and where it came from when the node named it.
struct Host {
    name: String,
    template: Template,
    /// The node named the host itself (it is real, not a stand-in), and where it said so.
    named: bool,
    source: Option<String>,
    missing: Option<Input>,
}

/// A host the node names itself wins over the template. A template filled from the context
/// must still be a DNS name: values valid alone can make a label or a name too long together,
/// and such a host would only fail as a name that does not exist.
fn host(e: &Entry, in_cloud: Option<&CloudHost>, ctx: &Context) -> Result<Host, String> {
    let template = in_cloud.map_or_else(|| e.host.clone(), |c| c.host.clone());
    let named = e.host_from.and_then(|from| {
        let host = from.host(ctx)?.to_ascii_lowercase();
        Some((host, ctx.sources.get(from.field().key()).cloned()))
    });
    Ok(match (named, template.expand(ctx)) {
        (Some((name, source)), _) => Host {
            name,
            template,
            named: true,
            source,
            missing: None,
        },
        (None, Ok(name)) => {
            // A check of the node itself has no host to look up, only its stand-in name.
            if e.kind != Kind::Host {
                template
                    .check_filled(&name)
                    .map_err(|why| format!("endpoint \"{}\": host {why}", e.id))?;
            }
            Host {
                name: name.to_ascii_lowercase(),
                template,
                named: false,
                source: None,
                missing: None,
            }
        }
        (None, Err(input)) => Host {
            name: template.to_string(),
            template,
            named: false,
            source: None,
            missing: Some(input),
        },
    })
}

/// The first reason not to run, if any.
fn skip(e: &Entry, in_cloud: bool, host: &Host, ctx: &Context) -> Option<Skip> {
    if !in_cloud {
        let cloud = ctx.cloud.as_str();
        return Some(Skip::NotApplicable(format!(
            "does not exist in the {cloud} cloud"
        )));
    }
    if ctx.mode != Mode::Auto && !e.modes.contains(&ctx.mode) {
        let mode = ctx.mode.as_str();
        return Some(Skip::NotApplicable(format!(
            "does not apply in {mode} mode"
        )));
    }
    if let Some(t) = ctx.compute_type.filter(|t| !e.compute_types.contains(t)) {
        let t = t.as_str();
        return Some(Skip::NotApplicable(format!(
            "does not apply to {t} compute"
        )));
    }
    let azure_mls_own = |t: &ComputeType| matches!(t, ComputeType::Instance | ComputeType::Cluster);
    if ctx.compute_type.is_none() && !e.compute_types.iter().any(azure_mls_own) {
        // Unknown compute is taken for Azure ML's own; checks of other kinds wait to be asked.
        let kinds: Vec<&str> = e.compute_types.iter().map(|t| t.as_str()).collect();
        return Some(Skip::MissingInput {
            input: Input::ComputeType,
            message: format!(
                "needs --compute-type: applies only to {} compute",
                kinds.join(", ")
            ),
        });
    }
    if ctx.preflight && host.template.names_the_compute() {
        return Some(Skip::NotApplicable(
            "preflight: the compute does not exist yet, so its own name cannot answer; run amlprobe on it once it is created".into(),
        ));
    }
    host.missing.map(|input| Skip::MissingInput {
        input,
        message: format!("needs {}: the host is {}", input.flag(), host.template),
    })
}

fn plan_one(e: &Arc<Entry>, entries: &[Arc<Entry>], ctx: &Context) -> Result<Plan, String> {
    let in_cloud = e.host_for(ctx.cloud);
    let host = host(e, in_cloud.as_ref(), ctx)?;
    let stands_for = in_cloud
        .as_ref()
        .and_then(|c| c.stands_for.as_ref())
        .map(|w| w.expand_or_text(ctx));
    let stand_in = stands_for.is_some() && !host.named && host.template.stands_in();
    let exists_with = e.exists_with.as_ref().and_then(|id| {
        let other = entries.iter().find(|o| &o.id == id)?.host_for(ctx.cloud)?;
        let host = other.host.expand(ctx).ok()?.to_ascii_lowercase();
        Some(Box::new((host, other.privatelink?)))
    });
    let same_address_as = e.same_address_as.as_ref().and_then(|id| {
        let other = entries.iter().find(|o| &o.id == id)?;
        other
            .host_for(ctx.cloud)?
            .host
            .expand(ctx)
            .ok()
            .map(|h| h.to_ascii_lowercase())
    });
    Ok(Plan {
        entry: Arc::clone(e),
        skip: skip(e, in_cloud.is_some(), &host, ctx),
        stands_for,
        stand_in,
        host_source: host.source,
        host: host.name,
        privatelink: in_cloud.as_ref().and_then(|c| c.privatelink.clone()),
        redirect_from: in_cloud.and_then(|c| c.redirect_from),
        same_address_as,
        exists_with,
        service_tag: e.service_tag.as_ref().map(|t| Template::fill(t, ctx)),
        required: e.required && !(ctx.mode == Mode::Auto && e.modes.len() == 1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog;

    fn ctx(mode: Mode) -> Context {
        Context {
            region: Some("westeurope".into()),
            mode,
            ..Context::default()
        }
    }

    /// The plans of a catalog whose hosts are all DNS names once filled.
    fn planned(entries: &[Arc<Entry>], c: &Context, only: &[String], skip: &[String]) -> Vec<Plan> {
        plan(entries, c, only, skip).unwrap()
    }

    #[test]
    fn plans_skip_what_lacks_input_and_name_the_flag() {
        let entries = catalog::load(&[]).unwrap();
        let plans = planned(&entries, &ctx(Mode::Auto), &[], &[]);
        let file = plans
            .iter()
            .find(|p| p.entry.id == "storage-file-445")
            .unwrap();
        let skip = file.skip.as_ref().unwrap();
        assert_eq!(skip.reason(), Reason::MissingInput);
        assert!(skip.message().contains("--storage-account"));
        assert_eq!(
            skip.remediation().as_deref(),
            Some("Give --storage-account (or set AMLPROBE_STORAGE_ACCOUNT).")
        );
        let tundra = plans
            .iter()
            .find(|p| p.entry.id == "tundra-udp-5831")
            .unwrap();
        assert!(tundra.skip.is_none());
        assert_eq!(tundra.host, "westeurope.tundra.azureml.ms");
        let blob = plans
            .iter()
            .find(|p| p.entry.id == "storage-blob-443")
            .unwrap();
        assert_eq!(blob.stands_for.as_deref(), Some("*.blob.core.windows.net"));
    }

    #[test]
    fn stand_ins_are_the_names_the_tool_chose() {
        let entries = catalog::load(&[]).unwrap();
        let mut c = ctx(Mode::PublicIp);
        c.compute_name = Some("ci-one".into());
        c.storage_account = Some("amlstore1".into());
        let find =
            |plans: &[Plan], id: &str| plans.iter().find(|p| p.entry.id == id).unwrap().clone();
        let plans = planned(&entries, &c, &[], &[]);
        assert!(find(&plans, "batch-443").stand_in);
        assert!(find(&plans, "mcr-data-443").stand_in);
        assert!(
            !find(&plans, "instances-443").stand_in,
            "the compute's own name"
        );
        assert!(
            !find(&plans, "storage-blob-443").stand_in,
            "the customer's account"
        );
        assert!(!find(&plans, "graph-443").stand_in, "no wildcard");
        // A name the node gives replaces the stand-in, and says where it came from.
        c.batch_account_host = Some("myacct.westeurope.batch.azure.com".into());
        c.sources
            .insert("batch_account_host", "env:AZ_BATCH_ACCOUNT_URL".into());
        let batch = find(&planned(&entries, &c, &[], &[]), "batch-443");
        assert_eq!(batch.host, "myacct.westeurope.batch.azure.com");
        assert!(!batch.stand_in);
        assert_eq!(
            batch.host_source.as_deref(),
            Some("env:AZ_BATCH_ACCOUNT_URL")
        );
        // Even with no region, a named host needs no template value.
        c.region = None;
        assert!(find(&planned(&entries, &c, &[], &[]), "batch-443")
            .skip
            .is_none());
    }

    #[test]
    fn one_mode_checks_cannot_fail_a_run_of_unknown_mode() {
        let entries = catalog::load(&[]).unwrap();
        let required = |mode: Mode, id: &str| {
            planned(&entries, &ctx(mode), &[id.to_string()], &[])[0].required
        };
        assert!(!required(Mode::Auto, "pe-workspace-api"));
        assert!(required(Mode::NoPublicIp, "pe-workspace-api"));
        assert!(required(Mode::Auto, "graph-443"), "both modes");
        assert!(!required(Mode::PublicIp, "pypi-443"), "situational anyway");
    }

    /// Before the compute exists, nothing of its own name can answer: those checks skip and say
    /// why, whether or not the name was given; the rest run as on the node.
    #[test]
    fn a_preflight_run_skips_the_computes_own_names() {
        let entries = catalog::load(&[]).unwrap();
        let mut c = ctx(Mode::NoPublicIp);
        c.preflight = true;
        c.storage_account = Some("amlstore1".into());
        for name in [None, Some("ci-new")] {
            c.compute_name = name.map(str::to_string);
            let plans = planned(&entries, &c, &[], &[]);
            for p in &plans {
                let own =
                    p.entry.id.starts_with("instances-") || p.entry.id == "pe-compute-instance";
                let preflight = p.skip.as_ref().is_some_and(|s| {
                    s.reason() == Reason::NotApplicable && s.message().starts_with("preflight:")
                });
                assert_eq!(
                    preflight,
                    own && p.entry.modes.contains(&Mode::NoPublicIp),
                    "{}",
                    p.entry.id
                );
            }
            let storage = plans
                .iter()
                .find(|p| p.entry.id == "storage-file-445")
                .unwrap();
            assert!(storage.skip.is_none());
        }
    }

    /// A scenario's checks join a run only when it is turned on; `all` turns on every one.
    #[test]
    fn scenarios_add_their_checks_only_when_turned_on() {
        let entries = catalog::load(&[]).unwrap();
        let mut c = ctx(Mode::Auto);
        let ids = |c: &Context| -> Vec<String> {
            planned(&entries, c, &[], &[])
                .into_iter()
                .map(|p| p.entry.id.clone())
                .collect()
        };
        let plain = ids(&c);
        assert!(plain
            .iter()
            .all(|id| !id.starts_with("vscode-") && !id.starts_with("acr-")));
        c.scenarios = vec!["registry".into()];
        let with = ids(&c);
        assert_eq!(with.len(), plain.len() + 4, "{with:?}");
        assert!(with.iter().any(|id| id == "acr-443"));
        c.scenarios = vec!["all".into()];
        let scenario_entries = entries.iter().filter(|e| e.scenario.is_some()).count();
        assert_eq!(ids(&c).len(), plain.len() + scenario_entries);
    }

    #[test]
    fn a_missing_compute_type_names_its_own_flag() {
        let entries = catalog::load(&[]).unwrap();
        let plans = planned(&entries, &ctx(Mode::Auto), &["node-os-ubuntu".into()], &[]);
        let skip = plans[0].skip.as_ref().unwrap();
        assert_eq!(skip.reason(), Reason::MissingInput);
        assert!(matches!(
            skip,
            Skip::MissingInput {
                input: Input::ComputeType,
                ..
            }
        ));
    }

    #[test]
    fn only_and_skip_select_checks() {
        let entries = catalog::load(&[]).unwrap();
        let plans = planned(
            &entries,
            &ctx(Mode::Auto),
            &["storage".into()],
            &["storage-file-*".into()],
        );
        assert!(!plans.is_empty());
        assert!(plans
            .iter()
            .all(|p| p.entry.group == "storage" && !p.entry.id.starts_with("storage-file-")));
    }
}
