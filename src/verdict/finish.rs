//! From what a check saw to its verdict: the reason that stands, the status it earns, the
//! message a person reads and the fix. What a reason decides (its status, what it shows of a
//! blocked path) comes from its row in the reasons table, never from a default arm; only the
//! wording of a message looks at a reason directly.

use super::{allowed_by, refused_by_name, remediation, Subject};
use crate::catalog::{Expect, HostCheck, Kind};
use crate::net::in_zone;
use crate::plan::Plan;
use crate::reason::{status_for, Path, Reason, Status};
use crate::result::{CheckResult, Denial, Phase, PhaseKind, Seen, Target};

/// The finished result of one check.
pub fn finish(plan: &Plan, seen: Seen, forward_zones: &str) -> CheckResult {
    let e = &plan.entry;
    let Seen {
        outcome,
        host,
        stand_in: is_stand_in,
        host_note,
        private_endpoint_seen,
        name_exists,
        mut phases,
        denial,
        proxy,
        duration_ms,
    } = seen;
    let (reason, message) = match outcome {
        Ok(message) => (Reason::Ok, message),
        Err(f) => (f.reason, f.message),
    };
    // A name Azure DNS answers exists: its absence here is the resolver's, not the name's.
    let (reason, message) = match name_exists {
        true => (reason, message),
        false => stand_in(plan, &host, is_stand_in, reason, message),
    };
    let seen = (name_exists, private_endpoint_seen);
    let (reason, message) = not_set_up(plan, &phases, seen, reason, message);
    let (denial, message) = refused_wildcard(plan, is_stand_in, denial, message);
    let (reason, message) = match e.expect {
        Expect::Open => (reason, message),
        Expect::Blocked => expect_blocked(reason, message),
    };
    let required = plan.required || (e.required && private_endpoint_seen);
    let message = explain(plan, &host, host_note.as_deref(), reason, message, required);
    // A skipped check's fix is its plan's; a firewall's refusal names the rule it showed.
    let given = match (plan.skip.as_ref().and_then(|s| s.remediation()), &denial) {
        (Some(give), _) => Some(give),
        (None, Some(d)) if reason == Reason::FirewallDenied => {
            Some(refused_by_name(&d.fqdn, &d.rule))
        }
        (None, _) => None,
    };
    // Kept until the report is written, for every check of the catalog: a `Vec` grown by
    // pushes keeps room for four phases where most checks have two.
    phases.shrink_to_fit();
    let mut result = CheckResult {
        id: e.id.clone(),
        group: e.group.clone(),
        title: e.title.clone(),
        required,
        kind: e.kind,
        tested: tested(plan, &phases),
        proxy,
        target: Target {
            host,
            port: e.port,
            transport: e.transport,
        },
        stands_for: plan.stands_for.clone(),
        stand_in: is_stand_in,
        service_tag: plan.service_tag.clone(),
        // The verdict's own fields are `judge`'s, below.
        status: Status::Skip,
        reason,
        message: String::new(),
        remediation: String::new(),
        reason_doc: String::new(),
        doc: e.doc.clone(),
        duration_ms,
        phases,
        history: None,
        trace: None,
        firewall_denial: denial,
    };
    judge(&mut result, reason, message, forward_zones, e.host_check);
    if let Some(give) = given {
        result.remediation = give;
    }
    result
}

/// Give a result its verdict: the reason, the status it earns (a situational check's failure
/// warns), the message, the reason's document and the fix for this endpoint. Every verdict, a
/// check's, a round of `watch`'s or a mesh pair's, is set here.
pub fn judge(
    r: &mut CheckResult,
    reason: Reason,
    message: String,
    forward_zones: &str,
    check: Option<HostCheck>,
) {
    let transport = r.target.transport.to_string();
    r.remediation = remediation(
        reason,
        &Subject {
            host: &r.target.host,
            port: r.target.port,
            transport: &transport,
            service_tag: r.service_tag.as_deref(),
            stands_for: r.stands_for.as_deref(),
            forward_zones,
            check,
        },
    );
    r.status = status_for(reason, r.required);
    r.reason = reason;
    r.reason_doc = reason.doc();
    r.message = message;
}

/// A name made up to stand for a wildcard need not exist: inconclusive, not broken. A resolver
/// that times out or fails is still broken, whatever the name.
fn stand_in(
    plan: &Plan,
    host: &str,
    stand_in: bool,
    reason: Reason,
    message: String,
) -> (Reason, String) {
    match &plan.stands_for {
        Some(w)
            if reason.path() == Path::Absent && stand_in && plan.entry.expect == Expect::Open =>
        {
            let allowed = allowed_by(plan.service_tag.as_deref());
            (
                Reason::StandInUnresolvable,
                format!(
                    "{message}; {} was chosen only to stand for {w}, so the wildcard cannot be tested by name: it must be allowed by {allowed}",
                    host
                ),
            )
        }
        _ => (reason, message),
    }
}

/// A name that exists only where the service is set up with it (`if_exists`: a registry's data
/// endpoint, a registry's or key vault's private-endpoint name) does not apply where it is not
/// set up: the name does not exist, or, for a private-endpoint name, it answers a public address
/// through no privatelink zone (the service has no private endpoint and is reached at its public
/// address). Never when the run shows the name exists (Azure DNS answers it) or the private
/// endpoint does (Azure DNS answers privately, or the chain goes through the zone).
fn not_set_up(
    plan: &Plan,
    phases: &[Phase],
    seen: (bool, bool),
    reason: Reason,
    message: String,
) -> (Reason, String) {
    let (name_exists, private_endpoint_seen) = seen;
    if !plan.entry.if_exists || plan.entry.expect != Expect::Open {
        return (reason, message);
    }
    let host = &plan.host;
    let no_endpoint = |zone: &str| {
        !phases
            .iter()
            .filter(|p| p.phase == PhaseKind::Dns)
            .flat_map(|p| p.cnames.iter().flatten())
            .any(|c| in_zone(c, zone))
    };
    let why = match (reason, plan.privatelink.as_deref()) {
        (Reason::DnsNxdomain, _) if !name_exists => format!(
            "{host} exists only where the service is set up to use it, so this check does not apply here (if it should exist, its DNS record is missing)"
        ),
        (Reason::DnsPublicAddress, Some(zone)) if !private_endpoint_seen && no_endpoint(zone) => {
            format!(
                "no CNAME goes through {zone}, so the service has no private endpoint and is reached at its public address: this check does not apply"
            )
        }
        _ => return (reason, message),
    };
    (Reason::NotApplicable, format!("{message}; {why}"))
}

/// A firewall refused a name chosen only to stand for a wildcard: the node's own traffic goes
/// to other names under it, so the rule must allow the wildcard, not the stand-in.
fn refused_wildcard(
    plan: &Plan,
    stand_in: bool,
    mut denial: Option<Box<Denial>>,
    message: String,
) -> (Option<Box<Denial>>, String) {
    match (&mut denial, &plan.stands_for) {
        (Some(d), Some(w)) if stand_in => {
            let message = format!(
                "{message}; {} was chosen only to stand for {w}, so the rule must allow {w}",
                d.fqdn
            );
            d.fqdn = w.clone();
            (denial, message)
        }
        _ => (denial, message),
    }
}

/// For a path that must stay closed (an exfiltration path), being blocked is the pass. A broken
/// resolver or proxy shows nothing about the path itself: those stay what they are.
pub fn expect_blocked(reason: Reason, message: String) -> (Reason, String) {
    match reason.path() {
        Path::Absent | Path::Closed => (
            Reason::BlockedAsExpected,
            format!("blocked as it should be ({reason}): {message}"),
        ),
        Path::Unknown => (reason, message),
        Path::Open => (
            Reason::UnexpectedlyReachable,
            format!("reachable, though it should be blocked: {message}"),
        ),
    }
}

/// The deepest layer the check's own path reached, never deeper than its kind. A refused
/// CONNECT reached the proxy, not the target.
fn tested(plan: &Plan, phases: &[Phase]) -> Option<Kind> {
    let kind = plan.entry.kind;
    phases
        .iter()
        .filter(|p| !(p.phase == PhaseKind::Proxy && p.ok == Some(false)))
        .map(|p| p.phase.layer())
        .max()
        .map(|k| k.min(kind))
        .or((kind == Kind::Host && plan.skip.is_none()).then_some(Kind::Host))
}

/// The message a person reads: what the wildcard was tested by, where the host came from, and
/// why a failure only warns when the mode is unknown.
fn explain(
    plan: &Plan,
    host: &str,
    host_note: Option<&str>,
    reason: Reason,
    message: String,
    required: bool,
) -> String {
    let e = &plan.entry;
    let mut message = match (&plan.stands_for, reason) {
        (Some(w), Reason::Ok | Reason::UdpNoReply) => {
            format!("{message} [{host} stands for {w}]")
        }
        _ => message,
    };
    if let Some(note) = host_note {
        message = format!("{message} ({note})");
    }
    if e.required && !required && reason.status() == Status::Fail {
        let mode = e.modes.first().map(|m| m.as_str()).unwrap_or("one");
        message = format!(
            "{message}; this check applies only in {mode} mode and the mode is unknown, so it warns: give --mode {mode} to make it fail"
        );
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocked_paths_pass_only_when_the_path_itself_is_closed() {
        for (seen, verdict) in [
            (Reason::TcpTimeout, Reason::BlockedAsExpected),
            (Reason::DnsNxdomain, Reason::BlockedAsExpected),
            (Reason::Ok, Reason::UnexpectedlyReachable),
            (Reason::HttpStatus, Reason::UnexpectedlyReachable),
            // A broken resolver or proxy shows nothing about the path: it stays itself.
            (Reason::DnsTimeout, Reason::DnsTimeout),
            (Reason::ProxyRefused, Reason::ProxyRefused),
        ] {
            assert_eq!(expect_blocked(seen, "x".into()).0, verdict, "{seen}");
        }
    }

    /// A name that does not exist is inconclusive for a stand-in and does not apply for a
    /// name that exists only in some set-ups, unless Azure DNS answers it: then the name is
    /// real and the node's resolver is at fault.
    #[test]
    fn a_missing_name_softens_only_when_azure_dns_does_not_know_it() {
        let entries = crate::catalog::load(&[]).unwrap();
        let ctx = crate::context::Context {
            region: Some("westeurope".into()),
            workspace_id: Some("0f3a8d52-6c1e-4b7a-9d2e-5a4b3c2d1e0f".into()),
            workspace_name: Some("ws-one".into()),
            acr: Some("myacr".into()),
            scenarios: vec!["all".into()],
            mode: crate::context::Mode::NoPublicIp,
            ..Default::default()
        };
        let only = ["pe-notebooks".to_string(), "acr-data-443".to_string()];
        let plans = crate::plan::plan(&entries, &ctx, &only, &[]).unwrap();
        let verdict = |id: &str, knows: bool| {
            let plan = plans.iter().find(|p| p.entry.id == id).unwrap();
            let seen = Seen {
                outcome: Err(crate::reason::Failure {
                    reason: Reason::DnsNxdomain,
                    message: "no such name".into(),
                }),
                host: plan.host.clone(),
                stand_in: plan.stand_in,
                host_note: None,
                private_endpoint_seen: false,
                name_exists: knows,
                phases: Vec::new(),
                denial: None,
                proxy: None,
                duration_ms: 1,
            };
            let r = finish(plan, seen, "");
            (r.status, r.reason)
        };
        for (id, knows, want) in [
            (
                "pe-notebooks",
                false,
                (Status::Warn, Reason::StandInUnresolvable),
            ),
            ("pe-notebooks", true, (Status::Fail, Reason::DnsNxdomain)),
            ("acr-data-443", false, (Status::Skip, Reason::NotApplicable)),
            ("acr-data-443", true, (Status::Fail, Reason::DnsNxdomain)),
        ] {
            assert_eq!(
                verdict(id, knows),
                want,
                "{id}, Azure DNS knows it: {knows}"
            );
        }
    }
}
