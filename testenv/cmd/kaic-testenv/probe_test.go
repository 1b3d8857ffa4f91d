// Unit tests of the simulated runtime's probe output: the lines kaic's probe script prints, with
// nvidia-smi's own output formats, for the devices each container may use.
package main

import (
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestProbeOutputOfAHolderIsNvidiaSmisOwnOutput(t *testing.T) {
	devs := []gpuDev{{index: 2, uuid: "GPU-aaaa"}, {index: 3, uuid: "GPU-bbbb"}}
	got := probeOutput(devs, "NVIDIA H100 80GB HBM3", "580.95.05", false)
	want := []string{
		"KAIC-DEVICE /dev/nvidia-uvm",
		"KAIC-DEVICE /dev/nvidia-uvm-tools",
		"KAIC-DEVICE /dev/nvidia2",
		"KAIC-DEVICE /dev/nvidia3",
		"KAIC-DEVICE /dev/nvidiactl",
		"KAIC-TOOL-BEGIN list nvidia-smi -L",
		"GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-aaaa)",
		"GPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-bbbb)",
		"KAIC-TOOL-END list 0",
		"KAIC-TOOL-BEGIN version nvidia-smi --query-gpu=driver_version --format=csv,noheader",
		"580.95.05",
		"580.95.05",
		"KAIC-TOOL-END version 0",
		"KAIC-END",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("probe output\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestProbeOutputWithoutDevicesHasNoNvidiaSmi(t *testing.T) {
	got := probeOutput(nil, "NVIDIA H100 80GB HBM3", "580.95.05", false)
	want := []string{
		"KAIC-TOOL-MISSING list nvidia-smi -L",
		"KAIC-TOOL-MISSING version nvidia-smi --query-gpu=driver_version --format=csv,noheader",
		"KAIC-END",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q", got)
	}
}

func TestProbeOutputWithTheDriverDownIsTheToolsFailure(t *testing.T) {
	got := strings.Join(probeOutput([]gpuDev{{index: 0, uuid: "GPU-aaaa"}}, "p", "580.95.05", true), "\n")
	for _, want := range []string{"KAIC-DEVICE /dev/nvidia0", "\n" + noDriverText + "\nKAIC-TOOL-END list 9\n", "KAIC-TOOL-END version 9"} {
		if !strings.Contains(got, want) {
			t.Fatalf("want %q in\n%s", want, got)
		}
	}
	if strings.Contains(got, "UUID") {
		t.Fatalf("a failing nvidia-smi lists no GPU:\n%s", got)
	}
}

func TestContainerDevices(t *testing.T) {
	d := &simDriver{g: gpuFacts{perNode: 4}, mode: "correct"}
	askAll := corev1.Container{Name: "escalate", Env: []corev1.EnvVar{{Name: "NVIDIA_VISIBLE_DEVICES", Value: "all"}}}
	plain := corev1.Container{Name: "c"}
	count := func(devs []gpuDev) int { return len(devs) }
	if n := count(d.containerDevices("gpu-node-0", true, "", askAll, nil, nil)); n != 0 {
		t.Fatalf("correct runtime: a container without a grant asking for all sees %d GPUs", n)
	}
	if n := count(d.containerDevices("gpu-node-0", true, "accept-env", askAll, nil, nil)); n != 4 {
		t.Fatalf("accept-env runtime: want all 4 GPUs, got %d", n)
	}
	if n := count(d.containerDevices("gpu-node-0", true, "accept-env", plain, nil, nil)); n != 0 {
		t.Fatalf("accept-env runtime: a container without the variable sees %d GPUs", n)
	}
	granted := d.containerDevices("gpu-node-0", true, "accept-env", askAll, []int{3}, []gpuDev{{index: 1, uuid: "GPU-x"}})
	if len(granted) != 2 || granted[0].index != 1 || granted[1].index != 3 {
		t.Fatalf("a granted container sees its grants only, sorted: %v", granted)
	}
	d.mode = "leaky"
	if n := count(d.containerDevices("gpu-node-0", true, "", plain, nil, nil)); n != 4 {
		t.Fatalf("leaky: want 4, got %d", n)
	}
	if n := count(d.containerDevices("cpu-node-0", false, "", plain, nil, nil)); n != 0 {
		t.Fatalf("leaky on a CPU node: want 0, got %d", n)
	}
}

func TestDeviceClassesAreNvidias(t *testing.T) {
	classes := (&simDriver{}).deviceClasses()
	if len(classes) != 2 || classes[0].Name != "gpu.nvidia.com" || classes[1].Name != "mig.nvidia.com" {
		t.Fatalf("classes %v", classes)
	}
	want := "device.driver == 'gpu.nvidia.com' && device.attributes['gpu.nvidia.com'].type == 'gpu'"
	if got := classes[0].Spec.Selectors[0].CEL.Expression; got != want {
		t.Fatalf("gpu.nvidia.com selects %q, want %q", got, want)
	}
}
