// CNI protocol types for the veb plugin: the environment, the network
// configuration (CNI 1.1.0; 0.4.0 and 1.0.0 accepted), results and errors, with
// JSON through nlohmann-json. The spec's well-known error codes are used; agent
// failures that are not "try again later" use code 100 (plugin-specific).
//
// stdin comes from whoever runs the plugin, so every byte sequence must end in
// a CNI error, never a crash: the text is checked for size, UTF-8 and nesting
// depth before nlohmann-json sees it (its parser is iterative, but copying or
// printing a deeply nested value recurses), every error message quotes at
// most a prefix of what it echoes, and JSON is printed with invalid UTF-8
// replaced rather than throwing.
// Thread-safety: plain values and pure functions.
#ifndef VEB_CNI_PLUGIN_CNI_H_
#define VEB_CNI_PLUGIN_CNI_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace veb::cni {

inline constexpr const char* kPluginVersion = "1.1.0";
inline const std::vector<std::string>& SupportedVersions() {
  static const std::vector<std::string> v = {"0.4.0", "1.0.0", "1.1.0"};
  return v;
}

enum ErrorCode : int {
  kIncompatibleVersion = 1,
  kUnsupportedField = 2,
  kUnknownContainer = 3,
  kInvalidEnvironment = 4,
  kIoFailure = 5,
  kDecodeFailure = 6,
  kInvalidConfig = 7,
  kTryAgainLater = 11,
  kPluginNotAvailable = 50,
  kAgentError = 100,
};

// Limits on the network configuration read from stdin. A real configuration
// (a conflist entry with prevResult and runtimeConfig) is a few KiB and nests
// about 6 levels deep; the limits leave a wide margin and bound the memory and
// stack any input can cost.
inline constexpr size_t kMaxConfigBytes = 1 << 20;  // 1 MiB
inline constexpr int kMaxConfigDepth = 64;          // nested arrays/objects
// Error messages quote at most this many bytes of an input (then "...").
inline constexpr size_t kMaxQuoted = 64;
// msg and details are cut to this many bytes in the error JSON.
inline constexpr size_t kMaxErrorText = 4096;

struct Error {
  int code = 0;
  std::string msg;
  std::string details;
  // {"cniVersion", "code", "msg", "details"}
  nlohmann::json ToJson(const std::string& cni_version) const;
};

// `s` cut to at most `max` bytes on a UTF-8 character boundary, with "…"
// appended when cut.
std::string Prefix(absl::string_view s, size_t max);
// "\"s\"" with s cut to kMaxQuoted bytes: how messages echo an input.
std::string Quote(absl::string_view s);
// j.dump() that never throws: invalid UTF-8 in strings becomes U+FFFD.
std::string Dump(const nlohmann::json& j);

// Parses stdin-like `text` within kMaxConfigBytes and kMaxConfigDepth; code 6
// (decoding failure) naming `what` and the reason (size, invalid UTF-8 with its
// offset, depth, or the JSON syntax error).
std::optional<Error> ParseJsonText(const std::string& text, const char* what,
                                   nlohmann::json* out);

// The CNI_* environment of one invocation.
struct Env {
  std::string command;
  std::string container_id;
  std::string netns;
  std::string ifname;
  std::string args;  // CNI_ARGS "K=V;K=V"
  std::string path;  // CNI_PATH, ':'-separated
  static Env FromProcess();
};
// Checks what `command` requires (ADD/CHECK: all of container id, netns,
// ifname; DEL: container id and ifname); code 4 naming the variable.
std::optional<Error> ValidateEnv(const Env& env);

struct Attachment {
  std::string container_id;
  std::string ifname;
  bool operator==(const Attachment& o) const {
    return container_id == o.container_id && ifname == o.ifname;
  }
};

// A pod normally has one MAC; 4 leaves room for a few more (a VM or a
// macvlan inside the pod) when pinMac is off, and stops a flood at once.
inline constexpr uint32_t kDefaultPodMaxAddresses = 4;

struct NetConf {
  std::string cni_version;
  std::string name;
  std::string type;
  std::string bridge;
  std::string socket = "/run/veb/vebd.sock";
  std::string mac;
  std::optional<uint32_t> mtu;
  std::string port_type;  // "", "veth" or "tap"
  // "", "userspace" or "kernel": the engine the bridge must have (vebd
  // creates the bridge; ADD fails when it has another engine). A kernel
  // bridge holds veth pod ports only.
  std::string engine;
  std::optional<bool> learning;
  std::optional<bool> discover;
  // Pod ports are hardened by default (docs/design.md section 7), each part
  // turned off separately:
  //  - `locked`: the pod's MAC pinned, a static entry on its port, and the
  //    port locked (S6; learning and discover off). Config key "pinMac"
  //    (default true; "locked": true, the older key, also turns it on).
  //  - `arp_guard`: the port's rules are `pass in arp spa IP` for each of the
  //    pod's IPv4 addresses, then `block in arp` (S5). Key "arpGuard".
  //  - `max_addresses`: the port's own address limit (S7), key "maxAddresses",
  //    0..1,000,000, 0 = none. Matters when the port learns (pinMac off).
  bool locked = true;
  bool arp_guard = true;
  uint32_t max_addresses = kDefaultPodMaxAddresses;
  std::vector<uint32_t> protected_domains;
  std::optional<uint32_t> vlan;
  std::vector<uint32_t> trunk;
  bool is_gateway = false;
  nlohmann::json ipam;         // object or null
  nlohmann::json prev_result;  // object or null
  nlohmann::json dns;          // object or null
  std::vector<std::string> requested_ips;  // runtimeConfig/args "ips"
  std::vector<Attachment> valid_attachments;  // GC: cni.dev/valid-attachments
  nlohmann::json raw;          // the whole configuration, for delegation
};

// Parses and validates the configuration on stdin: 6 for bad JSON (through
// ParseJsonText: too big, not UTF-8, too deep, syntax), 1 for an unsupported
// cniVersion, 7 for a missing or invalid key (named; integers such as mtu and
// vlan must be JSON integers in range: "1500" or 1500.5 are refused).
// CNI_ARGS (MAC=, IP=) and runtimeConfig/args ("mac", "ips") override.
std::optional<Error> ParseNetConf(const std::string& text, const Env& env,
                                  NetConf* out);

struct Interface {
  std::string name;
  std::string mac;
  std::optional<uint32_t> mtu;
  std::string sandbox;
};
struct IpConfig {
  std::string address;  // CIDR, "10.1.2.3/24"
  std::string gateway;
  std::optional<int> interface;
};
struct Route {
  std::string dst;
  std::string gw;
};
struct Result {
  std::vector<Interface> interfaces;
  std::vector<IpConfig> ips;
  std::vector<Route> routes;
  nlohmann::json dns = nlohmann::json::object();
};

// Reads a result of any supported version (0.4.0 "version" fields ignored).
std::optional<Error> ParseResult(const nlohmann::json& j, Result* out);
// Writes a result in `cni_version`'s format (0.4.0 adds ips[].version).
nlohmann::json ResultToJson(const Result& r, const std::string& cni_version);

// Whether `ip` (with or without /len) is IPv6.
bool IsIpv6(const std::string& ip);

}  // namespace veb::cni

#endif  // VEB_CNI_PLUGIN_CNI_H_
