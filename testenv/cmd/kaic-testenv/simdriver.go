// The simulated NVIDIA DRA driver and probe-pod runtime: publishes ResourceSlices for every node labelled
// nvidia.com/gpu.present=true and the DeviceClasses NVIDIA's driver installs, and writes, for each probe
// pod, what kaic's probe script would print in each container given the devices that container was
// allocated (DRA claim or extended resource): the device nodes the runtime injects and the raw output of
// nvidia-smi (probe.go), as kwok Logs. For kaic's sandbox probe pods it writes what a container sees of
// the node under the pod's RuntimeClass handler (sandbox.go).
package main

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	resourcev1 "k8s.io/api/resource/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
)

const (
	driverName   = "gpu.nvidia.com"
	gpuResource  = corev1.ResourceName("nvidia.com/gpu")
	gpuNodeLabel = "nvidia.com/gpu.present"
	// runtimeLabel on a GPU node changes how its simulated NVIDIA runtime behaves (see probe.go):
	// accept-env (honours NVIDIA_VISIBLE_DEVICES from containers without a grant, the toolkit's
	// default) or driver-down (nvidia-smi cannot reach the driver).
	runtimeLabel  = "testenv.kaic.dev/nvidia-runtime"
	probeLabel    = "kaic.dev/probe"
	probeValue    = "nvidia"
	managedByKey  = "app.kubernetes.io/managed-by"
	managedByName = "kaic-testenv-simdriver"
)

// gpuFacts mirrors testenv/gpu.env (read at start-up so bash and Go agree).
type gpuFacts struct {
	perNode       int
	product       string
	memoryMiB     int64
	driverVersion string // e.g. 580.95.05 (nvidia-smi form)
	wrongDriver   string
	cudaMajor     string
	cudaMinor     string
	computeMajor  string
	computeMinor  string
}

func readGPUEnv(path string) (gpuFacts, error) {
	f, err := os.Open(path)
	if err != nil {
		return gpuFacts{}, err
	}
	defer f.Close()
	kv := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		if i := strings.Index(v, " #"); i >= 0 && !strings.HasPrefix(v, "\"") {
			v = v[:i]
		}
		v = strings.TrimSpace(v)
		if strings.HasPrefix(v, "\"") {
			if j := strings.Index(v[1:], "\""); j >= 0 {
				v = v[1 : j+1]
			}
		}
		kv[k] = v
	}
	n, _ := strconv.Atoi(kv["GPUS_PER_NODE"])
	mem, _ := strconv.ParseInt(kv["GPU_MEMORY_MIB"], 10, 64)
	g := gpuFacts{perNode: n, product: kv["GPU_PRODUCT"], memoryMiB: mem, driverVersion: kv["DRIVER_VERSION"],
		wrongDriver: kv["WRONG_DRIVER_VERSION"], cudaMajor: kv["CUDA_MAJOR"], cudaMinor: kv["CUDA_MINOR"],
		computeMajor: kv["GPU_COMPUTE_MAJOR"], computeMinor: kv["GPU_COMPUTE_MINOR"]}
	if g.perNode <= 0 || g.product == "" || g.driverVersion == "" {
		return g, fmt.Errorf("%s: incomplete GPU facts %+v", path, g)
	}
	return g, nil
}

// semver turns an nvidia-smi driver version (580.95.05) into the semver the
// NVIDIA DRA driver publishes (580.95.5).
func semver(v string) string {
	parts := strings.Split(v, ".")
	for len(parts) < 3 {
		parts = append(parts, "0")
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err == nil {
			parts[i] = strconv.Itoa(n)
		}
	}
	return strings.Join(parts[:3], ".")
}

// gpuUUID is a stable, node- and index-derived UUID in nvidia-smi form.
func gpuUUID(node string, index int) string {
	h := sha1.Sum([]byte(fmt.Sprintf("kaic-testenv/%s/%d", node, index)))
	return fmt.Sprintf("GPU-%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

type simDriver struct {
	cs      kubernetes.Interface
	dyn     dynamic.Interface
	g       gpuFacts
	dra     bool
	mode    string // correct | leaky | wrong-driver
	nics    string // none | attached | not-attached (netdev.go)
	logDir  string
	ready   atomic.Bool
	synced  atomic.Bool // pod events are handled only after the initial ordered replay
	mu      sync.Mutex
	ext     map[string]map[int]string // node -> gpu index -> pod key holding it (extended resource path)
	extPods map[string][]int          // pod key -> indices
	written map[string]bool           // pod uid -> probe logs written
	nodes   cache.Store
	// plainHandlers are RuntimeClass handlers the simulated nodes run with runc (sandbox.go).
	plainHandlers map[string]bool
}

func runSimDriver(args []string) error {
	fs := flag.NewFlagSet("simdriver", flag.ExitOnError)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig")
	state := fs.String("state", "", "testenv state dir (probe logs go to <state>/probe-logs)")
	dra := fs.Bool("dra", true, "publish DeviceClass and ResourceSlices (resource.k8s.io/v1)")
	mode := fs.String("mode", "correct", "probe runtime behaviour: correct | leaky | wrong-driver")
	health := fs.String("health-addr", "127.0.0.1:0", "address of /healthz and /readyz")
	gpuEnv := fs.String("gpu-env", "", "path of gpu.env (default: next to the testenv scripts, via $KAIC_TESTENV_DIR)")
	nics := fs.String("nics", "none", "simulated DRANET NICs on GPU nodes: none | attached | not-attached (netdev.go)")
	plainHandlers := fs.String("plain-handlers", "", "comma-separated RuntimeClass handlers the simulated nodes run with runc, whatever they claim (sandbox.go)")
	_ = fs.Parse(args)
	switch *mode {
	case "correct", "leaky", "wrong-driver":
	default:
		return fmt.Errorf("unknown --mode %q", *mode)
	}
	if !slices.Contains(nicModes, *nics) {
		return fmt.Errorf("unknown --nics %q (known: %s)", *nics, strings.Join(nicModes, ", "))
	}
	if *gpuEnv == "" {
		*gpuEnv = filepath.Join(os.Getenv("KAIC_TESTENV_DIR"), "gpu.env")
	}
	g, err := readGPUEnv(*gpuEnv)
	if err != nil {
		return err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 50, 100
	d := &simDriver{g: g, dra: *dra, mode: *mode, nics: *nics, logDir: filepath.Join(*state, "probe-logs"),
		ext: map[string]map[int]string{}, extPods: map[string][]int{}, written: map[string]bool{},
		plainHandlers: handlerSet(*plainHandlers)}
	if d.cs, err = kubernetes.NewForConfig(cfg); err != nil {
		return err
	}
	if d.dyn, err = dynamic.NewForConfig(cfg); err != nil {
		return err
	}
	if err := os.MkdirAll(d.logDir, 0o755); err != nil {
		return err
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()

	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !d.ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	srv := &http.Server{Addr: *health, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
			log.Fatalf("health server: %v", err)
		}
	}()

	factory := informers.NewSharedInformerFactory(d.cs, 0)
	podInf := factory.Core().V1().Pods().Informer()
	nodeInf := factory.Core().V1().Nodes().Informer()
	d.nodes = nodeInf.GetStore()
	_, _ = podInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(o any) {
			if d.synced.Load() {
				d.onPod(ctx, o.(*corev1.Pod))
			}
		},
		UpdateFunc: func(_, o any) {
			if d.synced.Load() {
				d.onPod(ctx, o.(*corev1.Pod))
			}
		},
		DeleteFunc: func(o any) {
			if p, ok := o.(*corev1.Pod); ok {
				d.release(p)
			} else if t, ok := o.(cache.DeletedFinalStateUnknown); ok {
				if p, ok := t.Obj.(*corev1.Pod); ok {
					d.release(p)
				}
			}
		},
	})
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), podInf.HasSynced, nodeInf.HasSynced) {
		return fmt.Errorf("informers did not sync")
	}
	// Replay the pods that already exist in creation order, so that extended-resource
	// index assignments after a restart are deterministic (oldest pod is served first).
	existing := podInf.GetStore().List()
	sort.Slice(existing, func(i, j int) bool {
		a, b := existing[i].(*corev1.Pod), existing[j].(*corev1.Pod)
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		return a.Namespace+"/"+a.Name < b.Namespace+"/"+b.Name
	})
	for _, o := range existing {
		d.onPod(ctx, o.(*corev1.Pod))
	}
	d.synced.Store(true)
	log.Printf("simdriver: started (dra=%v mode=%s, %d GPUs per node, driver %s, handlers run with runc: %q)", d.dra, d.mode, g.perNode, g.driverVersion, *plainHandlers)
	for {
		if err := d.reconcileDRA(ctx, nodeInf.GetStore().List()); err != nil {
			log.Printf("reconcile: %v", err)
		} else if !d.ready.Load() {
			d.ready.Store(true)
			log.Printf("simdriver: ready")
		}
		select {
		case <-ctx.Done():
			_ = srv.Close()
			return nil
		case <-time.After(5 * time.Second):
		}
	}
}

// ---------------------------------------------------------------- DRA publishing

// deviceClasses are the classes NVIDIA's DRA driver installs: whole GPUs and MIG instances. This
// driver publishes whole GPUs only, so mig.nvidia.com selects none of them (as on a node without MIG).
func (d *simDriver) deviceClasses() []*resourcev1.DeviceClass {
	class := func(name, kind string) *resourcev1.DeviceClass {
		return &resourcev1.DeviceClass{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{managedByKey: managedByName}},
			Spec: resourcev1.DeviceClassSpec{Selectors: []resourcev1.DeviceSelector{{CEL: &resourcev1.CELDeviceSelector{
				Expression: fmt.Sprintf("device.driver == '%s' && device.attributes['%s'].type == '%s'", driverName, driverName, kind),
			}}}},
		}
	}
	return []*resourcev1.DeviceClass{class(driverName, "gpu"), class("mig.nvidia.com", "mig")}
}

// gpuShape is how a GPU node's simulated GPUs are counted from its labels: the physical GPUs (GPU
// feature discovery's nvidia.com/gpu.count, else GPUS_PER_NODE) and the replicas the device plugin
// shares each into (nvidia.com/gpu.replicas above 1: time-slicing, else 1). A time-sliced node
// advertises physical × replicas nvidia.com/gpu, and every container holding a replica of one GPU
// sees that GPU, as with the real device plugin; the DRA driver publishes the physical GPUs only.
func (d *simDriver) gpuShape(labels map[string]string) (physical, replicas int) {
	physical, replicas = d.g.perNode, 1
	if n, err := strconv.Atoi(labels["nvidia.com/gpu.count"]); err == nil && n > 0 {
		physical = n
	}
	if n, err := strconv.Atoi(labels["nvidia.com/gpu.replicas"]); err == nil && n > 1 {
		replicas = n
	}
	return physical, replicas
}

// nodeShape is gpuShape for a node known to the informer (GPUS_PER_NODE unshared otherwise).
func (d *simDriver) nodeShape(name string) (physical, replicas int) {
	if d.nodes != nil {
		if o, ok, _ := d.nodes.GetByKey(name); ok {
			return d.gpuShape(o.(*corev1.Node).Labels)
		}
	}
	return d.gpuShape(nil)
}

func (d *simDriver) slice(node *corev1.Node) *resourcev1.ResourceSlice {
	physical, _ := d.gpuShape(node.Labels)
	devs := make([]resourcev1.Device, 0, physical)
	str := func(s string) resourcev1.DeviceAttribute { return resourcev1.DeviceAttribute{StringValue: ptr.To(s)} }
	ver := func(s string) resourcev1.DeviceAttribute { return resourcev1.DeviceAttribute{VersionValue: ptr.To(s)} }
	num := func(i int) resourcev1.DeviceAttribute { return resourcev1.DeviceAttribute{IntValue: ptr.To(int64(i))} }
	for i := 0; i < physical; i++ {
		devs = append(devs, resourcev1.Device{
			Name: fmt.Sprintf("gpu-%d", i),
			Attributes: map[resourcev1.QualifiedName]resourcev1.DeviceAttribute{
				"type":                            str("gpu"),
				"index":                           num(i),
				"minor":                           num(i),
				"uuid":                            str(gpuUUID(node.Name, i)),
				"productName":                     str(d.g.product),
				"brand":                           str("Nvidia"),
				"architecture":                    str("Hopper"),
				"driverVersion":                   ver(semver(d.g.driverVersion)),
				"cudaDriverVersion":               ver(semver(d.g.cudaMajor + "." + d.g.cudaMinor)),
				"cudaComputeCapability":           ver(semver(d.g.computeMajor + "." + d.g.computeMinor)),
				"pcieBusID":                       str(fmt.Sprintf("0000:%02x:00.0", 0x18+0x10*i)),
				"resource.kubernetes.io/pcieRoot": str(fmt.Sprintf("pci0000:%02x", 0x10*(i/2))),
			},
			Capacity: map[resourcev1.QualifiedName]resourcev1.DeviceCapacity{
				"memory": {Value: *resource.NewQuantity(d.g.memoryMiB*1024*1024, resource.BinarySI)},
			},
		})
	}
	return nodeSlice(node, driverName, devs)
}

// nodeSlice is the one ResourceSlice of driver's pool on node (the pool is named after the node), owned by
// the node so it goes with it.
func nodeSlice(node *corev1.Node, driver string, devs []resourcev1.Device) *resourcev1.ResourceSlice {
	return &resourcev1.ResourceSlice{
		ObjectMeta: metav1.ObjectMeta{
			Name:            node.Name + "-" + driver,
			Labels:          map[string]string{managedByKey: managedByName},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID}},
		},
		Spec: resourcev1.ResourceSliceSpec{
			Driver:   driver,
			NodeName: ptr.To(node.Name),
			Pool:     resourcev1.ResourcePool{Name: node.Name, Generation: 1, ResourceSliceCount: 1},
			Devices:  devs,
		},
	}
}

func (d *simDriver) reconcileDRA(ctx context.Context, nodes []any) error {
	if !d.dra {
		return nil
	}
	classes := d.deviceClasses()
	if d.nics != "none" {
		classes = append(classes, nicDeviceClass())
	}
	for _, class := range classes {
		if _, err := d.cs.ResourceV1().DeviceClasses().Get(ctx, class.Name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
			if _, err := d.cs.ResourceV1().DeviceClasses().Create(ctx, class, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("create DeviceClass %s: %w", class.Name, err)
			}
			log.Printf("created DeviceClass %s", class.Name)
		} else if err != nil {
			return err
		}
	}
	gpuNodes := 0
	for _, o := range nodes {
		n := o.(*corev1.Node)
		if n.Labels[gpuNodeLabel] != "true" {
			continue
		}
		gpuNodes++
		wanted := []*resourcev1.ResourceSlice{d.slice(n)}
		if d.nics != "none" {
			wanted = append(wanted, nicSlice(n))
		}
		for _, want := range wanted {
			if _, err := d.cs.ResourceV1().ResourceSlices().Get(ctx, want.Name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
				if _, err := d.cs.ResourceV1().ResourceSlices().Create(ctx, want, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
					return fmt.Errorf("create ResourceSlice %s: %w", want.Name, err)
				}
				log.Printf("published ResourceSlice %s (%d devices)", want.Name, len(want.Spec.Devices))
			} else if err != nil {
				return err
			}
		}
	}
	if gpuNodes == 0 {
		return fmt.Errorf("no GPU nodes (label %s=true) yet", gpuNodeLabel)
	}
	return nil
}

// ---------------------------------------------------------------- simulated container runtime

func podKey(p *corev1.Pod) string { return p.Namespace + "/" + p.Name + "/" + string(p.UID) }

func terminal(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed || p.DeletionTimestamp != nil
}

func extRequest(c corev1.Container) int {
	q, ok := c.Resources.Limits[gpuResource]
	if !ok {
		q, ok = c.Resources.Requests[gpuResource]
	}
	if !ok {
		return 0
	}
	return int(q.Value())
}

func (d *simDriver) release(p *corev1.Pod) {
	d.mu.Lock()
	defer d.mu.Unlock()
	k := podKey(p)
	for _, i := range d.extPods[k] {
		delete(d.ext[p.Spec.NodeName], i)
	}
	delete(d.extPods, k)
	delete(d.written, string(p.UID))
}

// assignExt gives each container that requests nvidia.com/gpu distinct device
// slots on the pod's node (highest free first), like the device plugin +
// kubelet device manager would, and returns the GPU index behind each: a slot
// is a GPU, or on a time-sliced node one of its replicas (slot % physical GPUs,
// so replicas spread over the GPUs). Assignments live as long as the pod is not
// terminal.
func (d *simDriver) assignExt(ctx context.Context, p *corev1.Pod) map[string][]int {
	draUsed := map[int]bool{}
	if d.dra && d.needsExt(p) {
		draUsed = d.draUsedIndices(ctx, p.Spec.NodeName)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	k := podKey(p)
	node := p.Spec.NodeName
	physical, replicas := d.nodeShape(node)
	if d.ext[node] == nil {
		d.ext[node] = map[int]string{}
	}
	res := map[string][]int{}
	containers := append(append([]corev1.Container{}, p.Spec.InitContainers...), p.Spec.Containers...)
	have := d.extPods[k]
	if have == nil {
		for _, c := range containers {
			for n := extRequest(c); n > 0; n-- {
				// Prefer a GPU neither held through the extended resource nor
				// allocated through DRA; fall back to one only DRA holds (the
				// node advertises both paths for the same 4 GPUs). Highest free
				// index first: the scheduler's DRA allocator takes gpu-0 upwards,
				// so the two paths only meet when the node is nearly full.
				idx := -1
				for _, avoidDRA := range []bool{true, false} {
					for i := physical*replicas - 1; i >= 0 && idx < 0; i-- {
						if _, used := d.ext[node][i]; !used && !(avoidDRA && draUsed[i%physical]) {
							idx = i
						}
					}
				}
				if idx < 0 {
					log.Printf("pod %s: no free nvidia.com/gpu index left on %s (over-committed)", k, node)
					break
				}
				d.ext[node][idx] = k
				have = append(have, idx)
			}
		}
		d.extPods[k] = have
	}
	// Split the pod's indices over its containers in order.
	pos := 0
	for _, c := range containers {
		n := extRequest(c)
		for j := 0; j < n && pos < len(have); j++ {
			res[c.Name] = append(res[c.Name], have[pos]%physical)
			pos++
		}
	}
	return res
}

func (d *simDriver) needsExt(p *corev1.Pod) bool {
	d.mu.Lock()
	_, have := d.extPods[podKey(p)]
	d.mu.Unlock()
	if have {
		return false
	}
	for _, c := range append(append([]corev1.Container{}, p.Spec.InitContainers...), p.Spec.Containers...) {
		if extRequest(c) > 0 {
			return true
		}
	}
	return false
}

// draUsedIndices lists the GPU indices on node that allocated ResourceClaims hold.
func (d *simDriver) draUsedIndices(ctx context.Context, node string) map[int]bool {
	used := map[int]bool{}
	claims, err := d.cs.ResourceV1().ResourceClaims("").List(ctx, metav1.ListOptions{})
	if err != nil {
		log.Printf("list ResourceClaims: %v", err)
		return used
	}
	for _, c := range claims.Items {
		if c.Status.Allocation == nil {
			continue
		}
		for _, r := range c.Status.Allocation.Devices.Results {
			if r.Driver == driverName && r.Pool == node {
				if i, err := strconv.Atoi(strings.TrimPrefix(r.Device, "gpu-")); err == nil {
					used[i] = true
				}
			}
		}
	}
	return used
}

type gpuDev struct {
	index int
	uuid  string
}

// draDevices returns, per container, the gpu.nvidia.com devices allocated to
// the claims (and requests) that container references.
func (d *simDriver) draDevices(ctx context.Context, p *corev1.Pod) (map[string][]gpuDev, error) {
	res := map[string][]gpuDev{}
	if !d.dra || len(p.Spec.ResourceClaims) == 0 {
		return res, nil
	}
	results, err := claimResults(ctx, d.cs, p)
	if err != nil {
		return nil, err
	}
	for _, c := range podContainers(p) {
		for _, r := range containerGPUs(c, results) {
			if idx, err := strconv.Atoi(strings.TrimPrefix(r.Device, "gpu-")); err == nil {
				res[c.Name] = append(res[c.Name], gpuDev{index: idx, uuid: gpuUUID(r.Pool, idx)})
			}
		}
	}
	return res, nil
}

func (d *simDriver) onPod(ctx context.Context, p *corev1.Pod) {
	if p.Spec.NodeName == "" {
		return
	}
	if terminal(p) {
		if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded {
			d.releaseExtOnly(p)
		}
		return
	}
	o, ok, _ := d.nodes.GetByKey(p.Spec.NodeName)
	gpuNode := ok && o.(*corev1.Node).Labels[gpuNodeLabel] == "true"
	ext := map[string][]int{}
	if gpuNode {
		ext = d.assignExt(ctx, p)
		d.recordExt(ctx, p, ext)
	}
	probe := p.Labels[probeLabel]
	// Network probe pods (netProbeValue) are podrun's: busybox runs in their network namespace.
	if probe != probeValue && probe != sandboxProbeValue {
		return
	}
	d.mu.Lock()
	done := d.written[string(p.UID)]
	d.mu.Unlock()
	if done {
		return
	}
	if probe == sandboxProbeValue {
		d.onSandboxProbe(ctx, p)
		return
	}
	dra, err := d.draDevices(ctx, p)
	if err != nil {
		log.Printf("probe pod %s/%s: %v (will retry on next update)", p.Namespace, p.Name, err)
		go func() { time.Sleep(time.Second); d.retry(ctx, p.Namespace, p.Name) }()
		return
	}
	if err := d.writeProbeLogs(ctx, p, gpuNode, ext, dra); err != nil {
		log.Printf("probe pod %s/%s: %v", p.Namespace, p.Name, err)
		return
	}
	d.mu.Lock()
	d.written[string(p.UID)] = true
	d.mu.Unlock()
}

// claimResults are the allocation results of the pod's claims by claim name; an error while one is not
// allocated yet.
func claimResults(ctx context.Context, cs kubernetes.Interface, p *corev1.Pod) (map[string][]resourcev1.DeviceRequestAllocationResult, error) {
	results := map[string][]resourcev1.DeviceRequestAllocationResult{}
	for podName, objName := range podClaimObjects(p) {
		claim, err := cs.ResourceV1().ResourceClaims(p.Namespace).Get(ctx, objName, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("claim %s/%s: %w", p.Namespace, objName, err)
		}
		if claim.Status.Allocation == nil {
			return nil, fmt.Errorf("claim %s/%s not allocated yet", p.Namespace, objName)
		}
		results[podName] = claim.Status.Allocation.Devices.Results
	}
	return results, nil
}

// podClaimObjects maps a pod's claim names to the names of their ResourceClaim objects (named in the spec,
// or generated from a template and recorded in the status).
func podClaimObjects(p *corev1.Pod) map[string]string {
	names := map[string]string{}
	for _, rc := range p.Spec.ResourceClaims {
		if rc.ResourceClaimName != nil {
			names[rc.Name] = *rc.ResourceClaimName
		}
	}
	for _, st := range p.Status.ResourceClaimStatuses {
		if st.ResourceClaimName != nil {
			names[st.Name] = *st.ResourceClaimName
		}
	}
	return names
}

// containerGPUs picks the gpu.nvidia.com results (once each) of the claims and requests a container
// references, from the allocation results of the pod's claims by claim name.
func containerGPUs(c corev1.Container, results map[string][]resourcev1.DeviceRequestAllocationResult) []resourcev1.DeviceRequestAllocationResult {
	return containerResults(c, results, driverName)
}

// containerResults picks driver's results (once each) of the claims and requests a container references,
// from the allocation results of the pod's claims by claim name.
func containerResults(c corev1.Container, results map[string][]resourcev1.DeviceRequestAllocationResult, driver string) []resourcev1.DeviceRequestAllocationResult {
	var picked []resourcev1.DeviceRequestAllocationResult
	seen := map[string]bool{}
	for _, ref := range c.Resources.Claims {
		for _, r := range results[ref.Name] {
			if r.Driver != driver || seen[r.Pool+"/"+r.Device] {
				continue
			}
			if ref.Request != "" && r.Request != ref.Request && !strings.HasPrefix(r.Request, ref.Request+"/") {
				continue
			}
			seen[r.Pool+"/"+r.Device] = true
			picked = append(picked, r)
		}
	}
	return picked
}

// recordExt publishes a pod's nvidia.com/gpu indices per container on the pod (devicePluginAnnotation),
// as the kubelet's pod-resources API would: dcgmsim attributes devices to pods from there.
func (d *simDriver) recordExt(ctx context.Context, p *corev1.Pod, ext map[string][]int) {
	if len(ext) == 0 || p.DeletionTimestamp != nil {
		return
	}
	raw, err := json.Marshal(ext)
	if err != nil || p.Annotations[devicePluginAnnotation] == string(raw) {
		return
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{devicePluginAnnotation: string(raw)}}})
	if _, err := d.cs.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		log.Printf("pod %s/%s: recording its devices: %v", p.Namespace, p.Name, err)
	}
}

func (d *simDriver) retry(ctx context.Context, ns, name string) {
	p, err := d.cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if err == nil {
		d.onPod(ctx, p)
	}
}

// releaseExtOnly frees extended-resource indices of a finished pod but keeps
// the "logs written" mark (logs stay readable after completion).
func (d *simDriver) releaseExtOnly(p *corev1.Pod) {
	d.mu.Lock()
	defer d.mu.Unlock()
	k := podKey(p)
	for _, i := range d.extPods[k] {
		if d.ext[p.Spec.NodeName][i] == k {
			delete(d.ext[p.Spec.NodeName], i)
		}
	}
	delete(d.extPods, k)
}
