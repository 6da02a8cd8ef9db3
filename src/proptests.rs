//! Property tests for every reader of untrusted input: whatever the bytes, nothing panics,
//! output stays bounded, text shown to a person holds no hidden character, and no secret comes
//! back out. The cases are bounded so the whole set runs in seconds. A new reader of untrusted
//! input (a report read back, a new answer parsed) gets its property here with it.

use proptest::prelude::*;

use crate::catalog;
use crate::cli::FixFormat;
use crate::discover::{imds, tracking, vars, Variables};
use crate::fix;
use crate::probe::{http, proxy::Proxy, smb};
use crate::report::redact::Redactor;
use crate::report::text::{hidden, printable, xml};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Text that looks like what a parser expects, mutated: real fragments, separators, control
/// and wide characters, in any order.
fn near(fragments: &'static [&'static str]) -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        proptest::sample::select(fragments).prop_map(str::to_string),
        any::<char>().prop_map(|c| c.to_string()),
        Just("\n".to_string()),
        Just("\u{1b}[2J".to_string()),
        Just("{".to_string()),
        Just("\"".to_string()),
    ];
    proptest::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

const CATALOG: &[&str] = &[
    "[[endpoint]]\n",
    "id = \"x\"\n",
    "group = \"g\"\n",
    "title = \"t\"\n",
    "host = \"a.example.net\"\n",
    "host = \"{region}.x.net\"\n",
    "port = 443\n",
    "kind = \"tls\"\n",
    "kind = \"https\"\n",
    "kind = \"host\"\n",
    "doc = \"https://l/x\"\n",
    "[endpoint.usgov]\n",
    "stands_for = \"*.x.net\"\n",
    "http_status = [\"2xx\"]\n",
    "redirect_from = \"https://m.example/v2/\"\n",
    "same_address_as = \"x\"\n",
    "scenario = \"s\"\n",
    "transfer_bytes = 4096\n",
    "if_exists = true\n",
    "exists_with = \"x\"\n",
];

const URIS: &[&str] = &[
    "azureml://",
    "westeurope.api.azureml.ms",
    "/mlflow/v1.0/subscriptions/",
    "/resourceGroups/",
    "/providers/Microsoft.MachineLearningServices/workspaces/",
    ".workspace.",
    "https://",
    "%2F",
];

const PROXIES: &[&str] = &[
    "http://",
    "https://",
    "user:",
    "pass@",
    "[fd00::8]",
    ":3128",
    "/",
    "%41",
    "@",
];

const IMDS: &[&str] = &[
    "{\"compute\":{",
    "\"location\":",
    "\"westeurope\"",
    "\"azEnvironment\":",
    "\"AzurePublicCloud\"",
    "}",
    "\"network\":{\"interface\":[{\"ipv4\":{\"ipAddress\":[{\"publicIpAddress\":\"1.2.3.4\"}]}}]}",
    ",",
    "null",
    "[",
];

const HEADS: &[&str] = &[
    "HTTP/1.1 ",
    "200 OK",
    "100 Continue",
    "407 Proxy Authentication Required",
    "\r\n",
    "\r\n\r\n",
    "Server: x\r\n",
    "Location: https://login.example/\r\n",
    "Transfer-Encoding: chunked\r\n",
    "0\r\n",
    "470 status code 470",
    "Content-Length: 70\r\n",
    "Action: Deny. Reason: No rule matched.",
];

const REPORT: &[&str] = &[
    "{\"schema_version\": 1, \"tool\": {\"name\": \"amlprobe\"}, ",
    "\"context\": {\"cloud\": \"public\", \"region\": \"westeurope\", \"mode\": \"public-ip\"}, ",
    "\"results\": [",
    "{\"id\": \"tundra-udp-5831\", \"kind\": \"udp\", ",
    "\"target\": {\"host\": \"westeurope.tundra.azureml.ms\", \"port\": 5831, \"transport\": \"udp\"}, ",
    "\"service_tag\": \"AzureMachineLearning\", ",
    "\"status\": \"fail\", \"reason\": \"udp_unreachable\"}",
    "\"stands_for\": \"*.x.net\", \"stand_in\": true, ",
    "\"remediation\": \"x\", ",
    "]}",
    ",",
    "null",
];

const NODE_OR_FLEET: &[&str] = &[
    "{\"schema_version\": 1, \"tool\": {\"name\": \"amlprobe\"}, ",
    "\"kind\": \"fleet\", ",
    "\"node\": {\"hostname\": \"<script>x</script>\"}, ",
    "\"node\": {\"hostname\": \"ci-one\", \"proxy\": \"http://***@p:3128\"}, ",
    "\"started_at\": \"2026-11-26T07:00:00Z\", ",
    "\"context\": {\"region\": \"westeurope\", \"vm_name\": \"vm-1\", \"storage_account\": \"amlstore1\"}, ",
    "\"results\": [",
    "{\"id\": \"graph-443\", \"group\": \"azureml\", \"title\": \"t\", \"required\": true, ",
    "\"status\": \"fail\", \"reason\": \"tcp_timeout\"}",
    "\"nodes\": [{\"name\": \"a\"}, {\"name\": \"\\u001b[2J\", \"hostname\": \"<b>\"}], ",
    "\"checks\": [{\"id\": \"x\", \"group\": \"g\", \"title\": \"'&\", \"required\": true, ",
    "\"by_node\": {\"a\": {\"status\": \"pass\", \"reason\": \"ok\"}}}",
    "]}",
    "}",
    ",",
    "null",
];

/// A report read as `merge` and `diff` read it, shown in every format: a fleet of it twice
/// (named, so alike names fall back), and its diff with an empty fleet.
fn fleet_views(bytes: &[u8]) -> Result<Vec<(&'static str, String)>, String> {
    use crate::fleet::{diff, html, json, markdown, model, read, table};
    use crate::report::read::{kind, ReportKind};
    let fleet = match kind(bytes)? {
        ReportKind::Node | ReportKind::Mesh => {
            let r = read::node(bytes, "dir/f.json")?;
            let mut f = model::Fleet::default();
            f.add_node(r.node.clone(), r.rows.clone());
            f.add_node(r.node, r.rows);
            model::name_nodes(&mut f.nodes, false);
            f
        }
        ReportKind::Fleet => read::fleet(bytes)?,
    };
    let d = diff::diff(
        &fleet,
        &model::Fleet::default(),
        diff::Of::Fleet,
        ["a", "b"],
    );
    let mut fleet_json = Vec::new();
    json::fleet(&fleet, &mut fleet_json).map_err(|e| e.to_string())?;
    let mut diff_json = Vec::new();
    json::diff(&d, &mut diff_json).map_err(|e| e.to_string())?;
    Ok(vec![
        ("table", table::fleet(&fleet, false)),
        ("markdown", markdown::fleet(&fleet)),
        ("html", html::fleet(&fleet)),
        ("json", String::from_utf8_lossy(&fleet_json).into_owned()),
        ("diff table", table::diff(&d, false)),
        ("diff markdown", markdown::diff(&d)),
        ("diff html", html::diff(&d)),
        (
            "diff json",
            String::from_utf8_lossy(&diff_json).into_owned(),
        ),
    ])
}

/// A report with one warning that no rule fixes, its advice `text`.
fn report_with_advice(text: &str) -> String {
    serde_json::json!({
        "schema_version": 1,
        "tool": {"name": "amlprobe"},
        "context": {"cloud": "public", "region": "westeurope", "mode": "no-public-ip"},
        "results": [
            {"id": "node-clock", "kind": "host", "target": {"host": "node", "port": null, "transport": "tcp"},
             "status": "warn", "reason": "clock_skew", "remediation": text},
            {"id": "tundra-udp-5831", "kind": "udp",
             "target": {"host": "westeurope.tundra.azureml.ms", "port": 5831, "transport": "udp"},
             "service_tag": "AzureMachineLearning", "status": "fail", "reason": "udp_unreachable",
             "remediation": text}
        ]
    })
    .to_string()
}

/// Whether a line of Markdown, its backslash escapes taken out, still holds a tag (`<`) or a
/// link or image (`](`).
fn markdown_syntax(line: &str) -> bool {
    let mut plain = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            c => plain.push(c),
        }
    }
    plain.contains('<') || plain.contains("](")
}

/// Text a middlebox might put in a certificate or a name, to be shown in Markdown.
const MARKDOWN: &[&str] = &[
    "CN=<img src=x onerror=alert(1)>",
    " [x](javascript:alert(2))",
    "![i](http://x/i.png)",
    "<",
    "[",
    "]",
    "(",
    "!",
    "`",
    "\\",
    "|",
    "<details>",
];

proptest! {
    #![proptest_config(config())]

    #[test]
    fn reports_read_or_say_one_line(text in near(REPORT)) {
        match fix::read::parse(text.as_bytes()) {
            Ok(report) => {
                let fixes = fix::derive::derive(&report, fix::model::Names::default());
                for format in FixFormat::ALL {
                    prop_assert!(fix::render(&fixes, *format).len() < 64 * 1024 + 64 * text.len());
                }
            }
            Err(e) => prop_assert!(!e.contains('\n') && e.len() < 400, "{e:?}"),
        }
    }

    #[test]
    fn fleet_and_node_reports_read_or_say_one_line(text in near(NODE_OR_FLEET), cut in any::<prop::sample::Index>()) {
        // Whatever the bytes, and a report cut anywhere.
        use crate::fleet::read::tests::{report, GRAPH};
        let whole = report("<script>\u{1b}[2J", &format!("{GRAPH}, {}", GRAPH.replace("graph-443", "arm-443")));
        let at = cut.index(whole.len() + 1);
        for bytes in [text.as_bytes(), &whole.as_bytes()[..at], whole.as_bytes()] {
            match fleet_views(bytes) {
                Ok(views) => {
                    for (format, out) in views {
                        prop_assert!(out.len() < 64 * 1024 + 256 * bytes.len(), "{format}");
                        prop_assert!(!out.chars().any(|c| hidden(c) && c != '\n'), "{format}: {out:?}");
                        if format.ends_with("html") {
                            prop_assert!(!out.contains("<script") && !out.contains("<b>"), "{format}: {out}");
                        }
                        if format.ends_with("json") {
                            prop_assert!(serde_json::from_str::<serde_json::Value>(&out).is_ok(), "{out}");
                        }
                    }
                }
                Err(e) => {
                    prop_assert!(!e.contains('\n') && e.len() < 400, "{e:?}");
                    prop_assert!(bytes != whole.as_bytes(), "the whole report reads: {e}");
                }
            }
        }
    }

    #[test]
    fn report_text_never_starts_a_line_of_its_own(text in any::<String>(), tail in "[A-Za-z();$`']{0,12}") {
        let advice = format!("{text}\nINJECTED{tail}\r\nINJECTED");
        let report = fix::read::parse(report_with_advice(&advice).as_bytes()).unwrap();
        let fixes = fix::derive::derive(&report, fix::model::Names::default());
        for format in FixFormat::ALL {
            let out = fix::render(&fixes, *format);
            for line in out.lines() {
                prop_assert!(!line.trim_start().starts_with("INJECTED"), "{format}: {line:?}");
                prop_assert!(!line.chars().any(|c| hidden(c) && c != '\t'), "{format}: {line:?}");
            }
        }
    }

    #[test]
    fn catalogs_load_or_say_one_line(text in near(CATALOG)) {
        match catalog::parse("extra.toml", &text, &mut std::collections::HashSet::new()) {
            Ok(entries) => prop_assert!(entries.len() <= text.len()),
            Err(e) => prop_assert!(e.line >= 1 && e.line <= text.lines().count().max(1) + 1),
        }
    }

    #[test]
    fn environment_files_and_variables_never_panic(text in near(&["export ", "CI_NAME=", "AZ_BATCH_ACCOUNT_URL=", "=", "'", "#", "MLFLOW_TRACKING_URI="]),
                                                   value in near(URIS)) {
        let mut warnings = Vec::new();
        let parsed = vars::parse_env_file(&text, "f", &mut warnings);
        prop_assert!(parsed.values().all(|v| v.len() <= text.len()));
        let env = [("MLFLOW_TRACKING_URI".to_string(), value.clone()), ("CI_NAME".to_string(), value)];
        let vars = Variables::new(env.into_iter(), Some(("f".to_string(), text)), &mut warnings);
        let args = crate::cli::ContextArgs::default();
        let ctx = crate::discover::discover(&args, &vars, None, warnings);
        for w in &ctx.warnings {
            prop_assert!(!printable(w).chars().any(hidden));
        }
    }

    #[test]
    fn tracking_uris_never_panic(uri in near(URIS)) {
        let t = tracking::parse_tracking_uri(&uri);
        for part in [&t.region, &t.workspace_id, &t.workspace_name, &t.resource_group].into_iter().flatten() {
            prop_assert!(part.len() <= uri.len());
        }
    }

    #[test]
    fn proxy_urls_never_show_their_password(url in near(PROXIES), secret in "[a-z]{6,12}",
                                           no_proxy in near(&[",", "*.", ".", ":443", "core.windows.net"])) {
        let with_secret = format!("http://user:{secret}@{url}");
        for candidate in [url.as_str(), with_secret.as_str()] {
            match Proxy::parse(candidate, "flag") {
                Ok(p) => prop_assert!(!p.display().contains(&secret)),
                Err(e) => prop_assert!(!e.to_string().contains(&secret)),
            }
        }
        // What a reflecting proxy can say back is what it was sent: the header and the pair.
        if let Ok(p) = Proxy::parse(&format!("http://user:{secret}@p.example:3128"), "flag") {
            let token = data_encoding::BASE64.encode(format!("user:{secret}").as_bytes());
            let said = p.scrub(&format!("407 {url} Basic {token} user:{secret} {url}"));
            prop_assert!(!said.contains(&secret) && !said.contains(&token));
        }
        let vars = |k: &str| (k == "NO_PROXY").then(|| no_proxy.clone());
        if let Ok(Some(p)) = Proxy::configure(Some("http://p:3128"), vars) {
            let _ = p.applies_to("graph.windows.net");
        }
    }

    #[test]
    fn metadata_documents_never_panic_or_echo(doc in near(IMDS), marker in "[A-Z]{10}") {
        let with_marker = doc.replace("westeurope", &marker).replace("AzurePublicCloud", &marker);
        if let Ok(facts) = imds::parse(&with_marker) {
            prop_assert!(facts.warnings.iter().all(|w| !w.contains(&marker)));
        }
        let _ = imds::dechunk(doc.as_bytes());
    }

    #[test]
    fn http_heads_never_panic(head in near(HEADS), bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        for input in [head.as_bytes(), bytes.as_slice()] {
            if let Ok(Some(h)) = crate::net::parse_head(input) {
                prop_assert!(h.reason.len() <= input.len());
                prop_assert!(h.server.as_ref().is_none_or(|s| s.len() <= 120));
                prop_assert!(h.body.len() <= crate::net::BODY_LIMIT);
                // A firewall's refusal is quoted short and printable, whatever it sent.
                if let Some(quote) = http::egress_denial(&h) {
                    prop_assert!(quote.len() <= 300, "{quote}");
                    prop_assert!(!quote.chars().any(hidden), "{quote:?}");
                }
            }
        }
    }

    #[test]
    fn smb_replies_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400), header in any::<[u8; 4]>()) {
        let _ = smb::parse_negotiate_response(&bytes);
        let _ = smb::frame_length(header);
    }

    #[test]
    fn redaction_hides_what_it_knows(words in proptest::collection::vec(proptest::sample::select(&["ws-one", "WS-ONE", "10.0.0.4", "[fd00::1]:443", "0f3a8d52-6c1e-4b7a-9d2e-5a4b3c2d1e0f", "a", "(", "\u{1b}", "é"][..]), 0..30)) {
        let text = words.join(" ");
        let ctx = crate::context::Context {
            workspace_name: Some("ws-one".into()),
            ..Default::default()
        };
        let node = crate::report::Node { hostname: String::new(), resolvers: Vec::new(), proxy: None };
        let out = Redactor::new(&ctx, &node).scrub(&text);
        prop_assert!(!out.to_ascii_lowercase().contains("ws-one"));
        prop_assert!(!out.contains("0f3a8d52-6c1e-4b7a-9d2e-5a4b3c2d1e0f"));
        prop_assert!(!out.contains("10.0.0.4"));
    }

    /// A label value from anywhere (a catalog's id, a host a redirect named) stays inside its
    /// quotes on its own line of the metrics file, and reads back as itself.
    #[test]
    fn metric_label_values_stay_inside_their_quotes(value in near(&["\\", "\"", "\n", "\\n", "a.example.net", "}", "=", " 1"])) {
        let escaped = crate::watch::escape_label(&value);
        prop_assert!(!escaped.contains('\n'));
        let mut back = String::new();
        let mut chars = escaped.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('\\') => back.push('\\'),
                    Some('"') => back.push('"'),
                    Some('n') => back.push('\n'),
                    other => prop_assert!(false, "a lone backslash before {:?}", other),
                },
                // An unescaped quote would end the value early.
                '"' => prop_assert!(false, "an unescaped quote in {:?}", escaped),
                c => back.push(c),
            }
        }
        prop_assert_eq!(back, value);
    }

    #[test]
    fn shown_text_hides_nothing(text in any::<String>()) {
        prop_assert!(!printable(&text).chars().any(hidden));
        let x = xml(&text);
        let forbidden = x.contains('\u{FFFE}') || x.contains('\u{0}');
        prop_assert!(!forbidden);
    }

    #[test]
    fn mesh_greetings_and_peer_lists_never_panic_or_hide(text in near(&["amlprobe-mesh 1 ", "node-0", "\n", "10.0.0.4", ",", ";", ":29500", " slots=4", "#"]),
                                                         bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        for b in [text.as_bytes(), &bytes[..]] {
            if let Some(name) = crate::mesh::wire::parse_greeting(b) {
                prop_assert!(name.len() <= 253 && !name.chars().any(hidden) && !name.contains(' '));
            }
        }
        let var = |_: &str| Some(text.clone());
        let file = |_: &std::path::Path| Some(text.clone());
        if let Some(p) = crate::mesh::peers::peers_from_env(&var, &file) {
            for h in &p.hosts {
                prop_assert!(crate::context::parse_peer(h).as_deref() == Ok(h.as_str()));
            }
        }
        for h in crate::mesh::peers::parse_host_file(&text) {
            prop_assert!(!h.chars().any(|c| c.is_whitespace() || hidden(c)));
        }
    }

    #[test]
    fn mesh_reports_read_back_or_say_why(text in near(&["{\"mesh\": {\"self\": ", "\"peers\": [", "\"a\"", "\"b c\"", "]}", ", \"results\": [", "{\"group\": \"mesh\", \"target\": {\"host\": \"b\", \"port\": 29500}, \"reason\": \"tcp_timeout\"}", "}", ","])) {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
            let mut m = crate::mesh::matrix::Matrix::default();
            if m.add(&v, "m.json").is_ok() {
                let shown = m.table() + &m.markdown();
                prop_assert!(!shown.chars().any(|c| c != '\n' && hidden(c)));
            }
        }
    }

    #[test]
    fn report_text_is_no_markdown_tag_or_link(text in prop_oneof![near(MARKDOWN), any::<String>()]) {
        use crate::report::markdown::cell;
        prop_assert!(!markdown_syntax(&cell(&text)), "{:?}", cell(&text));
        // A node report whose certificate message, check, target and compute name are the text.
        let mut r = crate::report::fixture::report();
        r.results[0].id = text.clone();
        r.results[0].message = text.clone();
        r.results[0].target.host = text.clone();
        r.context.compute_name = Some(text.clone());
        let shown = crate::report::markdown::render(&r);
        for line in shown.lines().filter(|l| l.starts_with('|') || l.starts_with("- ")) {
            prop_assert!(!markdown_syntax(line), "{line}");
        }
        // And `merge` and `diff` of node reports whose hostnames and file names hold the text.
        use crate::fleet::{diff, markdown, model, read};
        let mut both = model::Fleet::default();
        let mut each = Vec::new();
        for end in ["a", "b"] {
            let bytes = read::tests::report(&format!("{text}{end}"), read::tests::GRAPH);
            if let Ok(r) = read::node(bytes.as_bytes(), &format!("{text}{end}.json")) {
                let mut one = model::Fleet::default();
                one.add_node(r.node.clone(), r.rows.clone());
                each.push(one);
                both.add_node(r.node, r.rows);
            }
        }
        model::name_nodes(&mut both.nodes, false);
        let mut shown = vec![markdown::fleet(&both)];
        if let [a, b] = &each[..] {
            shown.push(markdown::diff(&diff::diff(a, b, diff::Of::Node, ["a", "b"])));
        }
        for out in shown {
            for line in out.lines().filter(|l| l.starts_with('|') || l.starts_with("Node")) {
                prop_assert!(!markdown_syntax(line), "{line}");
            }
        }
    }
}
