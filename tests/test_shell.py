"""Tests for sm_lint.dockerfile.shell: command extraction, expansion, cwd tracking and the views."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sm_lint.dockerfile import shell
from sm_lint.dockerfile.shell import (
    Command,
    PackageInstall,
    PathWrite,
    commands,
    final_command,
    forwards_signals,
    is_unknown,
    mentioned_words,
    package_installs,
    written_paths,
)


def words(script, env=None, workdir="/"):
    return [c.words for c in commands(script, env or {}, workdir)]


def paths(script, env=None, workdir="/"):
    return [(w.path, w.command) for w in written_paths(script, env or {}, workdir)]


def pkgs(script, env=None):
    return [(p.manager, p.package) for p in package_installs(script, env or {})]


# --------------------------------------------------------------------------- simple commands


@pytest.mark.parametrize(
    "script, expected",
    [
        ("a; b", [("a",), ("b",)]),
        ("a && b || c", [("a",), ("b",), ("c",)]),
        ("a | b |& c", [("a",), ("b",), ("c",)]),
        ("a & b", [("a",), ("b",)]),
        ("a\nb\n\nc", [("a",), ("b",), ("c",)]),
        ("apt-get install \\\n  -y \\\n  curl", [("apt-get", "install", "-y", "curl")]),
        ("echo a # comment; rm -rf /\nb", [("echo", "a"), ("b",)]),
        ("echo a#b", [("echo", "a#b")]),
        ("", []),
        ("   \n\n  ", []),
    ],
)
def test_separators(script, expected):
    assert words(script) == expected


@pytest.mark.parametrize(
    "script, expected",
    [
        ("echo 'a b' \"c d\"", ("echo", "a b", "c d")),
        ("echo 'it'\\''s'", ("echo", "it's")),
        ('echo "a\\"b" "\\$x" "\\q"', ("echo", 'a"b', "$x", "\\q")),
        ("echo a\\ b", ("echo", "a b")),
        ("echo $'a\\tb\\x41\\n'", ("echo", "a\tbA\n")),
        ("echo '' \"\"", ("echo", "", "")),
        ('echo "$UNSET_X"', ("echo", "$UNSET_X")),
        ("echo pre'mid'\"post\"", ("echo", "premidpost")),
        ('echo "a;b && c"', ("echo", "a;b && c")),
        ("echo 'a\nb'", ("echo", "a\nb")),
    ],
)
def test_quoting(script, expected):
    assert words(script) == [expected]


def test_line_numbers_are_zero_based_offsets_of_the_command_start():
    script = "a\nb && \\\n  c\n\n# note\nd | e"
    got = [(c.words[0], c.line) for c in commands(script, {})]
    assert got == [("a", 0), ("b", 1), ("c", 2), ("d", 5), ("e", 5)]


def test_redirections_are_separated_from_words():
    (cmd,) = commands("2>/dev/null echo hi >> /tmp/log 2>&1 </etc/x", {})
    assert cmd.words == ("echo", "hi")
    assert cmd.redirects == (("2>", "/dev/null"), (">>", "/tmp/log"), ("2>&", "1"), ("<", "/etc/x"))


def test_subshells_and_groups_report_their_commands():
    assert words("(cd /x && make) ; { a; b; } > /log") == [("cd", "/x"), ("make",), ("a",), ("b",)]


def test_control_flow_bodies_are_reported():
    script = """
if [ -f /x ]; then
  a
elif test -d /y; then b; else c; fi
for i in 1 2; do d $i; done
while read l; do e; done < /f
until false; do f; done
case "$1" in
  serve|run) g ;;
  (*) h ;;
esac
"""
    got = [w[0] for w in words(script)]
    assert got == ["[", "a", "test", "b", "c", "d", "d", "read", "e", "false", "f", "g", "h"]


def test_case_inside_command_substitution():
    assert words("x=$(case a in a) echo y;; esac); z") == [("echo", "y"), ("z",)]


def test_command_substitution_commands_are_reported_and_kept_as_markers():
    got = words("tar -C $(mktemp -d) -xf a.tar; echo `date +%s` \"$(id -u)\"")
    assert got == [
        ("mktemp", "-d"),
        ("tar", "-C", "$(mktemp -d)", "-xf", "a.tar"),
        ("date", "+%s"),
        ("id", "-u"),
        ("echo", "`date +%s`", "$(id -u)"),
    ]


def test_nested_command_substitution():
    assert words("echo $(dirname $(which python))") == [
        ("which", "python"),
        ("dirname", "$(which python)"),
        ("echo", "$(dirname $(which python))"),
    ]


def test_arithmetic_is_not_a_command_and_not_a_redirect():
    assert words("(( i > 3 )) && echo $((1 + 2))") == [("echo", "$((1 + 2))")]
    assert written_paths("(( i > 3 ))", {}) == []


def test_process_substitution_commands_are_reported():
    assert words("diff <(sort a) <(sort b)") == [("sort", "a"), ("sort", "b"), ("diff", "<(sort a)", "<(sort b)")]
    assert paths("exec > >(tee -a /var/log/x) 2>&1") == [("/var/log/x", "tee")]


def test_heredoc_body_is_not_parsed_as_commands():
    script = "cat <<EOF > /opt/ml/x\nrm -rf /\n$(touch /y)\nEOF\nmkdir /z\n"
    assert words(script) == [("cat",), ("mkdir", "/z")]
    assert [c.line for c in commands(script, {})] == [0, 4]
    assert paths(script) == [("/opt/ml/x", "redirect"), ("/z", "mkdir")]


def test_heredoc_variants():
    script = "cat <<-'END' | sh\n\techo no\n\tEND\ncat <<\"A\" <<B\na\nA\nb\nB\necho yes"
    assert words(script) == [("cat",), ("sh",), ("cat",), ("echo", "yes")]
    assert words("cat <<< 'here string'; x") == [("cat",), ("x",)]


def test_unterminated_heredoc_swallows_the_rest():
    assert words("cat <<EOF\nrm -rf /\n") == [("cat",)]


def test_function_definitions_report_their_bodies():
    script = "f() { mkdir /a; }\nfunction g { touch /b; }\nf"
    assert words(script) == [("mkdir", "/a"), ("touch", "/b"), ("f",)]


def test_double_bracket_operators_are_not_redirects():
    assert words("[[ $a > b && -n x ]] && c") == [("[[", "$a", ">", "b", "&&", "-n", "x", "]]"), ("c",)]
    assert written_paths("[[ $a > b ]]", {}) == []


def test_bang_and_array_assignments():
    assert words("! grep x f; arr=(a b c); echo ${arr[0]}") == [("grep", "x", "f"), ("echo", "${arr[0]}")]


# --------------------------------------------------------------------------- wrappers


@pytest.mark.parametrize(
    "script, inner",
    [
        ("sudo -u root -E apt-get install x", ("apt-get", "install", "x")),
        ("sudo DEBIAN_FRONTEND=noninteractive apt-get install x", ("apt-get", "install", "x")),
        ("env -i PATH=/bin FOO=1 make", ("make",)),
        ("nohup python a.py", ("python", "a.py")),
        ("time -p make", ("make",)),
        ("nice -n 10 make", ("make",)),
        ("timeout -s KILL 10m make", ("make",)),
        ("command make", ("make",)),
        ("xargs -I{} cp {} /dst", ("cp", "{}", "/dst")),
        ("xargs -n 1 -P 4 rm -f", ("rm", "-f")),
        ("gosu app python x.py", ("python", "x.py")),
        ("tini -s -- python x.py", ("python", "x.py")),
        ("conda run -n env --no-capture-output python x.py", ("python", "x.py")),
    ],
)
def test_wrappers_report_the_wrapped_command(script, inner):
    got = words(script)
    assert len(got) == 2 and got[1] == inner


def test_command_v_is_not_a_wrapper():
    assert words("command -v curl") == [("command", "-v", "curl")]


def test_exec_without_a_command_only_redirects():
    (cmd,) = commands("exec > /var/log/x 2>&1", {})
    assert cmd.words == ("exec",) and not cmd.via_exec


def test_exec_flags_itself_and_what_it_wraps():
    cmds = commands('exec gosu app "$@"', {})
    assert [(c.words, c.via_exec) for c in cmds] == [
        (("exec", "gosu", "app", "$@"), True),
        (("gosu", "app", "$@"), True),
        (("$@",), True),
    ]
    assert all(not c.via_exec for c in commands("sudo make", {}))


def test_shell_c_scripts_are_parsed():
    got = words("bash -lc 'cd /x && make install' ; su app -c \"touch /t\"; sh -o pipefail -c 'ls'")
    assert ("make", "install") in got and ("touch", "/t") in got and ("ls",) in got
    cmds = {c.words: c for c in commands("bash -c 'cd /x && make'", {})}
    assert cmds[("make",)].cwd == "/x"


def test_shell_c_cd_does_not_leak():
    cmds = commands("sh -c 'cd /x'; pwd", {})
    assert cmds[-1].words == ("pwd",) and cmds[-1].cwd == "/"


def test_eval_runs_in_the_current_shell():
    cmds = commands("eval 'cd /x'; pwd", {})
    assert cmds[-1].cwd == "/x"


# --------------------------------------------------------------------------- variables


ENV = {"HOME": "/root", "PREFIX": "/opt/ml", "EMPTY": "", "PKGS": "curl  git\twget"}


@pytest.mark.parametrize(
    "word, expected",
    [
        ("$PREFIX/x", "/opt/ml/x"),
        ("${PREFIX}x", "/opt/mlx"),
        ("${PREFIX:-/no}", "/opt/ml"),
        ("${NOPE:-/yes}", "/yes"),
        ("${EMPTY:-/yes}", "/yes"),
        ("${EMPTY-/no}x", "x"),
        ("${NOPE-/yes}", "/yes"),
        ("${PREFIX:+set}", "set"),
        ("${EMPTY:+set}x", "x"),
        ("${EMPTY+set}", "set"),
        ("${NOPE+set}x", "x"),
        ("$NOPE/x", "$NOPE/x"),
        ("${NOPE}/x", "${NOPE}/x"),
        ("${#PREFIX}", "7"),
        ("${PREFIX##*/}", "ml"),
        ("${PREFIX%/*}", "/opt"),
        ("${PREFIX#/}", "opt/ml"),
        ("${PREFIX^^}", "/OPT/ML"),
        ("${PREFIX/ml/x}", "/opt/x"),
        (r"${PREFIX//\//_}", "_opt_ml"),
        (r"${PREFIX/#\/opt/\/srv}", "/srv/ml"),
        ("${PREFIX/%ml/x}", "/opt/x"),
        ("${PREFIX/o*t/x}", "/x/ml"),
        ("${PREFIX:1:3}", "opt"),
        ("${PREFIX: -2}", "ml"),
        ("${PREFIX:$N}", "${PREFIX:$N}"),
        ("${PREFIX@Q}", "${PREFIX@Q}"),
        ("~/x", "/root/x"),
        ("'$PREFIX'", "$PREFIX"),
        ('"${NOPE:-a b}"', "a b"),
        ("${NOPE:-${PREFIX}/d}", "/opt/ml/d"),
        ("$PWD/x", "/w/x"),
        ("$1", "$1"),
        ('"$@"', "$@"),
    ],
)
def test_expansion(word, expected):
    assert words("echo " + word, ENV, "/w") == [("echo", expected)]


def test_cuda_index_spelling():
    got = package_installs("pip install torch --index-url https://download.pytorch.org/whl/cu${CUDA_VERSION//./}", {"CUDA_VERSION": "12.1"})
    assert got[0].index == "https://download.pytorch.org/whl/cu121"


def test_branches_leave_disagreeing_variables_unknown():
    script = 'if [ "$(uname -m)" = x86_64 ]; then A=amd64; B=same; else A=arm64; B=same; fi; echo $A $B'
    assert words(script)[-1] == ("echo", "$A", "same")
    assert words("if x; then C=1; fi; echo $C")[-1] == ("echo", "$C")  # the branch may not run
    assert words("case $1 in a) D=1;; *) D=1;; esac; echo $D")[-1] == ("echo", "1")
    assert words("case $1 in a) D=1;; b) D=2;; esac; echo $D")[-1] == ("echo", "$D")


def test_branches_cwd():
    assert commands("if x; then cd /a; else cd /a; fi; pwd", {})[-1].cwd == "/a"
    assert commands("if x; then cd /a; fi; pwd", {}, "/w")[-1].cwd == "/w"


def test_or_fallback_does_not_change_state():
    cmds = commands("cd /a || cd /b; pwd", {})
    assert cmds[-1].cwd == "/a"


def test_unquoted_expansion_is_field_split_and_quoted_is_not():
    assert words("apt-get install $PKGS", ENV) == [("apt-get", "install", "curl", "git", "wget")]
    assert words('echo "$PKGS"', ENV) == [("echo", "curl  git\twget")]
    assert words("echo $EMPTY x", ENV) == [("echo", "x")]
    assert words('echo "$EMPTY" x', ENV) == [("echo", "", "x")]


def test_tilde_without_home_is_a_marker():
    assert words("mkdir ~/x", {}) == [("mkdir", "$HOME/x")]


def test_script_assignments_and_export():
    script = "D=/opt/ml/x; mkdir $D; export E=$D/y F=1; touch $E; unset D; echo $D"
    assert words(script) == [("mkdir", "/opt/ml/x"), ("export", "E=/opt/ml/x/y", "F=1"), ("touch", "/opt/ml/x/y"), ("unset", "D"), ("echo", "$D")]


def test_assignment_append_and_default_assign():
    assert words("P=/a; P+=/b; echo $P ${Q:=/q} $Q") == [("echo", "/a/b", "/q", "/q")]


def test_prefix_assignment_does_not_persist_nor_apply_to_own_words():
    assert words("X=1 make $X; echo $X") == [("make", "$X"), ("echo", "$X")]


def test_unknown_values_stay_whole_when_split():
    assert words("D=$(mktemp -d); cd $D; tar -C $D -xf a") == [("mktemp", "-d"), ("cd", "$(mktemp -d)"), ("tar", "-C", "$(mktemp -d)", "-xf", "a")]


def test_read_makes_a_variable_unknown():
    assert words("X=/a; read -r X; echo $X") == [("read", "-r", "X"), ("echo", "$X")]


def test_for_loops_unroll_known_lists():
    assert paths("for d in input output; do mkdir -p /opt/ml/processing/$d; done") == [
        ("/opt/ml/processing/input", "mkdir"),
        ("/opt/ml/processing/output", "mkdir"),
    ]
    assert words("for f in $(ls); do rm $f; done") == [("ls",), ("rm", "$f")]


def test_brace_expansion():
    assert words("mkdir -p /opt/ml/{input,output}/data {1..3}") == [
        ("mkdir", "-p", "/opt/ml/input/data", "/opt/ml/output/data", "1", "2", "3")
    ]
    assert words("find . -exec rm {} \\;") == [("find", ".", "-exec", "rm", "{}", ";")]
    assert words("echo '{a,b}'") == [("echo", "{a,b}")]


def test_is_unknown():
    assert is_unknown("$X/y") and is_unknown("`date`") and not is_unknown("/opt/ml")


# --------------------------------------------------------------------------- cwd


def test_cd_tracking():
    cmds = commands("cd /opt && mkdir a && cd a; cd ..; cd -; cd; touch x", {"HOME": "/root"}, "/w")
    assert [c.cwd for c in cmds] == ["/w", "/opt", "/opt", "/opt/a", "/opt", "/opt/a", "/root"]


def test_cd_in_subshell_pipeline_and_background_does_not_leak():
    cmds = commands("(cd /x); cd /y | cat; cd /z & pwd", {}, "/w")
    assert cmds[-1].words == ("pwd",) and cmds[-1].cwd == "/w"


def test_cd_relative_and_unknown():
    cmds = commands("cd src; cd $UNK; touch f", {}, "/app")
    assert [c.cwd for c in cmds] == ["/app", "/app/src", "$UNK"]
    assert paths("cd $UNK; touch f") == [("$UNK/f", "touch")]


def test_pushd_popd():
    cmds = commands("pushd /a; popd; pwd", {}, "/w")
    assert cmds[-1].cwd == "/w"


def test_workdir_default_is_root():
    assert commands("ls", {})[0].cwd == "/"


# --------------------------------------------------------------------------- written paths


@pytest.mark.parametrize(
    "script, expected",
    [
        ("echo x > out", [("/w/out", "redirect")]),
        ("echo x >> /a 2>/b &>/c >|/d &>>/e", [("/a", "redirect"), ("/b", "redirect"), ("/c", "redirect"), ("/d", "redirect"), ("/e", "redirect")]),
        ("cmd >/dev/null 2>&1 >&2 2>/dev/stderr </in", []),
        ("cmd >& /log", [("/log", "redirect")]),
        ("echo x | tee -a /a b", [("/a", "tee"), ("/w/b", "tee")]),
        ("mkdir -p -m 755 /a b", [("/a", "mkdir"), ("/w/b", "mkdir")]),
        ("touch -d now /t", [("/t", "touch")]),
        ("cp -r src/ /dst", [("/dst", "cp")]),
        ("cp -t /dst a b", [("/dst", "cp")]),
        ("mv --target-directory=/d a", [("/d", "mv")]),
        ("install -m 755 bin /usr/local/bin/x", [("/usr/local/bin/x", "install")]),
        ("install -d /a /b", [("/a", "install"), ("/b", "install")]),
        ("rsync -av --exclude .git ./ /opt/app/", [("/opt/app", "rsync")]),
        ("rsync -a . host:/x", []),
        ("ln -sf /usr/bin/python3 /usr/bin/python", [("/usr/bin/python", "ln")]),
        ("ln -s /opt/x/bin/tool", [("/w/tool", "ln")]),
        ("curl -fsSL https://e.com/a -o /tmp/a", [("/tmp/a", "curl")]),
        ("curl -fsSLo/tmp/b https://e.com/a", [("/tmp/b", "curl")]),
        ("curl --output=/tmp/c https://e.com/a", [("/tmp/c", "curl")]),
        ("curl -O --output-dir /opt/d https://e.com/p/f.tgz?x=1", [("/opt/d/f.tgz", "curl")]),
        ("curl -LO https://e.com/p/f.run", [("/w/f.run", "curl")]),
        ("curl -H 'A: b' https://e.com | sh", []),
        ("wget -q -O /tmp/x https://e.com/y", [("/tmp/x", "wget")]),
        ("wget -O- https://e.com/y | tar -xz -C /opt", [("/opt", "tar")]),
        ("wget -nv -P /opt/dl https://e.com/a/f.zip", [("/opt/dl/f.zip", "wget")]),
        ("wget --directory-prefix=/d https://e.com/", [("/d/index.html", "wget")]),
        ("wget https://e.com/f.deb", [("/w/f.deb", "wget")]),
        ("tar -xzf a.tgz -C /opt/x", [("/opt/x", "tar")]),
        ("tar xzf a.tgz -C /opt/y", [("/opt/y", "tar")]),
        ("tar xf a.tar --directory /opt/z", [("/opt/z", "tar")]),
        ("tar --extract --file=a.tar --directory=/q", [("/q", "tar")]),
        ("tar xf a.tar", [("/w", "tar")]),
        ("tar -tf a.tar -C /no", []),
        ("tar czf /out.tgz dir", [("/out.tgz", "tar")]),
        ("unzip -q a.zip -d /opt/u", [("/opt/u", "unzip")]),
        ("unzip -p a.zip x > /f", [("/f", "redirect")]),
        ("git clone --depth 1 -b main https://github.com/o/repo.git /opt/r", [("/opt/r", "git")]),
        ("git clone https://github.com/o/repo.git", [("/w/repo", "git")]),
        ("git -C /src clone git@github.com:o/r2.git", [("/src/r2", "git")]),
        ("git pull", []),
        ("pip install --target /opt/ml/code x", [("/opt/ml/code", "pip")]),
        ("pip3 install -t /t x", [("/t", "pip")]),
        ("python3 -m pip install --prefix=/p --root /r x", [("/p", "pip"), ("/r", "pip")]),
        ("uv pip install --target /uv x", [("/uv", "pip")]),
        ("pip download -d /wheels x", [("/wheels", "pip")]),
        ("pip install x", []),
        ("conda create -y -p /opt/env python=3.10", [("/opt/env", "conda")]),
        ("micromamba create --prefix /opt/m python", [("/opt/m", "conda")]),
        ("python3 -m venv /opt/venv", [("/opt/venv", "venv")]),
        ("dd if=/dev/zero of=/swap bs=1M count=1", [("/swap", "dd")]),
        ("chmod +x /entry.sh", [("/entry.sh", "chmod")]),
        ("chmod -R 755 /opt/a /opt/b", [("/opt/a", "chmod"), ("/opt/b", "chmod")]),
        ("chmod -x /f", [("/f", "chmod")]),
        ("chown -R app:app /opt/ml", [("/opt/ml", "chown")]),
        ("sed -i 's/a/b/' /etc/f1 f2", [("/etc/f1", "sed"), ("/w/f2", "sed")]),
        ("sed -i.bak -e s/a/b/ /etc/f", [("/etc/f", "sed")]),
        ("sed -ri 's/x/y/' /etc/g", [("/etc/g", "sed")]),
        ("sed 's/a/b/' /etc/f > /etc/g", [("/etc/g", "redirect")]),
        ("gunzip -c a.gz > /opt/a", [("/opt/a", "redirect")]),
        ("unpigz -c a.gz > /opt/b", [("/opt/b", "redirect")]),
        ("gunzip /opt/x.gz", [("/opt/x", "gunzip")]),
        ("aws s3 cp s3://b/k /opt/ml/model/k", [("/opt/ml/model/k", "aws")]),
        ("aws s3 cp --recursive --region us-east-1 s3://b/p ./local", [("/w/local", "aws")]),
        ("aws s3 cp /f s3://b/k", []),
        ("gsutil -m cp -r gs://b/p /data", [("/data", "gsutil")]),
        ("sudo mkdir /s", [("/s", "mkdir")]),
        ("sudo tee /etc/x < in", [("/etc/x", "tee")]),
        ("sudo echo x > /r", [("/r", "redirect")]),
        ("{ echo a; echo b; } > /g", [("/g", "redirect")]),
        ("for i in a; do echo; done > /loop", [("/loop", "redirect")]),
        ("> /trunc", [("/trunc", "redirect")]),
        ("mkdir $UNKNOWN/x", [("$UNKNOWN/x", "mkdir")]),
        ("mkdir -p ./a/../b//c/", [("/w/b/c", "mkdir")]),
        ("mkdir $(dirname $(which python))/../lib", [("$(dirname $(which python))/../lib", "mkdir")]),
    ],
)
def test_written_paths(script, expected):
    assert paths(script, {}, "/w") == expected


def test_written_paths_follow_variables_cd_and_lines():
    script = "ARG_DIR=/opt/ml\ncd $ARG_DIR && \\\n  mkdir -p processing && cd processing\necho 1 > x"
    got = written_paths(script, {}, "/")
    assert got == [PathWrite("/opt/ml/processing", "mkdir", 2), PathWrite("/opt/ml/processing/x", "redirect", 3)]


def test_written_paths_with_env_default():
    assert paths("curl -fsSL https://e.com/m.bin -o ${MODEL_DIR}/model.bin", {"MODEL_DIR": "/opt/ml/model"}) == [
        ("/opt/ml/model/model.bin", "curl")
    ]


# --------------------------------------------------------------------------- package installs


def test_apt_installs():
    got = package_installs(
        "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get -qq install -y --no-install-recommends "
        "-o Dpkg::Options::=--force-confold curl=7.68.0-1 git/bookworm-backports libc6:amd64 g++ && apt install ./x.deb",
        {},
    )
    assert [(p.manager, p.package, p.spec) for p in got] == [
        ("apt", "curl", "curl=7.68.0-1"),
        ("apt", "git", "git/bookworm-backports"),
        ("apt", "libc6", "libc6:amd64"),
        ("apt", "g++", "g++"),
        ("apt", "./x.deb", "./x.deb"),
    ]
    assert pkgs("apt-get remove -y curl; apt-get -t bookworm install vim") == [("apt", "vim")]


def test_rpm_family_installs():
    assert pkgs("yum install -y --setopt=tsflags=nodocs gcc make && dnf -y install python3.11 && microdnf install -y tar") == [
        ("yum", "gcc"),
        ("yum", "make"),
        ("yum", "python3.11"),
        ("yum", "tar"),
    ]
    assert pkgs("yum --enablerepo epel install -y jq") == [("yum", "jq")]
    assert pkgs("zypper -n in -y curl && zypper --non-interactive install vim=9") == [("zypper", "curl"), ("zypper", "vim")]
    assert pkgs("apk add --no-cache --virtual .build-deps gcc musl-dev python3=3.11.6-r0") == [
        ("apk", "gcc"),
        ("apk", "musl-dev"),
        ("apk", "python3"),
    ]


def test_conda_installs():
    got = package_installs(
        "conda install -y -c pytorch -c nvidia pytorch pytorch-cuda=12.1 'numpy>=1.2' cudatoolkit=11.8 conda-forge::scipy==1.11",
        {},
    )
    assert [(p.package, p.spec, p.index) for p in got] == [
        ("pytorch", "pytorch", "pytorch nvidia"),
        ("pytorch-cuda", "pytorch-cuda=12.1", "pytorch nvidia"),
        ("numpy", "numpy>=1.2", "pytorch nvidia"),
        ("cudatoolkit", "cudatoolkit=11.8", "pytorch nvidia"),
        ("scipy", "conda-forge::scipy==1.11", "pytorch nvidia conda-forge"),
    ]
    assert pkgs("mamba create -n env python=3.10 && micromamba install -y -n base -f env.yml x") == [
        ("conda", "python"),
        ("conda", "x"),
    ]
    assert pkgs("conda env create -f env.yml; conda clean -a") == []


def test_pip_installs():
    got = package_installs(
        "pip install --no-cache-dir -U 'torch==2.1.0+cu121' torchvision --index-url https://download.pytorch.org/whl/cu121",
        {},
    )
    assert got == [
        PackageInstall("pip", "torch", 0, "torch==2.1.0+cu121", "https://download.pytorch.org/whl/cu121"),
        PackageInstall("pip", "torchvision", 0, "torchvision", "https://download.pytorch.org/whl/cu121"),
    ]
    got = package_installs("python3 -m pip install --extra-index-url https://x/cu118 -f https://y/links 'pandas[excel]>=2,<3'", {})
    assert [(p.package, p.spec, p.index) for p in got] == [("pandas", "pandas[excel]>=2,<3", "https://x/cu118 https://y/links")]
    assert pkgs("pip3.11 install -r requirements.txt -c c.txt boto3 && uv pip install --system ruff") == [
        ("pip", "boto3"),
        ("pip", "ruff"),
    ]
    assert pkgs("pip --disable-pip-version-check install x; pip uninstall -y y; pip list") == [("pip", "x")]
    assert pkgs("python -c 'import pip'; python -m venv v") == []


@pytest.mark.parametrize(
    "spec, name",
    [
        ("numpy", "numpy"),
        ("NumPy<2", "NumPy"),
        ("scikit-learn~=1.3", "scikit-learn"),
        ("torch @ https://e.com/torch-2.1.0-cp310-linux_x86_64.whl", "torch"),
        ("https://download.pytorch.org/whl/cu121/torch-2.1.0%2Bcu121-cp310-cp310-linux_x86_64.whl", "torch"),
        ("./dist/mypkg-0.1.0-py3-none-any.whl", "mypkg"),
        ("git+https://github.com/org/repo.git@v1#egg=thing", "thing"),
        ("git+https://github.com/org/repo.git@v1", "repo"),
        ("/src/pkg-1.0.tar.gz", "pkg"),
        (".", "."),
    ],
)
def test_pip_requirement_names(spec, name):
    (got,) = package_installs(f"pip install '{spec}'", {})
    assert (got.package, got.spec) == (name, spec)


def test_pip_editable():
    assert [(p.package, p.spec) for p in package_installs("pip install -e /src/app", {})] == [("/src/app", "/src/app")]


def test_dpkg_and_rpm():
    assert pkgs("dpkg -i /tmp/cuda.deb && dpkg -l; rpm -ivh https://e.com/x.rpm; rpm -qa") == [
        ("dpkg", "/tmp/cuda.deb"),
        ("rpm", "https://e.com/x.rpm"),
    ]


def test_installs_through_wrappers_variables_and_lines():
    got = package_installs("PKGS='a b'\nsudo apt-get install -y $PKGS\nconda run -n e pip install c", {})
    assert [(p.manager, p.package, p.line) for p in got] == [("apt", "a", 1), ("apt", "b", 1), ("pip", "c", 2)]


# --------------------------------------------------------------------------- mentioned words


def test_mentioned_words_finds_downloads_and_executions():
    script = (
        "V=535.54\n"
        "curl -fsSLO https://us.download.nvidia.com/XFree86/Linux-x86_64/$V/NVIDIA-Linux-x86_64-$V.run?x=1\n"
        "sh ./NVIDIA-Linux-x86_64-$V.run --silent\n"
        "./NVIDIA-Linux-x86_64-$V.run -s > /log"
    )
    got = mentioned_words(script, {}, "NVIDIA-Linux-*.run")
    assert [(w.command, w.index, w.line) for w in got] == [("curl", 2, 1), ("sh", 1, 2), ("NVIDIA-Linux-x86_64-535.54.run", 0, 3)]
    assert got[1].text == "./NVIDIA-Linux-x86_64-535.54.run"


def test_mentioned_words_without_pattern_and_redirect_targets():
    got = mentioned_words("sudo cp a b > c", {})
    assert [(w.text, w.index) for w in got] == [("sudo", 0), ("cp", 1), ("a", 2), ("b", 3), ("c", -1)]


# --------------------------------------------------------------------------- final command


@pytest.mark.parametrize(
    "script, expected_words, via_exec",
    [
        ("set -e\nexec python x.py", ("exec", "python", "x.py"), True),
        ('#!/bin/sh\nexec "$@"', ("exec", "$@"), True),
        ("exec gosu user cmd", ("exec", "gosu", "user", "cmd"), True),
        ("python x.py", ("python", "x.py"), False),
        ("cd /app && exec python x.py || exit 1", ("exec", "python", "x.py"), True),
        ("python x.py\nexit 0", ("exit", "0"), False),
        ("python x.py &\nwait", ("wait",), False),
        ("python x.py &", None, None),
        ("exec python x.py | tee log", ("tee", "log"), False),
        ("(exec python x.py)", ("exec", "python", "x.py"), False),
        ("{ prep; exec run; }", ("exec", "run"), True),
        ('if [ "$1" = a ]; then exec a; else exec b "$@"; fi', ("exec", "b", "$@"), True),
        ('case "$1" in a) exec a;; *) exec "$@";; esac', ("exec", "$@"), True),
        ("main() { exec x; }\nmain \"$@\"", ("main", "$@"), False),
        ("exec x\nX=1", ("exec", "x"), True),
        ("", None, None),
    ],
)
def test_final_command(script, expected_words, via_exec):
    cmd = final_command(script, {})
    if expected_words is None:
        assert cmd is None
    else:
        assert cmd is not None and cmd.words == expected_words and cmd.via_exec is via_exec


def test_final_command_has_cwd_and_line():
    cmd = final_command("cd /app\n\nexec python x.py", {})
    assert cmd == Command(("exec", "python", "x.py"), (), 2, "/app", True)


# --------------------------------------------------------------------------- signals


def test_forwards_signals_trap_and_wait():
    script = """#!/bin/bash
trap 'kill -TERM $child' TERM INT
python x.py &
child=$!
wait "$child"
"""
    assert forwards_signals(script)


def test_forwards_signals_through_a_function():
    script = "_term() { kill -INT \"$pid\" 2>/dev/null; }\ntrap _term SIGTERM\ncmd & pid=$!\nwait $pid\n"
    assert forwards_signals(script)


def test_forwards_signals_variants():
    assert forwards_signals('trap "kill -- -$$" SIGTERM SIGINT\nsleep infinity & wait')
    assert forwards_signals("trap 'pkill -TERM python' 15\npython x.py &\nwait -n")


@pytest.mark.parametrize(
    "script",
    [
        "trap 'kill $c' TERM\npython x.py",  # no wait
        "trap 'echo bye' TERM\ncmd & wait",  # trap does not kill
        "trap 'kill $c' EXIT\ncmd & wait",  # wrong signal
        "exec python x.py",
        "",
    ],
)
def test_does_not_forward_signals(script):
    assert not forwards_signals(script)


# --------------------------------------------------------------------------- robustness


@pytest.mark.parametrize(
    "script",
    [
        "echo 'unterminated",
        'echo "unterminated $(x',
        "echo $(",
        "echo ${",
        "echo ${x:-",
        "echo `unterminated",
        ")))) fi done esac }",
        "if then else",
        "case",
        "case x in",
        "for",
        "for x in",
        "f() ",
        "((((",
        "$((",
        "a && || b ;; c",
        "cat <<",
        "cat <<'",
        "x=(",
        "[[",
        "\\",
        "$'",
        "${!}",
        "${#}",
        "${}",
        "a=$(( ))",
        "(" * 2000 + ")" * 2000,
        "$(" * 500,
        "${a:-" * 500,
        "`" * 101,
        "{ " * 500,
        "if " * 500,
        "sh -c 'sh -c \"sh -c x\"'",
        "for a in 1 2 3 4; do for b in 1 2 3 4; do for c in 1 2 3 4; do for d in 1 2 3 4; do for e in 1 2 3; do x; done; done; done; done; done",
        "echo {1..100000}",
        "echo {a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}",
        "\x00\r\n\t\u2028",
    ],
)
def test_malformed_input_does_not_raise(script):
    for fn in (commands, written_paths, package_installs, mentioned_words, final_command):
        fn(script, {})
    forwards_signals(script)


def test_results_are_fresh_lists():
    first = written_paths("mkdir /a", {})
    first.append("junk")
    assert written_paths("mkdir /a", {}) == [PathWrite("/a", "mkdir", 0)]


def test_bad_arguments_do_not_raise():
    assert commands(None, None) == []  # type: ignore[arg-type]
    assert written_paths("touch x", {"A": 1}, "rel") == [PathWrite("/rel/x", "touch", 0)]  # type: ignore[dict-item]


# Fragments that reach the interesting states (quotes, expansions, heredocs, keywords).
_SHELLISH = st.lists(
    st.sampled_from(
        list("abc $'\"\\`(){};&|<>#=\n\t-~*,.:/")
        + ["$(", "${", "${x:-", "$((", "<<EOF\n", "<<-'E'\n", "EOF\n", "if ", "then ", "fi", "case ", " in ", ";;", "esac"]
        + ["cd ", "for ", "do ", "done", "exec ", "sudo ", "sh -c ", "trap ", "wait", "tar -C ", "pip install "]
    ),
    max_size=60,
).map("".join)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=120), _SHELLISH), st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3))
def test_fuzz_never_raises(script, env):
    # _RAISE surfaces internal errors that the public functions would otherwise swallow.
    shell._RAISE = True
    try:
        commands(script, env, "/w")
        written_paths(script, env)
        package_installs(script, env)
        mentioned_words(script, env, "*.run")
        final_command(script, env)
        forwards_signals(script, env)
    finally:
        shell._RAISE = False


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["apt-get install -y x", "cd /a", "mkdir -p b", "echo $X > f", "pip install y"]), max_size=20))
def test_fuzz_chains_keep_every_command(parts):
    script = " && \\\n    ".join(parts)
    assert len(commands(script, {})) == len(parts)
