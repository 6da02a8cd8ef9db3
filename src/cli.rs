//! The command line. Every check option is also read from `AMLPROBE_<NAME>`.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::context::{self, Cloud, ComputeType, Mode};

#[derive(Debug, Parser)]
#[command(
    name = "amlprobe",
    version,
    about = "Checks from an Azure ML compute node that every endpoint Azure ML needs is reachable, and explains what is not",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub check: CheckArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Probe every endpoint that applies to this node (the default command)
    Check(CheckArgs),
    /// Print the endpoints that would be probed, resolved for the context, without probing them (the metadata service is asked for the context unless --offline)
    List(CheckArgs),
    /// Print what a reason code means and how to fix it; or, for an error message Azure ML printed, which checks tell its causes apart (--run runs them)
    Explain(ExplainArgs),
    /// Print the least-privilege changes (firewall, NSG, routes, DNS) that would make a report's failing and warning checks pass; reads only the report
    Fix(FixArgs),
    /// One fleet report from many nodes' reports (files, or directories of *.json): nodes x checks, and the odd nodes out
    Merge(MergeArgs),
    /// What changed between two reports, of one node or of a fleet: fixed, broken, changed reason, new and removed checks
    Diff(DiffArgs),
    /// check, repeated: DNS answers that change between rounds, checks that fail now and then, and Prometheus metrics
    Watch(WatchArgs),
    /// Node-to-node reachability for distributed training: listen on --ports, connect to every other peer on each, and name the blocked pairs (merge the nodes' reports for the matrix)
    Mesh(MeshArgs),
    /// Print a shell completion script
    Completions {
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Print the manual page (roff)
    Man,
}

wire_enum! {
    /// The shells `completions` writes a script for: every shell clap_complete generates for,
    /// in its order. build.rs renders each script from this definition.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Shell {
        Bash = "bash",
        Elvish = "elvish",
        Fish = "fish",
        Powershell = "powershell",
        Zsh = "zsh",
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Jsonl,
    Markdown,
    Junit,
}

/// What the probe should take the node to be, and where discovery may look: the flags that
/// win over everything the node shows about itself. `Default` is no flag given, as tests use it;
/// only the command line fills in `env_file`'s default.
#[derive(Debug, Clone, Default, Args)]
pub struct ContextArgs {
    /// Azure region of the workspace and compute (westeurope)
    #[arg(long, env = "AMLPROBE_REGION", value_parser = context::parse_region)]
    pub region: Option<String>,
    /// Sovereign cloud (default: IMDS compute.azEnvironment, else public)
    #[arg(long, env = "AMLPROBE_CLOUD", value_enum)]
    pub cloud: Option<Cloud>,
    /// Workspace id (GUID), for the private-endpoint DNS checks
    #[arg(long, env = "AMLPROBE_WORKSPACE_ID", value_parser = context::parse_guid)]
    pub workspace_id: Option<String>,
    /// The workspace's default storage account name
    #[arg(long, env = "AMLPROBE_STORAGE_ACCOUNT", value_parser = context::parse_storage_account)]
    pub storage_account: Option<String>,
    /// The workspace's name, for the notebooks private-link name (default: CI_WORKSPACE, AZUREML_ARM_WORKSPACE_NAME)
    #[arg(long, env = "AMLPROBE_WORKSPACE_NAME", value_parser = context::parse_workspace_name)]
    pub workspace_name: Option<String>,
    /// The workspace's container registry, by name (myregistry): its login, data endpoint and private-endpoint name are checked (turns on --scenario registry)
    #[arg(long, env = "AMLPROBE_ACR", value_name = "NAME", value_parser = context::parse_acr)]
    pub acr: Option<String>,
    /// The workspace's key vault, by name: its HTTPS endpoint and private-endpoint name are checked (turns on --scenario keyvault)
    #[arg(long, env = "AMLPROBE_KEY_VAULT", value_name = "NAME", value_parser = context::parse_key_vault)]
    pub key_vault: Option<String>,
    /// This compute instance's name (default: CI_NAME)
    #[arg(long, env = "AMLPROBE_COMPUTE_NAME", value_parser = context::parse_compute_name)]
    pub compute_name: Option<String>,
    /// Networking mode of the compute (default: auto, from what the node shows)
    #[arg(long, env = "AMLPROBE_MODE", value_enum)]
    pub mode: Option<Mode>,
    /// Kind of compute; selects the checks that apply (default: from the node's variables)
    #[arg(long, env = "AMLPROBE_COMPUTE_TYPE", value_enum)]
    pub compute_type: Option<ComputeType>,
    /// Run from a plain VM or jump box in the subnet the compute will use, before the compute exists: checks that need the compute itself skip, and this VM's public IP says nothing of the compute's mode (give --mode, --compute-type and the workspace's flags)
    #[arg(long, env = "AMLPROBE_PREFLIGHT", value_parser = clap::builder::FalseyValueParser::new())]
    pub preflight: bool,
    /// Do not ask the instance metadata service (IMDS); `list` then sends no packet at all
    #[arg(long, env = "AMLPROBE_OFFLINE", value_parser = clap::builder::FalseyValueParser::new())]
    pub offline: bool,
    /// Where compute instance variables are when not in the environment
    #[arg(
        long,
        env = "AMLPROBE_ENV_FILE",
        value_name = "PATH",
        default_value = "/etc/environment.sso"
    )]
    pub env_file: std::path::PathBuf,
}

wire_enum! {
    /// What `fix` writes.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum FixFormat {
        Markdown = "markdown",
        Az = "az",
        Bicep = "bicep",
        Terraform = "terraform",
        ManagedNetwork = "managed-network",
    }
}

wire_enum! {
    /// What `merge` and `diff` write.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum FleetFormat {
        Table = "table",
        Json = "json",
        Markdown = "markdown",
        Html = "html",
    }
}

#[derive(Debug, Clone, Args)]
pub struct MergeArgs {
    /// Reports written by check (--report or -o json), or directories of *.json reports
    #[arg(required = true, value_name = "REPORT|DIR")]
    pub inputs: Vec<PathBuf>,
    /// Report format on stdout [default: table on a terminal, json otherwise]
    #[arg(short = 'o', long = "output", value_enum)]
    pub output: Option<FleetFormat>,
    /// Replace workspace, storage, compute, host and node names and addresses with placeholders
    #[arg(long)]
    pub redact: bool,
}

#[derive(Debug, Clone, Args)]
pub struct DiffArgs {
    /// The earlier report (of a node, or a fleet report from merge)
    pub before: PathBuf,
    /// The later report
    pub after: PathBuf,
    /// Report format on stdout [default: table on a terminal, json otherwise]
    #[arg(short = 'o', long = "output", value_enum)]
    pub output: Option<FleetFormat>,
    /// Replace workspace, storage, compute, host and node names and addresses with placeholders
    #[arg(long)]
    pub redact: bool,
}

#[derive(Debug, Clone, Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub check: CheckArgs,
    /// Time from the start of one round to the start of the next
    #[arg(long, value_parser = parse_interval, default_value = "30s", value_name = "DURATION")]
    pub interval: Duration,
    /// Stop after this many rounds
    #[arg(long, value_name = "N", conflicts_with = "for_", value_parser = clap::value_parser!(u32).range(1..))]
    pub count: Option<u32>,
    /// Stop after this long (10m, 1h)
    #[arg(long = "for", id = "for_", value_parser = parse_watch_for, value_name = "DURATION")]
    pub for_: Option<Duration>,
    /// After each round, write Prometheus text exposition to FILE (atomically, for node_exporter's textfile collector)
    #[arg(long, value_name = "FILE")]
    pub metrics: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct MeshArgs {
    /// The job's nodes, this one included (default: AZ_BATCH_HOST_LIST, AZ_BATCH_NODE_LIST, the MPI host file AZ_BATCHAI_MPI_HOST_FILE, then MASTER_ADDR or AZ_BATCH_MASTER_NODE)
    #[arg(long, value_delimiter = ',', value_name = "HOST[,HOST...]", value_parser = context::parse_peer)]
    pub peers: Vec<String>,
    /// Ports every node listens on and connects to (default: MASTER_PORT, else 29500, and 33000, 45000, 60000 from the ephemeral range NCCL and Gloo connect on)
    #[arg(long, value_delimiter = ',', value_name = "PORT[,PORT...]", value_parser = clap::value_parser!(u16).range(1..))]
    pub ports: Vec<u16>,
    /// How long a peer that has not come up yet is retried; every node also listens at least this long from its start
    #[arg(long, value_parser = parse_interval, default_value = "60s", value_name = "DURATION")]
    pub wait: Duration,
    /// The address this node listens on
    #[arg(long, default_value = "0.0.0.0", value_name = "ADDR")]
    pub listen: IpAddr,
    /// Which peer this node is (default: the peer that is this node's hostname or one of its addresses)
    #[arg(long = "self", id = "self_", value_name = "NAME", value_parser = context::parse_peer)]
    pub self_: Option<String>,
    /// Also send this much (64MiB, 500MB) to each peer once, on the first port that answered, and report the throughput in that result's message (off by default)
    #[arg(long, value_parser = parse_size, value_name = "SIZE")]
    pub bandwidth: Option<u64>,
    /// Deadline of one connection attempt and its greeting (1s, 1500ms)
    #[arg(long, value_parser = parse_timeout, default_value = "3s", value_name = "DURATION")]
    pub timeout: Duration,
    /// Report format on stdout (default: table on a terminal, json otherwise)
    #[arg(short, long, env = "AMLPROBE_OUTPUT", value_enum)]
    pub output: Option<Format>,
    /// Also write the full JSON report to FILE
    #[arg(long, env = "AMLPROBE_REPORT", value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Plain table without colour (also NO_COLOR)
    #[arg(long, env = "AMLPROBE_NO_COLOR", value_parser = clap::builder::FalseyValueParser::new())]
    pub no_color: bool,
}

/// A size: a number and a unit, B, KB, MB, GB (powers of 1000) or KiB, MiB, GiB; 1 KiB to 4 GiB.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let unit_size: u64 = match unit.trim() {
        "B" => 1,
        "KB" | "kB" => 1000,
        "MB" => 1000 * 1000,
        "GB" => 1000 * 1000 * 1000,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => {
            return Err(format!(
                "'{s}' is not a size: use a number and a unit, like 64MiB or 500MB"
            ))
        }
    };
    n.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit_size))
        .filter(|b| (1 << 10..=4 << 30).contains(b))
        .ok_or_else(|| format!("'{s}' is out of range: give between 1KiB and 4GiB"))
}

#[derive(Debug, Clone, Args)]
pub struct ExplainArgs {
    /// A reason code (tcp_timeout), or an error message from Azure ML or a log, pasted as it is; - reads it from standard input
    #[arg(value_name = "CODE|MESSAGE")]
    pub what: String,
    /// Run the checks that tell the message's causes apart, with the check flags that follow
    #[arg(long)]
    pub run: bool,
    /// With --run: the flags check takes (--storage-account NAME, --timeout 3s, -o json, ...); --only is the message's to choose
    #[arg(
        value_name = "CHECK FLAGS",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub flags: Vec<String>,
}

/// The check flags `explain --run` takes after the message, read only when it runs.
#[derive(Debug, Parser)]
#[command(name = "amlprobe explain MESSAGE --run")]
pub struct RunFlags {
    #[command(flatten)]
    pub check: CheckArgs,
}

#[derive(Debug, Clone, Args)]
pub struct FixArgs {
    /// A report written by check (--report FILE or -o json); - reads standard input
    pub report: String,
    /// az: Azure CLI script; bicep; terraform (azurerm); managed-network: az ml workspace outbound-rule commands; markdown: what to change and why, with the others in fenced blocks
    #[arg(long, short = 'o', value_enum, default_value = "markdown")]
    pub format: FixFormat,
    #[command(flatten)]
    pub names: Names,
}

/// The resources `fix` writes changes for, each by its Azure name; one not given is a
/// placeholder in the output.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct Names {
    /// The Azure Firewall policy to add rules to
    #[arg(long, value_name = "NAME", value_parser = resource_name)]
    pub firewall_policy: Option<String>,
    /// The network security group of the compute's subnet
    #[arg(long, value_name = "NAME", value_parser = resource_name)]
    pub nsg: Option<String>,
    /// The route table of the compute's subnet
    #[arg(long, value_name = "NAME", value_parser = resource_name)]
    pub route_table: Option<String>,
    /// The resource group of the network resources
    #[arg(long, value_name = "NAME", value_parser = resource_name)]
    pub resource_group: Option<String>,
    /// The workspace, for managed-network rules (default: the report's)
    #[arg(long, value_name = "NAME", value_parser = resource_name)]
    pub workspace: Option<String>,
    /// The compute's virtual network
    #[arg(long, value_name = "NAME", value_parser = resource_name)]
    pub vnet: Option<String>,
    /// The compute's subnet
    #[arg(long, value_name = "NAME", value_parser = resource_name)]
    pub subnet: Option<String>,
}

/// A resource name for `fix`: what Azure allows in names, which no output format reads as
/// syntax.
fn resource_name(s: &str) -> Result<String, String> {
    match context::is_resource_name(s) {
        true => Ok(s.to_string()),
        false => Err(format!(
            "'{s}' is not an Azure resource name: letters, digits, '-', '_', '.', '(' and ')', up to 90"
        )),
    }
}

#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub context: ContextArgs,
    /// Extra catalog file in the probes/ format; repeatable
    #[arg(long, env = "AMLPROBE_CATALOG", value_delimiter = ',')]
    pub catalog: Vec<PathBuf>,
    /// Run only checks whose id or group matches this glob; repeatable
    #[arg(long, env = "AMLPROBE_ONLY", value_delimiter = ',')]
    pub only: Vec<String>,
    /// Leave out checks whose id or group matches this glob; repeatable
    #[arg(long, env = "AMLPROBE_SKIP", value_delimiter = ',')]
    pub skip: Vec<String>,
    /// Add the checks of these scenarios (vscode, rstudio, notebooks, registry, keyvault, automl, monitoring, sdk-v1, packages, or all); `list` names each and what it adds
    #[arg(
        long,
        env = "AMLPROBE_SCENARIO",
        value_delimiter = ',',
        value_name = "NAME[,NAME]"
    )]
    pub scenario: Vec<String>,
    /// Resolve with these servers instead of /etc/resolv.conf; repeatable
    #[arg(long, env = "AMLPROBE_DNS_SERVER", value_delimiter = ',', value_parser = parse_dns_server, value_name = "IP[:PORT]")]
    pub dns_server: Vec<SocketAddr>,
    /// Extra trust anchors (PEM) besides the system store; repeatable
    #[arg(
        long,
        env = "AMLPROBE_CA_FILE",
        value_delimiter = ',',
        value_name = "PEM"
    )]
    pub ca_file: Vec<PathBuf>,
    /// HTTP CONNECT proxy for TLS/HTTP/WebSocket checks (default: HTTPS_PROXY, honouring NO_PROXY)
    #[arg(
        long,
        env = "AMLPROBE_PROXY",
        value_name = "URL",
        hide_env_values = true
    )]
    pub proxy: Option<String>,
    /// Deadline of one check, all its phases together (5s, 1500ms)
    #[arg(long, env = "AMLPROBE_TIMEOUT", value_parser = parse_timeout, default_value = "5s", value_name = "DURATION")]
    pub timeout: Duration,
    /// How long UDP silence is awaited before it counts as no reply (default: 4 of the slowest
    /// round trips seen, between 300ms and 1500ms)
    #[arg(long, env = "AMLPROBE_UDP_WAIT", value_parser = parse_udp_wait, value_name = "DURATION")]
    pub udp_wait: Option<Duration>,
    /// Report format on stdout (default: table on a terminal, json otherwise)
    #[arg(short, long, env = "AMLPROBE_OUTPUT", value_enum)]
    pub output: Option<Format>,
    /// Also write the full JSON report to FILE
    #[arg(long, env = "AMLPROBE_REPORT", value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Follow each check that timed out (tcp_timeout, udp_no_reply) hop by hop once it has ended: TTL-limited probes of its own protocol and port name the last hop that answered before silence, most often the firewall or NVA that drops it. Never through a proxy. At most 16 checks are traced in a run (and in each watch round), all at once as they end: about 2 s more, and nothing when no check timed out (off by default)
    #[arg(long, env = "AMLPROBE_TRACE", value_parser = clap::builder::FalseyValueParser::new())]
    pub trace: bool,
    /// Replace workspace id, storage account, compute name, host names and addresses with placeholders
    #[arg(long, env = "AMLPROBE_REDACT", value_parser = clap::builder::FalseyValueParser::new())]
    pub redact: bool,
    /// Warnings also make the exit code 1
    #[arg(long, env = "AMLPROBE_STRICT", value_parser = clap::builder::FalseyValueParser::new())]
    pub strict: bool,
    /// Plain table without colour (also NO_COLOR)
    #[arg(long, env = "AMLPROBE_NO_COLOR", value_parser = clap::builder::FalseyValueParser::new())]
    pub no_color: bool,
}

/// `IP` or `IP:PORT` (`[v6]:PORT` for IPv6 with a port).
pub fn parse_dns_server(s: &str) -> Result<SocketAddr, String> {
    let s = s.trim();
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 53));
    }
    match s.parse::<SocketAddr>() {
        Ok(addr) if addr.port() == 0 => Err(format!("'{s}': port 0 is not a port; DNS listens on 53")),
        Ok(addr) => Ok(addr),
        Err(_) => Err(format!("'{s}' is not a DNS server address: use IP or IP:PORT, like 168.63.129.16 or [fd00::53]:53")),
    }
}

/// A duration between `min` and `max` (named as people write them in the message).
fn parse_duration_within(
    s: &str,
    (min, max): (Duration, Duration),
    (low, high): (&str, &str),
) -> Result<Duration, String> {
    let d = humantime::parse_duration(s.trim()).map_err(|e| {
        format!("'{s}' is not a duration ({e}): use a number and a unit, like 5s or 1500ms")
    })?;
    if d < min || d > max {
        return Err(format!(
            "'{s}' is out of range: give between {low} and {high}"
        ));
    }
    Ok(d)
}

pub fn parse_timeout(s: &str) -> Result<Duration, String> {
    let range = (Duration::from_millis(100), Duration::from_secs(600));
    parse_duration_within(s, range, ("100ms", "10m"))
}

pub fn parse_interval(s: &str) -> Result<Duration, String> {
    let range = (Duration::from_millis(100), Duration::from_secs(24 * 3600));
    parse_duration_within(s, range, ("100ms", "24h"))
}

pub fn parse_watch_for(s: &str) -> Result<Duration, String> {
    let range = (
        Duration::from_millis(100),
        Duration::from_secs(30 * 24 * 3600),
    );
    parse_duration_within(s, range, ("100ms", "30d"))
}

pub fn parse_udp_wait(s: &str) -> Result<Duration, String> {
    let range = (Duration::from_millis(10), Duration::from_secs(60));
    parse_duration_within(s, range, ("10ms", "60s"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_servers_and_timeouts_parse() {
        assert_eq!(
            parse_dns_server("10.0.0.53").unwrap(),
            "10.0.0.53:53".parse().unwrap()
        );
        assert_eq!(
            parse_dns_server("10.0.0.53:5353").unwrap(),
            "10.0.0.53:5353".parse().unwrap()
        );
        assert_eq!(
            parse_dns_server("fd00::53").unwrap(),
            "[fd00::53]:53".parse().unwrap()
        );
        assert!(parse_dns_server("dns.example.net").is_err());
        assert!(parse_dns_server("10.0.0.53:0").is_err());
        assert_eq!(
            parse_timeout("1500ms").unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(parse_timeout("5s").unwrap(), Duration::from_secs(5));
        assert!(parse_timeout("5").is_err());
        assert!(parse_timeout("0s").is_err());
        assert!(parse_timeout("2h").is_err());
        assert_eq!(parse_udp_wait("300ms").unwrap(), Duration::from_millis(300));
        assert!(parse_udp_wait("1ms").is_err() && parse_udp_wait("soon").is_err());
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("500MB"), Ok(500_000_000));
        assert!(
            parse_size("64").is_err() && parse_size("1B").is_err() && parse_size("5GiB").is_err()
        );
    }

    /// `Input` names each context flag and its variable for messages; clap must agree.
    #[test]
    fn inputs_name_the_flags_and_variables_clap_reads() {
        use crate::context::Input;
        use clap::CommandFactory;
        let cli = Cli::command();
        let check = cli.find_subcommand("check").expect("check");
        let all = [
            Input::Region,
            Input::StorageAccount,
            Input::ComputeName,
            Input::WorkspaceId,
            Input::ComputeType,
            Input::WorkspaceName,
            Input::Acr,
            Input::KeyVault,
        ];
        for input in all {
            // A new input fails to compile here until it joins the list above.
            match input {
                Input::Region
                | Input::StorageAccount
                | Input::ComputeName
                | Input::WorkspaceId
                | Input::ComputeType
                | Input::WorkspaceName
                | Input::Acr
                | Input::KeyVault => {}
            }
            let long = input.flag().trim_start_matches("--");
            let arg = check
                .get_arguments()
                .find(|a| a.get_long() == Some(long))
                .unwrap_or_else(|| panic!("no flag {}", input.flag()));
            let env = arg.get_env().and_then(|e| e.to_str());
            assert_eq!(env, Some(input.env()), "{}", input.flag());
        }
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
