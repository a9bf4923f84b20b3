# Sourced by scripts/run_mega_test and scripts/test: make sure .venv exists and holds
# the package (editable) with the requested extras. Re-installs only when pyproject.toml
# changed since the last install (a stamp file keeps its hash).
# usage: . scripts/_venv.sh [extras]     e.g. ". scripts/_venv.sh test"
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.venv"
EXTRAS="${1:-}"

_pick_python() {
    for cand in "${MEGATEST_PYTHON:-}" python3.13 python3.12 python3.11 python3; do
        [ -n "$cand" ] || continue
        if command -v "$cand" >/dev/null 2>&1 &&
           "$cand" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
            echo "$cand"; return 0
        fi
    done
    echo "error: Python 3.11 or newer is needed (set MEGATEST_PYTHON to its path)" >&2
    return 1
}

if [ ! -x "$VENV/bin/python" ]; then
    PY="$(_pick_python)"
    echo "setting up $VENV with $($PY --version) (first run only)" >&2
    "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip \
        > /dev/null 2>&1 || echo "warning: could not upgrade pip; going on with $("$VENV/bin/python" -m pip --version)" >&2
fi

want="$( (cat "$REPO/pyproject.toml"; echo "extras=$EXTRAS") | sha256sum | cut -c1-16)"
stamp="$VENV/.megatest-install-${EXTRAS:-base}"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    spec="$REPO"
    [ -n "$EXTRAS" ] && spec="$REPO[$EXTRAS]"
    echo "installing megatest-supervisor${EXTRAS:+ [$EXTRAS]} into .venv" >&2
    if ! "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$spec" \
            > "$VENV/install.log" 2>&1; then
        cat "$VENV/install.log" >&2
        echo "error: installing into $VENV failed (log above, also in $VENV/install.log)" >&2
        exit 1
    fi
    echo "$want" > "$stamp"
fi
export PATH="$VENV/bin:$PATH"
