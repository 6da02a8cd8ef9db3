//! Checks of the node itself that the documents require: no network traffic.

use std::net::{IpAddr, Ipv4Addr};

use crate::catalog::HostCheck;
use crate::context::{Context, Mode};
use crate::reason::Reason;

use super::Failure;

pub const OS_RELEASE: &str = "/etc/os-release";

/// `ID=` of an os-release file.
pub fn os_id(os_release: &str) -> Option<String> {
    os_release.lines().find_map(|l| {
        let v = l.trim().strip_prefix("ID=")?;
        Some(
            v.trim_matches(|c| c == '"' || c == '\'')
                .to_ascii_lowercase(),
        )
    })
}

/// Docker's default bridge network.
pub fn in_docker_bridge(ip: &Ipv4Addr) -> bool {
    let o = ip.octets();
    o[0] == 172 && o[1] == 17
}

/// The node's own addresses, leaving out loopback and the interfaces Docker makes itself.
pub fn node_addresses() -> Vec<(String, IpAddr)> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    addrs
        .filter(|a| {
            !["lo", "docker", "br-", "veth"]
                .iter()
                .any(|p| a.interface_name.starts_with(p))
        })
        .filter_map(|a| {
            let sa = a.address?;
            let ip = sa
                .as_sockaddr_in()
                .map(|s| IpAddr::V4(s.ip()))
                .or_else(|| sa.as_sockaddr_in6().map(|s| IpAddr::V6(s.ip())))?;
            Some((a.interface_name, ip))
        })
        .collect()
}

/// Run a host check; `Ok` is the message of a pass.
pub fn run(check: HostCheck, ctx: &Context) -> Result<String, Failure> {
    match check {
        HostCheck::OsUbuntu => {
            let text = std::fs::read_to_string(OS_RELEASE).map_err(|e| Failure {
                reason: Reason::HostNotUbuntu,
                message: format!("cannot read {OS_RELEASE}: {e}"),
            })?;
            match os_id(&text) {
                Some(id) if id == "ubuntu" => Ok(format!("{OS_RELEASE}: Ubuntu")),
                other => Err(Failure {
                    reason: Reason::HostNotUbuntu,
                    message: format!(
                        "{OS_RELEASE} says ID={}: Azure ML supports only Ubuntu on attached virtual machines",
                        other.unwrap_or_else(|| "(none)".into())
                    ),
                }),
            }
        }
        HostCheck::DockerBridge => {
            let addrs = node_addresses();
            let clash: Vec<String> = addrs
                .iter()
                .filter(|(_, ip)| matches!(ip, IpAddr::V4(v4) if in_docker_bridge(v4)))
                .map(|(nic, ip)| format!("{ip} on {nic}"))
                .collect();
            if clash.is_empty() {
                Ok(format!("no node address in 172.17.0.0/16 ({} addresses looked at)", addrs.len()))
            } else {
                Err(Failure {
                    reason: Reason::HostDockerBridge,
                    message: format!(
                        "{} inside 172.17.0.0/16, Docker's default bridge: containers cannot reach this subnet",
                        clash.join(", ")
                    ),
                })
            }
        }
        HostCheck::RegionMatch => match (&ctx.node_region, &ctx.workspace_region) {
            (Some(node), Some(ws)) if node == ws => Ok(format!("node and workspace both in {node}")),
            (Some(node), Some(ws)) => Err(Failure {
                reason: Reason::HostRegionMismatch,
                message: format!("the node runs in {node} (IMDS) but the workspace is in {ws}"),
            }),
            (node, _) => Err(Failure {
                reason: Reason::MissingInput,
                message: format!(
                    "needs {}: the node's region comes from IMDS, the workspace's from MLFLOW_TRACKING_URI or --region",
                    if node.is_none() { "IMDS" } else { "the workspace's region" }
                ),
            }),
        },
        // The run judges the clock itself, from what the other checks saw.
        HostCheck::Clock => Err(Failure {
            reason: Reason::NotObservable,
            message: "the clock is judged from the other checks' HTTPS answers".into(),
        }),
        HostCheck::Inbound44224 => Err(Failure {
            reason: Reason::NotObservable,
            message: if ctx.mode == Mode::PublicIp {
                "inbound TCP 44224 from AzureMachineLearning cannot be proven from the node itself: check the NSG of the subnet allows it".into()
            } else {
                "in public-IP mode, inbound TCP 44224 from AzureMachineLearning must be allowed; that cannot be proven from the node itself".into()
            },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_release_ids_and_bridge_addresses() {
        assert_eq!(
            os_id("NAME=\"Ubuntu\"\nID=ubuntu\nVERSION_ID=\"22.04\"\n").as_deref(),
            Some("ubuntu")
        );
        assert_eq!(os_id("ID=\"debian\"\n").as_deref(), Some("debian"));
        assert_eq!(os_id("NAME=x\n"), None);
        assert!(in_docker_bridge(&"172.17.3.4".parse().unwrap()));
        assert!(!in_docker_bridge(&"172.18.0.1".parse().unwrap()));
        assert!(!in_docker_bridge(&"10.0.0.4".parse().unwrap()));
    }

    #[test]
    fn region_match_needs_both_regions() {
        let mut ctx = Context::default();
        assert_eq!(
            run(HostCheck::RegionMatch, &ctx).unwrap_err().reason,
            Reason::MissingInput
        );
        ctx.node_region = Some("westeurope".into());
        ctx.workspace_region = Some("northeurope".into());
        let f = run(HostCheck::RegionMatch, &ctx).unwrap_err();
        assert_eq!(f.reason, Reason::HostRegionMismatch);
        assert!(f.message.contains("westeurope") && f.message.contains("northeurope"));
        ctx.workspace_region = Some("westeurope".into());
        assert!(run(HostCheck::RegionMatch, &ctx).is_ok());
        assert_eq!(
            run(HostCheck::Inbound44224, &ctx).unwrap_err().reason,
            Reason::NotObservable
        );
    }
}
