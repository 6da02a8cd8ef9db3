//! Names of a workspace with a private endpoint: each must answer a private address, either
//! through its privatelink CNAME or, for the compute instance's name, as the same address the
//! workspace API name answers. When the node's resolver is not Azure DNS, Azure DNS is asked
//! too and the answers compared: custom DNS without the forwarders is the commonest fault.

use std::net::IpAddr;

use tokio::time::Instant;

use super::{dns, lookup_phase, shows_answer, Failure, Runner, Trace};
use crate::net::{in_zone, is_private, AZURE_DNS};
use crate::plan::Plan;
use crate::reason::{Reason, Status};
use crate::result::{Phase, PhaseKind};

fn describe_answer(a: &dns::Answer) -> String {
    let addrs: Vec<String> = a.addresses.iter().map(IpAddr::to_string).collect();
    match a.cnames.is_empty() {
        true => addrs.join(", "),
        false => format!("{} via {}", addrs.join(", "), a.cnames.join(" -> ")),
    }
}

pub(super) async fn check(
    runner: &Runner,
    plan: &Plan,
    deadline: Instant,
    trace: &mut Trace,
) -> Result<String, Failure> {
    let host = &plan.host;
    let (answer, ms) = runner.resolve_shared(host, deadline).await;
    let phase = lookup_phase(ms, &answer);
    let judged = match &answer {
        Ok(a) => judge(runner, plan, a, deadline).await,
        Err(f) => Err(f.clone()),
    };
    trace.record(phase, &judged);

    let Some(azure) = &runner.azure_dns else {
        return judged;
    };
    let phase = Phase {
        server: Some(AZURE_DNS.to_string()),
        ..Phase::of(PhaseKind::DnsAzure)
    };
    let ask = azure.resolve(host, deadline);
    let theirs = trace
        .timed(phase, ask, |p, a| {
            shows_answer(p, a);
            p.server = Some(AZURE_DNS.to_string());
        })
        .await;
    let Ok(theirs) = theirs else { return judged };
    // Azure DNS answering privately proves the workspace has a private endpoint.
    trace.private_endpoint_seen = theirs.addresses.iter().any(is_private);
    trace.name_exists = !theirs.addresses.is_empty();
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
    let zones = runner.zones_for(plan);
    let azure_says = format!(
        "Azure DNS (168.63.129.16) answers {}",
        describe_answer(&theirs)
    );
    let ours_says = match &answer {
        Ok(a) => format!("the node's resolver answers {}", describe_answer(a)),
        Err(f) => format!("the node's resolver fails ({})", f.reason),
    };
    let mismatch = Failure {
        reason: Reason::DnsResolverMismatch,
        message: format!("{host}: {ours_says}, {azure_says}; forward {zones} to 168.63.129.16"),
    };
    let Err(f) = judged else {
        return Err(mismatch);
    };
    match f.reason.status() {
        // A failure stays the verdict; Azure DNS's answer shows the way out.
        Status::Fail => Err(Failure {
            reason: f.reason,
            message: format!(
                "{}; {azure_says}: forward {zones} to 168.63.129.16",
                f.message
            ),
        }),
        // Anything short of a failure is outweighed by the resolvers' disagreement.
        Status::Warn | Status::Skip | Status::Pass => Err(mismatch),
    }
}

/// What the node's own answer shows: a private address, reached the way the documents say.
async fn judge(
    runner: &Runner,
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
        return same_address(runner, plan, other, a, deadline).await;
    }
    let zone = plan.privatelink.as_deref().unwrap_or("privatelink");
    let through = a.cnames.iter().any(|c| in_zone(c, zone));
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
    runner: &Runner,
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
    let (theirs, _) = runner.resolve_shared(other_host, deadline).await;
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
