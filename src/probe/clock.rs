//! The node's clock against the servers': skew breaks TLS validity checks and Microsoft Entra
//! tokens. Every verified HTTPS answer's `Date` is kept with the node's time when it arrived;
//! once the other checks are done, the median difference is judged.

use std::time::SystemTime;

use super::Failure;
use crate::reason::Reason;

/// More than this apart (seconds) and tokens start to fail.
pub const MAX_SKEW_SECS: i64 = 300;

/// One server's `Date` as the node saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerClock {
    pub host: String,
    /// The server's time minus the node's, in seconds: positive when the node is behind.
    pub offset_secs: i64,
}

impl ServerClock {
    /// An HTTP `Date` header read now; `None` when it is not an HTTP date.
    pub fn read(host: &str, date: &str) -> Option<ServerClock> {
        ServerClock::read_at(host, date, SystemTime::now())
    }

    pub fn read_at(host: &str, date: &str, now: SystemTime) -> Option<ServerClock> {
        let server = httpdate::parse_http_date(date.trim()).ok()?;
        let offset_secs = match server.duration_since(now) {
            Ok(ahead) => ahead.as_secs() as i64,
            Err(behind) => -(behind.duration().as_secs() as i64),
        };
        Some(ServerClock {
            host: host.to_string(),
            offset_secs,
        })
    }
}

/// `1 h 2 min`, `4 min 10 s`, `12 s`; past ten minutes, to the nearest minute (a `Date` is
/// only good to the second, and arrives a moment after it was written).
fn span(secs: i64) -> String {
    let s = secs.unsigned_abs();
    if s >= 600 {
        let minutes = (s + 30) / 60;
        return match minutes / 60 {
            0 => format!("{minutes} min"),
            h => format!("{h} h {} min", minutes % 60),
        };
    }
    match (s / 60, s % 60) {
        (0, s) => format!("{s} s"),
        (m, s) => format!("{m} min {s} s"),
    }
}

/// Judge the clock from what the other checks saw; the median resists one wrong server.
pub fn judge(seen: &[ServerClock]) -> Result<String, Failure> {
    if seen.is_empty() {
        return Err(Failure {
            reason: Reason::NotObservable,
            message: "no HTTPS answer carried a Date header to compare the node's clock with"
                .into(),
        });
    }
    let mut offsets: Vec<i64> = seen.iter().map(|c| c.offset_secs).collect();
    offsets.sort_unstable();
    let median = offsets[offsets.len() / 2];
    let example = seen
        .iter()
        .min_by_key(|c| (c.offset_secs - median).abs())
        .map(|c| c.host.as_str())
        .unwrap_or("?");
    let n = seen.len();
    if median.abs() > MAX_SKEW_SECS {
        let side = if median > 0 { "behind" } else { "ahead of" };
        return Err(Failure {
            reason: Reason::ClockSkew,
            message: format!(
                "the node's clock is {} {side} the servers (median of {n} HTTPS Date headers, {example} among them); more than {} min breaks TLS and Microsoft Entra tokens",
                span(median),
                MAX_SKEW_SECS / 60
            ),
        });
    }
    let headers = if n == 1 { "header" } else { "headers" };
    Ok(format!(
        "the node's clock agrees with {n} HTTPS Date {headers} (median difference {})",
        span(median)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(offset: i64) -> ServerClock {
        ServerClock {
            host: format!("h{offset}.example.net"),
            offset_secs: offset,
        }
    }

    #[test]
    fn http_dates_are_read_against_the_node_clock() {
        let now = httpdate::parse_http_date("Thu, 26 Nov 2026 10:00:00 GMT").unwrap();
        let c = ServerClock::read_at("a", "Thu, 26 Nov 2026 11:00:00 GMT", now).unwrap();
        assert_eq!(c.offset_secs, 3600);
        let c = ServerClock::read_at("a", "Thu, 26 Nov 2026 09:59:30 GMT", now).unwrap();
        assert_eq!(c.offset_secs, -30);
        assert!(ServerClock::read_at("a", "yesterday", now).is_none());
        assert!(ServerClock::read_at("a", "", now + Duration::from_secs(1)).is_none());
    }

    #[test]
    fn the_median_decides_and_says_which_way() {
        let f = judge(&[at(3599), at(3601), at(0)]).unwrap_err();
        assert_eq!(f.reason, Reason::ClockSkew);
        assert!(f.message.contains("1 h 0 min behind"), "{}", f.message);
        let f = judge(&[at(-400)]).unwrap_err();
        assert!(f.message.contains("6 min 40 s ahead of"), "{}", f.message);
        // One server an hour off does not make the node's clock wrong.
        assert!(judge(&[at(3600), at(1), at(-2)]).is_ok());
        assert!(judge(&[at(300), at(-300)]).is_ok());
        assert_eq!(judge(&[]).unwrap_err().reason, Reason::NotObservable);
    }
}
