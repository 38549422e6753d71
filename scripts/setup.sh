#!/usr/bin/env bash
# One-time setup on a fresh machine, run by every make target through its stamp file:
# Debian packages (espeak-ng), the virtualenv with heard and its dev tools, and the
# MicroPython ESP32 stubs (in their own folder, so they never shadow CPython modules).
# Non-interactive: as root directly (CI), otherwise through `sudo -n`.
set -euo pipefail
VENV=${1:-.venv}
LOG=build/setup.log
mkdir -p build
: >"$LOG"

fail() { echo "setup failed: $1 (details in $LOG)" >&2; tail -n 20 "$LOG" >&2; exit 1; }

missing=()
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "heard needs the Debian packages: ${missing[*]}" >&2
    echo "  install them with: sudo apt-get install -y ${missing[*]}   then run make again" >&2
    exit 1
  fi
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >>"$LOG" 2>&1 || fail "apt-get update"
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$LOG" 2>&1 \
    || fail "apt-get install ${missing[*]}"
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "creating virtualenv $VENV"
  python3 -m venv "$VENV" >>"$LOG" 2>&1 || fail "python3 -m venv (is python3-venv installed?)"
fi
echo "installing heard and its tools into $VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip >>"$LOG" 2>&1 || fail "pip upgrade"
"$VENV/bin/python" -m pip install -q -e '.[dev]' >>"$LOG" 2>&1 || fail "pip install -e .[dev]"
"$VENV/bin/python" -m pip install -q --upgrade --target "$VENV/esp32-stubs" micropython-esp32-stubs \
  >>"$LOG" 2>&1 || fail "pip install micropython-esp32-stubs"
echo "setup done"
