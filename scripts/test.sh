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

# A Docker engine for the Docker-marked tests (docs: design.md section 2). On a fresh CI machine
# (root, Debian) install Debian's engine and the static tools the test images are built from, and
# start the engine; a machine whose engine already answers is left alone. Without root and without
# an engine the Docker tests skip, except under CI=true, where they fail (tests/docker_support.py).
engine_answers() {
  command -v docker >/dev/null 2>&1 && timeout 20 docker info >/dev/null 2>&1
}

apt_updated=0
apt_install() {  # installs those of the named packages that are not installed yet
  local wanted=() package
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || wanted+=("$package")
  done
  [ "${#wanted[@]}" -eq 0 ] && return 0
  if [ "$apt_updated" -eq 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    apt_updated=1
  fi
  echo "scripts/test.sh: installing ${wanted[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${wanted[@]}" >/dev/null
}

start_dockerd() {  # [dockerd arguments...]
  local log=${SM_LINT_DOCKERD_LOG:-${TMPDIR:-/tmp}/sm-lint-dockerd.log} waited=0
  echo "scripts/test.sh: starting dockerd (log: $log)" >&2
  # setsid: the engine outlives this script and a Ctrl-C in the terminal, so later runs reuse it.
  # Never with the GPU test double (tests/gpu_double) on its PATH: this engine stays after the
  # tests, and with the double every `--gpus` container on the machine would see a fake GPU. The
  # GPU tests start a throwaway engine with the double and stop it (tests/docker_support.py).
  PATH=$(path_without_double) setsid dockerd "$@" </dev/null >"$log" 2>&1 &
  local pid=$!
  until engine_answers; do
    # A dockerd that exited (another one holds its pid file, no storage driver, ...) never answers.
    if ! kill -0 "$pid" 2>/dev/null && ! engine_answers; then
      echo "scripts/test.sh: dockerd exited; last lines of $log:" >&2
      tail -n 30 "$log" >&2
      exit 1
    fi
    if [ "$waited" -ge "${SM_LINT_DOCKERD_WAIT:-60}" ]; then
      echo "scripts/test.sh: dockerd did not answer within ${waited}s; last lines of $log:" >&2
      tail -n 30 "$log" >&2
      exit 1
    fi
    sleep 1
    waited=$((waited + 1))
  done
  echo "scripts/test.sh: dockerd answers after ${waited}s" >&2
}

path_without_double() {  # $PATH without the test double's folder
  local part kept=()
  local IFS=:
  for part in $PATH; do
    case $part in ""|*/tests/gpu_double|*/tests/gpu_double/) continue ;; esac
    kept+=("$part")
  done
  echo "${kept[*]}"
}

double_engine_pid() {  # prints the pid of a machine dockerd with tests/gpu_double on its PATH
  local entry pid
  for entry in /proc/[0-9]*; do
    pid=${entry#/proc/}
    [ "$(cat "$entry/comm" 2>/dev/null)" = dockerd ] || continue
    # The tests' own throwaway engines (own --data-root under /tmp/smgg-*) are not the machine's.
    tr '\0' ' ' <"$entry/cmdline" 2>/dev/null | grep -q -- '--data-root' && continue
    if tr '\0' '\n' <"$entry/environ" 2>/dev/null | grep -q '^PATH=\(.*:\)\?[^:]*/tests/gpu_double\(:\|$\)'; then
      echo "$pid"
      return 0
    fi
  done
  return 1
}

# An engine that an older scripts/test.sh started with tests/gpu_double on its PATH fakes a GPU for
# every `--gpus` container on this machine, long after the tests. Restart it without the double
# (same arguments), once it runs no container: up to SM_LINT_DOCKERD_IDLE_WAIT seconds (default 300)
# for running containers to end, which are never killed; still busy then, the script stops and says so.
restart_double_engine() {
  local pid args=() waited=0
  pid=$(double_engine_pid) || return 0
  mapfile -d '' -t args < <(tail -z -n +2 "/proc/$pid/cmdline")
  echo "scripts/test.sh: dockerd (pid $pid) has the GPU test double on its PATH (an older scripts/test.sh" \
    "started it): restarting it without the double" >&2
  while [ -n "$(timeout 20 docker ps -q 2>/dev/null)" ]; do
    if [ "$waited" -ge "${SM_LINT_DOCKERD_IDLE_WAIT:-300}" ]; then
      echo "scripts/test.sh: dockerd (pid $pid) still runs containers after ${waited}s, so it was not" \
        "restarted; stop them (or the engine) and run scripts/test.sh again" >&2
      exit 1
    fi
    sleep 5
    waited=$((waited + 5))
  done
  kill -TERM "$pid"
  waited=0
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$waited" -ge 60 ]; then
      echo "scripts/test.sh: dockerd (pid $pid) did not exit within 60s of SIGTERM" >&2
      exit 1
    fi
    sleep 1
    waited=$((waited + 1))
  done
  start_dockerd "${args[@]}"
}

provision_docker() {
  local engine=1
  [ "$(id -u)" -eq 0 ] && restart_double_engine
  engine_answers || engine=0
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    if [ "$engine" -eq 0 ]; then
      echo "scripts/test.sh: note: no Docker engine answers and this is not a root Debian machine," \
        "so nothing is installed; the Docker tests will skip (and fail under CI=true)" >&2
    fi
    return 0
  fi
  # The test images are FROM scratch (no registry is reachable): busybox-static and static C
  # programs (gcc -static needs libc6-dev's libc.a) are their only contents.
  local tools=(busybox-static libc6-dev)
  command -v gcc >/dev/null 2>&1 || tools+=(gcc)
  if [ "$engine" -eq 1 ]; then
    apt_install "${tools[@]}"
    return 0
  fi
  # /usr/local/bin/docker may be a client alone: the engine is dockerd.
  command -v dockerd >/dev/null 2>&1 || tools+=(docker.io)
  local started=$SECONDS
  apt_install "${tools[@]}"
  start_dockerd
  echo "scripts/test.sh: Docker engine provisioned in $((SECONDS - started))s" >&2
}
provision_docker

# A real registry for the `registry:` tests (tests/test_registry*.py): Debian's docker-registry (the
# CNCF distribution registry), started by the tests on loopback ports, never as a service; openssl
# makes their CA, htpasswd (apache2-utils) their users. Elsewhere those tests skip (fail under CI=true).
provision_registry() {
  if command -v docker-registry >/dev/null 2>&1 && command -v htpasswd >/dev/null 2>&1 \
    && command -v openssl >/dev/null 2>&1; then
    return 0
  fi
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "scripts/test.sh: note: no docker-registry and this is not a root Debian machine; the registry" \
      "tests will skip (and fail under CI=true)" >&2
    return 0
  fi
  apt_install docker-registry apache2-utils openssl
}
provision_registry

# Headless Chromium for the HTML report's browser tests (tests/test_report_html.py): Debian's
# `chromium` (and a font, which --no-install-recommends leaves out), as root on Debian when
# missing; elsewhere those tests skip, and fail under CI=true.
provision_browser() {
  if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
    return 0
  fi
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "scripts/test.sh: note: no chromium and this is not a root Debian machine; the browser" \
      "tests will skip (and fail under CI=true)" >&2
    return 0
  fi
  apt_install chromium fonts-dejavu-core
}
provision_browser

# Real NVIDIA/CUDA packages for tests/test_real_packages.py: tests/realpkgs.py fetches them from
# Debian's registry with apt-get under a private configuration in tests/.cache (never /etc/apt) that
# trusts only Debian's archive key; apt-get and dpkg-deb come with Debian and Ubuntu, the key
# (debian-archive-keyring) not with Ubuntu. Without it those tests skip, and fail under CI=true.
provision_realpkgs() {
  [ -e "${SM_LINT_DEBIAN_KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg}" ] && return 0
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "scripts/test.sh: note: no Debian archive keyring and this is not a root Debian machine; the" \
      "real-package tests will skip (and fail under CI=true)" >&2
    return 0
  fi
  apt_install debian-archive-keyring
}
provision_realpkgs

# Microsoft's SARIF validator (npm's @microsoft/sarif-multitool-linux, a self-contained .NET binary)
# checks the SARIF reports beyond the JSON schema; installed with npm into .tools/ once.
provision_sarif_validator() {
  local prefix=${SM_LINT_TOOLS:-.tools}/sarif-multitool
  local tool=$prefix/node_modules/@microsoft/sarif-multitool-linux/Sarif.Multitool
  if [ ! -x "$tool" ]; then
    if ! command -v npm >/dev/null 2>&1; then
      echo "scripts/test.sh: note: no npm, so no SARIF validator; its test will skip (and fail under CI=true)" >&2
      return 0
    fi
    npm install --silent --no-audit --no-fund --prefix "$prefix" @microsoft/sarif-multitool-linux@5.7.0 >/dev/null
  fi
  export SARIF_MULTITOOL=${SARIF_MULTITOOL:-$PWD/$tool}
}
provision_sarif_validator

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
