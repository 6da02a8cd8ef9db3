//! The binary under test, run inside the namespace as a user would: its command lines for
//! `list` and `check`, and one run's outcome.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::sandbox::Sandbox;
use super::scenario::{Launch, ProxySpec, ProxyVia, Resolver, Scenario, Trust};
use super::servers::fixture;
use super::world::{Target, DEAD_DNS_ADDR, DNS_ADDR, DOWN_PROXY_ADDR, PROXY_ADDR, PROXY_PASSWORD};

/// The binary under test; the benchmark points this at a release build.
pub fn amlprobe() -> String {
    std::env::var("AMLPROBE_SIM_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_amlprobe").to_string())
}

/// A scenario's probe in its sandbox, trusting the test CA `ca`.
pub struct Probe<'a> {
    pub sb: &'a Sandbox,
    pub sc: &'a Scenario,
    pub ca: &'a Path,
}

/// What one run showed.
pub struct Outcome {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub wall: Duration,
    /// Where `--report` (or the hook) wrote the report.
    pub report_file: PathBuf,
    /// The command, for the benchmark to repeat.
    pub cmd: Command,
    /// The most resident memory the run took (KiB), where the scenario bounds it.
    pub peak_kib: Option<u64>,
}

/// What would be checked, asked inside the namespace as the probe itself will ask.
pub fn list(sb: &Sandbox, sc: &Scenario) -> Vec<Target> {
    let out = command(sb, sc, Subcommand::List)
        .args(["-o", "json"])
        .output()
        .expect("amlprobe list");
    assert!(
        out.status.success(),
        "amlprobe list: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("list output is a JSON list of entries")
}

/// The probe's subcommands the scenarios use.
#[derive(Clone, Copy)]
enum Subcommand {
    List,
    Check,
}

impl Subcommand {
    fn arg(self) -> &'static str {
        match self {
            Subcommand::List => "list",
            Subcommand::Check => "check",
        }
    }
}

/// Arguments and environment shared by `list` and the run, so both see the same context.
fn command(sb: &Sandbox, sc: &Scenario, subcommand: Subcommand) -> Command {
    let mut cmd = match (subcommand, sc.launch()) {
        (Subcommand::Check, Launch::Hook(policy)) => {
            let hook =
                Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/azureml-setup-hook.sh");
            let mut cmd = sb.command("bash");
            cmd.arg(hook)
                .env("AMLPROBE_SOURCE", amlprobe())
                .env("AMLPROBE_POLICY", policy.arg())
                .env("AMLPROBE_LOG_DIR", sb.dir.join("log"))
                .env("AMLPROBE_INSTALL_DIR", sb.dir.join("bin"));
            cmd
        }
        (Subcommand::Check, Launch::Chroot) => {
            let mut cmd = sb.command("chroot");
            cmd.arg(sb.dir.join("root")).args(["/amlprobe", "check"]);
            cmd
        }
        // `list` never needs the hook or the empty root.
        (Subcommand::Check, Launch::Direct) if sc.explain.is_some() => {
            let mut cmd = sb.command(&amlprobe());
            cmd.arg("explain").args(&sc.explain).arg("--run");
            cmd
        }
        (sub @ Subcommand::List, Launch::Direct | Launch::Hook(_) | Launch::Chroot)
        | (sub @ Subcommand::Check, Launch::Direct) => {
            let mut cmd = sb.command(&amlprobe());
            cmd.arg(sub.arg());
            cmd
        }
    };
    if let Subcommand::List = subcommand {
        for id in &sc.explain_checks {
            cmd.args(["--only", id]);
        }
        // `explain --run` turns on the scenarios of the checks it picks.
        if !sc.explain_checks.is_empty() {
            cmd.args(["--scenario", "all"]);
        }
    }
    cmd.args(&sc.args);
    for var in [
        "CI_NAME",
        "HTTPS_PROXY",
        "https_proxy",
        "NO_PROXY",
        "no_proxy",
        "NO_COLOR",
    ] {
        cmd.env_remove(var);
    }
    // A home of the sandbox's: what the developer's holds (a VS Code server) is not the node's.
    cmd.env("HOME", &sb.dir);
    cmd.envs(&sc.env);
    let env_file = match &sc.env_file {
        Some(f) => fixture(f),
        None => "/nonexistent/environment.sso".into(),
    };
    cmd.args(["--env-file", &env_file]);
    if let Some(c) = &sc.catalog {
        cmd.args(["--catalog", &fixture(c)]);
    }
    if sc.generate_catalog.is_some() {
        cmd.arg("--catalog").arg(sb.dir.join("generated.toml"));
    }
    cmd
}

impl Probe<'_> {
    /// The probe's command line for a run, in one output format.
    pub fn check(&self, format: &str) -> Command {
        let sc = self.sc;
        let mut cmd = command(self.sb, sc, Subcommand::Check);
        cmd.args(["--timeout", &sc.timeout.text]);
        match sc.launch() {
            // The hook chooses its own formats.
            Launch::Hook(_) => {}
            Launch::Direct | Launch::Chroot => {
                cmd.args(["-o", format]);
            }
        }
        match sc.resolver {
            Resolver::ResolvConf => {}
            Resolver::Flag => {
                cmd.args(["--dns-server", DNS_ADDR]);
            }
            Resolver::Fallback => {
                cmd.args(["--dns-server", DEAD_DNS_ADDR, "--dns-server", DNS_ADDR]);
            }
        }
        if let Some(spec) = &sc.proxy {
            proxy(&mut cmd, spec);
        }
        match (sc.launch(), sc.trust) {
            (Launch::Chroot, _) => {
                cmd.args(["--ca-file", "/ca.pem"]);
            }
            (Launch::Direct | Launch::Hook(_), Trust::Flag) => {
                cmd.env("SSL_CERT_FILE", "/nonexistent/ca.pem")
                    .arg("--ca-file")
                    .arg(self.ca);
            }
            (Launch::Direct | Launch::Hook(_), Trust::Env) => {
                cmd.env("SSL_CERT_FILE", self.ca);
            }
        }
        cmd
    }

    /// Runs the probe once in the scenario's output format, keeping its report.
    pub fn run(&self) -> Outcome {
        let mut cmd = self.check(self.sc.output.arg());
        let report_file = match self.sc.launch() {
            Launch::Hook(_) => self.sb.dir.join("log/report.json"),
            // Inside the empty root, the report goes to its top.
            Launch::Chroot => {
                cmd.args(["--report", "/report.json"]);
                self.sb.dir.join("root/report.json")
            }
            Launch::Direct => {
                let path = self.sb.dir.join("report.json");
                cmd.arg("--report").arg(&path);
                path
            }
        };
        let stats = self.sb.dir.join("peak.txt");
        let started = Instant::now();
        let mut measuring = self.sc.max_rss_mib.map(|_| measured(&cmd, &stats));
        let run = measuring.as_mut().unwrap_or(&mut cmd);
        let out = match self.sc.slow_reader_ms {
            Some(ms) => {
                let child = run
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("run amlprobe");
                std::thread::sleep(Duration::from_millis(ms));
                child.wait_with_output()
            }
            None => run.output(),
        }
        .expect("run amlprobe");
        Outcome {
            wall: started.elapsed(),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).to_string(),
            report_file,
            cmd,
            peak_kib: peak_kib(&stats),
        }
    }

    /// The table a person would see, to look at a scenario.
    pub fn show_table(&self) -> String {
        let out = self.check("table").output().expect("run amlprobe");
        String::from_utf8_lossy(&out.stdout).to_string()
    }
}

/// `cmd` run by `wrapper`, which names it last: its program, arguments and environment.
pub fn wrapped(mut wrapper: Command, cmd: &Command) -> Command {
    wrapper.arg(cmd.get_program()).args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => wrapper.env(k, v),
            None => wrapper.env_remove(k),
        };
    }
    wrapper
}

/// Runs the command given after `stats` and writes to `stats` the most resident memory it took
/// (KiB, as GNU time writes it). Linux counts in a program's peak the memory of the process it
/// was started from, so the tests, a large process, do not start the probe themselves.
const MEASURE: &str = "import resource, subprocess, sys
code = subprocess.run(sys.argv[2:]).returncode
with open(sys.argv[1], 'w') as f:
    f.write('%d\\n' % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(code)";

/// `cmd` under python3 (which the scenarios need anyway), writing its peak memory to `stats`.
pub fn measured(cmd: &Command, stats: &Path) -> Command {
    let mut python = Command::new("python3");
    python.args(["-c", MEASURE]).arg(stats);
    wrapped(python, cmd)
}

/// The last line `stats` holds: a peak memory in KiB.
pub fn peak_kib(stats: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(stats).unwrap_or_default();
    text.lines()
        .last()
        .and_then(|l| l.trim().parse::<u64>().ok())
}

/// The proxy, with credentials in its URL if the scenario sends them.
fn proxy(cmd: &mut Command, spec: &ProxySpec) {
    let creds = if spec.auth && spec.send_credentials {
        format!("amlprobe:{PROXY_PASSWORD}@")
    } else {
        String::new()
    };
    let at = if spec.down {
        DOWN_PROXY_ADDR
    } else {
        PROXY_ADDR
    };
    let url = format!("http://{creds}{at}:3128");
    match spec.via {
        ProxyVia::Flag => {
            cmd.args(["--proxy", &url]);
        }
        ProxyVia::Env => {
            cmd.env("HTTPS_PROXY", &url);
        }
    }
    if let Some(np) = &spec.no_proxy {
        cmd.env("NO_PROXY", np);
    }
}
