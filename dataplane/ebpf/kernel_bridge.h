// The kernel engine (docs/design.md section 13): one bridge whose frames are
// switched by a BPF program at TC ingress of each port (veb.bpf.c), with this
// class as its control plane. Same contract (S1-S12), same errors and counters
// as the userspace engine (veb::Bridge), which is the reference.
//
// Objects and lifetime: the program and its maps are pinned under
// <pin_root>/<bridge>/ and attached to each port's clsact ingress with
// bpf_tc_attach. They outlive this object: the destructor only stops the event
// thread and closes descriptors, so forwarding goes on while vebd is down or
// restarting. Create() adopts the pins of a bridge of the same name (no reload,
// no detach: no forwarding gap); the agent then re-adds its ports (AddPort of
// a pinned port updates it in place) and calls FinishRestore(), which removes
// every pinned port it did not re-add. Destroy() removes everything: filters,
// qdiscs, pins and the directory.
//
// Table cap (S7): the FDB map holds at least max_addresses entries, and the
// program reserves an entry's place with a fetch-add on a shared count before
// inserting, so a full table refuses (table_full) and nothing is evicted;
// raising max_addresses beyond the map's size builds a larger map, copies the
// entries, loads a program over it and swaps every port's filter
// (BPF_TC_F_REPLACE). Lowering it keeps the map (the count enforces the cap).
//
// Thread-safety: every method may be called from any thread (control
// operations serialise on mu_). The address event sink is called from the
// event thread, or from the thread of a control operation that deletes or
// expires entries, and must not call back into the bridge.
#ifndef VEB_DATAPLANE_EBPF_KERNEL_BRIDGE_H_
#define VEB_DATAPLANE_EBPF_KERNEL_BRIDGE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "dataplane/bridge_engine.h"
#include "dataplane/clock.h"
#include "dataplane/port.h"

struct ring_buffer;
struct veb_fdb_key;
struct veb_fdb_entry;

namespace veb {
struct LinkFacts;  // dataplane/linux/netlink.h
}  // namespace veb

namespace veb::ebpf {

// A Linux network interface as a kernel bridge port. Frames never pass
// through userspace, so Transmit is never used (it fails every frame).
// Running state (S1) and MTU are set by the agent's link monitor; a port in a
// kernel bridge passes each change on to the program's port table.
//
// Thread-safety: the setters and readers may be called from any thread.
class NetdevPort final : public Port {
 public:
  // Looks the interface up by name (netlink, with the takeover checks every
  // backend makes: Ethernet, not enslaved; NOT_FOUND when it does not exist)
  // and makes the port from what it found (FromLink).
  static absl::StatusOr<std::shared_ptr<NetdevPort>> Open(std::string name);
  // ifindex, MTU, running (up and carrier), and whether known unicast may
  // leave with bpf_redirect_peer: only for a veth whose peer is in another
  // namespace (the kernel drops a peer redirect that stays in one namespace,
  // e.g. towards a host vport's pair), else plain bpf_redirect.
  static std::shared_ptr<NetdevPort> FromLink(const LinkFacts& link);
  NetdevPort(std::string name, uint32_t ifindex, bool is_veth, uint32_t mtu,
             bool running);

  const std::string& name() const override { return name_; }
  bool running() const override { return running_.load(std::memory_order_relaxed); }
  uint32_t mtu() const override { return mtu_.load(std::memory_order_relaxed); }
  TxResult Transmit(absl::Span<const TxFrame> frames) override;

  uint32_t ifindex() const { return ifindex_; }
  bool is_veth() const { return is_veth_; }
  void set_running(bool up);
  void set_mtu(uint32_t mtu);

 private:
  friend class KernelBridge;
  // Called (outside any lock of the port) after each change; set by the
  // bridge holding the port.
  void SetListener(std::function<void()> listener);

  const std::string name_;
  const uint32_t ifindex_;
  const bool is_veth_;
  std::atomic<bool> running_;
  std::atomic<uint32_t> mtu_;
  absl::Mutex listener_mu_;
  std::function<void()> listener_ ABSL_GUARDED_BY(listener_mu_);
};

struct KernelBridgeOptions {
  // The bridge's objects are pinned in <pin_root>/<bridge>/ (bpffs: mounted at
  // /sys/fs/bpf when missing).
  std::string pin_root = "/sys/fs/bpf/veb";
  // Must run on CLOCK_MONOTONIC (bpf_ktime_get_ns) unless test_hook is set;
  // null: MonotonicClock.
  const Clock* clock = nullptr;
  // Load the test variant (VEB_TEST_HOOK), pin and attach nothing: frames are
  // fed with TestRun (BPF_PROG_TEST_RUN) and their copies read back.
  bool test_hook = false;
  // A dynamic entry's last-seen time is rewritten only when it is older than
  // this, so the fast path does not write the entry on every frame. Entries
  // therefore expire up to this much earlier than the userspace engine's.
  int64_t refresh_ns = 1000000000;
};

// What the test variant of the program did with one frame (test_hook only).
struct TestCopy {
  uint32_t slot = 0;
  bool span = false;
  TagOp op = TagOp::kKeep;
  uint16_t tci = 0;
  uint32_t len = 0;  // measured on the skb after the tag operation
};
struct TestResult {
  enum class Verdict { kDrop, kUnicast, kFlood, kNotSwitched };
  Verdict verdict = Verdict::kDrop;
  DropReason reason = DropReason::kLinkDown;  // kDrop only
  std::vector<TestCopy> copies;               // in order, span copies first
};

class KernelBridge final : public BridgeEngine {
 public:
  // Validates name and config, then loads (or adopts) the bridge's program
  // and maps. FAILED_PRECONDITION when the kernel lacks BPF/TC support,
  // PERMISSION_DENIED without CAP_BPF/CAP_NET_ADMIN; both name the bridge.
  static absl::StatusOr<std::unique_ptr<KernelBridge>> Create(
      std::string name, const BridgeConfig& config,
      const KernelBridgeOptions& options = {});
  // Stops the event thread and closes descriptors. Does not detach or unpin
  // anything: forwarding survives (see Destroy).
  ~KernelBridge() override;
  KernelBridge(const KernelBridge&) = delete;
  KernelBridge& operator=(const KernelBridge&) = delete;

  // True when Create found this bridge's pins and adopted them; the note says
  // what happened (adopted, or reloaded and why), for the agent's log.
  bool adopted() const { return adopted_; }
  const std::string& load_note() const { return load_note_; }
  // After adoption: removes every pinned port that was not re-added with
  // AddPort/AddSpanPort since Create (filter, qdisc, slot, MAC entries); after
  // a reload of incompatible pins, detaches the old program from interfaces
  // that were not re-added.
  // Returns the names (ifindex as text when the name is gone) of the ports
  // removed.
  std::vector<std::string> FinishRestore() override;
  // Detaches every port, removes their clsact qdiscs, unpins and removes the
  // bridge's directory. The object is unusable afterwards.
  absl::Status Destroy() override;

  const std::string& name() const override { return name_; }
  Engine engine() const override { return Engine::kKernel; }

  absl::Status Update(const BridgeConfig& config) override;
  BridgeConfig config() const override;

  // Only NetdevPorts (FAILED_PRECONDITION otherwise). Creates the port's
  // clsact qdisc if missing and attaches the program at ingress.
  absl::StatusOr<PortRef> AddPort(std::shared_ptr<Port> port,
                                  const PortConfig& config) override;
  absl::StatusOr<PortRef> AddSpanPort(std::shared_ptr<Port> port) override;
  absl::Status UpdatePort(absl::string_view port, const PortConfig& config) override;
  absl::StatusOr<size_t> RemovePort(absl::string_view port) override;
  absl::StatusOr<PortInfo> GetPort(absl::string_view port) const override;
  std::vector<PortInfo> ListPorts() const override;
  size_t port_count() const override;
  // S1: the port's link state and MTU as the link monitor sees them; the
  // same as calling the port's NetdevPort setters.
  absl::Status SetPortRunning(absl::string_view port, bool running);
  absl::Status SetPortMtu(absl::string_view port, uint32_t mtu);

  absl::Status AddRule(absl::string_view port, const Rule& rule) override;
  absl::StatusOr<std::vector<Rule>> ListRules(absl::string_view port) const override;
  absl::Status FlushRules(absl::string_view port) override;

  absl::Status AddStaticAddress(uint16_t vid, Mac mac, absl::string_view port) override;
  absl::Status DeleteAddress(uint16_t vid, Mac mac) override;
  size_t FlushAddresses(bool include_static) override;
  // A batched walk of the FDB (the map is unordered) and a sort of the page
  // only: O(n) per page.
  absl::StatusOr<AddressInfoPage> ListAddressPage(
      const AddressQuery& query, std::optional<AddressKey> after,
      size_t limit) const override;
  std::optional<AddressInfo> GetAddress(uint16_t vid, Mac mac) const override;
  size_t address_count() const override;
  AddressCounts GetAddressCounts() const override;
  absl::StatusOr<size_t> PortAddressCount(absl::string_view port) const override;
  // Sweeps the FDB: removes expired dynamic entries (kExpired events), and
  // reports entries whose learn or move event the ring buffer lost.
  size_t ExpireAddresses() override;
  void SetAddressEventSink(AddressEventSink sink) override;

  absl::StatusOr<PortCounters> GetPortCounters(absl::string_view port) const override;
  BridgeCounters GetCounters() const override;

  // ---- test_hook only ----
  // Runs the test program on `frame` as received on member `port`, at the
  // options' clock, and returns its copies. Address events it caused are
  // delivered before it returns. Frames shorter than 14 bytes cannot be
  // given to BPF_PROG_TEST_RUN (INVALID_ARGUMENT).
  absl::StatusOr<TestResult> TestRun(absl::string_view port,
                                     absl::Span<const uint8_t> frame, bool gso = false);
  // The FDB map's capacity (for tests of the rebuild on a larger max).
  uint32_t fdb_capacity() const;

 private:
  struct PortState;
  struct Maps;

  KernelBridge(std::string name, const KernelBridgeOptions& options);
  absl::Status Init(const BridgeConfig& config);
  absl::Status LoadFresh(const BridgeConfig& config) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Adopt() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The device of a port (pinned ports awaiting re-adding are not found).
  absl::StatusOr<std::shared_ptr<NetdevPort>> DeviceOf(absl::string_view port) const
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status GrowFdb(uint32_t capacity) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status StartEvents() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EventLoop();
  static int OnEvent(void* ctx, void* data, size_t size);

  const PortState* FindLocked(absl::string_view port) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  absl::StatusOr<PortRef> AddLocked(std::shared_ptr<Port> port,
                                    const PortConfig& config, bool span)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status WriteCfgLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status WritePortLocked(const PortState& p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status WriteRulesLocked(PortState& p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status AttachLocked(uint32_t ifindex) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DetachLocked(uint32_t ifindex) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Removes a port from the maps, its filter and its MAC entries (S12).
  size_t RemoveSlotLocked(uint32_t slot, uint32_t gen, uint32_t ifindex, bool span)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Range allocator over veb_rules; returns start or nullopt.
  std::optional<uint32_t> AllocRulesLocked(uint32_t n) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FreeRulesLocked(uint32_t range) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  PortInfo InfoOf(const PortState& p) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void RefreshPortState(const std::string& name);
  void Emit(const AddressEvent& ev) ABSL_LOCKS_EXCLUDED(sink_mu_);
  // Deletes FDB entries selected by `pred(key, entry)`; emits `kind` for
  // each. Returns how many.
  template <typename Pred>
  size_t DeleteEntriesLocked(Pred pred, AddressEventKind kind, int64_t now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The entry count of slot `idx` (VEB_COUNT_TOTAL: the table), in the
  // mmapped veb_fdb_counts; accessed with atomics (the program updates it too).
  uint64_t* Count(uint32_t idx) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Deletes the entry at `key` if `pred` holds for it (read just before),
  // keeping the counts, and emits `kind`. Returns 1 if deleted.
  size_t DeleteOneLocked(const veb_fdb_key& key,
                         const std::function<bool(const veb_fdb_entry&)>& pred,
                         AddressEventKind kind, int64_t now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string name_;
  const KernelBridgeOptions options_;
  const Clock* const clock_;
  const std::string dir_;  // <pin_root>/<name>
  bool adopted_ = false;
  std::string load_note_;

  mutable absl::Mutex mu_;
  std::unique_ptr<Maps> maps_ ABSL_GUARDED_BY(mu_);
  BridgeConfig config_ ABSL_GUARDED_BY(mu_);
  uint32_t fdb_capacity_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::unique_ptr<PortState>> slots_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, uint32_t> slot_by_name_ ABSL_GUARDED_BY(mu_);
  std::vector<uint32_t> members_ ABSL_GUARDED_BY(mu_);
  std::vector<uint32_t> spans_ ABSL_GUARDED_BY(mu_);
  uint32_t next_gen_ ABSL_GUARDED_BY(mu_) = 0;
  // Pinned ports found at adoption and not yet re-added: ifindex -> slot.
  absl::flat_hash_map<uint32_t, uint32_t> pinned_ ABSL_GUARDED_BY(mu_);
  // Interfaces still running the program of incompatible pins (reload).
  absl::flat_hash_set<uint32_t> stale_ ABSL_GUARDED_BY(mu_);
  // Free ranges of veb_rules: start -> length.
  std::vector<std::pair<uint32_t, uint32_t>> free_rules_ ABSL_GUARDED_BY(mu_);
  // Static entries (only the control plane makes or removes them): key -> port.
  absl::flat_hash_map<uint64_t, PortRef> statics_ ABSL_GUARDED_BY(mu_);
  // What the event stream has told the sink: key -> port, to report what the
  // ring buffer lost at the next sweep.
  absl::flat_hash_map<uint64_t, PortRef> known_ ABSL_GUARDED_BY(sink_mu_);
  // The same, by port (packed PortRef -> keys): RemovePort deletes a port's
  // entries without walking the whole table (it walks only when the port's
  // entry count says some were missed).
  absl::flat_hash_map<uint64_t, absl::flat_hash_set<uint64_t>> known_by_port_
      ABSL_GUARDED_BY(sink_mu_);
  void KnowLocked(uint64_t key, PortRef port) ABSL_EXCLUSIVE_LOCKS_REQUIRED(sink_mu_);
  void ForgetLocked(uint64_t key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(sink_mu_);
  uint64_t swept_expired_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t events_lost_seen_ ABSL_GUARDED_BY(mu_) = 0;

  absl::Mutex sink_mu_;
  AddressEventSink sink_ ABSL_GUARDED_BY(sink_mu_);
  ring_buffer* events_ = nullptr;
  std::atomic<bool> stop_{false};
  std::thread event_thread_;
  bool destroyed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace veb::ebpf

#endif  // VEB_DATAPLANE_EBPF_KERNEL_BRIDGE_H_
