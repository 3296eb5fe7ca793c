"""Driver and CUDA-toolkit verdicts on REAL packages, in both layers (issue 9, part 2).

For each package below: `sm-lint check` on the Dockerfile a user writes to install it on Debian
bookworm, and `sm-lint inspect` on a docker-save archive whose filesystem is what that install
leaves of NVIDIA's packages (the package's real files and those of its Depends closure, fetched from
Debian's registry or PyPI by tests/realpkgs.py and cached under tests/.cache/realpkgs/), must give
the TRUE verdict, and the same one. The table states what is true, not what sm-lint says today.

Verdicts (what installing the package puts in the image):
  driver          files that libnvidia-container injects from the host (SM120 / SM220); no CUDA
                  toolkit, so with --gpu also SM121 / SM221
  driver+toolkit  both: SM120 / SM220, and no SM121 / SM221 with --gpu
  toolkit         the CUDA runtime/libraries only: no SM120 / SM220, no SM121 / SM221 with --gpu
  neither         no driver file and no toolkit: no SM120 / SM220; with --gpu SM121 / SM221
  compat          the forward-compatibility libcuda under /usr/local/cuda-X.Y/compat (SM222, never
                  SM220); no Debian or PyPI package ships it, so no row uses it yet

What counts as a driver file is what libnvidia-container mounts from the host driver into a GPU
container, listed in NVIDIA/libnvidia-container src/nvc_info.c: utility_bins (nvidia-smi,
nvidia-debugdump, nvidia-persistenced, nv-fabricmanager), compute_bins (nvidia-cuda-mps-control,
nvidia-cuda-mps-server), utility_libs (libnvidia-ml, libnvidia-cfg, libnvidia-nscq), compute_libs
(libcuda, libcudadebugger, libnvidia-opencl, libnvidia-ptxjitcompiler, libnvidia-allocator,
libnvidia-pkcs11(-openssl3), libnvidia-nvvm, libnvidia-gpucomp, ...), video_libs, graphics_libs
and graphics_libs_glvnd (libGLX_nvidia, libEGL_nvidia, libnvidia-eglcore, libnvidia-glcore, ...),
and the GSP firmware: lookup_firmwares() globs NV_FIRMWARE_PATH "/lib/firmware/nvidia/<driver
version>" + "gsp*.bin" and mounts those files. Commented out there, so NOT injected:
libnvidia-egl-wayland.so ("EGL wayland platform extension"), nvidia-modprobe, nvidia-settings,
nvidia-xconfig; and "Display libraries are not needed": nvidia_drv.so, libglx.so (X server modules).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest
from typer.testing import CliRunner

import realpkgs
from sm_lint import nvidia
from sm_lint.cli import app

# package -> (ecosystem, verdict). Versions are those of bookworm at fetch time (driver 535.261.03,
# Tesla 535.216.03, CUDA 11.8.89); the test report shows them.
EXPECTED: Dict[str, Tuple[str, str]] = {
    # libcuda.so.535.261.03 under /usr/lib/x86_64-linux-gnu/nvidia/current/ (nvc_info.c compute_libs
    # "libcuda.so"); Depends bring libnvidia-ptxjitcompiler and libnvidia-pkcs11-openssl3 (compute_libs)
    "libcuda1": ("debian", "driver"),
    # libnvidia-ml.so.535.261.03 (utility_libs "libnvidia-ml.so"): NVML, what nvidia-smi loads
    "libnvidia-ml1": ("debian", "driver"),
    # the binary /usr/lib/nvidia/current/nvidia-smi (utility_bins; Debian's postinst adds the
    # alternatives link /usr/bin/nvidia-smi) + libnvidia-ml1 by Depends; libnvidia-container injects
    # nvidia-smi from the host. /usr/share/lintian/overrides/nvidia-smi is a text file, not the binary
    "nvidia-smi": ("debian", "driver"),
    # libnvidia-ptxjitcompiler.so.535.261.03 (compute_libs: "PTX-SASS JIT compiler (used by libcuda)")
    "libnvidia-ptxjitcompiler1": ("debian", "driver"),
    # libnvidia-cfg.so.535.261.03 (utility_libs "libnvidia-cfg.so")
    "libnvidia-cfg1": ("debian", "driver"),
    # libcudadebugger.so.535.261.03 (compute_libs) + libcuda1 by Depends
    "libcudadebugger1": ("debian", "driver"),
    # libnvidia-allocator.so.535.261.03 (compute_libs)
    "libnvidia-allocator1": ("debian", "driver"),
    # /usr/bin/nvidia-cuda-mps-control and /usr/sbin/nvidia-cuda-mps-server (compute_bins)
    "nvidia-cuda-mps": ("debian", "driver"),
    # /usr/bin/nvidia-persistenced (utility_bins; contrib) + libnvidia-cfg1 by Depends
    "nvidia-persistenced": ("debian", "driver"),
    # the kernel half of the driver: /usr/src/nvidia-current-535.261.03 with the binary module
    # objects nv-kernel.o_binary (DKMS builds nvidia.ko from them at install); Depends
    # firmware-nvidia-gsp, whose gsp_*.bin the host's driver provides (see firmware-nvidia-gsp)
    "nvidia-kernel-dkms": ("debian", "driver"),
    # DECIDED neither: only /etc/nvidia/current/*.conf modprobe settings; Depends nvidia-modprobe
    # (commented out of nvc_info.c utility_bins: not injected), nvidia-kernel-common (udev rules and a
    # shell helper). Nothing in the install is a file libnvidia-container mounts, nothing conflicts
    "nvidia-kernel-support": ("debian", "neither"),
    # meta: its own files are docs only; Depends libgl1-nvidia-glvnd-glx, nvidia-egl-icd, which pull
    # libGLX_nvidia.so.0 / libEGL_nvidia.so.0 (graphics_libs_glvnd), libnvidia-eglcore,
    # libnvidia-glcore (graphics_libs): the host driver's graphics libraries
    "nvidia-driver-libs": ("debian", "driver"),
    # meta: Depends nvidia-driver-libs, nvidia-driver-bin (nvidia-debugdump, utility_bins),
    # nvidia-vdpau-driver (libvdpau_nvidia, video_libs), nvidia-kernel-dkms, libnvidia-ml1 ...
    "nvidia-driver": ("debian", "driver"),
    # DECIDED driver: /lib/firmware/nvidia/535.261.03/gsp_ga10x.bin and gsp_tu10x.bin are part of
    # the driver the host provides: nvc_info.c lookup_firmwares() mounts the host's
    # /lib/firmware/nvidia/<version>/gsp*.bin into the container (NV_FIRMWARE_PATH + "gsp*.bin"), so
    # a baked copy collides like any driver file (and is 62 MB of dead weight)
    "firmware-nvidia-gsp": ("debian", "driver"),
    # the Tesla flavour: libcuda.so.535.216.03 under /usr/lib/x86_64-linux-gnu/nvidia/tesla-535/
    "libnvidia-tesla-535-cuda1": ("debian", "driver"),
    # /usr/lib/nvidia/tesla-535/nvidia-smi + libnvidia-tesla-535-ml1 by Depends
    "nvidia-tesla-535-smi": ("debian", "driver"),
    # libnvidia-ml.so.535.216.03 under .../nvidia/tesla-535/
    "libnvidia-tesla-535-ml1": ("debian", "driver"),
    # meta, as nvidia-driver-libs: libGLX_nvidia/libEGL_nvidia/libnvidia-eglcore/-glcore of tesla-535
    "nvidia-tesla-535-driver-libs": ("debian", "driver"),
    # /lib/firmware/nvidia/535.216.03/gsp_*.bin (from Debian's Contents index: 38 MB not downloaded)
    "firmware-nvidia-tesla-535-gsp": ("debian", "driver"),
    # NOT a driver: libnvidia-egl-wayland.so.1 is the open-source EGL Wayland platform (source
    # egl-wayland, Debian main); nvc_info.c graphics_libs has it commented out: never injected
    "libnvidia-egl-wayland1": ("debian", "neither"),
    # NOT a driver: /usr/bin/nvidia-modprobe, the setuid module loader libnvidia-container uses on
    # the HOST; commented out of nvc_info.c utility_bins, never injected
    "nvidia-modprobe": ("debian", "neither"),
    # /usr/lib/x86_64-linux-gnu/libcudart.so.11.8.89: the CUDA runtime
    "libcudart11.0": ("debian", "toolkit"),
    # libcublas.so.11 (+ libcublasLt.so.11 by Depends): CUDA math libraries (file list from Contents:
    # 44 MB + 206 MB not downloaded)
    "libcublas11": ("debian", "toolkit"),
    # its own file is /usr/include/nvml.h, but it Depends libnvidia-ml1 (>= 520): the install bundles
    # the driver's libnvidia-ml.so.535.261.03; no CUDA runtime
    "libnvidia-ml-dev": ("debian", "driver"),
    # Debian's CUDA toolkit (file list from Contents: 774 MB not downloaded) Depends
    # "libcuda1 (>= 520) | libnvidia-tesla-cuda1 | ...": apt installs libcuda1, the DRIVER's libcuda,
    # beside libcudart11.0, libcublas11 ...; so it bundles the driver AND carries the toolkit
    "nvidia-cuda-dev": ("debian", "driver+toolkit"),
    # Depends nvidia-cuda-dev (above): driver (libcuda1, libnvidia-ml1) and toolkit (nvcc, cudart)
    "nvidia-cuda-toolkit": ("debian", "driver+toolkit"),
    # the wheel's site-packages/nvidia/cuda_runtime/lib/libcudart.so.12: the CUDA runtime from PyPI
    "nvidia-cuda-runtime-cu12": ("pypi", "toolkit"),
}

DRIVER_RULES = {"check": "SM120", "inspect": "SM220"}
TOOLKIT_RULES = {"check": "SM121", "inspect": "SM221"}
COMPAT_RULE = "SM222"


def _expect(verdict: str) -> Tuple[bool, bool]:
    """(driver bundled, toolkit present) for a verdict."""
    return {"driver": (True, False), "driver+toolkit": (True, True), "toolkit": (False, True),
            "neither": (False, False), "compat": (False, True)}[verdict]


# -- fetching ------------------------------------------------------------------------------------

_failures: Dict[str, str] = {}


def _fetch(name: str, what):  # type: ignore[no-untyped-def]
    """Run a fetch; fail under CI=true, skip with the reason elsewhere. One failure per package is
    remembered so the other assertions of that package do not retry the network."""
    if name in _failures:
        reason = _failures[name]
    else:
        try:
            return what()
        except realpkgs.FetchError as exc:
            reason = _failures[name] = f"could not fetch {name}: {exc}"
    if realpkgs.in_ci():
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def _archive(name: str) -> Path:
    ecosystem = EXPECTED[name][0]
    return _fetch(name, lambda: realpkgs.image_archive(name, ecosystem))


# -- running sm-lint -----------------------------------------------------------------------------

_runs: Dict[Tuple[str, ...], Set[str]] = {}


def _rules(*args: str) -> Set[str]:
    """Rule ids of the JSON report of `sm-lint ARGS -f json` (cached per argument list)."""
    if args not in _runs:
        result = CliRunner().invoke(app, [*args, "-f", "json"])
        assert result.exit_code in (0, 1), f"sm-lint {' '.join(args)} exited {result.exit_code}:\n{result.output}"
        _runs[args] = {f["rule"] for f in json.loads(result.output)["findings"]}
    return _runs[args]


@pytest.fixture(scope="session")
def dockerfiles(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    root = tmp_path_factory.mktemp("realpkgs-dockerfiles")
    paths = {}
    for name, (ecosystem, _) in EXPECTED.items():
        folder = root / name
        folder.mkdir()
        (folder / "process.py").write_text("print('hello')\n")
        (folder / "Dockerfile").write_text(realpkgs.dockerfile(name, ecosystem))
        paths[name] = folder / "Dockerfile"
    return paths


def _check(dockerfiles: Dict[str, Path], name: str, *mode: str) -> Set[str]:
    return _rules("check", str(dockerfiles[name]), *mode)


def _inspect(name: str, *mode: str) -> Set[str]:
    return _rules("inspect", str(_archive(name)), *mode)


def _describe(name: str) -> str:
    ecosystem, verdict = EXPECTED[name]
    return f"{name} ({ecosystem}) is {verdict}"


# -- (a) check -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_check_verdict(dockerfiles: Dict[str, Path], name: str) -> None:
    """`sm-lint check --gpu` on the Dockerfile that installs the package."""
    driver, toolkit = _expect(EXPECTED[name][1])
    found = _check(dockerfiles, name, "--gpu")
    wrong = []
    if (DRIVER_RULES["check"] in found) != driver:
        wrong.append(f"SM120 {'missing' if driver else 'reported'}")
    if (TOOLKIT_RULES["check"] in found) != (not toolkit):
        wrong.append(f"SM121 {'reported' if toolkit else 'missing'}")
    assert not wrong, f"{_describe(name)}: {', '.join(wrong)}; check --gpu found {sorted(found)}"


# -- (b) inspect ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_inspect_verdict(name: str) -> None:
    """`sm-lint inspect --gpu` on the image made of the package's real files."""
    verdict = EXPECTED[name][1]
    driver, toolkit = _expect(verdict)
    found = _inspect(name, "--gpu")
    wrong = []
    if (DRIVER_RULES["inspect"] in found) != driver:
        wrong.append(f"SM220 {'missing' if driver else 'reported'}")
    if (TOOLKIT_RULES["inspect"] in found) != (not toolkit):
        wrong.append(f"SM221 {'reported' if toolkit else 'missing'}")
    if (COMPAT_RULE in found) != (verdict == "compat"):
        wrong.append(f"SM222 {'missing' if verdict == 'compat' else 'reported'}")
    assert not wrong, f"{_describe(name)}: {', '.join(wrong)}; inspect --gpu found {sorted(found)}"


# -- (c) the two layers agree --------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["--gpu", "auto"])
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_check_and_inspect_agree(dockerfiles: Dict[str, Path], name: str, mode: str) -> None:
    """A package flagged as a driver by check is flagged by inspect and the other way round; the
    same for the missing toolkit, with --gpu and with the evidence-based default."""
    args = () if mode == "auto" else (mode,)
    checked, inspected = _check(dockerfiles, name, *args), _inspect(name, *args)
    for kind, rules in (("driver", DRIVER_RULES), ("no toolkit", TOOLKIT_RULES)):
        by_check, by_inspect = rules["check"] in checked, rules["inspect"] in inspected
        assert by_check == by_inspect, (
            f"{name} ({mode}): check says {kind}={by_check} ({sorted(checked)}), "
            f"inspect says {kind}={by_inspect} ({sorted(inspected)})")


# -- the Debian file lists -----------------------------------------------------------------------

# Debian source packages of the driver; their binaries' ELF files in bin/sbin/lib folders are
# driver files. xserver-xorg-video-nvidia is left out: nvidia_drv.so and libglxserver_nvidia.so are
# X server modules, "Display libraries are not needed" (nvc_info.c), not mounted into containers.
DRIVER_SOURCES = {"nvidia-graphics-drivers", "nvidia-graphics-drivers-tesla-535", "nvidia-persistenced"}
NOT_INJECTED = {"xserver-xorg-video-nvidia", "xserver-xorg-video-nvidia-tesla-535"}
NOT_DRIVER_PACKAGES = {"libnvidia-egl-wayland1", "nvidia-modprobe", "libcudart11.0", "libnvidia-ml-dev",
                       "nvidia-kernel-support", "nvidia-kernel-common", "nvidia-support", "nvidia-installer-cleanup"}
_in_program_dir = realpkgs.in_program_dir


def _is_elf(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(4) == b"\x7fELF"


def _downloaded_packages() -> List[realpkgs.Package]:
    """Every downloaded Debian package the table's installs bring in."""
    names: List[str] = []
    for name, (ecosystem, _) in EXPECTED.items():
        if ecosystem == "debian":
            names += [n for n in _fetch(name, lambda n=name: realpkgs.closure(n)) if n not in names]
    packages = [_fetch(n, lambda n=n: realpkgs.debian(n)) for n in names]
    return [p for p in packages if p.downloaded]


def test_debian_driver_files_are_driver_files() -> None:
    """Each regular ELF file of a driver package in a bin/sbin/lib folder, and the GSP firmware,
    is a driver file (by sm_lint.nvidia.is_driver_file); none of their /usr/share or /etc files is."""
    wrong: List[str] = []
    checked = 0
    for pkg in _downloaded_packages():
        if realpkgs.source_of(pkg.name) not in DRIVER_SOURCES or pkg.name in NOT_INJECTED | NOT_DRIVER_PACKAGES:
            continue
        assert pkg.root is not None
        for path, kind, _, _ in pkg.entries:
            if kind != "file":
                continue
            local = pkg.root / path.lstrip("/")
            firmware = path.startswith("/lib/firmware/nvidia/") and path.endswith(".bin")
            if (_in_program_dir(path) and _is_elf(local)) or firmware:
                checked += 1
                if not nvidia.is_driver_file(path):
                    wrong.append(f"{pkg.name}: {path} is a driver file, is_driver_file says no")
            elif path.startswith(("/usr/share/", "/etc/")):
                if nvidia.is_driver_file(path):
                    wrong.append(f"{pkg.name}: {path} is not a driver file (docs, config), is_driver_file says yes")
    assert checked > 20, f"only {checked} driver files seen: the fixture packages changed?"
    assert not wrong, "\n".join(wrong)


def test_lintian_override_is_not_the_binary() -> None:
    """/usr/share/lintian/overrides/nvidia-smi is the text file Debian ships beside the binary."""
    smi = _fetch("nvidia-smi", lambda: realpkgs.debian("nvidia-smi"))
    assert "/usr/share/lintian/overrides/nvidia-smi" in smi.paths
    assert "/usr/lib/nvidia/current/nvidia-smi" in smi.paths
    assert not nvidia.is_driver_file("/usr/share/lintian/overrides/nvidia-smi")
    assert not nvidia.is_driver_file("/usr/share/bug/nvidia-smi/script")
    assert nvidia.is_driver_file("/usr/lib/nvidia/current/nvidia-smi")


def test_not_driver_packages_hold_no_driver_file() -> None:
    """libnvidia-egl-wayland1, nvidia-modprobe, the CUDA runtime and NVML headers, the kernel support
    config: none of their files is a driver file."""
    wrong = []
    for pkg in _downloaded_packages():
        if pkg.name in NOT_DRIVER_PACKAGES:
            wrong += [f"{pkg.name}: {p}" for p in pkg.paths if nvidia.is_driver_file(p)]
    assert not wrong, "not driver files, but is_driver_file says yes:\n" + "\n".join(wrong)
