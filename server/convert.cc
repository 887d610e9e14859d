#include "server/convert.h"

#include <arpa/inet.h>

#include <algorithm>
#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace veb::server {
namespace {

absl::Status Invalid(absl::string_view prefix, absl::string_view reason) {
  return absl::InvalidArgumentError(absl::StrCat(prefix, ": ", reason));
}
absl::Status Conflict(absl::string_view prefix, absl::string_view reason) {
  return absl::FailedPreconditionError(absl::StrCat(prefix, ": ", reason));
}

absl::StatusOr<uint16_t> PvidFromProto(absl::string_view prefix,
                                       absl::string_view field,
                                       const v1::Pvid& pvid) {
  switch (pvid.value_case()) {
    case v1::Pvid::kVid:
      if (pvid.vid() < kVlanMin || pvid.vid() > kVlanMax) {
        return Invalid(prefix, absl::StrCat(field, " ", pvid.vid(),
                                            " out of range 1..4094"));
      }
      return static_cast<uint16_t>(pvid.vid());
    case v1::Pvid::kNone:
      if (!pvid.none()) {
        return Invalid(prefix, absl::StrCat(field, ": none must be true when set"));
      }
      return kPvidNone;
    default:
      return Invalid(prefix, absl::StrCat(field, ": set vid or none"));
  }
}

// A set of small integers: each in [lo, hi], no duplicates.
absl::StatusOr<std::vector<uint32_t>> CheckSet(
    absl::string_view prefix, absl::string_view what,
    const google::protobuf::RepeatedField<uint32_t>& values, uint32_t lo,
    uint32_t hi) {
  std::set<uint32_t> seen;
  for (uint32_t v : values) {
    if (v < lo || v > hi) {
      return Invalid(prefix, absl::StrCat(what, " ", v, " out of range ", lo,
                                          "..", hi));
    }
    if (!seen.insert(v).second) {
      return Invalid(prefix, absl::StrCat("duplicate ", what, " ", v));
    }
  }
  return std::vector<uint32_t>(seen.begin(), seen.end());
}

uint32_t DomainBits(const std::vector<uint32_t>& domains) {
  uint32_t bits = 0;
  for (uint32_t d : domains) bits |= 1u << d;
  return bits;
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  // absl::StatusCode and grpc::StatusCode share their numeric values (0..16).
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

std::string Quote(absl::string_view name) {
  if (name.size() <= kMaxQuoted) return absl::StrCat("\"", absl::CHexEscape(name), "\"");
  return absl::StrCat("\"", absl::CHexEscape(name.substr(0, kMaxQuoted)), "\"... (",
                      name.size(), " bytes)");
}

absl::Status ValidateName(absl::string_view prefix, absl::string_view name) {
  if (name.empty()) return Invalid(prefix, "invalid name (empty)");
  if (name.size() > 15) return Invalid(prefix, "invalid name (longer than 15 bytes)");
  if (name == "." || name == "..") return Invalid(prefix, "invalid name (reserved)");
  for (char c : name) {
    if (c == '/' || c == ':' || c <= ' ' || c > '~') {
      return Invalid(prefix,
                     "invalid name (only printable ASCII without whitespace, "
                     "'/' or ':')");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Mac> ParseMacField(absl::string_view prefix,
                                  absl::string_view field,
                                  absl::string_view text) {
  std::optional<Mac> mac = ParseMac(text);
  if (!mac) {
    return Invalid(prefix, absl::StrCat(field, " ", Quote(text),
                                        ": invalid MAC address"));
  }
  return *mac;
}

absl::StatusOr<uint32_t> ParseIpv4Field(absl::string_view prefix,
                                        absl::string_view field,
                                        absl::string_view text) {
  in_addr addr{};
  const std::string s(text);
  if (inet_pton(AF_INET, s.c_str(), &addr) != 1) {
    return Invalid(prefix, absl::StrCat(field, " ", Quote(text),
                                        ": invalid IPv4 address"));
  }
  return ntohl(addr.s_addr);
}

std::string FormatIpv4(uint32_t ip) {
  return absl::StrCat(ip >> 24, ".", (ip >> 16) & 0xff, ".", (ip >> 8) & 0xff,
                      ".", ip & 0xff);
}

absl::Status ValidateVid(absl::string_view prefix, absl::string_view field,
                         uint32_t vid) {
  if (vid < kVlanMin || vid > kVlanMax) {
    return Invalid(prefix, absl::StrCat(field, " ", vid, " out of range 1..4094"));
  }
  return absl::OkStatus();
}

// ---- bridges ------------------------------------------------------------------

absl::StatusOr<BridgeConfig> ApplyBridgeSettings(
    absl::string_view prefix, const v1::BridgeSettings& s,
    const BridgeConfig& base) {
  BridgeConfig c = base;
  if (s.has_up()) c.up = s.up();
  if (s.has_max_addresses()) {
    if (s.max_addresses() < 1 || s.max_addresses() > kMaxAddressesLimit) {
      return Invalid(prefix, absl::StrCat("max_addresses ", s.max_addresses(),
                                          " out of range 1..1000000"));
    }
    c.max_addresses = s.max_addresses();
  }
  if (s.has_address_timeout_seconds()) {
    const uint32_t t = s.address_timeout_seconds();
    if (t < kMinTimeoutSeconds || t > kMaxTimeoutSeconds) {
      return Invalid(prefix, absl::StrCat("address_timeout_seconds ", t,
                                          " out of range 8..3600"));
    }
    c.timeout_seconds = t;
  }
  if (s.has_default_pvid()) {
    absl::StatusOr<uint16_t> pvid =
        PvidFromProto(prefix, "default_pvid", s.default_pvid());
    if (!pvid.ok()) return pvid.status();
    c.default_pvid = *pvid;
  }
  if (s.has_allow_svlan()) c.allow_svlan = s.allow_svlan();
  if (s.has_allow_reserved_addresses()) {
    c.allow_reserved = s.allow_reserved_addresses();
  }
  return c;
}

v1::Pvid PvidToProto(uint16_t pvid) {
  v1::Pvid p;
  if (pvid == kPvidNone) {
    p.set_none(true);
  } else {
    p.set_vid(pvid);
  }
  return p;
}

void FillBridge(const std::string& name, const BridgeConfig& c, v1::Bridge* out) {
  out->set_name(name);
  out->set_up(c.up);
  out->set_max_addresses(c.max_addresses);
  out->set_address_timeout_seconds(c.timeout_seconds);
  *out->mutable_default_pvid() = PvidToProto(c.default_pvid);
  out->set_allow_svlan(c.allow_svlan);
  out->set_allow_reserved_addresses(c.allow_reserved);
}

v1::BridgeSettings BridgeSettingsFromConfig(const BridgeConfig& c) {
  v1::BridgeSettings s;
  s.set_up(c.up);
  s.set_max_addresses(c.max_addresses);
  s.set_address_timeout_seconds(c.timeout_seconds);
  *s.mutable_default_pvid() = PvidToProto(c.default_pvid);
  s.set_allow_svlan(c.allow_svlan);
  s.set_allow_reserved_addresses(c.allow_reserved);
  return s;
}

// ---- ports --------------------------------------------------------------------

namespace {

// Applies the set fields of `s` to `c` (ranges checked, conflicts not).
absl::Status ApplyPortSettings(absl::string_view prefix,
                               const v1::PortSettings& s, PortConfig* c) {
  if (s.has_learning()) c->learning = s.learning();
  if (s.has_discover()) c->discover = s.discover();
  if (s.has_blocknonip()) c->blocknonip = s.blocknonip();
  if (s.has_locked()) c->locked = s.locked();
  if (s.has_protected_domains()) {
    auto domains = CheckSet(prefix, "protected domain",
                            s.protected_domains().domains(), 1, 31);
    if (!domains.ok()) return domains.status();
    c->protected_domains = DomainBits(*domains);
  }
  if (s.has_pvid()) {
    absl::StatusOr<uint16_t> pvid = PvidFromProto(prefix, "pvid", s.pvid());
    if (!pvid.ok()) return pvid.status();
    c->pvid = *pvid;
  }
  if (s.has_tagged_vids()) {
    auto vids = CheckSet(prefix, "tagged VID", s.tagged_vids().vids(), 1, 4094);
    if (!vids.ok()) return vids.status();
    c->tagged.assign(vids->begin(), vids->end());
  }
  if (s.has_max_addresses()) {
    if (s.max_addresses() > kMaxAddressesLimit) {
      return Invalid(prefix, absl::StrCat("max_addresses ", s.max_addresses(),
                                          " out of range 1..1000000 (0 = no port limit)"));
    }
    c->max_addresses = s.max_addresses();
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidatePortConfigForApi(absl::string_view prefix,
                                      const PortConfig& c) {
  if (c.locked && (c.learning || c.discover)) {
    return Conflict(prefix, "locked excludes learning and discover");
  }
  for (uint16_t vid : c.tagged) {
    if (vid == c.pvid && vid != kPvidNone) {
      return Conflict(prefix, absl::StrCat("PVID ", vid, " is also a tagged VID"));
    }
  }
  // The dataplane's own checks are the backstop (same rules).
  if (absl::Status s = ValidatePortConfig(c); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat(prefix, ": ", s.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<PortConfig> PortConfigForAdd(absl::string_view prefix,
                                            const v1::PortSettings& s,
                                            uint16_t default_pvid) {
  PortConfig c;
  c.pvid = default_pvid;
  const bool locked = s.has_locked() && s.locked();
  c.learning = !locked;
  c.discover = !locked;
  if (absl::Status st = ApplyPortSettings(prefix, s, &c); !st.ok()) return st;
  if (absl::Status st = ValidatePortConfigForApi(prefix, c); !st.ok()) return st;
  return c;
}

absl::StatusOr<PortConfig> PortConfigForUpdate(
    absl::string_view prefix, const v1::PortSettings& s,
    const std::vector<uint32_t>& add_tagged,
    const std::vector<uint32_t>& remove_tagged, const PortConfig& current) {
  if (s.has_tagged_vids() && (!add_tagged.empty() || !remove_tagged.empty())) {
    return Invalid(prefix,
                   "settings.tagged_vids cannot be combined with "
                   "add_tagged_vids/remove_tagged_vids");
  }
  std::set<uint32_t> added, removed;
  for (uint32_t v : add_tagged) {
    if (absl::Status st = ValidateVid(prefix, "add_tagged_vids", v); !st.ok()) return st;
    if (!added.insert(v).second) {
      return Invalid(prefix, absl::StrCat("duplicate add_tagged_vids ", v));
    }
  }
  for (uint32_t v : remove_tagged) {
    if (absl::Status st = ValidateVid(prefix, "remove_tagged_vids", v); !st.ok()) return st;
    if (!removed.insert(v).second) {
      return Invalid(prefix, absl::StrCat("duplicate remove_tagged_vids ", v));
    }
    if (added.count(v)) {
      return Invalid(prefix,
                     absl::StrCat("vid ", v, " in both add_tagged_vids and remove_tagged_vids"));
    }
  }
  PortConfig c = current;
  if (absl::Status st = ApplyPortSettings(prefix, s, &c); !st.ok()) return st;
  std::set<uint16_t> tagged(c.tagged.begin(), c.tagged.end());
  for (uint32_t v : add_tagged) tagged.insert(static_cast<uint16_t>(v));
  for (uint32_t v : remove_tagged) tagged.erase(static_cast<uint16_t>(v));
  c.tagged.assign(tagged.begin(), tagged.end());
  if (absl::Status st = ValidatePortConfigForApi(prefix, c); !st.ok()) return st;
  return c;
}

std::vector<uint32_t> DomainList(uint32_t bits) {
  std::vector<uint32_t> out;
  for (uint32_t d = 1; d <= 31; ++d) {
    if (bits & (1u << d)) out.push_back(d);
  }
  return out;
}

v1::PortSettings PortSettingsFromConfig(const PortConfig& c) {
  v1::PortSettings s;
  s.set_learning(c.learning);
  s.set_discover(c.discover);
  s.set_blocknonip(c.blocknonip);
  s.set_locked(c.locked);
  for (uint32_t d : DomainList(c.protected_domains)) {
    s.mutable_protected_domains()->add_domains(d);
  }
  s.mutable_protected_domains();  // present even when empty
  *s.mutable_pvid() = PvidToProto(c.pvid);
  std::vector<uint16_t> tagged = c.tagged;
  std::sort(tagged.begin(), tagged.end());
  s.mutable_tagged_vids();
  for (uint16_t v : tagged) s.mutable_tagged_vids()->add_vids(v);
  // Only when set: absent means 0, and a state file without the field stays
  // readable by an agent that predates it.
  if (c.max_addresses != 0) s.set_max_addresses(c.max_addresses);
  return s;
}

void FillPortConfig(const PortConfig& c, v1::Port* out) {
  out->set_learning(c.learning);
  out->set_discover(c.discover);
  out->set_blocknonip(c.blocknonip);
  out->set_locked(c.locked);
  for (uint32_t d : DomainList(c.protected_domains)) out->add_protected_domains(d);
  *out->mutable_pvid() = PvidToProto(c.pvid);
  std::vector<uint16_t> tagged = c.tagged;
  std::sort(tagged.begin(), tagged.end());
  for (uint16_t v : tagged) out->add_tagged_vids(v);
  out->set_max_addresses(c.max_addresses);
}

// ---- rules --------------------------------------------------------------------

absl::StatusOr<Rule> RuleFromProto(absl::string_view prefix, const v1::Rule& p) {
  Rule r;
  switch (p.action()) {
    case v1::RULE_ACTION_BLOCK: r.action = RuleAction::kBlock; break;
    case v1::RULE_ACTION_PASS: r.action = RuleAction::kPass; break;
    default: return Invalid(prefix, "action must be BLOCK or PASS");
  }
  switch (p.direction()) {
    case v1::RULE_DIRECTION_IN: r.directions = kRuleIn; break;
    case v1::RULE_DIRECTION_OUT: r.directions = kRuleOut; break;
    case v1::RULE_DIRECTION_IN_OUT: r.directions = kRuleInOut; break;
    default: return Invalid(prefix, "direction must be IN, OUT or IN_OUT");
  }
  if (!p.src().empty()) {
    auto m = ParseMacField(prefix, "src", p.src());
    if (!m.ok()) return m.status();
    r.src = *m;
  }
  if (!p.dst().empty()) {
    auto m = ParseMacField(prefix, "dst", p.dst());
    if (!m.ok()) return m.status();
    r.dst = *m;
  }
  if (p.has_vid()) {
    if (absl::Status s = ValidateVid(prefix, "vid", p.vid()); !s.ok()) return s;
    r.vid = static_cast<uint16_t>(p.vid());
  }
  if (p.has_arp()) {
    const v1::ArpMatch& a = p.arp();
    bool rarp;
    switch (a.kind()) {
      case v1::ARP_KIND_ARP: r.arp = ArpKind::kArp; rarp = false; break;
      case v1::ARP_KIND_RARP: r.arp = ArpKind::kRarp; rarp = true; break;
      default: return Invalid(prefix, "arp.kind must be ARP or RARP");
    }
    switch (a.opcode()) {
      case v1::ARP_OPCODE_UNSPECIFIED: r.arp_op = 0; break;
      case v1::ARP_OPCODE_REQUEST: r.arp_op = rarp ? kRarpOpRequest : kArpOpRequest; break;
      case v1::ARP_OPCODE_REPLY: r.arp_op = rarp ? kRarpOpReply : kArpOpReply; break;
      default: return Invalid(prefix, absl::StrCat("arp.opcode ", a.opcode(), " unknown"));
    }
    if (!a.sha().empty()) {
      auto m = ParseMacField(prefix, "arp.sha", a.sha());
      if (!m.ok()) return m.status();
      r.arp_sha = *m;
    }
    if (!a.tha().empty()) {
      auto m = ParseMacField(prefix, "arp.tha", a.tha());
      if (!m.ok()) return m.status();
      r.arp_tha = *m;
    }
    if (!a.spa().empty()) {
      auto ip = ParseIpv4Field(prefix, "arp.spa", a.spa());
      if (!ip.ok()) return ip.status();
      r.arp_spa = *ip;
    }
    if (!a.tpa().empty()) {
      auto ip = ParseIpv4Field(prefix, "arp.tpa", a.tpa());
      if (!ip.ok()) return ip.status();
      r.arp_tpa = *ip;
    }
  }
  if (absl::Status s = ValidateRule(r); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat(prefix, ": ", s.message()));
  }
  return r;
}

v1::Rule RuleToProto(const Rule& r) {
  v1::Rule p;
  p.set_action(r.action == RuleAction::kBlock ? v1::RULE_ACTION_BLOCK
                                              : v1::RULE_ACTION_PASS);
  p.set_direction(r.directions == kRuleInOut ? v1::RULE_DIRECTION_IN_OUT
                  : r.directions == kRuleOut ? v1::RULE_DIRECTION_OUT
                                             : v1::RULE_DIRECTION_IN);
  if (r.src) p.set_src(FormatMac(*r.src));
  if (r.dst) p.set_dst(FormatMac(*r.dst));
  if (r.vid) p.set_vid(*r.vid);
  if (r.arp != ArpKind::kNone) {
    v1::ArpMatch* a = p.mutable_arp();
    a->set_kind(r.arp == ArpKind::kArp ? v1::ARP_KIND_ARP : v1::ARP_KIND_RARP);
    switch (r.arp_op) {
      case kArpOpRequest:
      case kRarpOpRequest: a->set_opcode(v1::ARP_OPCODE_REQUEST); break;
      case kArpOpReply:
      case kRarpOpReply: a->set_opcode(v1::ARP_OPCODE_REPLY); break;
      default: break;
    }
    if (r.arp_sha) a->set_sha(FormatMac(*r.arp_sha));
    if (r.arp_spa) a->set_spa(FormatIpv4(*r.arp_spa));
    if (r.arp_tha) a->set_tha(FormatMac(*r.arp_tha));
    if (r.arp_tpa) a->set_tpa(FormatIpv4(*r.arp_tpa));
  }
  return p;
}

// ---- counters -----------------------------------------------------------------

// The dataplane declares each reason once (dataplane/drop_reason.h) with
// the suffix of its proto value; here every one is checked at compile time
// to be the proto value dataplane value + 1, so the mapping is arithmetic
// and a reason added on one side only does not build.
#define VEB_CHECK_DROP_(e, name, proto)                                 \
  static_assert(static_cast<int>(DropReason::e) + 1 == v1::DROP_REASON_##proto, \
                "DropReason::" #e " is not DROP_REASON_" #proto);
VEB_DROP_REASONS(VEB_CHECK_DROP_)
#undef VEB_CHECK_DROP_
static_assert(v1::DropReason_ARRAYSIZE == kNumDropReasons + 1,
              "veb.v1.DropReason and dataplane/drop_reason.h differ");
#define VEB_CHECK_REFUSAL_(e, name, proto)                                          \
  static_assert(static_cast<int>(LearnRefusal::e) + 1 == v1::LEARN_REFUSED_REASON_##proto, \
                "LearnRefusal::" #e " is not LEARN_REFUSED_REASON_" #proto);
VEB_LEARN_REFUSALS(VEB_CHECK_REFUSAL_)
#undef VEB_CHECK_REFUSAL_
static_assert(v1::LearnRefusedReason_ARRAYSIZE == kNumLearnRefusals + 1,
              "veb.v1.LearnRefusedReason and dataplane/drop_reason.h differ");

v1::DropReason DropReasonToProto(DropReason r) {
  return static_cast<v1::DropReason>(static_cast<int>(r) + 1);
}

v1::LearnRefusedReason LearnRefusalToProto(LearnRefusal r) {
  return static_cast<v1::LearnRefusedReason>(static_cast<int>(r) + 1);
}

BackendStats BackendStatsOf(const OpenedPort& opened) {
  return opened.handle ? opened.handle->Stats() : BackendStats{};
}

void FillPortCounters(const std::string& bridge, const std::string& port,
                      bool span, const PortCounters& c, const BackendStats& backend,
                      v1::PortCounters* out) {
  out->set_bridge(bridge);
  out->set_port(port);
  out->set_span(span);
  out->set_receive_packets(c.rx_packets);
  out->set_receive_bytes(c.rx_bytes);
  out->set_transmit_packets(c.tx_packets);
  out->set_transmit_bytes(c.tx_bytes);
  out->set_forwarded_packets(c.unicast);
  out->set_flooded_packets(c.flooded);
  // All reasons in enum order (the proto's order is the dataplane's).
  for (size_t i = 0; i < kNumDropReasons; ++i) {
    const v1::DropReason reason = DropReasonToProto(static_cast<DropReason>(i));
    v1::DropCount* in = out->add_receive_drops();
    in->set_reason(reason);
    in->set_packets(c.in_drops[i]);
    v1::DropCount* o = out->add_transmit_drops();
    o->set_reason(reason);
    o->set_packets(c.out_drops[i]);
  }
  v1::BackendDrops* b = out->mutable_backend_receive_drops();
  b->set_overflow(backend.rx_kernel_drops);
  b->set_truncated(backend.rx_truncated);
  b->set_bad_vnet_hdr(backend.rx_bad_vnet);
  b->set_errors(backend.rx_errors);
}

void FillBridgeCounters(const BridgeCounters& c, v1::BridgeCounters* out) {
  out->set_flooded_packets(c.flooded);
  out->set_addresses_learned(c.learned);
  out->set_addresses_moved(c.moved);
  out->set_addresses_expired(c.expired);
  for (LearnRefusal reason : kAllLearnRefusals) {
    v1::LearnRefusedCount* r = out->add_learn_refused();
    r->set_reason(LearnRefusalToProto(reason));
    r->set_packets(c.refused[static_cast<size_t>(reason)]);
  }
}

absl::StatusOr<Backend> BackendFromProto(absl::string_view prefix,
                                         v1::Backend backend) {
  switch (backend) {
    case v1::BACKEND_UNSPECIFIED: return Backend::kDefault;
    case v1::BACKEND_AF_PACKET: return Backend::kAfPacket;
    case v1::BACKEND_TAP: return Backend::kTap;
    case v1::BACKEND_AF_XDP: return Backend::kAfXdp;
    case v1::BACKEND_TC_BPF: return Backend::kKernel;
    default:
      return Invalid(prefix, absl::StrCat("backend ", static_cast<int>(backend),
                                          " unknown"));
  }
}

absl::StatusOr<Engine> EngineFromProto(absl::string_view prefix, v1::Engine engine) {
  switch (engine) {
    case v1::ENGINE_UNSPECIFIED:
    case v1::ENGINE_USERSPACE:
      return Engine::kUserspace;
    case v1::ENGINE_KERNEL:
      return Engine::kKernel;
    default:
      return Invalid(prefix, absl::StrCat("engine ", static_cast<int>(engine), " unknown"));
  }
}

v1::Engine EngineToProto(Engine engine) {
  return engine == Engine::kKernel ? v1::ENGINE_KERNEL : v1::ENGINE_USERSPACE;
}

namespace {
const char* BackendName(Backend b) {
  switch (b) {
    case Backend::kAfPacket: return "af_packet";
    case Backend::kTap: return "tap";
    case Backend::kAfXdp: return "af_xdp";
    case Backend::kKernel: return "tc_bpf";
    case Backend::kDefault: break;
  }
  return "default";
}
}  // namespace

absl::StatusOr<Backend> BackendForEngine(absl::string_view obj, absl::string_view bridge,
                                         Engine engine, Backend requested) {
  if (engine == Engine::kKernel) {
    if (requested == Backend::kDefault || requested == Backend::kKernel) return Backend::kKernel;
    return absl::FailedPreconditionError(absl::StrCat(
        obj, ": backend ", BackendName(requested), " needs the userspace engine; bridge \"",
        bridge, "\" uses the kernel engine (its ports are served by its BPF program at TC "
        "ingress)"));
  }
  if (requested == Backend::kKernel) {
    return absl::FailedPreconditionError(absl::StrCat(
        obj, ": backend tc_bpf needs the kernel engine; bridge \"", bridge,
        "\" uses the userspace engine"));
  }
  return requested;
}

absl::Status CheckVportForEngine(absl::string_view obj, absl::string_view bridge,
                                 Engine engine, VportType type) {
  if (engine == Engine::kKernel && type == VportType::kPodTap) {
    return absl::FailedPreconditionError(absl::StrCat(
        obj, ": a TAP pod vport needs the userspace engine (a TAP has no peer device to "
        "redirect to); bridge \"", bridge, "\" uses the kernel engine: use a veth pod vport"));
  }
  return absl::OkStatus();
}

v1::VportKind VportKindToProto(VportType type) {
  switch (type) {
    case VportType::kHost: return v1::VPORT_KIND_HOST;
    case VportType::kTunnel: return v1::VPORT_KIND_TUNNEL;
    case VportType::kPodVeth:
    case VportType::kPodTap: break;
  }
  return v1::VPORT_KIND_POD;
}

v1::VportType PodTypeToProto(VportType type) {
  return type == VportType::kPodTap ? v1::VPORT_TYPE_TAP : v1::VPORT_TYPE_VETH;
}

v1::Backend BackendToProto(Backend backend) {
  switch (backend) {
    case Backend::kAfPacket: return v1::BACKEND_AF_PACKET;
    case Backend::kTap: return v1::BACKEND_TAP;
    case Backend::kAfXdp: return v1::BACKEND_AF_XDP;
    case Backend::kKernel: return v1::BACKEND_TC_BPF;
    case Backend::kDefault: break;
  }
  return v1::BACKEND_AF_PACKET;
}

v1::Backend RequestedBackend(const OpenedPort& opened) {
  return BackendToProto(opened.requested == Backend::kDefault ? opened.backend
                                                                : opened.requested);
}

}  // namespace veb::server
