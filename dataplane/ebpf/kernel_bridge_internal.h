// KernelBridge's private pieces shared by its source files
// (kernel_bridge.cc: loading, pinning, adoption, events and map writes;
// kernel_bridge_ports.cc: ports and rules; kernel_bridge_addresses.cc: the
// table, counters and test runs): the map ids, key packing, the batched FDB
// walk, and the Maps and PortState records. Not for other targets.
//
// Thread-safety: as KernelBridge (kernel_bridge.h); these helpers keep no
// state.
#ifndef VEB_DATAPLANE_EBPF_KERNEL_BRIDGE_INTERNAL_H_
#define VEB_DATAPLANE_EBPF_KERNEL_BRIDGE_INTERNAL_H_

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "dataplane/ebpf/kernel_bridge.h"
#include "dataplane/ebpf/veb_layout.h"

namespace veb::ebpf {
namespace kernel_bridge_internal {

// Calls fn(key, entry) for every FDB entry: batches of 4,096 per system call
// (BPF_MAP_LOOKUP_BATCH, Linux 5.6), so a sweep of 1,000,000 entries costs a
// few hundred calls, not two per entry; one key at a time where batches are
// refused. Entries added or removed during the walk may be missed or seen.
template <typename Fn>
inline void ForEachFdbEntry(int fd, Fn fn) {
  constexpr uint32_t kBatch = 4096;
  std::vector<veb_fdb_key> keys(kBatch);
  std::vector<veb_fdb_entry> values(kBatch);
  uint32_t cursor = 0;
  bool started = false;
  for (;;) {
    uint32_t count = kBatch;
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    const int err = bpf_map_lookup_batch(fd, started ? &cursor : nullptr, &cursor, keys.data(),
                                         values.data(), &count, &opts);
    if (err != 0 && err != -ENOENT) {
      if (started) return;  // the walk broke off: the next sweep sees the rest
      break;              // no batch support: one key at a time below
    }
    for (uint32_t i = 0; i < count; ++i) fn(keys[i], values[i]);
    if (err == -ENOENT) return;
    started = true;
  }
  veb_fdb_key key{}, next{};
  bool first = true;
  while (bpf_map_get_next_key(fd, first ? nullptr : &key, &next) == 0) {
    first = false;
    key = next;
    veb_fdb_entry e{};
    if (bpf_map_lookup_elem(fd, &key, &e) == 0) fn(key, e);
  }
}

#define VEB_CHECK_ORDER_(e, name, proto) \
  static_assert(static_cast<int>(DropReason::e) == VEB_DROP_##proto);
VEB_DROP_REASONS(VEB_CHECK_ORDER_)
#undef VEB_CHECK_ORDER_
#define VEB_CHECK_ORDER_(e, name, proto) \
  static_assert(static_cast<int>(LearnRefusal::e) == VEB_REFUSED_##proto);
VEB_LEARN_REFUSALS(VEB_CHECK_ORDER_)
#undef VEB_CHECK_ORDER_
static_assert(VEB_NUM_DROP_REASONS == kNumDropReasons);
static_assert(VEB_NUM_LEARN_REFUSALS == kNumLearnRefusals);
static_assert(VEB_MAX_PORTS == kMaxPortsPerBridge);
static_assert(VEB_MAX_RULES_PER_LIST == kMaxRulesPerPort);

inline constexpr uint32_t kTcHandle = 0x7eb;  // "veb"
inline constexpr uint32_t kTcPriority = 1;
inline constexpr uint32_t kBpfFsMagic = 0xcafe4a11;
inline constexpr char kProgPin[] = "prog";

// The maps, in one order for pins and descriptors.
enum MapId {
  kCfg,
  kPorts,
  kVlans,
  kIfindex,
  kMembers,
  kSpans,
  kFdb,
  kCounts,
  kRules,
  kCounters,
  kHot,
  kBcounters,
  kEvents,
  kTestCtl,
  kTestOut,
  kTestCopies,
  kNumMaps,
};
inline constexpr int kNumRealMaps = kTestCtl;
inline constexpr const char* kMapNames[kNumMaps] = {
    "veb_cfg",      "veb_ports",     "veb_vlans",    "veb_ifindex",
    "veb_members",  "veb_spans",     "veb_fdb",      "veb_fdb_counts",
    "veb_rules",    "veb_counters",  "veb_hot",      "veb_bcounters", "veb_events",
    "veb_test_ctl", "veb_test_out",  "veb_test_copies"};

inline std::string Quote(absl::string_view s) { return absl::StrCat("\"", s, "\""); }

inline uint64_t PackKey(uint16_t vid, Mac mac) { return (uint64_t{vid} << 48) | mac; }
inline veb_fdb_key FdbKey(uint16_t vid, Mac mac) {
  veb_fdb_key k{};
  k.vid = vid;
  for (int i = 0; i < 6; ++i) k.mac[i] = static_cast<uint8_t>(mac >> (40 - 8 * i));
  return k;
}
inline Mac KeyMac(const veb_fdb_key& k) {
  Mac m = 0;
  for (int i = 0; i < 6; ++i) m = (m << 8) | k.mac[i];
  return m;
}
inline uint64_t PackRef(PortRef r) { return VEB_PORT_REF(r.slot, r.gen); }
inline PortRef UnpackRef(uint64_t v) {
  return PortRef{static_cast<uint32_t>(v), static_cast<uint32_t>(v >> 32)};
}

inline std::string ErrnoText(int err) { return std::strerror(err < 0 ? -err : err); }


inline int NumCpus() {
  static const int n = libbpf_num_possible_cpus();
  return n > 0 ? n : 1;
}

}  // namespace kernel_bridge_internal

using kernel_bridge_internal::ForEachFdbEntry;
using kernel_bridge_internal::kTcHandle;
using kernel_bridge_internal::kTcPriority;
using kernel_bridge_internal::kBpfFsMagic;
using kernel_bridge_internal::kProgPin;
using kernel_bridge_internal::MapId;
using kernel_bridge_internal::kNumRealMaps;
using kernel_bridge_internal::kMapNames;
using kernel_bridge_internal::Quote;
using kernel_bridge_internal::PackKey;
using kernel_bridge_internal::FdbKey;
using kernel_bridge_internal::KeyMac;
using kernel_bridge_internal::PackRef;
using kernel_bridge_internal::UnpackRef;
using kernel_bridge_internal::ErrnoText;
using kernel_bridge_internal::NumCpus;
using kernel_bridge_internal::kCfg;
using kernel_bridge_internal::kPorts;
using kernel_bridge_internal::kVlans;
using kernel_bridge_internal::kIfindex;
using kernel_bridge_internal::kMembers;
using kernel_bridge_internal::kSpans;
using kernel_bridge_internal::kFdb;
using kernel_bridge_internal::kCounts;
using kernel_bridge_internal::kRules;
using kernel_bridge_internal::kCounters;
using kernel_bridge_internal::kHot;
using kernel_bridge_internal::kBcounters;
using kernel_bridge_internal::kEvents;
using kernel_bridge_internal::kTestCtl;
using kernel_bridge_internal::kTestOut;
using kernel_bridge_internal::kTestCopies;
using kernel_bridge_internal::kNumMaps;

// ---- state ------------------------------------------------------------------------

struct KernelBridge::Maps {
  int fd[kNumMaps];
  int prog = -1;
  // A map-in-map whose update waits for an RCU grace period
  // (synchronize_rcu): after it, no program run that began before can still
  // use what was unlisted (S12).
  int sync_outer = -1;
  int sync_inner = -1;
  uint64_t* counts = nullptr;
  size_t counts_bytes = 0;

  Maps() {
    for (int& f : fd) f = -1;
  }
  ~Maps() {
    if (counts != nullptr) munmap(counts, counts_bytes);
    for (int f : fd) {
      if (f >= 0) close(f);
    }
    for (int f : {prog, sync_outer, sync_inner}) {
      if (f >= 0) close(f);
    }
  }
  // Waits until every program run that started before has finished.
  void Synchronize() const {
    const uint32_t zero = 0;
    bpf_map_update_elem(sync_outer, &zero, &sync_inner, BPF_ANY);
  }
};

struct KernelBridge::PortState {
  std::shared_ptr<Port> io;  // null while a pinned port awaits re-adding
  NetdevPort* dev = nullptr;
  std::string name;
  uint32_t ifindex = 0;
  PortRef ref;
  bool span = false;
  PortConfig config;
  std::vector<Rule> rules;
  uint32_t rules_in = 0;   // ranges in veb_rules (start | count << 16)
  uint32_t rules_out = 0;
  bool rules_deferred = false;  // pinned rules stay in force until FinishRestore
  bool pending = false;         // adopted, not yet re-added
};

template <typename Pred>
size_t KernelBridge::DeleteEntriesLocked(Pred pred, AddressEventKind kind, int64_t now) {
  std::vector<std::pair<veb_fdb_key, veb_fdb_entry>> doomed;
  const int fd = maps_->fd[kFdb];
  ForEachFdbEntry(fd, [&](const veb_fdb_key& key, const veb_fdb_entry& e) {
    if (pred(key, e)) doomed.emplace_back(key, e);
  });
  size_t n = 0;
  for (const auto& [k, e] : doomed) {
    const veb_fdb_entry seen = e;
    n += DeleteOneLocked(k, [&seen](const veb_fdb_entry& cur) { return cur.port == seen.port; },
                         kind, now);
  }
  return n;
}

}  // namespace veb::ebpf

#endif  // VEB_DATAPLANE_EBPF_KERNEL_BRIDGE_INTERNAL_H_
