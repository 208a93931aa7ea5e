"""The pipelines of docs/ci.md, run as written: the YAML blocks are read from the page and their `run:`/`script:`
steps executed with bash, in pipeline order, against the local control plane.

What a runner would provide is simulated, nothing else: the checkout (a clone of a bare remote at the
event's ref), the CI variables and `${{ … }}` expressions, secrets (the local cluster's kubeconfig as
KUBECONFIG_DATA), a fresh HOME, matrix expansion, and stubs for `pipx`, `gh` and `curl` that record their
arguments. HTTPS remotes of the GitLab jobs are mapped onto the bare remote with git's `insteadOf`. The
plugin is the checkout's `bin/` on PATH; kubectl, git and kustomize are real.
"""

from __future__ import annotations

import base64
import itertools
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from cluster_helpers import ROOT, cluster_state, kubectl_json
from source_helpers import GitRepo

pytestmark = pytest.mark.e2e

DOC = ROOT / "docs" / "ci.md"
STUB = """#!/bin/sh
printf '%s\\n' "$(basename "$0") $*" >> "$CI_STUB_LOG"
for a in "$@"; do case "$a" in body@*) cp "${a#body@}" "$CI_STUB_LOG.body" ;; esac; done
prev=""; for a in "$@"; do [ "$prev" = "--body-file" ] && cp "$a" "$CI_STUB_LOG.body"; prev="$a"; done
exit 0
"""


def blocks() -> list[Any]:
    text = DOC.read_text()
    return [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", text, flags=re.S)]


def find(pred: Any) -> Any:
    found = [b for b in blocks() if isinstance(b, dict) and pred(b)]
    assert len(found) == 1, f"docs/ci.md: expected one matching YAML block, found {len(found)}"
    return found[0]


def image_of(namespace: str, name: str) -> str:
    dep = kubectl_json("get", "deployment", name, "-n", namespace)
    return str(dep["spec"]["template"]["spec"]["containers"][0]["image"])


def replicas_of(namespace: str, name: str) -> int:
    return int(kubectl_json("get", "deployment", name, "-n", namespace)["spec"]["replicas"])


class Runner:
    """A CI runner on this machine: workspaces, variables, stubs; jobs from docs/ci.md."""

    def __init__(self, tmp: Path, namespace: str):
        self.tmp = tmp
        self.namespace = namespace
        self.remote = GitRepo.create(tmp / "gitops.git", bare=True)
        self.remote.git("config", "receive.advertisePushOptions", "true")
        self.home = tmp / "home"
        self.home.mkdir()
        stubs = tmp / "stubs"
        stubs.mkdir()
        for name in ("pipx", "gh", "curl"):
            (stubs / name).write_text(STUB)
            (stubs / name).chmod(0o755)
        self.log = tmp / "stub.log"
        kubeconfig = Path(cluster_state()["kubeconfig"]).read_bytes()
        gitconfig = self.home / ".gitconfig"
        gitconfig.write_text("[init]\n\tdefaultBranch = main\n[commit]\n\tgpgsign = false\n")
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("KUBECTL_GITOPS_", "KUBECONFIG", "GIT_", "SOPS_", "VAULT_"))}
        self.env.update({"HOME": str(self.home), "PATH": f"{stubs}:{ROOT / 'bin'}:{os.environ['PATH']}",
                         "CI_STUB_LOG": str(self.log), "NO_COLOR": "1", "GIT_CONFIG_NOSYSTEM": "1",
                         "KUBECONFIG_DATA": base64.b64encode(kubeconfig).decode(),
                         # the runner's own setting: app records in this test's namespace
                         "KUBECTL_GITOPS_RECORD_NAMESPACE": namespace})
        self.workspaces = 0

    def map_url(self, url: str) -> None:
        """An HTTPS remote of the jobs is this runner's bare repository."""
        subprocess.run(["git", "config", "--global", f"url.{self.remote.path}.insteadOf", url], env=self.env,
                       check=True)

    def seed(self, files: dict[str, str]) -> None:
        seed = GitRepo.create(self.tmp / "seed")
        for rel, text in files.items():
            seed.write(rel, text)
        seed.commit("environments")
        seed.git("remote", "add", "origin", str(self.remote.path))
        seed.git("push", "-q", "origin", "HEAD:main")

    def checkout(self, ref: str, into: Path | None = None) -> Path:
        self.workspaces += 1
        where = into or self.tmp / f"workspace-{self.workspaces}"
        where.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "clone", "-q", str(self.remote.path), str(where)], env=self.env, check=True)
        subprocess.run(["git", "checkout", "-q", ref], cwd=where, env=self.env, check=True)
        return where

    def bash(self, script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=cwd,
                              env={**self.env, **env}, text=True, capture_output=True, timeout=600, check=False)

    def stub_calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def comment(self) -> str:
        return Path(f"{self.log}.body").read_text()


def expand_github(text: str, ctx: dict[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        key = m.group(1).strip()
        assert key in ctx, f"docs/ci.md uses ${{{{ {key} }}}}, which this runner does not simulate"
        return ctx[key]

    return re.sub(r"\$\{\{(.*?)\}\}", sub, text)


def run_github_job(runner: Runner, job: dict[str, Any], ctx: dict[str, str], *, workspace: Path | None = None,
                   ref: str = "main") -> list[subprocess.CompletedProcess[str]]:
    matrix = (job.get("strategy") or {}).get("matrix") or {}
    combos = [{f"matrix.{k}": v for k, v in zip(matrix, values, strict=True)}
              for values in itertools.product(*matrix.values())] or [{}]
    done = []
    for combo in combos:
        runner.workspaces += 1
        work = workspace or runner.tmp / f"github-{runner.workspaces}"
        env = {"GITHUB_SHA": ctx.get("github.sha", ""), "GITHUB_RUN_ID": "4242",
               "GITHUB_OUTPUT": str(runner.tmp / "github_output"), "GITHUB_STEP_SUMMARY": str(runner.tmp / "summary")}
        for step in job["steps"]:
            uses = step.get("uses", "")
            if uses.startswith("actions/checkout"):
                into = work / (step.get("with") or {}).get("path", ".")
                runner.checkout(ref, into)
                continue
            if uses:  # setup-python: the runner's own Python
                continue
            step_env = {k: expand_github(str(v), {**ctx, **combo}) for k, v in (step.get("env") or {}).items()}
            cwd = work / step.get("working-directory", ".")
            proc = runner.bash(expand_github(step["run"], {**ctx, **combo}), cwd, {**env, **step_env})
            assert proc.returncode == 0, (f"step {step.get('name')!r}: exit {proc.returncode}\n{proc.stdout}\n"
                                          f"{proc.stderr}")
            done.append(proc)
    return done


def run_gitlab_job(runner: Runner, pipeline: dict[str, Any], name: str, variables: dict[str, str], *,
                   ref: str = "main") -> list[subprocess.CompletedProcess[str]]:
    job = pipeline[name]
    default = pipeline.get("default") or {}
    matrix = ((job.get("parallel") or {}).get("matrix") or [{}])[0]
    combos = [dict(zip(matrix, values, strict=True)) for values in itertools.product(*matrix.values())] or [{}]
    done = []
    for combo in combos:
        work = runner.checkout(ref)
        lines = [*(job.get("before_script", default.get("before_script")) or []), *job["script"]]
        proc = runner.bash("\n".join(lines), work, {**variables, **combo})
        assert proc.returncode == 0, f"job {name}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        done.append(proc)
    return done


def environments(namespace: str) -> dict[str, str]:
    files = {
        "deploy/base/app.yaml": (
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  replicas: 1\n  selector:\n"
            "    matchLabels: {app: app}\n  template:\n    metadata:\n      labels: {app: app}\n    spec:\n"
            "      containers:\n      - name: app\n        image: app:0.1\n"),
        "deploy/base/kustomization.yaml": "resources:\n- app.yaml\n",
    }
    for env, tag in (("dev", "1.2"), ("staging", "1.1"), ("prod", "1.0")):
        files[f"deploy/overlays/{env}/kustomization.yaml"] = (
            f"# {env}\nnamespace: {namespace}\nnamePrefix: {env}-\nresources:\n  - ../../base\nimages:\n"
            f"  - name: app\n    newName: ghcr.io/example-org/app\n    newTag: \"{tag}\"  # set by CI\n")
    return files


def test_github_actions_jobs_of_the_docs_run_in_pipeline_order(tmp_path, namespace):
    runner = Runner(tmp_path, namespace)
    runner.seed(environments(namespace))
    workflow = find(lambda b: b.get("name") == "gitops")
    write_back = find(lambda b: "write-back" in b and "steps" in b["write-back"])["write-back"]
    jobs = workflow["jobs"]
    ctx = {"secrets.KUBECONFIG_DATA": runner.env["KUBECONFIG_DATA"], "secrets.SOPS_AGE_KEY": "",
           "github.token": "gh-token", "github.event.pull_request.number": "7", "inputs.image": "app",
           "secrets.GITOPS_PUSH_TOKEN": "push-token", "github.sha": "0123456789abcdef0123456789abcdef01234567"}

    # merge to main: every environment synced
    run_github_job(runner, jobs["sync"], ctx)
    assert [image_of(namespace, f"{e}-app") for e in ("dev", "staging", "prod")] == [
        "ghcr.io/example-org/app:1.2", "ghcr.io/example-org/app:1.1", "ghcr.io/example-org/app:1.0"]

    # a pull request changing prod: the diff is posted as a comment
    dev = GitRepo.clone(str(runner.remote.path), tmp_path / "developer")
    dev.git("checkout", "-q", "-b", "more-replicas")
    dev.write("deploy/overlays/prod/replicas.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\n"
                                                     "spec:\n  replicas: 3\n")
    kust = (dev.path / "deploy/overlays/prod/kustomization.yaml").read_text()
    dev.write("deploy/overlays/prod/kustomization.yaml", kust + "patches:\n  - path: replicas.yaml\n")
    dev.commit("prod: 3 replicas")
    dev.git("push", "-q", "origin", "more-replicas")
    run_github_job(runner, jobs["diff"], ctx, ref="more-replicas")
    assert any(c.startswith("gh pr comment 7 --body-file diff.md") for c in runner.stub_calls())
    comment = runner.comment()
    assert "#### prod" in comment and "replicas: 3" in comment and "#### dev" in comment

    # the application's pipeline writes its new image back to dev; the push to main syncs it
    app_ws = tmp_path / "app-repo"
    run_github_job(runner, write_back, ctx, workspace=app_ws)
    dev_overlay = runner.remote.git("show", "main:deploy/overlays/dev/kustomization.yaml")
    assert 'newTag: "0123456789ab"  # set by CI' in dev_overlay
    run_github_job(runner, jobs["sync"], ctx)
    assert image_of(namespace, "dev-app") == "ghcr.io/example-org/app:0123456789ab"

    # promotion staging -> prod by hand: a pull request; merged, the sync deploys it to prod
    run_github_job(runner, jobs["promote"], ctx)
    assert any(c.startswith("gh pr create --fill --base main") for c in runner.stub_calls())
    branch = "promote-app-4242"
    assert '"1.1"' in runner.remote.git("show", f"{branch}:deploy/overlays/prod/kustomization.yaml")
    runner.remote.git("update-ref", "refs/heads/main", f"refs/heads/{branch}")  # the merge (a fast-forward)
    run_github_job(runner, jobs["sync"], ctx)
    assert image_of(namespace, "prod-app") == "ghcr.io/example-org/app:1.1"
    assert replicas_of(namespace, "prod-app") == 1  # the unmerged pull request changed nothing


def test_gitlab_ci_jobs_of_the_docs_run_in_pipeline_order(tmp_path, namespace):
    runner = Runner(tmp_path, namespace)
    runner.seed(environments(namespace))
    pipeline = find(lambda b: "stages" in b)
    app_job = find(lambda b: "write-back" in b and "script" in b["write-back"])
    token = "push-token"
    variables = {"CI_API_V4_URL": "https://gitlab.example.com/api/v4", "CI_PROJECT_ID": "42",
                 "CI_MERGE_REQUEST_IID": "7", "CI_SERVER_HOST": "gitlab.example.com",
                 "CI_PROJECT_PATH": "example-org/gitops", "CI_DEFAULT_BRANCH": "main", "CI_PIPELINE_ID": "99",
                 "CI_REGISTRY_IMAGE": "registry.gitlab.example.com/example-org/app", "CI_COMMIT_SHORT_SHA": "1a2b3c4d",
                 "GITOPS_PUSH_TOKEN": token, "GITLAB_API_TOKEN": "api-token", "PROMOTE_IMAGE": "app"}
    runner.map_url(f"https://gitops-bot:{token}@gitlab.example.com/example-org/gitops.git")

    run_gitlab_job(runner, pipeline, "sync", variables)
    assert image_of(namespace, "staging-app") == "ghcr.io/example-org/app:1.1"
    run_gitlab_job(runner, pipeline, "diff", variables)
    calls = [c for c in runner.stub_calls() if c.startswith("curl")]
    assert calls and "/projects/42/merge_requests/7/notes" in calls[-1] and "body@diff.md" in calls[-1]
    assert "#### prod" in runner.comment()

    app_ws = tmp_path / "app-repo"
    app_ws.mkdir()
    proc = runner.bash("\n".join(app_job["write-back"]["script"]), app_ws, variables)
    assert proc.returncode == 0, proc.stderr
    assert "registry.gitlab.example.com/example-org/app" in runner.remote.git(
        "show", "main:deploy/overlays/dev/kustomization.yaml")
    run_gitlab_job(runner, pipeline, "sync", variables)
    assert image_of(namespace, "dev-app") == "registry.gitlab.example.com/example-org/app:1a2b3c4d"

    run_gitlab_job(runner, pipeline, "promote", variables)
    branch = "promote-app-99"
    assert '"1.1"' in runner.remote.git("show", f"{branch}:deploy/overlays/prod/kustomization.yaml")
    runner.remote.git("update-ref", "refs/heads/main", f"refs/heads/{branch}")
    run_gitlab_job(runner, pipeline, "sync", variables)
    assert image_of(namespace, "prod-app") == "ghcr.io/example-org/app:1.1"
