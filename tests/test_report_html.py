"""The self-contained HTML report: content from real `check`/`inspect` runs, escaping, no remote
fetches, and a real headless Chromium that renders it (DOM, screenshot, network log)."""
from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import pytest

from docker_support import unavailable
from image_archives import write_image
from sm_lint.catalogue import Catalogue
from sm_lint.check import CheckOptions, run_check
from sm_lint.config import Settings
from sm_lint.findings import Finding, Hit, Location, Severity
from sm_lint.harness.jobspec import validate
from sm_lint.inspect_command import InspectOptions, run_inspect
from sm_lint.report import RunInfo, counts
from sm_lint.report.html import TEMPLATES, markdown, render
from sm_lint.stamping import stamp

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "fixtures" / "example"
CATALOGUE = Catalogue.load()
TITLES = {rule.id: rule.title for rule in CATALOGUE}
SHELL_EP = {"Entrypoint": ["/bin/sh", "-c", "python3 /opt/ml/code/process.py"]}
LAYERS = [[("opt/ml/code/process.py", "file", 120)], [("usr/bin/nvidia-smi", "file", 10)]]
HISTORY = ["COPY process.py /opt/ml/code/", "RUN apt-get install nvidia-utils-535"]
TIMELINE = ("t+0.00s algo-1 PID 1: /bin/sh -c 'python3 /opt/program/process.py'; children: python3",
            "t+0.01s SIGINT sent",
            "t+30.01s algo-1 still running after the 30 s grace: SIGKILL sent",
            "t+30.03s algo-1 exit seen: 137 (SIGKILL), 30.020 s after SIGINT",
            "last log lines of algo-1:",
            "  step 3/10 <b>loss</b> & \"acc\"",
            "  \ttab and  two  spaces")
# Attributes through which a page fetches or navigates; none may point off the machine.
URL_ATTRIBUTES = {"src", "href", "srcset", "action", "formaction", "poster", "data", "xlink:href", "background",
                  "cite", "manifest", "ping", "codebase", "longdesc", "icon"}
REMOTE = ("http:", "https:", "//", "ftp:", "ws:", "wss:")


# --- a small DOM over html.parser, for the rendered file and Chromium's dump alike --------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Element:
    def __init__(self, tag: str, attrs: Dict[str, Optional[str]], parent: Optional["Element"]) -> None:
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: List[object] = []  # Element or str

    @property
    def classes(self) -> List[str]:
        return (self.attrs.get("class") or "").split()

    def iter(self) -> Iterator["Element"]:
        for child in self.children:
            if isinstance(child, Element):
                yield child
                yield from child.iter()

    def find_all(self, tag: Optional[str] = None, cls: Optional[str] = None, **attrs: str) -> List["Element"]:
        return [e for e in self.iter() if (tag is None or e.tag == tag) and (cls is None or cls in e.classes)
                and all(e.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items())]

    def find(self, tag: Optional[str] = None, cls: Optional[str] = None, **attrs: str) -> "Element":
        found = self.find_all(tag, cls, **attrs)
        assert found, f"no <{tag or '*'} class={cls} {attrs}>"
        return found[0]

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)


class Page(HTMLParser):
    """Parses a document into Elements, and fails on an end tag that closes nothing open."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.root = self.current = Element("#document", {}, None)
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: List[Tuple[str, Optional[str]]]) -> None:
        element = Element(tag, dict(attrs), self.current)
        self.current.children.append(element)
        if tag not in VOID:
            self.current = element

    def handle_startendtag(self, tag: str, attrs: List[Tuple[str, Optional[str]]]) -> None:
        self.current.children.append(Element(tag, dict(attrs), self.current))

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        assert self.current.tag == tag, f"</{tag}> closes <{self.current.tag}>"
        assert self.current.parent is not None
        self.current = self.current.parent

    def handle_data(self, data: str) -> None:
        self.current.children.append(data)


def page(text: str) -> Element:
    return Page(text).root


# --- reports from real runs ---------------------------------------------------------------------

def check_report(paths: Sequence[str], *, rules: Tuple[str, ...] = (), skipped: Tuple[Tuple[str, str], ...] = (),
                 fail_on: Optional[str] = None) -> Tuple[str, List[Finding]]:
    result = run_check(list(paths), CheckOptions(fail_on=fail_on), CATALOGUE)
    info = RunInfo("check", result.targets, result.fail_on, TITLES, rules=rules, skipped=skipped)
    return render(result.findings, info, CATALOGUE), result.findings


def image_findings(tmp_path: Path) -> Tuple[str, List[Finding], Tuple[Tuple[str, str], ...]]:
    archive = write_image(tmp_path / "img.tar", LAYERS, SHELL_EP, history=HISTORY)
    result = run_inspect(archive, InspectOptions(arguments=("--mode", "full")), CATALOGUE)
    return archive, result.findings, result.facts


def request_finding() -> Finding:
    """A real SM300 finding: the job request's name is too long."""
    request = {"ProcessingJobName": "x" * 70, "AppSpecification": {"ImageUri": "img:1"}, "RoleArn": "arn:aws:iam::1:role/r",
               "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge",
                                                         "VolumeSizeInGB": 30}}}
    (finding,) = stamp([("SM300", hit) for hit in validate(request)], "job.json", Settings(), CATALOGUE)
    return finding


def runtime_finding() -> Finding:
    """A stop-scenario finding as the `sm-lint run` harness yields it: a hit whose evidence is the
    harness timeline and the log tail, stamped by the engine."""
    hit = Hit(0, "algo-1: did not exit within the 30 s grace after SIGINT; it needed SIGKILL",
              fix="handle SIGINT in PID 1: finish or checkpoint, then exit", evidence=TIMELINE)
    (finding,) = stamp([("SM310", hit)], "sm-lint-test:latest", Settings(), CATALOGUE)
    return finding


def all_layers_report(tmp_path: Path) -> Tuple[str, List[Finding]]:
    """`check --image`-like: the example Dockerfile, an image archive and a runtime finding."""
    checked = run_check([str(EXAMPLE)], CheckOptions(), CATALOGUE)
    archive, image, facts = image_findings(tmp_path)
    findings = checked.findings + image + [request_finding(), runtime_finding()]
    ran = tuple(rule.id for rule in CATALOGUE if rule.id != "SM300")
    info = RunInfo("check", checked.targets + (archive,), checked.fail_on, TITLES, facts=facts, rules=ran,
                   skipped=(("SM300", "no job request: give --request to check it"),))
    return render(findings, info, CATALOGUE), findings


@pytest.fixture(autouse=True)
def _in_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # fixture paths are relative, as a user types them


def test_every_finding_is_an_article_with_its_hooks() -> None:
    report, findings = check_report(["fixtures/example"])
    dom = page(report)
    articles = dom.find_all("article", "finding")
    assert len(findings) == 6
    assert [(a.attrs["data-rule"], a.attrs["data-severity"], a.attrs["data-line"], a.attrs["data-path"])
            for a in articles] == [(f.rule, f.severity.label, str(f.location.line), f.location.path) for f in findings]
    assert {a.attrs["data-layer"] for a in articles} == {"dockerfile"}
    for article, finding in zip(articles, findings):
        assert article.find(cls="message").text() == finding.message.replace("`", "")
        assert article.find(cls="fix").text() == f"Fix {finding.fix}"
        assert article.attrs["id"] == f"finding-{findings.index(finding) + 1}"


def test_summary_verdict_counts_and_layers() -> None:
    report, findings = check_report(["fixtures/example"])
    summary = page(report).find(id="summary")
    assert summary.attrs["data-verdict"] == "failed" and summary.attrs["data-fail-on"] == "warning"
    assert {s: int(summary.attrs[f"data-count-{s}"]) for s in ("error", "warning", "info")} == counts(findings) \
        == {"error": 4, "warning": 1, "info": 1}
    assert "5 of 6 findings at or above warning" in " ".join(summary.find(cls="verdict-why").text().split())
    layers = {e.attrs["data-layer"]: e.attrs["data-status"] for e in summary.find_all(cls="layer")}
    assert layers == {"dockerfile": "fail", "image": "not-run", "runtime": "not-run"}
    donut = summary.find("svg", "donut")
    assert [c.attrs["data-severity"] for c in donut.find_all("circle", "seg")] == ["error", "warning", "info"]
    assert sum(float(c.attrs["stroke-dasharray"].split()[0]) for c in donut.find_all("circle", "seg")) == \
        pytest.approx(100, abs=0.01)
    assert "6 findings: 4 errors, 1 warning, 1 info" in donut.find("title").text()


def test_passing_and_never_failing_runs(tmp_path: Path) -> None:
    good = tmp_path / "Dockerfile"
    good.write_text('FROM python:3.11-slim\nCOPY p.py /opt/program/\nENTRYPOINT ["python3", "/opt/program/p.py"]\n')
    (tmp_path / ".git").mkdir()
    report, findings = check_report([str(good)])
    dom = page(report)
    assert findings == [] and dom.find(id="summary").attrs["data-verdict"] == "passed"
    assert dom.find("p", "none").text() == "No findings."
    assert dom.find(cls="layer", data_layer="dockerfile").attrs["data-status"] == "pass"
    assert dom.find_all(id="filters") == []  # nothing to filter
    never, _ = check_report(["fixtures/example"], fail_on="never")
    summary = page(never).find(id="summary")
    assert summary.attrs["data-verdict"] == "passed"
    assert {e.attrs["data-status"] for e in summary.find_all(cls="layer")} == {"pass", "not-run"}


def test_dockerfile_lines_around_the_culprit_are_shown_and_highlighted() -> None:
    report, findings = check_report(["fixtures/example"])
    lines = (EXAMPLE / "Dockerfile").read_text().splitlines()
    for article, finding in zip(page(report).find_all("article", "finding"), findings):
        shown = article.find("pre", "excerpt").find_all("span", "line")
        numbers = [int(s.attrs["data-line"]) for s in shown]
        line = finding.location.line
        assert numbers == list(range(max(1, line - 3), min(len(lines), line + 3) + 1))
        assert [int(s.attrs["data-line"]) for s in shown if "hit" in s.classes] == [line]
        assert [s.text() for s in shown] == [lines[n - 1] for n in numbers]
    entrypoint = page(report).find("article", data_rule="SM101")
    assert entrypoint.find("span", "hit").text() == "ENTRYPOINT /usr/local/bin/entrypoint.sh"


def test_multi_line_culprit_with_bom_and_crlf() -> None:
    path = "fixtures/parser/crlf_bom.Dockerfile"
    finding = Finding("SM105", Severity.WARNING, "RUN continues", Location(path, 3, 1, 4))
    report = render([finding], RunInfo("check", (path,), "warning", TITLES), CATALOGUE)
    shown = page(report).find("pre", "excerpt").find_all("span", "line")
    assert [(s.attrs["data-line"], "hit" in s.classes, s.text()) for s in shown] == [
        ("1", False, "# escape=\\"), ("2", False, "FROM alpine"), ("3", True, "RUN echo a \\"), ("4", True, "    b"),
        ("5", False, "RUN <<EOF"), ("6", False, "line one"), ("7", False, "EOF")]


def test_missing_changed_or_unreadable_sources_are_tolerated(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM python:3.11-slim\nCOPY process.py /opt/program/\nENTRYPOINT python3 /opt/program/process.py\n")
    (tmp_path / ".git").mkdir()
    result = run_check([str(dockerfile)], CheckOptions(), CATALOGUE)
    info = RunInfo("check", result.targets, result.fail_on, TITLES)
    dockerfile.write_text("FROM python:3.11-slim\n")  # shorter than when it was checked
    assert "past the end" in page(render(result.findings, info, CATALOGUE)).find(cls="excerpt-missing").text()
    dockerfile.unlink()
    assert "cannot be read now" in page(render(result.findings, info, CATALOGUE)).find(cls="excerpt-missing").text()
    dockerfile.write_bytes(b"FROM x\0\0\0")
    assert "not a text file" in page(render(result.findings, info, CATALOGUE)).find(cls="excerpt-missing").text()
    stdin = [f._replace(location=f.location._replace(path="-")) for f in result.findings]
    assert "standard input" in page(render(stdin, info, CATALOGUE)).find(cls="excerpt-missing").text()
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # opening it to read would block the report forever
    piped = [f._replace(location=f.location._replace(path=str(fifo))) for f in result.findings]
    assert "not a regular file" in page(render(piped, info, CATALOGUE)).find(cls="excerpt-missing").text()


def test_rule_documentation_and_fix_come_from_the_catalogue() -> None:
    report, _ = check_report(["fixtures/example"])
    article = page(report).find("article", data_rule="SM101")
    why = " ".join(article.find("details", "why").text().split())
    assert "The shell form prevents any CMD or run command line arguments from being used" in why
    assert '["/bin/sh", "-c", "<text>"]' in why  # inline code, escaped in the file, text in the DOM
    use = article.find("details", "use-instead")
    assert use.find("figcaption").text() == "Dockerfile (good)"
    assert use.find("pre").text() == 'FROM python:3.11-slim\nCOPY process.py /opt/program/\nENTRYPOINT ["python3", "/opt/program/process.py"]'
    assert "open" not in article.find("details", "why").attrs  # collapsed: the finding's own fix is in view
    assert article.find(cls="fix").text().startswith('Fix Use exec form: ENTRYPOINT ["/usr/local/bin/entrypoint.sh"]')


def test_image_findings_show_their_evidence_and_the_facts(tmp_path: Path) -> None:
    archive, findings, facts = image_findings(tmp_path)
    info = RunInfo("inspect", (archive,), "warning", TITLES, facts=facts)
    dom = page(render(findings, info, CATALOGUE))
    assert sorted(a.attrs["data-rule"] for a in dom.find_all("article", "finding")) == \
        ["SM201", "SM202", "SM210", "SM220", "SM221"]
    opt_ml = dom.find("article", data_rule="SM210")
    assert opt_ml.attrs["data-layer"] == "image" and opt_ml.find_all("pre", "excerpt") == []
    assert opt_ml.find("pre", "evidence").text() == "/opt/ml/code/process.py (120 B, layer 0: COPY process.py /opt/ml/code/)"
    layers = {e.attrs["data-layer"]: e.attrs["data-status"] for e in dom.find_all(cls="layer")}
    assert layers == {"dockerfile": "not-run", "image": "fail", "runtime": "not-run"}
    run = dom.find(id="run")
    assert run.find("tr", data_fact="effective command").find("td").text() == \
        "/bin/sh -c 'python3 /opt/ml/code/process.py' --mode full"
    assert run.find("tr", data_fact="platform").find("td").text() == "linux/amd64"


def test_runtime_evidence_is_verbatim_in_a_monospace_block() -> None:
    findings = [request_finding(), runtime_finding()]
    assert findings[0].message.startswith("ProcessingJobName:")
    report = render(findings, RunInfo("run", ("sm-lint-test:latest",), "warning", TITLES), CATALOGUE)
    dom = page(report)
    stop = dom.find("article", data_rule="SM310")
    assert stop.attrs["data-layer"] == "runtime" and stop.find_all("pre", "excerpt") == []
    assert stop.find("pre", "evidence").text() == "\n".join(TIMELINE)
    assert dom.find("article", data_rule="SM300").find_all("pre", "evidence") == []
    assert {e.attrs["data-layer"]: e.attrs["data-status"] for e in dom.find_all(cls="layer")} == \
        {"dockerfile": "not-run", "image": "not-run", "runtime": "fail"}


def test_layers_checked_follow_target_layers(tmp_path: Path) -> None:
    if "target_layers" not in RunInfo._fields:
        pytest.skip("RunInfo.target_layers is not in this tree yet")
    (tmp_path / ".git").mkdir()
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text('FROM python:3.11-slim\nCOPY p.py /opt/program/\nENTRYPOINT ["python3", "/opt/program/p.py"]\n')
    info = RunInfo("check", (str(dockerfile), "img.tar"), "warning", TITLES,
                   target_layers=((str(dockerfile), "dockerfile"), ("img.tar", "image")))  # type: ignore[call-arg]
    statuses = {e.attrs["data-layer"]: e.attrs["data-status"] for e in page(render([], info, CATALOGUE)).find_all(cls="layer")}
    assert statuses == {"dockerfile": "pass", "image": "pass", "runtime": "not-run"}


def test_rules_that_ran_passed_collapsed_and_skipped_with_reasons(tmp_path: Path) -> None:
    report, findings = all_layers_report(tmp_path)
    rules = page(report).find(id="rules")
    hit = {f.rule for f in findings}
    passed = rules.find("details", "passed")
    assert "open" not in passed.attrs
    assert [li.attrs["data-rule"] for li in passed.find_all("li", "rule-pass")] == \
        sorted(r.id for r in CATALOGUE if r.id != "SM300" and r.id not in hit)
    assert sorted(li.attrs["data-rule"] for li in rules.find_all("li", "rule-hit")) == sorted(hit)
    (skipped,) = rules.find_all("li", "rule-skipped")
    assert skipped.attrs["data-rule"] == "SM300" and skipped.find(cls="reason").text() == "no job request: give --request to check it"
    first = rules.find("li", data_rule="SM101").find("a").attrs["href"]
    assert page(report).find(id=first[1:]).attrs["data-rule"] == "SM101"
    layers = {e.attrs["data-layer"]: e for e in page(report).find_all(cls="layer")}
    assert {k: e.attrs["data-status"] for k, e in layers.items()} == {"dockerfile": "fail", "image": "fail", "runtime": "fail"}
    assert "1 skipped" in layers["runtime"].text()
    assert f"{sum(r.layer == 'runtime' for r in CATALOGUE) - 1} rules ran" in layers["runtime"].text()


def test_without_a_record_of_rules_that_ran_it_says_so() -> None:
    report, _ = check_report(["fixtures/example"])
    rules = page(report).find(id="rules")
    assert rules.find_all("details", "passed") == []
    assert "did not record which rules ran" in rules.text()


def test_hostile_text_is_escaped_everywhere(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    name = 'Dockerfile.x"><img src=x onerror=alert(1)>'  # a file name may not hold "/"
    hostile = tmp_path / name
    hostile.write_text('FROM python:3.11-slim\nLABEL a="</pre><script>alert(2)</script>"\n'
                       "ENTRYPOINT python3 /app/x.py '<img src=https://evil.example/x onerror=alert(3)>'\n")
    result = run_check([str(hostile)], CheckOptions(), CATALOGUE)
    assert any("<img src=" in f.message for f in result.findings)  # the message quotes the entrypoint
    evil = Finding("SM210", Severity.ERROR, "<b>bold</b> & `<i>code</i>`", Location("<img src=x>"),
                   fix="</p><script>alert(4)</script>", evidence=("</pre><script>alert(5)</script>",))
    info = RunInfo("check", result.targets, result.fail_on, TITLES,
                   facts=(("<th>", "</td><script>alert(6)</script>"),), rules=("SM101",),
                   skipped=(("SM300", "<script>alert(7)</script>"),))
    report = render(result.findings + [evil], info, CATALOGUE)
    assert report.count("<script") == 1  # the report's own script, nothing injected
    assert "<img" not in report and "<b>" not in report and "<i>" not in report
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in report and "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in report
    dom = page(report)  # well-formed: every end tag closes what it should
    assert dom.find("article", data_rule="SM101").attrs["data-path"] == str(hostile)
    assert dom.find("span", "hit", data_line="3").text().endswith("'<img src=https://evil.example/x onerror=alert(3)>'")
    assert dom.find("span", "hit", data_line="3").text().startswith("ENTRYPOINT python3")
    mine = dom.find("article", data_rule="SM210")
    assert mine.find(cls="message").text() == "<b>bold</b> & <i>code</i>"
    assert mine.find(cls="message").find("code").text() == "<i>code</i>"
    assert mine.find("pre", "evidence").text() == "</pre><script>alert(5)</script>"
    assert dom.find("tr", data_fact="<th>").find("td").text() == "</td><script>alert(6)</script>"
    assert len(dom.find_all("script")) == 1


def test_nothing_is_fetched_from_anywhere(tmp_path: Path) -> None:
    report, _ = all_layers_report(tmp_path)
    assert "https://" in report  # rule sources and examples name URLs, as text only
    dom = page(report)
    for element in dom.iter():
        for attr, value in element.attrs.items():
            if attr in URL_ATTRIBUTES and value is not None:
                assert not value.strip().lower().startswith(REMOTE), f"<{element.tag} {attr}={value!r}>"
                assert value.startswith(("#", "data:")), f"<{element.tag} {attr}={value!r}>: not in this file"
    assert [e.attrs.get("rel") for e in dom.find_all("link")] == ["icon"]  # data: icon: no /favicon.ico lookup
    assert not dom.find_all("img") and not dom.find_all("iframe") and not dom.find_all("object")
    (style,) = dom.find_all("style")
    assert "url(" not in style.text() and "@import" not in style.text() and "@font-face" not in style.text()
    assert all("src" not in s.attrs for s in dom.find_all("script"))
    csp = dom.find("meta", http_equiv="Content-Security-Policy").attrs["content"]
    assert csp.startswith("default-src 'none'; style-src 'sha256-") and "script-src 'sha256-" in csp


def test_markdown_subset_escapes_and_labels_fences() -> None:
    text = ("Prose with `<code>` & <b>tags</b>.\nSecond line.\n\n- one `x`\n- two\n\n"
            "```sh file=entrypoint.sh\necho '<hi>'\n```\n\n```dockerfile good gpu=true\nFROM x\n```\n")
    out = str(markdown(text))
    assert out.count("<p>") == 1 and "&lt;b&gt;tags&lt;/b&gt;" in out and "<code>&lt;code&gt;</code> &amp;" in out
    assert "<ul><li>one <code>x</code></li><li>two</li></ul>" in out
    assert "<figcaption>file entrypoint.sh</figcaption><pre><code>echo &#39;&lt;hi&gt;&#39;</code></pre>" in out
    assert "<figcaption>Dockerfile (good, gpu=true)</figcaption>" in out
    stop = str(markdown("```container good scenario=stop grace=5\nFROM scratch\n```"))
    assert "<figcaption>Dockerfile run by sm-lint run (good, scenario=stop, grace=5)</figcaption>" in stop


def test_templates_ship_in_the_package_and_jinja2_loads_only_on_render() -> None:
    assert {p.name for p in TEMPLATES.glob("*.j2")} >= {"report.html.j2", "report.css.j2", "filter.js.j2"}
    code = ("import sys, sm_lint.report.html; assert 'jinja2' not in sys.modules, 'jinja2 imported eagerly'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert done.returncode == 0, done.stderr


# --- a real browser -------------------------------------------------------------------------------
# Debian's headless Chromium opens the report from disk. It runs with its own profile, its DNS
# mapped to nothing (`MAP * ~NOTFOUND`: no request can leave the machine), and a NetLog file
# (`--log-net-log`), the browser's record of every request its network stack starts. Requests of
# the page carry the page as initiator; the browser's own background traffic (component updates,
# spell-check dictionaries) has none and is left out. A canary page with a remote stylesheet and
# image proves, on the Chromium at hand, that the log shows page requests at all.

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--host-resolver-rules=MAP * ~NOTFOUND", "--enable-logging=stderr", "--v=0", "--hide-scrollbars")


@pytest.fixture(scope="module")
def chromium() -> str:
    for name in (os.environ.get("SM_LINT_CHROMIUM", ""), "chromium", "chromium-browser"):
        found = shutil.which(name) if name else None
        if found:
            return found
    unavailable("no headless Chromium to render the HTML report (Debian: apt-get install chromium; "
                "scripts/test.sh installs it as root)")


class Browsed:
    def __init__(self, dom: str, log: str, page_requests: List[str]) -> None:
        self.dom, self.log, self.page_requests = dom, log, page_requests


def browse(chromium: str, file: Path, tmp_path: Path, *extra: str) -> Browsed:
    tag = f"{file.stem}-{len(list(tmp_path.glob('profile-*')))}"
    netlog = tmp_path / f"netlog-{tag}.json"
    args = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / f'profile-{tag}'}", f"--log-net-log={netlog}",
            *extra, file.resolve().as_uri()]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return Browsed(done.stdout, done.stderr, _page_requests(netlog))


def _page_requests(netlog: Path) -> List[str]:
    """URLs of requests that a page started (initiator set), from Chromium's NetLog JSON."""
    log = json.loads(netlog.read_text())
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = []
    for event in log["events"]:
        params = event.get("params") or {}
        if event["type"] == start and "url" in params and params.get("initiator", "not an origin") != "not an origin":
            urls.append(params["url"])
    return urls


def test_browser_netlog_sees_page_requests(chromium: str, tmp_path: Path) -> None:
    """The control: without it, an empty request list below would prove nothing."""
    canary = tmp_path / "canary.html"
    canary.write_text('<!DOCTYPE html><html><head><link rel="stylesheet" href="https://cdn.sm-lint.invalid/x.css">'
                      '</head><body><p>canary</p><img src="http://img.sm-lint.invalid/x.png"></body></html>')
    browsed = browse(chromium, canary, tmp_path, "--dump-dom")
    assert "canary" in browsed.dom
    assert sorted(browsed.page_requests) == ["http://img.sm-lint.invalid/x.png", "https://cdn.sm-lint.invalid/x.css"]


def test_browser_renders_every_finding_offline(chromium: str, tmp_path: Path) -> None:
    report, findings = all_layers_report(tmp_path)
    file = tmp_path / "report.html"
    file.write_text(report, encoding="utf-8")
    browsed = browse(chromium, file, tmp_path, "--dump-dom")
    assert browsed.page_requests == []
    # The CSP would block a fetch before it reaches the network log: without it, still nothing.
    bare = tmp_path / "report-without-csp.html"
    bare.write_text(re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", report), encoding="utf-8")
    assert "Content-Security-Policy" not in bare.read_text()
    assert browse(chromium, bare, tmp_path, "--dump-dom").page_requests == []
    dom = page(browsed.dom)
    articles = dom.find_all("article", "finding")
    assert [(a.attrs["data-rule"], a.attrs["data-severity"]) for a in articles] == \
        [(f.rule, f.severity.label) for f in findings]
    assert {a.attrs["data-layer"] for a in articles} == {"dockerfile", "image", "runtime"}
    assert dom.find("article", data_rule="SM101").find("span", "hit").text() == "ENTRYPOINT /usr/local/bin/entrypoint.sh"
    assert dom.find("article", data_rule="SM310").find("pre", "evidence").text() == "\n".join(TIMELINE)
    # The optional script ran (its CSP hash matched) and showed the filters; the style applied.
    assert dom.find("html").attrs.get("data-js") == "on"
    assert "hidden" not in dom.find("form", id="filters").attrs
    assert dom.find(id="shown-count").text() == str(len(findings))
    console = [line for line in browsed.log.splitlines() if ":CONSOLE" in line]
    assert not [line for line in console if "Content Security Policy" in line or "Uncaught" in line], console


def test_browser_screenshot(chromium: str, tmp_path: Path) -> None:
    report, _ = check_report(["fixtures/example"])
    file = tmp_path / "report.html"
    file.write_text(report, encoding="utf-8")
    shot = tmp_path / "report.png"
    browsed = browse(chromium, file, tmp_path, f"--screenshot={shot}", "--window-size=1280,1600")
    assert browsed.page_requests == []
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    assert struct.unpack(">II", data[16:24]) == (1280, 1600)
    assert len(data) > 30_000  # a page of text and colour, not a blank canvas


def test_rules_of_an_unparsable_dockerfile_are_not_listed_as_passed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from sm_lint.cli import app

    (tmp_path / ".git").mkdir()
    (tmp_path / "Dockerfile").write_text("FROM python:3.11\nRUN <<EOF\necho never closed\n")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["check", "--report", f"html={tmp_path / 'r.html'}", "Dockerfile"])
    assert result.exit_code == 1, result.output
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert 'class="rule-pass" data-rule="SM101"' not in page
    skipped = re.search(r'<li class="rule-skipped" data-rule="SM101"[^>]*>(.*?)</li>', page, re.S)
    assert skipped and "no Dockerfile could be parsed (SM100)" in skipped.group(1)
