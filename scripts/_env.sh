# Shared by scripts/*: make sure uv exists and the locked environment is installed.
set -eu
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
if ! command -v uv >/dev/null 2>&1; then
  if ! python3 -m uv --version >/dev/null 2>&1; then
    echo "installing uv with pip..." >&2
    python3 -m pip install --quiet uv
  fi
  uv() { python3 -m uv "$@"; }
fi
export UV_PYTHON="${UV_PYTHON:-python3.11}"
uv sync --frozen --quiet
