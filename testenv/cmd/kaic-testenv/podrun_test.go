// Tests of podrun's pure parts: path rewriting, $(VAR) expansion and the container environment.
package main

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestRewritePathsIsOnePassAndLongestFirst(t *testing.T) {
	mounts := map[string]string{
		"/etc/prometheus":     "/state/pods/u/volumes/config",
		"/prometheus":         "/state/pods/u/volumes/data",
		"/etc/prometheus/sub": "/state/pods/u/volumes/sub",
	}
	cases := map[string]string{
		"--config.file=/etc/prometheus/prometheus.yml": "--config.file=/state/pods/u/volumes/config/prometheus.yml",
		"--storage.tsdb.path=/prometheus":              "--storage.tsdb.path=/state/pods/u/volumes/data",
		"/etc/prometheus/sub/x":                        "/state/pods/u/volumes/sub/x",
		"/unrelated":                                   "/unrelated",
	}
	for in, want := range cases {
		if got := rewritePaths(in, mounts); got != want {
			t.Errorf("rewritePaths(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestContainerEnvAnswersTheDownwardAPI(t *testing.T) {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "sim-0", Namespace: "kaic-x", UID: "u1"},
		Spec:       corev1.PodSpec{NodeName: "gpu-node-0"},
		Status:     corev1.PodStatus{PodIP: "10.150.0.7"},
	}
	c := corev1.Container{Env: []corev1.EnvVar{
		{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
		{Name: "URL", Value: "http://$(POD_IP):8000"},
	}}
	env := containerEnv(p, c, "24000")
	for k, want := range map[string]string{"POD_NAME": "sim-0", "POD_IP": "10.150.0.7", "URL": "http://10.150.0.7:8000",
		"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": "24000"} {
		if env[k] != want {
			t.Errorf("env %s = %q, want %q", k, env[k], want)
		}
	}
}

func TestServedImagesAreRecognisedByPrefix(t *testing.T) {
	for image, want := range map[string]string{
		"ghcr.io/llm-d/llm-d-inference-sim:v0.10.2":                     "llm-d-inference-sim",
		"nvcr.io/nvidia/k8s/dcgm-exporter:4.4.1-4.6.0-ubuntu22.04":      "dcgmsim",
		"nvcr.io/nvidia/cloud-native/dcgm:4.2.3-1-ubuntu22.04":          "dcgmload",
		"quay.io/prometheus/prometheus:v3.16.0":                         "prometheus",
		"registry.k8s.io/prometheus-adapter/prometheus-adapter:v0.12.0": "prometheus-adapter",
		"docker.io/library/traefik:v3.6.12":                             "traefik",
		"traefik:v3.6.12":                                               "traefik",
		"kaic.dev/testenv/naive-gateway:v1":                             "naivegw",
		"registry.k8s.io/pause:3.10":                                    "",
		"ghcr.io/llm-d/llm-d-inference-sim-evil:v1":                     "",
	} {
		if got := servedProgram(image); got != want {
			t.Errorf("servedProgram(%q) = %q, want %q", image, got, want)
		}
	}
}

func TestNaiveGatewayConditionsAreCurrentPerGeneration(t *testing.T) {
	o := &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"generation": int64(2)}}}
	if current(o, "status", "conditions") {
		t.Error("no conditions: not current")
	}
	_ = unstructured.SetNestedSlice(o.Object, []any{condition("Accepted", "Accepted", 1)}, "status", "conditions")
	if current(o, "status", "conditions") {
		t.Error("conditions of generation 1 are not current for generation 2")
	}
	_ = unstructured.SetNestedSlice(o.Object, []any{condition("Accepted", "Accepted", 2)}, "status", "conditions")
	if !current(o, "status", "conditions") {
		t.Error("conditions of generation 2 are current")
	}
}

func TestOnlyPodsThatRunToCompletionAreLeftExited(t *testing.T) {
	pod := func(policy corev1.RestartPolicy) *corev1.Pod {
		return &corev1.Pod{Spec: corev1.PodSpec{RestartPolicy: policy}}
	}
	for _, c := range []struct {
		policy corev1.RestartPolicy
		code   int
		want   bool
	}{
		{corev1.RestartPolicyNever, 0, true},
		{corev1.RestartPolicyNever, 7, true},
		{corev1.RestartPolicyOnFailure, 0, true},
		{corev1.RestartPolicyOnFailure, 1, false},
		{corev1.RestartPolicyAlways, 0, false},
		{"", 0, false},
	} {
		if got := runsToCompletion(pod(c.policy), c.code); got != c.want {
			t.Errorf("restartPolicy %q, exit %d: left exited %v, want %v", c.policy, c.code, got, c.want)
		}
	}
}

func TestDCGMLoadTakesDcgmproftesterFlagsAndRefusesNoDuration(t *testing.T) {
	if err := runDCGMLoad([]string{"--no-dcgm-validation", "-t", "1004", "-d", "0"}); err == nil {
		t.Error("-d 0: want an error")
	}
	if err := runDCGMLoad([]string{"--no-such-flag"}); err == nil {
		t.Error("an unknown flag: want an error")
	}
	if err := runDCGMLoad([]string{"--no-dcgm-validation", "-t", "1004", "-d", "1"}); err != nil {
		t.Errorf("dcgmproftester's flags: %v", err)
	}
}
