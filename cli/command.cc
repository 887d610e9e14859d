#include "cli/command.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>

#include "absl/strings/match.h"
#include "google/protobuf/descriptor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "proto/veb/v1/switch.pb.h"

namespace veb::cli {
namespace {

using absl::InvalidArgumentError;
using absl::StatusOr;
using Args = std::vector<std::string>;

// How messages echo a word: quoted, at most kMaxQuoted bytes of it.
std::string Quote(absl::string_view w) {
  if (w.size() <= kMaxQuoted) return absl::StrCat("\"", w, "\"");
  return absl::StrCat("\"", w.substr(0, kMaxQuoted), "\u2026\" (", w.size(), " bytes)");
}

absl::Status Syntax(const std::string& msg) {
  return InvalidArgumentError(absl::StrCat(msg, " (vebctl -h for usage)"));
}

StatusOr<uint32_t> Number(const std::string& word, const std::string& what) {
  uint32_t v;
  if (!absl::SimpleAtoi(word, &v)) {
    return Syntax(absl::StrCat(what, ": ", Quote(word), " is not a number"));
  }
  return v;
}

StatusOr<std::vector<uint32_t>> NumberList(const std::string& word, const std::string& what) {
  std::vector<uint32_t> out;
  for (absl::string_view part : absl::StrSplit(word, ',', absl::SkipEmpty())) {
    auto n = Number(std::string(part), what);
    if (!n.ok()) return n.status();
    out.push_back(*n);
  }
  if (out.empty()) return Syntax(absl::StrCat(what, ": empty list"));
  return out;
}

// Words after the verb, consumed left to right.
class Cursor {
 public:
  Cursor(const Args& a, size_t pos) : a_(a), pos_(pos) {}
  bool done() const { return pos_ >= a_.size(); }
  const std::string& peek() const { return a_[pos_]; }
  StatusOr<std::string> Next(const std::string& what) {
    if (done()) return Syntax(absl::StrCat("missing ", what));
    return a_[pos_++];
  }
  absl::Status End() {
    if (!done()) return Syntax(absl::StrCat("unexpected ", Quote(a_[pos_])));
    return absl::OkStatus();
  }

 private:
  const Args& a_;
  size_t pos_;
};

#define ASSIGN_OR_RETURN(lhs, expr)   \
  auto lhs##_or = (expr);             \
  if (!lhs##_or.ok()) return lhs##_or.status(); \
  auto lhs = *std::move(lhs##_or)

template <typename T>
Invocation Make(const std::string& rpc, std::unique_ptr<T> req) {
  return Invocation{rpc, std::move(req)};
}

// An optional final "vid V"; nothing may follow it.
StatusOr<std::optional<uint32_t>> TrailingVid(Cursor& c) {
  std::optional<uint32_t> vid;
  if (!c.done()) {
    ASSIGN_OR_RETURN(w, c.Next("vid"));
    if (w != "vid") return Syntax(absl::StrCat("unexpected ", Quote(w)));
    ASSIGN_OR_RETURN(v, c.Next("vid value"));
    ASSIGN_OR_RETURN(n, Number(v, "vid"));
    vid = n;
  }
  if (auto st = c.End(); !st.ok()) return st;
  return vid;
}

StatusOr<v1::Backend> ParseBackend(const std::string& w) {
  if (w == "af_packet") return v1::BACKEND_AF_PACKET;
  if (w == "tap") return v1::BACKEND_TAP;
  if (w == "af_xdp") return v1::BACKEND_AF_XDP;
  if (w == "tc_bpf") return v1::BACKEND_TC_BPF;
  return Syntax(absl::StrCat("backend ", Quote(w), ": use af_packet, tap, af_xdp or tc_bpf"));
}

absl::Status ParsePvid(const std::string& w, v1::Pvid* pvid) {
  if (w == "none") {
    pvid->set_none(true);
    return absl::OkStatus();
  }
  auto n = Number(w, "pvid");
  if (!n.ok()) return n.status();
  pvid->set_vid(*n);
  return absl::OkStatus();
}

// Bridge-wide settings: create's options and the bridge verbs.
StatusOr<bool> BridgeSetting(const std::string& verb, Cursor& c, v1::BridgeSettings* s) {
  if (verb == "up" || verb == "down") {
    s->set_up(verb == "up");
  } else if (verb == "maxaddr") {
    ASSIGN_OR_RETURN(w, c.Next("maxaddr value"));
    ASSIGN_OR_RETURN(n, Number(w, "maxaddr"));
    s->set_max_addresses(n);
  } else if (verb == "timeout") {
    ASSIGN_OR_RETURN(w, c.Next("timeout seconds"));
    ASSIGN_OR_RETURN(n, Number(w, "timeout"));
    s->set_address_timeout_seconds(n);
  } else if (verb == "pvid") {
    ASSIGN_OR_RETURN(w, c.Next("pvid value"));
    if (auto st = ParsePvid(w, s->mutable_default_pvid()); !st.ok()) return st;
  } else if (verb == "svlan" || verb == "-svlan") {
    s->set_allow_svlan(verb == "svlan");
  } else if (verb == "reserved" || verb == "-reserved") {
    s->set_allow_reserved_addresses(verb == "reserved");
  } else if (verb == "link0" || verb == "-link0") {  // veb's flag: both at once
    s->set_allow_svlan(verb == "link0");
    s->set_allow_reserved_addresses(verb == "link0");
  } else {
    return false;
  }
  return true;
}

StatusOr<Invocation> ParseRule(const std::string& bridge, Cursor& c) {
  auto req = std::make_unique<v1::AddRuleRequest>();
  req->set_bridge(bridge);
  v1::Rule* r = req->mutable_rule();
  ASSIGN_OR_RETURN(action, c.Next("block or pass"));
  if (action == "block") {
    r->set_action(v1::RULE_ACTION_BLOCK);
  } else if (action == "pass") {
    r->set_action(v1::RULE_ACTION_PASS);
  } else {
    return Syntax(absl::StrCat("rule: ", Quote(action), ": expected block or pass"));
  }
  ASSIGN_OR_RETURN(dir, c.Next("in, out or in/out"));
  if (dir == "in") {
    r->set_direction(v1::RULE_DIRECTION_IN);
  } else if (dir == "out") {
    r->set_direction(v1::RULE_DIRECTION_OUT);
  } else if (dir == "in/out" || dir == "inout") {
    r->set_direction(v1::RULE_DIRECTION_IN_OUT);
  } else {
    return Syntax(absl::StrCat("rule: ", Quote(dir), ": expected in, out or in/out"));
  }
  ASSIGN_OR_RETURN(on, c.Next("on"));
  if (on != "on") return Syntax(absl::StrCat("rule: expected \"on PORT\", got ", Quote(on)));
  ASSIGN_OR_RETURN(port, c.Next("rule port"));
  req->set_port(port);
  while (!c.done()) {
    ASSIGN_OR_RETURN(w, c.Next("rule field"));
    if (w == "src" || w == "dst") {
      ASSIGN_OR_RETURN(mac, c.Next(w + " address"));
      (w == "src" ? r->mutable_src() : r->mutable_dst())->assign(mac);
    } else if (w == "vid") {
      ASSIGN_OR_RETURN(v, c.Next("vid"));
      ASSIGN_OR_RETURN(n, Number(v, "vid"));
      r->set_vid(n);
    } else if (w == "arp" || w == "rarp") {
      r->mutable_arp()->set_kind(w == "arp" ? v1::ARP_KIND_ARP : v1::ARP_KIND_RARP);
    } else if (w == "request" || w == "reply") {
      if (!r->has_arp()) return Syntax(absl::StrCat("rule: ", Quote(w), " needs arp or rarp first"));
      r->mutable_arp()->set_opcode(w == "request" ? v1::ARP_OPCODE_REQUEST : v1::ARP_OPCODE_REPLY);
    } else if (w == "sha" || w == "spa" || w == "tha" || w == "tpa") {
      if (!r->has_arp()) return Syntax(absl::StrCat("rule: ", Quote(w), " needs arp or rarp first"));
      ASSIGN_OR_RETURN(v, c.Next(w + " value"));
      v1::ArpMatch* a = r->mutable_arp();
      if (w == "sha") a->set_sha(v);
      if (w == "spa") a->set_spa(v);
      if (w == "tha") a->set_tha(v);
      if (w == "tpa") a->set_tpa(v);
    } else {
      return Syntax(absl::StrCat("rule: unknown word ", Quote(w)));
    }
  }
  return Make("AddRule", std::move(req));
}

// learning/-learning IF and friends: an UpdatePort of one setting.
StatusOr<Invocation> PortFlag(const std::string& bridge, const std::string& verb, Cursor& c) {
  const bool on = verb[0] != '-';
  const std::string flag = on ? verb : verb.substr(1);
  ASSIGN_OR_RETURN(port, c.Next(absl::StrCat(verb, " port")));
  if (auto st = c.End(); !st.ok()) return st;
  auto req = std::make_unique<v1::UpdatePortRequest>();
  req->set_bridge(bridge);
  req->set_name(port);
  v1::PortSettings* s = req->mutable_settings();
  if (flag == "learning") s->set_learning(on);
  if (flag == "discover") s->set_discover(on);
  if (flag == "blocknonip") s->set_blocknonip(on);
  if (flag == "locked") {
    s->set_locked(on);
    // Locking a port turns learning and discover off, as the agent requires.
    if (on) {
      s->set_learning(false);
      s->set_discover(false);
    }
  }
  return Make("UpdatePort", std::move(req));
}

StatusOr<Invocation> BridgeCommand(const std::string& bridge, const std::string& verb, Cursor& c) {
  auto port_req = [&](auto req, const std::string& what) -> StatusOr<std::string> {
    ASSIGN_OR_RETURN(port, c.Next(what));
    req->set_bridge(bridge);
    req->set_name(port);
    return port;
  };
  if (verb == "show") {
    if (auto st = c.End(); !st.ok()) return st;
    auto req = std::make_unique<v1::GetBridgeRequest>();
    req->set_name(bridge);
    return Make("Show", std::move(req));
  }
  {
    auto req = std::make_unique<v1::UpdateBridgeRequest>();
    ASSIGN_OR_RETURN(is_setting, BridgeSetting(verb, c, req->mutable_settings()));
    if (is_setting) {
      if (auto st = c.End(); !st.ok()) return st;
      req->set_name(bridge);
      return Make("UpdateBridge", std::move(req));
    }
  }
  if (verb == "add" || verb == "addspan") {
    std::unique_ptr<google::protobuf::Message> msg;
    v1::Backend backend = v1::BACKEND_UNSPECIFIED;
    ASSIGN_OR_RETURN(port, c.Next(verb + " interface"));
    if (!c.done()) {
      ASSIGN_OR_RETURN(w, c.Next("backend"));
      if (w != "backend") return Syntax(absl::StrCat("unexpected ", Quote(w)));
      ASSIGN_OR_RETURN(b, c.Next("backend name"));
      ASSIGN_OR_RETURN(parsed, ParseBackend(b));
      backend = parsed;
    }
    if (auto st = c.End(); !st.ok()) return st;
    if (verb == "add") {
      auto req = std::make_unique<v1::AddPortRequest>();
      req->set_bridge(bridge);
      req->set_name(port);
      req->set_backend(backend);
      return Make("AddPort", std::move(req));
    }
    auto req = std::make_unique<v1::AddSpanPortRequest>();
    req->set_bridge(bridge);
    req->set_name(port);
    req->set_backend(backend);
    return Make("AddSpanPort", std::move(req));
  }
  if (verb == "del") {
    auto req = std::make_unique<v1::DeletePortRequest>();
    if (auto p = port_req(req.get(), "del interface"); !p.ok()) return p.status();
    if (auto st = c.End(); !st.ok()) return st;
    return Make("DeletePort", std::move(req));
  }
  if (verb == "delspan") {
    auto req = std::make_unique<v1::DeleteSpanPortRequest>();
    if (auto p = port_req(req.get(), "delspan interface"); !p.ok()) return p.status();
    if (auto st = c.End(); !st.ok()) return st;
    return Make("DeleteSpanPort", std::move(req));
  }
  for (const char* f : {"learning", "discover", "blocknonip", "locked"}) {
    if (verb == f || verb == absl::StrCat("-", f)) return PortFlag(bridge, verb, c);
  }
  if (verb == "protected" || verb == "-protected") {
    auto req = std::make_unique<v1::UpdatePortRequest>();
    if (auto p = port_req(req.get(), verb + " port"); !p.ok()) return p.status();
    auto* set = req->mutable_settings()->mutable_protected_domains();
    if (verb == "protected") {
      ASSIGN_OR_RETURN(w, c.Next("protected domains (e.g. 1,2)"));
      ASSIGN_OR_RETURN(ids, NumberList(w, "protected"));
      for (uint32_t d : ids) set->add_domains(d);
    }
    if (auto st = c.End(); !st.ok()) return st;
    return Make("UpdatePort", std::move(req));
  }
  if (verb == "ifmaxaddr") {  // the port's own address limit (bridge(4))
    auto req = std::make_unique<v1::UpdatePortRequest>();
    if (auto p = port_req(req.get(), "ifmaxaddr port"); !p.ok()) return p.status();
    ASSIGN_OR_RETURN(w, c.Next("ifmaxaddr value (0 = no limit)"));
    ASSIGN_OR_RETURN(n, Number(w, "ifmaxaddr"));
    req->mutable_settings()->set_max_addresses(n);
    if (auto st = c.End(); !st.ok()) return st;
    return Make("UpdatePort", std::move(req));
  }
  if (verb == "untagged") {  // the port's PVID
    auto req = std::make_unique<v1::UpdatePortRequest>();
    if (auto p = port_req(req.get(), "untagged port"); !p.ok()) return p.status();
    ASSIGN_OR_RETURN(w, c.Next("untagged vid or none"));
    if (auto st = ParsePvid(w, req->mutable_settings()->mutable_pvid()); !st.ok()) return st;
    if (auto st = c.End(); !st.ok()) return st;
    return Make("UpdatePort", std::move(req));
  }
  if (verb == "tagged") {  // +10,20 adds, -10 removes, 10,20 replaces, none empties
    auto req = std::make_unique<v1::UpdatePortRequest>();
    if (auto p = port_req(req.get(), "tagged port"); !p.ok()) return p.status();
    ASSIGN_OR_RETURN(w, c.Next("tagged vids (+V,.. -V,.. V,.. or none)"));
    if (w == "none") {
      req->mutable_settings()->mutable_tagged_vids();
    } else if (w[0] == '+' || w[0] == '-') {
      ASSIGN_OR_RETURN(ids, NumberList(w.substr(1), "tagged"));
      for (uint32_t v : ids) (w[0] == '+' ? req->add_add_tagged_vids(v) : req->add_remove_tagged_vids(v));
    } else {
      ASSIGN_OR_RETURN(ids, NumberList(w, "tagged"));
      for (uint32_t v : ids) req->mutable_settings()->mutable_tagged_vids()->add_vids(v);
    }
    if (auto st = c.End(); !st.ok()) return st;
    return Make("UpdatePort", std::move(req));
  }
  if (verb == "static") {  // static MAC PORT [vid V]
    auto req = std::make_unique<v1::AddStaticAddressRequest>();
    req->set_bridge(bridge);
    ASSIGN_OR_RETURN(mac, c.Next("static address"));
    ASSIGN_OR_RETURN(port, c.Next("static port"));
    req->set_mac(mac);
    req->set_port(port);
    ASSIGN_OR_RETURN(vid, TrailingVid(c));
    if (vid) req->set_vid(*vid);
    return Make("AddStaticAddress", std::move(req));
  }
  if (verb == "deladdr") {
    auto req = std::make_unique<v1::DeleteAddressRequest>();
    req->set_bridge(bridge);
    ASSIGN_OR_RETURN(mac, c.Next("deladdr address"));
    req->set_mac(mac);
    ASSIGN_OR_RETURN(vid, TrailingVid(c));
    if (vid) req->set_vid(*vid);
    return Make("DeleteAddress", std::move(req));
  }
  if (verb == "flush" || verb == "flushall") {
    auto req = std::make_unique<v1::FlushAddressesRequest>();
    req->set_bridge(bridge);
    req->set_mode(verb == "flush" ? v1::FLUSH_MODE_DYNAMIC : v1::FLUSH_MODE_ALL);
    if (!c.done()) {
      ASSIGN_OR_RETURN(port, c.Next("port"));
      req->set_port(port);
    }
    if (auto st = c.End(); !st.ok()) return st;
    return Make("FlushAddresses", std::move(req));
  }
  if (verb == "addr") {
    auto req = std::make_unique<v1::ListAddressesRequest>();
    req->set_bridge(bridge);
    if (!c.done()) {
      ASSIGN_OR_RETURN(port, c.Next("port"));
      req->set_port(port);
    }
    if (auto st = c.End(); !st.ok()) return st;
    return Make("ListAllAddresses", std::move(req));
  }
  if (verb == "rule") return ParseRule(bridge, c);
  if (verb == "rules" || verb == "flushrule") {
    ASSIGN_OR_RETURN(port, c.Next(verb + " port"));
    if (auto st = c.End(); !st.ok()) return st;
    if (verb == "rules") {
      auto req = std::make_unique<v1::ListRulesRequest>();
      req->set_bridge(bridge);
      req->set_port(port);
      return Make("ListRules", std::move(req));
    }
    auto req = std::make_unique<v1::FlushRulesRequest>();
    req->set_bridge(bridge);
    req->set_port(port);
    return Make("FlushRules", std::move(req));
  }
  if (verb == "peers") {  // peers NAME [set|add|del IP,...|none]
    ASSIGN_OR_RETURN(name, c.Next("tunnel vport name"));
    if (c.done()) {
      auto req = std::make_unique<v1::GetVportRequest>();
      req->set_bridge(bridge);
      req->set_name(name);
      return Make("GetVport", std::move(req));
    }
    auto req = std::make_unique<v1::SetVportPeersRequest>();
    req->set_bridge(bridge);
    req->set_name(name);
    ASSIGN_OR_RETURN(w, c.Next("peers: set, add, del or addresses"));
    std::string list = w;
    req->set_op(v1::PEERS_OP_SET);
    if (w == "set" || w == "add" || w == "del") {
      req->set_op(w == "set" ? v1::PEERS_OP_SET : w == "add" ? v1::PEERS_OP_ADD : v1::PEERS_OP_DEL);
      ASSIGN_OR_RETURN(l, c.Next("peer addresses (IP,... or none)"));
      list = l;
    }
    if (auto st = c.End(); !st.ok()) return st;
    if (list != "none") {
      for (absl::string_view p : absl::StrSplit(list, ',')) {
        if (p.empty()) return Syntax(absl::StrCat("peers: ", Quote(list), ": empty address"));
        req->add_peers(std::string(p));
      }
    }
    return Make("SetVportPeers", std::move(req));
  }
  if (verb == "vport") {  // vport host NAME [...] | vport pod NETNS IFNAME [...]
    auto req = std::make_unique<v1::CreateVportRequest>();
    req->set_bridge(bridge);
    ASSIGN_OR_RETURN(kind, c.Next("vport kind (host, pod or vxlan)"));
    if (kind == "host") {
      req->set_kind(v1::VPORT_KIND_HOST);
      ASSIGN_OR_RETURN(name, c.Next("host vport name"));
      req->set_name(name);
    } else if (kind == "pod") {
      req->set_kind(v1::VPORT_KIND_POD);
      ASSIGN_OR_RETURN(netns, c.Next("pod netns path"));
      ASSIGN_OR_RETURN(ifname, c.Next("pod interface name"));
      v1::PodVport* pod = req->mutable_pod();
      pod->set_netns(netns);
      pod->mutable_attachment()->set_ifname(ifname);
      // The attachment's container ID defaults to the namespace's file name.
      pod->mutable_attachment()->set_container_id(netns.substr(netns.rfind('/') + 1));
    } else if (kind == "vxlan") {
      req->set_kind(v1::VPORT_KIND_TUNNEL);
      ASSIGN_OR_RETURN(name, c.Next("vxlan vport name"));
      req->set_name(name);
      ASSIGN_OR_RETURN(vni_word, c.Next("vni"));
      if (vni_word != "vni") {
        return Syntax(absl::StrCat("vport vxlan: expected vni, got ", Quote(vni_word)));
      }
      ASSIGN_OR_RETURN(vni_text, c.Next("vni value"));
      ASSIGN_OR_RETURN(vni, Number(vni_text, "vni"));
      req->mutable_tunnel()->set_vni(vni);
    } else {
      return Syntax(absl::StrCat("vport: ", Quote(kind), ": expected host, pod or vxlan"));
    }
    while (!c.done()) {
      ASSIGN_OR_RETURN(w, c.Next("vport option"));
      ASSIGN_OR_RETURN(v, c.Next(w + " value"));
      if (w == "mac") {
        req->set_mac(v);
      } else if (w == "mtu") {
        ASSIGN_OR_RETURN(n, Number(v, "mtu"));
        req->set_mtu(n);
      } else if (w == "local" && kind == "vxlan") {
        req->mutable_tunnel()->set_local(v);
      } else if (w == "dev" && kind == "vxlan") {
        req->mutable_tunnel()->set_underlay(v);
      } else if (w == "dstport" && kind == "vxlan") {
        ASSIGN_OR_RETURN(n, Number(v, "dstport"));
        req->mutable_tunnel()->set_dstport(n);
      } else if (w == "peers" && kind == "vxlan") {
        for (absl::string_view p : absl::StrSplit(v, ',', absl::SkipEmpty())) {
          req->mutable_tunnel()->add_peers(std::string(p));
        }
      } else if (w == "ip" && kind == "host") {
        req->add_ip_prefixes(v);
      } else if (w == "name" && kind == "pod") {
        req->set_name(v);
      } else if (w == "container" && kind == "pod") {
        req->mutable_pod()->mutable_attachment()->set_container_id(v);
      } else if (w == "type" && kind == "pod" && (v == "veth" || v == "tap")) {
        req->mutable_pod()->set_type(v == "veth" ? v1::VPORT_TYPE_VETH : v1::VPORT_TYPE_TAP);
      } else if (w == "backend" && kind == "pod") {
        ASSIGN_OR_RETURN(b, ParseBackend(v));
        req->set_backend(b);
      } else {
        return Syntax(absl::StrCat("vport ", kind, ": unknown option ", Quote(absl::StrCat(w, " ", v))));
      }
    }
    return Make("CreateVport", std::move(req));
  }
  if (verb == "delvport") {
    auto req = std::make_unique<v1::DeleteVportRequest>();
    req->set_bridge(bridge);
    ASSIGN_OR_RETURN(name, c.Next("vport name"));
    req->set_name(name);
    if (auto st = c.End(); !st.ok()) return st;
    return Make("DeleteVport", std::move(req));
  }
  if (verb == "vports") {
    if (auto st = c.End(); !st.ok()) return st;
    auto req = std::make_unique<v1::ListVportsRequest>();
    req->set_bridge(bridge);
    return Make("ListVports", std::move(req));
  }
  if (verb == "ports") {
    if (auto st = c.End(); !st.ok()) return st;
    auto req = std::make_unique<v1::ListPortsRequest>();
    req->set_bridge(bridge);
    return Make("ListPorts", std::move(req));
  }
  if (verb == "counters") {
    if (c.done()) {
      auto req = std::make_unique<v1::ListCountersRequest>();
      req->set_bridge(bridge);
      return Make("ListCounters", std::move(req));
    }
    ASSIGN_OR_RETURN(port, c.Next("port"));
    if (auto st = c.End(); !st.ok()) return st;
    auto req = std::make_unique<v1::GetPortCountersRequest>();
    req->set_bridge(bridge);
    req->set_port(port);
    return Make("GetPortCounters", std::move(req));
  }
  return Syntax(absl::StrCat("unknown command ", Quote(verb)));
}

// The label of a name-like field of a request, "" for other fields.
std::string NameLabel(const std::string& message, const std::string& field) {
  if (field == "bridge") return "bridge name";
  if (field == "port") return "port name";
  if (field == "ifname") return "interface name";
  if (field != "name") return "";
  if (absl::StrContains(message, "Bridge")) return "bridge name";
  if (absl::StrContains(message, "Vport")) return "vport name";
  if (absl::StrContains(message, "SpanPort")) return "span port name";
  return "port name";
}

// Every name in `m` (recursively) within kMaxNameBytes.
absl::Status CheckNames(const google::protobuf::Message& m) {
  using google::protobuf::FieldDescriptor;
  const google::protobuf::Reflection* r = m.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(m, &fields);
  for (const FieldDescriptor* f : fields) {
    if (f->is_repeated()) {
      if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
      for (int i = 0; i < r->FieldSize(m, f); ++i) {
        if (auto st = CheckNames(r->GetRepeatedMessage(m, f, i)); !st.ok()) return st;
      }
    } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      if (auto st = CheckNames(r->GetMessage(m, f)); !st.ok()) return st;
    } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
      const std::string label = NameLabel(m.GetDescriptor()->name(), f->name());
      const std::string v = r->GetString(m, f);
      if (!label.empty() && v.size() > kMaxNameBytes) {
        return InvalidArgumentError(absl::StrCat(label, " ", Quote(v), " is longer than ",
                                                 kMaxNameBytes, " bytes (not sent to the agent)"));
      }
    }
  }
  return absl::OkStatus();
}

StatusOr<Invocation> ParseWords(const std::vector<std::string>& args) {
  if (args.empty()) return Syntax("missing command");
  if (args[0] == "--") {  // BRIDGE COMMAND...: a bridge named like a command
    if (args.size() < 2) return Syntax("missing bridge name after \"--\"");
    if (args.size() < 3) return Syntax(absl::StrCat("missing command after ", Quote(args[1])));
    Cursor rest(args, 3);
    return BridgeCommand(args[1], args[2], rest);
  }
  Cursor c(args, 1);
  const std::string& first = args[0];
  if (first == "list") {
    if (auto st = c.End(); !st.ok()) return st;
    return Make("ListBridges", std::make_unique<v1::ListBridgesRequest>());
  }
  if (first == "health") {
    if (auto st = c.End(); !st.ok()) return st;
    return Invocation{"Health", nullptr};
  }
  if (first == "watch") {
    auto req = std::make_unique<v1::WatchEventsRequest>();
    if (!c.done()) {
      ASSIGN_OR_RETURN(bridge, c.Next("bridge"));
      req->set_bridge(bridge);
    }
    if (auto st = c.End(); !st.ok()) return st;
    return Make("WatchEvents", std::move(req));
  }
  if (first == "create") {
    auto req = std::make_unique<v1::CreateBridgeRequest>();
    ASSIGN_OR_RETURN(bridge, c.Next("bridge name"));
    req->set_name(bridge);
    while (!c.done()) {
      ASSIGN_OR_RETURN(verb, c.Next("setting"));
      if (verb == "engine") {  // fixed at create: not a BridgeSetting
        ASSIGN_OR_RETURN(w, c.Next("engine name"));
        if (w == "userspace") {
          req->set_engine(v1::ENGINE_USERSPACE);
        } else if (w == "kernel") {
          req->set_engine(v1::ENGINE_KERNEL);
        } else {
          return Syntax(absl::StrCat("engine ", Quote(w), ": use userspace or kernel"));
        }
        continue;
      }
      ASSIGN_OR_RETURN(ok, BridgeSetting(verb, c, req->mutable_settings()));
      if (!ok) return Syntax(absl::StrCat("create: unknown setting ", Quote(verb)));
    }
    return Make("CreateBridge", std::move(req));
  }
  if (first == "destroy") {
    auto req = std::make_unique<v1::DeleteBridgeRequest>();
    ASSIGN_OR_RETURN(bridge, c.Next("bridge name"));
    req->set_name(bridge);
    if (!c.done()) {
      ASSIGN_OR_RETURN(w, c.Next("force"));
      if (w != "force") return Syntax(absl::StrCat("unexpected ", Quote(w)));
      req->set_force(true);
    }
    if (auto st = c.End(); !st.ok()) return st;
    return Make("DeleteBridge", std::move(req));
  }
  if (args.size() < 2) return Syntax(absl::StrCat("missing command after ", Quote(first)));
  Cursor rest(args, 2);
  return BridgeCommand(first, args[1], rest);
}

}  // namespace

StatusOr<Invocation> ParseCommand(const std::vector<std::string>& args) {
  // Syntax errors quote a prefix of any word, so parsing comes first; then
  // names get their own message, and nothing longer than any value can be is
  // sent (the agent's error would echo it).
  ASSIGN_OR_RETURN(inv, ParseWords(args));
  if (inv.request) {
    if (auto st = CheckNames(*inv.request); !st.ok()) return st;
  }
  for (const std::string& w : args) {
    if (w.size() > kMaxWordBytes) {
      return InvalidArgumentError(absl::StrCat("argument ", Quote(w), " is longer than ",
                                               kMaxWordBytes, " bytes (not sent to the agent)"));
    }
  }
  return inv;
}

const char* Usage() {
  return R"(usage: vebctl [--socket=PATH] [-o text|json] [--] COMMAND

agent:
  list                                 bridges
  health                               the agent's gRPC health (exit 0 = SERVING)
  watch [BRIDGE]                       stream events (addresses, ports, bridges)
  create BRIDGE [engine userspace|kernel] [up|down] [maxaddr N] [timeout S] [pvid V|none]
         [link0|svlan|reserved]
  destroy BRIDGE [force]

bridge (vebctl BRIDGE ...):
  show                                 settings, ports and span ports
  up | down | maxaddr N | timeout S | pvid V|none
  link0 | -link0 | svlan | -svlan | reserved | -reserved
  add IF [backend af_packet|tap|af_xdp|tc_bpf] | del IF
  addspan IF [backend ...] | delspan IF
  learning IF | -learning IF | discover IF | -discover IF
  blocknonip IF | -blocknonip IF | locked IF | -locked IF
  protected IF 1,2 | -protected IF
  ifmaxaddr IF N                       the port's own address limit (0 = none)
  untagged IF VID|none                 the port's PVID
  tagged IF +V,.. | -V,.. | V,.. | none
  static MAC IF [vid V] | deladdr MAC [vid V]
  flush [IF] | flushall [IF]           dynamic / all addresses
  addr [IF]                            the address table
  rule block|pass in|out|in/out on IF [src MAC] [dst MAC] [vid V]
       [arp|rarp [request|reply] [sha MAC] [spa IP] [tha MAC] [tpa IP]]
  rules IF | flushrule IF
  vport host NAME [ip PREFIX]... [mac MAC] [mtu N]
  vport pod NETNS IFNAME [type veth|tap] [backend af_packet|af_xdp] [name NAME]
       [container ID] [mac MAC] [mtu N]
  vport vxlan NAME vni N [local IP] [dev UNDERLAY] [dstport 4789] [mtu N]
       [peers IP,...]                  a VXLAN tunnel to the same bridge on other nodes
  peers NAME [set|add|del IP,...|none] a tunnel's peers (no change: show them)
  delvport NAME | vports
  ports | counters [IF]

A bridge named like a command (create, list, addr, ...) or like an option:
  vebctl -- BRIDGE COMMAND             "--" ends the options, and the word after
                                       it is always a bridge name
Names (bridges, ports, vports, interfaces) are 1..15 bytes; longer ones are
refused here, before anything is sent.
)";
}

}  // namespace veb::cli
