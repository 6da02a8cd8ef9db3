//! Names of a workspace with a private endpoint: each must answer a private address, either
//! through its privatelink CNAME or, for the compute instance's name, as the same address the
//! workspace API name answers. When the node's resolver is not Azure DNS, Azure DNS is asked
//! too and the answers compared: custom DNS without the forwarders is the commonest fault.

use std::net::IpAddr;

use tokio::time::Instant;

use super::{dns, is_private, Env, Failure, Phase, Plan, Trace, AZURE_DNS};
use crate::verdict::{Reason, Status};

fn describe_answer(a: &dns::Answer) -> String {
    let addrs: Vec<String> = a.addresses.iter().map(IpAddr::to_string).collect();
    match a.cnames.is_empty() {
        true => addrs.join(", "),
        false => format!("{} via {}", addrs.join(", "), a.cnames.join(" -> ")),
    }
}

pub(super) async fn check(
    env: &Env,
    plan: &Plan,
    deadline: Instant,
    trace: &mut Trace,
) -> Result<String, Failure> {
    let host = &plan.host;
    let started = Instant::now();
    let (answer, ms) = env.resolve_shared(host, deadline).await;
    let mut phase = Phase::dns("dns", started, &answer);
    phase.ms = ms;
    let judged = match &answer {
        Ok(a) => judge(env, plan, a, deadline).await,
        Err(f) => Err(f.clone()),
    };
    trace.record(phase, &judged);

    let Some(azure) = &env.azure_dns else {
        return judged;
    };
    let started = Instant::now();
    let theirs = azure.resolve(host, deadline).await;
    let mut phase = Phase::dns("dns-azure", started, &theirs);
    phase.server = Some(AZURE_DNS.to_string());
    trace.record(phase, &theirs);
    let Ok(theirs) = theirs else { return judged };
    // Azure DNS answering privately proves the workspace has a private endpoint.
    trace.private_endpoint_seen = theirs.addresses.iter().any(is_private);
    let mut ours: Vec<IpAddr> = answer
        .as_ref()
        .map(|a| a.addresses.clone())
        .unwrap_or_default();
    let mut azure_addrs = theirs.addresses.clone();
    ours.sort();
    azure_addrs.sort();
    if ours == azure_addrs {
        return judged;
    }
    let zones = &env.forward_zones;
    let azure_says = format!(
        "Azure DNS (168.63.129.16) answers {}",
        describe_answer(&theirs)
    );
    let ours_says = match &answer {
        Ok(a) => format!("the node's resolver answers {}", describe_answer(a)),
        Err(f) => format!("the node's resolver fails ({})", f.reason),
    };
    match judged {
        // A failure stays the verdict; Azure DNS's answer shows the way out.
        Err(f) if f.reason.status() == Status::Fail => Err(Failure {
            reason: f.reason,
            message: format!(
                "{}; {azure_says}: forward {zones} to 168.63.129.16",
                f.message
            ),
        }),
        _ => Err(Failure {
            reason: Reason::DnsResolverMismatch,
            message: format!("{host}: {ours_says}, {azure_says}; forward {zones} to 168.63.129.16"),
        }),
    }
}

/// What the node's own answer shows: a private address, reached the way the documents say.
async fn judge(
    env: &Env,
    plan: &Plan,
    a: &dns::Answer,
    deadline: Instant,
) -> Result<String, Failure> {
    let host = &plan.host;
    if let Some(public) = a.addresses.iter().find(|ip| !is_private(ip)) {
        return Err(Failure {
            reason: Reason::DnsPublicAddress,
            message: format!(
                "{host} answers the public address {public} ({}), not the private endpoint",
                describe_answer(a)
            ),
        });
    }
    if let Some(other) = &plan.entry.same_address_as {
        return same_address(env, plan, other, a, deadline).await;
    }
    let zone = plan.privatelink.as_deref().unwrap_or("privatelink");
    let through = a
        .cnames
        .iter()
        .any(|c| c == zone || c.ends_with(&format!(".{zone}")));
    if through {
        Ok(format!(
            "{host} answers the private endpoint {}",
            describe_answer(a)
        ))
    } else {
        Err(Failure {
            reason: Reason::DnsNoPrivatelink,
            message: format!(
                "{host} answers {} without a CNAME through {zone}",
                describe_answer(a)
            ),
        })
    }
}

/// The documents promise no CNAME for this name, only that it answers the workspace private
/// endpoint's address: the one the workspace API name (`other`) answers.
async fn same_address(
    env: &Env,
    plan: &Plan,
    other: &str,
    a: &dns::Answer,
    deadline: Instant,
) -> Result<String, Failure> {
    let host = &plan.host;
    let private = describe_answer(a);
    let Some(other_host) = &plan.same_address_as else {
        return Ok(format!(
            "{host} answers the private address {private} (not compared with {other}, whose name needs --workspace-id)"
        ));
    };
    let (theirs, _) = env.resolve_shared(other_host, deadline).await;
    match theirs {
        Ok(t) if t.addresses.iter().any(|ip| a.addresses.contains(ip)) => Ok(format!(
            "{host} answers the workspace private endpoint {private}, as {other_host} does"
        )),
        Ok(t) => Err(Failure {
            reason: Reason::DnsPrivateMismatch,
            message: format!(
                "{host} answers the private address {private}, but the workspace API name {other_host} answers {}",
                describe_answer(&t)
            ),
        }),
        Err(f) => Ok(format!(
            "{host} answers the private address {private} (not compared: {other_host} does not resolve, {})",
            f.reason
        )),
    }
}
