#!/usr/bin/env bash
# Wall time and peak memory of full release-build runs in the sealed namespace, healthy and
# with every endpoint silently dropped, with hostile servers and through a proxy, against the
# per-check deadline; plus the binary size.
# Usage (as root): tests/bench/sealed-run.sh [RUNS]   (default 10)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-10}
cargo build --release --quiet
echo "release binary: $(stat -c %s target/release/amlprobe) bytes"
AMLPROBE_SIM_BIN="$PWD/target/release/amlprobe" AMLPROBE_SIM_REPEAT="$runs" \
  cargo test --release --quiet --test scenarios -- --nocapture --test-threads=1 healthy all_dropped dns_timeout tls_faults hostile_http websocket_faults proxy_flag 2>&1 |
  grep -E '^bench '
