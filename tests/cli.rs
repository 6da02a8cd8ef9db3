//! The command line as scripts see it: exit codes and one-line messages for bad input, `list`
//! and `explain`. None of these touch the network: each stops before any check runs.

use std::process::{Command, Output};

fn amlprobe(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_amlprobe"))
        .args(args)
        .env_remove("CI_NAME")
        .env_remove("AMLPROBE_REGION")
        // No test here may send a packet: not even to the metadata service.
        .env("AMLPROBE_OFFLINE", "1")
        .env("AMLPROBE_ENV_FILE", "/nonexistent/environment.sso")
        .env("HOME", "/nonexistent")
        .output()
        .expect("run amlprobe")
}

/// As `amlprobe`, with variables a node might hold.
fn amlprobe_with(args: &[&str], vars: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_amlprobe"))
        .args(args)
        .env_remove("AMLPROBE_REGION")
        .envs(vars.iter().copied())
        .env("AMLPROBE_OFFLINE", "1")
        .env("AMLPROBE_ENV_FILE", "/nonexistent/environment.sso")
        .env("HOME", "/nonexistent")
        .output()
        .expect("run amlprobe")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_string()
}

/// Exit 2 with exactly one line on stderr that contains every needle; nothing on stdout.
fn assert_usage_error(args: &[&str], needles: &[&str]) {
    let out = amlprobe(args);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "{args:?}: one line, got {err:?}"
    );
    assert!(err.starts_with("amlprobe: "), "{err}");
    for n in needles {
        assert!(err.contains(n), "{args:?}: {err:?} lacks {n:?}");
    }
    assert!(!err.contains("panicked"), "{err}");
    assert!(out.stdout.is_empty(), "{args:?}: nothing on stdout");
}

#[test]
fn bad_flags_and_values_are_exit_2_with_one_line() {
    assert_usage_error(&["--region", "west europe"], &["--region", "westeurope"]);
    assert_usage_error(
        &["--workspace-id", "not-a-guid"],
        &["--workspace-id", "GUID"],
    );
    assert_usage_error(
        &["--storage-account", "Bad_Name"],
        &["--storage-account", "lowercase"],
    );
    assert_usage_error(
        &["--compute-name", "x_1"],
        &["--compute-name", "compute instance name"],
    );
    assert_usage_error(&["--timeout", "soon"], &["--timeout", "5s or 1500ms"]);
    assert_usage_error(&["--timeout", "0s"], &["out of range"]);
    assert_usage_error(&["-o", "yaml"], &["yaml"]);
    assert_usage_error(&["--mode", "private"], &["--mode"]);
    assert_usage_error(&["--cloud", "mars"], &["--cloud"]);
    assert_usage_error(
        &["--dns-server", "dns.example.net"],
        &["--dns-server", "IP:PORT"],
    );
    assert_usage_error(&["--frobnicate"], &["--frobnicate"]);
    assert_usage_error(&["--only", "no-such-check"], &["no check matches"]);
    assert_usage_error(
        &["--catalog", "/nonexistent/extra.toml"],
        &["/nonexistent/extra.toml", "cannot read"],
    );
    assert_usage_error(
        &["--ca-file", "/nonexistent/ca.pem", "--only", "graph-443"],
        &["--ca-file", "/nonexistent/ca.pem"],
    );
    assert_usage_error(
        &["explain", "tcp_sad"],
        &["unknown reason code 'tcp_sad'", "tcp_timeout"],
    );
    // A proxy that cannot be used is the person's to fix; `list` does not read it.
    assert_usage_error(
        &["--proxy", "https://p.example:3128", "--only", "graph-443"],
        &["proxy", "only http:// proxies"],
    );
    let listed = amlprobe(&[
        "list",
        "--proxy",
        "https://p.example:3128",
        "--only",
        "graph-443",
    ]);
    assert_eq!(listed.status.code(), Some(0));
}

#[test]
fn values_also_come_from_the_environment() {
    let out = Command::new(env!("CARGO_BIN_EXE_amlprobe"))
        .args(["list", "-o", "json", "--only", "tundra-udp-5831"])
        .env("AMLPROBE_REGION", "northeurope")
        .env("AMLPROBE_OFFLINE", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("northeurope.tundra.azureml.ms"));
    let out = Command::new(env!("CARGO_BIN_EXE_amlprobe"))
        .args(["list"])
        .env("AMLPROBE_REGION", "north europe")
        .env("AMLPROBE_OFFLINE", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_malformed_catalog_names_file_and_line() {
    let dir = std::env::temp_dir().join(format!("amlprobe-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("extra.toml");
    std::fs::write(
        &path,
        "# extra endpoints\n[[endpoint]]\nid = \"proxy-443\"\ngroup = \"site\"\ntitle = \"t\"\nhost = \"proxy.contoso.example\"\nport = 443\nkind = \"carrier-pigeon\"\ndoc = \"https://contoso.example/wiki\"\n",
    )
    .unwrap();
    let p = path.display().to_string();
    assert_usage_error(
        &["list", "--catalog", &p],
        &[&format!("{p}:8:"), "carrier-pigeon"],
    );
    std::fs::write(&path, "[[endpoint]]\nid = \"graph-443\"\ngroup = \"x\"\ntitle = \"t\"\nhost = \"h.example\"\nport = 1\nkind = \"tcp\"\ndoc = \"https://x.example\"\n").unwrap();
    assert_usage_error(
        &["list", "--catalog", &p],
        &[&format!("{p}:1:"), "duplicate id"],
    );
    std::fs::write(&path, "[[endpoint]]\nid = \"site-proxy\"\ngroup = \"site\"\ntitle = \"t\"\nhost = \"proxy.{region}.contoso.example\"\nport = 8080\nkind = \"tcp\"\ndoc = \"https://contoso.example/wiki\"\n").unwrap();
    let out = amlprobe(&[
        "list",
        "--catalog",
        &p,
        "--only",
        "site",
        "--region",
        "westeurope",
        "-o",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("proxy.westeurope.contoso.example"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn list_shows_every_check_and_why_it_would_be_skipped() {
    let out = amlprobe(&["list", "-o", "json", "--region", "westeurope"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let all = v.as_array().unwrap();
    assert_eq!(all.len(), 41);
    let file = all.iter().find(|c| c["id"] == "storage-file-445").unwrap();
    assert!(file["skip"]
        .as_str()
        .unwrap()
        .starts_with("missing_input: needs --storage-account"));
    let tundra = all.iter().find(|c| c["id"] == "tundra-udp-5831").unwrap();
    assert_eq!(tundra["target"]["host"], "westeurope.tundra.azureml.ms");
    assert!(tundra.get("skip").is_none());
    assert_eq!(file["needs"], serde_json::json!(["--storage-account"]));
    let pe = all.iter().find(|c| c["id"] == "pe-workspace-api").unwrap();
    assert_eq!(
        pe["needs"],
        serde_json::json!(["--region", "--workspace-id"])
    );
    assert_eq!(pe["privatelink"], "privatelink.api.azureml.ms");
    // A check of one networking mode cannot fail a run whose mode is unknown.
    assert_eq!(pe["required"], false);
    let all = listed(&["--region", "westeurope", "--mode", "no-public-ip"]);
    let pe = all.iter().find(|c| c["id"] == "pe-workspace-api").unwrap();
    assert_eq!(pe["required"], true);
    let table = text(&amlprobe(&["list", "-o", "table", "--region", "westeurope"]).stdout);
    assert!(
        table.contains("tundra-udp-5831")
            && table.contains("westeurope.tundra.azureml.ms:5831/udp")
    );
    let md = text(&amlprobe(&["list", "-o", "markdown", "--region", "westeurope"]).stdout);
    assert!(md.starts_with("| check | kind | target |"), "{md}");
    assert!(md.contains("| tundra-udp-5831 | udp | westeurope.tundra.azureml.ms:5831/udp | yes |"));
    assert_usage_error(&["list", "-o", "junit"], &["-o junit is for check results"]);
}

/// Scenarios add checks only on request: `list` names each scenario and what it adds, shows the
/// added checks with the reason each would be skipped, and refuses a name it does not know.
#[test]
fn scenarios_add_their_checks_only_when_named() {
    let plain = listed(&["--region", "westeurope"]);
    assert_eq!(plain.len(), 41, "a run without --scenario keeps its checks");
    assert!(plain.iter().all(|c| c.get("scenario").is_none()));
    let args = [
        "list",
        "-o",
        "table",
        "--scenario",
        "vscode,registry",
        "--acr",
        "myacr",
    ];
    let out = amlprobe(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    for line in [
        "vscode-download-443     https      vscode.download.prss.microsoft.com:443/tcp\n",
        "vscode-instance-8710    tcp        {compute_name}.{region}.instances.azureml.ms:8710/tcp  (skip: missing_input: needs --compute-name: the host is {compute_name}.{region}.instances.azureml.ms)\n",
        "acr-443                 https      myacr.azurecr.io:443/tcp\n",
        "acr-data-443            https      {acr}.{region}.data.azurecr.io:443/tcp  (skip: missing_input: needs --region: the host is {acr}.{region}.data.azurecr.io)\n",
        "pe-acr                  dns        myacr.azurecr.io\n",
        "scenarios (--scenario NAME[,NAME] adds their checks):\n",
        "  registry    on   The workspace's container registry (--acr)",
        "  keyvault    off  The workspace's key vault (--key-vault)",
        "adds: keyvault-443 pe-keyvault\n",
    ] {
        assert!(table.contains(line), "{line:?} not in\n{table}");
    }
    // --acr alone turns the registry on; --scenario all, every scenario.
    let registry = listed(&["--acr", "myacr", "--region", "westeurope"]);
    let added: Vec<&str> = registry
        .iter()
        .filter(|c| c["scenario"] == "registry")
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(added, ["acr-443", "acr-data-443", "pe-acr", "pe-acr-data"]);
    assert_eq!(
        host_of(&registry, "acr-data-443"),
        "myacr.westeurope.data.azurecr.io"
    );
    let all = listed(&["--scenario", "all", "--region", "westeurope"]);
    assert_eq!(all.len(), plain.len() + 30, "every scenario check");
    let usgov = listed(&[
        "--acr",
        "myacr",
        "--key-vault",
        "kv-one",
        "--cloud",
        "usgov",
    ]);
    assert_eq!(host_of(&usgov, "acr-443"), "myacr.azurecr.us");
    assert_eq!(
        host_of(&usgov, "keyvault-443"),
        "kv-one.vault.usgovcloudapi.net"
    );
    let china = listed(&[
        "--acr",
        "myacr",
        "--cloud",
        "china",
        "--region",
        "chinanorth3",
    ]);
    assert_eq!(
        host_of(&china, "pe-acr-data"),
        "myacr.chinanorth3.data.azurecr.cn"
    );
    // The notebooks name, from the workspace's name the node or the flag gives.
    let nb = listed(&[
        "--scenario",
        "notebooks",
        "--region",
        "westeurope",
        "--workspace-name",
        "My_WS",
        "--workspace-id",
        "0f3a8d52-6c1e-4b7a-9d2e-5a4b3c2d1e0f",
    ]);
    assert_eq!(
        host_of(&nb, "pe-notebooks"),
        "ml-myws-westeurope-0f3a8d52-6c1e-4b7a-9d2e-5a4b3c2d1e0f.westeurope.notebooks.azure.net"
    );
    assert_usage_error(
        &["list", "--scenario", "vscode,jupyter"],
        &[
            "--scenario jupyter: no such scenario",
            "vscode, rstudio, notebooks",
        ],
    );
    assert_usage_error(
        &["list", "--acr", "myacr.azurecr.io"],
        &["not a container registry name"],
    );
    assert_usage_error(&["list", "--key-vault", "kv--x"], &["not a key vault name"]);
    let md = text(&amlprobe(&["list", "-o", "markdown", "--scenario", "rstudio"]).stdout);
    assert!(md.contains("| rstudio | yes | Installing RStudio"), "{md}");
}

fn listed(args: &[&str]) -> Vec<serde_json::Value> {
    let out = amlprobe(&[&["list", "-o", "json"], args].concat());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn host_of(all: &[serde_json::Value], id: &str) -> String {
    let c = all
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("{id}"));
    c["target"]["host"].as_str().unwrap().to_string()
}

#[test]
fn each_sovereign_cloud_has_its_own_hosts() {
    let common = [
        "--region",
        "reg1",
        "--storage-account",
        "st1",
        "--compute-name",
        "ci1",
        "--workspace-id",
        "0f1e2d3c-0000-4000-8000-000000000001",
    ];
    let ws = "0f1e2d3c-0000-4000-8000-000000000001";
    let cases: [(&str, Vec<(&str, String)>); 3] = [
        (
            "public",
            vec![
                ("entra-443", "login.microsoftonline.com".into()),
                ("arm-443", "management.azure.com".into()),
                ("studio-443", "ml.azure.com".into()),
                ("workspace-api-443", "reg1.api.azureml.ms".into()),
                (
                    "workspace-api-pe-443",
                    format!("{ws}.workspace.reg1.api.azureml.ms"),
                ),
                ("instances-net-443", "ci1.reg1.instances.azureml.net".into()),
                ("instances-443", "ci1.reg1.instances.azureml.ms".into()),
                ("instances-8787", "ci1.reg1.instances.azureml.ms".into()),
                (
                    "instances-rstudio-443",
                    "ci1-8787.reg1.instances.azureml.ms".into(),
                ),
                ("tundra-udp-5831", "reg1.tundra.azureml.ms".into()),
                ("graph-443", "graph.windows.net".into()),
                ("batch-443", "reg1.batch.azure.com".into()),
                ("batch-service-443", "reg1.service.batch.azure.com".into()),
                ("storage-blob-443", "st1.blob.core.windows.net".into()),
                ("storage-file-445", "st1.file.core.windows.net".into()),
                ("mcr-443", "mcr.microsoft.com".into()),
                ("mcr-data-443", "eastus.data.mcr.microsoft.com".into()),
                ("monitor-dc-443", "dc.applicationinsights.azure.com".into()),
                (
                    "monitor-ingest-443",
                    "westus2-0.in.applicationinsights.azure.com".into(),
                ),
                (
                    "pe-compute-instance",
                    "ci1.reg1.instances.azureml.ms".into(),
                ),
            ],
        ),
        (
            "usgov",
            vec![
                ("entra-443", "login.microsoftonline.us".into()),
                ("arm-443", "management.usgovcloudapi.net".into()),
                ("studio-443", "ml.azure.us".into()),
                ("workspace-api-443", "reg1.api.ml.azure.us".into()),
                (
                    "workspace-api-pe-443",
                    format!("{ws}.workspace.reg1.api.ml.azure.us"),
                ),
                ("instances-443", "ci1.reg1.instances.azureml.us".into()),
                ("instances-18881", "ci1.reg1.instances.azureml.us".into()),
                (
                    "instances-rstudio-443",
                    "ci1-8787.reg1.instances.azureml.us".into(),
                ),
                ("tundra-udp-5831", "reg1.tundra.azureml.us".into()),
                ("graph-443", "graph.windows.net".into()),
                ("batch-443", "reg1.batch.usgovcloudapi.net".into()),
                (
                    "batch-service-443",
                    "reg1.service.batch.usgovcloudapi.net".into(),
                ),
                ("storage-blob-443", "st1.blob.core.usgovcloudapi.net".into()),
                ("storage-file-445", "st1.file.core.usgovcloudapi.net".into()),
                ("mcr-443", "mcr.microsoft.com".into()),
                ("mcr-data-443", "eastus.data.mcr.microsoft.com".into()),
                ("monitor-dc-443", "dc.applicationinsights.us".into()),
                (
                    "pe-compute-instance",
                    "ci1.reg1.instances.azureml.us".into(),
                ),
            ],
        ),
        (
            "china",
            vec![
                ("entra-443", "login.chinacloudapi.cn".into()),
                ("arm-443", "management.chinacloudapi.cn".into()),
                ("studio-443", "studio.ml.azure.cn".into()),
                ("workspace-api-443", "reg1.api.ml.azure.cn".into()),
                (
                    "workspace-api-pe-443",
                    format!("{ws}.workspace.reg1.api.ml.azure.cn"),
                ),
                ("instances-443", "ci1.reg1.instances.azureml.cn".into()),
                (
                    "instances-rstudio-443",
                    "ci1-8787.reg1.instances.azureml.cn".into(),
                ),
                ("tundra-udp-5831", "reg1.tundra.azureml.cn".into()),
                ("graph-443", "graph.chinacloudapi.cn".into()),
                ("batch-443", "reg1.batch.chinacloudapi.cn".into()),
                (
                    "batch-service-443",
                    "reg1.service.batch.chinacloudapi.cn".into(),
                ),
                ("storage-blob-443", "st1.blob.core.chinacloudapi.cn".into()),
                ("storage-file-445", "st1.file.core.chinacloudapi.cn".into()),
                ("mcr-443", "mcr.azure.cn".into()),
                ("mcr-data-443", "data.mcr.azure.cn".into()),
                ("monitor-dc-443", "dc.applicationinsights.azure.cn".into()),
                (
                    "pe-compute-instance",
                    "ci1.reg1.instances.azureml.cn".into(),
                ),
            ],
        ),
    ];
    for (cloud, hosts) in cases {
        let all = listed(&[&common[..], &["--cloud", cloud]].concat());
        for (id, host) in &hosts {
            assert_eq!(host_of(&all, id), *host, "{cloud} {id}");
            let c = all.iter().find(|c| c["id"] == *id).unwrap();
            assert!(c.get("skip").is_none(), "{cloud} {id} applies: {c}");
        }
        // Stand-ins are the names only the tool chose: Batch zones and the MCR data host,
        // never a name built from the customer's own account, compute or workspace.
        for c in &all {
            let id = c["id"].as_str().unwrap();
            let stand_in = c["stand_in"].as_bool().unwrap_or(false);
            let expected = matches!(
                id,
                "batch-443" | "batch-service-443" | "mcr-data-443" | "monitor-ingest-443"
            ) || (id.starts_with("pythonhosted")
                || id.starts_with("anaconda")
                || id.starts_with("pytorch")
                || id.starts_with("tensorflow"));
            if c.get("skip").is_none() {
                assert_eq!(stand_in, expected, "{cloud} {id}: stand_in");
            }
        }
        let redirect = all.iter().find(|c| c["id"] == "mcr-data-443").unwrap()["redirect_from"]
            .as_str()
            .unwrap()
            .to_string();
        let registry = if cloud == "china" {
            "https://mcr.azure.cn/v2/"
        } else {
            "https://mcr.microsoft.com/v2/"
        };
        assert!(redirect.starts_with(registry), "{cloud}: {redirect}");
        // No applicable check of a sovereign cloud names the public cloud's own domains.
        let foreign: &[&str] = match cloud {
            "usgov" => &[
                "azureml.ms",
                "azureml.net",
                "core.windows.net",
                "azure.com",
                "visualstudio.com",
                "microsoftonline.com",
            ],
            "china" => &[
                "azureml.ms",
                "azureml.net",
                "windows.net",
                "azure.com",
                "microsoft.com",
                "visualstudio.com",
                "microsoftonline.com",
            ],
            _ => &[],
        };
        for c in all.iter().filter(|c| c.get("skip").is_none()) {
            let host = c["target"]["host"].as_str().unwrap_or("");
            assert!(
                !foreign.iter().any(|d| host.ends_with(d)),
                "{cloud}: {} probes {host}",
                c["id"]
            );
        }
    }
    let all = listed(&[&common[..], &["--cloud", "usgov"]].concat());
    for id in ["instances-net-443", "monitor-vs-443", "monitor-ingest-443"] {
        let c = all.iter().find(|c| c["id"] == id).unwrap();
        assert!(
            c["skip"]
                .as_str()
                .unwrap()
                .starts_with("not_applicable: does not exist in the usgov cloud"),
            "{c}"
        );
    }
}

#[test]
fn compute_type_and_mode_select_the_checks_that_apply() {
    let all = listed(&[
        "--region",
        "reg1",
        "--compute-name",
        "ci1",
        "--compute-type",
        "cluster",
    ]);
    let ws = all.iter().find(|c| c["id"] == "instances-443").unwrap();
    assert!(
        ws["skip"]
            .as_str()
            .unwrap()
            .contains("does not apply to cluster compute"),
        "{ws}"
    );
    let tundra = all.iter().find(|c| c["id"] == "tundra-udp-5831").unwrap();
    assert!(tundra.get("skip").is_none());
    let all = listed(&["--region", "reg1", "--mode", "no-public-ip"]);
    let inbound = all.iter().find(|c| c["id"] == "inbound-44224").unwrap();
    assert!(inbound["skip"]
        .as_str()
        .unwrap()
        .starts_with("not_applicable"));
    let all = listed(&["--region", "reg1", "--compute-type", "attached-vm"]);
    let os = all.iter().find(|c| c["id"] == "node-os-ubuntu").unwrap();
    assert!(os.get("skip").is_none());
}

#[test]
fn explain_knows_every_reason_code_of_the_interface() {
    let interface = [
        "ok",
        "blocked_as_expected",
        "ws_auth_required",
        "dns_nxdomain",
        "dns_no_records",
        "dns_timeout",
        "dns_servfail",
        "dns_refused",
        "dns_public_address",
        "dns_resolver_mismatch",
        "tcp_refused",
        "tcp_timeout",
        "tcp_unreachable",
        "tcp_inconclusive",
        "udp_unreachable",
        "udp_no_reply",
        "tls_untrusted",
        "tls_intercepted",
        "tls_name_mismatch",
        "tls_expired",
        "tls_handshake_failed",
        "tls_timeout",
        "firewall_denied",
        "mtu_blackhole",
        "http_status",
        "http_bad_response",
        "http_timeout",
        "ws_not_upgraded",
        "proxy_refused",
        "proxy_denied",
        "smb_bad_reply",
        "unexpectedly_reachable",
        "missing_input",
        "not_applicable",
        "dns_flapping",
        "intermittent",
        "peer_not_amlprobe",
        "peer_absent",
        "peer_wrong_node",
        "peer_name_unverified",
    ];
    let all: Vec<&str> = amlprobe::reason::Reason::ALL
        .iter()
        .map(|r| r.code())
        .collect();
    for code in interface {
        assert!(all.contains(&code), "{code} is in the interface");
    }
    for r in amlprobe::reason::Reason::ALL {
        let code = r.code();
        let out = amlprobe(&["explain", code]);
        assert_eq!(out.status.code(), Some(0), "{code}");
        let t = text(&out.stdout);
        assert!(
            t.starts_with(&format!("{code}  ({})", r.status().as_str())),
            "{t}"
        );
        assert!(t.contains("meaning: "), "{t}");
        if matches!(
            r.status(),
            amlprobe::reason::Status::Fail | amlprobe::reason::Status::Warn
        ) {
            assert!(
                t.contains("fix:") && t.contains("see:     https://learn.microsoft.com/"),
                "{code}: {t}"
            );
        }
    }
    let t = text(&amlprobe(&["explain", "tcp_timeout"]).stdout);
    assert!(
        t.contains("(fail)") && t.contains("fix:") && t.contains("NSG"),
        "{t}"
    );
    let t = text(&amlprobe(&["explain", "dns_resolver_mismatch"]).stdout);
    assert!(
        t.contains("168.63.129.16") && t.contains("how-to-custom-dns"),
        "{t}"
    );
}

/// An error message pasted from a log, whole or as words typed from memory, is explained with
/// the checks that tell its causes apart; unknown text is exit 2 with the closest messages.
#[test]
fn explain_takes_the_error_messages_azure_ml_prints() {
    let out = amlprobe(&[
        "explain",
        "Job failed: StorageMountError: please allow outbound connection to ports 443, 445 for storage service tag",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let t = text(&out.stdout);
    assert!(t.starts_with("Azure ML error: StorageMountError"), "{t}");
    for needle in [
        "storage-file-445",
        "tcp_timeout",
        "storage_firewall_denied",
        "--run",
    ] {
        assert!(t.contains(needle), "{needle}: {t}");
    }
    // What a client prints behind a firewall that refuses the name leads to its reason.
    let out = amlprobe(&[
        "explain",
        "curl: (35) OpenSSL SSL_connect: SSL_ERROR_SYSCALL in connection to graph.windows.net:443",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let t = text(&out.stdout);
    for needle in ["firewall_denied", "graph-443", "entra-80"] {
        assert!(t.contains(needle), "{needle}: {t}");
    }
    // A reason code's text names the messages it explains, as docs/reasons.md does.
    let t = text(&amlprobe(&["explain", "smb_bad_reply"]).stdout);
    assert!(t.contains("errors:  \"StorageMountError"), "{t}");

    // Standard input, for a log too long for the command line.
    let mut child = Command::new(env!("CARGO_BIN_EXE_amlprobe"))
        .args(["explain", "-"])
        .env("AMLPROBE_OFFLINE", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run amlprobe");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        let log = "line\n".repeat(10_000) + "curl: (35) error:0A000410:SSL routines::sslv3 alert handshake failure\nremote error: tls: handshake failure\n";
        stdin.write_all(log.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).starts_with("Azure ML error: CERTIFICATE_VERIFY_FAILED"));

    assert_usage_error(
        &["explain", "StorageMountErr"],
        &[
            "unknown reason code or Azure ML error message 'StorageMountErr'",
            "'StorageMountError'",
        ],
    );
    assert_usage_error(&["explain", "x".repeat(5000).as_str()], &["…'"]);
    // --run runs checks for a message: not for a code, not with --only, not for what only mesh
    // or a setting can tell. Each stops before any check.
    assert_usage_error(
        &["explain", "tcp_timeout", "--run"],
        &["--run takes an error message"],
    );
    assert_usage_error(
        &["explain", "mount error(115)", "--run", "--only", "storage"],
        &["leave out --only"],
    );
    assert_usage_error(
        &["explain", "connect: connection refused", "--run"],
        &["amlprobe mesh"],
    );
    assert_usage_error(
        &["explain", "ImageBuildComputeNotValid", "--run"],
        &["--image-build-compute"],
    );
}

#[test]
fn help_and_version_exit_0() {
    let out = amlprobe(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("--storage-account"));
    let out = amlprobe(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).starts_with("amlprobe 0."));
}

#[test]
fn completions_and_the_manual_come_from_the_cli_definition() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef amlprobe"),
        ("fish", "complete -c amlprobe"),
    ] {
        let out = amlprobe(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let t = text(&out.stdout);
        assert!(
            t.contains(marker) && t.contains("storage-account"),
            "{shell}: {t:.200}"
        );
    }
    let man = text(&amlprobe(&["man"]).stdout);
    assert!(
        man.starts_with(".ie") || man.contains(".TH amlprobe"),
        "{man:.200}"
    );
    assert!(man.contains("storage\\-account") || man.contains("storage-account"));
    assert_usage_error(&["completions", "powershell7"], &["powershell7"]);
    let help = text(&amlprobe(&["--help"]).stdout);
    for f in [
        "markdown",
        "junit",
        "--redact",
        "--offline",
        "--compute-type",
    ] {
        assert!(help.contains(f), "--help mentions {f}");
    }
}

#[test]
fn the_proxy_password_never_shows_in_help() {
    let out = Command::new(env!("CARGO_BIN_EXE_amlprobe"))
        .arg("--help")
        .env("AMLPROBE_PROXY", "http://alice:hunter2@proxy.example:3128")
        .output()
        .unwrap();
    assert!(!text(&out.stdout).contains("hunter2"));
}

/// Whoever sets a variable, names a certificate or writes a catalog cannot play control
/// sequences on the terminal of the person reading the result.
#[test]
fn control_sequences_never_reach_a_person() {
    let hostile = "\u{1b}]0;x\u{7}\u{1b}[2J\u{9b}1mPASS\u{202e}";
    // The table shows the warning; markdown carries it in its JSON block.
    for (format, shown_as) in [("table", "\\u{1b}]0;x"), ("markdown", "\\u001b]0;x")] {
        let out = amlprobe_with(
            &["check", "--only", "node-docker-bridge", "-o", format],
            &[("CI_NAME", hostile)],
        );
        let shown = text(&out.stdout);
        assert!(
            shown.contains(shown_as),
            "{format}: the escape is shown: {shown}"
        );
        for c in ['\u{1b}', '\u{7}', '\u{9b}', '\u{202e}'] {
            assert!(!shown.contains(c), "{format} holds {c:?}: {shown:?}");
        }
    }
    // Errors stay one line, whatever the argument holds.
    assert_usage_error(&["explain", "tcp\n\u{1b}[2Jsad"], &["unknown reason code"]);
    assert_usage_error(&["--proxy", "http://p\nx:1"], &["proxy"]);
    let out = amlprobe(&["explain", "\u{1b}[2J"]);
    assert!(!text(&out.stderr).contains('\u{1b}'));
}

/// A named file is read only if it is a regular file of sane size: never a device, a FIFO or
/// a gigabyte. Each refusal is exit 2 with one line naming the file.
#[test]
fn named_files_must_be_regular_and_bounded() {
    let dir = std::env::temp_dir().join(format!("amlprobe-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let big = dir.join("big.toml");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(40 << 20)
        .unwrap();
    let fifo = fifo.to_str().unwrap();
    let big = big.to_str().unwrap();
    for (args, needles) in [
        (
            vec!["list", "--catalog", "/dev/zero"],
            vec!["/dev/zero", "not a regular file"],
        ),
        (
            vec!["list", "--catalog", fifo],
            vec![fifo, "not a regular file"],
        ),
        (
            vec!["list", "--catalog", big],
            vec![big, "larger than 32 MiB"],
        ),
        (
            vec!["--ca-file", "/dev/zero", "--only", "graph-443"],
            vec!["--ca-file /dev/zero", "not a regular file"],
        ),
    ] {
        assert_usage_error(&args, &needles);
    }
    let out = amlprobe_with(&["--only", "graph-443"], &[("SSL_CERT_FILE", fifo)]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("SSL_CERT_FILE"));
    // The environment file is the node's: a bad one is a warning, and the run goes on.
    let out = amlprobe(&[
        "list",
        "--env-file",
        fifo,
        "-o",
        "json",
        "--only",
        "graph-443",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Exit 0 means what is required passed: a run whose required checks were all skipped is not
/// a pass, with or without --strict. The report is still printed.
#[test]
fn a_run_that_tested_nothing_required_is_not_a_pass() {
    for strict in [false, true] {
        let mut args = vec!["--only", "storage*", "-o", "json"];
        if strict {
            args.push("--strict");
        }
        let out = amlprobe(&args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("nothing was tested") && err.contains("--storage-account"));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["summary"]["skip"], report["summary"]["total"]);
    }
}

/// An unwritable --report is found before any check runs, not after the whole run. The only
/// check here asks a DNS server on loopback that is not there.
#[test]
fn an_unwritable_report_stops_the_run_before_it_starts() {
    let out = amlprobe(&[
        "--only",
        "graph-443",
        "--dns-server",
        "127.0.0.1:9",
        "--timeout",
        "1s",
        "-o",
        "jsonl",
        "--report",
        "/nonexistent/dir/report.json",
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("--report /nonexistent/dir/report.json: cannot write"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "no check ran: {}", text(&out.stdout));
}

/// `watch` takes every flag of `check` and its own; a bad one stops it before any round, and an
/// unwritable --metrics file too, as an unwritable --report does.
#[test]
fn watch_refuses_bad_flags_and_an_unwritable_metrics_file_before_any_round() {
    let dead_dns = ["--dns-server", "127.0.0.1:9", "--only", "graph-443"];
    for (extra, needles) in [
        (vec!["--count", "0"], vec!["--count", "0"]),
        (
            vec!["--count", "2", "--for", "1m"],
            vec!["--count", "--for"],
        ),
        (
            vec!["--interval", "10ms"],
            vec!["--interval", "out of range"],
        ),
        (vec!["--for", "soon"], vec!["--for", "5s or 1500ms"]),
        (vec!["--region", "west europe"], vec!["--region"]),
        (vec!["--only", "no-such-check"], vec!["no check matches"]),
    ] {
        let mut args = vec!["watch"];
        args.extend(dead_dns.iter().filter(|_| extra[0] != "--only"));
        args.extend(extra);
        assert_usage_error(&args, &needles);
    }
    let mut args = vec![
        "watch",
        "--count",
        "1",
        "--metrics",
        "/nonexistent/dir/amlprobe.prom",
    ];
    args.extend(dead_dns);
    let out = amlprobe(&args);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("--metrics /nonexistent/dir/amlprobe.prom: cannot write"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "no round ran: {}", text(&out.stdout));
    let help = text(&amlprobe(&["watch", "--help"]).stdout);
    for flag in [
        "--interval",
        "--count",
        "--for",
        "--metrics",
        "--dns-server",
        "--report",
    ] {
        assert!(help.contains(flag), "watch --help names {flag}");
    }
}

/// A run whose stdout is a full disk.
fn into_full_stdout(args: &[&str]) -> Output {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    Command::new(env!("CARGO_BIN_EXE_amlprobe"))
        .args(args)
        .env("AMLPROBE_OFFLINE", "1")
        .env("AMLPROBE_ENV_FILE", "/nonexistent/environment.sso")
        .stdout(full)
        .output()
        .unwrap()
}

/// Output that could not be written is not a success: a script must not take a lost report
/// for a pass.
#[test]
fn lost_output_is_an_error() {
    for args in [
        vec!["explain", "tcp_timeout"],
        vec!["list", "-o", "json"],
        vec!["check", "--only", "node-docker-bridge", "-o", "json"],
    ] {
        let out = into_full_stdout(&args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {err}");
        assert!(err.contains("cannot write to standard output"), "{err}");
    }
}

/// Smaller decisions: an empty AMLPROBE_ONLY is no selection; a proxy variable that no
/// selected check would use does not stop the run; DNS port 0 is refused.
#[test]
fn empty_selections_unused_proxies_and_port_zero() {
    let all = amlprobe_with(&["list", "-o", "json"], &[("AMLPROBE_ONLY", "")]);
    assert_eq!(all.status.code(), Some(0), "{}", text(&all.stderr));
    let count = |o: &Output| {
        serde_json::from_slice::<serde_json::Value>(&o.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(count(&all), count(&amlprobe(&["list", "-o", "json"])));
    let out = amlprobe_with(
        &["--only", "node-docker-bridge", "-o", "json"],
        &[("HTTPS_PROXY", "https://proxy.example:3128")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        report["context"]["notes"].to_string().contains("ignored"),
        "{report}"
    );
    assert_usage_error(&["--dns-server", "10.0.0.53:0"], &["port 0"]);
}

/// A report as `check` writes it, trimmed to what `fix` reads.
fn report_json(status: &str, reason: &str) -> String {
    serde_json::json!({
        "schema_version": 1,
        "tool": {"name": "amlprobe", "version": "0.1.0"},
        "context": {"cloud": "public", "region": "westeurope", "mode": "no-public-ip"},
        "results": [{
            "id": "tundra-udp-5831", "kind": "udp", "required": true,
            "target": {"host": "westeurope.tundra.azureml.ms", "port": 5831, "transport": "udp"},
            "service_tag": "AzureMachineLearning", "status": status, "reason": reason,
            "remediation": "", "doc": ""
        }]
    })
    .to_string()
}

#[test]
fn fix_reads_a_report_and_refuses_anything_else() {
    let dir = std::env::temp_dir().join(format!("amlprobe-fix-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let failing = dir.join("failing.json");
    std::fs::write(&failing, report_json("fail", "udp_unreachable")).unwrap();
    let passing = dir.join("passing.json");
    std::fs::write(&passing, report_json("pass", "ok")).unwrap();
    let foreign = dir.join("foreign.json");
    std::fs::write(
        &foreign,
        r#"{"schema_version": 1, "tool": {"name": "other"}}"#,
    )
    .unwrap();
    let truncated = dir.join("truncated.json");
    std::fs::write(&truncated, &report_json("fail", "udp_unreachable")[..120]).unwrap();

    let out = amlprobe(&["fix", "--format", "az", failing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let script = text(&out.stdout);
    assert!(
        script.contains("--ip-protocols UDP --destination-addresses 'AzureMachineLearning'"),
        "{script}"
    );

    let out = amlprobe(&["fix", passing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("Nothing to change"),
        "{}",
        text(&out.stdout)
    );

    // `-` reads standard input.
    let mut child = Command::new(env!("CARGO_BIN_EXE_amlprobe"))
        .args(["fix", "-o", "terraform", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(report_json("fail", "udp_unreachable").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("AzureMachineLearning"));

    for (file, needle) in [
        (foreign.to_str().unwrap(), "not a report amlprobe wrote"),
        (truncated.to_str().unwrap(), "not a report amlprobe wrote"),
        ("/dev/zero", "not a regular file"),
        ("/nonexistent/report.json", "no such file"),
    ] {
        assert_usage_error(&["fix", file], &[needle]);
    }
    assert_usage_error(
        &["fix", "--nsg", "nsg; reboot", failing.to_str().unwrap()],
        &["not an Azure resource name"],
    );
    assert_usage_error(
        &["fix", "--format", "yaml", failing.to_str().unwrap()],
        &["yaml"],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A node report as `check` writes it, trimmed to what `merge` and `diff` read.
fn node_report(hostname: &str, graph: (&str, &str)) -> String {
    let result = |id: &str, (status, reason): (&str, &str)| {
        serde_json::json!({
            "id": id, "group": "azureml", "title": "t", "required": true, "kind": "tls",
            "target": {"host": "graph.windows.net", "port": 443, "transport": "tcp"},
            "status": status, "reason": reason
        })
    };
    serde_json::json!({
        "schema_version": 1,
        "tool": {"name": "amlprobe", "version": "0.1.0"},
        "started_at": "2026-11-26T07:00:00Z",
        "node": {"hostname": hostname, "resolvers": [], "proxy": null},
        "context": {"cloud": "public", "region": "westeurope", "mode": "auto"},
        "results": [result("graph-443", graph), result("arm-443", ("pass", "ok"))]
    })
    .to_string()
}

#[test]
fn merge_and_diff_read_reports_and_refuse_anything_else() {
    let dir = std::env::temp_dir().join(format!("amlprobe-fleet-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let nodes = dir.join("nodes");
    std::fs::create_dir_all(&nodes).unwrap();
    let path = |name: &str| dir.join(name).to_str().unwrap().to_string();
    std::fs::write(nodes.join("a.json"), node_report("ci-a", ("pass", "ok"))).unwrap();
    std::fs::write(nodes.join("b.json"), node_report("ci-b", ("pass", "ok"))).unwrap();
    std::fs::write(
        nodes.join("c.json"),
        node_report("ci-c", ("fail", "tcp_refused")),
    )
    .unwrap();
    std::fs::write(nodes.join("notes.txt"), "not a report").unwrap();

    let out = amlprobe(&["merge", &path("nodes")]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let fleet: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("JSON by default off a terminal");
    assert_eq!(fleet["kind"], "fleet");
    assert_eq!(fleet["checks"][0]["odd_nodes"], serde_json::json!(["ci-c"]));
    std::fs::write(dir.join("fleet.json"), &out.stdout).unwrap();
    let out = amlprobe(&[
        "merge",
        &path("nodes/a.json"),
        &path("nodes/b.json"),
        "-o",
        "table",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("2 nodes, 2 checks: no node fails"));

    let out = amlprobe(&["diff", &path("nodes/a.json"), &path("nodes/c.json")]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let diff: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(diff["kind"], "diff");
    assert_eq!(diff["broken"][0]["id"], "graph-443");
    let out = amlprobe(&[
        "diff",
        &path("nodes/c.json"),
        &path("nodes/a.json"),
        "-o",
        "markdown",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "fixed is not worse: {}",
        text(&out.stderr)
    );
    let out = amlprobe(&[
        "diff",
        &path("fleet.json"),
        &path("fleet.json"),
        "-o",
        "table",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("no difference"));

    let write = |name: &str, body: &str| {
        std::fs::write(dir.join(name), body).unwrap();
        path(name)
    };
    let good = node_report("ci-a", ("pass", "ok"));
    let foreign = write(
        "foreign.json",
        r#"{"schema_version": 1, "tool": {"name": "other"}}"#,
    );
    let version = write(
        "v2.json",
        &good.replace("\"schema_version\":1", "\"schema_version\":2"),
    );
    let truncated = write("cut.json", &good[..good.len() / 2]);
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let a = path("nodes/a.json");
    for (args, needles) in [
        (
            vec!["merge", &a, &foreign],
            vec!["foreign.json", "not a report amlprobe wrote"],
        ),
        (vec!["merge", &version], vec!["v2.json", "schema_version 2"]),
        (
            vec!["merge", &a, &truncated],
            vec!["cut.json", "not a report amlprobe wrote"],
        ),
        (
            vec!["merge", &path("fleet.json")],
            vec!["fleet.json", "merge takes node reports"],
        ),
        (
            vec!["merge", "/nonexistent/r.json"],
            vec!["/nonexistent/r.json", "no such file"],
        ),
        (
            vec!["merge", "/dev/zero"],
            vec!["/dev/zero", "not a regular file"],
        ),
        (
            vec!["merge", empty.to_str().unwrap()],
            vec!["no *.json report"],
        ),
        (vec!["merge", &a, "-o", "yaml"], vec!["yaml"]),
        (vec!["diff", &a], vec!["required arguments"]),
        (
            vec!["diff", &a, &path("fleet.json")],
            vec!["node report", "fleet report"],
        ),
        (
            vec!["diff", &truncated, &a],
            vec!["cut.json", "not a report amlprobe wrote"],
        ),
        (
            vec!["diff", &a, &foreign],
            vec!["foreign.json", "tool.name"],
        ),
    ] {
        assert_usage_error(&args, &needles);
    }

    // More reports than merge reads: refused before any is read.
    let many = dir.join("many");
    std::fs::create_dir_all(&many).unwrap();
    for i in 0..=10_000 {
        std::fs::write(many.join(format!("{i}.json")), "").unwrap();
    }
    assert_usage_error(
        &["merge", many.to_str().unwrap()],
        &["more than 10000 reports"],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A report of more distinct check ids than a fleet holds is refused in one line naming it,
/// whether `merge` reads it among ordinary reports or `diff` reads it as a fleet report.
#[test]
fn reports_of_countless_check_ids_are_refused_naming_the_file() {
    let dir = std::env::temp_dir().join(format!("amlprobe-fleet-ids-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let nodes = dir.join("nodes");
    std::fs::create_dir_all(&nodes).unwrap();
    std::fs::write(nodes.join("a.json"), node_report("ci-a", ("pass", "ok"))).unwrap();
    let ids: Vec<String> = (0..=10_000).map(|i| format!("forged-{i}")).collect();
    let mut hostile: serde_json::Value =
        serde_json::from_str(&node_report("ci-z", ("pass", "ok"))).unwrap();
    let row = hostile["results"][0].clone();
    hostile["results"] = ids
        .iter()
        .map(|id| {
            let mut r = row.clone();
            r["id"] = id.as_str().into();
            r
        })
        .collect();
    std::fs::write(nodes.join("z.json"), hostile.to_string()).unwrap();
    assert_usage_error(
        &["merge", "-o", "html", nodes.to_str().unwrap()],
        &["z.json", "more than 10000 distinct check ids"],
    );
    // Or the reports together: the one past the bound is named.
    let halves = dir.join("halves");
    std::fs::create_dir_all(&halves).unwrap();
    let rows = hostile["results"].as_array().unwrap().clone();
    for (name, part) in [("x.json", &rows[..6000]), ("y.json", &rows[5000..])] {
        let mut half = hostile.clone();
        half["results"] = part.to_vec().into();
        std::fs::write(halves.join(name), half.to_string()).unwrap();
    }
    assert_usage_error(
        &["merge", "-o", "markdown", halves.to_str().unwrap()],
        &["y.json", "more than 10000 distinct check ids"],
    );
    let checks: Vec<serde_json::Value> = ids
        .iter()
        .map(|id| {
            serde_json::json!({"id": id, "group": "g", "title": "t", "required": true,
                "by_node": {"n": {"status": "pass", "reason": "ok"}}})
        })
        .collect();
    let fleet = serde_json::json!({
        "schema_version": 1, "kind": "fleet", "tool": {"name": "amlprobe", "version": "0.1.0"},
        "nodes": [{"name": "n", "file": "n.json"}], "checks": checks
    });
    let forged = dir.join("fleet.json");
    std::fs::write(&forged, fleet.to_string()).unwrap();
    let forged = forged.to_str().unwrap();
    assert_usage_error(
        &["diff", forged, forged],
        &["fleet.json", "more than 10000 distinct check ids"],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Two mesh reports that claim one node: `merge` names both files in one line and draws the
/// other nodes' rows, the claimed node's unknown.
#[test]
fn a_mesh_node_claimed_twice_names_both_files() {
    let dir = std::env::temp_dir().join(format!("amlprobe-mesh-twice-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mesh = |this: &str, to: &str, reason: &str| {
        serde_json::json!({
            "schema_version": 1, "tool": {"name": "amlprobe", "version": "0.1.0"},
            "mesh": {"self": this, "peers": ["a", "b"]},
            "results": [{"group": "mesh", "target": {"host": to, "port": 29500}, "reason": reason}]
        })
        .to_string()
    };
    std::fs::write(dir.join("a.json"), mesh("a", "b", "tcp_timeout")).unwrap();
    std::fs::write(dir.join("b.json"), mesh("b", "a", "ok")).unwrap();
    std::fs::write(dir.join("c.json"), mesh("a", "b", "ok")).unwrap();
    let out = amlprobe(&["merge", "-o", "json", dir.to_str().unwrap()]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("a.json, ") && err.contains("c.json: 2 reports claim node a"),
        "{err}"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["matrix"]["b"]["a"], "pass");
    assert_eq!(v["matrix"]["a"]["b"], "?");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `mesh` without peers, or with only itself, says in one line which flag or variables to set.
#[test]
fn mesh_without_peers_is_a_usage_error() {
    let run = |args: &[&str], vars: &[(&str, &str)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_amlprobe"));
        cmd.arg("mesh").args(args);
        for v in [
            "AZ_BATCH_HOST_LIST",
            "AZ_BATCH_NODE_LIST",
            "AZ_BATCHAI_MPI_HOST_FILE",
            "MASTER_ADDR",
            "AZ_BATCH_MASTER_NODE",
            "MASTER_PORT",
        ] {
            cmd.env_remove(v);
        }
        cmd.envs(vars.iter().copied())
            .output()
            .expect("run amlprobe")
    };
    for (args, vars, needle) in [
        (&[][..], &[][..], "--peers"),
        (&[], &[("AZ_BATCH_HOST_LIST", " , ")], "AZ_BATCH_HOST_LIST"),
        (
            &["--peers", "10.0.0.4", "--self", "10.0.0.4"],
            &[],
            "no other peer",
        ),
        (
            &["--self", "10.0.0.5"],
            &[("AZ_BATCH_NODE_LIST", "10.0.0.5")],
            "env:AZ_BATCH_NODE_LIST",
        ),
    ] {
        let out = run(args, vars);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err:?}");
        assert!(
            err.starts_with("amlprobe: ") && err.contains(needle),
            "{err:?}"
        );
    }
    assert_usage_error(&["mesh", "--peers", "a;b"], &["not a host"]);
    assert_usage_error(&["mesh", "--peers", "a", "--ports", "0"], &["--ports"]);
}

#[test]
fn fix_names_the_kind_of_report_it_was_given_instead() {
    let dir = std::env::temp_dir().join(format!("amlprobe-fix-kind-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let head = r#""schema_version": 1, "tool": {"name": "amlprobe"}"#;
    for (name, text, needle) in [
        (
            "fleet.json",
            format!(r#"{{{head}, "kind": "fleet", "nodes": []}}"#),
            "a fleet report",
        ),
        (
            "mesh.json",
            format!(r#"{{{head}, "mesh": {{"self": "a"}}, "results": []}}"#),
            "a mesh report",
        ),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        assert_usage_error(&["fix", path.to_str().unwrap()], &[needle]);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn diff_compares_two_mesh_reports_of_a_node() {
    let dir = std::env::temp_dir().join(format!("amlprobe-diff-mesh-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let report = |status: &str, reason: &str| {
        serde_json::json!({
            "schema_version": 1,
            "tool": {"name": "amlprobe", "version": "0.1.0"},
            "started_at": "2026-11-26T07:00:00Z",
            "node": {"hostname": "node-a", "resolvers": [], "proxy": null},
            "context": {"cloud": "public", "region": null, "mode": "auto"},
            "mesh": {"self": "10.0.0.4", "peers": ["10.0.0.4", "10.0.0.5"], "ports": [29500]},
            "results": [{"id": "mesh:10.0.0.5:29500", "group": "mesh", "title": "t",
                         "required": true, "kind": "tcp",
                         "target": {"host": "10.0.0.5", "port": 29500, "transport": "tcp"},
                         "status": status, "reason": reason}]
        })
        .to_string()
    };
    let (before, after) = (dir.join("before.json"), dir.join("after.json"));
    std::fs::write(&before, report("pass", "ok")).unwrap();
    std::fs::write(&after, report("fail", "tcp_timeout")).unwrap();
    let out = amlprobe(&[
        "diff",
        "-o",
        "json",
        before.to_str().unwrap(),
        after.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let d: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(d["broken"][0]["id"], "mesh:10.0.0.5:29500", "{d}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `watch --metrics` replaces a regular file only: a device node or a symbolic link at the path
/// is refused before any round, with exit 2, and stays as it was.
#[test]
fn watch_metrics_replaces_only_a_regular_file() {
    use std::os::unix::fs::FileTypeExt as _;
    let dir = std::env::temp_dir().join(format!("amlprobe-metrics-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let device = dir.join("null");
    nix::sys::stat::mknod(
        &device,
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o600),
        nix::sys::stat::makedev(1, 3),
    )
    .unwrap();
    let kept = dir.join("kept");
    std::fs::write(&kept, "kept\n").unwrap();
    let link = dir.join("link.prom");
    std::os::unix::fs::symlink(&kept, &link).unwrap();
    for path in [&device, &link] {
        let path = path.to_str().unwrap();
        let args = [
            "watch",
            "--offline",
            "--only",
            "node-docker-bridge",
            "--count",
            "1",
            "--metrics",
            path,
        ];
        let out = amlprobe(&args);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
        assert_eq!(
            text(&out.stderr),
            format!("amlprobe: --metrics {path}: cannot write: it is not a regular file\n")
        );
        assert!(out.stdout.is_empty(), "no round ran: {}", text(&out.stdout));
    }
    let device = std::fs::symlink_metadata(&device).unwrap();
    assert!(device.file_type().is_char_device(), "the device stays");
    assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
    assert_eq!(std::fs::read_to_string(&kept).unwrap(), "kept\n");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 3, "nothing added");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A `--report` file that cannot be written once the run is over does not cost the report on
/// stdout: it is printed in full, then one line says the file was not written (exit 3).
#[test]
fn a_report_file_lost_after_the_run_keeps_stdout() {
    use std::os::unix::fs::FileTypeExt as _;
    let args = [
        "check",
        "--offline",
        "--only",
        "node-docker-bridge",
        "-o",
        "json",
        "--report",
        "/dev/full",
    ];
    let out = amlprobe(&args);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr),
        "amlprobe: --report /dev/full: cannot write: No space left on device (os error 28)\n"
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["results"][0]["id"], "node-docker-bridge");
    let full = std::fs::symlink_metadata("/dev/full").unwrap();
    assert!(
        full.file_type().is_char_device(),
        "/dev/full stays a device"
    );
}

/// A value that failed validation may be a secret set in the wrong variable: under --redact
/// its warning names the variable only. Without --redact the value is quoted, to be fixed.
#[test]
fn redact_withholds_rejected_values_from_warnings() {
    let dir = std::env::temp_dir().join(format!("amlprobe-redact-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("environment.sso");
    std::fs::write(&file, "CI_RESOURCE_GROUP=realrg # SECRETRG\n").unwrap();
    let file = file.to_str().unwrap();
    let vars = [
        ("CI_WORKSPACE", "ws!SECRETWS"),
        (
            "AZUREML_WORKSPACE_ID",
            "0f3a8d52-6c1e-4b7a-9d2e-5a4b3c2d1e0fSECRET",
        ),
    ];
    let warnings = |redact: bool| {
        let mut args = vec!["--only", "node-docker-bridge", "-o", "json"];
        args.extend(["--env-file", file]);
        if redact {
            args.push("--redact");
        }
        let out = amlprobe_with(&args, &vars);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        report["context"]["warnings"].clone()
    };
    assert_eq!(
        warnings(true),
        serde_json::json!([
            "AZUREML_WORKSPACE_ID from env:AZUREML_WORKSPACE_ID: malformed value, withheld by --redact; ignored",
            "CI_WORKSPACE from env:CI_WORKSPACE: malformed value, withheld by --redact; ignored",
            format!("CI_RESOURCE_GROUP from file:{file}: malformed value, withheld by --redact; ignored"),
        ])
    );
    let shown = warnings(false).to_string();
    for value in ["ws!SECRETWS", "2d1e0fSECRET", "realrg # SECRETRG"] {
        assert!(shown.contains(value), "{value} in {shown}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Under --strict, a required check that could not run for want of a value is no pass, even
/// beside one that passed: exit 2, one line naming it and the value to give; the report is
/// still printed. Without --strict the run passes, as before.
#[test]
fn strict_is_no_pass_while_a_required_check_lacks_its_value() {
    for (only, strict, code, err) in [
        ("node-docker-bridge,storage-blob-443", true, 2, "amlprobe: --strict: a required check could not run for want of a value (storage-blob-443). Give --storage-account (or set AMLPROBE_STORAGE_ACCOUNT).\n"),
        ("node-docker-bridge,storage*", true, 2, "amlprobe: --strict: 6 required checks could not run for want of a value (storage-blob-443 and 5 more). Give --storage-account (or set AMLPROBE_STORAGE_ACCOUNT).\n"),
        ("node-docker-bridge,storage*", false, 0, ""),
        ("node-docker-bridge", true, 0, ""),
    ] {
        let mut args = vec!["--only", only, "-o", "json"];
        if strict {
            args.push("--strict");
        }
        let out = amlprobe(&args);
        assert_eq!(out.status.code(), Some(code), "{args:?}");
        assert_eq!(text(&out.stderr), err, "{args:?}");
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["summary"]["pass"], 1, "{args:?}");
    }
}

/// Help and the version are output too: when stdout cannot take them, exit 3 with one line.
#[test]
fn lost_help_is_an_error() {
    for args in [vec!["--help"], vec!["watch", "--help"], vec!["--version"]] {
        let out = into_full_stdout(&args);
        assert_eq!(out.status.code(), Some(3), "{args:?}");
        assert_eq!(
            text(&out.stderr),
            "amlprobe: cannot write to standard output: No space left on device (os error 28)\n",
            "{args:?}"
        );
    }
}

/// The files of SSL_CERT_DIR are held to SSL_CERT_FILE's bound: one larger than 16 MiB is
/// refused, by its size alone, before any check; what is not a regular file is left out.
#[test]
fn ssl_cert_dir_files_are_bounded() {
    let dir = std::env::temp_dir().join(format!("amlprobe-certdir-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    nix::unistd::mkfifo(&dir.join("fifo.pem"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    let big = dir.join("big.pem");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(40 << 20)
        .unwrap();
    let dirs = format!("/nonexistent/certs:{}", dir.display());
    // The one check looks at the node only: without the bound, nothing leaves it either.
    let only = ["--only", "node-docker-bridge"];
    let out = amlprobe_with(&only, &[("SSL_CERT_DIR", &dirs)]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr),
        format!(
            "amlprobe: SSL_CERT_DIR {}: larger than 16 MiB\n",
            big.display()
        )
    );
    assert!(out.stdout.is_empty(), "no check ran");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A host the catalog builds from placeholders is checked again once filled: values valid
/// alone can make a label too long together. That is the catalog's fault, exit 2 naming the
/// endpoint before any check, not a name that fails to resolve.
#[test]
fn a_host_too_long_once_filled_is_refused_at_planning() {
    let dir = std::env::temp_dir().join(format!("amlprobe-filled-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("site.toml");
    std::fs::write(&path, "[[endpoint]]\nid = \"site-blob\"\ngroup = \"site\"\ntitle = \"t\"\nhost = \"x.blob{workspace_id}{workspace_id}.example.com\"\nport = 443\nkind = \"tcp\"\ndoc = \"https://contoso.example/wiki\"\n").unwrap();
    let p = path.to_str().unwrap();
    // A DNS server on loopback that is not there: should the host get past planning, its
    // query goes nowhere.
    let id = [
        "--workspace-id",
        "0f3a8d52-6c1e-4b7a-9d2e-5a4b3c2d1e0f",
        "--dns-server",
        "127.0.0.1:9",
        "--timeout",
        "1s",
    ];
    for command in ["check", "list"] {
        let mut args = vec![command, "--catalog", p, "--only", "site-blob"];
        args.extend(id);
        let out = amlprobe(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(
            text(&out.stderr),
            "amlprobe: invalid catalog: endpoint \"site-blob\": host \"x.blob{workspace_id}{workspace_id}.example.com\" filled in has a label longer than 63 characters\n"
        );
        assert!(out.stdout.is_empty(), "no check ran");
    }
    // Without the value the check is skipped for it, as before.
    let out = amlprobe(&["list", "--catalog", p, "--only", "site-blob", "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    std::fs::remove_dir_all(&dir).unwrap();
}
