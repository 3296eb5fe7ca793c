"""One run over a Dockerfile and the image built from it: each defect reported once.

The Dockerfile finding is kept (it has a line to fix) and gains the image's evidence; the image
finding of the same defect is dropped from the list (reports that judge layer by layer, JUnit and
the HTML layer cards, get its image side back from `image_twins`). Where the image settles what the Dockerfile could only
suspect (a command or a CUDA toolkit inherited from an external base image), the suspicion goes.
"""
from __future__ import annotations

import re
from typing import Dict, FrozenSet, List

from sm_lint.findings import Finding, Location

CONFIRMED = "confirmed in the built image {image} ({rule})"  # the evidence line of a merged defect
_CONFIRMED = re.compile(r"^confirmed in the built image (.+) \((SM\d{3})\)$")

# image rule -> the Dockerfile rules that report the same defect
SAME_DEFECT: Dict[str, FrozenSet[str]] = {
    # An exec-form ["/bin/sh", "-c", "..."] is SM105 in the Dockerfile and the same config as
    # shell form in the image (SM201); an entrypoint script read from the image is SM203.
    "SM201": frozenset({"SM101", "SM102", "SM105"}),
    "SM203": frozenset({"SM105"}),
    "SM204": frozenset({"SM104"}),
    # train/serve that the image cannot take (shell form, or nothing on PATH): the same defect.
    "SM206": frozenset({"SM106"}),
    "SM210": frozenset({"SM110", "SM113"}),
    "SM220": frozenset({"SM120"}),
    "SM221": frozenset({"SM121"}),
}


def merge(dockerfile: List[Finding], image: List[Finding], image_name: str,
          image_has_command: bool, image_has_toolkit: bool) -> List[Finding]:
    settled = {"SM122"}  # "the base may carry CUDA": the image says whether it does (SM221 when not)
    if image_has_command:
        settled.add("SM104")
    if image_has_toolkit:
        settled.add("SM121")
    if not any(f.rule == "SM206" for f in image):
        settled.add("SM106")  # the image takes train/serve (or SM206 is ignored): what the Dockerfile suspected is settled
    kept = [f for f in dockerfile if f.rule not in settled]
    present = {f.rule for f in kept}
    result = list(kept)
    for finding in image:
        twins = SAME_DEFECT.get(finding.rule, frozenset()) & present
        if not twins:
            result.append(finding)
            continue
        index = next(i for i, f in enumerate(result) if f.rule in twins)
        confirmed = (CONFIRMED.format(image=image_name, rule=finding.rule),) + finding.evidence
        result[index] = result[index]._replace(evidence=result[index].evidence + confirmed)
    return result


def image_twins(findings: List[Finding]) -> List[Finding]:
    """The image-layer side of each merged defect, for reports that judge layer by layer (JUnit
    suites, the HTML layer cards): the defect stays reported once, but the image's own rule does
    not show as passed while the image has that defect."""
    twins = []
    for finding in findings:
        for line in finding.evidence:
            match = _CONFIRMED.match(line)
            if match:
                image, rule = match.groups()
                where = f"{finding.location.path}:{finding.location.line}" if finding.location.line else finding.location.path
                twins.append(Finding(rule, finding.severity, f"the same defect as {finding.rule} at {where}, "
                                     "reported once, there", Location(image)))
    return twins
