#!/usr/bin/env bash
# Intent propagation across K processes, MESH and js-libp2p measured in one run, side by side.
#
#   bench/js-libp2p/compare.sh [--nodes K] [--messages M] [--runs R] [--seed S] [--no-all-connected]
#
# Each run measures, one after the other (their order alternating from run to run):
#   mesh                     crates/mesh-cli/examples/propagation_processes.rs
#   js-libp2p                propagation.mjs, each node dialing 3 random earlier nodes (the
#                            bootstrap graph of the MESH nodes, same seed)
#   js-libp2p all-connected  propagation.mjs with every node dialing every earlier node, the
#                            connection graph MESH's Kademlia ends up with on this scale
# then prints the medians over runs side by side, with the ratio to MESH. Reports are kept in
# $OUT (default: a new directory under /tmp). Needs cargo, Node.js 20+ and npm.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

nodes=30 messages=50 runs=3 seed=7 all_connected=1
while [ $# -gt 0 ]; do
  case "$1" in
    --nodes) nodes="$2"; shift 2 ;;
    --messages) messages="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --no-all-connected) all_connected=0; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

out="${OUT:-$(mktemp -d /tmp/mesh-vs-js.XXXXXX)}"
mkdir -p "$out"

running=""
stop() {
  if [ -n "$running" ]; then kill -TERM "$running" 2>/dev/null || true; wait "$running" 2>/dev/null || true; fi
}
trap 'stop; exit 130' INT TERM
trap stop EXIT

# Runs a command in the background (so a signal to this script reaches it), its stdout to the
# file $1, and waits for it; a failed run is reported and left out of the table.
failures=0
run() {
  local file="$1"
  shift
  "$@" >"$file" &
  running=$!
  if ! wait "$running"; then
    echo "warning: failed, left out: $*" >&2
    failures=$((failures + 1))
    rm -f "$file"
  fi
  running=""
}

echo "==> building (cargo build --release -p mesh-cli --bins --examples)" >&2
(cd "$root" && cargo build --release -p mesh-cli --bins --examples --quiet)
if [ ! -d "$here/node_modules" ]; then
  echo "==> npm ci in bench/js-libp2p" >&2
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
fi

example="$root/target/release/examples/propagation_processes"
common=(--nodes "$nodes" --messages "$messages" --seed "$seed")
labels=()
for r in $(seq 1 "$runs"); do
  order=(mesh js)
  [ $((r % 2)) -eq 0 ] && order=(js mesh)
  for which in "${order[@]}"; do
    if [ "$which" = mesh ]; then
      echo "==> run $r/$runs: mesh" >&2
      run "$out/mesh-$r.json" "$example" "${common[@]}" --json
      [ -f "$out/mesh-$r.json" ] && labels+=("mesh=$out/mesh-$r.json")
    else
      echo "==> run $r/$runs: js-libp2p" >&2
      run "$out/js-$r.json" node "$here/propagation.mjs" "${common[@]}" --json
      [ -f "$out/js-$r.json" ] && labels+=("js-libp2p=$out/js-$r.json")
      if [ "$all_connected" = 1 ]; then
        echo "==> run $r/$runs: js-libp2p, all connected" >&2
        run "$out/js-all-$r.json" node "$here/propagation.mjs" "${common[@]}" --degree "$nodes" --json
        [ -f "$out/js-all-$r.json" ] && labels+=("js-libp2p all-connected=$out/js-all-$r.json")
      fi
    fi
  done
done

echo "# $(date -u +%FT%TZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), reports in $out"
echo
[ "$failures" -gt 0 ] && echo "$failures run(s) failed and are left out; see the warnings above." && echo
node "$here/compare-table.mjs" "${labels[@]}"
