# shellcheck shell=bash
# controller-runtime AI operators as local processes (sourced by up after the control plane is ready),
# set up like Kueue (kueue.sh): JobSet v0.11.0 and LeaderWorkerSet v0.7.0.
#  * CRDs from the module zip.
#  * Webhook configurations from the module zip with every clientConfig.service rewritten to
#    url https://127.0.0.1:<wh><path> + caBundle, names prefixed <operator>- (as kustomize does), and the
#    pod webhooks limited to the operator's pods (objectSelector on its pod label, as upstream's
#    kustomize patches do).
#  * Serving cert: our serving.crt (IP SAN 127.0.0.1); internalCertManagement off; metrics off;
#    leader election off.
#  * WEBHOOKS=dead (profile dead-webhooks): every webhook points at 127.0.0.1:1, where nothing listens,
#    with failurePolicy Ignore.

# start_webhook_operator NAME BINARY SRC CONFIG_API CRD_DIR WEBHOOK_MANIFEST POD_LABEL WEBHOOK_PORT HEALTH_PORT
start_webhook_operator() {
  local name=$1 bin=$2 src=$3 config_api=$4 crds=$5 manifest=$6 pod_label=$7 wh=$8 health=$9
  local od="$STATE/$name" ca
  mkdir -p "$od/certs"
  cp "$PKI/serving.crt" "$od/certs/tls.crt"; cp "$PKI/serving.key" "$od/certs/tls.key"
  ca=$(base64 -w0 <"$PKI/ca.crt")
  cat >"$od/config.yaml" <<Y
apiVersion: $config_api
kind: Configuration
webhook: {host: 127.0.0.1, port: $wh, certDir: "$od/certs"}
health: {healthProbeBindAddress: "127.0.0.1:$health"}
metrics: {bindAddress: "0"}
leaderElection: {leaderElect: false}
internalCertManagement: {enable: false}
clientConnection: {qps: 100, burst: 200}
Y
  kc apply --server-side -f "$src/$crds/" >"$STATE/logs/apply-$name-crds.log"
  kc create --dry-run=client -o json -f "$src/$manifest" \
    | jq --arg base "https://127.0.0.1:$wh" --arg ca "$ca" --arg name "$name" --arg podlabel "$pod_label" \
      --argjson dead "$([ "$WEBHOOKS" = dead ] && echo true || echo false)" '
    (if .kind == "List" then .items else [.] end)
    | map(.metadata.name = $name + "-" + .metadata.name
      | .webhooks |= map(
          .clientConfig = {url: ((if $dead then "https://127.0.0.1:1" else $base end) + .clientConfig.service.path), caBundle: $ca}
          | if $dead then .failurePolicy = "Ignore" else . end
          | if (.name | test("^[mv]pod\\.kb\\.io$"))
            then .objectSelector = {matchExpressions: [{key: $podlabel, operator: "Exists"}]}
            else . end))
    | {apiVersion: "v1", kind: "List", items: .}' >"$od/webhooks.json"
  wait_for "$name CRDs established" 60 kc wait --for=condition=Established --timeout=5s -f "$src/$crds/"
  start_proc "$name" env KUBECONFIG="$KCFG" "$bin" --config="$od/config.yaml" --metrics-bind-address=0 \
    --health-probe-bind-address="127.0.0.1:$health" --leader-elect=false
  wait_for "$name /readyz" 120 curl -fsS "http://127.0.0.1:$health/readyz"
  # Register the webhooks only once the operator serves them (failurePolicy is Fail).
  kc apply -f "$od/webhooks.json" >"$STATE/logs/apply-$name-webhooks.log"
}

# wait_webhook_operator_ready NAME OBJECT_YAML: ready when a server-side dry run of the object (in
# namespace default) is admitted by its webhooks.
wait_webhook_operator_ready() {
  [ "$WEBHOOKS" = dead ] && return 0
  printf '%s\n' "$2" >"$STATE/$1/ready-probe.yaml"
  wait_for "$1 webhook (dry-run object admitted)" 60 \
    kc create --dry-run=server -o name -n default -f "$STATE/$1/ready-probe.yaml"
}

start_jobset() {
  start_webhook_operator jobset "$JOBSET" "$(jobset_src)" config.jobset.x-k8s.io/v1alpha1 config/components/crd/bases \
    config/components/webhook/manifests.yaml jobset.sigs.k8s.io/jobset-name "$P_JOBSET_WH" "$P_JOBSET_HEALTH"
}

wait_jobset_ready() {
  wait_webhook_operator_ready jobset "apiVersion: jobset.x-k8s.io/v1alpha2
kind: JobSet
metadata: {name: kaic-webhook-probe}
spec:
  replicatedJobs:
  - name: workers
    template: {spec: {template: {spec: {restartPolicy: Never, containers: [{name: c, image: busybox}]}}}}"
}

start_lws() {
  start_webhook_operator lws "$LWS" "$(lws_src)" config.lws.x-k8s.io/v1alpha1 config/crd/bases \
    config/webhook/manifests.yaml leaderworkerset.sigs.k8s.io/name "$P_LWS_WH" "$P_LWS_HEALTH"
}

# Agent Sandbox: its Sandbox CRD from the module zip (extensions off: no SandboxClaim/Template/WarmPool) and
# its controller, which creates each Sandbox's pod and sets Ready from it. Metrics and health on 127.0.0.1
# (upstream binds every interface by default).
start_agent_sandbox() {
  kc apply --server-side -f "$(agent_sandbox_src)/k8s/crds/agents.x-k8s.io_sandboxes.yaml" >"$STATE/logs/apply-agent-sandbox-crds.log"
  wait_for "Sandbox CRD Established" 60 kc wait --for=condition=Established --timeout=5s crd/sandboxes.agents.x-k8s.io
  start_proc agent-sandbox env KUBECONFIG="$KCFG" "$(agent_sandbox_bin)" --leader-elect=false \
    --metrics-bind-address="127.0.0.1:$P_AGENT_SANDBOX_METRICS" --health-probe-bind-address="127.0.0.1:$P_AGENT_SANDBOX_HEALTH"
}

wait_agent_sandbox_ready() {
  wait_for "Agent Sandbox controller /readyz" 60 curl -fsS "http://127.0.0.1:$P_AGENT_SANDBOX_HEALTH/readyz"
}

wait_lws_ready() {
  wait_webhook_operator_ready lws "apiVersion: leaderworkerset.x-k8s.io/v1
kind: LeaderWorkerSet
metadata: {name: kaic-webhook-probe}
spec:
  leaderWorkerTemplate:
    size: 1
    workerTemplate: {spec: {containers: [{name: c, image: busybox}]}}"
}
