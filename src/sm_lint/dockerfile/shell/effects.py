"""The public views over the evaluated records: commands, paths written, package installs,
mentioned words, the final command and signal forwarding."""
from __future__ import annotations

import posixpath
import re
from fnmatch import fnmatchcase
from typing import Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

from sm_lint.dockerfile import shell as _package  # read at call time: tests set _package._RAISE

from .evaluate import _abspath, _analyse, _base, _opts, _Rec, _view
from .lexer import _Uncompiled
from .records import Command, PackageInstall, PathWrite, Word


# --------------------------------------------------------------------------- public API


def commands(script: str, env: Optional[Mapping[str, str]] = None, workdir: str = "/") -> List[Command]:
    """Every simple command with words, in execution order; wrapped commands follow their wrapper."""
    return _view(script, env, workdir, "commands", _commands)


def _commands(records: Tuple[_Rec, ...], out: List[Command]) -> None:
    out.extend(r.cmd for r in records if r.cmd.words)


_SKIP_PATHS = frozenset(("/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty", "/dev/zero", "-", ""))
_WRITE_REDIRS = frozenset((">", ">>", ">|", "&>", "&>>", "<>"))
_REDIR_OP = _Uncompiled(r"(\d*|\{\w+\})(.*)\Z", re.S)


def written_paths(script: str, env: Optional[Mapping[str, str]] = None, workdir: str = "/") -> List[PathWrite]:
    """Files and directories the script creates or modifies, as absolute normalised paths."""
    return _view(script, env, workdir, "writes", _writes)


def _writes(records: Tuple[_Rec, ...], out: List[PathWrite]) -> None:
    for rec in records:
        cmd = rec.cmd
        if cmd.redirects and not rec.wrapped:
            for target in _redirect_writes(cmd.redirects):
                _add_path(out, target, "redirect", cmd)
        if cmd.words:
            for path, label in _tool_writes(cmd):
                _add_path(out, path, label, cmd)


def _redirect_writes(redirects: Tuple[Tuple[str, str], ...]) -> Iterator[str]:
    for op, target in redirects:
        bare = _REDIR_OP.match(op).group(2)  # type: ignore[union-attr]
        if bare in _WRITE_REDIRS or (bare == ">&" and not target.isdigit() and target != "-"):
            if not target.startswith(("<(", ">(")):
                yield target


def _add_path(out: List[PathWrite], path: str, label: str, cmd: Command) -> None:
    if path in _SKIP_PATHS or path.startswith(("/dev/fd/", "/proc/self/fd/")):
        return
    if "://" in path:
        return
    full = _abspath(path, cmd.cwd)
    if full in _SKIP_PATHS or full.startswith(("/dev/fd/", "/proc/self/fd/")):
        return
    out.append(PathWrite(full, label, cmd.line))


def _tool_writes(cmd: Command) -> Iterator[Tuple[str, str]]:
    words = cmd.words
    name = _base(words[0])
    if name not in _WRITERS and name[:3] != "pip" and name[:6] != "python":
        return
    pip_args = _pip_args(words)
    if pip_args is not None:
        yield from _pip_writes(pip_args)
        return
    handler = _WRITERS.get(name)
    if handler is not None:
        yield from handler(name, list(words[1:]), cmd.cwd)
    elif _is_python(name) and "-m" in words and ("venv" in words or "virtualenv" in words):
        _, ops = _opts(words[words.index("-m") + 2 :], "p", frozenset(("prompt", "python")))
        for d in ops:
            yield d, "venv"


def _w_operands(short_arg: str = "", long_arg: tuple = ()) -> object:
    longs = frozenset(long_arg)

    def writes(name: str, args: List[str], cwd: str) -> Iterator[Tuple[str, str]]:
        _, ops = _opts(args, short_arg, longs)
        for op in ops:
            yield op, name

    return writes


def _w_copy(short_arg: str, long_arg: tuple) -> object:
    """cp/mv/install/rsync/ln: the destination is -t DIR, else the last operand."""
    longs = frozenset(long_arg)

    def writes(name: str, args: List[str], cwd: str) -> Iterator[Tuple[str, str]]:
        opts, ops = _opts(args, short_arg, longs)
        target = [v for o, v in opts if o in ("t", "target-directory") and v]
        if name == "install" and any(o in ("d", "directory") for o, _ in opts):
            for op in ops:
                yield op, name
            return
        if target:
            yield target[-1], name
        elif len(ops) >= 2:
            dest = ops[-1]
            if name == "rsync" and (":" in dest.split("/", 1)[0]):
                return  # remote host:path destination
            yield dest, name
        elif name == "ln" and ops:
            yield posixpath.basename(ops[0].rstrip("/")) or ops[0], name  # link made in cwd

    return writes


def _url_basename(url: str) -> str:
    path = url.split("?", 1)[0].split("#", 1)[0]
    if "://" in path:
        path = path.split("://", 1)[1]
        path = path.partition("/")[2]
    return posixpath.basename(path)


_CURL_SHORT = "AbcCdDeEFHKmoPQrTuUwxXyYzt"
_CURL_LONG = frozenset(
    (
        "output", "output-dir", "header", "data", "data-raw", "data-binary", "data-urlencode", "user",
        "user-agent", "request", "url", "config", "cookie", "cookie-jar", "dump-header", "retry",
        "retry-delay", "retry-max-time", "max-time", "connect-timeout", "proxy", "referer", "range",
        "upload-file", "write-out", "cert", "cacert", "key", "form", "limit-rate", "resolve",
        "continue-at", "keepalive-time", "max-redirs", "proxy-user", "capath", "interface", "ciphers",
        "oauth2-bearer", "time-cond", "speed-limit", "speed-time", "expect100-timeout", "max-filesize",
    )
)


def _w_curl(name: str, args: List[str], cwd: str) -> Iterator[Tuple[str, str]]:
    opts, ops = _opts(args, _CURL_SHORT, _CURL_LONG)
    urls = ops + [v for o, v in opts if o == "url" and v]
    outdir = [v for o, v in opts if o == "output-dir" and v]
    base = outdir[-1] if outdir else ""
    remote = any(o in ("O", "remote-name") for o, _ in opts)
    for o, v in opts:
        if o in ("o", "output") and v and v != "-":
            yield (posixpath.join(base, v) if base else v), name
        elif o in ("D", "dump-header", "c", "cookie-jar") and v and v != "-":
            yield v, name
    if remote:
        for url in urls:
            leaf = _url_basename(url)
            if leaf:
                yield (posixpath.join(base, leaf) if base else leaf), name


_WGET_SHORT = "OoaPitTwUeBQlARDXIn"
_WGET_LONG = frozenset(
    (
        "output-document", "output-file", "append-output", "directory-prefix", "input-file", "tries",
        "timeout", "wait", "user-agent", "execute", "base", "quota", "level", "accept", "reject",
        "domains", "exclude-directories", "include-directories", "header", "user", "password",
        "http-user", "http-password", "post-data", "post-file", "referer", "load-cookies",
        "save-cookies", "ca-certificate", "certificate", "private-key", "ca-directory",
    )
)


def _w_wget(name: str, args: List[str], cwd: str) -> Iterator[Tuple[str, str]]:
    opts, ops = _opts(args, _WGET_SHORT, _WGET_LONG)
    doc = [v for o, v in opts if o in ("O", "output-document") and v is not None]
    prefix = [v for o, v in opts if o in ("P", "directory-prefix") and v]
    for o, v in opts:
        if o in ("o", "output-file", "a", "append-output", "save-cookies") and v and v != "-":
            yield v, name
    if doc:
        if doc[-1] != "-":
            yield doc[-1], name  # -O ignores -P
        return
    base = prefix[-1] if prefix else ""
    for url in ops:
        leaf = _url_basename(url) or "index.html"
        yield (posixpath.join(base, leaf) if base else leaf), name


_TAR_SHORT = "fCbTXKLgIHVN"
_TAR_LONG = frozenset(
    (
        "file", "directory", "blocking-factor", "files-from", "exclude-from", "exclude", "starting-file",
        "newer", "newer-mtime", "tape-length", "listed-incremental", "use-compress-program", "format",
        "owner", "group", "mode", "mtime", "transform", "xform", "index-file", "volno-file",
        "info-script", "rsh-command", "label", "suffix", "to-command", "strip-components",
    )
)


def _w_tar(name: str, args: List[str], cwd: str) -> Iterator[Tuple[str, str]]:
    if args and not args[0].startswith("-"):
        args = _tar_old_style(args)
    opts, _ = _opts(args, _TAR_SHORT, _TAR_LONG)
    names = {o for o, _ in opts}
    if names & {"x", "extract", "get"}:
        dirs = [v for o, v in opts if o in ("C", "directory") and v]
        yield (dirs[-1] if dirs else "."), name
    elif names & {"c", "create", "r", "append", "u", "update"}:
        files = [v for o, v in opts if o in ("f", "file") and v]
        if files and files[-1] != "-":
            yield files[-1], name


def _tar_old_style(args: List[str]) -> List[str]:
    """`tar xzf a.tgz -C d` -> `tar -x -z -f a.tgz -C d`: bundled letters take values in order."""
    rest = list(args[1:])
    out: List[str] = []
    for c in args[0]:
        out.append("-" + c)
        if c in _TAR_SHORT and rest:
            out.append(rest.pop(0))
    return out + rest


def _w_unzip(name: str, args: List[str], cwd: str) -> Iterator[Tuple[str, str]]:
    opts, _ = _opts(args, "dxP", frozenset())
    if any(o in ("p", "l", "t", "Z", "v", "c") for o, _ in opts):
        return  # to stdout / listing / testing: nothing extracted
    dirs = [v for o, v in opts if o == "d" and v]
    yield (dirs[-1] if dirs else "."), name


_GIT_CLONE_LONG = frozenset(
    (
        "branch", "depth", "config", "origin", "reference", "reference-if-able", "separate-git-dir", "jobs",
        "upload-pack", "template", "shallow-since", "shallow-exclude", "server-option", "bundle-uri", "filter",
    )
)


def _w_git(name: str, args: List[str], cwd: str) -> Iterator[Tuple[str, str]]:
    base = ""
    i = 0
    while i < len(args) and args[i].startswith("-"):
        if args[i] in ("-C", "-c") and i + 1 < len(args):
            if args[i] == "-C":
                base = posixpath.join(base, args[i + 1])
            i += 2
        else:
            i += 1
    if args[i : i + 1] != ["clone"]:
        return
    _, ops = _opts(args[i + 1 :], "bcjou", _GIT_CLONE_LONG)
    if not ops:
        return
    if len(ops) >= 2:
        dest = ops[1]
    else:
        dest = _url_basename(ops[0].rstrip("/")) or ops[0].rstrip("/").rsplit(":", 1)[-1]
        dest = posixpath.basename(dest)
        if dest.endswith(".git"):
            dest = dest[:-4]
    yield (posixpath.join(base, dest) if base else dest), name


def _w_conda(name: str, args: List[str], cwd: str) -> Iterator[Tuple[str, str]]:
    if args[:2] == ["env", "create"]:
        args = args[1:]
    if not args or args[0] not in ("create", "install", "update", "upgrade"):
        return
    opts, _ = _opts(args[1:], _CONDA_SHORT, _CONDA_LONG)
    for o, v in opts:
        if o in ("p", "prefix") and v:
            yield v, "conda"


def _w_dd(name: str, args: List[str], cwd: str) -> Iterator[Tuple[str, str]]:
    for a in args:
        if a.startswith("of="):
            yield a[3:], name


_CHMOD_MODE = _Uncompiled(r"-[rwxXst]+\Z")


def _w_chmod(name: str, args: List[str], cwd: str) -> Iterator[Tuple[str, str]]:
    # `chmod -x f`: a mode that looks like an option; the first operand is the mode/owner.
    have_mode = False
    for a in args:
        if a.startswith("--reference"):
            have_mode = True
        elif a.startswith("-") and not (name == "chmod" and not have_mode and _CHMOD_MODE.match(a)):
            continue
        elif not have_mode:
            have_mode = True
        else:
            yield a, name


def _w_sed(name: str, args: List[str], cwd: str) -> Iterator[Tuple[str, str]]:
    in_place = False
    norm = []
    for a in args:
        if a.startswith("--in-place"):
            in_place = True
            continue
        if a.startswith("-") and not a.startswith("--") and "i" in a:
            in_place = True  # GNU: everything after `i` in the bundle is the backup suffix
            a = a[: a.index("i")]
            if a == "-":
                continue
        norm.append(a)
    if not in_place:
        return
    opts, ops = _opts(norm, "efl", frozenset(("expression", "file", "line-length")))
    if not any(o in ("e", "f", "expression", "file") for o, _ in opts):
        ops = ops[1:]  # the first operand is the script
    for f in ops:
        yield f, name


_DECOMPRESS = {".gz": "", ".tgz": ".tar", ".bz2": "", ".xz": "", ".z": "", ".Z": "", ".zst": "", ".lz4": ""}


def _w_decompress(name: str, args: List[str], cwd: str) -> Iterator[Tuple[str, str]]:
    opts, ops = _opts(args, "S", frozenset(("suffix",)))
    flags = {o for o, _ in opts}
    if flags & {"c", "stdout", "to-stdout", "t", "test", "l", "list"}:
        return  # output goes to stdout (a redirect records it)
    if name in ("gzip", "xz", "bzip2", "zstd", "pigz") and not flags & {"d", "decompress"}:
        return
    for f in ops:
        root, ext = posixpath.splitext(f)
        if ext in _DECOMPRESS:
            yield root + _DECOMPRESS[ext], name


_AWS_FLAGS = frozenset(
    (
        "recursive", "quiet", "dryrun", "no-sign-request", "follow-symlinks", "no-follow-symlinks",
        "only-show-errors", "no-progress", "exact-timestamps", "delete", "size-only", "no-guess-mime-type",
        "force-glacier-transfer", "ignore-glacier-warnings", "no-verify-ssl", "debug", "no-paginate",
        "no-cli-pager", "no-overwrite",
    )
)


def _cloud_dest(ops: List[str]) -> Iterator[str]:
    if len(ops) >= 2:
        dest = ops[-1]
        if "://" not in dest and dest != "-":
            yield dest


def _w_aws(name: str, args: List[str], cwd: str) -> Iterator[Tuple[str, str]]:
    ops: List[str] = []
    i = 0
    while i < len(args):  # aws options take a value unless they are known flags
        a = args[i]
        i += 1
        if a.startswith("--"):
            if "=" not in a and a[2:] not in _AWS_FLAGS:
                i += 1
        else:
            ops.append(a)
    if ops[:1] == ["s3"] and ops[1:2] and ops[1] in ("cp", "mv", "sync"):
        for dest in _cloud_dest(ops[2:]):
            yield dest, name


def _w_gsutil(name: str, args: List[str], cwd: str) -> Iterator[Tuple[str, str]]:
    if name == "gcloud":
        if args[:1] != ["storage"]:
            return
        args = args[1:]
    _, ops = _opts(args, "ohLjJsxyp", frozenset())
    if ops[:1] and ops[0] in ("cp", "mv", "rsync"):
        for dest in _cloud_dest(ops[1:]):
            yield dest, name


def _w_virtualenv(name: str, args: List[str], cwd: str) -> Iterator[Tuple[str, str]]:
    if name == "uv":
        if args[:1] != ["venv"]:
            return
        args = args[1:]
    _, ops = _opts(args, "p", frozenset(("python", "prompt")))
    for d in ops[:1] or ([".venv"] if name == "uv" else []):
        yield d, "venv"


_WRITERS = {
    "tee": _w_operands(),
    "mkdir": _w_operands("m", ("mode", "context")),
    "touch": _w_operands("drt", ("date", "reference", "time")),
    "truncate": _w_operands("sr", ("size", "reference")),
    "cp": _w_copy("tS", ("target-directory", "suffix")),
    "mv": _w_copy("tS", ("target-directory", "suffix")),
    "install": _w_copy("mogtSCZ", ("mode", "owner", "group", "target-directory", "suffix", "strip-program")),
    "ln": _w_copy("tS", ("target-directory", "suffix")),
    "rsync": _w_copy(
        "efTBM",
        (
            "exclude", "include", "filter", "exclude-from", "include-from", "files-from", "chown", "chmod",
            "rsh", "rsync-path", "temp-dir", "partial-dir", "log-file", "password-file", "backup-dir",
            "compare-dest", "copy-dest", "link-dest", "max-size", "min-size", "timeout", "bwlimit", "out-format",
        ),
    ),
    "curl": _w_curl,
    "wget": _w_wget,
    "tar": _w_tar,
    "unzip": _w_unzip,
    "git": _w_git,
    "conda": _w_conda,
    "mamba": _w_conda,
    "micromamba": _w_conda,
    "dd": _w_dd,
    "chmod": _w_chmod,
    "chown": _w_chmod,
    "chgrp": _w_chmod,
    "sed": _w_sed,
    "gunzip": _w_decompress,
    "unpigz": _w_decompress,
    "gzip": _w_decompress,
    "pigz": _w_decompress,
    "bunzip2": _w_decompress,
    "bzip2": _w_decompress,
    "unxz": _w_decompress,
    "xz": _w_decompress,
    "zstd": _w_decompress,
    "aws": _w_aws,
    "gsutil": _w_gsutil,
    "gcloud": _w_gsutil,
    "virtualenv": _w_virtualenv,
    "uv": _w_virtualenv,
}


# -- pip / conda front ends shared by written_paths and package_installs

_PIP_NAME = _Uncompiled(r"pip[0-9.]*\Z")
_PY_NAME = _Uncompiled(r"python[0-9.]*\Z")
_PIP_SHORT = "rcetifC"
_PIP_LONG = frozenset(
    (
        "requirement", "constraint", "editable", "target", "index-url", "find-links", "extra-index-url",
        "prefix", "root", "platform", "python-version", "implementation", "abi", "src", "upgrade-strategy",
        "progress-bar", "cache-dir", "trusted-host", "proxy", "retries", "timeout", "exists-action", "log",
        "global-option", "install-option", "config-settings", "no-binary", "only-binary", "report",
        "root-user-action", "python", "index", "index-strategy", "dest", "wheel-dir", "build",
    )
)


def _is_python(name: str) -> bool:
    return bool(_PY_NAME.match(name))


def _pip_args(words: Sequence[str]) -> Optional[List[str]]:
    """Arguments after `pip` for pip, pip3.11, `python -m pip`, `uv pip`; None otherwise."""
    name = _base(words[0])
    if not (name[:3] == "pip" or name[:6] == "python" or name == "uv"):
        return None
    if _PIP_NAME.match(name):
        return list(words[1:])
    if _is_python(name):
        i = 1
        while i < len(words) and words[i].startswith("-"):
            w = words[i]
            if w == "-m":
                return list(words[i + 2 :]) if list(words[i + 1 : i + 2]) == ["pip"] else None
            if w == "-mpip":
                return list(words[i + 1 :])
            i += 2 if w in ("-W", "-X", "-c") else 1
        return None
    if name == "uv" and list(words[1:2]) == ["pip"]:
        return list(words[2:])
    return None


def _pip_sub(args: List[str]) -> Tuple[str, List[str]]:
    """pip's subcommand and its arguments, skipping global options before it."""
    i = 0
    while i < len(args) and args[i].startswith("-"):
        a = args[i]
        takes = a.startswith("--") and "=" not in a and a[2:] in _PIP_LONG
        i += 2 if takes else 1
    if i >= len(args):
        return "", []
    return args[i], args[i + 1 :]


def _pip_writes(pip_args: List[str]) -> Iterator[Tuple[str, str]]:
    sub, rest = _pip_sub(pip_args)
    if sub not in ("install", "download", "wheel"):
        return
    opts, _ = _opts(rest, _PIP_SHORT + "dw", _PIP_LONG)
    for o, v in opts:
        if not v:
            continue
        if (sub == "install" and o in ("t", "target", "prefix", "root")) or (
            sub != "install" and o in ("d", "dest", "w", "wheel-dir")
        ):
            yield v, "pip"


# --------------------------------------------------------------------------- package installs

_CONDA_SHORT = "cnpfr"
_CONDA_LONG = frozenset(("channel", "name", "prefix", "file", "solver", "repodata-fn", "root-prefix", "platform", "subdir"))


def package_installs(script: str, env: Optional[Mapping[str, str]] = None) -> List[PackageInstall]:
    """Packages the script installs, in order, per package manager."""
    return _view(script, env, "/", "installs", _all_installs)


def _all_installs(records: Tuple[_Rec, ...], out: List[PackageInstall]) -> None:
    for rec in records:
        words = rec.cmd.words
        if words:
            out.extend(_installs(list(words), rec.cmd.line))


def _installs(words: List[str], line: int) -> List[PackageInstall]:
    name = _base(words[0])
    parser = _INSTALLERS.get(name)
    if parser is not None:
        return parser(words[1:], line)
    pip_args = _pip_args(words)
    if pip_args is not None:
        return _pip_installs(pip_args, line)
    return []


def _first_operand(args: List[str], short_arg: str, long_arg: frozenset) -> Tuple[str, List[str]]:
    """Subcommand (first operand) and the arguments after it, for `tool [opts] sub ...`."""
    i = 0
    while i < len(args):
        a = args[i]
        if not a.startswith("-") or a == "-":
            return a, args[i + 1 :]
        if a.startswith("--"):
            i += 2 if ("=" not in a and a[2:] in long_arg) else 1
        else:
            i += 2 if (len(a) == 2 and a[1] in short_arg) else 1
    return "", []


_APT_LONG = frozenset(("option", "target-release", "default-release", "config-file"))
_APT_VERSION = _Uncompiled(r"[=/]")


def _apt(args: List[str], line: int) -> List[PackageInstall]:
    sub, rest = _first_operand(args, "otc", _APT_LONG)
    if sub not in ("install", "reinstall"):
        return []
    _, ops = _opts(rest, "otc", _APT_LONG)
    out = []
    for spec in ops:
        if spec.endswith(".deb") or spec.startswith((".", "/")):
            pkg = spec
        else:
            pkg = _APT_VERSION.split(spec, 1)[0].split(":", 1)[0]
        if pkg:
            out.append(PackageInstall("apt", pkg, line, spec, None))
    return out


_YUM_LONG = frozenset(
    ("enablerepo", "disablerepo", "setopt", "releasever", "installroot", "exclude", "repo", "repoid", "config", "downloaddir", "destdir", "repofrompath")
)
_SPEC_CUT = _Uncompiled(r"\s*[=<>~@!]")


def _yum(args: List[str], line: int) -> List[PackageInstall]:
    sub, rest = _first_operand(args, "cdex", _YUM_LONG)
    if sub not in ("install", "localinstall", "reinstall"):
        return []
    _, ops = _opts(rest, "cdex", _YUM_LONG)
    return [PackageInstall("yum", _SPEC_CUT.split(s, 1)[0] or s, line, s, None) for s in ops]


def _zypper(args: List[str], line: int) -> List[PackageInstall]:
    sub, rest = _first_operand(args, "Rc", frozenset(("root", "config", "reposd-dir", "cache-dir")))
    if sub not in ("install", "in"):
        return []
    _, ops = _opts(rest, "trp", frozenset(("type", "repo", "from")))
    return [PackageInstall("zypper", _SPEC_CUT.split(s, 1)[0] or s, line, s, None) for s in ops]


def _apk(args: List[str], line: int) -> List[PackageInstall]:
    long_arg = frozenset(("virtual", "repository", "root", "arch", "keys-dir", "repositories-file", "cache-dir"))
    sub, rest = _first_operand(args, "tXp", long_arg)
    if sub != "add":
        return []
    _, ops = _opts(rest, "tXp", long_arg)
    return [PackageInstall("apk", _SPEC_CUT.split(s, 1)[0] or s, line, s, None) for s in ops]


_CONDA_NAME = _Uncompiled(r"[A-Za-z0-9_][A-Za-z0-9._-]*")


def _conda(args: List[str], line: int) -> List[PackageInstall]:
    sub, rest = _first_operand(args, _CONDA_SHORT, _CONDA_LONG)
    if sub not in ("install", "create", "update", "upgrade"):
        return []
    opts, ops = _opts(rest, _CONDA_SHORT, _CONDA_LONG)
    channels = [v for o, v in opts if o in ("c", "channel") and v]
    out = []
    for spec in ops:
        chan, sep, bare = spec.rpartition("::")
        m = _CONDA_NAME.match(bare.strip())
        pkg = m.group() if m else bare
        index = " ".join(channels + ([chan] if sep and chan else [])) or None
        out.append(PackageInstall("conda", pkg, line, spec, index))
    return out


_PIP_REQ = _Uncompiled(r"\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)")
_EGG = _Uncompiled(r"[#&]egg=([A-Za-z0-9._-]+)")
_ARCHIVE = _Uncompiled(r"(.+?)-\d[^/]*\.(?:whl|tar\.gz|tar\.bz2|zip|tgz)\Z")


def _pip_name(spec: str) -> str:
    """The distribution name in a requirement, URL, wheel/sdist path or VCS link."""
    head, at, url = spec.partition("@")
    if at and "://" in url and "://" not in head and _PIP_REQ.fullmatch(head.split("[")[0].strip() or "-"):
        return head.split("[")[0].strip()  # PEP 508 `name @ url`
    egg = _EGG.search(spec)
    if egg:
        return egg.group(1)
    if "/" in spec or spec.startswith(".") or spec.endswith((".whl", ".tar.gz", ".zip")):
        leaf = posixpath.basename(spec.split("?", 1)[0].split("#", 1)[0].rstrip("/"))
        archive = _ARCHIVE.match(leaf)
        if archive:
            return archive.group(1)
        if spec.startswith(("git+", "hg+", "svn+", "bzr+")) or "://" in spec:
            leaf = leaf.split("@", 1)[0]
            return leaf[:-4] if leaf.endswith(".git") else leaf
        return spec  # a local directory: as written
    m = _PIP_REQ.match(spec)
    return m.group(1) if m else spec


def _pip_installs(pip_args: List[str], line: int) -> List[PackageInstall]:
    sub, rest = _pip_sub(pip_args)
    if sub != "install":
        return []
    opts, ops = _opts(rest, _PIP_SHORT, _PIP_LONG)
    indexes = [v for o, v in opts if o in ("i", "index-url", "extra-index-url", "f", "find-links", "index") and v]
    index = " ".join(indexes) or None
    specs = ops + [v for o, v in opts if o in ("e", "editable") and v]
    return [PackageInstall("pip", _pip_name(s), line, s, index) for s in specs if s]


def _dpkg(args: List[str], line: int) -> List[PackageInstall]:
    opts, ops = _opts(args, "", frozenset(("root", "admindir", "instdir")))
    if not any(o in ("i", "install") for o, _ in opts):
        return []
    return [PackageInstall("dpkg", s, line, s, None) for s in ops]


def _rpm(args: List[str], line: int) -> List[PackageInstall]:
    opts, ops = _opts(args, "", frozenset(("root", "dbpath", "prefix", "relocate", "excludepath")))
    if not any(o in ("i", "U", "F", "install", "upgrade", "freshen") for o, _ in opts):
        return []
    return [PackageInstall("rpm", s, line, s, None) for s in ops]


_INSTALLERS = {
    "apt-get": _apt,
    "apt": _apt,
    "aptitude": _apt,
    "yum": _yum,
    "dnf": _yum,
    "microdnf": _yum,
    "tdnf": _yum,
    "zypper": _zypper,
    "apk": _apk,
    "conda": _conda,
    "mamba": _conda,
    "micromamba": _conda,
    "dpkg": _dpkg,
    "rpm": _rpm,
}


# --------------------------------------------------------------------------- words, final command, signals


def mentioned_words(
    script: str, env: Optional[Mapping[str, str]] = None, pattern: Optional[str] = None, workdir: str = "/"
) -> List[Word]:
    """Every expanded word of every command and redirect target, optionally only those whose
    basename (URL query/fragment ignored) matches the glob `pattern` (case-sensitive)."""
    pattern = pattern if isinstance(pattern, str) else None
    return _view(script, env, workdir, ("words", pattern), lambda records, out: _words(records, pattern, out))


def _words(records: Tuple[_Rec, ...], pattern: Optional[str], out: List[Word]) -> None:
    for rec in records:
        if rec.wrapped:
            continue  # its words already came with the wrapper's command
        cmd = rec.cmd
        prog = _base(cmd.words[0]) if cmd.words else ""
        items = list(enumerate(cmd.words)) + [(-1, t) for _, t in cmd.redirects]
        for i, text in items:
            leaf = _url_basename(text) if "://" in text else _base(text.rstrip("/"))
            if pattern is None or fnmatchcase(leaf, pattern):
                out.append(Word(text, prog, i, cmd.line))


def final_command(script: str, env: Optional[Mapping[str, str]] = None, workdir: str = "/") -> Optional[Command]:
    """The last top-level command left in the foreground, as written (`exec` included in words).

    `via_exec` is True only when that command replaces the shell; a command inside a subshell
    or a pipeline reports False since the shell stays its parent. `cmd || handler` tails are
    ignored (they run only on failure); for `if`/`case` the last branch is taken.
    """
    try:
        analysis = _analyse(script, env, workdir)
        last: Dict[int, Command] = {}
        for rec in analysis.records:
            if not rec.wrapped and rec.cmd.words:
                last[id(rec.node)] = rec.cmd
        for node, forked in _tail_candidates(analysis.ast, False):
            cmd = last.get(id(node))
            if cmd is not None:
                return cmd._replace(via_exec=False) if forked else cmd
    except Exception:
        if _package._RAISE:
            raise
    return None


def _tail_candidates(lst: tuple, forked: bool) -> Iterator[Tuple[tuple, bool]]:
    """Simple-command nodes that could end the list, last first."""
    for andor, bg in reversed(lst[1]):
        if bg:
            continue
        pairs = andor[1]
        k = len(pairs) - 1
        while k > 0 and pairs[k][0] == "||":
            k -= 1
        cmds = pairs[k][1][1]
        if cmds:
            yield from _tail_of(cmds[-1], forked or len(cmds) > 1)


def _tail_of(node: tuple, forked: bool) -> Iterator[Tuple[tuple, bool]]:
    kind = node[0]
    if kind == "S":
        if node[2]:
            yield node, forked
    elif kind == "{":
        yield from _tail_candidates(node[1], forked)
    elif kind == "(":
        yield from _tail_candidates(node[1], True)
    elif kind == "if":
        branch = node[2] if node[2] is not None else (node[1][-1][1] if node[1] else None)
        if branch is not None:
            yield from _tail_candidates(branch, forked)
    elif kind == "case":
        for body in reversed(node[2]):
            yield from _tail_candidates(body, forked)
            break
    elif kind == "for":
        yield from _tail_candidates(node[3], forked)
    elif kind == "while":
        yield from _tail_candidates(node[2], forked)


_FORWARDED = frozenset(("INT", "TERM"))
_SIGNUMS = {"2": "INT", "15": "TERM", "1": "HUP", "3": "QUIT"}
_KILLERS = frozenset(("kill", "pkill", "killall"))


def forwards_signals(script: str, env: Optional[Mapping[str, str]] = None) -> bool:
    """True for the trap-and-wait pattern: a trap on INT or TERM whose action kills (or calls
    a function that kills) a child, plus a `wait` somewhere in the script."""
    try:
        records = _analyse(script, env, "/").records
        names = [_base(r.cmd.words[0]) for r in records if r.cmd.words and not r.wrapped]
        if "wait" not in names:
            return False
        for rec in records:
            words = rec.cmd.words
            if rec.wrapped or not words or words[0] != "trap":
                continue
            args = [a for a in words[1:] if a != "--"]
            if len(args) < 2 or args[0].startswith("-") and args[0] != "-":
                continue
            signals = {_SIGNUMS.get(s, s.upper()[3:] if s.upper().startswith("SIG") else s.upper()) for s in args[1:]}
            if signals & _FORWARDED and _action_kills(args[0], records, env):
                return True
    except Exception:
        if _package._RAISE:
            raise
    return False


def _action_kills(action: str, records: Tuple[_Rec, ...], env: Optional[Mapping[str, str]]) -> bool:
    called = {_base(c.words[0]) for c in commands(action, env)}
    if called & _KILLERS:
        return True
    return any(r.func in called and r.cmd.words and _base(r.cmd.words[0]) in _KILLERS for r in records)
