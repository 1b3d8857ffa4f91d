// What a served pod's container sees, as the kubelet would give it: its environment (literal values and
// the downward API), its volumes (ConfigMap, Secret, emptyDir, the service account token) materialised in
// the pod's folder, and container paths in args and config files rewritten to that folder.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// containerEnv is the container's environment: literal values, the downward API fields testenv can
// answer, and the in-cluster API address (the pod's loopback, see start).
func containerEnv(p *corev1.Pod, c corev1.Container, apiPort string) map[string]string {
	env := map[string]string{"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": apiPort,
		"HOSTNAME": p.Name}
	fields := map[string]string{"metadata.name": p.Name, "metadata.namespace": p.Namespace,
		"metadata.uid": string(p.UID), "spec.nodeName": p.Spec.NodeName, "status.podIP": p.Status.PodIP,
		"status.hostIP": p.Status.HostIP, "spec.serviceAccountName": p.Spec.ServiceAccountName}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil:
			env[e.Name] = fields[e.ValueFrom.FieldRef.FieldPath]
		case e.ValueFrom == nil:
			env[e.Name] = expandVars(e.Value, env)
		}
	}
	return env
}

// expandVars replaces $(NAME) with the variable's value, as the kubelet does in args and env values.
func expandVars(s string, env map[string]string) string {
	for k, v := range env {
		s = strings.ReplaceAll(s, "$("+k+")", v)
	}
	return s
}

// rewritePaths points container paths under a mount at the pod folder's copy. A mount path matches only as
// a whole path at the start of a path (after "=", a quote, a space, ...) and up to "/" or the path's end,
// in one pass: /etc/prometheus/prometheus.yml must not also match the mount /prometheus in its file name,
// and a rewritten path is never rewritten again. The longest mount path wins where several match.
func rewritePaths(s string, mounts map[string]string) string {
	paths := make([]string, 0, len(mounts))
	for m := range mounts {
		paths = append(paths, m)
	}
	sort.Slice(paths, func(i, j int) bool { return len(paths[i]) > len(paths[j]) })
	inPath := func(c byte) bool {
		return c == '/' || c == '.' || c == '_' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		matched := false
		if i == 0 || !inPath(s[i-1]) {
			for _, m := range paths {
				end := i + len(m)
				if strings.HasPrefix(s[i:], m) && (end == len(s) || s[end] == '/' || !inPath(s[end])) {
					b.WriteString(mounts[m])
					i, matched = end, true
					break
				}
			}
		}
		if !matched {
			// Copy up to the next possible path start.
			j := i + 1
			for j < len(s) && inPath(s[j-1]) {
				j++
			}
			b.WriteString(s[i:j])
			i = j
		}
	}
	return b.String()
}

// materialise writes the pod's volumes (ConfigMap, Secret, emptyDir) and its service account folder
// into the pod folder; it returns container path -> local path for every mount of a served container.
// Config files get the same path rewriting as args, so a Prometheus configuration that names
// /var/run/secrets/... or /etc/prometheus/... works unchanged.
func (r *podRun) materialise(ctx context.Context, p *corev1.Pod, dir string) (map[string]string, error) {
	vols := map[string]string{}
	files := map[string]map[string][]byte{} // volume -> file -> content
	for _, v := range p.Spec.Volumes {
		local := filepath.Join(dir, "volumes", v.Name)
		vols[v.Name] = local
		switch {
		case v.ConfigMap != nil:
			cm, err := r.cs.CoreV1().ConfigMaps(p.Namespace).Get(ctx, v.ConfigMap.Name, metav1.GetOptions{})
			if err != nil {
				return nil, fmt.Errorf("volume %s: %w", v.Name, err)
			}
			files[v.Name] = map[string][]byte{}
			for k, val := range cm.Data {
				files[v.Name][k] = []byte(val)
			}
		case v.Secret != nil:
			s, err := r.cs.CoreV1().Secrets(p.Namespace).Get(ctx, v.Secret.SecretName, metav1.GetOptions{})
			if err != nil {
				return nil, fmt.Errorf("volume %s: %w", v.Name, err)
			}
			files[v.Name] = s.Data
		case v.EmptyDir != nil:
			files[v.Name] = map[string][]byte{}
		}
	}
	mounts := map[string]string{}
	for _, c := range p.Spec.Containers {
		if servedProgram(c.Image) == "" {
			continue
		}
		for _, m := range c.VolumeMounts {
			if local, ok := vols[m.Name]; ok {
				mounts[m.MountPath] = filepath.Join(local, m.SubPath)
			}
		}
	}
	if p.Spec.AutomountServiceAccountToken == nil || *p.Spec.AutomountServiceAccountToken {
		sa, err := r.serviceAccountFiles(ctx, p)
		if err != nil {
			return nil, err
		}
		files["kube-api-access"] = sa
		vols["kube-api-access"] = filepath.Join(dir, "volumes", "kube-api-access")
		mounts[saMountPath] = vols["kube-api-access"]
		kubeconfig := inClusterConfig(r.apiPort, vols["kube-api-access"])
		if err := os.WriteFile(filepath.Join(dir, inClusterKubeconfig), []byte(kubeconfig), 0o644); err != nil {
			return nil, err
		}
	}
	for name, content := range files {
		if err := os.MkdirAll(vols[name], 0o777); err != nil {
			return nil, err
		}
		_ = os.Chmod(vols[name], 0o777) // emptyDirs are written by the unprivileged process
		for file, data := range content {
			if strings.HasSuffix(file, ".yml") || strings.HasSuffix(file, ".yaml") {
				data = []byte(rewritePaths(string(data), mounts))
			}
			if err := os.WriteFile(filepath.Join(vols[name], file), data, 0o644); err != nil {
				return nil, err
			}
		}
	}
	return mounts, nil
}

// serviceAccountFiles is what the kubelet projects for a pod: a token of its service account
// (TokenRequest bound to the pod), the cluster CA and the namespace.
func (r *podRun) serviceAccountFiles(ctx context.Context, p *corev1.Pod) (map[string][]byte, error) {
	sa := p.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	expiry := int64(24 * 3600)
	tr, err := r.cs.CoreV1().ServiceAccounts(p.Namespace).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry, BoundObjectRef: &authenticationv1.BoundObjectReference{
			Kind: "Pod", APIVersion: "v1", Name: p.Name, UID: p.UID}},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("token of service account %s/%s: %w", p.Namespace, sa, err)
	}
	ca, err := os.ReadFile(r.caFile)
	if err != nil {
		return nil, err
	}
	return map[string][]byte{"token": []byte(tr.Status.Token), "ca.crt": ca, "namespace": []byte(p.Namespace)}, nil
}

// inClusterKubeconfig is the file, in the pod folder, that stands for client-go's in-cluster configuration.
const inClusterKubeconfig = "in-cluster-kubeconfig.yaml"

// inClusterConfig is what in-cluster configuration amounts to in a served pod: the API server on the pod's
// loopback, the pod's service account token and the cluster CA (files in saDir).
func inClusterConfig(apiPort, saDir string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: in-cluster
  cluster: {server: "https://127.0.0.1:%s", certificate-authority: %s/ca.crt}
users:
- name: in-cluster
  user: {tokenFile: %s/token}
contexts:
- name: in-cluster
  context: {cluster: in-cluster, user: in-cluster}
current-context: in-cluster
`, apiPort, saDir, saDir)
}
