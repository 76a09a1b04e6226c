#!/usr/bin/env bash
# cfn-lint (AWS's CloudFormation linter, a Python package) for the deployment-template test.
# Installed into a venv in the cache (outside the clone) when missing, the way moto is; prints
# the env for the tests (CFN_LINT, the executable). Idempotent; well under a second once
# installed.
set -euo pipefail
SERVICE_NAME=cfn-lint
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CFN_LINT_VENV="${CFN_LINT_VENV:-$STEPSCALE_CACHE/cfn-lint-venv}"
# Pinned to the version the template was checked with; override to try another.
CFN_LINT_SPEC="${CFN_LINT_SPEC:-cfn-lint==1.51.0}"

if ! { [[ -x "$CFN_LINT_VENV/bin/cfn-lint" ]] && "$CFN_LINT_VENV/bin/cfn-lint" --version >/dev/null 2>&1; }; then
  take_lock cfn-lint
  if ! { [[ -x "$CFN_LINT_VENV/bin/cfn-lint" ]] && "$CFN_LINT_VENV/bin/cfn-lint" --version >/dev/null 2>&1; }; then
    t0=$(date +%s%3N)
    log "creating $CFN_LINT_VENV and installing $CFN_LINT_SPEC"
    rm -rf "$CFN_LINT_VENV"
    "${PYTHON:-python3}" -m venv "$CFN_LINT_VENV" >&2
    "$CFN_LINT_VENV/bin/pip" install --quiet --disable-pip-version-check "$CFN_LINT_SPEC" >&2
    log "cfn-lint installed in $(elapsed_since "$t0"): $("$CFN_LINT_VENV/bin/cfn-lint" --version)"
  fi
fi

cat <<ENV
export CFN_LINT=$CFN_LINT_VENV/bin/cfn-lint
ENV
