# shellcheck shell=bash
# Served pods and the monitoring stack (sourced by up after load_profile; needs kc, $SIM, $STATE, $P_*).
#   start_podrun        podrun (podrun.go): network namespaces for pods, real processes for known images
#   deploy_monitoring   Prometheus in namespace monitoring (MONITORING=pods|twice|blind), as a served pod
#   deploy_dcgm         the DCGM exporter simulator DaemonSet in gpu-operator (DCGM=live|frozen|partial)
#   deploy_adapter      prometheus-adapter in monitoring, the custom metrics API (CUSTOM_METRICS=adapter)
#   wait_monitoring     all Ready and answering through the API server's proxies, as kaic reaches them

PROMETHEUS_IMAGE=quay.io/prometheus/prometheus:$PROMETHEUS_VERSION
ADAPTER_IMAGE=registry.k8s.io/prometheus-adapter/prometheus-adapter:$PROMETHEUS_ADAPTER_VERSION
DCGM_IMAGE=nvcr.io/nvidia/k8s/dcgm-exporter:4.4.1-4.6.0-ubuntu22.04

start_podrun() {
  [ "$(id -u)" = 0 ] || die "profile $PROFILE serves pods from network namespaces, which needs root (CI runs as root)"
  command -v setpriv >/dev/null || die "served pods need setpriv (Debian util-linux): run testenv/ci-install"
  local dcgm_mode=correct
  [ "$DCGM" = frozen ] && dcgm_mode=frozen
  start_proc podrun "$SIM" podrun --kubeconfig="$KCFG" --state="$STATE" --cidr="$POD_CIDR" --index="$NET_ID" \
    --api-port="$P_API" --ca="$PKI/ca.crt" --health-addr="127.0.0.1:$P_PODRUN" \
    --program="llm-d-inference-sim=$(llmd_sim_bin)" --program="prometheus=$(prometheus_bin)" --program="shell=$(readlink -f /bin/sh)" \
    $([ "$CUSTOM_METRICS" = adapter ] && echo --program="prometheus-adapter=$(prometheus_adapter_bin)") \
    $(gateway_on traefik && echo "--program=traefik=$(traefik_bin)") \
    $(gateway_on inference && echo "--program=envoy=$(envoy_bin) --program=lwepp=$(lwepp_bin) --program=epp=$(epp_bin)") \
    $([ "$NODE_AUTOSCALER" = karpenter ] && echo --program="karpenter=$(karpenter_bin)") \
    $([ "$PD_SIDECAR" = 1 ] && echo --program="pd-sidecar=$(pd_sidecar_bin)") \
    $([ "$POD_NETWORK" = isolated ] && echo --isolate-pods) \
    --nics="$NICS" $([ "$NICS" != none ] && echo --program="busybox=$(command -v busybox)") \
    --pods-dir="$PODS_DIR" --file="gpu.env=$TESTENV_DIR/gpu.env" \
    --env="KAIC_TESTENV_DIR=$PODS_DIR/share" --env="KAIC_TESTENV_DCGM_MODE=$dcgm_mode" \
    --env="KAIC_TESTENV_STATE=$STATE"
  wait_for "podrun" 30 curl -fsS "http://127.0.0.1:$P_PODRUN/readyz"
}

# Prometheus discovers pods through the API server (kubernetes_sd, role pod) with its own service account,
# and keeps the pods annotated prometheus.io/scrape=true, the convention of the community Helm chart.
# MONITORING=blind: the same server scraping only itself and the exporter namespace, never workload pods.
# MONITORING=twice: every annotated pod collected by two jobs, as kube-prometheus-stack does with a PodMonitor
# job beside the common additionalScrapeConfigs annotation job: each pod has two series of every metric, one
# per job, each with the pod's whole count (a healthy set-up; a sum over both counts every request twice).
prometheus_config() {
  cat <<Y
global:
  scrape_interval: 2s
  evaluation_interval: 2s
scrape_configs:
Y
  pods_job kubernetes-pods
  [ "$MONITORING" = twice ] && pods_job podMonitor/monitoring/workloads/0
  return 0
}

# One scrape job (named $1) of the pods annotated prometheus.io/scrape=true.
pods_job() {
  local keep_namespaces=""
  [ "$MONITORING" = blind ] && keep_namespaces="
    namespaces:
      names: [gpu-operator, monitoring]"
  cat <<Y
- job_name: $1
  kubernetes_sd_configs:
  - role: pod
    api_server: https://127.0.0.1:$P_API
    authorization:
      credentials_file: /var/run/secrets/kubernetes.io/serviceaccount/token
    tls_config:
      ca_file: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt$keep_namespaces
  relabel_configs:
  - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape]
    action: keep
    regex: "true"
  - source_labels: [__meta_kubernetes_pod_phase]
    action: drop
    regex: Pending|Succeeded|Failed
  - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_path]
    action: replace
    target_label: __metrics_path__
    regex: (.+)
  - source_labels: [__address__, __meta_kubernetes_pod_annotation_prometheus_io_port]
    action: replace
    regex: ([^:]+)(?::\\d+)?;(\\d+)
    replacement: \$1:\$2
    target_label: __address__
  - source_labels: [__meta_kubernetes_namespace]
    target_label: namespace
  - source_labels: [__meta_kubernetes_pod_name]
    target_label: pod
  - source_labels: [__meta_kubernetes_pod_node_name]
    target_label: node
Y
}

deploy_monitoring() {
  kc apply -f - >/dev/null <<Y
apiVersion: v1
kind: Namespace
metadata: {name: monitoring}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: prometheus, namespace: monitoring}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: testenv-prometheus}
rules:
- apiGroups: [""]
  resources: [pods, services, endpoints, nodes]
  verbs: [get, list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: testenv-prometheus}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: testenv-prometheus}
subjects:
- {kind: ServiceAccount, name: prometheus, namespace: monitoring}
Y
  prometheus_config | kc -n monitoring create configmap prometheus-config --from-file=prometheus.yml=/dev/stdin \
    --dry-run=client -o yaml | kc apply -f - >/dev/null
  kc apply -f - >/dev/null <<Y
apiVersion: apps/v1
kind: Deployment
metadata:
  name: prometheus
  namespace: monitoring
  labels: {app.kubernetes.io/name: prometheus}
spec:
  replicas: 1
  selector:
    matchLabels: {app.kubernetes.io/name: prometheus}
  template:
    metadata:
      labels: {app.kubernetes.io/name: prometheus}
    spec:
      serviceAccountName: prometheus
      containers:
      - name: prometheus
        image: $PROMETHEUS_IMAGE
        args: [--config.file=/etc/prometheus/prometheus.yml, --storage.tsdb.path=/prometheus,
               --storage.tsdb.retention.time=2h, --web.listen-address=:9090]
        ports:
        - {name: web, containerPort: 9090}
        resources:
          requests: {cpu: 100m, memory: 256Mi}
        volumeMounts:
        - {name: config, mountPath: /etc/prometheus}
        - {name: data, mountPath: /prometheus}
      volumes:
      - name: config
        configMap: {name: prometheus-config}
      - name: data
        emptyDir: {}
---
apiVersion: v1
kind: Service
metadata:
  name: prometheus
  namespace: monitoring
  labels: {app.kubernetes.io/name: prometheus}
spec:
  selector: {app.kubernetes.io/name: prometheus}
  ports:
  - {name: web, port: 9090, targetPort: web}
Y
}

# The exporter as NVIDIA's GPU Operator deploys it: a DaemonSet on the GPU nodes, a Service, the pod
# labels and port of dcgm-exporter; the simulator reads pods and claims with its own service account.
# DCGM=partial: the DaemonSet's node selector also names gpu-node-0, so every other GPU node runs no exporter
# (a GPU Operator whose dcgm-exporter is switched off on one pool).
deploy_dcgm() {
  local only_node=""
  [ "$DCGM" = partial ] && only_node=", kubernetes.io/hostname: gpu-node-0"
  kc apply -f - >/dev/null <<Y
apiVersion: v1
kind: Namespace
metadata: {name: gpu-operator}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: nvidia-dcgm-exporter, namespace: gpu-operator}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: testenv-dcgm-exporter}
rules:
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch]
- apiGroups: [resource.k8s.io]
  resources: [resourceclaims]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: testenv-dcgm-exporter}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: testenv-dcgm-exporter}
subjects:
- {kind: ServiceAccount, name: nvidia-dcgm-exporter, namespace: gpu-operator}
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: nvidia-dcgm-exporter
  namespace: gpu-operator
  labels: {app: nvidia-dcgm-exporter}
spec:
  selector:
    matchLabels: {app: nvidia-dcgm-exporter}
  template:
    metadata:
      labels: {app: nvidia-dcgm-exporter}
      annotations: {prometheus.io/scrape: "true", prometheus.io/port: "9400"}
    spec:
      serviceAccountName: nvidia-dcgm-exporter
      nodeSelector: {nvidia.com/gpu.deploy.dcgm-exporter: "true"$only_node}
      tolerations:
      - operator: Exists
      containers:
      - name: nvidia-dcgm-exporter
        image: $DCGM_IMAGE
        args: [--listen=:9400, --sa-dir=/var/run/secrets/kubernetes.io/serviceaccount]
        env:
        - name: NODE_NAME
          valueFrom: {fieldRef: {fieldPath: spec.nodeName}}
        ports:
        - {name: metrics, containerPort: 9400}
        resources:
          requests: {cpu: 10m, memory: 64Mi}
---
apiVersion: v1
kind: Service
metadata:
  name: nvidia-dcgm-exporter
  namespace: gpu-operator
  labels: {app: nvidia-dcgm-exporter}
spec:
  selector: {app: nvidia-dcgm-exporter}
  ports:
  - {name: metrics, port: 9400, targetPort: metrics}
Y
}

# The adapter's rules: vLLM's per-pod gauges as custom metrics of pods (and namespaces), colons replaced
# (vllm:num_requests_waiting -> vllm_num_requests_waiting), and the request rate from the success counter.
adapter_rules() {
  cat <<'Y'
rules:
- seriesQuery: '{__name__=~"^vllm:(num_requests_waiting|num_requests_running|kv_cache_usage_perc)$",namespace!="",pod!=""}'
  resources:
    overrides:
      namespace: {resource: namespace}
      pod: {resource: pod}
  name:
    matches: "^vllm:(.*)$"
    as: "vllm_${1}"
  metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)'
- seriesQuery: '{__name__="vllm:request_success_total",namespace!="",pod!=""}'
  resources:
    overrides:
      namespace: {resource: namespace}
      pod: {resource: pod}
  name:
    matches: "^vllm:request_success_total$"
    as: "vllm_requests_per_second"
  metricsQuery: 'sum(rate(<<.Series>>{<<.LabelMatchers>>}[1m])) by (<<.GroupBy>>)'
Y
}

# prometheus-adapter as upstream's deploy/manifests install it (ServiceAccount, auth-delegator, the
# extension-apiserver-authentication reader, read access to what it maps, a self-signed serving cert in
# --cert-dir, APIServices v1beta1/v1beta2.custom.metrics.k8s.io), as a served pod. testenv has no cluster DNS
# or ClusterIPs, so the adapter reaches Prometheus through the API server's service proxy
# (https://127.0.0.1:<api>/api/v1/namespaces/monitoring/services/prometheus:web/proxy/, its service account
# token): the API server resolves the Service's endpoints at every request, as a ClusterIP would. The adapter
# talks to the API server with a kubeconfig naming its service account files (podrun rewrites those paths).
# The aggregator reaches the adapter at its pod IP (kube-apiserver --enable-aggregator-routing=true).
deploy_adapter() {
  kc apply -f - >/dev/null <<Y
apiVersion: v1
kind: ServiceAccount
metadata: {name: prometheus-adapter, namespace: monitoring}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: testenv-prometheus-adapter}
rules:
- apiGroups: [""]
  resources: [nodes, namespaces, pods, services]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: testenv-prometheus-adapter}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: testenv-prometheus-adapter}
subjects:
- {kind: ServiceAccount, name: prometheus-adapter, namespace: monitoring}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: testenv-prometheus-adapter:system:auth-delegator}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:auth-delegator}
subjects:
- {kind: ServiceAccount, name: prometheus-adapter, namespace: monitoring}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: testenv-prometheus-adapter-auth-reader, namespace: kube-system}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: extension-apiserver-authentication-reader}
subjects:
- {kind: ServiceAccount, name: prometheus-adapter, namespace: monitoring}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: testenv-prometheus-adapter-query, namespace: monitoring}
rules:
- apiGroups: [""]
  resources: [services/proxy]
  resourceNames: ["prometheus:web"]
  verbs: [get, create]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: testenv-prometheus-adapter-query, namespace: monitoring}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: testenv-prometheus-adapter-query}
subjects:
- {kind: ServiceAccount, name: prometheus-adapter, namespace: monitoring}
Y
  local sa=/var/run/secrets/kubernetes.io/serviceaccount
  adapter_rules >"$STATE/adapter-config.yaml"
  served_pod_kubeconfig prometheus-adapter >"$STATE/adapter-kubeconfig.yaml"
  kc -n monitoring create configmap prometheus-adapter --from-file=config.yaml="$STATE/adapter-config.yaml" \
    --from-file=kubeconfig.yaml="$STATE/adapter-kubeconfig.yaml" --dry-run=client -o yaml | kc apply -f - >/dev/null
  kc apply -f - >/dev/null <<Y
apiVersion: apps/v1
kind: Deployment
metadata:
  name: prometheus-adapter
  namespace: monitoring
  labels: {app.kubernetes.io/name: prometheus-adapter, app.kubernetes.io/component: metrics-adapter}
spec:
  replicas: 1
  selector:
    matchLabels: {app.kubernetes.io/name: prometheus-adapter}
  template:
    metadata:
      labels: {app.kubernetes.io/name: prometheus-adapter, app.kubernetes.io/component: metrics-adapter}
    spec:
      serviceAccountName: prometheus-adapter
      containers:
      - name: prometheus-adapter
        image: $ADAPTER_IMAGE
        args:
        - --cert-dir=/var/run/serving-cert
        - --config=/etc/adapter/config.yaml
        - --lister-kubeconfig=/etc/adapter/kubeconfig.yaml
        - --authentication-kubeconfig=/etc/adapter/kubeconfig.yaml
        - --authorization-kubeconfig=/etc/adapter/kubeconfig.yaml
        - --metrics-relist-interval=5s
        - --prometheus-url=https://127.0.0.1:$P_API/api/v1/namespaces/monitoring/services/prometheus:web/proxy/
        - --prometheus-token-file=$sa/token
        - --prometheus-ca-file=$sa/ca.crt
        - --secure-port=6443
        ports:
        - {name: https, containerPort: 6443}
        resources:
          requests: {cpu: 100m, memory: 128Mi}
        volumeMounts:
        - {name: tmpfs, mountPath: /tmp}
        - {name: serving-cert, mountPath: /var/run/serving-cert}
        - {name: config, mountPath: /etc/adapter}
      volumes:
      - {name: tmpfs, emptyDir: {}}
      - {name: serving-cert, emptyDir: {}}
      - {name: config, configMap: {name: prometheus-adapter}}
---
apiVersion: v1
kind: Service
metadata:
  name: prometheus-adapter
  namespace: monitoring
  labels: {app.kubernetes.io/name: prometheus-adapter}
spec:
  selector: {app.kubernetes.io/name: prometheus-adapter}
  ports:
  - {name: https, port: 443, targetPort: https}
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v1beta1.custom.metrics.k8s.io}
spec:
  group: custom.metrics.k8s.io
  version: v1beta1
  groupPriorityMinimum: 100
  versionPriority: 100
  insecureSkipTLSVerify: true
  service: {namespace: monitoring, name: prometheus-adapter, port: 443}
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v1beta2.custom.metrics.k8s.io}
spec:
  group: custom.metrics.k8s.io
  version: v1beta2
  groupPriorityMinimum: 100
  versionPriority: 200
  insecureSkipTLSVerify: true
  service: {namespace: monitoring, name: prometheus-adapter, port: 443}
Y
}

wait_monitoring() {
  if [ "$MONITORING" != none ]; then
    wait_for "Prometheus Ready" 120 kc -n monitoring wait --for=condition=Available deployment/prometheus --timeout=5s
    wait_for "Prometheus answering through the service proxy" 60 \
      kc get --raw "/api/v1/namespaces/monitoring/services/prometheus:web/proxy/api/v1/query?query=vector(1)"
  fi
  if [ "$DCGM" = partial ]; then
    wait_for "DCGM exporter on gpu-node-0" 120 bash -c "[ \"\$('$K8S' kubectl --kubeconfig '$KCFG' -n gpu-operator \
      get daemonset nvidia-dcgm-exporter -o jsonpath='{.status.numberReady}')\" = 1 ]"
  elif [ "$DCGM" != none ]; then
    wait_for "DCGM exporter on every GPU node" 120 bash -c "[ \"\$('$K8S' kubectl --kubeconfig '$KCFG' -n gpu-operator \
      get daemonset nvidia-dcgm-exporter -o jsonpath='{.status.numberReady}')\" = \"\$('$K8S' kubectl --kubeconfig '$KCFG' \
      get nodes -l nvidia.com/gpu.deploy.dcgm-exporter=true -o name | wc -l)\" ]"
  fi
  if [ "$CUSTOM_METRICS" = adapter ]; then
    wait_for "prometheus-adapter Ready" 120 kc -n monitoring wait --for=condition=Available deployment/prometheus-adapter --timeout=5s
    wait_for "APIService v1beta1.custom.metrics.k8s.io Available" 90 \
      kc wait --for=condition=Available apiservice/v1beta1.custom.metrics.k8s.io --timeout=5s
  fi
}
