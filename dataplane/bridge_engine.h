// The seam between the agent and a forwarding engine (docs/design.md,
// "Engines"): everything the control plane does to one bridge -- ports and
// their settings, rules, static and learned addresses, flush, expiry,
// counters, address events -- as one interface with two implementations:
// veb::Bridge (the userspace pipeline run by workers, dataplane/bridge.h) and
// veb::ebpf::KernelBridge (the same contract as a BPF program at TC ingress,
// dataplane/ebpf/). The agent never asks which engine it holds except to
// refuse what one cannot do. The value types both engines report, and the
// validation of settings (the same bounds for both), live here too.
//
// Thread-safety: every method may be called from any thread; implementations
// serialise control operations internally. An address event sink is called
// from the engine's own thread (a worker, or the kernel engine's event
// reader) and must not call back into the engine.
#ifndef VEB_DATAPLANE_BRIDGE_ENGINE_H_
#define VEB_DATAPLANE_BRIDGE_ENGINE_H_

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "dataplane/drop_reason.h"
#include "dataplane/mac_table.h"
#include "dataplane/port.h"
#include "dataplane/rule.h"

namespace veb {

class Bridge;

enum class Engine : uint8_t { kUserspace, kKernel };
const char* EngineName(Engine engine);  // "userspace", "kernel"

// Ports per bridge, members and span ports together (the Linux bridge stops at
// 1,024).
inline constexpr uint32_t kMaxPortsPerBridge = 4096;
inline constexpr uint16_t kPvidNone = 0;
inline constexpr uint16_t kVlanMin = 1;
inline constexpr uint16_t kVlanMax = 4094;
inline constexpr int kMaxWorkers = 256;

struct BridgeConfig {
  bool up = true;
  uint32_t max_addresses = kDefaultMaxAddresses;      // 1..1,000,000
  uint32_t timeout_seconds = kDefaultTimeoutSeconds;  // 8..3600
  uint16_t default_pvid = 1;  // 1..4094 or kPvidNone; for the caller's defaults
  bool allow_svlan = false;     // link0: accept 802.1ad S-tagged frames (S3)
  bool allow_reserved = false;  // link0: forward 01:80:c2:00:00:0x (S9)
};

struct PortConfig {
  bool learning = true;
  bool discover = true;
  bool blocknonip = false;
  bool locked = false;
  // Protected domains as a bit set: bit d set = member of domain d (1..31).
  uint32_t protected_domains = 0;
  uint16_t pvid = 1;             // 1..4094 or kPvidNone
  std::vector<uint16_t> tagged;  // 1..4094, not the pvid
  // The port's own address limit, like bridge(4)'s ifmaxaddr (S7): 0 = none
  // (only the bridge's max_addresses applies), else 1..1,000,000. Learning an
  // address new to the port (a new entry, or a dynamic entry moving in) while
  // the port has this many entries, static and dynamic, is refused and counted
  // as `port_full`; the frame itself is still forwarded (like `table_full`: an
  // unlearned source only means replies to it flood). Static entries are not
  // limited by it but count. Lowering it evicts nothing.
  uint32_t max_addresses = 0;
};

absl::Status ValidateBridgeName(absl::string_view name);
absl::Status ValidateBridgeConfig(const BridgeConfig& config);
// Messages name the field; the caller prefixes the object. Out-of-range values
// are INVALID_ARGUMENT; valid values that conflict (locked with learning or
// discover, the PVID also tagged) are FAILED_PRECONDITION.
absl::Status ValidatePortConfig(const PortConfig& config);

struct PortCounters {
  uint64_t rx_packets = 0;
  uint64_t rx_bytes = 0;
  uint64_t tx_packets = 0;
  uint64_t tx_bytes = 0;
  uint64_t unicast = 0;  // received frames forwarded to one port
  uint64_t flooded = 0;  // received frames flooded
  std::array<uint64_t, kNumDropReasons> in_drops{};
  std::array<uint64_t, kNumDropReasons> out_drops{};
  uint64_t in(DropReason r) const { return in_drops[static_cast<size_t>(r)]; }
  uint64_t out(DropReason r) const { return out_drops[static_cast<size_t>(r)]; }
  uint64_t total_in_drops() const;
  uint64_t total_out_drops() const;
};

struct BridgeCounters {
  uint64_t learned = 0;
  uint64_t moved = 0;
  uint64_t expired = 0;
  std::array<uint64_t, kNumLearnRefusals> refused{};
  uint64_t flooded = 0;  // includes ports since removed
};

struct PortInfo {
  std::string name;
  PortRef ref;
  bool span = false;
  bool running = false;
  uint32_t mtu = 0;
  PortConfig config;
  size_t rules = 0;
  size_t addresses = 0;         // MAC table entries on the port (O(1))
  size_t static_addresses = 0;  // of which static
};

struct AddressCounts {
  size_t total = 0;
  size_t statics = 0;
  size_t dynamic() const { return total - statics; }
};

struct AddressInfo {
  uint16_t vid = 0;
  Mac mac = 0;
  std::string port;
  bool is_static = false;
  uint32_t age_seconds = 0;  // dynamic entries: seconds since last seen
};

// What ListAddressPage selects; unset fields match everything.
struct AddressQuery {
  std::string port;  // empty: every port
  std::optional<uint16_t> vid;
  std::optional<Mac> mac;
  std::optional<bool> is_static;  // true: static only; false: dynamic only
};

struct AddressInfoPage {
  std::vector<AddressInfo> addresses;  // in (VID, MAC) order
  // Set when more matching entries follow: pass as `after` for the next page.
  std::optional<AddressKey> next_after;
  // Entries matching the query (the page's cost notes in MacTable apply).
  size_t total_matching = 0;
};

// One bridge, whichever engine forwards its frames. Error codes and messages
// are the same for both engines (the userspace engine's are the reference):
// NOT_FOUND for an unknown port, ALREADY_EXISTS for a duplicate, etc.
class BridgeEngine {
 public:
  virtual ~BridgeEngine() = default;

  virtual const std::string& name() const = 0;
  virtual Engine engine() const = 0;
  // The userspace pipeline behind this bridge (for workers to feed), or null
  // for an engine with no userspace pipeline.
  virtual Bridge* AsUserspace() { return nullptr; }

  virtual absl::Status Update(const BridgeConfig& config) = 0;
  virtual BridgeConfig config() const = 0;

  // `port` is what the engine forwards through: any veb::Port for the
  // userspace engine; the kernel engine takes only its netdev ports
  // (FAILED_PRECONDITION otherwise).
  virtual absl::StatusOr<PortRef> AddPort(std::shared_ptr<Port> port,
                                          const PortConfig& config) = 0;
  virtual absl::StatusOr<PortRef> AddSpanPort(std::shared_ptr<Port> port) = 0;
  virtual absl::Status UpdatePort(absl::string_view port, const PortConfig& config) = 0;
  // Members and span ports. Returns, with the number of MAC entries removed,
  // once nothing can still send to the port and all its MAC entries are gone
  // (S12).
  virtual absl::StatusOr<size_t> RemovePort(absl::string_view port) = 0;
  virtual absl::StatusOr<PortInfo> GetPort(absl::string_view port) const = 0;
  virtual std::vector<PortInfo> ListPorts() const = 0;
  virtual size_t port_count() const = 0;

  virtual absl::Status AddRule(absl::string_view port, const Rule& rule) = 0;
  virtual absl::StatusOr<std::vector<Rule>> ListRules(absl::string_view port) const = 0;
  virtual absl::Status FlushRules(absl::string_view port) = 0;

  virtual absl::Status AddStaticAddress(uint16_t vid, Mac mac, absl::string_view port) = 0;
  virtual absl::Status DeleteAddress(uint16_t vid, Mac mac) = 0;
  virtual size_t FlushAddresses(bool include_static) = 0;
  // Up to `limit` entries matching `query`, in (VID, MAC) order, strictly
  // after `after`, with the number of matching entries. NOT_FOUND if
  // `query.port` is set and not in the bridge.
  virtual absl::StatusOr<AddressInfoPage> ListAddressPage(
      const AddressQuery& query, std::optional<AddressKey> after, size_t limit) const = 0;
  // The entry for (vid, mac), if present and not expired.
  virtual std::optional<AddressInfo> GetAddress(uint16_t vid, Mac mac) const = 0;
  virtual size_t address_count() const = 0;
  virtual AddressCounts GetAddressCounts() const = 0;
  // Entries of one port. NOT_FOUND for a port not in the bridge.
  virtual absl::StatusOr<size_t> PortAddressCount(absl::string_view port) const = 0;
  // Removes expired dynamic entries; the agent calls it periodically.
  virtual size_t ExpireAddresses() = 0;
  // Learned, moved, expired and deleted entries; events carry PortRefs, which
  // PortInfo::ref maps to names.
  virtual void SetAddressEventSink(AddressEventSink sink) = 0;

  virtual absl::StatusOr<PortCounters> GetPortCounters(absl::string_view port) const = 0;
  virtual BridgeCounters GetCounters() const = 0;

  // Lifecycle beyond the process. An engine whose forwarding outlives the
  // agent (the kernel engine keeps its programs and maps pinned, so frames
  // flow while vebd restarts) adopts what a previous agent left when it is
  // created; FinishRestore() is called once the agent has re-added the ports
  // its state records, drops whatever else the previous agent left and
  // returns the names of the ports it dropped. Destroy() is called when the
  // bridge is deleted (not when the agent exits) and removes everything the
  // engine put in the kernel.
  virtual std::vector<std::string> FinishRestore() { return {}; }
  virtual absl::Status Destroy() { return absl::OkStatus(); }
};

}  // namespace veb

#endif  // VEB_DATAPLANE_BRIDGE_ENGINE_H_
