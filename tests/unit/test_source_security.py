"""A repository is untrusted input (issue 11, items 1, 2 and 8): exports of a commit stay inside their folder,
links may not leave it, remotes are checked object by object, and a token in a remote URL reaches neither a
process's arguments nor the cache.

Hostile commits are built as an attacker would: trees hashed with ``git hash-object --literally`` accept any
entry name, which ``git commit``/``git mktree`` would refuse or which only matter on Windows or macOS.
Credentials are tested against a real git smart-HTTP server (``git http-backend`` behind a small HTTP server
that requires Basic auth) and a ``git`` wrapper early on PATH that records every command line.
"""

from __future__ import annotations

import base64
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from http_helpers import LoopbackHTTPServer, serving
from source_helpers import GitRepo, configmap

from kubectl_gitops import redact
from kubectl_gitops.errors import ExitCode, SourceError
from kubectl_gitops.settings import SourceOptions
from kubectl_gitops.source.cache import cache_dir
from kubectl_gitops.source.repo import open_source

# --- crafting hostile commits --------------------------------------------------------------------------------

Tree = dict[str, "bytes | tuple[str, bytes] | Tree"]  # name -> file content, ("120000", link target) or subtree


def _hash(repo: GitRepo, kind: str, data: bytes) -> str:
    proc = subprocess.run(["git", "hash-object", "-t", kind, "--literally", "-w", "--stdin"], cwd=repo.path,
                          input=data, capture_output=True, check=True)
    return proc.stdout.decode().strip()


def _tree(repo: GitRepo, tree: Tree | list[tuple[str, bytes | tuple[str, bytes] | Tree]]) -> str:
    items = tree.items() if isinstance(tree, dict) else tree
    body = b""
    for name, value in items:
        if isinstance(value, dict):
            mode, sha = b"40000", _tree(repo, value)
        elif isinstance(value, tuple):
            mode, sha = value[0].encode(), _hash(repo, "blob", value[1])
        else:
            mode, sha = b"100644", _hash(repo, "blob", value)
        body += mode + b" " + name.encode("utf-8", "surrogateescape") + b"\0" + bytes.fromhex(sha)
    return _hash(repo, "tree", body)


def craft(repo: GitRepo, tree: Tree | list[tuple[str, bytes | tuple[str, bytes] | Tree]]) -> str:
    """A commit of ``tree`` on top of HEAD, made HEAD of the current branch; its sha."""
    sha = repo.git("commit-tree", _tree(repo, tree), "-p", "HEAD", "-m", "crafted")
    repo.git("update-ref", "HEAD", sha)
    return sha


CM = configmap("x").encode()
CANARY_LINE = b"kind: ConfigMap\n"


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    r = GitRepo.create(tmp_path / "repo")
    r.write("deploy/a.yaml", configmap("a"))
    r.commit("first")
    return r


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temporary folder exports are made in; it must be empty again after every test."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(tmp))
    monkeypatch.setenv("KUBECTL_GITOPS_CACHE", str(tmp_path / "cache"))
    return tmp


def listing(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


def export_error(repo: GitRepo, **opts: str) -> SourceError:
    with pytest.raises(SourceError) as e, open_source(SourceOptions(repo=str(repo.path), **opts),
                                                       committed_only=True):
        pytest.fail("the export was not refused")
    assert e.value.exit_code == ExitCode.INVALID_INPUT
    return e.value


# --- tree entries ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("tree", "named"), [
    ({"..": {"x.yaml": CM}}, "'../x.yaml'"),
    ({"deploy": {"..": {"..": {"x.yaml": CM}}}}, "'deploy/../../x.yaml'"),
    ({".": {"x.yaml": CM}}, "'./x.yaml'"),
    ({"...": {"x.yaml": CM}}, "'.../x.yaml'"),
    ({".. ": {"x.yaml": CM}}, "'.. /x.yaml'"),
    ({".git": {"config": b"[core]\n\tfsmonitor = touch /tmp/pwned\n"}}, "'.git/config'"),
    ({".GIT": {"config": CM}}, "'.GIT/config'"),
    ({".git.": {"config": CM}}, "'.git./config'"),
    ({".git ": {"config": CM}}, "'.git /config'"),
    ({"git~1": {"config": CM}}, "'git~1/config'"),
    ({"GIT~1.": {"config": CM}}, "'GIT~1./config'"),
    ({".git::$INDEX_ALLOCATION": {"config": CM}}, "'.git::$INDEX_ALLOCATION/config'"),
    ({".g\u200cit": {"config": CM}}, "'.g\\u200cit/config'"),
    ({".GI\ufeffT": {"config": CM}}, "'.GI\\ufeffT/config'"),
    ({"deploy": {"..\\..\\x.yaml": CM}}, "'deploy/..\\\\..\\\\x.yaml'"),
    ({"/tmp": {"x.yaml": CM}}, "'/tmp/x.yaml'"),
    ({"deploy": {"../x.yaml": CM}}, "'deploy/../x.yaml'"),
])
def test_a_crafted_tree_entry_refuses_the_export_before_anything_is_written(repo, private_tmp, tree, named):
    sha = craft(repo, {"deploy": {"a.yaml": CM}, **tree} if "deploy" not in tree else tree)
    before = listing(repo.path.parent)
    err = export_error(repo)
    assert f"tree entry {named} is refused" in str(err)
    assert sha[:12] in str(err) and "nothing was written" in str(err)
    assert err.hint and "crafted" in err.hint
    assert listing(private_tmp) == set()
    assert listing(repo.path.parent) == before


def test_a_tree_git_itself_cannot_read_is_a_source_error(repo, private_tmp):
    sha = craft(repo, {"deploy": {"": {"x.yaml": CM}}})
    err = export_error(repo)
    assert f"({sha[:12]}): git cannot read the commit's tree (fatal: empty filename in tree entry)" in str(err)
    assert listing(private_tmp) == set()


def test_a_crafted_entry_anywhere_in_the_commit_refuses_an_export_of_another_folder(repo, private_tmp):
    # A commit git itself cannot make is treated as hostile as a whole, not only in the folder asked for.
    craft(repo, {"deploy": {"a.yaml": CM}, "elsewhere": {"..": {"x.yaml": CM}}})
    err = export_error(repo, path="deploy")
    assert "'elsewhere/../x.yaml'" in str(err)
    assert listing(private_tmp) == set()


def test_a_crafted_entry_is_refused_with_ref_too(repo, private_tmp):
    bad = craft(repo, {"..": {"x.yaml": CM}, "deploy": {"a.yaml": CM}})
    repo.git("reset", "-q", "--hard", "HEAD~1")
    err = export_error(repo, ref=bad)
    assert "'../x.yaml'" in str(err) and bad[:12] in str(err)


@pytest.mark.parametrize(("tree", "named", "why"), [
    ([("deploy", {"a.yaml": CM}), ("x.yaml", CM), ("x.yaml", b"other")], "'x.yaml'",
     "it has a second entry of the same name"),
    ([("deploy", {"d": ("120000", b"/etc")}), ("deploy", {"d": {"passwd": CM}})], "'deploy/d/passwd'",
     "'deploy/d' is both a file and a folder"),
])
def test_duplicate_names_in_a_tree_are_refused(repo, private_tmp, tree, named, why):
    craft(repo, tree)
    err = export_error(repo)
    assert f"tree entry {named} is refused: {why}" in str(err)
    assert listing(private_tmp) == set()


def test_a_bare_local_repository_is_checked_too(repo, tmp_path, private_tmp):
    craft(repo, {"..": {"x.yaml": CM}, "deploy": {"a.yaml": CM}})
    bare = tmp_path / "bare.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(repo.path), str(bare)], check=True, capture_output=True)
    with pytest.raises(SourceError, match=r"tree entry '\.\./x\.yaml' is refused"), \
            open_source(SourceOptions(repo=str(bare)), committed_only=True):
        pass


def test_files_of_an_honest_commit_are_written_with_their_modes(repo, private_tmp):
    repo.write("deploy/run.sh", "#!/bin/sh\n")
    (repo.path / "deploy/run.sh").chmod(0o755)
    repo.write("odd names/ünïcode ~1.yaml", configmap("u"))
    repo.commit("more")
    with open_source(SourceOptions(repo=str(repo.path)), committed_only=True) as co:
        assert os.access(co.root / "deploy/run.sh", os.X_OK)
        assert not os.access(co.root / "deploy/a.yaml", os.X_OK)
        assert "name: u" in (co.root / "odd names/ünïcode ~1.yaml").read_text()
    assert listing(private_tmp) == set()


# --- symbolic links in exports --------------------------------------------------------------------------------


def _links(repo: GitRepo, links: dict[str, str]) -> None:
    for name, target in links.items():
        p = repo.path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.symlink_to(target)
    repo.commit("links")


@pytest.mark.parametrize(("links", "named"), [
    ({"deploy/leak.yaml": "/etc/hostname"}, "deploy/leak.yaml"),
    ({"deploy/up.yaml": "../../x.yaml"}, "deploy/up.yaml"),
    # each link on its own stays inside lexically; followed one after the other they leave the export
    ({"deploy/d": "..", "deploy/d2": "d/..", "deploy/x.yaml": "d2/etc/passwd"}, "deploy/d2"),
    ({"deploy/dir": "/etc"}, "deploy/dir"),
    ({"deploy/dangling.yaml": "../../nowhere.yaml"}, "deploy/dangling.yaml"),
])
def test_a_link_whose_real_path_leaves_the_export_is_refused(repo, private_tmp, links, named):
    _links(repo, links)
    err = export_error(repo, ref="HEAD")
    assert f"symbolic link {named!r}" in str(err) and "points outside the repository" in str(err)
    assert err.hint and "copy of the file" in err.hint
    assert listing(private_tmp) == set()


def test_a_chain_of_links_is_refused_naming_every_link_that_leaves(repo, private_tmp):
    _links(repo, {"deploy/d": "..", "deploy/d2": "d/..", "deploy/x.yaml": "d2/etc/passwd"})
    err = export_error(repo)
    assert "symbolic link 'deploy/d2' (and 1 more)" in str(err)


def test_links_that_stay_inside_keep_working(repo, private_tmp):
    repo.write("base/cm.yaml", configmap("base"))
    repo.commit("base")
    _links(repo, {"deploy/file.yaml": "../base/cm.yaml", "deploy/dir": "../base", "deploy/chain.yaml": "file.yaml",
                  "deploy/via-dir.yaml": "dir/cm.yaml", "deploy/self": ".", "deploy/inside-missing.yaml": "gone.yaml"})
    with open_source(SourceOptions(repo=str(repo.path), ref="HEAD"), committed_only=True) as co:
        for name in ("file.yaml", "chain.yaml", "via-dir.yaml", "dir/cm.yaml", "self/file.yaml"):
            assert "name: base" in (co.root / "deploy" / name).read_text()
        assert (co.root / "deploy/inside-missing.yaml").is_symlink()


def test_a_leaving_link_outside_the_exported_folder_is_not_exported_and_not_refused(repo, private_tmp):
    repo.write("other/x.yaml", configmap("x"))
    repo.commit("other")
    _links(repo, {"other/leak.yaml": "/etc/hostname"})
    with open_source(SourceOptions(repo=str(repo.path), path="deploy"), committed_only=True) as co:
        assert not (co.root / "other").exists()
        assert (co.root / "deploy/a.yaml").is_file()


# --- remotes: git checks every object it receives --------------------------------------------------------------


@pytest.fixture
def upstream(repo: GitRepo, tmp_path: Path) -> GitRepo:
    bare = GitRepo.create(tmp_path / "upstream.git", bare=True)
    repo.git("remote", "add", "origin", str(bare.path))
    repo.git("push", "-q", "origin", "main")
    return bare


def test_a_remote_with_a_crafted_tree_is_refused_by_git_on_clone(repo, upstream, private_tmp):
    craft(repo, {"..": {"x.yaml": CM}, "deploy": {"a.yaml": CM}})
    repo.git("push", "-q", "origin", "main")
    url = f"file://{upstream.path}"
    with pytest.raises(SourceError) as e, open_source(SourceOptions(repo=url), committed_only=True):
        pass
    assert f"cannot clone {url}: git refused a malformed object from it (hasDotdot:" in str(e.value)
    assert e.value.exit_code == ExitCode.INVALID_INPUT
    assert e.value.hint and "crafted or corrupt" in e.value.hint
    assert [p.name for p in cache_dir().iterdir() if not p.name.endswith(".lock")] == []  # no clone kept
    assert listing(private_tmp) == set()


def test_a_crafted_commit_pushed_later_is_refused_by_git_on_fetch(repo, upstream, private_tmp):
    url = f"file://{upstream.path}"
    with open_source(SourceOptions(repo=url), committed_only=True) as co:
        good = co.commit
    craft(repo, {"deploy": {"a.yaml": CM, ".git": {"hooks": {"post-checkout": b"#!/bin/sh\n"}}}})
    repo.git("push", "-q", "origin", "main")
    with pytest.raises(SourceError) as e, open_source(SourceOptions(repo=url), committed_only=True):
        pass
    assert "cannot fetch" in str(e.value) and "git refused a malformed object" in str(e.value)
    assert "hasDotgit" in str(e.value)
    with open_source(SourceOptions(repo=url, ref=good), committed_only=True) as co:  # the cache still works
        assert co.commit == good


# --- credentials in remote URLs -------------------------------------------------------------------------------

TOKEN = "CANARY-h1-remote-url-token"  # tests/conftest.py fails the session if a CANARY-... value leaks anywhere
OTHER_TOKEN = "CANARY-h1-second-token"


class _GitHTTP(LoopbackHTTPServer):
    def __init__(self, root: Path, passwords: set[str]):
        super().__init__(_GitHandler)
        self.root = root
        self.passwords = passwords
        self.authorized = 0
        self.refused = 0


class _GitHandler(BaseHTTPRequestHandler):
    """git's smart HTTP protocol: `git http-backend` run as a CGI program, behind Basic authentication."""

    server: _GitHTTP

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization", "")
        if header.startswith("Basic "):
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            if user == "deploy" and password in self.server.passwords:
                return True
            if user in self.server.passwords and password == "":  # a token as the user name (GitHub's style)
                return True
        return False

    def _serve(self) -> None:
        if not self._authorized():
            self.server.refused += 1
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.server.authorized += 1
        path, _, query = self.path.partition("?")
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        env = {"PATH": os.environ["PATH"], "GIT_PROJECT_ROOT": str(self.server.root), "GIT_HTTP_EXPORT_ALL": "1",
               "REQUEST_METHOD": self.command, "PATH_INFO": path, "QUERY_STRING": query, "REMOTE_USER": "deploy",
               "REMOTE_ADDR": "127.0.0.1", "CONTENT_TYPE": self.headers.get("Content-Type", ""),
               "CONTENT_LENGTH": str(len(body)), "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
               "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", "")}
        out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True, check=False).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        headers = [line.split(":", 1) for line in head.decode().split("\r\n") if ":" in line]
        status = next((int(v.split()[0]) for k, v in headers if k.lower() == "status"), 200)
        self.send_response(status)
        for k, v in headers:
            if k.lower() != "status":
                self.send_header(k, v.strip())
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = _serve
    do_POST = _serve


@pytest.fixture
def http_remote(repo: GitRepo, upstream: GitRepo) -> Iterator[tuple[_GitHTTP, str]]:
    """(server, "127.0.0.1:PORT"): upstream.git served over HTTP to user "deploy" with TOKEN or OTHER_TOKEN."""
    with serving(_GitHTTP(upstream.path.parent, {TOKEN, OTHER_TOKEN})) as server:
        yield server, f"127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def argv_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every `git` command line our code starts, recorded by a wrapper early on PATH; HOME is a fresh folder
    whose git config names a credential helper that would store any password it is given."""
    real = shutil.which("git")
    assert real
    wrappers = tmp_path / "wrappers"
    wrappers.mkdir()
    log = tmp_path / "argv.log"
    (wrappers / "git").write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{log}"\nexec "{real}" "$@"\n')
    (wrappers / "git").chmod(0o755)
    monkeypatch.setenv("PATH", f"{wrappers}{os.pathsep}{os.environ['PATH']}")
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text(f"[credential]\n\thelper = store --file {home}/stored-credentials\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("GIT_CONFIG_NOSYSTEM", raising=False)
    return log


def _cache_text(cache: Path) -> str:
    return "\n".join(p.read_bytes().decode("utf-8", "replace") for p in cache.rglob("*") if p.is_file())


def test_a_token_in_an_https_url_reaches_git_only_through_the_environment(http_remote, argv_log, private_tmp, repo):
    server, host = http_remote
    redact.clear()
    url = f"http://deploy:{TOKEN}@{host}/upstream.git"
    with open_source(SourceOptions(repo=url, path="deploy"), committed_only=True) as co:
        assert co.commit == repo.head()
        assert co.remote_url == f"http://{host}/upstream.git"
        assert (co.root / "deploy/a.yaml").is_file()
    assert server.authorized > 0  # the helper gave git the token
    logged = argv_log.read_text()
    assert "clone --bare" in logged and f"http://{host}/upstream.git" in logged
    assert TOKEN not in logged and "deploy@" not in logged
    clone = next(p for p in cache_dir().iterdir() if p.is_dir())
    config = subprocess.run(["git", "config", "-l"], cwd=clone, capture_output=True, text=True, check=True).stdout
    assert f"remote.origin.url=http://{host}/upstream.git" in config
    assert TOKEN not in _cache_text(cache_dir())
    assert not (Path(os.environ["HOME"]) / "stored-credentials").exists()  # the user's helper never saw it
    assert redact.redact(f"x {TOKEN} y") == "x *** y"
    redact.clear()


def test_two_tokens_for_one_repository_share_the_cache_and_the_second_is_not_stored(http_remote, argv_log,
                                                                                     private_tmp, repo):
    server, host = http_remote
    with open_source(SourceOptions(repo=f"http://deploy:{TOKEN}@{host}/upstream.git"), committed_only=True):
        pass
    repo.write("deploy/b.yaml", configmap("b"))
    pushed = repo.commit("second")
    repo.git("push", "-q", "origin", "main")
    refused = server.refused
    with open_source(SourceOptions(repo=f"http://deploy:{OTHER_TOKEN}@{host}/upstream.git"),
                     committed_only=True) as co:
        assert co.commit == pushed  # fetched, with the second token
    assert server.refused >= refused
    assert len([p for p in cache_dir().iterdir() if p.is_dir()]) == 1
    logged = argv_log.read_text()
    assert "fetch --prune" in logged
    assert TOKEN not in logged and OTHER_TOKEN not in logged
    assert TOKEN not in _cache_text(cache_dir()) and OTHER_TOKEN not in _cache_text(cache_dir())


def test_a_wrong_token_is_a_source_error_without_the_token(http_remote, argv_log, private_tmp):
    _server, host = http_remote
    redact.clear()
    wrong = "CANARY-h1-wrong-token"
    with pytest.raises(SourceError) as e, open_source(SourceOptions(repo=f"http://deploy:{wrong}@{host}/upstream.git"),
                                                       committed_only=True):
        pass
    text = f"{e.value} {e.value.hint}"
    assert f"cannot clone http://{host}/upstream.git" in text
    assert "wrong-token" not in text
    assert e.value.exit_code == ExitCode.INVALID_INPUT
    assert wrong not in argv_log.read_text()
    redact.clear()


def test_a_token_given_as_the_user_name_is_kept_out_of_argv_too(http_remote, argv_log, private_tmp, repo):
    _server, host = http_remote
    with open_source(SourceOptions(repo=f"http://{TOKEN}@{host}/upstream.git"), committed_only=True) as co:
        assert co.commit == repo.head()
    assert TOKEN not in argv_log.read_text()
    assert TOKEN not in _cache_text(cache_dir())


def test_the_helper_answers_only_for_the_urls_host(argv_log, private_tmp, monkeypatch):
    # git asks the helpers with the host it talks to; a redirect to another host must not get the token
    from kubectl_gitops.source.cache import _transport

    token = "helper-test-token-7f2e"  # printed by `git credential fill` on purpose: not a CANARY value
    t = _transport(f"https://deploy:{token}@git.example.com:8443/org/repo.git")
    assert t.url == "https://git.example.com:8443/org/repo.git"
    assert all(token not in arg for arg in t.options)
    helper = next(arg for arg in t.options if arg.startswith("credential.helper=!"))

    def ask(host: str) -> str:
        return subprocess.run(["git", "-c", "credential.helper=", "-c", helper, "credential", "fill"],
                              input=f"protocol=https\nhost={host}\n\n", env={**os.environ, **t.env,
                                                                             "GIT_TERMINAL_PROMPT": "0"},
                              capture_output=True, text=True, check=False).stdout

    assert f"password={token}" in ask("git.example.com:8443")
    assert token not in ask("evil.example.com")


def test_ssh_urls_keep_their_user_and_drop_a_password():
    from kubectl_gitops.source.cache import _transport

    assert _transport("ssh://git:CANARY-h1-ssh@host/org/repo.git").url == "ssh://git@host/org/repo.git"
    assert _transport("git@host:org/repo.git").url == "git@host:org/repo.git"
    assert _transport("ssh://a-rather-long-user-name@host/x.git").url == "ssh://a-rather-long-user-name@host/x.git"
    for plain in ("https://host/org/repo.git", "https://alice@host/org/repo.git"):  # no secret: left to git
        t = _transport(plain)
        assert t.url == plain and "KUBECTL_GITOPS_GIT_PASSWORD" not in t.env
        assert not any(o.startswith("credential.helper") for o in t.options)
        assert "transfer.fsckObjects=true" in t.options


def test_a_percent_encoded_token_is_decoded_for_git_and_masked_in_both_forms():
    from kubectl_gitops.source.cache import _register_credentials, _transport

    redact.clear()
    url = "https://deploy:CANARY-h1%2Fslash@host/repo.git"
    assert _transport(url).env["KUBECTL_GITOPS_GIT_PASSWORD"] == "CANARY-h1/slash"
    _register_credentials(url)
    assert redact.redact("CANARY-h1/slash CANARY-h1%2Fslash") == "*** ***"
    redact.clear()


def test_cache_folders_are_private_and_made_private_again(repo, upstream, private_tmp):
    cache = cache_dir()
    cache.mkdir(parents=True)
    cache.chmod(0o755)
    url = f"file://{upstream.path}"
    with open_source(SourceOptions(repo=url), committed_only=True):
        pass
    clone = next(p for p in cache.iterdir() if p.is_dir())
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    assert stat.S_IMODE(clone.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) & 0o077 == 0 for p in cache.iterdir() if p.name.endswith(".lock"))
    clone.chmod(0o755)
    cache.chmod(0o775)
    with open_source(SourceOptions(repo=url), committed_only=True):
        pass
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    assert stat.S_IMODE(clone.stat().st_mode) == 0o700


def test_a_token_an_older_version_stored_in_the_cache_is_removed_on_the_next_fetch(http_remote, argv_log,
                                                                                    private_tmp):
    _server, host = http_remote
    clean = f"http://{host}/upstream.git"
    with open_source(SourceOptions(repo=f"http://deploy:{TOKEN}@{host}/upstream.git"), committed_only=True):
        pass
    clone = next(p for p in cache_dir().iterdir() if p.is_dir())
    subprocess.run(["git", "remote", "set-url", "origin", f"http://deploy:{TOKEN}@{host}/upstream.git"], cwd=clone,
                   check=True)
    with open_source(SourceOptions(repo=f"http://deploy:{TOKEN}@{host}/upstream.git"), committed_only=True):
        pass
    assert subprocess.run(["git", "remote", "get-url", "origin"], cwd=clone, capture_output=True, text=True,
                          check=True).stdout.strip() == clean


def test_the_work_tree_is_read_without_running_commands_from_the_repository_s_git_config(tmp_path: Path):
    # a folder given as --repo may come from someone else: `git status` would run its core.fsmonitor command
    repo = GitRepo.create(tmp_path / "r")
    repo.write("deploy/a.yaml", configmap("a"))
    repo.commit("first")
    ran = tmp_path / "fsmonitor-ran"
    repo.git("config", "core.fsmonitor", f"touch {ran}; false")
    repo.write("deploy/a.yaml", configmap("a", value="2"))  # dirty, so status has work to do
    with open_source(SourceOptions(repo=str(repo.path), path="deploy"), committed_only=False) as co:
        assert co.dirty
    assert not ran.exists()


def test_a_folder_name_the_file_system_cannot_hold_is_named_not_blamed_on_tmpdir(repo: GitRepo, private_tmp: Path):
    long = "d" * 300  # over NAME_MAX: makedirs fails with ENAMETOOLONG
    craft(repo, {"deploy": {"a.yaml": CM}, long: {"x.yaml": CM}})
    err = export_error(repo, path=".", ref="HEAD")
    assert f"tree entry '{long}/x.yaml' cannot be written here" in err.message
    assert "TMPDIR" not in (err.hint or "") and listing(private_tmp) == set()
