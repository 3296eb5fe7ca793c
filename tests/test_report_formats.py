"""CI report formats (junit, sarif, github, gitlab, checkstyle) rendered from real `check` and
`inspect` runs, read back by real consumers and validated against the schemas CI systems use:
Jenkins' junit-10.xsd and the OASIS SARIF 2.1.0 schema (tests/data/README.md says where they
come from)."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Dict, List, Tuple
from urllib.parse import unquote, urlparse

import jsonschema
import pytest
import xmlschema
from junitparser import Failure, JUnitXml, Skipped
from typer.testing import CliRunner

from image_archives import write_image
from sm_lint.catalogue import Catalogue
from sm_lint.cli import app
from docker_support import unavailable
from sm_lint.console import ONLY_WHEN_BUILDING, emit_reports
from sm_lint.findings import Finding, Location, Severity
from sm_lint.report import FORMATS, OUTSIDE_PROFILE, RunInfo

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
CATALOGUE = Catalogue.load()
DOCKERFILE_RULES = sorted(r.id for r in CATALOGUE if r.layer == "dockerfile")
IMAGE_RULES = sorted(r.id for r in CATALOGUE if r.layer == "image" and r.id not in ONLY_WHEN_BUILDING)
# Rules of other profiles' contracts (SM106 under the default processing): listed as skipped, with why.
NOT_PROCESSING = sorted(r.id for r in CATALOGUE if r.layer == "dockerfile" and not r.applies("processing"))


def ignored(skipped: List[dict]) -> List[dict]:
    """The skipped entries but those of rules outside the profile."""
    return [entry for entry in skipped if not entry["reason"].startswith(OUTSIDE_PROFILE)]
# SM114 (info) on line 2, SM101 (error) on line 3; the quoted argument is hostile on purpose.
BAD = ('FROM python:3.11-slim\nRUN mkdir -p /opt/ml/processing/input\n'
       'ENTRYPOINT python3 /opt/program/p.py --tag "a%0A<&>,é:x"\n')
GOOD = 'FROM python:3.11-slim\nCOPY p.py /opt/program/\nENTRYPOINT ["python3", "/opt/program/p.py"]\n'
HOSTILE_DIR = "we%ird,dir:é <&>"
HOSTILE_FILE = "opt/ml/we%ird,na:me\n<&>é\x1b.txt"  # a file name in an image layer


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository root as the working folder, with a bad Dockerfile in a hostile folder name and
    a clean one."""
    (tmp_path / ".git").mkdir()
    (tmp_path / HOSTILE_DIR).mkdir()
    (tmp_path / HOSTILE_DIR / "Dockerfile").write_text(BAD, encoding="utf-8")
    (tmp_path / "clean").mkdir()
    (tmp_path / "clean" / "Dockerfile").write_text(GOOD)
    monkeypatch.chdir(tmp_path)
    return tmp_path


BAD_PATH = f"{HOSTILE_DIR}/Dockerfile"
CLEAN_PATH = "clean/Dockerfile"


def check_reports(repo: Path, *extra: str, formats: Tuple[str, ...] = ("junit", "sarif", "github", "gitlab",
                                                                          "checkstyle", "json")) -> Dict[str, str]:
    """`sm-lint check` on both Dockerfiles writing every format in one run; their texts by format."""
    flags = [f"--report={fmt}={repo / ('out.' + fmt)}" for fmt in formats]
    result = run("check", *flags, *extra, BAD_PATH, CLEAN_PATH)
    assert result.exit_code == 1, result.output
    assert "SM101 error" in result.output  # --format text still goes to stdout
    return {fmt: (repo / f"out.{fmt}").read_text(encoding="utf-8") for fmt in formats}


def image_archive(folder: Path) -> str:
    layers = [[(HOSTILE_FILE, "file", 7), ("usr/bin/python3", "file", 3)]]
    return write_image(folder / "img.tar", layers, {"Entrypoint": ["/bin/sh", "-c", "python3 /x.py"]},
                       history=["COPY x /opt/ml/\nRUN echo %0A <&>"])


# -- JUnit ----------------------------------------------------------------------------------------

def junit_valid(text: str) -> JUnitXml:
    xmlschema.XMLSchema(str(DATA / "junit-10.xsd")).validate(text)
    return JUnitXml.fromstring(text)


def cases(suite) -> Dict[str, object]:  # type: ignore[no-untyped-def]
    return {case.name.split()[0]: case for case in suite}


def test_junit_suite_per_target_case_per_rule(repo: Path) -> None:
    xml = junit_valid(check_reports(repo, "--ignore", "SM112")["junit"])
    suites = {suite.name: suite for suite in xml}
    assert list(suites) == [f"sm-lint dockerfile: {BAD_PATH}", f"sm-lint dockerfile: {CLEAN_PATH}"]
    bad, clean = suites.values()
    assert sorted(cases(bad)) == sorted(cases(clean)) == DOCKERFILE_RULES  # passing rules are listed too
    assert (bad.tests, bad.failures, bad.skipped) == (len(DOCKERFILE_RULES), 1, 1 + len(NOT_PROCESSING))
    assert (clean.tests, clean.failures, clean.skipped) == (len(DOCKERFILE_RULES), 0, 1 + len(NOT_PROCESSING))

    shell_form = cases(bad)["SM101"]
    assert shell_form.name == "SM101 ENTRYPOINT in shell form" and shell_form.classname == BAD_PATH
    (failure,) = shell_form.result
    assert isinstance(failure, Failure) and failure.type == "error"
    assert failure.message.startswith(f"{BAD_PATH}:3:1: ENTRYPOINT is in shell form")
    assert '"a%0A<&>,é:x"' in failure.message and '"a%0A<&>,é:x"' in failure.text  # escaped and back
    assert "fix: Move the shell code into a script" in failure.text
    assert cases(clean)["SM101"].is_passed and cases(bad)["SM102"].is_passed

    skipped = cases(bad)["SM112"]
    assert skipped.is_skipped and isinstance(skipped.result[0], Skipped)
    assert skipped.result[0].message == "ignored by --ignore"


def test_junit_info_below_the_threshold_passes_with_system_out(repo: Path) -> None:
    default = junit_valid(check_reports(repo)["junit"])
    info = cases(next(iter(default)))["SM114"]
    assert info.is_passed and info.result == []  # an info never makes Jenkins call the build unstable
    assert "below the failure threshold (fail-on warning)" in info.system_out
    assert f"{BAD_PATH}:2:1: SM114 info: RUN creates the folder /opt/ml/processing/input" in info.system_out

    strict = junit_valid(check_reports(repo, "--fail-on", "info")["junit"])
    failure = cases(next(iter(strict)))["SM114"].result[0]
    assert isinstance(failure, Failure) and failure.type == "info"


def test_junit_fail_on_never_has_no_failures(repo: Path) -> None:
    result = run("check", "--fail-on", "never", f"--report=junit={repo / 'j.xml'}", BAD_PATH)
    assert result.exit_code == 0, result.output
    xml = junit_valid((repo / "j.xml").read_text(encoding="utf-8"))
    suite = next(iter(xml))
    assert suite.failures == 0 and "SM101 error" in cases(suite)["SM101"].system_out


def test_junit_rules_of_an_unparsable_dockerfile_are_skipped_not_passed(repo: Path) -> None:
    (repo / "broken").mkdir()
    (repo / "broken" / "Dockerfile").write_text("FROM python:3.11\nRUN <<EOF\necho never closed\n")
    result = run("check", f"--report=junit={repo / 'j.xml'}", "broken/Dockerfile", CLEAN_PATH)
    assert result.exit_code == 1, result.output
    suites = {s.name: s for s in junit_valid((repo / "j.xml").read_text(encoding="utf-8"))}
    broken = cases(suites["sm-lint dockerfile: broken/Dockerfile"])
    assert broken["SM100"].result and isinstance(broken["SM100"].result[0], Failure)
    others = [case for rule, case in broken.items() if rule != "SM100" and rule not in NOT_PROCESSING]
    assert others and all(isinstance(case.result[0], Skipped) and "SM100 stopped the checks" in case.result[0].message
                          for case in others)
    assert all(case.is_passed for rule, case in cases(suites[f"sm-lint dockerfile: {CLEAN_PATH}"]).items()
               if rule not in NOT_PROCESSING)


def test_junit_expired_ignore_reports_in_a_suite_of_the_config_file(repo: Path) -> None:
    config = repo / ".sm-lint.toml"
    config.write_text('fail-on = "warning"\nignore = [{ id = "SM102", until = 2020-01-01 }]\n')
    xml = junit_valid(check_reports(repo, formats=("junit",))["junit"])
    suites = {s.name: s for s in xml}
    assert list(suites)[:2] == [f"sm-lint dockerfile: {BAD_PATH}", f"sm-lint dockerfile: {CLEAN_PATH}"]
    extra = suites[f"sm-lint dockerfile: {config}"]
    assert list(cases(extra)) == ["SM192"] and extra.failures == 1  # not the whole rule list again
    assert cases(extra)["SM192"].result[0].message.startswith(f"{config}:2:1: the ignore for SM102")


def test_junit_check_with_image_has_a_suite_per_layer(repo: Path) -> None:
    archive = image_archive(repo)
    dockerfile = repo / "Dockerfile"
    dockerfile.write_text("FROM python:3.11-slim\nENTRYPOINT python3 /x.py\n")
    result = run("check", "--image", archive, "--report", f"junit={repo / 'j.xml'}", "Dockerfile")
    assert result.exit_code == 1, result.output
    suites = {s.name: s for s in junit_valid((repo / "j.xml").read_text(encoding="utf-8"))}
    assert list(suites) == ["sm-lint dockerfile: Dockerfile", f"sm-lint image: {archive}"]
    assert sorted(cases(suites["sm-lint dockerfile: Dockerfile"])) == DOCKERFILE_RULES
    image = cases(suites[f"sm-lint image: {archive}"])
    assert sorted(image) == IMAGE_RULES
    opt_ml = image["SM210"].result[0]
    assert "/opt/ml/we%ird,na:me\n<&>é\\x1b.txt" in opt_ml.text  # newline kept, ESC made printable
    assert image["SM230"].is_passed
    assert cases(suites["sm-lint dockerfile: Dockerfile"])["SM101"].result  # merged: still the Dockerfile's


def test_junit_inspect_and_config_skip_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".sm-lint.toml").write_text(
        'ignore = [{ id = "SM230", reason = "arm build, checked elsewhere", until = 2999-01-01 }]\n')
    archive = image_archive(tmp_path)
    result = run("inspect", archive, "--report", "junit=i.xml", "--report", "json=i.json")
    assert result.exit_code == 1, result.output
    (suite,) = junit_valid((tmp_path / "i.xml").read_text(encoding="utf-8"))
    assert suite.name == f"sm-lint image: {archive}"
    skipped = cases(suite)["SM230"].result[0]
    config = tmp_path / ".sm-lint.toml"
    assert skipped.message == f"ignored by {config}: arm build, checked elsewhere (until 2999-01-01)"
    props = {p.name: p.value for p in suite.properties()}
    assert props["effective command"] == "/bin/sh -c 'python3 /x.py'" and props["layer"] == "image"
    document = json.loads((tmp_path / "i.json").read_text())
    assert ignored(document["skipped"]) == [{"rule": "SM230", "reason": skipped.message}]
    assert document["profile"] == "processing" and {"rule": "SM206", "reason": OUTSIDE_PROFILE + "processing profile "
                                                    "(applies under training, inference, batch-transform)"} in document["skipped"]
    assert document["version"] == 1 and document["summary"]["failed"] is True


# -- SARIF ----------------------------------------------------------------------------------------

def sarif_valid(text: str) -> dict:
    document = json.loads(text)
    schema = json.loads((DATA / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors]
    return document


def test_sarif_schema_rules_results_and_locations(repo: Path) -> None:
    reports = check_reports(repo, "--ignore", "SM112")
    (run_,) = sarif_valid(reports["sarif"])["runs"]
    driver = run_["tool"]["driver"]
    assert driver["name"] == "sm-lint" and driver["version"] and driver["informationUri"].startswith("https://")
    rules = driver["rules"]
    assert [r["id"] for r in rules] == DOCKERFILE_RULES
    shell_form = next(r for r in rules if r["id"] == "SM101")
    assert shell_form["shortDescription"]["text"] == "ENTRYPOINT in shell form"
    assert shell_form["name"] == "ShellFormEntrypoint"
    assert shell_form["fullDescription"]["text"].startswith("Finds the ENTRYPOINT")
    assert "ContainerArguments" in shell_form["help"]["text"] and "## Use instead" in shell_form["help"]["markdown"]
    assert shell_form["defaultConfiguration"]["level"] == "error"
    assert shell_form["help"]["markdown"] == CATALOGUE["SM101"].body.strip()  # the whole page
    assert "helpUri" not in shell_form  # no file:// link to the machine that made the report
    assert next(r for r in rules if r["id"] == "SM114")["defaultConfiguration"]["level"] == "note"

    results = run_["results"]
    assert [(r["ruleId"], r["level"]) for r in results] == [("SM114", "note"), ("SM101", "error")]
    for result in results:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
    entry = results[1]
    assert 'a%0A<&>,é:x' in entry["message"]["text"] and "\nFix: Move the shell code" in entry["message"]["text"]
    physical = entry["locations"][0]["physicalLocation"]
    assert physical["region"] == {"startLine": 3, "startColumn": 1, "endLine": 3}
    artifact = physical["artifactLocation"]
    assert artifact["uriBaseId"] == "%SRCROOT%" and artifact["uri"] == "we%25ird%2Cdir%3A%C3%A9%20%3C%26%3E/Dockerfile"
    base = run_["originalUriBaseIds"]["%SRCROOT%"]["uri"]
    resolved = Path(unquote(urlparse(base + artifact["uri"]).path))
    assert resolved.read_text(encoding="utf-8") == BAD  # the uri resolves to the file that was checked
    (note,) = [note for note in run_["invocations"][0]["toolConfigurationNotifications"]
               if OUTSIDE_PROFILE not in note["message"]["text"]]
    assert run_["properties"]["profile"] == "processing"
    assert note["associatedRule"]["id"] == "SM112" and rules[note["associatedRule"]["index"]]["id"] == "SM112"
    assert "ignored by --ignore" in note["message"]["text"]


def test_sarif_image_findings_have_a_logical_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    archive = image_archive(tmp_path)
    result = run("inspect", archive, "--report", "sarif=i.sarif")
    assert result.exit_code == 1, result.output
    (run_,) = sarif_valid((tmp_path / "i.sarif").read_text(encoding="utf-8"))["runs"]
    assert [r["id"] for r in run_["tool"]["driver"]["rules"]] == IMAGE_RULES
    opt_ml = next(r for r in run_["results"] if r["ruleId"] == "SM210")
    (location,) = opt_ml["locations"]
    assert "physicalLocation" not in location
    assert location["logicalLocations"] == [{"name": archive, "fullyQualifiedName": archive, "kind": "resource"}]
    assert "/opt/ml/we%ird,na:me\n<&>é\x1b.txt" in opt_ml["message"]["text"]
    assert run_["properties"]["facts"]["effective command"] == "/bin/sh -c 'python3 /x.py'"


def test_sarif_microsoft_validator_reports_no_error_or_warning(repo: Path) -> None:
    tool = os.environ.get("SARIF_MULTITOOL") or shutil.which("Sarif.Multitool") or ""
    if not tool or not os.access(tool, os.X_OK):
        unavailable("Microsoft's SARIF validator: set SARIF_MULTITOOL to its binary (npm package "
                    "@microsoft/sarif-multitool-linux; scripts/test.sh installs it)")
    (repo / "out.sarif").write_text(check_reports(repo, formats=("sarif",))["sarif"], encoding="utf-8")
    proc = subprocess.run([tool, "validate", str(repo / "out.sarif"), "-o", str(repo / "v.sarif"),
                           "--level", "Error;Warning"], capture_output=True, text=True,
                          env={**os.environ, "DOTNET_SYSTEM_GLOBALIZATION_INVARIANT": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = json.loads((repo / "v.sarif").read_text(encoding="utf-8-sig"))["runs"][0].get("results", [])
    problems = [r for r in found if r["ruleId"] != "SARIF2006"]  # SARIF2006: $schema URL unreachable offline
    assert problems == [], problems


# -- GitHub workflow commands --------------------------------------------------------------------

_COMMAND = re.compile(r"^::(error|warning|notice) ([^:]*)::(.*)$")


def _unescape(text: str) -> str:
    return re.sub(r"%(25|0D|0A|3A|2C)", lambda m: bytes.fromhex(m.group(1)).decode(), text)


def parse_github(text: str) -> Tuple[List[Tuple[str, Dict[str, str], str]], List[str]]:
    commands, plain = [], []
    for line in text.splitlines():
        match = _COMMAND.match(line)
        if not match:
            assert not line.startswith("::"), line
            plain.append(line)
            continue
        props = dict(item.split("=", 1) for item in match.group(2).split(","))
        commands.append((match.group(1), {k: _unescape(v) for k, v in props.items()}, _unescape(match.group(3))))
    return commands, plain


def test_github_annotations_and_escaping(repo: Path) -> None:
    commands, plain = parse_github(check_reports(repo)["github"])
    levels = [(level, props["title"].split()[0]) for level, props, _ in commands]
    assert levels == [("notice", "SM114"), ("error", "SM101")]
    level, props, message = commands[1]
    assert props == {"file": BAD_PATH, "line": "3", "col": "1", "title": "SM101 ENTRYPOINT in shell form"}
    assert message.startswith("ENTRYPOINT is in shell form") and '"a%0A<&>,é:x"' in message
    assert "\nfix: Move the shell code" in message
    raw = check_reports(repo, formats=("github",))["github"]
    assert "file=we%25ird%2Cdir%3Aé <&>/Dockerfile," in raw and "a%250A<&>,é:x" in raw
    assert plain == ["2 files checked: 2 findings (1 error, 1 info); failed (fail-on warning)"]


def test_github_image_finding_names_the_image_and_cannot_inject(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    archive = image_archive(tmp_path)
    result = run("inspect", archive, "-f", "github")
    commands, plain = parse_github(result.output)
    assert len(plain) == 1 and plain[0].startswith("1 image checked")  # the newline in a file name stayed escaped
    level, props, message = next(c for c in commands if c[1]["title"].startswith("SM210"))
    assert level == "error" and "file" not in props and "line" not in props
    assert message.startswith(f"{archive}: 1 file (7 B) under /opt/ml")
    assert "/opt/ml/we%ird,na:me\n<&>é\x1b.txt" in message


# -- GitLab Code Quality --------------------------------------------------------------------------

def test_gitlab_code_quality_issues_and_stable_fingerprints(repo: Path) -> None:
    issues = json.loads(check_reports(repo)["gitlab"])
    assert [(i["check_name"], i["severity"], i["location"]) for i in issues] == [
        ("SM114", "info", {"path": BAD_PATH, "lines": {"begin": 2}}),
        ("SM101", "major", {"path": BAD_PATH, "lines": {"begin": 3}}),
    ]
    for issue in issues:
        assert {"description", "check_name", "fingerprint", "severity", "location"} <= set(issue)
        assert issue["severity"] in {"info", "minor", "major", "critical", "blocker"}
    assert '"a%0A<&>,é:x"' in issues[1]["description"]
    assert len({i["fingerprint"] for i in issues}) == len(issues)

    # Two lines added above: same findings, new lines, same fingerprints (GitLab sees nothing new).
    (repo / BAD_PATH).write_text("# syntax=docker/dockerfile:1\n\n" + BAD, encoding="utf-8")
    moved = json.loads(check_reports(repo, formats=("gitlab",))["gitlab"])
    assert [i["location"]["lines"]["begin"] for i in moved] == [4, 5]
    assert [i["fingerprint"] for i in moved] == [i["fingerprint"] for i in issues]


# -- Checkstyle -----------------------------------------------------------------------------------

def test_checkstyle_parses_back(repo: Path) -> None:
    root = ET.fromstring(check_reports(repo)["checkstyle"])
    assert root.tag == "checkstyle" and root.get("version") == "4.3"
    files = {f.get("name"): [e.attrib for e in f] for f in root}
    assert files[CLEAN_PATH] == []  # a clean file is listed, with no errors
    info, shell_form = files[BAD_PATH]
    assert info["source"] == "sm-lint.SM114" and info["severity"] == "info" and info["line"] == "2"
    assert shell_form["source"] == "sm-lint.SM101" and shell_form["severity"] == "error"
    assert (shell_form["line"], shell_form["column"]) == ("3", "1")
    assert '"a%0A<&>,é:x"' in shell_form["message"] and " Fix: Move the shell code" in shell_form["message"]


def test_checkstyle_image_file_name_is_the_image(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    archive = image_archive(tmp_path)
    run("inspect", archive, "--report", "checkstyle=c.xml")
    (file_,) = ET.parse(tmp_path / "c.xml").getroot()
    assert file_.get("name") == "img.tar"  # made relative to the working folder, as file names are
    assert all("line" not in e.attrib for e in file_) and {e.get("source") for e in file_} >= {"sm-lint.SM210"}


# -- hostile text through every format ------------------------------------------------------------

HOSTILE = "line one\r\nline two %0A %25 <&>\"' é 😀 , : :: \x00\x1b \udcff end"


@pytest.mark.parametrize("fmt", ["junit", "sarif", "github", "gitlab", "checkstyle", "json", "text"])
def test_hostile_text_survives_every_format(fmt: str, tmp_path: Path) -> None:
    """Messages, evidence and paths carrying CR/LF, `%`, XML metacharacters, non-ASCII, NUL, ESC and
    a lone surrogate (an undecodable file name in an image) still give a report its consumer parses."""
    findings = [Finding("SM101", Severity.ERROR, HOSTILE, Location(f"dir,{HOSTILE[:4]}:%/Dockerfile", 3, 1, 3),
                        fix=HOSTILE, evidence=(HOSTILE,)),
                Finding("SM210", Severity.WARNING, HOSTILE, Location("img:1", 0, 1), evidence=(HOSTILE,))]
    info = RunInfo("check", ("dir,line:%/Dockerfile", "img:1"), "warning", {"SM101": "ENTRYPOINT in shell form"},
                   rules=("SM101", "SM102"), skipped=(("SM112", HOSTILE),),
                   target_layers=(("dir,line:%/Dockerfile", "dockerfile"), ("img:1", "image")))
    emit_reports(findings, info, "text", tmp_path / "stdout.txt", ((fmt, tmp_path / "report"),))
    text = (tmp_path / "report").read_bytes().decode("utf-8")  # strict: valid UTF-8
    shown = HOSTILE.replace("\x00", "\\x00").replace("\x1b", "\\x1b").replace("\udcff", "\\udcff")
    if fmt == "junit":
        xml = junit_valid(text)
        assert sum(s.failures for s in xml) == 2
        failure = cases(list(xml)[0])["SM101"].result[0]
        assert failure.message.endswith(shown)  # CR kept in attributes; text nodes normalise CRLF to LF
        assert shown.replace("\r\n", "\n") in failure.text
    elif fmt == "checkstyle":
        messages = [e.get("message") for e in ET.fromstring(text).iter("error")]
        assert messages[0] == f"{shown} Fix: {shown}"
    elif fmt == "sarif":
        assert sarif_valid(text)["runs"][0]["results"][0]["message"]["text"].startswith(HOSTILE)
    elif fmt == "github":
        commands, plain = parse_github(text)
        assert len(commands) == 2 and len(plain) == 1
        shown = HOSTILE.replace("\udcff", "\\udcff")
        assert commands[0][2].startswith(shown) and commands[0][1]["file"] == f"dir,{HOSTILE[:4]}:%/Dockerfile"
        assert commands[1][2].startswith(f"img:1: {shown}")
    elif fmt == "gitlab":
        assert json.loads(text)[0]["description"] == f"SM101: {HOSTILE}"
    elif fmt == "json":
        assert json.loads(text)["findings"][0]["message"] == HOSTILE
    else:  # text is for terminals: control characters shown escaped, one finding per line
        from sm_lint.terminal import printable

        assert printable(HOSTILE).replace("\udcff", "\\udcff") in text
        assert "\x1b" not in text and "\r" not in text


# -- --report on the command line -----------------------------------------------------------------

@pytest.mark.parametrize("flag, message", [
    ("xml=out.xml", "unknown format 'xml'"),
    ("out.xml", "expected FORMAT=PATH"),
    ("junit=", "expected FORMAT=PATH"),
    ("junit=no/such/dir/out.xml", "no directory 'no/such/dir'"),
    ("junit=.", "is a directory"),
])
def test_bad_report_flag_is_a_one_line_usage_error(repo: Path, flag: str, message: str) -> None:
    for command in (["check", BAD_PATH], ["inspect", "no-such-image"]):
        result = run(*command, "--report", flag)
        assert result.exit_code == 2, result.output
        assert message in result.output and len(result.output.strip().splitlines()) == 1
        assert "Traceback" not in result.output


def test_same_report_path_twice_is_a_usage_error(repo: Path) -> None:
    result = run("check", "--report", "json=r", "--report", "sarif=./r", BAD_PATH)
    assert result.exit_code == 2 and "named twice" in result.output


def test_report_formats_are_the_documented_ones() -> None:
    assert FORMATS == ("text", "json", "junit", "html", "sarif", "github", "gitlab", "checkstyle")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert all(f"`{fmt}`" in readme for fmt in FORMATS)


def test_renderer_imports_only_the_chosen_format() -> None:
    code = ("import sys\nfrom sm_lint.report import renderer\nrenderer('sarif')\n"
            "loaded = {m for m in sys.modules if m.startswith('sm_lint.report.')}\n"
            "assert loaded == {'sm_lint.report.sarif'}, loaded\n"
            "assert not {'jinja2', 'xml.etree.ElementTree', 'typer', 'docker'} & set(sys.modules)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr


def test_check_with_reports_stays_off_heavy_imports(repo: Path) -> None:
    code = ("import sys, runpy; sys.argv=['sm-lint','check','--report','junit=j.xml','--report','gitlab=g.json',%r]\n"
            "try:\n  runpy.run_module('sm_lint', run_name='__main__')\n"
            "except SystemExit as e:\n"
            "  assert not {'docker', 'jinja2', 'typer', 'sm_lint.report.html'} & set(sys.modules), 'heavy import'\n"
            "  raise\n") % BAD_PATH
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=repo,
                          env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == "" and (repo / "j.xml").is_file() and (repo / "g.json").is_file()


def test_ignore_for_some_targets_only(repo: Path) -> None:
    (repo / HOSTILE_DIR / ".sm-lint.toml").write_text('ignore = ["SM114"]\n')
    document = json.loads(check_reports(repo, formats=("json",))["json"])
    assert ignored(document["skipped"]) == [{"rule": "SM114", "reason": f"ignored by {repo / HOSTILE_DIR / '.sm-lint.toml'}"
                                                              " (for some targets only)"}]
    assert [f["rule"] for f in document["findings"]] == ["SM101"]


def test_json_keeps_every_value_of_a_repeated_fact() -> None:
    info = RunInfo("run", ("img",), "warning", {}, facts=(("note", "first"), ("image", "img"), ("note", "second")))
    document = json.loads(renderer_output("json", info))
    assert document["facts"] == {"note": "first\nsecond", "image": "img"}


def renderer_output(fmt: str, info: RunInfo) -> str:
    from sm_lint.report import renderer

    return renderer(fmt)([], info)
