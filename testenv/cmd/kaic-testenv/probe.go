// The simulated container runtime's view of a probe container: what kaic's NVIDIA probe script prints
// there. The script lists the device nodes it can open, then runs nvidia-smi and prints its raw output
// and exit code between markers (kaic parses the tool's output itself), then KAIC-END. Like the NVIDIA
// container runtime, this one injects the device nodes and nvidia-smi only into containers that were
// granted GPUs, so a container without one has no nvidia-smi at all.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
)

// The commands of kaic's NVIDIA probe, as its script echoes them.
const (
	listCommand    = "nvidia-smi -L"
	versionCommand = "nvidia-smi --query-gpu=driver_version --format=csv,noheader"
	// What nvidia-smi prints, with exit code 9, when it cannot reach the kernel driver.
	noDriverText = "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. " +
		"Make sure that the latest NVIDIA driver is installed and running."
)

// probeOutput is what the probe script prints in a container that can use devs (host indices and UUIDs).
// driverDown: nvidia-smi is injected but cannot reach the driver.
func probeOutput(devs []gpuDev, product, driver string, driverDown bool) []string {
	var lines []string
	if len(devs) > 0 {
		// The runtime injects the control nodes with any GPU; the shell glob lists them sorted.
		nodes := []string{"/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidiactl"}
		for _, g := range devs {
			nodes = append(nodes, fmt.Sprintf("/dev/nvidia%d", g.index))
		}
		sort.Strings(nodes)
		for _, n := range nodes {
			lines = append(lines, "KAIC-DEVICE "+n)
		}
	}
	section := func(name, command string, output []string, code int) {
		lines = append(lines, "KAIC-TOOL-BEGIN "+name+" "+command)
		lines = append(lines, output...)
		lines = append(lines, fmt.Sprintf("KAIC-TOOL-END %s %d", name, code))
	}
	switch {
	case len(devs) == 0:
		lines = append(lines, "KAIC-TOOL-MISSING list "+listCommand, "KAIC-TOOL-MISSING version "+versionCommand)
	case driverDown:
		section("list", listCommand, []string{noDriverText}, 9)
		section("version", versionCommand, []string{noDriverText}, 9)
	default:
		// Inside a container nvidia-smi numbers the visible GPUs from 0.
		var list, versions []string
		for i, g := range devs {
			list = append(list, fmt.Sprintf("GPU %d: %s (UUID: %s)", i, product, g.uuid))
			versions = append(versions, driver)
		}
		section("list", listCommand, list, 0)
		section("version", versionCommand, versions, 0)
	}
	return append(lines, "KAIC-END")
}

// containerDevices are the GPUs the runtime lets container c use on node: those granted through the
// extended resource (host indices) or DRA, unless the runtime is broken: leaky (every container sees every
// GPU) or accept-env (a container without a grant that sets NVIDIA_VISIBLE_DEVICES=all gets every GPU,
// as the NVIDIA runtime does when it accepts the variable from unprivileged containers).
func (d *simDriver) containerDevices(node string, gpuNode bool, runtime string, c corev1.Container, ext []int, dra []gpuDev) []gpuDev {
	var devs []gpuDev
	granted := len(ext) > 0 || len(dra) > 0
	if gpuNode && (d.mode == "leaky" || (!granted && runtime == "accept-env" && envValue(c, "NVIDIA_VISIBLE_DEVICES") == "all")) {
		for i := 0; i < d.g.perNode; i++ {
			devs = append(devs, gpuDev{index: i, uuid: gpuUUID(node, i)})
		}
		return devs
	}
	seen := map[int]bool{}
	for _, i := range ext {
		if !seen[i] {
			seen[i] = true
			devs = append(devs, gpuDev{index: i, uuid: gpuUUID(node, i)})
		}
	}
	for _, g := range dra {
		if !seen[g.index] {
			seen[g.index] = true
			devs = append(devs, g)
		}
	}
	sort.Slice(devs, func(a, b int) bool { return devs[a].index < devs[b].index })
	return devs
}

// envValue is the value of the container's variable name ("" when unset).
func envValue(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

var logsGVR = schema.GroupVersionResource{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "logs"}

func (d *simDriver) writeProbeLogs(ctx context.Context, p *corev1.Pod, gpuNode bool, ext map[string][]int, dra map[string][]gpuDev) error {
	driver := d.g.driverVersion
	if d.mode == "wrong-driver" {
		driver = d.g.wrongDriver
	}
	runtime := ""
	if o, ok, _ := d.nodes.GetByKey(p.Spec.NodeName); ok {
		runtime = o.(*corev1.Node).Labels[runtimeLabel]
	}
	lines := map[string][]string{}
	for _, c := range podContainers(p) {
		devs := d.containerDevices(p.Spec.NodeName, gpuNode, runtime, c, ext[c.Name], dra[c.Name])
		lines[c.Name] = probeOutput(devs, d.g.product, driver, runtime == "driver-down")
		log.Printf("probe pod %s/%s container %s on %s: %d device(s) %v", p.Namespace, p.Name, c.Name, p.Spec.NodeName, len(devs), devs)
	}
	return d.writeLogs(ctx, p, lines)
}

// podContainers are the pod's init containers, then its containers.
func podContainers(p *corev1.Pod) []corev1.Container {
	return append(append([]corev1.Container{}, p.Spec.InitContainers...), p.Spec.Containers...)
}

// writeLogs makes lines (per container name) what `kubectl logs` returns for the pod's containers: one
// file per container in CRI log format, which kwok's log server parses, named by a kwok Logs object
// owned by the pod.
func (d *simDriver) writeLogs(ctx context.Context, p *corev1.Pod, lines map[string][]string) error {
	var logs []any
	now := time.Now().UTC()
	for _, c := range podContainers(p) {
		var b strings.Builder
		for i, l := range lines[c.Name] {
			ts := now.Add(time.Duration(i) * time.Microsecond).Format(time.RFC3339Nano)
			fmt.Fprintf(&b, "%s stdout F %s\n", ts, l)
		}
		file := filepath.Join(d.logDir, fmt.Sprintf("%s_%s_%s_%s.log", p.Namespace, p.Name, p.UID, c.Name))
		if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
			return err
		}
		logs = append(logs, map[string]any{"containers": []any{c.Name}, "logsFile": file})
	}
	return applyLogs(ctx, d.dyn, p, logs)
}

// applyLogs names the containers' log files in a kwok Logs object owned by the pod (server-side apply, so a
// second writer of the same pod's logs replaces the first), which is what `kubectl logs` reads through kwok.
func applyLogs(ctx context.Context, dyn dynamic.Interface, p *corev1.Pod, logs []any) error {
	obj := map[string]any{
		"apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "Logs",
		"metadata": map[string]any{
			"name": p.Name, "namespace": p.Namespace,
			"labels":          map[string]any{managedByKey: managedByName},
			"ownerReferences": []any{map[string]any{"apiVersion": "v1", "kind": "Pod", "name": p.Name, "uid": string(p.UID)}},
		},
		"spec": map[string]any{"logs": logs},
	}
	data, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	force := true
	_, err = dyn.Resource(logsGVR).Namespace(p.Namespace).Patch(ctx, p.Name, types.ApplyPatchType, data,
		metav1.PatchOptions{FieldManager: "kaic-testenv", Force: &force})
	return err
}
