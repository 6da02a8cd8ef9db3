//! `watch`: `check`, round after round, with each check's history. It sets up once (context,
//! plans, resolvers, trust, proxy); each round runs every check under its own deadline as
//! `check` does, asking every name again. Rounds start every `--interval`, or at once when the
//! last one ran longer. It ends after `--count` rounds, when `--for` is over, or on SIGINT or
//! SIGTERM, and then reports as `check` does, each result with its history
//! ([`history`]): names whose answer moved (`dns_flapping`), checks that failed now and then
//! (`intermittent`). While it lasts, each round shows as a line on a terminal or a JSON line
//! ([`output`]), and `--metrics` keeps a Prometheus textfile ([`metrics`]).

mod history;
mod metrics;
mod output;

use std::cell::Cell;
use std::io::{IsTerminal, Write as _};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::time::{sleep_until, Instant};

use crate::cli::{Format, WatchArgs};
use crate::context::Middlebox;
use crate::exit::{Stop, EXIT_CANNOT_RUN};
use crate::plan::Plan;
use crate::probe::{self, lock, Runner};
use crate::reason::Status;
use crate::report::redact::{redact, redact_result, Redactor};
use crate::report::text::printable;
use crate::report::{self, Stopped, Watched};
use crate::result::{ms, CheckResult};
use crate::session::{self, Lines, Setup};

use history::{Round, Transition, Watch};

/// A label value of the metrics file, escaped as the exposition format says.
#[cfg(test)]
pub(crate) use metrics::escape as escape_label;

/// The zones each check's remediation names, by the check's id: a registry's or key vault's
/// name forwards its service's own.
fn zones_by_check<'a>(plans: &'a [Plan], runner: &'a Runner) -> impl Fn(&str) -> String + 'a {
    move |id| match plans.iter().find(|p| p.entry.id == id) {
        Some(plan) => runner.zones_for(plan).into_owned(),
        None => runner.forward_zones.clone(),
    }
}

/// `amlprobe watch`.
pub fn watch(args: &WatchArgs) -> Result<i32, Stop> {
    let check_args = &args.check;
    let setup = Setup::new(check_args)?;
    if let Some(path) = &args.metrics {
        metrics::writable(path)?;
    }
    let format = session::output_format(check_args);
    let redactor = check_args
        .redact
        .then(|| Mutex::new(Redactor::new(&setup.context, &setup.node)));
    let Setup {
        runtime,
        started,
        started_at,
        plans,
        node,
        context,
        runner,
    } = setup;
    let mut out = Out {
        live: format == Format::Table && std::io::stderr().is_terminal(),
        lines: (format == Format::Jsonl).then(Lines::start),
        redactor,
        metrics: args.metrics.clone(),
        metrics_error: None,
        middlebox: None,
    };
    let mut watch = Watch::new();
    let played = runtime.block_on(async {
        let mut signals = Signals::install()?;
        let stopped = play(args, &runner, &plans, &mut out, &mut signals, &mut watch).await;
        Ok::<_, Stop>((stopped, signals))
    });
    let (stopped, signals) = played?;
    // The report is written from here on: a reader that takes nothing must not keep a second
    // interrupt from ending the process.
    std::thread::spawn(move || {
        let mut signals = signals;
        runtime.block_on(signals.next());
        say("amlprobe: interrupted again while the report was written\n");
        std::process::exit(EXIT_CANNOT_RUN);
    });
    let rounds = watch.rounds();
    if rounds == 0 {
        return Err(Stop::cannot_run(
            "interrupted before the first round finished: there is nothing to report",
        ));
    }
    let results = watch.finish(&zones_by_check(&plans, &runner));
    let context = session::noting_middlebox(context, out.middlebox.take());
    let mut report = session::assemble(
        started,
        started_at,
        ms(runner.timeout),
        node,
        context,
        results,
    );
    report.watch = Some(Watched {
        rounds,
        interval_ms: ms(args.interval),
        stopped,
    });
    if let Some(m) = &out.redactor {
        redact(&mut lock(m), &mut report);
    }
    // `-o jsonl` ends as `check`'s does: each result, then the summary line.
    let streamed = match out.lines.take() {
        Some(lines) => {
            for r in &report.results {
                let _ = lines.tx.send(report::jsonl_result(r) + "\n");
            }
            lines.finish()
        }
        None => Ok(()),
    };
    let code = session::deliver(report, check_args, format, &None)?;
    streamed?;
    match (&out.metrics, out.metrics_error) {
        (Some(path), Some(e)) => Err(Stop::cannot_run(format!(
            "--metrics {}: cannot write: {e}",
            path.display()
        ))),
        _ => Ok(code),
    }
}

/// Text on stderr; a stderr that cannot be written loses it, and nothing else.
fn say(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes()).and_then(|()| err.flush());
}

/// SIGINT and SIGTERM: each ends the watch, with its report.
struct Signals {
    interrupt: Signal,
    terminate: Signal,
}

impl Signals {
    fn install() -> Result<Signals, Stop> {
        let make = |kind| {
            signal(kind).map_err(|e| Stop::cannot_run(format!("cannot handle signals: {e}")))
        };
        Ok(Signals {
            interrupt: make(SignalKind::interrupt())?,
            terminate: make(SignalKind::terminate())?,
        })
    }

    async fn next(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

/// Round after round until the count, the duration or a signal ends them. A signal abandons
/// the round in flight, except the first: a first interrupt lets it finish (its checks all have
/// deadlines) so that there is something to report, and a second abandons it too.
async fn play(
    args: &WatchArgs,
    runner: &Arc<Runner>,
    plans: &[Plan],
    out: &mut Out,
    signals: &mut Signals,
    watch: &mut Watch,
) -> Stopped {
    let end = args.for_.map(|d| Instant::now() + d);
    let mut asked = false;
    loop {
        let number = watch.rounds() + 1;
        runner.new_round();
        let began = Instant::now();
        let at = SystemTime::now();
        let progress = Progress::new(out.live, number, plans.len());
        let results = {
            let run = probe::run_all(runner.clone(), plans.to_vec(), |r| progress.take(r));
            tokio::pin!(run);
            loop {
                tokio::select! {
                    results = &mut run => break Some(results),
                    () = signals.next() => {
                        if number > 1 || asked {
                            break None;
                        }
                        asked = true;
                        progress.say("finishing the first round; interrupt again to stop at once");
                    }
                }
            }
        };
        progress.clear();
        let Some(results) = results else {
            return Stopped::Interrupted;
        };
        let round = Round {
            number,
            at: humantime::format_rfc3339_millis(at).to_string(),
        };
        out.middlebox = Middlebox::merged(out.middlebox.take(), runner.middlebox.found());
        let changes = watch.record(&round, results);
        let unix_ms = at
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(ms)
            .unwrap_or(0);
        out.round(watch, &round, ms(began.elapsed()), &changes, unix_ms);
        if asked {
            return Stopped::Interrupted;
        }
        // Rounds nobody reads are not worth running (`| head`).
        if out.lines.as_ref().is_some_and(Lines::reader_gone) {
            return Stopped::OutputClosed;
        }
        if args.count.is_some_and(|n| number >= n) {
            return Stopped::Count;
        }
        let next = began + args.interval;
        if end.is_some_and(|end| next >= end) {
            return Stopped::Duration;
        }
        tokio::select! {
            () = sleep_until(next) => {}
            () = signals.next() => return Stopped::Interrupted,
        }
    }
}

/// The count of a round in flight, for a person at a terminal.
struct Progress {
    shown: bool,
    round: u32,
    total: usize,
    done: Cell<usize>,
    failing: Cell<usize>,
}

impl Progress {
    fn new(shown: bool, round: u32, total: usize) -> Progress {
        Progress {
            shown,
            round,
            total,
            done: Cell::new(0),
            failing: Cell::new(0),
        }
    }

    fn take(&self, r: &CheckResult) {
        self.done.set(self.done.get() + 1);
        if r.status == Status::Fail {
            self.failing.set(self.failing.get() + 1);
        }
        if self.shown {
            let (round, done, total) = (self.round, self.done.get(), self.total);
            say(&format!(
                "\rround {round}: {done}/{total} done, {} failing ",
                self.failing.get()
            ));
        }
    }

    /// A note on a line of its own.
    fn say(&self, note: &str) {
        let clear = if self.shown { "\r\x1b[K" } else { "" };
        say(&format!("{clear}amlprobe: {note}\n"));
    }

    fn clear(&self) {
        if self.shown {
            say("\r\x1b[K");
        }
    }
}

/// Where each round goes: a line on a terminal, a JSON line, the metrics file.
struct Out {
    live: bool,
    lines: Option<Lines>,
    redactor: Option<Mutex<Redactor>>,
    metrics: Option<PathBuf>,
    /// Why the last write of the metrics file failed, while it fails.
    metrics_error: Option<String>,
    /// What the canary found on the path over the rounds that finished.
    middlebox: Option<Middlebox>,
}

impl Out {
    /// A copy of `r` without what `--redact` hides (the report itself is redacted whole at the
    /// end, with the same placeholders).
    fn redacted(&self, r: &CheckResult) -> CheckResult {
        let mut r = r.clone();
        if let Some(m) = &self.redactor {
            redact_result(&mut lock(m), &mut r);
        }
        r
    }

    fn round(
        &mut self,
        watch: &Watch,
        round: &Round,
        took_ms: u64,
        changes: &[Transition],
        unix_ms: u64,
    ) {
        let summary = output::summary(watch.latest());
        let changed: Vec<(&Transition, &CheckResult)> = changes
            .iter()
            .filter_map(|c| Some((c, watch.result(&c.id)?)))
            .filter(|(c, r)| output::shown(c, r))
            .collect();
        if self.live {
            say(&(output::live_line(round, &summary, took_ms, &changed) + "\n"));
        }
        // The file first: whoever reads a round's line finds the file of that round.
        if let Some(path) = &self.metrics {
            let text = self.metrics_text(watch, round, unix_ms);
            match metrics::write(path, &text) {
                Ok(()) => {
                    if self.metrics_error.take().is_some() {
                        say(&format!(
                            "amlprobe: --metrics {}: written again\n",
                            printable(&path.display().to_string())
                        ));
                    }
                }
                Err(e) => {
                    if self.metrics_error.is_none() {
                        say(&format!(
                            "amlprobe: --metrics {}: cannot write: {}; tried again after each round\n",
                            printable(&path.display().to_string()),
                            printable(&e)
                        ));
                    }
                    self.metrics_error = Some(e);
                }
            }
        }
        if let Some(lines) = &self.lines {
            let entries = changed
                .iter()
                .map(|(c, r)| output::change(c, &self.redacted(r)))
                .collect();
            let line = output::jsonl_round(round, took_ms, &summary, entries);
            // The writer ends only when the watch does.
            let _ = lines.tx.send(line + "\n");
        }
    }

    fn metrics_text(&self, watch: &Watch, round: &Round, unix_ms: u64) -> String {
        let redacted: Vec<CheckResult> = match &self.redactor {
            Some(_) => watch.latest().map(|r| self.redacted(r)).collect(),
            None => Vec::new(),
        };
        let results: Vec<&CheckResult> = match &self.redactor {
            Some(_) => redacted.iter().collect(),
            None => watch.latest().collect(),
        };
        let names: Vec<(String, u32)> = watch
            .answer_changes()
            .map(|(name, n)| match &self.redactor {
                Some(m) => (lock(m).scrub(name), n),
                None => (name.to_string(), n),
            })
            .collect();
        metrics::render(&results, &names, round.number, unix_ms)
    }
}
