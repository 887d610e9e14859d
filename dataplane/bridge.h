// One veb bridge: member ports, span ports, the MAC table, rules, counters, and
// the forwarding pipeline that implements the forwarding contract S1-S12 of
// docs/design.md.
//
// Configuration lives in an immutable Snapshot (ports with their flags, VLAN
// maps and rules, plus bridge flags). Every control operation validates fully,
// builds a new Snapshot and publishes it with one atomic store; the old one is
// freed after a QSBR grace period. Workers never take a lock the control plane
// holds: they read the snapshot, use the lock-free MAC table, and write their
// own counters (one writer per cell, summed when read).
//
// Accounting (S11), per receiving port:
//   rx_packets == unicast + flooded + sum(in_drops)
// A unicast frame has one egress candidate (the table's port); a flooded frame
// has every other member port as candidate (only those with `discover` for
// unknown unicast). Each candidate copy is either transmitted (tx_packets of the
// egress port) or counted in that port's out_drops under one reason, checked in
// this order: link_down, protected, tagged_out, blocknonip_out, rules_out,
// too_big, then the backend's tx_error/no_buffer. Span copies are counted on the
// span port the same way (tx, or out_drops: link_down when the span port is not
// running, else the backend's reason), outside the member totals.
//
// Address queries (counts, GetAddress, ListAddressPage) use the MAC table's
// counters and ordered index: none copies or sorts the table.
//
// Thread-safety: control methods may be called from any thread (they serialise
// on mu_). Input() may be called concurrently by different WorkerContexts; for
// one receiving port, by one worker at a time. Control methods must not be
// called from inside a worker's read section (e.g. from an event sink).
#ifndef VEB_DATAPLANE_BRIDGE_H_
#define VEB_DATAPLANE_BRIDGE_H_

#include <array>
#include <atomic>
#include <bitset>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "dataplane/bridge_engine.h"
#include "dataplane/clock.h"
#include "dataplane/drop_reason.h"
#include "dataplane/frame.h"
#include "dataplane/mac_table.h"
#include "dataplane/port.h"
#include "dataplane/qsbr.h"
#include "dataplane/rule.h"

namespace veb {

// Per-worker state: a QSBR reader and the TX queues a batch fills. One per
// worker thread; not shared.
class WorkerContext {
 public:
  WorkerContext(Qsbr* qsbr, int worker_id);
  ~WorkerContext();
  WorkerContext(const WorkerContext&) = delete;
  WorkerContext& operator=(const WorkerContext&) = delete;
  int id() const { return id_; }

 private:
  friend class Bridge;
  Qsbr* const qsbr_;
  Qsbr::Reader* const reader_;
  const int id_;
  std::vector<std::vector<TxFrame>> tx_;  // by port slot
  std::vector<uint32_t> touched_;
};

class Bridge final : public BridgeEngine {
 public:
  // Validates name and config. `num_workers` bounds WorkerContext ids
  // (1..kMaxWorkers). `clock` and `qsbr` must outlive the bridge.
  static absl::StatusOr<std::unique_ptr<Bridge>> Create(
      std::string name, const BridgeConfig& config, const Clock* clock,
      Qsbr* qsbr, int num_workers);
  ~Bridge();
  Bridge(const Bridge&) = delete;
  Bridge& operator=(const Bridge&) = delete;

  const std::string& name() const override { return name_; }
  Engine engine() const override { return Engine::kUserspace; }
  Bridge* AsUserspace() override { return this; }

  // ---- control plane -------------------------------------------------------
  absl::Status Update(const BridgeConfig& config) override;
  BridgeConfig config() const override;

  absl::StatusOr<PortRef> AddPort(std::shared_ptr<Port> port,
                                  const PortConfig& config) override;
  absl::StatusOr<PortRef> AddSpanPort(std::shared_ptr<Port> port) override;
  absl::Status UpdatePort(absl::string_view port, const PortConfig& config) override;
  // Members and span ports. Returns, with the number of MAC entries removed,
  // once no worker can still send to the port and all its MAC entries are
  // gone (S12). Waits for a QSBR grace period without holding the bridge's
  // lock.
  absl::StatusOr<size_t> RemovePort(absl::string_view port) override;
  absl::StatusOr<PortInfo> GetPort(absl::string_view port) const override;
  std::vector<PortInfo> ListPorts() const override;
  size_t port_count() const override;

  absl::Status AddRule(absl::string_view port, const Rule& rule) override;
  absl::StatusOr<std::vector<Rule>> ListRules(absl::string_view port) const override;
  absl::Status FlushRules(absl::string_view port) override;

  absl::Status AddStaticAddress(uint16_t vid, Mac mac, absl::string_view port) override;
  absl::Status DeleteAddress(uint16_t vid, Mac mac) override;
  size_t FlushAddresses(bool include_static) override;
  // Every entry, in table order: a copy of the whole table (O(n) under the
  // table lock, learning waits). Prefer ListAddressPage and the counts below.
  std::vector<AddressInfo> ListAddresses() const;
  // Up to `limit` entries matching `query`, in (VID, MAC) order, strictly after
  // `after`, with the number of matching entries; O(page) (see
  // MacTable::ListPage for what filters skip). NOT_FOUND if `query.port` is
  // set and not a member of the bridge.
  absl::StatusOr<AddressInfoPage> ListAddressPage(
      const AddressQuery& query, std::optional<AddressKey> after,
      size_t limit) const override;
  // The entry for (vid, mac), if present and not expired. O(1).
  std::optional<AddressInfo> GetAddress(uint16_t vid, Mac mac) const override;
  size_t address_count() const override { return table_.size(); }
  // Total and static entries. O(1).
  AddressCounts GetAddressCounts() const override;
  // Entries of one port (members and span ports). O(1). NOT_FOUND for a port
  // not in the bridge.
  absl::StatusOr<size_t> PortAddressCount(absl::string_view port) const override;
  // Removes expired dynamic entries; the agent calls it periodically.
  size_t ExpireAddresses() override;
  // Address events carry PortRefs; PortInfo::ref (GetPort, ListPorts) maps
  // them to names.
  void SetAddressEventSink(AddressEventSink sink) override {
    table_.SetEventSink(std::move(sink));
  }

  absl::StatusOr<PortCounters> GetPortCounters(absl::string_view port) const override;
  BridgeCounters GetCounters() const override;

  // ---- dataplane ------------------------------------------------------------
  // Processes a batch received on port `rx`. Frames must stay valid until the
  // call returns; every transmit happens before it returns. A stale `rx` (port
  // removed) is ignored.
  void Input(WorkerContext& ctx, PortRef rx, absl::Span<const RxFrame> frames);

 private:
  struct PortState;
  struct Snapshot;
  struct CounterCells;
  struct WorkerCounters;

  Bridge(std::string name, const BridgeConfig& config, const Clock* clock,
         Qsbr* qsbr, int num_workers);

  // ---- control helpers (mu_ held) ----
  const PortState* FindLocked(absl::string_view port) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  absl::StatusOr<PortRef> AddLocked(std::shared_ptr<Port> port,
                                    const PortConfig& config, bool span)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Publishes `next` and retires the current snapshot.
  void PublishLocked(std::unique_ptr<Snapshot> next)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::unique_ptr<Snapshot> CopyLocked() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Replaces one port's state in a copy of the snapshot and publishes it.
  void ReplacePortLocked(std::shared_ptr<const PortState> state)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  PortInfo InfoOf(const PortState& p) const;

  // ---- pipeline helpers ----
  CounterCells& Cells(WorkerCounters& wc, const PortState& p) const;
  void ProcessFrame(WorkerContext& ctx, WorkerCounters& wc,
                    const Snapshot& snap, const PortState& rp,
                    CounterCells& rc, const RxFrame& frame, int64_t now);
  void Egress(WorkerContext& ctx, WorkerCounters& wc, const PortState& rp,
              const PortState& tp, const ParsedFrame& pf, const RxFrame& frame);
  // Hands every copy queued in `ctx` by this batch to its port's Transmit.
  void TransmitPending(WorkerContext& ctx, WorkerCounters& wc,
                       const Snapshot& snap);

  const std::string name_;
  const Clock* const clock_;
  Qsbr* const qsbr_;
  MacTable table_;
  std::atomic<const Snapshot*> snapshot_;
  std::vector<std::unique_ptr<WorkerCounters>> workers_;  // fixed size
  mutable absl::Mutex mu_;
  uint32_t next_gen_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<uint32_t> free_slots_ ABSL_GUARDED_BY(mu_);
  // Port name -> slot, so control lookups by name do not walk every slot
  // (the agent's state export asks once per port).
  absl::flat_hash_map<std::string, uint32_t> slot_by_name_ ABSL_GUARDED_BY(mu_);
};

}  // namespace veb

#endif  // VEB_DATAPLANE_BRIDGE_H_
