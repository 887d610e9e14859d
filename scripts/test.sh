#!/usr/bin/env bash
# veb's test entry point (run by .ci/run after scripts/setup.sh).
#
# Steps: 1. `bazel test //...`: unit tests (every S-rule, the agent, the CLI,
#           the CNI plugin, metrics through promtool) and self-tests of the build;
#        2. each libFuzzer harness for VEB_FUZZ_SECONDS (ASan + UBSan); a crash
#           leaves its input in the log directory;
#        3. the Linux dataplane integration test, as root, in network namespaces;
#        4.. end-to-end steps with real clients: grpcurl, vebctl golden files, a
#           Prometheus server and kill -9 restarts, RPC load, the CNI plugin under
#           cnitool and containerd/crictl, the Helm chart, the node image, a
#           one-node Kubernetes cluster running the chart (test/k8s);
#        5. the clang thread-safety build (-Werror), the unit and integration
#           tests under ASan + UBSan, the concurrency and integration tests
#           under TSan.
# Policy: docs/design.md, "Testing".
# Prints, as its last line, "N passed, M failed" over all steps, and exits
# non-zero when anything failed. Logs: $VEB_TEST_LOGDIR (default /tmp/veb-test).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
LOGDIR="${VEB_TEST_LOGDIR:-/tmp/veb-test}"
mkdir -p "${LOGDIR}"

# Two shared cores: never more than two jobs, never two Bazel commands at once.
BAZEL=(bazel)
BAZEL_FLAGS=(--jobs=2 --keep_going)

passed=0
failed=0

# The Go tools (scripts/install-go-tools.sh, and Prometheus with Kubernetes
# discovery) and the Kubernetes binaries (test/k8s/build.sh, ~13 min alone)
# need no Bazel output: they are built here in the background, in that order,
# at nice 19. The script steps run in this shell's session, so they come first
# when they need the CPU; the Bazel server has its own session (its own
# scheduler group), so Bazel's compiles share the CPU with these builds about
# equally. The first script step waits for the tools it drives, the Kubernetes
# step for the rest. All are cached outside the clone: on a machine that has
# run CI before this is done at once.
prep_log="${LOGDIR}/go-prepare.log"
tools_done="${LOGDIR}/go-tools.rc"
rm -f "${tools_done}"
nice -n 19 bash -c '
  bash scripts/install-go-tools.sh grpcurl cnitool crictl helm cni; echo $? >"$1"
  bash scripts/install-go-tools.sh prometheus && bash test/k8s/build.sh' _ "${tools_done}" \
  >"${prep_log}" 2>&1 &
prep_pid=$!
prep_start=${SECONDS}

if [[ -n "${CI:-}" ]]; then
  # Do not leave a Bazel server behind when CI ends.
  trap 'bazel shutdown >/dev/null 2>&1 || true' EXIT
fi

# --- 1. Bazel tests ------------------------------------------------------------------
# Counts come from Bazel's per-target test summary lines, e.g.
#   //tools/selftest:grpc_test      (cached) PASSED in 0.1s
#   //dataplane:mac_table_test      FAILED in 2.3s
#   //dataplane:frame_test          FAILED TO BUILD / NO STATUS / TIMEOUT / FLAKY
bazel_test_step() {  # bazel_test_step NAME LOG BAZEL_TEST_ARGS...
  local name="$1" log="$2"
  shift 2
  echo "== ${name} (log: ${log})"
  local start=${SECONDS} rc p f
  set +e
  "${BAZEL[@]}" test "${BAZEL_FLAGS[@]}" "$@" 2>&1 | tee "${log}"
  rc=${PIPESTATUS[0]}
  set -e
  p=$(grep -cE '^//[^ ]+ +(\(cached\) )?PASSED( in|$)' "${log}" || true)
  f=$(grep -cE '^//[^ ]+ +(\(cached\) )?(FAILED|TIMEOUT|FLAKY|NO STATUS|INCOMPLETE|REMOTE FAILURE|FAILED TO BUILD)' "${log}" || true)
  if [[ ${rc} -ne 0 && ${f} -eq 0 ]]; then
    # Bazel failed before it could report per-target results (e.g. a loading or
    # analysis error): count the step itself as one failure.
    echo "bazel test exited ${rc} without per-target failures: counting 1 failure" >&2
    f=1
  fi
  echo "== ${name}: passed=${p} failed=${f} exit=${rc} ($((SECONDS - start)) s)"
  passed=$((passed + p))
  failed=$((failed + f))
}
bazel_test_step "bazel test //..." "${LOGDIR}/bazel-test.log" //...

# --- 2. fuzzing ---------------------------------------------------------------------
# Each libFuzzer harness (clang, ASan + UBSan) runs for VEB_FUZZ_SECONDS (default
# 60) from an empty corpus; a crash, sanitizer report or trap fails the step, and
# the input that caused it is written as ${LOGDIR}/<fuzzer>-crash-<sha1> (or
# -leak-, -timeout-, -oom-), never into the source tree.
FUZZ_SECONDS="${VEB_FUZZ_SECONDS:-60}"
FUZZERS=(//dataplane:pipeline_fuzzer //dataplane/linux:soft_offload_fuzzer //cni-plugin:netconf_fuzzer)
for target in "${FUZZERS[@]}"; do
  name="${target##*:}"
  rel="${target#//}"
  rel="${rel/://}"
  log="${LOGDIR}/${name}.log"
  corpus="$(mktemp -d /tmp/veb-fuzz-corpus.XXXXXX)"
  echo "== fuzz ${target} for ${FUZZ_SECONDS}s (log: ${log})"
  set +e
  "${BAZEL[@]}" build "${BAZEL_FLAGS[@]}" --config=fuzz "${target}" >"${log}" 2>&1 &&
    "$("${BAZEL[@]}" info --config=fuzz bazel-bin 2>/dev/null)/${rel}" \
      -max_total_time="${FUZZ_SECONDS}" -print_final_stats=1 \
      -artifact_prefix="${LOGDIR}/${name}-" "${corpus}" >>"${log}" 2>&1
  rc=$?
  set -e
  rm -rf "${corpus}"
  if [[ ${rc} -eq 0 ]]; then
    echo "fuzz ${name}: PASSED ($(grep -oE 'Done [0-9]+ runs' "${log}" | tail -1))"
    passed=$((passed + 1))
  else
    artifact=$(grep -oE 'Test unit written to [^ ]+' "${log}" | tail -1 | cut -d' ' -f5- || true)
    echo "fuzz ${name}: FAILED (exit ${rc}${artifact:+; input: ${artifact}})"; tail -40 "${log}"
    failed=$((failed + 1))
  fi
done

# --- 3. integration / end-to-end tests -------------------------------------------------
# Network-namespace and real-client tests (docs/design.md, "Testing"); add to
# passed/failed.
# Linux dataplane (root, network namespaces; run.sh always removes what it made):
# each gtest case counts once, from its "[       OK ]" / "[  FAILED  ]" line.
integration_step() {  # integration_step LOG [--config=NAME]
  local log="$1" config=("${@:2}")
  echo "== linux dataplane integration ${config[*]:-} (log: ${log})"
  local start=${SECONDS} rc p f
  set +e
  "${BAZEL[@]}" build "${BAZEL_FLAGS[@]}" "${config[@]}" //test/integration:linux_integration_test >"${log}" 2>&1 &&
    bash test/integration/run.sh "${config[@]}" >>"${log}" 2>&1
  rc=$?
  set -e
  grep -E '^\[ +(OK|FAILED) +\] [A-Za-z]' "${log}" || true
  p=$(grep -cE '^\[       OK \] ' "${log}" || true)
  f=$(grep -cE '^\[  FAILED  \] [A-Za-z0-9_]+\.[A-Za-z0-9_]+ \(' "${log}" || true)
  if [[ ${rc} -ne 0 && ${f} -eq 0 ]]; then f=1; tail -40 "${log}"; fi
  echo "== linux dataplane integration ${config[*]:-}: passed=${p} failed=${f} ($((SECONDS - start)) s)"
  passed=$((passed + p))
  failed=$((failed + f))
}
integration_step "${LOGDIR}/linux-integration.log"

# --- 4.. script steps -------------------------------------------------------------------
# Each prints "PASS: ..." / "FAIL: ..." lines; each line counts once. A step that
# exits non-zero without a FAIL line counts as one failure.
run_step() {  # run_step NAME LOG COMMAND...
  local name="$1" log="$2"
  shift 2
  echo "== ${name} (log: ${log})"
  set +e
  "$@" >"${log}" 2>&1
  local rc=$?
  set -e
  grep -E '^(PASS|FAIL)' "${log}" || true
  local p f
  p=$(grep -c '^PASS' "${log}" || true)
  f=$(grep -c '^FAIL' "${log}" || true)
  if [[ ${rc} -ne 0 && ${f} -eq 0 ]]; then f=1; tail -20 "${log}"; fi
  passed=$((passed + p))
  failed=$((failed + f))
}

# The Go tools the script steps drive (built in the background since the start).
wait_start=${SECONDS}
while [[ ! -s "${tools_done}" ]] && kill -0 "${prep_pid}" 2>/dev/null; do sleep 2; done
if [[ "$(cat "${tools_done}" 2>/dev/null)" == 0 ]]; then
  echo "== Go tools ready ($((SECONDS - prep_start)) s after start; waited $((SECONDS - wait_start)) s)"
else
  echo "== Go tools: install failed (log: ${prep_log}; the steps using them fail)"
  tail -5 "${prep_log}"
  failed=$((failed + 1))
fi
# The agent through the real grpcurl (reflection, every RPC family, error codes).
"${BAZEL[@]}" build "${BAZEL_FLAGS[@]}" //server:vebd //cli:vebctl //cni-plugin:veb //test/load:rpc_load >"${LOGDIR}/build-bins.log" 2>&1 ||
  { echo "building vebd/vebctl/veb failed"; tail -20 "${LOGDIR}/build-bins.log"; failed=$((failed + 1)); }
run_step "grpcurl against vebd" "${LOGDIR}/grpcurl.log" bash test/grpcurl/grpcurl_test.sh
# vebctl: every command and its JSON output against golden files.
run_step "vebctl golden tests" "${LOGDIR}/vebctl.log" bash test/vebctl/golden_test.sh
# A real Prometheus server scraping vebd; kill -9 restart with a ping flowing.
run_step "agent: Prometheus, restart" "${LOGDIR}/agent.log" bash test/agent/agent_test.sh
# kill -9 + immediate restart, 100 times: one agent per state, nothing lost.
run_step "agent: 100 kill -9 restarts" "${LOGDIR}/restart.log" bash test/agent/restart_test.sh
# The kernel engine through vebd: refusals, vports, pings across kill -9 and
# SIGTERM restarts with zero loss, adoption, aging, nothing left behind.
run_step "agent: kernel engine" "${LOGDIR}/kernel-engine.log" bash test/agent/kernel_engine_test.sh
# A full and a read-only state directory: changes refused, nothing lost.
run_step "agent: durable or refused" "${LOGDIR}/durability.log" bash test/agent/durability_test.sh
# One pod floods 1,000,000 random source MACs and forges ARP: the table, the
# neighbours' pings and the flooder's capture (test/agent/flood_test.sh).
run_step "agent: MAC flood from a pod" "${LOGDIR}/flood.log" bash test/agent/flood_test.sh
run_step "agent: MAC flood from a pod (kernel engine)" "${LOGDIR}/flood-kernel.log" \
  env VEB_ENGINE=kernel bash test/agent/flood_test.sh
# Two nodes (namespaces, one vebd each) joined by tunnel vports (VXLAN): pods
# ping and move TCP byte for byte across, floods arrive once, peers change,
# kill -9 restores the tunnel, bad input is refused (test/agent/vxlan_test.sh).
run_step "agent: VXLAN tunnel vports across two nodes" "${LOGDIR}/vxlan.log" \
  bash test/agent/vxlan_test.sh
run_step "agent: VXLAN tunnel vports across two nodes (kernel engine)" \
  "${LOGDIR}/vxlan-kernel.log" env VEB_ENGINE=kernel bash test/agent/vxlan_test.sh
# Three nodes whose tunnel peers come from a real DNS server (dnsmasq): peers
# follow the Service name, every pod pair pings, floods arrive once, kill -9,
# hand-added peers, a DNS outage, bad flags (test/agent/multinode_test.sh).
run_step "agent: three nodes, tunnel peers from DNS" "${LOGDIR}/multinode.log" \
  bash test/agent/multinode_test.sh
run_step "agent: three nodes, tunnel peers from DNS (kernel engine)" \
  "${LOGDIR}/multinode-kernel.log" env VEB_ENGINE=kernel bash test/agent/multinode_test.sh
# 8 clients x 1,000 mixed RPCs while a probe measures dataplane stalls.
run_step "agent under load" "${LOGDIR}/load.log" bash test/load/load_test.sh
# The CNI plugin through cnitool and the reference plugins (chaining, 60 pods,
# restart between ADD and DEL, failures midway, bad input, leak checks).
run_step "CNI plugin with cnitool" "${LOGDIR}/cni.log" bash test/cni/cnitool_test.sh
# The plugin binary with hostile stdin (bad UTF-8, deep nesting, 2 MiB, bad mtu).
run_step "CNI plugin bad input" "${LOGDIR}/cni-bad-input.log" bash test/cni/bad_input_test.sh
# The kubelet path: containerd's CRI plugin driven by crictl, two pod sandboxes.
run_step "CNI through containerd/crictl" "${LOGDIR}/containerd.log" bash test/cni/containerd_test.sh
# helm lint/template and strict validation against the Kubernetes API types.
run_step "chart tests" "${LOGDIR}/chart.log" bash test/chart/chart_test.sh
# image/build.sh (debootstrap + buildah), then the podman smoke test that runs it
# as the DaemonSet would.
run_step "node image build + podman smoke test" "${LOGDIR}/image.log" \
  bash test/image/smoke_test.sh
# A one-node Kubernetes cluster from the release's sources (test/k8s/cluster.sh;
# the binaries are cached under /var/cache/veb, a cold build takes ~10 min):
# helm install of the chart with the image above, a Deployment on veb, a
# Service, a hostPort, Prometheus's Kubernetes discovery, a rollout restart of
# the agent under ping, leaks after delete and uninstall, the machine after down.
wait_start=${SECONDS}
if wait "${prep_pid}"; then
  echo "== Prometheus and Kubernetes binaries ready ($((SECONDS - prep_start)) s after start;" \
    "waited $((SECONDS - wait_start)) s; log: ${prep_log})"
else
  # The step below reports the failure (cluster.sh up runs build.sh again).
  echo "== Prometheus or Kubernetes build failed in the background (log: ${prep_log}):"
  tail -5 "${prep_log}"
fi
run_step "Kubernetes: one node, helm install, pods on veb" "${LOGDIR}/k8s.log" \
  timeout 3600 bash test/k8s/k8s_test.sh

# --- 5. clang checks and sanitizers (.bazelrc configs) --------------------------------------
# Each config has its own output tree (clang, built once, cold in CI).
# Thread-safety analysis + -Wall -Wextra as errors over the whole tree: one count.
tsa_log="${LOGDIR}/clang-tsa.log"
echo "== bazel build --config=clang-tsa //... (log: ${tsa_log})"
tsa_start=${SECONDS}
if "${BAZEL[@]}" build "${BAZEL_FLAGS[@]}" --config=clang-tsa //... >"${tsa_log}" 2>&1; then
  echo "clang-tsa build: PASSED ($((SECONDS - tsa_start)) s)"
  passed=$((passed + 1))
else
  echo "clang-tsa build: FAILED"; grep -E '(error|warning): ' "${tsa_log}" | sort -u | head -40
  failed=$((failed + 1))
fi
# Every unit test under ASan + UBSan.
bazel_test_step "bazel test --config=asan //..." "${LOGDIR}/asan-test.log" --config=asan //...
# The namespace integration test (root) under ASan + UBSan.
integration_step "${LOGDIR}/linux-integration-asan.log" --config=asan
# The tests whose point is concurrency (listed in test/BUILD.bazel) under TSan.
bazel_test_step "bazel test --config=tsan //test:concurrency_tests" "${LOGDIR}/tsan-test.log" \
  --config=tsan //test:concurrency_tests
# The namespace integration test under TSan: the worker pool's threads polling
# real ports while the control thread attaches, detaches and reconfigures.
integration_step "${LOGDIR}/linux-integration-tsan.log" --config=tsan

# --- summary -------------------------------------------------------------------------
echo "${passed} passed, ${failed} failed"
if [[ ${failed} -ne 0 ]]; then
  exit 1
fi
