"""Render-time overrides a CI deploy step passes: ``--image``/``--image-field`` (sync, diff, waves) and Helm's
``--set``/``--set-string``/``--set-file`` (every command that renders, next to ``--values``); the inputs of
``.jsonnet`` files, ``--jsonnet-*`` (diff, waves, sync, prune; kubectl_gitops.source.jsonnet).

Flags are checked when parsed (a malformed one is a usage error, exit 2); whether they fit the repository is
checked when it is rendered (exit 3). See kubectl_gitops.source.images and kubectl_gitops.source.helmset.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

import click

from kubectl_gitops.cli.options import _setter, compose
from kubectl_gitops.errors import UsageError
from kubectl_gitops.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])


def _checked(parse: Callable[[str], object], *, split: bool = False) -> Callable[[tuple[str, ...]], tuple[str, ...]]:
    def convert(values: tuple[str, ...]) -> tuple[str, ...]:
        items = tuple(p.strip() for v in values for p in (v.split(",") if split else [v]) if p.strip())
        try:
            for item in items:
                parse(item)
        except UsageError as e:
            raise click.BadParameter(e.message) from e
        return items

    return convert


def _image(text: str) -> object:
    from kubectl_gitops.source.images import parse_override

    return parse_override(text)


def _field(text: str) -> object:
    from kubectl_gitops.source.images import parse_field_spec

    return parse_field_spec(text)


def _set(flag: str) -> Callable[[str], object]:
    def parse(text: str) -> object:
        from kubectl_gitops.source.helmset import parse_set

        return parse_set(text, flag=flag)

    return parse


def _opt(*decls: str, attr: str, convert: Callable[[Any], Any], **kw: Any) -> Callable[[F], F]:
    return click.option(*decls, attr, expose_value=False, multiple=True, callback=_setter("source", attr, convert),
                        **kw)


image_options = compose(
    _opt("--image", attr="images", convert=_checked(_image), metavar="NAME=REF", envvar="KUBECTL_GITOPS_IMAGES",
         help="Override an image in the rendered objects, kustomize style (repeatable): NAME=NEWNAME:TAG, "
              "NAME:TAG, NAME@sha256:DIGEST. Containers, initContainers and ephemeralContainers of every pod "
              "template, plain, kustomize or Helm; an override matching nothing is an error (exit 3). Recorded "
              "in the app's history; a later sync without it says it reverts it. The variable takes a list "
              "separated by spaces."),
    _opt("--image-field", attr="image_fields", convert=_checked(_field, split=True),
         metavar="[KIND[.GROUP]:]PATH", envvar="KUBECTL_GITOPS_IMAGE_FIELDS",
         help="Another field holding an image reference, for custom resources, in kustomize fieldSpec path "
              "syntax (repeatable; the variable takes a comma list), e.g. Workflow.argoproj.io:"
              "spec/templates[]/container/image."),
)

helm_set_options = compose(
    _opt("--set", attr="helm_set", convert=_checked(_set("--set")), metavar="KEY=VALUE",
         help="Helm value for every chart under the path, as `helm template --set` (repeatable)."),
    _opt("--set-string", attr="helm_set_string", convert=_checked(_set("--set-string")), metavar="KEY=VALUE",
         help="Helm value forced to a string, as `helm template --set-string` (repeatable)."),
    _opt("--set-file", attr="helm_set_file", convert=_checked(_set("--set-file")), metavar="KEY=PATH",
         help="Helm value read from a file given on the command line (relative to the current folder; not "
              "from the repository's say), as `helm template --set-file` (repeatable)."),
)


def _assignments(values: tuple[str, ...], flag: str) -> tuple[tuple[str, str], ...]:
    out = []
    for v in values:
        name, eq, value = v.partition("=")
        if not eq or not name.strip():
            raise click.BadParameter(f"{v!r} is not NAME=VALUE, e.g. {flag} env=prod")
        out.append((name.strip(), value))
    return tuple(out)


def _jsonnet(attr: str, flag: str) -> Callable[..., Any]:
    def callback(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> Any:
        if value:
            s = ctx.ensure_object(Settings)
            converted: Any = tuple(value) if attr == "libs" else _assignments(value, flag)
            jsonnet = dataclasses.replace(s.source.jsonnet, **{attr: converted})
            s.source = dataclasses.replace(s.source, jsonnet=jsonnet)
        return value

    return callback


def _jsonnet_opt(*decls: str, attr: str, help: str, metavar: str = "NAME=VALUE") -> Callable[[F], F]:
    return click.option(*decls, attr, expose_value=False, multiple=True, metavar=metavar,
                        callback=_jsonnet(attr, decls[0]), help=help)


# Argo CD's own flag names (argocd app create/set), so a Jsonnet app moves between the two tools unchanged;
# the jsonnet CLI's shorter spellings (--ext-str, --jpath) are accepted after the jsonnet- prefix.
jsonnet_options = compose(
    _jsonnet_opt("--jsonnet-ext-var-str", "--jsonnet-ext-str", attr="ext_vars",
                 help="Jsonnet external variable, a string: std.extVar(NAME) (repeatable)."),
    _jsonnet_opt("--jsonnet-ext-var-code", "--jsonnet-ext-code", attr="ext_codes",
                 help="Jsonnet external variable given as Jsonnet code, e.g. replicas=3 (repeatable)."),
    _jsonnet_opt("--jsonnet-tla-str", attr="tla_vars",
                 help="Top-level argument of the .jsonnet files' function, a string (repeatable)."),
    _jsonnet_opt("--jsonnet-tla-code", attr="tla_codes",
                 help="Top-level argument given as Jsonnet code, e.g. replicas=3 (repeatable)."),
    _jsonnet_opt("--jsonnet-libs", "--jsonnet-jpath", attr="libs", metavar="DIR",
                 help="Jsonnet library folder, relative to the repository root, e.g. vendor (repeatable)."),
)
