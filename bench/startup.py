#!/usr/bin/env python3
"""Start-up time of `--help`: the checkout, the bundled executable (first and later runs), and kubectl.

    python3 bench/startup.py [--archive kubectl-gitops_<ver>_linux_amd64.tar.gz] [--runs 20] [--write bench/startup.md]

Without --archive it builds one from the working tree (hack/release --worktree --platform linux/amd64).
Measured, in one hyperfine run (or a plain subprocess loop when hyperfine is missing):

    checkout        bin/kubectl-gitops --help
    bundle (first)  the zipapp with an empty runtime cache: includes unpacking it (~50 MB)
    bundle          the zipapp, unpacked already: what every later run costs
    kubectl gitops  `kubectl gitops --help`, the bundle found through kubectl's plugin discovery
    kubectl         kubectl version --client: the baseline a user compares with

Every command runs as a user runs it (by its shebang, `#!/usr/bin/env python3`), with the real
interpreter behind `python3` first on PATH, so a version manager's shim (pyenv: a shell script) is not
counted. Results are written with the exact command line, the machine and the versions.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def real_python() -> str:
    out = subprocess.run(["python3", "-c", "import sys; print(sys.executable)"], capture_output=True, text=True,
                         check=True)
    return out.stdout.strip()


def build_archive(out: Path) -> Path:
    subprocess.run([sys.executable, str(ROOT / "hack" / "release"), "--worktree", "--platform", "linux/amd64",
                    "--out", str(out)], check=True, capture_output=True)
    [archive] = out.glob("*_linux_amd64.tar.gz")
    return archive


def hyperfine(commands: list[tuple[str, str, str]], runs: int, env: dict[str, str], export: Path) -> dict[str, dict]:
    cmd = ["hyperfine", "--shell=none", "--runs", str(runs), "--warmup", "1", "--export-json", str(export),
           "--style", "basic"]
    for name, command, prepare in commands:
        cmd += ["--command-name", name, "--prepare", prepare or "true", command]
    subprocess.run(cmd, check=True, env=env, stdout=sys.stderr)
    data = json.loads(export.read_text())
    return {r["command"]: {"mean": r["mean"], "stddev": r["stddev"] or 0.0, "min": r["min"]} for r in data["results"]}


def loop(commands: list[tuple[str, str, str]], runs: int, env: dict[str, str]) -> dict[str, dict]:
    results = {}
    for name, command, prepare in commands:
        times = []
        for i in range(runs + 1):
            if prepare:
                subprocess.run(shlex.split(prepare), env=env, check=True)
            t = time.perf_counter()
            subprocess.run(shlex.split(command), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           check=True)
            if i:  # the first one warms the disk cache
                times.append(time.perf_counter() - t)
        results[name] = {"mean": statistics.mean(times), "stddev": statistics.pstdev(times), "min": min(times)}
    return results


def file_create_ms(folder: Path, n: int = 500) -> float:
    """How long creating one small file takes here: the first run's unpacking is mostly that."""
    folder.mkdir()
    t = time.perf_counter()
    for i in range(n):
        (folder / f"f{i}.py").write_bytes(b"x" * 4000)
    return (time.perf_counter() - t) * 1000 / n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--archive", type=Path, help="a linux/amd64 krew archive (default: build one)")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--write", type=Path, help="write the results as markdown here (e.g. bench/startup.md)")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="kubectl-gitops-bench-") as tmp_:
        tmp = Path(tmp_)
        archive = args.archive or build_archive(tmp / "dist")
        plugin_dir = tmp / "plugin"
        plugin_dir.mkdir()
        with tarfile.open(archive) as tf:
            tf.extract("kubectl-gitops", plugin_dir)
        exe = plugin_dir / "kubectl-gitops"
        cache = tmp / "cache"
        python = real_python()
        kubectl = shutil.which("kubectl")
        if kubectl is None:
            print("kubectl is not on PATH: it is the baseline", file=sys.stderr)
            return 2
        others = [p for p in os.environ["PATH"].split(os.pathsep) if p and not list(Path(p).glob("kubectl-gitops*"))]
        env = {**os.environ, "KUBECTL_GITOPS_CACHE": str(cache),
               "PATH": os.pathsep.join([str(Path(python).parent), str(plugin_dir), *others])}
        commands = [
            ("checkout", f"{ROOT / 'bin' / 'kubectl-gitops'} --help", ""),
            ("bundle (first run)", f"{exe} --help", f"rm -rf {cache}"),
            ("bundle", f"{exe} --help", ""),
            ("kubectl gitops", f"{kubectl} gitops --help", ""),
            ("kubectl", f"{kubectl} version --client", ""),
        ]
        shown = {"checkout": "bin/kubectl-gitops --help", "bundle (first run)": "kubectl-gitops --help",
                 "bundle": "kubectl-gitops --help", "kubectl gitops": "kubectl gitops --help",
                 "kubectl": "kubectl version --client"}
        subprocess.run([str(exe), "--help"], env=env, check=True, capture_output=True)  # unpack before "bundle"
        load = f"{os.getloadavg()[0]:.1f}"
        tool = "hyperfine" if shutil.which("hyperfine") else "loop"
        if tool == "hyperfine":
            results = hyperfine(commands, args.runs, env, tmp / "hyperfine.json")
        else:
            results = loop(commands, args.runs, env)
        versions = {
            "python": subprocess.run([python, "--version"], capture_output=True, text=True).stdout.strip(),
            "kubectl": subprocess.run([kubectl, "version", "--client"], capture_output=True, text=True)
            .stdout.splitlines()[0],
            "archive": f"{archive.name} ({archive.stat().st_size / 1e6:.1f} MB)",
            "load": load,
            "create_ms": f"{file_create_ms(tmp / 'files'):.2f}",
            "bytecode": "set" if os.environ.get("PYTHONDONTWRITEBYTECODE") else "not set",
        }
    report = render(results, shown, versions, tool, args)
    print(report)
    if args.write:
        args.write.write_text(report)
    return 0


def render(results: dict[str, dict], shown: dict[str, str], versions: dict[str, str], tool: str,
           args: argparse.Namespace) -> str:
    base, checkout = results["kubectl"]["mean"], results["checkout"]["mean"]
    lines = [
        "# Start-up: `--help` wall time",
        "",
        "Command (from the repository root):",
        "",
        "    " + " ".join(["python3", "bench/startup.py", *sys.argv[1:]]),
        "",
        f"Machine: {os.cpu_count()} cores, {platform.system()} {platform.machine()}, {versions['python']}, "
        f"{versions['kubectl']}; {versions['archive']}; timed with {tool}, {args.runs} runs each; "
        f"load average {versions['load']} when it started (other work shares the machine).",
        "",
        "| what | command | mean | ± | min | × kubectl | × checkout |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for name, command in shown.items():
        r = results[name]
        lines.append(f"| {name} | `{command}` | {r['mean'] * 1000:.0f} ms | {r['stddev'] * 1000:.0f} ms | "
                     f"{r['min'] * 1000:.0f} ms | {r['mean'] / base:.1f} | {r['mean'] / checkout:.2f} |")
    lines += [
        "",
        "Notes:",
        "",
        "- The first run of a new version unpacks the bundle (about 2,200 files, 50 MB) into",
        "  ~/.cache/kubectl-gitops/runtime/<version>-<hash>/, once; every later run imports from there and",
        "  starts like the checkout. Unpacking is mostly file creation, which costs "
        f"{versions['create_ms']} ms per small file on this machine (measured by this script).",
        f"- PYTHONDONTWRITEBYTECODE is {versions['bytecode']} here. The bundle caches the byte code of its own "
        "modules either way; a checkout relies on the interpreter's setting for kubectl_gitops itself.",
        "- `kubectl gitops --help` adds kubectl's start and plugin lookup on top of the bundle's own start.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
