// The agent's state: every bridge it owns (veb::Bridge), their ports and the
// interfaces they hold, the vports it made, and the event hub. Each veb.v1
// RPC has a method here taking the request and filling the response;
// SwitchService is only the gRPC shim around it. Stateless request checks
// are in server/validate.h, proto <-> dataplane mapping in server/convert.h,
// events in server/agent_events.h, vport records in server/vport_registry.h.
// The methods are spread over agent.cc (bridges, rules, counters, events),
// agent_ports.cc, agent_addresses.cc, agent_vports.cc, agent_state.cc
// (export and saving), agent_pending.cc (restore, pending objects) and
// agent_links.cc (the link monitor's hooks, the sweep).
//
// Invariants: an interface is a port (member or span) of at most one bridge
// (interface_owner_); every mutation is validated fully before anything
// changes, so a failed request changes nothing (multi-step ones undo what
// they did).
//
// Durable or refused (docs/design.md §6): a mutation is saved before it is
// applied. The agent exports its configuration, edits the export the way
// the mutation will change it and hands it to `persist`; only when that
// succeeds does the mutation change the dataplane (what can fail there is
// checked or prepared before, e.g. the interface is already open). If the
// save fails the RPC fails with UNAVAILABLE naming the reason and nothing
// changed, so the dataplane and the state file never disagree.
//
// Locks (short, like veb(4): nothing sleeps under a lock others wait on):
// - config_mu_ serialises mutations. It is held across what takes time:
//   opening interfaces and making vports (syscalls, netlink), detaching a
//   port from its worker, the QSBR grace period of a port removal, and the
//   state file's fsync. Readers never take it.
// - mu_ guards the maps below. Writers take it (exclusive) only to change
//   them, never across a syscall, netlink call, grace period or fsync;
//   readers (Get/List RPCs, metrics, the link monitor) take it shared.
// Because only holders of config_mu_ change the maps, a writer may drop mu_
// between reading and changing them; a BridgeEntry and its Bridge stay put
// until the writer holding config_mu_ erases them.
// Lock order: config_mu_ -> mu_ -> Bridge internals -> MAC table ->
// EventHub::mu_ -> PortNames (a leaf, taken by the event sink).
//
// Thread-safety: all methods may be called from any thread. Nothing here is
// called from a dataplane worker except the event sink.
#ifndef VEB_SERVER_AGENT_H_
#define VEB_SERVER_AGENT_H_

#include <atomic>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "dataplane/bridge.h"
#include "dataplane/clock.h"
#include "dataplane/qsbr.h"
#include "proto/veb/v1/switch.pb.h"
#include "server/agent_config.pb.h"
#include "server/agent_events.h"
#include "server/event_hub.h"
#include "server/port_opener.h"
#include "server/vport_registry.h"

namespace veb::server {

inline constexpr size_t kMaxBridges = 256;

struct AgentOptions {
  PortOpener* opener = nullptr;  // required, outlives the agent
  const Clock* clock = MonotonicClock::Get();
  int num_workers = 1;  // WorkerContext ids 0..num_workers-1
  size_t event_queue_size = EventHub::kDefaultQueueSize;
  int max_event_streams = EventHub::kDefaultMaxStreams;
  // Saves the configuration a mutation is about to produce, with config_mu_
  // held (saves happen in order) and mu_ not held; must not call back into
  // the agent. An error refuses the mutation.
  std::function<absl::Status(const AgentConfig&)> persist;
  // Creates a bridge with the kernel engine (vebd: ebpf::KernelBridge); when
  // unset, such bridges are refused, saying `kernel_engine_unavailable`.
  std::function<absl::StatusOr<std::unique_ptr<BridgeEngine>>(const std::string& name,
                                                              const BridgeConfig& config)>
      make_kernel_bridge;
  std::string kernel_engine_unavailable = "not built in";
};

// Read-only view of one bridge for metrics, taken under the agent's lock.
struct BridgeView {
  std::string name;
  BridgeConfig config;
  size_t addresses = 0;
  size_t member_ports = 0;
  BridgeCounters counters;
  struct PortView {
    std::string name;
    bool span = false;
    PortCounters counters;
    BackendStats backend;
  };
  std::vector<PortView> ports;  // sorted by name
};

class Agent {
 public:
  explicit Agent(AgentOptions options);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // ---- veb.v1.Switch ----------------------------------------------------------
  absl::Status CreateBridge(const v1::CreateBridgeRequest& req, v1::CreateBridgeResponse* resp);
  absl::Status DeleteBridge(const v1::DeleteBridgeRequest& req, v1::DeleteBridgeResponse* resp);
  absl::Status GetBridge(const v1::GetBridgeRequest& req, v1::GetBridgeResponse* resp);
  absl::Status ListBridges(const v1::ListBridgesRequest& req, v1::ListBridgesResponse* resp);
  absl::Status UpdateBridge(const v1::UpdateBridgeRequest& req, v1::UpdateBridgeResponse* resp);

  absl::Status AddPort(const v1::AddPortRequest& req, v1::AddPortResponse* resp);
  absl::Status DeletePort(const v1::DeletePortRequest& req, v1::DeletePortResponse* resp);
  absl::Status GetPort(const v1::GetPortRequest& req, v1::GetPortResponse* resp);
  absl::Status ListPorts(const v1::ListPortsRequest& req, v1::ListPortsResponse* resp);
  absl::Status UpdatePort(const v1::UpdatePortRequest& req, v1::UpdatePortResponse* resp);

  absl::Status AddSpanPort(const v1::AddSpanPortRequest& req, v1::AddSpanPortResponse* resp);
  absl::Status DeleteSpanPort(const v1::DeleteSpanPortRequest& req, v1::DeleteSpanPortResponse* resp);
  absl::Status GetSpanPort(const v1::GetSpanPortRequest& req, v1::GetSpanPortResponse* resp);
  absl::Status ListSpanPorts(const v1::ListSpanPortsRequest& req, v1::ListSpanPortsResponse* resp);

  absl::Status ListAddresses(const v1::ListAddressesRequest& req, v1::ListAddressesResponse* resp);
  absl::Status AddStaticAddress(const v1::AddStaticAddressRequest& req, v1::AddStaticAddressResponse* resp);
  absl::Status DeleteAddress(const v1::DeleteAddressRequest& req, v1::DeleteAddressResponse* resp);
  absl::Status FlushAddresses(const v1::FlushAddressesRequest& req, v1::FlushAddressesResponse* resp);

  absl::Status AddRule(const v1::AddRuleRequest& req, v1::AddRuleResponse* resp);
  absl::Status ListRules(const v1::ListRulesRequest& req, v1::ListRulesResponse* resp);
  absl::Status FlushRules(const v1::FlushRulesRequest& req, v1::FlushRulesResponse* resp);

  absl::Status CreateVport(const v1::CreateVportRequest& req, v1::CreateVportResponse* resp);
  absl::Status DeleteVport(const v1::DeleteVportRequest& req, v1::DeleteVportResponse* resp);
  absl::Status GetVport(const v1::GetVportRequest& req, v1::GetVportResponse* resp);
  absl::Status SetVportPeers(const v1::SetVportPeersRequest& req,
                             v1::SetVportPeersResponse* resp);
  // The peer source's change (--tunnel_peers, PeerRefresher): tunnel `name`
  // gets the peers of `wanted` (the source's addresses without the node's
  // own, canonical, sorted) it lacks, and loses the peers the source added
  // before (TunnelVport.source_peers) that `wanted` no longer has; peers
  // added by hand are kept. Computed and applied under one lock, like
  // SetVportPeers, and persisted with the source's share. `added`/`removed`
  // receive the change. Errors as SetVportPeers'.
  absl::Status SyncSourcePeers(const std::string& name, const std::vector<std::string>& wanted,
                               v1::Vport* out, std::vector<std::string>* added,
                               std::vector<std::string>* removed);
  absl::Status ListVports(const v1::ListVportsRequest& req, v1::ListVportsResponse* resp);

  absl::Status GetPortCounters(const v1::GetPortCountersRequest& req, v1::GetPortCountersResponse* resp);
  absl::Status ListCounters(const v1::ListCountersRequest& req, v1::ListCountersResponse* resp);

  // Validates the request and subscribes (WATCH_STARTED is queued first).
  absl::StatusOr<std::unique_ptr<EventHub::Subscription>> Watch(
      const v1::WatchEventsRequest& req);

  // ---- link monitor hooks (for the libnl monitor of dataplane/linux) ----------
  // S1: the link state of the port holding `ifname`, if any, and its MTU
  // (0: unknown, kept); publishes PORT_LINK_UP/DOWN when the state changed.
  void OnLinkChange(const std::string& ifname, bool up, uint32_t mtu = 0);
  // S12: removes the port holding `ifname` (cause INTERFACE_GONE), if any,
  // and only if it is still the interface with `ifindex` (0: any): reports
  // arrive late, and a new port may carry the name by then (a pod deleted
  // and added again).
  void OnInterfaceGone(const std::string& ifname, uint32_t ifindex = 0);

  // ---- housekeeping -----------------------------------------------------------
  // Expires dynamic addresses of every bridge, removes pod vports whose
  // network namespace is gone, attaches pending objects whose interface is
  // there, and reclaims retired snapshots; vebd calls it every second.
  void Sweep();
  // Ends every WatchEvents stream.
  void Shutdown() { hub_.Shutdown(); }

  // The configuration as replayable requests (bridges, ports, span ports,
  // vports, rules, static addresses).
  AgentConfig ExportConfig() const;
  // Replays `config` (state file or startup file). Bridges and vports that
  // already exist are kept. Vports are reattached to their existing
  // interfaces (pods keep theirs across a restart); a host vport whose TAP
  // is missing is created. A port, span port or vport that cannot be
  // attached (its interface or pod namespace missing, its TAP still held)
  // is never forgotten: it becomes pending, with its rules and static
  // addresses, stays in the state file, shows in the API with the reason,
  // and is attached when its interface is there (Sweep, the link monitor)
  // or removed by an explicit delete. `problems` describes what failed
  // (pending objects included, with "pending: "). No persist calls are made
  // while replaying; one is made at the end.
  //
  // A bridge that cannot be made for a reason other than its own settings
  // (the kernel engine without BPF support or capabilities) stops the
  // restore at once with that error, before anything is saved: the state
  // file keeps the bridge, and vebd exits saying why rather than dropping it.
  absl::Status Apply(const AgentConfig& config, std::vector<std::string>* problems);
  // Attaches the pending object named `name`, if any, if it can be now.
  void AttachPending(const std::string& name);

  // Metrics: a consistent read of every bridge, sorted by name.
  std::vector<BridgeView> Views() const;

  // Saves that failed so far, and whether the last one did (health reports
  // NOT_SERVING while saves fail).
  uint64_t save_failures() const { return save_failures_.load(); }
  bool saves_failing() const { return saves_failing_.load(); }

  EventHub& hub() { return hub_; }
  Qsbr& qsbr() { return qsbr_; }

  // Tests: the bridge object and a port's PortRef (to inject frames with
  // Bridge::Input). The pointer is valid until the bridge is deleted.
  Bridge* BridgeForTesting(const std::string& name);
  absl::StatusOr<PortRef> PortRefForTesting(const std::string& bridge,
                                            const std::string& port);

 private:
  struct PortRecord {
    OpenedPort opened;
    PortRef ref;
    bool span = false;
  };
  // A port, span port or vport not attached at restore: its request (one of
  // ports/span_ports/vports) and its rules and static addresses, as they
  // would be exported.
  struct PendingObject {
    AgentConfig requests;
    std::string reason;
    const std::string& bridge() const;
    bool span() const { return requests.span_ports_size() > 0; }
    bool vport() const { return requests.vports_size() > 0; }
  };
  struct BridgeEntry {
    std::unique_ptr<BridgeEngine> bridge;
    std::map<std::string, PortRecord> ports;  // members and span ports
    std::shared_ptr<PortNames> names;
  };

  BridgeEntry* FindLocked(const std::string& name) ABSL_SHARED_LOCKS_REQUIRED(mu_);
  const BridgeEntry* FindLocked(const std::string& name) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // NOT_FOUND `bridge "b": <op>: not found`.
  absl::StatusOr<BridgeEntry*> BridgeOr(const std::string& name, absl::string_view op)
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // The member port (or, with `span`, the span port) `name` of `e`; else
  // NOT_FOUND `<obj>: not a member of bridge "b"` / `not a span port ...`.
  static absl::StatusOr<PortRecord*> PortOr(BridgeEntry& e, const std::string& name,
                                            bool span, absl::string_view obj);
  // ALREADY_EXISTS / FAILED_PRECONDITION when `ifname` is already a port
  // somewhere (or pending); `span` picks the span port wording.
  absl::Status CheckNotOwnedLocked(const std::string& bridge, const std::string& ifname,
                                   absl::string_view obj, bool span) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);

  void FillBridgeLocked(const BridgeEntry& e, v1::Bridge* out) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void FillPortLocked(const BridgeEntry& e, const PortRecord& rec, const PortInfo& info,
                      v1::Port* out) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // GetPort + FillPortLocked; false if the bridge no longer has the port.
  bool FillPortByNameLocked(const BridgeEntry& e, const std::string& name, v1::Port* out) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void FillSpanPortLocked(const BridgeEntry& e, const PortRecord& rec,
                          v1::SpanPort* out) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void FillVportLocked(const std::string& name, const VportRecord& v, v1::Vport* out) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  v1::Address AddressToProto(const BridgeEntry& e, const AddressInfo& a) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  PortEventInfo PortEventLocked(const std::string& bridge, const std::string& port, bool span,
                                bool link_up, v1::PortRemovalCause cause) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void PublishBridgeEvent(v1::EventType type, const std::string& bridge)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Opens `ifname` (no agent lock held while the backend works) and attaches
  // it; the bridge was checked by the caller.
  absl::StatusOr<std::string> OpenAndAdd(const std::string& bridge, const std::string& ifname,
                                         v1::Backend backend, bool span,
                                         const PortConfig& config, const std::string& obj)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(config_mu_) ABSL_LOCKS_EXCLUDED(mu_);
  // Adds the opened port to the bridge, records it and starts receiving.
  // On failure everything is undone and `opened` is dropped (the backend
  // releases the interface); a failed worker attach is such a failure.
  absl::Status Attach(const std::string& bridge, OpenedPort opened, bool span,
                      const PortConfig& config)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(config_mu_) ABSL_LOCKS_EXCLUDED(mu_);
  // DeletePort / DeleteSpanPort: a member (or span) port, or a pending one;
  // a vport's port is refused (DeleteVport removes it).
  absl::Status DeleteMemberOrSpan(const std::string& bridge, const std::string& name, bool span)
      ABSL_LOCKS_EXCLUDED(config_mu_, mu_);
  // Detaches, removes (S12, grace period without mu_), forgets the port and
  // publishes PORT_REMOVED and ADDRESSES_FLUSHED. The interface is released
  // after mu_ is dropped.
  void RemovePort(const std::string& bridge, const std::string& port,
                  v1::PortRemovalCause cause)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(config_mu_) ABSL_LOCKS_EXCLUDED(mu_);
  // Validated CreateVport: the bridge is checked, the vport made and added.
  // `restore`: reattach to existing interfaces first (Apply).
  absl::Status CreateVportImpl(const v1::CreateVportRequest& req, bool restore,
                               v1::CreateVportResponse* resp)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(config_mu_) ABSL_LOCKS_EXCLUDED(mu_);
  // Removes the vport's port and destroys its interfaces. The kernel's part
  // of the destruction (tens of ms of RCU waits) runs on another thread
  // meanwhile; the returned future (std::async: its destructor waits) must be
  // kept until the caller is done, so the interfaces are gone before the RPC
  // returns.
  std::future<void> RemoveVport(const std::string& name, v1::PortRemovalCause cause)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(config_mu_) ABSL_LOCKS_EXCLUDED(mu_);

  AgentConfig ExportConfigLocked() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // The pending object `name` on `bridge` (any bridge if empty), or null.
  const PendingObject* FindPendingLocked(const std::string& bridge, const std::string& name) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void FillPendingPortLocked(const PendingObject& p, v1::Port* out) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void FillPendingSpanPortLocked(const PendingObject& p, v1::SpanPort* out) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void FillPendingVportLocked(const PendingObject& p, v1::Vport* out) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // The tunnel vport `name` (on `bridge` when not empty) for a peer change.
  absl::StatusOr<VportRecord> TunnelForPeers(const std::string& obj, const std::string& bridge,
                                             const std::string& name)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(config_mu_) ABSL_LOCKS_EXCLUDED(mu_);
  // Makes `rec`'s tunnel have `next` peers, `next_source` of them the
  // source's: saved first, then the device's entries; a failure changes
  // nothing. Fills `out`.
  absl::Status ChangePeers(const std::string& obj, const VportRecord& rec,
                           const std::vector<std::string>& next,
                           const std::vector<std::string>& next_source, v1::Vport* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(config_mu_) ABSL_LOCKS_EXCLUDED(mu_);
  // A pending vport by the target of a DeleteVport/GetVport request.
  template <typename Req>
  const PendingObject* FindPendingVportLocked(const std::string& bridge, const Req& req) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Persists the removal of pending object `name` and forgets it.
  absl::Status DeletePending(const std::string& name, absl::string_view obj)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(config_mu_) ABSL_LOCKS_EXCLUDED(mu_);
  // Exports under mu_ (shared), applies `edit` (the change about to be made;
  // null: none) and hands the result to `persist` without mu_. UNAVAILABLE
  // `<obj>: not saved (<reason>); nothing changed` when it fails.
  absl::Status Persist(absl::string_view obj, const std::function<void(AgentConfig*)>& edit)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(config_mu_) ABSL_LOCKS_EXCLUDED(mu_);
  // After a change that could not be undone: saves what is in memory, logs
  // a failure.
  void PersistCurrent() ABSL_EXCLUSIVE_LOCKS_REQUIRED(config_mu_) ABSL_LOCKS_EXCLUDED(mu_);

  const AgentOptions options_;
  Qsbr qsbr_;
  EventHub hub_;
  mutable absl::Mutex config_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  mutable absl::Mutex mu_;
  bool replaying_ ABSL_GUARDED_BY(config_mu_) = false;
  std::atomic<uint64_t> save_failures_{0};
  // Sweep: the most addresses seen since memory was last given back.
  static constexpr size_t kTrimAboveAddresses = 10000;
  std::atomic<size_t> address_peak_{0};
  std::atomic<bool> saves_failing_{false};
  std::map<std::string, BridgeEntry> bridges_ ABSL_GUARDED_BY(mu_);
  // Interface name -> bridge holding it (member or span port).
  absl::flat_hash_map<std::string, std::string> interface_owner_ ABSL_GUARDED_BY(mu_);
  VportRegistry vports_ ABSL_GUARDED_BY(mu_);
  // By interface (port or vport) name.
  std::map<std::string, PendingObject> pending_ ABSL_GUARDED_BY(mu_);
};

}  // namespace veb::server

#endif  // VEB_SERVER_AGENT_H_
