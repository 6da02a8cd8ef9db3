//! `docs/interface.md` held to the code: every command, flag and variable clap reads, every exit
//! code and reason code, and every JSON field a report can hold is on the page, and the page
//! names none the code lacks. The page is read as its tables: a section's heading says what its
//! tables list (commands, `### \`check\`` flags, `#### \`.results[]\`` fields), and each row's
//! first cell names one.

use std::collections::{BTreeMap, BTreeSet};

use clap::CommandFactory;
use serde_json::Value;

const DOC: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/interface.md"));

/// A heading of the page, the headings it is under, and the lines up to the next heading.
struct Section {
    /// The titles of this heading and of those above it, from `##` down.
    titles: Vec<&'static str>,
    lines: Vec<&'static str>,
}

fn sections() -> Vec<Section> {
    let mut out: Vec<Section> = Vec::new();
    let mut titles: Vec<&'static str> = Vec::new();
    for line in DOC.lines() {
        let level = line.bytes().take_while(|&b| b == b'#').count();
        if level >= 2 && line[level..].starts_with(' ') {
            titles.truncate(level - 2);
            titles.resize(level - 2, "");
            titles.push(line[level..].trim());
            out.push(Section {
                titles: titles.clone(),
                lines: Vec::new(),
            });
        } else if let Some(s) = out.last_mut() {
            s.lines.push(line);
        }
    }
    out
}

/// The sections whose titles begin with `path`, heading by heading.
fn under(path: &[&str]) -> Vec<Section> {
    sections()
        .into_iter()
        .filter(|s| s.titles.len() > path.len() && s.titles.starts_with(path))
        .collect()
}

/// The rows of a section's tables, cell by cell (`\|` read as `|`), headers left out.
fn rows(s: &Section) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let table: Vec<&str> = s
        .lines
        .iter()
        .copied()
        .filter(|l| l.starts_with('|'))
        .collect();
    for (i, line) in table.iter().enumerate() {
        let is_rule = line.starts_with("|---") || line.starts_with("| ---");
        let is_header = table.get(i + 1).is_some_and(|n| n.starts_with("|---"));
        if is_rule || is_header {
            continue;
        }
        let cells = line
            .trim_matches('|')
            .replace("\\|", "\u{0}")
            .split('|')
            .map(|c| c.trim().replace('\u{0}', "|"))
            .collect();
        out.push(cells);
    }
    out
}

/// The rows of the tables right under the heading `path` (its titles from `##` down).
pub(crate) fn table(path: &[&str]) -> Vec<Vec<String>> {
    let found: Vec<Vec<String>> = sections()
        .iter()
        .filter(|s| s.titles == path)
        .flat_map(rows)
        .collect();
    assert!(
        !found.is_empty(),
        "docs/interface.md has no table under {path:?}"
    );
    found
}

/// The text of each `code` span in `s`.
pub(crate) fn code(s: &str) -> Vec<&str> {
    s.split('`').skip(1).step_by(2).collect()
}

/// A cell's first code span, or the whole cell.
pub(crate) fn first_code(cell: &str) -> &str {
    code(cell).first().copied().unwrap_or(cell)
}

/// Fields by jq path (`.`, `.results[]`, `.results[].phases[]`) of a report under `## Reports`:
/// each `####` heading names the paths its table lists, each row's first cell a field.
pub(crate) fn documented(report: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for s in under(&["Reports", report]) {
        let fields: BTreeSet<String> = rows(&s)
            .iter()
            .map(|r| first_code(&r[0]).to_string())
            .collect();
        for path in code(s.titles.last().unwrap()) {
            out.entry(path.to_string())
                .or_default()
                .extend(fields.clone());
        }
    }
    assert!(!out.is_empty(), "docs/interface.md has no report {report}");
    out
}

/// Fields whose value is a map keyed by data (a node's name, a context value's name), not by
/// field names: named, but not looked into.
const DATA_MAPS: [&str; 3] = ["sources", "by_node", "matrix"];

/// The fields of a JSON value by jq path, as [`documented`] reads them off the page.
pub(crate) fn fields(v: &Value) -> BTreeMap<String, BTreeSet<String>> {
    fn walk(v: &Value, path: &str, out: &mut BTreeMap<String, BTreeSet<String>>) {
        let child = |name: &str| match path {
            "." => format!(".{name}"),
            _ => format!("{path}.{name}"),
        };
        match v {
            Value::Object(o) => {
                let here = out.entry(path.to_string()).or_default();
                here.extend(o.keys().cloned());
                for (k, x) in o {
                    if !DATA_MAPS.contains(&k.as_str()) {
                        walk(x, &child(k), out);
                    }
                }
            }
            Value::Array(a) => {
                let each = match path {
                    "." => ".[]".to_string(),
                    _ => format!("{path}[]"),
                };
                for x in a {
                    walk(x, &each, out);
                }
            }
            _ => {}
        }
    }
    let mut out = BTreeMap::new();
    walk(v, ".", &mut out);
    out
}

/// The page and the code list the same fields, path by path.
pub(crate) fn same_fields(report: &str, code: &BTreeMap<String, BTreeSet<String>>) {
    let page = documented(report);
    for path in page.keys().chain(code.keys()).collect::<BTreeSet<_>>() {
        let (p, c) = (page.get(path), code.get(path));
        let none = BTreeSet::new();
        let (p, c) = (p.unwrap_or(&none), c.unwrap_or(&none));
        let undocumented: Vec<_> = c.difference(p).collect();
        let unwritten: Vec<_> = p.difference(c).collect();
        assert!(
            undocumented.is_empty() && unwritten.is_empty(),
            "docs/interface.md, {report}, `{path}`: the code writes {undocumented:?}, which the page does not list; the page lists {unwritten:?}, which the code does not write"
        );
    }
}

#[test]
fn every_command_is_documented() {
    let page: BTreeSet<String> = table(&["Commands"])
        .iter()
        .map(|r| {
            let cmd = first_code(&r[0]);
            let name = cmd.strip_prefix("amlprobe ").unwrap_or(cmd);
            name.to_string()
        })
        .collect();
    let code: BTreeSet<String> = crate::cli::Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .filter(|n| n != "help")
        .collect();
    assert_eq!(page, code, "docs/interface.md's commands");
}

/// How the page writes an argument: `-o, --output OUTPUT`, `--offline`, `REPORT|DIR...`.
fn spelling(arg: &clap::Arg) -> String {
    let value = arg
        .get_value_names()
        .map(|v| v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| arg.get_id().as_str().to_uppercase());
    match (arg.get_short(), arg.get_long()) {
        (None, None) => match arg.get_action() {
            clap::ArgAction::Append => format!("{value}..."),
            _ => value,
        },
        (short, long) => {
            let mut s = short.map(|c| format!("-{c}, ")).unwrap_or_default();
            if let Some(long) = long {
                s.push_str(&format!("--{long}"));
            }
            if arg.get_action().takes_values() {
                s.push_str(&format!(" {value}"));
            }
            s
        }
    }
}

/// Every flag and argument of every command is on the page with its variable (or `—` for
/// none) and its default, and the page lists no other.
#[test]
fn every_flag_is_documented_with_its_variable() {
    let mut page: BTreeMap<String, BTreeMap<String, (String, String)>> = BTreeMap::new();
    for s in under(&["Flags"]) {
        for command in code(s.titles.last().unwrap()) {
            for r in rows(&s) {
                let flag = first_code(&r[0]).to_string();
                let var = first_code(&r[1]).to_string();
                let was = page
                    .entry(command.to_string())
                    .or_default()
                    .insert(flag.clone(), (var, r[2].clone()));
                assert!(
                    was.is_none(),
                    "docs/interface.md lists {command} {flag} twice"
                );
            }
        }
    }
    let cli = crate::cli::Cli::command();
    let none = BTreeMap::new();
    for command in cli.get_subcommands().filter(|c| c.get_name() != "help") {
        let name = command.get_name();
        let listed = page.get(name).unwrap_or(&none);
        let mut code = BTreeSet::new();
        for arg in command
            .get_arguments()
            .filter(|a| !matches!(a.get_id().as_str(), "help" | "version"))
        {
            let flag = spelling(arg);
            let Some((var, default)) = listed.get(&flag) else {
                panic!("docs/interface.md lacks `{flag}` of {name}");
            };
            let env = arg
                .get_env()
                .map_or("—".to_string(), |e| e.to_string_lossy().into_owned());
            assert_eq!(*var, env, "docs/interface.md: {name} {flag}'s variable");
            for d in arg.get_default_values() {
                let d = format!("`{}`", d.to_string_lossy());
                assert!(
                    default.contains(&d),
                    "docs/interface.md: {name} {flag}'s default is {d}"
                );
            }
            code.insert(flag);
        }
        let extra: Vec<_> = listed.keys().filter(|f| !code.contains(*f)).collect();
        assert!(
            extra.is_empty(),
            "docs/interface.md lists {extra:?} for {name}, which has no such flag"
        );
    }
    let commands: Vec<_> = cli.get_subcommands().map(|c| c.get_name()).collect();
    for command in page.keys() {
        assert!(
            commands.contains(&command.as_str()),
            "docs/interface.md lists flags of {command}, which is no command"
        );
    }
    // `amlprobe` alone is `check`, as the page says.
    let ids = |c: &clap::Command| -> BTreeSet<String> {
        c.get_arguments()
            .map(|a| a.get_id().to_string())
            .filter(|id| id != "version")
            .collect()
    };
    assert_eq!(ids(&cli), ids(cli.find_subcommand("check").unwrap()));
}

#[test]
fn every_exit_code_is_documented() {
    let page: BTreeSet<i32> = table(&["Exit codes"])
        .iter()
        .map(|r| r[0].parse().expect("an exit code"))
        .collect();
    let code = BTreeSet::from([
        crate::exit::EXIT_OK,
        crate::exit::EXIT_FAILED,
        crate::exit::EXIT_USAGE,
        crate::exit::EXIT_CANNOT_RUN,
    ]);
    assert_eq!(page, code, "docs/interface.md's exit codes");
}

/// The reason codes, in the code's order, each with its status and its section of
/// docs/reasons.md.
#[test]
fn every_reason_code_is_documented() {
    let page: Vec<(String, String)> = table(&["Reason codes"])
        .iter()
        .map(|r| (first_code(&r[0]).to_string(), r[1].clone()))
        .collect();
    let code: Vec<(String, String)> = crate::reason::Reason::ALL
        .iter()
        .map(|r| (r.code().to_string(), r.status().as_str().to_string()))
        .collect();
    assert_eq!(page, code, "docs/interface.md's reason codes");
    for (reason, _) in &page {
        assert!(
            DOC.contains(&format!("(reasons.md#{reason})")),
            "docs/interface.md does not link {reason} to docs/reasons.md"
        );
    }
}

/// A report whose every optional part is there: a struct literal for each type, so that a
/// field added to one does not compile until it is set here, and then must be documented.
mod full {
    use crate::catalog::{Kind, Transport};
    use crate::context::{Cloud, ComputeType, Context, Middlebox, Mode};
    use crate::reason::{Reason, Status};
    use crate::report::{Meshed, Node, Report, Stopped, Summary, Tool, Watched};
    use crate::result::{
        CheckResult, Denial, DnsAnswer, Evidence, Failed, History, Hop, Phase, PhaseKind, Route,
        Target,
    };

    fn some() -> Option<String> {
        Some("x".into())
    }

    fn target() -> Target {
        Target {
            host: "x".into(),
            port: Some(443),
            transport: Transport::Tcp,
        }
    }

    fn phase() -> Phase {
        Phase {
            phase: PhaseKind::Tls,
            ok: Some(true),
            ms: 1,
            addresses: Some(vec!["x".into()]),
            cnames: Some(vec!["x".into()]),
            server: some(),
            address: some(),
            version: some(),
            subject: some(),
            issuer: some(),
            http_status: Some(200),
            http_server: some(),
            dialect: some(),
            proxy: some(),
            mss: Some(536),
            date: some(),
            redirect_host: some(),
            bytes: Some(1),
            error: some(),
        }
    }

    fn failed() -> Option<Failed> {
        Some(Failed {
            round: 1,
            at: "x".into(),
            reason: Reason::TcpTimeout,
        })
    }

    pub fn result() -> CheckResult {
        CheckResult {
            id: "x".into(),
            group: "x".into(),
            title: "x".into(),
            required: true,
            kind: Kind::Tls,
            tested: Some(Kind::Tls),
            target: target(),
            stands_for: some(),
            stand_in: true,
            service_tag: some(),
            proxy: some(),
            status: Status::Fail,
            reason: Reason::FirewallDenied,
            message: "x".into(),
            remediation: "x".into(),
            reason_doc: "x".into(),
            doc: "x".into(),
            duration_ms: 1,
            phases: vec![phase()],
            history: Some(History {
                rounds: 2,
                pass: 1,
                warn: 0,
                fail: 1,
                skip: 0,
                failures: 1,
                first_failure: failed(),
                last_failure: failed(),
                answers: vec![DnsAnswer {
                    round: 1,
                    at: "x".into(),
                    server: some(),
                    addresses: vec!["x".into()],
                }],
                answer_changes: 1,
                answers_omitted: 1,
            }),
            trace: Some(Route {
                hops: vec![Hop {
                    ttl: 1,
                    address: some(),
                }],
                last_answered: some(),
                last_ttl: Some(1),
                reached: false,
                unsent: 1,
            }),
            firewall_denial: Some(Box::new(Denial {
                evidence: Evidence::Http470,
                confirmed: true,
                answer: some(),
                inspected_by: some(),
                fqdn: "x".into(),
                rule: "x".into(),
            })),
        }
    }

    pub fn report() -> Report {
        let results = vec![result()];
        Report {
            schema_version: 1,
            tool: Tool {
                name: "amlprobe",
                version: "x",
            },
            started_at: "x".into(),
            duration_ms: 1,
            timeout_ms: 1,
            node: Node {
                hostname: "x".into(),
                resolvers: vec!["x".into()],
                proxy: some(),
            },
            context: Context {
                cloud: Cloud::Public,
                region: some(),
                mode: Mode::Auto,
                workspace_id: some(),
                storage_account: some(),
                compute_name: some(),
                sources: [("region", "flag".to_string())].into_iter().collect(),
                compute_type: Some(ComputeType::Instance),
                workspace_name: some(),
                resource_group: some(),
                node_region: some(),
                vm_name: some(),
                workspace_region: some(),
                mode_reason: some(),
                service_endpoint_host: some(),
                batch_account_host: some(),
                batch_node_host: some(),
                acr: some(),
                key_vault: some(),
                scenarios: vec!["x".into()],
                preflight: true,
                middlebox: Some(Middlebox {
                    answers_handshakes_on: vec![443],
                    canary: vec!["192.0.2.1:443".parse().unwrap()],
                }),
                warnings: vec!["x".into()],
                withheld: Vec::new(),
                notes: vec!["x".into()],
            },
            summary: Summary::of(&results),
            watch: Some(Watched {
                rounds: 1,
                interval_ms: 1,
                stopped: Stopped::Count,
            }),
            mesh: Some(Meshed {
                this: "x".into(),
                self_from: "x".into(),
                peers: vec!["x".into()],
                peers_from: "x".into(),
                ports: vec![1],
                wait_ms: 1,
                not_listening: vec!["x".into()],
            }),
            results,
        }
    }
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).expect("JSON")
}

#[test]
fn every_field_of_the_check_report_is_documented() {
    let report = full::report();
    same_fields("Check report", &fields(&json(&report.to_json())));
}

/// `-o jsonl`: each result line is a result and its `type`; the summary line is the report's
/// own fields but its results.
#[test]
fn every_field_of_the_jsonl_stream_is_documented() {
    let report = full::report();
    let summary = fields(&json(&crate::report::jsonl_summary(&report)));
    let page = documented("JSONL stream");
    assert_eq!(page.keys().collect::<Vec<_>>(), ["."]);
    assert_eq!(page["."], summary["."], "docs/interface.md, JSONL stream");
    let line = fields(&json(&crate::report::jsonl_result(&full::result())));
    let mut result = documented("Check report")[".results[]"].clone();
    result.insert("type".into());
    assert_eq!(line["."], result, "a JSONL result line");
}

#[test]
fn every_field_of_the_list_is_documented() {
    use crate::report::list::{json as list_json, Listed};
    let entries = crate::catalog::load(&[]).unwrap();
    let mut code: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    // With nothing known, checks skip; with everything, hosts come from the node.
    let mut ctx = full::report().context;
    ctx.sources = [
        ("batch_account_host", "env:AZ_BATCH_ACCOUNT_URL".to_string()),
        (
            "service_endpoint_host",
            "env:AZUREML_SERVICE_ENDPOINT".into(),
        ),
    ]
    .into_iter()
    .collect();
    ctx.batch_account_host = Some("acct.westeurope.batch.azure.com".into());
    ctx.scenarios = vec!["all".into()];
    for ctx in [crate::context::Context::default(), ctx] {
        let plans = crate::plan::plan(&entries, &ctx, &[], &[]).unwrap();
        let listed: Vec<Listed> = plans.iter().map(Listed::of).collect();
        for (path, f) in fields(&json(&list_json(&listed))) {
            code.entry(path).or_default().extend(f);
        }
    }
    same_fields("List", &code);
}

#[test]
fn every_field_of_the_fleet_and_diff_reports_is_documented() {
    use crate::fleet::diff::{Diff, DiffRow, Of, Side, State};
    use crate::fleet::model::{Counts, Fleet, NameFrom, Node, Row};
    use crate::reason::{Reason, Status};
    let some = || Some("x".to_string());
    let mut fleet = Fleet::default();
    fleet.add_node(
        Node {
            name: "x".into(),
            name_from: Some(NameFrom::Hostname),
            region: some(),
            compute_name: some(),
            vm_name: some(),
            hostname: some(),
            started_at: some(),
            file: "x".into(),
        },
        vec![Row {
            id: "x".into(),
            group: "x".into(),
            title: "x".into(),
            required: true,
            status: Status::Fail,
            reason: Reason::TcpTimeout,
        }],
    );
    let mut out = Vec::new();
    crate::fleet::json::fleet(&fleet, &mut out).unwrap();
    same_fields(
        "Fleet report",
        &fields(&serde_json::from_slice(&out).unwrap()),
    );

    let side = || Side {
        file: "x".into(),
        nodes: 1,
        hostname: some(),
        started_at: some(),
    };
    let state = Some(State {
        status: Status::Pass,
        reason: Reason::Ok,
    });
    let diff = Diff {
        of: Of::Fleet,
        before: side(),
        after: side(),
        fixed: vec![DiffRow {
            id: some(),
            node: some(),
            before: state,
            after: state,
            worse: false,
            checks: Some(Counts::default()),
        }],
        broken: Vec::new(),
        changed: Vec::new(),
        added: Vec::new(),
        removed: Vec::new(),
    };
    let mut out = Vec::new();
    crate::fleet::json::diff(&diff, &mut out).unwrap();
    same_fields(
        "Diff report",
        &fields(&serde_json::from_slice(&out).unwrap()),
    );
}

#[test]
fn every_field_of_the_mesh_matrix_is_documented() {
    let report = serde_json::json!({
        "mesh": {"self": "a", "peers": ["a", "b"]},
        "results": [{"group": "mesh", "target": {"host": "b", "port": 29500}, "reason": "tcp_timeout"}],
    });
    let mut matrix = crate::mesh::matrix::Matrix::default();
    matrix.add(&report, "mesh.json").unwrap();
    same_fields("Mesh matrix", &fields(&json(&matrix.json())));
}
