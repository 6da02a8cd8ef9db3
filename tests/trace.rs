//! `--trace` on a chain of sealed network namespaces, node → fw → region, joined by veth pairs
//! with no route anywhere else. The fw forwards between them and drops one TCP port and one UDP
//! port on its forward hook; the region serves every port and answers DNS. The node's trace of
//! each dropped flow must name the fw's node-facing address as the last hop, and the flow the fw
//! lets through must pass untraced. One dropped flow goes over IPv6.

#[allow(dead_code)]
#[path = "sim/sandbox.rs"]
mod sandbox;
#[path = "support/skip.rs"]
mod skip;

use std::collections::BTreeSet;
use std::process::Output;
use std::time::{Duration, Instant};

use sandbox::Sandbox;
use serde_json::Value;
use skip::skip_unless_ci;

const NODE: &str = "10.79.1.2";
/// The fw's address on the node's link: the hop the trace must name.
const FW: &str = "10.79.1.1";
const FW_REGION_SIDE: &str = "10.79.2.1";
const REGION: &str = "10.79.2.2";
/// The same chain in IPv6, for a flow whose name has only an IPv6 address.
const NODE6: &str = "fd79:1::2";
const FW6: &str = "fd79:1::1";
const FW6_REGION_SIDE: &str = "fd79:2::1";
const REGION6: &str = "fd79:2::2";
const OPEN: u16 = 8080;
const DROPPED: u16 = 8443;
const UDP_DROPPED: u16 = 5831;

fn catalog() -> String {
    let entry = |id: &str, host: &str, port: u16, transport: &str, kind: &str| {
        format!(
            "[[endpoint]]\nid = \"{id}\"\ngroup = \"trace\"\ntitle = \"{id}\"\nhost = \"{host}\"\nport = {port}\ntransport = \"{transport}\"\nkind = \"{kind}\"\ndoc = \"https://learn.microsoft.com/azure/machine-learning/how-to-access-azureml-behind-firewall\"\n\n"
        )
    };
    [
        entry("trace-open", "open.trace.test", OPEN, "tcp", "tcp"),
        entry("trace-dropped", "dropped.trace.test", DROPPED, "tcp", "tcp"),
        entry(
            "trace-dropped6",
            "dropped6.trace.test",
            DROPPED,
            "tcp",
            "tcp",
        ),
        entry("trace-udp", "tundra.trace.test", UDP_DROPPED, "udp", "udp"),
    ]
    .concat()
}

/// The three namespaces, linked and routed, with the fw's rules and the region's servers.
struct Chain {
    node: Sandbox,
    // Held for their teardown when the test ends, passed or not.
    _fw: Sandbox,
    region: Sandbox,
}

fn chain() -> Chain {
    let node = Sandbox::new("trace-node");
    let fw = Sandbox::new("trace-fw");
    let mut region = Sandbox::new("trace-region");
    let link = |peer: &Sandbox, here: &str, there: &str| {
        fw.run(
            "ip",
            &[
                "link",
                "add",
                here,
                "type",
                "veth",
                "peer",
                "name",
                there,
                "netns",
                &peer.netns,
            ],
        );
    };
    link(&node, "f0", "n0");
    link(&region, "f1", "r0");
    let up = |sb: &Sandbox, dev: &str, addr: &str, addr6: &str| {
        sb.run("ip", &["addr", "add", &format!("{addr}/24"), "dev", dev]);
        let addr6 = format!("{addr6}/64");
        sb.run("ip", &["addr", "add", &addr6, "dev", dev, "nodad"]);
        sb.run("ip", &["link", "set", dev, "up"]);
    };
    up(&node, "n0", NODE, NODE6);
    up(&fw, "f0", FW, FW6);
    up(&fw, "f1", FW_REGION_SIDE, FW6_REGION_SIDE);
    up(&region, "r0", REGION, REGION6);
    node.run("ip", &["route", "add", "10.79.2.0/24", "via", FW]);
    node.run("ip", &["-6", "route", "add", "fd79:2::/64", "via", FW6]);
    let back = ["route", "add", "10.79.1.0/24", "via", FW_REGION_SIDE];
    region.run("ip", &back);
    let back6 = ["-6", "route", "add", "fd79:1::/64", "via", FW6_REGION_SIDE];
    region.run("ip", &back6);
    fw.run("sysctl", &["-qw", "net.ipv4.ip_forward=1"]);
    fw.run("sysctl", &["-qw", "net.ipv6.conf.all.forwarding=1"]);
    let rules = format!(
        "table inet fw {{\n  chain forward {{\n    type filter hook forward priority 0;\n    tcp dport {DROPPED} drop\n    udp dport {UDP_DROPPED} drop\n  }}\n}}\n"
    );
    let path = fw.dir.join("fw.nft");
    std::fs::write(&path, rules).unwrap();
    fw.run("nft", &["-f", &path.display().to_string()]);

    // The region answers every flow: only the fw can make one fail.
    let conf = region.dir.join("dnsmasq.conf");
    let names: String = ["open", "dropped", "tundra"]
        .iter()
        .map(|n| format!("host-record={n}.trace.test,{REGION}\n"))
        .chain([format!("host-record=dropped6.trace.test,{REGION6}\n")])
        .collect();
    std::fs::write(
        &conf,
        format!(
            "no-resolv\nno-hosts\nbind-interfaces\nuser=root\nlisten-address={REGION}\n{names}"
        ),
    )
    .unwrap();
    let pid = format!("--pid-file={}", region.dir.join("dnsmasq.pid").display());
    let conf = conf.display().to_string();
    region.spawn("dnsmasq", &["-k", "-C", &conf, &pid, "--log-facility=-"]);
    for port in [OPEN, DROPPED] {
        let listen = format!("TCP-LISTEN:{port},bind={REGION},fork,reuseaddr");
        region.spawn("socat", &[&listen, "SYSTEM:sleep 1"]);
    }
    let listen6 = format!("TCP6-LISTEN:{DROPPED},bind=[{REGION6}],fork,reuseaddr");
    region.spawn("socat", &[&listen6, "SYSTEM:sleep 1"]);
    let echo = format!("UDP-RECVFROM:{UDP_DROPPED},bind={REGION},fork");
    region.spawn("socat", &[&echo, "SYSTEM:cat"]);
    region.wait_for_listeners(&BTreeSet::from([
        format!("udp/{REGION}:53"),
        format!("tcp/{REGION}:{OPEN}"),
        format!("tcp/{REGION}:{DROPPED}"),
        format!("tcp/[{REGION6}]:{DROPPED}"),
        format!("udp/{REGION}:{UDP_DROPPED}"),
    ]));
    Chain {
        node,
        _fw: fw,
        region,
    }
}

/// `amlprobe check` in the node's namespace with the trace catalog; its output and wall time.
fn check(c: &Chain, args: &[&str]) -> (Output, Duration) {
    let file = c.node.dir.join("trace.toml");
    std::fs::write(&file, catalog()).unwrap();
    let started = Instant::now();
    let out = c
        .node
        .command(env!("CARGO_BIN_EXE_amlprobe"))
        .arg("check")
        .arg("--catalog")
        .arg(&file)
        .args(["--offline", "--env-file", "/nonexistent/environment.sso"])
        .args(["--dns-server", REGION, "--timeout", "1s"])
        .args(args)
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .env_remove("AMLPROBE_TRACE")
        .output()
        .expect("run amlprobe");
    (out, started.elapsed())
}

fn results(report: &Value) -> Vec<Value> {
    report["results"].as_array().expect("results").clone()
}

fn result<'a>(results: &'a [Value], id: &str) -> &'a Value {
    results
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no {id} in {results:?}"))
}

fn said(out: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The trace of a flow the fw drops: the fw (`fw`, its node-facing address) answered TTL 1,
/// nothing answered after it.
fn assert_dropped_at(fw: &str, r: &Value, status: &str, reason: &str) {
    assert_eq!(
        (r["status"].as_str(), r["reason"].as_str()),
        (Some(status), Some(reason)),
        "{r}"
    );
    let t = &r["trace"];
    assert_eq!(t["last_answered"], fw, "{r}");
    assert_eq!(t["last_ttl"], 1, "{r}");
    assert_eq!(t["reached"], false, "{r}");
    let hops = t["hops"].as_array().expect("hops");
    assert_eq!(hops.len(), 16, "{r}");
    assert_eq!(hops[0], serde_json::json!({"ttl": 1, "address": fw}));
    assert!(hops[1..].iter().all(|h| h["address"].is_null()), "{r}");
    let message = r["message"].as_str().unwrap();
    // Silence past a hop is a drop for TCP; for UDP the service may be the silent one.
    let conclusion = match reason {
        "udp_no_reply" => format!("datagrams get at least as far as {fw} (hop 1), a private address; beyond it, either the Azure Firewall or NVA there drops them, or they arrive and the service stays silent"),
        _ => format!("dropped after {fw} (hop 1), a private address: most likely the Azure Firewall or NVA"),
    };
    assert!(message.contains(&conclusion), "{message}");
}

#[test]
fn trace_names_the_hop_that_drops_the_flow() {
    if let Err(why) =
        sandbox::root_and_tools(&["ip", "nft", "socat", "ss", "dnsmasq", "sysctl"], "")
    {
        return skip_unless_ci(&format!("trace test: {why}"));
    }
    let c = chain();
    let report = c.node.dir.join("report.json");
    let report_arg = report.display().to_string();
    let (out, took) = check(
        &c,
        &[
            "--trace",
            "--only",
            "trace",
            "-o",
            "table",
            "--no-color",
            "--report",
            &report_arg,
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}\n{}",
        said(&out),
        c.region.logs()
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--trace: timed-out checks (at most 16) are traced as they end, about 2 s more; each watch round likewise"),
        "{stderr}"
    );
    // One deadline (1 s), then both traces at once within their 2 s; the rest is slack.
    assert!(took < Duration::from_secs(6), "took {took:?}");
    let json: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let all = results(&json);
    let open = result(&all, "trace-open");
    assert_eq!(
        (open["status"].as_str(), open["reason"].as_str()),
        (Some("pass"), Some("ok"))
    );
    assert!(open.get("trace").is_none(), "{open}");
    assert_dropped_at(FW, result(&all, "trace-dropped"), "fail", "tcp_timeout");
    assert_dropped_at(FW6, result(&all, "trace-dropped6"), "fail", "tcp_timeout");
    assert_dropped_at(FW, result(&all, "trace-udp"), "warn", "udp_no_reply");
    let table = String::from_utf8_lossy(&out.stdout);
    eprintln!("{table}\n{stderr}");
    assert!(
        table.contains(&format!(
            "trace: {FW} (hop 1) answered, then silence up to hop 16: dropped after {FW} (hop 1)"
        )),
        "{table}"
    );

    // --redact hides the hops like every other address, IPv4 and IPv6, in the table on stdout
    // and in the JSON report alike.
    let (out, _) = check(
        &c,
        &[
            "--trace",
            "--only",
            "trace-dropped*",
            "--redact",
            "-o",
            "table",
            "--no-color",
            "--report",
            &report_arg,
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    let text = std::fs::read_to_string(&report).unwrap();
    for shown in [table.as_ref(), text.as_str()] {
        assert!(shown.contains("trace: <address-"), "{shown}");
        assert!(
            !shown.contains("10.79.") && !shown.contains("fd79:"),
            "{shown}"
        );
    }
    let json: Value = serde_json::from_str(&text).unwrap();
    let all = results(&json);
    for id in ["trace-dropped", "trace-dropped6"] {
        let t = &result(&all, id)["trace"];
        let hidden = t["last_answered"].as_str().expect("a placeholder");
        assert!(hidden.starts_with("<address-"), "{t}");
        assert_eq!(t["hops"][0]["address"], hidden);
    }

    // A run where nothing timed out: the same results with --trace, no trace, no extra time.
    let healthy = |trace: bool| {
        let mut args = vec!["--only", "trace-open", "-o", "json"];
        if trace {
            args.push("--trace");
        }
        let (out, took) = check(&c, &args);
        assert_eq!(out.status.code(), Some(0), "{}", said(&out));
        let json: Value = serde_json::from_slice(&out.stdout).unwrap();
        let mut all = results(&json);
        for r in &mut all {
            r.as_object_mut().unwrap().remove("duration_ms");
            r["phases"] = Value::Null;
        }
        (all, took)
    };
    let (without, plain) = healthy(false);
    let (with, traced) = healthy(true);
    assert_eq!(with, without);
    assert!(with.iter().all(|r| r.get("trace").is_none()), "{with:?}");
    assert!(
        traced < plain + Duration::from_millis(700),
        "--trace took {traced:?}, without {plain:?}"
    );
}
