#!/usr/bin/env python3
"""Generate a deterministic corpus of realistic SageMaker/ML Dockerfiles for benchmarking.

The shapes mimic what real projects ship: CUDA multi-stage builds, long apt-get chains,
pip/conda installs, BuildKit heredocs, extended AWS Deep Learning Containers, and a few
Windows images using `# escape=\\``. A share of files carries mistakes that sm-lint reports
(files written under /opt/ml, NVIDIA driver packages, shell-form ENTRYPOINT), and a tail of
large files (~500 and ~1,000 lines) stresses the parser.

Usage: python bench/gen_corpus.py [OUT_DIR] [--seed N] [--count N]
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
from pathlib import Path
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

DEFAULT_OUT = Path(__file__).resolve().parent / "out" / "corpus"
DEFAULT_SEED = 20240601
DEFAULT_COUNT = 240
MANIFEST = "MANIFEST.json"  # not a Dockerfile name, so directory discovery never picks it up

# Package pools drawn from real ML container Dockerfiles (AWS DLCs, HF, sagemaker-*-container).
APT_PACKAGES = sorted({
    "build-essential", "ca-certificates", "curl", "wget", "git", "git-lfs", "unzip", "zip",
    "jq", "vim-tiny", "less", "openssh-client", "openssh-server", "libgl1", "libglib2.0-0",
    "libsm6", "libxext6", "libxrender1", "ffmpeg", "libsndfile1", "libjpeg-dev", "libpng-dev",
    "zlib1g-dev", "libssl-dev", "libffi-dev", "libbz2-dev", "libreadline-dev", "libsqlite3-dev",
    "liblzma-dev", "libncurses5-dev", "libncursesw5-dev", "xz-utils", "tk-dev", "llvm",
    "cmake", "ninja-build", "pkg-config", "autoconf", "automake", "libtool", "gcc", "g++",
    "gfortran", "libopenblas-dev", "liblapack-dev", "libatlas-base-dev", "libhdf5-dev",
    "libgomp1", "libnuma1", "numactl", "htop", "procps", "net-tools", "iproute2", "dnsutils",
    "tzdata", "locales", "gnupg", "lsb-release", "software-properties-common", "apt-transport-https",
    "python3", "python3-dev", "python3-pip", "python3-venv", "python3-distutils", "openjdk-17-jre-headless",
    "libcurl4-openssl-dev", "libxml2-dev", "libxslt1-dev", "libpq-dev", "default-libmysqlclient-dev",
    "libsasl2-dev", "libldap2-dev", "libboost-all-dev", "libprotobuf-dev", "protobuf-compiler",
    "libgoogle-perftools-dev", "libtcmalloc-minimal4", "libjemalloc2", "poppler-utils",
    "tesseract-ocr", "libmagic1", "graphviz", "fonts-dejavu-core", "nginx", "supervisor",
    "tini", "dumb-init", "libibverbs1", "ibverbs-providers", "librdmacm1", "libnccl2", "libnccl-dev",
})
NVIDIA_DRIVER_PACKAGES = (
    "nvidia-driver-535", "nvidia-utils-535", "libnvidia-compute-535", "nvidia-driver-470",
    "libnvidia-gl-525", "nvidia-dkms-535", "cuda-drivers",
)
PIP_PACKAGES = (
    "numpy==1.26.4", "pandas==2.1.4", "scipy==1.11.4", "scikit-learn==1.3.2", "xgboost==2.0.3",
    "lightgbm==4.2.0", "catboost==1.2.2", "boto3==1.34.11", "sagemaker==2.203.0", "pyarrow==14.0.2",
    "fastparquet==2023.10.1", "s3fs==2023.12.2", "fsspec==2023.12.2", "transformers==4.36.2",
    "datasets==2.16.1", "accelerate==0.25.0", "sentencepiece==0.1.99", "tokenizers==0.15.0",
    "evaluate==0.4.1", "peft==0.7.1", "bitsandbytes==0.41.3", "einops==0.7.0", "safetensors==0.4.1",
    "matplotlib==3.8.2", "seaborn==0.13.1", "opencv-python-headless==4.9.0.80", "Pillow==10.2.0",
    "pydantic==2.5.3", "requests==2.31.0", "tqdm==4.66.1", "pyyaml==6.0.1", "joblib==1.3.2",
    "nltk==3.8.1", "spacy==3.7.2", "gensim==4.3.2", "statsmodels==0.14.1", "shap==0.44.0",
    "mlflow==2.9.2", "great-expectations==0.18.7", "pyspark==3.5.0", "sagemaker-training==4.7.4",
    "smdebug==1.0.34", "protobuf==3.20.3", "onnx==1.15.0", "onnxruntime==1.16.3", "polars==0.20.3",
)
CUDA_BASES = (
    ("nvidia/cuda:12.1.1-cudnn8-devel-ubuntu22.04", "nvidia/cuda:12.1.1-cudnn8-runtime-ubuntu22.04", "cu121"),
    ("nvidia/cuda:11.8.0-cudnn8-devel-ubuntu22.04", "nvidia/cuda:11.8.0-cudnn8-runtime-ubuntu22.04", "cu118"),
    ("nvidia/cuda:12.4.1-cudnn-devel-ubuntu22.04", "nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04", "cu124"),
)
CPU_BASES = (
    "python:3.11-slim", "python:3.10-slim-bookworm", "python:3.9-slim-bullseye", "ubuntu:22.04",
    "ubuntu:20.04", "debian:bookworm-slim", "public.ecr.aws/docker/library/python:3.11-slim",
)
DLC_BASES = (
    "763104351884.dkr.ecr.us-west-2.amazonaws.com/pytorch-training:2.1.0-gpu-py310-cu121-ubuntu20.04-sagemaker",
    "763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-training:2.14.1-cpu-py310-ubuntu20.04-sagemaker",
    "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
    "173754725891.dkr.ecr.us-east-1.amazonaws.com/sagemaker-spark-processing:3.3-cpu-py39-v1.0",
    "763104351884.dkr.ecr.eu-west-1.amazonaws.com/huggingface-pytorch-training:2.0.0-transformers4.28.1-gpu-py310-cu118-ubuntu20.04",
)
CONDA_PACKAGES = (
    "numpy", "pandas", "scikit-learn", "pyarrow", "r-base=4.3", "r-essentials", "gdal", "geopandas",
    "rasterio", "pytables", "h5py", "netcdf4", "xarray", "dask", "numba", "cudatoolkit=11.8",
)


class CorpusFile(NamedTuple):
    path: str  # relative to the corpus folder
    shape: str
    text: str
    mistakes: Tuple[str, ...]


class Doc:
    """A Dockerfile under construction; the escape character matters for continuation lines."""

    def __init__(self, rng: random.Random, escape: str = "\\") -> None:
        self.lines: List[str] = []
        self.escape = escape
        self.mistakes: List[str] = []
        # A per-file style, as authors are consistent: a blank line after each heredoc or none.
        # Both are common, and hadolint parses only the former (hadolint/hadolint#960,
        # hadolint/language-docker#99), so this choice sets its parse-failure rate.
        self.blank_after_heredoc = rng.random() < 0.6

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)

    def blank(self) -> None:
        if self.lines and self.lines[-1] != "":
            self.lines.append("")

    def chain(self, head: str, items: Sequence[str], indent: str = "    ") -> None:
        """One instruction spread over continuation lines, the way long RUNs are written by hand."""
        body = [head] + [indent + item for item in items]
        for index, line in enumerate(body):
            self.lines.append(line if index == len(body) - 1 else f"{line} {self.escape}")

    def close_heredoc(self, marker: str) -> None:
        self.lines.append(marker)
        if self.blank_after_heredoc:
            self.lines.append("")

    def text(self) -> str:
        return "\n".join(self.lines).rstrip("\n") + "\n"


# ---------------------------------------------------------------------------------------------
# Building blocks. Each takes the RNG explicitly so the output depends only on the seed.


def preamble(doc: Doc, rng: random.Random) -> None:
    roll = rng.random()
    if roll < 0.45:
        doc.add("# syntax=docker/dockerfile:1")
    elif roll < 0.6:
        doc.add(f"# syntax=docker/dockerfile:1.{rng.choice((4, 5, 6, 7))}")
    if rng.random() < 0.7:
        doc.add(
            f"# {rng.choice(('Processing', 'Feature engineering', 'Batch inference', 'Evaluation', 'Data validation'))}"
            " container for Amazon SageMaker Processing jobs.",
            "# Build: docker build -t my-processing-image .",
        )
    doc.blank()


def apt_block(doc: Doc, rng: random.Random, count: int, drivers: bool = False, cache_mount: bool = False) -> None:
    packages = sorted(rng.sample(APT_PACKAGES, min(count, len(APT_PACKAGES))))
    if drivers:
        # The classic mistake: drivers belong to the host, the toolkit injects them at run time.
        packages.extend(rng.sample(NVIDIA_DRIVER_PACKAGES, rng.randint(1, 2)))
        doc.mistakes.append("nvidia-driver-package")
    items: List[str] = []
    if rng.random() < 0.3:
        items.append("        # build and runtime dependencies")
    items += packages
    mount = " --mount=type=cache,target=/var/cache/apt,sharing=locked" if cache_mount else ""
    # Written by hand rather than through chain() so the `&&` placement matches real files.
    lines = [f"RUN{mount} apt-get update {doc.escape}",
             f"    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends {doc.escape}"]
    for item in items:
        lines.append(item if item.lstrip().startswith("#") else f"        {item} {doc.escape}")
    lines.append("    && apt-get clean " + doc.escape)
    lines.append("    && rm -rf /var/lib/apt/lists/*")
    doc.add(*lines)


def pip_block(doc: Doc, rng: random.Random, count: int) -> None:
    packages = sorted(rng.sample(PIP_PACKAGES, count))
    mount = rng.random() < 0.35
    if mount:
        doc.chain("RUN --mount=type=cache,target=/root/.cache/pip pip install --upgrade pip setuptools wheel && pip install", packages)
    else:
        doc.chain("RUN pip install --no-cache-dir --upgrade pip && pip install --no-cache-dir", packages)


def torch_block(doc: Doc, rng: random.Random, cuda_tag: str) -> None:
    version = rng.choice(("2.1.2", "2.2.1", "2.3.0", "2.4.1"))
    vision = {"2.1.2": "0.16.2", "2.2.1": "0.17.1", "2.3.0": "0.18.0", "2.4.1": "0.19.1"}[version]
    doc.chain(
        "RUN pip install --no-cache-dir",
        [f"torch=={version}", f"torchvision=={vision}", f"--index-url https://download.pytorch.org/whl/{cuda_tag}"],
    )


def conda_block(doc: Doc, rng: random.Random) -> None:
    doc.add(
        "ARG MINICONDA_VERSION=py310_23.11.0-2",
        "ENV CONDA_DIR=/opt/conda",
        'ENV PATH="${CONDA_DIR}/bin:${PATH}"',
    )
    doc.chain(
        "RUN curl -fsSL -o /tmp/miniconda.sh https://repo.anaconda.com/miniconda/Miniconda3-${MINICONDA_VERSION}-Linux-x86_64.sh",
        ["&& bash /tmp/miniconda.sh -b -p ${CONDA_DIR}", "&& rm /tmp/miniconda.sh",
         "&& conda config --system --set always_yes yes", "&& conda clean -afy"],
    )
    packages = sorted(rng.sample(CONDA_PACKAGES, rng.randint(3, 7)))
    doc.chain("RUN conda install -y -c conda-forge", packages + ["&& conda clean -afy"])


def env_block(doc: Doc, rng: random.Random) -> None:
    doc.add(
        "ARG PYTHON_VERSION=3.10",
        "ARG APP_HOME",
        "ENV APP_HOME=${APP_HOME:-/opt/program}",
    )
    doc.chain(
        "ENV PYTHONUNBUFFERED=1",
        ["PYTHONDONTWRITEBYTECODE=1", "PIP_DISABLE_PIP_VERSION_CHECK=1",
         'PATH="/opt/program:${PATH}"', "LANG=C.UTF-8",
         f"LOG_LEVEL=${{LOG_LEVEL:-{rng.choice(('INFO', 'DEBUG', 'WARNING'))}}}"],
    )
    if rng.random() < 0.4:
        doc.add("ENV LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:+:${LD_LIBRARY_PATH}}")
    if rng.random() < 0.3:
        doc.add("ENV OLD_STYLE_VAR legacy value with spaces")


def label_block(doc: Doc, rng: random.Random) -> None:
    doc.chain(
        'LABEL maintainer="ml-platform@example.com"',
        ['org.opencontainers.image.source="https://github.com/example/processing"',
         f'org.opencontainers.image.version="{rng.randint(0, 3)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}"',
         "com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true"],
    )


def heredoc_run(doc: Doc, rng: random.Random, body_lines: int = 0) -> None:
    style = rng.choice(("plain", "bash", "python", "dash"))
    if style == "python":
        doc.add("RUN python3 <<'PY'", "import sys, platform", "print('python', sys.version)", "print(platform.platform())")
        for index in range(body_lines):
            doc.add(f"assert {index} >= 0, 'sanity check {index}'")
        doc.close_heredoc("PY")
        return
    if style == "dash":
        doc.add("RUN <<-EOT", "\tset -eu", "\tmkdir -p /opt/program /var/log/processing")
        for index in range(body_lines):
            doc.add(f"\techo 'step {index}' >> /var/log/processing/setup.log")
        doc.close_heredoc("EOT")
        return
    doc.add("RUN <<EOF bash" if style == "bash" else "RUN <<EOF", "set -euxo pipefail" if style == "bash" else "set -eux")
    doc.add("useradd --create-home --uid 1000 --shell /bin/bash processing",
            "mkdir -p /opt/program && chown -R processing:processing /opt/program")
    for index in range(body_lines):
        doc.add(f'echo "configuring component {index}" && test -d /opt/program')
    doc.close_heredoc("EOF")


def copy_heredoc(doc: Doc, rng: random.Random, target: str) -> None:
    # A quoted terminator switches off variable expansion in the body; real files use both.
    marker = '"EOF"' if rng.random() < 0.5 else "EOF"
    doc.add(f"COPY <<{marker} {target}")
    doc.add("{", '  "log_level": "${LOG_LEVEL}",', '  "max_workers": 4,', '  "output_format": "parquet"', "}")
    doc.close_heredoc("EOF")


def workdir_copy(doc: Doc, rng: random.Random, opt_ml_mistake: bool) -> None:
    doc.add("WORKDIR /opt/program")
    doc.add("COPY requirements.txt ." if rng.random() < 0.5 else "COPY --chown=1000:1000 requirements.txt /opt/program/")
    doc.add("COPY src/ /opt/program/")
    if opt_ml_mistake:
        target = rng.choice((
            "COPY config/processing.json /opt/ml/processing/input/config/",
            "COPY model.tar.gz /opt/ml/model/",
            "RUN mkdir -p /opt/ml/processing/output && touch /opt/ml/processing/output/.keep",
            "ADD data/sample.csv /opt/ml/processing/input/data/sample.csv",
        ))
        doc.add(target)
        doc.mistakes.append("opt-ml-file")


def entrypoint(doc: Doc, rng: random.Random, shell_mistake: bool) -> None:
    script = rng.choice(("processing.py", "preprocess.py", "evaluate.py", "run.py"))
    if shell_mistake:
        doc.add(rng.choice((f"ENTRYPOINT python3 /opt/program/{script}", f"ENTRYPOINT exec python3 {script} --mode processing")))
        doc.mistakes.append("shell-form-entrypoint")
        return
    if rng.random() < 0.25:
        doc.add('ENTRYPOINT ["/usr/bin/tini", "--", "python3"]', f'CMD ["/opt/program/{script}"]')
    else:
        doc.add(f'ENTRYPOINT ["python3", "/opt/program/{script}"]')


def tail_block(doc: Doc, rng: random.Random) -> None:
    if rng.random() < 0.3:
        doc.chain("HEALTHCHECK --interval=30s --timeout=5s --retries=3", ["CMD curl -fsS http://localhost:8080/ping || exit 1"])
    if rng.random() < 0.2:
        doc.add("EXPOSE 8080")
    if rng.random() < 0.15:
        doc.add("STOPSIGNAL SIGTERM")
    if rng.random() < 0.6:
        doc.add("USER processing" if rng.random() < 0.5 else "USER 1000:1000")


# ---------------------------------------------------------------------------------------------
# Shapes: one function per family of real-world Dockerfile.


class Mistakes(NamedTuple):
    opt_ml: bool
    drivers: bool
    shell_entrypoint: bool


def draw_mistakes(rng: random.Random) -> Mistakes:
    # About a quarter of real-world processing images carry at least one of these.
    return Mistakes(rng.random() < 0.12, rng.random() < 0.08, rng.random() < 0.12)


def shape_cuda_multistage(rng: random.Random, m: Mistakes, extra: int = 0) -> Doc:
    doc = Doc(rng)
    devel, runtime, tag = rng.choice(CUDA_BASES)
    preamble(doc, rng)
    doc.add(f"ARG BUILDER_IMAGE={devel}", f"ARG RUNTIME_IMAGE={runtime}")
    doc.blank()
    doc.add("FROM ${BUILDER_IMAGE} AS builder")
    apt_block(doc, rng, rng.randint(20, 45), cache_mount=rng.random() < 0.3)
    doc.add("RUN python3 -m venv /opt/venv", 'ENV PATH="/opt/venv/bin:${PATH}"')
    torch_block(doc, rng, tag)
    pip_block(doc, rng, rng.randint(5, 15))
    for _ in range(extra):
        pip_block(doc, rng, rng.randint(10, 25))
        apt_block(doc, rng, rng.randint(30, 55))
        heredoc_run(doc, rng, rng.randint(10, 40))
    doc.blank()
    doc.add("FROM ${RUNTIME_IMAGE} AS runtime")
    env_block(doc, rng)
    apt_block(doc, rng, rng.randint(20, 35), drivers=m.drivers)
    doc.add("COPY --from=builder /opt/venv /opt/venv", 'ENV PATH="/opt/venv/bin:${PATH}"')
    heredoc_run(doc, rng)
    workdir_copy(doc, rng, m.opt_ml)
    label_block(doc, rng)
    tail_block(doc, rng)
    entrypoint(doc, rng, m.shell_entrypoint)
    return doc


def shape_cpu_pip(rng: random.Random, m: Mistakes, extra: int = 0) -> Doc:
    doc = Doc(rng)
    preamble(doc, rng)
    doc.add(f"FROM {rng.choice(CPU_BASES)}")
    env_block(doc, rng)
    apt_block(doc, rng, rng.randint(20, 40), drivers=m.drivers)
    if rng.random() < 0.5:
        doc.add("COPY requirements.txt /tmp/requirements.txt",
                "RUN pip install --no-cache-dir -r /tmp/requirements.txt && rm /tmp/requirements.txt")
    pip_block(doc, rng, rng.randint(4, 18))
    for _ in range(extra):
        apt_block(doc, rng, rng.randint(30, 55))
        pip_block(doc, rng, rng.randint(10, 30))
    if rng.random() < 0.5:
        copy_heredoc(doc, rng, "/opt/program/config.json")
    workdir_copy(doc, rng, m.opt_ml)
    tail_block(doc, rng)
    entrypoint(doc, rng, m.shell_entrypoint)
    return doc


def shape_conda(rng: random.Random, m: Mistakes, extra: int = 0) -> Doc:
    doc = Doc(rng)
    preamble(doc, rng)
    doc.add(f"FROM {rng.choice(('ubuntu:22.04', 'debian:bookworm-slim', 'nvidia/cuda:11.8.0-runtime-ubuntu22.04'))}")
    doc.add("SHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]")
    apt_block(doc, rng, rng.randint(20, 30), drivers=m.drivers)
    conda_block(doc, rng)
    doc.add("COPY <<EOF /tmp/environment.yml", "name: processing", "channels:", "  - conda-forge", "dependencies:",
            "  - python=3.10", "  - pip", "  - pip:", "    - sagemaker==2.203.0")
    doc.close_heredoc("EOF")
    doc.add("RUN conda env update -n base -f /tmp/environment.yml && conda clean -afy")
    for _ in range(extra):
        conda_block(doc, rng)
        heredoc_run(doc, rng, rng.randint(20, 50))
    workdir_copy(doc, rng, m.opt_ml)
    label_block(doc, rng)
    tail_block(doc, rng)
    entrypoint(doc, rng, m.shell_entrypoint)
    return doc


def shape_dlc_extend(rng: random.Random, m: Mistakes, extra: int = 0) -> Doc:
    doc = Doc(rng)
    preamble(doc, rng)
    doc.add("ARG REGION=us-west-2", f"FROM {rng.choice(DLC_BASES)}")
    doc.add("# Extend the AWS Deep Learning Container with project dependencies.")
    apt_block(doc, rng, rng.randint(20, 28), drivers=m.drivers)
    pip_block(doc, rng, rng.randint(3, 10))
    for _ in range(extra):
        pip_block(doc, rng, rng.randint(10, 30))
        heredoc_run(doc, rng, rng.randint(20, 40))
    workdir_copy(doc, rng, m.opt_ml)
    doc.add("ENV SAGEMAKER_PROGRAM=processing.py")
    tail_block(doc, rng)
    entrypoint(doc, rng, m.shell_entrypoint)
    return doc


def shape_spark(rng: random.Random, m: Mistakes, extra: int = 0) -> Doc:
    doc = Doc(rng)
    preamble(doc, rng)
    doc.add("ARG SPARK_VERSION=3.5.0", "ARG HADOOP_VERSION=3", "FROM eclipse-temurin:17-jre-jammy AS spark")
    apt_block(doc, rng, rng.randint(20, 30), drivers=m.drivers)
    doc.add("ARG SPARK_VERSION", "ARG HADOOP_VERSION", "ENV SPARK_HOME=/opt/spark")
    doc.chain(
        "RUN curl -fsSL https://archive.apache.org/dist/spark/spark-${SPARK_VERSION}/spark-${SPARK_VERSION}-bin-hadoop${HADOOP_VERSION}.tgz",
        ["| tar -xz -C /opt", "&& mv /opt/spark-${SPARK_VERSION}-bin-hadoop${HADOOP_VERSION} ${SPARK_HOME}"],
    )
    doc.add('ENV PATH="${SPARK_HOME}/bin:${PATH}" PYSPARK_PYTHON=python3')
    pip_block(doc, rng, rng.randint(3, 8))
    for _ in range(extra):
        apt_block(doc, rng, rng.randint(30, 50))
        heredoc_run(doc, rng, rng.randint(10, 30))
    workdir_copy(doc, rng, m.opt_ml)
    doc.add("COPY --chmod=0755 entrypoint.sh /usr/local/bin/")
    tail_block(doc, rng)
    entrypoint(doc, rng, m.shell_entrypoint)
    return doc


def shape_r(rng: random.Random, m: Mistakes, extra: int = 0) -> Doc:
    doc = Doc(rng)
    preamble(doc, rng)
    doc.add(f"FROM rocker/r-ver:{rng.choice(('4.3.2', '4.2.3', '4.4.0'))}")
    apt_block(doc, rng, rng.randint(20, 30), drivers=m.drivers)
    libraries = ("data.table", "dplyr", "readr", "arrow", "aws.s3", "jsonlite", "caret", "xgboost", "ranger")
    picked = sorted(rng.sample(libraries, 5))
    doc.add("RUN Rscript -e \"install.packages(c(" + ", ".join(f"'{p}'" for p in picked) + "), repos='https://cloud.r-project.org')\"")
    for _ in range(extra):
        apt_block(doc, rng, rng.randint(30, 50))
    workdir_copy(doc, rng, m.opt_ml)
    tail_block(doc, rng)
    if m.shell_entrypoint:
        doc.add("ENTRYPOINT Rscript /opt/program/processing.R")
        doc.mistakes.append("shell-form-entrypoint")
    else:
        doc.add('ENTRYPOINT ["Rscript", "/opt/program/processing.R"]')
    return doc


def shape_windows(rng: random.Random, m: Mistakes, extra: int = 0) -> Doc:
    """Windows Server Core images: the escape character is a backtick so `C:\\` paths read naturally."""
    doc = Doc(rng, escape="`")
    doc.add("# escape=`", "")
    doc.add(f"FROM mcr.microsoft.com/windows/servercore:{rng.choice(('ltsc2019', 'ltsc2022'))}")
    doc.add('SHELL ["powershell", "-Command", "$ErrorActionPreference = \'Stop\'; $ProgressPreference = \'SilentlyContinue\';"]')
    doc.add("ENV PYTHON_VERSION=3.11.7", "ENV PYTHON_HOME=C:\\Python")
    doc.chain(
        "RUN Invoke-WebRequest -Uri https://www.python.org/ftp/python/$env:PYTHON_VERSION/python-$env:PYTHON_VERSION-amd64.exe -OutFile python.exe;",
        ["Start-Process python.exe -Wait -ArgumentList '/quiet', 'InstallAllUsers=1', 'TargetDir=C:\\Python', 'PrependPath=1';",
         "Remove-Item python.exe -Force"],
    )
    packages = sorted(rng.sample(PIP_PACKAGES, rng.randint(4, 10)))
    doc.chain("RUN python -m pip install --no-cache-dir", packages)
    for _ in range(extra):
        doc.chain("RUN python -m pip install --no-cache-dir", sorted(rng.sample(PIP_PACKAGES, 20)))
    doc.add("WORKDIR C:\\app", "COPY src\\ C:\\app\\")
    doc.add('ENTRYPOINT ["python", "C:\\\\app\\\\processing.py"]' if not m.shell_entrypoint else "ENTRYPOINT python C:\\app\\processing.py")
    if m.shell_entrypoint:
        doc.mistakes.append("shell-form-entrypoint")
    return doc


ShapeFn = Callable[[random.Random, Mistakes, int], Doc]
SHAPES: Dict[str, ShapeFn] = {
    "cuda-multistage": shape_cuda_multistage,
    "cpu-pip": shape_cpu_pip,
    "conda": shape_conda,
    "dlc-extend": shape_dlc_extend,
    "spark": shape_spark,
    "r": shape_r,
}
# Weighted like a real monorepo: mostly pip/CUDA images, a few of the rest.
SHAPE_WEIGHTS: Dict[str, int] = {"cuda-multistage": 30, "cpu-pip": 30, "conda": 12, "dlc-extend": 15, "spark": 8, "r": 5}


def grow_to(shape: ShapeFn, rng: random.Random, m: Mistakes, target_lines: int) -> Doc:
    """Add repeated sections until the file reaches the target size (big monorepo Dockerfiles)."""
    extra = 0
    while True:
        doc = shape(random.Random(rng.getrandbits(64)), m, extra)
        if len(doc.lines) >= target_lines or extra > 200:
            return doc
        extra += 1


def file_name(rng: random.Random, index: int, shape: str) -> str:
    """Mix the naming conventions sm-lint's directory discovery must recognise."""
    folder = f"{index:03d}-{shape}"
    name = rng.choice(("Dockerfile", "Dockerfile", "Dockerfile", f"{shape}.Dockerfile", "Dockerfile.gpu", "processing.dockerfile"))
    return f"{folder}/{name}"


def generate(seed: int, count: int) -> List[CorpusFile]:
    rng = random.Random(seed)
    files: List[CorpusFile] = []
    # The tail: sizes that stress a parser. Fixed so every corpus has them whatever the count.
    big_targets = [500, 500, 520, 480, 550, 1000, 1050]
    windows = 5
    regular = max(count - len(big_targets) - windows, 0)
    names = list(SHAPE_WEIGHTS)
    weights = [SHAPE_WEIGHTS[n] for n in names]
    plan: List[Tuple[str, Optional[int]]] = [(rng.choices(names, weights)[0], None) for _ in range(regular)]
    plan += [("windows", None)] * windows
    plan += [(rng.choice(("cuda-multistage", "cpu-pip", "conda")), target) for target in big_targets]
    for index, (shape, target) in enumerate(plan):
        sub = random.Random(rng.getrandbits(64))
        mistakes = draw_mistakes(sub)
        fn = shape_windows if shape == "windows" else SHAPES[shape]
        doc = grow_to(fn, sub, mistakes, target) if target else fn(sub, mistakes, 0)
        label = f"{shape}-big" if target else shape
        files.append(CorpusFile(file_name(sub, index, label), label, doc.text(), tuple(doc.mistakes)))
    return files


def buildkit_check(files: Sequence[CorpusFile]) -> Optional[List[str]]:
    """Errors from BuildKit's own parser (PyPI `dockerfile`); None when the package is missing."""
    try:
        import dockerfile  # type: ignore[import-not-found]
    except ImportError:
        return None
    errors = []
    for item in files:
        try:
            dockerfile.parse_string(item.text)
        except Exception as error:  # GoParseError and friends: any rejection is a generator bug
            errors.append(f"{item.path}: {error}")
    return errors


def write_corpus(out: Path, files: Sequence[CorpusFile], seed: int, verified: bool) -> None:
    # Refuse to wipe a folder we did not create: the path comes from the command line.
    if out.exists() and any(out.iterdir()) and not (out / MANIFEST).exists():
        raise SystemExit(f"gen_corpus: {out} is not empty and has no {MANIFEST}; refusing to overwrite it")
    if out.exists():
        shutil.rmtree(out)
    for item in files:
        target = out / item.path
        target.parent.mkdir(parents=True, exist_ok=True)
        # newline="\n": byte-identical output on Windows too (Path.write_text lacks it before 3.10).
        with open(target, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(item.text)
    manifest = {
        "seed": seed,
        "buildkit_verified": verified,
        "files": [
            {"path": f.path, "shape": f.shape, "lines": f.text.count("\n"), "mistakes": list(f.mistakes)} for f in files
        ],
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT, help="number of files (>= 200 recommended)")
    parser.add_argument("--require-buildkit", action="store_true",
                        help="fail when the `dockerfile` package is missing instead of skipping verification")
    args = parser.parse_args(argv)
    files = generate(args.seed, args.count)
    errors = buildkit_check(files)
    if errors is None:
        message = "gen_corpus: WARNING: PyPI `dockerfile` not importable; files NOT verified against BuildKit's parser"
        if args.require_buildkit:
            raise SystemExit(message.replace("WARNING: ", ""))
        print(message, file=sys.stderr)
    elif errors:
        raise SystemExit("gen_corpus: BuildKit rejected generated files:\n  " + "\n  ".join(errors))
    write_corpus(args.out, files, args.seed, errors is not None)
    lines = sorted(f.text.count("\n") for f in files)
    print(f"gen_corpus: wrote {len(files)} files to {args.out} (lines: min {lines[0]}, median {lines[len(lines) // 2]},"
          f" max {lines[-1]}; {sum(1 for f in files if f.mistakes)} with planted mistakes;"
          f" BuildKit-verified: {'yes' if errors is not None else 'no'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
