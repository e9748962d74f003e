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
# A distribution's python3.11 (Debian, Ubuntu, Fedora) is built with PGO and LTO; pyenv's and most
# source builds are not, and serve the gateway 3-6 % slower (README, Performance). Prefer it.
if [ -z "${UV_PYTHON:-}" ] && [ -x /usr/bin/python3.11 ]; then
  UV_PYTHON=/usr/bin/python3.11
fi
export UV_PYTHON="${UV_PYTHON:-python3.11}"
uv sync --frozen --quiet
