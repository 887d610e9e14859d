// libFuzzer harness for the CNI plugin's stdin parser: arbitrary bytes go to
// ParseNetConf, the function the plugin runs on stdin for every command
// (the first byte picks the command, the rest is stdin). Besides ASan/UBSan
// findings and uncaught exceptions (the plugin must answer every input with a
// CNI error, never abort), it traps when an error does not print as a JSON
// object with a known code, or a message longer than the documented cap.
//
//   bazel build --config=fuzz //cni-plugin:netconf_fuzzer
//   bazel-bin/cni-plugin/netconf_fuzzer -max_total_time=60
#include <cstddef>
#include <cstdint>
#include <string>

#include "cni-plugin/cni.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using veb::cni::Env;
  using veb::cni::NetConf;
  using nlohmann::json;
  static const char* const kCommands[] = {"ADD", "DEL", "CHECK", "GC", "STATUS", "VERSION"};
  if (size == 0) return 0;
  Env env{kCommands[data[0] % 6], "ctr1", "/var/run/netns/p1", "eth0", "", "/opt/cni/bin"};
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  NetConf conf;
  const auto err = veb::cni::ParseNetConf(text, env, &conf);
  if (err) {
    const json j = json::parse(veb::cni::Dump(err->ToJson("1.1.0")));  // throws if not JSON
    if (!j.is_object() || !j["code"].is_number_integer() || err->code < 1 || err->code > 7 ||
        j["msg"].get<std::string>().size() > veb::cni::kMaxErrorText + 3) {
      __builtin_trap();
    }
    return 0;
  }
  // What the plugin does with an accepted configuration before calling the
  // agent: print it (delegation) and read a prevResult.
  (void)veb::cni::Dump(conf.raw);
  if (conf.prev_result.is_object()) {
    veb::cni::Result prev;
    (void)veb::cni::ParseResult(conf.prev_result, &prev);
  }
  return 0;
}
