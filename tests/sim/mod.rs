//! Plays a scenario file in a sealed network namespace that stands in for an Azure region:
//! dnsmasq answers the catalog's names with addresses on the namespace's loopback, nginx
//! serves TLS with certificates from a test CA, socat listens for UDP, and nftables rules on
//! the input hook drop, reset or reject. Then it runs the compiled binary inside the namespace
//! and checks every result against the scenario's expectations.
//!
//! Every packet stays inside the namespace: it has only `lo`, and no route leaves it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;

const DNS_ADDR: &str = "10.77.0.53";
const SERVFAIL_DNS_ADDR: &str = "10.77.0.54";
const DEAD_DNS_ADDR: &str = "10.77.0.99";
const PROXY_ADDR: &str = "10.77.0.80";
const DOWN_PROXY_ADDR: &str = "10.77.0.81";
const PROXY_PASSWORD: &str = "s3cret-proxy-pass";
const IMDS_ADDR: &str = "169.254.169.254";
const AZURE_DNS_ADDR: &str = "168.63.129.16";
const WS_BACKEND_PORT: u16 = 9001;
const WS_AUTH_BACKEND_PORT: u16 = 9002;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub description: String,
    #[serde(default)]
    pub args: Vec<String>,
    pub timeout: String,
    /// `resolv.conf` (default): the namespace's resolv.conf names the DNS server.
    /// `flag`: resolv.conf names a dead server and `--dns-server` the real one.
    /// `fallback`: `--dns-server` lists a dead server first, then the real one.
    #[serde(default)]
    pub resolver: Option<String>,
    /// `env` (default): trust via SSL_CERT_FILE; `flag`: via --ca-file.
    #[serde(default)]
    pub trust: Option<String>,
    /// How UDP listeners behave: `silent` (default) or `echo`.
    #[serde(default)]
    pub udp: Option<String>,
    #[serde(default)]
    pub output: Option<String>,
    #[serde(default)]
    pub max_wall_ms: Option<u64>,
    pub exit: i32,
    #[serde(default)]
    pub proxy: Option<ProxySpec>,
    /// A metadata service at 169.254.169.254 serving a fixture from tests/fixtures/imds/.
    #[serde(default)]
    pub imds: Option<ImdsSpec>,
    /// A second DNS server at 168.63.129.16 playing Azure DNS with the privatelink zones.
    #[serde(default)]
    pub azure_dns: bool,
    /// Environment variables for the probe (and `list`), as a compute node would have them.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// `--env-file`, a fixture under tests/fixtures/.
    #[serde(default)]
    pub env_file: Option<String>,
    /// `--catalog`, a fixture under tests/fixtures/.
    #[serde(default)]
    pub catalog: Option<String>,
    /// The `ID=` of the namespace's /etc/os-release.
    #[serde(default)]
    pub os_release: Option<String>,
    /// Run through packaging/azureml-setup-hook.sh with this AMLPROBE_POLICY (`fail`, `record`).
    #[serde(default)]
    pub hook: Option<String>,
    /// Run the static binary (AMLPROBE_STATIC_BIN) in a chroot holding only it, a resolv.conf
    /// and a CA bundle.
    #[serde(default)]
    pub chroot: bool,
    /// Add a generated catalog of this many TCP entries (group `scale`) over 50 hosts.
    #[serde(default)]
    pub generate_catalog: Option<usize>,
    /// Also run with --redact in every format and look for leaks.
    #[serde(default)]
    pub redact_check: bool,
    /// The customer's DNS answers NXDOMAIN for names it has no record of in Azure's and the
    /// package hosts' zones, as public DNS does (otherwise it refuses them).
    #[serde(default)]
    pub real_dns: bool,
    /// The data host the registry redirects blob downloads to (served too); without it the
    /// registry answers 404 and no redirect comes.
    #[serde(default)]
    pub registry_redirect: Option<String>,
    /// Extra (dummy) interfaces and their address, as the node's NICs.
    #[serde(default)]
    pub interfaces: BTreeMap<String, String>,
    #[serde(default)]
    pub fault: Vec<Fault>,
    pub expect: Expect,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImdsSpec {
    /// File under tests/fixtures/imds/.
    pub document: String,
    /// `serve` (default), `slow` (never answers) or `garbage` (not HTTP).
    #[serde(default = "serve")]
    pub mode: String,
}

fn serve() -> String {
    "serve".into()
}

/// A forward proxy (tinyproxy) in the namespace, or one that is down.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxySpec {
    /// `flag` (--proxy URL) or `env` (HTTPS_PROXY).
    pub via: String,
    #[serde(default)]
    pub auth: bool,
    /// Hosts the proxy refuses to CONNECT to.
    #[serde(default)]
    pub deny: Vec<String>,
    #[serde(default)]
    pub no_proxy: Option<String>,
    /// Nothing listens at the proxy's address.
    #[serde(default)]
    pub down: bool,
    /// With `auth`: put the credentials in the proxy URL (default) or leave them out.
    #[serde(default)]
    pub send_credentials: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// The check whose endpoint gets the fault; absent with `all = true`.
    #[serde(default)]
    pub check: Option<String>,
    #[serde(default)]
    pub all: bool,
    /// With `all = true`: only every Nth endpoint (a third of them with 3).
    #[serde(default)]
    pub every: Option<usize>,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// For every result not listed in `check`; absent = every result must be listed.
    #[serde(default)]
    pub default: Option<Want>,
    #[serde(default)]
    pub check: Vec<Want>,
    #[serde(default)]
    pub summary: Option<BTreeMap<String, u64>>,
    /// Values of the report's `context`, by dotted path (`sources.region`).
    #[serde(default)]
    pub context: BTreeMap<String, String>,
    /// Strings some `context.warnings` entry must contain.
    #[serde(default)]
    pub warnings_contain: Vec<String>,
    /// Strings `context.notes` must contain.
    #[serde(default)]
    pub notes_contain: Vec<String>,
    /// Strings that must appear nowhere in the report (values that are not the workspace's).
    #[serde(default)]
    pub report_lacks: Vec<String>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct Want {
    #[serde(default)]
    pub id: Option<String>,
    pub status: String,
    pub reason: String,
    #[serde(default)]
    pub tested: Option<String>,
    #[serde(default)]
    pub message_contains: Vec<String>,
    #[serde(default)]
    pub remediation_contains: Vec<String>,
    #[serde(default)]
    pub cnames_contain: Option<String>,
    #[serde(default)]
    pub server: Option<String>,
    /// Whether the check went through the proxy.
    #[serde(default)]
    pub proxied: Option<bool>,
    #[serde(default)]
    pub http_status: Option<u16>,
    #[serde(default)]
    pub dialect: Option<String>,
    /// The host actually probed (`target.host`).
    #[serde(default)]
    pub host: Option<String>,
    /// Whether the result says its host only stood for a wildcard.
    #[serde(default)]
    pub stand_in: Option<bool>,
}

#[derive(Debug, Clone)]
struct Target {
    id: String,
    host: String,
    port: Option<u16>,
    transport: String,
    kind: String,
    skipped: bool,
    privatelink: Option<String>,
    /// A private-endpoint name that must answer this other host's address.
    same_address_as: Option<String>,
    /// An HTTPS URL whose redirect names the host to probe.
    redirect_from: Option<String>,
}

/// Owns the namespace and every process and file of a scenario; dropping it removes them all,
/// whether the test passed or panicked.
struct Sandbox {
    netns: String,
    dir: PathBuf,
    children: Vec<Child>,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        use nix::sys::signal::{kill, Signal};
        use nix::unistd::Pid;
        // Ask politely first (nginx's master takes its workers down on TERM), then make sure:
        // every process still inside the namespace is killed before it is deleted.
        for c in &self.children {
            let _ = kill(Pid::from_raw(c.id() as i32), Signal::SIGTERM);
        }
        let until = Instant::now() + Duration::from_secs(2);
        for c in &mut self.children {
            while matches!(c.try_wait(), Ok(None)) && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        if let Ok(out) = Command::new("ip")
            .args(["netns", "pids", &self.netns])
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                if let Ok(pid) = pid.parse::<i32>() {
                    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                }
            }
        }
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .status();
        let _ = std::fs::remove_dir_all(format!("/etc/netns/{}", self.netns));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Sandbox {
    fn run(&self, program: &str, args: &[&str]) {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.netns, program])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{program}: {e}"));
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn spawn(&mut self, program: &str, args: &[&str]) {
        let log = std::fs::File::create(
            self.dir
                .join(format!("{program}-{}.log", self.children.len())),
        )
        .expect("log file");
        // Each server in a process group of its own: smbd signals its whole group on exit,
        // which must not reach the test runner.
        let child = Command::new("ip")
            .args(["netns", "exec", &self.netns, program])
            .args(args)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
        self.children.push(child);
    }

    /// The last lines of every server's log, for a failure message.
    fn logs(&self) -> String {
        let mut out = String::new();
        for entry in std::fs::read_dir(&self.dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "log") {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(5).collect();
                let _ = writeln!(
                    out,
                    "{}: {}",
                    path.display(),
                    tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
                );
            }
        }
        out
    }

    /// Wait until every expected listener shows in `ss`, so the probe never races a server.
    fn wait_for_listeners(&self, want: &BTreeSet<String>) {
        let started = Instant::now();
        loop {
            let out = Command::new("ip")
                .args(["netns", "exec", &self.netns, "ss", "-Hlntu"])
                .output()
                .expect("ss");
            let text = String::from_utf8_lossy(&out.stdout);
            let have: BTreeSet<String> = text
                .lines()
                .filter_map(|l| {
                    let cols: Vec<&str> = l.split_whitespace().collect();
                    Some(format!("{}/{}", cols.first()?, cols.get(4)?))
                })
                .collect();
            let missing: Vec<&String> = want.iter().filter(|w| !have.contains(*w)).collect();
            if missing.is_empty() {
                return;
            }
            if started.elapsed() >= Duration::from_secs(15) {
                panic!(
                    "servers did not come up: missing {missing:?}\n{}",
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Root and the tools are needed; in CI their absence is a failure, elsewhere a printed skip.
fn prerequisites() -> Result<(), String> {
    let is_root = std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false);
    if !is_root {
        return Err("needs root for network namespaces".into());
    }
    for tool in [
        "ip",
        "nft",
        "dnsmasq",
        "nginx",
        "socat",
        "ss",
        "python3",
        "smbd",
        "tinyproxy",
    ] {
        let found = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).exists()))
            .unwrap_or(false)
            || Path::new("/usr/sbin").join(tool).exists();
        if !found {
            return Err(format!("needs {tool} (see .ci/run for the packages)"));
        }
    }
    Ok(())
}

fn scenario_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scenarios")
        .join(format!("{name}.toml"))
}

pub fn load(name: &str) -> Scenario {
    let path = scenario_path(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The binary under test; the benchmark points this at a release build.
fn amlprobe() -> String {
    std::env::var("AMLPROBE_SIM_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_amlprobe").to_string())
}

/// Arguments and environment shared by `list` and the run, so both see the same context.
fn probe_command(sb: &Sandbox, sc: &Scenario, subcommand: &str) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &sb.netns]);
    match (subcommand, &sc.hook, sc.chroot) {
        ("check", Some(policy), _) => {
            let hook =
                Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/azureml-setup-hook.sh");
            cmd.args(["bash", &hook.display().to_string()]);
            cmd.env("AMLPROBE_SOURCE", amlprobe())
                .env("AMLPROBE_POLICY", policy)
                .env("AMLPROBE_LOG_DIR", sb.dir.join("log"))
                .env("AMLPROBE_INSTALL_DIR", sb.dir.join("bin"));
        }
        ("check", None, true) => {
            let root = sb.dir.join("root").display().to_string();
            cmd.args(["chroot", &root, "/amlprobe", "check"]);
        }
        _ => {
            cmd.args([amlprobe().as_str(), subcommand]);
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
    for (k, v) in &sc.env {
        cmd.env(k, v);
    }
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

/// The probe's command line for a scenario, in one output format.
fn run_command(sb: &Sandbox, sc: &Scenario, ca: &Path, format: &str) -> Command {
    let mut cmd = probe_command(sb, sc, "check");
    cmd.args(["--timeout", &sc.timeout]);
    if sc.hook.is_none() {
        cmd.args(["-o", format]);
    }
    match sc.resolver.as_deref() {
        Some("flag") => {
            cmd.args(["--dns-server", DNS_ADDR]);
        }
        Some("fallback") => {
            cmd.args(["--dns-server", DEAD_DNS_ADDR, "--dns-server", DNS_ADDR]);
        }
        _ => {}
    }
    if let Some(spec) = &sc.proxy {
        let creds = if spec.auth && spec.send_credentials != Some(false) {
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
        match spec.via.as_str() {
            "flag" => {
                cmd.args(["--proxy", &url]);
            }
            "env" => {
                cmd.env("HTTPS_PROXY", &url);
            }
            other => panic!("proxy via {other}: use flag or env"),
        }
        if let Some(np) = &spec.no_proxy {
            cmd.env("NO_PROXY", np);
        }
    }
    match sc.trust.as_deref() {
        _ if sc.chroot => {
            cmd.args(["--ca-file", "/ca.pem"]);
        }
        Some("flag") => {
            cmd.env("SSL_CERT_FILE", "/nonexistent/ca.pem")
                .arg("--ca-file")
                .arg(ca);
        }
        _ => {
            cmd.env("SSL_CERT_FILE", ca);
        }
    }
    cmd
}

fn list_targets(sb: &Sandbox, sc: &Scenario) -> Vec<Target> {
    let out = probe_command(sb, sc, "list")
        .args(["-o", "json"])
        .output()
        .expect("amlprobe list");
    assert!(
        out.status.success(),
        "amlprobe list: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("list output is JSON");
    v.as_array()
        .expect("a list")
        .iter()
        .map(|t| Target {
            id: t["id"].as_str().unwrap_or_default().into(),
            host: t["target"]["host"].as_str().unwrap_or_default().into(),
            port: t["target"]["port"].as_u64().map(|p| p as u16),
            transport: t["target"]["transport"].as_str().unwrap_or_default().into(),
            kind: t["kind"].as_str().unwrap_or_default().into(),
            skipped: t.get("skip").is_some(),
            privatelink: t["privatelink"].as_str().map(String::from),
            same_address_as: t["same_address_as"].as_str().map(String::from),
            redirect_from: t["redirect_from"].as_str().map(String::from),
        })
        .collect()
}

struct Certs {
    /// The trust bundle: the test root and the (trusted) inspection CA.
    ca: PathBuf,
    good: (PathBuf, PathBuf),
    expired: (PathBuf, PathBuf),
    wrong_name: (PathBuf, PathBuf),
    intercepted: (PathBuf, PathBuf),
    untrusted: (PathBuf, PathBuf),
    self_signed: (PathBuf, PathBuf),
}

fn make_certs(dir: &Path, hosts: &[String]) -> Certs {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    let ca = |cn: &str, org: &str| {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, cn);
        p.distinguished_name.push(DnType::OrganizationName, org);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap()
    };
    // The test root stands in for Azure's issuers, so it carries Microsoft's organisation name.
    let root = ca("amlprobe test root", "Microsoft Corporation");
    let inspector = ca("Contoso TLS Inspection CA", "Contoso");
    let stranger = ca("Fabrikam Untrusted CA", "Fabrikam");
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let leaf =
        |name: &str, sans: Vec<String>, issuer: &CertifiedIssuer<'_, KeyPair>, expired: bool| {
            let mut p = CertificateParams::new(sans.clone()).unwrap();
            p.distinguished_name
                .push(DnType::CommonName, sans[0].clone());
            if expired {
                p.not_before = rcgen::date_time_ymd(2020, 1, 1);
                p.not_after = rcgen::date_time_ymd(2021, 1, 1);
            }
            let key = KeyPair::generate().unwrap();
            let cert = p.signed_by(&key, issuer).unwrap();
            (
                write(&format!("{name}.pem"), cert.pem() + &issuer.pem()),
                write(&format!("{name}.key"), key.serialize_pem()),
            )
        };
    Certs {
        ca: write("ca.pem", root.pem() + &inspector.pem()),
        good: leaf("good", hosts.to_vec(), &root, false),
        expired: leaf("expired", hosts.to_vec(), &root, true),
        wrong_name: leaf(
            "wrong-name",
            vec!["elsewhere.example.net".into()],
            &root,
            false,
        ),
        intercepted: leaf("intercepted", hosts.to_vec(), &inspector, false),
        untrusted: leaf("untrusted", hosts.to_vec(), &stranger, false),
        self_signed: {
            let mut p = CertificateParams::new(hosts.to_vec()).unwrap();
            p.distinguished_name
                .push(DnType::CommonName, "self-signed.example.net");
            let key = KeyPair::generate().unwrap();
            let cert = p.self_signed(&key).unwrap();
            (
                write("self-signed.pem", cert.pem()),
                write("self-signed.key", key.serialize_pem()),
            )
        },
    }
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

fn support(script: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/support")
        .join(script)
        .display()
        .to_string()
}

/// Samba's smbd answering SMB on `addr`:445, with all its state under the scenario's folder.
fn start_smbd(sb: &mut Sandbox, dir: &Path, addr: &str) {
    let state = dir.join("samba");
    std::fs::create_dir_all(state.join("ncalrpc")).unwrap();
    let st = state.display();
    let conf = format!(
        "[global]\n  server role = standalone server\n  interfaces = {addr}\n  bind interfaces only = yes\n  \
         smb ports = 445\n  disable netbios = yes\n  pid directory = {st}\n  lock directory = {st}\n  \
         state directory = {st}\n  cache directory = {st}\n  private dir = {st}\n  ncalrpc dir = {st}/ncalrpc\n  \
         log file = {st}/log.%m\n  load printers = no\n  printing = bsd\n  printcap name = /dev/null\n  \
         disable spoolss = yes\n"
    );
    let path = dir.join("smb.conf");
    std::fs::write(&path, conf).unwrap();
    let config = format!("--configfile={}", path.display());
    sb.spawn(
        "smbd",
        &[
            "--foreground",
            "--no-process-group",
            &config,
            "--debug-stdout",
        ],
    );
}

/// tinyproxy as the customer's forward proxy: CONNECT to 443 only, optional Basic auth and
/// denied hosts.
fn start_tinyproxy(sb: &mut Sandbox, dir: &Path, spec: &ProxySpec) {
    let d = dir.display();
    let mut conf = format!(
        "Port 3128\nListen {PROXY_ADDR}\nTimeout 30\nMaxClients 100\nAllow 10.0.0.0/8\nAllow 127.0.0.1\n\
         PidFile \"{d}/tinyproxy.pid\"\nLogLevel Info\nConnectPort 443\n"
    );
    if spec.auth {
        conf.push_str(&format!("BasicAuth amlprobe {PROXY_PASSWORD}\n"));
    }
    if !spec.deny.is_empty() {
        let filter: String = spec
            .deny
            .iter()
            .map(|h| format!("^{}$\n", h.replace('.', "\\.")))
            .collect();
        std::fs::write(dir.join("filter"), filter).unwrap();
        conf.push_str(&format!("Filter \"{d}/filter\"\nFilterExtended Yes\n"));
    }
    let path = dir.join("tinyproxy.conf");
    std::fs::write(&path, conf).unwrap();
    sb.spawn("tinyproxy", &["-d", "-c", &path.display().to_string()]);
}

fn nft_rule(addr: &str, port: Option<u16>, transport: &str, fault: &str) -> Option<String> {
    let port = port
        .map(|p| format!(" {transport} dport {p}"))
        .unwrap_or_default();
    let m = format!("ip daddr {addr}{port}");
    let verdict = match fault {
        "drop" => "drop",
        "reset" => "reject with tcp reset",
        "prohibit" => "reject with icmpx type admin-prohibited",
        "host-unreachable" => "reject with icmpx type host-unreachable",
        "port-unreachable" => "reject with icmpx type port-unreachable",
        _ => return None,
    };
    Some(format!("    {m} {verdict}\n"))
}

const DNS_FAULTS: &[&str] = &[
    "public-address",
    "pe-public",
    "pe-hand-made",
    "pe-no-forwarder",
    "nxdomain",
    "no-records",
    "servfail",
    "refused",
    "cname",
];
const SERVER_FAULTS: &[&str] = &[
    "storage-denied",
    "clock-ahead",
    "intercepted",
    "self-signed",
    "http-503",
    "strip-upgrade",
    "ws-auth",
    "not-smb",
    "hostile-silent",
    "hostile-garbage",
    "hostile-trickle",
    "hostile-endless",
    "block-page",
    "expired",
    "wrong-name",
    "untrusted",
    "not-tls",
    "silent",
    "no-listener",
];
/// Faults played by tests/support/hostile.py on the address and port, rather than by nginx.
const HOSTILE_FAULTS: &[&str] = &[
    "hostile-silent",
    "hostile-garbage",
    "hostile-trickle",
    "hostile-endless",
    "block-page",
    "storage-denied",
    "clock-ahead",
];

/// The zones whose unknown names public DNS answers NXDOMAIN, for `real_dns` scenarios.
const REAL_ZONES: &[&str] = &[
    "azure.com",
    "microsoft.com",
    "microsoftonline.com",
    "azureml.ms",
    "azureml.net",
    "windows.net",
    "azure.net",
    "visualstudio.com",
    "applicationinsights.us",
    "azure.us",
    "usgovcloudapi.net",
    "azure.cn",
    "chinacloudapi.cn",
    "pypi.org",
    "pythonhosted.org",
    "anaconda.com",
    "anaconda.org",
    "r-project.org",
    "pytorch.org",
    "tensorflow.org",
];

/// The host of an `https://host/...` URL.
fn url_host(url: &str) -> Option<String> {
    let rest = url.strip_prefix("https://")?;
    let host = rest.split(['/', ':', '?']).next()?;
    (!host.is_empty()).then(|| host.to_string())
}

/// A host served for the scenario that no check names (a registry, a redirect's target).
fn extra_target(host: &str, kind: &str) -> Target {
    Target {
        id: format!("served-{host}"),
        host: host.to_string(),
        port: Some(443),
        transport: "tcp".into(),
        kind: kind.into(),
        skipped: false,
        privatelink: None,
        same_address_as: None,
        redirect_from: None,
    }
}

const FIREWALL_FAULTS: &[&str] = &[
    "drop",
    "reset",
    "prohibit",
    "host-unreachable",
    "port-unreachable",
];

pub fn play(name: &str) {
    if let Err(why) = prerequisites() {
        assert!(
            std::env::var_os("CI").is_none(),
            "scenario {name} cannot run in CI: {why}"
        );
        println!("skipping scenario {name}: {why}");
        return;
    }
    let sc = load(name);
    let netns = format!("ap-{}-{}", name.replace('_', "-"), std::process::id());
    let dir = std::env::temp_dir().join(&netns);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut sb = Sandbox {
        netns: netns.clone(),
        dir: dir.clone(),
        children: Vec::new(),
    };
    let st = Command::new("ip")
        .args(["netns", "add", &netns])
        .status()
        .expect("ip netns add");
    assert!(st.success(), "ip netns add {netns} failed");
    sb.run("ip", &["link", "set", "lo", "up"]);
    let mut base = vec![
        DNS_ADDR,
        SERVFAIL_DNS_ADDR,
        DEAD_DNS_ADDR,
        PROXY_ADDR,
        DOWN_PROXY_ADDR,
    ];
    if sc.imds.is_some() {
        base.push(IMDS_ADDR);
    }
    if sc.azure_dns {
        base.push(AZURE_DNS_ADDR);
    }
    for a in &base {
        sb.run("ip", &["addr", "add", &format!("{a}/32"), "dev", "lo"]);
    }
    for (nic, addr) in &sc.interfaces {
        // A veth pair with both ends inside the namespace: an address, and nowhere to send.
        sb.run(
            "ip",
            &[
                "link",
                "add",
                nic,
                "type",
                "veth",
                "peer",
                "name",
                &format!("{nic}-peer"),
            ],
        );
        sb.run("ip", &["addr", "add", &format!("{addr}/32"), "dev", nic]);
    }

    // What the probe sees of /etc inside the namespace.
    let etc = PathBuf::from(format!("/etc/netns/{netns}"));
    std::fs::create_dir_all(&etc).unwrap();
    let resolv_target = match sc.resolver.as_deref() {
        Some("flag") | Some("fallback") => DEAD_DNS_ADDR,
        _ => DNS_ADDR,
    };
    std::fs::write(
        etc.join("resolv.conf"),
        format!("nameserver {resolv_target}\noptions timeout:1\n"),
    )
    .unwrap();
    std::fs::write(etc.join("hosts"), "127.0.0.1 localhost\n").unwrap();
    if let Some(id) = &sc.os_release {
        std::fs::write(etc.join("os-release"), format!("NAME=\"{id}\"\nID={id}\n")).unwrap();
    }

    // A metadata service, when the scenario has one, before anything asks it.
    if let Some(imds) = &sc.imds {
        let fixture = fixture(&format!("imds/{}", imds.document));
        sb.spawn(
            "python3",
            &[&support("imds.py"), IMDS_ADDR, "80", &imds.mode, &fixture],
        );
        sb.wait_for_listeners(&[format!("tcp/{IMDS_ADDR}:80")].into_iter().collect());
    }

    if let Some(n) = sc.generate_catalog {
        let mut text = String::new();
        for i in 0..n {
            let _ = writeln!(
                text,
                "[[endpoint]]\nid = \"scale-{i}\"\ngroup = \"scale\"\ntitle = \"generated {i}\"\nhost = \"h{}.scale.example.net\"\nport = 443\nkind = \"tcp\"\ndoc = \"https://learn.microsoft.com/azure/machine-learning/\"\n",
                i % 50
            );
        }
        std::fs::write(dir.join("generated.toml"), text).unwrap();
    }

    // What would be checked, asked inside the namespace as the probe itself will ask.
    let targets = list_targets(&sb, &sc);
    // Checks of the node itself need no server.
    let live: Vec<&Target> = targets
        .iter()
        .filter(|t| !t.skipped && t.kind != "host")
        .collect();

    // Faults by check id; `all = true` applies to every endpoint.
    let mut faults: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut dns_timeout = false;
    for f in &sc.fault {
        let known = DNS_FAULTS.contains(&f.kind.as_str())
            || SERVER_FAULTS.contains(&f.kind.as_str())
            || FIREWALL_FAULTS.contains(&f.kind.as_str())
            || f.kind == "dns-timeout";
        assert!(known, "{name}: unknown fault type {}", f.kind);
        if f.kind == "dns-timeout" {
            dns_timeout = true;
            continue;
        }
        let ids: Vec<String> = match (&f.check, f.all) {
            (Some(id), false) => {
                assert!(
                    live.iter().any(|t| &t.id == id),
                    "{name}: fault names unknown or skipped check {id}"
                );
                vec![id.clone()]
            }
            (None, true) => live
                .iter()
                .enumerate()
                .filter(|(i, _)| f.every.is_none_or(|n| i % n.max(1) == 0))
                .map(|(_, t)| t.id.clone())
                .collect(),
            _ => panic!("{name}: a fault needs check = \"id\" or all = true"),
        };
        for id in ids {
            faults.entry(id).or_default().push(f.kind.clone());
        }
    }
    let has = |t: &Target, kind: &str| {
        faults
            .get(&t.id)
            .is_some_and(|v| v.iter().any(|k| k == kind))
    };

    // Hosts served besides the checks': the registry a redirect is asked of, and the data host
    // it redirects to.
    let registry_hosts: BTreeSet<String> = live
        .iter()
        .filter_map(|t| t.redirect_from.as_deref())
        .filter_map(url_host)
        .collect();
    let mut extra: Vec<Target> = registry_hosts
        .iter()
        .filter(|h| !live.iter().any(|t| &t.host == *h && t.port == Some(443)))
        .map(|h| extra_target(h, "https"))
        .collect();
    if let Some(data) = &sc.registry_redirect {
        extra.push(extra_target(data, "tls"));
    }
    let served: Vec<&Target> = live.iter().copied().chain(extra.iter()).collect();
    let host_faults = |host: &str| -> Vec<String> {
        served
            .iter()
            .filter(|o| o.host == host)
            .flat_map(|o| faults.get(&o.id).into_iter().flatten())
            .cloned()
            .collect()
    };

    // One address per host, on the namespace's loopback; a private-endpoint name that must
    // answer another name's address shares it, and a `public-address` fault gives a public one.
    let alias: BTreeMap<String, String> = served
        .iter()
        .filter_map(|t| Some((t.host.clone(), t.same_address_as.clone()?)))
        .filter(|(_, other)| served.iter().any(|t| &t.host == other))
        .collect();
    let mut addr_of: BTreeMap<String, String> = BTreeMap::new();
    for pass in [false, true] {
        for t in &served {
            if alias.contains_key(&t.host) != pass || addr_of.contains_key(&t.host) {
                continue;
            }
            let n = addr_of.len() + 1;
            let addr = if host_faults(&t.host).iter().any(|f| f == "public-address") {
                format!("203.0.113.{}", n % 250 + 1)
            } else if let Some(other) = alias.get(&t.host) {
                addr_of[other].clone()
            } else {
                format!("10.77.{}.{}", 1 + n / 250, n % 250 + 1)
            };
            addr_of.insert(t.host.clone(), addr);
        }
    }
    for a in addr_of.values().collect::<BTreeSet<_>>() {
        sb.run("ip", &["addr", "add", &format!("{a}/32"), "dev", "lo"]);
    }

    // DNS: dnsmasq with exact host records; faulted names get what the fault says.
    let mut dns = String::from("no-resolv\nno-hosts\nbind-interfaces\nuser=root\n");
    let _ = writeln!(dns, "listen-address={DNS_ADDR}");
    let mut servfail_needed = false;
    let mut azure = format!(
        "no-resolv\nno-hosts\nbind-interfaces\nuser=root\nlisten-address={AZURE_DNS_ADDR}\n"
    );
    if sc.real_dns {
        for zone in REAL_ZONES {
            let _ = writeln!(dns, "local=/{zone}/");
        }
    }
    let mut done_hosts = BTreeSet::new();
    for t in &served {
        if !done_hosts.insert(t.host.clone()) {
            continue;
        }
        let addr = &addr_of[&t.host];
        let faults_here = host_faults(&t.host);
        let host_faults: Vec<&str> = faults_here.iter().map(String::as_str).collect();
        // Private-endpoint names: Azure DNS answers through the privatelink zone (or, for a
        // name that shares another's address, with that address); the customer's server
        // forwards (the default) or gets it wrong as the fault says.
        let pe = served
            .iter()
            .filter(|o| o.host == t.host)
            .find(|o| o.privatelink.is_some() || o.same_address_as.is_some());
        if let Some(o) = pe {
            let record = match &o.privatelink {
                Some(zone) => {
                    let first = t.host.split('.').next().unwrap_or("x");
                    let edge = format!("{first}-{}.{zone}", done_hosts.len());
                    format!("host-record={edge},{addr}\ncname={},{edge}\n", t.host)
                }
                None => format!("host-record={},{addr}\n", t.host),
            };
            azure.push_str(&record);
            if host_faults.contains(&"pe-public") {
                let _ = writeln!(dns, "host-record={},203.0.113.10", t.host);
            } else if host_faults.contains(&"pe-hand-made") {
                let _ = writeln!(dns, "host-record={},{addr}", t.host);
            } else if host_faults.contains(&"pe-no-forwarder") {
                let _ = writeln!(dns, "local=/{}/", t.host);
            } else {
                dns.push_str(&record);
            }
            continue;
        }
        if host_faults.contains(&"nxdomain") {
            let _ = writeln!(dns, "local=/{}/", t.host);
        } else if host_faults.contains(&"no-records") {
            let _ = writeln!(
                dns,
                "local=/{}/\ntxt-record={},\"no address here\"",
                t.host, t.host
            );
        } else if host_faults.contains(&"servfail") {
            let _ = writeln!(dns, "server=/{}/{SERVFAIL_DNS_ADDR}", t.host);
            servfail_needed = true;
        } else if host_faults.contains(&"refused") {
            // dnsmasq refuses names it has no data and no upstream for.
        } else if host_faults.contains(&"cname") {
            let edge = format!("{}.privatelink.example.net", t.host);
            let _ = writeln!(dns, "host-record={edge},{addr}\ncname={},{edge}", t.host);
        } else {
            let _ = writeln!(dns, "host-record={},{addr}", t.host);
        }
    }
    std::fs::write(dir.join("dnsmasq.conf"), dns).unwrap();
    let dns_conf = dir.join("dnsmasq.conf").display().to_string();
    let dns_pid = dir.join("dnsmasq.pid").display().to_string();
    sb.spawn(
        "dnsmasq",
        &[
            "-k",
            "-C",
            &dns_conf,
            &format!("--pid-file={dns_pid}"),
            "--log-facility=-",
        ],
    );
    let mut listeners: BTreeSet<String> = BTreeSet::new();
    listeners.insert(format!("udp/{DNS_ADDR}:53"));
    if sc.azure_dns {
        std::fs::write(dir.join("azure-dns.conf"), &azure).unwrap();
        let conf = dir.join("azure-dns.conf").display().to_string();
        let pid = format!("--pid-file={}", dir.join("azure-dns.pid").display());
        sb.spawn("dnsmasq", &["-k", "-C", &conf, &pid, "--log-facility=-"]);
        listeners.insert(format!("udp/{AZURE_DNS_ADDR}:53"));
    }
    if servfail_needed {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/dns_rcode.py");
        sb.spawn(
            "python3",
            &[&script.display().to_string(), SERVFAIL_DNS_ADDR, "53", "2"],
        );
        listeners.insert(format!("udp/{SERVFAIL_DNS_ADDR}:53"));
    }

    // Servers: nginx for TCP and TLS, socat for UDP and for servers that never speak.
    let mut hosts: Vec<String> = addr_of.keys().cloned().collect();
    if hosts.is_empty() {
        hosts.push("unused.example.net".into());
    }
    let certs = make_certs(&dir, &hosts);
    if sc.chroot {
        // An empty root: the binary, a resolv.conf and a CA bundle, nothing else.
        let bin = match std::env::var("AMLPROBE_STATIC_BIN") {
            Ok(b) => b,
            Err(_) => {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "{name}: CI must set AMLPROBE_STATIC_BIN (packaging/build-static.sh)"
                );
                println!("skipping scenario {name}: AMLPROBE_STATIC_BIN is not set (packaging/build-static.sh builds it)");
                return;
            }
        };
        let root = dir.join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::copy(&bin, root.join("amlprobe")).expect("copy the static binary");
        std::fs::write(
            root.join("etc/resolv.conf"),
            format!("nameserver {DNS_ADDR}\n"),
        )
        .unwrap();
        std::fs::copy(&certs.ca, root.join("ca.pem")).unwrap();
    }
    let mut servers = String::new();
    let mut ws_needed = false;
    // A server of its own (socat, smbd, hostile.py) owns its address and port; nginx serves many names on one by SNI.
    let mut seen = BTreeSet::new();
    let mut nginx_on = BTreeSet::new();
    let mut named = BTreeSet::new();
    for t in &served {
        let Some(port) = t.port else { continue };
        let addr = &addr_of[&t.host];
        let own_server = t.transport == "udp"
            || t.kind == "smb"
            || has(t, "silent")
            || HOSTILE_FAULTS.iter().any(|f| has(t, f));
        let key = (addr.clone(), port, t.transport.clone());
        let first = if own_server {
            !nginx_on.contains(&key) && seen.insert(key)
        } else {
            !seen.contains(&key) && named.insert((t.host.clone(), port)) && {
                nginx_on.insert(key);
                true
            }
        };
        if !first || has(t, "no-listener") {
            continue;
        }
        if t.transport == "udp" {
            let bind = format!("bind={addr}");
            if sc.udp.as_deref() == Some("echo") {
                sb.spawn(
                    "socat",
                    &[&format!("UDP4-RECVFROM:{port},{bind},fork"), "EXEC:cat"],
                );
            } else {
                sb.spawn(
                    "socat",
                    &["-u", &format!("UDP4-RECV:{port},{bind}"), "OPEN:/dev/null"],
                );
            }
            listeners.insert(format!("udp/{addr}:{port}"));
            continue;
        }
        listeners.insert(format!("tcp/{addr}:{port}"));
        if has(t, "silent") {
            sb.spawn(
                "socat",
                &[
                    "-u",
                    &format!("TCP4-LISTEN:{port},bind={addr},fork,reuseaddr"),
                    "OPEN:/dev/null",
                ],
            );
            continue;
        }
        let tls = matches!(t.kind.as_str(), "tls" | "https" | "websocket") && !has(t, "not-tls");
        if let Some(mode) = HOSTILE_FAULTS.iter().find(|m| has(t, m)) {
            let mode = mode.trim_start_matches("hostile-");
            let mode = if mode == "endless" {
                "endless-header"
            } else {
                mode
            };
            let script = support("hostile.py");
            let (cert, key) = (
                certs.good.0.display().to_string(),
                certs.good.1.display().to_string(),
            );
            let mut args = vec![script.as_str(), mode, addr.as_str()];
            let port_s = port.to_string();
            args.push(&port_s);
            if tls {
                args.extend([cert.as_str(), key.as_str()]);
            }
            sb.spawn("python3", &args);
            continue;
        }
        if t.kind == "smb" && !has(t, "not-smb") {
            start_smbd(&mut sb, &dir, addr);
            continue;
        }
        if tls {
            let (cert, key) = if has(t, "expired") {
                &certs.expired
            } else if has(t, "wrong-name") {
                &certs.wrong_name
            } else if has(t, "untrusted") {
                &certs.untrusted
            } else if has(t, "intercepted") {
                &certs.intercepted
            } else if has(t, "self-signed") {
                &certs.self_signed
            } else {
                &certs.good
            };
            let body = if t.kind == "websocket" {
                ws_needed = true;
                let backend = if has(t, "ws-auth") {
                    WS_AUTH_BACKEND_PORT
                } else {
                    WS_BACKEND_PORT
                };
                // A proxy that strips Upgrade is one that does not pass the hop-by-hop headers on.
                let upgrade = if has(t, "strip-upgrade") {
                    ""
                } else {
                    "proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection \"upgrade\"; "
                };
                format!("location / {{ proxy_pass http://127.0.0.1:{backend}; proxy_http_version 1.1; {upgrade}}}")
            } else if has(t, "http-503") {
                "return 503 \"unavailable\\n\";".to_string()
            } else if registry_hosts.contains(&t.host) {
                // A registry: blob downloads are redirected to the data host, if there is one.
                let v2 = match &sc.registry_redirect {
                    Some(data) => format!(
                        "return 307 https://{data}/d41d8cd9/docker/registry/v2/blobs/sha256/fc/data?se=x&sig=not-a-secret;"
                    ),
                    None => "return 404 \"no such blob\\n\";".to_string(),
                };
                format!("location /v2/ {{ {v2} }} location / {{ return 200 \"ok\\n\"; }}")
            } else {
                "return 200 \"ok\\n\";".to_string()
            };
            let _ = writeln!(
                servers,
                "  server {{ listen {addr}:{port} ssl; server_name {}; ssl_protocols TLSv1.2 TLSv1.3; ssl_certificate {}; ssl_certificate_key {}; {body} }}",
                t.host,
                cert.display(),
                key.display()
            );
        } else {
            let _ = writeln!(
                servers,
                "  server {{ listen {addr}:{port}; server_name {}; return 200 \"ok\\n\"; }}",
                t.host
            );
        }
    }
    if ws_needed {
        for (port, mode) in [(WS_BACKEND_PORT, "upgrade"), (WS_AUTH_BACKEND_PORT, "auth")] {
            let script = support("ws_backend.py");
            sb.spawn("python3", &[&script, "127.0.0.1", &port.to_string(), mode]);
            listeners.insert(format!("tcp/127.0.0.1:{port}"));
        }
    }
    if let Some(spec) = &sc.proxy {
        if !spec.down {
            start_tinyproxy(&mut sb, &dir, spec);
            listeners.insert(format!("tcp/{PROXY_ADDR}:3128"));
        }
    }
    if !servers.is_empty() {
        let d = dir.display();
        let conf = format!(
            "user root;\nworker_processes 1;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/nginx-error.log;\n\
             events {{ worker_connections 512; }}\nhttp {{\n  access_log off;\n  client_body_temp_path {d}/tmp;\n  \
             proxy_temp_path {d}/tmp;\n  fastcgi_temp_path {d}/tmp;\n  uwsgi_temp_path {d}/tmp;\n  scgi_temp_path {d}/tmp;\n{servers}}}\n"
        );
        std::fs::write(dir.join("nginx.conf"), conf).unwrap();
        let conf_path = dir.join("nginx.conf").display().to_string();
        sb.spawn("nginx", &["-c", &conf_path, "-p", &d.to_string()]);
    }

    // Firewall: nftables on the input hook, matched by address, protocol and port so the ICMP
    // errors the rules send back are not themselves caught.
    // The dead DNS server exists but never answers, like a resolver behind a dropping firewall.
    let mut rules = nft_rule(DEAD_DNS_ADDR, Some(53), "udp", "drop").unwrap();
    rules.push_str(&nft_rule(DEAD_DNS_ADDR, Some(53), "tcp", "drop").unwrap());
    if dns_timeout {
        rules.push_str(&nft_rule(DNS_ADDR, Some(53), "udp", "drop").unwrap());
        rules.push_str(&nft_rule(DNS_ADDR, Some(53), "tcp", "drop").unwrap());
    }
    for t in &live {
        for f in faults.get(&t.id).into_iter().flatten() {
            if let Some(r) = nft_rule(&addr_of[&t.host], t.port, &t.transport, f) {
                rules.push_str(&r);
            }
        }
    }
    {
        let ruleset = format!(
            "table inet sim {{\n  chain input {{\n    type filter hook input priority 0;\n{rules}  }}\n}}\n"
        );
        let path = dir.join("rules.nft");
        std::fs::write(&path, ruleset).unwrap();
        sb.run("nft", &["-f", &path.display().to_string()]);
    }
    sb.wait_for_listeners(&listeners);

    // Run the probe as a user would.
    let report_path = dir.join("report.json");
    let run = |format: &str| run_command(&sb, &sc, &certs.ca, format);
    let mut cmd = run(sc.output.as_deref().unwrap_or("json"));
    let report_path = match (&sc.hook, sc.chroot) {
        (Some(_), _) => dir.join("log/report.json"),
        // Inside the empty root, the report goes to its top.
        (None, true) => {
            cmd.args(["--report", "/report.json"]);
            dir.join("root/report.json")
        }
        (None, false) => {
            cmd.arg("--report").arg(&report_path);
            report_path
        }
    };
    let started = Instant::now();
    let out = cmd.output().expect("run amlprobe");
    let wall = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let context = format!(
        "scenario {name} ({}):\nstderr: {stderr}\nresults:\n{}",
        sc.description,
        compact(&stdout)
    );

    assert_eq!(out.status.code(), Some(sc.exit), "exit code\n{context}");
    assert!(
        !stderr.contains(" done, "),
        "no progress line when stderr is not a terminal\n{context}"
    );
    let report_text = std::fs::read_to_string(&report_path).unwrap_or_default();
    for (what, text) in [
        ("stdout", &stdout),
        ("stderr", &stderr),
        ("--report", &report_text),
    ] {
        assert!(
            !text.contains(PROXY_PASSWORD),
            "the proxy password shows in {what}\n{context}"
        );
    }
    if let Some(max) = sc.max_wall_ms {
        assert!(
            wall <= Duration::from_millis(max),
            "took {wall:?}, more than {max} ms\n{context}"
        );
    }
    println!("scenario {name}: {} ms wall", wall.as_millis());
    // To look at a scenario's results, and its table as a person sees it.
    if std::env::var_os("AMLPROBE_SIM_SHOW").is_some() {
        println!("{}", compact(&stdout));
        let table = run_command(&sb, &sc, &certs.ca, "table")
            .output()
            .expect("run amlprobe");
        println!("{}", String::from_utf8_lossy(&table.stdout));
    }

    let report: Value = match (&sc.hook, sc.output.as_deref()) {
        (Some(_), _) => {
            let saved = std::fs::read_to_string(dir.join("log/report.json"))
                .expect("the hook keeps report.json");
            let table = std::fs::read_to_string(dir.join("log/report.txt"))
                .expect("the hook keeps report.txt");
            assert!(
                stdout.contains(&table) && table.contains("checks:"),
                "the hook prints the table\n{context}"
            );
            assert!(
                dir.join("bin/amlprobe").exists(),
                "the hook installed the binary"
            );
            serde_json::from_str(&saved).expect("report.json is JSON")
        }
        (None, Some("jsonl")) => check_jsonl(&stdout, &context),
        (None, _) => serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON: {e}\n{context}")),
    };
    if std::env::var_os("AMLPROBE_SIM_BASELINE").is_some() {
        baseline(name, &sb, &sc, &live, &addr_of, &certs.ca);
    }
    if let Some(runs) = std::env::var("AMLPROBE_SIM_REPEAT")
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
    {
        bench(name, &sc.timeout, &cmd, runs, &dir);
    }
    if sc.redact_check {
        check_redaction(&report, &run);
    }
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(&report_path).expect("--report written"))
            .expect("--report is JSON");
    assert_eq!(
        saved["results"].as_array().map(Vec::len),
        report["results"].as_array().map(Vec::len)
    );
    check_report(&report, &sc, &targets, &context);
}

/// Run the same probe command `runs` more times under GNU time and print wall-time and
/// peak-memory figures (used by tests/bench/sealed-run.sh, not by the tests).
fn bench(name: &str, timeout: &str, cmd: &Command, runs: usize, dir: &Path) {
    let mut walls = Vec::new();
    let mut peak_kib = Vec::new();
    let stats = dir.join("time.txt");
    for _ in 0..runs {
        let mut timed = Command::new("/usr/bin/time");
        timed
            .args(["-f", "%M", "-o"])
            .arg(&stats)
            .arg(cmd.get_program())
            .args(cmd.get_args());
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => timed.env(k, v),
                None => timed.env_remove(k),
            };
        }
        let started = Instant::now();
        let out = timed.output().expect("/usr/bin/time (package time)");
        walls.push(started.elapsed().as_millis() as u64);
        assert!(out.status.code().is_some(), "benchmark run was killed");
        let text = std::fs::read_to_string(&stats).unwrap_or_default();
        peak_kib.push(
            text.lines()
                .last()
                .and_then(|l| l.trim().parse::<u64>().ok())
                .unwrap_or(0),
        );
    }
    walls.sort_unstable();
    peak_kib.sort_unstable();
    println!(
        "bench {name}: {runs} runs, deadline {timeout}, wall ms min {} median {} max {}, peak RSS KiB median {} max {}",
        walls[0],
        walls[runs / 2],
        walls[runs - 1],
        peak_kib[runs / 2],
        peak_kib[runs - 1]
    );
}

/// With `--redact`, no format may show the workspace's names, the node's name or any address.
fn check_redaction(report: &Value, run: &dyn Fn(&str) -> Command) {
    let c = &report["context"];
    let mut secrets: Vec<String> = [
        "workspace_id",
        "storage_account",
        "compute_name",
        "workspace_name",
        "resource_group",
    ]
    .iter()
    .filter_map(|k| c[*k].as_str().map(String::from))
    .collect();
    secrets.extend(report["node"]["hostname"].as_str().map(String::from));
    for r in report["results"].as_array().into_iter().flatten() {
        for p in r["phases"].as_array().into_iter().flatten() {
            for a in p["addresses"].as_array().into_iter().flatten() {
                secrets.extend(a.as_str().map(String::from));
            }
        }
    }
    secrets.retain(|s| s.len() >= 3);
    assert!(secrets.len() >= 4, "too little to redact: {secrets:?}");
    for format in ["json", "jsonl", "table", "markdown", "junit"] {
        let out = run(format)
            .arg("--redact")
            .output()
            .expect("run amlprobe --redact");
        let text = String::from_utf8_lossy(&out.stdout).to_lowercase();
        for secret in &secrets {
            assert!(
                !text.contains(&secret.to_lowercase()),
                "-o {format} --redact still shows {secret}:\n{text}"
            );
        }
        assert!(
            text.contains("<address-") || text.contains("&lt;address-"),
            "-o {format}: placeholders expected"
        );
    }
}

/// The checklist a person scripts today, one endpoint after another with the same per-check
/// timeout: dig, then nc for TCP/UDP/SMB or curl for TLS/HTTPS/WebSocket. Timed under GNU time
/// inside the same namespace (used by tests/bench/compare.sh, not by the tests).
fn baseline(
    name: &str,
    sb: &Sandbox,
    sc: &Scenario,
    live: &[&Target],
    addr_of: &BTreeMap<String, String>,
    ca: &Path,
) {
    let secs = humantime_secs(&sc.timeout);
    let mut script = String::from("#!/bin/bash\n");
    for t in live {
        let Some(port) = t.port else { continue };
        let _ = writeln!(
            script,
            "dig +time={secs} +tries=1 +short {} A >/dev/null",
            t.host
        );
        let addr = &addr_of[&t.host];
        let line = match (t.transport.as_str(), t.kind.as_str()) {
            ("udp", _) => format!("nc -u -z -w {secs} {addr} {port}"),
            (_, "tls" | "https" | "websocket") => format!(
                "curl -s -o /dev/null --max-time {secs} --cacert {} --resolve {}:{port}:{addr} https://{}:{port}/",
                ca.display(),
                t.host,
                t.host
            ),
            _ => format!("nc -z -w {secs} {addr} {port}"),
        };
        let _ = writeln!(script, "{line} >/dev/null 2>&1");
    }
    let path = sb.dir.join("checklist.sh");
    std::fs::write(&path, script).unwrap();
    let stats = sb.dir.join("checklist-time.txt");
    let started = Instant::now();
    let _ = Command::new("ip")
        .args([
            "netns",
            "exec",
            &sb.netns,
            "/usr/bin/time",
            "-f",
            "%M",
            "-o",
        ])
        .arg(&stats)
        .arg("bash")
        .arg(&path)
        .output();
    let wall = started.elapsed().as_millis();
    let rss = std::fs::read_to_string(&stats).unwrap_or_default();
    println!(
        "baseline {name}: sequential dig+nc+curl checklist, {} endpoints, deadline {}, wall ms {wall}, peak RSS KiB {}",
        live.iter().filter(|t| t.port.is_some()).count(),
        sc.timeout,
        rss.lines().last().unwrap_or("?").trim()
    );
}

fn humantime_secs(t: &str) -> u64 {
    t.trim_end_matches('s').parse::<u64>().unwrap_or(2).max(1)
}

/// One line per result, for failure messages.
fn compact(stdout: &str) -> String {
    let values: Vec<Value> = match serde_json::from_str::<Value>(stdout) {
        Ok(v) => v["results"].as_array().cloned().unwrap_or_default(),
        Err(_) => stdout
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect(),
    };
    if values.is_empty() {
        return stdout.to_string();
    }
    values
        .iter()
        .map(|r| {
            format!(
                "  {} {}/{} {}\n",
                r["id"], r["status"], r["reason"], r["message"]
            )
        })
        .collect()
}

/// `-o jsonl`: one result per line with `"type": "result"`, then the summary line last.
fn check_jsonl(stdout: &str, context: &str) -> Value {
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("line is not JSON: {e}: {l}\n{context}"))
        })
        .collect();
    let (last, results) = lines.split_last().expect("jsonl output");
    assert_eq!(last["type"], "summary", "{context}");
    assert!(results.iter().all(|r| r["type"] == "result"), "{context}");
    let mut report = last.clone();
    report["results"] = Value::Array(results.to_vec());
    report
}

fn check_report(report: &Value, sc: &Scenario, targets: &[Target], context: &str) {
    for field in [
        "schema_version",
        "tool",
        "started_at",
        "duration_ms",
        "node",
        "context",
        "summary",
    ] {
        assert!(
            report.get(field).is_some(),
            "report lacks {field}\n{context}"
        );
    }
    let results = report["results"].as_array().expect("results");
    assert_eq!(
        results.len(),
        targets.len(),
        "one result per selected entry\n{context}"
    );
    let listed: BTreeSet<&str> = sc
        .expect
        .check
        .iter()
        .filter_map(|w| w.id.as_deref())
        .collect();
    for id in &listed {
        assert!(
            results.iter().any(|r| r["id"] == *id),
            "expected check {id} is not in the report\n{context}"
        );
    }
    for r in results {
        let id = r["id"].as_str().unwrap_or_default();
        for field in [
            "id",
            "group",
            "title",
            "required",
            "kind",
            "target",
            "status",
            "reason",
            "message",
            "remediation",
            "doc",
            "duration_ms",
            "phases",
        ] {
            assert!(r.get(field).is_some(), "{id} lacks {field}\n{context}");
        }
        let want = sc
            .expect
            .check
            .iter()
            .find(|w| w.id.as_deref() == Some(id))
            .or(sc.expect.default.as_ref())
            .unwrap_or_else(|| panic!("no expectation for {id}\n{context}"));
        let got = format!(
            "{}/{}",
            r["status"].as_str().unwrap_or("?"),
            r["reason"].as_str().unwrap_or("?")
        );
        // `*` accepts any status or reason (for scenarios that only measure).
        let status = if want.status == "*" {
            r["status"].as_str().unwrap_or("?")
        } else {
            &want.status
        };
        let reason = if want.reason == "*" {
            r["reason"].as_str().unwrap_or("?")
        } else {
            &want.reason
        };
        assert_eq!(
            got,
            format!("{status}/{reason}"),
            "{id}: {}\n{context}",
            r["message"]
        );
        let message = r["message"].as_str().unwrap_or_default();
        for needle in &want.message_contains {
            assert!(
                message.contains(needle.as_str()),
                "{id}: message {message:?} lacks {needle:?}\n{context}"
            );
        }
        let remediation = r["remediation"].as_str().unwrap_or_default();
        for needle in &want.remediation_contains {
            assert!(
                remediation.contains(needle.as_str()),
                "{id}: remediation {remediation:?} lacks {needle:?}\n{context}"
            );
        }
        if let Some(host) = &want.host {
            assert_eq!(
                r["target"]["host"].as_str(),
                Some(host.as_str()),
                "{id}: target host\n{context}"
            );
        }
        if let Some(stand_in) = want.stand_in {
            assert_eq!(
                r["stand_in"].as_bool().unwrap_or(false),
                stand_in,
                "{id}: stand_in\n{context}"
            );
        }
        if let Some(tested) = &want.tested {
            assert_eq!(
                r["tested"].as_str(),
                Some(tested.as_str()),
                "{id}: tested layer\n{context}"
            );
        }
        let dns = r["phases"]
            .as_array()
            .and_then(|p| p.iter().find(|p| p["phase"] == "dns"));
        if let Some(c) = &want.cnames_contain {
            let cnames = dns.map(|d| d["cnames"].to_string()).unwrap_or_default();
            assert!(
                cnames.contains(c.as_str()),
                "{id}: cnames {cnames} lack {c}\n{context}"
            );
        }
        if let Some(server) = &want.server {
            assert_eq!(
                dns.and_then(|d| d["server"].as_str()),
                Some(server.as_str()),
                "{id}: server\n{context}"
            );
        }
        if let Some(proxied) = want.proxied {
            assert_eq!(
                r["proxy"].is_string(),
                proxied,
                "{id}: went through the proxy?\n{context}"
            );
        }
        let phase = |name: &str| {
            r["phases"]
                .as_array()
                .and_then(|p| p.iter().find(|p| p["phase"] == name))
                .cloned()
        };
        if let Some(status) = want.http_status {
            let got = phase("http")
                .or_else(|| phase("websocket"))
                .map(|p| p["http_status"].clone());
            assert_eq!(
                got.and_then(|s| s.as_u64()),
                Some(status as u64),
                "{id}: HTTP status\n{context}"
            );
        }
        if let Some(dialect) = &want.dialect {
            let got = phase("smb").map(|p| p["dialect"].clone());
            assert_eq!(
                got.as_ref().and_then(|d| d.as_str()),
                Some(dialect.as_str()),
                "{id}: dialect\n{context}"
            );
        }
        let proxied = r["proxy"].is_string();
        if r["status"] != "skip" && !proxied && r["kind"] != "host" {
            assert!(
                dns.is_some(),
                "{id}: a probed check has a dns phase\n{context}"
            );
        }
    }
    for (path, want) in &sc.expect.context {
        let got = path.split('.').fold(&report["context"], |v, k| &v[k]);
        let got = got
            .as_str()
            .map(String::from)
            .unwrap_or_else(|| got.to_string());
        let want = want.replace("CARGO_MANIFEST_DIR", env!("CARGO_MANIFEST_DIR"));
        assert_eq!(got, want, "context.{path}\n{context}");
    }
    for (field, needles) in [
        ("warnings", &sc.expect.warnings_contain),
        ("notes", &sc.expect.notes_contain),
    ] {
        let have = report["context"][field].to_string();
        for n in needles {
            assert!(
                have.contains(n.as_str()),
                "context.{field} {have} lack {n:?}\n{context}"
            );
        }
    }
    let whole = report.to_string();
    for absent in &sc.expect.report_lacks {
        assert!(
            !whole.contains(absent.as_str()),
            "the report shows {absent:?}\n{context}"
        );
    }
    if let Some(summary) = &sc.expect.summary {
        for (k, v) in summary {
            assert_eq!(
                report["summary"][k].as_u64(),
                Some(*v),
                "summary.{k}\n{context}"
            );
        }
    }
}
