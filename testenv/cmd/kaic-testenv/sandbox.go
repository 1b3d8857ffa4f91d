// The simulated container runtime's view of kaic's sandbox probe (pods labelled kaic.dev/probe=sandbox):
// what the probe script prints in a container, depending on the handler of the pod's RuntimeClass.
//
//   - no RuntimeClass, or a handler the node runs with runc: the node's own kernel
//     (node.status.nodeInfo.kernelVersion), the container's own processes (no hostPID: a runc container
//     has a PID namespace of its own), an overlay root whose lowerdir names containerd's snapshot
//     directory on the node, /etc/hosts bind-mounted from the node's disk, lo and eth0;
//   - gVisor (runsc, gvisor): gVisor's kernel 4.4.0, gVisor's own mount table (9p), lo and eth0;
//   - Kata Containers (kata, kata-*): the guest VM's kernel, virtio-fs mounts from kataShared, lo and eth0.
//
// --plain-handlers names handlers the node runs with runc whatever they claim (profile fake-sandbox: a
// RuntimeClass gvisor whose handler runsc is configured as runc). Other handlers are not configured on
// the node: like containerd, the runtime cannot create their pods, and the probe prints nothing.
package main

import (
	"context"
	"fmt"
	"log"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// sandboxProbeValue is the value of probeLabel on kaic's sandbox probe pods.
const sandboxProbeValue = "sandbox"

// The kernels the sandboxes show their containers.
const (
	gvisorKernel  = "4.4.0"
	gvisorVersion = "Linux version 4.4.0 #1 SMP Sun Jan 10 15:06:54 PST 2016"
	kataKernel    = "6.12.36"
	kataVersion   = "Linux version 6.12.36 (kata@kata-builder) (gcc (Ubuntu 13.3.0) 13.3.0) #1 SMP Thu Jul 10 09:12:40 UTC 2025"
)

// runtimeFor is how the simulated node runtime runs a pod whose RuntimeClass has handler ("" without a
// RuntimeClass): runc, gvisor, kata, or "" when the handler is not configured on the node.
func runtimeFor(handler string, plain map[string]bool) string {
	is := func(stem string) bool { return handler == stem || strings.HasPrefix(handler, stem+"-") }
	switch {
	case handler == "" || handler == "runc" || plain[handler]:
		return "runc"
	case is("runsc") || is("gvisor"):
		return "gvisor"
	case is("kata"):
		return "kata"
	default:
		return ""
	}
}

// commandLine is the container's command as /proc/1/cmdline reads after kaic's probe turns NULs and
// newlines into spaces and cuts it to 160 characters.
func commandLine(c corev1.Container) string {
	line := strings.ReplaceAll(strings.Join(append(append([]string{}, c.Command...), c.Args...), " "), "\n", " ")
	if len(line) > 160 {
		line = line[:160]
	}
	return line
}

// sandboxOutput is what the sandbox probe prints in container c under runtime on a node with kernel
// nodeKernel.
func sandboxOutput(runtime, nodeKernel string, c corev1.Container) []string {
	var kernel, version string
	var mounts []string
	switch runtime {
	case "gvisor":
		kernel, version = gvisorKernel, gvisorVersion
		mounts = []string{
			"none / 9p rw,trans=fd,rfdno=4,wfdno=4,file_mode=0777,dir_mode=0777",
			"none /dev tmpfs rw,mode=0755",
			"none /proc proc rw",
			"none /sys sysfs ro,noexec,dentry_cache_limit=1000",
			"none /etc/hosts 9p rw,trans=fd,rfdno=6,wfdno=6",
			"none /dev/shm tmpfs rw,mode=1777",
		}
	case "kata":
		kernel, version = kataKernel, kataVersion
		mounts = []string{
			"kataShared / virtiofs rw,relatime",
			"proc /proc proc rw,nosuid,nodev,noexec,relatime",
			"tmpfs /dev tmpfs rw,nosuid,size=65536k,mode=755",
			"kataShared /etc/hosts virtiofs rw,relatime",
			"shm /dev/shm tmpfs rw,nosuid,nodev,noexec,relatime,size=65536k",
		}
	default:
		kernel = nodeKernel
		version = fmt.Sprintf("Linux version %s (buildd@lcy02-amd64-033) (x86_64-linux-gnu-gcc-13 (Ubuntu 13.3.0-6ubuntu2~24.04) 13.3.0, GNU ld (GNU Binutils for Ubuntu) 2.42) #90-Ubuntu SMP PREEMPT_DYNAMIC", nodeKernel)
		snapshots := "/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots"
		mounts = []string{
			fmt.Sprintf("overlay / overlay rw,relatime,lowerdir=%s/41/fs,upperdir=%s/42/fs,workdir=%s/42/work", snapshots, snapshots, snapshots),
			"proc /proc proc rw,nosuid,nodev,noexec,relatime",
			"tmpfs /dev tmpfs rw,nosuid,size=65536k,mode=755",
			"/dev/sda1 /etc/hosts ext4 rw,relatime,discard,errors=remount-ro",
			"shm /dev/shm tmpfs rw,nosuid,nodev,noexec,relatime,size=65536k",
		}
	}
	lines := []string{"KAIC-SANDBOX-BEGIN", "kernel " + kernel, "version " + version,
		"process 1 " + commandLine(c)}
	for _, m := range mounts {
		lines = append(lines, "mount "+m)
	}
	return append(lines, "interface lo", "interface eth0", "KAIC-SANDBOX-END")
}

// handlerSet is the set of handlers in a comma-separated list (--plain-handlers).
func handlerSet(list string) map[string]bool {
	set := map[string]bool{}
	for _, h := range strings.Split(list, ",") {
		if h = strings.TrimSpace(h); h != "" {
			set[h] = true
		}
	}
	return set
}

// onSandboxProbe writes a sandbox probe pod's logs once; a RuntimeClass that cannot be read is retried.
func (d *simDriver) onSandboxProbe(ctx context.Context, p *corev1.Pod) {
	written, err := d.writeSandboxLogs(ctx, p)
	if err != nil {
		log.Printf("sandbox probe %s/%s: %v (will retry)", p.Namespace, p.Name, err)
		go func() { time.Sleep(time.Second); d.retry(ctx, p.Namespace, p.Name) }()
		return
	}
	d.mu.Lock()
	d.written[string(p.UID)] = written
	d.mu.Unlock()
}

// writeSandboxLogs writes the sandbox probe's output for every container of p. It returns false (and
// writes nothing) when the pod's RuntimeClass cannot be read yet or names a handler the node lacks.
func (d *simDriver) writeSandboxLogs(ctx context.Context, p *corev1.Pod) (bool, error) {
	handler := ""
	if p.Spec.RuntimeClassName != nil && *p.Spec.RuntimeClassName != "" {
		rc, err := d.cs.NodeV1().RuntimeClasses().Get(ctx, *p.Spec.RuntimeClassName, metav1.GetOptions{})
		if err != nil {
			return false, fmt.Errorf("RuntimeClass %s: %w", *p.Spec.RuntimeClassName, err)
		}
		handler = rc.Handler
	}
	runtime := runtimeFor(handler, d.plainHandlers)
	if runtime == "" {
		log.Printf("sandbox probe %s/%s: handler %q is not configured on node %s: no output", p.Namespace, p.Name, handler, p.Spec.NodeName)
		return false, nil
	}
	kernel := ""
	if o, ok, _ := d.nodes.GetByKey(p.Spec.NodeName); ok {
		kernel = o.(*corev1.Node).Status.NodeInfo.KernelVersion
	}
	lines := map[string][]string{}
	for _, c := range podContainers(p) {
		lines[c.Name] = sandboxOutput(runtime, kernel, c)
	}
	log.Printf("sandbox probe %s/%s on %s: handler %q runs as %s", p.Namespace, p.Name, p.Spec.NodeName, handler, runtime)
	return true, d.writeLogs(ctx, p, lines)
}
