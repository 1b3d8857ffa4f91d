// Tests of the pod network that need root (network namespaces, veth pairs), as CI runs them: a NIC
// attached to two pods carries bytes between them over the fabric, and an unlinked one has no carrier.
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestAttachedNICsCarryBytesOverTheFabricAndUnlinkedOnesHaveNoCarrier(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root (CI runs as root)")
	}
	// Index 99 is outside the range profiles use (100-249), so a running cluster is never touched.
	_, cidr, _ := net.ParseCIDR("10.99.0.0/16")
	n := podNet{index: 99, cidr: cidr}
	if err := n.setUp(); err != nil {
		t.Fatal(err)
	}
	defer n.tearDown()
	sender, receiver, unlinked := net.ParseIP("10.99.0.5"), net.ParseIP("10.99.1.6"), net.ParseIP("10.99.2.7")
	nicS, nicR, nicU := nic{index: 0, node: "node-a"}, nic{index: 0, node: "node-b"}, nic{index: 0, node: "node-c"}
	for _, p := range []struct {
		ip     net.IP
		c      nic
		linked bool
	}{{sender, nicS, true}, {receiver, nicR, true}, {unlinked, nicU, false}} {
		if _, err := n.addPod(p.ip); err != nil {
			t.Fatal(err)
		}
		if err := n.attachNIC(p.ip, p.c, p.linked); err != nil {
			t.Fatal(err)
		}
	}
	sh := func(ip net.IP, script string) string {
		out, err := exec.Command("ip", "netns", "exec", n.podNS(ip), "sh", "-c", script).CombinedOutput()
		if err != nil {
			t.Fatalf("%s in %s: %v: %s", script, n.podNS(ip), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if link := sh(sender, "ip link show "+nicS.ifName()); !strings.Contains(link, nicS.mac()) || !strings.Contains(link, "mtu 9000") {
		t.Fatalf("the NIC's interface lacks its MAC or MTU: %s", link)
	}

	addr, _, _ := net.ParseCIDR(nicR.ipv4())
	ln, err := listenIn(n.podNS(receiver), net.JoinHostPort(addr.String(), "5201"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- -1
			return
		}
		defer c.Close()
		count, _ := io.Copy(io.Discard, c)
		got <- count
	}()
	const size = 200000
	before := sh(sender, "cat /sys/class/net/"+nicS.ifName()+"/statistics/tx_bytes")
	sh(sender, fmt.Sprintf("head -c %d /dev/zero | timeout 10 bash -c 'cat > /dev/tcp/%s/5201'", size, addr))
	if count := <-got; count != size {
		t.Fatalf("the receiver got %d bytes of %d", count, size)
	}
	after := sh(sender, "cat /sys/class/net/"+nicS.ifName()+"/statistics/tx_bytes")
	var b, a int64
	fmt.Sscan(before, &b)
	fmt.Sscan(after, &a)
	if a-b < size {
		t.Fatalf("%s sent %d bytes (%s → %s) for %d over it", nicS.ifName(), a-b, before, after, size)
	}
	if eth0 := sh(sender, "ip route get "+addr.String()); !strings.Contains(eth0, "dev "+nicS.ifName()) {
		t.Fatalf("the rail's address is not routed over the NIC: %s", eth0)
	}
	if carrier := sh(unlinked, "cat /sys/class/net/"+nicU.ifName()+"/carrier 2>/dev/null || echo 0"); carrier != "0" {
		t.Fatalf("an unlinked NIC has carrier %q", carrier)
	}
}
