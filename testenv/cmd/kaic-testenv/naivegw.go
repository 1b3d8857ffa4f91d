// naivegw: a deliberately naive Gateway API implementation for the broken profile naive-gateway. Its
// controller reports every GatewayClass of its controllerName Accepted, every Gateway of those classes
// Accepted and Programmed (with this pod's address), every HTTPRoute attached to them Accepted with its refs
// resolved: the status a conformant implementation would write. Its data plane ignores the routes' rules
// beyond the first backendRef of the first rule of the oldest route: every request goes there, whatever its
// headers, and weights mean nothing. A check that reads statuses passes it; one that sends traffic must not.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
)

type naiveGW struct {
	dyn        dynamic.Interface
	controller string
	address    string
	target     atomic.Pointer[url.URL] // where every request goes; nil: 503
}

func runNaiveGW(args []string) error {
	fs := flag.NewFlagSet("naivegw", flag.ExitOnError)
	var listen multiFlag
	fs.Var(&listen, "listen", "a data plane address (repeatable; a fixed data plane, like Traefik's entrypoints)")
	flags := addControllerFlags(fs, "kaic.dev/naive-gateway")
	_ = fs.Parse(args)
	dyn, err := flags.client()
	if err != nil {
		return err
	}
	g := &naiveGW{dyn: dyn, controller: *flags.controller, address: *flags.address}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		if t := g.target.Load(); t != nil {
			r.SetURL(t)
		}
	}}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.target.Load() == nil {
			http.Error(w, "no route", http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(w, r)
	})
	var servers []*http.Server
	for _, addr := range listen {
		srv := &http.Server{Addr: addr, ReadHeaderTimeout: 5 * time.Second, Handler: handler}
		servers = append(servers, srv)
		go func() {
			if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
				log.Fatalf("naivegw: %v", err)
			}
		}()
	}
	log.Printf("naivegw: controller %s, data plane %v", *flags.controller, listen)
	reconcileEverySecond(ctx, "naivegw", g.reconcile)
	for _, srv := range servers {
		_ = srv.Close()
	}
	return nil
}

func (g *naiveGW) reconcile(ctx context.Context) error {
	ours, err := ourGateways(ctx, g.dyn, g.controller)
	if err != nil {
		return err
	}
	routes, err := routesOldestFirst(ctx, g.dyn)
	if err != nil {
		return err
	}
	attached := map[string]int64{}
	var target *url.URL
	for i := range routes {
		r := &routes[i]
		refs, _, _ := unstructured.NestedSlice(r.Object, "spec", "parentRefs")
		var parents []any
		for _, ref := range refs {
			m, _ := ref.(map[string]any)
			ns, _ := m["namespace"].(string)
			if ns == "" {
				ns = r.GetNamespace()
			}
			name, _ := m["name"].(string)
			if ours[ns+"/"+name] == nil {
				continue
			}
			attached[ns+"/"+name]++
			parents = append(parents, map[string]any{"parentRef": m, "controllerName": g.controller, "conditions": []any{
				condition("Accepted", "Accepted", r.GetGeneration()), condition("ResolvedRefs", "ResolvedRefs", r.GetGeneration())}})
		}
		if len(parents) == 0 {
			continue
		}
		if target == nil {
			target = g.firstBackend(ctx, r)
		}
		if !current(r, "status", "parents") || !sameParents(r, parents) {
			_ = unstructured.SetNestedSlice(r.Object, parents, "status", "parents")
			if _, err := g.dyn.Resource(httpRouteGVR).Namespace(r.GetNamespace()).UpdateStatus(ctx, r, metav1.UpdateOptions{}); err != nil {
				log.Printf("HTTPRoute %s/%s: %v", r.GetNamespace(), r.GetName(), err)
			}
		}
	}
	g.target.Store(target)
	for key, gw := range ours {
		writeGatewayStatus(ctx, g.dyn, gw, g.address, attached[key])
	}
	return nil
}

func sameParents(r *unstructured.Unstructured, parents []any) bool {
	old, _, _ := unstructured.NestedSlice(r.Object, "status", "parents")
	return len(old) == len(parents)
}

// firstBackend is the address of a ready endpoint of the first backendRef of the route's first rule.
func (g *naiveGW) firstBackend(ctx context.Context, r *unstructured.Unstructured) *url.URL {
	rules, _, _ := unstructured.NestedSlice(r.Object, "spec", "rules")
	if len(rules) == 0 {
		return nil
	}
	rule, _ := rules[0].(map[string]any)
	refs, _ := rule["backendRefs"].([]any)
	if len(refs) == 0 {
		return nil
	}
	ref, _ := refs[0].(map[string]any)
	name, _ := ref["name"].(string)
	port, _ := ref["port"].(int64)
	ns := r.GetNamespace()
	if n, ok := ref["namespace"].(string); ok && n != "" {
		ns = n
	}
	svc, err := g.dyn.Resource(serviceGVR).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil
	}
	ports, _, _ := unstructured.NestedSlice(svc.Object, "spec", "ports")
	portName := ""
	for _, p := range ports {
		m, _ := p.(map[string]any)
		if n, _ := m["port"].(int64); n == port {
			portName, _ = m["name"].(string)
		}
	}
	slices, err := g.dyn.Resource(sliceGVR).Namespace(ns).List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=" + name})
	if err != nil {
		return nil
	}
	for _, s := range slices.Items {
		sp, _, _ := unstructured.NestedSlice(s.Object, "ports")
		var target int64
		for _, p := range sp {
			m, _ := p.(map[string]any)
			if n, _ := m["name"].(string); n == portName {
				target, _ = m["port"].(int64)
			}
		}
		eps, _, _ := unstructured.NestedSlice(s.Object, "endpoints")
		for _, e := range eps {
			m, _ := e.(map[string]any)
			if ready, found, _ := unstructured.NestedBool(m, "conditions", "ready"); found && !ready {
				continue
			}
			addrs, _ := m["addresses"].([]any)
			if len(addrs) > 0 && target > 0 {
				return &url.URL{Scheme: "http", Host: fmt.Sprintf("%s:%d", addrs[0], target)}
			}
		}
	}
	return nil
}
