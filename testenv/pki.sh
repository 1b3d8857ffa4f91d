# shellcheck shell=bash
# PKI for one profile, made with openssl (EC P-256 keys; fast on 2 cores).
#   ca.crt/key            cluster CA: signs apiserver, admin client, serving cert
#   apiserver.crt/key     IP SAN 127.0.0.1 (+10.96.0.1, kubernetes.default.svc names)
#   admin.crt/key         CN=kaic-admin, O=system:masters
#   serving.crt/key       IP SAN 127.0.0.1, DNS localhost: kwok's kubelet endpoint, Kueue webhooks
#   front-proxy-ca, front-proxy-client   for aggregated APIs (requestheader auth)
#   sa.key/sa.pub         service-account token signing
command -v openssl >/dev/null 2>&1 || die "openssl is missing (run testenv/ci-install)"

_key() { openssl ecparam -name prime256v1 -genkey -noout -out "$1" 2>/dev/null; chmod 600 "$1"; }
_ca() { # dir name cn
  _key "$1/$2.key"
  openssl req -x509 -new -key "$1/$2.key" -subj "/CN=$3" -days 3650 -out "$1/$2.crt" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
}
_cert() { # dir name ca subj usage [san]
  local d=$1 n=$2 ca=$3 subj=$4 eku=$5 san=${6:-}
  _key "$d/$n.key"
  openssl req -new -key "$d/$n.key" -subj "$subj" -out "$d/$n.csr" 2>/dev/null
  { echo "basicConstraints=critical,CA:FALSE"; echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$eku"; [ -n "$san" ] && echo "subjectAltName=$san"; } >"$d/$n.ext"
  openssl x509 -req -in "$d/$n.csr" -CA "$d/$ca.crt" -CAkey "$d/$ca.key" -CAcreateserial \
    -days 3650 -extfile "$d/$n.ext" -out "$d/$n.crt" 2>/dev/null
  rm -f "$d/$n.csr" "$d/$n.ext"
}
make_pki() {
  local d=$1; mkdir -p "$d"
  _ca "$d" ca kaic-testenv-ca
  _ca "$d" front-proxy-ca kaic-testenv-front-proxy-ca
  _cert "$d" apiserver ca "/CN=kube-apiserver" serverAuth \
    "IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  _cert "$d" admin ca "/O=system:masters/CN=kaic-admin" clientAuth
  _cert "$d" serving ca "/CN=127.0.0.1" serverAuth,clientAuth "IP:127.0.0.1,DNS:localhost"
  _cert "$d" front-proxy-client front-proxy-ca "/CN=front-proxy-client" clientAuth
  _key "$d/sa.key"; openssl ec -in "$d/sa.key" -pubout -out "$d/sa.pub" 2>/dev/null
}
write_kubeconfig() { # path server ca cert key name
  local b64; b64() { base64 -w0 <"$1"; }
  cat >"$1" <<KC
apiVersion: v1
kind: Config
clusters:
- name: $6
  cluster:
    server: $2
    certificate-authority-data: $(b64 "$3")
users:
- name: $6-admin
  user:
    client-certificate-data: $(b64 "$4")
    client-key-data: $(b64 "$5")
contexts:
- name: $6
  context: {cluster: $6, user: $6-admin, namespace: default}
current-context: $6
KC
  chmod 600 "$1"
}
