# shellcheck shell=bash
# Profile table (sourced by up/down/smoke). Each profile has its own block of
# 30 ports starting at PORT_BASE + 30*index, so profiles can run side by side.
#
# Port offsets inside a block:
#   +0 kube-apiserver   +1 etcd client   +2 etcd peer   +3 kube-controller-manager
#   +4 kube-scheduler   +5 kwok (kubelet endpoint of every node)
#   +6 kueue webhook    +7 kueue metrics  +8 kueue health
#   +9 sim DRA driver health   +10 reserved: prometheus
#   +11 reserved: a node autoscaler on the host (Karpenter runs as a served pod and needs no host port)
#   +12 coscheduling scheduler  +13 coscheduling controller health  +14 its metrics
#   +15 volcano health  +16 volcano metrics
#   +17 KAI scheduler metrics  +18 KAI plugin server  +19 KAI binder health (+22 its podgrouper)
#   +20 JobSet webhook  +21 JobSet health  +22 KAI podgrouper health  +23 LWS webhook  +24 LWS health
#   +25 podrun health   +26 / +27 Agent Sandbox controller metrics / health
#
# Served pods: profile i's pods get IPs from its own range 10.<NET_ID>.0.0/16, NET_ID = 100 + (PORT_BASE/30 + i)
# mod 150 (10.150.0.0/16 for default with the default base), so profiles and differently based homes run
# side by side; namespaces kaic-r<NET_ID> and kaic-p<NET_ID>-*, root link kr<NET_ID> (podnet.go).
PORT_BASE=${KAIC_TESTENV_PORT_BASE:-24000}
PROFILES=(default no-dra leaky-devices wrong-driver-version no-gang partial-gang exotic native-partial-gang
  partial-pod-groups dead-webhooks slow-deletion fake-sandbox no-accelerator-metrics frozen-metrics no-scrape
  no-custom-metrics naive-gateway stuck-autoscaler autoscaler-no-gpu nic-not-attached nic-no-link epp-bypassed isolated-pods epp-streamed-only)

profile_index() {
  local i
  for i in "${!PROFILES[@]}"; do [ "${PROFILES[$i]}" = "$1" ] && { echo "$i"; return 0; }; done
  return 1
}

# gateway_on NAME: whether the profile runs the Gateway API implementation NAME (GATEWAY is a list).
gateway_on() { case " $GATEWAY " in *" $1 "*) return 0 ;; esac; return 1; }

# Sets the P_* port variables and the feature switches for profile $1.
load_profile() {
  PROFILE=$1
  local idx
  idx=$(profile_index "$PROFILE") || die "unknown profile '$PROFILE' (known: ${PROFILES[*]})"
  local b=$((PORT_BASE + 30 * idx))
  P_API=$b P_ETCD=$((b + 1)) P_ETCD_PEER=$((b + 2)) P_KCM=$((b + 3)) P_SCHED=$((b + 4))
  P_KWOK=$((b + 5)) P_KUEUE_WH=$((b + 6)) P_KUEUE_METRICS=$((b + 7)) P_KUEUE_HEALTH=$((b + 8))
  P_SIM=$((b + 9)) P_PROM=$((b + 10)) P_CA=$((b + 11))
  P_COSCHED=$((b + 12)) P_COSCHED_CTL_HEALTH=$((b + 13)) P_COSCHED_CTL_METRICS=$((b + 14))
  P_VOLCANO_HEALTH=$((b + 15)) P_VOLCANO_METRICS=$((b + 16))
  P_KAI_METRICS=$((b + 17)) P_KAI_PLUGINS=$((b + 18)) P_KAI_BINDER=$((b + 19))
  P_JOBSET_WH=$((b + 20)) P_JOBSET_HEALTH=$((b + 21)) P_KAI_PODGROUPER=$((b + 22))
  P_LWS_WH=$((b + 23)) P_LWS_HEALTH=$((b + 24)) P_PODRUN=$((b + 25))
  P_AGENT_SANDBOX_METRICS=$((b + 26)) P_AGENT_SANDBOX_HEALTH=$((b + 27))
  NET_ID=$((100 + (PORT_BASE / 30 + idx) % 150))
  POD_CIDR="10.$NET_ID.0.0/16"
  # Served processes run as nobody, who cannot search /root (the default state home): their files and
  # programs live here (podrun --pods-dir).
  PODS_DIR="${TMPDIR:-/tmp}/kaic-testenv-pods-$NET_ID"
  STATE="$HOME_DIR/clusters/$PROFILE"
  # Defaults: everything on.
  WITH_DRA=1          # resource.k8s.io served + sim DRA driver publishing slices
  WITH_KUEUE=1        # Kueue add-on
  WITH_GANG=1         # native gang scheduling (GenericWorkload + scheduling.k8s.io/v1beta1)
  WITH_GANG_SCHEDULER=  # the scheduler's GenericWorkload gate; empty: same as WITH_GANG
  WITH_VOLCANO=0      # Volcano's vc-scheduler (PodGroup-based gangs, pod-groups.sh); crds: its CRDs only
  WITH_COSCHED=0      # scheduler-plugins coscheduling scheduler + PodGroup controller (pod-groups.sh)
  WITH_KAI=0          # NVIDIA KAI scheduler + binder (pod-groups.sh)
  POD_GROUP_GANG=1    # 0: each PodGroup scheduler broken as it can be (pod-groups.sh)
  SIM_MODE=correct    # probe runtime behaviour: correct | leaky | wrong-driver
  NICS=none           # simulated DRANET NICs on GPU nodes: none | attached | unlinked | not-attached (netdev.go;
                      # a pod gets its NICs' interfaces from podrun: needs SERVED_PODS=1)
  KUEUE_WAIT_FOR_PODS_READY=1
  WITH_JOBSET=0       # JobSet add-on (operators.sh)
  WITH_LWS=0          # LeaderWorkerSet add-on (operators.sh)
  WEBHOOKS=live       # dead: the operators' webhooks point where nothing listens, failures ignored
  POD_DELETE_DELAY_MS=0  # >0: kwok removes a deleted pod only after this long (graceful termination)
  SANDBOX=none        # sandbox RuntimeClasses: none | real (gvisor, kata) | fake (gvisor, run by runc)
  AGENT_SANDBOX=0     # 1: the Agent Sandbox CRDs and controller (agents.x-k8s.io Sandbox)
  SERVED_PODS=0       # 1: pods get network namespaces, recognised images a real process (podrun)
  MONITORING=none     # Prometheus in namespace monitoring: none | pods (scrapes annotated pods) | twice (the same pods under two jobs) | blind (never workload pods)
  DCGM=none           # simulated DCGM exporter DaemonSet on GPU nodes: none | live | frozen (values never change) |
                      # partial (on gpu-node-0 only)
  CUSTOM_METRICS=none # custom metrics API: none | adapter (prometheus-adapter backed by Prometheus, monitoring.sh)
  # Gateway API implementations, space-separated (gateway.sh, needs SERVED_PODS=1): traefik, naive (statuses
  # right, routing wrong), inference (Envoy + infgw, the Inference Extension's InferencePool); none for no
  # Gateway API.
  GATEWAY=none
  # the inference gateway's pools: consulted (through their endpoint picker, in its protocol) | bypassed |
  # streamed-only (through their picker, always in lwepp's ext_proc body mode)
  INFGW_EPP=consulted
  NODE_AUTOSCALER=none  # none | karpenter (Karpenter's kwok provider as a served pod, karpenter.sh; needs SERVED_PODS=1)
  KARPENTER_MODE=live   # live (scale up and down) | stuck (never scales down) | no-gpu (no accelerator instance types)
  PD_SIDECAR=0          # 1: podrun serves llm-d's P/D routing sidecar image (disaggregated serving; needs SERVED_PODS=1)
  POD_NETWORK=open      # open: pods reach each other | isolated: only nodes reach pods, never another pod (podnet.go)
  case $PROFILE in
    # Every gang solution testenv has: Kueue, the native API, Volcano, coscheduling and KAI.
    # JobSet and LeaderWorkerSet as further AI operators for robust_controller.
    # RuntimeClasses gvisor (handler runsc) and kata (handler kata-qemu), each run by its sandbox.
    # Served pods with Prometheus, the DCGM exporter simulator, prometheus-adapter (monitoring.sh) and two
    # Gateway API implementations (gateway.sh): Traefik, and the naive gateway that routes wrong, as a cluster
    # with a second, broken GatewayClass beside a working one. The Agent Sandbox controller runs Sandboxes
    # (workload_sandboxing's Agent Sandbox case).
    default) WITH_VOLCANO=1 WITH_COSCHED=1 WITH_KAI=1 WITH_JOBSET=1 WITH_LWS=1 SANDBOX=real AGENT_SANDBOX=1
      SERVED_PODS=1 MONITORING=pods DCGM=live CUSTOM_METRICS=adapter GATEWAY="traefik naive inference"
      NODE_AUTOSCALER=karpenter NICS=attached PD_SIDECAR=1 ;;
    no-dra) WITH_DRA=0 WITH_KUEUE=0 WITH_GANG=0 ;;  # gang off: see README (scheduler emulates 1.34)
    leaky-devices) SIM_MODE=leaky ;;
    wrong-driver-version) SIM_MODE=wrong-driver ;;
    no-gang) WITH_GANG=0 WITH_KUEUE=0 ;;
    partial-gang) WITH_GANG=0 KUEUE_WAIT_FOR_PODS_READY=0 ;;
    # The default cluster without Kueue, for e2e tests that add unusual nodes of their own (vGPU nodes,
    # accelerators kaic does not recognise) without disturbing tests on `default`.
    # Volcano's CRDs are left behind without its scheduler: a solution installed but not operational.
    exotic) WITH_KUEUE=0 WITH_VOLCANO=crds ;;
    # The Workload/PodGroup API is served (apiserver and controller-manager have GenericWorkload) but
    # the scheduler runs without the gate, so it ignores PodGroups and binds gang members one by one:
    # a platform that offers the native API without gang scheduling behind it.
    native-partial-gang) WITH_KUEUE=0 WITH_GANG_SCHEDULER=0 ;;
    # Volcano, coscheduling and KAI serve their PodGroup APIs, but Volcano and coscheduling run without
    # their gang plugins (they bind a gang's pods one by one as they fit) and KAI, whose gang logic has no
    # switch, runs without its binder (nothing it schedules is ever bound).
    partial-pod-groups) WITH_KUEUE=0 WITH_GANG=0 WITH_VOLCANO=1 WITH_COSCHED=1 WITH_KAI=1 POD_GROUP_GANG=0 ;;
    # Kueue, JobSet and LeaderWorkerSet run, but their webhook configurations point at a port where
    # nothing listens and ignore failures: operators whose webhook pods are gone, so their APIs admit
    # invalid objects.
    dead-webhooks) WITH_GANG=0 WITH_JOBSET=1 WITH_LWS=1 WEBHOOKS=dead ;;
    # Deleted pods linger 8 s before kwok removes them, like pods terminating gracefully on a real node:
    # an accelerator check must wait until the previous one's pods and claims are gone, or find its
    # devices still held.
    slow-deletion) WITH_KUEUE=0 WITH_GANG=0 POD_DELETE_DELAY_MS=8000 ;;
    # A RuntimeClass gvisor that claims a sandbox, but whose handler runsc the nodes run with runc: its pods
    # see the node's kernel. No Kata.
    fake-sandbox) WITH_KUEUE=0 WITH_GANG=0 SANDBOX=fake ;;
    # Observability broken three ways, each with working served pods: a DCGM exporter on gpu-node-0 only, so
    # the other GPU node exposes no accelerator metrics (with no exporter anywhere the requirement's "allow
    # the installation of one" is undecided: no-gang shows that); an exporter whose values never change (its
    # DCGM host engine hung); a Prometheus that runs but never collects workload pods (it only scrapes itself
    # and the exporter).
    no-accelerator-metrics) WITH_KUEUE=0 WITH_GANG=0 SERVED_PODS=1 MONITORING=pods DCGM=partial ;;
    frozen-metrics) WITH_KUEUE=0 WITH_GANG=0 SERVED_PODS=1 MONITORING=pods DCGM=frozen ;;
    no-scrape) WITH_KUEUE=0 WITH_GANG=0 SERVED_PODS=1 MONITORING=blind DCGM=live ;;
    # Served pods, Prometheus collecting them, the DCGM exporter, but no custom metrics API (no adapter, no
    # APIService): the HorizontalPodAutoscaler API is served, yet nothing can answer for a per-pod AI metric.
    # Prometheus collects every pod under two jobs (kube-prometheus-stack's PodMonitor job beside the common
    # annotation job, monitoring.sh): healthy, so ai_service_metrics passes here too.
    no-custom-metrics) WITH_KUEUE=0 WITH_GANG=0 SERVED_PODS=1 MONITORING=twice DCGM=live ;;
    # A Gateway API implementation that writes every status a conformant one would (GatewayClass, Gateway and
    # HTTPRoute Accepted, Programmed, refs resolved) but sends every request to the first backendRef of the first
    # rule: weights and header matches are ignored (kaic-testenv naivegw).
    naive-gateway) WITH_KUEUE=0 WITH_GANG=0 SERVED_PODS=1 GATEWAY=naive ;;
    # An inference gateway that accepts routes to InferencePools and writes every status (route, Gateway, the
    # pool's parents) but never asks the pool's endpoint picker: round robin over the pool's pods.
    epp-bypassed) WITH_KUEUE=0 WITH_GANG=0 SERVED_PODS=1 GATEWAY=inference INFGW_EPP=bypassed ;;
    # An inference gateway that asks every pool's picker in the lightweight picker's (lwepp's) ext_proc body mode
    # only, like one built against the extension's conformance suite alone: lwepp's steering works, the full
    # endpoint picker (which answers in the chart's FULL_DUPLEX_STREAMED mode) cannot route a request.
    epp-streamed-only) WITH_KUEUE=0 WITH_GANG=0 SERVED_PODS=1 GATEWAY=inference INFGW_EPP=streamed-only ;;
    # Node autoscaling broken two ways, with Karpenter running (karpenter.sh): its GPU NodePool adds nodes
    # for pending GPU pods but never removes them (consolidateAfter Never); its instance types offer no
    # accelerator at all, so a pending GPU pod never gets a node. Every profile without NODE_AUTOSCALER is
    # a cluster without any node autoscaler.
    stuck-autoscaler) WITH_KUEUE=0 WITH_GANG=0 SERVED_PODS=1 NODE_AUTOSCALER=karpenter KARPENTER_MODE=stuck ;;
    autoscaler-no-gpu) WITH_KUEUE=0 WITH_GANG=0 SERVED_PODS=1 NODE_AUTOSCALER=karpenter KARPENTER_MODE=no-gpu ;;
    # DRANET-shaped NICs are published and allocated, but a pod never gets the interface it was allocated.
    nic-not-attached) WITH_KUEUE=0 WITH_GANG=0 SERVED_PODS=1 NICS=not-attached ;;
    # A pod gets the interface of the NIC it was allocated, up and addressed, but the NIC has no link (its
    # fabric end is never connected): nothing crosses it, as with a NIC whose cable is out.
    nic-no-link) WITH_KUEUE=0 WITH_GANG=0 SERVED_PODS=1 NICS=unlinked ;;
    # A pod network that carries traffic from nodes to pods (the API server's proxy, probes) but none between
    # two pods, like a CNI whose isolation no policy lifts: a decode pod can never fetch its prefill pod's work,
    # an endpoint picker never reads its pool's metrics (nor does the gateway's Envoy reach a pod).
    isolated-pods) WITH_KUEUE=0 WITH_GANG=0 SERVED_PODS=1 PD_SIDECAR=1 POD_NETWORK=isolated GATEWAY=inference ;;
  esac
  # The scheduler's gang gate follows the API unless a profile says otherwise.
  : "${WITH_GANG_SCHEDULER:=$WITH_GANG}"
  ALL_PORTS=(P_API P_ETCD P_ETCD_PEER P_KCM P_SCHED P_KWOK)
  [ "$WITH_KUEUE" = 1 ] && ALL_PORTS+=(P_KUEUE_WH P_KUEUE_METRICS P_KUEUE_HEALTH)
  ALL_PORTS+=(P_SIM)
  [ "$WITH_COSCHED" = 1 ] && ALL_PORTS+=(P_COSCHED P_COSCHED_CTL_HEALTH P_COSCHED_CTL_METRICS)
  [ "$WITH_VOLCANO" = 1 ] && ALL_PORTS+=(P_VOLCANO_HEALTH P_VOLCANO_METRICS)
  [ "$WITH_KAI" = 1 ] && ALL_PORTS+=(P_KAI_METRICS P_KAI_PLUGINS P_KAI_BINDER P_KAI_PODGROUPER)
  [ "$WITH_JOBSET" = 1 ] && ALL_PORTS+=(P_JOBSET_WH P_JOBSET_HEALTH)
  [ "$WITH_LWS" = 1 ] && ALL_PORTS+=(P_LWS_WH P_LWS_HEALTH)
  [ "$SERVED_PODS" = 1 ] && ALL_PORTS+=(P_PODRUN)
  [ "$AGENT_SANDBOX" = 1 ] && ALL_PORTS+=(P_AGENT_SANDBOX_METRICS P_AGENT_SANDBOX_HEALTH)
  return 0
}
