"""`check --image`: a defect seen in both the Dockerfile and the image is reported once."""
from __future__ import annotations

from sm_lint.combined import image_twins, merge
from sm_lint.findings import Finding, Location, Severity


def finding(rule: str, line: int = 0, evidence: tuple = ()) -> Finding:
    path = "Dockerfile" if rule.startswith("SM1") else "img:1"
    return Finding(rule, Severity.ERROR, f"{rule} message", Location(path, line), None, evidence)


def test_same_defect_once_with_the_image_evidence_on_the_dockerfile_line() -> None:
    merged = merge([finding("SM110", 4)], [finding("SM210", evidence=("/opt/ml/x (1 B, layer 2)",))],
                   "img:1", image_has_command=True, image_has_toolkit=False)
    assert [f.rule for f in merged] == ["SM110"]
    assert merged[0].evidence == ("confirmed in the built image img:1 (SM210)", "/opt/ml/x (1 B, layer 2)")


def test_image_only_defects_are_kept() -> None:
    merged = merge([finding("SM101", 3)], [finding("SM230"), finding("SM220")], "img:1", True, True)
    assert sorted(f.rule for f in merged) == ["SM101", "SM220", "SM230"]


def test_the_image_settles_what_the_dockerfile_only_suspected() -> None:
    merged = merge([finding("SM104", 1), finding("SM121", 1)], [], "img:1", image_has_command=True,
                   image_has_toolkit=True)
    assert merged == []
    kept = merge([finding("SM104", 1)], [finding("SM204")], "img:1", image_has_command=False,
                 image_has_toolkit=False)
    assert [f.rule for f in kept] == ["SM104"] and kept[0].evidence[0].startswith("confirmed")


def test_layer_by_layer_reports_see_the_image_side_of_a_merged_defect() -> None:
    merged = merge([finding("SM110", 4), finding("SM101", 5)], [finding("SM210"), finding("SM230")],
                   "registry.example/img:1", image_has_command=True, image_has_toolkit=False)
    twins = image_twins(merged)
    assert [(t.rule, t.location.path, t.severity) for t in twins] == [
        ("SM210", "registry.example/img:1", Severity.ERROR)]
    assert twins[0].message == "the same defect as SM110 at Dockerfile:4, reported once, there"
    assert image_twins([finding("SM101", 5)]) == []  # nothing merged, nothing to mirror


def test_the_image_answers_whether_an_unknown_base_carries_cuda() -> None:
    """SM122 says only the built image can tell; with the image, SM221 tells (or nothing does)."""
    with_toolkit = merge([finding("SM122", 1)], [], "img:1", image_has_command=True, image_has_toolkit=True)
    assert with_toolkit == []
    without = merge([finding("SM122", 1)], [finding("SM221")], "img:1", image_has_command=True,
                    image_has_toolkit=False)
    assert [f.rule for f in without] == ["SM221"]


def test_a_sh_c_entrypoint_is_one_defect_in_both_layers() -> None:
    """An exec-form ["/bin/sh", "-c", ...] is SM105 in the Dockerfile and SM201 in the image (the
    config cannot tell it from shell form); a script read from the image is SM203."""
    merged = merge([finding("SM105", 3)], [finding("SM201", evidence=("the image's /bin/sh is /usr/bin/dash: dash",))],
                   "img:1", True, True)
    assert [f.rule for f in merged] == ["SM105"]
    assert merged[0].evidence == ("confirmed in the built image img:1 (SM201)", "the image's /bin/sh is /usr/bin/dash: dash")
    assert [f.rule for f in merge([finding("SM105", 3)], [finding("SM203")], "img:1", True, True)] == ["SM105"]
