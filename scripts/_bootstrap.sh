# Shared by scripts/dev and scripts/test: make sure uv is there and the locked environment
# is installed. Needs only Python 3.11 and pip; everything else comes from the lock file.
set -euo pipefail
cd "$(dirname "$0")/.."
export UV_PYTHON_DOWNLOADS=never   # use this machine's Python 3.11; never fetch one
export UV_LINK_MODE=copy
if ! python3 -m uv --version >/dev/null 2>&1; then
  echo "installing uv (the package manager) with pip..." >&2
  python3 -m pip install --quiet --disable-pip-version-check uv
fi
python3 -m uv sync --frozen --quiet
