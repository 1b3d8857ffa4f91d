// The Gateway API side both of testenv's own gateway controllers share (naivegw.go, infgw.go): accepting the
// GatewayClasses of their controllerName, finding the Gateways of those classes, and writing a Gateway's status
// (Accepted and Programmed with the gateway pod's address, each listener with its attached routes), as a
// conformant controller writes them; and reading unstructured objects.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"sort"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

var (
	gatewayClassGVR = schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "gatewayclasses"}
	gatewayGVR      = schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "gateways"}
	httpRouteGVR    = schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"}
	serviceGVR      = schema.GroupVersionResource{Version: "v1", Resource: "services"}
	sliceGVR        = schema.GroupVersionResource{Group: "discovery.k8s.io", Version: "v1", Resource: "endpointslices"}
)

// controllerFlags are the flags both controllers take: their controllerName, the address they write into Gateway
// status, and how they reach the API server.
type controllerFlags struct {
	controller, address, apiServer, tokenFile, caFile *string
}

func addControllerFlags(fs *flag.FlagSet, defaultController string) controllerFlags {
	return controllerFlags{
		controller: fs.String("controller", defaultController, "the GatewayClass controllerName this serves"),
		address:    fs.String("address", "", "the address written to Gateway status (this pod's IP)"),
		apiServer:  fs.String("api-server", "", "API server URL"),
		tokenFile:  fs.String("token-file", "", "service account token file"),
		caFile:     fs.String("ca-file", "", "cluster CA file"),
	}
}

// client is the dynamic client the flags name.
func (f controllerFlags) client() (dynamic.Interface, error) {
	return dynamic.NewForConfig(&rest.Config{Host: *f.apiServer, BearerTokenFile: *f.tokenFile,
		TLSClientConfig: rest.TLSClientConfig{CAFile: *f.caFile}})
}

// reconcileEverySecond runs reconcile until ctx ends, logging its errors under name.
func reconcileEverySecond(ctx context.Context, name string, reconcile func(context.Context) error) {
	for {
		if err := reconcile(ctx); err != nil {
			log.Printf("%s: %v", name, err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// routesOldestFirst are every HTTPRoute, oldest first.
func routesOldestFirst(ctx context.Context, dyn dynamic.Interface) ([]unstructured.Unstructured, error) {
	routes, err := dyn.Resource(httpRouteGVR).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	sort.Slice(routes.Items, func(i, j int) bool {
		a, b := routes.Items[i].GetCreationTimestamp(), routes.Items[j].GetCreationTimestamp()
		return a.Before(&b)
	})
	return routes.Items, nil
}

// ourGateways accepts the GatewayClasses of controller and returns the Gateways of those classes, by
// namespace/name.
func ourGateways(ctx context.Context, dyn dynamic.Interface, controller string) (map[string]*unstructured.Unstructured, error) {
	classes, err := dyn.Resource(gatewayClassGVR).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	ours := map[string]bool{}
	for i := range classes.Items {
		c := &classes.Items[i]
		if ctl, _, _ := unstructured.NestedString(c.Object, "spec", "controllerName"); ctl != controller {
			continue
		}
		ours[c.GetName()] = true
		if !current(c, "status", "conditions") {
			_ = unstructured.SetNestedSlice(c.Object, []any{condition("Accepted", "Accepted", c.GetGeneration())}, "status", "conditions")
			if _, err := dyn.Resource(gatewayClassGVR).UpdateStatus(ctx, c, metav1.UpdateOptions{}); err != nil {
				log.Printf("GatewayClass %s: %v", c.GetName(), err)
			}
		}
	}
	gateways, err := dyn.Resource(gatewayGVR).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	found := map[string]*unstructured.Unstructured{}
	for i := range gateways.Items {
		gw := &gateways.Items[i]
		if class, _, _ := unstructured.NestedString(gw.Object, "spec", "gatewayClassName"); ours[class] {
			found[gw.GetNamespace()+"/"+gw.GetName()] = gw
		}
	}
	return found, nil
}

// writeGatewayStatus writes the Gateway Accepted and Programmed at address, each listener Accepted with its
// attached routes, unless that is what its status says already.
func writeGatewayStatus(ctx context.Context, dyn dynamic.Interface, gw *unstructured.Unstructured, address string, attached int64) {
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
		"addresses":  []any{map[string]any{"type": "IPAddress", "value": address}},
		"conditions": []any{condition("Accepted", "Accepted", gen), condition("Programmed", "Programmed", gen)},
		"listeners":  statuses,
	}, "status")
	if _, err := dyn.Resource(gatewayGVR).Namespace(gw.GetNamespace()).UpdateStatus(ctx, gw, metav1.UpdateOptions{}); err != nil {
		log.Printf("Gateway %s/%s: %v", gw.GetNamespace(), gw.GetName(), err)
	}
}

// condition is a metav1.Condition as unstructured JSON.
func condition(typ, reason string, generation int64) map[string]any {
	return map[string]any{"type": typ, "status": "True", "reason": reason, "message": "",
		"observedGeneration": generation, "lastTransitionTime": time.Now().UTC().Format(time.RFC3339)}
}

// current says whether the object's conditions (at path) were written for its generation already.
func current(o *unstructured.Unstructured, path ...string) bool {
	conds, _, _ := unstructured.NestedSlice(o.Object, path...)
	if len(conds) == 0 {
		return false
	}
	c, _ := conds[0].(map[string]any)
	g, _ := c["observedGeneration"].(int64)
	return g == o.GetGeneration()
}

func sameAttached(old, new []any) bool {
	a, _ := json.Marshal(pick(old, "attachedRoutes"))
	b, _ := json.Marshal(pick(new, "attachedRoutes"))
	return string(a) == string(b)
}

func pick(items []any, key string) []any {
	var out []any
	for _, i := range items {
		m, _ := i.(map[string]any)
		out = append(out, fmt.Sprint(m[key]))
	}
	return out
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
