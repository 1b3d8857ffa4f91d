# shellcheck shell=bash
# Process supervision helpers (sourced after load_profile). Every process we
# start carries KAIC_TESTENV_STATE=<state dir> in its environment; that is how
# stale processes of ours are told apart from foreign ones (pids get reused).

# proc_state PID -> prints the KAIC_TESTENV_STATE of that process (empty if none/unreadable)
proc_state() {
  { tr '\0' '\n' <"/proc/$1/environ"; } 2>/dev/null | sed -n 's/^KAIC_TESTENV_STATE=//p' | head -1
}
proc_is_ours() { [ -n "$1" ] && [ -d "/proc/$1" ] && [ "$(proc_state "$1")" = "$STATE" ]; }
proc_alive() { # name
  local f="$STATE/pids/$1.pid" pid
  [ -f "$f" ] || return 1
  pid=$(cat "$f")
  proc_is_ours "$pid" && [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]
}

start_proc() { # name cmd...
  local name=$1; shift
  mkdir -p "$STATE/logs" "$STATE/pids"
  echo "$*" >"$STATE/logs/$name.cmdline"
  KAIC_TESTENV_STATE="$STATE" KAIC_TESTENV_PROC="$name" setsid nohup "$@" \
    >"$STATE/logs/$name.log" 2>&1 </dev/null 8>&- 9>&- &
  echo $! >"$STATE/pids/$name.pid"
  disown "$!" 2>/dev/null || true   # no "Killed" job notices from this shell
  log "started $name (pid $!, log $STATE/logs/$name.log)"
}

proc_names() { local f; for f in "$STATE"/pids/*.pid; do [ -f "$f" ] && basename "$f" .pid; done; return 0; }

all_procs_alive() {
  local n; for n in $(proc_names); do proc_alive "$n" || return 1; done
  [ -n "$(proc_names)" ]
}

# Prints the tail of the log of every component that is not running. Returns 1 if one was found.
report_dead_procs() {
  local n found=0
  for n in $(proc_names); do
    if ! proc_alive "$n"; then
      found=1
      printf 'testenv: component %s (profile %s) is not running; last lines of %s:\n' "$n" "$PROFILE" "$STATE/logs/$n.log" >&2
      tail -n 30 "$STATE/logs/$n.log" 2>/dev/null | sed 's/^/    | /' >&2
    fi
  done
  [ $found = 0 ]
}

# Our processes for this state dir: from pid files plus a /proc scan (orphans).
our_pids() {
  local f p
  { for f in "$STATE"/pids/*.pid; do [ -f "$f" ] && cat "$f"; done
    for p in /proc/[0-9]*; do p=${p#/proc/}; [ "$(proc_state "$p" 2>/dev/null)" = "$STATE" ] && echo "$p"; done
  } 2>/dev/null | sort -un | while read -r p; do proc_is_ours "$p" && echo "$p"; done
  return 0
}

stop_all_procs() {
  local pids p i
  pids=$(our_pids)
  [ -z "$pids" ] && { podnet_teardown; return 0; }
  log "stopping pids of profile $PROFILE: $(echo $pids)"
  for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
  for i in $(seq 1 25); do
    pids=$(for p in $pids; do if proc_is_ours "$p"; then echo "$p"; fi; done)
    [ -z "$pids" ] && return 0
    sleep 0.2
  done
  for p in $pids; do log "pid $p did not stop on TERM; killing"; kill -KILL "$p" 2>/dev/null || true; done
  sleep 0.5
  podnet_teardown
}

# Removes the served-pod network of the profile (podnet.go), which podrun removes itself when stopped
# with TERM; after a KILL its namespaces, link and routes would outlive it.
podnet_teardown() {
  [ -n "${NET_ID:-}" ] && [ "$(id -u)" = 0 ] && command -v ip >/dev/null || return 0
  local n
  for n in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^kaic-(p$NET_ID-.*|r$NET_ID)\$"); do
    ip netns del "$n" 2>/dev/null || true
  done
  ip link del "kr$NET_ID" 2>/dev/null || true
  ip route del blackhole "$POD_CIDR" metric 1000 2>/dev/null || true
  rm -rf "${PODS_DIR:?}"
}

# Fails with a clear message if a port of this profile is taken by a foreign
# process; kills stale processes of this same profile.
check_ports_free() {
  local v port line pid st
  for v in "${ALL_PORTS[@]}"; do
    port=${!v}
    line=$(ss -Htlnp "sport = :$port" 2>/dev/null | head -1)
    [ -z "$line" ] && continue
    pid=$(printf '%s' "$line" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
    st=$( [ -n "$pid" ] && proc_state "$pid" )
    if [ -n "$pid" ] && [ "$st" = "$STATE" ]; then
      log "port $port held by stale pid $pid of profile $PROFILE; killing it"
      kill -KILL "$pid" 2>/dev/null || true; sleep 0.5
    elif [ -n "$st" ]; then
      die "port $port (${v#P_}) of profile $PROFILE is held by pid $pid, a testenv process of another state dir ($st). Run: testenv/down --all, or set KAIC_TESTENV_PORT_BASE to another range."
    else
      local who="another process (run: ss -ltnp 'sport = :$port')"
      [ -n "$pid" ] && who="pid $pid ($(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-80))"
      die "port $port (${v#P_}) of profile $PROFILE on 127.0.0.1 is already in use by $who. Stop it, or move all testenv ports with KAIC_TESTENV_PORT_BASE=<base> (profile $PROFILE uses $((P_API))-$((P_API + 19)))."
    fi
  done
}

# wait_for DESC TIMEOUT cmd... : retries cmd until it succeeds; a component that
# dies meanwhile aborts with the tail of its log.
wait_for() {
  local desc=$1 timeout=$2; shift 2
  local t0 out; t0=$(date +%s)
  while true; do
    if out=$("$@" 2>&1); then return 0; fi
    if ! report_dead_procs; then
      fail_up "a component crashed while waiting for $desc"
    fi
    if [ $(( $(date +%s) - t0 )) -ge "$timeout" ]; then
      printf 'testenv: last output of the check (%s):\n%s\n' "$*" "$out" | tail -n 10 >&2
      fail_up "timed out after ${timeout}s waiting for $desc (logs in $STATE/logs)"
    fi
    sleep 0.5
  done
}

fail_up() {
  printf 'testenv: ERROR: %s\n' "$*" >&2
  stop_all_procs
  rm -f "$STATE/ready"
  printf 'testenv: processes of profile %s stopped; logs kept in %s/logs (next up or down cleans them)\n' "$PROFILE" "$STATE" >&2
  exit 1
}

cluster_healthy() {
  local k8s
  k8s="$(k8s_bin_dir)/k8s"
  [ -x "$k8s" ] || return 1
  local kc=("$k8s" kubectl --kubeconfig "$STATE/kubeconfig" --request-timeout=5s)
  "${kc[@]}" get --raw /readyz >/dev/null 2>&1 || return 1
  local notready
  notready=$("${kc[@]}" get nodes --no-headers 2>/dev/null | awk '$2!="Ready"' | wc -l)
  [ "$notready" = 0 ] || return 1
  [ "$("${kc[@]}" get nodes --no-headers 2>/dev/null | wc -l)" -ge 4 ] || return 1
  curl -fsS "http://127.0.0.1:$P_SIM/readyz" >/dev/null 2>&1 || return 1
  if [ "$WITH_KUEUE" = 1 ]; then
    curl -fsS "http://127.0.0.1:$P_KUEUE_HEALTH/readyz" >/dev/null 2>&1 || return 1
  fi
  return 0
}
