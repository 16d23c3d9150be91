#!/usr/bin/env bash
# Ensures a real kube-apiserver, etcd and kubectl for the tests, built from the Go module proxy and
# cached OUTSIDE the repo, keyed by version:
#   ${BATCHAIN_CACHE:-$HOME/.cache/batchain}/kube/<kubernetes version>/{kube-apiserver,etcd,kubectl}
# The last line on stdout is that bin dir (progress goes to stderr), so callers can do
#   BIN=$(bash scripts/kube-tools.sh)
# A warm call only checks the cached binaries (milliseconds); a cold one builds them (5–7 min
# measured on 2 cores; peak memory ~1.7 GB, the kube-apiserver link). A lock keeps two concurrent
# calls from both building; the binaries are built in a temp dir next to the cache entry and
# renamed into place, so a killed build leaves no half-written entry behind.
#
# Usage: scripts/kube-tools.sh [--check]
#   --check   do not build: print the bin dir when it is complete, else report and exit 1
# Environment:
#   BATCHAIN_KUBE_VERSION   Kubernetes version (default below); etcd is the version it pins
#   BATCHAIN_CACHE          cache root (default $HOME/.cache/batchain)
#   GO                      go binary (default /usr/local/go/bin/go, else go on PATH)
#   KUBE_BUILD_PARALLEL     go build -p (default 2)
#
# How (docs/kube-test-cluster.md): `go install k8s.io/kubernetes/cmd/...@v` is refused because the
# kubernetes go.mod replaces its staging modules with ./staging paths. A small wrapper module
# requires k8s.io/kubernetes vX.Y.Z and replaces every staging module (read from that go.mod, so the
# list always matches the version) with its published v0.Y.Z; etcd's main package
# (go.etcd.io/etcd/server/v3) is built in the same module at the version Kubernetes pins.
set -euo pipefail

KUBE_VERSION=${BATCHAIN_KUBE_VERSION:-v1.34.4}
CACHE=${BATCHAIN_CACHE:-$HOME/.cache/batchain}
KUBE_DIR=$CACHE/kube
BIN_DIR=$KUBE_DIR/$KUBE_VERSION
TOOLS=(kube-apiserver etcd kubectl)

log () { printf '[kube-tools] %s\n' "$*" >&2; }

complete () {
  [ -f "$BIN_DIR/.complete" ] || return 1
  local t
  for t in "${TOOLS[@]}"; do [ -x "$BIN_DIR/$t" ] || return 1; done
}

case "${1:-}" in
  '') CHECK=0 ;;
  --check) CHECK=1 ;;
  -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "unknown argument '$1' (--check)" >&2; exit 2 ;;
esac

# Warm path: nothing but a few stat calls.
if complete; then
  echo "$BIN_DIR"
  exit 0
fi
if [ "$CHECK" = 1 ]; then
  log "kube-apiserver, etcd, kubectl $KUBE_VERSION are not built yet ($BIN_DIR); run scripts/kube-tools.sh"
  exit 1
fi

if [[ ! "$KUBE_VERSION" =~ ^v1\.([0-9]+)\.([0-9]+)$ ]]; then
  echo "BATCHAIN_KUBE_VERSION must look like v1.34.4, got '$KUBE_VERSION'" >&2
  exit 2
fi
STAGING_VERSION="v0.${BASH_REMATCH[1]}.${BASH_REMATCH[2]}"
KUBE_MINOR=${BASH_REMATCH[1]}

GO=${GO:-}
if [ -z "$GO" ]; then
  if [ -x /usr/local/go/bin/go ]; then GO=/usr/local/go/bin/go; else GO=$(command -v go || true); fi
fi
if [ -z "$GO" ] || ! [ -x "$GO" ]; then
  log "no Go toolchain (set GO=/path/to/go); it is needed once to build kube-apiserver, etcd and kubectl"
  exit 1
fi

mkdir -p "$KUBE_DIR"
exec 9>"$KUBE_DIR/.lock-$KUBE_VERSION"
if ! flock -n 9; then
  log "another build of $KUBE_VERSION is running; waiting for it (lock $KUBE_DIR/.lock-$KUBE_VERSION)"
  flock 9
fi
# The other holder may have finished it while we waited.
if complete; then
  echo "$BIN_DIR"
  exit 0
fi

WORK=$(mktemp -d "$KUBE_DIR/.build-$KUBE_VERSION-XXXXXX")
cleanup () { rm -rf "$WORK"; }
trap cleanup EXIT

export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false CGO_ENABLED=0
start=$SECONDS
log "building kube-apiserver, etcd, kubectl $KUBE_VERSION with $("$GO" version | awk '{print $3}') (once per machine; 5-10 min)"

# 1. Kubernetes' own go.mod: its go directive, godebug line, staging replaces and pinned etcd.
"$GO" mod download -json "k8s.io/kubernetes@$KUBE_VERSION" > "$WORK/kubernetes.json"
K8S_GOMOD=$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p' "$WORK/kubernetes.json")
[ -f "$K8S_GOMOD" ] || { log "go mod download gave no go.mod for k8s.io/kubernetes@$KUBE_VERSION"; exit 1; }
mapfile -t STAGING < <(sed -n 's|^[[:space:]]*\(k8s\.io/[A-Za-z0-9._-]*\) => \./staging/src/k8s\.io/.*$|\1|p' "$K8S_GOMOD")
[ "${#STAGING[@]}" -gt 0 ] || { log "no staging replaces found in $K8S_GOMOD"; exit 1; }
GO_DIRECTIVE=$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$K8S_GOMOD" | head -n 1)
GODEBUG_LINE=$(grep -E '^godebug ' "$K8S_GOMOD" || true)
ETCD_VERSION=$(sed -n 's|^[[:space:]]*go\.etcd\.io/etcd/server/v3 \(v[^ ]*\).*$|\1|p' "$K8S_GOMOD" | head -n 1)
[ -n "$ETCD_VERSION" ] || { log "k8s.io/kubernetes@$KUBE_VERSION does not pin go.etcd.io/etcd/server/v3"; exit 1; }
log "${#STAGING[@]} staging modules -> $STAGING_VERSION; etcd $ETCD_VERSION; go $GO_DIRECTIVE"

# 2. The wrapper module.
MOD=$WORK/mod
mkdir -p "$MOD" "$WORK/bin"
{
  echo "module batchain.local/kubetools"
  echo
  echo "go ${GO_DIRECTIVE:-1.24.0}"
  [ -z "$GODEBUG_LINE" ] || echo "$GODEBUG_LINE"
  echo
  echo "require ("
  echo "	k8s.io/kubernetes $KUBE_VERSION"
  echo "	go.etcd.io/etcd/server/v3 $ETCD_VERSION"
  echo ")"
  echo
  echo "replace ("
  for m in "${STAGING[@]}"; do echo "	$m => $m $STAGING_VERSION"; done
  echo ")"
} > "$MOD/go.mod"
# Blank imports of non-main packages would not pull the commands' dependencies into go.sum, so let
# `go get` of the three main packages (at the versions required above) complete go.mod and go.sum.
( cd "$MOD" && "$GO" get "k8s.io/kubernetes/cmd/kube-apiserver@$KUBE_VERSION" "k8s.io/kubernetes/cmd/kubectl@$KUBE_VERSION" \
    "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >&2 )
# go get may have raised versions through MVS; Kubernetes and etcd must stay what we asked for.
got_k8s=$(cd "$MOD" && "$GO" list -m -f '{{.Version}}' k8s.io/kubernetes)
got_etcd=$(cd "$MOD" && "$GO" list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)
if [ "$got_k8s" != "$KUBE_VERSION" ] || [ "$got_etcd" != "$ETCD_VERSION" ]; then
  log "module graph moved versions: kubernetes $got_k8s (want $KUBE_VERSION), etcd $got_etcd (want $ETCD_VERSION)"
  exit 1
fi

# 3. Build. Version stamps as upstream's hack/lib/version.sh sets them, so /version is right.
BUILD_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
KV_LDFLAGS=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  KV_LDFLAGS+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$KUBE_MINOR"
  KV_LDFLAGS+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$BUILD_DATE"
done
PAR=${KUBE_BUILD_PARALLEL:-2}
build () {
  local out=$1 pkg=$2 ldflags=$3 t0=$SECONDS
  log "go build $pkg"
  ( cd "$MOD" && nice -n 10 "$GO" build -p "$PAR" -trimpath -ldflags "-s -w$ldflags" -o "$WORK/bin/$out" "$pkg" >&2 )
  log "built $out in $((SECONDS - t0))s ($(du -h "$WORK/bin/$out" | cut -f1))"
}
build etcd go.etcd.io/etcd/server/v3 " -X go.etcd.io/etcd/api/v3/version.GitSHA=$ETCD_VERSION"
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$KV_LDFLAGS"
build kubectl k8s.io/kubernetes/cmd/kubectl "$KV_LDFLAGS"

# 4. Smoke-check before publishing.
# (Output captured first: `cmd | grep -q` can SIGPIPE cmd, which pipefail turns into a failure.)
smoke () {
  local want=$1 out
  shift
  out=$("$@" 2>&1) || { log "$* failed: $out"; exit 1; }
  [[ "$out" == *"$want"* ]] || { log "$* does not report $want: $out"; exit 1; }
}
smoke "Kubernetes $KUBE_VERSION" "$WORK/bin/kube-apiserver" --version
smoke "etcd Version: ${ETCD_VERSION#v}" "$WORK/bin/etcd" --version
smoke "Client Version: $KUBE_VERSION" "$WORK/bin/kubectl" version --client
{
  echo "kubernetes=$KUBE_VERSION"
  echo "etcd=$ETCD_VERSION"
  echo "go=$("$GO" version | awk '{print $3}')"
  echo "built=$BUILD_DATE"
  echo "seconds=$((SECONDS - start))"
} > "$WORK/bin/.complete"
cp "$MOD/go.mod" "$WORK/bin/wrapper.go.mod"

# 5. Publish atomically: a rename of the finished directory (a stale, incomplete entry goes first).
rm -rf "$BIN_DIR"
mv -T "$WORK/bin" "$BIN_DIR"
log "done in $((SECONDS - start))s: $BIN_DIR"
echo "$BIN_DIR"
