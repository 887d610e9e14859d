// Request checks that need no agent state, and the object names every
// message starts with (`port "eth1": add: <reason>`, docs/design.md "API").
// The agent runs these before it takes any lock, so a malformed request is
// refused without waiting for, or touching, anything.
//
// Thread-safety: pure functions, callable from any thread.
#ifndef VEB_SERVER_VALIDATE_H_
#define VEB_SERVER_VALIDATE_H_

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "dataplane/mac_address.h"
#include "proto/veb/v1/switch.pb.h"
#include "server/convert.h"
#include "server/port_opener.h"

namespace veb::server {

// `bridge "veb0": <op>`, `port "eth1": <op>`, ...
std::string BridgeObj(absl::string_view name, absl::string_view op);
std::string PortObj(absl::string_view name, absl::string_view op);
std::string SpanObj(absl::string_view name, absl::string_view op);
std::string AddrObj(Mac mac, std::optional<uint16_t> vid, absl::string_view op);
std::string VportObj(absl::string_view name, absl::string_view op);
std::string AttachmentText(const v1::CniAttachment& a);

// NOT_FOUND `<obj>: <reason>`.
absl::Status NotFound(absl::string_view obj, absl::string_view reason);

// INVALID_ARGUMENT for a bad bridge name (`<bridge>: <bridge_op>`) or port
// name (`obj`), in that order.
absl::Status ValidateBridgeAndPort(const std::string& bridge, absl::string_view bridge_op,
                                   const std::string& port, absl::string_view obj);

// CNI_CONTAINERID rule: 1..255 of [A-Za-z0-9_.-], alphanumeric first.
absl::Status ValidateContainerId(absl::string_view obj, absl::string_view id);
absl::Status ValidateAttachment(absl::string_view obj, const v1::CniAttachment& a);
// "10.22.0.1/24" or "fd00::1/64".
absl::Status ValidatePrefix(absl::string_view obj, const std::string& prefix);

// The canonical text (inet_ntop) of an IPv4/IPv6 unicast address; else
// INVALID_ARGUMENT `<obj>: <what> "10.0.0.x": not an IPv4 or IPv6 address`
// or `...: must be a unicast address` (unspecified, multicast).
absl::StatusOr<std::string> CanonicalIp(absl::string_view obj, absl::string_view what,
                                        const std::string& text);

// Tunnel peers: each an IPv4/IPv6 unicast address (not unspecified, not
// multicast), each once, at most kMaxTunnelPeers; returned in canonical
// text form (inet_ntop), sorted.
inline constexpr int kMaxTunnelPeers = 1024;
absl::StatusOr<std::vector<std::string>> ParsePeers(
    absl::string_view obj, const google::protobuf::RepeatedPtrField<std::string>& peers);

// Everything about a CreateVportRequest that needs no state; `name` may be
// empty (the agent picks one).
absl::StatusOr<VportSpec> VportSpecFromRequest(const v1::CreateVportRequest& req,
                                               const std::string& obj);
// "vp" + 8 hex digits of the attachment's hash: stable, so a retried ADD
// finds the same name.
std::string PodVportName(const v1::CniAttachment& a);

// DeleteVport/GetVport: the target (name or attachment) and the bridge filter.
template <typename Req>
absl::Status ValidateVportTarget(const Req& req, absl::string_view op) {
  if (!req.bridge().empty()) {
    if (absl::Status s = ValidateName(BridgeObj(req.bridge(), op), req.bridge()); !s.ok()) {
      return s;
    }
  }
  switch (req.target_case()) {
    case Req::kName:
      return ValidateName(VportObj(req.name(), op), req.name());
    case Req::kAttachment:
      return ValidateAttachment(absl::StrCat("vport: ", op, ": attachment"), req.attachment());
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("vport: ", op, ": name or attachment required"));
  }
}

template <typename Req>
absl::Status VportNotFound(const Req& req, absl::string_view op) {
  std::string where =
      req.bridge().empty() ? "" : absl::StrCat(" on bridge ", Quote(req.bridge()));
  if (req.target_case() == Req::kAttachment) {
    return absl::NotFoundError(absl::StrCat("vport: ", op, ": ",
                                            AttachmentText(req.attachment()), " not found",
                                            where));
  }
  return absl::NotFoundError(absl::StrCat(VportObj(req.name(), op), ": not found", where));
}

// A ListAddresses request, checked. Page tokens are
// `<filter fingerprint>.<vid>.<mac>` in hex, naming the last entry returned;
// a token only continues the listing with the filters it was issued for.
struct AddressListing {
  std::string obj;  // `bridge "b": list addresses`
  std::string port;  // empty: any
  std::optional<uint16_t> vid;
  std::optional<Mac> mac;
  v1::AddressType type = v1::ADDRESS_TYPE_UNSPECIFIED;
  size_t page_size = 1000;
  std::optional<std::pair<uint16_t, Mac>> after;  // exclusive
  uint64_t fingerprint = 0;
};
inline constexpr uint32_t kMaxAddressPage = 10000;
absl::StatusOr<AddressListing> ParseAddressListing(const v1::ListAddressesRequest& req);
std::string NextPageToken(const AddressListing& q, uint16_t vid, Mac mac);

// WatchEvents type filters: every value a known, non-UNSPECIFIED type.
absl::StatusOr<std::set<v1::EventType>> ParseWatchTypes(const v1::WatchEventsRequest& req);

}  // namespace veb::server

#endif  // VEB_SERVER_VALIDATE_H_
