#!/usr/bin/env bash
# Golden tests of vebctl: a fixed script of commands covering every command of
# `vebctl -h` (agent commands, every bridge verb, vports, watch), in text and,
# for listings, show and counters, with `-o json`, plus error cases (unknown
# bridge, bad MAC, bad VID, locked+learning, ifmaxaddr out of range, unknown
# command, missing argument, no agent), a port's own address limit (ifmaxaddr),
# tunnel vports and their peers, bridges named like commands (`vebctl -- BRIDGE ...`)
# and over-long names refused by vebctl itself. vebd runs with in-memory
# interfaces (--fake_interfaces), so no root or real interface is needed; the
# pod vports' "netns" is a plain file under the temporary directory.
#
# Each command's stdout, stderr (lines prefixed "stderr: ") and exit status
# are compared with test/vebctl/golden/<NNN>-<slug>.txt after normalisation
# of what legitimately changes between runs: the temporary directory
# (-> <tmp>), address ages (-> <age>), event timestamps (-> <time>) and event
# sequence numbers (-> <seq+k>, k counted from the stream's first event, so
# gaps still show). Ifindexes and the fake interfaces' MACs are deterministic
# with --fake_interfaces and are compared as they are. Successful `-o json`
# output must also be valid JSON (one object per line).
#
#   bash test/vebctl/golden_test.sh                       # compare
#   VEB_UPDATE_GOLDEN=1 bash test/vebctl/golden_test.sh   # rewrite golden files
#
# Needs bazel-bin/server/vebd and bazel-bin/cli/vebctl
# (bazel build //server:vebd //cli:vebctl). Prints "PASS: ..."/"FAIL: ..." per
# command and "N passed, M failed"; exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
VEBD="${VEBD:-bazel-bin/server/vebd}"
VEBCTL_BIN="${VEBCTL:-bazel-bin/cli/vebctl}"
GOLDEN=test/vebctl/golden
UPDATE="${VEB_UPDATE_GOLDEN:-0}"
PY=/usr/bin/python3
T="$(mktemp -d /tmp/veb-vebctl.XXXXXX)"
SOCK="${T}/vebd.sock"
passed=0
failed=0
n=0
vebd_pid=""
declare -A watch_pid=()
declare -A produced=()

cleanup() {
  local p
  for p in "${watch_pid[@]}" "${vebd_pid}"; do
    [[ -n "${p}" ]] && kill "${p}" 2>/dev/null
  done
  wait 2>/dev/null
  rm -rf "${T}"
}
trap cleanup EXIT

pass() { echo "PASS: $1"; passed=$((passed + 1)); }
fail() { echo "FAIL: $1${2:+ ($2)}"; failed=$((failed + 1)); }

for b in "${VEBD}" "${VEBCTL_BIN}"; do
  [[ -x "${b}" ]] || { echo "golden_test.sh: ${b} missing (bazel build //server:vebd //cli:vebctl)" >&2; exit 1; }
done
mkdir -p "${GOLDEN}" "${T}/netns"
: >"${T}/netns/pod1"
: >"${T}/netns/pod2"

# normalise.py TMPDIR < raw > normalised (see the header).
cat >"${T}/normalise.py" <<'EOF'
import re, sys
tmp = sys.argv[1]
text = sys.stdin.read().replace(tmp, "<tmp>")
text = re.sub(r'"time_unix_nano":"\d+"', '"time_unix_nano":"<time>"', text)
text = re.sub(r'"age_seconds":\d+', '"age_seconds":"<age>"', text)
text = re.sub(r' age \d+$', ' age <age>', text, flags=re.M)
first = []
def seq(m):
    v = int(m.group(1))
    if not first:
        first.append(v)
    return '"sequence":"<seq+%d>"' % (v - first[0])
text = re.sub(r'"sequence":"(\d+)"', seq, text)
sys.stdout.write(text)
EOF
# json_lines.py FILE: every non-empty line is a JSON object, and there is one.
cat >"${T}/json_lines.py" <<'EOF'
import json, sys
lines = [l for l in open(sys.argv[1]).read().splitlines() if l.strip()]
if not lines:
    sys.exit("no JSON output")
for i, l in enumerate(lines, 1):
    try:
        if not isinstance(json.loads(l), dict):
            sys.exit("line %d: not a JSON object" % i)
    except ValueError as e:
        sys.exit("line %d: %s" % (i, e))
EOF

# record SLUG SHOWN_CMDLINE STDOUT_FILE STDERR_FILE RC JSON(0|1): builds the
# transcript, normalises it, checks JSON, compares with (or writes) the golden.
record() {
  local slug="$1" cmdline="$2" so="$3" se="$4" rc="$5" json="$6"
  n=$((n + 1))
  local id
  printf -v id '%03d-%s' "${n}" "${slug}"
  produced["${id}.txt"]=1
  local what="${id}: ${cmdline//${T}/<tmp>}"
  {
    echo "\$ ${cmdline}"
    cat "${so}"
    sed 's/^/stderr: /' "${se}"
    echo "[exit ${rc}]"
  } | "${PY}" "${T}/normalise.py" "${T}" >"${T}/actual"
  if [[ "${json}" == 1 && "${rc}" == 0 ]]; then
    local err
    if ! err="$("${PY}" "${T}/json_lines.py" "${so}" 2>&1)"; then
      fail "${what}" "invalid JSON on stdout: ${err}"
      return
    fi
  fi
  local golden="${GOLDEN}/${id}.txt"
  if [[ "${UPDATE}" == 1 ]]; then
    cp "${T}/actual" "${golden}"
    pass "${what} (golden written)"
  elif [[ ! -f "${golden}" ]]; then
    fail "${what}" "missing ${golden}; VEB_UPDATE_GOLDEN=1 writes it"
  elif diff -q "${golden}" "${T}/actual" >/dev/null; then
    pass "${what}"
  else
    fail "${what}" "$(diff -u "${golden}" "${T}/actual" | tail -n +3 | grep '^[-+]' | head -12 | tr '\n' '|' | cut -c1-900)"
  fi
}

# t SLUG WORDS...: runs `vebctl WORDS...` against the test agent and records it.
t() {
  local slug="$1"; shift
  local json=0 w
  for w in "$@"; do [[ "${w}" == json ]] && json=1; done
  timeout 20 "${VEBCTL_BIN}" --socket="${SOCK}" "$@" >"${T}/stdout" 2>"${T}/stderr"
  local rc=$?
  record "${slug}" "vebctl $*" "${T}/stdout" "${T}/stderr" "${rc}" "${json}"
}

# tg SLUG [VAR=VALUE...] WORDS...: like t, without the implicit --socket, with
# the given environment (the global flags and VEB_SOCKET).
tg() {
  local slug="$1"; shift
  local envs=() json=0 w
  while [[ $# -gt 0 && "$1" == *=* && "$1" != -* ]]; do envs+=("$1"); shift; done
  for w in "$@"; do [[ "${w}" == json ]] && json=1; done
  timeout 20 env -u VEB_SOCKET "${envs[@]}" "${VEBCTL_BIN}" "$@" >"${T}/stdout" 2>"${T}/stderr"
  local rc=$?
  record "${slug}" "${envs[*]}${envs:+ }vebctl $*" "${T}/stdout" "${T}/stderr" "${rc}" "${json}"
}

# wait_for PATTERN FILE...: up to 10 s for a line matching PATTERN in a FILE.
wait_for() {
  local pattern="$1" _
  shift
  for _ in $(seq 1 100); do grep -q -- "${pattern}" "$@" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}

# watch_start KEY WORDS...: `vebctl WORDS...` (a watch) in the background,
# returns once its WATCH_STARTED event is printed.
watch_start() {
  local key="$1"; shift
  echo "$*" >"${T}/watch.${key}.cmd"
  "${VEBCTL_BIN}" --socket="${SOCK}" "$@" >"${T}/watch.${key}.out" 2>"${T}/watch.${key}.err" &
  watch_pid["${key}"]=$!
  wait_for EVENT_TYPE_WATCH_STARTED "${T}/watch.${key}.out" ||
    echo "golden_test.sh: watch ${key} printed no WATCH_STARTED in 10 s" >&2
}

# watch_stop KEY SLUG PATTERN [none]: waits (10 s at most) for a line
# matching PATTERN (stdout or stderr), stops the watch with SIGTERM (unless signal is "none": it
# must end by itself within 10 s) and records its output and exit status.
watch_stop() {
  local key="$1" slug="$2" pattern="$3" how="${4:-term}"
  local pid="${watch_pid[${key}]}"
  wait_for "${pattern}" "${T}/watch.${key}.out" "${T}/watch.${key}.err" ||
    echo "golden_test.sh: watch ${key}: no line matching ${pattern} in 10 s" >&2
  if [[ "${how}" == term ]]; then
    kill -TERM "${pid}" 2>/dev/null
  else
    local _
    for _ in $(seq 1 100); do kill -0 "${pid}" 2>/dev/null || break; sleep 0.1; done
    kill -TERM "${pid}" 2>/dev/null
  fi
  wait "${pid}"
  local rc=$?
  unset "watch_pid[${key}]"
  local note="(in the background; stopped by the test with SIGTERM)"
  [[ "${how}" != term ]] && note="(in the background; must end by itself)"
  record "${slug}" "vebctl $(cat "${T}/watch.${key}.cmd")  ${note}" "${T}/watch.${key}.out" \
    "${T}/watch.${key}.err" "${rc}" 1
}

"${VEBD}" --listen="unix://${SOCK}" --state_file="${T}/state.json" --metrics_address= \
  --fake_interfaces=eth1,eth2,eth3,eth4 >"${T}/vebd.log" 2>&1 &
vebd_pid=$!
for _ in $(seq 1 50); do [[ -S "${SOCK}" ]] && break; sleep 0.1; done
if [[ ! -S "${SOCK}" ]]; then
  fail "vebd starts" "$(tail -c 400 "${T}/vebd.log" | tr '\n' ' ')"
  echo "${passed} passed, ${failed} failed"
  exit 1
fi

# ---- agent commands ------------------------------------------------------
t help -h
t health health
t health-json -o json health
t list-empty list
t list-empty-json -o json list
t create create veb0
t create-options create veb2 down maxaddr 1000 timeout 60 pvid none link0
t create-json -o json create veb3 up svlan reserved
t list list
t list-json -o json list
t destroy destroy veb3
t list-after-destroy list

# ---- global flags: --socket PATH, --output, VEB_SOCKET ----------------------
tg socket-flag --socket "${SOCK}" --output json list
tg socket-env VEB_SOCKET="${SOCK}" list
tg socket-flag-wins VEB_SOCKET="${T}/none.sock" --socket="${SOCK}" -o text health
tg err-output-missing --socket="${SOCK}" list -o
tg err-socket-missing list --socket

# ---- bridge settings -----------------------------------------------------
t show-empty veb0 show
t show-empty-json -o json veb0 show
t down veb0 down
t up-json -o json veb0 up
t maxaddr veb0 maxaddr 500
t timeout veb0 timeout 120
t pvid veb0 pvid 5
t link0 veb0 link0
t list-link0 list
t no-link0 veb0 -link0
t svlan veb0 svlan
t no-svlan veb0 -svlan
t reserved veb0 reserved
t no-reserved-json -o json veb0 -reserved
t pvid-none veb0 pvid none
t list-settings list
t pvid-back veb0 pvid 1

# ---- ports and span ports ------------------------------------------------
t add veb0 add eth1
t add-backend-json -o json veb0 add eth2 backend af_packet
t add-af-xdp veb0 add eth4 backend af_xdp
t addspan veb0 addspan eth3 backend af_packet
t show veb0 show
t show-json -o json veb0 show
t ports veb0 ports
t ports-json -o json veb0 ports
t del veb0 del eth4
t no-learning veb0 -learning eth2
t no-discover veb0 -discover eth2
t blocknonip veb0 blocknonip eth2
t ports-flags veb0 ports
t learning veb0 learning eth2
t discover veb0 discover eth2
t no-blocknonip-json -o json veb0 -blocknonip eth2
# `locked` clears learning and discover in the same request (cli/command.cc);
# turning learning or discover back on while locked is the agent's error.
t locked veb0 locked eth1
t ports-locked veb0 ports
t learning-while-locked veb0 learning eth1
t discover-while-locked veb0 discover eth1
t no-locked veb0 -locked eth1
t ports-unlocked veb0 ports
t learning-again veb0 learning eth1
t discover-again veb0 discover eth1
t protected veb0 protected eth1 1,2
t protected-one veb0 protected eth2 2
t ports-protected veb0 ports
t no-protected veb0 -protected eth2
t tagged-add veb0 tagged eth1 +10,20
t tagged-remove veb0 tagged eth1 -20
t tagged-replace veb0 tagged eth2 30,40
t untagged veb0 untagged eth2 10
t ports-vlans veb0 ports
t ports-vlans-json -o json veb0 ports
t tagged-none veb0 tagged eth2 none
t untagged-none veb0 untagged eth2 none
t show-vlans veb0 show
t untagged-back veb0 untagged eth2 1

# ---- addresses -----------------------------------------------------------
t static veb0 static 02:00:00:00:aa:01 eth1
t static-vid-json -o json veb0 static 02:00:00:00:aa:02 eth1 vid 10
t static-eth2 veb0 static 02:00:00:00:aa:03 eth2
t addr veb0 addr
t addr-json -o json veb0 addr
t addr-port veb0 addr eth1
t addr-port-json -o json veb0 addr eth2
t deladdr-vid veb0 deladdr 02:00:00:00:aa:02 vid 10
t deladdr-json -o json veb0 deladdr 02:00:00:00:aa:03
t flush veb0 flush
t flush-port-json -o json veb0 flush eth1
t addr-after-flush veb0 addr
t static-again veb0 static 02:00:00:00:aa:04 eth2
t flushall-port-json -o json veb0 flushall eth2
t flushall veb0 flushall
t addr-empty veb0 addr
t addr-empty-json -o json veb0 addr
t static-kept veb0 static 02:00:00:00:aa:05 eth2 vid 1

# ---- rules ---------------------------------------------------------------
t rule-arp veb0 rule block in on eth1 src 02:00:00:00:00:01 arp request spa 10.0.0.1
t rule-vid veb0 rule pass in/out on eth1 dst ff:ff:ff:ff:ff:ff vid 20
t rule-rarp-json -o json veb0 rule block out on eth2 rarp reply sha 02:00:00:00:00:09 tha 02:00:00:00:00:08 tpa 10.0.0.2
t rule-pass-out veb0 rule pass out on eth2 arp tpa 10.0.0.3
t rules veb0 rules eth1
t rules-json -o json veb0 rules eth1
t rules-eth2 veb0 rules eth2
t flushrule-json -o json veb0 flushrule eth1
t flushrule veb0 flushrule eth2
t rules-empty veb0 rules eth1
t rules-empty-json -o json veb0 rules eth2

# ---- vports --------------------------------------------------------------
t vport-host veb0 vport host gw0 ip 10.0.0.1/24 ip fd00::1/64 mtu 9000
t vport-host-json -o json veb0 vport host gw1 mac 02:11:22:33:44:55
t vport-pod veb0 vport pod "${T}/netns/pod1" eth0
t vport-pod-options veb0 vport pod "${T}/netns/pod1" eth1 type tap name podtap container abc mac 02:00:00:00:01:01 mtu 1400
t vport-pod-json -o json veb0 vport pod "${T}/netns/pod2" eth0 type veth
t vports veb0 vports
t vports-json -o json veb0 vports
t delvport veb0 delvport gw1
t delvport-pod veb0 delvport podtap
t vports-after-delete veb0 vports
t show-vports veb0 show

# ---- counters ------------------------------------------------------------
t counters veb0 counters
t counters-json -o json veb0 counters
t counters-port veb0 counters eth1
t counters-span-json -o json veb0 counters eth3

# ---- watch: a filtered text watch and an unfiltered -o json watch --------
watch_start one watch veb1
watch_start all -o json watch
t watched-create create veb1
t watched-add veb1 add eth4
t watched-static veb1 static 02:00:00:00:00:42 eth4
t watched-down veb1 down
t watched-del veb1 del eth4
t watched-destroy destroy veb1
watch_stop one watch-bridge EVENT_TYPE_BRIDGE_DELETED
watch_stop all watch-all-json EVENT_TYPE_BRIDGE_DELETED

# ---- errors: the agent's message on stderr, exit 1 -------------------------
t err-unknown-bridge nope show
t err-unknown-bridge-json -o json nope show
t err-unknown-bridge-add nope add eth1
t err-unknown-bridge-addr nope addr
t err-bad-mac veb0 static 02:00:00:00:00 eth1
t err-multicast-mac veb0 static 01:00:5e:00:00:01 eth1
t err-rule-bad-mac veb0 rule block in on eth1 src 02:00:00:00:00:zz
t err-rule-bad-ip veb0 rule block in on eth1 arp spa 10.0.0.300
t err-bad-vid-tagged veb0 tagged eth1 +4095
t err-bad-vid-untagged veb0 untagged eth1 0
t err-bad-vid-static veb0 static 02:00:00:00:00:01 eth1 vid 4095
t err-bad-vid-pvid veb0 pvid 5000
t err-pvid-also-tagged veb0 untagged eth1 10
t err-timeout-range veb0 timeout 5
t err-maxaddr-range veb0 maxaddr 0
t err-protected-range veb0 protected eth1 32
t err-no-interface veb0 add eth9
t err-backend-tap veb0 add eth4 backend tap
t err-port-in-other-bridge veb2 add eth1
t err-duplicate-port veb0 add eth1
t err-duplicate-bridge create veb0
t err-destroy-not-empty destroy veb0
t untagged-none-eth2 veb0 untagged eth2 none
t err-static-no-pvid veb0 static 02:00:00:00:00:33 eth2
t err-static-not-member veb0 static 02:00:00:00:00:33 eth9
t err-deladdr-not-found veb0 deladdr 02:00:00:00:99:99
t err-del-span-as-port veb0 del eth3
t err-del-pod-vport veb0 del vp572c3e79
t err-delspan-not-span veb0 delspan eth1
t err-rules-not-member veb0 rules eth9
t err-counters-not-port veb0 counters eth9
t err-delvport-not-found veb0 delvport nope
t err-vport-netns-missing veb0 vport pod "${T}/netns/missing" eth0
t err-vport-attachment-exists veb0 vport pod "${T}/netns/pod1" eth0
t err-vport-host-exists veb0 vport host eth4

# ---- errors: syntax, exit 2 ------------------------------------------------
t err-no-command
t err-unknown-command veb0 frobnicate
t err-unknown-word frobnicate
t err-missing-interface veb0 add
t err-missing-port veb0 static 02:00:00:00:00:01
t err-missing-bridge create
t err-missing-value veb0 maxaddr
t err-missing-rule-direction veb0 rule block
t err-not-a-number veb0 maxaddr lots
t err-extra-word list extra
t err-bad-backend veb0 add eth4 backend dpdk
t err-bad-output -o yaml list
t err-create-setting create veb9 speed 10
t err-rule-needs-arp veb0 rule block in on eth1 spa 1.2.3.4
t err-vport-kind veb0 vport vm x

# ---- teardown ------------------------------------------------------------
t delspan veb0 delspan eth3
t destroy-force destroy veb0 force
t destroy-json -o json destroy veb2
t list-end list
t list-end-json -o json list

# ---- names: bridges named like commands ("--"), over-long names -------------
# `--` ends the options and makes the next word a bridge name.
t create-named-create create create
t create-named-addr create addr
t create-named-list -o json create list
t create-named-dash create -- -o
t list-named list
t named-create-add -- create add eth1
t named-create-show -- create show
t named-addr-add -- addr add eth2
t named-addr-static -- addr static 02:00:00:00:00:61 eth2
t named-addr-addr -- addr addr
t named-list-ports-json -o json -- list ports
t named-dash-show -- -o show
t err-named-create-without-dashes create add eth1
t err-named-list-without-dashes list ports
t err-dashes-no-bridge --
t err-dashes-no-command -- list
# Over-long names are refused by vebctl itself (exit 2, nothing sent), with a
# prefix of the name; Linux allows one argument of at most 128 KiB.
long20k="$(printf '%*s' 20480 '' | tr ' ' b)"
long100k="$(printf '%*s' 102400 '' | tr ' ' p)"
# tl SLUG SHOWN WORDS...: like t, the transcript shows SHOWN for the words.
tl() {
  local slug="$1" shown="$2"; shift 2
  timeout 20 "${VEBCTL_BIN}" --socket="${SOCK}" "$@" >"${T}/stdout" 2>"${T}/stderr"
  local rc=$?
  record "${slug}" "vebctl ${shown}" "${T}/stdout" "${T}/stderr" "${rc}" 0
}
tl err-name-20k-create "create <20 KB name>" create "${long20k}"
tl err-name-20k-show "<20 KB name> show" "${long20k}" show
tl err-name-100k-port "create add <100 KB name>" -- create add "${long100k}"
tl err-name-100k-vport "create vport host <100 KB name>" -- create vport host "${long100k}"
tl err-mac-100k "create static <100 KB> eth1" -- create static "${long100k}" eth1
t err-name-16 create 0123456789abcdef
t list-after-long-names list
t destroy-named-create destroy create force
t destroy-named-addr destroy addr force
t destroy-named-list destroy list
t destroy-named-dash destroy -- -o
t list-named-end list

# ---- a port's own address limit (ifmaxaddr, S7) ----------------------------
t create-ifmax create ifm0 maxaddr 1000
t ifmax-add ifm0 add eth1
t ifmaxaddr ifm0 ifmaxaddr eth1 4
t ifmaxaddr-json -o json ifm0 ifmaxaddr eth1 4
t ports-ifmaxaddr ifm0 ports
t ifmaxaddr-static ifm0 static 02:00:00:00:00:71 eth1
t ports-ifmaxaddr-json -o json ifm0 ports
t err-ifmaxaddr-range ifm0 ifmaxaddr eth1 1000001
t err-ifmaxaddr-not-a-number ifm0 ifmaxaddr eth1 four
t err-ifmaxaddr-missing ifm0 ifmaxaddr eth1
t ifmaxaddr-none ifm0 ifmaxaddr eth1 0
t ports-ifmaxaddr-none ifm0 ports
t counters-port-full-json -o json ifm0 counters
t destroy-ifmax destroy ifm0 force

# ---- tunnel vports (VXLAN, docs/design.md section 14) ------------------------
t create-tun create tun0
t vport-vxlan tun0 vport vxlan vx0 vni 4242 local 10.99.0.1 dstport 8472 peers 10.99.0.2
t peers-add tun0 peers vx0 add 10.99.0.3,fd00::3
t peers-show tun0 peers vx0
t peers-json -o json tun0 peers vx0
t peers-del tun0 peers vx0 del 10.99.0.2
t peers-set-none tun0 peers vx0 set none
t err-vxlan-vni-range tun0 vport vxlan vx1 vni 16777216
t err-vxlan-vni-dup tun0 vport vxlan vx1 vni 4242
t err-vxlan-no-vni tun0 vport vxlan vx1
t err-peers-malformed tun0 peers vx0 set 10.99.0
t err-peers-unknown tun0 peers nosuch add 10.99.0.4
t vports-tunnel tun0 vports
t delvport-tunnel tun0 delvport vx0
t destroy-tun destroy tun0 force

# ---- the agent goes away: a watch ends with UNAVAILABLE, then no agent -----
watch_start end watch
kill -TERM "${vebd_pid}"
watch_stop end watch-agent-shutdown "agent is shutting down" none
wait "${vebd_pid}"
vebd_pid=""
t err-no-agent health
t err-no-agent-list list

# ---- golden files no command produced --------------------------------------
for f in "${GOLDEN}"/*.txt; do
  [[ -e "${f}" ]] || continue
  b="$(basename "${f}")"
  [[ -n "${produced[${b}]:-}" ]] && continue
  if [[ "${UPDATE}" == 1 ]]; then
    rm -f "${f}"
    echo "removed stale ${f}"
  else
    fail "stale golden file ${f}" "no command produces it; VEB_UPDATE_GOLDEN=1 removes it"
  fi
done

echo "${passed} passed, ${failed} failed"
[[ ${failed} -eq 0 ]]
