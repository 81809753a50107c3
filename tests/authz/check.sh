#!/usr/bin/env bash
# Smoke test for tests/authz/server.mjs (oidc-provider based authorization
# server): registration (RFC 7591), registration management (RFC 7592),
# client_credentials with client_secret_basic/_post and private_key_jwt
# (RS384, ES384), introspection (RFC 7662), revocation (RFC 7009), the
# /fhir bearer check, --broken-revocation and token expiry.
#
# Needs: node (20+), npm-installed node_modules beside this file (npm ci),
# curl, jq, openssl, perl. Prints PASS/FAIL per step; exits 1 on any failure.
#
#   bash tests/authz/check.sh
#   CHECK_SCALE=1100 bash tests/authz/check.sh   # also register N clients (default 0)

set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WORK="$(mktemp -d)"
PIDS=()
PASSED=0
FAILED=0

cleanup() {
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

for tool in node curl jq openssl perl; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool not found"; exit 1; }
done
if [[ ! -d "$HERE/node_modules/oidc-provider" ]]; then
  echo "FAIL: $HERE/node_modules missing: run 'npm ci' in $HERE"
  exit 1
fi

pass() { PASSED=$((PASSED + 1)); echo "PASS: $1"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL: $1${2:+ -- $2}"; }
# check NAME ACTUAL EXPECTED
check() { if [[ "$2" == "$3" ]]; then pass "$1"; else fail "$1" "got '$2', want '$3'"; fi; }

# start_server NAME [FLAGS...]: sets BASE to the issuer URL.
start_server() {
  local name="$1"; shift
  local out="$WORK/$name.out" err="$WORK/$name.err"
  node "$HERE/server.mjs" --port 0 "$@" >"$out" 2>"$err" &
  PIDS+=("$!")
  local i
  for i in $(seq 1 100); do
    if [[ -s "$out" ]] && grep -q '^listening ' "$out"; then break; fi
    sleep 0.1
  done
  local line
  line="$(head -n1 "$out")"
  if [[ "$line" =~ ^listening\ (http://127\.0\.0\.1:[0-9]+)$ ]]; then
    BASE="${BASH_REMATCH[1]}"
    pass "[$name] server started: $line"
  else
    fail "[$name] server did not print the listening line" "$(cat "$out" "$err")"
    exit 1
  fi
  if [[ "$(wc -l <"$out")" -ne 1 ]]; then fail "[$name] stdout has more than the listening line"; fi
}

# http METHOD URL [curl args...]: body to $WORK/body, echoes the status code.
http() {
  local method="$1" url="$2"; shift 2
  curl -sS -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}' -X "$method" "$url" "$@"
}
body() { cat "$WORK/body"; }
jbody() { jq -r "$1" "$WORK/body" 2>/dev/null; }

b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
hex2bin() { perl -pe 's/\s+//g; $_ = pack("H*", $_)'; }

# register JSON: POST /reg, echoes the status code (runs in a subshell: call
# load_reg afterwards to set CID, CSECRET, RAT, RCU from the response body).
register() { http POST "$BASE/reg" -H 'Content-Type: application/json' --data "$1"; }
load_reg() {
  CID="$(jbody .client_id)"; CSECRET="$(jbody '.client_secret // empty')"
  RAT="$(jbody .registration_access_token)"; RCU="$(jbody .registration_client_uri)"
}

# token_basic SCOPE [extra curl args]: client_secret_basic with $CID/$CSECRET
token_basic() {
  local scope="$1"; shift
  http POST "$BASE/token" -u "$CID:$CSECRET" -d grant_type=client_credentials \
    --data-urlencode "scope=$scope" "$@"
}

introspect() {
  http POST "$BASE/token/introspection" -u "$CID:$CSECRET" --data-urlencode "token=$1" >/dev/null
  jbody .active
}

revoke() {
  http POST "$BASE/token/revocation" -u "$CID:$CSECRET" --data-urlencode "token=$1" \
    -d token_type_hint=access_token
}

fhir_patient() { http GET "$BASE/fhir/Patient" -H "Authorization: Bearer $1"; }

# ===========================================================================
echo "== normal server"
start_server normal
ISSUER="$BASE"

code="$(http GET "$BASE/.well-known/openid-configuration")"
check "discovery 200" "$code" 200
check "discovery issuer" "$(jbody .issuer)" "$ISSUER"
check "discovery has client_credentials" "$(jbody '.grant_types_supported | index("client_credentials") != null')" true
check "discovery has system/Patient.rs" "$(jbody '.scopes_supported | index("system/Patient.rs") != null')" true

code="$(http GET "$BASE/.well-known/smart-configuration")"
check "smart-configuration 200" "$code" 200
check "smart-configuration endpoints" \
  "$(jbody '[.token_endpoint,.revocation_endpoint,.introspection_endpoint,.registration_endpoint]|join(" ")')" \
  "$ISSUER/token $ISSUER/token/revocation $ISSUER/token/introspection $ISSUER/reg"
check "smart-configuration RS384+ES384" \
  "$(jbody '[.token_endpoint_auth_signing_alg_values_supported[]|select(.=="RS384" or .=="ES384")]|join(",")')" "RS384,ES384"
check "smart-configuration capabilities" \
  "$(jbody '.capabilities|index("client-confidential-asymmetric") != null and index("permission-v2") != null')" true

code="$(http GET "$BASE/fhir/metadata")"
check "GET /fhir/metadata without auth 200" "$code" 200
check "metadata is a CapabilityStatement" "$(jbody .resourceType)" CapabilityStatement
code="$(http GET "$BASE/fhir/Patient")"
check "GET /fhir/Patient without token 401" "$code" 401

# --- registration (client_secret_basic) -----------------------------------
REG_BODY='{"client_name":"smoke basic","grant_types":["client_credentials"],"token_endpoint_auth_method":"client_secret_basic","scope":"system/Patient.rs system/Observation.rs"}'
code="$(register "$REG_BODY")"; load_reg
check "register client_secret_basic client 201" "$code" 201
check "registration returns secret, RAT and client URI" \
  "$([[ -n "$CSECRET" && -n "$RAT" && "$RCU" == "$ISSUER/reg/$CID" ]] && echo yes)" yes
check "registered scope" "$(jbody .scope)" "system/Patient.rs system/Observation.rs"

# --- client_credentials, introspection, /fhir, revocation -----------------
code="$(token_basic system/Patient.rs)"
check "client_credentials token 200" "$code" 200
AT="$(jbody .access_token)"
check "token_type Bearer, expires_in 600, scope" "$(jbody '[.token_type,.expires_in,.scope]|join(" ")')" "Bearer 600 system/Patient.rs"
check "access token is opaque (not a JWT)" "$(awk -F. '{print NF}' <<<"$AT")" 1
check "introspection active:true" "$(introspect "$AT")" true
check "introspection client_id/scope/token_type" "$(jbody '[.client_id,.scope,.token_type]|join(" ")')" "$CID system/Patient.rs Bearer"
check "GET /fhir/Patient with token 200" "$(fhir_patient "$AT")" 200
check "/fhir/Patient body is an empty searchset" "$(jbody '[.resourceType,.type,.total]|join(" ")')" "Bundle searchset 0"
check "revocation 200" "$(revoke "$AT")" 200
check "introspection after revocation active:false" "$(introspect "$AT")" false
check "GET /fhir/Patient after revocation 401" "$(fhir_patient "$AT")" 401
check "WWW-Authenticate invalid_token" "$(grep -ci '^www-authenticate: Bearer .*error="invalid_token"' "$WORK/headers")" 1

code="$(token_basic system/Observation.rs)"; AT2="$(jbody .access_token)"
check "second token (system/Observation.rs) 200" "$code" 200
A_CID="$CID"; A_CSECRET="$CSECRET"; A_RAT="$RAT"; A_RCU="$RCU"
code="$(register "$REG_BODY")"; load_reg
code="$(revoke "$AT2")"
check "revoking another client's token refused: 400 invalid_request" "$code $(jbody .error)" "400 invalid_request"
check "another client may introspect the token (active:true)" "$(introspect "$AT2")" true
CID="$A_CID"; CSECRET="$A_CSECRET"; RAT="$A_RAT"; RCU="$A_RCU"
code="$(token_basic 'system/Patient.rs system/Observation.rs' -d "resource=$ISSUER/fhir")"
check "token with resource indicator 200" "$code" 200
AT3="$(jbody .access_token)"
check "resource-indicated token is opaque" "$(awk -F. '{print NF}' <<<"$AT3")" 1
check "resource-indicated token introspects with aud" "$(introspect "$AT3") $(jbody .aud)" "true $ISSUER/fhir"
code="$(token_basic system/Encounter.rs)"
check "token for unregistered scope refused (400)" "$code" 400
check "error invalid_scope" "$(jbody .error)" invalid_scope
code="$(http POST "$BASE/token" -u "$CID:wrong-secret" -d grant_type=client_credentials -d scope=system/Patient.rs)"
check "wrong client secret 401 invalid_client" "$code $(jbody .error)" "401 invalid_client"

# --- RFC 7592 -------------------------------------------------------------
code="$(http GET "$RCU" -H "Authorization: Bearer $RAT")"
check "7592 GET registration 200" "$code" 200
cp "$WORK/body" "$WORK/reg.json"
check "7592 GET returns same client_id/scope" "$(jbody '[.client_id,.scope]|join(" ")')" "$CID system/Patient.rs system/Observation.rs"
code="$(http GET "$RCU" -H "Authorization: Bearer not-the-token")"
check "7592 GET with wrong RAT 401" "$code" 401

code="$(http PUT "$RCU" -H "Authorization: Bearer $RAT" -H 'Content-Type: application/json' \
  --data "$(jq -c '.scope += " system/Encounter.rs"' "$WORK/reg.json")")"
check "7592 PUT echoing the GET body verbatim is rejected (400)" "$code $(jbody .error)" "400 invalid_request"

put_scope() {
  jq -c --arg scope "$1" '
    del(.registration_access_token, .registration_client_uri,
        .client_secret_expires_at, .client_id_issued_at)
    | .scope = $scope' "$WORK/reg.json" >"$WORK/put.json"
  http PUT "$RCU" -H "Authorization: Bearer $RAT" -H 'Content-Type: application/json' --data @"$WORK/put.json"
}
code="$(put_scope 'system/Patient.rs system/Observation.rs system/Encounter.rs')"
check "7592 PUT adding system/Encounter.rs 200" "$code" 200
check "7592 PUT response scope" "$(jbody .scope)" "system/Patient.rs system/Observation.rs system/Encounter.rs"
check "7592 PUT keeps client_secret and RAT" "$([[ "$(jbody .client_secret)" == "$CSECRET" && "$(jbody .registration_access_token)" == "$RAT" ]] && echo yes)" yes
code="$(http GET "$RCU" -H "Authorization: Bearer $RAT")"
check "7592 GET after PUT shows new scope" "$code $(jbody .scope)" "200 system/Patient.rs system/Observation.rs system/Encounter.rs"
code="$(token_basic system/Encounter.rs)"
check "token for newly added scope 200" "$code $(jbody .scope)" "200 system/Encounter.rs"

code="$(put_scope 'system/Patient.rs system/Encounter.rs')"
check "7592 PUT removing system/Observation.rs 200" "$code $(jbody .scope)" "200 system/Patient.rs system/Encounter.rs"
code="$(token_basic system/Observation.rs)"
check "token for removed scope refused: invalid_scope" "$code $(jbody .error)" "400 invalid_scope"
check "token issued before the PUT is still active" "$(introspect "$AT2")" true

code="$(http DELETE "$RCU" -H "Authorization: Bearer $RAT")"
check "7592 DELETE 204" "$code" 204
code="$(http GET "$RCU" -H "Authorization: Bearer $RAT")"
check "7592 GET after DELETE 401" "$code $(jbody .error)" "401 invalid_token"
code="$(token_basic system/Patient.rs)"
check "token for deleted client 401 invalid_client" "$code $(jbody .error)" "401 invalid_client"

# --- client_secret_post ---------------------------------------------------
code="$(register '{"grant_types":["client_credentials"],"token_endpoint_auth_method":"client_secret_post","scope":"system/Group.rs system/*.read"}')"; load_reg
check "register client_secret_post client 201" "$code" 201
code="$(http POST "$BASE/token" -d grant_type=client_credentials --data-urlencode 'scope=system/Group.rs system/*.read' \
  --data-urlencode "client_id=$CID" --data-urlencode "client_secret=$CSECRET")"
check "client_secret_post token 200" "$code $(jbody .scope)" "200 system/Group.rs system/*.read"

# --- private_key_jwt: RS384 and ES384 --------------------------------------
# assertion KEYFILE ALG KID CLIENT_ID AUD
assertion() {
  local key="$1" alg="$2" kid="$3" iss="$4" aud="$5" now header claims input sig
  now="$(date +%s)"
  header="$(jq -cn --arg alg "$alg" --arg kid "$kid" '{alg:$alg,typ:"JWT",kid:$kid}' | tr -d '\n' | b64url)"
  claims="$(jq -cn --arg iss "$iss" --arg aud "$aud" --arg jti "$(openssl rand -hex 16)" --argjson now "$now" \
    '{iss:$iss,sub:$iss,aud:$aud,jti:$jti,iat:$now,exp:($now+300)}' | tr -d '\n' | b64url)"
  input="$header.$claims"
  case "$alg" in
    RS384)
      sig="$(printf '%s' "$input" | openssl dgst -sha384 -sign "$key" -binary | b64url)" ;;
    ES384)
      # openssl emits a DER ECDSA signature; JWS wants raw R||S, 48 bytes each.
      sig="$(printf '%s' "$input" | openssl dgst -sha384 -sign "$key" -binary \
        | openssl asn1parse -inform DER | awk -F: '/INTEGER/ {print $NF}' \
        | perl -ne 'chomp; $_ = substr(("0" x 96) . $_, -96); print' | hex2bin | b64url)" ;;
  esac
  printf '%s.%s' "$input" "$sig"
}

token_jwt() {
  http POST "$BASE/token" -d grant_type=client_credentials --data-urlencode "scope=$1" \
    -d client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer \
    --data-urlencode "client_assertion=$2"
}

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$WORK/rsa.pem" 2>/dev/null
RSA_N="$(openssl rsa -in "$WORK/rsa.pem" -noout -modulus | cut -d= -f2 | hex2bin | b64url)"
RSA_JWKS="$(jq -cn --arg n "$RSA_N" '{keys:[{kty:"RSA",kid:"rsa-1",alg:"RS384",use:"sig",n:$n,e:"AQAB"}]}')"
code="$(register "$(jq -cn --argjson jwks "$RSA_JWKS" '{client_name:"smoke rs384",grant_types:["client_credentials"],token_endpoint_auth_method:"private_key_jwt",token_endpoint_auth_signing_alg:"RS384",jwks:$jwks,scope:"system/Patient.rs system/Observation.rs"}')")"; load_reg
check "register private_key_jwt (RS384, inline jwks) 201" "$code" 201
check "no client_secret issued for private_key_jwt" "${CSECRET:-none}" none
JWT_CID="$CID"
A="$(assertion "$WORK/rsa.pem" RS384 rsa-1 "$JWT_CID" "$ISSUER/token")"
code="$(token_jwt system/Patient.rs "$A")"
check "private_key_jwt RS384 token 200" "$code $(jbody .scope)" "200 system/Patient.rs"
JWT_AT="$(jbody .access_token)"
code="$(token_jwt system/Patient.rs "$A")"
check "replayed client_assertion (same jti) 401 invalid_client" "$code $(jbody .error)" "401 invalid_client"
code="$(http POST "$BASE/token/introspection" --data-urlencode "token=$JWT_AT" \
  -d client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer \
  --data-urlencode "client_assertion=$(assertion "$WORK/rsa.pem" RS384 rsa-1 "$JWT_CID" "$ISSUER/token")")"
check "introspection authenticated by private_key_jwt" "$code $(jbody .active)" "200 true"

openssl ecparam -name secp384r1 -genkey -noout -out "$WORK/ec.pem" 2>/dev/null
EC_XY="$(openssl ec -in "$WORK/ec.pem" -pubout -outform DER 2>/dev/null | tail -c 96 | od -An -v -tx1 | tr -d ' \n')"
EC_X="$(printf '%s' "${EC_XY:0:96}" | hex2bin | b64url)"
EC_Y="$(printf '%s' "${EC_XY:96:96}" | hex2bin | b64url)"
EC_JWKS="$(jq -cn --arg x "$EC_X" --arg y "$EC_Y" '{keys:[{kty:"EC",crv:"P-384",kid:"ec-1",alg:"ES384",use:"sig",x:$x,y:$y}]}')"
code="$(register "$(jq -cn --argjson jwks "$EC_JWKS" '{grant_types:["client_credentials"],token_endpoint_auth_method:"private_key_jwt",token_endpoint_auth_signing_alg:"ES384",jwks:$jwks,scope:"system/Observation.cruds"}')")"; load_reg
check "register private_key_jwt (ES384) 201" "$code" 201
code="$(token_jwt system/Observation.cruds "$(assertion "$WORK/ec.pem" ES384 ec-1 "$CID" "$ISSUER/token")")"
check "private_key_jwt ES384 token 200" "$code $(jbody .scope)" "200 system/Observation.cruds"

# --- many clients (adapter must not evict) ---------------------------------
SCALE="${CHECK_SCALE:-0}"
if [[ "$SCALE" -gt 0 ]]; then
  seq 1 "$SCALE" | xargs -P 4 -I{} curl -sS -o /dev/null -w '%{http_code}\n' -X POST "$BASE/reg" \
    -H 'Content-Type: application/json' --data '{"scope":"system/Patient.rs"}' >"$WORK/scale.codes"
  check "registered $SCALE more clients" "$(grep -c '^201$' "$WORK/scale.codes")" "$SCALE"
  code="$(token_jwt system/Patient.rs "$(assertion "$WORK/rsa.pem" RS384 rsa-1 "$JWT_CID" "$ISSUER/token")")"
  check "first clients still usable after $SCALE more registrations" "$code" 200
fi

# ===========================================================================
echo "== server with --broken-revocation"
start_server broken --broken-revocation
code="$(register "$REG_BODY")"; load_reg
check "[broken] register 201" "$code" 201
code="$(token_basic system/Patient.rs)"; AT="$(jbody .access_token)"
check "[broken] token 200" "$code" 200
check "[broken] introspection active:true" "$(introspect "$AT")" true
check "[broken] revocation still answers 200" "$(revoke "$AT")" 200
check "[broken] revocation body empty" "$(body)" ""
check "[broken] introspection after revocation still active:true" "$(introspect "$AT")" true
check "[broken] GET /fhir/Patient after revocation still 200" "$(fhir_patient "$AT")" 200
code="$(http POST "$BASE/token/revocation" -u "$CID:wrong" --data-urlencode "token=$AT")"
check "[broken] revocation still authenticates the client (401)" "$code" 401

# ===========================================================================
echo "== server with --token-ttl 2"
start_server shortttl --token-ttl 2
code="$(register "$REG_BODY")"; load_reg
code="$(token_basic system/Patient.rs)"; AT="$(jbody .access_token)"
check "[ttl] token expires_in 2" "$code $(jbody .expires_in)" "200 2"
check "[ttl] GET /fhir/Patient before expiry 200" "$(fhir_patient "$AT")" 200
sleep 3
check "[ttl] introspection after expiry active:false" "$(introspect "$AT")" false
check "[ttl] GET /fhir/Patient after expiry 401" "$(fhir_patient "$AT")" 401

# --- clean shutdown ----------------------------------------------------------
for pid in "${PIDS[@]}"; do
  kill -TERM "$pid" 2>/dev/null
  wait "$pid"
  rc=$?
  check "server pid $pid exits 0 on SIGTERM" "$rc" 0
done
PIDS=()
for f in "$WORK"/*.err; do
  [[ -s "$f" ]] && fail "stderr of $(basename "$f" .err) not empty" "$(head -c 400 "$f")"
done

echo "$PASSED passed, $FAILED failed"
[[ "$FAILED" -eq 0 ]]
