# shellcheck shell=bash
# Karpenter's kwok provider (sigs.k8s.io/karpenter v1.14.1 ./kwok), the node autoscaler of profiles with
# NODE_AUTOSCALER=karpenter (sourced by up after podrun started; needs kc, $STATE, $P_API, $KARPENTER_*).
#   deploy_karpenter   CRDs, the chart's RBAC, instance types, KWOKNodeClass, NodePools, the controller pod
#   wait_karpenter     controller pod Ready and every NodePool Ready
#
# The controller is a served pod (podrun, image $KARPENTER_IMAGE -> the binary built by `build --only
# karpenter`) in namespace karpenter on a CPU node: it binds its metrics (8080) and health (8081) ports on
# every interface with no bind-address option, which inside the pod's own network namespace means the pod IP
# and the pod's loopback only. It reaches the API server through the pod's loopback (podrun forwards
# 127.0.0.1:$P_API there) with a kubeconfig naming the service account token and CA, as prometheus-adapter does.
#
# Nodes it creates are Node objects with annotation and label kwok.x-k8s.io/node=fake and providerID
# kwok://<name>, so testenv's kwok (--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake) makes
# them Ready; Karpenter then removes their karpenter.sh/unregistered taint.
#
# NodePools gpu (instance type kaic-karp-h100x4: 4 x nvidia.com/gpu) and amd-gpu (kaic-karp-mi300x4: 4 x
# amd.com/gpu), tainted nvidia.com/gpu=present:NoSchedule and amd.com/gpu=present:NoSchedule, so that only
# pods that tolerate the taint (an autoscaling check's pods) make Karpenter add nodes: every other test's
# pending pod leaves them alone. Limits: 8 accelerators each (two nodes).
# KARPENTER_MODE (profiles.sh): live   consolidation WhenEmptyOrUnderutilized after 10 s (default)
#                               stuck  the same pool with consolidateAfter Never: scale-up, never scale-down
#                               no-gpu instance types without any accelerator: GPU pods never get a node

KARPENTER_IMAGE=ko.local/sigs.k8s.io/karpenter/kwok:$KARPENTER_VERSION  # as `ko build --preserve-import-paths --local`
KARPENTER_NS=karpenter

# Instance types in the kwok provider's InstanceTypeOptions format (kwok/cloudprovider/helpers.go). Requirements
# of an offering become node labels (addInstanceLabels), which is how GPU nodes get their
# GPU-feature-discovery-like labels: a check tells the accelerator kind and model from them.
karpenter_offering() { # price [extra requirement JSON...]
  local price=$1 extra=""; shift
  for r in "$@"; do extra="$extra, $r"; done
  printf '[{"Price": %s, "Available": true, "Requirements": [
      {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand"]},
      {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["testenv-zone-a"]}%s]}]' "$price" "$extra"
}
karpenter_instance_types() {
  source "$TESTENV_DIR/gpu.env"
  local cpu gpu_nvidia gpu_amd
  karpenter_req() { printf '{"key": "%s", "operator": "In", "values": ["%s"]}' "$1" "$2"; }
  cpu=$(printf '{"name": "kaic-karp-cpu-8", "architecture": "amd64", "operatingSystems": ["linux"],
    "resources": {"cpu": "8", "memory": "32Gi", "pods": "110"}, "offerings": %s}' "$(karpenter_offering 0.4)")
  gpu_nvidia=$(printf '{"name": "kaic-karp-h100x4", "architecture": "amd64", "operatingSystems": ["linux"],
    "resources": {"cpu": "64", "memory": "512Gi", "pods": "110", "nvidia.com/gpu": "4"}, "offerings": %s}' \
    "$(karpenter_offering 12.3 "$(karpenter_req nvidia.com/gpu.present true)" "$(karpenter_req nvidia.com/gpu.product "$GPU_PRODUCT_LABEL")" \
      "$(karpenter_req nvidia.com/gpu.family "$GPU_FAMILY")" "$(karpenter_req nvidia.com/gpu.count 4)" \
      "$(karpenter_req nvidia.com/gpu.memory "$GPU_MEMORY_MIB")")")
  gpu_amd=$(printf '{"name": "kaic-karp-mi300x4", "architecture": "amd64", "operatingSystems": ["linux"],
    "resources": {"cpu": "64", "memory": "512Gi", "pods": "110", "amd.com/gpu": "4"}, "offerings": %s}' \
    "$(karpenter_offering 9.8 "$(karpenter_req feature.node.kubernetes.io/amd-gpu true)" \
      "$(karpenter_req amd.com/gpu.product-name AMD_Instinct_MI300X_OAM)" "$(karpenter_req amd.com/gpu.vram 192G)")")
  if [ "$KARPENTER_MODE" = no-gpu ]; then echo "[$cpu]"; else echo "[$cpu, $gpu_nvidia, $gpu_amd]"; fi
}

# The chart's RBAC (kwok/charts/templates: clusterrole.yaml, clusterrole-kwok.yaml, role.yaml, rolebinding.yaml)
# rendered for release karpenter in namespace karpenter: the few template expressions they use are
# substituted, the optional blocks (labels, additional annotations, additional rules) dropped.
karpenter_rbac() {
  local t="$1/kwok/charts/templates" f
  for f in clusterrole.yaml clusterrole-kwok.yaml role.yaml rolebinding.yaml; do
    echo "---"
    sed -e 's/{{ include "karpenter.fullname" \. }}/karpenter/g' \
        -e 's/{{ template "karpenter.serviceAccountName" \. }}/karpenter/g' \
        -e "s/{{ \.Release\.Namespace }}/$KARPENTER_NS/g" "$t/$f" | grep -v '{{' | grep -Ev '^ *(labels|annotations):$'
    echo
  done
}

# One NodePool per accelerator kind: only its instance type, tainted <resource>=present:NoSchedule (as GPU
# node pools commonly are), at most two 4-accelerator nodes, empty or underused nodes consolidated after
# $4 (Never: profile stuck-autoscaler).
karpenter_nodepool() { # name instance-type resource consolidateAfter
  cat <<Y
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: $1}
spec:
  template:
    metadata:
      labels: {kaic.dev/autoscaled: "true"}
    spec:
      nodeClassRef: {group: karpenter.kwok.sh, kind: KWOKNodeClass, name: default}
      taints:
      - {key: $3, value: present, effect: NoSchedule}
      requirements:
      - {key: node.kubernetes.io/instance-type, operator: In, values: [$2]}
      - {key: karpenter.sh/capacity-type, operator: In, values: [on-demand]}
      expireAfter: Never
  limits: {$3: "8"}
  disruption:
    consolidationPolicy: WhenEmptyOrUnderutilized
    consolidateAfter: $4
    budgets:
    - nodes: "100%"
Y
}

deploy_karpenter() {
  local src consolidate_after=10s
  src=$(karpenter_src)
  [ "$KARPENTER_MODE" = stuck ] && consolidate_after=Never
  kc apply --server-side -f "$src/kwok/charts/crds/" -f "$src/kwok/apis/crds/" >"$STATE/logs/apply-karpenter-crds.log"
  wait_for "Karpenter CRDs Established" 60 kc wait --for=condition=Established --timeout=5s \
    crd/nodepools.karpenter.sh crd/nodeclaims.karpenter.sh crd/kwoknodeclasses.karpenter.kwok.sh
  kc apply -f - >/dev/null <<Y
apiVersion: v1
kind: Namespace
metadata: {name: $KARPENTER_NS}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: karpenter, namespace: $KARPENTER_NS}
Y
  karpenter_rbac "$src" >"$STATE/karpenter-rbac.yaml"
  kc apply -f "$STATE/karpenter-rbac.yaml" >"$STATE/logs/apply-karpenter-rbac.log"
  karpenter_instance_types >"$STATE/karpenter-instance-types.json"
  served_pod_kubeconfig karpenter >"$STATE/karpenter-kubeconfig.yaml"
  kc -n "$KARPENTER_NS" create configmap karpenter --from-file=instance-types.json="$STATE/karpenter-instance-types.json" \
    --from-file=kubeconfig.yaml="$STATE/karpenter-kubeconfig.yaml" --dry-run=client -o yaml | kc apply -f - >/dev/null
  kc apply -f - >/dev/null <<Y
apiVersion: apps/v1
kind: Deployment
metadata:
  name: karpenter
  namespace: $KARPENTER_NS
  labels: {app.kubernetes.io/name: karpenter, app.kubernetes.io/instance: karpenter}
spec:
  replicas: 1
  selector:
    matchLabels: {app.kubernetes.io/name: karpenter, app.kubernetes.io/instance: karpenter}
  template:
    metadata:
      labels: {app.kubernetes.io/name: karpenter, app.kubernetes.io/instance: karpenter}
    spec:
      serviceAccountName: karpenter
      nodeSelector: {node.kubernetes.io/instance-type: kaic-cpu-16}
      containers:
      - name: controller
        image: $KARPENTER_IMAGE
        env:
        - {name: KUBECONFIG, value: /etc/karpenter/kubeconfig.yaml}
        - {name: INSTANCE_TYPES_FILE_PATH, value: /etc/karpenter/instance-types.json}
        - {name: DISABLE_LEADER_ELECTION, value: "true"}
        - name: SYSTEM_NAMESPACE
          valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
        - {name: KARPENTER_SERVICE, value: karpenter}
        - {name: METRICS_PORT, value: "8080"}
        - {name: HEALTH_PROBE_PORT, value: "8081"}
        - {name: CPU_REQUESTS, value: "200"}
        - {name: LOG_LEVEL, value: info}
        ports:
        - {name: http-metrics, containerPort: 8080}
        - {name: http, containerPort: 8081}
        resources:
          requests: {cpu: 200m, memory: 256Mi}
        volumeMounts:
        - {name: config, mountPath: /etc/karpenter}
      volumes:
      - {name: config, configMap: {name: karpenter}}
---
apiVersion: v1
kind: Service
metadata:
  name: karpenter
  namespace: $KARPENTER_NS
  labels: {app.kubernetes.io/name: karpenter, app.kubernetes.io/instance: karpenter}
spec:
  selector: {app.kubernetes.io/name: karpenter, app.kubernetes.io/instance: karpenter}
  ports:
  - {name: http-metrics, port: 8080, targetPort: http-metrics}
---
apiVersion: karpenter.kwok.sh/v1alpha1
kind: KWOKNodeClass
metadata: {name: default}
Y
  karpenter_nodepool gpu kaic-karp-h100x4 nvidia.com/gpu "$consolidate_after" | kc apply -f - >/dev/null
  karpenter_nodepool amd-gpu kaic-karp-mi300x4 amd.com/gpu "$consolidate_after" | kc apply -f - >/dev/null
}

wait_karpenter() {
  wait_for "Karpenter controller Ready" 120 kc -n "$KARPENTER_NS" wait --for=condition=Available deployment/karpenter --timeout=5s
  wait_for "Karpenter NodePools Ready (status condition Ready; see the controller log: kubectl -n $KARPENTER_NS logs deploy/karpenter)" \
    90 kc wait --for=condition=Ready nodepool --all --timeout=5s
}
