"""``settings.environment()``: the one place the core's tunables are read from the environment."""

from __future__ import annotations

import pytest

from kubectl_gitops.settings import DEFAULT_GIT_TIMEOUT, DEFAULT_RENDER_TIMEOUT, Environment, environment


def test_defaults_when_nothing_is_set() -> None:
    assert environment({}) == Environment()


def test_values_and_their_variables() -> None:
    env = environment({
        "KUBECTL_GITOPS_HELM": "/opt/helm", "KUBECTL_GITOPS_KUSTOMIZE": "/opt/kustomize", "KUBECTL_PATH": "/k",
        "KUBECTL_GITOPS_RENDER_TIMEOUT": "12.5", "KUBECTL_GITOPS_CACHE": "/c", "KUBECTL_GITOPS_GIT_TIMEOUT": "20",
        "KUBECTL_GITOPS_TRANSPORT": "kubernetes-client", "KUBECTL_GITOPS_PLACEHOLDERS": "Off",
        "KUBECTL_GITOPS_FAULT": "after-apply", "LOGNAME": "ann",
    })
    assert env == Environment(helm="/opt/helm", kustomize="/opt/kustomize", kubectl="/k", render_timeout=12.5,
                              cache="/c", git_timeout=20.0, transport="kubernetes-client", placeholders_off=True,
                              fault="after-apply", user="ann")


@pytest.mark.parametrize("text", ["", "soon", "1m"])
def test_unreadable_timeouts_fall_back_to_the_default(text: str) -> None:
    env = environment({"KUBECTL_GITOPS_RENDER_TIMEOUT": text, "KUBECTL_GITOPS_GIT_TIMEOUT": text})
    assert (env.render_timeout, env.git_timeout) == (DEFAULT_RENDER_TIMEOUT, DEFAULT_GIT_TIMEOUT)


def test_pod_name_only_inside_a_pod() -> None:
    assert environment({"HOSTNAME": "laptop"}).pod is None
    assert environment({"HOSTNAME": "web-1", "KUBERNETES_SERVICE_HOST": "10.0.0.1"}).pod == "web-1"
    assert environment({"HOSTNAME": "h", "POD_NAME": "p", "KUBERNETES_SERVICE_HOST": "10.0.0.1"}).pod == "p"


def test_read_at_use_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECTL_GITOPS_GIT_TIMEOUT", "7")
    assert environment().git_timeout == 7.0
    monkeypatch.setenv("USER", "bob")
    assert environment().user == "bob"
