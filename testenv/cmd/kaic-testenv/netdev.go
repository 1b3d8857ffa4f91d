// Simulated high-performance NICs, shaped as DRANET (driver dra.net) publishes them, and what a pod that
// claims one gets: podrun gives the pod's network namespace a real interface for each allocated NIC (a veth
// named as the NIC, with its MAC and its fabric address), whose other end joins the profile's fabric bridge.
// kaic's network probe (busybox, served by podrun) lists it and sends bytes over it to another pod.
//
// DRANET publishes one device per interface with attributes in its own domain (ifName, mac, mtu, ipv4, rdma,
// sriov, virtual, numaNode, pciAddress, pciVendor, kind) and resource.kubernetes.io/pcieRoot, which lets a
// claim align a NIC with a GPU under the same PCIe root. The sim publishes two NICs per GPU node, one per
// GPU pair's root, and the DeviceClass a DRANET install documents (dranet: every device of dra.net).
//
// Rails: NIC i of every node is on rail i, subnet 172.(24+i).0.0/16, as a cluster's RDMA NICs are wired one
// fabric per GPU pair; pods holding NICs of one rail reach each other over it, never over another rail.
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
	"k8s.io/client-go/kubernetes"
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

// NIC modes (simdriver and podrun --nics): none publishes nothing; attached publishes NICs and gives a pod
// the interfaces of the NICs it was allocated, on the fabric; unlinked gives them, up and addressed, but
// never joins them to the fabric (no carrier, like a NIC whose cable is out); not-attached publishes and
// allocates NICs but the pod never gets the interface.
var nicModes = []string{"none", "attached", "unlinked", "not-attached"}

// nic is one simulated NIC of a node.
type nic struct {
	index int
	node  string
}

func (n nic) device() string   { return fmt.Sprintf("nic-%d", n.index) }
func (n nic) ifName() string   { return fmt.Sprintf("ens%df0np0", 8+n.index) }
func (n nic) pcieRoot() string { return fmt.Sprintf("pci0000:%02x", 0x10*n.index) }

// ipv4 is the NIC's address on its rail, as CIDR: the host part comes from the node's name (16 bits, never
// the subnet's first or last address), so it is the same wherever it is computed.
func (n nic) ipv4() string {
	sum := sha1.Sum([]byte(n.node))
	host := 1 + (int(sum[0])<<8|int(sum[1]))%65534
	return fmt.Sprintf("172.%d.%d.%d/16", 24+n.index, host>>8, host&0xff)
}

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
				"dra.net/ipv4":                    str(n.ipv4()),
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

// podNICs are the NICs on the pod's node that its claims were allocated. The whole pod gets them, as DRANET
// moves an interface into the pod's network namespace whichever container references the claim.
func podNICs(ctx context.Context, cs kubernetes.Interface, p *corev1.Pod) ([]nic, error) {
	results, err := claimResults(ctx, cs, p)
	if err != nil {
		return nil, err
	}
	var picked []nic
	seen := map[string]bool{}
	for _, list := range results {
		for _, r := range list {
			if n, ok := nicFromDevice(p.Spec.NodeName, r.Device); ok && r.Driver == nicDriver && !seen[r.Device] {
				seen[r.Device] = true
				picked = append(picked, n)
			}
		}
	}
	sort.Slice(picked, func(i, j int) bool { return picked[i].index < picked[j].index })
	return picked, nil
}
