#!/usr/bin/env bash
# The agent through the real grpcurl (reflection only, no .proto files): list
# and describe, one call of every RPC family with JSON input, and the status
# code of each documented failure. vebd runs with in-memory interfaces
# (--fake_interfaces) so no root or real interface is needed.
# Prints "N passed, M failed".
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source test/lib.sh
G="${TOOLS}/grpcurl"
T="$(mktemp -d /tmp/veb-grpcurl.XXXXXX)"
ADDR="unix://${T}/vebd.sock"
cleanup() { [[ -n "${pid:-}" ]] && kill "${pid}" 2>/dev/null; wait 2>/dev/null; rm -rf "${T}"; }
trap cleanup EXIT

"${VEBD}" --listen="${ADDR}" --state_file="${T}/state.json" --metrics_address= \
  --fake_interfaces=eth1,eth2,eth3 >"${T}/vebd.log" 2>&1 &
pid=$!
for _ in $(seq 1 50); do [[ -S "${T}/vebd.sock" ]] && break; sleep 0.1; done

# call NAME EXPECTED_CODE METHOD JSON [grep pattern]
call() {
  local name="$1" want="$2" method="$3" data="$4" pattern="${5:-}"
  local out
  out="$("${G}" -plaintext -format-error -d "${data}" "${ADDR}" "veb.v1.Switch/${method}" 2>&1)"
  local code=OK

  code="$("${PY}" -c '
import json, sys
t = sys.stdin.read()
try:
    j = json.loads(t)
    print({3:"InvalidArgument",5:"NotFound",6:"AlreadyExists",9:"FailedPrecondition",8:"ResourceExhausted",12:"Unimplemented"}.get(j["code"], j["code"]) if "code" in j and "message" in j and len(j) <= 3 else "OK")
except Exception:
    print("OK")' <<<"${out}")"
  if [[ "${code}" == "${want}" ]] && { [[ -z "${pattern}" ]] || grep -q -- "${pattern}" <<<"${out}"; }; then
    pass "${name}"
  else
    fail "${name}: want ${want}${pattern:+ matching '${pattern}'}, got ${code}:"; echo "${out}" | head -8
  fi
}
# check NAME COMMAND... (this script's own, in place of test/lib.sh's): the FAIL
# line, then the first 20 lines of the output.
check() { local name="$1"; shift; if "$@" >"${T}/out" 2>&1; then pass "${name}"; else fail "${name}"; head -20 "${T}/out"; fi; }

check "list shows veb.v1.Switch, health and reflection" sh -c "'${G}' -plaintext '${ADDR}' list | grep -q veb.v1.Switch && '${G}' -plaintext '${ADDR}' list | grep -q grpc.health.v1.Health"
check "grpc.health.v1.Health/Check is SERVING" sh -c "'${G}' -plaintext '${ADDR}' grpc.health.v1.Health/Check | grep -q SERVING"
check "describe veb.v1.Switch through reflection" sh -c "'${G}' -plaintext '${ADDR}' describe veb.v1.Switch | grep -q 'rpc AddPort'"
check "describe a message" sh -c "'${G}' -plaintext '${ADDR}' describe veb.v1.PortSettings | grep -q 'locked'"

call "CreateBridge" OK CreateBridge '{"name":"veb0","settings":{"maxAddresses":1000}}' '"max_addresses": 1000'
call "ListBridges" OK ListBridges '{}' '"veb0"'
call "UpdateBridge" OK UpdateBridge '{"name":"veb0","settings":{"addressTimeoutSeconds":60}}'
call "AddPort" OK AddPort '{"bridge":"veb0","name":"eth1","settings":{"protectedDomains":{"domains":[1]}}}'
call "UpdatePort tagged" OK UpdatePort '{"bridge":"veb0","name":"eth1","addTaggedVids":[10,20]}' '10'
call "GetPort" OK GetPort '{"bridge":"veb0","name":"eth1"}' '"learning": true'
call "AddSpanPort" OK AddSpanPort '{"bridge":"veb0","name":"eth3"}'
call "ListSpanPorts" OK ListSpanPorts '{"bridge":"veb0"}' 'eth3'
call "AddStaticAddress" OK AddStaticAddress '{"bridge":"veb0","mac":"02:00:00:00:00:01","port":"eth1"}'
call "ListAddresses" OK ListAddresses '{"bridge":"veb0"}' '02:00:00:00:00:01'
call "AddRule with ARP fields" OK AddRule '{"bridge":"veb0","port":"eth1","rule":{"action":"RULE_ACTION_BLOCK","direction":"RULE_DIRECTION_IN","arp":{"kind":"ARP_KIND_ARP","spa":"10.0.0.1"}}}'
call "ListRules" OK ListRules '{"bridge":"veb0","port":"eth1"}' '10.0.0.1'
call "FlushRules" OK FlushRules '{"bridge":"veb0","port":"eth1"}'
call "GetPortCounters" OK GetPortCounters '{"bridge":"veb0","port":"eth1"}' 'DROP_REASON_LINK_DOWN'
call "ListCounters" OK ListCounters '{"bridge":"veb0"}'
call "FlushAddresses all" OK FlushAddresses '{"bridge":"veb0","mode":"FLUSH_MODE_ALL"}'

call "bad MAC is InvalidArgument" InvalidArgument AddStaticAddress '{"bridge":"veb0","mac":"02:00:00:00:00","port":"eth1"}' 'mac'
call "timeout out of range is InvalidArgument" InvalidArgument UpdateBridge '{"name":"veb0","settings":{"addressTimeoutSeconds":5}}' '8..3600'
call "max addresses 0 is InvalidArgument" InvalidArgument CreateBridge '{"name":"veb1","settings":{"maxAddresses":0}}'
call "unknown bridge is NotFound" NotFound GetBridge '{"name":"nope"}'
call "unknown port is NotFound" NotFound GetPort '{"bridge":"veb0","name":"eth9"}'
call "no such interface is NotFound" NotFound AddPort '{"bridge":"veb0","name":"eth9"}' 'eth9'
call "duplicate bridge is AlreadyExists" AlreadyExists CreateBridge '{"name":"veb0"}'
call "duplicate port is AlreadyExists" AlreadyExists AddPort '{"bridge":"veb0","name":"eth1"}'
call "CreateBridge veb1" OK CreateBridge '{"name":"veb1"}'
call "port in another bridge is FailedPrecondition" FailedPrecondition AddPort '{"bridge":"veb1","name":"eth1"}' 'already a member of bridge'
call "locked with learning is FailedPrecondition" FailedPrecondition AddPort '{"bridge":"veb1","name":"eth2","settings":{"locked":true,"learning":true}}' 'locked'
call "VID out of range is InvalidArgument" InvalidArgument UpdatePort '{"bridge":"veb0","name":"eth1","addTaggedVids":[4095]}' '4095'
# Vports (in-memory with --fake_interfaces; a pod's netns must be a file).
: >"${T}/netns-pod1"
POD='"kind":"VPORT_KIND_POD","pod":{"netns":"'"${T}/netns-pod1"'","attachment":{"containerId":"c0ffee","ifname":"eth0"}}'
call "CreateVport pod" OK CreateVport '{"bridge":"veb0",'"${POD}"',"mac":"0a:58:0a:00:00:05"}' '"name": "vp'
call "CreateVport host with a gateway address" OK CreateVport '{"bridge":"veb0","kind":"VPORT_KIND_HOST","name":"gw0","ipPrefixes":["10.22.0.1/24"]}' '10.22.0.1/24'
call "GetVport by CNI attachment" OK GetVport '{"attachment":{"containerId":"c0ffee","ifname":"eth0"}}' '0a:58:0a:00:00:05'
call "ListVports of a container" OK ListVports '{"containerId":"c0ffee"}' 'c0ffee'
call "same attachment again is AlreadyExists" AlreadyExists CreateVport '{"bridge":"veb0",'"${POD}"'}' 'attachment'
call "vport kind unspecified is InvalidArgument" InvalidArgument CreateVport '{"bridge":"veb0"}' 'kind'
call "missing netns is NotFound" NotFound CreateVport '{"bridge":"veb0","kind":"VPORT_KIND_POD","pod":{"netns":"/nonexistent/ns","attachment":{"containerId":"c2","ifname":"eth0"}}}' 'netns'
call "bad gateway prefix is InvalidArgument" InvalidArgument CreateVport '{"bridge":"veb0","kind":"VPORT_KIND_HOST","ipPrefixes":["10.22.0.1/33"]}' '10.22.0.1/33'
call "DeletePort on a vport is FailedPrecondition" FailedPrecondition DeletePort '{"bridge":"veb0","name":"gw0"}' 'DeleteVport'
call "DeleteVport by CNI attachment" OK DeleteVport '{"attachment":{"containerId":"c0ffee","ifname":"eth0"}}' '"deleted": true'
call "DeleteVport again is NotFound" NotFound DeleteVport '{"attachment":{"containerId":"c0ffee","ifname":"eth0"}}'
call "DeleteVport allow_missing is OK" OK DeleteVport '{"attachment":{"containerId":"c0ffee","ifname":"eth0"},"allowMissing":true}'
call "DeletePort" OK DeletePort '{"bridge":"veb0","name":"eth1"}'
call "DeleteBridge non-empty needs force" FailedPrecondition DeleteBridge '{"name":"veb0"}'
call "DeleteBridge force" OK DeleteBridge '{"name":"veb0","force":true}'

finish
