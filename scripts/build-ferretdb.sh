#!/usr/bin/env bash
# Builds the embedded FerretDB helper (tools/ferretdb/bin/ferretdb) with a Go that its go.mod
# accepts, on a machine that may have an old Go or none:
#
#   - no `go`: installs Debian's golang-go with apt-get (root, or passwordless sudo; not with
#     GENBOT_NO_INSTALL=1);
#   - a Go at least as new as go.mod's toolchain/go line: builds with it;
#   - Go 1.21 or newer but older: GOTOOLCHAIN=go<version> makes it fetch that toolchain through
#     the Go module proxy (module golang.org/toolchain) and build with it;
#   - older than 1.21 (Debian 12's golang-go is 1.19, which knows no GOTOOLCHAIN): downloads the
#     same golang.org/toolchain module with `go mod download` and builds with the Go inside it.
#
# The binary is written next to its final name and renamed into place, so two builds at once
# never leave a half-written file. `--dry-run` prints the plan and builds nothing.
# Used by `.ci/run` and, on first use, by scripts/services/mongo.ts.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SRC="$ROOT/tools/ferretdb"
OUT="$SRC/bin/ferretdb"
DRY_RUN=0
if [ "${1:-}" = "--dry-run" ]; then DRY_RUN=1; fi

say() { printf '[go] %s\n' "$*" >&2; }

# Is version $1 >= $2? (dotted numbers: 1.24.0, 1.19.8)
version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n 1)" = "$2" ]; }

# The Go go.mod asks for: its toolchain line, else its go line ("1.24" means go1.24.0).
WANT="$(awk '$1 == "toolchain" { sub(/^go/, "", $2); print $2; exit }' "$SRC/go.mod")"
if [ -z "$WANT" ]; then WANT="$(awk '$1 == "go" { print $2; exit }' "$SRC/go.mod")"; fi
if [ -z "$WANT" ]; then say "no go line in $SRC/go.mod"; exit 1; fi
case "$WANT" in *.*.*) ;; *) WANT="$WANT.0" ;; esac

GO="$(command -v go || true)"
if [ -z "$GO" ]; then
  SUDO=""
  if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; fi
  if [ "${GENBOT_NO_INSTALL:-}" != "1" ] && command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" = "0" ] || [ -n "$SUDO" ]; }; then
    if [ "$DRY_RUN" = 1 ]; then
      say "plan: no go on the PATH; would install golang-go with apt-get, then get go$WANT through the Go module proxy"
      exit 0
    fi
    say "no go on the PATH; installing Debian's golang-go with apt-get"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq golang-go >/dev/null ||
      { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq golang-go >/dev/null; }
    GO="$(command -v go || true)"
  fi
  if [ -z "$GO" ]; then
    say "Go is not installed. Install Go $WANT or newer (https://go.dev/dl/), or any Go >= 1.21 (it fetches $WANT itself), then run this again."
    exit 1
  fi
fi

HAVE="$(GOTOOLCHAIN=local "$GO" version | awk '{ sub(/^go/, "", $3); print $3 }')"
case "$HAVE" in *.*.*) ;; *.*) HAVE="$HAVE.0" ;; esac

cd "$SRC"
if version_ge "$HAVE" "$WANT"; then
  PLAN="local"
  say "plan: build with $GO (go$HAVE; go.mod needs go$WANT)"
elif version_ge "$HAVE" "1.21.0"; then
  PLAN="gotoolchain"
  say "plan: go$HAVE is older than go.mod's go$WANT; build with GOTOOLCHAIN=go$WANT (fetched through the Go module proxy)"
else
  PLAN="bootstrap"
  say "plan: go$HAVE is older than 1.21 (no GOTOOLCHAIN); download go$WANT as module golang.org/toolchain with it, then build with that"
fi
if [ "$DRY_RUN" = 1 ]; then exit 0; fi

case "$PLAN" in
  local) BUILD_GO="$GO"; export GOTOOLCHAIN=local ;;
  gotoolchain) BUILD_GO="$GO"; export GOTOOLCHAIN="go$WANT" ;;
  bootstrap)
    MOD="golang.org/toolchain@v0.0.1-go$WANT.$("$GO" env GOOS)-$("$GO" env GOARCH)"
    # Outside any module, so this go.mod's go line does not get in the way of the old Go.
    DIR="$(cd / && "$GO" mod download -json "$MOD" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
    if [ -z "$DIR" ] || [ ! -f "$DIR/bin/go" ]; then say "could not download $MOD"; exit 1; fi
    # Module zips keep no file modes: make the toolchain's programs executable, as Go 1.21+
    # does when it downloads a toolchain itself.
    chmod u+w "$DIR" "$DIR/bin" "$DIR/pkg/tool" "$DIR/pkg/tool/"*
    chmod +x "$DIR/bin/"* "$DIR/pkg/tool/"*/*
    chmod a-w "$DIR" "$DIR/bin" "$DIR/pkg/tool" "$DIR/pkg/tool/"*
    BUILD_GO="$DIR/bin/go"
    export GOTOOLCHAIN=local
    ;;
esac

mkdir -p "$(dirname "$OUT")"
TMP="$OUT.tmp-$$"
trap 'rm -f "$TMP"' EXIT
"$BUILD_GO" build -o "$TMP" .
mv -f "$TMP" "$OUT"
say "built $OUT with $("$BUILD_GO" version | awk '{ print $3 }')"
