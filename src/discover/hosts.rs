//! Concrete hosts a node names in its variables: the workspace API (`AZUREML_SERVICE_ENDPOINT`),
//! the Batch account (`AZ_BATCH_ACCOUNT_URL`) and the Batch node-management endpoint. They
//! replace the catalog's stand-ins for wildcards, so only a real host is accepted.

use crate::catalog;

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

/// The workspace API host in an `https://` URL.
pub fn service_endpoint(url: &str) -> Result<String, String> {
    catalog::https_url_host(url)
}

/// The Batch account host in an `https://` URL.
pub fn batch_account(url: &str) -> Result<String, String> {
    let host = catalog::https_url_host(url)?;
    batch_host(&host, false).ok_or_else(|| {
        format!("'{host}' is not a Batch account host (<account>.<region>.batch.azure.com)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_zones_are_not_hosts_and_sovereign_clouds_have_their_own() {
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
    }
}
