#include "dataplane/mac_table.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <new>
#include <random>

#include "absl/strings/str_cat.h"

namespace veb {
namespace {

constexpr uint64_t kPresent = 1ULL << 62;
constexpr uint64_t kTombstone = 1ULL << 63;
constexpr uint64_t kKeyBits = (1ULL << 62) - 1;  // (vid << 48) | mac

size_t NextPow2(size_t n) {
  size_t c = MacTable::kMinCapacity;
  while (c < n) c <<= 1;
  return c;
}

uint64_t RandomSeed() {
  std::random_device rd;
  return (uint64_t{rd()} << 32) ^ rd();
}

uint64_t PackPort(PortRef p) { return (uint64_t{p.gen} << 32) | p.slot; }

uint16_t KeyVid(uint64_t key) { return static_cast<uint16_t>((key >> 48) & 0xfff); }
Mac KeyMac(uint64_t key) { return key & 0xffffffffffffULL; }

}  // namespace

MacTable::Table::Table(size_t capacity, uint64_t seed_in)
    : mask(capacity - 1), seed(seed_in) {
  constexpr size_t kHugePage = 2 << 20;
  const size_t bytes = capacity * sizeof(Slot);
  void* mem;
  if (bytes >= kHugePage) {
    mem = std::aligned_alloc(kHugePage, (bytes + kHugePage - 1) & ~(kHugePage - 1));
    if (mem != nullptr) madvise(mem, bytes, MADV_HUGEPAGE);  // advisory only
  } else {
    mem = std::aligned_alloc(64, (bytes + 63) & ~size_t{63});
  }
  if (mem == nullptr) throw std::bad_alloc();
  slots = new (mem) Slot[capacity];
}

MacTable::Table::~Table() {
  // Slots are trivially destructible atomics.
  std::free(slots);
}

MacTable::MacTable(Qsbr* qsbr, uint32_t max_addresses, uint32_t timeout_seconds)
    : qsbr_(qsbr),
      table_(new Table(kMinCapacity, RandomSeed())),
      max_(max_addresses),
      timeout_ns_(int64_t{timeout_seconds} * 1000000000) {}

MacTable::~MacTable() { delete table_.load(); }

void MacTable::SetEventSink(AddressEventSink sink) {
  absl::MutexLock lock(&mu_);
  sink_ = std::move(sink);
}

uint64_t MacTable::Key(uint16_t vid, Mac mac) {
  return kPresent | (uint64_t{vid} << 48) | mac;
}

uint64_t MacTable::Value(PortRef port, bool is_static) {
  return (uint64_t{port.gen} << 32) | (uint64_t{port.slot} << 1) |
         (is_static ? 1 : 0);
}

PortRef MacTable::ValuePort(uint64_t value) {
  return PortRef{static_cast<uint32_t>((value & 0xffffffffULL) >> 1),
                 static_cast<uint32_t>(value >> 32)};
}

size_t MacTable::Hash(const Table& t, uint64_t key) {
  uint64_t k = key ^ t.seed;
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ULL;
  k ^= k >> 33;
  return static_cast<size_t>(k) & t.mask;
}

bool MacTable::Expired(const Slot& slot, uint64_t value, int64_t now_ns) const {
  if (ValueStatic(value)) return false;
  return now_ns - slot.last_seen.load(std::memory_order_relaxed) >
         timeout_ns_.load(std::memory_order_relaxed);
}

uint32_t MacTable::timeout_seconds() const {
  return static_cast<uint32_t>(timeout_ns_.load(std::memory_order_relaxed) /
                               1000000000);
}

size_t MacTable::capacity() const {
  absl::MutexLock lock(&mu_);
  return table_.load()->mask + 1;
}

std::optional<PortRef> MacTable::Lookup(uint16_t vid, Mac mac,
                                        int64_t now_ns) const {
  const uint64_t key = Key(vid, mac);
  const Table* t = table_.load(std::memory_order_acquire);
retry:
  size_t i = Hash(*t, key);
  for (size_t probes = 0; probes <= t->mask; ++probes, i = (i + 1) & t->mask) {
    const Slot& s = t->slots[i];
    const uint64_t k = s.key.load(std::memory_order_acquire);
    if (k == 0) return std::nullopt;
    if (k != key) continue;
    const uint64_t v = s.value.load(std::memory_order_acquire);
    const bool expired = Expired(s, v, now_ns);
    if (s.key.load(std::memory_order_acquire) != key) goto retry;
    if (expired) return std::nullopt;
    return ValuePort(v);
  }
  return std::nullopt;
}

LearnResult MacTable::Learn(uint16_t vid, Mac mac, PortRef port,
                            int64_t now_ns, uint32_t port_max) {
  const uint64_t key = Key(vid, mac);
  // Fast path, no lock: the address is already on this port, or it is new
  // and the table is full (refused without touching the lock).
  bool found = false;
  {
    Table* t = table_.load(std::memory_order_acquire);
    size_t i = Hash(*t, key);
    for (size_t probes = 0; probes <= t->mask; ++probes, i = (i + 1) & t->mask) {
      Slot& s = t->slots[i];
      const uint64_t k = s.key.load(std::memory_order_acquire);
      if (k == 0) break;
      if (k != key) continue;
      found = true;
      const uint64_t v = s.value.load(std::memory_order_acquire);
      if (ValueStatic(v)) {
        return ValuePort(v) == port ? LearnResult::kRefreshed
                                    : LearnResult::kRefusedStatic;
      }
      if (ValuePort(v) == port && !Expired(s, v, now_ns)) {
        if (s.last_seen.load(std::memory_order_relaxed) < now_ns) {
          s.last_seen.store(now_ns, std::memory_order_relaxed);
        }
        return LearnResult::kRefreshed;
      }
      break;  // moved or expired: decide under the lock
    }
  }
  if (!found && live_.load(std::memory_order_relaxed) >=
                    max_.load(std::memory_order_relaxed)) {
    return LearnResult::kRefusedFull;
  }
  absl::MutexLock lock(&mu_);
  Table* t = table_.load();
  Slot* free_slot = nullptr;
  Slot* s = FindLocked(t, key, &free_slot);
  if (s != nullptr) {
    const uint64_t v = s->value.load();
    if (ValueStatic(v)) {
      return ValuePort(v) == port ? LearnResult::kRefreshed
                                  : LearnResult::kRefusedStatic;
    }
    if (Expired(*s, v, now_ns)) {
      // Expired but not yet swept: it is gone; this is a fresh learn (new to
      // this port unless it was already here).
      if (ValuePort(v) != port && PortFullLocked(port, port_max)) {
        return LearnResult::kRefusedPortFull;
      }
      expired_.fetch_add(1, std::memory_order_relaxed);
      Emit(AddressEventKind::kExpired, key, ValuePort(v), PortRef{},
           AgeSeconds(s->last_seen.load(std::memory_order_relaxed), now_ns));
      s->last_seen.store(now_ns, std::memory_order_relaxed);
      SetValueLocked(s, key, Value(port, false));
      learned_.fetch_add(1, std::memory_order_relaxed);
      Emit(AddressEventKind::kLearned, key, port, PortRef{});
      return LearnResult::kLearned;
    }
    const PortRef old = ValuePort(v);
    if (old == port) {
      s->last_seen.store(now_ns, std::memory_order_relaxed);
      return LearnResult::kRefreshed;
    }
    // A move onto a full port is refused too: else a flooder could take
    // other ports' entries without ever exceeding its limit.
    if (PortFullLocked(port, port_max)) return LearnResult::kRefusedPortFull;
    s->last_seen.store(now_ns, std::memory_order_relaxed);
    SetValueLocked(s, key, Value(port, false));
    moved_.fetch_add(1, std::memory_order_relaxed);
    Emit(AddressEventKind::kMoved, key, port, old);
    return LearnResult::kMoved;
  }
  if (live_.load(std::memory_order_relaxed) >= max_.load(std::memory_order_relaxed)) {
    return LearnResult::kRefusedFull;
  }
  if (PortFullLocked(port, port_max)) return LearnResult::kRefusedPortFull;
  InsertLocked(key, Value(port, false), now_ns);
  learned_.fetch_add(1, std::memory_order_relaxed);
  Emit(AddressEventKind::kLearned, key, port, PortRef{});
  return LearnResult::kLearned;
}

MacTable::Slot* MacTable::FindLocked(Table* t, uint64_t key,
                                     Slot** free_slot) const {
  *free_slot = nullptr;
  size_t i = Hash(*t, key);
  for (size_t probes = 0; probes <= t->mask; ++probes, i = (i + 1) & t->mask) {
    Slot& s = t->slots[i];
    const uint64_t k = s.key.load(std::memory_order_relaxed);
    if (k == 0) {
      if (*free_slot == nullptr) *free_slot = &s;
      return nullptr;
    }
    if (k == kTombstone) {
      if (*free_slot == nullptr) *free_slot = &s;
      continue;
    }
    if (k == key) return &s;
  }
  return nullptr;
}

void MacTable::InsertLocked(uint64_t key, uint64_t value, int64_t last_seen) {
  Table* t = table_.load();
  const size_t live = live_.load(std::memory_order_relaxed);
  if ((t->used + 1) * 4 > (t->mask + 1) * 3) {
    RebuildLocked(live + 1);
    t = table_.load();
  }
  Slot* free_slot = nullptr;
  FindLocked(t, key, &free_slot);
  if (free_slot->key.load(std::memory_order_relaxed) == 0) ++t->used;
  free_slot->value.store(value, std::memory_order_relaxed);
  free_slot->last_seen.store(last_seen, std::memory_order_relaxed);
  free_slot->key.store(key, std::memory_order_release);
  live_.fetch_add(1, std::memory_order_relaxed);
  CountLocked(key, value, +1);
  index_.insert(key & kKeyBits);
}

void MacTable::EraseLocked(Table* t, Slot* slot) {
  (void)t;
  const uint64_t key = slot->key.load(std::memory_order_relaxed);
  CountLocked(key, slot->value.load(std::memory_order_relaxed), -1);
  index_.erase(key & kKeyBits);
  slot->key.store(kTombstone, std::memory_order_release);
  live_.fetch_sub(1, std::memory_order_relaxed);
}

void MacTable::CountLocked(uint64_t key, uint64_t value, int delta) {
  const bool is_static = ValueStatic(value);
  if (is_static) {
    static_.fetch_add(delta, std::memory_order_relaxed);
    // Static entries are few and listed on every configuration save: their
    // own index keeps that O(statics), not a walk of the whole table.
    if (delta > 0) {
      static_index_.insert(key & kKeyBits);
    } else {
      static_index_.erase(key & kKeyBits);
    }
  }
  vid_counts_[KeyVid(key)] += delta;
  const uint64_t pk = PackPort(ValuePort(value));
  if (delta > 0) {
    PortCount& c = port_counts_[pk];
    ++c.total;
    if (is_static) ++c.statics;
  } else {
    auto it = port_counts_.find(pk);
    if (it == port_counts_.end()) return;  // cannot happen: counted on insert
    --it->second.total;
    if (is_static) --it->second.statics;
    if (it->second.total == 0) port_counts_.erase(it);
  }
}

bool MacTable::PortFullLocked(PortRef port, uint32_t port_max) const {
  if (port_max == 0) return false;
  auto it = port_counts_.find(PackPort(port));
  return it != port_counts_.end() && it->second.total >= port_max;
}

void MacTable::SetValueLocked(Slot* slot, uint64_t key, uint64_t value) {
  CountLocked(key, slot->value.load(std::memory_order_relaxed), -1);
  slot->value.store(value, std::memory_order_release);
  CountLocked(key, value, +1);
}

void MacTable::RebuildLocked(size_t min_live) {
  Table* old = table_.load();
  auto* fresh = new Table(NextPow2(2 * min_live), RandomSeed());
  for (size_t i = 0; i <= old->mask; ++i) {
    const Slot& s = old->slots[i];
    const uint64_t k = s.key.load(std::memory_order_relaxed);
    if (k == 0 || k == kTombstone) continue;
    size_t j = Hash(*fresh, k);
    while (fresh->slots[j].key.load(std::memory_order_relaxed) != 0) {
      j = (j + 1) & fresh->mask;
    }
    Slot& d = fresh->slots[j];
    d.value.store(s.value.load(std::memory_order_relaxed), std::memory_order_relaxed);
    d.last_seen.store(s.last_seen.load(std::memory_order_relaxed),
                      std::memory_order_relaxed);
    d.key.store(k, std::memory_order_relaxed);
    ++fresh->used;
  }
  table_.store(fresh, std::memory_order_release);
  qsbr_->RetireObject(old);
}

void MacTable::MaybeShrinkLocked() {
  Table* t = table_.load();
  const size_t live = live_.load(std::memory_order_relaxed);
  // Erasing keys frees the index's emptied nodes; an empty set holds none.
  if (live == 0) absl::btree_set<uint64_t>().swap(index_);
  if (port_counts_.empty() && port_counts_.capacity() > 64) {
    absl::flat_hash_map<uint64_t, PortCount>().swap(port_counts_);
  }
  const size_t cap = t->mask + 1;
  if ((cap > kMinCapacity && live * 8 < cap) || t->used - live > cap / 4) {
    RebuildLocked(live);
  }
}

void MacTable::Emit(AddressEventKind kind, uint64_t key, PortRef port,
                    PortRef old, uint32_t age_seconds) {
  if (!sink_) return;
  sink_(AddressEvent{kind, KeyVid(key), KeyMac(key), port, old, age_seconds});
}

uint32_t MacTable::AgeSeconds(int64_t last_seen_ns, int64_t now_ns) {
  if (now_ns <= last_seen_ns) return 0;
  return static_cast<uint32_t>((now_ns - last_seen_ns) / 1000000000);
}

absl::Status MacTable::AddStatic(uint16_t vid, Mac mac, PortRef port) {
  const uint64_t key = Key(vid, mac);
  absl::MutexLock lock(&mu_);
  Slot* free_slot = nullptr;
  Slot* s = FindLocked(table_.load(), key, &free_slot);
  if (s != nullptr) {
    SetValueLocked(s, key, Value(port, true));
    return absl::OkStatus();
  }
  if (live_.load(std::memory_order_relaxed) >= max_.load(std::memory_order_relaxed)) {
    return absl::ResourceExhaustedError(
        absl::StrCat("address table full (", max_.load(), " addresses)"));
  }
  InsertLocked(key, Value(port, true), 0);
  return absl::OkStatus();
}

bool MacTable::Delete(uint16_t vid, Mac mac) {
  const uint64_t key = Key(vid, mac);
  absl::MutexLock lock(&mu_);
  Table* t = table_.load();
  Slot* free_slot = nullptr;
  Slot* s = FindLocked(t, key, &free_slot);
  if (s == nullptr) return false;
  const PortRef port = ValuePort(s->value.load());
  EraseLocked(t, s);
  Emit(AddressEventKind::kDeleted, key, port, PortRef{});
  MaybeShrinkLocked();
  return true;
}

size_t MacTable::RemovePort(PortRef port) {
  absl::MutexLock lock(&mu_);
  // The per-port count bounds the walk: a port without entries (most span
  // ports, a port just added) costs nothing, and the walk stops at the last.
  auto it = port_counts_.find(PackPort(port));
  if (it == port_counts_.end()) return 0;
  const size_t count = it->second.total;
  Table* t = table_.load();
  size_t n = 0;
  for (size_t i = 0; i <= t->mask && n < count; ++i) {
    Slot& s = t->slots[i];
    const uint64_t k = s.key.load(std::memory_order_relaxed);
    if (k == 0 || k == kTombstone) continue;
    if (ValuePort(s.value.load()) != port) continue;
    EraseLocked(t, &s);
    Emit(AddressEventKind::kDeleted, k, port, PortRef{});
    ++n;
  }
  MaybeShrinkLocked();
  return n;
}

size_t MacTable::Flush(bool include_static) {
  absl::MutexLock lock(&mu_);
  Table* t = table_.load();
  size_t n = 0;
  for (size_t i = 0; i <= t->mask; ++i) {
    Slot& s = t->slots[i];
    const uint64_t k = s.key.load(std::memory_order_relaxed);
    if (k == 0 || k == kTombstone) continue;
    const uint64_t v = s.value.load();
    if (ValueStatic(v) && !include_static) continue;
    EraseLocked(t, &s);
    Emit(AddressEventKind::kDeleted, k, ValuePort(v), PortRef{});
    ++n;
  }
  MaybeShrinkLocked();
  return n;
}

size_t MacTable::Expire(int64_t now_ns) {
  absl::MutexLock lock(&mu_);
  Table* t = table_.load();
  size_t n = 0;
  for (size_t i = 0; i <= t->mask; ++i) {
    Slot& s = t->slots[i];
    const uint64_t k = s.key.load(std::memory_order_relaxed);
    if (k == 0 || k == kTombstone) continue;
    const uint64_t v = s.value.load();
    if (!Expired(s, v, now_ns)) continue;
    const uint32_t age = AgeSeconds(s.last_seen.load(std::memory_order_relaxed), now_ns);
    EraseLocked(t, &s);
    expired_.fetch_add(1, std::memory_order_relaxed);
    Emit(AddressEventKind::kExpired, k, ValuePort(v), PortRef{}, age);
    ++n;
  }
  if (n > 0) MaybeShrinkLocked();
  return n;
}

std::vector<AddressEntry> MacTable::List(int64_t now_ns) const {
  absl::MutexLock lock(&mu_);
  const Table* t = table_.load();
  std::vector<AddressEntry> out;
  out.reserve(live_.load(std::memory_order_relaxed));
  for (size_t i = 0; i <= t->mask; ++i) {
    const Slot& s = t->slots[i];
    const uint64_t k = s.key.load(std::memory_order_relaxed);
    if (k == 0 || k == kTombstone) continue;
    const uint64_t v = s.value.load();
    if (Expired(s, v, now_ns)) continue;
    out.push_back(EntryOf(k, v, s));
  }
  return out;
}

AddressEntry MacTable::EntryOf(uint64_t key, uint64_t value, const Slot& slot) {
  AddressEntry e;
  e.vid = KeyVid(key);
  e.mac = KeyMac(key);
  e.port = ValuePort(value);
  e.is_static = ValueStatic(value);
  e.last_seen_ns = e.is_static ? 0 : slot.last_seen.load(std::memory_order_relaxed);
  return e;
}

std::optional<AddressEntry> MacTable::Get(uint16_t vid, Mac mac,
                                          int64_t now_ns) const {
  const uint64_t key = Key(vid, mac);
  absl::ReaderMutexLock lock(&mu_);
  Slot* free_slot = nullptr;
  const Slot* s = FindLocked(table_.load(), key, &free_slot);
  if (s == nullptr) return std::nullopt;
  const uint64_t v = s->value.load(std::memory_order_relaxed);
  if (Expired(*s, v, now_ns)) return std::nullopt;
  return EntryOf(key, v, *s);
}

bool MacTable::MatchesLocked(uint64_t key, uint64_t value, const Slot& slot,
                             const AddressFilter& f, int64_t now_ns) const {
  if (f.vid && KeyVid(key) != *f.vid) return false;
  if (f.mac && KeyMac(key) != *f.mac) return false;
  if (f.port && ValuePort(value) != *f.port) return false;
  if (f.is_static && ValueStatic(value) != *f.is_static) return false;
  return !Expired(slot, value, now_ns);
}

AddressPage MacTable::ListPage(std::optional<AddressKey> after, size_t limit,
                               const AddressFilter& filter,
                               int64_t now_ns) const {
  AddressPage page;
  if (limit == 0 || (after && after->vid > 0xfff) ||
      (filter.vid && *filter.vid > 0xfff)) {
    return page;
  }
  absl::ReaderMutexLock lock(&mu_);
  Table* t = table_.load();
  // Returns false once the page is full.
  auto visit = [&](uint64_t bare_key) ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    const uint64_t key = bare_key | kPresent;
    Slot* free_slot = nullptr;
    const Slot* s = FindLocked(t, key, &free_slot);
    if (s == nullptr) return true;
    const uint64_t v = s->value.load(std::memory_order_relaxed);
    if (!MatchesLocked(key, v, *s, filter, now_ns)) return true;
    if (page.entries.size() == limit) {  // one more exists: not the end
      const AddressEntry& last = page.entries.back();
      page.next_after = AddressKey{last.vid, last.mac};
      return false;
    }
    page.entries.push_back(EntryOf(key, v, *s));
    return true;
  };
  const uint64_t start =
      after ? (Key(after->vid, after->mac) & kKeyBits) + 1 : 0;
  if (filter.mac) {
    // One probe per VID, in VID order.
    for (uint32_t vid = static_cast<uint32_t>(start >> 48); vid <= 0xfff; ++vid) {
      if (filter.vid && vid != *filter.vid) continue;
      const uint64_t k = Key(static_cast<uint16_t>(vid), *filter.mac) & kKeyBits;
      if (k < start) continue;
      if (!visit(k)) break;
    }
    return page;
  }
  uint64_t from = start;
  uint64_t end = kKeyBits;  // inclusive
  if (filter.vid) {
    const uint64_t lo = uint64_t{*filter.vid} << 48;
    from = std::max(from, lo);
    end = lo | 0xffffffffffffULL;
  }
  const absl::btree_set<uint64_t>& keys =
      filter.is_static.value_or(false) ? static_index_ : index_;
  for (auto it = keys.lower_bound(from); it != keys.end() && *it <= end; ++it) {
    if (!visit(*it)) break;
  }
  return page;
}

size_t MacTable::CountMatching(const AddressFilter& f) const {
  if (f.vid && *f.vid > 0xfff) return 0;
  absl::ReaderMutexLock lock(&mu_);
  const size_t live = live_.load(std::memory_order_relaxed);
  const size_t statics = static_.load(std::memory_order_relaxed);
  if (!f.vid && !f.mac) {
    if (!f.port) {
      if (!f.is_static) return live;
      return *f.is_static ? statics : live - statics;
    }
    auto it = port_counts_.find(PackPort(*f.port));
    if (it == port_counts_.end()) return 0;
    if (!f.is_static) return it->second.total;
    return *f.is_static ? it->second.statics
                        : it->second.total - it->second.statics;
  }
  if (f.vid && !f.mac && !f.port && !f.is_static) return vid_counts_[*f.vid & 0xfff];
  Table* t = table_.load();
  size_t n = 0;
  // Counts like the counters: expired entries not yet removed included.
  auto count = [&](uint64_t bare_key) ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    Slot* free_slot = nullptr;
    const Slot* s = FindLocked(t, bare_key | kPresent, &free_slot);
    if (s == nullptr) return;
    const uint64_t v = s->value.load(std::memory_order_relaxed);
    if (f.port && ValuePort(v) != *f.port) return;
    if (f.is_static && ValueStatic(v) != *f.is_static) return;
    ++n;
  };
  if (f.mac) {
    for (uint32_t vid = 0; vid <= 0xfff; ++vid) {
      if (f.vid && vid != *f.vid) continue;
      count(Key(static_cast<uint16_t>(vid), *f.mac) & kKeyBits);
    }
    return n;
  }
  const uint64_t lo = uint64_t{*f.vid} << 48;
  for (auto it = index_.lower_bound(lo);
       it != index_.end() && *it <= (lo | 0xffffffffffffULL); ++it) {
    count(*it);
  }
  return n;
}

size_t MacTable::CountForPort(PortRef port) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = port_counts_.find(PackPort(port));
  return it == port_counts_.end() ? 0 : it->second.total;
}

size_t MacTable::StaticCountForPort(PortRef port) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = port_counts_.find(PackPort(port));
  return it == port_counts_.end() ? 0 : it->second.statics;
}

size_t MacTable::CountForVid(uint16_t vid) const {
  absl::ReaderMutexLock lock(&mu_);
  return vid_counts_[vid & 0xfff];
}

void MacTable::SetMaxAddresses(uint32_t max_addresses) {
  max_.store(max_addresses, std::memory_order_relaxed);
}

void MacTable::SetTimeoutSeconds(uint32_t seconds) {
  timeout_ns_.store(int64_t{seconds} * 1000000000, std::memory_order_relaxed);
}

}  // namespace veb
