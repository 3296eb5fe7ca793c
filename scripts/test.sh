#!/usr/bin/env bash
# The test command from the README: provisions what the tests need, then runs the whole suite.
# Usage: scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
venv=${SM_LINT_VENV:-.venv}
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -e ".[test]"

# Git identity for the tests that make throwaway repositories (pre-commit try-repo).
export GIT_AUTHOR_NAME=${GIT_AUTHOR_NAME:-sm-lint tests} GIT_AUTHOR_EMAIL=${GIT_AUTHOR_EMAIL:-tests@sm-lint.invalid}
export GIT_COMMITTER_NAME=$GIT_AUTHOR_NAME GIT_COMMITTER_EMAIL=$GIT_AUTHOR_EMAIL

set +e
"$venv/bin/python" -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "scripts/test.sh: pytest collected no tests: that is a failure here" >&2
  exit 1
fi
exit "$status"
