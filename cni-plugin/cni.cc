#include "cni-plugin/cni.h"

#include <algorithm>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace veb::cni {
namespace {

using nlohmann::json;

std::string GetEnv(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

Error Invalid(const std::string& msg) { return Error{kInvalidConfig, msg, ""}; }

// Reads an optional field of the expected JSON type; a wrong type is an error
// naming the key.
template <typename T>
std::optional<Error> Get(const json& obj, const char* key, std::optional<T>* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::nullopt;
  try {
    *out = it->get<T>();
  } catch (const json::exception&) {
    return Invalid(absl::StrCat("config key \"", key, "\" has the wrong type"));
  }
  return std::nullopt;
}

std::optional<Error> GetIdList(const json& obj, const char* key, uint32_t lo,
                               uint32_t hi, std::vector<uint32_t>* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::nullopt;
  if (!it->is_array()) {
    return Invalid(absl::StrCat("config key \"", key, "\" must be an array of integers"));
  }
  for (const json& v : *it) {
    if (!v.is_number_unsigned() || v.get<uint64_t>() < lo || v.get<uint64_t>() > hi) {
      return Invalid(absl::StrCat("config key \"", key, "\": ", v.dump(),
                                  " out of range ", lo, "..", hi));
    }
    out->push_back(v.get<uint32_t>());
  }
  return std::nullopt;
}

}  // namespace

json Error::ToJson(const std::string& cni_version) const {
  json j = {{"cniVersion", cni_version.empty() ? kPluginVersion : cni_version},
            {"code", code},
            {"msg", msg}};
  if (!details.empty()) j["details"] = details;
  return j;
}

Env Env::FromProcess() {
  return Env{GetEnv("CNI_COMMAND"), GetEnv("CNI_CONTAINERID"), GetEnv("CNI_NETNS"),
             GetEnv("CNI_IFNAME"), GetEnv("CNI_ARGS"), GetEnv("CNI_PATH")};
}

std::optional<Error> ValidateEnv(const Env& env) {
  const std::string& c = env.command;
  auto missing = [](const char* var) {
    return Error{kInvalidEnvironment, absl::StrCat(var, " is required"), ""};
  };
  if (c == "ADD" || c == "CHECK" || c == "DEL") {
    if (env.container_id.empty()) return missing("CNI_CONTAINERID");
    if (env.ifname.empty()) return missing("CNI_IFNAME");
    if (c != "DEL" && env.netns.empty()) return missing("CNI_NETNS");
  }
  if (c == "ADD" || c == "DEL" || c == "CHECK" || c == "GC") {
    if (env.path.empty() && c != "DEL") return missing("CNI_PATH");
  }
  if (!env.container_id.empty()) {
    const std::string& id = env.container_id;
    const bool ok = std::isalnum(static_cast<unsigned char>(id[0])) &&
                    std::all_of(id.begin(), id.end(), [](char ch) {
                      return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' ||
                             ch == '.' || ch == '-';
                    });
    if (!ok) {
      return Error{kInvalidEnvironment,
                   absl::StrCat("CNI_CONTAINERID \"", id, "\" has invalid characters"), ""};
    }
  }
  if (!env.ifname.empty() && (env.ifname.size() > 15 || env.ifname == "." ||
                              env.ifname == ".." ||
                              env.ifname.find_first_of("/: \t\n") != std::string::npos)) {
    return Error{kInvalidEnvironment,
                 absl::StrCat("CNI_IFNAME \"", env.ifname, "\" is not a valid interface name"), ""};
  }
  return std::nullopt;
}

std::optional<Error> ParseNetConf(const std::string& text, const Env& env,
                                  NetConf* out) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    return Error{kDecodeFailure, "network configuration is not valid JSON", e.what()};
  }
  if (!j.is_object()) {
    return Error{kDecodeFailure, "network configuration is not a JSON object", ""};
  }
  out->raw = j;
  std::optional<std::string> s;
  if (auto e = Get(j, "cniVersion", &s)) return e;
  out->cni_version = s.value_or("");
  const auto& versions = SupportedVersions();
  if (std::find(versions.begin(), versions.end(), out->cni_version) == versions.end()) {
    return Error{kIncompatibleVersion,
                 absl::StrCat("cniVersion \"", out->cni_version,
                              "\" is not supported (supported: 0.4.0, 1.0.0, 1.1.0)"),
                 ""};
  }
  s.reset();
  if (auto e = Get(j, "name", &s)) return e;
  out->name = s.value_or("");
  s.reset();
  if (auto e = Get(j, "type", &s)) return e;
  out->type = s.value_or("");
  if (env.command == "VERSION") return std::nullopt;

  s.reset();
  if (auto e = Get(j, "bridge", &s)) return e;
  if (!s || s->empty()) return Invalid("config key \"bridge\" is required");
  if (s->size() > 15 || s->find_first_of("/: \t\n") != std::string::npos) {
    return Invalid(absl::StrCat("bridge \"", *s, "\" is not a valid bridge name"));
  }
  out->bridge = *s;
  s.reset();
  if (auto e = Get(j, "socket", &s)) return e;
  if (s) {
    if (s->empty() || (*s)[0] != '/') {
      return Invalid(absl::StrCat("socket \"", *s, "\" must be an absolute path"));
    }
    out->socket = *s;
  }
  s.reset();
  if (auto e = Get(j, "mac", &s)) return e;
  out->mac = s.value_or("");
  std::optional<uint64_t> n;
  if (auto e = Get(j, "mtu", &n)) return e;
  if (n) {
    if (*n < 68 || *n > 65535) {
      return Invalid(absl::StrCat("mtu ", *n, " out of range 68..65535"));
    }
    out->mtu = static_cast<uint32_t>(*n);
  }
  s.reset();
  if (auto e = Get(j, "portType", &s)) return e;
  if (s && *s != "veth" && *s != "tap") {
    return Invalid(absl::StrCat("portType \"", *s, "\" must be \"veth\" or \"tap\""));
  }
  out->port_type = s.value_or("");
  if (auto e = Get(j, "learning", &out->learning)) return e;
  if (auto e = Get(j, "discover", &out->discover)) return e;
  std::optional<bool> b;
  if (auto e = Get(j, "locked", &b)) return e;
  out->locked = b.value_or(false);
  if (out->locked && (out->learning.value_or(false) || out->discover.value_or(false))) {
    return Invalid("locked excludes learning and discover");
  }
  b.reset();
  if (auto e = Get(j, "isGateway", &b)) return e;
  out->is_gateway = b.value_or(false);
  if (auto e = GetIdList(j, "protected", 1, 31, &out->protected_domains)) return e;
  if (auto e = GetIdList(j, "trunk", 1, 4094, &out->trunk)) return e;
  n.reset();
  if (auto e = Get(j, "vlan", &n)) return e;
  if (n) {
    if (*n < 1 || *n > 4094) return Invalid(absl::StrCat("vlan ", *n, " out of range 1..4094"));
    if (std::find(out->trunk.begin(), out->trunk.end(), *n) != out->trunk.end()) {
      return Invalid(absl::StrCat("vlan ", *n, " is also in trunk"));
    }
    out->vlan = static_cast<uint32_t>(*n);
  }
  if (j.contains("ipam") && !j["ipam"].is_null()) {
    if (!j["ipam"].is_object() || !j["ipam"].contains("type") || !j["ipam"]["type"].is_string() ||
        j["ipam"]["type"].get<std::string>().empty()) {
      return Invalid("config key \"ipam\" must be an object with a \"type\"");
    }
    out->ipam = j["ipam"];
  }
  if (j.contains("prevResult") && !j["prevResult"].is_null()) {
    if (!j["prevResult"].is_object()) return Invalid("prevResult must be an object");
    out->prev_result = j["prevResult"];
  }
  if (j.contains("dns") && j["dns"].is_object()) out->dns = j["dns"];

  // MAC and IPs requested by the runtime: CNI_ARGS, then args.cni, then
  // runtimeConfig (the most specific convention wins).
  for (absl::string_view kv : absl::StrSplit(env.args, ';', absl::SkipEmpty())) {
    std::pair<std::string, std::string> p = absl::StrSplit(kv, absl::MaxSplits('=', 1));
    if (p.first == "MAC") out->mac = p.second;
    if (p.first == "IP") {
      out->requested_ips = absl::StrSplit(p.second, ',', absl::SkipEmpty());
    }
  }
  for (const char* section : {"args", "runtimeConfig"}) {
    if (!j.contains(section) || !j[section].is_object()) continue;
    const json& sec = std::string(section) == "args" ? j[section].value("cni", json::object())
                                                       : j[section];
    if (sec.contains("mac") && sec["mac"].is_string()) out->mac = sec["mac"];
    if (sec.contains("ips") && sec["ips"].is_array()) {
      out->requested_ips.clear();
      for (const json& ip : sec["ips"]) {
        if (ip.is_string()) out->requested_ips.push_back(ip);
      }
    }
  }
  if (j.contains("cni.dev/valid-attachments")) {
    const json& va = j["cni.dev/valid-attachments"];
    if (!va.is_array()) return Invalid("cni.dev/valid-attachments must be an array");
    for (const json& a : va) {
      if (!a.is_object() || !a.value("containerID", json()).is_string() ||
          !a.value("ifname", json()).is_string()) {
        return Invalid("cni.dev/valid-attachments entries need containerID and ifname");
      }
      out->valid_attachments.push_back({a["containerID"], a["ifname"]});
    }
  }
  return std::nullopt;
}

bool IsIpv6(const std::string& ip) { return ip.find(':') != std::string::npos; }

std::optional<Error> ParseResult(const json& j, Result* out) {
  try {
    for (const json& i : j.value("interfaces", json::array())) {
      Interface itf;
      itf.name = i.value("name", "");
      itf.mac = i.value("mac", "");
      if (i.contains("mtu")) itf.mtu = i["mtu"].get<uint32_t>();
      itf.sandbox = i.value("sandbox", "");
      out->interfaces.push_back(itf);
    }
    for (const json& i : j.value("ips", json::array())) {
      IpConfig ip;
      ip.address = i.at("address").get<std::string>();
      ip.gateway = i.value("gateway", "");
      if (i.contains("interface")) ip.interface = i["interface"].get<int>();
      out->ips.push_back(ip);
    }
    for (const json& r : j.value("routes", json::array())) {
      out->routes.push_back(Route{r.at("dst").get<std::string>(), r.value("gw", "")});
    }
    if (j.contains("dns") && j["dns"].is_object()) out->dns = j["dns"];
  } catch (const json::exception& e) {
    return Error{kDecodeFailure, "result is malformed", e.what()};
  }
  return std::nullopt;
}

json ResultToJson(const Result& r, const std::string& cni_version) {
  json j = {{"cniVersion", cni_version}};
  json itfs = json::array();
  for (const Interface& i : r.interfaces) {
    json o = {{"name", i.name}};
    if (!i.mac.empty()) o["mac"] = i.mac;
    if (i.mtu && cni_version != "0.4.0") o["mtu"] = *i.mtu;
    if (!i.sandbox.empty()) o["sandbox"] = i.sandbox;
    itfs.push_back(o);
  }
  j["interfaces"] = itfs;
  json ips = json::array();
  for (const IpConfig& ip : r.ips) {
    json o = {{"address", ip.address}};
    if (cni_version == "0.4.0") o["version"] = IsIpv6(ip.address) ? "6" : "4";
    if (!ip.gateway.empty()) o["gateway"] = ip.gateway;
    if (ip.interface) o["interface"] = *ip.interface;
    ips.push_back(o);
  }
  j["ips"] = ips;
  if (!r.routes.empty()) {
    json routes = json::array();
    for (const Route& rt : r.routes) {
      json o = {{"dst", rt.dst}};
      if (!rt.gw.empty()) o["gw"] = rt.gw;
      routes.push_back(o);
    }
    j["routes"] = routes;
  }
  j["dns"] = r.dns.is_object() ? r.dns : json::object();
  return j;
}

}  // namespace veb::cni
