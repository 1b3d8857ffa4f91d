# shellcheck shell=bash
# Profile table (sourced by up/down/smoke). Each profile has its own block of
# 20 ports starting at PORT_BASE + 20*index, so profiles can run side by side.
#
# Port offsets inside a block:
#   +0 kube-apiserver   +1 etcd client   +2 etcd peer   +3 kube-controller-manager
#   +4 kube-scheduler   +5 kwok (kubelet endpoint of every node)
#   +6 kueue webhook    +7 kueue metrics  +8 kueue health
#   +9 sim DRA driver health   +10 reserved: prometheus   +11 reserved: cluster-autoscaler
PORT_BASE=${KAIC_TESTENV_PORT_BASE:-24000}
PROFILES=(default no-dra leaky-devices wrong-driver-version no-gang partial-gang exotic native-partial-gang)

profile_index() {
  local i
  for i in "${!PROFILES[@]}"; do [ "${PROFILES[$i]}" = "$1" ] && { echo "$i"; return 0; }; done
  return 1
}

# Sets the P_* port variables and the feature switches for profile $1.
load_profile() {
  PROFILE=$1
  local idx
  idx=$(profile_index "$PROFILE") || die "unknown profile '$PROFILE' (known: ${PROFILES[*]})"
  local b=$((PORT_BASE + 20 * idx))
  P_API=$b P_ETCD=$((b + 1)) P_ETCD_PEER=$((b + 2)) P_KCM=$((b + 3)) P_SCHED=$((b + 4))
  P_KWOK=$((b + 5)) P_KUEUE_WH=$((b + 6)) P_KUEUE_METRICS=$((b + 7)) P_KUEUE_HEALTH=$((b + 8))
  P_SIM=$((b + 9)) P_PROM=$((b + 10)) P_CA=$((b + 11))
  STATE="$HOME_DIR/clusters/$PROFILE"
  # Defaults: everything on.
  WITH_DRA=1          # resource.k8s.io served + sim DRA driver publishing slices
  WITH_KUEUE=1        # Kueue add-on
  WITH_GANG=1         # native gang scheduling (GenericWorkload + scheduling.k8s.io/v1beta1)
  WITH_GANG_SCHEDULER=  # the scheduler's GenericWorkload gate; empty: same as WITH_GANG
  SIM_MODE=correct    # probe runtime behaviour: correct | leaky | wrong-driver
  KUEUE_WAIT_FOR_PODS_READY=1
  case $PROFILE in
    default) ;;
    no-dra) WITH_DRA=0 WITH_KUEUE=0 WITH_GANG=0 ;;  # gang off: see README (scheduler emulates 1.34)
    leaky-devices) SIM_MODE=leaky ;;
    wrong-driver-version) SIM_MODE=wrong-driver ;;
    no-gang) WITH_GANG=0 WITH_KUEUE=0 ;;
    partial-gang) WITH_GANG=0 KUEUE_WAIT_FOR_PODS_READY=0 ;;
    # The default cluster without Kueue, for e2e tests that add unusual nodes of their own (vGPU nodes,
    # accelerators kaic does not recognise) without disturbing tests on `default`.
    exotic) WITH_KUEUE=0 ;;
    # The Workload/PodGroup API is served (apiserver and controller-manager have GenericWorkload) but
    # the scheduler runs without the gate, so it ignores PodGroups and binds gang members one by one:
    # a platform that offers the native API without gang scheduling behind it.
    native-partial-gang) WITH_KUEUE=0 WITH_GANG_SCHEDULER=0 ;;
  esac
  # The scheduler's gang gate follows the API unless a profile says otherwise.
  : "${WITH_GANG_SCHEDULER:=$WITH_GANG}"
  ALL_PORTS=(P_API P_ETCD P_ETCD_PEER P_KCM P_SCHED P_KWOK)
  [ "$WITH_KUEUE" = 1 ] && ALL_PORTS+=(P_KUEUE_WH P_KUEUE_METRICS P_KUEUE_HEALTH)
  ALL_PORTS+=(P_SIM)
  return 0
}
