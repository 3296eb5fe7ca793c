"""Profiles (`--profile`, `profile =`) at the static layers: the flag and the config key, which rules
run under which contract and how reports say so, SM106 on the ways a Dockerfile puts `train`/`serve`
on PATH, SM206 on an image's merged files, and the /opt/ml rules per contract. Every case runs the
CLI as a user does (typer's CliRunner on the real app, real files in a temporary repository)."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
from typer.testing import CliRunner

from image_archives import write_image
from sm_lint import profiles
from sm_lint.catalogue import Catalogue, parse_front_matter
from sm_lint.cli import app
from sm_lint.report import OUTSIDE_PROFILE

CATALOGUE = Catalogue.load()
SERVE_SCRIPT = "#!/bin/sh\nexec /opt/program/server\n"


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / ".git").mkdir()  # the config lookup stops here
    before = os.getcwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(before)


def sm_lint(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def check_json(repo: Path, dockerfile: str, *flags: str, files: Dict[str, str] = {}) -> Dict[str, Any]:
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
        if text.startswith("#!"):  # a script is executable, as in a checkout
            (repo / name).chmod(0o755)
    (repo / "Dockerfile").write_text(dockerfile)
    result = sm_lint("check", "Dockerfile", "-f", "json", *flags)
    assert result.exit_code in (0, 1), result.output
    document: Dict[str, Any] = json.loads(result.stdout)
    return document


def rules(document: Dict[str, Any]) -> List[str]:
    return [f["rule"] for f in document["findings"]]


# -- flag, config, catalogue ---------------------------------------------------------------------

def test_the_flag_and_the_config_key_choose_the_profile(repo: Path) -> None:
    dockerfile = "FROM python:3.11-slim\nCOPY model.pkl /opt/ml/model/\n"
    assert check_json(repo, dockerfile)["profile"] == "processing"
    assert check_json(repo, dockerfile, "--profile", "training")["profile"] == "training"
    (repo / ".sm-lint.toml").write_text('profile = "inference"\n')
    assert check_json(repo, dockerfile)["profile"] == "inference"
    assert check_json(repo, dockerfile, "--profile", "batch-transform")["profile"] == "batch-transform"  # flag wins


@pytest.mark.parametrize("command", ["check", "inspect", "gate"])
def test_an_unknown_profile_is_one_line_and_exit_2(repo: Path, command: str) -> None:
    (repo / "Dockerfile").write_text("FROM scratch\n")
    target = {"check": ["Dockerfile"], "inspect": ["img.tar"], "gate": ["--dockerfile", "Dockerfile"]}[command]
    result = sm_lint(command, *target, "--profile", "hosting")
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1 and "hosting" in result.output


def test_an_unknown_profile_in_config_is_one_line_and_exit_2(repo: Path) -> None:
    (repo / "pyproject.toml").write_text('[tool.sm-lint]\nprofile = "trainng"\n')
    (repo / "Dockerfile").write_text("FROM scratch\n")
    result = sm_lint("check", "Dockerfile")
    assert result.exit_code == 2
    assert result.output.strip() == (f"sm-lint: error: {repo / 'pyproject.toml'}: profile must be one of processing, "
                                      "training, inference, batch-transform (got 'trainng')")


def test_every_rule_page_lists_known_profiles_and_pages_without_the_key_apply_everywhere(tmp_path: Path) -> None:
    for rule in CATALOGUE:
        assert rule.profiles and set(rule.profiles) <= set(profiles.NAMES), rule.id
    meta, _ = parse_front_matter("---\nid: SM999\nprofiles: [inference, batch-transform]\n---\n")
    assert meta["profiles"] == ["inference", "batch-transform"]
    page = "---\nid: SM999\nname: x\ntitle: X\nseverity: error\nlayer: image\n{}---\n## What it does\n"
    (tmp_path / "SM999.md").write_text(page.format(""))
    assert all(Catalogue.load(tmp_path)["SM999"].applies(name) for name in profiles.NAMES)
    (tmp_path / "SM999.md").write_text(page.format("profiles: [inference, hosting]\n"))
    with pytest.raises(Exception, match="profiles: hosting"):
        Catalogue.load(tmp_path)


def test_rules_lists_the_profiles(repo: Path) -> None:
    table = sm_lint("rules").stdout
    assert any(line.startswith("SM106 ") and "training, inference, batch-transform" in line for line in table.splitlines())
    records = json.loads(sm_lint("rules", "--format", "json").stdout)
    assert {r["id"]: r["profiles"] for r in records}["SM104"] == ["processing"]
    assert "profiles: training, inference, batch-transform" in sm_lint("rules", "SM206").stdout


# -- which rules run, and the reports -----------------------------------------------------------

def test_rules_outside_the_profile_do_not_run_and_are_listed_as_skipped(repo: Path) -> None:
    # No ENTRYPOINT or CMD: SM104 under processing; under training that is SM106's (may) finding.
    dockerfile = "FROM python:3.11-slim\nCOPY train.py /opt/program/\n"
    processing = check_json(repo, dockerfile)
    assert rules(processing) == ["SM104"]
    skipped = {s["rule"]: s["reason"] for s in processing["skipped"]}
    assert skipped == {"SM106": OUTSIDE_PROFILE + "processing profile (applies under training, inference, "
                                                  "batch-transform)"}
    training = check_json(repo, dockerfile, "--profile", "training")
    assert rules(training) == ["SM106"]
    assert {s["rule"] for s in training["skipped"]} == {"SM101", "SM102", "SM104"}
    text = sm_lint("check", "Dockerfile", "--profile", "training").stdout
    assert text.splitlines()[-1] == "1 file checked against the training profile: 1 finding (1 warning); failed (fail-on warning)"


def test_the_profile_is_in_every_run_level_report(repo: Path) -> None:
    (repo / "Dockerfile").write_text("FROM python:3.11-slim\nENTRYPOINT [\"python3\", \"/opt/program/serve.py\"]\n")
    result = sm_lint("check", "Dockerfile", "--profile", "inference", "--report", "junit=j.xml",
                     "--report", "sarif=s.json", "--report", "html=r.html", "--report", "json=r.json")
    assert result.exit_code == 0, result.output
    assert json.loads((repo / "r.json").read_text())["profile"] == "inference"
    sarif_run = json.loads((repo / "s.json").read_text())["runs"][0]
    assert sarif_run["properties"]["profile"] == "inference"
    rules_by_id = {rule["id"]: rule for rule in sarif_run["tool"]["driver"]["rules"]}
    assert rules_by_id["SM106"]["properties"]["profiles"] == ["training", "inference", "batch-transform"]
    junit = (repo / "j.xml").read_text()
    assert 'name="sm-lint dockerfile (inference): Dockerfile"' in junit
    assert '<property name="profile" value="inference" />' in junit
    assert 'against the <span class="profile">inference</span> profile' in (repo / "r.html").read_text()
    (repo / "Dockerfile").write_text("FROM scratch\n")
    github = sm_lint("check", "Dockerfile", "--profile", "inference", "-f", "github").stdout
    assert "title=SM106 The image cannot take SageMaker's `train` or `serve` argument (inference)::" in github


def test_gate_passes_the_profile_to_every_layer(repo: Path) -> None:
    (repo / "Dockerfile").write_text("FROM scratch\nCOPY model.bin /opt/ml/model/\n")
    result = sm_lint("gate", "--dockerfile", "Dockerfile", "--profile", "training", "-f", "json", "--quiet")
    document = json.loads(result.stdout)
    assert document["profile"] == "training"
    assert rules(document) == ["SM106", "SM110"]
    assert "SageMaker Training mounts /opt/ml/model over it" in document["findings"][1]["message"]
    (repo / ".sm-lint.toml").write_text('profile = "inference"\n')  # the config's profile, without the flag
    result = sm_lint("gate", "--dockerfile", "Dockerfile", "-f", "json", "--quiet")
    assert json.loads(result.stdout)["profile"] == "inference"


# -- SM106: the Dockerfile ---------------------------------------------------------------------

@pytest.mark.parametrize("dockerfile, files", [
    # a file named serve copied into a folder that ENV adds to PATH
    ("FROM python:3.11-slim\nCOPY serve /opt/program/serve\nENV PATH=/opt/program:$PATH\n", {"serve": SERVE_SCRIPT}),
    # into a default PATH folder, by name
    ("FROM python:3.11-slim\nCOPY app/serve.sh /usr/local/bin/serve\n", {"app/serve.sh": SERVE_SCRIPT}),
    # a folder copied onto a PATH folder, its `serve` read from the build context
    ('FROM python:3.11-slim\nCOPY program /opt/program\nENV PATH="/opt/program:${PATH}"\n', {"program/serve": SERVE_SCRIPT}),
    # a glob that matches it
    ("FROM python:3.11-slim\nCOPY bin/* /usr/local/bin/\n", {"bin/serve": SERVE_SCRIPT}),
    # a heredoc made executable
    ("# syntax=docker/dockerfile:1\nFROM python:3.11-slim\nCOPY --chmod=755 <<EOF /usr/local/bin/serve\n#!/bin/sh\nEOF\n",
     {}),
    # a file without the execute bit that a RUN chmods (-R on its folder)
    ("FROM python:3.11-slim\nCOPY program /opt/program\nRUN chmod -R +x /opt/program\nENV PATH=/opt/program:$PATH\n",
     {"program/serve": "python3 -m server\n"}),
    # a RUN that links or writes one
    ("FROM python:3.11-slim\nCOPY serve.py /opt/program/\nRUN ln -s /opt/program/serve.py /usr/local/bin/serve\n",
     {"serve.py": "print(1)\n"}),
    ("FROM python:3.11-slim\nCOPY serve /opt/program/\nRUN ln -s /opt/program/serve /usr/bin/\n", {"serve": SERVE_SCRIPT}),
    ("FROM python:3.11-slim\nRUN printf '#!/bin/sh\\n' > /usr/local/bin/serve && chmod +x /usr/local/bin/serve\n", {}),
    # a pip package that installs `serve` (data/profiles.toml [programs])
    ("FROM python:3.11-slim\nRUN pip install --no-cache-dir sagemaker-pytorch-inference==2.0.*\n", {}),
    # an earlier stage of the FROM chain, and an exec-form ENTRYPOINT
    ("FROM python:3.11-slim AS base\nCOPY serve /usr/local/bin/\nFROM base\n", {"serve": SERVE_SCRIPT}),
    ('FROM python:3.11-slim\nENTRYPOINT ["python3", "-m", "app"]\n', {}),
])
def test_sm106_sees_serve_put_on_path(repo: Path, dockerfile: str, files: Dict[str, str]) -> None:
    assert rules(check_json(repo, dockerfile, "--profile", "inference", files=files)) == []


@pytest.mark.parametrize("dockerfile, files, why", [
    ("FROM scratch\nCOPY serve /usr/local/bin/serve\n", {"serve": "python3 -m server\n"},
     "serve in the build context has mode 0644"),
    ("FROM scratch\nCOPY program /usr/local/bin\n", {"program/serve": "python3 -m server\n"},
     "program/serve in the build context has mode 0644"),
    ("# syntax=docker/dockerfile:1\nFROM scratch\nCOPY <<EOF /usr/local/bin/serve\n#!/bin/sh\nEOF\n", {},
     "the heredoc EOF is written with mode 0664"),
    ("FROM scratch\nCOPY bin/* /usr/local/bin/\n", {"bin/serve": "python3 -m server\n"},
     "bin/serve in the build context has mode 0644"),
])
def test_sm106_a_serve_without_the_execute_bit(repo: Path, dockerfile: str, files: Dict[str, str], why: str) -> None:
    (finding,) = check_json(repo, dockerfile, "--profile", "inference", files=files)["findings"]
    assert finding["rule"] == "SM106" and finding["line"] == dockerfile.count("\n", 0, dockerfile.index("COPY")) + 1
    assert f"puts one at /usr/local/bin/serve, but {why} and nothing in the Dockerfile makes it executable, so " \
           "Docker passes over it and the container fails to start (exec: \"serve\": executable file not found in " \
           "$PATH)" in finding["message"]


def test_sm106_a_link_named_otherwise_is_not_serve(repo: Path) -> None:
    # `ln -s .../serve.py /usr/bin/` makes /usr/bin/serve.py, which `docker run IMAGE serve` does not find
    document = check_json(repo, "FROM python:3.11-slim\nCOPY serve.py /opt/program/\nRUN ln -s /opt/program/serve.py "
                                "/usr/bin/\n", "--profile", "inference", files={"serve.py": ""})
    assert rules(document) == ["SM106"]


def test_sm106_wants_the_program_on_the_path_the_image_has(repo: Path) -> None:
    # serve sits in /opt/program, which FROM scratch's PATH (ENV PATH=/bin) does not search
    document = check_json(repo, "FROM scratch\nCOPY serve /opt/program/serve\nENV PATH=/bin\n", "--profile", "inference",
                          files={"serve": SERVE_SCRIPT})
    (finding,) = document["findings"]
    assert finding["rule"] == "SM106" and finding["line"] == 1
    assert finding["message"] == (
        "SageMaker real-time inference (Hosting) runs `docker run IMAGE serve`, but the image is built FROM scratch "
        "and sets no ENTRYPOINT, so Docker looks for a program `serve` on PATH (/bin) and the Dockerfile puts none "
        "there: the container fails to start (exec: \"serve\": executable file not found in $PATH)")


def test_sm106_folder_copy_without_the_program_in_the_context(repo: Path) -> None:
    document = check_json(repo, 'FROM scratch\nCOPY program /opt/program\nENV PATH="/opt/program"\n',
                          "--profile", "training", files={"program/serve": SERVE_SCRIPT})
    assert rules(document) == ["SM106"]  # program/ has serve, not train
    assert "`train` on PATH (/opt/program)" in document["findings"][0]["message"]


def test_sm106_says_may_for_an_external_base_and_names_what_settles_it(repo: Path) -> None:
    (finding,) = check_json(repo, "FROM nvidia/cuda:12.2.0-runtime-ubuntu22.04\nCOPY train.py /opt/program/\n",
                            "--profile", "training")["findings"]
    assert finding["rule"] == "SM106"
    assert "the container may not start (unless the base image 'nvidia/cuda:12.2.0-runtime-ubuntu22.04' provides an " \
           "ENTRYPOINT or a `train` program" in finding["message"]
    assert finding["message"].endswith("check the built image with `sm-lint inspect IMAGE --profile training`")


def test_sm106_shell_form_entrypoint_drops_the_argument_and_keeps_sigterm_from_the_program(repo: Path) -> None:
    (finding,) = check_json(repo, "FROM python:3.11-slim\nENTRYPOINT python3 /opt/program/serve.py\n",
                            "--profile", "inference")["findings"]
    assert finding["rule"] == "SM106" and finding["line"] == 2
    assert "so `serve` never reaches the program" in finding["message"]
    assert "SIGTERM goes to the shell, which does not pass it on" in finding["message"]
    assert "SIGINT" not in finding["message"]
    assert finding["fix"] == 'Use exec form: ENTRYPOINT ["python3", "/opt/program/serve.py"]'


# -- /opt/ml per contract ---------------------------------------------------------------------

OPT_ML = """\
FROM python:3.11-slim
COPY train.py /opt/ml/code/train.py
COPY model.pkl /opt/ml/model/model.pkl
RUN mkdir -p /opt/ml/input/data/train
ENTRYPOINT ["python3", "/opt/ml/code/train.py"]
"""


def test_opt_ml_rules_know_what_each_profile_mounts(repo: Path) -> None:
    def found(profile: str) -> List[tuple]:
        return [(f["rule"], f["line"]) for f in check_json(repo, OPT_ML, "--profile", profile)["findings"]]

    assert found("processing") == [("SM110", 2), ("SM110", 3), ("SM114", 4)]
    assert found("training") == [("SM110", 3), ("SM114", 4)]  # /opt/ml/code is the toolkit's layout
    assert found("inference") == [("SM110", 3)] == found("batch-transform")  # only the model is mounted
    training = check_json(repo, OPT_ML, "--profile", "training")["findings"]
    assert training[0]["message"] == ("COPY puts model.pkl at /opt/ml/model/model.pkl: SageMaker Training mounts "
                                      "/opt/ml/model over it at start, so it will not be there when the container runs")
    assert "ProcessingInput" not in json.dumps(training)
    assert training[1]["message"].startswith("RUN creates the folder /opt/ml/input/data/train: SageMaker Training "
                                             "mounts /opt/ml/input itself")


# -- SM206 and SM210: the image ---------------------------------------------------------------

def inspect_json(repo: Path, layers: List[list], config: Dict[str, Any], profile: str) -> Dict[str, Any]:
    archive = write_image(repo / "img.tar", layers, config)
    result = sm_lint("inspect", archive, "--profile", profile, "-f", "json")
    assert result.exit_code in (0, 1), result.output
    document: Dict[str, Any] = json.loads(result.stdout)
    return document


def test_sm206_follows_links_inside_the_image(repo: Path) -> None:
    layers = [[("usr", "dir"), ("usr/bin", "dir"), ("bin", "symlink", None, "usr/bin"),
               ("opt/program/serve.py", "file", 10, "", 0o755),
               ("usr/bin/serve", "symlink", None, "../../opt/program/serve.py")]]
    config = {"Env": ["PATH=/bin"]}
    inference = inspect_json(repo, layers, config, "inference")
    assert rules(inference) == [] and inference["facts"]["effective command"] == "serve"
    assert inference["facts"]["request"] == "SageMaker real-time inference (Hosting): `docker run IMAGE serve`"
    (finding,) = inspect_json(repo, layers, config, "training")["findings"]
    assert finding["rule"] == "SM206"
    assert finding["message"] == (
        "SageMaker Training runs `docker run IMAGE train`, and the image has no Entrypoint, so Docker runs `train` "
        "from PATH, but no folder of PATH=/bin holds a file named `train`: the container fails to start "
        "(exec: \"train\": executable file not found in $PATH)")


def test_sm204_is_processings_and_sm206_takes_over(repo: Path) -> None:
    layers = [[("usr/local/bin/train", "file", 10, "", 0o755)]]
    assert rules(inspect_json(repo, layers, {}, "processing")) == ["SM204"]
    assert rules(inspect_json(repo, layers, {}, "training")) == []  # Docker's default PATH finds train
    assert rules(inspect_json(repo, layers, {}, "inference")) == ["SM206"]


def test_sm210_per_profile(repo: Path) -> None:
    layers = [[("opt/ml/code/train.py", "file", 10), ("opt/ml/model/model.pkl", "file", 2048)]]
    config = {"Entrypoint": ["python3", "/opt/ml/code/train.py"]}
    processing = inspect_json(repo, layers, config, "processing")["findings"]
    assert [f["rule"] for f in processing] == ["SM210"] and len(processing[0]["evidence"]) == 2
    (training,) = inspect_json(repo, layers, config, "training")["findings"]
    assert training["message"] == ("1 file (2.0 KiB) under /opt/ml/model: SageMaker Training mounts over "
                                   "/opt/ml/model at start, so the container will not see them")
    assert training["evidence"][0].startswith("/opt/ml/model/model.pkl")


@pytest.mark.parametrize("base, profile, expected", [
    ("763104351884.dkr.ecr.us-west-2.amazonaws.com/pytorch-training:2.3-gpu-py311", "training", []),
    ("${DLC_ACCOUNT}.dkr.ecr.${REGION}.amazonaws.com/tensorflow-training:2.14-cpu", "training", []),
    ("763104351884.dkr.ecr.us-west-2.amazonaws.com/pytorch-inference:2.3-cpu-py311", "inference", []),
    # a training DLC has no `serve`; an account's own repository named *-training may hold anything
    ("763104351884.dkr.ecr.us-west-2.amazonaws.com/pytorch-training:2.3-gpu-py311", "inference", ["SM106"]),
    ("123456789012.dkr.ecr.us-east-1.amazonaws.com/my-training:1", "training", ["SM106"]),
])
def test_sm106_knows_the_deep_learning_container_bases(repo: Path, base: str, profile: str,
                                                        expected: List[str]) -> None:
    dockerfile = f"ARG DLC_ACCOUNT\nARG REGION\nFROM {base}\nCOPY train.py /opt/ml/code/train.py\n"
    assert rules(check_json(repo, dockerfile, "--profile", profile)) == expected


def test_sm206_reads_the_execute_bit_from_the_layer(repo: Path) -> None:
    executable = [[("opt/program/serve", "file", "#!/bin/sh\n", "", 0o755)]]
    config = {"Env": ["PATH=/opt/program:/bin"], "Cmd": ["/bin/sh"]}
    assert rules(inspect_json(repo, executable, config, "inference")) == []
    # the same file without the execute bit, then a later layer that chmods it
    plain = [[("opt/program/serve", "file", "#!/bin/sh\n", "", 0o644)]]
    (finding,) = inspect_json(repo, plain, config, "inference")["findings"]
    assert finding["rule"] == "SM206" and finding["message"] == (
        "SageMaker real-time inference (Hosting) runs `docker run IMAGE serve`, and the image has no Entrypoint, so "
        "Docker looks for an executable `serve` on PATH: /opt/program/serve is there but has mode 0644, no execute "
        "bit, so Docker passes over it and the container fails to start (exec: \"serve\": executable file not found "
        "in $PATH)")
    fixed = plain + [[("opt/program/serve", "file", "#!/bin/sh\n", "", 0o755)]]
    assert rules(inspect_json(repo, fixed, config, "inference")) == []
