//! `--metrics FILE`: the latest round in Prometheus text exposition, for node_exporter's
//! textfile collector. The file is replaced whole after each round (written beside it, then
//! renamed), so the collector never reads half of one.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::exit::Stop;
use crate::reason::Status;
use crate::result::CheckResult;

use super::history::is_problem;

/// A label value as the exposition format writes it: backslash, double quote and line feed
/// escaped, everything else as it is.
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// `{k="v",…}`.
fn labels(pairs: &[(&str, &str)]) -> String {
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

fn family(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
}

/// Milliseconds as seconds.
fn seconds(ms: u64) -> String {
    format!("{}", ms as f64 / 1000.0)
}

/// The exposition of one round: each check's success, each phase's duration, each name's
/// answer changes so far, and the round itself. Skipped checks have no success to show.
pub fn render(
    results: &[&CheckResult],
    answer_changes: &[(String, u32)],
    round: u32,
    round_unix_ms: u64,
) -> String {
    let mut out = String::new();
    family(
        &mut out,
        "amlprobe_check_success",
        "Whether the check succeeded in the latest round (1) or failed or warned (0); UDP silence (udp_no_reply) counts as success, skipped checks are left out.",
    );
    for r in results.iter().filter(|r| r.status != Status::Skip) {
        let target = r.target.to_string();
        let pairs = [
            ("id", r.id.as_str()),
            ("group", r.group.as_str()),
            ("target", target.as_str()),
            ("reason", r.reason.code()),
            ("status", r.status.as_str()),
        ];
        let ok = u8::from(!is_problem(r));
        let _ = writeln!(out, "amlprobe_check_success{} {ok}", labels(&pairs));
    }
    family(
        &mut out,
        "amlprobe_phase_duration_seconds",
        "How long each phase of each check took in the latest round.",
    );
    for r in results {
        // A phase that ran again (the small-MSS retry of a stalled TLS handshake, and its
        // full-size control, which run beside the first) is one series: the check's own first
        // run of it, as the other phases are.
        let mut phases: Vec<(String, u64)> = Vec::new();
        for p in &r.phases {
            let name = serde_json::to_value(p.phase)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default();
            if !phases.iter().any(|(n, _)| *n == name) {
                phases.push((name, p.ms));
            }
        }
        for (phase, ms) in phases {
            let pairs = [("id", r.id.as_str()), ("phase", phase.as_str())];
            let _ = writeln!(
                out,
                "amlprobe_phase_duration_seconds{} {}",
                labels(&pairs),
                seconds(ms)
            );
        }
    }
    family(
        &mut out,
        "amlprobe_dns_answer_changes",
        "How many times the name's set of addresses changed between rounds since the watch started.",
    );
    for (name, changes) in answer_changes {
        let _ = writeln!(
            out,
            "amlprobe_dns_answer_changes{} {changes}",
            labels(&[("name", name)])
        );
    }
    family(
        &mut out,
        "amlprobe_round_timestamp_seconds",
        "When the latest round started, in seconds since the Unix epoch.",
    );
    let _ = writeln!(
        out,
        "amlprobe_round_timestamp_seconds {}",
        seconds(round_unix_ms)
    );
    family(
        &mut out,
        "amlprobe_rounds",
        "Rounds finished since the watch started.",
    );
    let _ = writeln!(out, "amlprobe_rounds {round}");
    out
}

/// Where a file is written before it is renamed over `path`: beside it (a rename does not cross
/// file systems), hidden, and not ending in `.prom`, so the collector never reads it. The name
/// ends in random bytes: a name known in advance could be planted in a shared directory.
fn temporary(path: &Path) -> Result<PathBuf, String> {
    let name = path
        .file_name()
        .ok_or_else(|| "names no file".to_string())?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut random = [0u8; 8];
    rustls::crypto::ring::default_provider()
        .secure_random
        .fill(&mut random)
        .map_err(|_| "no random bytes for a temporary name".to_string())?;
    let random: String = random.iter().map(|b| format!("{b:02x}")).collect();
    Ok(dir.join(format!(
        ".{}.{}.{random}.tmp",
        name.to_string_lossy(),
        std::process::id()
    )))
}

/// A new temporary file beside `path`. It must not exist yet and must not be a symbolic link:
/// as root, opening a name another user planted would write wherever that name leads.
fn create_temporary(path: &Path) -> Result<(PathBuf, std::fs::File), String> {
    let tmp = temporary(path)?;
    let file = create_new(&tmp).map_err(|e| e.to_string())?;
    Ok((tmp, file))
}

/// Create `path`, which must not exist, not even as a symbolic link.
fn create_new(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
        .open(path)
}

/// `path` may be replaced if it is a regular file or not there at all. Anything else (a device,
/// a pipe, a symbolic link) is not the textfile collector's, and the rename would put a plain
/// file in its place.
fn replaceable(path: &Path) -> Result<(), Refused> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => Err(Refused::Directory),
        Ok(m) if !m.file_type().is_file() => Err(Refused::NotRegular),
        _ => Ok(()),
    }
}

/// Why `path` is not replaced.
enum Refused {
    Directory,
    NotRegular,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refused::Directory => "it is a directory",
            Refused::NotRegular => "it is not a regular file",
        })
    }
}

/// Replace `path` with `text` in one step.
pub fn write(path: &Path, text: &str) -> Result<(), String> {
    replaceable(path).map_err(|why| why.to_string())?;
    let (tmp, mut file) = create_temporary(path)?;
    let written = file
        .write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.map_err(|e| e.to_string())
}

/// `--metrics FILE` is tried before the first round, as `--report` is: a path that cannot be
/// written must not cost a watch. Nothing is written to FILE itself yet. A FILE that is neither
/// a regular file nor a directory (a device, a symbolic link) is the person's to change (exit 2).
pub fn writable(path: &Path) -> Result<(), Stop> {
    let message = |why: String| format!("--metrics {}: cannot write: {why}", path.display());
    match replaceable(path) {
        Err(why @ Refused::NotRegular) => return Err(Stop::usage(message(why.to_string()))),
        Err(why @ Refused::Directory) => return Err(Stop::cannot_run(message(why.to_string()))),
        Ok(()) => {}
    }
    let (tmp, _) = create_temporary(path).map_err(|why| Stop::cannot_run(message(why)))?;
    let _ = std::fs::remove_file(&tmp);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reason::Reason;
    use crate::report::fixture;
    use crate::result::{Phase, PhaseKind};

    #[test]
    fn label_values_escape_backslash_quote_and_newline() {
        assert_eq!(escape(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(escape("two\nlines"), "two\\nlines");
        assert_eq!(
            escape("plain.example.net:443/tcp"),
            "plain.example.net:443/tcp"
        );
        assert_eq!(
            labels(&[("id", "x\"y"), ("target", "h\\")]),
            r#"{id="x\"y",target="h\\"}"#
        );
    }

    #[test]
    fn a_round_renders_every_family_with_help_and_type() {
        let mut ok = fixture::result("graph-443", "azureml", Status::Pass, Reason::Ok);
        ok.phases = vec![
            Phase {
                ms: 3,
                ..Phase::of(PhaseKind::Dns)
            },
            Phase {
                ms: 1500,
                ..Phase::of(PhaseKind::Tcp)
            },
            // A stalled handshake, then its small-MSS retry: the series is the first.
            Phase {
                ms: 900,
                ..Phase::of(PhaseKind::Tls)
            },
            Phase {
                ms: 5,
                mss: Some(536),
                ..Phase::of(PhaseKind::Tls)
            },
        ];
        let silent = fixture::result("tundra", "azureml", Status::Warn, Reason::UdpNoReply);
        let tls_lines = |text: &str| -> Vec<String> {
            text.lines()
                .filter(|l| l.contains(r#"phase="tls""#))
                .map(String::from)
                .collect()
        };
        let broken = fixture::result("arm\"\n", "x", Status::Fail, Reason::TcpTimeout);
        let skipped = fixture::result("skipped", "x", Status::Skip, Reason::NotApplicable);
        let text = render(
            &[&ok, &silent, &broken, &skipped],
            &[("graph.windows.net".into(), 2)],
            3,
            1_764_140_400_250,
        );
        assert_eq!(
            tls_lines(&text),
            [r#"amlprobe_phase_duration_seconds{id="graph-443",phase="tls"} 0.9"#]
        );
        for line in [
            "# HELP amlprobe_check_success ",
            "# TYPE amlprobe_check_success gauge",
            r#"amlprobe_check_success{id="graph-443",group="azureml",target="graph-443.example.net:443/tcp",reason="ok",status="pass"} 1"#,
            r#"amlprobe_check_success{id="tundra",group="azureml",target="tundra.example.net:443/tcp",reason="udp_no_reply",status="warn"} 1"#,
            r#"amlprobe_check_success{id="arm\"\n",group="x",target="arm\"\n.example.net:443/tcp",reason="tcp_timeout",status="fail"} 0"#,
            r#"amlprobe_phase_duration_seconds{id="graph-443",phase="dns"} 0.003"#,
            r#"amlprobe_phase_duration_seconds{id="graph-443",phase="tcp"} 1.5"#,
            r#"amlprobe_phase_duration_seconds{id="graph-443",phase="tls"} 0.9"#,
            "# TYPE amlprobe_dns_answer_changes gauge",
            r#"amlprobe_dns_answer_changes{name="graph.windows.net"} 2"#,
            "amlprobe_round_timestamp_seconds 1764140400.25",
            "amlprobe_rounds 3",
        ] {
            assert!(
                text.lines().any(|l| l.starts_with(line)),
                "{line} in\n{text}"
            );
        }
        assert!(
            !text.contains("id=\"skipped\",group"),
            "a skipped check has no success"
        );
        assert!(text.ends_with('\n'));
    }

    /// docs/interface.md lists every family the file holds, with its labels, and no other.
    #[test]
    fn every_family_is_documented_with_its_labels() {
        use crate::interface::{code, first_code, table};
        use std::collections::{BTreeMap, BTreeSet};
        let mut ok = fixture::result("graph-443", "azureml", Status::Pass, Reason::Ok);
        ok.phases = vec![Phase::of(PhaseKind::Dns)];
        let text = render(&[&ok], &[("graph.windows.net".into(), 1)], 1, 1);
        let mut written: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (name, rest) = line.split_at(line.find(['{', ' ']).unwrap());
            let labels = rest
                .strip_prefix('{')
                .and_then(|r| r.split_once('}'))
                .map(|(inner, _)| inner.split(',').map(|kv| kv.split('=').next().unwrap()));
            let family = written.entry(name.to_string()).or_default();
            family.extend(labels.into_iter().flatten().map(String::from));
        }
        let documented: BTreeMap<String, BTreeSet<String>> = table(&["Reports", "Watch metrics"])
            .iter()
            .map(|r| {
                let labels = code(&r[1]).into_iter().map(String::from).collect();
                (first_code(&r[0]).to_string(), labels)
            })
            .collect();
        assert_eq!(documented, written, "docs/interface.md's metrics");
    }

    #[test]
    fn the_file_is_replaced_whole_and_nothing_is_left_beside_it() {
        let dir = std::env::temp_dir().join(format!("amlprobe-metrics-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("amlprobe.prom");
        writable(&path).unwrap();
        assert!(!path.exists(), "trying the directory writes nothing");
        write(&path, "one\n").unwrap();
        write(&path, "two\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two\n");
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file stays");
        assert!(writable(&dir).is_err(), "a directory is no file");
        assert!(writable(&dir.join("missing/amlprobe.prom")).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The target is replaced only if it is a regular file: a pipe or a symbolic link to a
    /// directory stays as it is, refused with exit 2 before the first round and at each write.
    #[test]
    fn only_a_regular_file_is_replaced() {
        use std::os::unix::fs::FileTypeExt as _;
        let dir =
            std::env::temp_dir().join(format!("amlprobe-metrics-kinds-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("fifo.prom");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let to_dir = dir.join("dir.prom");
        std::os::unix::fs::symlink(&dir, &to_dir).unwrap();
        for path in [&fifo, &to_dir] {
            let stop = writable(path).unwrap_err();
            assert_eq!(stop.code, crate::exit::EXIT_USAGE);
            let why = "cannot write: it is not a regular file";
            assert_eq!(stop.message, format!("--metrics {}: {why}", path.display()));
            assert_eq!(
                write(path, "one\n").unwrap_err(),
                "it is not a regular file"
            );
        }
        assert!(std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo());
        assert!(std::fs::symlink_metadata(&to_dir).unwrap().is_symlink());
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2, "nothing added");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The temporary file is new: a symbolic link or a file planted at its name is not opened,
    /// and what it leads to is not truncated. Its name cannot be known in advance.
    #[test]
    fn the_temporary_file_is_new_and_its_name_unforeseeable() {
        let dir = std::env::temp_dir().join(format!("amlprobe-metrics-tmp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let victim = dir.join("victim");
        std::fs::write(&victim, "precious\n").unwrap();
        let planted = dir.join(".amlprobe.prom.tmp");
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        let err = create_new(&planted).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
        std::fs::remove_file(&planted).unwrap();
        std::fs::write(&planted, "").unwrap();
        assert_eq!(
            create_new(&planted).unwrap_err().kind(),
            std::io::ErrorKind::AlreadyExists
        );
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
        let path = dir.join("amlprobe.prom");
        let (one, two) = (temporary(&path).unwrap(), temporary(&path).unwrap());
        assert_ne!(one, two);
        let name = one.file_name().unwrap().to_str().unwrap().to_string();
        let prefix = format!(".amlprobe.prom.{}.", std::process::id());
        assert!(
            name.starts_with(&prefix) && name.ends_with(".tmp"),
            "{name}"
        );
        assert_eq!(name.len(), prefix.len() + 16 + ".tmp".len(), "{name}");
        assert_eq!(one.parent(), Some(dir.as_path()));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
