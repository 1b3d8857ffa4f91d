# shellcheck shell=bash
# The Gateway API in testenv (sourced by up after load_profile and monitoring.sh; needs kc, $STATE, $P_*).
#   install_gateway_crds  standard-channel CRDs v1.6.1 from the sigs.k8s.io/gateway-api module zip
#   deploy_traefik        GATEWAY has traefik: Traefik v3.6.12 as a served pod (controller and data plane in one
#                         process), GatewayClass traefik
#   deploy_naivegw        GATEWAY has naive: `kaic-testenv naivegw`, a gateway that reports every Gateway and
#                         HTTPRoute Accepted and Programmed but sends every request to the first backendRef of
#                         the first rule (no weights, no header matches), GatewayClass naive
#   deploy_infgw          GATEWAY has inference: testenv's inference gateway, GatewayClass inference: the
#                         `kaic-testenv infgw` controller and a real Envoy in one pod, routing HTTPRoutes to
#                         Services and to InferencePools through the pool's endpoint picker (ext_proc) as the
#                         Gateway API Inference Extension's standalone Envoy does; INFGW_EPP=bypassed renders a
#                         pool as round robin over its pods instead (profile epp-bypassed), streamed-only asks
#                         every picker in lwepp's STREAMED mode (profile epp-streamed-only)
#   install_gaie_crds     the Inference Extension's InferencePool CRD (inference.networking.k8s.io/v1)
#   wait_gateway          the GatewayClass Accepted and the gateway pod Ready
# Both gateways run in one pod in their namespace; the Gateway's status address is that pod's IP, which kaic and
# the API server reach directly (podnet.go). Traefik's listeners must use port 8000 (its entrypoint `web`); the
# naive gateway answers on 80 (the port kaic uses for controllers it has no table entry for) and 8000; the
# inference gateway's Envoy on 80.

TRAEFIK_IMAGE=docker.io/library/traefik:${TRAEFIK_VERSION}
NAIVEGW_IMAGE=kaic.dev/testenv/naive-gateway:v1
GATEWAY_PORT=8000

install_gateway_crds() {
  kc apply --server-side -f "$(gateway_api_src)/config/crd/standard/" >"$STATE/logs/apply-gateway-crds.log"
  kc wait --for=condition=Established --timeout=60s crd/gatewayclasses.gateway.networking.k8s.io \
    crd/gateways.gateway.networking.k8s.io crd/httproutes.gateway.networking.k8s.io >/dev/null
}

install_gaie_crds() {
  kc apply --server-side -f "$(gaie_src)/config/crd/bases/inference.networking.k8s.io_inferencepools.yaml" \
    >"$STATE/logs/apply-gaie-crds.log"
  kc wait --for=condition=Established --timeout=60s crd/inferencepools.inference.networking.k8s.io >/dev/null
}

# RBAC as Traefik's Helm chart (traefik/traefik-helm-chart, templates/rbac/clusterrole.yaml) grants it with
# providers.kubernetesGateway enabled.
gateway_rbac() { # namespace account role [further rules]
  cat <<Y
apiVersion: v1
kind: Namespace
metadata: {name: $1}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: $2, namespace: $1}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: $3}
rules:
- apiGroups: [""]
  resources: [configmaps, namespaces, secrets, services]
  verbs: [get, list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
- apiGroups: [gateway.networking.k8s.io]
  resources: [backendtlspolicies, gatewayclasses, gateways, grpcroutes, httproutes, referencegrants, tcproutes, tlsroutes]
  verbs: [get, list, watch]
- apiGroups: [gateway.networking.k8s.io]
  resources: [backendtlspolicies/status, gatewayclasses/status, gateways/status, grpcroutes/status, httproutes/status,
              tcproutes/status, tlsroutes/status]
  verbs: [update]${4:-}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: $3}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: $3}
subjects:
- {kind: ServiceAccount, name: $2, namespace: $1}
Y
}

# One Deployment + Service; $5 is the container's args (a YAML flow list), $6 the GatewayClass's controller,
# $7 further container ports (YAML list items).
gateway_workload() { # namespace name image account args controller [ports]
  cat <<Y
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: $2
  namespace: $1
  labels: {app.kubernetes.io/name: $2}
spec:
  replicas: 1
  selector:
    matchLabels: {app.kubernetes.io/name: $2}
  template:
    metadata:
      labels: {app.kubernetes.io/name: $2}
    spec:
      serviceAccountName: $4
      containers:
      - name: $2
        image: $3
        args: $5
        env:
        - name: POD_IP
          valueFrom: {fieldRef: {fieldPath: status.podIP}}
        # testenv only: Traefik takes the in-cluster client whenever KUBERNETES_SERVICE_HOST is set, and
        # client-go's in-cluster config reads the token at a fixed path podrun cannot provide; empty, Traefik
        # uses the explicit endpoint, token and CA flags, which name the same files (podrun rewrites them).
        - {name: KUBERNETES_SERVICE_HOST, value: ""}
        ports:
        - {name: web, containerPort: $GATEWAY_PORT}${7:-}
        resources:
          requests: {cpu: 100m, memory: 128Mi}
---
apiVersion: v1
kind: Service
metadata:
  name: $2
  namespace: $1
  labels: {app.kubernetes.io/name: $2}
spec:
  selector: {app.kubernetes.io/name: $2}
  ports:
  - {name: web, port: $GATEWAY_PORT, targetPort: web}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: $2}
spec:
  controllerName: $6
Y
}

SA_DIR=/var/run/secrets/kubernetes.io/serviceaccount

deploy_traefik() {
  local args="[--entryPoints.web.address=:$GATEWAY_PORT, --providers.kubernetesgateway=true,
          --providers.kubernetesgateway.endpoint=https://127.0.0.1:\$(KUBERNETES_SERVICE_PORT),
          --providers.kubernetesgateway.token=$SA_DIR/token, --providers.kubernetesgateway.certauthfilepath=$SA_DIR/ca.crt,
          --providers.kubernetesgateway.statusaddress.ip=\$(POD_IP), --global.checknewversion=false,
          --global.sendanonymoususage=false, --log.level=INFO, --log.nocolor=true]"
  { gateway_rbac traefik traefik testenv-traefik
    gateway_workload traefik traefik "$TRAEFIK_IMAGE" traefik "$args" traefik.io/gateway-controller
  } | kc apply -f - >/dev/null
}

deploy_naivegw() {
  local args="[--listen=:$GATEWAY_PORT, --listen=:80, --controller=kaic.dev/naive-gateway, --address=\$(POD_IP),
          --api-server=https://127.0.0.1:\$(KUBERNETES_SERVICE_PORT), --token-file=$SA_DIR/token, --ca-file=$SA_DIR/ca.crt]"
  { gateway_rbac naive-gateway naive testenv-naive-gateway
    gateway_workload naive-gateway naive "$NAIVEGW_IMAGE" naive "$args" kaic.dev/naive-gateway "
        - {name: http, containerPort: 80}"
  } | kc apply -f - >/dev/null
}

INFGW_IMAGE=kaic.dev/testenv/inference-gateway:v1
ENVOY_IMAGE=docker.io/envoyproxy/envoy:v$ENVOY_VERSION

# Envoy's bootstrap: listeners and clusters from the files infgw writes into /xds (an emptyDir both containers
# mount); Envoy reloads a file moved into that folder. podrun rewrites /xds to the pod's copy.
envoy_bootstrap() {
  cat <<Y
node: {id: testenv-inference-gateway, cluster: testenv-inference-gateway}
admin: {address: {socket_address: {address: 127.0.0.1, port_value: 19000}}}
dynamic_resources:
  cds_config: {resource_api_version: V3, path_config_source: {path: /xds/cds.json, watched_directory: {path: /xds}}}
  lds_config: {resource_api_version: V3, path_config_source: {path: /xds/lds.json, watched_directory: {path: /xds}}}
Y
}

deploy_infgw() {
  local rules="
- apiGroups: [inference.networking.k8s.io]
  resources: [inferencepools]
  verbs: [get, list, watch]
- apiGroups: [inference.networking.k8s.io]
  resources: [inferencepools/status]
  verbs: [update]
- apiGroups: [\"\"]
  resources: [pods]
  verbs: [list]"
  kc create configmap envoy-bootstrap -n inference-gateway --from-file=envoy.yaml=<(envoy_bootstrap) \
    --dry-run=client -o yaml >"$STATE/infgw-bootstrap.yaml"
  { gateway_rbac inference-gateway infgw testenv-inference-gateway "$rules"
    echo "---"; cat "$STATE/infgw-bootstrap.yaml"
    cat <<Y
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: inference
  namespace: inference-gateway
  labels: {app.kubernetes.io/name: inference}
spec:
  replicas: 1
  selector:
    matchLabels: {app.kubernetes.io/name: inference}
  template:
    metadata:
      labels: {app.kubernetes.io/name: inference}
    spec:
      serviceAccountName: infgw
      volumes:
      - {name: xds, emptyDir: {}}
      - {name: bootstrap, configMap: {name: envoy-bootstrap}}
      containers:
      - name: controller
        image: $INFGW_IMAGE
        args: [--controller=kaic.dev/inference-gateway, --address=\$(POD_IP), --xds-dir=/xds, --epp=$INFGW_EPP,
               --api-server=https://127.0.0.1:\$(KUBERNETES_SERVICE_PORT), --token-file=$SA_DIR/token, --ca-file=$SA_DIR/ca.crt]
        env:
        - name: POD_IP
          valueFrom: {fieldRef: {fieldPath: status.podIP}}
        volumeMounts:
        - {name: xds, mountPath: /xds}
        resources:
          requests: {cpu: 50m, memory: 64Mi}
      - name: envoy
        image: $ENVOY_IMAGE
        args: [-c, /etc/envoy/envoy.yaml, --disable-hot-restart, --concurrency, "2", --log-level, warn]
        volumeMounts:
        - {name: xds, mountPath: /xds}
        - {name: bootstrap, mountPath: /etc/envoy}
        ports:
        - {name: http, containerPort: 80}
        resources:
          requests: {cpu: 100m, memory: 128Mi}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: inference}
spec:
  controllerName: kaic.dev/inference-gateway
Y
  } | kc apply -f - >/dev/null
}

# gateway_namespace NAME: the namespace of gateway NAME's pod.
gateway_namespace() {
  case $1 in naive) echo naive-gateway ;; inference) echo inference-gateway ;; *) echo "$1" ;; esac
}

wait_gateway() {
  local g
  for g in $GATEWAY; do
    wait_for "gateway $g Ready" 120 kc -n "$(gateway_namespace "$g")" wait --for=condition=Available "deployment/$g" --timeout=5s
    wait_for "GatewayClass $g Accepted" 60 kc wait --for=condition=Accepted "gatewayclass/$g" --timeout=5s
  done
}
