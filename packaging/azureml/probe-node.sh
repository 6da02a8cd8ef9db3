#!/usr/bin/env bash
# amlprobe on one node of an Azure ML job that runs one process per node (fleet-job.yml,
# fleet-pipeline.yml, fleet_sdk_v1.py): checks the node, writes its report as <node>.json into
# the output folder, with the table in <node>.txt and amlprobe's exit code in <node>.exit,
# prints the table to the job's log, and exits by policy.
#
#   bash probe-node.sh OUT_DIR [amlprobe check (or mesh) flags...]
#
#   AMLPROBE_POLICY     record (default) exit 0 once the report is written, whatever the checks
#                              found: the fleet table, not the job's status, says which node
#                              failed. A node left without a report exits with amlprobe's code.
#                       fail   exit with amlprobe's code, after the report is written
#   AMLPROBE_NODE_NAME  the report's name (default: node-<rank>, see below)
#   AMLPROBE_BIN        the amlprobe binary (default: the one beside this script, else PATH)
#   AMLPROBE_COMMAND    check (default), or mesh: node-to-node reachability (mesh-job.yml)
# Every other AMLPROBE_<FLAG> variable is read by amlprobe itself; this script sets --report.
#
# The node's name is node-<rank> from NODE_RANK (PyTorch distribution) or OMPI_COMM_WORLD_RANK
# (MPI distribution, one process per node), else AZ_BATCH_NODE_ID, else the host name. Any
# further process on the same node (LOCAL_RANK or OMPI_COMM_WORLD_LOCAL_RANK above 0) does
# nothing and exits 0. Arguments and variables are never printed: they may hold a proxy password.
#
# Exit codes: 0 the report is written (record) or no check failed; 1 a check failed (fail);
# 2 bad input to this script or to amlprobe; 3 amlprobe could not run or wrote no report.
set -uo pipefail

say() { echo "amlprobe-node: $*" >&2; }

out=${1:-}
if [ -z "$out" ]; then
  say "usage: probe-node.sh OUT_DIR [amlprobe check flags...]"
  exit 2
fi
shift
command=${AMLPROBE_COMMAND:-check}
case "$command" in
  check|mesh) ;;
  *) say "AMLPROBE_COMMAND='$command': use check or mesh"; exit 2 ;;
esac
policy=${AMLPROBE_POLICY:-record}
case "$policy" in
  record|fail) ;;
  *) say "AMLPROBE_POLICY='$policy': use record or fail"; exit 2 ;;
esac

local_rank=${LOCAL_RANK:-${OMPI_COMM_WORLD_LOCAL_RANK:-0}}
if [ "$local_rank" != 0 ]; then
  say "process $local_rank on this node: only the node's first process probes"
  exit 0
fi

rank=${NODE_RANK:-${OMPI_COMM_WORLD_RANK:-}}
if [ -n "${AMLPROBE_NODE_NAME:-}" ]; then
  node=$AMLPROBE_NODE_NAME
elif [[ $rank =~ ^[0-9]+$ ]]; then
  node=$(printf 'node-%03d' "$((10#$rank))")
elif [ -n "${AZ_BATCH_NODE_ID:-}" ]; then
  node=$AZ_BATCH_NODE_ID
else
  node=$(hostname 2>/dev/null || uname -n)
fi
# One safe file name: letters, digits, '.', '_' and '-', starting with a letter or digit.
node=$(printf '%s' "$node" | tr -c 'A-Za-z0-9._-' '_')
[[ $node =~ ^[A-Za-z0-9] ]] || node="node$node"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tmp=$(mktemp -d) || exit 3
trap 'rm -rf "$tmp"' EXIT
# shellcheck source=find-amlprobe.sh
. "$here/find-amlprobe.sh"
mkdir -p "$out" || { say "cannot create $out"; exit 3; }

# The report is made locally and moved into place whole, so a reader of OUT_DIR (the merge
# step, or a node stopped half-way) never sees half a report.
AMLPROBE_OUTPUT=${AMLPROBE_OUTPUT:-table} AMLPROBE_NO_COLOR=1 \
  "$bin" "$command" --report "$tmp/report.json" "$@" > "$tmp/report.txt"
code=$?
cat "$tmp/report.txt"
cp "$tmp/report.txt" "$out/$node.txt" || say "cannot write $out/$node.txt"
echo "$code" > "$out/$node.exit" || say "cannot write $out/$node.exit"
if [ -s "$tmp/report.json" ] && cp "$tmp/report.json" "$out/.$node.json.part" \
  && mv -f "$out/.$node.json.part" "$out/$node.json"; then
  say "$node: amlprobe exited $code; report in $out/$node.json"
else
  say "$node: amlprobe exited $code and left no report"
  [ "$code" != 0 ] && [ "$code" != 1 ] && exit "$code"
  exit 3
fi

if [ "$policy" = fail ]; then
  exit "$code"
fi
exit 0
