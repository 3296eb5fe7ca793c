"""Seeded random Dockerfile texts that stress the parser (for the BuildKit differential test).

`generate(seed)` always returns the same text for the same seed. The texts mix valid and
invalid constructs on purpose: parser directives (duplicated, invalid, out of place), both
escape tokens, line continuations with comments and blank lines inside, heredocs of every kind
(some unterminated), JSON and almost-JSON arguments, ONBUILD, HEALTHCHECK, builder flags,
mixed-case and unknown instructions, unicode, CRLF, a BOM, tabs and trailing whitespace.

NUL is never generated: the `dockerfile` package passes the text to Go as a C string.
"""
from __future__ import annotations

import random
from typing import Callable, List, Sequence, Tuple, TypeVar

T = TypeVar("T")

KEYWORDS = (
    "FROM", "RUN", "CMD", "ENTRYPOINT", "SHELL", "COPY", "ADD", "ENV", "LABEL", "ARG",
    "EXPOSE", "VOLUME", "WORKDIR", "USER", "MAINTAINER", "STOPSIGNAL", "HEALTHCHECK", "ONBUILD",
)
UNKNOWN = ("FOO", "EOF", "cat", "RUNN", "", "apt-get", "x=y", "İNFO", "wor\u212adir")
PLAIN = (
    "a", "b", "echo", "hello", "/opt/ml", "x=1", "--", "-x", "--flag", "1.2.3", "key=value",
    "pip", "install", "&&", "|", ">", "/dev/null", "=", "a=", "=b", "ünï", "中文", "é", "à",
    "…", "😀", "\u00a0", "\u2003", "\x0b", "\x1c", "#", "#x", "<", "<<", "<<<", "3<", ">>", "-", ":",
)
VARS = ("$V", "${V}", "${V:-x}", "${V-y}", "${V:+z}", "${V+w}", "${V:?m}", "${V?}", "${V#x}",
        "${V%x}", "${V/a/b}", "${}", "${V", "$1", "$@", "${V:-a b}", "${V:=d}", "$", "${A:-${B}}")
HEREDOC_NAMES = ("EOF", "END", "eof", "X", "A_B", "$V", "E\"O\"F", "E'O'F", "\"EOF\"", "'EOF'",
                 "EOF\\", "EO\\F", "\"E OF\"", "${V:-a}")


class _Gen:
    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)
        self.escape = "\\"
        self.lines: List[str] = []

    # --- small pieces --------------------------------------------------------------------

    def chance(self, p: float) -> bool:
        return self.r.random() < p

    def pick(self, seq: Sequence[T]) -> T:
        return self.r.choice(seq)

    def space(self) -> str:
        return self.pick((" ", " ", " ", "  ", "\t", " \t", "\u00a0 ", "\x0c"))

    def word(self) -> str:
        r = self.r
        kind = r.random()
        if kind < 0.45:
            return self.pick(PLAIN)
        if kind < 0.6:
            return self.pick(VARS)
        if kind < 0.72:
            inner = " ".join(self.pick(PLAIN) for _ in range(r.randint(0, 3)))
            q = self.pick(("'", '"'))
            if self.chance(0.08):
                return q + inner  # unterminated quote
            return q + inner + q
        if kind < 0.82:
            return self.escape + self.pick(("$", "\"", "'", " ", "n", self.escape, "a"))
        if kind < 0.9:
            return self.pick(PLAIN) + self.pick(("=", "\"", "'", self.escape, "\\", "`")) + self.pick(PLAIN)
        return "".join(self.pick("abcXYZ019_-./=\"'\\`$ {}:") for _ in range(r.randint(1, 6)))

    def text(self, lo: int = 0, hi: int = 6) -> str:
        return self.space().join(self.word() for _ in range(self.r.randint(lo, hi)))

    def json_like(self) -> str:
        r = self.r
        items = []
        for _ in range(r.randint(0, 4)):
            k = r.random()
            if k < 0.6:
                items.append('"%s"' % self.pick(("a", "echo hi", "/bin/sh", "-c", "", "é", "\\u00e9", "\\ud800",
                                                 "\\ud83d\\ude00", "a\\\"b", "\\n", "\\/", "<<EOF", "\\x")))
            elif k < 0.7:
                items.append(self.pick(("1", "-0", "1.5e3", "1e400", "-1e999", "1" * 400, "01", "1.", "true", "null")))
            elif k < 0.8:
                items.append(self.pick(("'a'", "NaN", "Infinity", "-Infinity", "[]", "{}", '{"a": "b"}', '["x"]')))
            else:
                items.append('"%s"' % self.word().replace("\\", "\\\\").replace('"', '\\"'))
        sep = self.pick((", ", ",", " , ", ",\t", ", \u00a0"))
        body = sep.join(items)
        if self.chance(0.1):
            body += ","
        text = "[" + self.pick(("", " ", "\t")) + body + self.pick(("", " ")) + "]"
        if self.chance(0.08):
            text += self.pick((" x", " ]", "  ", "\x0b"))
        if self.chance(0.05):
            text = text[:-1]
        if self.chance(0.03):
            text = "[" * 1200 + "]" * self.r.choice((1200, 1199))
        return text

    def flags(self) -> str:
        out = []
        for _ in range(self.r.randint(0, 3)):
            out.append(self.pick((
                "--from=build", "--chown=1000:1000", '--chown="a b"', "--link", "--mount=type=cache,target=/root",
                "--mount type=bind", "--", "--a='x y'", "--chmod=755", "--from=à", "--x=\\\"", "--network=none",
                "--platform=$BUILDPLATFORM", "--interval=5s", "--e=…", "--q=\"unterminated",
            )))
        return " ".join(out) + (" " if out else "")

    # --- instructions --------------------------------------------------------------------

    def keyword(self) -> str:
        kw = self.pick(KEYWORDS) if self.chance(0.93) else self.pick(UNKNOWN)
        case = self.r.random()
        if case < 0.15:
            return kw.lower()
        if case < 0.25:
            return "".join(c.lower() if self.chance(0.5) else c for c in kw)
        return kw

    def arguments(self, kw: str) -> str:
        k = kw.upper()
        r = self.r
        if k in ("RUN", "CMD", "ENTRYPOINT", "SHELL", "COPY", "ADD", "VOLUME") and self.chance(0.35):
            return self.json_like()
        if k == "HEALTHCHECK":
            typ = self.pick(("CMD", "NONE", "cmd", ""))
            rest = self.json_like() if self.chance(0.4) else self.text()
            # An ASCII separator: BuildKit cuts the type word at a *byte* that looks like a
            # space, so U+00A0 there would split a UTF-8 sequence (invalid text from Go).
            return self.flags() + typ + self.pick((" ", "\t", "  ")) + rest
        if k in ("ENV", "LABEL", "ARG"):
            pairs = []
            for _ in range(r.randint(0, 3)):
                if self.chance(0.75):
                    pairs.append(self.pick(("A", "B", "ML", '"a b"', "k")) + "=" + self.word())
                else:
                    pairs.append(self.word())
            return " ".join(pairs)
        if k == "ONBUILD":
            inner = self.pick(("RUN", "COPY", "ADD", "ENV", "ONBUILD", "run", "FOO", "CMD"))
            return self.flags() * self.chance(0.2) + inner + " " + self.arguments(inner)
        if k in ("COPY", "ADD", "RUN") and self.chance(0.1):
            return self.flags() + self.text()
        return (self.flags() if self.chance(0.2) else "") + self.text()

    def heredoc_words(self) -> List[Tuple[str, str, bool]]:
        docs = []
        for _ in range(self.r.randint(1, 2)):
            name = self.pick(HEREDOC_NAMES)
            fd = self.pick(("", "", "", "3", "10"))
            dash = self.pick(("", "", "-"))
            docs.append((fd + "<<" + dash + name, name, dash == "-"))
        return docs

    def body_lines(self, name: str, chomp: bool) -> List[str]:
        lines = []
        for _ in range(self.r.randint(0, 4)):
            line = self.pick(("echo hi", "", "  indented", "\tTabbed", "\t\tdouble", name + " ", " " + name,
                              "#comment", "RUN x", "a \\", "$V ${V}", "ünï"))
            lines.append(line)
        unq = name.replace('"', "").replace("'", "")
        term = ("\t" * self.r.randint(0, 2) if chomp else "") + unq
        if self.chance(0.05):
            return lines  # unterminated heredoc
        return lines + [term]

    def instruction(self) -> List[str]:
        kw = self.keyword()
        indent = self.pick(("", "", "", " ", "\t", "  "))
        upper = kw.upper()
        if upper in ("RUN", "COPY", "ADD", "WORKDIR") or (upper == "ONBUILD" and self.chance(0.5)):
            if self.chance(0.3):
                return self.heredoc_instruction(indent, kw)
        args = self.arguments(kw)
        line = indent + kw + (self.space() + args if args or self.chance(0.5) else "")
        if self.chance(0.25):
            return self.continued(line)
        return [line + self.trailing()]

    def heredoc_instruction(self, indent: str, kw: str) -> List[str]:
        docs = self.heredoc_words()
        prefix = indent + kw + " "
        if kw.upper() == "ONBUILD":
            prefix += self.pick(("RUN ", "COPY ", "ENV "))
        parts = [self.flags() if self.chance(0.3) else ""]
        for word, _, _ in docs:
            parts.append(self.pick(("", "cat ", "python3 ", "3")) + word + " " + self.pick(("", "/dst", "bash", "> /x")))
        first = prefix + " ".join(parts).strip()
        out = self.continued(first) if self.chance(0.15) else [first]
        for _, name, chomp in docs:
            out.extend(self.body_lines(name, chomp))
        return out

    def continued(self, line: str) -> List[str]:
        """Split a line at spaces into continuation lines, with noise between them."""
        words = line.split(" ")
        out: List[str] = []
        current = words[0]
        for w in words[1:]:
            if self.chance(0.35):
                esc = self.escape if self.chance(0.9) else self.escape * 2
                out.append(current + " " + esc + self.pick(("", "", " ", "\t", "  ")))
                while self.chance(0.2):
                    out.append(self.pick(("", "   ", "# comment", "  # indented comment", "\t", "#")))
                current = self.pick(("", " ", "\t", "    ")) + w
            else:
                current += " " + w
        if self.chance(0.05):
            current += " " + self.escape  # continuation into the next instruction or EOF
        out.append(current)
        return out

    def trailing(self) -> str:
        return self.pick(("", "", "", " ", "\t", "  ", " \\", " `"))

    def directives(self) -> List[str]:
        out: List[str] = []
        if self.chance(0.1):
            out.append("")
        for _ in range(self.r.randint(0, 3)):
            d = self.pick((
                "# syntax=docker/dockerfile:1", "# escape=`", "# escape=\\", "#escape = `", "# ESCAPE=`",
                "# check=skip=all", "# escape=x", "# escape=``", "# foo=bar", "#syntax=a b", "# escape=` ",
                "#\tescape=`", "#\x0bescape=`", "# just a comment", "# escape=\\ ",
            ))
            out.append(d)
        # Track the escape token the way BuildKit will see it, to build continuations with it.
        for d in out:
            stripped = d.replace(" ", "").replace("\t", "").lower()
            if stripped == "#escape=`":
                self.escape = "`"
                break
            if not stripped.startswith("#") or "=" not in stripped:
                break
        return out

    def build(self) -> str:
        r = self.r
        lines = self.directives()
        for _ in range(r.randint(1, 25)):
            roll = r.random()
            if roll < 0.08:
                lines.append(self.pick(("", "  ", "\t")))
            elif roll < 0.14:
                lines.append(self.pick(("# comment", "  # indented", "#", "#!shebang", "# escape=`")))
            else:
                lines.extend(self.instruction())
        if self.chance(0.02):
            lines = []
        if self.chance(0.15):
            lines = [line + self.trailing() if "\t" not in line[:1] else line for line in lines]
        ending = self.pick(("\n", "\n", "\n", "\r\n", "mixed"))
        if ending == "mixed":
            text = "".join(line + self.pick(("\n", "\r\n", "\r\r\n")) for line in lines)
        else:
            text = ending.join(lines) + (ending if self.chance(0.8) else "")
        if self.chance(0.05):
            text = "\ufeff" + text
        return text


def generate(seed: int) -> str:
    """A random Dockerfile text, fully determined by `seed`."""
    return _Gen(seed).build()


def corpus(start: int, count: int) -> List[str]:
    return [generate(seed) for seed in range(start, start + count)]


Factory = Callable[[int], str]
