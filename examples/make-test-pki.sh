#!/usr/bin/env bash
# A TEST certificate authority and one certificate per party, made with openssl, for
# trying koppel's mutual TLS on one machine or a test network (docs/tls.md).
#
#   examples/make-test-pki.sh DIR [NAME ...]      (default names: cbs logius helper)
#
# Writes DIR/ca.crt and DIR/ca.key (the test CA), and for every NAME DIR/NAME.crt and
# DIR/NAME.key: an ECDSA P-256 key and a certificate with CN=NAME and subjectAltName
# DNS:NAME, DNS:localhost, IP:127.0.0.1, usable as TLS server and client, valid 30 days.
# Keys are written with mode 0600. Pin a party by its name (--peer NAME) or by the
# fingerprint this script prints (--peer-fingerprint HEX).
#
# NOT FOR PRODUCTION. A test CA says nothing about who holds a certificate. Between
# agencies, certificates come from the agencies' own CA (in the Netherlands PKIoverheid,
# through the agency's certificate service provider), with keys generated and kept where
# the agency's policy says; koppel then takes that CA's certificate as --tls-ca.
set -euo pipefail
if [ $# -lt 1 ]; then
  echo "usage: $0 DIR [NAME ...]" >&2
  exit 2
fi
dir=$1
shift
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(cbs logius helper)
days=${DAYS:-30}
mkdir -p "$dir"
cd "$dir"
umask 077
for n in "${names[@]}"; do
  if ! [[ $n =~ ^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$ ]]; then
    echo "$0: a name is letters, digits, '-' and '.' (it becomes a DNS name): $n" >&2
    exit 2
  fi
done
if [ ! -f ca.key ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout ca.key -out ca.crt -days "$days" -subj "/CN=koppel test CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
fi
for n in "${names[@]}"; do
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$n.key" -out "$n.csr" -subj "/CN=$n" 2>/dev/null
  printf 'subjectAltName=DNS:%s,DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=critical,digitalSignature\nbasicConstraints=CA:FALSE\n' "$n" > "$n.ext"
  openssl x509 -req -in "$n.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days "$days" \
    -out "$n.crt" -extfile "$n.ext" 2>/dev/null
  rm -f "$n.csr" "$n.ext"
  fp=$(openssl x509 -in "$n.crt" -noout -fingerprint -sha256 | sed 's/^.*=//')
  echo "$n: $dir/$n.crt $dir/$n.key sha256 $fp"
done
chmod 644 ca.crt ./*.crt
echo "CA: $dir/ca.crt (test only: production certificates come from the agencies' own CA, e.g. PKIoverheid)"
