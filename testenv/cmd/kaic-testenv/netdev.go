// Simulated high-performance NICs, shaped as DRANET (driver dra.net) publishes them, and what kaic's
// network probe sees in a container: the interfaces of /sys/class/net with their MAC addresses, including
// the NICs the pod was allocated through a DRA claim (unless the profile breaks that: not-attached).
//
// DRANET publishes one device per interface with attributes in its own domain (ifName, mac, mtu, rdma,
// sriov, virtual, numaNode, pciAddress, pciVendor, kind) and resource.kubernetes.io/pcieRoot, which lets a
// claim align a NIC with a GPU under the same PCIe root. The sim publishes two NICs per GPU node, one per
// GPU pair's root, and the DeviceClass a DRANET install documents (dranet: every device of dra.net).
package main

import (
	"context"
	"crypto/sha1"
	"fmt"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	resourcev1 "k8s.io/api/resource/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

const (
	nicDriver = "dra.net"
	// nicsPerNode: one NIC per pair of GPUs (the GPUs' pcieRoot groups them by two).
	nicsPerNode = 2
	// netProbeValue is the value of probeLabel on kaic's network probe pods.
	netProbeValue = "netdev"
	// nicClass is the DeviceClass DRANET's documentation has users create.
	nicClass = "dranet"
)

// NIC modes (simdriver --nics): none publishes nothing; attached publishes NICs and puts an allocated NIC
// into the pod's view; not-attached publishes and allocates them but the pod never sees the interface.
var nicModes = []string{"none", "attached", "not-attached"}

// nic is one simulated NIC of a node.
type nic struct {
	index int
	node  string
}

func (n nic) device() string   { return fmt.Sprintf("nic-%d", n.index) }
func (n nic) ifName() string   { return fmt.Sprintf("ens%df0np0", 8+n.index) }
func (n nic) pcieRoot() string { return fmt.Sprintf("pci0000:%02x", 0x10*n.index) }

// mac is stable per node and NIC, locally administered (02:…).
func (n nic) mac() string {
	sum := sha1.Sum([]byte(n.node + "/" + n.device()))
	return fmt.Sprintf("02:%02x:%02x:%02x:%02x:%02x", sum[0], sum[1], sum[2], sum[3], sum[4])
}

// nicFromDevice is the NIC a device name of this driver stands for on node.
func nicFromDevice(node, device string) (nic, bool) {
	i, err := strconv.Atoi(strings.TrimPrefix(device, "nic-"))
	if err != nil || !strings.HasPrefix(device, "nic-") || i < 0 || i >= nicsPerNode {
		return nic{}, false
	}
	return nic{index: i, node: node}, true
}

// nicSlice is the ResourceSlice of node's NICs.
func nicSlice(node *corev1.Node) *resourcev1.ResourceSlice {
	str := func(s string) resourcev1.DeviceAttribute { return resourcev1.DeviceAttribute{StringValue: ptr.To(s)} }
	num := func(i int) resourcev1.DeviceAttribute { return resourcev1.DeviceAttribute{IntValue: ptr.To(int64(i))} }
	flag := func(b bool) resourcev1.DeviceAttribute { return resourcev1.DeviceAttribute{BoolValue: ptr.To(b)} }
	devs := make([]resourcev1.Device, 0, nicsPerNode)
	for i := 0; i < nicsPerNode; i++ {
		n := nic{index: i, node: node.Name}
		devs = append(devs, resourcev1.Device{
			Name: n.device(),
			Attributes: map[resourcev1.QualifiedName]resourcev1.DeviceAttribute{
				"dra.net/kind":                    str("network"),
				"dra.net/ifName":                  str(n.ifName()),
				"dra.net/mac":                     str(n.mac()),
				"dra.net/mtu":                     num(9000),
				"dra.net/rdma":                    flag(true),
				"dra.net/sriov":                   flag(false),
				"dra.net/virtual":                 flag(false),
				"dra.net/numaNode":                num(i),
				"dra.net/pciAddress":              str(fmt.Sprintf("0000:%02x:00.0", 0x1a+0x10*i)),
				"dra.net/pciVendor":               str("Mellanox Technologies"),
				"resource.kubernetes.io/pcieRoot": str(n.pcieRoot()),
			},
		})
	}
	return nodeSlice(node, nicDriver, devs)
}

// nicDeviceClass selects every device of the NIC driver.
func nicDeviceClass() *resourcev1.DeviceClass {
	return &resourcev1.DeviceClass{
		ObjectMeta: metav1.ObjectMeta{Name: nicClass, Labels: map[string]string{managedByKey: managedByName}},
		Spec: resourcev1.DeviceClassSpec{Selectors: []resourcev1.DeviceSelector{{CEL: &resourcev1.CELDeviceSelector{
			Expression: fmt.Sprintf("device.driver == '%s'", nicDriver),
		}}}},
	}
}

// netProbeOutput is what kaic's network probe prints in a container that sees the NICs attached: one
// KAIC-NETDEV line per entry of /sys/class/net (sorted, as the shell glob lists them) with its MAC, then
// KAIC-END. Every container has lo and eth0 (the pod network); eth0's MAC is stable per pod.
func netProbeOutput(podUID string, attached []nic) []string {
	sum := sha1.Sum([]byte(podUID))
	ifaces := map[string]string{
		"lo":   "00:00:00:00:00:00",
		"eth0": fmt.Sprintf("0a:58:%02x:%02x:%02x:%02x", sum[0], sum[1], sum[2], sum[3]),
	}
	for _, n := range attached {
		ifaces[n.ifName()] = n.mac()
	}
	names := make([]string, 0, len(ifaces))
	for name := range ifaces {
		names = append(names, name)
	}
	sort.Strings(names)
	lines := make([]string, 0, len(names)+1)
	for _, name := range names {
		lines = append(lines, fmt.Sprintf("KAIC-NETDEV %s %s", name, ifaces[name]))
	}
	return append(lines, "KAIC-END")
}

// containerNICs are the NICs of node that the claims and requests container c references were allocated.
func containerNICs(node string, c corev1.Container, results map[string][]resourcev1.DeviceRequestAllocationResult) []nic {
	var picked []nic
	for _, r := range containerResults(c, results, nicDriver) {
		if n, ok := nicFromDevice(node, r.Device); ok {
			picked = append(picked, n)
		}
	}
	return picked
}

// writeNetProbeLogs writes a network probe pod's output for each of its containers: the NICs its claims
// were allocated, attached unless the profile breaks that.
func (d *simDriver) writeNetProbeLogs(ctx context.Context, p *corev1.Pod) error {
	results, err := d.claimResults(ctx, p)
	if err != nil {
		return err
	}
	lines := map[string][]string{}
	for _, c := range podContainers(p) {
		var attached []nic
		if d.nics == "attached" {
			attached = containerNICs(p.Spec.NodeName, c, results)
		}
		lines[c.Name] = netProbeOutput(string(p.UID), attached)
	}
	return d.writeLogs(ctx, p, lines)
}
