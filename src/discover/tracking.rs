//! The MLflow tracking URI a node's jobs report to (`MLFLOW_TRACKING_URI`): it names the
//! workspace's region, and often its id, subscription, resource group and name.

use super::vars::Variables;
use super::Found;
use crate::context;

/// The variable that holds the tracking URI.
pub const VARIABLE: &str = "MLFLOW_TRACKING_URI";

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

/// The region a workspace API host (`<region>.api.azureml.ms`) or tracking URI names.
pub fn region_in(host_or_uri: &str) -> Option<String> {
    parse_tracking_uri(host_or_uri).region
}

/// The tracking URI among the node's variables, parsed, with the variable's source. A URI that
/// names neither a region nor a workspace is a warning.
pub fn discover(vars: &Variables, warnings: &mut Vec<String>) -> Option<Found<Tracking>> {
    let found = vars.get(VARIABLE)?;
    let tracking = parse_tracking_uri(&found.value);
    if tracking.region.is_none() && tracking.workspace_name.is_none() {
        warnings.push(format!(
            "{VARIABLE} from {}: no region or workspace in it; ignored",
            found.source
        ));
    }
    Some(found.with(tracking))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A public workspace's tracking URI, as Azure ML sets it.
    pub const URI: &str = "azureml://westeurope.api.azureml.ms/mlflow/v1.0/subscriptions/1111/resourceGroups/rg-ml/providers/Microsoft.MachineLearningServices/workspaces/ws-one";

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
}
