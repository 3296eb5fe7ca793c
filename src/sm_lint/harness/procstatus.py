"""PID 1's signal dispositions, read from `/proc/<pid>/status`.

The kernel records, per process, the signals it catches (`SigCgt`), ignores (`SigIgn`) and blocks
(`SigBlk`) as hex bit masks, bit N-1 for signal N. For PID 1 of a PID namespace the kernel drops
every signal that has no handler (signal(7), pid_namespaces(7): "only signals for which the init
process has established a signal handler can be sent to the init process by other members of the
PID namespace"; the same holds for `docker kill`, which sends from outside through the runtime but
to a namespace init). So the masks predict, without timing, whether a stop signal can do anything.
"""
from __future__ import annotations

import signal
from typing import NamedTuple, Optional


class SignalMasks(NamedTuple):
    caught: int  # SigCgt: signals with a handler
    ignored: int  # SigIgn: signals set to SIG_IGN
    blocked: int  # SigBlk: signals blocked (delivered once unblocked)

    def catches(self, signum: int) -> bool:
        return bool(self.caught >> (signum - 1) & 1)

    def ignores(self, signum: int) -> bool:
        return bool(self.ignored >> (signum - 1) & 1)


def parse_status(text: str) -> Optional[SignalMasks]:
    """The masks of a `/proc/<pid>/status` text; None when any of them is missing."""
    fields = {}
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep and name in ("SigCgt", "SigIgn", "SigBlk"):
            try:
                fields[name] = int(value.strip(), 16)
            except ValueError:
                return None
    if len(fields) != 3:
        return None
    return SignalMasks(fields["SigCgt"], fields["SigIgn"], fields["SigBlk"])


def signal_number(name: str) -> int:
    """`SIGINT`, `INT`, `sigterm` or `2` -> the number; ValueError for anything else."""
    text = name.strip().upper()
    if text.isdigit():
        number = int(text)
        if 1 <= number < signal.NSIG:
            return number
        raise ValueError(f"no signal number {number}")
    if not text.startswith("SIG"):
        text = "SIG" + text
    try:
        return int(getattr(signal.Signals, text))
    except AttributeError:
        raise ValueError(f"unknown signal {name!r}") from None


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def names(mask: int) -> str:
    """`0x4002` -> "SIGINT, SIGCHLD" (the signals of a mask, for evidence lines)."""
    found = [signal_name(bit + 1) for bit in range(64) if mask >> bit & 1]
    return ", ".join(found) if found else "none"
