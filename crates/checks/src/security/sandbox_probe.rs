//! The sandbox probe of `workload_sandboxing`: a shell script (busybox) that prints what a container can see
//! of the machine it runs on, between markers, and the pure rules that compare what a pod with a sandbox
//! RuntimeClass saw with what a pod without one saw on the same node.
//!
//! The kernel is the decisive signal: a sandbox (gVisor's own kernel, a Kata or Firecracker VM) shows the
//! container a kernel that is not the node's, while the node's own runtime shows the node's
//! (`node.status.nodeInfo.kernelVersion`). The plain pod proves the probe can tell the two apart. Host
//! daemons, host paths in the mount table and the node's network interfaces are checked as well, with
//! names no healthy sandbox shows, so a real sandbox is never failed on a guess.

use kaic_model::SolutionResult;

/// The marker lines around the probe's findings; the log is complete once the end marker is there.
pub const BEGIN: &str = "KAIC-SANDBOX-BEGIN";
pub const END: &str = "KAIC-SANDBOX-END";

/// The probe, for `sh -c`: busybox only, readable by an unprivileged user (kaic's pods run as 65534).
/// Each finding is one line; command lines have their NULs and newlines turned into spaces and are cut
/// short, so a line is always one finding. What the container shows is printed with `printf '%s'`, never
/// with `echo`, which in some shells (dash) turns a `\n` in a command line into a line break.
pub const SCRIPT: &str = r#"echo KAIC-SANDBOX-BEGIN
printf '%s\n' "kernel $(uname -r)"
printf '%s\n' "version $(cat /proc/version 2>/dev/null)"
for d in /proc/[0-9]*; do
  c=$(tr '\0\n' '  ' < "$d/cmdline" 2>/dev/null | cut -c1-160)
  [ -n "$c" ] || c=$(cat "$d/comm" 2>/dev/null | sed 's/.*/[&]/')
  [ -n "$c" ] && printf 'process %s %s\n' "${d#/proc/}" "$c"
done
while read -r source target type options rest; do printf 'mount %s %s %s %s\n' "$source" "$target" "$type" "$options"; done < /proc/mounts
tail -n +3 /proc/net/dev | while IFS=: read -r name rest; do printf 'interface %s\n' $name; done
echo KAIC-SANDBOX-END"#;

/// Processes that run on a node and never inside a sandbox: seeing one means the container shares the
/// node's process namespace. Matched on the program's name, or its name followed by `-`
/// (`containerd-shim-runc-v2`, `systemd-journald`). `kthreadd` is the kernel's: kernel threads are visible
/// only in the node's own PID namespace.
const HOST_PROCESSES: &[&str] = &[
    "kubelet",
    "containerd",
    "dockerd",
    "crio",
    "conmon",
    "systemd",
    "init",
    "sshd",
    "kube-proxy",
    "runc",
    "kthreadd",
];

/// Paths of the node's container runtime and kubelet. The node's runtime shows them in its mount table
/// (an overlay root's `lowerdir=/var/lib/containerd/…`); a sandbox shows its own mounts only.
const HOST_PATHS: &[&str] = &[
    "/var/lib/kubelet",
    "/var/lib/containerd",
    "/var/lib/docker",
    "/var/lib/containers",
    "/var/lib/rancher",
    "/run/containerd",
];

/// Prefixes of interface names that exist on nodes and never in a pod's own network namespace: bridges,
/// overlay tunnels, the host ends of pods' veths and physical NICs. A pod sees `lo` and its `eth0`.
const HOST_INTERFACES: &[&str] = &[
    "docker",
    "cni",
    "cbr",
    "flannel",
    "cilium_",
    "vxlan",
    "tunl",
    "kube-ipvs",
    "kube-bridge",
    "weave",
    "veth",
    "cali",
    "lxc",
    "azv",
    "gke",
    "eni",
    "ens",
    "enp",
    "eno",
    "virbr",
    "br-",
    "ovn-k8s",
    "genev_sys",
    "bond",
    "wlp",
    "wlan",
    "tap",
    "vmbr",
    "antrea-",
];

/// One process the container could see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    pub pid: u32,
    /// Its command line, arguments separated by spaces; `[name]` for a kernel thread.
    pub command: String,
}

impl Process {
    /// The program's name: the last path segment of the first word, without a kernel thread's brackets.
    pub fn name(&self) -> &str {
        let first = self.command.split_whitespace().next().unwrap_or_default();
        let first = first.trim_start_matches('[').trim_end_matches(']');
        first.rsplit('/').next().unwrap_or(first)
    }
}

/// One line of `/proc/mounts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub source: String,
    pub target: String,
    pub fs_type: String,
    pub options: String,
}

/// What one container saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct View {
    /// `uname -r`.
    pub kernel: String,
    /// `/proc/version`.
    pub version: String,
    pub processes: Vec<Process>,
    pub mounts: Vec<Mount>,
    pub interfaces: Vec<String>,
}

/// Parses a probe log. `None` when the end marker is missing (the probe has not finished or was cut off).
pub fn parse(log: &str) -> Option<View> {
    let mut view = View::default();
    let mut inside = false;
    for line in log.lines() {
        let line = line.trim_end();
        if line.trim() == BEGIN {
            inside = true;
            continue;
        }
        if line.trim() == END {
            return inside.then_some(view);
        }
        if !inside {
            continue;
        }
        let (key, rest) = line.split_once(' ').unwrap_or((line, ""));
        let rest = rest.trim();
        match key {
            "kernel" => view.kernel = rest.to_string(),
            "version" => view.version = rest.to_string(),
            "process" => {
                let (pid, command) = rest.split_once(' ').unwrap_or((rest, ""));
                if let Ok(pid) = pid.parse() {
                    view.processes.push(Process { pid, command: command.trim().to_string() });
                }
            }
            "mount" => {
                let mut parts = rest.split_whitespace().map(str::to_string);
                let mut next = || parts.next().unwrap_or_default();
                view.mounts.push(Mount { source: next(), target: next(), fs_type: next(), options: next() });
            }
            "interface" if !rest.is_empty() => view.interfaces.push(rest.to_string()),
            // Lines kaic does not know yet (a newer probe) are left alone.
            _ => {}
        }
    }
    None
}

impl View {
    /// Whether the container runs on `kernel`: `uname -r`, or the release in `/proc/version` (`Linux version
    /// <release> …`).
    pub fn sees_kernel(&self, kernel: &str) -> bool {
        let release = self.version.split_whitespace().nth(2).unwrap_or_default();
        !kernel.is_empty() && (self.kernel == kernel || release == kernel)
    }

    /// Host daemons the container can see, as `name (pid N)`.
    pub fn host_processes(&self) -> Vec<String> {
        self.processes
            .iter()
            .filter(|p| {
                let name = p.name();
                HOST_PROCESSES.iter().any(|h| name == *h || name.starts_with(&format!("{h}-")))
            })
            .map(|p| format!("{} (pid {})", p.name(), p.pid))
            .collect()
    }

    /// Mounts that name a path of the node's runtime or kubelet, as `<target> from <what names it>`.
    pub fn host_paths(&self) -> Vec<String> {
        self.mounts
            .iter()
            .filter_map(|m| {
                let text = format!("{} {}", m.source, m.options);
                let path = HOST_PATHS.iter().find(|p| text.contains(*p))?;
                Some(format!("{} ({} mount naming {path}/…)", m.target, m.fs_type))
            })
            .collect()
    }

    /// Interfaces that only a node has.
    pub fn host_interfaces(&self) -> Vec<String> {
        self.interfaces.iter().filter(|i| HOST_INTERFACES.iter().any(|h| i.starts_with(h))).cloned().collect()
    }

    /// PID 1's program name, or `?` when the container cannot see it.
    pub fn pid1(&self) -> &str {
        self.processes.iter().find(|p| p.pid == 1).map_or("?", Process::name)
    }

    /// What the container sees of the host besides the kernel, one phrase per kind.
    fn leaks(&self) -> Vec<String> {
        let mut leaks = Vec::new();
        let processes = self.host_processes();
        if !processes.is_empty() {
            leaks.push(format!("host processes {}", processes.join(", ")));
        }
        let paths = self.host_paths();
        if !paths.is_empty() {
            leaks.push(format!("host paths in its mounts: {}", paths.join(", ")));
        }
        let interfaces = self.host_interfaces();
        if !interfaces.is_empty() {
            leaks.push(format!("host network interfaces {}", interfaces.join(", ")));
        }
        leaks
    }
}

/// The RuntimeClass under test, where its pod ran, and the node's own kernel.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The sandbox family (`gVisor`, `Kata Containers`): the solution's name in the report.
    pub family: &'a str,
    pub class: &'a str,
    pub handler: &'a str,
    pub node: &'a str,
    /// `node.status.nodeInfo.kernelVersion`.
    pub node_kernel: &'a str,
}

/// Compares the pod with the RuntimeClass (`sandboxed`) with the pod without it (`plain`) on the same node:
/// pass when the sandboxed pod runs on a kernel of its own and sees nothing of the host while the plain pod
/// sees the node's kernel; fail when the sandboxed pod sees the node's kernel or the host; unknown when the
/// plain pod does not see the node's kernel either (the probe cannot tell a sandbox from the node's runtime).
pub fn judge(t: &Target<'_>, plain: &View, sandboxed: &View) -> SolutionResult {
    let who = format!("RuntimeClass {} (handler {})", t.class, t.handler);
    if t.node_kernel.is_empty() {
        return SolutionResult::unknown(
            t.family,
            format!(
                "{who}: node {} reports no kernel version (status.nodeInfo.kernelVersion), so kaic cannot tell \
                 a sandbox's kernel from the node's; verify by hand that its pods run on a kernel of their own",
                t.node
            ),
        );
    }
    if !plain.sees_kernel(t.node_kernel) {
        return SolutionResult::unknown(
            t.family,
            format!(
                "{who}: a pod without a RuntimeClass on node {} saw kernel {:?}, not the node's {}, so the probe \
                 cannot tell a sandbox from the node's own runtime (is the default runtime a sandbox?); verify \
                 by hand",
                t.node, plain.kernel, t.node_kernel
            ),
        );
    }
    if sandboxed.kernel.is_empty() {
        return SolutionResult::error(t.family, format!("{who}: its probe printed no kernel version (`uname -r`)"));
    }
    let leaks = sandboxed.leaks();
    let expected = format!(
        "a pod with RuntimeClass {} on {} runs on a kernel of its own, not the node's {}, and sees no host \
         process, host path or host network interface",
        t.class, t.node, t.node_kernel
    );
    if sandboxed.sees_kernel(t.node_kernel) {
        let mut observed = vec![format!("kernel {} (the node's)", sandboxed.kernel)];
        observed.extend(leaks.iter().cloned());
        let also = if leaks.is_empty() { String::new() } else { format!("; it also saw {}", leaks.join("; ")) };
        return SolutionResult::fail(
            t.family,
            format!(
                "RuntimeClass {} claims a sandbox but its pod saw the node's kernel {} (handler {}, node {}): it \
                 runs on the node's own runtime{also}",
                t.class, t.node_kernel, t.handler, t.node
            ),
            expected,
            observed.join("; "),
        );
    }
    if !leaks.is_empty() {
        return SolutionResult::fail(
            t.family,
            format!(
                "RuntimeClass {} runs its pod on a kernel of its own ({}) but the pod sees the host: {}",
                t.class,
                sandboxed.kernel,
                leaks.join("; ")
            ),
            expected,
            format!("kernel {}; {}", sandboxed.kernel, leaks.join("; ")),
        );
    }
    SolutionResult::pass(
        t.family,
        format!(
            "{who} on {}: its pod saw kernel {} while a pod without it saw the node's {}; PID 1 {}, no host \
             process, host path or host network interface (interfaces: {})",
            t.node,
            sandboxed.kernel,
            t.node_kernel,
            sandboxed.pid1(),
            if sandboxed.interfaces.is_empty() { "none".to_string() } else { sandboxed.interfaces.join(", ") }
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use kaic_model::solutions::SolutionStatus;

    /// What the probe prints under runc on an Ubuntu node (trimmed).
    const PLAIN: &str = "KAIC-SANDBOX-BEGIN\nkernel 6.8.0-1029-gcp\n\
        version Linux version 6.8.0-1029-gcp (buildd@lcy02-amd64-033) (gcc 13.3.0) #31-Ubuntu SMP\n\
        process 1 sh -c echo KAIC-SANDBOX-BEGIN  echo \"kernel $(uname -r)\"\nprocess 14 tr \nprocess 15 cut -c1-160\n\
        mount overlay / overlay rw,relatime,lowerdir=/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/41/fs,upperdir=/var/lib/containerd/x/42/fs\n\
        mount proc /proc proc rw,nosuid,nodev,noexec,relatime\n\
        mount /dev/sda1 /etc/hosts ext4 rw,relatime,discard\n\
        interface lo\ninterface eth0\nKAIC-SANDBOX-END\n";

    /// What the probe prints under gVisor.
    const GVISOR: &str = "KAIC-SANDBOX-BEGIN\nkernel 4.4.0\nversion Linux version 4.4.0 #1 SMP Sun Jan 10 15:06:54 PST 2016\n\
        process 1 sh -c echo KAIC-SANDBOX-BEGIN\nprocess 9 tr \n\
        mount none / 9p rw,trans=fd,rfdno=4,wfdno=4\nmount none /etc/hosts 9p rw,trans=fd\n\
        interface lo\ninterface eth0\nKAIC-SANDBOX-END\n";

    fn target() -> Target<'static> {
        Target { family: "gVisor", class: "gvisor", handler: "runsc", node: "n1", node_kernel: "6.8.0-1029-gcp" }
    }

    #[test]
    fn parses_every_kind_of_finding() {
        let view = parse(PLAIN).unwrap();
        assert_eq!(view.kernel, "6.8.0-1029-gcp");
        assert!(view.version.starts_with("Linux version 6.8.0-1029-gcp "));
        assert_eq!(view.processes.len(), 3);
        assert_eq!(view.pid1(), "sh");
        assert_eq!(view.processes[1], Process { pid: 14, command: "tr".into() });
        assert_eq!(view.mounts[2].source, "/dev/sda1");
        assert_eq!(view.mounts[2].target, "/etc/hosts");
        assert_eq!(view.interfaces, vec!["lo", "eth0"]);
        assert_eq!(view.host_paths(), vec!["/ (overlay mount naming /var/lib/containerd/…)"]);
        assert!(view.host_processes().is_empty(), "runc shares no PID namespace with the node");
        assert!(view.sees_kernel("6.8.0-1029-gcp"));
    }

    #[test]
    fn an_unfinished_log_is_no_view() {
        assert_eq!(parse("KAIC-SANDBOX-BEGIN\nkernel 4.4.0\n"), None);
        assert_eq!(parse("KAIC-SANDBOX-END\n"), None, "an end without a beginning is not a probe's output");
        assert_eq!(parse("noise\nKAIC-SANDBOX-BEGIN\nsomething new\nKAIC-SANDBOX-END\n"), Some(View::default()));
    }

    #[test]
    fn the_script_prints_the_markers_and_stays_on_one_line_per_finding() {
        assert!(SCRIPT.starts_with("echo KAIC-SANDBOX-BEGIN\n") && SCRIPT.ends_with("echo KAIC-SANDBOX-END"));
        assert!(SCRIPT.contains(r"tr '\0\n' '  '"), "command lines with newlines would break the parser");
        let echoed: Vec<&str> = SCRIPT.lines().filter(|l| l.contains("echo") && l.contains('$')).collect();
        assert!(echoed.is_empty(), "echo may interpret escapes in what it prints: {echoed:?}");
    }

    /// The script under this machine's `sh`, parsed: what a real shell prints is what the parser reads.
    #[cfg(target_os = "linux")]
    #[test]
    fn the_script_runs_in_a_real_shell_and_parses() {
        let output = std::process::Command::new("sh").args(["-c", SCRIPT]).output().expect("sh runs");
        let log = String::from_utf8_lossy(&output.stdout);
        let view = parse(&log).unwrap_or_else(|| panic!("no complete probe output:\n{log}"));
        let uname = std::process::Command::new("uname").arg("-r").output().expect("uname runs");
        let kernel = String::from_utf8_lossy(&uname.stdout).trim().to_string();
        assert!(view.sees_kernel(&kernel), "{kernel} not in {view:?}");
        assert!(view.processes.iter().any(|p| p.command.contains("KAIC-SANDBOX-BEGIN")), "the probe sees itself");
        assert!(view.mounts.iter().any(|m| m.target == "/proc"), "{:?}", view.mounts);
        assert!(view.interfaces.iter().any(|i| i == "lo"), "{:?}", view.interfaces);
        assert!(!log.contains('\0'), "no NUL from a command line reaches the output");
    }

    #[test]
    fn a_sandbox_with_its_own_kernel_passes() {
        let result = judge(&target(), &parse(PLAIN).unwrap(), &parse(GVISOR).unwrap());
        assert_eq!(result.status, SolutionStatus::Pass, "{result:?}");
        assert_eq!(
            result.summary,
            "RuntimeClass gvisor (handler runsc) on n1: its pod saw kernel 4.4.0 while a pod without it saw the \
             node's 6.8.0-1029-gcp; PID 1 sh, no host process, host path or host network interface (interfaces: \
             lo, eth0)"
        );
    }

    #[test]
    fn a_class_on_the_plain_runtime_fails_on_the_kernel_and_names_what_else_it_saw() {
        let plain = parse(PLAIN).unwrap();
        let result = judge(&target(), &plain, &plain);
        assert_eq!(result.status, SolutionStatus::Fail);
        assert!(
            result.summary.starts_with(
                "RuntimeClass gvisor claims a sandbox but its pod saw the node's kernel 6.8.0-1029-gcp (handler \
                 runsc, node n1)"
            ),
            "{}",
            result.summary
        );
        assert!(result.summary.contains("host paths in its mounts: / (overlay"), "{}", result.summary);
        assert!(result.observed.unwrap().starts_with("kernel 6.8.0-1029-gcp (the node's)"));
    }

    #[test]
    fn a_sandbox_that_shows_the_host_fails_even_with_its_own_kernel() {
        let mut leaky = parse(GVISOR).unwrap();
        leaky.processes.push(Process { pid: 812, command: "/usr/bin/kubelet --config=/var/lib/kubelet/c".into() });
        leaky.processes.push(Process { pid: 2, command: "[kthreadd]".into() });
        leaky.processes.push(Process { pid: 90, command: "/usr/bin/containerd-shim-runc-v2 -namespace k8s.io".into() });
        leaky.interfaces.push("cni0".into());
        let result = judge(&target(), &parse(PLAIN).unwrap(), &leaky);
        assert_eq!(result.status, SolutionStatus::Fail);
        assert_eq!(
            result.summary,
            "RuntimeClass gvisor runs its pod on a kernel of its own (4.4.0) but the pod sees the host: host \
             processes kubelet (pid 812), kthreadd (pid 2), containerd-shim-runc-v2 (pid 90); host network \
             interfaces cni0"
        );
    }

    #[test]
    fn the_probe_cannot_tell_when_the_plain_pod_does_not_see_the_nodes_kernel() {
        let gvisor = parse(GVISOR).unwrap();
        let result = judge(&target(), &gvisor, &gvisor);
        assert_eq!(result.status, SolutionStatus::Unknown, "never a pass without the comparison");
        assert!(result.summary.contains("saw kernel \"4.4.0\", not the node's 6.8.0-1029-gcp"), "{}", result.summary);
        let no_kernel = Target { node_kernel: "", ..target() };
        assert_eq!(judge(&no_kernel, &parse(PLAIN).unwrap(), &gvisor).status, SolutionStatus::Unknown);
        let silent = View { kernel: String::new(), ..gvisor };
        assert_eq!(judge(&target(), &parse(PLAIN).unwrap(), &silent).status, SolutionStatus::Error);
    }

    #[test]
    fn the_kernel_in_proc_version_counts_too() {
        let view = View { kernel: "4.4.0".into(), version: "Linux version 6.1.0 #1 SMP".into(), ..View::default() };
        assert!(view.sees_kernel("6.1.0"));
        assert!(!view.sees_kernel(""));
    }
}
