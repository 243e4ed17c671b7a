#!/usr/bin/env bash
# The CBS–Logius private join on synthetic data, twice:
#  1. `koppel demo`: generates the data, starts CBS and Logius as separate processes,
#     and checks the private table against a plain join on raw BSNs, cell by cell;
#  2. the same join by hand, with the two commands two agencies would each run.
# Usage: examples/cbs-logius/run.sh [SIZE] [two-party|helper]   (from the repository root, after npm ci)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
koppel() { node "$here/../../dist/cli/bin.js" "$@"; }
size=${1:-50000}
variant=${2:-two-party}
out=${OUT:-$here/out}
mkdir -p "$out"
[ -f "$here/../../dist/cli/bin.js" ] || (cd "$here/../.." && npm run build)

echo "== 1. koppel demo --size $size --variant $variant"
koppel demo --size "$size" --variant "$variant" --dir "$out"

echo
echo "== 2. By hand, as two agencies would: a signed agreement, mutual TLS, receipts."
echo "   Test certificates from examples/make-test-pki.sh; between agencies they come from"
echo "   their own CA (PKIoverheid)."
pki="$out/pki"
parties=(cbs logius)
[ "$variant" = helper ] && parties+=(helper)
bash "$here/../make-test-pki.sh" "$pki" "${parties[@]}" > /dev/null
tls() { echo --tls-cert "$pki/$1.crt" --tls-key "$pki/$1.key" --tls-ca "$pki/ca.crt"; }
agreement="$out/agreement.json"
party_flags=(--party cbs:groups:cbs --party logius:values:logius)
[ "$variant" = helper ] && party_flags+=(--party helper:helper:helper)
koppel agreement init --protocol join --id cbs-logius-example "${party_flags[@]}" \
  --purpose "Share of MijnOverheid users per province and household type (synthetic)" \
  --legal-basis "Example only" --valid-days 1 \
  --set "parameters.variant=\"$variant\"" \
  --set 'parties.cbs.input={"idColumn":"bsn","idType":"bsn","groupColumns":["province","household_type"]}' \
  --set 'parties.cbs.policy={"minCount":10}' \
  --set 'parties.logius.input={"idColumn":"bsn","idType":"bsn","valueColumns":["logins","messages_read"],"maxValue":100000}' \
  --set 'parties.logius.policy={"minCount":10}' \
  --out "$agreement"
for p in "${parties[@]}"; do koppel agreement sign "$agreement" --party "$p" --tls-cert "$pki/$p.crt" --tls-key "$pki/$p.key"; done
koppel agreement verify "$agreement" --tls-ca "$pki/ca.crt"
extra=()
if [ "$variant" = helper ]; then
  # shellcheck disable=SC2046
  koppel join helper --listen 127.0.0.1:7202 $(tls helper) --agreement "$agreement" --receipt "$out/receipt-helper.json" --quiet &
  extra=(--variant helper --helper 127.0.0.1:7202)
  sleep 0.5
fi
# The agreement fixes the columns, thresholds and peers: the commands name only files and addresses.
# shellcheck disable=SC2046
koppel join groups --listen 127.0.0.1:7201 $(tls cbs) --agreement "$agreement" \
  --in "$out/cbs.csv" --out "$out/by-hand.csv" --receipt "$out/receipt-cbs.json" "${extra[@]}" &
sleep 0.5
# shellcheck disable=SC2046
koppel join values --connect 127.0.0.1:7201 $(tls logius) --agreement "$agreement" \
  --in "$out/logius.csv" --on-invalid skip --receipt "$out/receipt-logius.json" "${extra[@]}"
wait
echo
echo "Both receipts, checked: signed, countersigned, one transcript, under the agreement, the table unchanged."
koppel receipt verify --receipt "$out/receipt-cbs.json" --tls-ca "$pki/ca.crt" --agreement "$agreement" --table "$out/by-hand.csv"
koppel receipt verify --receipt "$out/receipt-logius.json" --tls-ca "$pki/ca.crt" --agreement "$agreement"
echo
echo "CBS's table per province and household type: $out/by-hand.csv"
head -n 8 "$out/by-hand.csv"
