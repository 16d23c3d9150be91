#!/usr/bin/env bash
# The main job (README, first command): on a fresh machine, install what is needed, start a local
# network of 6 BatNodes on loopback, upload a sample file (encrypted, erasure-coded 4+2), download it
# again and check every byte. Then stop the nodes, or keep them with --keep to try the CLI by hand.
#
# Usage: scripts/demo.sh [--keep] [--size SIZE]   (SIZE like 64MiB; default 32MiB)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/ensure-deps.sh
source scripts/ensure-deps.sh

KEEP=0
SIZE=32MiB
while [ "$#" -gt 0 ]; do
  case "$1" in
    --keep) KEEP=1 ;;
    --size) SIZE=$2; shift ;;
    -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

ensure_node_modules
[ -f dist/cli/main.js ] && [ -z "$(find src -newer dist/cli/main.js -name '*.ts' -print -quit)" ] || npm run --silent build

DIR=${BATCHAIN_DEMO_DIR:-$(mktemp -d /tmp/batchain-demo-XXXXXX)}
mkdir -p "$DIR"
export BATCHAIN_HOME="$DIR/home"
BATCHAIN=(node bin/batchain.js)
PIDS=()

stop_nodes () {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
cleanup () {
  if [ "$KEEP" = 1 ]; then return; fi
  stop_nodes
  rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say () { printf '\n\033[1m%s\033[0m\n' "$*"; }

say "1. Starting 6 BatNodes on 127.0.0.1 (data in $DIR/nodes)"
NODES=()
for i in 1 2 3 4 5 6; do
  mkdir -p "$DIR/nodes/$i"
  "${BATCHAIN[@]}" node start --data-dir "$DIR/nodes/$i" --port 0 --capacity 2GiB --json \
    > "$DIR/nodes/$i/ready.json" 2> "$DIR/nodes/$i/node.log" &
  PIDS+=("$!")
done
for i in 1 2 3 4 5 6; do
  for _ in $(seq 1 100); do [ -s "$DIR/nodes/$i/ready.json" ] && break; sleep 0.1; done
  [ -s "$DIR/nodes/$i/ready.json" ] || { echo "node $i did not start:" >&2; cat "$DIR/nodes/$i/node.log" >&2; exit 1; }
  NODES+=("$(node -e 'const r=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));console.log(r.host+":"+r.port)' "$DIR/nodes/$i/ready.json")")
done
NODE_LIST=$(IFS=,; echo "${NODES[*]}")
echo "   nodes: $NODE_LIST"

say "2. Making a sample file of $SIZE"
node -e '
  const { randomBytes } = require("crypto"); const fs = require("fs");
  const units = { b: 1, kib: 1024, mib: 1048576, gib: 1073741824 };
  const m = /^(\d+)\s*([kmg]i?b|b)?$/i.exec(process.argv[2]); if (!m) { console.error("bad size"); process.exit(2) }
  let left = Number(m[1]) * (units[(m[2] || "b").toLowerCase().replace(/^([kmg])b$/, "$1ib")] || 1);
  const fd = fs.openSync(process.argv[1], "w"); while (left > 0) { const n = Math.min(left, 1 << 20); fs.writeSync(fd, randomBytes(n)); left -= n } fs.closeSync(fd)
' "$DIR/sample.bin" "$SIZE"
ls -l "$DIR/sample.bin" | awk '{print "   " $5 " bytes"}'

say "3. Uploading: encrypt (AES-256-GCM), erasure-code (4 data + 2 parity pieces per segment), spread over the nodes"
"${BATCHAIN[@]}" upload "$DIR/sample.bin" --nodes "$NODE_LIST" --json > "$DIR/upload.json"
CAP=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).capability)' "$DIR/upload.json")
node -e 'const r=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")); console.log(`   ${r.segments} segment(s), ${r.pieces} pieces, ${(r.size/1e6/r.seconds).toFixed(0)} MB/s; manifest on ${r.manifestHolders.length} nodes`)' "$DIR/upload.json"
echo "   read capability (all you need to get the file back; keep it secret):"
echo "   $CAP"

say "4. Downloading with the capability, then comparing bytes"
"${BATCHAIN[@]}" download "$CAP" -o "$DIR/sample.out" --nodes "$NODE_LIST"
cmp "$DIR/sample.bin" "$DIR/sample.out"
echo "   identical: $(sha256sum "$DIR/sample.out" | cut -c1-16)…"

say "5. Stopping 2 of the 6 nodes and downloading again (any 4 of 6 pieces rebuild a segment)"
kill -TERM "${PIDS[0]}" "${PIDS[3]}"; wait "${PIDS[0]}" "${PIDS[3]}" 2>/dev/null || true
"${BATCHAIN[@]}" download "$CAP" -o "$DIR/sample.out2" --nodes "$NODE_LIST"
cmp "$DIR/sample.bin" "$DIR/sample.out2"
echo "   identical again, with nodes ${NODES[0]} and ${NODES[3]} down"

say "6. Auditing every piece (Merkle challenges; a verify capability would do)"
"${BATCHAIN[@]}" audit "$CAP" --nodes "$NODE_LIST" | tail -1 || true

say "Done: the demo network stored and returned the file."
if [ "$KEEP" = 1 ]; then
  cat <<MSG
The 4 remaining nodes keep running (pids ${PIDS[1]} ${PIDS[2]} ${PIDS[4]} ${PIDS[5]}). Try:
  export BATCHAIN_HOME=$DIR/home BATCHAIN_NODES=$NODE_LIST
  node bin/batchain.js ls
  node bin/batchain.js upload FILE --data-shards 2 --parity-shards 2
  node bin/batchain.js download '$CAP' -o copy.bin
  node bin/batchain.js audit '$CAP' --json
Stop them with: kill ${PIDS[1]} ${PIDS[2]} ${PIDS[4]} ${PIDS[5]}; rm -rf $DIR
MSG
else
  echo "Run 'bash scripts/demo.sh --keep' to keep the nodes running and try the CLI yourself (npx batchain --help)."
fi
