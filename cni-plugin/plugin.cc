#include "cni-plugin/plugin.h"

#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "cni-plugin/agent_client.h"
#include "cni-plugin/ipam.h"
#include "cni-plugin/netns.h"

namespace veb::cni {
namespace {

using nlohmann::json;
using ErrorOr = std::optional<Error>;

v1::CreateVportRequest PodVportRequest(const Env& env, const NetConf& c) {
  v1::CreateVportRequest req;
  req.set_bridge(c.bridge);
  req.set_kind(v1::VPORT_KIND_POD);
  req.set_mac(c.mac);
  if (c.mtu) req.set_mtu(*c.mtu);
  v1::PodVport* pod = req.mutable_pod();
  pod->set_netns(env.netns);
  pod->mutable_attachment()->set_container_id(env.container_id);
  pod->mutable_attachment()->set_ifname(env.ifname);
  pod->set_type(c.port_type == "tap"    ? v1::VPORT_TYPE_TAP
                : c.port_type == "veth" ? v1::VPORT_TYPE_VETH
                                        : v1::VPORT_TYPE_UNSPECIFIED);
  v1::PortSettings* s = req.mutable_settings();
  if (c.locked) {
    s->set_locked(true);
    s->set_learning(false);
    s->set_discover(false);
  } else {
    if (c.learning) s->set_learning(*c.learning);
    if (c.discover) s->set_discover(*c.discover);
  }
  if (!c.protected_domains.empty()) {
    for (uint32_t d : c.protected_domains) s->mutable_protected_domains()->add_domains(d);
  }
  if (c.vlan) s->mutable_pvid()->set_vid(*c.vlan);
  if (!c.trunk.empty()) {
    for (uint32_t v : c.trunk) s->mutable_tagged_vids()->add_vids(v);
  }
  s->set_max_addresses(c.max_addresses);
  return req;
}

// The ARP guard (S5): the pod may claim only its own IPv4 addresses as ARP
// sender. A pod without IPv4 addresses gets the block alone.
std::vector<v1::Rule> ArpGuardRules(const std::vector<IpConfig>& ips) {
  std::vector<v1::Rule> rules;
  for (const IpConfig& ip : ips) {
    if (IsIpv6(ip.address)) continue;
    v1::Rule r;
    r.set_action(v1::RULE_ACTION_PASS);
    r.set_direction(v1::RULE_DIRECTION_IN);
    r.mutable_arp()->set_kind(v1::ARP_KIND_ARP);
    r.mutable_arp()->set_spa(ip.address.substr(0, ip.address.find('/')));
    rules.push_back(r);
  }
  v1::Rule block;
  block.set_action(v1::RULE_ACTION_BLOCK);
  block.set_direction(v1::RULE_DIRECTION_IN);
  block.mutable_arp()->set_kind(v1::ARP_KIND_ARP);
  rules.push_back(block);
  return rules;
}

bool SameRule(const v1::Rule& a, const v1::Rule& b) {
  return a.action() == b.action() && a.direction() == b.direction() && a.src() == b.src() &&
         a.dst() == b.dst() && a.has_vid() == b.has_vid() && a.vid() == b.vid() &&
         a.arp().kind() == b.arp().kind() && a.arp().opcode() == b.arp().opcode() &&
         a.arp().sha() == b.arp().sha() && a.arp().spa() == b.arp().spa() &&
         a.arp().tha() == b.arp().tha() && a.arp().tpa() == b.arp().tpa();
}

// Makes the port's rules exactly `want` (the pod port's rules belong to the
// plugin): nothing changes when they already are.
grpc::Status EnsureRules(AgentClient& agent, const std::string& bridge, const std::string& port,
                         const std::vector<v1::Rule>& want, bool* changed) {
  std::vector<v1::Rule> have;
  grpc::Status s = agent.ListRules(bridge, port, &have);
  if (!s.ok()) return s;
  bool same = have.size() == want.size();
  for (size_t i = 0; same && i < want.size(); ++i) same = SameRule(have[i], want[i]);
  *changed = !same;
  if (same) return s;
  if (!have.empty()) {
    s = agent.FlushRules(bridge, port);
    if (!s.ok()) return s;
  }
  for (const v1::Rule& r : want) {
    s = agent.AddRule(bridge, port, r);
    if (!s.ok()) return s;
  }
  return s;
}

// CHECK's repair of the pod port's hardening: the lock, the pinned MAC, the
// address limit and the ARP guard are re-applied where missing.
ErrorOr EnsurePodPort(AgentClient& agent, const NetConf& c, const v1::Vport& vport,
                      const std::vector<IpConfig>& ips) {
  const std::string& port = vport.name();
  v1::Port p;
  grpc::Status s = agent.GetPort(c.bridge, port, &p);
  if (!s.ok()) return agent.ToCniError(s, "get pod port");
  v1::PortSettings fix;
  if (c.locked && !p.locked()) {
    fix.set_locked(true);
    fix.set_learning(false);
    fix.set_discover(false);
  }
  if (p.max_addresses() != c.max_addresses) fix.set_max_addresses(c.max_addresses);
  if (fix.ByteSizeLong() > 0) {
    s = agent.UpdatePort(c.bridge, port, fix);
    if (!s.ok()) return agent.ToCniError(s, "repair pod port settings");
  }
  if (c.locked) {
    std::vector<v1::Address> statics;
    s = agent.ListStaticAddresses(c.bridge, port, vport.mac(), &statics);
    if (!s.ok()) return agent.ToCniError(s, "list pod port static addresses");
    if (statics.empty()) {
      s = agent.AddStaticAddress(c.bridge, port, vport.mac());
      if (!s.ok()) return agent.ToCniError(s, "re-add static address for locked port");
    }
  }
  if (c.arp_guard) {
    bool changed = false;
    s = EnsureRules(agent, c.bridge, port, ArpGuardRules(ips), &changed);
    if (!s.ok()) return agent.ToCniError(s, "repair pod port ARP rules");
  }
  return std::nullopt;
}

// The bridge's host vport (a TAP named like the bridge) carries the gateway
// address of every IPv4/IPv6 range in `ipam`, so pods reach the host.
ErrorOr EnsureGateway(AgentClient& agent, const NetConf& c, const Result& ipam) {
  v1::Vport existing;
  grpc::Status s = agent.GetVportByName(c.bridge, &existing);
  if (s.ok()) return std::nullopt;
  if (s.error_code() != grpc::StatusCode::NOT_FOUND) return agent.ToCniError(s, "get gateway vport");
  v1::CreateVportRequest req;
  req.set_bridge(c.bridge);
  req.set_kind(v1::VPORT_KIND_HOST);
  req.set_name(c.bridge);
  for (const IpConfig& ip : ipam.ips) {
    const size_t slash = ip.address.find('/');
    if (ip.gateway.empty() || slash == std::string::npos) continue;
    req.add_ip_prefixes(ip.gateway + ip.address.substr(slash));
  }
  v1::Vport created;
  s = agent.CreateVport(req, &created);
  if (!s.ok() && s.error_code() != grpc::StatusCode::ALREADY_EXISTS) {
    return agent.ToCniError(s, "create gateway vport");
  }
  // Pods route off-subnet traffic through the host.
  for (const char* path : {"/proc/sys/net/ipv4/ip_forward"}) {
    std::ofstream(path) << "1";
  }
  return std::nullopt;
}

ErrorOr IpamCall(const Env& env, const NetConf& c, const std::string& command,
                 const std::string& stdin_text, std::string* out) {
  if (!c.ipam.is_object()) return std::nullopt;
  return ExecPlugin(env, command, c.ipam["type"].get<std::string>(), stdin_text, out);
}

ErrorOr Add(const Env& env, const NetConf& c, const std::string& stdin_text, std::string* out) {
  AgentClient agent(c.socket);
  v1::Bridge bridge;
  grpc::Status s = agent.GetBridge(c.bridge, &bridge);
  if (s.error_code() == grpc::StatusCode::NOT_FOUND) {
    return Error{kInvalidConfig, absl::StrCat("bridge \"", c.bridge, "\" does not exist on the veb agent"), ""};
  }
  if (!s.ok()) return agent.ToCniError(s, absl::StrCat("get bridge \"", c.bridge, "\""));
  if (!c.engine.empty()) {
    const std::string has = bridge.engine() == v1::ENGINE_KERNEL ? "kernel" : "userspace";
    if (has != c.engine) {
      return Error{kInvalidConfig,
                   absl::StrCat("bridge \"", c.bridge, "\" uses the ", has,
                                " engine; the network configuration asks for ", c.engine),
                   ""};
    }
  }
  if (!NetnsExists(env.netns)) {
    return Error{kUnknownContainer, absl::StrCat("netns ", Quote(env.netns), " does not exist"), ""};
  }

  // The agent makes the vport while the IPAM plugin allocates: the two are
  // independent. Whichever fails, the other is undone.
  v1::Vport vport;
  grpc::Status created, pinned;
  std::thread make_vport([&] {
    created = agent.CreateVport(PodVportRequest(env, c), &vport);
    if (created.ok() && c.locked) {
      pinned = agent.AddStaticAddress(c.bridge, vport.name(), vport.mac());
    }
  });
  std::string ipam_out;
  ErrorOr ipam_error = IpamCall(env, c, "ADD", stdin_text, &ipam_out);
  make_vport.join();
  // An IPAM allocation is only released if this ADD made it (a repeated ADD
  // of a live attachment fails in IPAM and must not free the pod's address).
  const bool ipam_done = c.ipam.is_object() && !ipam_error;
  auto release_ipam = [&] {
    if (!ipam_done) return;
    std::string ignored;
    (void)IpamCall(env, c, "DEL", stdin_text, &ignored);
  };
  if (!created.ok()) {
    release_ipam();
    return agent.ToCniError(created, "create pod vport");
  }
  const Attachment attachment{env.container_id, env.ifname};
  // Undo on every failure below: no interface, port or address is left.
  auto undo = [&](Error e) -> ErrorOr {
    release_ipam();
    (void)agent.DeleteVport(c.bridge, attachment);
    return e;
  };
  if (!pinned.ok()) return undo(agent.ToCniError(pinned, "add static address for locked port"));
  if (ipam_error) return undo(*ipam_error);

  Result ipam;
  if (c.ipam.is_object()) {
    json j;
    if (auto e = ParseJsonText(ipam_out, "IPAM result", &j)) return undo(*e);
    if (auto e = ParseResult(j, &ipam)) return undo(*e);
  }

  Result result;
  if (c.prev_result.is_object()) {
    if (auto e = ParseResult(c.prev_result, &result)) return undo(*e);
  }
  const bool has_host_side = vport.pod().type() != v1::VPORT_TYPE_TAP;
  if (has_host_side) {
    result.interfaces.push_back(Interface{vport.name(), vport.port().mac(), std::nullopt, ""});
  }
  const int pod_index = static_cast<int>(result.interfaces.size());
  result.interfaces.push_back(Interface{env.ifname, vport.mac(), vport.mtu(), env.netns});
  for (IpConfig ip : ipam.ips) {
    ip.interface = pod_index;
    result.ips.push_back(ip);
  }
  for (const Route& r : ipam.routes) result.routes.push_back(r);
  if (ipam.dns.is_object() && !ipam.dns.empty()) result.dns = ipam.dns;
  if (c.dns.is_object() && !c.dns.empty()) result.dns = c.dns;

  Result mine;
  mine.ips.assign(result.ips.end() - ipam.ips.size(), result.ips.end());
  mine.routes = ipam.routes;
  // Before the pod's addresses exist, so no frame of the pod is unguarded.
  if (c.arp_guard) {
    bool changed = false;
    grpc::Status guarded =
        EnsureRules(agent, c.bridge, vport.name(), ArpGuardRules(mine.ips), &changed);
    if (!guarded.ok()) return undo(agent.ToCniError(guarded, "add ARP guard rules"));
  }
  if (auto e = ConfigureInterface(env.netns, env.ifname, mine, pod_index)) return undo(*e);
  if (c.is_gateway) {
    if (auto e = EnsureGateway(agent, c, ipam)) return undo(*e);
  }
  *out = Dump(ResultToJson(result, c.cni_version));
  return std::nullopt;
}

ErrorOr Del(const Env& env, const NetConf& c, const std::string& stdin_text) {
  // IPAM DEL always runs, whatever the agent says.
  // The two are independent: the agent deletes the vport while the IPAM
  // plugin runs.
  AgentClient agent(c.socket);
  grpc::Status s;
  std::thread vport([&] {
    s = agent.DeleteVport(c.bridge, Attachment{env.container_id, env.ifname});
  });
  std::string ignored;
  ErrorOr ipam_error = IpamCall(env, c, "DEL", stdin_text, &ignored);
  vport.join();
  if (!s.ok() && s.error_code() != grpc::StatusCode::NOT_FOUND) {
    return agent.ToCniError(s, "delete pod vport");
  }
  return ipam_error;
}

ErrorOr Check(const Env& env, const NetConf& c, const std::string& stdin_text) {
  if (!c.prev_result.is_object()) {
    return Error{kInvalidConfig, "CHECK needs prevResult", ""};
  }
  Result prev;
  if (auto e = ParseResult(c.prev_result, &prev)) return e;
  int index = -1;
  for (size_t i = 0; i < prev.interfaces.size(); ++i) {
    if (prev.interfaces[i].name == env.ifname && prev.interfaces[i].sandbox == env.netns) {
      index = static_cast<int>(i);
    }
  }
  if (index < 0) {
    return Error{kInvalidConfig,
                 absl::StrCat("prevResult has no interface \"", env.ifname, "\" in ", Quote(env.netns)), ""};
  }
  AgentClient agent(c.socket);
  v1::Vport vport;
  grpc::Status s = agent.GetVport(c.bridge, Attachment{env.container_id, env.ifname}, &vport);
  if (s.error_code() == grpc::StatusCode::NOT_FOUND) {
    return Error{kAgentError,
                 absl::StrCat("no vport for container ", env.container_id, " ifname ", env.ifname,
                              " on bridge \"", c.bridge, "\""), ""};
  }
  if (!s.ok()) return agent.ToCniError(s, "get pod vport");
  if (vport.bridge() != c.bridge) {
    return Error{kAgentError, absl::StrCat("vport \"", vport.name(), "\" is on bridge \"",
                                           vport.bridge(), "\", not \"", c.bridge, "\""), ""};
  }
  if (!prev.interfaces[index].mac.empty() && vport.mac() != prev.interfaces[index].mac) {
    return Error{kAgentError, absl::StrCat("vport \"", vport.name(), "\" has mac ", vport.mac(),
                                           ", prevResult says ", prev.interfaces[index].mac), ""};
  }
  std::vector<IpConfig> mine;
  for (const IpConfig& ip : prev.ips) {
    if (ip.interface && *ip.interface == index) mine.push_back(ip);
  }
  if (auto e = EnsurePodPort(agent, c, vport, mine)) return e;
  std::string ignored;
  if (auto e = IpamCall(env, c, "CHECK", stdin_text, &ignored)) return e;
  return CheckInterface(env.netns, env.ifname, prev.interfaces[index].mac, prev, index);
}

ErrorOr Gc(const Env& env, const NetConf& c, const std::string& stdin_text) {
  AgentClient agent(c.socket);
  std::vector<v1::Vport> vports;
  grpc::Status s = agent.ListPodVports(c.bridge, &vports);
  if (!s.ok()) return agent.ToCniError(s, "list pod vports");
  for (const v1::Vport& v : vports) {
    const Attachment a{v.pod().attachment().container_id(), v.pod().attachment().ifname()};
    if (std::find(c.valid_attachments.begin(), c.valid_attachments.end(), a) !=
        c.valid_attachments.end()) {
      continue;
    }
    s = agent.DeleteVport(c.bridge, a);
    if (!s.ok() && s.error_code() != grpc::StatusCode::NOT_FOUND) {
      return agent.ToCniError(s, absl::StrCat("delete stale vport \"", v.name(), "\""));
    }
  }
  std::string ignored;
  return IpamCall(env, c, "GC", stdin_text, &ignored);
}

ErrorOr Status(const NetConf& c) {
  AgentClient agent(c.socket);
  bool serving = false;
  grpc::Status s = agent.Health(&serving);
  if (!serving) {
    return Error{kPluginNotAvailable,
                 absl::StrCat("veb agent at ", c.socket, " is not serving",
                              s.ok() ? "" : absl::StrCat(": ", s.error_message())), ""};
  }
  v1::Bridge bridge;
  s = agent.GetBridge(c.bridge, &bridge);
  if (!s.ok()) {
    // The agent's message names the bridge already ("bridge \"veb0\": get: ...").
    Error e = agent.ToCniError(s, absl::StrCat("get bridge \"", c.bridge, "\""));
    return Error{kPluginNotAvailable, e.msg, e.details};
  }
  return std::nullopt;
}

}  // namespace

int Run(const Env& env, const std::string& stdin_text, std::string* out) {
  std::string version = kPluginVersion;
  auto fail = [&](const Error& e) {
    *out = Dump(e.ToJson(version));
    return 1;
  };
  if (env.command == "VERSION") {
    // The configuration is optional for VERSION; its cniVersion is echoed
    // only if it looks like a version (a short string).
    json j;
    if (!stdin_text.empty() && !ParseJsonText(stdin_text, "network configuration", &j) &&
        j.is_object() && j.contains("cniVersion") && j["cniVersion"].is_string() &&
        j["cniVersion"].get<std::string>().size() <= 16) {
      version = j["cniVersion"];
    }
    *out = Dump(json{{"cniVersion", version}, {"supportedVersions", SupportedVersions()}});
    return 0;
  }
  const char* const kCommands[] = {"ADD", "DEL", "CHECK", "GC", "STATUS"};
  if (std::find(std::begin(kCommands), std::end(kCommands), env.command) == std::end(kCommands)) {
    return fail(Error{kInvalidEnvironment,
                      absl::StrCat("CNI_COMMAND ", Quote(env.command), " is not supported"), ""});
  }
  if (auto e = ValidateEnv(env)) return fail(*e);
  NetConf conf;
  if (auto e = ParseNetConf(stdin_text, env, &conf)) return fail(*e);
  version = conf.cni_version;
  const bool v11 = conf.cni_version == "1.1.0";
  if ((env.command == "GC" || env.command == "STATUS") && !v11) {
    return fail(Error{kIncompatibleVersion,
                      absl::StrCat(env.command, " needs cniVersion 1.1.0, config has ",
                                   conf.cni_version), ""});
  }
  ErrorOr err;
  if (env.command == "ADD") {
    err = Add(env, conf, stdin_text, out);
  } else if (env.command == "DEL") {
    err = Del(env, conf, stdin_text);
  } else if (env.command == "CHECK") {
    err = Check(env, conf, stdin_text);
  } else if (env.command == "GC") {
    err = Gc(env, conf, stdin_text);
  } else {
    err = Status(conf);
  }
  if (err) return fail(*err);
  return 0;
}

}  // namespace veb::cni
