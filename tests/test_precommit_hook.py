"""End to end: the hook in .pre-commit-hooks.yaml, installed by pre-commit the way users get it.

`pre-commit try-repo` clones this checkout (HEAD plus staged and modified tracked files),
pip-installs it into a fresh virtualenv and runs the hook, so this also proves the package
builds and its console script works. It needs PyPI access and takes a minute or so.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict

import pytest

ROOT = Path(__file__).resolve().parents[1]
BAD = "FROM python:3.11\nENTRYPOINT python app.py\n"
GOOD = 'FROM python:3.11\nCOPY app.py /app/\nENTRYPOINT ["python", "/app/app.py"]\n'
# try-repo builds the hook's virtualenv from PyPI on every call; leave room for a slow index.
TIMEOUT_S = 900

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("pre_commit") is None, reason="pre-commit is not installed"),
    pytest.mark.skipif(shutil.which("git") is None, reason="git is not on PATH"),
    pytest.mark.skipif(not (ROOT / ".git").exists(), reason=f"{ROOT} is not a git checkout, so try-repo cannot clone it"),
]


@pytest.fixture(scope="session")
def git_env(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, str]:
    env = dict(os.environ)
    # Set when the suite itself runs inside a git hook; they would point git at the wrong repo.
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "SKIP"):
        env.pop(name, None)
    # try-repo commits uncommitted changes into a shadow repo, which needs an identity.
    env.update(
        GIT_AUTHOR_NAME="sm-lint tests",
        GIT_AUTHOR_EMAIL="tests@sm-lint.invalid",
        GIT_COMMITTER_NAME="sm-lint tests",
        GIT_COMMITTER_EMAIL="tests@sm-lint.invalid",
        PRE_COMMIT_HOME=str(tmp_path_factory.mktemp("pre-commit-home")),
        PRE_COMMIT_COLOR="never",
    )
    return env


def make_repo(folder: Path, dockerfile: str, env: Dict[str, str]) -> Path:
    subprocess.run(["git", "init", "-q", str(folder)], check=True, env=env)
    (folder / "Dockerfile").write_text(dockerfile, encoding="utf-8")
    (folder / "app.py").write_text("print('hello')\n", encoding="utf-8")
    # --all-files means every tracked file: untracked ones would be invisible to the hook.
    subprocess.run(["git", "add", "Dockerfile", "app.py"], cwd=folder, check=True, env=env)
    return folder


def try_repo(repo: Path, env: Dict[str, str], hook: str = "sm-lint") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(ROOT), hook, "--all-files"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )


def test_hook_fails_on_shell_form_entrypoint(tmp_path: Path, git_env: Dict[str, str]) -> None:
    result = try_repo(make_repo(tmp_path, BAD, git_env), git_env)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "SM101" in output, output
    assert "Failed" in output, output


def test_hook_passes_on_exec_form_entrypoint(tmp_path: Path, git_env: Dict[str, str]) -> None:
    result = try_repo(make_repo(tmp_path, GOOD, git_env), git_env)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Passed" in output, output


@pytest.mark.parametrize("name, matched", [
    ("Dockerfile", True), ("docker/Dockerfile", True), ("Dockerfile.gpu", True), ("app.Dockerfile", True),
    ("svc/app.dockerfile", True), ("dockerfile", True), ("DOCKERFILE", True),
    ("README.md", False), ("docker-compose.yml", False), ("Dockerfiles/build.py", False), ("my.dockerfile.bak", False),
])
def test_hook_selects_the_files_sm_lint_check_looks_for(name: str, matched: bool) -> None:
    import fnmatch
    import re

    import yaml

    hook = next(h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text()) if h["id"] == "sm-lint")
    assert bool(re.search(hook["files"], name)) is matched
    discovered = any(fnmatch.fnmatch(name.rsplit("/", 1)[-1].lower(), pattern)
                     for pattern in ("dockerfile", "*.dockerfile", "dockerfile.*"))
    assert discovered is matched  # the same names as `sm-lint check FOLDER` finds


def test_fix_hook_rewrites_and_fails_then_passes(tmp_path: Path, git_env: Dict[str, str]) -> None:
    repo = make_repo(tmp_path, BAD, git_env)
    result = try_repo(repo, git_env, "sm-lint-fix")
    output = result.stdout + result.stderr
    assert result.returncode == 1 and "files were modified by this hook" in output, output
    assert (repo / "Dockerfile").read_text() == 'FROM python:3.11\nENTRYPOINT ["python", "app.py"]\n'
    subprocess.run(["git", "add", "Dockerfile"], cwd=repo, check=True, env=git_env)
    result = try_repo(repo, git_env, "sm-lint-fix")
    assert result.returncode == 0, result.stdout + result.stderr


def test_fix_hook_fails_without_touching_what_it_cannot_fix_safely(tmp_path: Path, git_env: Dict[str, str]) -> None:
    # A variable needs the shell: the safe fix leaves it, names the unsafe one, and the finding fails the hook.
    text = "FROM python:3.11\nENTRYPOINT python $APP\n"
    repo = make_repo(tmp_path, text, git_env)
    result = try_repo(repo, git_env, "sm-lint-fix")
    output = result.stdout + result.stderr
    assert result.returncode == 1 and "Failed" in output and "SM101" in output, output
    assert "files were modified by this hook" not in output, output
    assert "fixable with --unsafe-fixes" in output, output
    assert (repo / "Dockerfile").read_text() == text
