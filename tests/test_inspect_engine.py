"""`sm-lint inspect` and `sm-lint check --image` against images built by the real engine.

Every image is built here, FROM scratch with the classic builder (busybox-static, a tiny static C
program, generated files), so the layers, whiteouts, opaque directories and history entries are
the ones Docker really writes. Findings are read through the CLI as a user would run it: a
subprocess `python -m sm_lint ...` where the process edge matters (exit codes, one-line errors,
timing), otherwise typer's CliRunner on the same app, in process, to keep the module fast.
The same image read from the engine, from its `docker save` tar and from OCI layouts converted
from that tar must give the same findings.
"""
from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
import tarfile
import time
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, List, NamedTuple, Optional, Tuple

import pytest

from docker_support import SESSION_ID, build_image, save_image, static_binary
from oci_convert import docker_save_to_oci

ROOT = Path(__file__).resolve().parents[1]
# Tags unique to this run: other sessions share the engine, and a tag must never point elsewhere.
REPO = f"sm-lint-inspect-engine-{SESSION_ID.lower()}-{uuid.uuid4().hex[:6]}"

FAKE_NVIDIA_SMI = r'''
#include <stdio.h>
int main(void) { puts("NVIDIA-SMI 535.104.05   Driver Version: 535.104.05   CUDA Version: 12.2"); return 0; }
'''
NVML = "libnvidia-ml.so.535.104.05"
FAKE_LIBRARY = b"\x7fELF\x02\x01\x01" + bytes(1017)  # 1 KiB that looks like a shared object

BUSYBOX = "FROM scratch\nCOPY busybox /bin/busybox\n"
SHELL_FORM = BUSYBOX + """\
RUN ["/bin/busybox", "--install", "-s", "/bin"]
COPY model.bin /opt/ml/model/model.bin
RUN mkdir -p /opt/ml/processing/input /opt/ml/processing/output /opt/ml/d /opt/ml/gone/sub \\
 && echo old > /opt/ml/d/old1 && echo old > /opt/ml/d/old2 && echo tmp > /opt/ml/tmp.txt \\
 && echo x > /opt/ml/gone/sub/x && echo v1 > /opt/ml/config.json
RUN rm /opt/ml/tmp.txt && rm -rf /opt/ml/d /opt/ml/gone && mkdir /opt/ml/d && echo new > /opt/ml/d/new \\
 && echo version-two > /opt/ml/config.json
ENTRYPOINT echo hi
"""
# `echo hi` is no long-running work: the message states only the certain harm.
SHELL_FORM_MESSAGE = ("the image's Entrypoint runs its command through a shell, ['/bin/sh', '-c', 'echo hi'] "
                      "(set by `ENTRYPOINT [\"/bin/sh\" \"-c\" \"echo hi\"]`): ContainerArguments never reach the "
                      "program (`sh -c` gives them to the code as $0, $1, ..., which it does not use)")


# -- running the CLI ---------------------------------------------------------------------------

class Run(NamedTuple):
    code: int
    stdout: str
    stderr: str
    seconds: float

    def report(self) -> Dict[str, Any]:
        assert self.code in (0, 1), f"exit {self.code}: {self.stderr}"
        return json.loads(self.stdout)


def cli_process(*args: str, cwd: Path, timeout: float = 120) -> Run:
    """`python -m sm_lint ARGS` in a fresh process, as a user runs it."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])))
    env.pop("SM_LINT_DEBUG", None)
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "sm_lint", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    return Run(done.returncode, done.stdout, done.stderr, time.monotonic() - started)


def cli_inline(*args: str, cwd: Path) -> Run:
    """The same typer app, in process (no interpreter start-up or imports per call)."""
    from typer.testing import CliRunner

    from sm_lint.cli import app

    before = os.getcwd()
    os.chdir(cwd)  # config lookup starts at the working directory: keep the repository's out
    try:
        started = time.monotonic()
        result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    finally:
        os.chdir(before)
    stderr = ""
    try:
        stderr = result.stderr
    except ValueError:  # click < 8.2 mixes stderr into output
        pass
    return Run(result.exit_code, result.stdout, stderr, time.monotonic() - started)


def rules(report: Dict[str, Any]) -> List[str]:
    return [f["rule"] for f in report["findings"]]


def one(report: Dict[str, Any], rule: str) -> Dict[str, Any]:
    found = [f for f in report["findings"] if f["rule"] == rule]
    assert len(found) == 1, f"expected one {rule}, got {rules(report)}"
    return found[0]


def comparable(report: Dict[str, Any]) -> List[Tuple[Any, ...]]:
    """Findings without the target's name (engine tag vs archive path)."""
    return [(f["rule"], f["severity"], f["message"], f["fix"], tuple(f["evidence"]), f["line"])
            for f in report["findings"]]


# -- images, built once per module ---------------------------------------------------------------

class Built(NamedTuple):
    tag: str
    image_id: str


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working directory with no sm-lint config above it (the CLI looks one up from the cwd)."""
    return tmp_path_factory.mktemp("inspect-engine")


def _build(client: Any, name: str, dockerfile: str, files: Optional[Dict[str, Any]] = None) -> Built:
    tag = f"{REPO}:{name}"
    return Built(tag, build_image(client, dockerfile, files or {}, tag=tag))


@pytest.fixture(scope="module")
def shell_image(docker_client: Any) -> Built:
    """Shell-form ENTRYPOINT; /opt/ml holds a COPY'd file, a file deleted in a later layer
    (whiteout), a directory emptied and refilled (opaque) and empty folders."""
    return _build(docker_client, "shell", SHELL_FORM, {"model.bin": bytes(3000)})


@pytest.fixture(scope="module")
def child_image(docker_client: Any, shell_image: Built) -> Built:
    """Adds a file outside /opt/ml to the shell-form base: inherits its ENTRYPOINT and files."""
    return _build(docker_client, "child", f"FROM {shell_image.tag}\nCOPY notes.txt /srv/notes.txt\n",
                  {"notes.txt": "child layer\n"})


@pytest.fixture(scope="module")
def bare_image(docker_client: Any) -> Built:
    return _build(docker_client, "bare", BUSYBOX)


@pytest.fixture(scope="module")
def driver_image(docker_client: Any) -> Built:
    return _build(docker_client, "driver", f"""\
FROM scratch
COPY nvidia-smi /usr/bin/nvidia-smi
COPY {NVML} /usr/lib/x86_64-linux-gnu/{NVML}
ENTRYPOINT ["/usr/bin/nvidia-smi"]
""", {"nvidia-smi": static_binary(FAKE_NVIDIA_SMI), NVML: FAKE_LIBRARY})


@pytest.fixture(scope="module")
def compat_image(docker_client: Any) -> Built:
    return _build(docker_client, "compat", f"""\
FROM scratch
COPY nvidia-smi /usr/local/cuda-12.2/compat/nvidia-smi
COPY {NVML} /usr/local/cuda-12.2/compat/{NVML}
ENTRYPOINT ["/usr/local/cuda-12.2/compat/nvidia-smi"]
""", {"nvidia-smi": static_binary(FAKE_NVIDIA_SMI), NVML: FAKE_LIBRARY})


@pytest.fixture(scope="module")
def gpu_env_image(docker_client: Any) -> Built:
    return _build(docker_client, "gpuenv",
                  BUSYBOX + 'ENV NVIDIA_VISIBLE_DEVICES=all\nENTRYPOINT ["/bin/busybox", "true"]\n')


@pytest.fixture(scope="module")
def cudart_image(docker_client: Any, gpu_env_image: Built) -> Built:
    return _build(docker_client, "cudart", f"FROM {gpu_env_image.tag}\nCOPY libcudart.so.12 /usr/local/lib/libcudart.so.12\n",
                  {"libcudart.so.12": FAKE_LIBRARY})


@pytest.fixture(scope="module")
def inspected(workdir: Path) -> Iterator[Any]:
    """`inspect TARGET -f json`, once per target and module."""
    cache: Dict[str, Run] = {}

    def get(target: str) -> Run:
        if target not in cache:
            cache[target] = cli_inline("inspect", target, "-f", "json", cwd=workdir)
        return cache[target]

    yield get


# -- SM201 / SM202 / SM204 -------------------------------------------------------------------------

def test_shell_form_entrypoint_is_sm201_through_the_real_process(shell_image: Built, workdir: Path) -> None:
    run = cli_process("inspect", shell_image.tag, "-f", "json", cwd=workdir)
    assert run.code == 1, run.stderr
    report = run.report()
    finding = one(report, "SM201")
    assert finding["severity"] == "error"
    assert finding["message"] == SHELL_FORM_MESSAGE
    assert finding["path"] == shell_image.tag
    assert report["facts"]["effective command"] == "/bin/sh -c 'echo hi'"
    assert report["facts"]["image"] == shell_image.tag
    assert "SM202" not in rules(report)  # no ContainerArguments given, nothing dropped
    assert report["summary"]["failed"] is True


def test_inherited_shell_form_entrypoint_names_the_base_step(child_image: Built, shell_image: Built,
                                                              docker_client: Any, inspected: Any) -> None:
    # The child's own steps (newest first; the builder appends the session LABEL) add files only.
    history = [h.get("CreatedBy", "") for h in docker_client.api.history(child_image.tag)]
    own = history[:len(history) - len(docker_client.api.history(shell_image.tag))]
    assert any("COPY" in step and "notes.txt" in step for step in own), own
    assert not any("ENTRYPOINT" in step or "CMD" in step for step in own), own
    run = inspected(child_image.tag)
    assert run.code == 1
    finding = one(run.report(), "SM201")
    assert finding["message"] == SHELL_FORM_MESSAGE
    assert "set by `ENTRYPOINT [\"/bin/sh\" \"-c\" \"echo hi\"]`" in finding["message"]
    # The base's files are the child's too, with their original layer numbers.
    assert one(run.report(), "SM210")["evidence"] == one(inspected(shell_image.tag).report(), "SM210")["evidence"]


def test_arguments_are_dropped_by_a_shell_form_entrypoint(shell_image: Built, workdir: Path) -> None:
    run = cli_inline("inspect", shell_image.tag, "-f", "json", "--arg", "--input", "--arg", "/opt/ml/processing/input",
                     cwd=workdir)
    assert run.code == 1
    finding = one(run.report(), "SM202")
    assert finding["severity"] == "error"
    assert finding["message"] == (
        "ContainerArguments ['--input', '/opt/ml/processing/input'] would be ignored: the shell-form Entrypoint "
        "['/bin/sh', '-c', 'echo hi'] does not pass them to the program")
    assert one(run.report(), "SM201")


def test_shell_form_entrypoint_under_a_pipefail_shell_is_sm201(docker_client: Any, workdir: Path) -> None:
    built = _build(docker_client, "pipefail",
                   BUSYBOX + 'SHELL ["/bin/sh", "-o", "pipefail", "-c"]\nENTRYPOINT echo hi\n')
    run = cli_inline("inspect", built.tag, "-f", "json", "--arg", "x", cwd=workdir)
    report = run.report()
    # The engine recorded the shell and stored the ENTRYPOINT as SHELL + [text].
    assert report["facts"]["effective command"] == "/bin/sh -o pipefail -c 'echo hi' x"
    assert "SM201" in rules(report) and "SM202" in rules(report), rules(report)


def test_sm201_names_the_entrypoint_step_not_a_later_step_mentioning_it(docker_client: Any, shell_image: Built,
                                                                        inspected: Any) -> None:
    built = _build(docker_client, "mentions", f"FROM {shell_image.tag}\nENV ENTRYPOINT_SCRIPT=/srv/run.sh\n")
    assert one(inspected(built.tag).report(), "SM201")["message"] == SHELL_FORM_MESSAGE


def test_image_with_neither_entrypoint_nor_cmd_is_sm204(bare_image: Built, inspected: Any, workdir: Path) -> None:
    run = inspected(bare_image.tag)
    assert run.code == 1
    report = run.report()
    assert rules(report) == ["SM204"]
    assert one(report, "SM204")["severity"] == "error"
    assert report["facts"]["effective command"] == "(nothing: the container cannot start)"
    # A job that gives ContainerEntrypoint can run it: clean, exit 0.
    given = cli_inline("inspect", bare_image.tag, "-f", "json", "--entrypoint", "/bin/busybox",
                       "--entrypoint", "true", cwd=workdir)
    assert (given.code, rules(given.report())) == (0, [])


IMAGES = ("shell_image", "child_image", "bare_image", "driver_image", "compat_image", "gpu_env_image", "cudart_image")


def test_no_sm230_for_amd64_images(request: pytest.FixtureRequest, inspected: Any) -> None:
    for name in IMAGES:
        built: Built = request.getfixturevalue(name)
        report = inspected(built.tag).report()
        assert report["facts"]["platform"] == "linux/amd64", name
        assert "SM230" not in rules(report), name


# -- SM210: the merged view ----------------------------------------------------------------------

def test_opt_ml_files_are_listed_after_whiteouts_and_opaque_dirs(shell_image: Built, docker_client: Any,
                                                                 inspected: Any) -> None:
    # The engine really wrote a whiteout and an opaque marker in the last layer: the case is real.
    saved = save_image(docker_client, shell_image.tag)
    with tarfile.open(saved) as archive:
        manifest = json.load(archive.extractfile("manifest.json"))  # type: ignore[arg-type]
        top = archive.extractfile(manifest[0]["Layers"][-1])
        assert top is not None
        names = tarfile.open(fileobj=top).getnames()
    assert {"opt/ml/.wh.tmp.txt", "opt/ml/.wh.gone", "opt/ml/d/.wh..wh..opq"} <= set(names), names

    finding = one(inspected(shell_image.tag).report(), "SM210")
    assert finding["severity"] == "error"
    assert finding["message"].startswith("3 files (2.9 KiB) under /opt/ml: SageMaker mounts over /opt/ml")
    evidence = finding["evidence"]
    assert len(evidence) == 3, evidence
    # Sorted by path; each line has the size and the layer (bottom = 0) with the step that made it.
    # config.json was written in layer 3 and rewritten in layer 4: the final version counts.
    last_run = r"layer 4: /bin/sh -c rm /opt/ml/tmp\.txt && rm -rf /opt/ml/d /opt/ml/gone .*"
    assert re.fullmatch(rf"/opt/ml/config\.json \(12 B, {last_run}\)", evidence[0]), evidence[0]
    assert re.fullmatch(rf"/opt/ml/d/new \(4 B, {last_run}\)", evidence[1]), evidence[1]
    # (the classic builder's content hash of a COPY source is left out: the destination matters)
    assert evidence[2] == "/opt/ml/model/model.bin (2.9 KiB, layer 2: COPY (file) to /opt/ml/model/model.bin)", evidence[2]
    # Not the file deleted later (whiteout), nor the deleted directory's files (whiteout of a
    # directory), nor the old contents of the opaque directory, and no empty folders
    # (/opt/ml/processing/input, /output, /opt/ml/d itself).
    listed = [line.split(" (")[0] for line in evidence]
    assert listed == ["/opt/ml/config.json", "/opt/ml/d/new", "/opt/ml/model/model.bin"]


# -- SM220 / SM221 / SM222 --------------------------------------------------------------------------

def test_driver_files_are_sm220(driver_image: Built, inspected: Any) -> None:
    run = inspected(driver_image.tag)
    assert run.code == 1
    report = run.report()
    finding = one(report, "SM220")
    assert finding["message"].startswith("NVIDIA driver files are in the image (2: binary, library)")
    assert [line.split(" (")[0] for line in finding["evidence"]] == ["/usr/bin/nvidia-smi", f"/usr/lib/x86_64-linux-gnu/{NVML}"]
    assert finding["evidence"][1].startswith(f"/usr/lib/x86_64-linux-gnu/{NVML} (1.0 KiB, layer 1: COPY (file) to ")
    # The driver files make it look like a GPU image, and it has no toolkit.
    assert "driver file" in one(report, "SM221")["message"]
    assert sorted(rules(report)) == ["SM220", "SM221"]


def test_compat_copies_are_sm222_only(compat_image: Built, inspected: Any) -> None:
    run = inspected(compat_image.tag)
    report = run.report()
    assert rules(report) == ["SM222"]
    finding = one(report, "SM222")
    assert finding["severity"] == "info"
    assert any(line.startswith(f"/usr/local/cuda-12.2/compat/{NVML} (1.0 KiB, layer 1") for line in finding["evidence"])
    assert run.code == 0  # info is below the default fail-on (warning)


def test_gpu_env_without_toolkit_is_sm221_and_cudart_settles_it(gpu_env_image: Built, cudart_image: Built,
                                                               inspected: Any) -> None:
    run = inspected(gpu_env_image.tag)
    assert run.code == 1
    finding = one(run.report(), "SM221")
    assert finding["message"].startswith("the image looks like a GPU image (ENV NVIDIA_VISIBLE_DEVICES=all), "
                                         "but it holds no CUDA toolkit")
    assert rules(run.report()) == ["SM221"]
    with_cudart = inspected(cudart_image.tag)
    assert (with_cudart.code, rules(with_cudart.report())) == (0, [])


# -- engine vs archives ------------------------------------------------------------------------------

@pytest.mark.parametrize("fixture", ["shell_image", "child_image", "driver_image"])
def test_engine_docker_save_and_oci_layouts_agree(fixture: str, request: pytest.FixtureRequest, docker_client: Any,
                                                  inspected: Any, tmp_path: Path) -> None:
    built: Built = request.getfixturevalue(fixture)
    saved = save_image(docker_client, built.tag)
    saved_gz = tmp_path / "saved.tar.gz"  # docker save IMAGE | gzip
    saved_gz.write_bytes(gzip.compress(saved.read_bytes(), compresslevel=1))
    oci = docker_save_to_oci(saved, tmp_path / "oci.tar")
    oci_gz = docker_save_to_oci(saved, tmp_path / "oci-gzip.tar", compression="gzip")
    with tarfile.open(oci_gz) as archive:  # the variant really has gzip layers
        index = json.load(archive.extractfile("index.json"))  # type: ignore[arg-type]
        digest = index["manifests"][0]["digest"].split(":")[1]
        manifest = json.load(archive.extractfile(f"blobs/sha256/{digest}"))  # type: ignore[arg-type]
        assert {layer["mediaType"] for layer in manifest["layers"]} == {"application/vnd.oci.image.layer.v1.tar+gzip"}
        first = archive.extractfile(f"blobs/sha256/{manifest['layers'][0]['digest'].split(':')[1]}")
        assert first is not None and first.read(2) == b"\x1f\x8b"

    engine = inspected(built.tag)
    expected = comparable(engine.report())
    assert expected, "the image should have findings to compare"
    for target in (saved, saved_gz, oci, oci_gz):
        run = inspected(str(target))
        assert run.code == engine.code, (target, run.stderr)
        report = run.report()
        assert comparable(report) == expected, target
        assert {k: v for k, v in report["facts"].items() if k != "image"} == \
               {k: v for k, v in engine.report()["facts"].items() if k != "image"}, target


def test_image_id_and_short_id_read_the_same_image(shell_image: Built, inspected: Any) -> None:
    by_tag = comparable(inspected(shell_image.tag).report())
    digest = shell_image.image_id.split(":", 1)[1]
    for reference in (shell_image.image_id, digest[:12]):
        run = inspected(reference)
        assert run.code == 1, run.stderr
        assert comparable(run.report()) == by_tag, reference


# -- check --image ---------------------------------------------------------------------------------

def test_check_with_image_reports_each_defect_once(docker_client: Any, workdir: Path) -> None:
    dockerfile = BUSYBOX + "COPY train.py /opt/ml/code/train.py\nENTRYPOINT /bin/busybox echo hi\n"
    folder = workdir / "combined"
    folder.mkdir()
    (folder / "Dockerfile").write_text(dockerfile)
    built = _build(docker_client, "combined", dockerfile, {"train.py": "print('hi')\n"})

    alone = cli_process("inspect", built.tag, "-f", "json", cwd=folder).report()
    assert {"SM201", "SM210"} <= set(rules(alone))  # the image alone shows both defects

    run = cli_process("check", "--image", built.tag, "-f", "json", "Dockerfile", cwd=folder)
    assert run.code == 1, run.stderr
    report = run.report()
    got = rules(report)
    assert got.count("SM101") == 1 and got.count("SM110") == 1, got
    assert "SM201" not in got and "SM210" not in got, got
    sm101, sm110 = one(report, "SM101"), one(report, "SM110")
    assert f"confirmed in the built image {built.tag} (SM201)" in sm101["evidence"]
    assert f"confirmed in the built image {built.tag} (SM210)" in sm110["evidence"]
    assert any(line.startswith("/opt/ml/code/train.py (12 B, layer 1: COPY (file) to ") for line in sm110["evidence"])
    assert (sm101["line"], sm110["line"]) == (4, 3)  # the Dockerfile findings keep their lines


def test_check_with_image_settles_an_inherited_cmd(docker_client: Any, workdir: Path) -> None:
    base = _build(docker_client, "cmdbase", BUSYBOX + 'CMD ["/bin/busybox", "true"]\n')
    dockerfile = f"FROM {base.tag}\nCOPY app.txt /srv/app.txt\n"
    folder = workdir / "inherited-cmd"
    folder.mkdir()
    (folder / "Dockerfile").write_text(dockerfile)
    built = _build(docker_client, "cmdchild", dockerfile, {"app.txt": "app\n"})

    static = cli_process("check", "-f", "json", "Dockerfile", cwd=folder).report()
    assert "SM104" in rules(static)  # the Dockerfile alone cannot see the base's CMD
    run = cli_process("check", "--image", built.tag, "-f", "json", "Dockerfile", cwd=folder)
    assert "SM104" not in rules(run.report()), run.stdout
    assert "SM204" not in rules(run.report())
    assert run.report()["facts"]["effective command"] == "/bin/busybox true"


# -- errors ------------------------------------------------------------------------------------------

def test_missing_image_is_exit_3_with_one_line_and_no_pull(docker_client: Any, workdir: Path) -> None:
    missing = f"{REPO}:never-built"
    since = int(time.time()) - 1
    run = cli_process("inspect", missing, cwd=workdir)
    until = int(time.time()) + 1
    assert run.code == 3
    assert run.stdout == ""
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("sm-lint: error: image ") and "not found" in lines[0] and "does not pull" in lines[0]
    events = list(docker_client.events(since=since, until=until, decode=True, filters={"type": "image"}))
    assert [e for e in events if e.get("Action") == "pull"] == []
    import docker.errors

    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(missing)


def test_unreachable_docker_host_is_exit_3(bare_image: Built, workdir: Path) -> None:
    run = cli_process("inspect", bare_image.tag, "--docker-host", "tcp://127.0.0.1:1", cwd=workdir, timeout=60)
    assert run.code == 3
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    assert "tcp://127.0.0.1:1" in lines[0]


def test_corrupt_archive_is_exit_2_with_one_line(workdir: Path, tmp_path: Path) -> None:
    corrupt = tmp_path / "image.tar"
    corrupt.write_bytes(b"this is not a tar archive\n" * 100)
    run = cli_process("inspect", str(corrupt), cwd=workdir)
    assert run.code == 2
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("sm-lint: error: "), run.stderr
    assert run.stdout == ""


# -- nothing left running ------------------------------------------------------------------------------

def test_inspect_creates_no_containers(request: pytest.FixtureRequest, docker_client: Any, inspected: Any) -> None:
    """Reading an image is `docker save` only: no container is ever made from it."""
    for name in IMAGES:
        built: Built = request.getfixturevalue(name)
        inspected(built.tag)
        assert docker_client.containers.list(all=True, filters={"ancestor": built.image_id}) == [], name
