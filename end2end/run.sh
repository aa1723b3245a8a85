#!/usr/bin/env bash
# Starts a throw-away catalyst (fresh SQLite file, loopback port), waits until it
# answers, runs the Playwright tests against it and always stops it again. Expects
# `cargo leptos build` to have run (scripts/test does that). With CATALYST_E2E_RELEASE=1
# it tests the release build instead (`cargo leptos build --release`: release binary,
# release WASM in target/site), which is what the Dockerfile ships.
set -euo pipefail
cd "$(dirname "$0")"
ROOT="$(cd .. && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
if [ "${CATALYST_E2E_RELEASE:-0}" = 1 ]; then
  BIN="$TARGET/release/catalyst" BUILD="cargo leptos build --release"
else
  BIN="$TARGET/debug/catalyst" BUILD="cargo leptos build"
fi
[ -x "$BIN" ] || { echo "end2end: $BIN not found; run '$BUILD' first" >&2; exit 1; }

if [ ! -d node_modules/@playwright/test ]; then
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --silent
fi

# The doubles: catalyst-testkit's Kubernetes and GitHub APIs plus a control API for the
# tests (server/examples/e2e_doubles.rs).
DOUBLES="$TARGET/debug/examples/e2e_doubles"
if [ ! -x "$DOUBLES" ] || [ -n "$(find "$ROOT/server/examples" "$ROOT/testkit/src" -newer "$DOUBLES" -name '*.rs' | head -n1)" ]; then
  (cd "$ROOT" && cargo build --quiet -p catalyst-server --example e2e_doubles)
fi

WORK="$(mktemp -d)"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
export CATALYST_BIND="127.0.0.1:$PORT"
export CATALYST_DATABASE_URL="sqlite://$WORK/e2e.db?mode=rwc"

"$DOUBLES" "http://$CATALYST_BIND/webhooks/github" >"$WORK/doubles.env" 2>"$WORK/doubles.log" &
DOUBLES_PID=$!
for _ in $(seq 1 100); do
  grep -q '^# ready' "$WORK/doubles.env" 2>/dev/null && break
  kill -0 "$DOUBLES_PID" 2>/dev/null || { cat "$WORK/doubles.log" >&2; exit 1; }
  sleep 0.1
done
set -a
# shellcheck disable=SC1091
. <(grep -E '^[A-Z0-9_]+=' "$WORK/doubles.env")
set +a
# Operators: one login, and everyone in the GitHub team acme/platform.
export CATALYST_OPERATORS="octocat,acme/platform"
export CATALYST_PREVIEW_DOMAIN="preview.e2e.test"
CATALYST_ENCRYPTION_KEY="$(python3 -c "import os,base64; print(base64.b64encode(os.urandom(32)).decode())")"
export CATALYST_ENCRYPTION_KEY
export LEPTOS_SITE_ROOT="${LEPTOS_SITE_ROOT:-$ROOT/target/site}"
export CATALYST_E2E_URL="http://$CATALYST_BIND"
export CATALYST_E2E_WEBHOOK_SECRET="$CATALYST_GITHUB_WEBHOOK_SECRET"
export CATALYST_FIXTURES="${CATALYST_FIXTURES:-$ROOT/../shared/fixtures/github-webhooks}"

trap 'kill "$DOUBLES_PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT
"$BIN" migrate >/dev/null
CATALYST_E2E_TOKEN="$("$BIN" token create --name e2e --role operator | tail -n1)"
export CATALYST_E2E_TOKEN

"$BIN" serve >"$WORK/catalyst.log" 2>&1 &
PID=$!
cleanup() {
  kill "$PID" "$DOUBLES_PID" 2>/dev/null || true
  wait "$PID" "$DOUBLES_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

for _ in $(seq 1 100); do
  if curl -fsS "$CATALYST_E2E_URL/healthz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$PID" 2>/dev/null; then cat "$WORK/catalyst.log" >&2; exit 1; fi
  sleep 0.1
done

if ! npx playwright test "$@"; then
  echo "---- catalyst log ----" >&2
  tail -n 100 "$WORK/catalyst.log" >&2
  exit 1
fi
