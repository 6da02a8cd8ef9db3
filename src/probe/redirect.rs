//! Hosts that only a redirect names. Microsoft Container Registry serves image layers from a
//! handful of CDN names that change over time; a real pull asks `mcr.microsoft.com` for a
//! blob and follows the redirect. The probe does the same and tests the host it is sent to,
//! falling back to the catalog's host when no redirect comes.

use std::net::SocketAddr;

use tokio::time::Instant;

use super::{http, tcp, tls, Failure, Runner, Trace};
use crate::catalog::{self, HttpSpec, HttpsUrl, Kind};
use crate::reason::Reason;
use crate::result::{Phase, PhaseKind};

/// Ask `url` (before `until`) and, when it redirects, make its target the host to probe.
/// Either way a `redirect` phase says what happened.
/// `what` names the download the redirect is for (`a blob download`).
pub(super) async fn learn(
    runner: &Runner,
    url: &str,
    what: &str,
    until: Instant,
    trace: &mut Trace,
) {
    let asked = trace
        .timed(
            Phase::of(PhaseKind::Redirect),
            ask(runner, url, until),
            |p, asked| {
                let (peer, status, to) = asked;
                p.address = Some(peer.to_string());
                p.http_status = Some(*status);
                p.redirect_host = Some(to.host.clone());
            },
        )
        .await;
    let from = catalog::https_url_host(url).unwrap_or_else(|_| url.to_string());
    match &asked {
        Ok((_, _, to)) => {
            trace.host_note = Some(format!("{from} redirects {what} to {}", to.host));
            trace.host = to.host.clone();
            trace.redirect_path = Some(to.path.clone());
            // A host a real download is sent to is the real one, not a stand-in.
            trace.stand_in = false;
        }
        Err(f) => {
            trace.host_note = Some(format!(
                "{from} named no host ({}), so the fallback {} was probed",
                f.message, trace.host
            ));
        }
    }
}

/// One anonymous GET of `url`; a 3xx answer's `Location` host is the result.
async fn ask(
    runner: &Runner,
    url: &str,
    until: Instant,
) -> Result<(SocketAddr, u16, HttpsUrl), Failure> {
    let failed = |message: String| Failure {
        reason: Reason::HttpStatus,
        message,
    };
    let HttpsUrl { host, port, path } = HttpsUrl::parse(url).map_err(failed)?;
    let (stream, peer) = match runner.proxy_for(Kind::Https, &host) {
        Some(proxy) => proxy.connect(&runner.resolvers, &host, port, until).await?,
        None => {
            let (answer, _) = runner.resolve_shared(&host, until).await;
            tcp::connect(&answer?.addresses, port, until).await?
        }
    };
    let (mut stream, _) = tls::handshake(
        stream,
        peer,
        &host,
        &runner.trust,
        until,
        &Default::default(),
    )
    .await?;
    let spec = HttpSpec {
        path,
        accept: vec![(100, 599)],
        ..HttpSpec::default()
    };
    let head = http::request(&mut stream, &host, &spec, until).await?;
    runner.observe_date(&host, &head);
    let location = head
        .location
        .filter(|_| (300..400).contains(&head.status))
        .ok_or_else(|| failed(format!("HTTP {} without a redirect", head.status)))?;
    let target = HttpsUrl::parse(&location).map_err(|e| {
        failed(format!(
            "{host}: the redirect is not to an https host ({e})"
        ))
    })?;
    Ok((peer, head.status, target))
}
