// Bridge's private state, shared by its two halves: bridge.cc (the
// forwarding pipeline, run by workers) and bridge_control.cc (the control
// plane). Only those two files include it.
//
// Thread-safety: as documented on each struct (snapshots are immutable once
// published; counter cells have a single writer each).
#ifndef VEB_DATAPLANE_BRIDGE_INTERNAL_H_
#define VEB_DATAPLANE_BRIDGE_INTERNAL_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "dataplane/bridge.h"

namespace veb {
namespace bridge_internal {

inline constexpr uint32_t kChunkSize = 128;
inline constexpr uint32_t kNumChunks = kMaxPortsPerBridge / kChunkSize;

// A counter with a single writer: a plain load and store, no locked
// instruction, readable from any thread.
struct Cell {
  std::atomic<uint64_t> v{0};
  void Add(uint64_t n) {
    v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  uint64_t Get() const { return v.load(std::memory_order_relaxed); }
  void Reset() { v.store(0, std::memory_order_relaxed); }
};

inline std::string Quote(absl::string_view s) { return absl::StrCat("\"", s, "\""); }

}  // namespace bridge_internal

using bridge_internal::Cell;
using bridge_internal::kChunkSize;
using bridge_internal::kNumChunks;
using bridge_internal::Quote;

struct alignas(64) Bridge::CounterCells {
  std::atomic<uint32_t> gen{0};
  Cell rx_packets, rx_bytes, tx_packets, tx_bytes, unicast, flooded;
  Cell in[kNumDropReasons];
  Cell out[kNumDropReasons];

  void In(DropReason r, uint64_t n = 1) { in[static_cast<size_t>(r)].Add(n); }
  void Out(DropReason r, uint64_t n = 1) { out[static_cast<size_t>(r)].Add(n); }
  void Reset(uint32_t new_gen) {
    for (Cell* c : {&rx_packets, &rx_bytes, &tx_packets, &tx_bytes, &unicast,
                    &flooded}) {
      c->Reset();
    }
    for (auto& c : in) c.Reset();
    for (auto& c : out) c.Reset();
    gen.store(new_gen, std::memory_order_release);
  }
};

struct Bridge::WorkerCounters {
  std::array<std::atomic<CounterCells*>, kNumChunks> chunks{};
  Cell refused[kNumLearnRefusals];
  Cell flooded;
  ~WorkerCounters() {
    for (auto& c : chunks) delete[] c.load();
  }
};

struct Bridge::PortState {
  std::shared_ptr<Port> io;
  PortRef ref;
  bool span = false;
  PortConfig config;
  std::bitset<kVidMax + 1> tagged;
  std::vector<Rule> rules;  // in insertion order, as listed
  std::vector<Rule> rules_in;
  std::vector<Rule> rules_out;

  void Compile() {
    tagged.reset();
    for (uint16_t vid : config.tagged) tagged.set(vid);
    rules_in.clear();
    rules_out.clear();
    for (const Rule& r : rules) {
      if (r.directions & kRuleIn) rules_in.push_back(r);
      if (r.directions & kRuleOut) rules_out.push_back(r);
    }
  }
};

struct Bridge::Snapshot {
  BridgeConfig config;
  std::vector<std::shared_ptr<const PortState>> slots;  // index = PortRef.slot
  std::vector<const PortState*> members;
  std::vector<const PortState*> spans;

  void Index() {
    members.clear();
    spans.clear();
    for (const auto& p : slots) {
      if (!p) continue;
      (p->span ? spans : members).push_back(p.get());
    }
  }
  const PortState* At(PortRef ref) const {
    if (ref.slot >= slots.size()) return nullptr;
    const PortState* p = slots[ref.slot].get();
    return p != nullptr && p->ref == ref ? p : nullptr;
  }
};

}  // namespace veb

#endif  // VEB_DATAPLANE_BRIDGE_INTERNAL_H_
