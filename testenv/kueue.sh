# shellcheck shell=bash
# Kueue v0.19.2 as a local process (sourced by up after the control plane is ready).
#  * CRDs: config/components/crd/bases from the module zip; the 5 CRDs that upstream
#    patches for conversion get spec.conversion pointing at https://127.0.0.1:<wh>/convert.
#  * Webhook configurations: config/components/webhook/manifests.yaml with every
#    clientConfig.service rewritten to url https://127.0.0.1:<wh><path> + caBundle, names
#    prefixed kueue- (as kustomize does), workload-framework webhooks excluding
#    kube-system and kueue-system (as upstream's kustomization does).
#  * Serving cert: our serving.crt (IP SAN 127.0.0.1); internalCertManagement off.
#  * Kueue reads its metrics cert from the hard-coded /etc/kueue/metrics/certs when
#    internalCertManagement is off (cmd/kueue/main.go), so we create one there (root) once.
#  * Its configuration is also in ConfigMap kueue-system/kueue-manager-config (key
#    controller_manager_config.yaml), where a real install keeps it.
#  * Queues (stable names, part of the interface): ResourceFlavor default-flavor,
#    ClusterQueue kaic-cluster-queue, LocalQueue kaic-queue in namespace default.

KUEUE_METRICS_CERTS=/etc/kueue/metrics/certs

ensure_kueue_metrics_cert() {
  [ -s "$KUEUE_METRICS_CERTS/tls.crt" ] && [ -s "$KUEUE_METRICS_CERTS/tls.key" ] && return 0
  mkdir -p "$KUEUE_METRICS_CERTS" 2>/dev/null || die "Kueue needs a metrics cert in $KUEUE_METRICS_CERTS (hard-coded in Kueue when internalCertManagement is off) and it cannot be created by $(id -un). Run testenv/ci-install as root once."
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
    -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
    -keyout "$KUEUE_METRICS_CERTS/tls.key" -out "$KUEUE_METRICS_CERTS/tls.crt" 2>/dev/null \
    || die "cannot write Kueue metrics cert to $KUEUE_METRICS_CERTS"
}

start_kueue() {
  ensure_kueue_metrics_cert
  local kd="$STATE/kueue" ca url
  mkdir -p "$kd/certs"
  cp "$PKI/serving.crt" "$kd/certs/tls.crt"; cp "$PKI/serving.key" "$kd/certs/tls.key"
  ca=$(base64 -w0 <"$PKI/ca.crt")
  url="https://127.0.0.1:$P_KUEUE_WH"
  local wfpr="waitForPodsReady: {timeout: 5m, blockAdmission: true}"
  [ "$KUEUE_WAIT_FOR_PODS_READY" = 1 ] || wfpr="# waitForPodsReady left at Kueue's v1beta2 default (timeout 30m, blockAdmission false)"
  cat >"$kd/config.yaml" <<Y
apiVersion: config.kueue.x-k8s.io/v1beta2
kind: Configuration
namespace: kueue-system
health: {healthProbeBindAddress: "127.0.0.1:$P_KUEUE_HEALTH"}
metrics: {bindAddress: "127.0.0.1:$P_KUEUE_METRICS"}
webhook: {host: 127.0.0.1, port: $P_KUEUE_WH, certDir: "$kd/certs"}
leaderElection: {leaderElect: false}
internalCertManagement: {enable: false}
clientConnection: {qps: 100, burst: 200}
integrations: {frameworks: ["batch/job"]}
$wfpr
Y
  kc create namespace kueue-system --dry-run=client -o yaml | kc apply -f - >/dev/null
  # Where Kueue's manifests and Helm chart keep this configuration (kaic reads waitForPodsReady there).
  kc -n kueue-system create configmap kueue-manager-config --from-file=controller_manager_config.yaml="$kd/config.yaml" \
    --dry-run=client -o yaml | kc apply -f - >/dev/null
  # CRDs, with conversion webhooks as upstream's kustomize patches add them.
  kc create --dry-run=client -o json -f "$KUEUE_SRC/config/components/crd/bases/" | jq --arg url "$url/convert" --arg ca "$ca" '
    (if .kind == "List" then .items else [.] end)
    | map(if (.metadata.name | IN("localqueues.kueue.x-k8s.io","clusterqueues.kueue.x-k8s.io","cohorts.kueue.x-k8s.io","workloads.kueue.x-k8s.io","multikueueclusters.kueue.x-k8s.io"))
          then .spec.conversion = {strategy: "Webhook", webhook: {clientConfig: {url: $url, caBundle: $ca}, conversionReviewVersions: ["v1"]}}
          else . end)
    | {apiVersion: "v1", kind: "List", items: .}' >"$kd/crds.json"
  kc apply --server-side --force-conflicts -f "$kd/crds.json" >"$STATE/logs/apply-kueue-crds.log"
  # WEBHOOKS=dead (profile dead-webhooks): every webhook points at 127.0.0.1:1, where nothing
  # listens, with failurePolicy Ignore — a Kueue whose webhook pods are gone and whose API admits anything.
  kc create --dry-run=client -o json -f "$KUEUE_SRC/config/components/webhook/manifests.yaml" \
    | jq --arg base "$url" --arg ca "$ca" --argjson dead "$([ "$WEBHOOKS" = dead ] && echo true || echo false)" '
    (if .kind == "List" then .items else [.] end)
    | map(.metadata.name = "kueue-" + .metadata.name
      | .webhooks |= map(
          .clientConfig = {url: ((if $dead then "https://127.0.0.1:1" else $base end) + .clientConfig.service.path), caBundle: $ca}
          | if $dead then .failurePolicy = "Ignore" else . end
          | if (.name | test("^[mv](appwrapper|deployment|jaxjob|job|jobset|leaderworkerset|mpijob|paddlejob|pod|pytorchjob|raycluster|rayjob|rayservice|sparkapplication|statefulset|tfjob|trainjob|xgboostjob)\\.kb\\.io$"))
            then .namespaceSelector = {matchExpressions: [{key: "kubernetes.io/metadata.name", operator: "NotIn", values: ["kube-system", "kueue-system"]}]}
            else . end))
    | {apiVersion: "v1", kind: "List", items: .}' >"$kd/webhooks.json"
  kc wait --for=condition=Established --timeout=60s crd/clusterqueues.kueue.x-k8s.io crd/localqueues.kueue.x-k8s.io \
    crd/workloads.kueue.x-k8s.io crd/resourceflavors.kueue.x-k8s.io >/dev/null
  start_proc kueue env KUBECONFIG="$KCFG" "$KUEUE" --config="$kd/config.yaml" --kubeconfig="$KCFG" \
    --feature-gates=VisibilityOnDemand=false --zap-log-level=info
  wait_for "Kueue /readyz" 120 curl -fsS "http://127.0.0.1:$P_KUEUE_HEALTH/readyz"
  # Register the webhooks only once Kueue serves them (failurePolicy is Fail).
  kc apply -f "$kd/webhooks.json" >"$STATE/logs/apply-kueue-webhooks.log"
  local gpu_quota=8
  [ "$PROFILE" = partial-gang ] && gpu_quota=16  # over-committed on purpose, see README
  cat >"$kd/queues.yaml" <<Y
apiVersion: kueue.x-k8s.io/v1beta2
kind: ResourceFlavor
metadata: {name: default-flavor}
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: ClusterQueue
metadata: {name: kaic-cluster-queue}
spec:
  namespaceSelector: {}
  resourceGroups:
  - coveredResources: ["cpu", "memory", "nvidia.com/gpu"]
    flavors:
    - name: default-flavor
      resources:
      - {name: cpu, nominalQuota: "160"}
      - {name: memory, nominalQuota: 1152Gi}
      - {name: nvidia.com/gpu, nominalQuota: $gpu_quota}
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: LocalQueue
metadata: {name: kaic-queue, namespace: default}
spec: {clusterQueue: kaic-cluster-queue}
Y
  wait_for "Kueue queues accepted by its webhooks" 60 kc apply -f "$kd/queues.yaml"
}

# Kueue is ready when: /readyz ok, the Job webhook suspends a queued Job (server dry-run),
# and the ClusterQueue is Active.
wait_kueue_ready() {
  [ "$WEBHOOKS" = dead ] || wait_for "Kueue Job webhook (dry-run Job is suspended)" 60 bash -c '
    out=$("$0" kubectl --kubeconfig "$1" create --dry-run=server -o jsonpath="{.spec.suspend}" -f - <<J
apiVersion: batch/v1
kind: Job
metadata: {name: kaic-webhook-probe, namespace: default, labels: {kueue.x-k8s.io/queue-name: kaic-queue}}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox}]
J
) && [ "$out" = true ]' "$K8S" "$KCFG"
  wait_for "ClusterQueue kaic-cluster-queue Active" 60 kc wait --for=condition=Active --timeout=5s clusterqueue/kaic-cluster-queue
}
