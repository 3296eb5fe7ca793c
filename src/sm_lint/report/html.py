"""A self-contained HTML report: one file with inline CSS, inline SVG and a little optional script.

Made to be opened offline from a CI artifact store: it fetches nothing (no fonts, CDNs, images by
URL; a Content-Security-Policy allows only its own inline style and script, by hash) and reads in
full without JavaScript (the script only adds filters). Every finding shows its evidence: the
Dockerfile lines around it, read from `location.path` at render time (tolerating missing files),
or its evidence lines verbatim; and its rule's "Why is this bad?" and "Use instead" from the
catalogue. jinja2 is imported here only, so other formats never pay for it.

Hooks for tests and scripts: `#summary[data-verdict]`, `.layer[data-layer][data-status]`,
`.finding[data-rule][data-severity][data-layer][data-path][data-line]`, `.excerpt .line.hit`,
`.evidence`, `#rules .rule-pass` / `.rule-skipped` / `.rule-hit` with `data-rule`.
"""
from __future__ import annotations

import base64
import hashlib
import re
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, NamedTuple, Optional, Tuple

from sm_lint import __version__
from sm_lint.catalogue import LAYERS, Catalogue, Rule
from sm_lint.combined import image_twins
from sm_lint.findings import NOT_CHECKED_FURTHER, Finding, Severity
from sm_lint.report import COMMAND_LAYERS, RunInfo, counts, failed, target_layers

if TYPE_CHECKING:
    from markupsafe import Markup

TEMPLATES = Path(__file__).parent / "templates"
CONTEXT_LINES = 3  # Dockerfile lines shown before and after the culprit
MAX_SOURCE_BYTES = 4 << 20  # a "Dockerfile" larger than this is not read back
LAYER_NAMES = {"dockerfile": "Dockerfile", "image": "Built image", "runtime": "Running container"}
_FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.M | re.S)
_CODE_SPAN = re.compile(r"`([^`\n]+)`")


class SourceLine(NamedTuple):
    number: int
    text: str
    hit: bool


class Excerpt(NamedTuple):
    lines: Tuple[SourceLine, ...]
    note: str  # why there are no lines (file gone, standard input, ...); "" when there are


class FindingView(NamedTuple):
    index: int
    finding: Finding
    title: str
    layer: str
    where: str  # path:line:column, or the path alone
    excerpt: Optional[Excerpt]  # Dockerfile findings only
    why: "Markup"
    use_instead: "Markup"


class TargetGroup(NamedTuple):
    path: str
    findings: Tuple[FindingView, ...]


class LayerStatus(NamedTuple):
    layer: str
    name: str
    status: str  # "fail", "pass" or "not-run"
    findings: int
    by_severity: Dict[str, int]
    ran: int  # rules of this layer that ran (0 when the run did not record them)
    skipped: int


class Segment(NamedTuple):
    severity: str
    count: int
    x: float
    width: float


class RuleLine(NamedTuple):
    id: str
    title: str
    layer: str
    findings: int
    reason: str = ""
    first: int = 0  # index of the rule's first finding (its element id is finding-<first>)


def render(findings: List[Finding], info: RunInfo, catalogue: Optional[Catalogue] = None) -> str:
    import jinja2

    catalogue = catalogue or Catalogue.load()
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             keep_trailing_newline=True)
    env.filters["inline"] = _inline  # `code` spans of messages and fixes as <code>, the rest escaped
    css = env.get_template("report.css.j2").render()
    script = env.get_template("filter.js.j2").render()
    views = _views(findings, info, catalogue)
    by_severity = counts(findings)
    rules_with_findings = _rules_with_findings(findings, info, catalogue)
    unchecked = _unchecked(findings, info, catalogue)
    return env.get_template("report.html.j2").render(
        info=info,
        version=__version__,
        css=_markup(css),
        script=_markup(script),
        csp=_csp(css, script),
        failed=failed(findings, info.fail_on),
        total=len(findings),
        blocking=sum(failed([f], info.fail_on) for f in findings),  # findings at or above fail-on
        by_severity=by_severity,
        segments=_segments(by_severity),
        severities=[s.label for s in sorted(Severity, reverse=True)],
        layers=_layer_statuses(findings + image_twins(findings), info, catalogue),
        groups=_groups(views),
        present_layers=sorted({v.layer for v in views}, key=_layer_order),
        rules_hit=rules_with_findings,
        rules_passed=[line for line in _rules_passed(findings, info, catalogue) if line.id not in unchecked],
        rules_skipped=[RuleLine(rule_id, _title(rule_id, info, catalogue), _layer(rule_id, catalogue), 0, reason)
                       for rule_id, reason in list(info.skipped) + sorted(unchecked.items())],
    )


def _markup(text: str) -> "Markup":
    from markupsafe import Markup

    return Markup(text)


def _csp(css: str, script: str) -> str:
    """Only this file's own style and script may apply: no fetch of any kind, no injected script."""
    def digest(text: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"

    return (f"default-src 'none'; style-src {digest(css)}; script-src {digest(script)}; img-src data:; "
            "base-uri 'none'; form-action 'none'")


def _title(rule_id: str, info: RunInfo, catalogue: Catalogue) -> str:
    if rule_id in info.titles:
        return info.titles[rule_id]
    return catalogue[rule_id].title if rule_id in catalogue else ""


def _layer(rule_id: str, catalogue: Catalogue) -> str:
    return catalogue[rule_id].layer if rule_id in catalogue else "other"


def _layer_order(layer: str) -> int:
    return LAYERS.index(layer) if layer in LAYERS else len(LAYERS)


def _views(findings: List[Finding], info: RunInfo, catalogue: Catalogue) -> List[FindingView]:
    sources: Dict[str, Tuple[Optional[List[str]], str]] = {}
    docs: Dict[str, Tuple["Markup", "Markup"]] = {}
    views = []
    for index, finding in enumerate(findings, 1):
        rule = catalogue.rules.get(finding.rule)
        layer = rule.layer if rule else "other"
        if finding.rule not in docs:
            docs[finding.rule] = _rule_docs(rule)
        loc = finding.location
        where = loc.path + (f":{loc.line}:{loc.column}" if loc.line and loc.column else f":{loc.line}" if loc.line else "")
        excerpt = _excerpt(finding, sources) if layer == "dockerfile" and loc.line > 0 else None
        why, use_instead = docs[finding.rule]
        views.append(FindingView(index, finding, _title(finding.rule, info, catalogue), layer, where, excerpt,
                                 why, use_instead))
    return views


def _groups(views: List[FindingView]) -> List[TargetGroup]:
    order: Dict[str, List[FindingView]] = {}
    for view in views:
        order.setdefault(view.finding.location.path, []).append(view)
    return [TargetGroup(path, tuple(items)) for path, items in order.items()]


def _read_source(path: str) -> Tuple[Optional[List[str]], str]:
    if path == "-":
        return None, "read from standard input: the source is not available to the report"
    try:
        file = Path(path)
        status = file.stat()
        if not stat.S_ISREG(status.st_mode):  # a pipe or device (/dev/stdin) would block or is spent
            return None, f"{path} is not a regular file: the source is not available to the report"
        if status.st_size > MAX_SOURCE_BYTES:
            return None, f"{path} is too large to show"
        data = file.read_bytes()
    except OSError as error:
        return None, f"{path} cannot be read now ({error.strerror or error})"
    if b"\0" in data[:8192]:
        return None, f"{path} is not a text file now"
    text = data.decode("utf-8", errors="replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    # Split as the parser numbers lines: \r\n and \n end a line (a lone \r shows as is).
    return text.replace("\r\n", "\n").split("\n"), ""


def _excerpt(finding: Finding, cache: Dict[str, Tuple[Optional[List[str]], str]]) -> Excerpt:
    loc = finding.location
    if loc.path not in cache:
        cache[loc.path] = _read_source(loc.path)
    lines, note = cache[loc.path]
    if lines is None:
        return Excerpt((), note)
    last_hit = max(loc.end_line, loc.line)
    if loc.line > len(lines) or (loc.line == len(lines) and lines[-1] == "" and loc.line > 1):
        return Excerpt((), f"line {loc.line} is past the end of {loc.path}: the file changed after the check")
    first = max(1, loc.line - CONTEXT_LINES)
    end = min(len(lines), last_hit + CONTEXT_LINES)
    if end == len(lines) and lines[-1] == "":
        end -= 1  # the empty "line" after a final newline
    shown = tuple(SourceLine(n, lines[n - 1], loc.line <= n <= last_hit) for n in range(first, end + 1))
    return Excerpt(shown, "")


def _rule_docs(rule: Optional[Rule]) -> Tuple["Markup", "Markup"]:
    if rule is None:
        return _markup(""), _markup("")
    return markdown(rule.section("Why is this bad?")), markdown(rule.section("Use instead"))


def markdown(text: str) -> "Markup":
    """The small Markdown subset of rule pages as HTML: paragraphs, `code`, lists and fenced
    examples. Every piece of text is escaped; only the tags made here are markup."""
    from markupsafe import Markup, escape

    parts: List[str] = []
    position = 0
    for match in _FENCE.finditer(text):
        parts.extend(_blocks(text[position:match.start()]))
        label = _fence_label(match.group(1))
        parts.append(Markup('<figure class="example"><figcaption>{}</figcaption><pre><code>{}</code></pre></figure>')
                     .format(label, match.group(2).rstrip("\n")))
        position = match.end()
    parts.extend(_blocks(text[position:]))
    return Markup("\n").join(Markup(part) if isinstance(part, Markup) else escape(part) for part in parts)


def _blocks(text: str) -> List["Markup"]:
    from markupsafe import Markup

    blocks: List[Markup] = []
    for block in re.split(r"\n[ \t]*\n", text.strip()):
        lines = [line for line in block.splitlines() if line.strip()]
        if not lines:
            continue
        if all(line.lstrip().startswith(("- ", "* ")) or line.startswith("  ") for line in lines) \
                and lines[0].lstrip().startswith(("- ", "* ")):
            items: List[str] = []
            for line in lines:
                if line.lstrip().startswith(("- ", "* ")):
                    items.append(line.lstrip()[2:])
                else:
                    items[-1] += " " + line.strip()
            blocks.append(Markup("<ul>{}</ul>").format(
                Markup("").join(Markup("<li>{}</li>").format(_inline(item)) for item in items)))
        elif all(line.lstrip().startswith("|") for line in lines):
            blocks.append(Markup('<pre class="table">{}</pre>').format("\n".join(lines)))
        else:
            blocks.append(Markup("<p>{}</p>").format(_inline(" ".join(line.strip() for line in lines))))
    return blocks


def _inline(text: str) -> "Markup":
    from markupsafe import Markup, escape

    out = Markup("")
    position = 0
    for match in _CODE_SPAN.finditer(text):
        out += escape(text[position:match.start()]) + Markup("<code>{}</code>").format(match.group(1))
        position = match.end()
    return out + escape(text[position:])


def _fence_label(info: str) -> str:
    """```dockerfile good gpu=true``` -> "Dockerfile (good, gpu=true)"; file=/config blocks say so."""
    words = info.split()
    if not words:
        return "example"
    language, attrs = words[0], words[1:]
    for attr in attrs:
        if attr.startswith("file="):
            return f"file {attr[5:].strip(chr(34))}"
    if "config" in attrs:
        return "config (.sm-lint.toml)"
    names = {"dockerfile": "Dockerfile", "image": "image (layers and config)", "json": "job request (JSON)",
             "container": "Dockerfile run by sm-lint run", "sh": "shell script", "toml": "TOML"}
    extra = [a for a in attrs if a not in ("bad", "good")]
    kind = "good" if "good" in attrs else "bad" if "bad" in attrs else ""
    details = ", ".join(([kind] if kind else []) + extra)
    return names.get(language, language) + (f" ({details})" if details else "")


def _segments(by_severity: Dict[str, int]) -> List[Segment]:
    """The stacked bar of counts by severity, in percent of the bar's width."""
    total = sum(by_severity.values())
    segments = []
    x = 0.0
    for severity, count in by_severity.items():
        if not count:
            continue
        width = 100.0 * count / total
        segments.append(Segment(severity, count, round(x, 3), round(width, 3)))
        x += width
    return segments


def _ran_by_layer(info: RunInfo, catalogue: Catalogue) -> Dict[str, int]:
    ran: Dict[str, int] = {}
    for rule_id in info.rules:
        layer = _layer(rule_id, catalogue)
        ran[layer] = ran.get(layer, 0) + 1
    return ran


def _layer_statuses(findings: List[Finding], info: RunInfo, catalogue: Catalogue) -> List[LayerStatus]:
    ran = _ran_by_layer(info, catalogue)
    skipped: Dict[str, int] = {}
    for rule_id, _ in info.skipped:
        layer = _layer(rule_id, catalogue)
        skipped[layer] = skipped.get(layer, 0) + 1
    # The layers that checked a target: RunInfo.target_layers where the run gives it (`check
    # --image`: dockerfile and image), else the command's own layer.
    checked_layers = {layer for _, layer in target_layers(info)} or {COMMAND_LAYERS.get(info.command)}
    statuses = []
    for layer in LAYERS:
        mine = [f for f in findings if _layer(f.rule, catalogue) == layer]
        checked = bool(mine) or layer in ran or layer in checked_layers
        status = "fail" if failed(mine, info.fail_on) else "pass" if checked else "not-run"
        statuses.append(LayerStatus(layer, LAYER_NAMES[layer], status, len(mine), counts(mine), ran.get(layer, 0),
                                    skipped.get(layer, 0)))
    return statuses


def _rules_with_findings(findings: List[Finding], info: RunInfo, catalogue: Catalogue) -> List[RuleLine]:
    hits: Dict[str, int] = {}
    first: Dict[str, int] = {}
    for index, finding in enumerate(findings, 1):
        hits[finding.rule] = hits.get(finding.rule, 0) + 1
        first.setdefault(finding.rule, index)
    return [RuleLine(rule_id, _title(rule_id, info, catalogue), _layer(rule_id, catalogue), n, first=first[rule_id])
            for rule_id, n in sorted(hits.items())]


def _unchecked(findings: List[Finding], info: RunInfo, catalogue: Catalogue) -> Dict[str, str]:
    """Rules that ran on no target at all: every Dockerfile of the run stopped at a parse error
    (its SM100 carries NOT_CHECKED_FURTHER), so its other rules did not pass, they never looked."""
    stopped = {f.location.path: f.rule for f in findings if NOT_CHECKED_FURTHER in f.evidence}
    dockerfiles = {target for target, layer in target_layers(info) if layer == "dockerfile"}
    if not dockerfiles or not dockerfiles <= set(stopped):
        return {}
    hit = {f.rule for f in findings}
    reason = f"not checked: no Dockerfile could be parsed ({', '.join(sorted(set(stopped.values())))})"
    return {rule_id: reason for rule_id in info.rules
            if rule_id not in hit and _layer(rule_id, catalogue) == "dockerfile"}


def _rules_passed(findings: List[Finding], info: RunInfo, catalogue: Catalogue) -> List[RuleLine]:
    hit = {f.rule for f in findings}
    return [RuleLine(rule_id, _title(rule_id, info, catalogue), _layer(rule_id, catalogue), 0)
            for rule_id in sorted(set(info.rules) - hit)]
