# shellcheck shell=bash
# JobSet v0.11.0 as a local process (sourced by up after the control plane is ready), set up like Kueue:
#  * CRDs: config/components/crd/bases from the module zip.
#  * Webhook configurations: config/components/webhook/manifests.yaml with every clientConfig.service
#    rewritten to url https://127.0.0.1:<wh><path> + caBundle, names prefixed jobset- (as kustomize does),
#    and the pod webhooks limited to JobSet's pods (objectSelector jobset.sigs.k8s.io/jobset-name, as
#    upstream's kustomize patches do).
#  * Serving cert: our serving.crt (IP SAN 127.0.0.1); internalCertManagement off; metrics off.
#  * WEBHOOKS=dead (profile dead-webhooks): every webhook points at 127.0.0.1:1, where nothing listens,
#    with failurePolicy Ignore.

start_jobset() {
  local jd="$STATE/jobset" ca url src
  mkdir -p "$jd/certs"
  cp "$PKI/serving.crt" "$jd/certs/tls.crt"; cp "$PKI/serving.key" "$jd/certs/tls.key"
  ca=$(base64 -w0 <"$PKI/ca.crt")
  url="https://127.0.0.1:$P_JOBSET_WH"
  src=$(jobset_src)
  cat >"$jd/config.yaml" <<Y
apiVersion: config.jobset.x-k8s.io/v1alpha1
kind: Configuration
webhook: {host: 127.0.0.1, port: $P_JOBSET_WH, certDir: "$jd/certs"}
health: {healthProbeBindAddress: "127.0.0.1:$P_JOBSET_HEALTH"}
metrics: {bindAddress: "0"}
leaderElection: {leaderElect: false}
internalCertManagement: {enable: false}
clientConnection: {qps: 100, burst: 200}
Y
  kc apply --server-side -f "$src/config/components/crd/bases/" >"$STATE/logs/apply-jobset-crds.log"
  kc create --dry-run=client -o json -f "$src/config/components/webhook/manifests.yaml" \
    | jq --arg base "$url" --arg ca "$ca" --argjson dead "$([ "$WEBHOOKS" = dead ] && echo true || echo false)" '
    (if .kind == "List" then .items else [.] end)
    | map(.metadata.name = "jobset-" + .metadata.name
      | .webhooks |= map(
          .clientConfig = {url: ((if $dead then "https://127.0.0.1:1" else $base end) + .clientConfig.service.path), caBundle: $ca}
          | if $dead then .failurePolicy = "Ignore" else . end
          | if (.name | test("^[mv]pod\\.kb\\.io$"))
            then .objectSelector = {matchExpressions: [{key: "jobset.sigs.k8s.io/jobset-name", operator: "Exists"}]}
            else . end))
    | {apiVersion: "v1", kind: "List", items: .}' >"$jd/webhooks.json"
  wait_for "JobSet CRD established" 60 kc wait --for=condition=Established --timeout=5s crd/jobsets.jobset.x-k8s.io
  start_proc jobset env KUBECONFIG="$KCFG" "$JOBSET" --config="$jd/config.yaml" --metrics-bind-address=0 \
    --health-probe-bind-address="127.0.0.1:$P_JOBSET_HEALTH"
  wait_for "JobSet /readyz" 120 curl -fsS "http://127.0.0.1:$P_JOBSET_HEALTH/readyz"
  # Register the webhooks only once JobSet serves them (failurePolicy is Fail).
  kc apply -f "$jd/webhooks.json" >"$STATE/logs/apply-jobset-webhooks.log"
}

# JobSet is ready when its validating webhook answers: a server-side dry run of a JobSet is admitted.
wait_jobset_ready() {
  [ "$WEBHOOKS" = dead ] && return 0
  wait_for "JobSet webhook (dry-run JobSet admitted)" 60 bash -c '
    "$0" kubectl --kubeconfig "$1" create --dry-run=server -o name -f - <<J
apiVersion: jobset.x-k8s.io/v1alpha2
kind: JobSet
metadata: {name: kaic-webhook-probe, namespace: default}
spec:
  replicatedJobs:
  - name: workers
    template:
      spec:
        template:
          spec:
            restartPolicy: Never
            containers: [{name: c, image: busybox}]
J' "$K8S" "$KCFG"
}
