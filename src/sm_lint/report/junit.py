"""JUnit XML, as Jenkins (junit, xunit plugins) and GitLab test reports read it.

Layout: one `<testsuite>` per layer and target ("dockerfile" for each Dockerfile, "image" for
each image, "runtime" for each run), one `<testcase>` per rule and target, so the test count is
the same from run to run and a fixed defect shows as a test that passes again:

- a rule that ran and found nothing passes;
- a rule with findings at or above `--fail-on` has one `<failure>`: Jenkins and GitLab show only
  the first failure of a test case, so it carries all of that rule's findings on that target (the
  message names the first, the body lists each with `path:line:col`, evidence and fix);
- findings below `--fail-on` (an info finding under the default `warning`) are no failure: they go
  to the test case's `<system-out>`, so the JUnit verdict agrees with sm-lint's exit code and an
  info never turns a Jenkins build unstable;
- a rule that did not run (ignored by config or `--ignore`; every other rule of a Dockerfile that
  does not parse, whose SM100 carries `NOT_CHECKED_FURTHER`) is `<skipped>` with the reason.

The output validates against Jenkins' xunit-plugin schema junit-10.xsd (tests/data), which has no
`file` or `line` attribute on a test case: the location is in the failure text.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Callable, Dict, List, Tuple

from sm_lint import __version__
from sm_lint.catalogue import Catalogue
from sm_lint.combined import image_twins
from sm_lint.findings import NOT_CHECKED_FURTHER, Finding
from sm_lint.report import COMMAND_LAYERS, RunInfo, details, fails, target_layers, where, xml_safe


def render(findings: List[Finding], info: RunInfo) -> str:
    catalogue = Catalogue.load()
    default_layer = COMMAND_LAYERS.get(info.command, "dockerfile")

    def layer_of(rule_id: str) -> str:
        return catalogue[rule_id].layer if rule_id in catalogue else default_layer

    suites: Dict[Tuple[str, str], List[Finding]] = {}
    for target, layer in target_layers(info):
        suites.setdefault((layer, target), [])
    checked = set(suites)
    # findings elsewhere (SM192 in a config file) get a suite of their own; the image side of a defect
    # that `check --image` / gate reported once, on the Dockerfile, fails in the image's suite too
    for finding in findings + image_twins(findings):
        suites.setdefault((layer_of(finding.rule), finding.location.path), []).append(finding)

    root = ET.Element("testsuites", name="sm-lint")
    totals = {"tests": 0, "failures": 0}
    for (layer, target), found in suites.items():
        suite = _suite(layer, target, found, info, layer_of, (layer, target) in checked)
        root.append(suite)
        totals["tests"] += int(suite.get("tests", "0"))
        totals["failures"] += int(suite.get("failures", "0"))
    root.set("tests", str(totals["tests"]))
    root.set("failures", str(totals["failures"]))
    root.set("errors", "0")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _suite(layer: str, target: str, found: List[Finding], info: RunInfo,
           layer_of: Callable[[str], str], checked: bool) -> ET.Element:
    """A checked target lists every rule of its layer; another file (a config file's SM192) only
    the rules that reported there."""
    by_rule: Dict[str, List[Finding]] = {}
    for finding in found:
        by_rule.setdefault(finding.rule, []).append(finding)
    skipped = {rule: reason for rule, reason in info.skipped if layer_of(rule) == layer} if checked else {}
    ran = {r for r in info.rules if layer_of(r) == layer} if checked else set()
    stopped = [f for f in found if NOT_CHECKED_FURTHER in f.evidence]
    if stopped:  # nothing else looked at this target: its other rules did not pass
        reason = f"not checked: {stopped[0].rule} stopped the checks of this file"
        skipped.update({rule: reason for rule in ran - {f.rule for f in stopped}})
    rule_ids = sorted(ran | set(skipped) | set(by_rule))

    # The profile is in the suite's name unless it is the default (names CI dashboards already track).
    profile = f" ({info.profile})" if info.profile != "processing" else ""
    suite = ET.Element("testsuite", name=xml_safe(f"sm-lint {layer}{profile}: {target}"))
    properties = ET.SubElement(suite, "properties")
    for name, value in (("command", info.command), ("profile", info.profile), ("layer", layer), ("target", target),
                        ("fail-on", info.fail_on), ("sm-lint", __version__)) + tuple(info.facts):
        ET.SubElement(properties, "property", name=xml_safe(name), value=xml_safe(value))
    failures = skips = 0
    for rule_id in rule_ids:
        title = info.titles.get(rule_id, "")
        case = ET.SubElement(suite, "testcase", name=xml_safe(f"{rule_id} {title}".strip()),
                             classname=xml_safe(target))
        hits = by_rule.get(rule_id, [])
        failing = [f for f in hits if fails(f, info.fail_on)]
        below = [f for f in hits if not fails(f, info.fail_on)]
        if failing:
            failures += 1
            first = failing[0]
            message = f"{where(first)}: {first.message}"
            if len(failing) > 1:
                message = f"{len(failing)} findings; first {message}"
            worst = max(f.severity for f in failing)
            failure = ET.SubElement(case, "failure", message=xml_safe(message), type=worst.label)
            failure.text = xml_safe("\n".join(details(f) for f in failing))
        elif rule_id in skipped and not hits:
            skips += 1
            ET.SubElement(case, "skipped", message=xml_safe(skipped[rule_id]))
        if below:
            out = ET.SubElement(case, "system-out")
            head = f"below the failure threshold (fail-on {info.fail_on}), not counted as failures:"
            out.text = xml_safe("\n".join([head] + [details(f) for f in below]))
    suite.set("tests", str(len(rule_ids)))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    suite.set("skipped", str(skips))
    return suite
