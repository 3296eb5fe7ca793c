"""Every rule page is also its test: each bad example must raise its rule, each good one nothing.

Examples run through the same path as `sm-lint check` (config lookup included), in a temporary
build context holding the page's `file=` blocks and its `toml config` block.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

import pytest

import json

from docker_support import build_image
from image_archives import Image, docker_save
from sm_lint.catalogue import Catalogue, Example, Rule
from sm_lint.check import CheckOptions, run_check
from sm_lint.dockerfile.checks import CHECKS, ENGINE_RULES
from sm_lint.harness.jobspec import Overrides, load_request, validate
from sm_lint.image.checks import CHECKS as IMAGE_CHECKS
from sm_lint.inspect_command import InspectOptions, run_inspect
from sm_lint.gate_command import BUILD_RULE
from sm_lint.image.build import build
from sm_lint.run_command import SCENARIO_RULES, RunOptions, run_harness

CATALOGUE = Catalogue.load()


ENGINE_LANGUAGES = ("container", "build")  # examples that need a Docker engine


def _cases(engine: bool = False) -> List[pytest.param]:
    cases = []
    for rule in CATALOGUE:
        for example in rule.examples():
            if (example.language in ENGINE_LANGUAGES) == engine:
                profile = dict(example.options).get("profile")
                suffix = f"-{profile}" if profile else ""
                cases.append(pytest.param(rule, example, id=f"{rule.id}-{example.kind}{suffix}-L{example.line}"))
    return cases


def _image_entries(files: dict) -> list:
    """The page's `{"path": size | "dir" | {"link": target} | {"size": n, "mode": "755"}}`, `.wh.NAME`
    for deletions; files are 0644 unless a mode is given."""
    entries = []
    for path, value in files.items():
        relative = path.lstrip("/")
        folder, _, name = relative.rstrip("/").rpartition("/")
        if name.startswith(".wh."):
            entries.append(((folder + "/" if folder else "") + name[4:], "whiteout"))
        elif value == "dir" or path.endswith("/"):
            entries.append((relative.rstrip("/"), "dir"))
        elif isinstance(value, dict) and "link" in value:
            entries.append((relative, "symlink", None, value["link"]))
        elif isinstance(value, dict):  # {"size": 300, "mode": "755"}: a file with its permission bits
            entries.append((relative, "file", value.get("size", 0), "", int(value.get("mode", "644"), 8)))
        else:
            entries.append((relative, "file", value))
    return entries


def _run_image(example: Example, tmp_path: Path, profile: Optional[str] = None) -> List[str]:
    """An `image` example becomes a real docker-save archive, checked as `sm-lint inspect` would."""
    spec = json.loads(example.text)
    config = dict(spec.get("config", {}))
    architecture = config.pop("architecture", "amd64")
    layers = spec.get("layers", [])
    history = [layer.get("created_by", f"layer {i}") for i, layer in enumerate(layers)]
    history += [{"created_by": step, "empty_layer": True} for step in spec.get("history", [])]
    image = Image([_image_entries(layer.get("files", {})) for layer in layers], config,
                  platform=f"linux/{architecture}", history=history)
    archive = tmp_path / "image.tar"
    archive.write_bytes(docker_save([image]))
    options = dict(example.options)
    result = run_inspect(str(archive), InspectOptions(
        gpu=options.get("gpu"), arguments=tuple(v for k, v in example.options if k == "arg"), profile=profile),
        CATALOGUE)
    return [f"{f.rule}:{f.location.line}: {f.message}" for f in result.findings]


def _run_request(example: Example, tmp_path: Path) -> List[str]:
    """A `json` example is a CreateProcessingJob request, validated as `sm-lint run` will."""
    request = tmp_path / "job.json"
    request.write_text(example.text)
    return [f"SM300:0: {hit.message}" for hit in validate(load_request(str(request), Overrides()))]


def _run(example: Example, tmp_path: Path, profile: Optional[str] = None) -> List[str]:
    """Run one example under `profile` (the fence's `profile=`, see Rule.example_profile)."""
    if example.language == "image":
        return _run_image(example, tmp_path, profile)
    if example.language == "json":
        return _run_request(example, tmp_path)
    (tmp_path / ".git").mkdir()  # stop the config lookup here
    for name, content in example.files:
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
        if content.startswith("#!"):  # a script is executable, as in a checkout (and build_image)
            target.chmod(0o755)
    if example.config is not None:
        (tmp_path / ".sm-lint.toml").write_text(example.config)
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(example.text)
    options = dict(example.options)
    gpu = options.get("gpu")
    result = run_check([str(dockerfile)], CheckOptions(gpu=gpu, target=options.get("target"), profile=profile),
                       CATALOGUE)
    return [f"{f.rule}:{f.location.line}: {f.message}" for f in result.findings]


def _run_container(example: Example, tmp_path: Path, client: Any, docker_host: Optional[str] = None,
                   profile: str = "processing") -> List[str]:
    """A `container` example is a FROM-scratch Dockerfile (busybox in its context, plus the page's
    `file=` blocks), built and run by the harness under the example's profile; the fence's
    attributes are `sm-lint run` flags (`payload=NAME` names one of the page's files)."""
    image = build_image(client, example.text, dict(example.files))
    options = dict(example.options)
    number = lambda key, kind: kind(options[key]) if key in options else None  # noqa: E731
    config_file = tmp_path / ".sm-lint.toml"
    config_file.write_text("")
    payload = None
    if "payload" in options:
        payload = tmp_path / options["payload"]
        payload.write_text(dict(example.files)[options["payload"]])
    run_options = RunOptions(
        overrides=Overrides(instance_type=options.get("instance-type"), max_runtime=number("max-runtime", int)),
        scenarios=tuple(options.get("scenario", "completion").split(",")), config_file=config_file,
        grace=number("grace", float), stop_after=number("stop-after", float) or 2.0,
        expect_gpus=number("expect-gpus", int), docker_host=docker_host, profile=profile,
        startup_timeout=number("startup-timeout", float), payload=str(payload) if payload else None)
    result = run_harness(image, run_options, CATALOGUE)
    return [f"{f.rule}:{f.location.line}: {f.message}" for f in result.findings]


def _judge(rule: Rule, example: Example, found: List[str]) -> None:
    if example.kind == "bad":
        assert any(f.startswith(rule.id + ":") for f in found), f"{rule.id} not raised; got {found}"
    else:
        assert found == [], f"good example of {rule.id} raised {found}"


@pytest.mark.parametrize("rule, example", _cases())
def test_rule_example(rule: Rule, example: Example, tmp_path: Path) -> None:
    _judge(rule, example, _run(example, tmp_path, rule.example_profile(example)))


def _run_build(example: Example, tmp_path: Path, client: Any) -> List[str]:
    """A `build` example is built by the engine as `sm-lint gate --build` builds (busybox and the
    page's `file=` blocks in the context); a failed build is SM200."""
    from docker_support import SESSION, build_context

    import tarfile

    with tarfile.open(fileobj=build_context(example.text, dict(example.files))) as tar:
        tar.extractall(tmp_path / "context")
    tag = f"sm-lint-test/build-example-{SESSION.session_id}:{example.line}"
    result = build(client, tmp_path / "context", tmp_path / "context" / "Dockerfile", tag)
    if result.image_id is not None:
        client.images.remove(tag)  # the tag only: the build cache may share the image with others
        return []
    return [f"{BUILD_RULE}:0: the image does not build: {result.error}"]


@pytest.mark.parametrize("rule, example", _cases(engine=True))
def test_engine_rule_example(rule: Rule, example: Example, tmp_path: Path, docker_client: Any,
                             request: pytest.FixtureRequest) -> None:
    if example.language == "build":
        _judge(rule, example, _run_build(example, tmp_path, docker_client))
        return
    if dict(example.options).get("scenario") == "gpu":
        # A throwaway engine that runs the GPU double (tests/gpu_double); never the main one.
        gpu_client = request.getfixturevalue("gpu_client")
        _judge(rule, example, _run_container(example, tmp_path, gpu_client, request.getfixturevalue("gpu_engine"),
                                             rule.example_profile(example)))
        return
    _judge(rule, example, _run_container(example, tmp_path, docker_client, profile=rule.example_profile(example)))


@pytest.mark.parametrize("rule", list(CATALOGUE), ids=lambda r: r.id)
def test_rule_page_is_complete(rule: Rule) -> None:
    kinds = {example.kind for example in rule.examples()}
    assert kinds == {"bad", "good"}, f"{rule.id} needs at least one bad and one good example"
    for heading in ("What it does", "Why is this bad?", "Example", "Use instead"):
        assert rule.section(heading), f"{rule.id} lacks the section {heading!r}"
    assert rule.sources, f"{rule.id} cites no source"
    assert rule.path.name == f"{rule.id}.md"


def test_every_rule_has_one_implementation_and_back() -> None:
    documented = {rule.id for rule in CATALOGUE if rule.layer == "dockerfile"}
    assert documented == set(CHECKS) | ENGINE_RULES
    assert {rule.id for rule in CATALOGUE if rule.layer == "image"} == set(IMAGE_CHECKS) | {BUILD_RULE}
    assert {rule.layer for rule in CATALOGUE} <= {"dockerfile", "image", "runtime"}
    runtime = {rule.id for rule in CATALOGUE if rule.layer == "runtime"}
    assert runtime == {"SM300"} | {rule for rules in SCENARIO_RULES.values() for rule in rules}


def test_readme_lists_every_rule_with_its_severity() -> None:
    import re

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    listed = dict(re.findall(r"^\| (SM\d{3}) \| (error|warning|info) \|", readme, re.M))
    assert listed == {rule.id: rule.severity.label for rule in CATALOGUE}
