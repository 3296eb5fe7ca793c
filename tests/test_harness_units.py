"""The harness's pure parts: the Processing plan (config files, sharding), archives in and out,
/proc signal masks, GPU counts and scenario choice. No Docker engine needed."""
from __future__ import annotations

import io
import json
import os
import signal
import tarfile
from pathlib import Path
from typing import Dict, List

import pytest

from sm_lint.errors import UsageError
from sm_lint.harness import payload
from sm_lint.harness.gpu import parse_query
from sm_lint.harness.gpus import gpu_count
from sm_lint.harness.jobspec import Overrides, load_request
from sm_lint.harness.plan import make_plan, processing_job_config, resource_config, share
from sm_lint.harness.procstatus import names, parse_status, signal_name, signal_number
from sm_lint.run_command import expand_scenarios


# -- the plan --------------------------------------------------------------------------------

def _plan(tmp_path: Path, **overrides: object):  # type: ignore[no-untyped-def]
    request = load_request(None, Overrides(image="img:1", **overrides))  # type: ignore[arg-type]
    return make_plan(request, "img:1")


def test_hosts_and_resource_config_are_sorted_as_text(tmp_path: Path) -> None:
    plan = _plan(tmp_path, instance_count=11)
    assert plan.hosts[0] == "algo-1" and plan.hosts[-1] == "algo-11"
    config = json.loads(plan.host_files("algo-3")["/opt/ml/config/resourceconfig.json"])
    assert config["current_host"] == "algo-3"
    assert config["hosts"][:3] == ["algo-1", "algo-10", "algo-11"]  # text order, as the platform writes it
    assert resource_config("algo-1", ("algo-1",)) == {"current_host": "algo-1", "hosts": ["algo-1"]}


def test_processing_job_config_has_arn_and_nulls_for_absent_fields(tmp_path: Path) -> None:
    plan = _plan(tmp_path, arguments=["--x", "1"], job_name="Nightly-Job")
    document = json.loads(plan.host_files("algo-1")["/opt/ml/config/processingjobconfig.json"])
    assert document["ProcessingJobArn"].endswith(":processing-job/nightly-job")
    assert document["AppSpecification"] == {"ImageUri": "img:1", "ContainerEntrypoint": None,
                                            "ContainerArguments": ["--x", "1"]}
    assert document["Environment"] is None and document["ProcessingInputs"] is None
    assert document["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"] is None
    assert processing_job_config({"ProcessingJobName": "a"})["StoppingCondition"] is None


def test_plan_takes_command_environment_and_io_from_the_request(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    plan = _plan(tmp_path, entrypoint=["python3", "job.py"], env={"A": "1"},
                 inputs=[(str(data), "/opt/ml/processing/input/data")],
                 outputs=[("/opt/ml/processing/output/out", str(tmp_path / "out"))],
                 max_runtime=60, network_isolation=True)
    assert plan.entrypoint == ["python3", "job.py"] and plan.arguments is None
    assert plan.environment == {"A": "1"}
    assert plan.inputs[0].local_dir == str(data.absolute()) and plan.inputs[0].container_path.endswith("/data")
    assert plan.outputs[0].local_dir == str((tmp_path / "out").absolute())
    assert plan.max_runtime == 60 and plan.network_isolation


def test_s3_sources_are_not_local_folders(tmp_path: Path) -> None:
    job = tmp_path / "job.json"
    job.write_text(json.dumps({
        "ProcessingInputs": [{"InputName": "raw", "S3Input": {
            "S3Uri": "s3://bucket/raw", "LocalPath": "/opt/ml/processing/input/raw", "S3DataType": "S3Prefix",
            "S3InputMode": "File", "S3DataDistributionType": "ShardedByS3Key"}}],
        "ProcessingOutputConfig": {"Outputs": [{"OutputName": "o", "S3Output": {
            "S3Uri": "s3://bucket/o", "LocalPath": "/opt/ml/processing/output/o", "S3UploadMode": "EndOfJob"}}]}}))
    plan = make_plan(load_request(str(job), Overrides(image="i")), "i")
    assert plan.inputs[0].local_dir is None and plan.inputs[0].sharded
    assert plan.outputs[0].local_dir is None


def test_sharding_gives_each_host_a_disjoint_share_of_all_files() -> None:
    files = [Path(f"/d/{name}") for name in "edcba"]
    hosts = ("algo-1", "algo-2")
    shares = [share(files, host, hosts) for host in hosts]
    assert sorted(shares[0] + shares[1]) == sorted(files)
    assert not set(shares[0]) & set(shares[1])
    assert len(shares[0]) == 3 and len(shares[1]) == 2


# -- archives ------------------------------------------------------------------------------------

def _members(archive: io.BufferedIOBase) -> Dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=archive, mode="r") as tar:
        return {member.name: member for member in tar.getmembers()}


def test_archive_has_parents_first_and_writable_output_folders(tmp_path: Path) -> None:
    (tmp_path / "in" / "sub").mkdir(parents=True)
    (tmp_path / "in" / "sub" / "a.csv").write_text("1,2\n")
    os.symlink("sub/a.csv", tmp_path / "in" / "link")
    builder = payload.ArchiveBuilder()
    builder.file_bytes("/opt/ml/config/x.json", b"{}")
    assert builder.tree(str(tmp_path / "in"), "/opt/ml/processing/input/data") == 2
    builder.directory("/opt/ml/processing/output/out", payload.WRITABLE_DIR)
    members = _members(builder.finish())
    names_in_order = list(members)
    assert names_in_order.index("opt") < names_in_order.index("opt/ml") < names_in_order.index("opt/ml/config/x.json")
    assert members["opt/ml/processing/input/data/sub/a.csv"].size == 4
    assert members["opt/ml/processing/input/data/link"].issym()
    assert members["opt/ml/processing/output/out"].mode == 0o777
    assert members["opt/ml/processing/input/data/sub/a.csv"].uid == 0


def test_missing_input_folder_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="input folder does not exist"):
        payload.ArchiveBuilder().tree(str(tmp_path / "nope"), "/opt/ml/processing/input/x")


def _tar_stream(entries: List[tarfile.TarInfo], data: Dict[str, bytes]) -> List[bytes]:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for info in entries:
            content = data.get(info.name)
            if content is not None:
                info.size = len(content)
            tar.addfile(info, io.BytesIO(content) if content is not None else None)
    raw = buffer.getvalue()
    return [raw[i:i + 1000] for i in range(0, len(raw), 1000)]  # chunked like the engine's stream


def _info(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


def test_extract_drops_the_folder_name_and_keeps_files_inside(tmp_path: Path) -> None:
    chunks = _tar_stream([_info("out", tarfile.DIRTYPE), _info("out/a.txt"), _info("out/deep/b.txt"),
                          _info("out/ok", tarfile.SYMTYPE, "a.txt")],
                         {"out/a.txt": b"x" * 5000, "out/deep/b.txt": b"b"})
    written, refused = payload.extract_into(chunks, tmp_path / "dest")
    assert written == 3 and refused == []
    assert (tmp_path / "dest" / "a.txt").read_bytes() == b"x" * 5000
    assert (tmp_path / "dest" / "deep" / "b.txt").read_text() == "b"
    assert os.readlink(tmp_path / "dest" / "ok") == "a.txt"


def test_extract_refuses_names_and_links_that_lead_out(tmp_path: Path) -> None:
    chunks = _tar_stream([_info("out/../../evil"), _info("out/abs", tarfile.SYMTYPE, "/etc/passwd"),
                          _info("out/up", tarfile.SYMTYPE, "../../x"), _info("out/fifo", tarfile.FIFOTYPE)],
                         {"out/../../evil": b"evil"})
    written, refused = payload.extract_into(chunks, tmp_path / "dest")
    assert written == 0
    assert len(refused) == 4, refused
    assert not (tmp_path / "evil").exists() and not list((tmp_path / "dest").iterdir())


def test_read_single_file_caps_the_size() -> None:
    chunks = _tar_stream([_info("message")], {"message": b"m" * 100_000})
    assert payload.read_single_file(chunks, limit=10) == b"m" * 10


# -- signals -----------------------------------------------------------------------------------

STATUS = """Name:\tsh
NSpid:\t4242\t1
SigQ:\t0/63432
SigPnd:\t0000000000000000
ShdPnd:\t0000000000000000
SigBlk:\t0000000000000000
SigIgn:\t0000000000000004
SigCgt:\t0000000000010002
"""


def test_masks_from_proc_status() -> None:
    masks = parse_status(STATUS)
    assert masks is not None
    assert masks.catches(signal.SIGINT) and masks.catches(signal.SIGCHLD)
    assert not masks.catches(signal.SIGTERM)
    assert masks.ignores(signal.SIGQUIT)
    assert names(masks.caught) == "SIGINT, SIGCHLD"
    assert parse_status("Name: x\n") is None


@pytest.mark.parametrize("text, number", [("SIGINT", 2), ("int", 2), ("TERM", 15), ("9", 9)])
def test_signal_names(text: str, number: int) -> None:
    assert signal_number(text) == number
    assert signal_name(number) == signal.Signals(number).name


@pytest.mark.parametrize("text", ["SIGNOPE", "0", "99", ""])
def test_bad_signal_names(text: str) -> None:
    with pytest.raises(ValueError):
        signal_number(text)


# -- GPUs and scenarios ------------------------------------------------------------------------

@pytest.mark.parametrize("instance_type, count", [
    ("ml.g5.xlarge", 1), ("ml.g5.12xlarge", 4), ("ml.g5.48xlarge", 8), ("ml.p4d.24xlarge", 8),
    ("ml.p3.2xlarge", 1), ("ml.m5.xlarge", 0), ("ml.c5.2xlarge", 0), ("ml.inf2.xlarge", None), ("bogus", None)])
def test_gpu_counts(instance_type: str, count: object) -> None:
    assert gpu_count(instance_type) == count


def test_nvidia_smi_csv_is_parsed() -> None:
    lines = ["0, NVIDIA A10G, GPU-5a1e0000-0000-4000-8000-000000000000, 535.104.05", "garbage"]
    gpus = parse_query(lines)
    assert len(gpus) == 1 and gpus[0].name == "NVIDIA A10G" and gpus[0].driver == "535.104.05"


def test_scenarios_expand_and_refuse_unknown_names() -> None:
    assert expand_scenarios([]) == ("completion",)
    assert expand_scenarios(["all"]) == ("completion", "stop", "gpu")
    assert expand_scenarios(["stop,completion", "stop"]) == ("stop", "completion")
    with pytest.raises(UsageError, match="'halt'"):
        expand_scenarios(["halt"])
