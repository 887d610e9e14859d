// The MAC table of one bridge, keyed by (VID, MAC) (S3, S7).
//
// Open addressing with linear probing over slots of three atomics. Lookups and
// the common learning case (the address is already on this port: refresh its
// timestamp) take no lock. Inserting, moving, deleting and expiring take `mu_`.
// Growing or compacting builds a new slot array, publishes it with one store and
// retires the old one through QSBR, so a reader never touches freed memory.
// A reader re-checks the slot's key after reading its value, so a slot reused
// under it is seen as a change and the probe restarts.
//
// Entries name their port by slot and generation (PortRef): an entry whose port
// was removed and whose slot was reused never matches the new port.
//
// So that the control plane scales with the table (a configuration change, a
// count or one page of a listing must not cost a walk or a copy of 1,000,000
// entries while learning waits on `mu_`), the writer side also keeps, under
// `mu_`, the number of static entries, of entries per port and per VID, and an
// ordered index of the keys (VID, MAC). Learning through the lock-free refresh
// path changes none of them. Counts are of entries in the table: a dynamic
// entry past its timeout but not yet removed by Expire() (or relearned) is
// still counted, and no longer listed or looked up.
//
// When the table empties (Flush, Expire, RemovePort, Delete) the slot array
// shrinks back (down to kMinCapacity slots) and the index frees its nodes.
//
// Thread-safety: Lookup/Learn may run concurrently from any number of dataplane
// workers that are QSBR readers; every other method may be called from any
// thread and serialises on `mu_`.
#ifndef VEB_DATAPLANE_MAC_TABLE_H_
#define VEB_DATAPLANE_MAC_TABLE_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "dataplane/mac_address.h"
#include "dataplane/qsbr.h"

namespace veb {

struct PortRef {
  uint32_t slot = 0;
  uint32_t gen = 0;  // 0 never names a live port
  bool operator==(const PortRef& o) const { return slot == o.slot && gen == o.gen; }
  bool operator!=(const PortRef& o) const { return !(*this == o); }
};

inline constexpr uint32_t kMaxAddressesLimit = 1000000;
inline constexpr uint32_t kDefaultMaxAddresses = 100;
inline constexpr uint32_t kMinTimeoutSeconds = 8;
inline constexpr uint32_t kMaxTimeoutSeconds = 3600;
inline constexpr uint32_t kDefaultTimeoutSeconds = 240;

enum class LearnResult : uint8_t {
  kRefreshed,       // already mapped to this port
  kLearned,         // new entry
  kMoved,           // dynamic entry moved from another port
  kRefusedFull,     // table at max_addresses: not learned
  kRefusedStatic,   // a static entry for the MAC points elsewhere
  kRefusedPortFull, // the port holds its own limit of entries: not learned
                    // or moved (S7, PortConfig::max_addresses)
};

struct AddressEntry {
  uint16_t vid = 0;
  Mac mac = 0;
  PortRef port;
  bool is_static = false;
  int64_t last_seen_ns = 0;  // dynamic entries only
};

// What ListPage and CountMatching select; an unset field matches everything.
struct AddressFilter {
  std::optional<PortRef> port;
  std::optional<uint16_t> vid;
  std::optional<Mac> mac;
  std::optional<bool> is_static;  // true: static entries only; false: dynamic
};

// A position in (VID, MAC) order, as a page cursor.
struct AddressKey {
  uint16_t vid = 0;
  Mac mac = 0;
  bool operator==(const AddressKey& o) const { return vid == o.vid && mac == o.mac; }
};

struct AddressPage {
  std::vector<AddressEntry> entries;  // in (VID, MAC) order
  // Set when the page is full and more keys follow: the key of the last entry,
  // to pass as `after` for the next page. Unset at the end of the table.
  std::optional<AddressKey> next_after;
};

enum class AddressEventKind : uint8_t { kLearned, kMoved, kExpired, kDeleted };
struct AddressEvent {
  AddressEventKind kind;
  uint16_t vid;
  Mac mac;
  PortRef port;      // the entry's port (new port for kMoved)
  PortRef old_port;  // kMoved only
  uint32_t age_seconds = 0;  // kExpired only: since the entry was last seen
};
// Called with the table lock held, from whichever thread changed the table
// (workers included): must not block and must not call back into the table.
using AddressEventSink = std::function<void(const AddressEvent&)>;

class MacTable {
 public:
  // The slot array never shrinks below this many slots.
  static constexpr size_t kMinCapacity = 64;

  MacTable(Qsbr* qsbr, uint32_t max_addresses, uint32_t timeout_seconds);
  ~MacTable();
  MacTable(const MacTable&) = delete;
  MacTable& operator=(const MacTable&) = delete;

  void SetEventSink(AddressEventSink sink);

  // Lock-free. An expired dynamic entry is a miss (S7).
  std::optional<PortRef> Lookup(uint16_t vid, Mac mac, int64_t now_ns) const;

  // Learning (S7); the caller has already excluded multicast and zero MACs.
  // `port_max` is the port's own limit (0: none): an address new to the port
  // (a new entry, a dynamic entry moving in, or an expired entry of another
  // port relearned here) is refused while the port has `port_max` entries or
  // more, static and dynamic together. Refreshing an entry already on the port
  // is never refused. Checking the limit takes `mu_`, like any insertion.
  LearnResult Learn(uint16_t vid, Mac mac, PortRef port, int64_t now_ns,
                    uint32_t port_max = 0);

  // Adds or replaces a static entry. RESOURCE_EXHAUSTED when a new entry
  // would exceed max_addresses. A port's own limit does not apply (the
  // administrator's entries are not learning), but the entry counts toward it.
  absl::Status AddStatic(uint16_t vid, Mac mac, PortRef port);
  // Returns false if no entry existed.
  bool Delete(uint16_t vid, Mac mac);
  // Removes every entry of the port (S12); returns how many. O(1) for a port
  // without entries, else a walk of the slots up to its last entry.
  size_t RemovePort(PortRef port);
  // Removes dynamic entries, or all entries; returns how many.
  size_t Flush(bool include_static);
  // Removes expired dynamic entries; returns how many.
  size_t Expire(int64_t now_ns);
  // Entries that are not expired, in table order. O(capacity) under the lock:
  // for tests and small tables; the control plane uses ListPage.
  std::vector<AddressEntry> List(int64_t now_ns) const;

  // The entry for (vid, mac) if present and not expired. O(1).
  std::optional<AddressEntry> Get(uint16_t vid, Mac mac, int64_t now_ns) const;

  // Up to `limit` entries that match `filter` and are not expired, in (VID,
  // MAC) order, strictly after `after` (from the start when unset). Holds the
  // lock (learning of new addresses waits) for O(log n + keys visited):
  //  - no filter, or a VID filter: the keys visited are the page itself (a VID
  //    filter seeks to the VID's first key and stops after its last);
  //  - a MAC filter: one hash probe per VID after the cursor (<= 4096);
  //  - static only: the static entries' own index, so the keys visited are
  //    the page itself (plus any other filter's misses among statics);
  //  - a port or dynamic-only filter (without MAC): the scan skips the keys
  //    that do not match, so a page may visit many more keys than it returns
  //    (at worst the rest of the table, when few entries match).
  // Expired entries not yet removed are skipped the same way.
  AddressPage ListPage(std::optional<AddressKey> after, size_t limit,
                       const AddressFilter& filter, int64_t now_ns) const;

  // Number of entries matching `filter` (expired entries not yet removed
  // included, see above). O(1) for no filter, type, port, port and type, VID;
  // VID and MAC: one probe; MAC: one probe per VID (<= 4096); any other
  // combination walks the index within the VID if one is given (O(entries of
  // the VID)), else the whole table (O(n)).
  size_t CountMatching(const AddressFilter& filter) const;

  // O(1) counts, exact under concurrent learning (kept under the lock).
  size_t static_count() const {
    return static_.load(std::memory_order_relaxed);
  }
  size_t dynamic_count() const { return size() - static_count(); }
  // Entries (static and dynamic) of one port; 0 for an unknown port.
  size_t CountForPort(PortRef port) const;
  size_t StaticCountForPort(PortRef port) const;
  size_t CountForVid(uint16_t vid) const;

  // Limits: lowering max below the current count evicts nothing; learning just
  // stops until entries go away (S7: no eviction).
  void SetMaxAddresses(uint32_t max_addresses);
  void SetTimeoutSeconds(uint32_t seconds);
  uint32_t max_addresses() const { return max_.load(std::memory_order_relaxed); }
  uint32_t timeout_seconds() const;

  size_t size() const { return live_.load(std::memory_order_relaxed); }
  size_t capacity() const;
  uint64_t learned_total() const { return learned_.load(std::memory_order_relaxed); }
  uint64_t moved_total() const { return moved_.load(std::memory_order_relaxed); }
  uint64_t expired_total() const { return expired_.load(std::memory_order_relaxed); }

 private:
  struct Slot {
    std::atomic<uint64_t> key{0};
    std::atomic<uint64_t> value{0};
    std::atomic<int64_t> last_seen{0};
  };
  // Large slot arrays are 2 MiB aligned and advised as huge pages: a lookup
  // in a big table is one random access, and without huge pages also a TLB miss.
  struct Table {
    explicit Table(size_t capacity, uint64_t seed);
    ~Table();
    Table(const Table&) = delete;
    Table& operator=(const Table&) = delete;
    size_t mask;
    uint64_t seed;
    size_t used = 0;  // live + tombstones; writer only
    Slot* slots;
  };

  static uint64_t Key(uint16_t vid, Mac mac);
  static uint64_t Value(PortRef port, bool is_static);
  static PortRef ValuePort(uint64_t value);
  static bool ValueStatic(uint64_t value) { return (value & 1) != 0; }
  static size_t Hash(const Table& t, uint64_t key);
  bool Expired(const Slot& slot, uint64_t value, int64_t now_ns) const;

  // Writer-side probe: the slot holding `key`, else null; `free_slot` gets the
  // first reusable slot on the probe path.
  Slot* FindLocked(Table* t, uint64_t key, Slot** free_slot) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void InsertLocked(uint64_t key, uint64_t value, int64_t last_seen)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EraseLocked(Table* t, Slot* slot) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Rebuilds into a table sized for the live entries (drops tombstones).
  void RebuildLocked(size_t min_live) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MaybeShrinkLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Count bookkeeping for a live entry's key and value being added (+1) or
  // removed (-1); a value change is a removal then an addition.
  void CountLocked(uint64_t key, uint64_t value, int delta)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // True when `port_max` is set and the port already holds that many entries.
  bool PortFullLocked(PortRef port, uint32_t port_max) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Replaces a live entry's value, keeping counts.
  void SetValueLocked(Slot* slot, uint64_t key, uint64_t value)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool MatchesLocked(uint64_t key, uint64_t value, const Slot& slot,
                     const AddressFilter& filter, int64_t now_ns) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  static AddressEntry EntryOf(uint64_t key, uint64_t value, const Slot& slot);
  void Emit(AddressEventKind kind, uint64_t key, PortRef port, PortRef old,
            uint32_t age_seconds = 0) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static uint32_t AgeSeconds(int64_t last_seen_ns, int64_t now_ns);

  Qsbr* const qsbr_;
  std::atomic<Table*> table_;
  std::atomic<uint32_t> max_;
  std::atomic<int64_t> timeout_ns_;
  std::atomic<size_t> live_{0};
  std::atomic<uint64_t> learned_{0};
  std::atomic<uint64_t> moved_{0};
  std::atomic<uint64_t> expired_{0};
  std::atomic<size_t> static_{0};  // written under mu_
  mutable absl::Mutex mu_;
  AddressEventSink sink_ ABSL_GUARDED_BY(mu_);
  struct PortCount {
    size_t total = 0;
    size_t statics = 0;
  };
  // Key: PortRef packed as gen << 32 | slot. Ports with no entries are erased.
  absl::flat_hash_map<uint64_t, PortCount> port_counts_ ABSL_GUARDED_BY(mu_);
  std::array<uint32_t, 4096> vid_counts_ ABSL_GUARDED_BY(mu_){};
  // Live keys without the presence bit ((vid << 48) | mac): (VID, MAC) order.
  absl::btree_set<uint64_t> index_ ABSL_GUARDED_BY(mu_);
  // The static entries' keys (a subset of index_), for listing statics.
  absl::btree_set<uint64_t> static_index_ ABSL_GUARDED_BY(mu_);
};

}  // namespace veb

#endif  // VEB_DATAPLANE_MAC_TABLE_H_
