// The Envoy side of testenv's inference gateway (infgw.go): what one reconcile renders (listeners per Gateway
// listener port, a virtual host per route, clusters of Service endpoints, the picker's ext_proc filter and the
// ORIGINAL_DST cluster of a pool) and how it reaches Envoy: JSON files in a folder Envoy's bootstrap watches.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

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

// pickerProtocol is how Envoy talks to a pool's picker: the body modes of its ext_proc filter.
type pickerProtocol int

const (
	// fullDuplex is the extension's standalone chart's mode, the one its full endpoint picker (cmd/epp) speaks:
	// it reads the whole body, then answers the headers and re-sends the body as streamed_response chunks,
	// which Envoy accepts only in FULL_DUPLEX_STREAMED (and that mode wants the trailers sent too).
	fullDuplex pickerProtocol = iota
	// lightweight is lwepp's: it answers each body message with "unchanged" and the headers only once it read
	// the whole body, the STREAMED mode's protocol, with the body sent without waiting for the headers'
	// answer (plain STREAMED waits for it, and the two would wait for each other; FULL_DUPLEX_STREAMED calls
	// lwepp's empty body answers "spurious").
	lightweight
)

// extProcFilter is the picker's ext_proc filter, disabled unless a route enables it, in `protocol`'s body modes.
func extProcFilter(name, cluster string, failOpen bool, protocol pickerProtocol) map[string]any {
	config := map[string]any{
		"@type":              "type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor",
		"grpc_service":       map[string]any{"envoy_grpc": map[string]any{"cluster_name": cluster}, "timeout": "10s"},
		"failure_mode_allow": failOpen,
		"message_timeout":    "30s",
		"processing_mode": map[string]any{"request_header_mode": "SEND", "response_header_mode": "SEND",
			"request_body_mode": "FULL_DUPLEX_STREAMED", "response_body_mode": "FULL_DUPLEX_STREAMED",
			"request_trailer_mode": "SEND", "response_trailer_mode": "SEND"},
	}
	if protocol == lightweight {
		config["send_body_without_waiting_for_header_response"] = true
		config["processing_mode"] = map[string]any{"request_header_mode": "SEND", "response_header_mode": "SEND",
			"request_body_mode": "STREAMED", "response_body_mode": "STREAMED"}
	}
	return map[string]any{"name": name, "disabled": true, "typed_config": config}
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
