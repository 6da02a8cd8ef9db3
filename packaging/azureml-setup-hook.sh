#!/usr/bin/env bash
# amlprobe as an Azure ML compute setup script (compute instance) or startup hook (cluster):
# installs amlprobe from a path you give (nothing is downloaded), runs a check, keeps the report
# and the table in a fixed place, prints the table, and exits by policy.
#
#   AMLPROBE_SOURCE       the amlprobe binary or release .tar.gz to install (required)
#   AMLPROBE_POLICY       fail   (default) exit 1 when a check fails, so the setup fails
#                         record always exit 0: only keep the report
#   AMLPROBE_LOG_DIR      where report.json and report.txt go (default /var/log/amlprobe)
#   AMLPROBE_INSTALL_DIR  where the binary goes (default /usr/local/bin)
# Arguments are passed to `amlprobe check`; every AMLPROBE_<FLAG> variable is read by amlprobe.
#
# Exit codes: 0 passed (or policy record); 1 a check failed; 2 this hook or amlprobe was given bad
# input; 3 amlprobe could not run.
set -uo pipefail

source_path=${AMLPROBE_SOURCE:-}
policy=${AMLPROBE_POLICY:-fail}
log_dir=${AMLPROBE_LOG_DIR:-/var/log/amlprobe}
install_dir=${AMLPROBE_INSTALL_DIR:-/usr/local/bin}

say() { echo "amlprobe-hook: $*" >&2; }

case "$policy" in
  fail|record) ;;
  *) say "AMLPROBE_POLICY='$policy': use fail or record"; exit 2 ;;
esac
if [ -z "$source_path" ] || [ ! -f "$source_path" ]; then
  say "AMLPROBE_SOURCE='$source_path' is not a file: give the path of the amlprobe binary or release tarball"
  exit 2
fi
mkdir -p "$install_dir" "$log_dir" || { say "cannot create $install_dir or $log_dir"; exit 3; }

case "$source_path" in
  *.tar.gz|*.tgz)
    tmp=$(mktemp -d) || exit 3
    tar -xzf "$source_path" -C "$tmp" || { say "cannot unpack $source_path"; rm -rf "$tmp"; exit 2; }
    found=$(find "$tmp" -type f -name amlprobe | head -1)
    [ -n "$found" ] || { say "$source_path holds no amlprobe binary"; rm -rf "$tmp"; exit 2; }
    install -m 0755 "$found" "$install_dir/amlprobe" || exit 3
    rm -rf "$tmp"
    ;;
  *) install -m 0755 "$source_path" "$install_dir/amlprobe" || exit 3 ;;
esac

AMLPROBE_OUTPUT=${AMLPROBE_OUTPUT:-table} AMLPROBE_NO_COLOR=1 \
  "$install_dir/amlprobe" check --report "$log_dir/report.json" "$@" > "$log_dir/report.txt"
code=$?
cat "$log_dir/report.txt"
say "amlprobe exited $code; report in $log_dir/report.json"

if [ "$policy" = record ]; then
  exit 0
fi
exit "$code"
