"""What SageMaker Processing would set up for a request, as plain data: the hosts, each host's
command, environment, config files, inputs and output folders. No Docker here (lifecycle.py and
the scenarios turn a plan into containers).

Sources: "How Amazon SageMaker Processing Runs Your Processing Container Image" (command, exit
codes, /opt/ml/output/message), "How Amazon SageMaker Processing Configures Input and Output For
Your Processing Container" (LocalPath, output folders made before the entrypoint starts), "Save and
Access Metadata Information About Your Processing Job" (/opt/ml/config/processingjobconfig.json,
/opt/ml/config/resourceconfig.json).

Under another profile (`--profile`, data/profiles.toml) the same plan holds that contract's set-up:
training gets `train` as its argument, /opt/ml/input/config/{hyperparameters,inputdataconfig,
resourceconfig}.json, its channels under /opt/ml/input/data/<channel> and /opt/ml/model to fill;
inference and batch transform get `serve`, the model under /opt/ml/model and, for batch, the
SAGEMAKER_BATCH environment ("Use Your Own Training Algorithms", "Use Your Own Inference Code").
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Tuple

from sm_lint import profiles
from sm_lint.harness.jobspec import local_dir_of

CONFIG_DIR = "/opt/ml/config"
OUTPUT_MESSAGE = "/opt/ml/output/message"
DEFAULT_MAX_RUNTIME = 86400  # CreateProcessingJob's default StoppingCondition
REGION = "us-east-1"
ACCOUNT = "000000000000"


class InputData(NamedTuple):
    name: str
    container_path: str  # LocalPath
    local_dir: Optional[str]  # None: an S3 or dataset input that a local run cannot fetch
    sharded: bool  # S3DataDistributionType ShardedByS3Key: each host gets its share of the files


class OutputData(NamedTuple):
    name: str
    container_path: str
    local_dir: Optional[str]  # None: an S3 destination, not collected


class ProfileInputs(NamedTuple):
    """What the non-Processing profiles take besides the request (their `sm-lint run` flags)."""

    model_data: Optional[str] = None  # a folder or a model.tar.gz for /opt/ml/model (serving)
    hyperparameters: Mapping[str, str] = {}  # training's hyperparameters.json
    channels: Tuple[Tuple[str, str], ...] = ()  # training: (channel name, local folder)
    model_output: Optional[str] = None  # training: where /opt/ml/model and /opt/ml/output come back


class JobPlan(NamedTuple):
    request: Dict[str, Any]  # the merged, validated CreateProcessingJob request
    image: str
    hosts: Tuple[str, ...]  # algo-1 ... algo-N
    entrypoint: Optional[List[str]]  # ContainerEntrypoint, or None for the image's ENTRYPOINT
    arguments: Optional[List[str]]  # ContainerArguments, or None for the image's CMD
    environment: Dict[str, str]
    inputs: Tuple[InputData, ...]
    outputs: Tuple[OutputData, ...]
    max_runtime: int
    network_isolation: bool
    instance_type: str
    profile: str = profiles.DEFAULT
    hyperparameters: Mapping[str, str] = {}

    def host_files(self, host: str) -> Dict[str, bytes]:
        """The config files of one host, by absolute container path."""
        contract = profiles.get(self.profile)
        if contract.serves:
            return {}
        if self.profile == "training":
            folder = contract.get("config_dir")
            return {
                f"{folder}/hyperparameters.json": _json(dict(self.hyperparameters)),
                f"{folder}/inputdataconfig.json": _json({item.name: dict(contract.get("channel_config"))
                                                          for item in self.inputs}),
                f"{folder}/resourceconfig.json": _json(training_resource_config(host, self.hosts, self.instance_type)),
            }
        return {
            f"{CONFIG_DIR}/processingjobconfig.json": _json(processing_job_config(self.request)),
            f"{CONFIG_DIR}/resourceconfig.json": _json(resource_config(host, self.hosts)),
        }


def make_plan(request: Mapping[str, Any], image: str, profile: str = profiles.DEFAULT,
              extra: ProfileInputs = ProfileInputs()) -> JobPlan:
    plan = _processing_plan(request, image)
    if profile == profiles.DEFAULT:
        return plan
    contract = profiles.get(profile)
    arguments = plan.arguments
    if plan.entrypoint is None and arguments is None:
        arguments = [contract.argument]  # `docker run IMAGE train` / `docker run IMAGE serve`
    environment = dict(contract.get("environment") or {})
    environment.update(plan.environment)
    model_dir = contract.get("model_dir")
    if contract.serves:
        # The model is put where the platform unpacks model.tar.gz; without one the folder is empty.
        inputs: Tuple[InputData, ...] = (InputData("model", model_dir, extra.model_data, False),)
        outputs: Tuple[OutputData, ...] = ()
    else:
        inputs = tuple(InputData(name, f"{contract.get('channels_dir')}/{name}", folder, False)
                       for name, folder in extra.channels)
        out = extra.model_output
        outputs = (OutputData("model", model_dir, str(Path(out, "model")) if out else None),
                   OutputData("output", "/opt/ml/output", str(Path(out, "output")) if out else None))
    return plan._replace(arguments=arguments, environment=environment, inputs=inputs, outputs=outputs,
                         profile=profile, hyperparameters=dict(extra.hyperparameters))


def _processing_plan(request: Mapping[str, Any], image: str) -> JobPlan:
    app = request.get("AppSpecification", {})
    cluster = request["ProcessingResources"]["ClusterConfig"]
    count = int(cluster.get("InstanceCount", 1))
    inputs = []
    for index, item in enumerate(request.get("ProcessingInputs", [])):
        s3 = item.get("S3Input") or {}
        dataset = item.get("DatasetDefinition") or {}
        path = s3.get("LocalPath") or dataset.get("LocalPath")
        if not path:
            continue
        local = local_dir_of(s3["S3Uri"]) if s3.get("S3Uri") else None
        sharded = (s3.get("S3DataDistributionType") or dataset.get("DataDistributionType")) == "ShardedByS3Key"
        inputs.append(InputData(item.get("InputName") or f"input-{index + 1}", path, local, sharded))
    outputs = []
    for index, item in enumerate(request.get("ProcessingOutputConfig", {}).get("Outputs", [])):
        s3 = item.get("S3Output") or {}
        if s3.get("LocalPath"):
            local = local_dir_of(s3["S3Uri"]) if s3.get("S3Uri") else None
            outputs.append(OutputData(item.get("OutputName") or f"output-{index + 1}", s3["LocalPath"], local))
    return JobPlan(
        request=dict(request),
        image=image,
        hosts=tuple(f"algo-{n}" for n in range(1, count + 1)),
        entrypoint=list(app["ContainerEntrypoint"]) if app.get("ContainerEntrypoint") else None,
        arguments=list(app["ContainerArguments"]) if app.get("ContainerArguments") else None,
        environment=dict(request.get("Environment") or {}),
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        max_runtime=int(request.get("StoppingCondition", {}).get("MaxRuntimeInSeconds", DEFAULT_MAX_RUNTIME)),
        network_isolation=bool(request.get("NetworkConfig", {}).get("EnableNetworkIsolation", False)),
        instance_type=str(cluster.get("InstanceType", "")),
    )


def job_arn(name: str) -> str:
    return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:processing-job/{name.lower()}"


def processing_job_config(request: Mapping[str, Any]) -> Dict[str, Any]:
    """The request plus ProcessingJobArn, with null for the documented fields left out, as the
    platform writes /opt/ml/config/processingjobconfig.json."""
    app = request.get("AppSpecification", {})
    cluster = request.get("ProcessingResources", {}).get("ClusterConfig", {})
    output_config = request.get("ProcessingOutputConfig")
    document: Dict[str, Any] = {
        "ProcessingJobArn": job_arn(str(request.get("ProcessingJobName", ""))),
        "ProcessingJobName": request.get("ProcessingJobName"),
        "AppSpecification": {
            "ImageUri": app.get("ImageUri"),
            "ContainerEntrypoint": app.get("ContainerEntrypoint"),
            "ContainerArguments": app.get("ContainerArguments"),
        },
        "Environment": request.get("Environment"),
        "NetworkConfig": request.get("NetworkConfig"),
        "ProcessingInputs": request.get("ProcessingInputs"),
        "ProcessingOutputConfig": None if output_config is None else {
            "Outputs": output_config.get("Outputs"), "KmsKeyId": output_config.get("KmsKeyId")},
        "ProcessingResources": {"ClusterConfig": {
            "InstanceCount": cluster.get("InstanceCount"),
            "InstanceType": cluster.get("InstanceType"),
            "VolumeSizeInGB": cluster.get("VolumeSizeInGB"),
            "VolumeKmsKeyId": cluster.get("VolumeKmsKeyId"),
        }},
        "RoleArn": request.get("RoleArn"),
        "StoppingCondition": request.get("StoppingCondition"),
        "ExperimentConfig": request.get("ExperimentConfig"),
    }
    return document


def resource_config(host: str, hosts: Tuple[str, ...]) -> Dict[str, Any]:
    """`{"current_host": "algo-1", "hosts": [...]}`; the hosts sorted as text, as the platform does."""
    return {"current_host": host, "hosts": sorted(hosts)}


def training_resource_config(host: str, hosts: Tuple[str, ...], instance_type: str) -> Dict[str, Any]:
    """/opt/ml/input/config/resourceconfig.json of a training host: the hosts sorted as text, the
    one instance group of a homogeneous cluster, and the network interface ("Distributed Training
    Configuration", your-algorithms-training-algo-running-container)."""
    ordered = sorted(hosts)
    return {
        "current_host": host,
        "current_instance_type": instance_type,
        "current_group_name": "homogeneousCluster",
        "hosts": ordered,
        "instance_groups": [{"instance_group_name": "homogeneousCluster", "instance_type": instance_type,
                             "hosts": ordered}],
        "network_interface_name": profiles.get("training").get("network_interface_name"),
    }


def share(files: List[Path], host: str, hosts: Tuple[str, ...]) -> List[Path]:
    """ShardedByS3Key: the objects are split among the hosts; every host gets a disjoint part
    (round robin over the sorted keys, so the split is stable and near even)."""
    position = hosts.index(host)
    return [path for index, path in enumerate(sorted(files)) if index % len(hosts) == position]


def _json(document: Any) -> bytes:
    return (json.dumps(document, indent=2) + "\n").encode()
