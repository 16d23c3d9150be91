#!/usr/bin/env bash
# The main job (README, first command): on a fresh machine, install what is needed, start a local
# testnet on loopback (2 bootstrap KadNodes, 8 storage nodes, then Redis, a worker, the scheduler
# and the dashboard: `batchain testnet up`), upload a sample file (encrypted, erasure-coded 4+2,
# placed through the DHT), download it again and check every byte, stop 2 holders and download
# again. Then stop the testnet, or keep it with --keep (and look at it in the dashboard).
#
# Usage: scripts/demo.sh [--keep] [--size SIZE] [--nodes N]   (SIZE like 64MiB; default 32MiB, 8 nodes)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/ensure-deps.sh
source scripts/ensure-deps.sh

KEEP=0
SIZE=32MiB
NODES=8
while [ "$#" -gt 0 ]; do
  case "$1" in
    --keep) KEEP=1 ;;
    --size) SIZE=$2; shift ;;
    --nodes) NODES=$2; shift ;;
    -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

ensure_node_modules
# The testnet's job queues live in Debian's redis-server.
ensure_apt redis-server
[ -f dist/cli/main.js ] && [ -z "$(find src -newer dist/cli/main.js -name '*.ts' -print -quit)" ] || npm run --silent build

DIR=${BATCHAIN_DEMO_DIR:-$(mktemp -d /tmp/batchain-demo-XXXXXX)}
mkdir -p "$DIR"
export BATCHAIN_HOME="$DIR/home"
export BATCHAIN_TESTNET_DIR="$DIR/testnet"
BATCHAIN=(node bin/batchain.js)
js () { node -e "const r=JSON.parse(require('fs').readFileSync(process.argv[1],'utf8')); $2" "$1"; }

cleanup () {
  if [ "$KEEP" = 1 ]; then return; fi
  "${BATCHAIN[@]}" testnet down --json > /dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say () { printf '\n\033[1m%s\033[0m\n' "$*"; }

# A short keepalive and grace so the demo sees the loop repair within seconds (defaults: 30 s, 10 min).
UP_FLAGS=(--keepalive-every 1 --grace 3)
# The dashboard is a command of its own; a checkout that does not have it yet runs the rest.
"${BATCHAIN[@]}" dashboard --help > /dev/null 2>&1 || UP_FLAGS+=(--no-dashboard)
say "1. Starting a local testnet: 2 bootstrap KadNodes, then $NODES storage nodes (BatNode + KadNode each) on 127.0.0.1, then Redis, a worker, the scheduler and the dashboard"
"${BATCHAIN[@]}" testnet up --nodes "$NODES" --capacity 2GiB ${UP_FLAGS[@]+"${UP_FLAGS[@]}"} --json > "$DIR/testnet-up.json"
"${BATCHAIN[@]}" testnet status
DASHBOARD=$(js "$DIR/testnet-up.json" 'console.log(r.dashboardUrl ?? "")')
echo "   state and logs in $BATCHAIN_TESTNET_DIR; clients only know the bootstraps ($(paste -sd, "$BATCHAIN_TESTNET_DIR/bootstrap.txt"))"
echo "   the jobs (keepalive, audit, repair) queue in Redis at $(cat "$BATCHAIN_TESTNET_DIR/redis.url")"

say "2. Making a sample file of $SIZE"
node -e '
  const { randomBytes } = require("crypto"); const fs = require("fs");
  const units = { b: 1, kib: 1024, mib: 1048576, gib: 1073741824 };
  const m = /^(\d+)\s*([kmg]i?b|b)?$/i.exec(process.argv[2]); if (!m) { console.error("bad size"); process.exit(2) }
  let left = Number(m[1]) * (units[(m[2] || "b").toLowerCase().replace(/^([kmg])b$/, "$1ib")] || 1);
  const fd = fs.openSync(process.argv[1], "w"); while (left > 0) { const n = Math.min(left, 1 << 20); fs.writeSync(fd, randomBytes(n)); left -= n } fs.closeSync(fd)
' "$DIR/sample.bin" "$SIZE"
ls -l "$DIR/sample.bin" | awk '{print "   " $5 " bytes"}'

say "3. Uploading: encrypt (AES-256-GCM), erasure-code (4 data + 2 parity pieces per segment), place each piece on the storage nodes closest to its id in the DHT"
"${BATCHAIN[@]}" upload "$DIR/sample.bin" --json > "$DIR/upload.json"
CAP=$(js "$DIR/upload.json" 'console.log(r.capability)')
js "$DIR/upload.json" 'console.log(`   ${r.segments} segment(s), ${r.pieces} pieces, ${(r.size/1e6/r.seconds).toFixed(0)} MB/s; manifest on ${r.manifestHolders.length} nodes; every holder published a signed pointer record`)'
echo "   read capability (all you need to get the file back; keep it secret):"
echo "   $CAP"

say "4. Downloading with the capability (holders found through their pointer records), then comparing bytes"
"${BATCHAIN[@]}" download "$CAP" -o "$DIR/sample.out"
cmp "$DIR/sample.bin" "$DIR/sample.out"
echo "   identical: $(sha256sum "$DIR/sample.out" | cut -c1-16)…"

say "5. Stopping 2 storage nodes that hold pieces, downloading again (any 4 of 6 pieces rebuild a segment)"
"${BATCHAIN[@]}" audit "$CAP" --now --json > "$DIR/audit.json" || true
VICTIMS=$(js "$DIR/audit.json" 'console.log([...new Set(r.pieces.filter(p => p.segment === 0).map(p => p.nodeId))].slice(0, 2).join(" "))')
for id in $VICTIMS; do
  PID=$(js "$BATCHAIN_TESTNET_DIR/testnet.json" "console.log(r.processes.find(p => p.nodeId === '$id').pid)")
  kill -TERM "$PID"
  echo "   stopped node ${id:0:12}… (pid $PID)"
done
sleep 1
"${BATCHAIN[@]}" download "$CAP" -o "$DIR/sample.out2"
cmp "$DIR/sample.bin" "$DIR/sample.out2"
echo "   identical again"

say "6. The durability loop repairs: keepalive marks the stopped nodes lost (grace 3 s here), the health check queues a repair job per degraded segment, and the worker rebuilds the missing pieces on other nodes (no key needed)"
for i in $(seq 1 90); do
  if "${BATCHAIN[@]}" status "$CAP" --json > "$DIR/status.json" 2> /dev/null; then break; fi
  sleep 1
done
"${BATCHAIN[@]}" status "$CAP" | sed 's/^/   /' || true
js "$DIR/status.json" 'console.log(`   ${r.healthy ? "healthy again" : "still degraded"}: every segment has ${r.minGood} of ${r.dataShards + r.parityShards} good pieces`)'

say "7. Auditing a sample of pieces here (Merkle challenges against the manifest's roots; a verify capability would do)"
"${BATCHAIN[@]}" audit "$CAP" --now --sample 2 | tail -1 || true
echo "   (every holder of each sampled piece is challenged; unreachable ones are the stopped nodes' old copies, named by their pointer records until those expire)"

say "Done: a testnet of $NODES storage nodes stored the file, found it again through the DHT, survived 2 nodes going away, and repaired itself."
if [ -n "$DASHBOARD" ]; then
  echo "Dashboard: $DASHBOARD (nodes, their keepalive state, the job queues)$([ "$KEEP" = 1 ] || echo '; it stops with the testnet: run with --keep to look at it')"
fi
if [ "$KEEP" = 1 ]; then
  cat <<MSG
The testnet keeps running. Try:
  export BATCHAIN_HOME=$DIR/home BATCHAIN_TESTNET_DIR=$BATCHAIN_TESTNET_DIR
  node bin/batchain.js testnet status
  node bin/batchain.js status '$CAP' --testnet $BATCHAIN_TESTNET_DIR   # every segment's health; holders judged by their keepalive state
  node bin/batchain.js ls
  node bin/batchain.js upload FILE --data-shards 2 --parity-shards 2
  node bin/batchain.js download '$CAP' -o copy.bin
  node bin/batchain.js audit '$CAP'            # queues an audit job for the worker (--now: audit here)
Stop it with: node bin/batchain.js testnet down; rm -rf $DIR
MSG
else
  echo "Run 'bash scripts/demo.sh --keep' to keep the testnet running and try the CLI yourself (npx batchain --help)."
fi
