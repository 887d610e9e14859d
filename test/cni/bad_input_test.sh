#!/usr/bin/env bash
# The real `veb` CNI plugin binary, run as a runtime runs it (CNI_* in the
# environment, the configuration on stdin), with hostile stdin: invalid UTF-8,
# raw binary, JSON nested 50,000 deep, a 2 MiB configuration, an endless stdin,
# a bad mtu ("abc", -1, 70000, 1500.5) and over-long values. For each: the exit
# status is non-zero and not a signal (< 128), stdout is exactly one CNI error
# JSON object with the expected code and a message naming the problem, and it
# quotes at most a prefix of the input (stdout stays small).
# Every input is refused before the agent is contacted, so no vebd, root or
# network namespace is needed (CNI_NETNS names a path that is never opened).
# Prints "PASS: ..." / "FAIL: ..." per check and "N passed, M failed".
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source test/lib.sh
T="$(mktemp -d /tmp/veb-cni-bad.XXXXXX)"
trap 'rm -rf "${T}"' EXIT
[[ -x "${PLUGIN}" ]] || { echo "bad_input_test.sh: ${PLUGIN} missing (bazel build //cni-plugin:veb)" >&2; exit 1; }

# Inputs, one file each (Python writes exact bytes).
"${PY}" - "${T}" <<'PYEOF'
import json, sys
d = sys.argv[1]
base = {"cniVersion": "1.1.0", "name": "n", "type": "veb", "bridge": "veb0",
        "socket": d + "/no-agent.sock"}
def w(name, data):
    open(d + "/" + name, "wb").write(data if isinstance(data, bytes) else data.encode())
def conf(**kw):
    c = dict(base); c.update(kw); return json.dumps(c)
w("utf8-in-string", b'{"cniVersion":"1.1.0","name":"n","type":"veb","bridge":"veb\xff\xfe"}')
w("utf8-overlong", b'{"cniVersion":"1.1.0","name":"\xc0\xaf","type":"veb","bridge":"veb0"}')
w("binary", bytes(range(256)) * 16)
w("deep-arrays", "[" * 50000 + "]" * 50000)
w("deep-objects", '{"a":' * 50000 + "1" + "}" * 50000)
w("deep-in-key", conf(ipam={"type": "host-local", "x": None})[:-1] + ',"deep":' + "[" * 50000 + "]" * 50000 + "}")
w("size-2mib", conf(pad="x" * (2 << 20)))
w("empty", "")
w("mtu-abc", conf(mtu="abc"))
w("mtu-string", conf(mtu="1500"))
w("mtu-negative", conf(mtu=-1))
w("mtu-too-big", conf(mtu=70000))
w("mtu-float", conf(mtu=1500.5))
w("bridge-900k", conf(bridge="b" * 900000))
w("version-900k", conf(cniVersion="v" * 900000))
PYEOF

# expect NAME INPUT CODE TEXT [COMMAND]: runs the plugin with INPUT on stdin.
expect() {
  local name="$1" input="$2" code="$3" text="$4" command="${5:-ADD}"
  local out rc
  out="$(CNI_COMMAND="${command}" CNI_CONTAINERID=ctr1 CNI_NETNS=/var/run/netns/none \
    CNI_IFNAME=eth0 CNI_PATH="${T}" timeout 20 "${PLUGIN}" <"${input}" 2>"${T}/stderr")"
  rc=$?
  local why=""
  if [[ ${rc} -eq 0 ]]; then
    why="exit 0"
  elif [[ ${rc} -ge 124 ]]; then
    why="exit ${rc} (killed by a signal or timed out); stderr: $(tail -c 200 "${T}/stderr")"
  elif [[ ${#out} -gt 2048 ]]; then
    why="stdout is ${#out} bytes (a prefix of the input should be quoted)"
  elif ! why="$("${PY}" -c '
import json, sys
want_code, want_text = int(sys.argv[1]), sys.argv[2]
try:
    j = json.loads(sys.stdin.read())
except ValueError as e:
    sys.exit("stdout is not JSON: %s" % e)
if not isinstance(j, dict) or set(j) - {"cniVersion", "code", "msg", "details"}:
    sys.exit("not a CNI error object: %r" % j)
if j.get("code") != want_code or want_text not in j.get("msg", ""):
    sys.exit("got code %r msg %r" % (j.get("code"), j.get("msg")))
' "${code}" "${text}" <<<"${out}" 2>&1)"; then
    :
  else
    why=""
  fi
  if [[ -z "${why}" ]]; then
    pass "${command} ${name}: exit ${rc}, CNI error code ${code}"
  else
    fail "${command} ${name}: expected CNI error code ${code} (${text})" "${why}"
  fi
}

expect "invalid UTF-8 in a string" "${T}/utf8-in-string" 6 "not valid UTF-8: invalid byte 0xff at offset 59"
expect "overlong UTF-8" "${T}/utf8-overlong" 6 "not valid UTF-8: invalid byte 0xc0"
expect "binary stdin" "${T}/binary" 6 "not valid UTF-8: invalid byte 0x80 at offset 128"
expect "JSON arrays nested 50,000 deep" "${T}/deep-arrays" 6 "deeper than the limit of 64 levels"
expect "JSON objects nested 50,000 deep" "${T}/deep-objects" 6 "deeper than the limit of 64 levels"
expect "a valid config with a 50,000-deep value" "${T}/deep-in-key" 6 "deeper than the limit of 64 levels"
expect "2 MiB configuration" "${T}/size-2mib" 6 "more than the limit of 1048576 bytes"
expect "endless stdin (/dev/zero)" /dev/zero 6 "more than the limit of 1048576 bytes"
expect "empty stdin" "${T}/empty" 6 "not valid JSON"
expect "mtu \"abc\"" "${T}/mtu-abc" 7 'mtu "abc" is not an integer (68..65535)'
expect "mtu \"1500\"" "${T}/mtu-string" 7 'mtu "1500" is not an integer (68..65535)'
expect "mtu -1" "${T}/mtu-negative" 7 "mtu -1 out of range 68..65535"
expect "mtu 70000" "${T}/mtu-too-big" 7 "mtu 70000 out of range 68..65535"
expect "mtu 1500.5" "${T}/mtu-float" 7 "mtu 1500.5 is not an integer (68..65535)"
expect "900 KB bridge name" "${T}/bridge-900k" 7 "is not a valid bridge name"
expect "900 KB cniVersion" "${T}/version-900k" 1 "is not supported"
for cmd in DEL CHECK GC STATUS; do
  expect "invalid UTF-8 in a string" "${T}/utf8-in-string" 6 "not valid UTF-8" "${cmd}"
  expect "JSON objects nested 50,000 deep" "${T}/deep-objects" 6 "deeper than the limit" "${cmd}"
done
# VERSION ignores a configuration it cannot read and still answers.
out="$(CNI_COMMAND=VERSION timeout 20 "${PLUGIN}" <"${T}/deep-objects")"
rc=$?
if [[ ${rc} -eq 0 ]] && grep -q '"supportedVersions"' <<<"${out}"; then
  pass "VERSION with a 50,000-deep stdin answers"
else
  fail "VERSION with a 50,000-deep stdin answers" "exit ${rc}: ${out:0:200}"
fi
finish
