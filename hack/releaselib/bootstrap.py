# -*- coding: utf-8 -*-
# ruff: noqa: UP004, UP009, UP031  (old-Python syntax on purpose: see the docstring)
"""kubectl-gitops, bundled: this zip holds the plugin and every dependency (docs/install.md).

This file is the zipapp's __main__.py. Before anything else it

1. checks the Python version and explains what to do when it is too old;
2. unpacks the bundle once into a per-version cache folder,
   ${KUBECTL_GITOPS_CACHE:-${XDG_CACHE_HOME:-~/.cache}/kubectl-gitops}/runtime/<version>-<hash>/,
   because compiled modules (cryptography, cffi, libyaml) cannot load from inside a zip and imports
   from plain files are faster (byte code gets cached). The folder is written under a temporary name
   and renamed into place, so a run never sees half of it and two first runs do not collide.
   Unwritable cache: a temporary folder, removed at exit. Nothing writable at all: a message saying so;
3. runs the entry point its name asks for: kubectl-gitops, kubectl-gitops-<cmd> / kubectl-gitops_<cmd>
   (one command) or kubectl_complete-gitops[-<cmd>] (kubectl's completion protocol), so symlinks to
   this one file can stand in for each.

Any Python (2.7 too) must be able to read this file to print the version message: no f-strings, no
annotations, nothing from the bundle before the check.
"""
import os
import sys

BUNDLE = None  # replaced by the release build (hack/releaselib/bundle.py)

EXIT_FAILED = 4  # kubectl_gitops.errors.ExitCode.OPERATION_FAILED
PRUNE_AFTER_SECONDS = 24 * 3600
COMMANDS = ("diff", "sync", "prune", "waves", "secrets")


def python_problem(version_info, min_version, executable):
    """The message for an interpreter older than ``min_version``, or None."""
    if tuple(version_info[:2]) >= tuple(min_version):
        return None
    return (
        "kubectl-gitops needs Python %d.%d or newer; it was started by Python %d.%d.%d (%s).\n"
        "Install a newer Python 3 and put it first on PATH as python3 (kubectl-gitops starts with\n"
        "`#!/usr/bin/env python3`), or run it with one: python3.12 \"$(command -v kubectl-gitops)\" ...\n"
        % (min_version[0], min_version[1], version_info[0], version_info[1], version_info[2], executable)
    )


def python_tag():
    """``cp311`` for CPython 3.11; "" where no bundled compiled wheel can apply (see no_wheels_reason)."""
    if no_wheels_reason():
        return ""
    return "cp%d%d" % sys.version_info[:2]


def no_wheels_reason():
    """Why this interpreter cannot load the bundled compiled wheels at all, or ""."""
    implementation = getattr(sys, "implementation", None)
    if implementation is None or implementation.name != "cpython":
        return "not CPython"
    if "t" in getattr(sys, "abiflags", ""):
        return "a free-threaded build"
    if "musl" in getattr(implementation, "_multiarch", ""):
        return "musl libc (the bundled wheels are for glibc)"
    return ""


def cache_root(environ):
    explicit = environ.get("KUBECTL_GITOPS_CACHE")
    if explicit:
        return explicit
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "kubectl-gitops")


def runtime_spec(bundle, tag):
    """(folder name, zip prefixes to unpack) for this interpreter."""
    runtimes = bundle["runtimes"]
    key = tag if tag in runtimes else ""
    prefixes = ["lib/"] + ["native/%s/" % group for group in runtimes[key]["native"]]
    return "%s-%s" % (bundle["version"], runtimes[key]["hash"]), prefixes


def _extract(archive, dest, prefixes):
    """Unpack the payload entries under ``prefixes`` into ``dest`` (``native/<group>/`` -> ``native/``)."""
    import io
    import zipfile

    outer = zipfile.ZipFile(archive)
    try:
        zf = zipfile.ZipFile(io.BytesIO(outer.read("payload.zip")))
    finally:
        outer.close()
    jobs = []
    folders = set()
    for info in zf.infolist():
        name = info.filename
        for prefix in prefixes:
            if name.startswith(prefix) and not name.endswith("/"):
                break
        else:
            continue
        rel = "native/" + name[len(prefix):] if name.startswith("native/") else name
        path = os.path.join(dest, *rel.split("/"))
        folders.add(os.path.dirname(path))
        jobs.append((path, info))
    for folder in sorted(folders):
        if not os.path.isdir(folder):
            os.makedirs(folder)
    for path, info in jobs:
        with open(path, "wb") as f:
            f.write(zf.read(info))
        mode = (info.external_attr >> 16) & 0o777
        if mode:
            os.chmod(path, mode)


def _rmtree(path):
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def _prune(runtime_dir, keep, version, now):
    """Drop other versions' folders unpacked more than a day ago (a day-old one is re-made if needed)."""
    try:
        names = os.listdir(runtime_dir)
    except OSError:
        return
    for name in names:
        if name == keep or name.startswith(version + "-"):
            continue
        path = os.path.join(runtime_dir, name)
        marker = os.path.join(path, ".complete") if not name.startswith(".tmp-") else path
        try:
            if now - os.stat(marker).st_mtime > PRUNE_AFTER_SECONDS:
                _rmtree(path)
        except OSError:
            pass


def ensure_runtime(archive, bundle, tag, root, now=None):
    """The unpacked folder for this interpreter and whether it persists; unpacks it when missing.

    Raises OSError when neither the cache nor a temporary folder can be written.
    """
    import tempfile
    import time

    name, prefixes = runtime_spec(bundle, tag)
    runtime_dir = os.path.join(root, "runtime")
    target = os.path.join(runtime_dir, name)
    if os.path.isfile(os.path.join(target, ".complete")):
        return target, True
    try:
        if not os.path.isdir(runtime_dir):
            os.makedirs(runtime_dir)
        tmp = tempfile.mkdtemp(prefix=".tmp-", dir=runtime_dir)
    except OSError:
        tmp = None
    if tmp is not None:
        try:
            _extract(archive, tmp, prefixes)
            with open(os.path.join(tmp, ".complete"), "w") as f:
                f.write("%s %s %s\n" % (bundle["version"], bundle["platform"], tag or "pure"))
            try:
                os.rename(tmp, target)
            except OSError:
                _rmtree(tmp)  # another run got there first: use its folder
                if not os.path.isfile(os.path.join(target, ".complete")):
                    raise
            _prune(runtime_dir, name, bundle["version"], time.time() if now is None else now)
            return target, True
        except OSError:
            _rmtree(tmp)
    tmp = tempfile.mkdtemp(prefix="kubectl-gitops-runtime-")
    try:
        _extract(archive, tmp, prefixes)
    except OSError:
        _rmtree(tmp)
        raise
    return tmp, False


def entry_point(argv0):
    """(module, function) to run for the name this file was started by."""
    name = os.path.basename(argv0)
    for suffix in (".pyz", ".py"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    if name.startswith("kubectl_complete-gitops"):
        return "kubectl_gitops.cli.completion", "kubectl_complete_main"
    for sep in ("-", "_"):
        stem = "kubectl-gitops" + sep
        if name.startswith(stem) and name[len(stem):] in COMMANDS:
            return "kubectl_gitops.cli.main", name[len(stem):] + "_main"
    return "kubectl_gitops.cli.main", "main"


class Unavailable(object):
    """A last-resort import finder: a compiled dependency this run has no copy of fails with a reason."""

    def __init__(self, names, reason):
        self.names = frozenset(names)
        self.reason = reason

    def find_spec(self, fullname, path=None, target=None):
        top = fullname.partition(".")[0]
        if top in self.names:
            raise ImportError(self.reason % {"module": top}, name=fullname)
        return None


def _unavailable_reason(bundle, tag):
    pythons = sorted(k for k in bundle["runtimes"] if k)
    return ("%%(module)s is not available: this kubectl-gitops build for %s carries its compiled parts for "
            "CPython %s, and this is %s %d.%d (%s). The features that need it (sops/age secrets) need one of "
            "those Pythons: run python3.X \"$(command -v kubectl-gitops)\" ..., or install kubectl-gitops "
            "with pip." % (bundle["platform"], ", ".join("%s.%s" % (k[2], k[3:]) for k in pythons),
                           getattr(getattr(sys, "implementation", None), "name", "python"),
                           sys.version_info[0], sys.version_info[1], no_wheels_reason() or tag))


def cache_bytecode(folder):
    """Keep compiled byte code of the bundle's modules even under PYTHONDONTWRITEBYTECODE (containers set
    it often): the folder is ours, and compiling click and friends again on every run would cost more
    than the rest of the start. Other folders keep the interpreter's rule."""
    if not sys.dont_write_bytecode:
        return
    import importlib.machinery as machinery

    class Loader(machinery.SourceFileLoader):
        def get_code(self, fullname):
            code = machinery.SourceFileLoader.get_code(self, fullname)
            path = self.get_filename(fullname)
            try:
                import importlib.util

                cached = importlib.util.cache_from_source(path)
                if not os.path.exists(cached):
                    import py_compile

                    py_compile.compile(path, cfile=cached, doraise=True,
                                       invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
            except Exception:  # a cache is an optimisation: never fail an import over it
                pass
            return code

    loaders = [(machinery.ExtensionFileLoader, machinery.EXTENSION_SUFFIXES),
               (Loader, machinery.SOURCE_SUFFIXES), (machinery.SourcelessFileLoader, machinery.BYTECODE_SUFFIXES)]
    prefix = folder + os.sep

    def hook(path):
        if path.startswith(prefix):
            return machinery.FileFinder(path, *loaders)
        raise ImportError("not a folder of the bundle")

    sys.path_hooks.insert(0, hook)


def setup(archive, bundle, environ, stderr):
    """Unpack if needed and put the bundle first on sys.path. Returns the folder used, or None (and says
    why on ``stderr``) when it cannot be unpacked anywhere."""
    try:
        folder, persistent = ensure_runtime(archive, bundle, python_tag(), cache_root(environ))
    except OSError as e:
        stderr.write("kubectl-gitops: cannot unpack itself into %s nor into a temporary folder: %s\n"
                     "Make one of them writable, or point KUBECTL_GITOPS_CACHE at a writable folder.\n"
                     % (os.path.join(cache_root(environ), "runtime"), e))
        return None
    if persistent:
        cache_bytecode(folder)
    else:
        import atexit

        atexit.register(_rmtree, folder)
    key = python_tag() if python_tag() in bundle["runtimes"] else ""
    if bundle["runtimes"][key]["missing"]:
        sys.meta_path.append(Unavailable(bundle["runtimes"][key]["missing"], _unavailable_reason(bundle, python_tag())))
    paths = [os.path.join(folder, "native"), os.path.join(folder, "lib")]
    sys.path[:] = [p for p in paths if os.path.isdir(p)] + _without(sys.path, archive)
    return folder


def _without(path, archive):
    return [p for p in path if not p or os.path.abspath(p) != archive]


def main():
    problem = python_problem(sys.version_info, BUNDLE["min_python"], sys.executable)  # type: ignore[index]
    if problem:
        sys.stderr.write(problem)
        return EXIT_FAILED
    archive = os.path.dirname(os.path.abspath(__file__))
    if setup(archive, BUNDLE, os.environ, sys.stderr) is None:
        return EXIT_FAILED
    import importlib

    module, function = entry_point(sys.argv[0])
    return getattr(importlib.import_module(module), function)()


if __name__ == "__main__":
    sys.exit(main())
