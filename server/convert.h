// The one place where veb.v1 protobuf messages and dataplane types meet
// (docs/design.md §12: the dataplane never sees protobuf). Everything here is a pure
// function: input validation with API-shaped messages (`<object> "<name>":
// <operation>: <reason>`), proto <-> dataplane conversion, and the mapping of
// absl::Status to grpc::Status (codes are numerically identical, 1:1).
//
// Validation functions take the message prefix ("port \"eth1\": add") so the
// returned status already names the object and the operation.
//
// Thread-safety: pure functions, callable from any thread.
#ifndef VEB_SERVER_CONVERT_H_
#define VEB_SERVER_CONVERT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "dataplane/bridge.h"
#include "dataplane/drop_reason.h"
#include "dataplane/mac_address.h"
#include "dataplane/rule.h"
#include "grpcpp/support/status.h"
#include "proto/veb/v1/types.pb.h"
#include "server/port_opener.h"

namespace veb::server {

// absl::Status -> grpc::Status, same code and message.
grpc::Status ToGrpcStatus(const absl::Status& status);

// `"name"` with C escapes, as every message quotes names. Input longer than
// kMaxQuoted bytes is cut: `"<first 64 bytes>"... (N bytes)`, so a client
// never gets its megabyte name back in an error.
inline constexpr size_t kMaxQuoted = 64;
std::string Quote(absl::string_view name);

// Linux interface-name rules (types.proto): 1..15 bytes, printable ASCII
// without whitespace, '/' or ':', not "." or "..". INVALID_ARGUMENT
// `<prefix>: invalid name (<why>)`.
absl::Status ValidateName(absl::string_view prefix, absl::string_view name);

// "aa:bb:cc:dd:ee:ff" in either case. INVALID_ARGUMENT
// `<prefix>: <field> "<text>": invalid MAC address`.
absl::StatusOr<Mac> ParseMacField(absl::string_view prefix,
                                  absl::string_view field,
                                  absl::string_view text);
// Dotted quad, host byte order. INVALID_ARGUMENT
// `<prefix>: <field> "<text>": invalid IPv4 address`.
absl::StatusOr<uint32_t> ParseIpv4Field(absl::string_view prefix,
                                        absl::string_view field,
                                        absl::string_view text);
std::string FormatIpv4(uint32_t ip);

// 1..4094, INVALID_ARGUMENT `<prefix>: <field> <v> out of range 1..4094`.
absl::Status ValidateVid(absl::string_view prefix, absl::string_view field,
                         uint32_t vid);

// ---- bridges ------------------------------------------------------------------
// Applies the set fields of `settings` on top of `base` (defaults for create,
// the current config for update), validating each range.
absl::StatusOr<BridgeConfig> ApplyBridgeSettings(
    absl::string_view prefix, const v1::BridgeSettings& settings,
    const BridgeConfig& base);
void FillBridge(const std::string& name, const BridgeConfig& config,
                v1::Bridge* out);
v1::Pvid PvidToProto(uint16_t pvid);
v1::BridgeSettings BridgeSettingsFromConfig(const BridgeConfig& config);

// ---- ports --------------------------------------------------------------------
// AddPort semantics: unset fields take their defaults (learning/discover
// default to !locked; pvid to `default_pvid`). Range errors are
// INVALID_ARGUMENT; conflicts (locked with learning/discover, PVID also
// tagged) FAILED_PRECONDITION.
absl::StatusOr<PortConfig> PortConfigForAdd(absl::string_view prefix,
                                            const v1::PortSettings& settings,
                                            uint16_t default_pvid);
// UpdatePort semantics: unset fields keep `current`; add/remove tagged VIDs
// are applied after `settings`. The result is validated as a whole.
absl::StatusOr<PortConfig> PortConfigForUpdate(
    absl::string_view prefix, const v1::PortSettings& settings,
    const std::vector<uint32_t>& add_tagged,
    const std::vector<uint32_t>& remove_tagged, const PortConfig& current);
// Validation shared by both (the whole configuration).
absl::Status ValidatePortConfigForApi(absl::string_view prefix,
                                      const PortConfig& config);
v1::PortSettings PortSettingsFromConfig(const PortConfig& config);
void FillPortConfig(const PortConfig& config, v1::Port* out);
std::vector<uint32_t> DomainList(uint32_t bits);

// ---- rules --------------------------------------------------------------------
absl::StatusOr<Rule> RuleFromProto(absl::string_view prefix,
                                   const v1::Rule& rule);
v1::Rule RuleToProto(const Rule& rule);

// ---- counters -----------------------------------------------------------------
v1::DropReason DropReasonToProto(DropReason reason);
v1::LearnRefusedReason LearnRefusalToProto(LearnRefusal reason);
void FillPortCounters(const std::string& bridge, const std::string& port,
                      bool span, const PortCounters& c, const BackendStats& backend,
                      v1::PortCounters* out);
// The backend's losses of a port (zero when it does not report any).
BackendStats BackendStatsOf(const OpenedPort& opened);
void FillBridgeCounters(const BridgeCounters& c, v1::BridgeCounters* out);

// ---- vports ------------------------------------------------------------------
// One vocabulary: the dataplane's VportType (host TAP, pod veth, pod TAP)
// is VPORT_KIND_HOST/POD plus, for pods, VPORT_TYPE_VETH/TAP.
v1::VportKind VportKindToProto(VportType type);
v1::VportType PodTypeToProto(VportType type);
// The fields a vport shares between the API (v1::Vport) and the state file
// (v1::CreateVportRequest): one mapping for both. `M` is either message.
template <typename M>
void FillVportFields(const std::string& name, const std::string& bridge, const VportSpec& spec,
                     const std::string& container_id, M* out) {
  out->set_name(name);
  out->set_bridge(bridge);
  out->set_kind(VportKindToProto(spec.type));
  if (spec.mac) out->set_mac(FormatMac(*spec.mac));
  if (spec.mtu) out->set_mtu(*spec.mtu);
  if (spec.type == VportType::kPodVeth || spec.type == VportType::kPodTap) {
    out->mutable_pod()->set_netns(spec.netns);
    out->mutable_pod()->mutable_attachment()->set_container_id(container_id);
    out->mutable_pod()->mutable_attachment()->set_ifname(spec.pod_ifname);
    out->mutable_pod()->set_type(PodTypeToProto(spec.type));
  }
  for (const std::string& p : spec.ip_prefixes) out->add_ip_prefixes(p);
  if (spec.type == VportType::kTunnel) {
    v1::TunnelVport* t = out->mutable_tunnel();
    t->set_vni(spec.tunnel.vni);
    t->set_local(spec.tunnel.local);
    t->set_underlay(spec.tunnel.underlay);
    t->set_dstport(spec.tunnel.dstport);
    for (const std::string& p : spec.tunnel.peers) t->add_peers(p);
    for (const std::string& p : spec.tunnel.source_peers) t->add_source_peers(p);
  }
}

// ---- engines and backends -------------------------------------------------------
// INVALID_ARGUMENT for values outside the enum; UNSPECIFIED = userspace.
absl::StatusOr<Engine> EngineFromProto(absl::string_view prefix, v1::Engine engine);
v1::Engine EngineToProto(Engine engine);
// The backend a port of a bridge with `engine` gets for `requested`: a
// kernel bridge's ports are all kKernel; the userspace engine's backends
// are refused there, and kKernel on a userspace bridge
// (FAILED_PRECONDITION, naming the bridge and its engine).
absl::StatusOr<Backend> BackendForEngine(absl::string_view obj, absl::string_view bridge,
                                         Engine engine, Backend requested);
// FAILED_PRECONDITION for a vport the engine cannot hold (a pod TAP vport
// on a kernel bridge).
absl::Status CheckVportForEngine(absl::string_view obj, absl::string_view bridge,
                                 Engine engine, VportType type);

// INVALID_ARGUMENT for values outside the enum.
absl::StatusOr<Backend> BackendFromProto(absl::string_view prefix,
                                         v1::Backend backend);
v1::Backend BackendToProto(Backend backend);
// The backend to record in the state file: the one asked for (an AF_XDP port
// that fell back to AF_PACKET tries AF_XDP again after a restart), else the
// one in use.
v1::Backend RequestedBackend(const OpenedPort& opened);

}  // namespace veb::server

#endif  // VEB_SERVER_CONVERT_H_
