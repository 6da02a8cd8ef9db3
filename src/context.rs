//! Where the probe runs: the values that fill the catalog's templates, and where each came from.

use std::collections::BTreeMap;

use serde::Serialize;

wire_enum! {
    /// The networking mode: whether the compute has a public IP address.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub enum Mode {
        PublicIp = "public-ip",
        NoPublicIp = "no-public-ip",
        #[default]
        Auto = "auto",
    }
}

wire_enum! {
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub enum Cloud {
        #[default]
        Public = "public",
        Usgov = "usgov",
        China = "china",
    }
}

wire_enum! {
    /// The kinds of compute the source document covers; each catalog entry says which it needs.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum ComputeType {
        Instance = "instance",
        Cluster = "cluster",
        AttachedVm = "attached-vm",
        Hdinsight = "hdinsight",
        Databricks = "databricks",
    }
}

/// The values of the context that say where they came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Region,
    Cloud,
    Mode,
    WorkspaceId,
    StorageAccount,
    ComputeName,
    ComputeType,
    WorkspaceName,
    ResourceGroup,
    ServiceEndpointHost,
    BatchAccountHost,
    BatchNodeHost,
    Acr,
    KeyVault,
    /// The proxy's URL is in the report's `node`, credentials hidden; only its source is here.
    Proxy,
}

impl Field {
    /// The field's key in `context.sources`, which is also its name in the context.
    pub fn key(self) -> &'static str {
        match self {
            Field::Region => "region",
            Field::Cloud => "cloud",
            Field::Mode => "mode",
            Field::WorkspaceId => "workspace_id",
            Field::StorageAccount => "storage_account",
            Field::ComputeName => "compute_name",
            Field::ComputeType => "compute_type",
            Field::WorkspaceName => "workspace_name",
            Field::ResourceGroup => "resource_group",
            Field::ServiceEndpointHost => "service_endpoint_host",
            Field::BatchAccountHost => "batch_account_host",
            Field::BatchNodeHost => "batch_node_host",
            Field::Acr => "acr",
            Field::KeyVault => "key_vault",
            Field::Proxy => "proxy",
        }
    }
}

/// A value a person gives when discovery cannot find it: each has one flag and one variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    Region,
    StorageAccount,
    ComputeName,
    WorkspaceId,
    ComputeType,
    WorkspaceName,
    Acr,
    KeyVault,
}

impl Input {
    pub fn flag(self) -> &'static str {
        match self {
            Input::Region => "--region",
            Input::StorageAccount => "--storage-account",
            Input::ComputeName => "--compute-name",
            Input::WorkspaceId => "--workspace-id",
            Input::ComputeType => "--compute-type",
            Input::WorkspaceName => "--workspace-name",
            Input::Acr => "--acr",
            Input::KeyVault => "--key-vault",
        }
    }

    /// The variable that gives the flag's value (clap reads it; a test holds the two together).
    pub fn env(self) -> &'static str {
        match self {
            Input::Region => "AMLPROBE_REGION",
            Input::StorageAccount => "AMLPROBE_STORAGE_ACCOUNT",
            Input::ComputeName => "AMLPROBE_COMPUTE_NAME",
            Input::WorkspaceId => "AMLPROBE_WORKSPACE_ID",
            Input::ComputeType => "AMLPROBE_COMPUTE_TYPE",
            Input::WorkspaceName => "AMLPROBE_WORKSPACE_NAME",
            Input::Acr => "AMLPROBE_ACR",
            Input::KeyVault => "AMLPROBE_KEY_VAULT",
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Context {
    pub cloud: Cloud,
    pub region: Option<String>,
    pub mode: Mode,
    pub workspace_id: Option<String>,
    pub storage_account: Option<String>,
    pub compute_name: Option<String>,
    /// For each value above that is set: `flag`, `env:NAME`, `imds`, `file:PATH` or `default`.
    pub sources: BTreeMap<&'static str, String>,
    /// `instance`, `cluster`, …; null when nothing shows it (every group then applies).
    pub compute_type: Option<ComputeType>,
    pub workspace_name: Option<String>,
    /// The workspace's resource group (never the Batch host's, which IMDS shows).
    pub resource_group: Option<String>,
    /// Where the node runs (IMDS) and where the workspace is (MLflow URI or --region).
    pub node_region: Option<String>,
    /// The node's virtual machine name (IMDS `compute.name`), which tells a cluster's nodes
    /// apart where their hostnames do not.
    pub vm_name: Option<String>,
    pub workspace_region: Option<String>,
    /// Why the mode is what it is, when it was not given.
    pub mode_reason: Option<String>,
    /// The workspace API host the node's jobs use (`AZUREML_SERVICE_ENDPOINT`).
    pub service_endpoint_host: Option<String>,
    /// The Batch account endpoint behind this compute (`AZ_BATCH_ACCOUNT_URL`).
    pub batch_account_host: Option<String>,
    /// The Batch node-management endpoint, where a variable names it.
    pub batch_node_host: Option<String>,
    /// The workspace's container registry (`--acr`); only shown when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// The workspace's key vault (`--key-vault`); only shown when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_vault: Option<String>,
    /// The scenarios whose checks were added (`--scenario`); only shown when any was.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scenarios: Vec<String>,
    /// Run from a stand-in VM before the compute exists (`--preflight`); only shown when so.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub preflight: bool,
    /// Something on the path answers TCP handshakes for any address (a firewall's
    /// application-rule proxy), as the canary found; only shown when so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub middlebox: Option<Middlebox>,
    /// Values found malformed and ignored.
    pub warnings: Vec<String>,
    /// Each warning above that quotes a rejected value, and its form that names the variable
    /// only: what `--redact` shows, as a rejected value may be a secret in the wrong variable.
    #[serde(skip)]
    pub withheld: Vec<(String, String)>,
    /// What discovery could not ask, and why.
    pub notes: Vec<String>,
}

impl Context {
    /// Whether the run turned on the scenario an entry belongs to; an entry of none always runs.
    pub fn runs_scenario(&self, scenario: Option<&str>) -> bool {
        scenario.is_none_or(|s| self.scenarios.iter().any(|on| on == s || on == "all"))
    }
}

/// A middlebox that completes TCP handshakes itself, for addresses nobody owns too.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Middlebox {
    /// The ports on which it answered: a TCP connect on them proves nothing here.
    pub answers_handshakes_on: Vec<u16>,
    /// The connections that showed it, to addresses nobody owns (`192.0.2.1:443`).
    pub canary: Vec<std::net::SocketAddr>,
}

impl Middlebox {
    /// What two runs found, together (the rounds of `watch`).
    pub fn merged(a: Option<Middlebox>, b: Option<Middlebox>) -> Option<Middlebox> {
        match (a, b) {
            (Some(mut a), Some(b)) => {
                a.answers_handshakes_on.extend(b.answers_handshakes_on);
                a.answers_handshakes_on.sort_unstable();
                a.answers_handshakes_on.dedup();
                a.canary.extend(b.canary);
                a.canary.sort_unstable();
                a.canary.dedup();
                Some(a)
            }
            (a, b) => a.or(b),
        }
    }

    /// What it means, for a person reading the context's notes.
    pub fn note(&self) -> String {
        let ports: Vec<String> = self
            .answers_handshakes_on
            .iter()
            .map(u16::to_string)
            .collect();
        let ports = ports.join(" and ");
        let connections = match self.canary.len() {
            1 => "a connection to",
            _ => "connections to",
        };
        let canary: Vec<String> = self.canary.iter().map(|a| a.to_string()).collect();
        format!(
            "a firewall or proxy on the path answers TCP handshakes on port {ports} for any address ({connections} {}, which nobody owns, completed): a TCP connect on port {ports} proves nothing here, so only TLS and HTTP answers count",
            canary.join(" and ")
        )
    }
}

/// Azure region names: lowercase letters and digits (`westeurope`, `eastus2`).
pub fn parse_region(s: &str) -> Result<String, String> {
    let r = s.trim().to_ascii_lowercase();
    if (3..=40).contains(&r.len())
        && r.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && r.as_bytes()[0].is_ascii_lowercase()
    {
        Ok(r)
    } else {
        Err(format!(
            "'{s}' is not an Azure region name: use the lowercase name without spaces, like westeurope or eastus2"
        ))
    }
}

/// A workspace id is a GUID (8-4-4-4-12 hexadecimal digits).
pub fn parse_guid(s: &str) -> Result<String, String> {
    let g = s.trim().to_ascii_lowercase();
    let groups: Vec<&str> = g.split('-').collect();
    let lens = [8, 4, 4, 4, 12];
    if groups.len() == 5
        && groups
            .iter()
            .zip(lens)
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        Ok(g)
    } else {
        Err(format!(
            "'{s}' is not a workspace id: expected a GUID like 0f3a8d52-6c1e-4b7a-9d2e-5a4b3c2d1e0f (portal: workspace Overview, Workspace ID)"
        ))
    }
}

/// Storage account names: 3-24 lowercase letters and digits.
pub fn parse_storage_account(s: &str) -> Result<String, String> {
    if (3..=24).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    {
        Ok(s.to_string())
    } else {
        Err(format!(
            "'{s}' is not a storage account name: 3-24 lowercase letters and digits, the name only (not the URL)"
        ))
    }
}

/// Compute instance names: 3-24 letters, digits and hyphens, starting with a letter.
pub fn parse_compute_name(s: &str) -> Result<String, String> {
    let ok = (3..=24).contains(&s.len())
        && s.as_bytes()[0].is_ascii_alphabetic()
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !s.ends_with('-');
    if ok {
        Ok(s.to_ascii_lowercase())
    } else {
        Err(format!(
            "'{s}' is not a compute instance name: 3-24 letters, digits and '-', starting with a letter"
        ))
    }
}

/// Container registry names: 5-50 letters and digits (the name only, not `.azurecr.io`).
pub fn parse_acr(s: &str) -> Result<String, String> {
    let s = s.trim();
    if (5..=50).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(s.to_ascii_lowercase())
    } else {
        Err(format!(
            "'{s}' is not a container registry name: 5-50 letters and digits, the name only (myregistry, not myregistry.azurecr.io)"
        ))
    }
}

/// Key vault names: 3-24 letters, digits and single '-', starting with a letter, not ending
/// with '-'.
pub fn parse_key_vault(s: &str) -> Result<String, String> {
    let s = s.trim();
    let ok = (3..=24).contains(&s.len())
        && s.as_bytes()[0].is_ascii_alphabetic()
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !s.ends_with('-')
        && !s.contains("--");
    if ok {
        Ok(s.to_ascii_lowercase())
    } else {
        Err(format!(
            "'{s}' is not a key vault name: 3-24 letters, digits and single '-', starting with a letter, the name only (not the URL)"
        ))
    }
}

/// Workspace names: 3-33 letters, digits, '-' and '_', starting with a letter or digit.
pub fn parse_workspace_name(s: &str) -> Result<String, String> {
    let s = s.trim();
    let ok = (3..=33).contains(&s.len())
        && s.as_bytes()[0].is_ascii_alphanumeric()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!(
            "'{s}' is not a workspace name: 3-33 letters, digits, '-' and '_', starting with a letter or digit"
        ))
    }
}

/// A peer: a host name or an address, as a connection names it.
pub fn parse_peer(s: &str) -> Result<String, String> {
    let s = s.trim();
    let ok = (1..=253).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b':'));
    match ok {
        true => Ok(s.to_string()),
        false => Err(format!(
            "'{s}' is not a host: a name or an address, letters, digits, '-', '.', '_' and ':'"
        )),
    }
}

/// An Azure resource name as the names flags take them: letters, digits, '-', '_', '.', '('
/// and ')', up to 90.
pub fn is_resource_name(s: &str) -> bool {
    (1..=90).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'(' | b')'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_values_are_validated() {
        assert_eq!(parse_region("WestEurope").unwrap(), "westeurope");
        assert!(parse_region("west europe").is_err());
        assert!(parse_region("").is_err());
        assert!(parse_region("1abc").is_err());
        assert!(parse_guid("0f3a8d52-6c1e-4b7a-9d2e-5a4b3c2d1e0f").is_ok());
        assert!(parse_guid("0f3a8d52-6c1e-4b7a-9d2e-5a4b3c2d1e0").is_err());
        assert!(parse_guid("zf3a8d52-6c1e-4b7a-9d2e-5a4b3c2d1e0f").is_err());
        assert!(parse_storage_account("amlstore1").is_ok());
        assert!(parse_storage_account("AmlStore").is_err());
        assert!(parse_storage_account("amlstore1.blob.core.windows.net").is_err());
        assert_eq!(parse_compute_name("My-CI1").unwrap(), "my-ci1");
        assert!(parse_compute_name("-ci").is_err());
        assert!(parse_compute_name("ci_1").is_err());
        assert_eq!(parse_acr("MyAcr01").unwrap(), "myacr01");
        assert!(parse_acr("myacr.azurecr.io").is_err());
        assert!(parse_acr("ab").is_err());
        assert_eq!(parse_key_vault("kv-One").unwrap(), "kv-one");
        assert!(parse_key_vault("kv--one").is_err());
        assert!(parse_key_vault("1kv").is_err());
        assert!(parse_key_vault("kv.vault.azure.net").is_err());
        assert!(parse_workspace_name("ws_one-2").is_ok());
        assert!(parse_workspace_name("ws one").is_err());
    }
}
