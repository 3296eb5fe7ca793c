"""The static checks: one small function per rule id, each yielding `Hit`s for one Dockerfile.

A check never decides its own id, severity or suppression: the engine (dockerfile/lint.py) stamps
those from the catalogue and the configuration.
"""
from __future__ import annotations

from typing import Callable, Dict, Iterable

from sm_lint.dockerfile.checks import command, cuda, optml, rejected
from sm_lint.dockerfile.context import LintContext
from sm_lint.findings import Hit

Check = Callable[[LintContext], Iterable[Hit]]

CHECKS: Dict[str, Check] = {
    "SM100": rejected.rejected_instructions,
    "SM101": command.shell_form_entrypoint,
    "SM102": command.shell_form_cmd,
    "SM103": command.malformed_json_form,
    "SM104": command.nothing_to_run,
    "SM105": command.shell_stays_pid1,
    "SM106": command.argument_not_taken,
    "SM110": optml.copy_into_opt_ml,
    "SM111": optml.workdir_in_opt_ml,
    "SM112": optml.volume_in_opt_ml,
    "SM113": optml.run_writes_opt_ml,
    "SM114": optml.run_mkdir_opt_ml,
    "SM120": cuda.driver_bundled,
    "SM121": cuda.gpu_without_toolkit,
    "SM122": cuda.toolkit_unseen,
}

# Rules the engine itself raises (parse failures, pragma and config problems).
ENGINE_RULES = frozenset({"SM100", "SM190", "SM191", "SM192"})
