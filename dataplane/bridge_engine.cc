// The engine seam's shared values: counter totals and the validation both
// engines apply to settings.
#include "dataplane/bridge_engine.h"

#include "absl/strings/str_cat.h"

namespace veb {
namespace {
std::string Quote(absl::string_view s) { return absl::StrCat("\"", s, "\""); }
}  // namespace

const char* EngineName(Engine engine) {
  switch (engine) {
    case Engine::kUserspace:
      return "userspace";
    case Engine::kKernel:
      return "kernel";
  }
  return "unknown";
}

uint64_t PortCounters::total_in_drops() const {
  uint64_t n = 0;
  for (uint64_t v : in_drops) n += v;
  return n;
}

uint64_t PortCounters::total_out_drops() const {
  uint64_t n = 0;
  for (uint64_t v : out_drops) n += v;
  return n;
}

// ---- validation -------------------------------------------------------------

absl::Status ValidateBridgeName(absl::string_view name) {
  // Linux interface name rules, so a bridge name can also name a netdev.
  if (name.empty() || name.size() > 15) {
    return absl::InvalidArgumentError(
        absl::StrCat("bridge ", Quote(name), ": name must be 1..15 characters"));
  }
  if (name == "." || name == "..") {
    return absl::InvalidArgumentError(
        absl::StrCat("bridge ", Quote(name), ": name is reserved"));
  }
  for (char c : name) {
    if (c == '/' || c == ':' || c <= ' ' || c > '~') {
      return absl::InvalidArgumentError(absl::StrCat(
          "bridge ", Quote(name),
          ": name may not contain '/', ':', white space or control characters"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateBridgeConfig(const BridgeConfig& c) {
  if (c.max_addresses < 1 || c.max_addresses > kMaxAddressesLimit) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_addresses ", c.max_addresses, " out of range 1..1000000"));
  }
  if (c.timeout_seconds < kMinTimeoutSeconds ||
      c.timeout_seconds > kMaxTimeoutSeconds) {
    return absl::InvalidArgumentError(absl::StrCat(
        "address_timeout ", c.timeout_seconds, " out of range 8..3600 seconds"));
  }
  if (c.default_pvid != kPvidNone &&
      (c.default_pvid < kVlanMin || c.default_pvid > kVlanMax)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "default pvid ", c.default_pvid, " out of range 1..4094 (or none)"));
  }
  return absl::OkStatus();
}

absl::Status ValidatePortConfig(const PortConfig& c) {
  if (c.locked && (c.learning || c.discover)) {
    return absl::FailedPreconditionError(
        c.learning ? "locked excludes learning" : "locked excludes discover");
  }
  if (c.protected_domains & 1u) {
    return absl::InvalidArgumentError("protected domain 0 out of range 1..31");
  }
  if (c.pvid != kPvidNone && (c.pvid < kVlanMin || c.pvid > kVlanMax)) {
    return absl::InvalidArgumentError(
        absl::StrCat("pvid ", c.pvid, " out of range 1..4094 (or none)"));
  }
  if (c.max_addresses > kMaxAddressesLimit) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_addresses ", c.max_addresses,
        " out of range 1..1000000 (0 = no port limit)"));
  }
  for (uint16_t vid : c.tagged) {
    if (vid < kVlanMin || vid > kVlanMax) {
      return absl::InvalidArgumentError(
          absl::StrCat("tagged vid ", vid, " out of range 1..4094"));
    }
    if (vid == c.pvid) {
      return absl::FailedPreconditionError(
          absl::StrCat("pvid ", vid, " is also a tagged vid"));
    }
  }
  return absl::OkStatus();
}

}  // namespace veb
