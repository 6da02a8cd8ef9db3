//! Where am I: the context from flags, the environment, `/etc/environment.sso` and IMDS, each
//! value with its source. Flags always win; anything malformed becomes a warning and is ignored.

use std::collections::HashMap;

use crate::catalog;
use crate::context::{self, Cloud, ComputeType, Context, Mode};
use crate::probe::imds;

/// What the command line said (None = not given).
#[derive(Debug, Clone, Default)]
pub struct Flags {
    pub region: Option<String>,
    pub cloud: Option<Cloud>,
    pub mode: Option<Mode>,
    pub workspace_id: Option<String>,
    pub storage_account: Option<String>,
    pub compute_name: Option<String>,
    pub compute_type: Option<ComputeType>,
}

/// Variables from the process environment, then from the environment file, with their source.
pub struct Variables {
    env: HashMap<String, String>,
    file: HashMap<String, String>,
    file_label: String,
}

const KNOWN: &[&str] = &[
    "CI_NAME",
    "CI_WORKSPACE",
    "CI_RESOURCE_GROUP",
    "MLFLOW_TRACKING_URI",
    "AZUREML_ARM_SUBSCRIPTION",
    "AZUREML_ARM_RESOURCEGROUP",
    "AZUREML_ARM_WORKSPACE_NAME",
    "AZUREML_WORKSPACE_ID",
    "AZ_BATCHAI_CLUSTER_NAME",
    "AZ_BATCH_NODE_ID",
    "AZ_BATCH_ACCOUNT_URL",
    "AZUREML_SERVICE_ENDPOINT",
    "DATABRICKS_RUNTIME_VERSION",
];

/// Whether discovery reads a variable: the known ones, and Batch or Azure ML variables that
/// name an endpoint (`…_URL`, `…_URI`, `…_ENDPOINT`, `…_HOST`). Nothing named like a
/// credential is ever read.
fn wanted(name: &str) -> bool {
    if KNOWN.contains(&name) {
        return true;
    }
    let secret = ["TOKEN", "KEY", "SECRET", "PASSWORD", "SAS", "SIG", "CRED"]
        .iter()
        .any(|w| name.contains(w));
    let family = name.starts_with("AZ_BATCH_") || name.starts_with("AZUREML_");
    let endpoint = ["_URL", "_URI", "_ENDPOINT", "_HOST"]
        .iter()
        .any(|s| name.ends_with(s));
    family && endpoint && !secret
}

impl Variables {
    /// `file` is the environment file's path and its text (if it could be read).
    pub fn new(
        env: impl Iterator<Item = (String, String)>,
        file: Option<(&str, String)>,
        warnings: &mut Vec<String>,
    ) -> Variables {
        let env = env
            .filter(|(k, v)| wanted(k) && !v.trim().is_empty())
            .collect();
        let (file_label, file) = match file {
            Some((path, text)) => (
                format!("file:{path}"),
                parse_env_file(&text, path, warnings),
            ),
            None => (String::new(), HashMap::new()),
        };
        Variables {
            env,
            file,
            file_label,
        }
    }

    /// A variable's value and its source (`env:NAME` or `file:PATH`).
    pub fn get(&self, name: &str) -> Option<(String, String)> {
        if let Some(v) = self.env.get(name) {
            return Some((v.clone(), format!("env:{name}")));
        }
        self.file
            .get(name)
            .map(|v| (v.clone(), self.file_label.clone()))
    }

    /// Every variable read, by name, each with its value and source; the environment wins.
    pub fn all(&self) -> Vec<(String, String, String)> {
        let mut names: Vec<&String> = self.env.keys().chain(self.file.keys()).collect();
        names.sort();
        names.dedup();
        names
            .into_iter()
            .filter_map(|n| self.get(n).map(|(v, s)| (n.clone(), v, s)))
            .collect()
    }
}

/// `NAME=value`, `export NAME=value`, quotes optional; comments and blank lines skipped.
pub fn parse_env_file(
    text: &str,
    path: &str,
    warnings: &mut Vec<String>,
) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut bad = 0;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((k, v)) = line.split_once('=') else {
            bad += 1;
            continue;
        };
        let k = k.trim();
        if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            bad += 1;
            continue;
        }
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(v);
        if wanted(k) {
            out.insert(k.to_string(), v.to_string());
        }
    }
    if bad > 0 {
        warnings.push(format!("{path}: {bad} malformed line(s) ignored"));
    }
    out
}

/// The DNS zones of Azure Batch in each cloud.
const BATCH_ZONES: &[&str] = &[
    "batch.azure.com",
    "batch.usgovcloudapi.net",
    "batch.chinacloudapi.cn",
];

/// `<account>.<region>.batch.azure.com` (or, with `service`, `<id>.<region>.service.batch…`):
/// a concrete Batch host, never the bare regional zone that stands for the wildcard.
pub fn batch_host(host: &str, service: bool) -> Option<String> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if !catalog::is_dns_name(&host) {
        return None;
    }
    BATCH_ZONES.iter().find_map(|zone| {
        let rest = host.strip_suffix(zone)?.strip_suffix('.')?;
        let (left, is_service) = match rest.strip_suffix(".service") {
            Some(left) => (left, true),
            None => (rest, false),
        };
        (is_service == service && left.split('.').count() >= 2).then(|| host.clone())
    })
}

/// The first Batch node-management host (`<id>.<region>.service.batch.azure.com`) in a value.
pub fn batch_node_host_in(value: &str) -> Option<String> {
    value
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-'))
        .find_map(|token| batch_host(token.trim_matches('.'), true))
}

/// What an MLflow tracking URI says about the workspace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tracking {
    pub region: Option<String>,
    pub workspace_id: Option<String>,
    pub subscription: Option<String>,
    pub resource_group: Option<String>,
    pub workspace_name: Option<String>,
}

/// `azureml://<region>.api.azureml.ms/mlflow/v1.0/subscriptions/<s>/resourceGroups/<g>/providers/
/// Microsoft.MachineLearningServices/workspaces/<w>`; private-link workspaces put
/// `<guid>.workspace.` before the region. Anything else yields what it can, or nothing.
pub fn parse_tracking_uri(uri: &str) -> Tracking {
    let mut t = Tracking::default();
    let rest = uri.split_once("://").map(|(_, r)| r).unwrap_or(uri);
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = host.split(':').next().unwrap_or(host).to_ascii_lowercase();
    let labels: Vec<&str> = host.split('.').collect();
    if let Some(api) = labels.iter().position(|l| *l == "api") {
        if api >= 1 {
            t.region = context::parse_region(labels[api - 1]).ok();
        }
        if api >= 3 && labels[api - 2] == "workspace" {
            t.workspace_id = context::parse_guid(labels[api - 3]).ok();
        }
    }
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let after = |name: &str| {
        segments
            .windows(2)
            .find(|w| w[0].eq_ignore_ascii_case(name))
            .map(|w| w[1].split('?').next().unwrap_or(w[1]).to_string())
            .filter(|v| !v.is_empty())
    };
    t.subscription = after("subscriptions");
    t.resource_group = after("resourceGroups");
    t.workspace_name = after("workspaces");
    t
}

/// Put the context together. `imds` is `None` when it was not asked (`--offline`).
pub fn discover(
    flags: &Flags,
    vars: &Variables,
    imds: Option<Result<imds::Facts, imds::Problem>>,
    mut warnings: Vec<String>,
) -> Context {
    let mut ctx = Context::default();
    let set = |ctx: &mut Context, key: &'static str, source: String| {
        ctx.sources.insert(key, source);
    };
    let facts = match imds {
        Some(Ok(f)) => {
            warnings.extend(f.warnings.iter().cloned());
            Some(f)
        }
        Some(Err(imds::Problem::Unavailable(why))) => {
            ctx.notes
                .push(format!("instance metadata (IMDS) unavailable: {why}"));
            None
        }
        Some(Err(imds::Problem::Malformed(why))) => {
            warnings.push(format!(
                "instance metadata (IMDS) answered badly: {why}; ignored"
            ));
            None
        }
        None => {
            ctx.notes
                .push("instance metadata (IMDS) not asked (--offline)".into());
            None
        }
    };
    let tracking = vars
        .get("MLFLOW_TRACKING_URI")
        .map(|(uri, source)| (parse_tracking_uri(&uri), source));
    if let Some((t, source)) = &tracking {
        if t.region.is_none() && t.workspace_name.is_none() {
            warnings.push(format!(
                "MLFLOW_TRACKING_URI from {source}: no region or workspace in it; ignored"
            ));
        }
    }

    // Concrete hosts the node names itself: the workspace API, the Batch account, the Batch
    // node-management endpoint.
    let mut named_host = |name: &str, check: fn(String) -> Result<String, String>| {
        let (url, source) = vars.get(name)?;
        match catalog::https_url_host(url.trim()).and_then(check) {
            Ok(host) => Some((host, source)),
            Err(e) => {
                warnings.push(format!("{name} from {source}: {e}; ignored"));
                None
            }
        }
    };
    if let Some((host, source)) = named_host("AZUREML_SERVICE_ENDPOINT", Ok) {
        ctx.service_endpoint_host = Some(host);
        set(&mut ctx, "service_endpoint_host", source);
    }
    if let Some((host, source)) = named_host("AZ_BATCH_ACCOUNT_URL", |h| {
        batch_host(&h, false).ok_or_else(|| {
            format!("'{h}' is not a Batch account host (<account>.<region>.batch.azure.com)")
        })
    }) {
        ctx.batch_account_host = Some(host);
        set(&mut ctx, "batch_account_host", source);
    }
    if let Some((host, source)) = vars
        .all()
        .into_iter()
        .find_map(|(_, value, source)| batch_node_host_in(&value).map(|h| (h, source)))
    {
        ctx.batch_node_host = Some(host);
        set(&mut ctx, "batch_node_host", source);
    }

    // A variable that is present but malformed is a warning, never a value.
    let mut valid =
        |name: &str, parse: fn(&str) -> Result<String, String>| -> Option<(String, String)> {
            let (v, source) = vars.get(name)?;
            match parse(v.trim()) {
                Ok(v) => Some((v, source)),
                Err(e) => {
                    warnings.push(format!("{name} from {source}: {e}; ignored"));
                    None
                }
            }
        };
    // Region: the workspace's (the flag, the tracking URI, the service endpoint), which is what
    // the documents mean by <region>; the node's own (IMDS) only when nothing names the
    // workspace's.
    ctx.node_region = facts.as_ref().and_then(|f| f.location.clone());
    let service_region = ctx.service_endpoint_host.as_ref().and_then(|h| {
        let source = ctx.sources.get("service_endpoint_host").cloned();
        Some((parse_tracking_uri(h).region?, source.unwrap_or_default()))
    });
    let workspace = flags
        .region
        .clone()
        .map(|r| (r, "flag".to_string()))
        .or_else(|| {
            tracking
                .as_ref()
                .and_then(|(t, source)| t.region.clone().map(|r| (r, source.clone())))
        })
        .or(service_region);
    ctx.workspace_region = workspace.as_ref().map(|(r, _)| r.clone());
    match (workspace, ctx.node_region.clone()) {
        (Some((r, source)), node) => {
            if let Some(node) = node.filter(|n| *n != r) {
                ctx.notes.push(format!(
                    "this node runs in {node} (IMDS) but the workspace is in {r} ({source}): <region> in host names and service tags is the workspace's region"
                ));
            }
            ctx.region = Some(r);
            set(&mut ctx, "region", source);
        }
        (None, Some(node)) => {
            ctx.region = Some(node.clone());
            set(&mut ctx, "region", "imds".into());
            ctx.notes.push(format!(
                "nothing names the workspace's region, so it is taken to be the node's ({node}, IMDS); give --region if the workspace is elsewhere"
            ));
        }
        (None, None) => {}
    }

    // Cloud: flag, IMDS, else public.
    match (flags.cloud, facts.as_ref().and_then(|f| f.cloud)) {
        (Some(c), _) => {
            ctx.cloud = c;
            set(&mut ctx, "cloud", "flag".into());
        }
        (None, Some(c)) => {
            ctx.cloud = c;
            set(&mut ctx, "cloud", "imds".into());
        }
        (None, None) => {
            ctx.cloud = Cloud::Public;
            set(&mut ctx, "cloud", "default".into());
        }
    }

    if let Some(n) = &flags.compute_name {
        ctx.compute_name = Some(n.clone());
        set(&mut ctx, "compute_name", "flag".into());
    } else if let Some((n, source)) = valid("CI_NAME", context::parse_compute_name) {
        ctx.compute_name = Some(n);
        set(&mut ctx, "compute_name", source);
    }

    if let Some(w) = &flags.workspace_id {
        ctx.workspace_id = Some(w.clone());
        set(&mut ctx, "workspace_id", "flag".into());
    } else if let Some((w, source)) = valid("AZUREML_WORKSPACE_ID", context::parse_guid) {
        ctx.workspace_id = Some(w);
        set(&mut ctx, "workspace_id", source);
    } else if let Some((
        Tracking {
            workspace_id: Some(w),
            ..
        },
        source,
    )) = &tracking
    {
        ctx.workspace_id = Some(w.clone());
        set(&mut ctx, "workspace_id", source.clone());
    }

    if let Some(s) = &flags.storage_account {
        ctx.storage_account = Some(s.clone());
        set(&mut ctx, "storage_account", "flag".into());
    }

    // The workspace's own names, never IMDS's (those belong to the Batch host).
    let name = |n: &str| -> Result<String, String> {
        if !n.is_empty()
            && n.len() <= 90
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.()".contains(&b))
        {
            Ok(n.to_string())
        } else {
            Err(format!("'{n}' is not an Azure resource name"))
        }
    };
    let mut late_warnings = Vec::new();
    for (key, vars_in_order, from_tracking) in [
        (
            "workspace_name",
            ["CI_WORKSPACE", "AZUREML_ARM_WORKSPACE_NAME"],
            tracking
                .as_ref()
                .and_then(|(t, s)| t.workspace_name.clone().map(|v| (v, s.clone()))),
        ),
        (
            "resource_group",
            ["CI_RESOURCE_GROUP", "AZUREML_ARM_RESOURCEGROUP"],
            tracking
                .as_ref()
                .and_then(|(t, s)| t.resource_group.clone().map(|v| (v, s.clone()))),
        ),
    ] {
        let from_tracking = from_tracking.and_then(|(v, source)| match name(&v) {
            Ok(v) => Some((v, source)),
            Err(e) => {
                late_warnings.push(format!("MLFLOW_TRACKING_URI from {source}: {e}; ignored"));
                None
            }
        });
        let found = vars_in_order
            .iter()
            .find_map(|v| valid(v, name))
            .or(from_tracking);
        if let Some((value, source)) = found {
            match key {
                "workspace_name" => ctx.workspace_name = Some(value),
                _ => ctx.resource_group = Some(value),
            }
            set(&mut ctx, key, source);
        }
    }

    // Compute type: flag, else what the node's variables show.
    if let Some(t) = flags.compute_type {
        ctx.compute_type = Some(t);
        set(&mut ctx, "compute_type", "flag".into());
    } else if let Some((_, source)) = vars.get("CI_NAME") {
        ctx.compute_type = Some(ComputeType::Instance);
        set(&mut ctx, "compute_type", source);
    } else if let Some((_, source)) = vars.get("AZ_BATCHAI_CLUSTER_NAME") {
        ctx.compute_type = Some(ComputeType::Cluster);
        set(&mut ctx, "compute_type", source);
    } else if let Some((_, source)) = vars.get("DATABRICKS_RUNTIME_VERSION") {
        ctx.compute_type = Some(ComputeType::Databricks);
        set(&mut ctx, "compute_type", source);
    }

    // Mode: flag, else a public address in IMDS; silence there proves nothing.
    match (
        flags.mode.filter(|m| *m != Mode::Auto),
        facts.as_ref().and_then(|f| f.public_ip),
    ) {
        (Some(m), _) => {
            ctx.mode = m;
            set(&mut ctx, "mode", "flag".into());
        }
        (None, Some(true)) => {
            ctx.mode = Mode::PublicIp;
            set(&mut ctx, "mode", "imds".into());
            ctx.mode_reason = Some("IMDS shows a public IP address on this node".into());
        }
        (None, Some(false)) => {
            ctx.mode = Mode::Auto;
            ctx.mode_reason = Some(
                "IMDS shows no public IP on this node: that is so in no-public-IP mode, but also for public-IP compute reached through a load balancer; give --mode to decide".into(),
            );
        }
        (None, None) => {
            ctx.mode = Mode::Auto;
            ctx.mode_reason =
                Some("no source shows the networking mode; checks of both modes run".into());
        }
    }
    warnings.extend(late_warnings);
    ctx.warnings = warnings;
    ctx
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(env: &[(&str, &str)], file: Option<&str>) -> (Variables, Vec<String>) {
        let mut w = Vec::new();
        let v = Variables::new(
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
            file.map(|t| ("/etc/environment.sso", t.to_string())),
            &mut w,
        );
        (v, w)
    }

    const URI: &str = "azureml://westeurope.api.azureml.ms/mlflow/v1.0/subscriptions/1111/resourceGroups/rg-ml/providers/Microsoft.MachineLearningServices/workspaces/ws-one";

    #[test]
    fn tracking_uris_are_parsed_defensively() {
        let t = parse_tracking_uri(URI);
        assert_eq!(t.region.as_deref(), Some("westeurope"));
        assert_eq!(t.subscription.as_deref(), Some("1111"));
        assert_eq!(t.resource_group.as_deref(), Some("rg-ml"));
        assert_eq!(t.workspace_name.as_deref(), Some("ws-one"));
        let pl = parse_tracking_uri("azureml://0f3a8d52-6c1e-4b7a-9d2e-5a4b3c2d1e0f.workspace.eastus2.api.azureml.ms/mlflow/v1.0/subscriptions/s");
        assert_eq!(pl.region.as_deref(), Some("eastus2"));
        assert_eq!(
            pl.workspace_id.as_deref(),
            Some("0f3a8d52-6c1e-4b7a-9d2e-5a4b3c2d1e0f")
        );
        for junk in [
            "",
            "://",
            "azureml://",
            "api",
            "azureml://.api./x",
            "x/y/z",
            "azureml://a b.api.azureml.ms/workspaces/",
        ] {
            let _ = parse_tracking_uri(junk);
        }
        assert_eq!(
            parse_tracking_uri("https://example.net/"),
            Tracking::default()
        );
    }

    #[test]
    fn a_compute_instance_is_discovered_from_its_environment_file() {
        let (v, w) = vars(
            &[],
            Some(&format!("# set by Azure ML\nCI_NAME=ci-one\nexport CI_WORKSPACE=\"ws-one\"\nCI_RESOURCE_GROUP='rg-ml'\nMLFLOW_TRACKING_URI={URI}\nthis line is junk\n")),
        );
        let ctx = discover(&Flags::default(), &v, None, w);
        assert_eq!(ctx.compute_name.as_deref(), Some("ci-one"));
        assert_eq!(ctx.sources["compute_name"], "file:/etc/environment.sso");
        assert_eq!(ctx.compute_type, Some(ComputeType::Instance));
        assert_eq!(ctx.region.as_deref(), Some("westeurope"));
        assert_eq!(ctx.workspace_name.as_deref(), Some("ws-one"));
        assert_eq!(ctx.resource_group.as_deref(), Some("rg-ml"));
        assert_eq!(ctx.warnings.len(), 1, "the junk line: {:?}", ctx.warnings);
        assert!(ctx.notes.iter().any(|n| n.contains("--offline")));
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
        let facts = imds::Facts {
            location: Some("northeurope".into()),
            cloud: Some(Cloud::Public),
            public_ip: Some(true),
            warnings: vec![],
        };
        let ctx = discover(&Flags::default(), &v, Some(Ok(facts.clone())), w.clone());
        // <region> in host names is the workspace's; the node's own region is kept beside it.
        assert_eq!(ctx.region.as_deref(), Some("westeurope"));
        assert_eq!(ctx.sources["region"], "env:MLFLOW_TRACKING_URI");
        assert_eq!(ctx.node_region.as_deref(), Some("northeurope"));
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
        let ctx = discover(&Flags::default(), &alone, Some(Ok(facts.clone())), w2);
        assert_eq!(ctx.region.as_deref(), Some("northeurope"));
        assert_eq!(ctx.sources["region"], "imds");
        assert_eq!(ctx.workspace_region, None);
        assert!(ctx
            .notes
            .iter()
            .any(|n| n.contains("taken to be the node's")));
        assert_eq!(ctx.compute_type, Some(ComputeType::Cluster));
        assert_eq!(ctx.mode, Mode::PublicIp);
        let flags = Flags {
            region: Some("uksouth".into()),
            mode: Some(Mode::NoPublicIp),
            cloud: Some(Cloud::Public),
            ..Flags::default()
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
        let ctx = discover(&Flags::default(), &v, None, w);
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
        assert!(!wanted("AZ_BATCH_AUTHENTICATION_TOKEN"));
        // Bare zones are not hosts; sovereign clouds have their own zones.
        assert_eq!(batch_host("westeurope.batch.azure.com", false), None);
        assert_eq!(batch_host("westeurope.service.batch.azure.com", true), None);
        assert_eq!(
            batch_host("a.usgovvirginia.batch.usgovcloudapi.net", false).as_deref(),
            Some("a.usgovvirginia.batch.usgovcloudapi.net")
        );
        assert_eq!(
            batch_host("a.westeurope.service.batch.azure.com", false),
            None
        );
        let (bad, w) = vars(&[("AZ_BATCH_ACCOUNT_URL", "http://x")], None);
        let ctx = discover(&Flags::default(), &bad, None, w);
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
            &Flags::default(),
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
}
