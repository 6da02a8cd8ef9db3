//! The Azure ML fleet job (`packaging/azureml/`): the job files ask Azure ML for one process per
//! node and a folder output, `probe-node.sh` leaves each node's report in that folder whatever
//! the checks found, and `merge-fleet.sh` turns the reports into one. Nothing here reaches Azure
//! or sends a packet: amlprobe is a stub, or the real binary stopped before any check runs.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

#[path = "support/skip.rs"]
mod skip;
use skip::skip_unless_ci;

fn azureml() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/azureml")
}

fn python_has(module: &str) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A job file as PyYAML reads it, as JSON; `None` (said on stderr) where PyYAML is missing.
fn yaml(name: &str) -> Option<Value> {
    if !python_has("yaml") {
        skip_unless_ci(&format!(
            "Azure ML {name}: python3 with PyYAML is missing (pip install pyyaml)"
        ));
        return None;
    }
    let out = Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)",
        ])
        .arg(azureml().join(name))
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "PyYAML rejects {name}: {}",
        text(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).expect("JSON from PyYAML"))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn str_at<'a>(v: &'a Value, path: &str) -> &'a str {
    v.pointer(path)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {path} in {v:#}"))
}

/// A command step that runs probe-node.sh once on each of its nodes, from the code folder.
fn runs_one_probe_per_node(step: &Value, what: &str) {
    let nodes = step
        .pointer("/resources/instance_count")
        .and_then(Value::as_u64);
    assert!(
        nodes.is_some_and(|n| n >= 1),
        "{what}: resources.instance_count"
    );
    let kind = str_at(step, "/distribution/type");
    assert!(
        kind == "pytorch" || kind == "mpi",
        "{what}: distribution {kind}"
    );
    assert_eq!(
        step.pointer("/distribution/process_count_per_instance"),
        Some(&Value::from(1)),
        "{what}: one process per node"
    );
    let code = azureml().join(str_at(step, "/code"));
    assert!(
        code.join("probe-node.sh").is_file(),
        "{what}: the code folder {} holds probe-node.sh",
        code.display()
    );
    assert_eq!(
        str_at(step, "/command"),
        "bash probe-node.sh ${{outputs.reports}}",
        "{what}: the command"
    );
    assert!(str_at(step, "/environment/image").starts_with("mcr.microsoft.com/azureml/"));
    assert_eq!(
        str_at(step, "/environment_variables/AMLPROBE_POLICY"),
        "record"
    );
}

fn folder_output(output: &Value, what: &str) {
    assert_eq!(str_at(output, "/type"), "uri_folder", "{what}");
    let mode = str_at(output, "/mode");
    assert!(
        mode == "rw_mount" || mode == "upload",
        "{what}: mode {mode}"
    );
}

#[test]
fn the_command_job_runs_one_probe_per_node_into_a_folder_output() {
    let Some(job) = yaml("fleet-job.yml") else {
        return;
    };
    assert_eq!(str_at(&job, "/type"), "command");
    assert!(str_at(&job, "/compute").starts_with("azureml:"));
    runs_one_probe_per_node(&job, "fleet-job.yml");
    folder_output(&job["outputs"]["reports"], "fleet-job.yml: outputs.reports");
}

#[test]
fn the_pipeline_feeds_the_probe_reports_to_the_merge_step() {
    let Some(pipeline) = yaml("fleet-pipeline.yml") else {
        return;
    };
    assert_eq!(str_at(&pipeline, "/type"), "pipeline");
    assert!(str_at(&pipeline, "/settings/default_compute").starts_with("azureml:"));
    assert_eq!(
        pipeline.pointer("/settings/force_rerun"),
        Some(&Value::Bool(true)),
        "an earlier run's reports are never reused"
    );
    folder_output(&pipeline["outputs"]["reports"], "outputs.reports");
    folder_output(&pipeline["outputs"]["fleet"], "outputs.fleet");

    let probe = &pipeline["jobs"]["probe"];
    runs_one_probe_per_node(probe, "jobs.probe");
    assert_eq!(
        str_at(probe, "/outputs/reports"),
        "${{parent.outputs.reports}}"
    );

    let merge = &pipeline["jobs"]["merge"];
    assert_eq!(
        str_at(merge, "/inputs/reports"),
        "${{parent.jobs.probe.outputs.reports}}",
        "the merge step reads what the probe step wrote"
    );
    assert_eq!(str_at(merge, "/outputs/fleet"), "${{parent.outputs.fleet}}");
    assert_eq!(
        str_at(merge, "/command"),
        "bash merge-fleet.sh ${{inputs.reports}} ${{outputs.fleet}}"
    );
    let code = azureml().join(str_at(merge, "/code"));
    assert!(code.join("merge-fleet.sh").is_file());
    assert!(
        merge.pointer("/distribution").is_none() && merge.pointer("/resources").is_none(),
        "the merge runs once"
    );
    assert_eq!(
        str_at(merge, "/environment_variables/AMLPROBE_POLICY"),
        "fail"
    );
}

#[test]
fn the_scripts_are_valid_bash() {
    for script in ["probe-node.sh", "merge-fleet.sh"] {
        let out = Command::new("bash")
            .arg("-n")
            .arg(azureml().join(script))
            .output()
            .expect("bash");
        assert!(out.status.success(), "{script}: {}", text(&out.stderr));
    }
}

/// A scratch folder of its own for each test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("amlprobe-job-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write_script(path: &Path, body: &str, mode: u32) {
    std::fs::write(path, body).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// An amlprobe that writes a fake report where `--report` says (unless `STUB_NO_REPORT` is
/// set), prints one table line and exits with `STUB_CODE` (default 1: a check failed). Like
/// the real one, it never prints its arguments.
const STUB_CHECK: &str = r#"#!/bin/sh
[ "$1" = check ] || exit 9
while [ $# -gt 0 ]; do
  if [ "$1" = --report ] && [ -z "${STUB_NO_REPORT:-}" ]; then
    printf '{"schema_version": 1, "stub": true}\n' > "$2"
  fi
  shift
done
echo "  FAIL  storage-blob-443  output=$AMLPROBE_OUTPUT no_color=$AMLPROBE_NO_COLOR"
exit "${STUB_CODE:-1}"
"#;

/// probe-node.sh with a clean environment: `PATH` starts with `bin`, then `vars`.
fn probe_node(
    script: &Path,
    bin: &Path,
    out: &Path,
    args: &[&str],
    vars: &[(&str, &str)],
) -> Output {
    Command::new("bash")
        .arg(script)
        .arg(out)
        .args(args)
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .envs(vars.iter().copied())
        .output()
        .expect("bash")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn a_node_keeps_its_report_when_a_check_fails_and_exits_by_policy() {
    let dir = scratch("probe");
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    write_script(&bin.join("amlprobe"), STUB_CHECK, 0o755);
    let script = azureml().join("probe-node.sh");
    // A proxy password in the arguments and a token in the environment, as a job may have.
    let args = ["--proxy", "http://user:s3cret-pw@proxy:3128"];
    let token = ("AZUREML_RUN_TOKEN", "s3cret-token");

    // record (the default): the check failed, the report is kept, the node exits 0.
    let out = dir.join("out");
    let run = probe_node(&script, &bin, &out, &args, &[("NODE_RANK", "3"), token]);
    let said = format!("{}{}", text(&run.stdout), text(&run.stderr));
    assert_eq!(run.status.code(), Some(0), "{said}");
    assert_eq!(
        names(&out),
        ["node-003.exit", "node-003.json", "node-003.txt"],
        "nothing half-written is left: {said}"
    );
    assert!(read(&out.join("node-003.json")).contains("\"stub\": true"));
    assert_eq!(read(&out.join("node-003.exit")).trim(), "1");
    assert!(read(&out.join("node-003.txt")).contains("FAIL  storage-blob-443"));
    assert!(
        text(&run.stdout).contains("output=table no_color=1"),
        "the table goes to the job's log: {said}"
    );
    assert!(
        !said.contains("s3cret"),
        "neither arguments nor variables are printed: {said}"
    );

    // fail: the same report, then amlprobe's exit code.
    let out = dir.join("out-fail");
    let run = probe_node(
        &script,
        &bin,
        &out,
        &[],
        &[("NODE_RANK", "3"), ("AMLPROBE_POLICY", "fail")],
    );
    assert_eq!(run.status.code(), Some(1), "{}", text(&run.stderr));
    assert!(read(&out.join("node-003.json")).contains("\"stub\": true"));

    // MPI distribution: the world rank names the node; a second process on a node does nothing.
    let out = dir.join("out-mpi");
    let run = probe_node(&script, &bin, &out, &[], &[("OMPI_COMM_WORLD_RANK", "12")]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    assert!(out.join("node-012.json").is_file(), "{:?}", names(&out));
    let out = dir.join("out-second");
    let run = probe_node(
        &script,
        &bin,
        &out,
        &[],
        &[("NODE_RANK", "0"), ("LOCAL_RANK", "1")],
    );
    assert_eq!(run.status.code(), Some(0));
    assert!(names(&out).is_empty(), "{:?}", names(&out));

    // A name given, made safe for a file name.
    let out = dir.join("out-named");
    let run = probe_node(
        &script,
        &bin,
        &out,
        &[],
        &[("AMLPROBE_NODE_NAME", "../gpu node/7")],
    );
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    assert!(
        out.join("node.._gpu_node_7.json").is_file(),
        "{:?}",
        names(&out)
    );

    // No report at all: the node fails the job with amlprobe's code, which is recorded.
    let out = dir.join("out-none");
    let run = probe_node(
        &script,
        &bin,
        &out,
        &[],
        &[
            ("NODE_RANK", "0"),
            ("STUB_NO_REPORT", "1"),
            ("STUB_CODE", "3"),
        ],
    );
    assert_eq!(run.status.code(), Some(3));
    assert_eq!(names(&out), ["node-000.exit", "node-000.txt"]);
    assert_eq!(read(&out.join("node-000.exit")).trim(), "3");
    assert!(text(&run.stderr).contains("left no report"));

    // Misuse of the script.
    let run = probe_node(
        &script,
        &bin,
        &dir.join("x"),
        &[],
        &[("AMLPROBE_POLICY", "maybe")],
    );
    assert_eq!(run.status.code(), Some(2));
    assert!(text(&run.stderr).contains("use record or fail"));
    let run = Command::new("bash")
        .arg(&script)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    assert!(text(&run.stderr).contains("usage"));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_binary_beside_the_script_runs_without_its_execute_bit() {
    // As a job's code folder may arrive: the scripts and amlprobe, none executable.
    let dir = scratch("code");
    let code = dir.join("code");
    std::fs::create_dir_all(&code).unwrap();
    for script in ["probe-node.sh", "find-amlprobe.sh"] {
        std::fs::copy(azureml().join(script), code.join(script)).unwrap();
    }
    write_script(&code.join("amlprobe"), STUB_CHECK, 0o644);
    let out = dir.join("out");
    let run = probe_node(
        &code.join("probe-node.sh"),
        Path::new("/nonexistent"),
        &out,
        &[],
        &[("NODE_RANK", "5")],
    );
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    assert!(out.join("node-005.json").is_file(), "{:?}", names(&out));
    // Neither beside the script nor in PATH: said, exit 2.
    std::fs::remove_file(code.join("amlprobe")).unwrap();
    let run = probe_node(
        &code.join("probe-node.sh"),
        Path::new("/nonexistent"),
        &out,
        &[],
        &[],
    );
    assert_eq!(run.status.code(), Some(2));
    assert!(text(&run.stderr).contains("no amlprobe binary"));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_real_binary_writes_its_report_where_the_node_says() {
    // Stopped before any packet: the one check selected is skipped for want of a compute type
    // (exit 2, report still written), or the region is malformed (exit 2, no report).
    let dir = scratch("real");
    let bin = Path::new(env!("CARGO_BIN_EXE_amlprobe"));
    let vars = [
        ("AMLPROBE_BIN", bin.to_str().unwrap()),
        ("AMLPROBE_OFFLINE", "1"),
        ("AMLPROBE_ENV_FILE", "/nonexistent/environment.sso"),
        ("NODE_RANK", "1"),
    ];
    let script = azureml().join("probe-node.sh");
    let out = dir.join("out");
    let args = ["--only", "node-os-ubuntu", "--region", "westeurope"];
    let run = probe_node(&script, &dir, &out, &args, &vars);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    let report: Value = serde_json::from_str(&read(&out.join("node-001.json"))).unwrap();
    assert_eq!(report["schema_version"], 1);
    assert_eq!(report["results"][0]["id"], "node-os-ubuntu");
    assert_eq!(read(&out.join("node-001.exit")).trim(), "2");
    assert!(read(&out.join("node-001.txt")).contains("node-os-ubuntu"));

    let out = dir.join("out-bad");
    let run = probe_node(&script, &dir, &out, &["--region", "west europe"], &vars);
    assert_eq!(run.status.code(), Some(2));
    assert!(!out.join("node-001.json").exists());
    assert_eq!(read(&out.join("node-001.exit")).trim(), "2");
    let _ = std::fs::remove_dir_all(dir);
}

/// An amlprobe whose `merge DIR -o FORMAT` prints one line naming the format and the number of
/// reports, and exits with `STUB_CODE` (default 0).
const STUB_MERGE: &str = r#"#!/bin/sh
[ "$1" = merge ] || exit 9
format=table
[ "$3" = -o ] && format=$4
echo "fleet $format of $(ls "$2"/*.json | wc -l | tr -d ' ') reports"
exit "${STUB_CODE:-0}"
"#;

fn merge_fleet(reports: &Path, out: &Path, vars: &[(&str, &str)]) -> Output {
    Command::new("bash")
        .arg(azureml().join("merge-fleet.sh"))
        .arg(reports)
        .arg(out)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .envs(vars.iter().copied())
        .output()
        .expect("bash")
}

#[test]
fn the_merge_step_writes_the_fleet_report_then_fails_for_a_failing_node() {
    let dir = scratch("merge");
    write_script(&dir.join("amlprobe"), STUB_MERGE, 0o755);
    let stub = dir.join("amlprobe");
    let bin = ("AMLPROBE_BIN", stub.to_str().unwrap());
    let reports = dir.join("reports");
    std::fs::create_dir_all(&reports).unwrap();
    for (node, code, report) in [("node-000", 0, true), ("node-001", 0, true)] {
        std::fs::write(reports.join(format!("{node}.exit")), format!("{code}\n")).unwrap();
        if report {
            std::fs::write(reports.join(format!("{node}.json")), "{}").unwrap();
        }
    }

    // Every node passed.
    let out = dir.join("fleet");
    let run = merge_fleet(&reports, &out, &[bin]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    assert_eq!(names(&out), ["fleet.html", "fleet.json", "fleet.md"]);
    assert_eq!(
        read(&out.join("fleet.md")).trim(),
        "fleet markdown of 2 reports"
    );
    assert_eq!(
        read(&out.join("fleet.html")).trim(),
        "fleet html of 2 reports"
    );
    assert_eq!(
        read(&out.join("fleet.json")).trim(),
        "fleet json of 2 reports"
    );
    assert!(text(&run.stdout).contains("fleet table of 2 reports"));

    // A node with a failing check, and one that left no report: the fleet report is written,
    // then the step fails, unless told to record only.
    std::fs::write(reports.join("node-001.exit"), "1\n").unwrap();
    std::fs::write(reports.join("node-002.exit"), "3\n").unwrap();
    let run = merge_fleet(&reports, &out, &[bin]);
    assert_eq!(run.status.code(), Some(1), "{}", text(&run.stderr));
    assert!(text(&run.stderr).contains("node-002 left no report (amlprobe exited 3)"));
    assert_eq!(
        read(&out.join("fleet.md")).trim(),
        "fleet markdown of 2 reports"
    );
    let run = merge_fleet(&reports, &out, &[bin, ("AMLPROBE_POLICY", "record")]);
    assert_eq!(run.status.code(), Some(0));

    // merge itself could not run; no report at all.
    let run = merge_fleet(&reports, &out, &[bin, ("STUB_CODE", "3")]);
    assert_eq!(run.status.code(), Some(3));
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let run = merge_fleet(&empty, &out, &[bin]);
    assert_eq!(run.status.code(), Some(2));
    assert!(text(&run.stderr).contains("no report in"));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_sdk_v1_script_compiles_and_explains_itself_without_the_sdk() {
    if Command::new("python3").arg("--version").output().is_err() {
        return skip_unless_ci("Azure ML SDK v1 script: python3 is missing");
    }
    let script = azureml().join("fleet_sdk_v1.py");
    let dir = scratch("sdk");
    let compiled = dir.join("fleet_sdk_v1.pyc");
    let out = Command::new("python3")
        .args([
            "-c",
            "import py_compile, sys; py_compile.compile(sys.argv[1], cfile=sys.argv[2], doraise=True)",
        ])
        .arg(&script)
        .arg(&compiled)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));

    // The SDK is imported only to submit: --help and bad input need none of it.
    let out = Command::new("python3")
        .arg(&script)
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let help = text(&out.stdout);
    for flag in ["--compute", "--nodes", "--distribution", "--download"] {
        assert!(help.contains(flag), "{flag} in\n{help}");
    }
    let out = Command::new("python3")
        .arg(&script)
        .args(["--compute", "cpu-cluster", "--nodes", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--nodes must be 1 or more"));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_mesh_job_runs_amlprobe_mesh_on_every_node() {
    let Some(job) = yaml("mesh-job.yml") else {
        return;
    };
    assert_eq!(str_at(&job, "/type"), "command");
    // MPI distribution: Azure ML names every node of the job, which mesh reads as its peers.
    assert_eq!(str_at(&job, "/distribution/type"), "mpi");
    assert_eq!(
        job.pointer("/distribution/process_count_per_instance"),
        Some(&Value::from(1))
    );
    assert_eq!(
        str_at(&job, "/environment_variables/AMLPROBE_COMMAND"),
        "mesh"
    );
    assert!(str_at(&job, "/command").starts_with("bash probe-node.sh ${{outputs.reports}} "));
    assert!(azureml()
        .join(str_at(&job, "/code"))
        .join("probe-node.sh")
        .is_file());
    folder_output(&job["outputs"]["reports"], "mesh-job.yml: outputs.reports");
}

#[test]
fn a_node_runs_the_command_it_is_given() {
    let dir = scratch("command");
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let stub = STUB_CHECK.replace("[ \"$1\" = check ]", "[ \"$1\" = mesh ]");
    write_script(&bin.join("amlprobe"), &stub, 0o755);
    let script = azureml().join("probe-node.sh");
    let out = dir.join("out");
    let vars = [("NODE_RANK", "1"), ("AMLPROBE_COMMAND", "mesh")];
    let run = probe_node(&script, &bin, &out, &[], &vars);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    assert!(out.join("node-001.json").is_file());
    let vars = [("NODE_RANK", "1"), ("AMLPROBE_COMMAND", "rm")];
    let run = probe_node(&script, &bin, &out, &[], &vars);
    assert_eq!(run.status.code(), Some(2), "{}", text(&run.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}
