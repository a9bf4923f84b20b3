# Sourced by scripts/test (bash, set -euo pipefail) before pytest: install the system
# packages some tests need when they are missing. Today that is Chromium, for the headless
# browser test of the HTML report. Fast and silent when everything is there; a failed
# install only prints a warning (the browser test then skips), it never fails the suite.

_megatest_install_chromium() {
    if command -v chromium >/dev/null 2>&1; then
        return 0
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "warning: chromium is missing and apt-get is not available;" \
             "the HTML report browser test will be skipped" >&2
        return 0
    fi
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo="sudo -n"
        else
            echo "warning: chromium is missing and installing it needs root;" \
                 "the HTML report browser test will be skipped" >&2
            return 0
        fi
    fi
    echo "installing chromium (for the HTML report browser test)" >&2
    if $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null &&
       $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
           -o Dpkg::Use-Pty=0 chromium >/dev/null; then
        echo "chromium installed: $(command -v chromium || echo '(not on PATH)')" >&2
    else
        echo "warning: installing chromium failed;" \
             "the HTML report browser test will be skipped" >&2
    fi
    return 0
}

_megatest_install_chromium || true
unset -f _megatest_install_chromium
