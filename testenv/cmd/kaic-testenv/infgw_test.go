package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func sampleConfig() envoyConfig {
	clusters := map[string]any{}
	filters := map[string]any{}
	clusters["service/ns/stable/8000"] = staticCluster("service/ns/stable/8000", []string{"10.0.0.5:8000"}, false)
	clusters["service/ns/canary/8000"] = staticCluster("service/ns/canary/8000", nil, false)
	clusters["epp/ns/pool"] = staticCluster("epp/ns/pool", []string{"10.0.0.9:9002"}, true)
	clusters[originalDst] = originalDstCluster()
	filters["ext_proc/ns/pool"] = extProcFilter("ext_proc/ns/pool", "epp/ns/pool", false, lightweight)
	// A second pool whose picker speaks the standard full-duplex mode (the full endpoint picker's).
	clusters["epp/ns/scored"] = staticCluster("epp/ns/scored", []string{"10.0.0.10:9002"}, true)
	filters["ext_proc/ns/scored"] = extProcFilter("ext_proc/ns/scored", "epp/ns/scored", false, fullDuplex)
	split := envoyRoutesFor(map[string]any{"matches": []any{map[string]any{"path": map[string]any{"type": "PathPrefix", "value": "/"}}}},
		[]backend{{cluster: "service/ns/stable/8000", weight: 80}, {cluster: "service/ns/canary/8000", weight: 20}})
	header := envoyRoutesFor(map[string]any{"matches": []any{map[string]any{"path": map[string]any{"type": "PathPrefix", "value": "/"},
		"headers": []any{map[string]any{"name": "X-Model-Variant", "value": "canary"}}}}},
		[]backend{{cluster: "service/ns/canary/8000", weight: 1}})
	routes := append(split, header...)
	sortRoutes(routes)
	pool := envoyRoutesFor(map[string]any{}, []backend{{cluster: originalDst, filter: "ext_proc/ns/pool", weight: 1}})
	scored := envoyRoutesFor(map[string]any{}, []backend{{cluster: originalDst, filter: "ext_proc/ns/scored", weight: 1}})
	cfg := envoyConfig{ports: []int64{80, 8000}, hosts: []any{
		map[string]any{"name": "ns/route", "domains": []any{"a.test", "a.test:*"}, "routes": routes},
		map[string]any{"name": "ns/pool", "domains": []any{"p.test", "p.test:*"}, "routes": pool},
		map[string]any{"name": "ns/scored", "domains": []any{"s.test", "s.test:*"}, "routes": scored},
	}}
	for _, k := range sortedKeys(clusters) {
		cfg.clusters = append(cfg.clusters, clusters[k])
	}
	cfg.filters = append(cfg.filters, filters["ext_proc/ns/pool"], filters["ext_proc/ns/scored"])
	return cfg
}

func TestRendersRoutesByPrecedenceWithThePickerPerRoute(t *testing.T) {
	cfg := sampleConfig()
	routes := cfg.hosts[0].(map[string]any)["routes"].([]any)
	first := routes[0].(map[string]any)
	if h := first["match"].(map[string]any)["headers"].([]any)[0].(map[string]any); h["name"] != "x-model-variant" {
		t.Fatalf("the header rule must come first, lower-cased: %v", first)
	}
	weighted := routes[1].(map[string]any)["route"].(map[string]any)["weighted_clusters"].(map[string]any)["clusters"].([]any)
	if len(weighted) != 2 || weighted[0].(map[string]any)["weight"] != int64(80) {
		t.Fatalf("weighted clusters: %v", weighted)
	}
	pool := cfg.hosts[1].(map[string]any)["routes"].([]any)[0].(map[string]any)
	if _, ok := pool["typed_per_filter_config"].(map[string]any)["ext_proc/ns/pool"]; !ok || pool["route"].(map[string]any)["cluster"] != originalDst {
		t.Fatalf("a pool route enables its picker and goes to the original destination: %v", pool)
	}
	modes := func(i int) map[string]any {
		return cfg.filters[i].(map[string]any)["typed_config"].(map[string]any)["processing_mode"].(map[string]any)
	}
	if modes(0)["request_body_mode"] != "STREAMED" || modes(1)["request_body_mode"] != "FULL_DUPLEX_STREAMED" ||
		modes(1)["request_trailer_mode"] != "SEND" {
		t.Fatalf("lwepp's pool streams, the full picker's is full duplex with trailers: %v %v", modes(0), modes(1))
	}
	if routes[0].(map[string]any)["typed_per_filter_config"] != nil {
		t.Fatal("a Service route must not consult a picker")
	}
}

// With KAIC_TESTENV_ENVOY naming an Envoy binary (testenv/build --only envoy), Envoy itself validates what
// infgw renders: the files' resources as the static resources of a bootstrap (`envoy --mode validate`).
func TestEnvoyAcceptsTheRenderedConfig(t *testing.T) {
	dir := t.TempDir()
	g := &infGW{xdsDir: dir, written: map[string]string{}}
	// The clusters first; the listener on the next call, once Envoy knows them.
	if err := g.writeXDS(sampleConfig()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "lds.json")); err == nil {
		t.Fatal("the listener was written with the clusters it names")
	}
	if err := g.writeXDS(sampleConfig()); err != nil {
		t.Fatal(err)
	}
	static := map[string]any{}
	for file, key := range map[string]string{"lds.json": "listeners", "cds.json": "clusters"} {
		var doc struct{ Resources []map[string]any }
		data, _ := os.ReadFile(filepath.Join(dir, file))
		if err := json.Unmarshal(data, &doc); err != nil || len(doc.Resources) == 0 {
			t.Fatalf("%s: %v %s", file, err, data)
		}
		for _, r := range doc.Resources {
			delete(r, "@type")
		}
		static[key] = doc.Resources
	}
	envoy := os.Getenv("KAIC_TESTENV_ENVOY")
	if envoy == "" {
		t.Skip("KAIC_TESTENV_ENVOY unset: Envoy's own validation not run")
	}
	data, _ := json.Marshal(map[string]any{"static_resources": static})
	path := filepath.Join(dir, "bootstrap.json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(envoy, "--mode", "validate", "-c", path).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "OK") {
		t.Fatalf("envoy --mode validate: %v\n%s", err, out)
	}
}
