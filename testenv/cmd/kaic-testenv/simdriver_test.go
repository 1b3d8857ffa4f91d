// Unit tests of the simulated driver: GPU facts, device assignment and the probe output it writes.
package main

import (
	"fmt"
	"net"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

func TestSemver(t *testing.T) {
	for in, want := range map[string]string{"580.95.05": "580.95.5", "13.0": "13.0.0", "9.0": "9.0.0", "570.172.08": "570.172.8"} {
		if got := semver(in); got != want {
			t.Errorf("semver(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestGPUUUIDStableAndDistinct(t *testing.T) {
	a, b := gpuUUID("gpu-node-0", 0), gpuUUID("gpu-node-0", 1)
	if a != gpuUUID("gpu-node-0", 0) || a == b || a == gpuUUID("gpu-node-1", 0) {
		t.Fatalf("uuids not stable/distinct: %s %s", a, b)
	}
	if !strings.HasPrefix(a, "GPU-") || len(a) != len("GPU-")+36 {
		t.Fatalf("bad uuid form %q", a)
	}
}

func TestReadGPUEnv(t *testing.T) {
	_, self, _, _ := runtime.Caller(0)
	g, err := readGPUEnv(filepath.Join(filepath.Dir(self), "..", "..", "gpu.env"))
	if err != nil {
		t.Fatal(err)
	}
	if g.perNode != 4 || g.product != "NVIDIA H100 80GB HBM3" || g.driverVersion != "580.95.05" || g.wrongDriver == g.driverVersion {
		t.Fatalf("unexpected facts %+v", g)
	}
}

func TestAssignExtDistinctAndReleased(t *testing.T) {
	d := &simDriver{g: gpuFacts{perNode: 4}, ext: map[string]map[int]string{}, extPods: map[string][]int{}, written: map[string]bool{}}
	pod := func(name string, n int64) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: "uid-" + "name"},
			Spec: corev1.PodSpec{NodeName: "gpu-node-0", Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{
				Limits: corev1.ResourceList{gpuResource: *resource.NewQuantity(n, resource.DecimalSI)}}}}},
		}
	}
	p1, p2 := pod("a", 2), pod("b", 1)
	p2.UID = "uid-b"
	a1 := d.assignExt(t.Context(), p1)["c"]
	a2 := d.assignExt(t.Context(), p2)["c"]
	if len(a1) != 2 || len(a2) != 1 || a2[0] == a1[0] || a2[0] == a1[1] {
		t.Fatalf("assignments overlap: %v %v", a1, a2)
	}
	if again := d.assignExt(t.Context(), p1)["c"]; again[0] != a1[0] || again[1] != a1[1] {
		t.Fatalf("assignment not stable: %v then %v", a1, again)
	}
	d.releaseExtOnly(p1)
	p3 := pod("c", 2)
	p3.UID = "uid-c"
	if a3 := d.assignExt(t.Context(), p3)["c"]; len(a3) != 2 || a3[0] != a1[0] {
		t.Fatalf("released indices not reused: %v", a3)
	}
}

// A time-sliced node (1 GPU, 4 replicas) hands the same GPU to every pod holding a replica, and
// publishes one DRA device; testenv's own nodes (count 4, replicas 1) keep one GPU per slot.
func TestTimeSlicedNodesShareTheirGPU(t *testing.T) {
	sliced := map[string]string{"nvidia.com/gpu.count": "1", "nvidia.com/gpu.replicas": "4"}
	store := cache.NewStore(cache.MetaNamespaceKeyFunc)
	_ = store.Add(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "ts-node", Labels: sliced}})
	d := &simDriver{g: gpuFacts{perNode: 4}, nodes: store, ext: map[string]map[int]string{}, extPods: map[string][]int{}, written: map[string]bool{}}
	if p, r := d.gpuShape(map[string]string{"nvidia.com/gpu.count": "4", "nvidia.com/gpu.replicas": "1"}); p != 4 || r != 1 {
		t.Fatalf("testenv's nodes: %d GPUs × %d", p, r)
	}
	var seen []int
	for i, name := range []string{"a", "b", "c", "d"} {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(fmt.Sprint("uid-", i))},
			Spec: corev1.PodSpec{NodeName: "ts-node", Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{
				Limits: corev1.ResourceList{gpuResource: *resource.NewQuantity(1, resource.DecimalSI)}}}}},
		}
		seen = append(seen, d.assignExt(t.Context(), pod)["c"]...)
	}
	if len(seen) != 4 || seen[0] != 0 || seen[3] != 0 {
		t.Fatalf("4 replicas of GPU 0 expected, got indices %v", seen)
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "ts-node", UID: "u", Labels: sliced}}
	if devs := d.slice(node).Spec.Devices; len(devs) != 1 {
		t.Fatalf("a time-sliced node publishes its physical GPU only, got %d devices", len(devs))
	}
}

func TestNICSliceHasDRANETsAttributes(t *testing.T) {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "gpu-node-0", UID: "u"}}
	s := nicSlice(node)
	if s.Spec.Driver != "dra.net" || len(s.Spec.Devices) != nicsPerNode || *s.Spec.NodeName != "gpu-node-0" {
		t.Fatalf("unexpected slice %+v", s.Spec)
	}
	for i, d := range s.Spec.Devices {
		n := nic{index: i, node: "gpu-node-0"}
		if *d.Attributes["dra.net/ifName"].StringValue != n.ifName() || *d.Attributes["dra.net/mac"].StringValue != n.mac() ||
			!*d.Attributes["dra.net/rdma"].BoolValue || *d.Attributes["resource.kubernetes.io/pcieRoot"].StringValue != n.pcieRoot() {
			t.Fatalf("device %d: attributes %+v", i, d.Attributes)
		}
	}
	// The GPUs under the same PCIe root as a NIC: NIC i sits beside GPUs 2i and 2i+1.
	gpus := (&simDriver{g: gpuFacts{perNode: 4}}).slice(node).Spec.Devices
	if *gpus[2].Attributes["resource.kubernetes.io/pcieRoot"].StringValue != (nic{index: 1}).pcieRoot() {
		t.Fatalf("GPU 2 is not under NIC 1's root")
	}
}

func TestNICsOfOneRailShareASubnetAndNeverAnAddress(t *testing.T) {
	a, b, other := nic{index: 0, node: "gpu-node-0"}, nic{index: 0, node: "gpu-node-1"}, nic{index: 1, node: "gpu-node-0"}
	_, rail, _ := net.ParseCIDR("172.24.0.0/16")
	ipA, netA, errA := net.ParseCIDR(a.ipv4())
	ipB, _, errB := net.ParseCIDR(b.ipv4())
	ipO, _, errO := net.ParseCIDR(other.ipv4())
	if errA != nil || errB != nil || errO != nil {
		t.Fatalf("addresses %q %q %q", a.ipv4(), b.ipv4(), other.ipv4())
	}
	if !rail.Contains(ipA) || !rail.Contains(ipB) || netA.String() != rail.String() || rail.Contains(ipO) || ipA.Equal(ipB) {
		t.Fatalf("rail 0: %s and %s; rail 1: %s", a.ipv4(), b.ipv4(), other.ipv4())
	}
	if a.ipv4() != (nic{index: 0, node: "gpu-node-0"}).ipv4() {
		t.Fatal("a NIC's address changes between computations")
	}
	if _, ok := nicFromDevice("gpu-node-0", "gpu-0"); ok {
		t.Fatal("a GPU device taken for a NIC")
	}
}
