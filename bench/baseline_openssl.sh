#!/usr/bin/env bash
# Baseline for bench_renew.py: the Notary certificate set made step by step with the
# openssl command line, the way Notary's fixtures/regenerateTestingCerts.sh works
# (written for this project from the profile in ../shared/notary-reference/README.md;
# the database PKI, which the script makes with cfssl, is made with openssl here).
# Usage: baseline_openssl.sh NOTARY_DIR   (leaf keys in NOTARY_DIR/fixtures are reused)
set -euo pipefail
cd "$1/fixtures"
SUBJ="/C=US/ST=CA/L=San Francisco/O=Docker"
ext=$(mktemp -d)
trap 'rm -rf "$ext"' EXIT

cat > "$ext/root.cnf" <<CNF
basicConstraints = critical,CA:TRUE,pathlen:1
keyUsage = critical,nonRepudiation,keyCertSign,cRLSign
subjectKeyIdentifier = hash
CNF
cat > "$ext/intermediate.cnf" <<CNF
authorityKeyIdentifier = keyid
basicConstraints = critical,CA:TRUE,pathlen:0
extendedKeyUsage = serverAuth,clientAuth
keyUsage = critical,nonRepudiation,keyCertSign,cRLSign
subjectKeyIdentifier = hash
CNF

# root: new RSA 4096, self-signed, 3650 days
openssl genrsa -out root-ca.key 4096 2>/dev/null
openssl req -new -key root-ca.key -sha256 -subj "$SUBJ/CN=Notary Testing CA" -out root-ca.csr
openssl x509 -req -days 3650 -in root-ca.csr -signkey root-ca.key -sha256 -out root-ca.crt \
  -extfile "$ext/root.cnf" 2>/dev/null
rm root-ca.csr

# intermediate: new RSA 4096, signed by the root
openssl genrsa -out intermediate-ca.key 4096 2>/dev/null
openssl req -new -key intermediate-ca.key -sha256 -subj "$SUBJ/CN=Notary Intermediate Testing CA" -out intermediate-ca.csr
openssl x509 -req -days 3650 -in intermediate-ca.csr -sha256 -CA root-ca.crt -CAkey root-ca.key \
  -CAcreateserial -out intermediate-ca.crt -extfile "$ext/intermediate.cnf" 2>/dev/null
rm intermediate-ca.csr
rm root-ca.key

leaf() {  # name bundle? SANs...
  local name=$1 bundle=$2 sans=$3
  cat > "$ext/$name.cnf" <<CNF
authorityKeyIdentifier = keyid
basicConstraints = critical,CA:FALSE
extendedKeyUsage = serverAuth,clientAuth
keyUsage = critical,digitalSignature,keyEncipherment
subjectAltName = $sans
subjectKeyIdentifier = hash
CNF
  openssl req -new -key "$name.key" -sha256 -subj "$SUBJ/CN=$name" -out "$name.csr"
  openssl x509 -req -days 750 -in "$name.csr" -sha256 -CA intermediate-ca.crt -CAkey intermediate-ca.key \
    -CAcreateserial -out "$name.crt" -extfile "$ext/$name.cnf" 2>/dev/null
  rm "$name.csr"
  if [ "$bundle" = yes ]; then cat intermediate-ca.crt >> "$name.crt"; fi
}
leaf notary-server yes "DNS:notary-server,DNS:notaryserver,DNS:localhost,IP:127.0.0.1"
leaf notary-signer yes "DNS:notary-signer,DNS:notarysigner,DNS:localhost,IP:127.0.0.1"
leaf notary-escrow yes "DNS:notary-escrow,DNS:notaryescrow,DNS:localhost,IP:127.0.0.1"
leaf secure.example.com no "DNS:secure.example.com,DNS:localhost,IP:127.0.0.1"
rm intermediate-ca.key

cat > "$ext/codesign.cnf" <<CNF
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = codeSigning
subjectKeyIdentifier = hash
CNF
selfsigned() {  # file subject
  openssl ecparam -name prime256v1 -genkey -out "$ext/ss.key" 2>/dev/null
  openssl req -new -key "$ext/ss.key" -sha256 -subj "$2" -out "$ext/ss.csr"
  openssl x509 -req -days 750 -in "$ext/ss.csr" -signkey "$ext/ss.key" -sha256 -out "$1" \
    -extfile "$ext/codesign.cnf" 2>/dev/null
  rm "$ext/ss.key" "$ext/ss.csr"
}
selfsigned self-signed_docker.com-notary.crt "/O=Docker/CN=docker.com\\/notary"
selfsigned self-signed_secure.example.com.crt "/O=secure.example.com/CN=secure.example.com"

cp root-ca.crt ../cmd/notary/root-ca.crt

# database PKI: RSA 2048, 43800 hours (1825 days), new keys as cfssl makes them
mkdir -p database ../notarysql/postgresql-initdb.d
cat > "$ext/dbca.cnf" <<CNF
keyUsage = critical,keyCertSign,cRLSign
basicConstraints = critical,CA:TRUE
subjectKeyIdentifier = hash
CNF
openssl genrsa -out "$ext/dbca.key" 2048 2>/dev/null
openssl req -new -key "$ext/dbca.key" -sha256 -subj "/CN=Test Notary CA" -out "$ext/dbca.csr"
openssl x509 -req -days 1825 -in "$ext/dbca.csr" -signkey "$ext/dbca.key" -sha256 -out database/ca.pem \
  -extfile "$ext/dbca.cnf" 2>/dev/null
dbleaf() {  # cert key CN EKU SANs
  local cert=$1 key=$2 cn=$3 eku=$4 sans=$5
  {
    echo "keyUsage = critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage = $eku"
    echo "basicConstraints = critical,CA:FALSE"
    echo "subjectKeyIdentifier = hash"
    echo "authorityKeyIdentifier = keyid"
    if [ -n "$sans" ]; then echo "subjectAltName = $sans"; fi
  } > "$ext/db.cnf"
  openssl genrsa -out "$key" 2048 2>/dev/null
  openssl req -new -key "$key" -sha256 -subj "/CN=$cn" -out "$ext/db.csr"
  openssl x509 -req -days 1825 -in "$ext/db.csr" -sha256 -CA database/ca.pem -CAkey "$ext/dbca.key" \
    -CAcreateserial -out "$cert" -extfile "$ext/db.cnf" 2>/dev/null
}
dbleaf ../notarysql/postgresql-initdb.d/server.crt ../notarysql/postgresql-initdb.d/server.key database serverAuth "DNS:postgresql,DNS:mysql"
dbleaf database/notary-server.pem database/notary-server-key.pem server clientAuth ""
dbleaf database/notary-signer.pem database/notary-signer-key.pem signer clientAuth ""
cp database/ca.pem ../notarysql/postgresql-initdb.d/root.crt
rm -f ./*.srl database/*.srl
