//! Each check over the rounds, and each name's answers: what only a history shows. A name whose
//! answer moves between private and public addresses, or to other private addresses, is
//! `dns_flapping`; a check that fails in some rounds and not in others is `intermittent`.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::net::is_private;
use crate::reason::{Reason, Status};
use crate::result::{CheckResult, DnsAnswer, Failed, History, PhaseKind};
use crate::verdict::judge;

/// The most answers a name keeps: the first, and the latest after it. A name whose public
/// addresses rotate every round would otherwise grow its history without end.
pub const MAX_ANSWERS: usize = 24;

/// The most answers a `dns_flapping` message names (the first and the latest).
const ANSWERS_IN_MESSAGE: usize = 6;

/// A round: its number (from 1) and when it started (RFC 3339).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Round {
    pub number: u32,
    pub at: String,
}

/// Whether one round's result counts against the check: a failure, or a warning for anything
/// but UDP silence, which is all a healthy path to a silent UDP service can show.
pub fn is_problem(r: &CheckResult) -> bool {
    match r.status {
        Status::Fail => true,
        Status::Warn => r.reason != Reason::UdpNoReply,
        Status::Pass | Status::Skip => false,
    }
}

/// What the node's resolver answered for a check's name in one round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAnswer {
    pub server: Option<String>,
    /// Sorted, each once.
    pub addresses: Vec<String>,
}

impl NameAnswer {
    /// The answer a result's `dns` phase shows, if it shows addresses (a lookup that failed
    /// shows none; a check through a proxy has no such phase).
    pub fn of(r: &CheckResult) -> Option<NameAnswer> {
        let phase = r.phases.iter().find(|p| p.phase == PhaseKind::Dns)?;
        let mut addresses = phase.addresses.clone()?;
        if addresses.is_empty() {
            return None;
        }
        addresses.sort();
        addresses.dedup();
        Some(NameAnswer {
            server: phase.server.clone(),
            addresses,
        })
    }

    fn private(&self) -> Vec<&str> {
        self.addresses
            .iter()
            .filter(|a| a.parse::<IpAddr>().is_ok_and(|ip| is_private(&ip)))
            .map(String::as_str)
            .collect()
    }

    fn has_public(&self) -> bool {
        self.private().len() < self.addresses.len()
    }
}

/// Whether an answer set is private, public or both.
fn class(addresses: &[String]) -> &'static str {
    let private = addresses
        .iter()
        .filter(|a| a.parse::<IpAddr>().is_ok_and(|ip| is_private(&ip)))
        .count();
    match private {
        0 => "public",
        n if n == addresses.len() => "private",
        _ => "private and public",
    }
}

/// How a name's answer moved from one round to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    /// The same addresses (the server that answered may differ).
    Same,
    /// Other public addresses, nothing private changed: what CDNs and Azure's own front ends
    /// do from one lookup to the next. Kept in the history, but no fault.
    Rotated,
    /// Between private and public addresses: the name reaches a private endpoint in one round
    /// and the internet in another.
    Crossed,
    /// Other private addresses: another private endpoint, or a stale record.
    Moved,
}

pub fn moved(before: &NameAnswer, after: &NameAnswer) -> Move {
    if before.addresses == after.addresses {
        Move::Same
    } else if before.has_public() != after.has_public()
        || before.private().is_empty() != after.private().is_empty()
    {
        Move::Crossed
    } else if before.private() != after.private() {
        Move::Moved
    } else {
        Move::Rotated
    }
}

/// One name over the rounds.
#[derive(Debug, Default)]
struct Name {
    last: Option<NameAnswer>,
    answers: Vec<DnsAnswer>,
    omitted: u32,
    /// Times the set of addresses changed.
    changes: u32,
    crossed: u32,
    moved: u32,
}

impl Name {
    /// Take this round's answer; says whether it differs from the last one (server or
    /// addresses).
    fn take(&mut self, round: &Round, answer: NameAnswer) -> bool {
        let how = self.last.as_ref().map(|last| moved(last, &answer));
        let differs = self.last.as_ref() != Some(&answer);
        match how {
            Some(Move::Same) | None => {}
            Some(Move::Rotated) => self.changes += 1,
            Some(Move::Crossed) => {
                self.changes += 1;
                self.crossed += 1;
            }
            Some(Move::Moved) => {
                self.changes += 1;
                self.moved += 1;
            }
        }
        if differs {
            if self.answers.len() >= MAX_ANSWERS {
                self.answers.remove(1);
                self.omitted += 1;
            }
            self.answers.push(DnsAnswer {
                round: round.number,
                at: round.at.clone(),
                server: answer.server.clone(),
                addresses: answer.addresses.clone(),
            });
        }
        self.last = Some(answer);
        differs && how.is_some()
    }

    fn flapping(&self) -> bool {
        self.crossed + self.moved > 0
    }
}

/// One check over the rounds.
#[derive(Debug)]
struct Track {
    last: CheckResult,
    history: History,
    /// The reasons of the rounds that counted against it, and how many each.
    reasons: BTreeMap<&'static str, u32>,
    last_failure_message: String,
}

/// How a check's result differs from the round before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub id: String,
    /// Its status and reason in the round before; none in its first round.
    pub was: Option<(Status, Reason)>,
    /// Its name answered other addresses, or from another server.
    pub answer: bool,
}

/// Every check and every name, over the rounds so far.
#[derive(Debug, Default)]
pub struct Watch {
    order: Vec<String>,
    checks: BTreeMap<String, Track>,
    names: BTreeMap<String, Name>,
    rounds: u32,
}

impl Watch {
    pub fn new() -> Watch {
        Watch::default()
    }

    /// Rounds taken so far.
    pub fn rounds(&self) -> u32 {
        self.rounds
    }

    /// Take a finished round's results; what changed since the round before, in plan order
    /// (in the first round, every result).
    pub fn record(&mut self, round: &Round, results: Vec<CheckResult>) -> Vec<Transition> {
        self.rounds += 1;
        // Every check that names a host shares the round's one lookup of it.
        let mut answered: BTreeMap<String, bool> = BTreeMap::new();
        for r in &results {
            if answered.contains_key(&r.target.host) {
                continue;
            }
            if let Some(a) = NameAnswer::of(r) {
                let name = self.names.entry(r.target.host.clone()).or_default();
                answered.insert(r.target.host.clone(), name.take(round, a));
            }
        }
        let mut changes = Vec::new();
        for r in results {
            let answer = answered.get(&r.target.host).copied().unwrap_or(false);
            let was = self
                .checks
                .get(&r.id)
                .map(|t| (t.last.status, t.last.reason));
            if was != Some((r.status, r.reason)) || answer {
                changes.push(Transition {
                    id: r.id.clone(),
                    was,
                    answer,
                });
            }
            match self.checks.get_mut(&r.id) {
                Some(track) => track.take(round, r),
                None => {
                    self.order.push(r.id.clone());
                    let mut track = Track {
                        last: r.clone(),
                        history: History::default(),
                        reasons: BTreeMap::new(),
                        last_failure_message: String::new(),
                    };
                    track.take(round, r);
                    self.checks.insert(track.last.id.clone(), track);
                }
            }
        }
        changes
    }

    /// The latest round's result of each check, in plan order.
    pub fn latest(&self) -> impl Iterator<Item = &CheckResult> {
        self.order
            .iter()
            .filter_map(|id| self.checks.get(id))
            .map(|t| &t.last)
    }

    /// The latest result of one check.
    pub fn result(&self, id: &str) -> Option<&CheckResult> {
        self.checks.get(id).map(|t| &t.last)
    }

    /// Each name and how many times its set of addresses changed.
    pub fn answer_changes(&self) -> impl Iterator<Item = (&str, u32)> {
        self.names.iter().map(|(n, t)| (n.as_str(), t.changes))
    }

    /// The final results: each check's latest result with its history, and the verdicts only
    /// the history shows. A name that flapped outweighs everything (it explains the rest); a
    /// check that counted against itself in some rounds but not in the last is intermittent;
    /// a check that fails now says since when.
    /// `forward_zones` names, for a check's id, the zones a remediation tells to forward.
    pub fn finish(self, forward_zones: &dyn Fn(&str) -> String) -> Vec<CheckResult> {
        let Watch {
            order,
            mut checks,
            names,
            rounds: _,
        } = self;
        order
            .iter()
            .filter_map(|id| checks.remove(id))
            .map(|t| {
                let name = names.get(&t.last.target.host);
                let zones = forward_zones(&t.last.id);
                t.finish(name, &zones)
            })
            .collect()
    }
}

impl Track {
    fn take(&mut self, round: &Round, r: CheckResult) {
        let h = &mut self.history;
        h.rounds += 1;
        match r.status {
            Status::Pass => h.pass += 1,
            Status::Warn => h.warn += 1,
            Status::Fail => h.fail += 1,
            Status::Skip => h.skip += 1,
        }
        if is_problem(&r) {
            h.failures += 1;
            let failed = Failed {
                round: round.number,
                at: round.at.clone(),
                reason: r.reason,
            };
            h.first_failure.get_or_insert_with(|| failed.clone());
            h.last_failure = Some(failed);
            *self.reasons.entry(r.reason.code()).or_default() += 1;
            self.last_failure_message.clone_from(&r.message);
        }
        self.last = r;
    }

    fn finish(self, name: Option<&Name>, forward_zones: &str) -> CheckResult {
        let Track {
            mut last,
            mut history,
            reasons,
            last_failure_message,
        } = self;
        if let Some(n) = name {
            history.answers = n.answers.clone();
            history.answer_changes = n.changes;
            history.answers_omitted = n.omitted;
        }
        let tally = tally(&history, &reasons);
        match name.filter(|n| n.flapping()) {
            Some(n) => {
                let message = flapping(&last, n, &history);
                judge(&mut last, Reason::DnsFlapping, message, forward_zones, None);
            }
            None if history.failures > 0 && !is_problem(&last) => {
                let message = format!(
                    "{tally}; last failure: {last_failure_message}; in the last round: {} ({})",
                    last.reason, last.message
                );
                judge(
                    &mut last,
                    Reason::Intermittent,
                    message,
                    forward_zones,
                    None,
                );
            }
            None if history.failures > 0 && history.failures < history.rounds => {
                last.message = format!("{}; {tally}", last.message);
            }
            None => {}
        }
        last.history = Some(history);
        last
    }
}

/// `failed in 1 of 3 rounds (tcp_timeout 1): first in round 2 at T, last in round 2 at T`.
fn tally(h: &History, reasons: &BTreeMap<&'static str, u32>) -> String {
    let reasons: Vec<String> = reasons.iter().map(|(r, n)| format!("{r} {n}")).collect();
    let mut text = format!(
        "failed in {} of {} rounds ({})",
        h.failures,
        h.rounds,
        reasons.join(", ")
    );
    if let (Some(first), Some(last)) = (&h.first_failure, &h.last_failure) {
        text.push_str(&format!(
            ": first in round {} at {}, last in round {} at {}",
            first.round, first.at, last.round, last.at
        ));
    }
    text
}

/// Which server gave which answer, and when.
fn flapping(last: &CheckResult, n: &Name, h: &History) -> String {
    let how = match (n.crossed > 0, n.moved > 0) {
        (true, true) => "between private and public addresses, and between private addresses",
        (true, false) => "between private and public addresses",
        (false, _) => "between private addresses",
    };
    let shown: Vec<String> = n.answers.iter().map(describe).collect();
    let shown = match shown.len() > ANSWERS_IN_MESSAGE {
        true => {
            let left = shown.len() - ANSWERS_IN_MESSAGE + 1 + n.omitted as usize;
            let tail = &shown[shown.len() - (ANSWERS_IN_MESSAGE - 1)..];
            format!("{}; … {left} more …; {}", shown[0], tail.join("; "))
        }
        false if n.omitted > 0 => format!("{} (and {} more)", shown.join("; "), n.omitted),
        false => shown.join("; "),
    };
    format!(
        "{}: the answer changed {} times in {} rounds, {how}: {shown}; in the last round: {}",
        last.target.host, n.changes, h.rounds, last.reason
    )
}

/// `round 2 at T: 203.0.113.10 (public) from 10.0.0.53`.
fn describe(a: &DnsAnswer) -> String {
    let server = a.server.as_deref().unwrap_or("an unnamed server");
    format!(
        "round {} at {}: {} ({}) from {server}",
        a.round,
        a.at,
        a.addresses.join(", "),
        class(&a.addresses)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture;
    use crate::result::Phase;

    fn round(n: u32) -> Round {
        Round {
            number: n,
            at: format!("2026-11-26T07:00:0{n}.000Z"),
        }
    }

    /// A result that resolved `addresses` from `server`.
    fn answered(id: &str, status: Status, reason: Reason, addresses: &[&str]) -> CheckResult {
        let mut r = fixture::result(id, "g", status, reason);
        r.target.host = "name.example.net".into();
        r.phases.push(Phase {
            addresses: Some(addresses.iter().map(|a| a.to_string()).collect()),
            server: Some("10.0.0.53".into()),
            ..Phase::of(PhaseKind::Dns)
        });
        r
    }

    fn ok(addresses: &[&str]) -> CheckResult {
        answered("c", Status::Pass, Reason::Ok, addresses)
    }

    fn answer(addresses: &[&str]) -> NameAnswer {
        NameAnswer {
            server: None,
            addresses: addresses.iter().map(|a| a.to_string()).collect(),
        }
    }

    #[test]
    fn moves_are_told_apart_from_rotations() {
        let private = answer(&["10.0.0.5"]);
        let public = answer(&["203.0.113.10"]);
        assert_eq!(moved(&private, &private), Move::Same);
        assert_eq!(moved(&private, &public), Move::Crossed);
        assert_eq!(moved(&public, &private), Move::Crossed);
        assert_eq!(moved(&private, &answer(&["10.0.0.6"])), Move::Moved);
        assert_eq!(
            moved(&public, &answer(&["203.0.113.11", "203.0.113.12"])),
            Move::Rotated,
            "public addresses that rotate are no fault"
        );
        assert_eq!(
            moved(&private, &answer(&["10.0.0.5", "203.0.113.10"])),
            Move::Crossed,
            "a public address beside the private one"
        );
        assert_eq!(
            moved(&answer(&["fd00::5"]), &answer(&["2001:db8::5"])),
            Move::Crossed
        );
    }

    #[test]
    fn private_public_private_is_flapping_with_both_answers_and_their_times() {
        let mut w = Watch::new();
        let c1 = w.record(&round(1), vec![ok(&["10.0.0.5"])]);
        assert_eq!(c1.len(), 1, "the first round shows every result");
        assert_eq!(c1[0].was, None);
        let c2 = w.record(
            &round(2),
            vec![answered(
                "c",
                Status::Fail,
                Reason::TcpUnreachable,
                &["203.0.113.10"],
            )],
        );
        assert_eq!(
            c2,
            vec![Transition {
                id: "c".into(),
                was: Some((Status::Pass, Reason::Ok)),
                answer: true
            }]
        );
        w.record(&round(3), vec![ok(&["10.0.0.5"])]);
        assert_eq!(
            w.answer_changes().collect::<Vec<_>>(),
            [("name.example.net", 2)]
        );
        let r = &w.finish(&|_| "api.azureml.ms".into())[0];
        assert_eq!(r.reason, Reason::DnsFlapping);
        assert_eq!(r.status, Status::Fail, "a required check fails");
        for needle in [
            "between private and public addresses",
            "round 1 at 2026-11-26T07:00:01.000Z: 10.0.0.5 (private) from 10.0.0.53",
            "round 2 at 2026-11-26T07:00:02.000Z: 203.0.113.10 (public) from 10.0.0.53",
            "round 3 at 2026-11-26T07:00:03.000Z: 10.0.0.5 (private)",
        ] {
            assert!(r.message.contains(needle), "{needle} in {}", r.message);
        }
        assert!(r.remediation.contains("168.63.129.16"));
        assert_eq!(r.reason_doc, Reason::DnsFlapping.doc());
        let h = r.history.as_ref().unwrap();
        assert_eq!((h.rounds, h.pass, h.fail, h.failures), (3, 2, 1, 1));
        assert_eq!(h.answers.len(), 3);
        assert_eq!(h.answers[1].addresses, ["203.0.113.10"]);
        assert_eq!(h.answer_changes, 2);
    }

    #[test]
    fn flapping_softens_for_situational_checks_and_names_private_moves() {
        let mut w = Watch::new();
        let mut first = ok(&["10.0.0.5"]);
        first.required = false;
        w.record(&round(1), vec![first.clone()]);
        let mut second = ok(&["10.0.0.6"]);
        second.required = false;
        w.record(&round(2), vec![second]);
        let r = &w.finish(&|_| "z".into())[0];
        assert_eq!((r.status, r.reason), (Status::Warn, Reason::DnsFlapping));
        assert!(
            r.message.contains("between private addresses"),
            "{}",
            r.message
        );
    }

    #[test]
    fn rotating_public_addresses_are_kept_but_are_no_fault() {
        let mut w = Watch::new();
        for (n, a) in [(1, "203.0.113.1"), (2, "203.0.113.2"), (3, "203.0.113.3")] {
            w.record(&round(n), vec![ok(&[a])]);
        }
        let r = &w.finish(&|_| "z".into())[0];
        assert_eq!((r.status, r.reason), (Status::Pass, Reason::Ok));
        let h = r.history.as_ref().unwrap();
        assert_eq!((h.answers.len(), h.answer_changes), (3, 2));
    }

    #[test]
    fn a_long_history_keeps_the_first_and_the_latest_answers() {
        let mut w = Watch::new();
        for n in 1..=100u32 {
            let a = format!("203.0.113.{n}");
            w.record(&round(n), vec![ok(&[a.as_str()])]);
        }
        let h = w.finish(&|_| "z".into())[0].history.clone().unwrap();
        assert_eq!(h.answers.len(), MAX_ANSWERS);
        assert_eq!(h.answers[0].round, 1);
        assert_eq!(h.answers.last().unwrap().round, 100);
        assert_eq!(h.answers_omitted, 100 - MAX_ANSWERS as u32);
        assert_eq!(h.answer_changes, 99);
    }

    #[test]
    fn a_failure_in_one_round_is_intermittent_with_counts_and_times() {
        let mut w = Watch::new();
        w.record(&round(1), vec![ok(&["10.0.0.5"])]);
        let mut dropped = answered("c", Status::Fail, Reason::TcpTimeout, &["10.0.0.5"]);
        dropped.message = "10.0.0.5:443: no answer".into();
        let changes = w.record(&round(2), vec![dropped]);
        assert_eq!(changes[0].was, Some((Status::Pass, Reason::Ok)));
        assert!(!changes[0].answer, "the answer is the same");
        assert!(w.record(&round(3), vec![ok(&["10.0.0.5"])]).len() == 1);
        let r = &w.finish(&|_| "z".into())[0];
        assert_eq!((r.status, r.reason), (Status::Warn, Reason::Intermittent));
        for needle in [
            "failed in 1 of 3 rounds (tcp_timeout 1)",
            "first in round 2 at 2026-11-26T07:00:02.000Z",
            "last in round 2 at 2026-11-26T07:00:02.000Z",
            "last failure: 10.0.0.5:443: no answer",
        ] {
            assert!(r.message.contains(needle), "{needle} in {}", r.message);
        }
        let h = r.history.as_ref().unwrap();
        assert_eq!((h.rounds, h.pass, h.fail, h.failures), (3, 2, 1, 1));
        assert_eq!(h.first_failure.as_ref().unwrap().round, 2);
        assert_eq!(h.last_failure.as_ref().unwrap().reason, Reason::TcpTimeout);
        assert_eq!(h.answers.len(), 1, "one answer, unchanged");
        assert!(!r.remediation.is_empty());
    }

    #[test]
    fn udp_silence_is_no_failure_but_a_rejection_is() {
        let silent = || answered("u", Status::Warn, Reason::UdpNoReply, &["10.0.0.7"]);
        let mut w = Watch::new();
        for n in 1..=3 {
            w.record(&round(n), vec![silent()]);
        }
        let r = &w.finish(&|_| "z".into())[0];
        assert_eq!(
            r.reason,
            Reason::UdpNoReply,
            "silence every round stays itself"
        );
        assert_eq!(r.history.as_ref().unwrap().failures, 0);

        let mut w = Watch::new();
        w.record(&round(1), vec![silent()]);
        let rejected = answered("u", Status::Fail, Reason::UdpUnreachable, &["10.0.0.7"]);
        w.record(&round(2), vec![rejected]);
        w.record(&round(3), vec![silent()]);
        assert_eq!(w.finish(&|_| "z".into())[0].reason, Reason::Intermittent);
    }

    #[test]
    fn failing_now_stays_a_failure_and_says_since_when() {
        let mut w = Watch::new();
        w.record(&round(1), vec![ok(&["10.0.0.5"])]);
        w.record(
            &round(2),
            vec![answered(
                "c",
                Status::Fail,
                Reason::TcpTimeout,
                &["10.0.0.5"],
            )],
        );
        let r = &w.finish(&|_| "z".into())[0];
        assert_eq!((r.status, r.reason), (Status::Fail, Reason::TcpTimeout));
        assert!(
            r.message.contains("failed in 1 of 2 rounds"),
            "{}",
            r.message
        );

        let mut w = Watch::new();
        for n in 1..=2 {
            w.record(
                &round(n),
                vec![answered(
                    "c",
                    Status::Fail,
                    Reason::TcpTimeout,
                    &["10.0.0.5"],
                )],
            );
        }
        let r = &w.finish(&|_| "z".into())[0];
        assert_eq!(r.reason, Reason::TcpTimeout);
        assert_eq!(
            r.message, "message of c",
            "failing every round needs no tally"
        );
    }

    #[test]
    fn unchanged_results_are_no_change_and_names_are_counted_once_a_round() {
        let mut w = Watch::new();
        let mut other = ok(&["10.0.0.5"]);
        other.id = "d".into();
        w.record(&round(1), vec![ok(&["10.0.0.5"]), other.clone()]);
        assert!(w
            .record(&round(2), vec![ok(&["10.0.0.5"]), other])
            .is_empty());
        assert_eq!(w.latest().count(), 2);
        assert_eq!(w.result("d").map(|r| r.id.as_str()), Some("d"));
        assert_eq!(w.answer_changes().count(), 1);
    }
}
