#!/usr/bin/env bash
# Set up cardline on this machine: Debian packages, then a virtual environment in .venv.
# Idempotent, and silent when everything is already in place.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
STAMP="$VENV/.cardline-setup"
# swig, gcc and libpcsclite-dev build pyscard from source; pcscd is the PC/SC daemon and
# vsmartcard-vpcd its virtual reader; cups and cups-pdf a real print queue for the tests;
# DejaVu has the Vietnamese glyphs, OCR-B is the MRZ font; openssl checks signatures;
# softhsm2 is the embedded PKCS#11 token that holds the Document Signer's key.
DEBIAN_PACKAGES=(swig libpcsclite-dev pcscd vsmartcard-vpcd gcc make cups cups-client cups-filters
    printer-driver-cups-pdf ghostscript poppler-utils fonts-dejavu-core fonts-ocr-b openssl softhsm2)

LOG="$(mktemp -t cardline-setup.XXXXXX)"
trap 'rm -f "$LOG"' EXIT
# Run a command with its output in a log that is shown only if it fails.
quietly() {
    "$@" >"$LOG" 2>&1 || { cat "$LOG" >&2; echo "setup: failed: $*" >&2; exit 1; }
}

need_python() {
    command -v python3 >/dev/null 2>&1 || return 0
    python3 - <<'PY' >/dev/null 2>&1 && return 1 || return 0
import sys, venv, ensurepip, sysconfig, os
assert sys.version_info >= (3, 11)
assert os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h"))
PY
}

missing=()
for package in "${DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$package")
done
if need_python; then
    missing+=(python3 python3-venv python3-dev)
fi
if ((${#missing[@]})); then
    echo "setup: installing Debian packages: ${missing[*]}"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    quietly $SUDO apt-get update -qq
    quietly $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The environment is rebuilt when pyproject.toml or the constraints change.
wanted="$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)"
if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$wanted" ]; then
    exit 0
fi
echo "setup: creating the virtual environment in $VENV (a few minutes the first time)"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
quietly "$VENV/bin/python" -m pip install --disable-pip-version-check --upgrade pip setuptools wheel
quietly "$VENV/bin/python" -m pip install --disable-pip-version-check -c constraints.txt -e '.[test]'
echo "$wanted" > "$STAMP"
echo "setup: done"
