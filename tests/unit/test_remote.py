"""Remote addresses (source/remote.py): one parser for `--repo` (remote or local?) and the app name's normal form,
so both agree on every spelling, scp-like ones included."""

from __future__ import annotations

import pytest

from kubectl_gitops.engine.app_names import default_app_name
from kubectl_gitops.source.remote import looks_remote, normalize_remote, scp_like
from kubectl_gitops.source.repo import is_remote_url

# address, remote?, normal form
TABLE = [
    ("https://github.com/acme/deploy.git", True, "github.com/acme/deploy"),
    ("https://user:s3cret@github.com/acme/deploy/", True, "github.com/acme/deploy"),
    ("ssh://git@github.com:22/acme/deploy.git", True, "github.com/acme/deploy"),
    ("file:///srv/git/deploy.git", True, "srv/git/deploy"),
    ("git@github.com:acme/deploy.git", True, "github.com/acme/deploy"),
    ("github.com:acme/deploy", True, "github.com/acme/deploy"),  # scp-like without a user
    ("deploy-host:acme/deploy.git", True, "deploy-host/acme/deploy"),
    ("git@gitlab.example.com:group/sub/deploy", True, "gitlab.example.com/group/sub/deploy"),
    ("../deploy", False, "../deploy"),
    ("deploy", False, "deploy"),
    ("./a:b", False, "./a:b"),  # a '/' before the colon: a local path (git's rule)
    ("C:\\repos\\deploy", False, "C:\\repos\\deploy"),  # a Windows drive, not a host named C
]


@pytest.mark.parametrize(("address", "remote", "normal"), TABLE)
def test_one_parser_tells_remotes_from_paths_and_normalises_them(address: str, remote: bool, normal: str) -> None:
    assert looks_remote(address) is remote
    assert is_remote_url(address) is remote  # source/repo.py asks the same function
    assert normalize_remote(address) == normal


def test_scp_like_splits_host_and_path() -> None:
    assert scp_like("git@github.com:acme/deploy.git") == ("github.com", "acme/deploy.git")
    assert scp_like("github.com:acme/deploy") == ("github.com", "acme/deploy")
    assert scp_like("ssh://git@github.com/acme/deploy") is None
    assert scp_like("../deploy") is None


def test_scp_like_spellings_give_the_app_name_of_the_https_one() -> None:
    names = {default_app_name(a, "dir", "apps/web") for a in
             ("git@github.com:acme/deploy.git", "github.com:acme/deploy", "https://github.com/acme/deploy")}
    assert names == {"github-com-acme-deploy-apps-web"}
