"""The SageMaker Processing contract: how a job's command is put together from the image and the
request. Source: "How Amazon SageMaker Processing Runs Your Processing Container Image" and the
Docker run reference (ENTRYPOINT/CMD interaction). Processing appends no argument of its own."""
from __future__ import annotations

from typing import NamedTuple, Optional, Sequence, Tuple

SHELLS = frozenset({"sh", "bash", "dash", "ash", "zsh", "ksh", "mksh"})
# Init programs made to be PID 1: they forward signals to the program they start.
INITS = frozenset({"tini", "tini-static", "dumb-init", "catatonit", "s6-svscan"})
# Docker's PATH for a container whose image sets none (and that of the Debian/Ubuntu bases).
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class Resolution(NamedTuple):
    argv: Tuple[str, ...]  # what the container runs; () when it cannot start
    case: str  # which of the four request shapes applied
    dropped: Tuple[str, ...]  # ContainerArguments a shell-form entrypoint silently ignores


def is_shell_form(argv: Optional[Sequence[str]], shell: Optional[Sequence[str]] = None) -> bool:
    """Docker stores shell form as SHELL + [text]: `["/bin/sh", "-c", "text"]` by default, or the
    SHELL instruction's words (`["/bin/bash", "-o", "pipefail", "-c"]`) + [text]."""
    if not argv or len(argv) < 3:
        return False
    if shell and len(argv) == len(shell) + 1 and tuple(argv[:-1]) == tuple(shell):
        return True
    # `-c` right before the text, with a shell among the words before it (`busybox sh -c`).
    return argv[-2] == "-c" and any(word.rsplit("/", 1)[-1] in SHELLS for word in argv[:-2])


def resolve(entrypoint: Optional[Sequence[str]], cmd: Optional[Sequence[str]],
            container_entrypoint: Optional[Sequence[str]] = None,
            container_arguments: Optional[Sequence[str]] = None,
            shell: Optional[Sequence[str]] = None) -> Resolution:
    """The four cases of the Processing page (`docker run [--entrypoint E] IMAGE [ARGS]`)."""
    image_ep = tuple(entrypoint or ())
    image_cmd = tuple(cmd or ())
    args = tuple(container_arguments or ())
    if container_entrypoint:
        # Like `docker run --entrypoint`: the image's ENTRYPOINT and CMD are both ignored.
        case = "ContainerEntrypoint and ContainerArguments" if args else "ContainerEntrypoint only"
        return Resolution(tuple(container_entrypoint) + args, case, ())
    if args:
        dropped = args if is_shell_form(image_ep, shell) else ()
        return Resolution(image_ep + args if image_ep else args, "ContainerArguments only", dropped)
    return Resolution(image_ep + image_cmd, "neither: the image's ENTRYPOINT + CMD", ())
