"""The Processing job request: load it (CreateProcessingJob shape), overlay CLI fields, validate it.

`load_request(path, overrides)` reads a JSON (or, when PyYAML is importable, YAML) file in the shape
that the CreateProcessingJob API and boto3's `create_processing_job(**request)` take, lays the
`sm-lint run` flags over it and returns the merged request as a plain dict. A file whose fields have
the wrong JSON types, or unknown fields, is a `UsageError` naming the file and the field path (the
botocore client refuses those too). Fields that only a DescribeProcessingJob response or
`/opt/ml/config/processingjobconfig.json` carry (ProcessingJobArn, statuses, times) are dropped, and
`null` means absent, so either of those files can be fed back in.

`validate(request)` checks the limits the service enforces but botocore's client does not (the
client checks only `min`; not `max`, patterns or enums). The limits come from the service model,
botocore `data/sagemaker/2017-07-24/service-2.json`; the shape names are quoted in the messages and
in rules/SM300.md. The instance type is checked against the `ProcessingInstanceType` enum of the
installed botocore, loaded lazily and once per process; without botocore that one check is skipped
and `validation_notes()` says so.
"""
from __future__ import annotations

import json
import posixpath
import re
from copy import deepcopy
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, FrozenSet, Iterator, List, Mapping, Optional, Sequence, Tuple
from urllib.parse import unquote, urlparse

from sm_lint.errors import UsageError
from sm_lint.findings import Hit

PROCESSING_PREFIX = "/opt/ml/processing/"

# Filled in when the file and the flags leave them out; a local run needs a complete request (the
# container sees it as /opt/ml/config/processingjobconfig.json).
DEFAULT_JOB_NAME = "sm-lint-run"
DEFAULT_INSTANCE_TYPE = "ml.m5.xlarge"
DEFAULT_VOLUME_GB = 30
DEFAULT_ROLE_ARN = "arn:aws:iam::000000000000:role/sm-lint-local"

# Limits of the service model (botocore 1.43.11, sagemaker 2017-07-24), by shape name.
JOB_NAME_MAX = 63  # ProcessingJobName
JOB_NAME_PATTERN = r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"  # ProcessingJobName, matched in full
IMAGE_URI_MAX = 255  # ImageUri
LIST_MAX = 100  # ContainerEntrypoint, ContainerArguments (min 1)
ITEM_MAX = 256  # ContainerEntrypointString, ContainerArgument
ENV_MAX = 100  # ProcessingEnvironmentMap
ENV_KEY_MAX = 256  # ProcessingEnvironmentKey
ENV_KEY_PATTERN = r"[a-zA-Z_][a-zA-Z0-9_]*"  # ProcessingEnvironmentKey
ENV_VALUE_MAX = 256  # ProcessingEnvironmentValue
IO_MAX = 10  # ProcessingInputs, ProcessingOutputs
LOCAL_PATH_MAX = 256  # ProcessingLocalPath
INSTANCE_COUNT = (1, 100)  # ProcessingInstanceCount
VOLUME_GB = (1, 16384)  # ProcessingVolumeSizeInGB
MAX_RUNTIME = (1, 777600)  # ProcessingMaxRuntimeInSeconds
ENUMS: Dict[Tuple[str, str], Tuple[str, Tuple[str, ...]]] = {
    ("S3Input", "S3DataType"): ("ProcessingS3DataType", ("ManifestFile", "S3Prefix")),
    ("S3Input", "S3InputMode"): ("ProcessingS3InputMode", ("Pipe", "File")),
    ("S3Input", "S3DataDistributionType"): (
        "ProcessingS3DataDistributionType", ("FullyReplicated", "ShardedByS3Key")),
    ("S3Input", "S3CompressionType"): ("ProcessingS3CompressionType", ("None", "Gzip")),
    ("S3Output", "S3UploadMode"): ("ProcessingS3UploadMode", ("Continuous", "EndOfJob")),
}


@dataclass(frozen=True)
class Overrides:
    """The `sm-lint run` flags; None (or empty) means "not given". Flags win over the file."""

    entrypoint: Optional[Sequence[str]] = None
    arguments: Optional[Sequence[str]] = None
    env: Mapping[str, str] = field(default_factory=dict)  # merged key by key over Environment
    inputs: Sequence[Tuple[str, str]] = ()  # (local_dir, container_path)
    outputs: Sequence[Tuple[str, str]] = ()  # (container_path, local_dir)
    instance_count: Optional[int] = None
    instance_type: Optional[str] = None
    max_runtime: Optional[int] = None
    network_isolation: Optional[bool] = None
    image: Optional[str] = None  # AppSpecification.ImageUri
    job_name: Optional[str] = None  # ProcessingJobName


# ---------------------------------------------------------------------------------------------
# Loading

# The request's JSON types: a dict is a structure (known members only), [x] a list of x,
# ("map", x) an object of x, and str/int/bool/dict/list leaf types (dict/list: anything inside).
_S3_INPUT = {"S3Uri": str, "LocalPath": str, "S3DataType": str, "S3InputMode": str,
             "S3DataDistributionType": str, "S3CompressionType": str}
_DATASET = {"AthenaDatasetDefinition": dict, "RedshiftDatasetDefinition": dict, "LocalPath": str,
            "DataDistributionType": str, "InputMode": str}
_S3_OUTPUT = {"S3Uri": str, "LocalPath": str, "S3UploadMode": str}
_SCHEMA: Dict[str, Any] = {
    "ProcessingJobName": str,
    "AppSpecification": {"ImageUri": str, "ContainerEntrypoint": [str], "ContainerArguments": [str]},
    "Environment": ("map", str),
    "ProcessingInputs": [{"InputName": str, "AppManaged": bool, "S3Input": _S3_INPUT,
                          "DatasetDefinition": _DATASET}],
    "ProcessingOutputConfig": {
        "Outputs": [{"OutputName": str, "AppManaged": bool, "S3Output": _S3_OUTPUT,
                     "FeatureStoreOutput": dict}],
        "KmsKeyId": str,
    },
    "ProcessingResources": {"ClusterConfig": {"InstanceCount": int, "InstanceType": str,
                                              "VolumeSizeInGB": int, "VolumeKmsKeyId": str}},
    "StoppingCondition": {"MaxRuntimeInSeconds": int},
    "NetworkConfig": {"EnableInterContainerTrafficEncryption": bool, "EnableNetworkIsolation": bool,
                      "VpcConfig": dict},
    "RoleArn": str,
    "Tags": [dict],
    "ExperimentConfig": dict,
}
# Read-only fields of DescribeProcessingJob and processingjobconfig.json: accepted and dropped.
_DESCRIBE_ONLY = frozenset({
    "ProcessingJobArn", "ProcessingJobStatus", "ExitMessage", "FailureReason", "ProcessingEndTime",
    "ProcessingStartTime", "LastModifiedTime", "CreationTime", "MonitoringScheduleArn",
    "AutoMLJobArn", "TrainingJobArn", "ResponseMetadata",
})
_JSON_NAMES = {dict: "an object", list: "an array", str: "a string", int: "an integer",
               bool: "a boolean", float: "a number", type(None): "null"}


def load_request(path: Optional[str], overrides: Overrides = Overrides()) -> Dict[str, Any]:
    """The merged request: the file (if any), then the flags, then defaults for what a run needs."""
    request = read_request(path) if path else {}
    return apply_overrides(request, overrides)


def read_request(path: str) -> Dict[str, Any]:
    """One request file, type-checked; every problem is a one-line UsageError."""
    text = _read_text(path)
    data = _parse_yaml(path, text) if path.lower().endswith((".yaml", ".yml")) else _parse_json(path, text)
    if not isinstance(data, dict):
        raise UsageError(f"{path}: the request must be an object (CreateProcessingJob's shape), "
                         f"not {_json_name(data)}")
    data = {key: value for key, value in data.items() if key not in _DESCRIBE_ONLY}
    checked: Dict[str, Any] = _typed(path, data, _SCHEMA, "")
    return checked


def _read_text(path: str) -> str:
    try:
        raw = Path(path).read_bytes()
    except OSError as error:
        raise UsageError(f"{path}: cannot read the job request: {error.strerror or error}") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise UsageError(f"{path}: the job request is not UTF-8 (byte {error.start})") from None


def _parse_json(path: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise UsageError(f"{path}:{error.lineno}:{error.colno}: invalid JSON: {error.msg}") from None


def _parse_yaml(path: str, text: str) -> Any:
    try:
        import yaml  # lazily: PyYAML is optional
    except ImportError:
        raise UsageError(f"{path}: YAML job requests need PyYAML (pip install pyyaml); "
                         "or give the request as JSON") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise UsageError(f"{path}{where}: invalid YAML: {problem}") from None


def _json_name(value: Any) -> str:
    return _JSON_NAMES.get(type(value), type(value).__name__)


def _typed(path: str, value: Any, spec: Any, where: str) -> Any:
    """`value` checked against `spec`, with nulls in structures dropped (they mean absent)."""
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            raise _type_error(path, where, "an object", value)
        result = {}
        for key, item in value.items():
            here = f"{where}.{key}" if where else str(key)
            if key not in spec:
                raise UsageError(f"{path}: {here}: unknown field (expected one of {', '.join(spec)})")
            if item is not None:
                result[key] = _typed(path, item, spec[key], here)
        return result
    if isinstance(spec, list):
        if not isinstance(value, list):
            raise _type_error(path, where, "an array", value)
        return [_typed(path, item, spec[0], f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(spec, tuple):  # ("map", leaf)
        if not isinstance(value, dict):
            raise _type_error(path, where, "an object", value)
        for key, item in value.items():
            _typed(path, item, spec[1], f"{where}[{json.dumps(key)}]")
        return dict(value)
    if isinstance(value, spec) and not (spec is int and isinstance(value, bool)):
        return value
    raise _type_error(path, where, _JSON_NAMES[spec], value)


def _type_error(path: str, where: str, expected: str, value: Any) -> UsageError:
    return UsageError(f"{path}: {where}: expected {expected}, got {_json_name(value)}")


# ---------------------------------------------------------------------------------------------
# Overlaying the flags


def parse_input_flag(text: str) -> Tuple[str, str]:
    """`--job-input LOCAL_DIR:/opt/ml/processing/input/NAME` -> (local_dir, container_path)."""
    local, sep, container = text.rpartition(":")
    if not sep or not local or not container.startswith("/"):
        raise UsageError(f"--job-input {text!r}: expected LOCAL_DIR:/opt/ml/processing/input/NAME")
    return local, container


def parse_output_flag(text: str) -> Tuple[str, str]:
    """`--job-output /opt/ml/processing/output/NAME:LOCAL_DIR` -> (container_path, local_dir)."""
    container, sep, local = text.partition(":")
    if not sep or not local or not container.startswith("/"):
        raise UsageError(f"--job-output {text!r}: expected /opt/ml/processing/output/NAME:LOCAL_DIR")
    return container, local


PROCESSING_ROOT = "/opt/ml/processing"


def is_old_output_mapping(text: str) -> bool:
    """`run --output` was the job's output mapping up to 0.3.0; now it is the report file, as in every
    command. A value `CONTAINER_PATH:LOCAL_DIR` whose container path is under /opt/ml/processing
    cannot be a report file someone meant, so for one release it is still taken as the mapping."""
    container, sep, _ = text.partition(":")
    return bool(sep) and (container == PROCESSING_ROOT or container.startswith(PROCESSING_ROOT + "/"))


def local_uri(local_dir: str) -> str:
    """The placeholder S3Uri of a local folder: `file:///absolute/path`."""
    return Path(local_dir).absolute().as_uri()


def source_uri(place: str) -> str:
    """A flag's data place as an S3Uri: an `s3://` URI as it is (what a real job reads and writes),
    anything else a local folder (its `file://` placeholder)."""
    return place if place.startswith("s3://") else local_uri(place)


def local_dir_of(uri: str) -> Optional[str]:
    """The folder behind a `file://` placeholder, or None for a real S3 URI."""
    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme == "file" else None


def apply_overrides(request: Mapping[str, Any], overrides: Overrides) -> Dict[str, Any]:
    merged: Dict[str, Any] = deepcopy(dict(request))
    app = merged.setdefault("AppSpecification", {})
    if overrides.image is not None:
        app["ImageUri"] = overrides.image
    if overrides.entrypoint is not None:
        app["ContainerEntrypoint"] = list(overrides.entrypoint)
    if overrides.arguments is not None:
        app["ContainerArguments"] = list(overrides.arguments)
    if overrides.job_name is not None:
        merged["ProcessingJobName"] = overrides.job_name
    if overrides.env:
        merged.setdefault("Environment", {}).update(overrides.env)
    for local, container in overrides.inputs:
        _overlay_input(merged.setdefault("ProcessingInputs", []), local, container)
    if overrides.outputs:
        outputs = merged.setdefault("ProcessingOutputConfig", {}).setdefault("Outputs", [])
        for container, local in overrides.outputs:
            _overlay_output(outputs, container, local)
    _overlay_resources(merged, overrides)
    _fill_defaults(merged)
    return merged


def _same_path(a: Optional[str], b: str) -> bool:
    return a is not None and a.rstrip("/") == b.rstrip("/")


def _next_name(taken: Sequence[Optional[str]], stem: str) -> str:
    number = 1
    while f"{stem}-{number}" in taken:
        number += 1
    return f"{stem}-{number}"


def _overlay_input(inputs: List[Dict[str, Any]], local: str, container: str) -> None:
    """A local folder replaces the file's input at the same LocalPath, or is added."""
    s3_input = {"S3Uri": source_uri(local), "LocalPath": container, "S3DataType": "S3Prefix",
                "S3InputMode": "File", "S3DataDistributionType": "FullyReplicated"}
    for item in inputs:
        if _same_path(_input_local_path(item), container):
            item.pop("DatasetDefinition", None)
            item["S3Input"] = s3_input
            return
    name = _next_name([item.get("InputName") for item in inputs], "input")
    inputs.append({"InputName": name, "S3Input": s3_input})


def _overlay_output(outputs: List[Dict[str, Any]], container: str, local: str) -> None:
    s3_output = {"S3Uri": source_uri(local), "LocalPath": container, "S3UploadMode": "EndOfJob"}
    for item in outputs:
        if _same_path(item.get("S3Output", {}).get("LocalPath"), container):
            item["S3Output"] = dict(s3_output, S3UploadMode=item["S3Output"].get("S3UploadMode", "EndOfJob"))
            return
    name = _next_name([item.get("OutputName") for item in outputs], "output")
    outputs.append({"OutputName": name, "S3Output": s3_output})


def _overlay_resources(merged: Dict[str, Any], overrides: Overrides) -> None:
    cluster = merged.setdefault("ProcessingResources", {}).setdefault("ClusterConfig", {})
    if overrides.instance_count is not None:
        cluster["InstanceCount"] = overrides.instance_count
    if overrides.instance_type is not None:
        cluster["InstanceType"] = overrides.instance_type
    if overrides.max_runtime is not None:
        merged.setdefault("StoppingCondition", {})["MaxRuntimeInSeconds"] = overrides.max_runtime
    if overrides.network_isolation is not None:
        merged.setdefault("NetworkConfig", {})["EnableNetworkIsolation"] = overrides.network_isolation


def _fill_defaults(merged: Dict[str, Any]) -> None:
    """The required fields a local run needs (CreateProcessingJobRequest's `required`)."""
    merged.setdefault("ProcessingJobName", DEFAULT_JOB_NAME)
    merged.setdefault("RoleArn", DEFAULT_ROLE_ARN)
    cluster = merged["ProcessingResources"]["ClusterConfig"]
    cluster.setdefault("InstanceCount", 1)
    cluster.setdefault("InstanceType", DEFAULT_INSTANCE_TYPE)
    cluster.setdefault("VolumeSizeInGB", DEFAULT_VOLUME_GB)


# ---------------------------------------------------------------------------------------------
# Validation


def validate(request: Mapping[str, Any]) -> List[Hit]:
    """Every service limit the request breaks, one Hit each (line 0), message `FIELD.PATH: ...`."""
    hits: List[Hit] = []
    hits += _check_job_name(request.get("ProcessingJobName"))
    app = _mapping(request.get("AppSpecification"))
    if "ImageUri" in app:
        hits += _check_string(app["ImageUri"], "AppSpecification.ImageUri", IMAGE_URI_MAX, "ImageUri")
    for key, item_shape in (("ContainerEntrypoint", "ContainerEntrypointString"),
                            ("ContainerArguments", "ContainerArgument")):
        if key in app:
            hits += _check_command_list(app[key], f"AppSpecification.{key}", key, item_shape)
    hits += _check_environment(request.get("Environment"))
    inputs = _sequence(request.get("ProcessingInputs"))
    outputs = _sequence(_mapping(request.get("ProcessingOutputConfig")).get("Outputs"))
    hits += _check_io(inputs, "ProcessingInputs", "InputName", "S3Input")
    hits += _check_io(outputs, "ProcessingOutputConfig.Outputs", "OutputName", "S3Output")
    hits += _check_local_paths(list(_local_paths(inputs, outputs)))
    hits += _check_cluster(_mapping(_mapping(request.get("ProcessingResources")).get("ClusterConfig")))
    stopping = _mapping(request.get("StoppingCondition"))
    if "MaxRuntimeInSeconds" in stopping:
        hits += _check_range(stopping["MaxRuntimeInSeconds"], "StoppingCondition.MaxRuntimeInSeconds",
                             MAX_RUNTIME, "ProcessingMaxRuntimeInSeconds")
    return hits


def validation_notes() -> List[str]:
    """What `validate` could not check in this environment."""
    if _instance_types() is None:
        return ["ProcessingResources.ClusterConfig.InstanceType was not checked: botocore (the "
                "service model with the ProcessingInstanceType enum) is not installed"]
    return []


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _sequence(value: Any) -> Sequence[Any]:
    return value if isinstance(value, list) else []


def _preview(text: str, width: int = 40) -> str:
    return repr(text if len(text) <= width else text[:width] + "...")


def _hit(where: str, detail: str, fix: Optional[str] = None) -> Hit:
    return Hit(0, f"{where}: {detail}", fix=fix)


def _check_string(value: Any, where: str, limit: int, shape: str) -> List[Hit]:
    if not isinstance(value, str):
        return [_hit(where, f"expected a string ({shape}), got {_json_name(value)}")]
    if len(value) > limit:
        return [_hit(where, f"{len(value)} characters, more than the {limit} that {shape} allows "
                            f"({_preview(value)})")]
    return []


def _check_job_name(name: Any) -> List[Hit]:
    where = "ProcessingJobName"
    if name is None:
        return []
    if not isinstance(name, str):
        return [_hit(where, f"expected a string, got {_json_name(name)}")]
    if not 1 <= len(name) <= JOB_NAME_MAX:
        return [_hit(where, f"{len(name)} characters; ProcessingJobName allows 1 to {JOB_NAME_MAX} "
                            f"({_preview(name)})")]
    if not re.fullmatch(JOB_NAME_PATTERN, name):
        return [_hit(where, f"{name!r} does not match the pattern {JOB_NAME_PATTERN} of ProcessingJobName",
                     fix="use letters, digits and hyphens only, starting and ending with a letter or digit")]
    return []


def _check_command_list(values: Any, where: str, shape: str, item_shape: str) -> List[Hit]:
    if not isinstance(values, list):
        return [_hit(where, f"expected a list of strings ({shape}), got {_json_name(values)}")]
    if not 1 <= len(values) <= LIST_MAX:
        return [_hit(where, f"{len(values)} items; {shape} allows 1 to {LIST_MAX}",
                     fix="leave the field out instead of giving an empty list" if not values else None)]
    hits: List[Hit] = []
    for index, value in enumerate(values):
        here = f"{where}[{index}]"
        if value == "":
            hits.append(_hit(here, "an empty string; the service rejects empty items "
                                   f"(allowed: 1 to {ITEM_MAX} characters)"))
        else:
            hits += _check_string(value, here, ITEM_MAX, item_shape)
    return hits


def _check_environment(env: Any) -> List[Hit]:
    where = "Environment"
    if env is None:
        return []
    if not isinstance(env, Mapping):
        return [_hit(where, f"expected an object, got {_json_name(env)}")]
    hits: List[Hit] = []
    if len(env) > ENV_MAX:
        hits.append(_hit(where, f"{len(env)} entries, more than the {ENV_MAX} that "
                                "ProcessingEnvironmentMap allows"))
    for key, value in env.items():
        here = f"{where}[{json.dumps(key)}]"
        if not isinstance(key, str) or not re.fullmatch(ENV_KEY_PATTERN, key):
            hits.append(_hit(here, f"the name {key!r} does not match the pattern {ENV_KEY_PATTERN} of "
                                   "ProcessingEnvironmentKey"))
        elif len(key) > ENV_KEY_MAX:
            hits.append(_hit(here, f"the name has {len(key)} characters, more than the {ENV_KEY_MAX} "
                                   "that ProcessingEnvironmentKey allows"))
        hits += _check_string(value, here, ENV_VALUE_MAX, "ProcessingEnvironmentValue")
    return hits


def _check_io(items: Sequence[Any], where: str, name_key: str, s3_key: str) -> List[Hit]:
    shape = "ProcessingInputs" if name_key == "InputName" else "ProcessingOutputs"
    hits: List[Hit] = []
    if len(items) > IO_MAX:
        hits.append(_hit(where, f"{len(items)} items, more than the {IO_MAX} that {shape} allows"))
    seen: Dict[str, int] = {}
    for index, item in enumerate(items):
        name = _mapping(item).get(name_key)
        if isinstance(name, str):
            if name in seen:
                hits.append(_hit(f"{where}[{index}].{name_key}", f"{name!r} is already the name of "
                                 f"{where}[{seen[name]}]; names must be unique"))
            seen.setdefault(name, index)
        s3 = _mapping(_mapping(item).get(s3_key))
        for field_name, value in s3.items():
            enum = ENUMS.get((s3_key, field_name))
            if enum and value not in enum[1]:
                hits.append(_hit(f"{where}[{index}].{s3_key}.{field_name}",
                                 f"{value!r} is not one of {', '.join(enum[1])} ({enum[0]})"))
    return hits


def _input_local_path(item: Any) -> Optional[str]:
    for key in ("S3Input", "DatasetDefinition"):
        local = _mapping(_mapping(item).get(key)).get("LocalPath")
        if isinstance(local, str):
            return local
    return None


def _local_paths(inputs: Sequence[Any], outputs: Sequence[Any]) -> Iterator[Tuple[str, Any]]:
    for index, item in enumerate(inputs):
        for key in ("S3Input", "DatasetDefinition"):
            section = _mapping(_mapping(item).get(key))
            if "LocalPath" in section:
                yield f"ProcessingInputs[{index}].{key}.LocalPath", section["LocalPath"]
    for index, item in enumerate(outputs):
        section = _mapping(_mapping(item).get("S3Output"))
        if "LocalPath" in section:
            yield f"ProcessingOutputConfig.Outputs[{index}].S3Output.LocalPath", section["LocalPath"]


def _check_local_paths(paths: List[Tuple[str, Any]]) -> List[Hit]:
    hits: List[Hit] = []
    usable: List[Tuple[str, str]] = []
    for where, value in paths:
        problems = _check_string(value, where, LOCAL_PATH_MAX, "ProcessingLocalPath")
        if not problems and not value.startswith(PROCESSING_PREFIX):
            problems = [_hit(where, f"{value!r} does not begin with {PROCESSING_PREFIX}")]
        elif not problems and not (posixpath.normpath(value) + "/").startswith(PROCESSING_PREFIX):
            problems = [_hit(where, f"{value!r} leads out of {PROCESSING_PREFIX} ('..')")]
        hits += problems
        if isinstance(value, str):
            usable.append((where, posixpath.normpath(value)))
    for i, (where, path) in enumerate(usable):
        for other_where, other in usable[:i]:
            hits += _overlap(where, path, other_where, other)
    return hits


def _overlap(where: str, path: str, other_where: str, other: str) -> List[Hit]:
    if path == other:
        return [_hit(where, f"{path!r} is the same folder as {other_where}; LocalPaths must be distinct")]
    if path.startswith(other.rstrip("/") + "/"):
        return [_hit(where, f"{path!r} is inside {other!r} ({other_where}); LocalPaths must not nest")]
    if other.startswith(path.rstrip("/") + "/"):
        return [_hit(where, f"{path!r} contains {other!r} ({other_where}); LocalPaths must not nest")]
    return []


def _check_range(value: Any, where: str, bounds: Tuple[int, int], shape: str) -> List[Hit]:
    low, high = bounds
    if not isinstance(value, int) or isinstance(value, bool):
        return [_hit(where, f"expected an integer ({shape}), got {_json_name(value)}")]
    if not low <= value <= high:
        return [_hit(where, f"{value} is outside {low} to {high} ({shape})")]
    return []


def _check_cluster(cluster: Mapping[str, Any]) -> List[Hit]:
    where = "ProcessingResources.ClusterConfig"
    hits: List[Hit] = []
    if "InstanceCount" in cluster:
        hits += _check_range(cluster["InstanceCount"], f"{where}.InstanceCount", INSTANCE_COUNT,
                             "ProcessingInstanceCount")
    if "VolumeSizeInGB" in cluster:
        hits += _check_range(cluster["VolumeSizeInGB"], f"{where}.VolumeSizeInGB", VOLUME_GB,
                             "ProcessingVolumeSizeInGB")
    if "InstanceType" in cluster:
        hits += _check_instance_type(cluster["InstanceType"], f"{where}.InstanceType")
    return hits


def _check_instance_type(value: Any, where: str) -> List[Hit]:
    known = _instance_types()
    if known is None:
        return []  # reported by validation_notes()
    version, types = known
    if value in types:
        return []
    import difflib

    close = difflib.get_close_matches(str(value), sorted(types), n=3)
    return [_hit(where, f"{value!r} is not a Processing instance type (ProcessingInstanceType in "
                        f"botocore {version}, {len(types)} types)",
                 fix=f"did you mean {', '.join(close)}?" if close else None)]


@lru_cache(maxsize=1)
def _instance_types() -> Optional[Tuple[str, FrozenSet[str]]]:
    """(botocore version, the ProcessingInstanceType enum), or None without botocore or its data.

    Read straight from botocore's packaged service model: importing botocore's loader for one enum
    costs ~0.2 s per `sm-lint run` (bench/bench_run.py), reading the file ~45 ms. The loader is the
    fallback for a layout this does not know."""
    import importlib.util

    spec = importlib.util.find_spec("botocore")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations)))
    found = _enum_from_package(root)
    return found if found is not None else _enum_from_loader()


def _enum_from_package(root: Path) -> Optional[Tuple[str, FrozenSet[str]]]:
    import gzip

    version = re.search(r"""^__version__\s*=\s*['"]([^'"]+)['"]""", _text_or_empty(root / "__init__.py"), re.M)
    folders = sorted((root / "data" / "sagemaker").glob("*/"))
    if version is None or not folders:
        return None
    newest = folders[-1]  # API versions are dates: the last is the loader's choice too
    try:
        packed = newest / "service-2.json.gz"
        text = (gzip.decompress(packed.read_bytes()) if packed.is_file()
                else (newest / "service-2.json").read_bytes()).decode("utf-8")
        # Decode only the one shape (1 ms) rather than the whole 20 MB model (30 ms).
        shape = re.search(r'"ProcessingInstanceType"\s*:\s*(?=\{)', text)
        if shape is None:
            return None
        definition, _ = json.JSONDecoder().raw_decode(text, shape.end())
        return version.group(1), frozenset(definition["enum"])
    except (OSError, ValueError, KeyError, TypeError, EOFError):
        return None


def _text_or_empty(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return ""


def _enum_from_loader() -> Optional[Tuple[str, FrozenSet[str]]]:
    try:
        import botocore
        import botocore.exceptions
        import botocore.loaders
    except ImportError:
        return None
    try:
        model = botocore.loaders.create_loader().load_service_model("sagemaker", "service-2")
        enum = model["shapes"]["ProcessingInstanceType"]["enum"]
    except (botocore.exceptions.DataNotFoundError, KeyError, OSError, ValueError):
        return None
    return str(botocore.__version__), frozenset(enum)
