"""SM110-SM114: the final image puts something under /opt/ml where the profile's contract mounts over
it at run time (Processing: all of /opt/ml; Training: its input, model, output and checkpoint folders,
not /opt/ml/code; hosting and batch transform: /opt/ml/model)."""
from __future__ import annotations

import posixpath
from typing import Iterator, Tuple

from sm_lint.dockerfile import shell
from sm_lint.dockerfile.context import LintContext, Script
from sm_lint.dockerfile.lex import ExpansionError, expand
from sm_lint.dockerfile.paths import normalise
from sm_lint.dockerfile.stages import Step
from sm_lint.findings import Hit

# What to do instead, per profile: where the contract wants code and data.
_FIXES = {
    "processing": "Put code and data elsewhere (for example /opt/program or /app) and read inputs from ProcessingInput paths",
    "training": "Put code in /opt/ml/code or outside /opt/ml (for example /opt/program) and read data from the "
                "input channels under /opt/ml/input/data",
    "inference": "Put code and files outside /opt/ml/model (for example /opt/program); the model comes from the "
                 "model archive (ModelDataUrl), unpacked into /opt/ml/model at start",
}


def _vanish(ctx: LintContext, path: str) -> str:
    """Why a file at `path` is not there at run time, true for the profile."""
    profile = ctx.profile
    if profile.name == "processing":
        return "SageMaker reserves /opt/ml and mounts over it, so it will not be there when the job runs"
    return (f"{profile.title} mounts {profile.hidden_by(path)} over it at start, so it will not be there when the "
            "container runs")


def _fix(ctx: LintContext) -> str:
    return _FIXES.get(ctx.profile.name, _FIXES["inference"])


def copy_into_opt_ml(ctx: LintContext) -> Iterator[Hit]:
    if ctx.final is None:
        return
    for copy in ctx.final.copies:
        if ctx.profile.hides(copy.destination):
            what = f"heredoc {copy.heredoc.name}" if copy.heredoc else (copy.source or "a file")
            yield Hit(copy.instruction.start_line,
                      f"{copy.instruction.keyword} puts {what} at {copy.destination}: {_vanish(ctx, copy.destination)}",
                      fix=_fix(ctx))


def workdir_in_opt_ml(ctx: LintContext) -> Iterator[Hit]:
    for _, step in ctx.final_steps():
        ins = step.instruction
        if ins.keyword == "WORKDIR" and ins.value:
            path = normalise(_expand(ins.value[0], step, ctx), step.workdir)
            if ctx.profile.hides(path):
                yield Hit(ins.start_line,
                          f"WORKDIR {path} creates a folder under {ctx.profile.hidden_by(path)}, and later relative "
                          f"COPY/RUN writes land there: {_vanish(ctx, path)}",
                          fix=f"Use a working directory outside {ctx.profile.hidden_by(path)}, for example "
                              "WORKDIR /opt/program")


def volume_in_opt_ml(ctx: LintContext) -> Iterator[Hit]:
    for _, step in ctx.final_steps():
        ins = step.instruction
        if ins.keyword != "VOLUME":
            continue
        paths = ins.value if ins.json else tuple(w for v in ins.value for w in v.split())
        for raw in paths:
            path = normalise(_expand(raw, step, ctx), step.workdir)
            if ctx.profile.hides(path):
                yield Hit(ins.start_line,
                          f"VOLUME {path} declares a volume under {ctx.profile.hidden_by(path)}, where "
                          f"{_mounts_what(ctx)}",
                          fix=_VOLUME_FIXES.get(ctx.profile.name, _VOLUME_FIXES["inference"]))


_VOLUME_FIXES = {
    "processing": "Remove the VOLUME; declare ProcessingInputs/ProcessingOutputs in the job instead",
    "training": "Remove the VOLUME; the job's input channels, model and output folders are mounted by SageMaker",
    "inference": "Remove the VOLUME; SageMaker mounts the model at /opt/ml/model",
}


def _mounts_what(ctx: LintContext) -> str:
    if ctx.profile.name == "processing":
        return "SageMaker mounts its own inputs, outputs and config"
    return f"{ctx.profile.title} mounts its own {'folders' if ctx.profile.name == 'training' else 'model'}"


# chmod/chown change what an earlier step put there (reported there) and put nothing new in the image.
_METADATA_ONLY = frozenset({"chmod", "chown", "chgrp"})


def run_writes_opt_ml(ctx: LintContext) -> Iterator[Hit]:
    for script, write in _opt_ml_writes(ctx):
        if write.command != "mkdir" and write.command not in _METADATA_ONLY:
            yield Hit(ctx.line_in(script, write.line, write.path, posixpath.basename(write.path)),
                      f"RUN writes {write.path} ({write.command}): {_vanish(ctx, write.path)}", fix=_fix(ctx))


def run_mkdir_opt_ml(ctx: LintContext) -> Iterator[Hit]:
    for script, write in _opt_ml_writes(ctx):
        if write.command == "mkdir":
            yield Hit(ctx.line_in(script, write.line, write.path, posixpath.basename(write.path)),
                      _mkdir_message(ctx, write.path), fix=_mkdir_fix(ctx, write.path))


def _mkdir_message(ctx: LintContext, path: str) -> str:
    if ctx.profile.name == "processing":
        return (f"RUN creates the folder {path}: SageMaker creates the folders it mounts under /opt/ml itself, and "
                "anything placed there is hidden at run time")
    return (f"RUN creates the folder {path}: {ctx.profile.title} mounts {ctx.profile.hidden_by(path)} itself, "
            "and anything placed there is hidden at run time")


def _mkdir_fix(ctx: LintContext, path: str) -> str:
    if ctx.profile.name == "processing":
        return "Drop the mkdir; SageMaker creates each ProcessingInput/Output LocalPath before the job starts"
    return f"Drop the mkdir; {ctx.profile.title} creates {ctx.profile.hidden_by(path)} before the container starts"


def _opt_ml_writes(ctx: LintContext) -> Iterator[Tuple[Script, shell.PathWrite]]:
    for script in ctx.scripts:
        step = script.step
        mounts = [normalise(m, step.workdir) for m in script.mounts]
        for write in shell.written_paths(script.text, step.vars, step.workdir):
            if not ctx.profile.hides(write.path):
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
