//! The sealed network namespace a scenario plays in: commands run inside it, servers started in
//! it with their logs, and teardown of everything when it is dropped.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Whether namespaces can be made here: root, and every one of `tools` on the path (a missing
/// one is named, followed by `hint`).
pub fn root_and_tools(tools: &[&str], hint: &str) -> Result<(), String> {
    let is_root = std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false);
    if !is_root {
        return Err("needs root for network namespaces".into());
    }
    for tool in tools {
        let found = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).exists()))
            .unwrap_or(false)
            || std::path::Path::new("/usr/sbin").join(tool).exists();
        if !found {
            return Err(format!("needs {tool}{hint}"));
        }
    }
    Ok(())
}

/// Owns the namespace and every process and file of a scenario; dropping it removes them all,
/// whether the test passed or panicked.
pub struct Sandbox {
    pub netns: String,
    /// The scenario's files: configurations, certificates, logs, reports.
    pub dir: PathBuf,
    children: Vec<Child>,
}

impl Sandbox {
    /// A namespace with only `lo`, up, and no route out of it.
    pub fn new(name: &str) -> Sandbox {
        let netns = format!("ap-{}-{}", name.replace('_', "-"), std::process::id());
        let dir = std::env::temp_dir().join(&netns);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // Owned before the namespace exists, so that a failure from here on still removes it.
        let sb = Sandbox {
            netns,
            dir,
            children: Vec::new(),
        };
        let st = Command::new("ip")
            .args(["netns", "add", &sb.netns])
            .status()
            .expect("ip netns add");
        assert!(st.success(), "ip netns add {} failed", sb.netns);
        sb.run("ip", &["link", "set", "lo", "up"]);
        sb
    }

    /// A default route, as a real node has: a packet to an address nobody owns is then lost
    /// without a word, as on a real network, instead of failing at once. The metadata service
    /// alone stays unreachable at once (as on a machine outside Azure), where no scenario serves
    /// it on the loopback.
    pub fn route_as_a_node(&self) {
        self.run("ip", &["route", "add", "default", "dev", "lo"]);
        self.run("ip", &["route", "add", "throw", "169.254.169.254/32"]);
    }

    /// What the probe sees of /etc inside the namespace.
    pub fn etc(&self) -> PathBuf {
        PathBuf::from(format!("/etc/netns/{}", self.netns))
    }

    /// `program` to run inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.netns, program]);
        cmd
    }

    pub fn run(&self, program: &str, args: &[&str]) {
        let out = self
            .command(program)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{program}: {e}"));
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// An address on the namespace's loopback.
    pub fn add_address(&self, addr: &str) {
        self.run("ip", &["addr", "add", &format!("{addr}/32"), "dev", "lo"]);
    }

    pub fn spawn(&mut self, program: &str, args: &[&str]) {
        let log = std::fs::File::create(
            self.dir
                .join(format!("{program}-{}.log", self.children.len())),
        )
        .expect("log file");
        // Each server in a process group of its own: smbd signals its whole group on exit,
        // which must not reach the test runner.
        let child = self
            .command(program)
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
    pub fn logs(&self) -> String {
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

    /// Wait until every expected listener (`tcp/ADDR:PORT`) shows in `ss`, so the probe never
    /// races a server.
    pub fn wait_for_listeners(&self, want: &BTreeSet<String>) {
        let started = Instant::now();
        loop {
            let out = self.command("ss").arg("-Hlntu").output().expect("ss");
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
        let _ = std::fs::remove_dir_all(self.etc());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
