"""SM110-SM114: the final image puts something under /opt/ml, which SageMaker mounts over at run time."""
from __future__ import annotations

import posixpath
from typing import Iterator, Tuple

from sm_lint.dockerfile import shell
from sm_lint.dockerfile.context import LintContext, Script
from sm_lint.dockerfile.lex import ExpansionError, expand
from sm_lint.dockerfile.paths import normalise, under_opt_ml
from sm_lint.dockerfile.stages import Step
from sm_lint.findings import Hit

_VANISH = "SageMaker reserves /opt/ml and mounts over it, so it will not be there when the job runs"
_FIX = "Put code and data elsewhere (for example /opt/program or /app) and read inputs from ProcessingInput paths"


def copy_into_opt_ml(ctx: LintContext) -> Iterator[Hit]:
    if ctx.final is None:
        return
    for copy in ctx.final.copies:
        if under_opt_ml(copy.destination):
            what = f"heredoc {copy.heredoc.name}" if copy.heredoc else (copy.source or "a file")
            yield Hit(copy.instruction.start_line,
                      f"{copy.instruction.keyword} puts {what} at {copy.destination}: {_VANISH}", fix=_FIX)


def workdir_in_opt_ml(ctx: LintContext) -> Iterator[Hit]:
    for _, step in ctx.final_steps():
        ins = step.instruction
        if ins.keyword == "WORKDIR" and ins.value:
            path = normalise(_expand(ins.value[0], step, ctx), step.workdir)
            if under_opt_ml(path):
                yield Hit(ins.start_line,
                          f"WORKDIR {path} creates a folder under /opt/ml, and later relative COPY/RUN "
                          f"writes land there: {_VANISH}",
                          fix="Use a working directory outside /opt/ml, for example WORKDIR /opt/program")


def volume_in_opt_ml(ctx: LintContext) -> Iterator[Hit]:
    for _, step in ctx.final_steps():
        ins = step.instruction
        if ins.keyword != "VOLUME":
            continue
        paths = ins.value if ins.json else tuple(w for v in ins.value for w in v.split())
        for raw in paths:
            path = normalise(_expand(raw, step, ctx), step.workdir)
            if under_opt_ml(path):
                yield Hit(ins.start_line,
                          f"VOLUME {path} declares a volume under /opt/ml, where SageMaker mounts its own "
                          "inputs, outputs and config",
                          fix="Remove the VOLUME; declare ProcessingInputs/ProcessingOutputs in the job instead")


# chmod/chown change what an earlier step put there (reported there) and put nothing new in the image.
_METADATA_ONLY = frozenset({"chmod", "chown", "chgrp"})


def run_writes_opt_ml(ctx: LintContext) -> Iterator[Hit]:
    for script, write in _opt_ml_writes(ctx):
        if write.command != "mkdir" and write.command not in _METADATA_ONLY:
            yield Hit(ctx.line_in(script, write.line, write.path, posixpath.basename(write.path)),
                      f"RUN writes {write.path} ({write.command}): {_VANISH}", fix=_FIX)


def run_mkdir_opt_ml(ctx: LintContext) -> Iterator[Hit]:
    for script, write in _opt_ml_writes(ctx):
        if write.command == "mkdir":
            yield Hit(ctx.line_in(script, write.line, write.path, posixpath.basename(write.path)),
                      f"RUN creates the folder {write.path}: SageMaker creates the folders it mounts under "
                      "/opt/ml itself, and anything placed there is hidden at run time",
                      fix="Drop the mkdir; SageMaker creates each ProcessingInput/Output LocalPath before the job starts")


def _opt_ml_writes(ctx: LintContext) -> Iterator[Tuple[Script, shell.PathWrite]]:
    for script in ctx.scripts:
        step = script.step
        mounts = [normalise(m, step.workdir) for m in script.mounts]
        for write in shell.written_paths(script.text, step.vars, step.workdir):
            if not under_opt_ml(write.path):
                continue
            # Writes into a RUN --mount target stay in the mount, not in the image.
            if any(write.path == m or write.path.startswith(m.rstrip("/") + "/") for m in mounts):
                continue
            yield script, write


def _expand(word: str, step: Step, ctx: LintContext) -> str:
    try:
        return expand(word, step.vars, ctx.parsed.directives.escape)
    except ExpansionError:
        return word
