//! The endpoints' servers: nginx for TCP and TLS (many names on one address by SNI), socat for
//! UDP and for servers that never speak, smbd for SMB, tests/support/hostile.py for servers
//! that misbehave, WebSocket backends, tinyproxy as the forward proxy, and the metadata service.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use amlprobe::catalog::{Kind, Transport};

use super::certs::{Certs, Leaf};
use super::sandbox::Sandbox;
use super::scenario::{ImdsSpec, ProxySpec, Scenario, ServerFault, UdpMode};
use super::world::{Target, World, IMDS_ADDR, PROXY_ADDR, PROXY_PASSWORD};

const WS_BACKEND_PORT: u16 = 9001;
const WS_AUTH_BACKEND_PORT: u16 = 9002;

/// A script in tests/support/.
pub fn support(script: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/support")
        .join(script)
        .display()
        .to_string()
}

/// A fixture under tests/fixtures/.
pub fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

/// The metadata service at 169.254.169.254, up before anything asks it.
pub fn start_imds(sb: &mut Sandbox, imds: &ImdsSpec) {
    let document = fixture(&format!("imds/{}", imds.document));
    let args = [
        &support("imds.py"),
        IMDS_ADDR,
        "80",
        imds.mode.arg(),
        &document,
    ];
    sb.spawn("python3", &args);
    sb.wait_for_listeners(&[format!("tcp/{IMDS_ADDR}:80")].into_iter().collect());
}

/// How a server fault is played.
enum Play {
    /// By tests/support/hostile.py in this mode.
    Hostile(&'static str),
    /// By nginx with this certificate.
    Certificate(Leaf),
    /// By the choice or configuration of the server.
    Setup,
}

impl ServerFault {
    fn play(self) -> Play {
        match self {
            ServerFault::HostileSilent => Play::Hostile("silent"),
            ServerFault::HostileGarbage => Play::Hostile("garbage"),
            ServerFault::HostileTrickle => Play::Hostile("trickle"),
            ServerFault::HostileEndless => Play::Hostile("endless-header"),
            ServerFault::BlockPage => Play::Hostile("block-page"),
            ServerFault::StorageDenied => Play::Hostile("storage-denied"),
            ServerFault::RegistryDenied => Play::Hostile("registry-denied"),
            ServerFault::TransferStall => Play::Hostile("transfer-stall"),
            ServerFault::TransferSlow => Play::Hostile("transfer-slow"),
            ServerFault::ShortPage => Play::Hostile("short-page"),
            ServerFault::ClockAhead => Play::Hostile("clock-ahead"),
            ServerFault::HelloClose => Play::Hostile("hello-close"),
            ServerFault::Expired => Play::Certificate(Leaf::Expired),
            ServerFault::WrongName => Play::Certificate(Leaf::WrongName),
            ServerFault::Untrusted => Play::Certificate(Leaf::Untrusted),
            ServerFault::Intercepted => Play::Certificate(Leaf::Intercepted),
            ServerFault::SelfSigned => Play::Certificate(Leaf::SelfSigned),
            ServerFault::Http503
            | ServerFault::StripUpgrade
            | ServerFault::WsAuth
            | ServerFault::NotSmb
            | ServerFault::NotTls
            | ServerFault::Silent
            | ServerFault::NoListener => Play::Setup,
        }
    }

    fn hostile_mode(self) -> Option<&'static str> {
        match self.play() {
            Play::Hostile(mode) => Some(mode),
            Play::Certificate(_) | Play::Setup => None,
        }
    }

    fn leaf(self) -> Option<Leaf> {
        match self.play() {
            Play::Certificate(leaf) => Some(leaf),
            Play::Hostile(_) | Play::Setup => None,
        }
    }
}

/// Whether the probe speaks TLS to an endpoint of this kind.
fn speaks_tls(kind: Kind) -> bool {
    match kind {
        Kind::Tls | Kind::Https | Kind::Websocket => true,
        Kind::Dns | Kind::Tcp | Kind::Udp | Kind::Http | Kind::Smb | Kind::Host => false,
    }
}

/// Which endpoint serves each address and port: a server of its own (socat, smbd, hostile.py)
/// owns its address and port; nginx serves many names on one by SNI.
#[derive(Default)]
struct Ports {
    /// Address, port and transport.
    seen: BTreeSet<(String, u16, String)>,
    nginx_on: BTreeSet<(String, u16, String)>,
    /// Host and port.
    named: BTreeSet<(String, u16)>,
}

impl Ports {
    /// Whether `t` is the first to claim its address and port (or, on nginx, its name there).
    fn claim(&mut self, t: &Target, addr: &str, port: u16, own_server: bool) -> bool {
        let key = (addr.to_string(), port, t.transport().to_string());
        if own_server {
            !self.nginx_on.contains(&key) && self.seen.insert(key)
        } else {
            !self.seen.contains(&key) && self.named.insert((t.host().to_string(), port)) && {
                self.nginx_on.insert(key);
                true
            }
        }
    }
}

/// nginx's `server` blocks, collected endpoint by endpoint.
#[derive(Default)]
struct Nginx {
    servers: String,
    /// Some endpoint proxies to the WebSocket backends.
    websocket: bool,
    /// Where the download hosts' file is.
    downloads: String,
}

/// Starts every endpoint's server and the proxy; returns the listeners to wait for.
pub fn start(sb: &mut Sandbox, sc: &Scenario, world: &World, certs: &Certs) -> BTreeSet<String> {
    let mut listeners = BTreeSet::new();
    let mut ports = Ports::default();
    let mut nginx = Nginx::default();
    if !world.download_hosts.is_empty() {
        let dir = sb.dir.join("downloads");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(DOWNLOAD), vec![0x5a; 2 << 20]).unwrap();
        nginx.downloads = dir.display().to_string();
    }
    for t in world.served() {
        let Some(port) = t.port() else { continue };
        let addr = world.address(t.host());
        let faults = world.faults(t).server;
        let own_server = t.transport() == Transport::Udp
            || t.kind == Kind::Smb
            || faults.contains(&ServerFault::Silent)
            || faults.iter().any(|f| f.hostile_mode().is_some());
        if !ports.claim(t, addr, port, own_server) || faults.contains(&ServerFault::NoListener) {
            continue;
        }
        listeners.insert(format!("{}/{addr}:{port}", t.transport()));
        let endpoint = Endpoint {
            t,
            addr,
            port,
            faults,
        };
        endpoint.serve(sb, sc, world, certs, &mut nginx);
    }
    if nginx.websocket {
        start_ws_backends(sb, &mut listeners);
    }
    if let Some(spec) = sc.proxy.as_ref().filter(|s| !s.down) {
        start_tinyproxy(sb, spec);
        listeners.insert(format!("tcp/{PROXY_ADDR}:3128"));
    }
    nginx.start(sb);
    listeners
}

/// One endpoint to serve, with its address and its server faults.
struct Endpoint<'a> {
    t: &'a Target,
    addr: &'a str,
    port: u16,
    faults: BTreeSet<ServerFault>,
}

impl Endpoint<'_> {
    fn has(&self, fault: ServerFault) -> bool {
        self.faults.contains(&fault)
    }

    fn serve(
        &self,
        sb: &mut Sandbox,
        sc: &Scenario,
        world: &World,
        certs: &Certs,
        nginx: &mut Nginx,
    ) {
        let (addr, port) = (self.addr, self.port);
        if self.t.transport() == Transport::Udp {
            let bind = format!("bind={addr}");
            match sc.udp {
                UdpMode::Echo => {
                    let listen = format!("UDP4-RECVFROM:{port},{bind},fork");
                    sb.spawn("socat", &[&listen, "EXEC:cat"]);
                }
                UdpMode::Silent => {
                    let listen = format!("UDP4-RECV:{port},{bind}");
                    sb.spawn("socat", &["-u", &listen, "OPEN:/dev/null"]);
                }
            }
            return;
        }
        if self.has(ServerFault::Silent) {
            let listen = format!("TCP4-LISTEN:{port},bind={addr},fork,reuseaddr");
            sb.spawn("socat", &["-u", &listen, "OPEN:/dev/null"]);
            return;
        }
        let tls = speaks_tls(self.t.kind) && !self.has(ServerFault::NotTls);
        // The set is in order of precedence, so the first hostile fault is the one played.
        if let Some(mode) = self.faults.iter().find_map(|f| f.hostile_mode()) {
            let (script, port) = (support("hostile.py"), port.to_string());
            let mut args = vec![script, mode.to_string(), addr.to_string(), port];
            if tls {
                let (cert, key) = certs.leaf(Leaf::Good);
                args.extend([cert, key].map(|p| p.display().to_string()));
            }
            sb.spawn(
                "python3",
                &args.iter().map(String::as_str).collect::<Vec<_>>(),
            );
            return;
        }
        if self.t.kind == Kind::Smb && !self.has(ServerFault::NotSmb) {
            start_smbd(sb, addr);
            return;
        }
        let block = if tls {
            self.tls_server(sc, world, certs, nginx)
        } else if self.t.kind == Kind::Http {
            // Plain HTTP as Microsoft's sign-in host answers it: a redirect to HTTPS.
            format!(
                "server {{ listen {addr}:{port}; server_name {host}; return 301 https://{host}/; }}",
                host = self.t.host()
            )
        } else {
            format!(
                "server {{ listen {addr}:{port}; server_name {}; return 200 \"ok\\n\"; }}",
                self.t.host()
            )
        };
        let _ = writeln!(nginx.servers, "  {block}");
    }

    /// An nginx `server` block with TLS, its certificate and answer as the faults say.
    fn tls_server(&self, sc: &Scenario, world: &World, certs: &Certs, nginx: &mut Nginx) -> String {
        let which = self.faults.iter().find_map(|f| f.leaf());
        let (cert, key) = certs.leaf(which.unwrap_or(Leaf::Good));
        let body = if self.t.kind == Kind::Websocket {
            nginx.websocket = true;
            self.websocket_location()
        } else if self.has(ServerFault::Http503) {
            "return 503 \"unavailable\\n\";".to_string()
        } else if world.registry_hosts.contains(self.t.host()) {
            registry_locations(sc, world.redirects_from(self.t.host()))
        } else if world.download_hosts.contains(self.t.host()) {
            // Downloads a redirect names: the file, whole or by range, as a CDN serves it.
            let dir = &nginx.downloads;
            format!("location {DOWNLOAD_PATH} {{ alias {dir}/; }} location / {{ return 404; }}")
        } else if self.t.host().ends_with(".azurecr.io") {
            // A container registry: an anonymous GET /v2/ is asked to sign in.
            let realm = format!("https://{}/oauth2/token", self.t.host());
            format!(
                "location /v2/ {{ add_header Www-Authenticate 'Bearer realm=\"{realm}\",service=\"{}\"' always; return 401 '{{\"errors\":[{{\"code\":\"UNAUTHORIZED\",\"message\":\"authentication required\"}}]}}'; }} location / {{ return 200 \"ok\\n\"; }}",
                self.t.host()
            )
        } else {
            "return 200 \"ok\\n\";".to_string()
        };
        format!(
            "server {{ listen {}:{} ssl; server_name {}; ssl_protocols TLSv1.2 TLSv1.3; ssl_certificate {}; ssl_certificate_key {}; {body} }}",
            self.addr,
            self.port,
            self.t.host(),
            cert.display(),
            key.display()
        )
    }

    /// A WebSocket endpoint: nginx proxies to a backend that upgrades or asks for sign-in.
    fn websocket_location(&self) -> String {
        let backend = if self.has(ServerFault::WsAuth) {
            WS_AUTH_BACKEND_PORT
        } else {
            WS_BACKEND_PORT
        };
        // A proxy that strips Upgrade is one that does not pass the hop-by-hop headers on.
        let upgrade = if self.has(ServerFault::StripUpgrade) {
            ""
        } else {
            "proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection \"upgrade\"; "
        };
        format!("location / {{ proxy_pass http://127.0.0.1:{backend}; proxy_http_version 1.1; {upgrade}}}")
    }
}

/// A registry: blob downloads are redirected to the data host, if there is one; other
/// downloads a check asks for (`path`) to the host that serves them.
fn registry_locations(sc: &Scenario, redirects: Vec<(String, String)>) -> String {
    let v2 = match &sc.registry_redirect {
        Some(data) => format!(
            "return 307 https://{data}/d41d8cd9/docker/registry/v2/blobs/sha256/fc/data?se=x&sig=not-a-secret;"
        ),
        None => "return 404 \"no such blob\\n\";".to_string()
    };
    let others: String = redirects
        .iter()
        .map(|(path, to)| {
            format!("location = {path} {{ return 302 https://{to}{DOWNLOAD_PATH}{DOWNLOAD}; }} ")
        })
        .collect();
    format!("{others}location /v2/ {{ {v2} }} location / {{ return 200 \"ok\\n\"; }}")
}

/// The file a download host serves: 2 MiB, more than a transfer check fetches.
const DOWNLOAD: &str = "vscode-server-linux-x64.tar.gz";
/// Where, as the real server download's redirect names it: a URL longer than a header a
/// message quotes.
const DOWNLOAD_PATH: &str = "/dbazure/download/stable/0f3a8d526c1e4b7a9d2e5a4b3c2d1e0f0f3a8d52/";

impl Nginx {
    fn start(self, sb: &mut Sandbox) {
        if self.servers.is_empty() {
            return;
        }
        let d = sb.dir.display().to_string();
        let servers = self.servers;
        let conf = format!(
            "user root;\nworker_processes 1;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/nginx-error.log;\n\
             events {{ worker_connections 512; }}\nhttp {{\n  access_log off;\n  client_body_temp_path {d}/tmp;\n  \
             proxy_temp_path {d}/tmp;\n  fastcgi_temp_path {d}/tmp;\n  uwsgi_temp_path {d}/tmp;\n  scgi_temp_path {d}/tmp;\n{servers}}}\n"
        );
        let path = sb.dir.join("nginx.conf");
        std::fs::write(&path, conf).unwrap();
        sb.spawn("nginx", &["-c", &path.display().to_string(), "-p", &d]);
    }
}

fn start_ws_backends(sb: &mut Sandbox, listeners: &mut BTreeSet<String>) {
    for (port, mode) in [(WS_BACKEND_PORT, "upgrade"), (WS_AUTH_BACKEND_PORT, "auth")] {
        let script = support("ws_backend.py");
        sb.spawn("python3", &[&script, "127.0.0.1", &port.to_string(), mode]);
        listeners.insert(format!("tcp/127.0.0.1:{port}"));
    }
}

/// Samba's smbd answering SMB on `addr`:445, with all its state under the scenario's folder.
fn start_smbd(sb: &mut Sandbox, addr: &str) {
    let state = sb.dir.join("samba");
    std::fs::create_dir_all(state.join("ncalrpc")).unwrap();
    let st = state.display();
    let conf = format!(
        "[global]\n  server role = standalone server\n  interfaces = {addr}\n  bind interfaces only = yes\n  \
         smb ports = 445\n  disable netbios = yes\n  pid directory = {st}\n  lock directory = {st}\n  \
         state directory = {st}\n  cache directory = {st}\n  private dir = {st}\n  ncalrpc dir = {st}/ncalrpc\n  \
         log file = {st}/log.%m\n  load printers = no\n  printing = bsd\n  printcap name = /dev/null\n  \
         disable spoolss = yes\n"
    );
    let path = sb.dir.join("smb.conf");
    std::fs::write(&path, conf).unwrap();
    let config = format!("--configfile={}", path.display());
    let args = [
        "--foreground",
        "--no-process-group",
        &config,
        "--debug-stdout",
    ];
    sb.spawn("smbd", &args);
}

/// tinyproxy as the customer's forward proxy: CONNECT to 443 only, optional Basic auth and
/// denied hosts.
fn start_tinyproxy(sb: &mut Sandbox, spec: &ProxySpec) {
    let d = sb.dir.display();
    let mut conf = format!(
        "Port 3128\nListen {PROXY_ADDR}\nTimeout 30\nMaxClients 100\nAllow 10.0.0.0/8\nAllow 127.0.0.1\n\
         PidFile \"{d}/tinyproxy.pid\"\nLogLevel Info\nConnectPort 443\n"
    );
    if spec.auth {
        let _ = writeln!(conf, "BasicAuth amlprobe {PROXY_PASSWORD}");
    }
    if !spec.deny.is_empty() {
        let filter: String = spec
            .deny
            .iter()
            .map(|h| format!("^{}$\n", h.replace('.', "\\.")))
            .collect();
        std::fs::write(sb.dir.join("filter"), filter).unwrap();
        let _ = writeln!(conf, "Filter \"{d}/filter\"\nFilterExtended Yes");
    }
    let path = sb.dir.join("tinyproxy.conf");
    std::fs::write(&path, conf).unwrap();
    sb.spawn("tinyproxy", &["-d", "-c", &path.display().to_string()]);
}
