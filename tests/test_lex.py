"""Word expansion (BuildKit v0.12.5 shell/lex.go): cases modelled on BuildKit's envVarTest/wordsTest."""
from __future__ import annotations

from typing import List

import pytest

from sm_lint.dockerfile.lex import ExpansionError, expand, expand_words, process

ENV = {"PWD": "/home", "SHELL": "bash", "NULL": "", "ML": "/opt/ml"}

ERROR = object()

# (word, expected) with ENV above and the default escape token.
EXPAND_CASES = [
    ("hello", "hello"),
    ("he'll'o", "hello"),
    ("he'llo", ERROR),
    ("he\\'llo", "he'llo"),
    ("he\\\\'llo", ERROR),
    ("abc\\tdef", "abctdef"),
    ('"abc\\tdef"', "abc\\tdef"),
    ('"abc\\\\tdef"', "abc\\tdef"),
    ("'abc\\tdef'", "abc\\tdef"),
    ("hello\\", "hello"),
    ("hello\\\\", "hello\\"),
    ('"hello', ERROR),
    ('"hello\\"', ERROR),
    ('"hel\'lo"', "hel'lo"),
    ("'hello", ERROR),
    ("'hello\\'", "hello\\"),
    ("'hello\\there'", "hello\\there"),
    ('"\'\'"', "''"),
    ("$.", "$."),
    ("he$1x", "hex"),
    ("he$.x", "he$.x"),
    ("he$pwd.", "he."),
    ("he$PWD", "he/home"),
    ("he\\$PWD", "he$PWD"),
    ("he\\\\$PWD", "he\\/home"),
    ('"he\\$PWD"', "he$PWD"),
    ('"he\\\\$PWD"', "he\\/home"),
    ("\\${}", "${}"),
    ("he\\${}xx", "he${}xx"),
    ("${}", ERROR),
    ("he${}xx", ERROR),
    ("he${hi}xx", "hexx"),
    ("he${PWD}", "he/home"),
    ("he${.}", ERROR),
    ("he${XXX:-000}xx", "he000xx"),
    ("he${PWD:-000}xx", "he/homexx"),
    ("he${XXX:-$PWD}xx", "he/homexx"),
    ("he${XXX:-${PWD:-yyy}}xx", "he/homexx"),
    ("he${XXX:-${YYY:-yyy}}xx", "heyyyxx"),
    ("he${XXX:YYY}", ERROR),
    ("he${XXX?}", ERROR),
    ("he${XXX:?}", ERROR),
    ("he${PWD?}", "he/home"),
    ("he${PWD:?}", "he/home"),
    ("he${NULL?}", "he"),
    ("he${NULL:?}", ERROR),
    ("he${XXX:+${PWD}}xx", "hexx"),
    ("he${PWD:+${XXX}}xx", "hexx"),
    ("he${PWD:+${SHELL}}xx", "hebashxx"),
    ("he${XXX:+000}xx", "hexx"),
    ("he${PWD:+000}xx", "he000xx"),
    ("'he${XX}'", "he${XX}"),
    ('"he${PWD}"', "he/home"),
    ('"he\'$PWD\'"', "he'/home'"),
    ('"$PWD"', "/home"),
    ("'$PWD'", "$PWD"),
    ("'\\$PWD'", "\\$PWD"),
    ("'\"hello\"'", '"hello"'),
    ("he${PWD", ERROR),
    ("he${PWD:=000}xx", ERROR),
    ("he${PWD:+${PWD}:}xx", "he/home:xx"),
    ("he${XXX:-\\$PWD:}xx", "he$PWD:xx"),
    ("he${XXX:-\\${PWD}z}xx", "he${PWDz}xx"),
    ("안녕하세요", "안녕하세요"),
    ("안'녕'하세요", "안녕하세요"),
    ("안'녕하세요", ERROR),
    ("안녕\\'하세요", "안녕'하세요"),
    ('"안녕\'하세요"', "안녕'하세요"),
    # The `:`-less forms test set-ness only; the `:` forms also treat empty as unset.
    ("${NULL-x}", ""),
    ("${NULL:-x}", "x"),
    ("${UNSET-x}", "x"),
    ("${NULL+x}", "x"),
    ("${NULL:+x}", ""),
    ("${UNSET+x}", ""),
    ("${UNSET?}", ERROR),
    # Brief's examples.
    ("${ML:-/opt/ml}", "/opt/ml"),
    ("${UNSET:-/opt/ml}/code", "/opt/ml/code"),
    ("${ML:+x}", "x"),
    ("${UNSET:+x}", ""),
    ("${A:-${B}}", ""),
    ("${A:-${ML}}", "/opt/ml"),
    # v0.12.5 has no pattern forms: they are errors, as in BuildKit.
    ("${ML#/opt}", ERROR),
    ("${ML%ml}", ERROR),
    ("${ML/opt/x}", ERROR),
    ("${ML:#x}", ERROR),
    ("${ML", ERROR),
    ("${ML:-x", ERROR),
    ("${:}", ERROR),
    ("${{x}", ERROR),
    ("$", "$"),
    ("$$", ""),
    ("${1}x", "x"),
    ("$123abc", "abc"),
    ("$ML/code", "/opt/ml/code"),
    ("$MLX", ""),
    ("\ufeff$ML", "/opt/ml"),  # text/scanner drops a leading BOM
]


@pytest.mark.parametrize(("word", "expected"), EXPAND_CASES)
def test_expand(word: str, expected: object) -> None:
    if expected is ERROR:
        with pytest.raises(ExpansionError):
            expand(word, ENV)
    else:
        assert expand(word, ENV) == expected


def test_error_messages_are_buildkits() -> None:
    with pytest.raises(ExpansionError) as info:
        expand("${X:?must be set}", {})
    assert info.value.message == 'failed to process "${X:?must be set}": X: must be set'
    with pytest.raises(ExpansionError) as info:
        expand("${X?}", {})
    assert info.value.message.endswith("X: is not allowed to be unset")
    with pytest.raises(ExpansionError) as info:
        expand("${X:?}", {"X": ""})
    assert info.value.message.endswith("X: is not allowed to be empty")
    with pytest.raises(ExpansionError) as info:
        expand("${X#y}", {"X": "xy"})
    assert info.value.message.endswith("unsupported modifier (#) in substitution")
    with pytest.raises(ExpansionError) as info:
        expand("${X:-a", {})
    assert info.value.message.endswith("syntax error: missing '}'")
    with pytest.raises(ExpansionError) as info:
        expand("${X", {})  # Go formats the EOF rune as U+FFFD
    assert info.value.message.endswith("unsupported modifier (\ufffd) in substitution")
    with pytest.raises(ExpansionError) as info:
        expand("${}", {})
    assert info.value.message.endswith("syntax error: bad substitution")


def test_backtick_escape() -> None:
    assert expand("C:\\path\\file", {}, "`") == "C:\\path\\file"
    assert expand("a`$b", {"b": "x"}, "`") == "a$b"
    assert expand('"a`"b"', {}, "`") == 'a"b'
    assert expand('"C:\\dir"', {}, "`") == "C:\\dir"
    assert expand("a``b", {}, "`") == "a`b"
    assert expand("${X:-C:\\a}", {}, "`") == "C:\\a"


WORDS_CASES = [
    ("hello", {}, ["hello"]),
    ("hello${hi}bye", {}, ["hellobye"]),
    ("hello${hi}bye", {"hi": "hi"}, ["hellohibye"]),
    ("hello${space}bye", {"space": "abc  def"}, ["helloabc", "defbye"]),
    ('hello"${space}"bye', {"space": "abc  def"}, ["helloabc  defbye"]),
    ('hello "${space}"bye', {"space": "abc  def"}, ["hello", "abc  defbye"]),
    ("hello${leading}def", {"leading": "  ab c"}, ["hello", "ab", "cdef"]),
    ('hello"${leading}" def', {"leading": "  ab c"}, ["hello  ab c", "def"]),
    ("hello${trailing}d", {"trailing": "ab c   "}, ["helloab", "c", "d"]),
    ('hello" there  "', {}, ["hello there  "]),
    ("hello there     ", {}, ["hello", "there"]),
    ("hello\\ there", {}, ["hello there"]),
    ('hello\\" there', {}, ['hello"', "there"]),
    ('hello"\\\\there"', {}, ["hello\\there"]),
    ('"" a', {}, ["a"]),  # BuildKit quirk: an empty quoted word is dropped
    ("a\u00a0b\u2003c", {}, ["a", "b", "c"]),  # unicode spaces split
    ("a\x1cb", {}, ["a\x1cb"]),  # ... but not Python-only whitespace
]


@pytest.mark.parametrize(("text", "env", "expected"), WORDS_CASES)
def test_expand_words(text: str, env: dict, expected: List[str]) -> None:
    assert expand_words(text, env) == expected


def test_expand_words_error() -> None:
    with pytest.raises(ExpansionError):
        expand_words('hello" there', {})


def test_heredoc_lexing_mode_keeps_quotes_escapes_and_unset_variables() -> None:
    # The mode BuildKit's heredocsFromLine uses: RawQuotes, RawEscapes, SkipUnsetEnv.
    _, words = process('RUN <<"EOF" a\\ b ${X:-1} $Y', {}, raw_quotes=True, raw_escapes=True, skip_unset=True)
    assert words == ["RUN", '<<"EOF"', "a\\ b", "${X:-1}", "$Y"]
    _, words = process("${X:-a b}", {}, skip_unset=True)
    assert words == ["${X:-a", "b}"]  # a `$` result is split on spaces, even when unexpanded
