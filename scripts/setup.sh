#!/usr/bin/env bash
# One-time setup on a fresh machine, run by every make target through its stamp file:
# Debian packages (espeak-ng for the synthesizer; chromium, in which the tests open the HTML
# report), the virtualenv with heard and its dev tools, and the
# MicroPython ESP32 stubs (in their own folder, so they never shadow CPython modules).
# Non-interactive: as root directly (CI), otherwise through `sudo -n`.
set -euo pipefail
VENV=${1:-.venv}
LOG=build/setup.log
mkdir -p build
: >"$LOG"

fail() { echo "setup failed: $1 (details in $LOG)" >&2; tail -n 20 "$LOG" >&2; exit 1; }

# espeak-ng is needed by heard itself; chromium only by the test that opens the HTML report
# in a browser, which skips without it, except on CI (CI=true), where chromium is required.
missing=()
optional=()
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 \
  || optional+=(chromium)
if [ "${CI:-}" = "true" ] && [ ${#optional[@]} -gt 0 ]; then
  missing+=("${optional[@]}")
  optional=()
fi
if [ $((${#missing[@]} + ${#optional[@]})) -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    if [ ${#missing[@]} -gt 0 ]; then
      echo "heard needs the Debian packages: ${missing[*]}" >&2
      echo "  install them with: sudo apt-get install -y ${missing[*]}   then run make again" >&2
      exit 1
    fi
    echo "note: the browser test of the HTML report needs chromium and is skipped without it;" \
      "install it with: sudo apt-get install -y ${optional[*]}" >&2
    SUDO="none"
  fi
  if [ "$SUDO" != "none" ]; then
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq >>"$LOG" 2>&1 || fail "apt-get update"
    if [ ${#missing[@]} -gt 0 ]; then
      echo "installing Debian packages: ${missing[*]}"
      $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$LOG" 2>&1 \
        || fail "apt-get install ${missing[*]}"
    fi
    if [ ${#optional[@]} -gt 0 ]; then
      echo "installing Debian packages: ${optional[*]} (for the browser test)"
      $SUDO apt-get install -y -qq --no-install-recommends "${optional[@]}" >>"$LOG" 2>&1 \
        || echo "note: apt-get could not install ${optional[*]} (see $LOG); the browser" \
          "test of the HTML report will be skipped" >&2
    fi
  fi
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
