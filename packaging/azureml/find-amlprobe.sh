# Sourced by probe-node.sh and merge-fleet.sh, which set `here` (their folder) and `tmp` (a
# folder of their own) first. Sets `bin` to the amlprobe binary to run: AMLPROBE_BIN, else the
# one beside the scripts (copied in before the job was submitted), else the one on PATH. A
# job's code folder may arrive without the execute bit: the binary is then copied into `tmp`
# executable. Exits 2 when there is none, 3 when it cannot be made executable.
bin=${AMLPROBE_BIN:-}
if [ -z "$bin" ] && [ -f "$here/amlprobe" ]; then
  bin=$here/amlprobe
elif [ -z "$bin" ]; then
  bin=$(command -v amlprobe || true)
fi
if [ -z "$bin" ] || [ ! -f "$bin" ]; then
  say "no amlprobe binary: copy it into packaging/azureml/ before submitting the job, or set AMLPROBE_BIN"
  exit 2
fi
if [ ! -x "$bin" ]; then
  install -m 0755 "$bin" "$tmp/amlprobe" || exit 3
  bin=$tmp/amlprobe
fi
