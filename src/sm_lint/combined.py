"""One run over a Dockerfile and the image built from it: each defect reported once.

The Dockerfile finding is kept (it has a line to fix) and gains the image's evidence; the image
finding of the same defect is dropped. Where the image settles what the Dockerfile could only
suspect (a command or a CUDA toolkit inherited from an external base image), the suspicion goes.
"""
from __future__ import annotations

from typing import Dict, FrozenSet, List

from sm_lint.findings import Finding

# image rule -> the Dockerfile rules that report the same defect
SAME_DEFECT: Dict[str, FrozenSet[str]] = {
    "SM201": frozenset({"SM101", "SM102"}),
    "SM204": frozenset({"SM104"}),
    "SM210": frozenset({"SM110", "SM113"}),
    "SM220": frozenset({"SM120"}),
    "SM221": frozenset({"SM121"}),
}


def merge(dockerfile: List[Finding], image: List[Finding], image_name: str,
          image_has_command: bool, image_has_toolkit: bool) -> List[Finding]:
    settled = set()
    if image_has_command:
        settled.add("SM104")
    if image_has_toolkit:
        settled.add("SM121")
    kept = [f for f in dockerfile if f.rule not in settled]
    present = {f.rule for f in kept}
    result = list(kept)
    for finding in image:
        twins = SAME_DEFECT.get(finding.rule, frozenset()) & present
        if not twins:
            result.append(finding)
            continue
        index = next(i for i, f in enumerate(result) if f.rule in twins)
        confirmed = (f"confirmed in the built image {image_name} ({finding.rule})",) + finding.evidence
        result[index] = result[index]._replace(evidence=result[index].evidence + confirmed)
    return result
