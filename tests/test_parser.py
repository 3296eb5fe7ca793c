"""Unit tests of the BuildKit v0.12.5 parser port (the differential test covers breadth)."""
from __future__ import annotations

from typing import List

import pytest

from sm_lint.dockerfile.parser import parse
from sm_lint.dockerfile.syntax import DockerfileSyntaxError, Heredoc, Instruction


def only(text: str) -> Instruction:
    instructions = parse(text).instructions
    assert len(instructions) == 1, instructions
    return instructions[0]


def keywords(text: str) -> List[str]:
    return [i.keyword for i in parse(text).instructions]


def error(text: str) -> DockerfileSyntaxError:
    with pytest.raises(DockerfileSyntaxError) as info:
        parse(text)
    return info.value


# --- lines, continuations, comments ---------------------------------------------------------


def test_basic_record() -> None:
    ins = only("FROM python:3.11 AS base\n")
    assert ins == Instruction("FROM", "FROM python:3.11 AS base", 1, 1, (), ("python:3.11", "AS", "base"),
                              False, "python:3.11 AS base")


def test_keywords_are_case_insensitive_and_upper_cased() -> None:
    assert keywords("from a\nRun b\ncOpY c d\nfoo bar\n") == ["FROM", "RUN", "COPY", "FOO"]


def test_unknown_instruction_is_kept_with_one_empty_value() -> None:
    ins = only("FOO bar baz\n")
    assert (ins.keyword, ins.value, ins.args) == ("FOO", ("",), "bar baz")


def test_continuation_joins_lines_and_keeps_the_space_before_the_escape() -> None:
    ins = only("RUN apt-get update \\\n    && apt-get install -y curl\n")
    assert ins.value == ("apt-get update     && apt-get install -y curl",)
    assert (ins.start_line, ins.end_line) == (1, 2)


def test_continuation_at_eof() -> None:
    ins = parse("FROM a\nRUN x \\\n  y \\").instructions[1]
    assert (ins.value, ins.start_line, ins.end_line) == (("x   y",), 2, 3)


def test_comment_and_empty_lines_inside_continuation_are_skipped() -> None:
    ins = only("RUN a \\\n# comment\n\n   \n  # indented comment\n  b\n")
    assert (ins.value, ins.end_line) == (("a   b",), 6)


def test_escaped_escape_is_not_a_continuation() -> None:
    assert keywords("RUN a \\\\\nRUN b\n") == ["RUN", "RUN"]


def test_escape_followed_by_blanks_continues() -> None:
    assert only("RUN a \\ \t\nb\n").value == ("a b",)


def test_lone_escape_line_makes_an_empty_instruction() -> None:
    ins = parse("FROM a\n\\\n").instructions[1]
    assert (ins.keyword, ins.original, ins.value) == ("", "", ("",))


def test_hash_inside_instruction_is_not_a_comment() -> None:
    assert only("RUN echo # not a comment\n").value == ("echo # not a comment",)


def test_crlf_and_bom() -> None:
    result = parse("\ufeffFROM a\r\nRUN b \\\r\n c\r\n")
    assert [i.value for i in result.instructions] == [("a",), ("b  c",)]
    assert result.lines == ("FROM a", "RUN b \\", " c")


def test_lines_split_only_on_newline() -> None:
    assert parse("FROM a\x0bb\u2028c\n").lines == ("FROM a\x0bb\u2028c",)


def test_leading_unicode_space_is_trimmed_but_not_python_only_space() -> None:
    assert keywords("\u00a0RUN a\n") == ["RUN"]
    assert keywords("\x1cRUN a\n") == ["\x1cRUN"]


# --- parser directives ----------------------------------------------------------------------


def test_escape_backtick_with_windows_paths() -> None:
    text = "# escape=`\nFROM windows\nCOPY C:\\src\\ C:\\app\\\nRUN dir `\n  C:\\app\\\n"
    result = parse(text)
    assert result.directives.escape == "`"
    assert result.directives.escape_line == 1
    copy, run = result.instructions[1:]
    assert copy.value == ("C:\\src\\", "C:\\app\\")
    assert (run.value, run.end_line) == (("dir   C:\\app\\",), 5)


def test_syntax_directive() -> None:
    result = parse("# syntax = docker/dockerfile:1.4  \nFROM a\n")
    assert result.directives.syntax == "docker/dockerfile:1.4"
    assert result.directives.escape == "\\"


def test_directives_stop_at_first_other_line() -> None:
    for text in ("FROM a\n# escape=`\nRUN a`\nb\n", "\n# escape=`\nRUN a`\nb\n", "# hi\n# escape=`\nRUN a`\nb\n",
                 "# check=skip=all\n# escape=`\nRUN a`\nb\n"):
        result = parse(text)
        assert result.directives.escape == "\\", text
        assert result.instructions[-1].keyword == "B", text


def test_directive_regexp_uses_go_whitespace() -> None:
    assert parse("#\x0bescape=`\nFROM a\n").directives.escape == "\\"  # Go's \s has no \v
    assert parse("  #ESCAPE = ` \nFROM a\n").directives.escape == "`"


def test_duplicate_directive_is_an_error() -> None:
    err = error("# escape=`\n# escape=`\nFROM a\n")
    assert err.message == "only one escape parser directive can be used"
    assert err.line == 2
    assert error("# syntax=a\n# syntax=b\nFROM a\n").message == "only one syntax parser directive can be used"


def test_invalid_escape_token_is_an_error() -> None:
    assert error("# escape=x\nFROM a\n").message == "invalid escape token 'x' does not match ` or \\"
    assert error("# escape=`\x0b\nFROM a\n").message == "invalid escape token '`\x0b' does not match ` or \\"


def test_file_with_no_instructions() -> None:
    for text in ("", "\n\n", "# only a comment\n", "\ufeff"):
        assert error(text).message == "file with no instructions"


def test_too_long_line() -> None:
    assert error("FROM a\nRUN " + "x" * 70000 + "\n").message == (
        "dockerfile line greater than max allowed size of 65535")
    parse("RUN " + "x" * 65531 + "\n")


# --- line parsers ---------------------------------------------------------------------------


def test_exec_and_shell_forms() -> None:
    exec_form = only('CMD ["python3", "-u", "run.py"]\n')
    assert (exec_form.json, exec_form.value) == (True, ("python3", "-u", "run.py"))
    shell_form = only("CMD python3 -u run.py\n")
    assert (shell_form.json, shell_form.value) == (False, ("python3 -u run.py",))


@pytest.mark.parametrize("args", ["['a', 'b']", '["a", "b",]', '["a", NaN]', '["a", 1e400]', '["a"', "[a]"])
def test_almost_json_is_shell_form(args: str) -> None:
    ins = only("CMD %s\n" % args)
    assert (ins.json, ins.value) == (False, (args,))


def test_json_trailing_text_is_ignored_like_go_decoder() -> None:
    ins = only('CMD ["a"] trailing\n')
    assert (ins.json, ins.value) == (True, ("a",))


def test_json_array_with_non_string_is_an_error() -> None:
    for text in ('CMD ["a", 1]\n', "ENTRYPOINT [null]\n", 'COPY ["a", {}]\n', "RUN [[]] x\n"):
        err = error(text)
        assert err.message == "when using JSON array syntax, arrays must be comprised of strings only"
        assert err.line == 1


def test_json_edge_values() -> None:
    assert only("CMD []\n").value == ()
    assert only("CMD []\n").json
    assert only('CMD ["\\ud800", "\\ud83d\\ude00"]\n').value == ("\ufffd", "\U0001f600")


def test_deeply_nested_json_is_valid_to_go() -> None:
    assert error("CMD " + "[" * 5000 + "]" * 5000 + "\n").message.startswith("when using JSON")
    assert only("CMD " + "[" * 10001 + "]" * 10001 + "\n").json is False  # past Go's depth limit


def test_copy_and_from_split_on_whitespace() -> None:
    assert only("COPY a  b\tc /d/\n").value == ("a", "b", "c", "/d/")
    assert only("FROM a\u00a0b\n").value == ("a\u00a0b",)  # NBSP is not a separator here


def test_builder_flags() -> None:
    ins = only("COPY --from=build --chown=1000:1000 /a /b\n")
    assert ins.flags == ("--from=build", "--chown=1000:1000")
    assert ins.args == "/a /b"
    assert only('COPY --chown="a b" --x=\'c\' y z\n').flags == ("--chown=a b", "--x=c")
    assert only("COPY -- --weird /d\n").value == ("--weird", "/d")
    assert only("COPY --mount type=bind x\n").flags == ("--mount",)  # no `--flag value` form in v0.12.5
    assert only("COPY --from=à x y\n").flags == ("--from=\u00c3",)  # BuildKit reads the bytes


def test_env_forms() -> None:
    assert only("ENV A=1 B=\"x y\" C=z\\ w D=\n").value == ("A", "1", "B", '"x y"', "C", "z\\ w", "D", "")
    assert only("ENV PATH /usr/bin:$PATH\n").value == ("PATH", "/usr/bin:$PATH")
    assert only("ENV\n").value == ()
    assert error("ENV A\n").message == "ENV must have two arguments"
    assert error("LABEL a=1 b\n").message == (
        "Syntax error - can't find = in \"b\". Must be of the form: name=value")


def test_env_escape_token() -> None:
    assert parse('# escape=`\nENV A="x`" y" B=c` d\n').instructions[0].value == ("A", '"x`" y"', "B", "c` d")


def test_arg_and_label() -> None:
    assert only("ARG A B=\"two words\" 'C'=3\n").value == ("A", 'B="two words"', "'C'=3")
    assert only('LABEL "com.example"="ACME Inc" v=1\n').value == ('"com.example"', '"ACME Inc"', "v", "1")


def test_healthcheck() -> None:
    ins = only('HEALTHCHECK --interval=5s CMD ["curl", "-f", "x"]\n')
    assert (ins.flags, ins.value, ins.json) == (("--interval=5s",), ("CMD", "curl", "-f", "x"), True)
    assert only("HEALTHCHECK NONE\n").value == ("NONE",)
    assert only("HEALTHCHECK CMD curl -f x || exit 1\n").value == ("CMD", "curl -f x || exit 1")


def test_onbuild_wraps_an_instruction() -> None:
    ins = only("ONBUILD --x=1 RUN --mount=type=cache,target=/c make\n")
    assert (ins.keyword, ins.flags, ins.value) == ("ONBUILD", ("--x=1",), ("",))
    assert ins.sub is not None
    assert (ins.sub.keyword, ins.sub.flags, ins.sub.value) == ("RUN", ("--mount=type=cache,target=/c",), ("make",))
    assert ins.sub.original == "RUN --mount=type=cache,target=/c make"
    assert only("ONBUILD\n").sub is None


def test_onbuild_error_in_inner_instruction() -> None:
    assert error("ONBUILD CMD [1]\n").message.startswith("when using JSON")


# --- heredocs -------------------------------------------------------------------------------


def test_heredoc_followed_by_from() -> None:
    result = parse("FROM a\nRUN <<EOF\necho hi\nEOF\nFROM b\n")
    run = result.instructions[1]
    assert run.heredocs == (Heredoc("EOF", "echo hi\n"),)
    assert (run.start_line, run.end_line) == (2, 4)
    assert run.value == ("<<EOF",)
    assert result.instructions[2].keyword == "FROM"


def test_heredoc_with_command_after_it() -> None:
    ins = only("RUN <<EOF bash\nset -e\nEOF\n")
    assert ins.value == ("<<EOF bash",)
    assert ins.heredocs[0].content == "set -e\n"


def test_copy_heredoc() -> None:
    ins = only("COPY <<EOF /dst\nhello\nEOF\n")
    assert ins.value == ("<<EOF", "/dst")
    assert ins.heredocs == (Heredoc("EOF", "hello\n"),)


def test_chomp_strips_leading_tabs() -> None:
    ins = only("RUN <<-EOT\n\t\techo a\n\t b\n\tEOT\n")
    assert ins.heredocs == (Heredoc("EOT", "echo a\n b\n", 0, True, True),)


def test_two_heredocs_on_one_line() -> None:
    ins = only("RUN <<A 3<<'B'\none\nA\ntwo\nB\n")
    assert ins.heredocs == (Heredoc("A", "one\n"), Heredoc("B", "two\n", 3, False, False))
    assert ins.end_line == 5


def test_quoted_terminators_disable_expansion() -> None:
    assert only('RUN <<"EOF"\nx\nEOF\n').heredocs[0].expand is False
    assert only("RUN <<'EOF'\nx\nEOF\n").heredocs[0].expand is False
    assert only('RUN <<E"O"F\nx\nEOF\n').heredocs[0] == Heredoc("EOF", "x\n", 0, False, False)
    assert only("RUN <<EOF\nx\nEOF\n").heredocs[0].expand is True


def test_heredoc_keeps_crlf_in_content() -> None:
    assert only("RUN <<EOF\r\nx\r\nEOF\r\n").heredocs[0].content == "x\r\n"


def test_heredoc_terminator_must_match_exactly() -> None:
    ins = only("RUN <<EOF\nEOF \n EOF\nEOF\n")
    assert ins.heredocs[0].content == "EOF \n EOF\n"


def test_unterminated_heredoc() -> None:
    err = error("FROM a\nRUN <<EOF\necho\n")
    assert (err.message, err.line, err.end_line) == ("unterminated heredoc", 2, 3)


def test_heredoc_only_for_run_copy_add() -> None:
    assert keywords("WORKDIR <<EOF\nx\nEOF\n") == ["WORKDIR", "X", "EOF"]
    assert keywords('RUN ["<<EOF"]\nFROM a\n') == ["RUN", "FROM"]  # not for exec form
    assert only("ADD <<EOF /x\nEOF\n").heredocs == (Heredoc("EOF", ""),)


def test_onbuild_heredoc_belongs_to_the_onbuild() -> None:
    ins = only("ONBUILD RUN <<EOF\nhi\nEOF\n")
    assert ins.heredocs == (Heredoc("EOF", "hi\n"),)
    assert ins.end_line == 3
    assert ins.sub is not None and ins.sub.keyword == "RUN"


def test_heredoc_needs_a_clean_word() -> None:
    assert keywords("RUN cat<<EOF\nx\n") == ["RUN", "X"]  # not at a word start
    assert keywords('RUN echo "<<EOF"\nx\n') == ["RUN", "X"]  # quoted
    assert keywords('RUN <<EOF"\nx\n') == ["RUN", "X"]  # lexing fails: no heredocs at all


def test_heredoc_word_that_lexes_to_two_words_is_an_error() -> None:
    assert error("RUN <<${V:-a b}\nx\n").message == "failed to process \"${V:-a\": syntax error: missing '}'"


def test_heredoc_lexer_always_uses_backslash() -> None:
    # heredocsFromLine lexes with `\\` whatever the escape directive says.
    ins = parse("# escape=`\nRUN <<E`OF\nx\nE`OF\n").instructions[0]
    assert ins.heredocs == (Heredoc("E`OF", "x\n"),)
    ins = parse("# escape=`\nRUN <<E\\OF\nx\nEOF\n").instructions[0]
    assert ins.heredocs == (Heredoc("EOF", "x\n"),)


def test_file_descriptor_overflow_saturates_like_go() -> None:
    assert only("RUN 99999999999999999999<<EOF\nEOF\n").heredocs[0].file_descriptor == 2**64 - 1
