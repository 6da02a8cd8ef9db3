"""amlprobe on every node of an Azure ML compute cluster, with the Python SDK v1 (azureml-core).

The same job as fleet-job.yml: one process per node (PyTorchConfiguration or MpiConfiguration
with node_count), each running probe-node.sh, which writes <node>.json into the `reports` output
on the workspace's default datastore. The cluster scales up to --nodes nodes for the run, so the
run both sizes the cluster and tests it. Copy the amlprobe binary into this folder first: the
folder is the run's source directory, so the nodes need no package index.

    python packaging/azureml/fleet_sdk_v1.py --compute cpu-cluster --nodes 4 \
        -- --storage-account mystorage
    amlprobe merge ./fleet/amlprobe/<run id>/reports

Arguments after `--` go to `amlprobe check`. Each node exits 0 once its report is written
(AMLPROBE_POLICY=record): the merged table, not the run's status, says which node failed.
Needs `pip install azureml-core` and the workspace's config.json (Workspace.from_config).
"""

import argparse
import os
import shlex
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Run amlprobe on every node of an Azure ML compute cluster (SDK v1)."
    )
    parser.add_argument("--compute", required=True, help="the compute cluster's name")
    parser.add_argument(
        "--nodes", required=True, type=int, help="how many nodes: at most the cluster's maximum"
    )
    parser.add_argument(
        "--distribution",
        choices=["pytorch", "mpi"],
        default="pytorch",
        help="how Azure ML starts one process per node (default pytorch)",
    )
    parser.add_argument("--experiment", default="amlprobe-fleet", help="the experiment's name")
    parser.add_argument(
        "--download",
        default="fleet",
        metavar="DIR",
        help="where the reports are downloaded when the run ends (default ./fleet)",
    )
    parser.add_argument(
        "--no-wait", action="store_true", help="submit and print the run's address only"
    )
    parser.add_argument(
        "check_args", nargs=argparse.REMAINDER, help="after --: flags for amlprobe check"
    )
    args = parser.parse_args(argv)
    if args.nodes < 1:
        parser.error("--nodes must be 1 or more")
    if args.check_args[:1] == ["--"]:
        args.check_args = args.check_args[1:]
    return args


def main(argv):
    args = parse_args(argv)
    if not os.path.isfile(os.path.join(HERE, "amlprobe")):
        sys.exit(f"copy the amlprobe binary into {HERE} first: the nodes run it from there")

    # Imported here so that --help works without the SDK.
    from azureml.core import Environment, Experiment, ScriptRunConfig, Workspace
    from azureml.core.runconfig import MpiConfiguration, PyTorchConfiguration
    from azureml.data import OutputFileDatasetConfig

    ws = Workspace.from_config()
    datastore = ws.get_default_datastore()
    # Mounted, so each node's report reaches storage when written, even if another node fails
    # the run; upload mode uploads nothing from a failed run.
    reports = OutputFileDatasetConfig(
        name="reports", destination=(datastore, "amlprobe/{run-id}/reports")
    ).as_mount()

    env = Environment.from_docker_image("amlprobe-fleet", IMAGE)
    env.environment_variables = {"AMLPROBE_POLICY": "record", "AMLPROBE_COMPUTE_TYPE": "cluster"}
    if args.distribution == "mpi":
        distribution = MpiConfiguration(process_count_per_node=1, node_count=args.nodes)
    else:
        distribution = PyTorchConfiguration(node_count=args.nodes)

    # Azure ML joins the command's words with spaces and hands the line to a shell.
    check_args = [shlex.quote(a) for a in args.check_args]
    config = ScriptRunConfig(
        source_directory=HERE,
        command=["bash", "probe-node.sh", reports] + check_args,
        compute_target=args.compute,
        environment=env,
        distributed_job_config=distribution,
    )
    run = Experiment(ws, args.experiment).submit(config)
    print(f"submitted {run.id}: {run.get_portal_url()}")
    if args.no_wait:
        return 0

    run.wait_for_completion(show_output=True, raise_on_error=False)
    prefix = f"amlprobe/{run.id}/reports"
    datastore.download(target_path=args.download, prefix=prefix, overwrite=True)
    print(f"run {run.get_status()}; reports in {os.path.join(args.download, prefix)}")
    print(f"amlprobe merge {os.path.join(args.download, prefix)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
