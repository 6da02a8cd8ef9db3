#!/usr/bin/env bash
# The merge step of fleet-pipeline.yml: one fleet report from the reports probe-node.sh wrote.
# Writes fleet.md, fleet.html and fleet.json into OUT_DIR, prints the fleet table to the job's
# log, names every node that left no report, and exits by policy.
#
#   bash merge-fleet.sh REPORTS_DIR OUT_DIR
#
#   AMLPROBE_POLICY  fail   (default) exit 1 when a node recorded a failing check (its
#                           <node>.exit is not 0) or left no report, so the pipeline fails
#                           after the fleet report is written
#                    record exit 0 once the fleet report is written
#   AMLPROBE_BIN     the amlprobe binary (default: the one beside this script, else PATH)
#
# Exit codes: 0 every node passed (or record); 1 a node failed or left no report; 2 no report
# to merge, or bad input; 3 amlprobe could not run.
set -uo pipefail

say() { echo "amlprobe-merge: $*" >&2; }

reports=${1:-}
out=${2:-}
if [ -z "$reports" ] || [ -z "$out" ]; then
  say "usage: merge-fleet.sh REPORTS_DIR OUT_DIR"
  exit 2
fi
policy=${AMLPROBE_POLICY:-fail}
case "$policy" in
  fail|record) ;;
  *) say "AMLPROBE_POLICY='$policy': use fail or record"; exit 2 ;;
esac

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tmp=$(mktemp -d) || exit 3
trap 'rm -rf "$tmp"' EXIT
# shellcheck source=find-amlprobe.sh
. "$here/find-amlprobe.sh"

shopt -s nullglob
json=("$reports"/*.json)
if [ ${#json[@]} -eq 0 ]; then
  say "no report in $reports: did the probe step run?"
  exit 2
fi
mkdir -p "$out" || { say "cannot create $out"; exit 3; }

for format in markdown:md html:html json:json; do
  "$bin" merge "$reports" -o "${format%%:*}" > "$out/fleet.${format#*:}"
  code=$?
  # 1 is findings, as for check; above it the fleet report could not be made.
  if [ "$code" -gt 1 ]; then
    say "amlprobe merge -o ${format%%:*} exited $code"
    exit "$code"
  fi
done
"$bin" merge "$reports" -o table

failed=0
missing=0
for exit_file in "$reports"/*.exit; do
  node=$(basename "$exit_file" .exit)
  code=$(head -c 16 "$exit_file" | tr -cd '0-9')
  if [ ! -s "$reports/$node.json" ]; then
    say "$node left no report (amlprobe exited ${code:-?})"
    missing=$((missing + 1))
  elif [ "${code:-0}" != 0 ]; then
    failed=$((failed + 1))
  fi
done
say "${#json[@]} reports, $failed with a failing check; $missing nodes left none; fleet report in $out"

if [ "$policy" = fail ] && [ $((failed + missing)) -gt 0 ]; then
  exit 1
fi
exit 0
