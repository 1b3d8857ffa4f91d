# shellcheck shell=bash
# Served pods and the monitoring stack (sourced by up after load_profile; needs kc, $SIM, $STATE, $P_*).
#   start_podrun        podrun (podrun.go): network namespaces for pods, real processes for known images
#   deploy_monitoring   Prometheus in namespace monitoring (MONITORING=pods|blind), as a served pod
#   deploy_dcgm         the DCGM exporter simulator DaemonSet in gpu-operator (DCGM=live|frozen)
#   wait_monitoring     both Ready and answering through the API server's proxies, as kaic reaches them

PROMETHEUS_IMAGE=quay.io/prometheus/prometheus:$PROMETHEUS_VERSION
DCGM_IMAGE=nvcr.io/nvidia/k8s/dcgm-exporter:4.4.1-4.6.0-ubuntu22.04

start_podrun() {
  [ "$(id -u)" = 0 ] || die "profile $PROFILE serves pods from network namespaces, which needs root (CI runs as root)"
  command -v setpriv >/dev/null || die "served pods need setpriv (Debian util-linux): run testenv/ci-install"
  local dcgm_mode=correct
  [ "$DCGM" = frozen ] && dcgm_mode=frozen
  start_proc podrun "$SIM" podrun --kubeconfig="$KCFG" --state="$STATE" --cidr="$POD_CIDR" --index="$NET_ID" \
    --api-port="$P_API" --ca="$PKI/ca.crt" --health-addr="127.0.0.1:$P_PODRUN" \
    --program="llm-d-inference-sim=$(llmd_sim_bin)" --program="prometheus=$(prometheus_bin)" \
    $([ "$GATEWAY" = traefik ] && echo "--program=traefik=$(traefik_bin)") \
    --env="KAIC_TESTENV_DIR=$TESTENV_DIR" --env="KAIC_TESTENV_DCGM_MODE=$dcgm_mode" \
    --env="KAIC_TESTENV_STATE=$STATE"
  wait_for "podrun" 30 curl -fsS "http://127.0.0.1:$P_PODRUN/readyz"
}

# Prometheus discovers pods through the API server (kubernetes_sd, role pod) with its own service account,
# and keeps the pods annotated prometheus.io/scrape=true, the convention of the community Helm chart.
# MONITORING=blind: the same server scraping only itself and the exporter namespace, never workload pods.
prometheus_config() {
  local keep_namespaces=""
  [ "$MONITORING" = blind ] && keep_namespaces="
    namespaces:
      names: [gpu-operator, monitoring]"
  cat <<Y
global:
  scrape_interval: 2s
  evaluation_interval: 2s
scrape_configs:
- job_name: kubernetes-pods
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
deploy_dcgm() {
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
      nodeSelector: {nvidia.com/gpu.deploy.dcgm-exporter: "true"}
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

wait_monitoring() {
  if [ "$MONITORING" != none ]; then
    wait_for "Prometheus Ready" 120 kc -n monitoring wait --for=condition=Available deployment/prometheus --timeout=5s
    wait_for "Prometheus answering through the service proxy" 60 \
      kc get --raw "/api/v1/namespaces/monitoring/services/prometheus:web/proxy/api/v1/query?query=vector(1)"
  fi
  if [ "$DCGM" != none ]; then
    wait_for "DCGM exporter on every GPU node" 120 bash -c "[ \"\$('$K8S' kubectl --kubeconfig '$KCFG' -n gpu-operator \
      get daemonset nvidia-dcgm-exporter -o jsonpath='{.status.numberReady}')\" = \"\$('$K8S' kubectl --kubeconfig '$KCFG' \
      get nodes -l nvidia.com/gpu.deploy.dcgm-exporter=true -o name | wc -l)\" ]"
  fi
}
