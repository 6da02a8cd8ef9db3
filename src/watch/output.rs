//! What each round shows while the watch lasts: a line on stderr for a person at a terminal,
//! and a JSON line for a program (`-o jsonl`).

use serde_json::{json, Value};

use super::history::{NameAnswer, Round, Transition};
use crate::reason::Status;
use crate::report::text::printable;
use crate::report::Summary;
use crate::result::CheckResult;

/// The most changes a terminal line names; the rest are counted.
const CHANGES_ON_A_LINE: usize = 4;

/// The counts of the latest results.
pub fn summary<'a>(results: impl Iterator<Item = &'a CheckResult>) -> Summary {
    let mut s = Summary::default();
    for r in results {
        s.total += 1;
        match r.status {
            Status::Pass => s.pass += 1,
            Status::Fail => s.fail += 1,
            Status::Warn => s.warn += 1,
            Status::Skip => s.skip += 1,
        }
    }
    s
}

/// Whether a change is worth a line: every change after the first round; in the first, the
/// results that did not pass (the stream says what is not fine, and changes from then on).
pub fn shown(change: &Transition, now: &CheckResult) -> bool {
    change.was.is_some() || now.status != Status::Pass
}

/// `round 3  2026-…Z  31 pass, 1 warn, 1 fail, 0 skip  (812 ms)  changed: a pass→fail (tcp_timeout)`.
pub fn live_line(
    round: &Round,
    s: &Summary,
    took_ms: u64,
    changes: &[(&Transition, &CheckResult)],
) -> String {
    let mut line = format!(
        "round {}  {}  {} pass, {} warn, {} fail, {} skip  ({took_ms} ms)",
        round.number, round.at, s.pass, s.warn, s.fail, s.skip
    );
    let moved: Vec<String> = changes
        .iter()
        .filter(|(c, _)| c.was.is_some())
        .map(|(c, r)| {
            let id = printable(&r.id);
            match c.was {
                Some((status, reason)) if (status, reason) != (r.status, r.reason) => {
                    format!("{id} {status}→{} ({})", r.status, r.reason)
                }
                _ => format!("{id} answer changed"),
            }
        })
        .collect();
    if round.number > 1 {
        match moved.len() {
            0 => line.push_str("  no change"),
            n => {
                let named = &moved[..n.min(CHANGES_ON_A_LINE)];
                line.push_str(&format!("  changed: {}", named.join("; ")));
                if n > CHANGES_ON_A_LINE {
                    line.push_str(&format!("; {} more", n - CHANGES_ON_A_LINE));
                }
            }
        }
    }
    line
}

/// One change in a round's JSON line: what the check is now, what it was, and its name's new
/// answer when that changed.
pub fn change(c: &Transition, r: &CheckResult) -> Value {
    let mut v = json!({
        "id": r.id,
        "status": r.status,
        "reason": r.reason,
    });
    if let Some(o) = v.as_object_mut() {
        if let Some((status, reason)) = c.was {
            o.insert("was".into(), json!({"status": status, "reason": reason}));
        }
        if r.status != Status::Pass {
            o.insert("message".into(), json!(r.message));
        }
        if let Some(a) = NameAnswer::of(r).filter(|_| c.answer) {
            o.insert(
                "answer".into(),
                json!({"server": a.server, "addresses": a.addresses}),
            );
        }
    }
    v
}

/// One round of `-o jsonl`: its number, start, length and counts, and what changed.
pub fn jsonl_round(round: &Round, took_ms: u64, s: &Summary, changed: Vec<Value>) -> String {
    json!({
        "type": "round",
        "round": round.number,
        "started_at": round.at,
        "duration_ms": took_ms,
        "summary": s,
        "changed": changed,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reason::Reason;
    use crate::report::fixture;

    fn round(n: u32) -> Round {
        Round {
            number: n,
            at: "2026-11-26T07:00:00.000Z".into(),
        }
    }

    /// docs/interface.md lists every field of a round line, and no other; its `summary` is
    /// the check report's.
    #[test]
    fn every_field_of_a_round_line_is_documented() {
        use crate::result::{Phase, PhaseKind};
        let mut now = fixture::result("arm-443", "g", Status::Fail, Reason::TcpTimeout);
        now.phases = vec![Phase {
            addresses: Some(vec!["20.50.2.1".into()]),
            server: Some("10.0.0.4".into()),
            ..Phase::of(PhaseKind::Dns)
        }];
        let c = Transition {
            id: "arm-443".into(),
            was: Some((Status::Pass, Reason::Ok)),
            answer: true,
        };
        let s = summary([&now].into_iter());
        let line = jsonl_round(&round(2), 9, &s, vec![change(&c, &now)]);
        let mut fields = crate::interface::fields(&serde_json::from_str(&line).unwrap());
        fields.remove(".summary");
        crate::interface::same_fields("Watch round", &fields);
    }

    #[test]
    fn a_live_line_counts_and_names_what_changed() {
        let now = fixture::result("graph-443", "g", Status::Fail, Reason::TcpTimeout);
        let c = Transition {
            id: "graph-443".into(),
            was: Some((Status::Pass, Reason::Ok)),
            answer: false,
        };
        let s = summary([&now].into_iter());
        let line = live_line(&round(2), &s, 812, &[(&c, &now)]);
        assert_eq!(
            line,
            "round 2  2026-11-26T07:00:00.000Z  0 pass, 0 warn, 1 fail, 0 skip  (812 ms)  changed: graph-443 pass→fail (tcp_timeout)"
        );
        assert!(live_line(&round(3), &s, 5, &[]).ends_with("no change"));
        assert!(!live_line(&round(1), &s, 5, &[]).contains("change"));
    }

    #[test]
    fn a_round_line_is_one_compact_json_object() {
        let now = fixture::result("arm-443", "g", Status::Fail, Reason::TcpTimeout);
        let c = Transition {
            id: "arm-443".into(),
            was: Some((Status::Pass, Reason::Ok)),
            answer: false,
        };
        let line = jsonl_round(
            &round(2),
            9,
            &summary([&now].into_iter()),
            vec![change(&c, &now)],
        );
        assert!(!line.contains('\n'));
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["type"], "round");
        assert_eq!(v["round"], 2);
        assert_eq!(v["summary"]["fail"], 1);
        assert_eq!(v["changed"][0]["was"]["reason"], "ok");
        assert_eq!(v["changed"][0]["reason"], "tcp_timeout");
        assert_eq!(v["changed"][0]["message"], "message of arm-443");
        assert!(v["changed"][0].get("answer").is_none());
        let first = Transition {
            was: None,
            ..c.clone()
        };
        let passing = fixture::result("fine", "g", Status::Pass, Reason::Ok);
        assert!(!shown(&first, &passing) && shown(&first, &now) && shown(&c, &passing));
    }
}
