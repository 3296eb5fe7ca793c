"""What SageMaker Processing would set up for a request, as plain data: the hosts, each host's
command, environment, config files, inputs and output folders. No Docker here (lifecycle.py and
the scenarios turn a plan into containers).

Sources: "How Amazon SageMaker Processing Runs Your Processing Container Image" (command, exit
codes, /opt/ml/output/message), "How Amazon SageMaker Processing Configures Input and Output For
Your Processing Container" (LocalPath, output folders made before the entrypoint starts), "Save and
Access Metadata Information About Your Processing Job" (/opt/ml/config/processingjobconfig.json,
/opt/ml/config/resourceconfig.json).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Tuple

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

    def host_files(self, host: str) -> Dict[str, bytes]:
        """The config files of one host, by absolute container path."""
        return {
            f"{CONFIG_DIR}/processingjobconfig.json": _json(processing_job_config(self.request)),
            f"{CONFIG_DIR}/resourceconfig.json": _json(resource_config(host, self.hosts)),
        }


def make_plan(request: Mapping[str, Any], image: str) -> JobPlan:
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


def share(files: List[Path], host: str, hosts: Tuple[str, ...]) -> List[Path]:
    """ShardedByS3Key: the objects are split among the hosts; every host gets a disjoint part
    (round robin over the sorted keys, so the split is stable and near even)."""
    position = hosts.index(host)
    return [path for index, path in enumerate(sorted(files)) if index % len(hosts) == position]


def _json(document: Any) -> bytes:
    return (json.dumps(document, indent=2) + "\n").encode()
