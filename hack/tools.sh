#!/usr/bin/env bash
# Builds the pinned binaries the local control plane and the interop tests need, from the Go module
# proxy, into a per-version cache outside the repository. Reused when present; never committed.
#
#   hack/tools.sh [all|cluster|peers|NAME...]     NAME: etcd kwok kube helm sops kustomize krew kapp
#   hack/tools.sh path NAME                        prints the cached binary's path (builds if missing)
#
# Environment: KUBECTL_GITOPS_CACHE (default ~/.cache/kubectl-gitops).
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-1.34.4}
ETCD_VERSION=${ETCD_VERSION:-3.6.16}
KWOK_VERSION=${KWOK_VERSION:-0.8.0}
HELM_VERSION=${HELM_VERSION:-3.19.0}
SOPS_VERSION=${SOPS_VERSION:-3.13.2}
KUSTOMIZE_VERSION=${KUSTOMIZE_VERSION:-5.8.1}
KREW_VERSION=${KREW_VERSION:-0.5.0}
KAPP_VERSION=${KAPP_VERSION:-0.64.2}

CACHE=${KUBECTL_GITOPS_CACHE:-$HOME/.cache/kubectl-gitops}
export GOFLAGS=-buildvcs=false CGO_ENABLED=0
log() { printf '[tools] %s\n' "$*" >&2; }

dir_for() {
  case "$1" in
    etcd) echo "$CACHE/etcd-v$ETCD_VERSION" ;;
    kwok) echo "$CACHE/kwok-v$KWOK_VERSION" ;;
    kube) echo "$CACHE/kubernetes-v$K8S_VERSION" ;;
    helm) echo "$CACHE/helm-v$HELM_VERSION" ;;
    sops) echo "$CACHE/sops-v$SOPS_VERSION" ;;
    kustomize) echo "$CACHE/kustomize-v$KUSTOMIZE_VERSION" ;;
    krew) echo "$CACHE/krew-v$KREW_VERSION" ;;
    kapp) echo "$CACHE/kapp-v$KAPP_VERSION" ;;
    *) log "unknown tool: $1"; exit 2 ;;
  esac
}

# A throwaway module is the only way to build k8s.io/kubernetes (its go.mod has replace directives).
new_module() { local m; m=$(mktemp -d); (cd "$m" && go mod init build.local/tools >/dev/null 2>&1); echo "$m"; }

build_etcd() {
  local out m; out=$(dir_for etcd); m=$(new_module)
  (cd "$m" && { go get "go.etcd.io/etcd/server/v3@v$ETCD_VERSION" >/dev/null 2>go-get.log || { tail -n 20 go-get.log >&2; exit 1; }; } &&
    go build -trimpath -o "$out.tmp/etcd" go.etcd.io/etcd/server/v3)
  rm -rf "$m"
}

build_kwok() {
  local out; out=$(dir_for kwok)
  GOBIN="$out.tmp" go install "sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION"
  # The stage files (how fake pods become ready, complete and go away) ship in the module.
  local src; src=$(go env GOMODCACHE)/sigs.k8s.io/kwok@v$KWOK_VERSION/kustomize/stage
  mkdir -p "$out.tmp/stages"
  cp "$src"/node/fast/node-initialize.yaml "$src"/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
     "$src"/pod/fast/pod-ready.yaml "$src"/pod/fast/pod-complete.yaml "$src"/pod/fast/pod-delete.yaml \
     "$out.tmp/stages/" 2>/dev/null || cp -r "$src" "$out.tmp/stages-all"
  chmod -R u+w "$out.tmp"
}

build_kube() {
  local out m v=$K8S_VERSION mod; out=$(dir_for kube); m=$(new_module)
  mod=$(cd "$m" && go mod download -json "k8s.io/kubernetes@v$v" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  {
    echo "module build.local/tools"
    echo "go 1.24"
    echo "godebug default=go1.24"
    echo "require k8s.io/kubernetes v$v"
    grep -E '^\s+k8s\.io/[a-z0-9-]+ v0\.0\.0$' "$mod" | awk -v v="0.${v#1.}" '{print "replace " $1 " => " $1 " v" v}'
  } > "$m/go.mod"
  local pkg=k8s.io/component-base/version cgo=k8s.io/client-go/pkg/version major=1 minor=${v#1.}; minor=${minor%%.*}
  local ld="-s -w"
  for p in $pkg $cgo; do
    ld="$ld -X $p.gitVersion=v$v -X $p.gitMajor=$major -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done
  # `go get` of the command packages records go.sum entries for everything they import.
  (cd "$m" && { go get "k8s.io/kubernetes/cmd/kube-apiserver@v$v" "k8s.io/kubernetes/cmd/kube-controller-manager@v$v" \
     "k8s.io/kubernetes/cmd/kube-scheduler@v$v" >/dev/null 2>go-get.log || { tail -n 20 go-get.log >&2; exit 1; }; } &&
   go build -trimpath -tags selinux,notest -ldflags "$ld" -o "$out.tmp/" \
     k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler)
  rm -rf "$m"
}

build_simple() { # name module-path version [ldflags]
  local out; out=$(dir_for "$1")
  GOBIN="$out.tmp" go install -trimpath ${4:+-ldflags "$4"} "$2@v$3"
}

# `go install pkg@vX` also asks the proxy for the module's version list (deprecation check); a proxy that
# refuses that list (krew: 403) fails the install. Requiring the exact version from a local module does not.
build_module() { # name "module version" package [ldflags]
  local out m; out=$(dir_for "$1"); m=$(new_module)
  printf 'module build.local/tools\n\ngo 1.24\n\nrequire %s\n' "$2" > "$m/go.mod"
  (cd "$m" && GOFLAGS="$GOFLAGS -mod=mod" go build -trimpath ${4:+-ldflags "$4"} -o "$out.tmp/" "$3")
  rm -rf "$m"
}

build() {
  local name=$1 out lock started=$SECONDS; out=$(dir_for "$name")
  [ -d "$out" ] && return 0
  # One builder per tool: a second caller (a test session, another shell) waits here instead of
  # wiping the first one's half-built "$out.tmp", then finds the finished directory.
  mkdir -p "$CACHE"
  exec {lock}>"$CACHE/.build-$name.lock"
  if ! flock -n "$lock"; then
    log "waiting for another build of $name to finish"
    flock "$lock"
  fi
  if [ -d "$out" ]; then exec {lock}>&-; return 0; fi
  log "building $name into $out (once per version; later runs reuse it)"
  rm -rf "$out.tmp"; mkdir -p "$out.tmp"
  case "$name" in
    etcd) build_etcd ;;
    kwok) build_kwok ;;
    kube) build_kube ;;
    helm) build_simple helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION" \
            "-X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=34 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=34" ;;
    sops) build_simple sops github.com/getsops/sops/v3/cmd/sops "$SOPS_VERSION" ;;
    kustomize) build_simple kustomize sigs.k8s.io/kustomize/kustomize/v5 "$KUSTOMIZE_VERSION" ;;
    krew) build_module krew "sigs.k8s.io/krew v$KREW_VERSION" sigs.k8s.io/krew/cmd/krew
          mv "$out.tmp/krew" "$out.tmp/kubectl-krew" ;;
    # Through a local module like krew (`go install kapp@v` needs the proxy's version list, which some
    # proxies refuse); the version is stamped as kapp's own hack/build.sh does.
    kapp) build_module kapp "carvel.dev/kapp v$KAPP_VERSION" carvel.dev/kapp/cmd/kapp \
            "-X carvel.dev/kapp/pkg/kapp/version.Version=$KAPP_VERSION" ;;
  esac
  mv "$out.tmp" "$out"
  exec {lock}>&-
  log "built $name in $((SECONDS - started))s"
}

case "${1:-all}" in
  path) build "$2" >&2; d=$(dir_for "$2"); case "$2" in kube) echo "$d";; krew) echo "$d/kubectl-krew";; *) echo "$d/$2";; esac ;;
  dir) dir_for "$2" ;;
  all) for t in etcd kwok kube helm sops kustomize krew kapp; do build "$t"; done ;;
  cluster) for t in etcd kwok kube; do build "$t"; done ;;
  peers) for t in helm sops kustomize krew kapp; do build "$t"; done ;;
  *) for t in "$@"; do build "$t"; done ;;
esac
