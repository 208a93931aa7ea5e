"""Masking by provenance (issue 11, item 6): a value that came from sops or a placeholder is masked wherever it
lands (any kind, any field, every output, in its raw, quoted, escaped and per-line forms), and it hides only
itself: the same text in a field that did not come from a secret is shown, with a warning naming the field.

Secret values here are canaries (tests/conftest.py fails the suite if one is ever printed), except where a
test shows that a value in a field *not* from a secret is printed on purpose (those use other values).
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubectl_gitops import redact
from kubectl_gitops.cli import diff_view as view
from kubectl_gitops.cli.output import Printer
from kubectl_gitops.engine.diff import MASK_AFTER, MASK_BEFORE, Change, classify, deletion
from kubectl_gitops.errors import SecretsError
from kubectl_gitops.model import Manifest, Origin
from kubectl_gitops.secrets import agekeys, decrypt_if_encrypted, provenance, sops
from kubectl_gitops.secrets.placeholders import DictSource, resolve_placeholders
from kubectl_gitops.settings import OutputOptions, SourceOptions
from kubectl_gitops.source.render import render

K8S = sops.Rules(encrypted_regex="^(data|stringData)$")
ALL = sops.Rules()  # sops' default: every value encrypted

# every form a value takes in a field: raw, multi-line, YAML-quoted, JSON-escaped / non-ASCII, short
FORMS = {
    "raw": "CANARY-raw-7d1e",
    "multiline": "-----BEGIN KEY-----\nCANARY-line-one-4c2a\nCANARY-line-two-9b7e\n-----END KEY-----\n",
    "quoted": "CANARY-it's-'q'-5e1f",
    "escaped": 'CANARY-"esc"\\-\u00e4\u00df-\t-8a3c',
    "short": "C9x",
}


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for var in ("SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY_CMD"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    saved = redact.snapshot()
    redact.clear()
    yield
    redact.restore(saved)


# --- helpers -----------------------------------------------------------------------------------------

def configmap(data: dict[str, Any], name: str = "cfg") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "demo"}, "data": data}


def deployment(env_value: str, image: str = "nginx:1.25", annotations: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "web", "namespace": "demo"}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": {
        "replicas": 2, "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{
            "name": "web", "image": image, "env": [{"name": "A", "value": "plain"},
                                                   {"name": "TOKEN", "value": env_value}]}]}}}}


def every_output(changes: list[Change], tmp_path: Path) -> str:
    """What a user can see of these changes: each diff format as the CLI prints it, and the external files."""
    out = io.StringIO()
    p = Printer(OutputOptions(), out=out, err=out)
    for c in changes:
        p.echo(view.unified(c, color=False), masked=True)
    p.json(view.to_json(changes, "abc", False), masked=True)
    p.yaml(view.to_json(changes, "abc", False), masked=True)
    p.echo(view.markdown(changes, "abc"), masked=True)
    live, merged = view.write_external(changes, tmp_path / "ext")
    for folder in (live, merged):
        for f in sorted(folder.iterdir()):
            out.write(f.read_text())
    return out.getvalue()


def shown_forms(value: str) -> list[str]:
    """Forms of ``value`` that would give it away (checked only when long enough to be meaningful)."""
    forms = [value, value.replace("'", "''"), json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]]
    forms += [line for line in value.splitlines() if len(line) >= 8]
    return [f for f in forms if len(f) >= 4]


def resolved(obj: dict[str, Any], secrets: dict[str, dict[str, Any]]) -> Manifest:
    [m] = resolve_placeholders([Manifest(obj, Origin("deploy/x.yaml", 1))], DictSource(secrets))
    return m


# --- placeholders: every form, in a ConfigMap, a Deployment's env and an annotation ------------------

PLACES = {
    "configmap": lambda ph: configmap({"plain": "hello", "dsn": ph}),
    "deployment-env": lambda ph: deployment(ph),
    "annotation": lambda ph: deployment("plain", annotations={"example.com/token": ph}),
}


@pytest.mark.parametrize("form", sorted(FORMS))
@pytest.mark.parametrize("place", sorted(PLACES))
def test_a_placeholder_value_is_masked_in_every_output(form: str, place: str, tmp_path: Path) -> None:
    value = FORMS[form]
    m = resolved(PLACES[place]("<path:secret/data/app#v>"), {"secret/data/app": {"v": value}})
    assert m.secret_fields, "the resolver records the field it filled"
    changes = [classify(m, None, None)]
    text = every_output(changes, tmp_path)
    for f in shown_forms(value):
        assert f not in text, (form, place, f)
    assert changes[0].masked_fields and "# masked, from a secret:" in text
    assert not changes[0].warnings
    assert "hello" in text or "plain" in text  # the rest of the object is shown


@pytest.mark.parametrize("modifier", ["sha256sum", "base64encode", "indent 4", "jsonParse", "yamlParse"])
def test_transformed_values_are_masked_like_the_value(modifier: str, tmp_path: Path) -> None:
    value = '{"user": "CANARY-xform-6b1d", "n": 1}' if "Parse" in modifier else "CANARY-xform-6b1d\nline-two-ok"
    m = resolved(deployment(f"<path:secret/data/app#v | {modifier}>"), {"secret/data/app": {"v": value}})
    c = classify(m, None, None)
    env = c.after["spec"]["template"]["spec"]["containers"][0]["env"]  # type: ignore[index]
    assert env[1]["value"] == "***" and env[0]["value"] == "plain"
    assert c.masked_fields == ["spec.template.spec.containers[0].env[1].value"]
    text = every_output([c], tmp_path)
    assert "CANARY" not in text and "Q0FOQVJZ" not in text


def test_an_update_masks_both_sides_and_says_the_value_changed() -> None:
    m = resolved(configmap({"dsn": "<path:secret/data/app#v>"}), {"secret/data/app": {"v": "CANARY-new-2f9a"}})
    live = configmap({"dsn": "CANARY-old-8e2b"})
    c = classify(m, live, None)
    assert (c.before["data"]["dsn"], c.after["data"]["dsn"]) == (MASK_BEFORE, MASK_AFTER)  # type: ignore[index]


def test_a_list_item_is_found_by_its_name_when_the_server_reorders_or_adds_items() -> None:
    m = resolved(deployment("<path:secret/data/app#v>"), {"secret/data/app": {"v": "CANARY-env-1c4d"}})
    merged = json.loads(json.dumps(m.obj))
    env = merged["spec"]["template"]["spec"]["containers"][0]["env"]
    env.insert(0, {"name": "INJECTED", "value": "by-a-webhook"})
    c = classify(m, None, merged)
    after_env = c.after["spec"]["template"]["spec"]["containers"][0]["env"]  # type: ignore[index]
    assert [e["value"] for e in after_env] == ["by-a-webhook", "plain", "***"]


def test_placeholders_in_the_identity_are_refused() -> None:
    obj = configmap({"a": "b"}, name="<path:secret/data/app#v>")
    with pytest.raises(SecretsError) as e:
        resolve_placeholders([Manifest(obj, Origin("deploy/x.yaml", 1))], DictSource({"secret/data/app": {"v": "n"}}))
    assert "metadata.name" in str(e.value.details) and "identity" in str(e.value.details)


# --- sops: decrypted leaves are marked by the render, per file ---------------------------------------

def render_repo(root: Path) -> list[Manifest]:
    with provenance.recording() as rec:
        manifests, problems = render(root, ".", SourceOptions(), transform=decrypt_if_encrypted)
    assert not problems
    provenance.mark(manifests, rec)
    return manifests


def write_encrypted(root: Path, rel: str, text: str, ident: agekeys.Identity, rules: sops.Rules = K8S) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(sops.encrypt_text(text, "yaml", rules, [str(ident.recipient)], rel))


def test_a_decrypted_value_in_a_configmap_is_masked_and_the_plain_rest_shown(ident: agekeys.Identity,
                                                                             tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    doc = yaml.safe_dump(configmap({"token": FORMS["multiline"], "mode": "plain-mode"}))
    write_encrypted(repo, "cm.yaml", doc, ident, sops.Rules(encrypted_regex="^token$"))
    [m] = render_repo(repo)
    assert m.secret_fields == {("data", "token")}
    c = classify(m, None, None)
    text = every_output([c], tmp_path)
    for f in shown_forms(FORMS["multiline"]):
        assert f not in text
    assert "plain-mode" in text and c.masked_fields == ["data.token"]


def test_the_evasion_a_value_encrypted_elsewhere_does_not_hide_an_image(ident: agekeys.Identity,
                                                                          tmp_path: Path) -> None:
    # a pull request encrypts the image name in a Secret, hoping the Deployment's new image shows as ***
    evil = "evil.example/miner:1.0"
    repo = tmp_path / "repo"
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "decoy", "namespace": "demo"},
              "stringData": {"x": evil}}
    write_encrypted(repo, "decoy.yaml", yaml.safe_dump(secret), ident)
    (repo / "web.yaml").write_text(yaml.safe_dump(deployment("plain", image=evil)))
    manifests = render_repo(repo)
    by_kind = {m.kind: m for m in manifests}
    assert by_kind["Deployment"].secret_fields == frozenset()
    live = deployment("plain", image="nginx:1.25")
    changes = [classify(by_kind["Secret"], None, None), classify(by_kind["Deployment"], live, None)]
    text = every_output(changes, tmp_path)
    assert f"+        image: {evil}" in text and "-        image: nginx:1.25" in text
    assert changes[1].warnings == [
        "value equal to a decrypted secret appears in spec.template.spec.containers[0].image of Deployment.apps "
        "demo/web, which is not from a secret; shown unmasked"]
    assert "# warning: value equal to a decrypted secret" in text
    assert changes[0].after["stringData"]["x"] == "***"  # type: ignore[index]
    # messages, logs and tracebacks still never show it
    assert redact.redact(f"error: {evil} failed") == "error: *** failed"


def test_a_fully_encrypted_deployment_is_masked_field_by_field_and_says_so(ident: agekeys.Identity,
                                                                         tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    obj = deployment("plain", image="evil.example/miner:1.0")
    obj["spec"]["template"]["spec"]["securityContext"] = {"privileged": True}
    write_encrypted(repo, "web.yaml", yaml.safe_dump(obj), ident, ALL)
    [m] = render_repo(repo)
    assert ("kind",) not in m.secret_fields and ("metadata", "name") not in m.secret_fields
    c = classify(m, None, None)
    spec = c.after["spec"]["template"]["spec"]  # type: ignore[index]
    assert spec["containers"][0]["image"] == "***" and spec["securityContext"]["privileged"] == "***"
    text = view.unified(c, color=False)
    assert "spec.template.spec.containers[0].image" in text and "spec.template.spec.securityContext.privileged" in text
    assert text.count("# masked, from a secret:") == 1
    assert "Deployment.demo.web" in text  # the identity is never masked
    assert redact.redact("kind Deployment web") == "kind Deployment web"  # identity values are not registered


def test_secret_data_stays_fully_masked_and_keys_visible(ident: agekeys.Identity, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "demo"},
              "stringData": {"password": FORMS["raw"], "user": "C9x"}}
    write_encrypted(repo, "db.yaml", yaml.safe_dump(secret), ident)
    [m] = render_repo(repo)
    c = classify(m, None, None)
    assert c.after["stringData"] == {"password": "***", "user": "***"}  # type: ignore[index]
    assert FORMS["raw"] not in every_output([c], tmp_path)


# --- the leak side: a secret value in a field that is not from a secret ------------------------------

def test_a_secret_value_in_a_live_field_is_shown_with_a_warning_and_never_in_messages(tmp_path: Path) -> None:
    redact.register_value("shown-on-purpose-41c7")
    live = configmap({"copied": "prefix shown-on-purpose-41c7 suffix"})
    c = deletion(Manifest(live).key, live)
    assert c.warnings == ["value equal to a decrypted secret appears in data.copied of ConfigMap demo/cfg (live "
                          "object), which is not from a secret; shown unmasked"]
    out = io.StringIO()
    p = Printer(OutputOptions(), out=out, err=out)
    p.echo(view.unified(c, color=False), masked=True)
    p.warn(c.warnings[0])
    p.echo("a message about shown-on-purpose-41c7")
    text = out.getvalue()
    assert "-  copied: prefix shown-on-purpose-41c7 suffix" in text
    assert "a message about ***" in text


def test_credentials_are_redacted_from_diff_bodies_too(tmp_path: Path) -> None:
    redact.register("CANARY-kube-token-3e8f")
    c = classify(Manifest(configmap({"kubeconfig": "token: CANARY-kube-token-3e8f"})), None, None)
    assert "CANARY-kube-token" not in every_output([c], tmp_path)


# --- redact: the forms a value takes in messages ------------------------------------------------------

@pytest.mark.parametrize("form", ["raw", "multiline", "quoted", "escaped"])
def test_redact_catches_quoted_escaped_and_per_line_forms(form: str) -> None:
    value = FORMS[form]
    redact.register_value(value)
    texts = [
        f"x {value} y",
        "error: " + yaml.safe_dump({"v": value}, allow_unicode=True),
        "error: " + yaml.safe_dump({"v": value}, allow_unicode=False),
        "error: " + json.dumps({"v": value}),
        "error: " + json.dumps({"v": value}, ensure_ascii=False),
        "field " + repr(value),
    ]
    if "\n" in value:
        texts += [f"line: {line}" for line in value.splitlines() if len(line) >= 8]
    for t in texts:
        out = redact.redact(t)
        assert "CANARY" not in out, (form, t)


def test_redact_leaves_short_values_and_separates_the_two_classes() -> None:
    redact.register_value("C9x")
    redact.register_value("value-from-sops-77")
    redact.register("a-credential-99")
    assert redact.redact("C9x and value-from-sops-77 and a-credential-99") == "C9x and *** and ***"
    assert redact.redact_credentials("value-from-sops-77 and a-credential-99") == "value-from-sops-77 and ***"


def test_sops_decryption_registers_values_as_secret_values(ident: agekeys.Identity, tmp_path: Path) -> None:
    text = sops.encrypt_text(yaml.safe_dump(configmap({"k": "CANARY-reg-5a5a"})), "yaml", ALL,
                             [str(ident.recipient)], "cm.yaml")
    with provenance.recording() as rec:
        decrypt_if_encrypted("cm.yaml", text)
    assert rec.files["cm.yaml"] == {("data", "k")}
    assert redact.redact("CANARY-reg-5a5a") == "***"
    assert redact.redact_credentials("CANARY-reg-5a5a") != "***"
    assert os.environ.get("SOPS_AGE_KEY_FILE")
