"""The job request of `sm-lint run`: loading, flag overlay, and the service limits (SM300)."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest

from sm_lint.catalogue import parse_front_matter, rules_dir
from sm_lint.errors import UsageError
from sm_lint.harness import jobspec
from sm_lint.harness.jobspec import Overrides, load_request, validate

P = "/opt/ml/processing/"


def _base(**fields: Any) -> Dict[str, Any]:
    request: Dict[str, Any] = {
        "ProcessingJobName": "job",
        "AppSpecification": {"ImageUri": "img:1"},
        "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge",
                                                  "VolumeSizeInGB": 30}},
        "RoleArn": "arn:aws:iam::123456789012:role/r",
    }
    request.update(fields)
    return request


def _messages(request: Dict[str, Any]) -> List[str]:
    hits = validate(request)
    assert all(hit.line == 0 for hit in hits)
    return [hit.message for hit in hits]


def _input(name: str, local: str) -> Dict[str, Any]:
    return {"InputName": name, "S3Input": {"S3Uri": "s3://b/k", "LocalPath": local, "S3DataType": "S3Prefix"}}


def _output(name: str, local: str) -> Dict[str, Any]:
    return {"OutputName": name, "S3Output": {"S3Uri": "s3://b/o", "LocalPath": local, "S3UploadMode": "EndOfJob"}}


def test_base_request_is_clean() -> None:
    assert _messages(_base()) == []


# --- ProcessingJobName ----------------------------------------------------------------------

@pytest.mark.parametrize("name", ["a", "a" * 63, "a-b", "a--b", "A9", "9"])
def test_job_name_ok(name: str) -> None:
    assert _messages(_base(ProcessingJobName=name)) == []


@pytest.mark.parametrize("name", ["", "a" * 64, "-a", "a-", "a_b", "a.b", "a b", "a\n"])
def test_job_name_bad(name: str) -> None:
    messages = _messages(_base(ProcessingJobName=name))
    assert len(messages) == 1 and messages[0].startswith("ProcessingJobName: ")


def test_job_name_too_long_says_limit_and_value() -> None:
    (message,) = _messages(_base(ProcessingJobName="a" * 64))
    assert "64 characters" in message and "63" in message


def test_image_uri_longer_than_the_service_takes() -> None:
    uri = "123456789012.dkr.ecr.us-east-1.amazonaws.com/"
    assert _messages(_base(AppSpecification={"ImageUri": uri + "a" * (255 - len(uri))})) == []
    (message,) = _messages(_base(AppSpecification={"ImageUri": uri + "a" * (256 - len(uri))}))
    assert message.startswith("AppSpecification.ImageUri: 256 characters") and "255" in message


# --- ContainerEntrypoint / ContainerArguments ------------------------------------------------

@pytest.mark.parametrize("key", ["ContainerEntrypoint", "ContainerArguments"])
def test_command_list_edges(key: str) -> None:
    def app(values: List[str]) -> Dict[str, Any]:
        return _base(AppSpecification={"ImageUri": "img", key: values})

    assert _messages(app(["x"] * 100)) == []
    assert _messages(app(["x" * 256])) == []
    (message,) = _messages(app(["x"] * 101))
    assert message.startswith(f"AppSpecification.{key}: 101 items") and "100" in message
    (message,) = _messages(app([]))
    assert message.startswith(f"AppSpecification.{key}: 0 items")
    (message,) = _messages(app(["a", "b", "x" * 257]))
    assert message.startswith(f"AppSpecification.{key}[2]: 257 characters") and "256" in message
    (message,) = _messages(app(["a", ""]))
    assert message.startswith(f"AppSpecification.{key}[1]: an empty string")


# --- Environment -----------------------------------------------------------------------------

def test_environment_edges() -> None:
    assert _messages(_base(Environment={f"K{i}": "v" for i in range(100)})) == []
    (message,) = _messages(_base(Environment={f"K{i}": "v" for i in range(101)}))
    assert message.startswith("Environment: 101 entries") and "100" in message
    assert _messages(_base(Environment={"K" * 256: "v" * 256})) == []
    (message,) = _messages(_base(Environment={"K" * 257: "v"}))
    assert message.startswith('Environment["KKK') and "257" in message
    (message,) = _messages(_base(Environment={"K": "v" * 257}))
    assert message.startswith('Environment["K"]: 257 characters') and "256" in message
    assert _messages(_base(Environment={"": "v"}))  # at least one character (the pattern)


@pytest.mark.parametrize("key", ["_X", "x1", "A_B_9"])
def test_environment_key_ok(key: str) -> None:
    assert _messages(_base(Environment={key: ""})) == []


@pytest.mark.parametrize("key", ["1X", "A-B", "A B", "A.B", "Ä"])
def test_environment_key_bad(key: str) -> None:
    (message,) = _messages(_base(Environment={key: "v"}))
    assert message.startswith(f"Environment[{json.dumps(key)}]: ") and "[a-zA-Z_][a-zA-Z0-9_]*" in message


# --- Inputs, outputs, LocalPaths --------------------------------------------------------------

def test_input_and_output_counts() -> None:
    inputs = [_input(f"i{n}", f"{P}input/{n}") for n in range(10)]
    outputs = [_output(f"o{n}", f"{P}output/{n}") for n in range(10)]
    assert _messages(_base(ProcessingInputs=inputs, ProcessingOutputConfig={"Outputs": outputs})) == []
    inputs.append(_input("i10", f"{P}input/10"))
    outputs.append(_output("o10", f"{P}output/10"))
    messages = _messages(_base(ProcessingInputs=inputs, ProcessingOutputConfig={"Outputs": outputs}))
    assert len(messages) == 2
    assert messages[0].startswith("ProcessingInputs: 11 items") and "10" in messages[0]
    assert messages[1].startswith("ProcessingOutputConfig.Outputs: 11 items")


def test_names_unique() -> None:
    messages = _messages(_base(ProcessingInputs=[_input("a", f"{P}x"), _input("a", f"{P}y")],
                               ProcessingOutputConfig={"Outputs": [_output("o", f"{P}z"), _output("o", f"{P}w")]}))
    assert messages == [
        "ProcessingInputs[1].InputName: 'a' is already the name of ProcessingInputs[0]; names must be unique",
        "ProcessingOutputConfig.Outputs[1].OutputName: 'o' is already the name of "
        "ProcessingOutputConfig.Outputs[0]; names must be unique",
    ]


def test_local_path_length_and_prefix() -> None:
    at_max = P + "a" * (256 - len(P))
    assert _messages(_base(ProcessingInputs=[_input("a", at_max)])) == []
    (message,) = _messages(_base(ProcessingInputs=[_input("a", at_max + "b")]))
    assert message.startswith("ProcessingInputs[0].S3Input.LocalPath: 257 characters") and "256" in message
    for bad in ("/opt/ml/input/data", "/opt/ml/processing", "opt/ml/processing/x", "/data"):
        (message,) = _messages(_base(ProcessingOutputConfig={"Outputs": [_output("o", bad)]}))
        assert message.startswith("ProcessingOutputConfig.Outputs[0].S3Output.LocalPath: ")
        assert "/opt/ml/processing/" in message
    (message,) = _messages(_base(ProcessingInputs=[_input("a", P + "../../etc")]))
    assert "leads out of" in message


def test_local_paths_distinct_and_not_nested() -> None:
    def paths(*locals_: str) -> List[str]:
        inputs = [_input(f"i{n}", path) for n, path in enumerate(locals_[:-1])]
        outputs = [_output("o", locals_[-1])]
        return _messages(_base(ProcessingInputs=inputs, ProcessingOutputConfig={"Outputs": outputs}))

    assert paths(f"{P}input/a", f"{P}input/ab", f"{P}output") == []  # a prefix as text is not nesting
    (message,) = paths(f"{P}input/a", f"{P}input/a/")
    assert message.startswith("ProcessingOutputConfig.Outputs[0].S3Output.LocalPath: ") and "same folder" in message
    (message,) = paths(f"{P}input", f"{P}input/a", f"{P}output")
    assert message.startswith("ProcessingInputs[1].S3Input.LocalPath: ") and "inside" in message
    (message,) = paths(f"{P}data/in", f"{P}data")
    assert message.startswith("ProcessingOutputConfig.Outputs[0].S3Output.LocalPath: ") and "contains" in message


def test_dataset_definition_local_path_counts() -> None:
    inputs = [{"InputName": "q", "DatasetDefinition": {"LocalPath": f"{P}q"}}, _input("a", f"{P}q/x")]
    (message,) = _messages(_base(ProcessingInputs=inputs))
    assert message.startswith("ProcessingInputs[1].S3Input.LocalPath: ") and "ProcessingInputs[0].DatasetDefinition" in message


def test_s3_enums() -> None:
    inputs = [{"InputName": "a", "S3Input": {"S3Uri": "s3://b/k", "LocalPath": f"{P}a",
                                             "S3DataType": "Prefix", "S3InputMode": "File"}}]
    outputs = [{"OutputName": "o", "S3Output": {"S3Uri": "s3://b/o", "LocalPath": f"{P}o", "S3UploadMode": "Later"}}]
    assert _messages(_base(ProcessingInputs=inputs, ProcessingOutputConfig={"Outputs": outputs})) == [
        "ProcessingInputs[0].S3Input.S3DataType: 'Prefix' is not one of ManifestFile, S3Prefix (ProcessingS3DataType)",
        "ProcessingOutputConfig.Outputs[0].S3Output.S3UploadMode: 'Later' is not one of Continuous, EndOfJob "
        "(ProcessingS3UploadMode)",
    ]


# --- Resources, stopping condition -----------------------------------------------------------

def _cluster(**fields: Any) -> Dict[str, Any]:
    cluster = {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 30}
    cluster.update(fields)
    return _base(ProcessingResources={"ClusterConfig": cluster})


def test_instance_count_edges() -> None:
    assert _messages(_cluster(InstanceCount=100)) == []
    assert _messages(_cluster(InstanceCount=1)) == []
    for bad in (0, 101, True, "2"):
        (message,) = _messages(_cluster(InstanceCount=bad))
        assert message.startswith("ProcessingResources.ClusterConfig.InstanceCount: ")
    assert "101 is outside 1 to 100" in _messages(_cluster(InstanceCount=101))[0]


def test_volume_size_edges() -> None:
    assert _messages(_cluster(VolumeSizeInGB=16384)) == []
    (message,) = _messages(_cluster(VolumeSizeInGB=16385))
    assert message.startswith("ProcessingResources.ClusterConfig.VolumeSizeInGB: 16385 is outside 1 to 16384")


def test_max_runtime_edges() -> None:
    assert _messages(_base(StoppingCondition={"MaxRuntimeInSeconds": 777600})) == []
    assert _messages(_base(StoppingCondition={"MaxRuntimeInSeconds": 1})) == []
    for bad in (777601, 0):
        (message,) = _messages(_base(StoppingCondition={"MaxRuntimeInSeconds": bad}))
        assert message.startswith(f"StoppingCondition.MaxRuntimeInSeconds: {bad} is outside 1 to 777600")


def test_instance_type_from_botocore() -> None:
    pytest.importorskip("botocore")
    assert _messages(_cluster(InstanceType="ml.m5.xlarge")) == []
    assert _messages(_cluster(InstanceType="ml.g5.2xlarge")) == []
    (hit,) = validate(_cluster(InstanceType="ml.fake.huge"))
    assert hit.message.startswith("ProcessingResources.ClusterConfig.InstanceType: 'ml.fake.huge' is not")
    assert "ProcessingInstanceType" in hit.message
    (hit,) = validate(_cluster(InstanceType="ml.m5.xlarg"))
    assert hit.fix is not None and "ml.m5.xlarge" in hit.fix
    assert jobspec.validation_notes() == []


def test_instance_type_enum_is_botocore_s() -> None:
    botocore_loaders = pytest.importorskip("botocore.loaders")
    model = botocore_loaders.create_loader().load_service_model("sagemaker", "service-2")
    known = jobspec._instance_types()
    assert known is not None and known[1] == frozenset(model["shapes"]["ProcessingInstanceType"]["enum"])
    assert jobspec._instance_types() is known  # cached per process


def test_without_botocore_instance_type_is_skipped_with_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    jobspec._instance_types.cache_clear()
    monkeypatch.setitem(sys.modules, "botocore", None)  # import botocore -> ImportError
    try:
        assert _messages(_cluster(InstanceType="ml.fake.huge")) == []
        (note,) = jobspec.validation_notes()
        assert "InstanceType" in note and "botocore" in note
    finally:
        jobspec._instance_types.cache_clear()


def test_service_model_limits_match_the_constants() -> None:
    """The numbers in jobspec.py are the installed botocore's (the limits move rarely; catch it)."""
    botocore_loaders = pytest.importorskip("botocore.loaders")
    shapes = botocore_loaders.create_loader().load_service_model("sagemaker", "service-2")["shapes"]
    assert (shapes["ProcessingJobName"]["max"], shapes["ProcessingJobName"]["pattern"]) == (
        jobspec.JOB_NAME_MAX, jobspec.JOB_NAME_PATTERN)
    assert shapes["ImageUri"]["max"] == jobspec.IMAGE_URI_MAX
    for name in ("ContainerEntrypoint", "ContainerArguments"):
        assert (shapes[name]["min"], shapes[name]["max"]) == (1, jobspec.LIST_MAX)
    for name in ("ContainerEntrypointString", "ContainerArgument", "ProcessingEnvironmentValue",
                 "ProcessingLocalPath"):
        assert shapes[name]["max"] == jobspec.ITEM_MAX == jobspec.LOCAL_PATH_MAX
    assert shapes["ProcessingEnvironmentMap"]["max"] == jobspec.ENV_MAX
    assert (shapes["ProcessingEnvironmentKey"]["max"], shapes["ProcessingEnvironmentKey"]["pattern"]) == (
        jobspec.ENV_KEY_MAX, jobspec.ENV_KEY_PATTERN)
    assert shapes["ProcessingInputs"]["max"] == shapes["ProcessingOutputs"]["max"] == jobspec.IO_MAX
    for shape, bounds in (("ProcessingInstanceCount", jobspec.INSTANCE_COUNT),
                          ("ProcessingVolumeSizeInGB", jobspec.VOLUME_GB),
                          ("ProcessingMaxRuntimeInSeconds", jobspec.MAX_RUNTIME)):
        assert (shapes[shape]["min"], shapes[shape]["max"]) == bounds
    for shape, values in jobspec.ENUMS.values():
        assert set(shapes[shape]["enum"]) == set(values)


# --- Loading and overriding ------------------------------------------------------------------

def _write(tmp_path: Path, data: Any, name: str = "job.json") -> str:
    target = tmp_path / name
    target.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(target)


def test_flags_only_gives_a_complete_request(tmp_path: Path) -> None:
    request = load_request(None, Overrides(
        image="img:1", entrypoint=["python3", "/opt/program/p.py"], arguments=["--x", "1"],
        env={"A": "1"}, inputs=[(str(tmp_path / "in"), f"{P}input/data")],
        outputs=[(f"{P}output/out", str(tmp_path / "out"))], instance_count=2,
        instance_type="ml.c5.xlarge", max_runtime=600, network_isolation=True))
    assert request["AppSpecification"] == {"ImageUri": "img:1", "ContainerEntrypoint": ["python3", "/opt/program/p.py"],
                                           "ContainerArguments": ["--x", "1"]}
    assert request["Environment"] == {"A": "1"}
    (item,) = request["ProcessingInputs"]
    assert item["InputName"] == "input-1" and item["S3Input"]["LocalPath"] == f"{P}input/data"
    assert item["S3Input"]["S3Uri"] == (tmp_path / "in").as_uri()
    assert jobspec.local_dir_of(item["S3Input"]["S3Uri"]) == str(tmp_path / "in")
    (out,) = request["ProcessingOutputConfig"]["Outputs"]
    assert out == {"OutputName": "output-1", "S3Output": {"S3Uri": (tmp_path / "out").as_uri(),
                                                          "LocalPath": f"{P}output/out", "S3UploadMode": "EndOfJob"}}
    assert request["ProcessingResources"]["ClusterConfig"] == {"InstanceCount": 2, "InstanceType": "ml.c5.xlarge",
                                                               "VolumeSizeInGB": 30}
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 600}
    assert request["NetworkConfig"] == {"EnableNetworkIsolation": True}
    assert request["ProcessingJobName"] == jobspec.DEFAULT_JOB_NAME and request["RoleArn"]
    assert validate(request) == []


def test_flags_win_over_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, _base(
        AppSpecification={"ImageUri": "img:1", "ContainerEntrypoint": ["sh"], "ContainerArguments": ["a"]},
        Environment={"A": "file", "B": "file"},
        ProcessingInputs=[_input("raw", f"{P}input/raw"), _input("input-1", f"{P}input/other")],
        ProcessingOutputConfig={"Outputs": [{"OutputName": "res", "S3Output": {
            "S3Uri": "s3://b/o", "LocalPath": f"{P}output/res", "S3UploadMode": "Continuous"}}]},
        StoppingCondition={"MaxRuntimeInSeconds": 100},
        NetworkConfig={"EnableNetworkIsolation": False, "EnableInterContainerTrafficEncryption": True},
    ))
    request = load_request(path, Overrides(
        arguments=["b"], env={"B": "flag", "C": "flag"}, inputs=[("in", f"{P}input/raw/"), ("more", f"{P}input/more")],
        outputs=[(f"{P}output/res", "out")], instance_count=3, max_runtime=200, network_isolation=True))
    app = request["AppSpecification"]
    assert app == {"ImageUri": "img:1", "ContainerEntrypoint": ["sh"], "ContainerArguments": ["b"]}
    assert request["Environment"] == {"A": "file", "B": "flag", "C": "flag"}
    names = [item["InputName"] for item in request["ProcessingInputs"]]
    assert names == ["raw", "input-1", "input-2"]  # replaced in place; a new one gets a free name
    assert request["ProcessingInputs"][0]["S3Input"]["S3Uri"] == Path("in").absolute().as_uri()
    (out,) = request["ProcessingOutputConfig"]["Outputs"]
    assert out["OutputName"] == "res" and out["S3Output"]["S3UploadMode"] == "Continuous"
    assert out["S3Output"]["S3Uri"].startswith("file://")
    assert request["ProcessingResources"]["ClusterConfig"]["InstanceCount"] == 3
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 200}
    assert request["NetworkConfig"] == {"EnableNetworkIsolation": True, "EnableInterContainerTrafficEncryption": True}
    assert validate(request) == []


def test_file_is_not_modified_by_overrides(tmp_path: Path) -> None:
    path = _write(tmp_path, _base(Environment={"A": "1"}))
    load_request(path, Overrides(env={"A": "2"}))
    assert jobspec.read_request(path)["Environment"] == {"A": "1"}


def test_describe_output_and_nulls_are_accepted(tmp_path: Path) -> None:
    data = _base(ProcessingJobArn="arn:aws:sagemaker:us-east-1:123456789012:processing-job/job",
                 ProcessingJobStatus="Completed", Environment=None, StoppingCondition=None)
    request = jobspec.read_request(_write(tmp_path, data))
    assert "ProcessingJobArn" not in request and "Environment" not in request and "StoppingCondition" not in request


@pytest.mark.parametrize("content, expected", [
    ("{", r"job\.json:1:2: invalid JSON: "),
    ("[]", r"job\.json: the request must be an object .*not an array"),
    ('{"AppSpecification": []}', r"job\.json: AppSpecification: expected an object, got an array"),
    ('{"AppSpecification": {"ContainerArguments": ["a", 2]}}',
     r"job\.json: AppSpecification\.ContainerArguments\[1\]: expected a string, got an integer"),
    ('{"Environment": {"A": 1}}', r'job\.json: Environment\["A"\]: expected a string, got an integer'),
    ('{"ProcessingResources": {"ClusterConfig": {"InstanceCount": "2"}}}',
     r"job\.json: ProcessingResources\.ClusterConfig\.InstanceCount: expected an integer, got a string"),
    ('{"ProcessingResources": {"ClusterConfig": {"InstanceCount": true}}}',
     r"InstanceCount: expected an integer, got a boolean"),
    ('{"ProcessingInputs": [{"InputName": "a", "S3Input": {"LocalPth": "/x"}}]}',
     r"job\.json: ProcessingInputs\[0\]\.S3Input\.LocalPth: unknown field"),
    ('{"Enviroment": {}}', r"job\.json: Enviroment: unknown field"),
])
def test_malformed_files_are_one_line_usage_errors(tmp_path: Path, content: str, expected: str) -> None:
    path = _write(tmp_path, content)
    with pytest.raises(UsageError) as caught:
        load_request(path, Overrides())
    message = str(caught.value)
    assert "\n" not in message and re.search(expected, message), message


def test_unreadable_and_undecodable_files(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read"):
        load_request(str(tmp_path / "missing.json"), Overrides())
    bad = tmp_path / "bin.json"
    bad.write_bytes(b'{"a": "\xff"}')
    with pytest.raises(UsageError, match="not UTF-8"):
        load_request(str(bad), Overrides())


def test_yaml_file(tmp_path: Path) -> None:
    pytest.importorskip("yaml")
    text = ("ProcessingJobName: job\nAppSpecification:\n  ImageUri: img:1\n"
            "  ContainerArguments: [--x, '1']\nEnvironment:\n  A: b\n")
    request = load_request(_write(tmp_path, text, "job.yaml"), Overrides(arguments=["--y"]))
    assert request["AppSpecification"]["ContainerArguments"] == ["--y"]
    assert request["Environment"] == {"A": "b"}
    with pytest.raises(UsageError, match=r"job\.yml:2:\d+: invalid YAML"):
        load_request(_write(tmp_path, "a: b\n  c: [\n", "job.yml"), Overrides())
    with pytest.raises(UsageError, match=r'Environment\["A"\]: expected a string, got an integer'):
        load_request(_write(tmp_path, "Environment:\n  A: 1\n", "e.yaml"), Overrides())


def test_yaml_without_pyyaml_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "yaml", None)
    with pytest.raises(UsageError, match=r"job\.yaml: YAML job requests need PyYAML"):
        load_request(_write(tmp_path, "ProcessingJobName: job\n", "job.yaml"), Overrides())
    assert load_request(_write(tmp_path, {"ProcessingJobName": "j"}), Overrides())["ProcessingJobName"] == "j"


@pytest.mark.parametrize("flag, expected", [
    ("data:/opt/ml/processing/input/d", ("data", "/opt/ml/processing/input/d")),
    ("C:/data:/opt/ml/processing/input/d", ("C:/data", "/opt/ml/processing/input/d")),
])
def test_parse_input_flag(flag: str, expected: tuple) -> None:
    assert jobspec.parse_input_flag(flag) == expected


def test_parse_flags_errors() -> None:
    with pytest.raises(UsageError, match="--job-input"):
        jobspec.parse_input_flag("data")
    assert jobspec.parse_output_flag("/opt/ml/processing/output/o:out:x") == ("/opt/ml/processing/output/o", "out:x")
    with pytest.raises(UsageError, match="--job-output"):
        jobspec.parse_output_flag("out")


@pytest.mark.parametrize("value, old", [
    ("/opt/ml/processing/output/o:out", True), ("/opt/ml/processing:out", True),
    ("report.json", False), ("/tmp/report.json", False), ("out:x", False), ("/opt/ml/processing/output/o", False),
    ("/opt/ml/processingx/o:out", False), ("/data/o:out", False),
])
def test_old_output_mapping_is_told_from_a_report_file(value: str, old: bool) -> None:
    assert jobspec.is_old_output_mapping(value) is old


def test_no_heavy_imports() -> None:
    import subprocess

    code = ("import sys, sm_lint.harness.jobspec as j; "
            "print([m for m in ('botocore', 'yaml', 'docker', 'typer') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# --- The rule page's examples ----------------------------------------------------------------

_FENCE = re.compile(r"^```json (bad|good)[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)


def _page_examples() -> List[Any]:
    meta, body = parse_front_matter((rules_dir() / "SM300.md").read_text(encoding="utf-8"))
    assert meta["id"] == "SM300" and meta["layer"] == "runtime"
    return [pytest.param(kind, text, id=f"{kind}-{n}") for n, (kind, text) in enumerate(_FENCE.findall(body))]


def test_rule_page_has_both_kinds() -> None:
    assert {param.values[0] for param in _page_examples()} == {"bad", "good"}


@pytest.mark.parametrize("kind, text", _page_examples())
def test_rule_page_example(kind: str, text: str, tmp_path: Path) -> None:
    request = load_request(_write(tmp_path, text), Overrides())
    messages = [hit.message for hit in validate(request)]
    if kind == "bad":
        assert messages, "a bad example of SM300 raised nothing"
    else:
        assert messages == [], f"the good example of SM300 raised {messages}"


def test_instance_types_read_from_the_packaged_model_match_botocores_loader() -> None:
    """The fast path (one shape decoded from the packaged file) and botocore's own loader agree."""
    from sm_lint.harness import jobspec

    fast = jobspec._instance_types()
    assert fast is not None and "ml.m5.xlarge" in fast[1] and "ml.g5.xlarge" in fast[1]
    assert fast == jobspec._enum_from_loader()
