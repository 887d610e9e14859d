// The agent's events (WatchEvents): what the agent publishes itself (bridge,
// port, static address and flush events) and the MAC table's event sink,
// which turns learned/moved/expired entries into events.
//
// The sink runs in dataplane workers with the MAC table lock held, so it
// must not call into the Bridge: it resolves a PortRef to the port's name
// through PortNames, a map with its own leaf lock that the agent updates
// before a port can receive and after it is removed.
//
// Thread-safety: PortNames locks its own mutex (a leaf); the functions are
// thread-safe (EventHub is).
#ifndef VEB_SERVER_AGENT_EVENTS_H_
#define VEB_SERVER_AGENT_EVENTS_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "dataplane/mac_table.h"
#include "proto/veb/v1/types.pb.h"
#include "server/event_hub.h"

namespace veb::server {

// PortRef -> port name for one bridge's event sink, plus the bridge's
// address timeout for the events' expires_in_seconds.
class PortNames {
 public:
  void Set(PortRef ref, const std::string& name);
  void Erase(PortRef ref);
  std::string Get(PortRef ref) const;
  void set_timeout_seconds(uint32_t s) { timeout_seconds_.store(s, std::memory_order_relaxed); }
  uint32_t timeout_seconds() const { return timeout_seconds_.load(std::memory_order_relaxed); }

 private:
  static uint64_t Key(PortRef r) { return (uint64_t{r.slot} << 32) | r.gen; }
  mutable absl::Mutex mu_;
  absl::flat_hash_map<uint64_t, std::string> names_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint32_t> timeout_seconds_{kDefaultTimeoutSeconds};
};

// LEARNED/MOVED/EXPIRED for `bridge`; deletions are published by the agent
// (DELETED/FLUSHED), so the sink ignores them.
AddressEventSink MakeAddressEventSink(std::shared_ptr<const PortNames> names, EventHub* hub,
                                      std::string bridge);

struct PortEventInfo {
  std::string bridge;
  std::string port;
  bool span = false;
  v1::VportKind vport_kind = v1::VPORT_KIND_UNSPECIFIED;
  bool link_up = false;
  v1::PortRemovalCause cause = v1::PORT_REMOVAL_CAUSE_UNSPECIFIED;
};
void PublishPortEvent(EventHub& hub, v1::EventType type, const PortEventInfo& info);

// ADDRESSES_FLUSHED: `removed` entries of `port` (empty: the whole bridge).
void PublishFlush(EventHub& hub, const std::string& bridge, const std::string& port,
                  bool all, uint64_t removed);

// ADDRESS_ADDED / ADDRESS_DELETED for one entry.
void PublishAddress(EventHub& hub, v1::EventType type, const v1::Address& address);

}  // namespace veb::server

#endif  // VEB_SERVER_AGENT_EVENTS_H_
