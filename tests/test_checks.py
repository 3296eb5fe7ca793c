"""Rule behaviour beyond the catalogue examples, as data: each case lists exactly the (rule, line)
pairs a user would see, so both missed and spurious findings fail."""
from __future__ import annotations

import datetime
from pathlib import Path
from typing import Dict, List, NamedTuple, Set, Tuple

import pytest

from sm_lint.catalogue import Catalogue
from sm_lint.config import Settings
from sm_lint.dockerfile.lint import lint_text

CATALOGUE = Catalogue.load()
EP = 'ENTRYPOINT ["python3", "/app/x.py"]'


class Case(NamedTuple):
    name: str
    dockerfile: str
    expected: Set[Tuple[str, int]]
    settings: Dict[str, object] = {}
    files: Dict[str, str] = {}
    message: str = ""  # a substring the first finding's message must contain


CASES: List[Case] = [
    # --- what runs (SM101-SM105)
    Case("shell entrypoint inherited from an earlier stage reports the line that set it",
         "FROM python:3.11 AS base\nENTRYPOINT python3 /app/x.py\nFROM base\nRUN true\n",
         {("SM101", 2)}, message="inherited from stage 'base', line 2"),
    Case("a later exec-form ENTRYPOINT overrides the shell one",
         f"FROM python:3.11\nENTRYPOINT python3 /app/x.py\n{EP}\n", set()),
    Case("a later shell-form ENTRYPOINT is the one reported",
         f"FROM python:3.11\n{EP}\nENTRYPOINT python3 /app/x.py\n", {("SM101", 3)}),
    Case("the shell named by SHELL is quoted", 'FROM python:3.11\nSHELL ["/bin/bash", "-lc"]\nENTRYPOINT run.sh\n',
         {("SM101", 3)}, message='`/bin/bash -lc "run.sh"`'),
    Case("ENTRYPOINT exec ... still drops the arguments", "FROM python:3.11\nENTRYPOINT exec python3 x.py\n",
         {("SM101", 2)}, message="cannot bring the arguments back"),
    Case("a build stage's shell entrypoint does not matter",
         f"FROM python:3.11 AS build\nENTRYPOINT make\nFROM python:3.11\n{EP}\n", set()),
    Case("--target picks the stage", f"FROM python:3.11 AS app\n{EP}\nFROM app AS dbg\nENTRYPOINT sh\n",
         set(), settings={"target": "app"}),
    Case("ENTRYPOINT clears an inherited CMD", 'FROM python:3.11 AS a\nCMD python3 x.py\nFROM a\nENTRYPOINT ["python3"]\n',
         set()),
    Case("CMD set in the same stage before ENTRYPOINT stays", 'FROM python:3.11\nCMD python3 x.py\nENTRYPOINT ["python3"]\n',
         {("SM102", 2)}),
    Case("single quotes in CMD are SM103, not also SM102", "FROM python:3.11\nCMD ['python3', 'x.py']\n",
         {("SM103", 2)}),
    Case("a shell test is not JSON", 'FROM python:3.11\nRUN [ -f /etc/os-release ] && echo ok\n' + EP + "\n", set()),
    Case("exec form under escape=` is still exec form", "# escape=`\nFROM python:3.11\n" + EP + "\n", set()),
    Case("FROM scratch without a command", "FROM scratch\nCOPY x /x\n", {("SM104", 1)},
         message="FROM scratch"),
    Case("the command may come from the base image", "FROM python:3.11\nRUN true\n", {("SM104", 1)},
         message="sm-lint inspect"),
    Case("bash -c with one simple command execs it", 'FROM python:3.11\nENTRYPOINT ["bash", "-c", "python3 x.py"]\n',
         set()),
    Case("bash -c execs the last plain command of a ; list",
         'FROM python:3.11\nENTRYPOINT ["bash", "-c", "cd /app; python3 x.py"]\n', set()),
    Case("a heredoc entrypoint script without exec",
         "FROM python:3.11\nCOPY <<EOF /entry.sh\n#!/bin/sh\necho hi\npython3 /app/x.py\nEOF\n"
         'ENTRYPOINT ["/entry.sh"]\n', {("SM105", 7)}, message="/entry.sh"),
    Case("an entrypoint script that execs", "FROM python:3.11\nCOPY entry.sh /usr/bin/\n"
         'ENTRYPOINT ["/usr/bin/entry.sh"]\n', set(), files={"entry.sh": "#!/bin/bash\nexec python3 x.py \"$@\"\n"}),
    Case("a script copied with the whole context, run through sh", "FROM python:3.11\nWORKDIR /app\nCOPY . .\n"
         'ENTRYPOINT ["sh", "start.sh"]\n', {("SM105", 4)}, files={"start.sh": "set -e\npython3 x.py\n"}),
    Case("tini forwards signals itself", "FROM python:3.11\nCOPY entry.sh /e.sh\n"
         'ENTRYPOINT ["tini", "--", "/e.sh"]\n', set(), files={"entry.sh": "#!/bin/sh\npython3 x.py\n"}),
    # --- /opt/ml (SM110-SM114)
    Case("relative COPY under a WORKDIR inside /opt/ml", "FROM python:3.11\nWORKDIR /opt/ml/code\nCOPY x.py .\n" + EP + "\n",
         {("SM111", 2), ("SM110", 3)}),
    Case("ARG and build-arg expansion in COPY destinations",
         "FROM python:3.11\nARG DEST=/app\nCOPY x.py ${DEST}/x.py\n" + EP + "\n",
         {("SM110", 3)}, settings={"build_args": (("DEST", "/opt/ml/code"),)}),
    Case("${V:-default} expands as Docker does", "FROM python:3.11\nCOPY x.py ${ML:-/opt/ml}/x.py\n" + EP + "\n",
         {("SM110", 2)}),
    Case("reading /opt/ml of a build stage is fine",
         "FROM python:3.11 AS b\nRUN mkdir -p /opt/ml/m && touch /opt/ml/m/w\nFROM python:3.11\n"
         "COPY --from=b /opt/ml/m/w /app/w\n" + EP + "\n", set()),
    Case("an inherited stage's writes count", "FROM python:3.11 AS b\nRUN touch /opt/ml/flag\nFROM b\n" + EP + "\n",
         {("SM113", 2)}),
    Case("ENV that mentions /opt/ml is fine", "FROM python:3.11\nENV OUT=/opt/ml/processing/output\n" + EP + "\n", set()),
    Case("writes into a RUN --mount target do not persist",
         "FROM python:3.11\nRUN --mount=type=cache,target=/opt/ml/cache pip download -d /opt/ml/cache x\n" + EP + "\n",
         set()),
    Case("cd then a relative write", "FROM python:3.11\nRUN cd /opt/ml && wget -q https://e.x/a.tgz && tar -xzf a.tgz -C data\n"
         + EP + "\n", {("SM113", 2)}),
    Case("heredoc RUN line numbers point into the body",
         "FROM python:3.11\nRUN <<EOF\nset -e\necho x > /opt/ml/a.txt\nEOF\n" + EP + "\n", {("SM113", 4)}),
    Case("python heredoc bodies are not shell", "FROM python:3.11\nRUN python3 <<EOF\nopen('/opt/ml/x','w')\nEOF\n"
         + EP + "\n", set()),
    Case("VOLUME in shell and JSON forms", 'FROM python:3.11\nVOLUME /data /opt/ml/x\nVOLUME ["/opt/ml/y"]\n' + EP + "\n",
         {("SM112", 2), ("SM112", 3)}),
    Case("a shell finds a bare script name on PATH (bash -m start.sh), as bash(1) says",
         "FROM python:3.11\nENV PATH=/opt/conda/bin:$PATH\nCOPY start.sh /usr/local/bin/start.sh\n"
         'ENTRYPOINT ["bash", "-m", "start.sh"]\n', {("SM105", 4)}, files={"start.sh": "cd /app\npython3 x.py\n"}),
    Case("scripts copied by a glob land under their own names", "FROM python:3.11\nWORKDIR /usr/src/app\n"
         'COPY *.sh ./\nENTRYPOINT ["/bin/bash", "/usr/src/app/entry.sh"]\n', {("SM105", 4)},
         files={"entry.sh": "python3 x.py\nsleep infinity\n", "other.sh": "exec true\n"}),
    Case("setup before an exec'd program is not a finding (only run can see a stop during it)",
         'FROM python:3.11\nCOPY e.sh /e.sh\nENTRYPOINT ["bash", "/e.sh"]\n', set(),
         files={"e.sh": "bash /usr/local/bin/telemetry.sh || true\nexec python3 serve.py\n"}),
    # --- NVIDIA (SM120-SM121)
    Case("yum driver package (and so a GPU image, here without the toolkit)",
         "FROM amazonlinux:2\nRUN yum install -y nvidia-driver-latest-dkms\n" + EP + "\n", {("SM120", 2), ("SM121", 1)}),
    Case("apk is covered", "FROM nvidia/cuda:12.2.0-runtime-ubuntu22.04\nRUN apk add --no-cache nvidia-utils-535\n"
         + EP + "\n", {("SM120", 2)}),
    Case("zypper is covered", "FROM nvidia/cuda:12.2.0-runtime-ubuntu22.04\nRUN zypper --non-interactive install "
         "nvidia-compute-utils-G06 cuda-drivers\n" + EP + "\n", {("SM120", 2)}),
    Case("the driver runfile (and so a GPU image, here without CUDA)",
         "FROM ubuntu:22.04\nRUN wget -q https://e.x/NVIDIA-Linux-x86_64-535.54.03.run && sh NVIDIA-Linux-x86_64-535.54.03.run -s\n"
         + EP + "\n", {("SM120", 2), ("SM121", 1)}),
    Case("chmod of what a COPY put under /opt/ml is that COPY's finding, not a write",
         "FROM python:3.11\nCOPY train /opt/ml/code/train\nRUN chmod +x /opt/ml/code/train && mkdir -p /opt/ml/models "
         "&& chmod +rwx /opt/ml/models\n" + EP + "\n", {("SM110", 2), ("SM114", 3)}),
    Case("cuda-compat is not a driver", "FROM nvidia/cuda:12.2.0-runtime-ubuntu22.04\nRUN apt-get install -y cuda-compat-12-2\n"
         + EP + "\n", set()),
    Case("a compat libcuda copied under /usr/local/cuda/compat is fine",
         "FROM nvidia/cuda:12.2.0-runtime-ubuntu22.04\nCOPY libcuda.so.535.54.03 /usr/local/cuda-12.2/compat/\n" + EP + "\n",
         set()),
    Case("nvidia-smi copied in", "FROM nvidia/cuda:12.2.0-runtime-ubuntu22.04\nCOPY bin/nvidia-smi /usr/bin/nvidia-smi\n"
         + EP + "\n", {("SM120", 2)}),
    Case("GPU decided from ENV, no toolkit", "FROM python:3.11\nENV NVIDIA_VISIBLE_DEVICES=all\n" + EP + "\n",
         {("SM121", 1)}, message="ENV NVIDIA_VISIBLE_DEVICES, line 2"),
    Case("CUDA torch wheels bring the libraries",
         "FROM python:3.11\nRUN pip install torch==2.3.1+cu121 -f https://download.pytorch.org/whl/torch_stable.html\n"
         + EP + "\n", set()),
    Case("conda cudatoolkit is the toolkit", "FROM continuumio/miniconda3\nRUN conda install -y -c nvidia cudatoolkit=11.8\n"
         + EP + "\n", set(), settings={"gpu": "true"}),
    Case("--no-gpu silences SM121", "FROM nvidia/cuda:12.2.0-base-ubuntu22.04\n" + EP + "\n", set(),
         settings={"gpu": "false"}),
    Case("an unknown base may carry the toolkit: info, not an error", "FROM mycorp/ml-base:7\n" + EP + "\n",
         {("SM122", 1)}, settings={"gpu": "true"}, message="sm-lint inspect"),
    # --- NVIDIA: real package names of Debian, Ubuntu and NVIDIA's repositories (data/nvidia.toml)
    Case("Debian's driver packages", "FROM debian:bookworm-slim\nRUN apt-get install -y libcuda1 libnvidia-ml1 "
         "nvidia-smi nvidia-kernel-dkms\n" + EP + "\n", {("SM120", 2), ("SM121", 1)}),
    Case("Debian's Tesla flavour", "FROM nvidia/cuda:12.2.0-runtime-ubuntu22.04\nRUN apt-get install -y "
         "nvidia-tesla-535-driver libnvidia-tesla-535-cuda1\n" + EP + "\n", {("SM120", 2)}),
    Case("Ubuntu's old branch meta package", "FROM nvidia/cuda:10.0-runtime-ubuntu16.04\nRUN apt-get install -y "
         "nvidia-384\n" + EP + "\n", {("SM120", 2)}),
    Case("Debian's and Ubuntu's CUDA library packages are the toolkit", "FROM debian:bookworm\nRUN apt-get install -y "
         "libcublas11 libcudart11.0 cuda-cufft-10-1\n" + EP + "\n", set(), settings={"gpu": "true"}),
    Case("package names held in ENV and ARG", "FROM ubuntu:22.04\nENV NV_PKGS=\"libnvidia-compute-535 nvidia-utils-535\"\n"
         "ARG NV_CUDNN_PACKAGE=libcudnn8=8.9.0.131-1+cuda12.1\nRUN apt-get install -y $NV_PKGS ${NV_CUDNN_PACKAGE}\n"
         + EP + "\n", {("SM120", 4)}),
    Case("driver installer named by ENV", "FROM nvidia/cuda:12.2.0-runtime-ubuntu22.04\n"
         "ENV DRV=NVIDIA-Linux-x86_64-535.104.05.run\nRUN sh ./$DRV --silent\n" + EP + "\n", {("SM120", 3)}),
    Case("driver installer by glob", "FROM nvidia/cuda:12.2.0-runtime-ubuntu22.04\n"
         "RUN sh NVIDIA-Linux-x86_64-*.run -s\n" + EP + "\n", {("SM120", 2)}),
    Case("driver package files installed with dpkg and yum", "FROM nvidia/cuda:12.2.0-runtime-ubuntu22.04\n"
         "RUN dpkg -i ./libnvidia-compute-*.deb && yum localinstall -y kmod-nvidia-latest-dkms-535.104.05-1.el8.x86_64.rpm\n"
         + EP + "\n", {("SM120", 2)}),
    Case("the container toolkit is not the driver", "FROM nvidia/cuda:12.2.0-runtime-ubuntu22.04\nRUN apt-get install -y "
         "libnvidia-container1 nvidia-container-toolkit libnvidia-egl-wayland1\n" + EP + "\n", set()),
    Case("nvidia/cuda -base carries libcudart: the requirement is met", "FROM nvidia/cuda:12.2.0-base-ubuntu22.04\n"
         + EP + "\n", set()),
    Case("untagged nvidia/cuda is unknown, never a confident error", "FROM nvidia/cuda\nENV CUDA_VERSION=12.2\n"
         + EP + "\n", {("SM122", 1)}),
    Case("framework tags naming CUDA count as the toolkit", "FROM pytorch/pytorch:2.1.0-cuda12.1-cudnn8-runtime\n"
         + EP + "\n", set(), settings={"gpu": "true"}),
    Case("an unset FROM variable is unknown", "ARG BASE\nFROM ${BASE}\nENV NVIDIA_VISIBLE_DEVICES=all\n" + EP + "\n",
         {("SM122", 2)}),
    Case("cupy without the toolkit on a known base", "FROM python:3.11-slim\nRUN pip install cupy-cuda12x\n" + EP + "\n",
         {("SM121", 1)}),
    Case("jax with local CUDA brings none; jax[cuda12] does", "FROM python:3.11-slim\nRUN pip install 'jax[cuda12_local]'\n"
         "RUN pip install 'jax[cuda12]>=0.4'\n" + EP + "\n", set()),
    # --- SM100
    Case("instruction before FROM", "RUN true\nFROM python:3.11\n" + EP + "\n", {("SM100", 1)}),
    Case("no FROM at all", "ARG X=1\n", {("SM100", 1)}),
    Case("unknown flag", "FROM python:3.11\nCOPY --frm=x a /a\n" + EP + "\n", {("SM100", 2)}),
    Case("JSON array with a number", "FROM python:3.11\nCMD [1, 2]\n", {("SM100", 2)}),
    Case("duplicate stage name", "FROM python:3.11 AS a\nFROM python:3.11 AS a\n" + EP + "\n", {("SM100", 2)}),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_case(case: Case, tmp_path: Path) -> None:
    for name, content in case.files.items():
        (tmp_path / name).write_text(content)
    settings = Settings(**case.settings)  # type: ignore[arg-type]
    findings = lint_text(case.dockerfile, "Dockerfile", settings, CATALOGUE, tmp_path, datetime.date(2026, 1, 1))
    got = {(f.rule, f.location.line) for f in findings}
    assert got == case.expected, [f"{f.rule}:{f.location.line} {f.message}" for f in findings]
    if case.message:
        assert case.message in findings[0].message, findings[0].message
