#!/usr/bin/env bash
# amlprobe against the checklist people script today (dig, then nc or curl, one endpoint after
# another, same per-check timeout), in the sealed namespace: healthy, with a third of the
# endpoints silently dropped, and with all of them dropped. Then a scale run over generated
# catalogs of 100, 1,000 and 10,000 entries, and a merge of 1,000 nodes' reports in every format
# (the goal: 2 s and 64 MiB each). Wall time and
# peak memory from GNU time (the merge: from the scenarios' own measurement); release builds.
# Usage (as root): tests/bench/compare.sh [RUNS]   (default 5)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-5}
for tool in dig nc curl /usr/bin/time; do
  command -v "$tool" >/dev/null || { apt-get update -qq && apt-get install -y -qq dnsutils netcat-openbsd curl time >/dev/null; break; }
done
bin=$(packaging/build-static.sh)
echo "release binary: $(stat -c %s "$bin") bytes"
AMLPROBE_SIM_BIN="$bin" AMLPROBE_SIM_REPEAT="$runs" AMLPROBE_SIM_BASELINE=1 \
  cargo test --release --quiet --test scenarios -- --nocapture --test-threads=1 \
  healthy bench_third_dropped all_dropped scale_100 scale_1000 scale_10000 fleet_merge_1000 2>&1 | grep -E '^(bench|baseline) '
