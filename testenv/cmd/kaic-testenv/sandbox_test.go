// Unit tests of the simulated runtime's sandbox probe output: each handler shows the view its runtime
// gives a container, and a handler configured as runc shows the node's own.
package main

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestRuntimeForHandler(t *testing.T) {
	plain := map[string]bool{"runsc": true}
	for handler, want := range map[string]string{
		"": "runc", "runc": "runc", "runsc": "gvisor", "gvisor": "gvisor", "kata": "kata", "kata-qemu": "kata",
		"kata-fc": "kata", "katana": "", "nvidia": "",
	} {
		if got := runtimeFor(handler, nil); got != want {
			t.Errorf("runtimeFor(%q) = %q, want %q", handler, got, want)
		}
	}
	if got := handlerSet(" runsc,, gvisor "); len(got) != 2 || !got["runsc"] || !got["gvisor"] {
		t.Errorf("handlerSet = %v", got)
	}
	if got := runtimeFor("runsc", plain); got != "runc" {
		t.Errorf("a handler configured as runc runs as runc, got %q", got)
	}
	if got := runtimeFor("kata-qemu", plain); got != "kata" {
		t.Errorf("other handlers keep their runtime, got %q", got)
	}
}

func probeContainer() corev1.Container {
	return corev1.Container{Name: "probe", Command: []string{"sh", "-c", "echo KAIC-SANDBOX-BEGIN\necho \"kernel $(uname -r)\"\n" + strings.Repeat("x", 300)}}
}

func TestSandboxOutputPerRuntime(t *testing.T) {
	for runtime, want := range map[string][]string{
		"runc":   {"kernel 6.8.0-87-generic", "version Linux version 6.8.0-87-generic ", "lowerdir=/var/lib/containerd/", "mount /dev/sda1 /etc/hosts ext4"},
		"gvisor": {"kernel 4.4.0", "version Linux version 4.4.0 #1", "mount none / 9p"},
		"kata":   {"kernel 6.12.36", "mount kataShared / virtiofs"},
	} {
		lines := sandboxOutput(runtime, "6.8.0-87-generic", probeContainer())
		got := strings.Join(lines, "\n")
		if lines[0] != "KAIC-SANDBOX-BEGIN" || lines[len(lines)-1] != "KAIC-SANDBOX-END" {
			t.Fatalf("%s: no markers:\n%s", runtime, got)
		}
		for _, w := range append(want, "\ninterface lo\ninterface eth0\n", "\nprocess 1 sh -c echo KAIC-SANDBOX-BEGIN echo \"kernel") {
			if !strings.Contains(got, w) {
				t.Errorf("%s: want %q in\n%s", runtime, w, got)
			}
		}
		if runtime != "runc" && (strings.Contains(got, "6.8.0-87-generic") || strings.Contains(got, "/var/lib/")) {
			t.Errorf("%s shows the node:\n%s", runtime, got)
		}
		for _, l := range lines {
			if strings.HasPrefix(l, "process 1 ") && len(l) > len("process 1 ")+160 {
				t.Errorf("%s: the command line is cut to 160 characters, got %d", runtime, len(l))
			}
		}
	}
}
