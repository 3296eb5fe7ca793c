"""SM100 (dispatch part): instructions BuildKit's parser accepts but its dispatcher rejects.

The parse-level part of SM100 (unterminated heredoc, bad JSON arrays, bad directives) is raised by
the engine from DockerfileSyntaxError. Flag sets follow BuildKit's instructions/parse.go.
"""
from __future__ import annotations

from typing import Dict, FrozenSet, Iterator

from sm_lint.dockerfile.context import LintContext
from sm_lint.dockerfile.syntax import Instruction
from sm_lint.findings import Hit

KNOWN = frozenset({
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
    "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
})
_FLAGS: Dict[str, FrozenSet[str]] = {
    "FROM": frozenset({"platform"}),
    "COPY": frozenset({"from", "chown", "chmod", "link", "parents", "exclude"}),
    "ADD": frozenset({"chown", "chmod", "link", "keep-git-dir", "checksum", "exclude"}),
    "RUN": frozenset({"mount", "network", "security"}),
    "HEALTHCHECK": frozenset({"interval", "timeout", "start-period", "start-interval", "retries"}),
}
_NEEDS_ARGUMENT = frozenset({"ADD", "COPY", "FROM", "RUN", "WORKDIR", "USER", "STOPSIGNAL", "EXPOSE",
                             "VOLUME", "ENV", "LABEL", "ARG", "SHELL", "ONBUILD", "MAINTAINER", "HEALTHCHECK"})


def rejected_instructions(ctx: LintContext) -> Iterator[Hit]:
    seen_from = False
    frontend_known = _builtin_frontend(ctx.parsed.directives.syntax)
    for ins in ctx.parsed.instructions:
        if ins.keyword not in KNOWN:
            yield Hit(ins.start_line, f"unknown instruction: {ins.keyword}: Docker refuses to build this file")
            continue
        if ins.keyword == "FROM":
            seen_from = True
        elif not seen_from and ins.keyword != "ARG":
            yield Hit(ins.start_line, f"{ins.keyword} before the first FROM: only ARG may come before FROM")
        yield from _shape(ins, frontend_known)
    if ctx.build is not None:
        for line, message in ctx.build.problems:
            yield Hit(line, message)


def _shape(ins: Instruction, frontend_known: bool) -> Iterator[Hit]:
    keyword = ins.keyword
    if keyword in _NEEDS_ARGUMENT and not ins.value and not ins.heredocs and not ins.sub:
        yield Hit(ins.start_line, f"{keyword} requires at least one argument")
    if keyword in ("COPY", "ADD") and len(ins.value) < 2:
        if ins.value:
            yield Hit(ins.start_line, f"{keyword} requires at least two arguments: SOURCE... DESTINATION")
    if keyword == "SHELL" and ins.value and not ins.json:
        yield Hit(ins.start_line, "SHELL requires the arguments to be in JSON form")
    if frontend_known:
        allowed = _FLAGS.get(keyword, frozenset())
        for flag in ins.flags:
            name = flag[2:].split("=", 1)[0]
            if name not in allowed:
                yield Hit(ins.start_line, f"unknown flag --{name} for {keyword}")


def _builtin_frontend(syntax: "str | None") -> bool:
    """Unknown flags are only certain errors for the stable frontend; labs and custom frontends add flags."""
    if syntax is None:
        return True
    return syntax.startswith(("docker/dockerfile:1", "docker.io/docker/dockerfile:1")) and "labs" not in syntax
