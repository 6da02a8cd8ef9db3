//! A run of the checks in four steps, shared by every command that runs them (`check`, `list`,
//! `explain --run`, `watch`, `mesh`): set up (context, plans, trust, resolvers, proxy), run
//! every check (streaming progress and JSONL as results arrive), assemble the report, and
//! deliver it (redaction, `--report`, the chosen format, the exit code).

use std::io::{IsTerminal, Write as _};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use crate::catalog::Kind;
use crate::cli::{CheckArgs, Format};
use crate::context::{Context, Field};
use crate::exit::{emit, written, Stop, EXIT_OK};
use crate::net::AZURE_DNS;
use crate::plan::{self, Plan};
use crate::probe::dns::Resolvers;
use crate::probe::proxy::Proxy;
use crate::probe::{self, tls::Trust};
use crate::reason::Status;
use crate::report::{self, redact::Redactor, Node, Report, Summary, Tool};
use crate::result::{ms, CheckResult};
use crate::{catalog, discover, input};

/// Everything a run needs, ready before the first packet.
pub struct Setup {
    pub(crate) runtime: tokio::runtime::Runtime,
    pub(crate) started: Instant,
    pub(crate) started_at: String,
    pub(crate) plans: Vec<Plan>,
    pub(crate) node: Node,
    pub(crate) context: Context,
    pub(crate) runner: Arc<probe::Runner>,
}

/// One thread runs every check. The checks wait on the network, not on the CPU; and on one
/// thread the memory that finished plans free is reused for their results, where each worker
/// thread (one a core) allocates from a heap of its own. A catalog of 10,000 entries ran no
/// slower, and peaked lower, on one thread than on two workers.
pub fn runtime() -> Result<tokio::runtime::Runtime, Stop> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Stop::cannot_run(format!("cannot start the async runtime: {e}")))
}

/// Discover the context: flags, then the environment and its file, then IMDS.
pub fn context_from(check: &CheckArgs, runtime: &tokio::runtime::Runtime) -> Context {
    let args = &check.context;
    let mut warnings = Vec::new();
    let file = discover::vars::read_env_file(&args.env_file, &mut warnings);
    let vars = discover::Variables::new(std::env::vars(), file, &mut warnings);
    let imds = (!args.offline).then(|| runtime.block_on(discover::imds::discover()));
    let given = &check.scenario;
    let mut ctx = discover::discover(args, &vars, imds, warnings);
    ctx.scenarios = scenarios_of(given, &ctx);
    let homes = std::env::var_os("HOME")
        .map(std::path::PathBuf::from)
        .into_iter()
        .chain([std::path::PathBuf::from("/home/azureuser")]);
    let rstudio = std::path::Path::new("/usr/lib/rstudio-server");
    ctx.notes
        .extend(scenario_hints(&ctx, &homes.collect::<Vec<_>>(), rstudio));
    ctx
}

/// The scenarios a run turns on: `--scenario`'s, and those `--acr` and `--key-vault` imply,
/// each once.
fn scenarios_of(given: &[String], ctx: &Context) -> Vec<String> {
    let implied = [
        ctx.acr.as_ref().map(|_| "registry"),
        ctx.key_vault.as_ref().map(|_| "keyvault"),
    ];
    let mut names: Vec<String> = Vec::new();
    let named = given.iter().map(|n| n.trim().to_ascii_lowercase());
    for name in named.chain(implied.into_iter().flatten().map(str::to_string)) {
        if !name.is_empty() && !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// Where the node shows that a scenario not turned on applies: a note that names the flag.
/// Only whether a directory exists is looked at, never what it holds.
fn scenario_hints(
    ctx: &Context,
    homes: &[std::path::PathBuf],
    rstudio: &std::path::Path,
) -> Vec<String> {
    let mut notes = Vec::new();
    if !ctx.runs_scenario(Some("vscode")) {
        let installed = homes
            .iter()
            .map(|h| h.join(".vscode-server"))
            .find(|p| p.is_dir());
        if let Some(dir) = installed {
            notes.push(format!(
                "VS Code remote is used on this node ({} exists): --scenario vscode also checks the VS Code server download, the marketplace and the instance's ports 8704-8710 and 8887",
                dir.display()
            ));
        }
    }
    if !ctx.runs_scenario(Some("rstudio")) && rstudio.is_dir() {
        notes.push(format!(
            "RStudio Server is installed on this node ({} exists): --scenario rstudio also checks the hosts its install needs",
            rstudio.display()
        ));
    }
    notes
}

/// The selected checks, planned for the context.
pub fn plans_for(args: &CheckArgs, ctx: &Context) -> Result<Vec<Plan>, Stop> {
    plans_of(args, ctx, &catalog_for(args)?)
}

/// The built-in catalog and the `--catalog` files.
pub fn catalog_for(args: &CheckArgs) -> Result<Vec<Arc<catalog::Entry>>, Stop> {
    let mut extra = Vec::new();
    for path in &args.catalog {
        let bytes = input::read(path, input::CATALOG_LIMIT)
            .map_err(|e| Stop::usage(format!("--catalog {}: {e}", path.display())))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| Stop::usage(format!("--catalog {}: not UTF-8 text", path.display())))?;
        extra.push((path.display().to_string(), text));
    }
    catalog::load(&extra).map_err(|e| Stop::usage(format!("invalid catalog: {e}")))
}

/// The selected checks of `entries`, planned for the context.
pub fn plans_of(
    args: &CheckArgs,
    ctx: &Context,
    entries: &[Arc<catalog::Entry>],
) -> Result<Vec<Plan>, Stop> {
    let known = catalog::scenarios(entries);
    if let Some(unknown) = ctx
        .scenarios
        .iter()
        .find(|n| *n != "all" && !known.contains(&n.as_str()))
    {
        return Err(Stop::usage(format!(
            "--scenario {unknown}: no such scenario; give one of {} (or all); `amlprobe list` shows what each adds",
            known.join(", ")
        )));
    }
    let plans = plan::plan(entries, ctx, &args.only, &args.skip)
        .map_err(|e| Stop::usage(format!("invalid catalog: {e}")))?;
    if plans.is_empty() {
        return Err(Stop::usage(
            "no check matches --only/--skip; see `amlprobe list` for ids and groups",
        ));
    }
    Ok(plans)
}

/// The format on stdout: the flag, else a table for a person and JSON for a program.
pub fn output_format(args: &CheckArgs) -> Format {
    format_or_default(args.output)
}

/// The format `-o` names, else a table for a person and JSON for a program.
pub(crate) fn format_or_default(flag: Option<Format>) -> Format {
    flag.unwrap_or(if std::io::stdout().is_terminal() {
        Format::Table
    } else {
        Format::Json
    })
}

/// Whether a plan would go through a proxy: TLS, HTTPS and WebSocket checks that run.
fn tunnelled(p: &Plan) -> bool {
    p.skip.is_none() && matches!(p.entry.kind, Kind::Tls | Kind::Https | Kind::Websocket)
}

/// `--report FILE` is opened before any check runs: a path that cannot be written must not
/// cost a whole run. The file is written in full at the end.
pub(crate) fn writable(path: &std::path::Path) -> Result<(), Stop> {
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map(drop)
        .map_err(|e| Stop::cannot_run(format!("--report {}: cannot write: {e}", path.display())))
}

pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

/// Checks hold sockets: take the hard limit on open files rather than the often small soft one.
/// At most `probe::MAX_CONCURRENT_CHECKS` (256) checks are in flight; with `--trace`, at most
/// `traceroute::MAX_TRACED` (16) checks a run trace, each with up to `traceroute::MAX_HOPS` (16)
/// sockets at once in place of its own closed one: 256 sockets more at most, however many
/// checks time out, where uncapped traces could take thousands and fail healthy checks. `mesh`
/// raises it too: its listeners hold a connection a caller, up to 256.
pub fn raise_open_file_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < hard {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
        }
    }
}

impl Setup {
    pub fn new(args: &CheckArgs) -> Result<Setup, Stop> {
        raise_open_file_limit();
        let started = Instant::now();
        let started_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
        let runtime = runtime()?;
        let mut context = context_from(args, &runtime);
        let plans = plans_for(args, &context)?;
        if let Some(path) = &args.report {
            writable(path)?;
        }
        let trust = Trust::load(&args.ca_file)?;
        let resolvers = match args.dns_server.is_empty() {
            true => Resolvers::from_system(args.timeout)?,
            false => Resolvers::from_servers(&args.dns_server, args.timeout)?,
        };
        context.notes.extend(resolvers.notes.iter().cloned());
        // Read last, as `check` always has: a bad proxy is reported after the node's problems.
        let proxy = match Proxy::configure(args.proxy.as_deref(), |k| std::env::var(k).ok()) {
            Ok(proxy) => proxy,
            // A variable no selected check would use does not stop the run; the flag always does.
            Err(e) if args.proxy.is_none() && !plans.iter().any(tunnelled) => {
                context.notes.push(format!(
                    "{e}; ignored, as no selected check goes through a proxy"
                ));
                None
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(p) = &proxy {
            context.sources.insert(Field::Proxy.key(), p.source.clone());
        }
        let node = Node {
            hostname: hostname(),
            resolvers: resolvers.labels(),
            proxy: proxy.as_ref().map(Proxy::display),
        };
        // Azure DNS is asked beside a custom resolver, to compare their answers.
        let azure_dns = match node.resolvers.contains(&AZURE_DNS.to_string()) {
            true => None,
            false => {
                let azure = std::net::SocketAddr::new(AZURE_DNS.into(), 53);
                Resolvers::from_servers(&[azure], args.timeout).ok()
            }
        };
        let runner = probe::Runner::new(probe::Given {
            resolvers,
            trust,
            timeout: args.timeout,
            proxy,
            azure_dns,
            context: context.clone(),
            udp_wait: args.udp_wait,
            trace: args.trace,
        });
        if args.trace {
            eprintln!(
                "--trace: timed-out checks (at most {}) are traced as they end, about {} s more; each watch round likewise",
                probe::traceroute::MAX_TRACED,
                probe::traceroute::BUDGET.as_secs()
            );
        }
        let runner = Arc::new(runner);
        Ok(Setup {
            runtime,
            started,
            started_at,
            plans,
            node,
            context,
            runner,
        })
    }

    /// Run every check; each result goes to `sink` as soon as it is known. The second value
    /// says whether the sink lost output.
    pub fn run(self, mut sink: Sink) -> (Report, Result<(), Stop>) {
        let Setup {
            runtime,
            started,
            started_at,
            plans,
            node,
            context,
            runner,
        } = self;
        sink.total = plans.len();
        let results = runtime.block_on(probe::run_all(runner.clone(), plans, |r| sink.take(r)));
        let streamed = sink.finish();
        runtime.shutdown_background();
        let context = noting_middlebox(context, runner.middlebox.found());
        let timeout_ms = ms(runner.timeout);
        let report = assemble(started, started_at, timeout_ms, node, context, results);
        (report, streamed)
    }
}

/// The context, with the middlebox the canary found on the path, if it found one.
pub(crate) fn noting_middlebox(
    mut context: Context,
    found: Option<crate::context::Middlebox>,
) -> Context {
    if let Some(found) = found {
        context.notes.push(found.note());
        context.middlebox = Some(found);
    }
    context
}

/// Where results go while the run lasts: a live count for a person at a terminal, and each
/// result as a JSONL line when that is the format.
pub struct Sink {
    total: usize,
    done: usize,
    failing: usize,
    progress: bool,
    jsonl: Option<(Arc<Option<Mutex<Redactor>>>, Lines)>,
}

/// JSONL lines on their way to stdout, written by a thread of their own: a reader slow to take
/// them (a pager) must not hold up the one thread that runs the checks and keeps their deadlines.
pub(crate) struct Lines {
    pub(crate) tx: std::sync::mpsc::Sender<String>,
    /// Says whether output was lost: after the first line that could not be written, later ones
    /// are not tried.
    writer: std::thread::JoinHandle<Result<(), Stop>>,
    /// The reader stopped early (`| head`): no error, but no line is written any more.
    gone: Arc<AtomicBool>,
}

impl Lines {
    pub(crate) fn start() -> Lines {
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let gone = Arc::new(AtomicBool::new(false));
        let closed = gone.clone();
        let writer = std::thread::spawn(move || {
            let mut written = Ok(());
            for line in rx {
                if written.is_ok() && !closed.load(Ordering::Relaxed) {
                    let mut out = std::io::stdout().lock();
                    match out.write_all(line.as_bytes()).and_then(|()| out.flush()) {
                        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                            closed.store(true, Ordering::Relaxed)
                        }
                        result => written = self::written(result),
                    }
                }
            }
            written
        });
        Lines { tx, writer, gone }
    }

    /// Whether the reader of stdout has gone (as far as the lines written so far show).
    pub(crate) fn reader_gone(&self) -> bool {
        self.gone.load(Ordering::Relaxed)
    }

    pub(crate) fn finish(self) -> Result<(), Stop> {
        drop(self.tx);
        self.writer
            .join()
            .unwrap_or_else(|_| Err(Stop::cannot_run("the JSONL writer stopped")))
    }
}

impl Sink {
    pub fn new(format: Format, redactor: Arc<Option<Mutex<Redactor>>>) -> Sink {
        Sink {
            total: 0,
            done: 0,
            failing: 0,
            progress: std::io::stderr().is_terminal(),
            jsonl: (format == Format::Jsonl).then(|| (redactor, Lines::start())),
        }
    }

    fn take(&mut self, r: &CheckResult) {
        self.done += 1;
        if r.status == Status::Fail {
            self.failing += 1;
        }
        if let Some((redactor, lines)) = &self.jsonl {
            // The result itself is kept unredacted for the report, which is redacted whole.
            let line = match redactor.as_ref() {
                Some(m) => {
                    let mut r = r.clone();
                    report::redact::redact_result(&mut probe::lock(m), &mut r);
                    report::jsonl_result(&r)
                }
                None => report::jsonl_result(r),
            };
            // The writer ends only when `finish` drops the sender.
            let _ = lines.tx.send(line + "\n");
        }
        if self.progress {
            let (done, total, failing) = (self.done, self.total, self.failing);
            eprint!("\r{done}/{total} done, {failing} failing ");
        }
    }

    /// Clear the count, and wait for every JSONL line to be written; says whether output was
    /// lost.
    fn finish(self) -> Result<(), Stop> {
        if self.progress {
            eprint!("\r\x1b[K");
        }
        self.jsonl.map_or(Ok(()), |(_, lines)| lines.finish())
    }
}

/// The report of a finished run.
pub(crate) fn assemble(
    started: Instant,
    started_at: String,
    timeout_ms: u64,
    node: Node,
    context: Context,
    results: Vec<CheckResult>,
) -> Report {
    Report {
        schema_version: report::SCHEMA_VERSION,
        tool: Tool {
            name: "amlprobe",
            version: env!("CARGO_PKG_VERSION"),
        },
        started_at,
        duration_ms: ms(started.elapsed()),
        timeout_ms,
        node,
        context,
        summary: Summary::of(&results),
        watch: None,
        mesh: None,
        results,
    }
}

/// Redact, keep the JSON where `--report` says, print the chosen format; the exit code.
pub(crate) fn deliver(
    mut report: Report,
    args: &CheckArgs,
    format: Format,
    redactor: &Option<Mutex<Redactor>>,
) -> Result<i32, Stop> {
    // A poisoned lock still redacts: never print what --redact promised to hide.
    if let Some(m) = redactor {
        report::redact::redact(&mut probe::lock(m), &mut report);
    }
    let shown = Shown {
        format,
        report_file: args.report.as_deref(),
        colour: colour(args.no_color),
        strict: args.strict,
    };
    shown.write(&report)?;
    let code = report.summary.exit_code(args.strict);
    let strict = || args.strict.then(|| report.required_not_run()).flatten();
    match report.untested().or_else(strict) {
        // A failure says more than the skips around it.
        Some(why) if code == EXIT_OK => Err(Stop::usage(why)),
        _ => Ok(code),
    }
}

/// Colour on stdout: a terminal, and neither `--no-color` nor `NO_COLOR`.
pub(crate) fn colour(no_color: bool) -> bool {
    !no_color
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::io::stdout().is_terminal()
}

/// How a finished report is shown: the format on stdout, the `--report` file, colour, and
/// whether warnings fail (JUnit marks them so).
pub(crate) struct Shown<'a> {
    pub format: Format,
    pub report_file: Option<&'a std::path::Path>,
    pub colour: bool,
    pub strict: bool,
}

impl Shown<'_> {
    /// Keep the JSON where `--report` says and print the format. With JSONL the result lines
    /// went out as the checks finished: only the summary is left. A file that could not be
    /// written does not cost the report on stdout: it is printed, then the file's error told.
    pub(crate) fn write(&self, report: &Report) -> Result<(), Stop> {
        let kept = match self.report_file {
            Some(path) => std::fs::File::create(path)
                .and_then(|file| report.write_json(file))
                .map_err(|e| {
                    Stop::cannot_run(format!("--report {}: cannot write: {e}", path.display()))
                }),
            None => Ok(()),
        };
        self.print(report)?;
        kept
    }

    /// The chosen format on stdout.
    fn print(&self, report: &Report) -> Result<(), Stop> {
        match self.format {
            Format::Json => written(report.write_json(std::io::stdout().lock())),
            Format::Table => emit(&report::table::render(report, self.colour)),
            Format::Jsonl => emit(&(report::jsonl_summary(report) + "\n")),
            Format::Markdown => emit(&report::markdown::render(report)),
            Format::Junit => emit(&report::junit::render(report, self.strict)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A VS Code server under a home directory, or RStudio Server, is named in a note with
    /// the flag, unless the run has the scenario on; nothing is said when neither is there.
    #[test]
    fn a_node_that_shows_a_scenario_says_so_and_names_the_flag() {
        let dir = std::env::temp_dir().join(format!("amlprobe-hints-{}", std::process::id()));
        let home = dir.join("azureuser");
        let rstudio = dir.join("rstudio-server");
        std::fs::create_dir_all(&home).unwrap();
        let homes = [dir.join("nobody"), home.clone()];
        let mut ctx = Context::default();
        assert!(scenario_hints(&ctx, &homes, &rstudio).is_empty());
        std::fs::create_dir_all(home.join(".vscode-server")).unwrap();
        std::fs::create_dir_all(&rstudio).unwrap();
        let notes = scenario_hints(&ctx, &homes, &rstudio);
        assert_eq!(notes.len(), 2, "{notes:?}");
        let vscode = format!(
            "({}/.vscode-server exists): --scenario vscode",
            home.display()
        );
        assert!(notes[0].contains(&vscode), "{}", notes[0]);
        assert!(notes[1].contains("--scenario rstudio"));
        ctx.acr = Some("myacr".into());
        ctx.scenarios = scenarios_of(&[" VSCode".into(), "rstudio".into(), "".into()], &ctx);
        assert_eq!(ctx.scenarios, ["vscode", "rstudio", "registry"]);
        assert!(scenario_hints(&ctx, &homes, &rstudio).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
