// dcgmsim: a simulated NVIDIA DCGM exporter for one node, run by podrun in the exporter pod's network
// namespace (image nvcr.io/nvidia/k8s/dcgm-exporter:*). It serves /metrics with dcgm-exporter's metric
// names and labels for the node's simulated GPUs (gpu.env: the same "hardware" the sim driver
// advertises), and attributes devices to pods the way dcgm-exporter does through the kubelet's
// pod-resources API: from the API only, DRA claims' allocation results and the device-plugin
// assignments the simulated device manager records on pods (annotation devicePluginAnnotation).
//
// Values follow the workload: a device held by a running pod labelled kaic.dev/probe-load shows ~95 %
// utilisation and most of its memory used; other devices idle at 0. Mode "frozen" (profile
// frozen-metrics) samples once at start and never again, like an exporter whose DCGM host engine hung.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	resourcev1 "k8s.io/api/resource/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

const (
	// devicePluginAnnotation records, per container, the nvidia.com/gpu indices the simulated device
	// manager assigned ({"main":[3,2]}): testenv's stand-in for the kubelet's pod-resources API.
	devicePluginAnnotation = "testenv.kaic.dev/nvidia-gpus"
	loadLabel              = "kaic.dev/probe-load"
)

// gpuSample is one device's reading and, while allocated, the pod holding it.
type gpuSample struct {
	index                     int
	util, fbUsed, temp, power float64
	nvlink                    float64
	namespace, pod, container string
}

type dcgmSim struct {
	cs   *kubernetes.Clientset
	node string
	g    gpuFacts
	mu   sync.Mutex
	text string
}

func runDCGMSim(args []string) error {
	fs := flag.NewFlagSet("dcgmsim", flag.ExitOnError)
	node := fs.String("node", os.Getenv("NODE_NAME"), "the node whose GPUs to report (downward API spec.nodeName)")
	listen := fs.String("listen", ":9400", "address of /metrics")
	saDir := fs.String("sa-dir", saMountPath, "service account folder (token, ca.crt)")
	mode := fs.String("mode", envOr("KAIC_TESTENV_DCGM_MODE", "correct"), "correct | frozen")
	interval := fs.Duration("interval", time.Second, "collection interval (dcgm-exporter's default is 30 s; testenv is impatient)")
	gpuEnv := fs.String("gpu-env", filepath.Join(os.Getenv("KAIC_TESTENV_DIR"), "gpu.env"), "path of gpu.env")
	_ = fs.Parse(args)
	if *node == "" {
		return fmt.Errorf("no node: set --node or NODE_NAME (downward API spec.nodeName)")
	}
	if *mode != "correct" && *mode != "frozen" {
		return fmt.Errorf("unknown --mode %q (correct | frozen)", *mode)
	}
	g, err := readGPUEnv(*gpuEnv)
	if err != nil {
		return err
	}
	token, err := os.ReadFile(filepath.Join(*saDir, "token"))
	if err != nil {
		return fmt.Errorf("service account token: %w", err)
	}
	cfg := &rest.Config{
		Host:            "https://" + os.Getenv("KUBERNETES_SERVICE_HOST") + ":" + os.Getenv("KUBERNETES_SERVICE_PORT"),
		BearerToken:     strings.TrimSpace(string(token)),
		TLSClientConfig: rest.TLSClientConfig{CAFile: filepath.Join(*saDir, "ca.crt")},
	}
	s := &dcgmSim{node: *node, g: g}
	if s.cs, err = kubernetes.NewForConfig(cfg); err != nil {
		return err
	}
	ctx := context.Background()
	go func() {
		for {
			samples, err := s.sample(ctx)
			if err != nil {
				log.Printf("dcgmsim: %v", err)
			} else {
				s.mu.Lock()
				s.text = exposition(samples, g, *node)
				s.mu.Unlock()
				if *mode == "frozen" {
					log.Printf("dcgmsim: frozen: serving the first sample from now on")
					return
				}
			}
			time.Sleep(*interval)
		}
	}()
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		text := s.text
		s.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_, _ = w.Write([]byte(text))
	})
	mux.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	log.Printf("dcgmsim: node %s, %d GPUs, mode %s, listening on %s", *node, g.perNode, *mode, *listen)
	srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	return srv.ListenAndServe()
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// sample reads the node's pods and their devices from the API and turns them into readings.
func (s *dcgmSim) sample(ctx context.Context) ([]gpuSample, error) {
	pods, err := s.cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + s.node})
	if err != nil {
		return nil, err
	}
	samples := make([]gpuSample, s.g.perNode)
	for i := range samples {
		samples[i] = gpuSample{index: i, temp: 31, power: 68}
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.Status.Phase != corev1.PodRunning && p.Status.Phase != corev1.PodPending {
			continue
		}
		held, err := s.podDevices(ctx, p)
		if err != nil {
			return nil, err
		}
		loaded := p.Labels[loadLabel] != "" && p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil
		for container, indices := range held {
			for _, idx := range indices {
				if idx < 0 || idx >= len(samples) {
					continue
				}
				smp := &samples[idx]
				smp.namespace, smp.pod, smp.container = p.Namespace, p.Name, container
				if loaded {
					smp.util = 95 + float64(time.Now().UnixNano()%5)
					smp.fbUsed = float64(s.g.memoryMiB) * 0.62
					smp.temp, smp.power, smp.nvlink = 67, 612, 182000
				}
			}
		}
	}
	return samples, nil
}

// podDevices maps a pod's containers to the GPU indices they hold on this node: DRA claims' allocation
// results for driver gpu.nvidia.com in this node's pool, and device-plugin assignments.
func (s *dcgmSim) podDevices(ctx context.Context, p *corev1.Pod) (map[string][]int, error) {
	held := map[string][]int{}
	if raw := p.Annotations[devicePluginAnnotation]; raw != "" {
		var byContainer map[string][]int
		if err := json.Unmarshal([]byte(raw), &byContainer); err == nil {
			for c, idx := range byContainer {
				held[c] = append(held[c], idx...)
			}
		}
	}
	results := map[string][]resourcev1.DeviceRequestAllocationResult{}
	for podName, objName := range podClaimObjects(p) {
		claim, err := s.cs.ResourceV1().ResourceClaims(p.Namespace).Get(ctx, objName, metav1.GetOptions{})
		if err != nil || claim.Status.Allocation == nil {
			continue // not allocated yet, or already gone
		}
		results[podName] = claim.Status.Allocation.Devices.Results
	}
	for _, c := range podContainers(p) {
		for _, r := range containerGPUs(c, results) {
			if idx, err := strconv.Atoi(strings.TrimPrefix(r.Device, "gpu-")); err == nil && r.Pool == s.node {
				held[c.Name] = append(held[c.Name], idx)
			}
		}
	}
	return held, nil
}

// exposition renders the samples in dcgm-exporter's format (text exposition 0.0.4, one gauge family
// per field, device labels on every series, pod labels only while a pod holds the device).
func exposition(samples []gpuSample, g gpuFacts, node string) string {
	type field struct {
		name, help string
		value      func(gpuSample) float64
	}
	fields := []field{
		{"DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %).", func(s gpuSample) float64 { return s.util }},
		{"DCGM_FI_DEV_MEM_COPY_UTIL", "Memory utilization (in %).", func(s gpuSample) float64 { return s.util * 0.4 }},
		{"DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB).", func(s gpuSample) float64 { return s.fbUsed }},
		{"DCGM_FI_DEV_FB_FREE", "Framebuffer memory free (in MiB).", func(s gpuSample) float64 { return float64(g.memoryMiB) - s.fbUsed }},
		{"DCGM_FI_DEV_GPU_TEMP", "GPU temperature (in C).", func(s gpuSample) float64 { return s.temp }},
		{"DCGM_FI_DEV_POWER_USAGE", "Power draw (in W).", func(s gpuSample) float64 { return s.power }},
		{"DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL", "Total number of NVLink bandwidth counters for all lanes.", func(s gpuSample) float64 { return s.nvlink }},
		{"DCGM_FI_PROF_GR_ENGINE_ACTIVE", "Ratio of time the graphics engine is active.", func(s gpuSample) float64 { return s.util / 100 }},
	}
	sorted := append([]gpuSample(nil), samples...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].index < sorted[j].index })
	var b strings.Builder
	for _, f := range fields {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s gauge\n", f.name, f.help, f.name)
		for _, s := range sorted {
			labels := fmt.Sprintf(`gpu="%d",UUID="%s",pci_bus_id="00000000:%02X:00.0",device="nvidia%d",modelName="%s",Hostname="%s",DCGM_FI_DRIVER_VERSION="%s"`,
				s.index, gpuUUID(node, s.index), 0x18+s.index*0x10, s.index, g.product, node, g.driverVersion)
			if s.pod != "" {
				labels += fmt.Sprintf(`,container="%s",namespace="%s",pod="%s"`, s.container, s.namespace, s.pod)
			}
			fmt.Fprintf(&b, "%s{%s} %s\n", f.name, labels, strconv.FormatFloat(f.value(s), 'f', -1, 64))
		}
	}
	return b.String()
}
