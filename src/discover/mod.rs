//! Where am I: the run's context from the flags, the node's variables (the environment, then the
//! environment file) and the instance metadata service (IMDS), each value with its source.
//! `discover` states each value's precedence in one statement; flags always win, and anything
//! malformed becomes a warning and is ignored.

pub mod hosts;
pub mod imds;
pub mod tracking;
pub mod vars;

use std::collections::BTreeMap;
use std::fmt;

use crate::cli::ContextArgs;
use crate::context::{self, Cloud, ComputeType, Context, Field, Mode};
use tracking::Tracking;
pub use vars::Variables;

/// Where a value came from, written as in the report's `context.sources`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Flag,
    /// A process environment variable, by name.
    Env(String),
    /// The environment file, by path.
    File(String),
    Imds,
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag => f.write_str("flag"),
            Source::Env(name) => write!(f, "env:{name}"),
            Source::File(path) => write!(f, "file:{path}"),
            Source::Imds => f.write_str("imds"),
            Source::Default => f.write_str("default"),
        }
    }
}

/// A value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found<T> {
    pub value: T,
    pub source: Source,
}

impl<T> Found<T> {
    pub fn new(value: T, source: Source) -> Found<T> {
        Found { value, source }
    }

    /// Another value from the same source.
    pub fn with<U>(&self, value: U) -> Found<U> {
        Found::new(value, self.source.clone())
    }

    /// What `pick` finds in this value, from the same source.
    pub fn part<U>(&self, pick: impl FnOnce(&T) -> Option<U>) -> Option<Found<U>> {
        pick(&self.value).map(|value| self.with(value))
    }
}

/// Keeping what was found in the context, its source noted under the field's key.
trait Record {
    type Value;
    fn record(self, sources: &mut BTreeMap<&'static str, String>, field: Field) -> Self::Value;
}

impl<T> Record for Found<T> {
    type Value = T;
    fn record(self, sources: &mut BTreeMap<&'static str, String>, field: Field) -> T {
        sources.insert(field.key(), self.source.to_string());
        self.value
    }
}

impl<T> Record for Option<Found<T>> {
    type Value = Option<T>;
    fn record(self, sources: &mut BTreeMap<&'static str, String>, field: Field) -> Option<T> {
        self.map(|found| found.record(sources, field))
    }
}

/// A value the command line gave.
fn flag<T: Clone>(value: &Option<T>) -> Option<Found<T>> {
    value.clone().map(|v| Found::new(v, Source::Flag))
}

/// A value IMDS gave.
fn imds_fact<T: Clone>(value: &Option<T>) -> Option<Found<T>> {
    value.clone().map(|v| Found::new(v, Source::Imds))
}

/// Put the context together. `imds` is `None` when it was not asked (`--offline`).
pub fn discover(
    args: &ContextArgs,
    vars: &Variables,
    imds: Option<Result<imds::Facts, imds::Problem>>,
    warnings: Vec<String>,
) -> Context {
    let mut ctx = Context::default();
    let mut warnings = vars::Warnings {
        list: warnings,
        withheld: Vec::new(),
    };
    let facts = imds::facts(imds, &mut ctx.notes, &mut warnings.list);
    let w = &mut warnings;
    let tracking = tracking::discover(vars, &mut w.list);
    let uri = |part: fn(&Tracking) -> Option<String>| tracking.as_ref()?.part(part);
    let s = &mut ctx.sources;

    // Hosts the node names itself: the workspace API, the Batch account, Batch node management.
    let service = vars.valid("AZUREML_SERVICE_ENDPOINT", hosts::service_endpoint, w);
    ctx.service_endpoint_host = service.clone().record(s, Field::ServiceEndpointHost);
    ctx.batch_account_host = vars
        .valid("AZ_BATCH_ACCOUNT_URL", hosts::batch_account, w)
        .record(s, Field::BatchAccountHost);
    ctx.batch_node_host = vars
        .find(hosts::batch_node_host_in)
        .record(s, Field::BatchNodeHost);

    // Region: the workspace's (flag, tracking URI, service endpoint), which is what the documents
    // mean by <region>; the node's own (IMDS) only when nothing names the workspace's.
    let workspace = flag(&args.region)
        .or_else(|| uri(|t| t.region.clone()))
        .or_else(|| service?.part(|host| tracking::region_in(host)));
    ctx.notes.extend(region_note(&workspace, &facts.location));
    ctx.workspace_region = workspace.as_ref().map(|f| f.value.clone());
    ctx.node_region = facts.location.clone();
    ctx.vm_name = facts.vm_name.clone();
    ctx.region = workspace
        .or_else(|| imds_fact(&facts.location))
        .record(s, Field::Region);

    ctx.cloud = flag(&args.cloud)
        .or_else(|| imds_fact(&facts.cloud))
        .unwrap_or(Found::new(Cloud::Public, Source::Default))
        .record(s, Field::Cloud);
    ctx.compute_name = flag(&args.compute_name)
        .or_else(|| vars.valid("CI_NAME", context::parse_compute_name, w))
        .record(s, Field::ComputeName);
    ctx.workspace_id = flag(&args.workspace_id)
        .or_else(|| vars.valid("AZUREML_WORKSPACE_ID", context::parse_guid, w))
        .or_else(|| uri(|t| t.workspace_id.clone()))
        .record(s, Field::WorkspaceId);
    ctx.storage_account = flag(&args.storage_account).record(s, Field::StorageAccount);

    // The workspace's own names, never IMDS's (those belong to the Batch host). A malformed
    // name in the tracking URI is worth its warning even when a variable wins, hence `or`.
    let workspace_name = flag(&args.workspace_name)
        .or_else(|| vars.first_valid(WORKSPACE_NAME, parse_resource_name, w));
    let resource_group = vars.first_valid(RESOURCE_GROUP, parse_resource_name, w);
    let mut valid_in_uri = |part: fn(&Tracking) -> Option<String>| {
        let found = uri(part)?;
        vars::checked(tracking::VARIABLE, &found, parse_resource_name, w)
    };
    ctx.workspace_name = workspace_name
        .or(valid_in_uri(|t| t.workspace_name.clone()))
        .record(s, Field::WorkspaceName);
    ctx.resource_group = resource_group
        .or(valid_in_uri(|t| t.resource_group.clone()))
        .record(s, Field::ResourceGroup);

    // The workspace's registry and key vault: no variable on the node names them.
    ctx.acr = flag(&args.acr).record(s, Field::Acr);
    ctx.key_vault = flag(&args.key_vault).record(s, Field::KeyVault);

    // Compute type: flag, else what the node's variables show.
    ctx.compute_type = flag(&args.compute_type)
        .or_else(|| vars.shows("CI_NAME", ComputeType::Instance))
        .or_else(|| vars.shows("AZ_BATCHAI_CLUSTER_NAME", ComputeType::Cluster))
        .or_else(|| vars.shows("DATABRICKS_RUNTIME_VERSION", ComputeType::Databricks))
        .record(s, Field::ComputeType);

    networking_mode(&mut ctx, args, facts.public_ip, facts.location.is_some());
    ctx.warnings = warnings.list;
    ctx.withheld = warnings.withheld;
    ctx
}

/// The networking mode: the flag, else a public address in IMDS; silence there proves nothing.
/// A preflight VM's own public IP says nothing of the compute that will replace it. With the
/// notes that say so, and why the mode is what it is.
fn networking_mode(
    ctx: &mut Context,
    args: &ContextArgs,
    public_ip: Option<bool>,
    location_known: bool,
) {
    let public_ip = public_ip.filter(|_| !args.preflight);
    let public = public_ip.filter(|p| *p).map(|_| Mode::PublicIp);
    let mode = flag(&args.mode.filter(|m| *m != Mode::Auto)).or_else(|| imds_fact(&public));
    ctx.mode_reason = match (args.preflight, &mode) {
        (true, None) => Some(PREFLIGHT_MODE.into()),
        _ => mode_reason(mode.as_ref(), public_ip),
    };
    ctx.preflight = args.preflight;
    if args.preflight {
        ctx.notes.push(PREFLIGHT_NOTE.into());
    } else if ctx.compute_type.is_none() && location_known {
        ctx.notes.push(NOT_A_NODE_NOTE.into());
    }
    ctx.mode = mode
        .record(&mut ctx.sources, Field::Mode)
        .unwrap_or(Mode::Auto);
}

const PREFLIGHT_MODE: &str = "preflight: this VM's public IP says nothing of the compute's networking mode; give --mode, else checks of both modes run";
const PREFLIGHT_NOTE: &str = "preflight: this VM stands in for compute not yet created, in the subnet the compute will use; checks of the compute's own names skip until it exists";
const NOT_A_NODE_NOTE: &str = "no Azure ML compute variables here (CI_NAME, AZ_BATCHAI_CLUSTER_NAME): checks run as on Azure ML compute; on a plain VM testing a subnet before the compute exists, add --preflight";

/// The variables that name the workspace, and its resource group, first one first.
const WORKSPACE_NAME: &[&str] = &["CI_WORKSPACE", "AZUREML_ARM_WORKSPACE_NAME"];
const RESOURCE_GROUP: &[&str] = &["CI_RESOURCE_GROUP", "AZUREML_ARM_RESOURCEGROUP"];

/// An Azure resource name: 1-90 letters, digits and `-_.()`.
fn parse_resource_name(n: &str) -> Result<String, String> {
    if !n.is_empty()
        && n.len() <= 90
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.()".contains(&b))
    {
        Ok(n.to_string())
    } else {
        Err(format!("'{n}' is not an Azure resource name"))
    }
}

/// What to tell when the node runs outside the workspace's region, or when the node's region
/// has to stand in for the workspace's.
fn region_note(workspace: &Option<Found<String>>, node: &Option<String>) -> Option<String> {
    match (workspace, node) {
        (Some(w), Some(node)) if *node != w.value => Some(format!(
            "this node runs in {node} (IMDS) but the workspace is in {} ({}): <region> in host names and service tags is the workspace's region",
            w.value, w.source
        )),
        (None, Some(node)) => Some(format!(
            "nothing names the workspace's region, so it is taken to be the node's ({node}, IMDS); give --region if the workspace is elsewhere"
        )),
        _ => None,
    }
}

/// Why the mode is what it is, unless the flag gave it.
fn mode_reason(mode: Option<&Found<Mode>>, public_ip: Option<bool>) -> Option<String> {
    let reason = match (mode.map(|f| &f.source), public_ip) {
        (Some(Source::Flag), _) => return None,
        (_, Some(true)) => "IMDS shows a public IP address on this node",
        (_, Some(false)) => "IMDS shows no public IP on this node: that is so in no-public-IP mode, but also for public-IP compute reached through a load balancer; give --mode to decide",
        (_, None) => "no source shows the networking mode; checks of both modes run",
    };
    Some(reason.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracking::tests::URI;

    fn vars(env: &[(&str, &str)], file: Option<&str>) -> (Variables, Vec<String>) {
        let mut w = Vec::new();
        let v = Variables::new(
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
            file.map(|t| ("/etc/environment.sso".to_string(), t.to_string())),
            &mut w,
        );
        (v, w)
    }

    #[test]
    fn a_compute_instance_is_discovered_from_its_environment_file() {
        let (v, w) = vars(
            &[],
            Some(&format!("# set by Azure ML\nCI_NAME=ci-one\nexport CI_WORKSPACE=\"ws-one\"\nCI_RESOURCE_GROUP='rg-ml'\nMLFLOW_TRACKING_URI={URI}\nthis line is junk\n")),
        );
        let ctx = discover(&ContextArgs::default(), &v, None, w);
        assert_eq!(ctx.compute_name.as_deref(), Some("ci-one"));
        assert_eq!(ctx.sources["compute_name"], "file:/etc/environment.sso");
        assert_eq!(ctx.compute_type, Some(ComputeType::Instance));
        assert_eq!(ctx.region.as_deref(), Some("westeurope"));
        assert_eq!(ctx.workspace_name.as_deref(), Some("ws-one"));
        assert_eq!(ctx.resource_group.as_deref(), Some("rg-ml"));
        assert_eq!(ctx.warnings.len(), 1, "the junk line: {:?}", ctx.warnings);
        assert!(ctx.notes.iter().any(|n| n.contains("--offline")));
    }

    /// What IMDS shows of a public-cloud VM with a public IP.
    fn public_vm(location: &str, name: &str) -> imds::Facts {
        imds::Facts {
            location: Some(location.into()),
            cloud: Some(Cloud::Public),
            public_ip: Some(true),
            vm_name: Some(name.into()),
            warnings: vec![],
        }
    }

    /// A plain VM standing in for compute not yet created: its public IP says nothing of the
    /// compute's mode, and the report says it was a preflight run. Without the flag, an Azure VM
    /// with no compute variables is told about it.
    #[test]
    fn a_preflight_vm_does_not_lend_its_mode_to_the_compute() {
        let facts = public_vm("westeurope", "jumpbox");
        let (v, w) = vars(&[], None);
        let plain = discover(
            &ContextArgs::default(),
            &v,
            Some(Ok(facts.clone())),
            w.clone(),
        );
        assert_eq!(plain.mode, Mode::PublicIp);
        assert!(!plain.preflight);
        assert!(
            plain.notes.iter().any(|n| n.contains("add --preflight")),
            "{:?}",
            plain.notes
        );
        let args = ContextArgs {
            preflight: true,
            ..ContextArgs::default()
        };
        let ctx = discover(&args, &v, Some(Ok(facts.clone())), w.clone());
        assert_eq!(ctx.mode, Mode::Auto);
        assert!(ctx.preflight);
        assert_eq!(ctx.mode_reason.as_deref(), Some(PREFLIGHT_MODE));
        assert!(
            ctx.notes.iter().any(|n| n == PREFLIGHT_NOTE),
            "{:?}",
            ctx.notes
        );
        assert!(!ctx.notes.iter().any(|n| n.contains("add --preflight")));
        // The region is still the VM's, which is the subnet's and so the compute's.
        assert_eq!(ctx.region.as_deref(), Some("westeurope"));
        let args = ContextArgs {
            preflight: true,
            mode: Some(Mode::NoPublicIp),
            ..ContextArgs::default()
        };
        let ctx = discover(&args, &v, Some(Ok(facts)), w);
        assert_eq!(ctx.mode, Mode::NoPublicIp);
        assert_eq!(ctx.sources["mode"], "flag");
        assert_eq!(ctx.mode_reason, None);
    }

    #[test]
    fn flags_win_and_the_workspace_region_comes_before_the_nodes() {
        let (v, w) = vars(
            &[
                ("MLFLOW_TRACKING_URI", URI),
                ("AZ_BATCHAI_CLUSTER_NAME", "cpu"),
            ],
            None,
        );
        let facts = public_vm("northeurope", "tvmps-node-1");
        let ctx = discover(
            &ContextArgs::default(),
            &v,
            Some(Ok(facts.clone())),
            w.clone(),
        );
        // <region> in host names is the workspace's; the node's own region is kept beside it.
        assert_eq!(ctx.region.as_deref(), Some("westeurope"));
        assert_eq!(ctx.sources["region"], "env:MLFLOW_TRACKING_URI");
        assert_eq!(ctx.node_region.as_deref(), Some("northeurope"));
        assert_eq!(ctx.vm_name.as_deref(), Some("tvmps-node-1"));
        assert_eq!(ctx.workspace_region.as_deref(), Some("westeurope"));
        assert!(
            ctx.notes
                .iter()
                .any(|n| n.contains("runs in northeurope") && n.contains("westeurope")),
            "{:?}",
            ctx.notes
        );
        // With nothing naming the workspace, the node's region stands in, and says so.
        let (alone, w2) = vars(&[("AZ_BATCHAI_CLUSTER_NAME", "cpu")], None);
        let ctx = discover(&ContextArgs::default(), &alone, Some(Ok(facts.clone())), w2);
        assert_eq!(ctx.region.as_deref(), Some("northeurope"));
        assert_eq!(ctx.sources["region"], "imds");
        assert_eq!(ctx.workspace_region, None);
        assert!(ctx
            .notes
            .iter()
            .any(|n| n.contains("taken to be the node's")));
        assert_eq!(ctx.compute_type, Some(ComputeType::Cluster));
        assert_eq!(ctx.mode, Mode::PublicIp);
        let flags = ContextArgs {
            region: Some("uksouth".into()),
            mode: Some(Mode::NoPublicIp),
            cloud: Some(Cloud::Public),
            ..ContextArgs::default()
        };
        let ctx = discover(&flags, &v, Some(Ok(facts)), w);
        assert_eq!(
            (ctx.region.as_deref(), ctx.sources["region"].as_str()),
            (Some("uksouth"), "flag")
        );
        assert_eq!(ctx.mode, Mode::NoPublicIp);
        assert_eq!(ctx.sources["cloud"], "flag");
    }

    #[test]
    fn batch_and_service_hosts_come_from_the_nodes_variables() {
        let (v, w) = vars(
            &[
                (
                    "AZ_BATCH_ACCOUNT_URL",
                    "https://myacct.westeurope.batch.azure.com/",
                ),
                (
                    "AZUREML_SERVICE_ENDPOINT",
                    "https://northeurope.api.azureml.ms",
                ),
                (
                    "AZ_BATCH_AUTHENTICATION_TOKEN",
                    "abc.westeurope.service.batch.azure.com",
                ),
                (
                    "AZ_BATCH_NODE_MANAGEMENT_URL",
                    "https://1234.westeurope.service.batch.azure.com:443/",
                ),
            ],
            None,
        );
        let ctx = discover(&ContextArgs::default(), &v, None, w);
        assert_eq!(
            ctx.batch_account_host.as_deref(),
            Some("myacct.westeurope.batch.azure.com")
        );
        assert_eq!(
            ctx.sources["batch_account_host"],
            "env:AZ_BATCH_ACCOUNT_URL"
        );
        assert_eq!(
            ctx.batch_node_host.as_deref(),
            Some("1234.westeurope.service.batch.azure.com")
        );
        assert_eq!(
            ctx.sources["batch_node_host"],
            "env:AZ_BATCH_NODE_MANAGEMENT_URL"
        );
        assert_eq!(
            ctx.service_endpoint_host.as_deref(),
            Some("northeurope.api.azureml.ms")
        );
        assert_eq!(ctx.region.as_deref(), Some("northeurope"));
        assert_eq!(ctx.sources["region"], "env:AZUREML_SERVICE_ENDPOINT");
        // A token is never read, even when it looks like a host.
        assert!(!vars::wanted("AZ_BATCH_AUTHENTICATION_TOKEN"));
        let (bad, w) = vars(&[("AZ_BATCH_ACCOUNT_URL", "http://x")], None);
        let ctx = discover(&ContextArgs::default(), &bad, None, w);
        assert_eq!(ctx.batch_account_host, None);
        assert!(ctx
            .warnings
            .iter()
            .any(|w| w.contains("AZ_BATCH_ACCOUNT_URL")));
    }

    #[test]
    fn malformed_values_are_warnings_not_values() {
        let (v, w) = vars(
            &[
                ("CI_NAME", "not a name!"),
                ("AZUREML_WORKSPACE_ID", "xyz"),
                ("MLFLOW_TRACKING_URI", "garbage"),
            ],
            None,
        );
        let ctx = discover(
            &ContextArgs::default(),
            &v,
            Some(Err(imds::Problem::Unavailable("not reachable".into()))),
            w,
        );
        assert_eq!(ctx.compute_name, None);
        assert_eq!(ctx.workspace_id, None);
        assert_eq!(ctx.warnings.len(), 3, "{:?}", ctx.warnings);
        assert_eq!(ctx.cloud, Cloud::Public);
        assert_eq!(ctx.sources["cloud"], "default");
        assert_eq!(ctx.mode, Mode::Auto);
        assert!(ctx.mode_reason.is_some());
    }

    /// The private-link form of the tracking URI, which also names the workspace id.
    const PRIVATE_URI: &str = "azureml://0f3a8d52-6c1e-4b7a-9d2e-5a4b3c2d1e0f.workspace.eastus2.api.azureml.ms/mlflow/v1.0/subscriptions/s/resourceGroups/rg-uri/providers/Microsoft.MachineLearningServices/workspaces/ws-uri";

    /// A value of the context and its source, as the report shows them ("" for none).
    fn found(ctx: &Context, key: &str) -> [String; 2] {
        let json = serde_json::to_value(ctx).unwrap();
        let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
        [text(&json[key]), text(&json["sources"][key])]
    }

    /// Discovery without IMDS.
    fn offline(env: &[(&str, &str)], file: Option<&str>, args: &ContextArgs) -> Context {
        let (v, w) = vars(env, file);
        discover(args, &v, None, w)
    }

    #[test]
    fn the_tracking_uri_names_the_region_before_the_service_endpoint_and_imds_the_cloud() {
        let none = ContextArgs::default();
        let endpoint = (
            "AZUREML_SERVICE_ENDPOINT",
            "https://northeurope.api.azureml.ms",
        );
        let ctx = offline(
            &[endpoint, ("MLFLOW_TRACKING_URI", PRIVATE_URI)],
            None,
            &none,
        );
        assert_eq!(
            found(&ctx, "region"),
            ["eastus2", "env:MLFLOW_TRACKING_URI"]
        );

        // The cloud from IMDS when no flag gives it.
        let (v, w) = vars(&[], None);
        let facts = imds::Facts {
            cloud: Some(Cloud::China),
            ..imds::Facts::default()
        };
        let ctx = discover(&none, &v, Some(Ok(facts)), w);
        assert_eq!(found(&ctx, "cloud"), ["china", "imds"]);
    }

    #[test]
    fn the_workspace_id_comes_from_the_flag_then_its_variable_then_the_tracking_uri() {
        let none = ContextArgs::default();
        let given = ContextArgs {
            workspace_id: Some("11111111-2222-3333-4444-555555555555".into()),
            ..ContextArgs::default()
        };
        let id = "22222222-3333-4444-5555-666666666666";
        let env = [
            ("MLFLOW_TRACKING_URI", PRIVATE_URI),
            ("AZUREML_WORKSPACE_ID", id),
        ];
        let ctx = offline(&env, None, &given);
        assert_eq!(
            found(&ctx, "workspace_id"),
            ["11111111-2222-3333-4444-555555555555", "flag"]
        );
        let ctx = offline(&env, None, &none);
        assert_eq!(
            found(&ctx, "workspace_id"),
            [id, "env:AZUREML_WORKSPACE_ID"]
        );
        let ctx = offline(&env[..1], None, &none);
        assert_eq!(
            found(&ctx, "workspace_id"),
            [
                "0f3a8d52-6c1e-4b7a-9d2e-5a4b3c2d1e0f",
                "env:MLFLOW_TRACKING_URI"
            ]
        );
    }

    #[test]
    fn the_workspace_names_come_from_ci_then_arm_variables_then_the_tracking_uri() {
        // CI_* before AZUREML_ARM_* wherever each is; for one variable, the environment before
        // the file.
        let none = ContextArgs::default();
        let file = "CI_WORKSPACE=ws-file\nAZUREML_ARM_RESOURCEGROUP=rg-file\n";
        let env = [
            ("MLFLOW_TRACKING_URI", PRIVATE_URI),
            ("AZUREML_ARM_WORKSPACE_NAME", "ws-arm"),
            ("AZUREML_ARM_RESOURCEGROUP", "rg-arm"),
        ];
        let ctx = offline(&env, Some(file), &none);
        assert_eq!(
            found(&ctx, "workspace_name"),
            ["ws-file", "file:/etc/environment.sso"]
        );
        assert_eq!(
            found(&ctx, "resource_group"),
            ["rg-arm", "env:AZUREML_ARM_RESOURCEGROUP"]
        );
        let ctx = offline(&env[..1], None, &none);
        assert_eq!(
            found(&ctx, "workspace_name"),
            ["ws-uri", "env:MLFLOW_TRACKING_URI"]
        );
    }

    #[test]
    fn the_compute_name_and_type_come_from_the_flags_then_the_variables() {
        // CI_NAME, then the cluster's and Databricks' variables. A variable a flag overrides is
        // not even checked.
        let none = ContextArgs::default();
        let given = ContextArgs {
            compute_name: Some("ci-flag".into()),
            compute_type: Some(ComputeType::AttachedVm),
            ..ContextArgs::default()
        };
        let env = [
            ("CI_NAME", "not a name!"),
            ("AZ_BATCHAI_CLUSTER_NAME", "cpu"),
            ("DATABRICKS_RUNTIME_VERSION", "12.3"),
        ];
        let ctx = offline(&env, None, &given);
        assert_eq!(found(&ctx, "compute_name"), ["ci-flag", "flag"]);
        assert_eq!(found(&ctx, "compute_type"), ["attached-vm", "flag"]);
        assert!(ctx.warnings.is_empty(), "{:?}", ctx.warnings);
        let ctx = offline(&env, None, &none);
        assert_eq!(found(&ctx, "compute_name"), ["", ""]);
        assert_eq!(found(&ctx, "compute_type"), ["instance", "env:CI_NAME"]);
        let ctx = offline(&env[1..], None, &none);
        assert_eq!(
            found(&ctx, "compute_type"),
            ["cluster", "env:AZ_BATCHAI_CLUSTER_NAME"]
        );
        let ctx = offline(&env[2..], None, &none);
        assert_eq!(
            found(&ctx, "compute_type"),
            ["databricks", "env:DATABRICKS_RUNTIME_VERSION"]
        );
    }

    #[test]
    fn a_malformed_name_in_the_tracking_uri_is_a_warning_even_when_a_variable_wins() {
        let uri = "azureml://westeurope.api.azureml.ms/x/resourceGroups/r!g/workspaces/w!s";
        let (v, w) = vars(
            &[
                ("MLFLOW_TRACKING_URI", uri),
                ("CI_WORKSPACE", "ws-one"),
                ("CI_RESOURCE_GROUP", "bad group"),
            ],
            None,
        );
        let ctx = discover(&ContextArgs::default(), &v, None, w);
        assert_eq!(ctx.workspace_name.as_deref(), Some("ws-one"));
        assert_eq!(ctx.resource_group, None);
        // The variables' warnings first, then the URI's, workspace before resource group.
        let expected = [
            "CI_RESOURCE_GROUP from env:CI_RESOURCE_GROUP: 'bad group'",
            "MLFLOW_TRACKING_URI from env:MLFLOW_TRACKING_URI: 'w!s'",
            "MLFLOW_TRACKING_URI from env:MLFLOW_TRACKING_URI: 'r!g'",
        ];
        assert_eq!(ctx.warnings.len(), expected.len(), "{:?}", ctx.warnings);
        for (warning, start) in ctx.warnings.iter().zip(expected) {
            assert!(warning.starts_with(start), "{warning}");
        }
    }
}
