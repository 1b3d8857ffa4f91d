// podnet: a ten-line CNI for kwok pods. Every served pod gets its own network namespace with its pod IP
// on eth0; the pods of one profile hang off a router namespace of their own, and the root namespace
// reaches the profile's pod range through one veth pair to that router.
//
//	root ns  --(kr<i> 100.127.<i>.1/30)--  router ns kaic-r<i> (ip_forward, proxy_arp)  --  pod ns kaic-p<i>-<a>-<b>
//
// Why this shape: the API server, Prometheus and kaic reach pods at their real pod IPs exactly as on a
// cluster; the router namespace has no route out, so pods can reach each other and the root namespace's
// link address only, never the machine's network; the root namespace gets a blackhole route under the
// veth route, so pod-range traffic can never leak to the default gateway if the veth goes away; and the
// machine's own forwarding settings are left alone (only the router namespace forwards).
//
// Fabric: the router namespace also holds a bridge (fab0) that plays the high-performance network between
// nodes. A pod allocated a simulated NIC (netdev.go) gets a second veth named as the NIC, with its MAC and
// rail address, whose other end joins the bridge; the bridge has no address, so the fabric and the pod
// network never route into each other.
//
// Isolated (profile isolated-pods): the router refuses to forward between two pod addresses (a policy rule,
// answered with ICMP "prohibited", so a connection fails at once), while the root namespace still reaches
// every pod: the API server's proxy and readiness work, pod-to-pod traffic never does.
package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// podNet is the network of one profile: its index (for names and the link subnet) and its pod range.
type podNet struct {
	index    int
	cidr     *net.IPNet
	isolated bool // no forwarding from one pod to another
}

// fabricBridge is the bridge in the router namespace that every attached NIC joins.
const fabricBridge = "fab0"

func (n podNet) router() string   { return fmt.Sprintf("kaic-r%d", n.index) }
func (n podNet) rootLink() string { return fmt.Sprintf("kr%d", n.index) }
func (n podNet) rootAddr() string { return fmt.Sprintf("100.127.%d.1", n.index) }
func (n podNet) routerAddr() string {
	return fmt.Sprintf("100.127.%d.2", n.index)
}

// podNS names a pod's namespace after the profile and the last two octets of its IP (unique in a /16).
func (n podNet) podNS(ip net.IP) string {
	v4 := ip.To4()
	return fmt.Sprintf("kaic-p%d-%d-%d", n.index, v4[2], v4[3])
}

// hostVeth is the router-side end of a pod's veth pair (interface names have at most 15 characters).
func (n podNet) hostVeth(ip net.IP) string {
	v4 := ip.To4()
	return fmt.Sprintf("k%dp%02x%02x", n.index, v4[2], v4[3])
}

// fabricVeth is the router-side end of a pod's NIC veth: the pod's and the NIC's, at most 15 characters.
func (n podNet) fabricVeth(ip net.IP, c nic) string {
	v4 := ip.To4()
	return fmt.Sprintf("f%dp%02x%02xn%d", n.index, v4[2], v4[3], c.index)
}

func run(args ...string) error {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// runAll runs commands in order and stops at the first failure.
func runAll(cmds ...[]string) error {
	for _, c := range cmds {
		if err := run(c...); err != nil {
			return err
		}
	}
	return nil
}

// checkTools names what is missing instead of failing later with an obscure error, and returns setpriv's
// full path.
func checkTools() (string, error) {
	if os.Geteuid() != 0 {
		return "", fmt.Errorf("served pods need root (network namespaces and veth pairs): run testenv as root, as CI does")
	}
	paths := map[string]string{}
	for _, tool := range []string{"ip", "setpriv"} {
		path, err := exec.LookPath(tool)
		if err != nil {
			return "", fmt.Errorf("served pods need %q (Debian packages iproute2 and util-linux; testenv/ci-install installs them)", tool)
		}
		paths[tool] = path
	}
	return paths["setpriv"], nil
}

// setUp creates the router namespace and its link to the root namespace, after removing what a previous
// run of this profile may have left (a killed podrun cannot clean up after itself).
func (n podNet) setUp() error {
	n.tearDown()
	cidr := n.cidr.String()
	r := n.router()
	if err := runAll(
		[]string{"ip", "netns", "add", r},
		[]string{"ip", "-n", r, "link", "set", "lo", "up"},
		[]string{"ip", "link", "add", n.rootLink(), "type", "veth", "peer", "name", "up0", "netns", r},
		[]string{"ip", "addr", "add", n.rootAddr() + "/30", "dev", n.rootLink()},
		[]string{"ip", "link", "set", n.rootLink(), "up"},
		[]string{"ip", "-n", r, "addr", "add", n.routerAddr() + "/30", "dev", "up0"},
		[]string{"ip", "-n", r, "link", "set", "up0", "up"},
		[]string{"ip", "netns", "exec", r, "sysctl", "-qw", "net.ipv4.ip_forward=1"},
		[]string{"ip", "-n", r, "link", "add", fabricBridge, "type", "bridge"},
		[]string{"ip", "-n", r, "link", "set", fabricBridge, "up"},
		[]string{"ip", "route", "add", "blackhole", cidr, "metric", "1000"},
		[]string{"ip", "route", "add", cidr, "via", n.routerAddr(), "dev", n.rootLink(), "src", n.rootAddr()},
	); err != nil {
		return err
	}
	if n.isolated {
		return run("ip", "-n", r, "rule", "add", "priority", "100", "from", cidr, "to", cidr, "prohibit")
	}
	return nil
}

// tearDown removes every namespace, link and route of the profile; errors mean "already gone".
func (n podNet) tearDown() {
	out, _ := exec.Command("ip", "netns", "list").Output()
	prefix := fmt.Sprintf("kaic-p%d-", n.index)
	for _, line := range strings.Split(string(out), "\n") {
		if name := strings.Fields(line + " x")[0]; strings.HasPrefix(name, prefix) {
			_ = run("ip", "netns", "del", name)
		}
	}
	_ = run("ip", "netns", "del", n.router())
	_ = run("ip", "link", "del", n.rootLink())
	_ = run("ip", "route", "del", "blackhole", n.cidr.String(), "metric", "1000")
}

// addPod creates the pod's namespace with its IP on eth0 and a default route to the router.
func (n podNet) addPod(ip net.IP) (string, error) {
	ns, host, r := n.podNS(ip), n.hostVeth(ip), n.router()
	_ = run("ip", "netns", "del", ns) // a leftover of a pod that had this IP before
	_ = run("ip", "-n", r, "link", "del", host)
	err := runAll(
		[]string{"ip", "netns", "add", ns},
		[]string{"ip", "-n", ns, "link", "set", "lo", "up"},
		// Unprivileged processes may bind ports below 1024, as containerd (2.x) and CRI-O set for every pod.
		[]string{"ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.ip_unprivileged_port_start=0"},
		[]string{"ip", "-n", r, "link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", ns},
		[]string{"ip", "-n", ns, "addr", "add", ip.String() + "/32", "dev", "eth0"},
		[]string{"ip", "-n", ns, "link", "set", "eth0", "up"},
		[]string{"ip", "-n", ns, "route", "add", "default", "dev", "eth0"},
		[]string{"ip", "netns", "exec", r, "sysctl", "-qw", "net.ipv4.conf." + host + ".proxy_arp=1"},
		[]string{"ip", "-n", r, "link", "set", host, "up"},
		[]string{"ip", "-n", r, "route", "add", ip.String() + "/32", "dev", host},
	)
	if err != nil {
		n.removePod(ip)
		return "", err
	}
	return ns, nil
}

// attachNIC gives the pod's namespace the interface of NIC c: named, addressed and up as DRANET leaves a
// moved interface. linked joins its other end to the fabric; unlinked leaves that end down, so the pod's
// interface has no carrier. Its veth pair goes with the pod's namespace.
func (n podNet) attachNIC(ip net.IP, c nic, linked bool) error {
	ns, r, host := n.podNS(ip), n.router(), n.fabricVeth(ip, c)
	_ = run("ip", "-n", r, "link", "del", host)
	cmds := [][]string{
		{"ip", "-n", r, "link", "add", host, "mtu", "9000", "type", "veth", "peer", "name", c.ifName(), "mtu", "9000", "netns", ns},
		{"ip", "-n", ns, "link", "set", c.ifName(), "address", c.mac()},
		{"ip", "-n", ns, "addr", "add", c.ipv4(), "dev", c.ifName()},
		{"ip", "-n", ns, "link", "set", c.ifName(), "up"},
	}
	if linked {
		cmds = append(cmds, []string{"ip", "-n", r, "link", "set", host, "master", fabricBridge, "up"})
	}
	return runAll(cmds...)
}

// removePod deletes the pod's namespace; its veth pair goes with it.
func (n podNet) removePod(ip net.IP) {
	_ = run("ip", "netns", "del", n.podNS(ip))
	_ = run("ip", "-n", n.router(), "link", "del", n.hostVeth(ip))
}

// listenIn opens a TCP listener inside a named network namespace: the socket stays in that namespace
// while this process keeps running in its own. Used to give a pod the API server on its loopback.
func listenIn(netns, addr string) (net.Listener, error) {
	runtime.LockOSThread() // unlocked only once the thread is back in its own namespace
	self, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer unix.Close(self)
	target, err := unix.Open("/run/netns/"+netns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer unix.Close(target)
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	ln, lerr := net.Listen("tcp", addr)
	if err := unix.Setns(self, unix.CLONE_NEWNET); err != nil {
		// This thread is in the wrong namespace: ending the goroutine while locked ends the thread too.
		if ln != nil {
			ln.Close()
		}
		runtime.Goexit()
	}
	runtime.UnlockOSThread()
	return ln, lerr
}
