// CNI protocol types for the veb plugin: the environment, the network
// configuration (CNI 1.1.0; 0.4.0 and 1.0.0 accepted), results and errors, with
// JSON through nlohmann-json. The spec's well-known error codes are used; agent
// failures that are not "try again later" use code 100 (plugin-specific).
// Thread-safety: plain values.
#ifndef VEB_CNI_PLUGIN_CNI_H_
#define VEB_CNI_PLUGIN_CNI_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

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

struct Error {
  int code = 0;
  std::string msg;
  std::string details;
  // {"cniVersion", "code", "msg", "details"}
  nlohmann::json ToJson(const std::string& cni_version) const;
};

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

struct NetConf {
  std::string cni_version;
  std::string name;
  std::string type;
  std::string bridge;
  std::string socket = "/run/veb/vebd.sock";
  std::string mac;
  std::optional<uint32_t> mtu;
  std::string port_type;  // "", "veth" or "tap"
  std::optional<bool> learning;
  std::optional<bool> discover;
  bool locked = false;
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

// Parses and validates the configuration on stdin: 6 for bad JSON, 1 for an
// unsupported cniVersion, 7 for a missing or invalid key (named).
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
