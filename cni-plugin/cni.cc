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

// Length of the UTF-8 sequence starting at text[i] (RFC 3629: no overlong
// forms, no surrogates, nothing above U+10FFFF), or 0 if it is invalid.
size_t Utf8SequenceLength(const std::string& text, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char b0 = byte(i);
  if (b0 < 0x80) return 1;
  size_t n;
  unsigned char lo = 0x80, hi = 0xBF;  // the range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3;
    if (b0 == 0xE0) lo = 0xA0;  // overlong
    if (b0 == 0xED) hi = 0x9F;  // surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4;
    if (b0 == 0xF0) lo = 0x90;  // overlong
    if (b0 == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (i + n > text.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  }
  return n;
}

// Checks the limits ParseJsonText documents without parsing: one pass over
// the bytes, tracking strings (where brackets do not count) and escapes.
std::optional<Error> CheckJsonText(const std::string& text, const char* what) {
  if (text.size() > kMaxConfigBytes) {
    return Error{kDecodeFailure,
                 absl::StrCat(what, " is ", text.size(), " bytes, more than the limit of ",
                              kMaxConfigBytes, " bytes"),
                 ""};
  }
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (size_t i = 0; i < text.size();) {
    const size_t n = Utf8SequenceLength(text, i);
    if (n == 0) {
      return Error{kDecodeFailure,
                   absl::StrCat(what, " is not valid UTF-8: invalid byte 0x",
                                absl::Hex(static_cast<unsigned char>(text[i]), absl::kZeroPad2),
                                " at offset ", i),
                   ""};
    }
    const char c = text[i];
    i += n;
    if (n > 1) continue;
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > kMaxConfigDepth) {
        return Error{kDecodeFailure,
                     absl::StrCat(what, " nests arrays/objects deeper than the limit of ",
                                  kMaxConfigDepth, " levels (at offset ", i - 1, ")"),
                     ""};
      }
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return std::nullopt;
}

// An optional integer key in lo..hi. JSON has one number type, so a float
// (1500.5, also 1500.0), a string ("1500") or a bool are refused by name, not
// converted.
std::optional<Error> GetInteger(const json& obj, const char* key, int64_t lo, int64_t hi,
                                std::optional<uint32_t>* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::nullopt;
  const std::string shown = Prefix(Dump(*it), kMaxQuoted);
  if (!it->is_number_integer()) {
    return Invalid(absl::StrCat(key, " ", shown, " is not an integer (", lo, "..", hi, ")"));
  }
  const bool in_range = it->is_number_unsigned()
                            ? it->get<uint64_t>() >= static_cast<uint64_t>(lo) &&
                                  it->get<uint64_t>() <= static_cast<uint64_t>(hi)
                            : it->get<int64_t>() >= lo && it->get<int64_t>() <= hi;
  if (!in_range) return Invalid(absl::StrCat(key, " ", shown, " out of range ", lo, "..", hi));
  *out = static_cast<uint32_t>(it->get<int64_t>());
  return std::nullopt;
}

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
      return Invalid(absl::StrCat("config key \"", key, "\": ", Prefix(Dump(v), kMaxQuoted),
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
            {"msg", Prefix(msg, kMaxErrorText)}};
  if (!details.empty()) j["details"] = Prefix(details, kMaxErrorText);
  return j;
}

std::string Prefix(absl::string_view s, size_t max) {
  if (s.size() <= max) return std::string(s);
  size_t n = max;
  // Back off to the start of a UTF-8 sequence (never cut a character).
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80 && max - n < 3) --n;
  return absl::StrCat(s.substr(0, n), "\u2026");
}

std::string Quote(absl::string_view s) { return absl::StrCat("\"", Prefix(s, kMaxQuoted), "\""); }

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::optional<Error> ParseJsonText(const std::string& text, const char* what, json* out) {
  if (auto e = CheckJsonText(text, what)) return e;
  try {
    *out = json::parse(text);
  } catch (const json::exception& e) {
    // The message quotes the token it stopped at, which may be long.
    return Error{kDecodeFailure, absl::StrCat(what, " is not valid JSON"),
                 Prefix(e.what(), 256)};
  }
  return std::nullopt;
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
    if (!ok || id.size() > 255) {  // the agent's rule (veb.v1 PodAttachment)
      return Error{kInvalidEnvironment,
                   absl::StrCat("CNI_CONTAINERID ", Quote(id),
                                " must be 1..255 characters of [A-Za-z0-9_.-] starting with a "
                                "letter or digit (it is ", id.size(), " bytes)"),
                   ""};
    }
  }
  if (env.netns.size() > 4095) {  // PATH_MAX - 1, the agent's rule (veb.v1 PodVport)
    return Error{kInvalidEnvironment,
                 absl::StrCat("CNI_NETNS ", Quote(env.netns), " is ", env.netns.size(),
                              " bytes, longer than a path (4095)"),
                 ""};
  }
  if (!env.ifname.empty() && (env.ifname.size() > 15 || env.ifname == "." ||
                              env.ifname == ".." ||
                              env.ifname.find_first_of("/: \t\n") != std::string::npos)) {
    return Error{kInvalidEnvironment,
                 absl::StrCat("CNI_IFNAME ", Quote(env.ifname), " is not a valid interface name"),
                 ""};
  }
  return std::nullopt;
}

std::optional<Error> ParseNetConf(const std::string& text, const Env& env,
                                  NetConf* out) {
  json j;
  if (auto e = ParseJsonText(text, "network configuration", &j)) return e;
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
                 absl::StrCat("cniVersion ", Quote(out->cni_version),
                              " is not supported (supported: 0.4.0, 1.0.0, 1.1.0)"),
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
    return Invalid(absl::StrCat("bridge ", Quote(*s), " is not a valid bridge name"));
  }
  out->bridge = *s;
  s.reset();
  if (auto e = Get(j, "socket", &s)) return e;
  if (s) {
    if (s->empty() || (*s)[0] != '/') {
      return Invalid(absl::StrCat("socket ", Quote(*s), " must be an absolute path"));
    }
    if (s->size() > 107) {  // sockaddr_un.sun_path holds 108 bytes with the NUL
      return Invalid(absl::StrCat("socket ", Quote(*s), " is ", s->size(),
                                  " bytes, longer than a unix socket path (107)"));
    }
    out->socket = *s;
  }
  s.reset();
  if (auto e = Get(j, "mac", &s)) return e;
  out->mac = s.value_or("");
  // 68: the smallest MTU IPv4 allows (RFC 791) and the kernel's minimum for
  // veth and tap (ETH_MIN_MTU); 65535: the kernel's maximum for both
  // (ETH_MAX_MTU). The kernel would refuse anything else after the vport exists.
  if (auto e = GetInteger(j, "mtu", 68, 65535, &out->mtu)) return e;
  s.reset();
  if (auto e = Get(j, "portType", &s)) return e;
  if (s && *s != "veth" && *s != "tap") {
    return Invalid(absl::StrCat("portType ", Quote(*s), " must be \"veth\" or \"tap\""));
  }
  out->port_type = s.value_or("");
  s.reset();
  if (auto e = Get(j, "engine", &s)) return e;
  if (s && *s != "userspace" && *s != "kernel") {
    return Invalid(absl::StrCat("engine ", Quote(*s), " must be \"userspace\" or \"kernel\""));
  }
  out->engine = s.value_or("");
  if (out->engine == "kernel" && out->port_type == "tap") {
    return Invalid("portType \"tap\" needs the userspace engine (engine is \"kernel\")");
  }
  if (auto e = Get(j, "learning", &out->learning)) return e;
  if (auto e = Get(j, "discover", &out->discover)) return e;
  std::optional<bool> b;
  if (auto e = Get(j, "locked", &b)) return e;
  std::optional<bool> pin;
  if (auto e = Get(j, "pinMac", &pin)) return e;
  out->locked = b.value_or(false) || pin.value_or(true);
  if (out->locked && (out->learning.value_or(false) || out->discover.value_or(false))) {
    return Invalid(
        "locked excludes learning and discover (pod ports are locked by default: "
        "\"pinMac\": false turns that off)");
  }
  b.reset();
  if (auto e = Get(j, "arpGuard", &b)) return e;
  out->arp_guard = b.value_or(true);
  std::optional<uint32_t> max;
  if (auto e = GetInteger(j, "maxAddresses", 0, 1000000, &max)) return e;
  out->max_addresses = max.value_or(kDefaultPodMaxAddresses);
  b.reset();
  if (auto e = Get(j, "isGateway", &b)) return e;
  out->is_gateway = b.value_or(false);
  if (auto e = GetIdList(j, "protected", 1, 31, &out->protected_domains)) return e;
  if (auto e = GetIdList(j, "trunk", 1, 4094, &out->trunk)) return e;
  if (auto e = GetInteger(j, "vlan", 1, 4094, &out->vlan)) return e;
  if (out->vlan &&
      std::find(out->trunk.begin(), out->trunk.end(), *out->vlan) != out->trunk.end()) {
    return Invalid(absl::StrCat("vlan ", *out->vlan, " is also in trunk"));
  }
  if (j.contains("ipam") && !j["ipam"].is_null()) {
    if (!j["ipam"].is_object() || !j["ipam"].contains("type") || !j["ipam"]["type"].is_string() ||
        j["ipam"]["type"].get<std::string>().empty()) {
      return Invalid("config key \"ipam\" must be an object with a \"type\"");
    }
    const std::string type = j["ipam"]["type"].get<std::string>();
    if (type.size() > 255 || type.find('/') != std::string::npos) {  // a file in CNI_PATH
      return Invalid(absl::StrCat("ipam type ", Quote(type), " is not a plugin file name"));
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
  // The agent checks the MAC's syntax; only its length is checked here, so an
  // over-long value is not sent (nor echoed back).
  if (!out->mac.empty() && out->mac.size() != 17) {
    return Invalid(
        absl::StrCat("mac ", Quote(out->mac), " is not a MAC address (xx:xx:xx:xx:xx:xx)"));
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
