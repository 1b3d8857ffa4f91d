# shellcheck shell=bash
# PodGroup-based gang schedulers as local processes (sourced by up after the control plane is ready).
# Each runs as a second scheduler beside kube-scheduler and handles only pods that name it:
#
#  * Volcano v1.10.0 vc-scheduler, schedulerName `volcano`. CRDs from config/crd/volcano/bases of the
#    module zip; the scheduler creates its `default` queue itself. Its configuration is upstream's default
#    (actions enqueue, allocate, backfill; the gang plugin in the first tier).
#  * scheduler-plugins coscheduling (addons/coscheduling), schedulerName `scheduler-plugins-scheduler`, as
#    the project's Helm chart names its second scheduler, with its PodGroup controller. CRDs from
#    config/crd/bases of the scheduler-plugins module zip. The scheduler runs with
#    --pod-max-in-unschedulable-pods-duration=5s: coscheduling retries a rejected gang only on a pod or
#    PodGroup event, or when kube-scheduler flushes its unschedulable pool (5 min by default); in a quiet
#    test cluster nothing else wakes it, and kaic allows for the full 5 min on real clusters.
#  * NVIDIA KAI scheduler v0.12.0 (addons/kai), schedulerName `kai-scheduler`: scheduler, binder (the
#    scheduler decides, the binder binds through BindRequests) and podgrouper (which gives every pod with
#    an owner a PodGroup of its own making, as on a real installation). CRDs from deployments/kai-scheduler/crds of
#    the module zip, and the queues its Helm chart creates: default-parent-queue and its child
#    default-queue, unlimited. The scheduler runs upstream's default configuration.
#
# POD_GROUP_GANG=0 (profile partial-pod-groups) breaks each the way it can be broken: Volcano and
# coscheduling run without their gang plugins, so they bind a gang's pods one by one as they fit; KAI's
# gang logic is part of its allocate action and has no switch, so KAI runs without its binder and nothing
# it schedules is ever bound.

start_volcano() {
  local vd="$STATE/volcano" src
  mkdir -p "$vd"
  src=$(volcano_src)
  kc apply --server-side -f "$src/config/crd/volcano/bases/" >"$STATE/logs/apply-volcano-crds.log"
  local gang="  - name: gang"
  [ "$POD_GROUP_GANG" = 1 ] || gang="  # gang plugin left out on purpose (profile $PROFILE)"
  cat >"$vd/scheduler.conf" <<Y
actions: "enqueue, allocate, backfill"
tiers:
- plugins:
  - name: priority
$gang
  - name: conformance
- plugins:
  - name: overcommit
  - name: drf
  - name: predicates
  - name: proportion
  - name: nodeorder
Y
  # Retried: right after the apply a CRD may have no conditions yet, which kubectl wait treats as an error.
  wait_for "Volcano CRDs established" 60 kc wait --for=condition=Established --timeout=5s \
    crd/podgroups.scheduling.volcano.sh crd/queues.scheduling.volcano.sh
  start_proc volcano "$VOLCANO" --kubeconfig="$KCFG" --scheduler-conf="$vd/scheduler.conf" \
    --listen-address="127.0.0.1:$P_VOLCANO_METRICS" --healthz-address="127.0.0.1:$P_VOLCANO_HEALTH" --enable-healthz=true \
    --leader-elect=false --schedule-period=1s --cache-dumper=false --logtostderr -v=2
}

# WITH_VOLCANO=crds (profile exotic): Volcano's CRDs and a default queue, but no scheduler, as a cluster
# where Volcano was uninstalled and its CRDs left behind: kaic must report it not operational, not failed.
volcano_crds_only() {
  kc apply --server-side -f "$(volcano_src)/config/crd/volcano/bases/" >"$STATE/logs/apply-volcano-crds.log"
  wait_for "Volcano CRDs established" 60 kc wait --for=condition=Established --timeout=5s \
    crd/podgroups.scheduling.volcano.sh crd/queues.scheduling.volcano.sh
}

wait_volcano_ready() {
  wait_for "Volcano /healthz" 60 curl -fsS "http://127.0.0.1:$P_VOLCANO_HEALTH/healthz"
  wait_for "Volcano default queue" 60 kc get queue.scheduling.volcano.sh default
}

start_coscheduling() {
  local cd="$STATE/coscheduling" src
  mkdir -p "$cd"
  src=$(scheduler_plugins_src)
  kc apply --server-side -f "$src/config/crd/bases/scheduling.x-k8s.io_podgroups.yaml" \
    -f "$src/config/crd/bases/scheduling.x-k8s.io_elasticquotas.yaml" >"$STATE/logs/apply-coscheduling-crds.log"
  local plugins
  if [ "$POD_GROUP_GANG" = 1 ]; then
    plugins="  plugins:
    multiPoint: {enabled: [{name: Coscheduling}]}
    queueSort: {enabled: [{name: Coscheduling}], disabled: [{name: \"*\"}]}
  pluginConfig:
  - name: Coscheduling
    args: {permitWaitingTimeSeconds: 10}"
  else
    plugins="  # Coscheduling left out on purpose (profile $PROFILE)"
  fi
  cat >"$cd/config.yaml" <<Y
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
leaderElection: {leaderElect: false}
clientConnection: {kubeconfig: "$KCFG", qps: 100, burst: 200}
profiles:
- schedulerName: scheduler-plugins-scheduler
$plugins
Y
  wait_for "coscheduling CRDs established" 60 kc wait --for=condition=Established --timeout=5s \
    crd/podgroups.scheduling.x-k8s.io crd/elasticquotas.scheduling.x-k8s.io
  start_proc coscheduling-scheduler "$COSCHEDULING" scheduler --config="$cd/config.yaml" \
    --bind-address=127.0.0.1 --secure-port="$P_COSCHED" \
    --authentication-kubeconfig="$KCFG" --authorization-kubeconfig="$KCFG" \
    --pod-max-in-unschedulable-pods-duration=5s
  start_proc coscheduling-controller env KUBECONFIG="$KCFG" "$COSCHEDULING" controller \
    --metricsAddr="127.0.0.1:$P_COSCHED_CTL_METRICS" --probeAddr="127.0.0.1:$P_COSCHED_CTL_HEALTH" --qps=50 --burst=100
}

wait_coscheduling_ready() {
  wait_for "coscheduling scheduler /readyz" 60 curl -fsSk "https://127.0.0.1:$P_COSCHED/readyz"
  wait_for "coscheduling controller /readyz" 60 curl -fsS "http://127.0.0.1:$P_COSCHED_CTL_HEALTH/readyz"
}

start_kai() {
  local kd="$STATE/kai" src
  mkdir -p "$kd"
  src=$(kai_src)
  kc apply --server-side -f "$src/deployments/kai-scheduler/crds/" >"$STATE/logs/apply-kai-crds.log"
  wait_for "KAI CRDs established" 60 kc wait --for=condition=Established --timeout=5s \
    crd/queues.scheduling.run.ai crd/podgroups.scheduling.run.ai crd/bindrequests.scheduling.run.ai
  local resources="resources: {cpu: {quota: 0, limit: -1, overQuotaWeight: 1}, gpu: {quota: 0, limit: -1, overQuotaWeight: 1},
    memory: {quota: 0, limit: -1, overQuotaWeight: 1}}"
  kc apply -f - >"$STATE/logs/apply-kai-queues.log" <<Y
apiVersion: scheduling.run.ai/v2
kind: Queue
metadata: {name: default-parent-queue}
spec:
  $resources
---
apiVersion: scheduling.run.ai/v2
kind: Queue
metadata: {name: default-queue}
spec:
  parentQueue: default-parent-queue
  $resources
Y
  kc create namespace kai-scheduler --dry-run=client -o yaml | kc apply -f - >/dev/null
  kc create namespace kai-resource-reservation --dry-run=client -o yaml | kc apply -f - >/dev/null
  start_proc kai-scheduler env KUBECONFIG="$KCFG" "$KAI" scheduler --scheduler-name=kai-scheduler \
    --listen-address="127.0.0.1:$P_KAI_METRICS" --plugin-server-address="127.0.0.1:$P_KAI_PLUGINS" --schedule-period=1s
  if [ "$POD_GROUP_GANG" = 1 ]; then
    # The binder serves no health checks: its probe port answering at all is what readiness can see.
    start_proc kai-binder env KUBECONFIG="$KCFG" "$KAI" binder --metrics-bind-address=0 \
      --health-probe-bind-address="127.0.0.1:$P_KAI_BINDER"
  fi
  start_proc kai-podgrouper env KUBECONFIG="$KCFG" "$KAI" podgrouper --metrics-bind-address=0 \
    --health-probe-bind-address="127.0.0.1:$P_KAI_PODGROUPER"
}

wait_kai_ready() {
  wait_for "KAI scheduler /metrics" 60 curl -fsS -o /dev/null "http://127.0.0.1:$P_KAI_METRICS/metrics"
  if [ "$POD_GROUP_GANG" = 1 ]; then
    wait_for "KAI binder" 60 curl -sS -o /dev/null "http://127.0.0.1:$P_KAI_BINDER/"
  fi
  wait_for "KAI podgrouper /readyz" 60 curl -fsS "http://127.0.0.1:$P_KAI_PODGROUPER/readyz"
}
