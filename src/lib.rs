//! amlprobe: checks from an Azure Machine Learning compute node that every endpoint the Azure
//! ML network documents require is reachable, layer by layer, and explains what is not.
#![forbid(unsafe_code)]

pub mod catalog;
pub mod cli;
pub mod context;
pub mod discover;
pub mod plan;
pub mod probe;
pub mod report;
pub mod result;
pub mod verdict;

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use clap::Parser;

use cli::{CheckArgs, Cli, Command, Format};
use context::Context;
use plan::Plan;
use report::{Node, Report, Summary, Tool};
use verdict::{Reason, Subject};

/// Exit codes of the public interface.
pub const EXIT_OK: i32 = 0;
pub const EXIT_FAILED: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_CANNOT_RUN: i32 = 3;

/// A problem that stops the run before any check: bad input (2) or an unusable node (3).
#[derive(Debug)]
pub struct Stop {
    pub code: i32,
    pub message: String,
}

fn usage(message: impl Into<String>) -> Stop {
    Stop {
        code: EXIT_USAGE,
        message: message.into(),
    }
}

fn cannot_run(message: impl Into<String>) -> Stop {
    Stop {
        code: EXIT_CANNOT_RUN,
        message: message.into(),
    }
}

pub fn main_with_args<I: IntoIterator<Item = OsString>>(args: I) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return EXIT_OK;
            }
            // clap's message, on one line: what is wrong, then where to read more.
            let rendered = e.render().to_string();
            let first = rendered.lines().next().unwrap_or("invalid usage");
            eprintln!(
                "amlprobe: {} (see amlprobe --help)",
                first.trim_start_matches("error: ")
            );
            return EXIT_USAGE;
        }
    };
    let outcome = match cli.command {
        None => check(&cli.check),
        Some(Command::Check(args)) => check(&args),
        Some(Command::List(args)) => list(&args),
        Some(Command::Explain { reason }) => explain(&reason),
        Some(Command::Completions { shell }) => {
            use clap::CommandFactory;
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "amlprobe", &mut out);
            emit(&String::from_utf8_lossy(&out));
            Ok(EXIT_OK)
        }
        Some(Command::Man) => {
            use clap::CommandFactory;
            let mut out = Vec::new();
            match clap_mangen::Man::new(Cli::command()).render(&mut out) {
                Ok(()) => {
                    emit(&String::from_utf8_lossy(&out));
                    Ok(EXIT_OK)
                }
                Err(e) => Err(cannot_run(format!("cannot render the manual page: {e}"))),
            }
        }
    };
    match outcome {
        Ok(code) => code,
        Err(stop) => {
            eprintln!("amlprobe: {}", stop.message);
            stop.code
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Stop> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| cannot_run(format!("cannot start the async runtime: {e}")))
}

/// Discover the context: flags, then the environment and its file, then IMDS.
fn context_from(args: &CheckArgs, runtime: &tokio::runtime::Runtime) -> Context {
    let flags = discover::Flags {
        region: args.region.clone(),
        cloud: args.cloud,
        mode: args.mode,
        workspace_id: args.workspace_id.clone(),
        storage_account: args.storage_account.clone(),
        compute_name: args.compute_name.clone(),
        compute_type: args.compute_type,
    };
    let mut warnings = Vec::new();
    let path = args.env_file.display().to_string();
    let file = match std::fs::read(&args.env_file) {
        Ok(bytes) => Some((path.as_str(), String::from_utf8_lossy(&bytes).into_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            warnings.push(format!("{path}: cannot read ({e}); ignored"));
            None
        }
    };
    let vars = discover::Variables::new(std::env::vars(), file, &mut warnings);
    let imds = (!args.offline).then(|| runtime.block_on(probe::imds::discover()));
    discover::discover(&flags, &vars, imds, warnings)
}

fn plans_for(args: &CheckArgs, ctx: &Context) -> Result<Vec<Plan>, Stop> {
    let mut extra = Vec::new();
    for path in &args.catalog {
        let text = std::fs::read_to_string(path)
            .map_err(|e| usage(format!("--catalog {}: cannot read: {e}", path.display())))?;
        extra.push((path.display().to_string(), text));
    }
    let entries = catalog::load(&extra).map_err(|e| usage(format!("invalid catalog: {e}")))?;
    let plans = plan::plan(&entries, ctx, &args.only, &args.skip);
    if plans.is_empty() {
        return Err(usage(
            "no check matches --only/--skip; see `amlprobe list` for ids and groups",
        ));
    }
    Ok(plans)
}

fn output_format(args: &CheckArgs) -> Format {
    args.output.unwrap_or(if std::io::stdout().is_terminal() {
        Format::Table
    } else {
        Format::Json
    })
}

fn colour(args: &CheckArgs) -> bool {
    !args.no_color
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::io::stdout().is_terminal()
}

/// Write to stdout; a closed pipe (`| head`) is not an error worth a panic.
fn emit(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

/// Checks hold sockets: take the hard limit on open files rather than the often small soft one.
fn raise_open_file_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < hard {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
        }
    }
}

fn check(args: &CheckArgs) -> Result<i32, Stop> {
    raise_open_file_limit();
    let started = Instant::now();
    let started_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let runtime = runtime()?;
    let ctx = context_from(args, &runtime);
    let plans = plans_for(args, &ctx)?;
    let trust = probe::tls::Trust::load(&args.ca_file).map_err(|m| {
        if args.ca_file.is_empty() {
            cannot_run(m)
        } else {
            usage(m)
        }
    })?;
    let resolvers = if args.dns_server.is_empty() {
        probe::dns::Resolvers::from_system(args.timeout).map_err(cannot_run)?
    } else {
        probe::dns::Resolvers::from_servers(&args.dns_server, args.timeout).map_err(cannot_run)?
    };
    let format = output_format(args);
    let proxy = probe::proxy::Proxy::configure(args.proxy.as_deref()).map_err(usage)?;
    let node = Node {
        hostname: hostname(),
        resolvers: resolvers.labels(),
        proxy: proxy.as_ref().map(probe::proxy::Proxy::display),
    };
    let mut ctx = ctx;
    if let Some(p) = &proxy {
        ctx.sources.insert("proxy", p.source.clone());
    }
    let azure = std::net::SocketAddr::new(probe::private_endpoint::AZURE_DNS.into(), 53);
    let azure_dns = if node
        .resolvers
        .contains(&probe::private_endpoint::AZURE_DNS.to_string())
    {
        None
    } else {
        probe::dns::Resolvers::from_servers(&[azure], args.timeout).ok()
    };
    let env = Arc::new(probe::Runner::new(
        resolvers,
        trust,
        args.timeout,
        proxy,
        azure_dns,
        ctx.clone(),
        args.udp_wait,
    ));

    let total = plans.len();
    let redactor = args
        .redact
        .then(|| std::sync::Mutex::new(report::redact::Redactor::new(&ctx, &node)));
    let redactor = Arc::new(redactor);
    let results = runtime.block_on(async {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<result::CheckResult>();
        let streaming = format == Format::Jsonl;
        // A live count on stderr, only for a person watching a terminal.
        let progress = std::io::stderr().is_terminal();
        let redactor = redactor.clone();
        let printer = tokio::spawn(async move {
            let (mut done, mut failing) = (0, 0);
            while let Some(mut r) = rx.recv().await {
                done += 1;
                if r.status == verdict::Status::Fail {
                    failing += 1;
                }
                if streaming {
                    if let Some(Ok(mut red)) = redactor.as_ref().as_ref().map(|m| m.lock()) {
                        report::redact::redact_result(&mut red, &mut r);
                    }
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "{}", report::jsonl_result(&r));
                    let _ = out.flush();
                }
                if progress {
                    eprint!("\r{done}/{total} done, {failing} failing ");
                }
            }
            if progress {
                eprint!("\r\x1b[K");
            }
        });
        let results = probe::run_all(env, plans, Some(tx)).await;
        let _ = printer.await;
        results
    });
    runtime.shutdown_background();

    let summary = Summary::of(&results);
    let mut report = Report {
        schema_version: report::SCHEMA_VERSION,
        tool: Tool {
            name: "amlprobe",
            version: env!("CARGO_PKG_VERSION"),
        },
        started_at,
        duration_ms: started.elapsed().as_millis() as u64,
        timeout_ms: args.timeout.as_millis() as u64,
        node,
        context: ctx,
        summary,
        results,
    };
    if let Some(Ok(mut red)) = redactor.as_ref().as_ref().map(|m| m.lock()) {
        report::redact::redact(&mut red, &mut report);
    }
    if let Some(path) = &args.report {
        std::fs::write(path, report.to_json() + "\n")
            .map_err(|e| cannot_run(format!("--report {}: cannot write: {e}", path.display())))?;
    }
    let text = match format {
        Format::Table => report::table::render(&report, colour(args)),
        Format::Json => report.to_json() + "\n",
        Format::Jsonl => report::jsonl_summary(&report) + "\n",
        Format::Markdown => report::markdown::render(&report),
        Format::Junit => report::junit::render(&report, args.strict),
    };
    emit(&text);
    Ok(summary.exit_code(args.strict))
}

#[derive(serde::Serialize)]
struct Listed<'a> {
    id: &'a str,
    group: &'a str,
    title: &'a str,
    required: bool,
    kind: catalog::Kind,
    target: result::Target,
    #[serde(skip_serializing_if = "Option::is_none")]
    stands_for: Option<&'a str>,
    /// The host was only chosen to stand for the wildcard.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stand_in: bool,
    /// Where a host the node named came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    host_source: Option<&'a str>,
    /// The URL whose redirect names the host probed instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    redirect_from: Option<&'a str>,
    /// For private-endpoint names: the host whose address this one must share.
    #[serde(skip_serializing_if = "Option::is_none")]
    same_address_as: Option<&'a str>,
    /// Probed only when the host answers a private address.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    private_only: bool,
    /// For private-endpoint names: the zone the answer must come through.
    #[serde(skip_serializing_if = "Option::is_none")]
    privatelink: Option<&'a str>,
    /// The flags that fill this check's host.
    needs: Vec<&'static str>,
    /// Why it would be skipped, if it would.
    #[serde(skip_serializing_if = "Option::is_none")]
    skip: Option<String>,
    doc: &'a str,
}

fn list(args: &CheckArgs) -> Result<i32, Stop> {
    let runtime = runtime()?;
    let ctx = context_from(args, &runtime);
    runtime.shutdown_background();
    let plans = plans_for(args, &ctx)?;
    let listed: Vec<Listed> = plans
        .iter()
        .map(|p| Listed {
            id: &p.entry.id,
            group: &p.entry.group,
            title: &p.entry.title,
            required: p.required,
            kind: p.entry.kind,
            target: result::Target {
                host: p.host.clone(),
                port: p.entry.port,
                transport: p.entry.transport,
            },
            stands_for: p.stands_for.as_deref(),
            stand_in: p.stand_in,
            host_source: p.host_source.as_deref(),
            redirect_from: p.redirect_from.as_deref(),
            same_address_as: p.same_address_as.as_deref(),
            private_only: p.entry.private_only,
            privatelink: p.privatelink.as_deref(),
            needs: p.entry.host.needs().map(|n| n.input().flag()).collect(),
            skip: p
                .skip
                .as_ref()
                .map(|f| format!("{}: {}", f.reason(), f.message())),
            doc: &p.entry.doc,
        })
        .collect();
    let text = match output_format(args) {
        Format::Json | Format::Jsonl => {
            serde_json::to_string_pretty(&listed).unwrap_or_default() + "\n"
        }
        Format::Table | Format::Markdown | Format::Junit => {
            let w = listed.iter().map(|l| l.id.len()).max().unwrap_or(2);
            let mut s = String::new();
            for l in &listed {
                let target = match l.target.port {
                    Some(p) => format!("{}:{p}/{}", l.target.host, l.target.transport),
                    None => l.target.host.clone(),
                };
                s.push_str(&format!("{:w$}  {:9}  {}", l.id, l.kind.as_str(), target));
                if let Some(skip) = &l.skip {
                    s.push_str(&format!("  (skip: {skip})"));
                }
                s.push('\n');
            }
            s
        }
    };
    emit(&text);
    Ok(EXIT_OK)
}

fn explain(code: &str) -> Result<i32, Stop> {
    let Some(reason) = Reason::from_code(code.trim()) else {
        let known: Vec<&str> = Reason::ALL.iter().map(|r| r.code()).collect();
        return Err(usage(format!(
            "unknown reason code '{code}'; known codes: {}",
            known.join(", ")
        )));
    };
    let fix = verdict::remediation(
        reason,
        &Subject {
            host: "<host>",
            port: None,
            transport: "tcp",
            service_tag: None,
            stands_for: None,
            forward_zones: &catalog::forward_zones(context::Cloud::Public).join(", "),
            check: None,
        },
    );
    let mut text = format!(
        "{}  ({})\nmeaning: {}\n",
        reason.code(),
        reason.status().as_str(),
        reason.meaning()
    );
    if !fix.is_empty() {
        text.push_str(&format!("fix:     {fix}\n"));
    }
    let doc = reason.doc();
    if !doc.is_empty() {
        text.push_str(&format!("see:     {doc}\n"));
    }
    emit(&text);
    Ok(EXIT_OK)
}
