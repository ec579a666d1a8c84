#!/usr/bin/env bash
# Installs schemathesis (PyPI, pinned) into the git-ignored virtualenv .venv-fuzz/ for the admin API fuzz test
# (test/fuzz/admin-api-schemathesis.test.ts). Idempotent: a venv already holding the pinned version is kept.
set -euo pipefail
cd "$(dirname "$0")/../.."
SCHEMATHESIS_VERSION="4.32.5"
VENV=".venv-fuzz"
PYTHON="${PYTHON:-python3}"
if [ -x "$VENV/bin/schemathesis" ] && "$VENV/bin/python" -m pip show schemathesis 2>/dev/null | grep -qx "Version: $SCHEMATHESIS_VERSION"; then
  echo "schemathesis $SCHEMATHESIS_VERSION: present in $VENV"
  exit 0
fi
if ! command -v "$PYTHON" >/dev/null; then
  echo "python3 is missing: install Python 3.10+ to run the schemathesis fuzz test." >&2
  exit 1
fi
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
echo "schemathesis: $("$VENV/bin/schemathesis" --version) in $VENV"
