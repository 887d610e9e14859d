// KernelBridge: the MAC table (static entries, deletes, flushes, the aging
// sweep, listings and counts), the counters, and test runs of the test
// variant. The rest of the class: kernel_bridge.cc.
#include "dataplane/ebpf/kernel_bridge.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <net/if.h>

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "dataplane/ebpf/kernel_bridge_internal.h"
#include "dataplane/ebpf/veb_layout.h"
#include "dataplane/frame.h"
#include "dataplane/mac_address.h"

namespace veb::ebpf {

absl::Status KernelBridge::AddStaticAddress(uint16_t vid, Mac mac, absl::string_view port) {
  const std::string obj = absl::StrCat("address ", FormatMac(mac), " vid ", vid);
  if (vid < kVlanMin || vid > kVlanMax) {
    return absl::InvalidArgumentError(absl::StrCat(obj, ": add: vid out of range 1..4094"));
  }
  if (IsMulticast(mac) || mac == 0) {
    return absl::InvalidArgumentError(absl::StrCat(obj, ": add: multicast or zero address"));
  }
  absl::MutexLock lock(&mu_);
  const PortState* p = FindLocked(port);
  if (p == nullptr || p->span) {
    return absl::NotFoundError(absl::StrCat(obj, ": add: port ", Quote(port),
                                            " is not a member of bridge ", Quote(name_)));
  }
  const veb_fdb_key k = FdbKey(vid, mac);
  veb_fdb_entry e{};
  const veb_fdb_entry ne{PackRef(p->ref), 0, 1, 0};
  const int fd = maps_->fd[kFdb];
  if (bpf_map_lookup_elem(fd, &k, &e) == 0) {
    if (bpf_map_update_elem(fd, &k, &ne, BPF_EXIST) == 0) {
      if (e.port != ne.port) {
        __atomic_fetch_sub(Count(VEB_REF_SLOT(e.port) % VEB_MAX_PORTS), 1, __ATOMIC_RELAXED);
        __atomic_fetch_add(Count(p->ref.slot), 1, __ATOMIC_RELAXED);
      }
      statics_[PackKey(vid, mac)] = p->ref;
      return absl::OkStatus();
    }
  }
  uint64_t* total = Count(VEB_COUNT_TOTAL);
  if (__atomic_fetch_add(total, 1, __ATOMIC_RELAXED) >= config_.max_addresses) {
    __atomic_fetch_sub(total, 1, __ATOMIC_RELAXED);
    return absl::ResourceExhaustedError(absl::StrCat(
        obj, ": add: address table full (", config_.max_addresses, " addresses)"));
  }
  if (bpf_map_update_elem(fd, &k, &ne, BPF_NOEXIST) != 0) {
    const int err = errno;
    __atomic_fetch_sub(total, 1, __ATOMIC_RELAXED);
    return absl::ResourceExhaustedError(absl::StrCat(obj, ": add: ", ErrnoText(err)));
  }
  __atomic_fetch_add(Count(p->ref.slot), 1, __ATOMIC_RELAXED);
  statics_[PackKey(vid, mac)] = p->ref;
  return absl::OkStatus();
}

absl::Status KernelBridge::DeleteAddress(uint16_t vid, Mac mac) {
  absl::MutexLock lock(&mu_);
  const veb_fdb_key k = FdbKey(vid, mac);
  veb_fdb_entry e{};
  const int fd = maps_->fd[kFdb];
  if (bpf_map_lookup_elem(fd, &k, &e) != 0 || bpf_map_delete_elem(fd, &k) != 0) {
    return absl::NotFoundError(absl::StrCat("address ", FormatMac(mac), " vid ", vid,
                                            ": delete: not in bridge ", Quote(name_)));
  }
  __atomic_fetch_sub(Count(VEB_COUNT_TOTAL), 1, __ATOMIC_RELAXED);
  __atomic_fetch_sub(Count(VEB_REF_SLOT(e.port) % VEB_MAX_PORTS), 1, __ATOMIC_RELAXED);
  statics_.erase(PackKey(vid, mac));
  AddressEvent ev{};
  ev.kind = AddressEventKind::kDeleted;
  ev.vid = vid;
  ev.mac = mac;
  ev.port = UnpackRef(e.port);
  Emit(ev);
  return absl::OkStatus();
}

size_t KernelBridge::FlushAddresses(bool include_static) {
  absl::MutexLock lock(&mu_);
  return DeleteEntriesLocked(
      [include_static](const veb_fdb_key&, const veb_fdb_entry& e) {
        return include_static || !e.is_static;
      },
      AddressEventKind::kDeleted, clock_->NowNs());
}

size_t KernelBridge::ExpireAddresses() {
  absl::MutexLock lock(&mu_);
  const int64_t now = clock_->NowNs();
  const int64_t timeout = int64_t{config_.timeout_seconds} * 1000000000;
  const size_t n = DeleteEntriesLocked(
      [now, timeout](const veb_fdb_key&, const veb_fdb_entry& e) {
        return !e.is_static && now - static_cast<int64_t>(e.last_seen_ns) > timeout;
      },
      AddressEventKind::kExpired, now);
  swept_expired_ += n;
  // Learn and move events the ring buffer lost (it was full): report them
  // now. Only after a loss, since events still in the ring would otherwise be
  // reported twice.
  uint64_t lost = 0;
  {
    std::vector<veb_bridge_counters> cells(NumCpus());
    const uint32_t zero = 0;
    if (bpf_map_lookup_elem(maps_->fd[kBcounters], &zero, cells.data()) == 0) {
      for (const veb_bridge_counters& c : cells) lost += c.events_lost;
    }
  }
  if (lost == events_lost_seen_) return n;
  events_lost_seen_ = lost;
  std::vector<AddressEvent> missed;
  {
    absl::MutexLock sl(&sink_mu_);
    ForEachFdbEntry(maps_->fd[kFdb], [&](const veb_fdb_key& key, const veb_fdb_entry& e) {
      sink_mu_.AssertHeld();
      if (e.is_static) return;
      const uint64_t k = PackKey(key.vid, KeyMac(key));
      auto it = known_.find(k);
      const PortRef ref = UnpackRef(e.port);
      if (it != known_.end() && it->second == ref) return;
      AddressEvent ev{};
      ev.vid = key.vid;
      ev.mac = KeyMac(key);
      ev.port = ref;
      if (it == known_.end()) {
        ev.kind = AddressEventKind::kLearned;
      } else {
        ev.kind = AddressEventKind::kMoved;
        ev.old_port = it->second;
      }
      missed.push_back(ev);
    });
  }
  for (const AddressEvent& ev : missed) Emit(ev);
  return n;
}

absl::StatusOr<AddressInfoPage> KernelBridge::ListAddressPage(
    const AddressQuery& query, std::optional<AddressKey> after, size_t limit) const {
  const int64_t now = clock_->NowNs();
  absl::ReaderMutexLock lock(&mu_);
  std::optional<PortRef> port;
  if (!query.port.empty()) {
    const PortState* p = FindLocked(query.port);
    if (p == nullptr) {
      return absl::NotFoundError(absl::StrCat("port ", Quote(query.port),
                                              ": list addresses: not a port of bridge ", Quote(name_)));
    }
    port = p->ref;
  }
  const int64_t timeout = int64_t{config_.timeout_seconds} * 1000000000;
  struct Item {
    uint64_t key;
    veb_fdb_entry e;
  };
  std::vector<Item> items;
  size_t total = 0;
  ForEachFdbEntry(maps_->fd[kFdb], [&](const veb_fdb_key& key, const veb_fdb_entry& e) {
    mu_.AssertReaderHeld();
    const Mac mac = KeyMac(key);
    if (query.vid && *query.vid != key.vid) return;
    if (query.mac && *query.mac != mac) return;
    if (query.is_static && *query.is_static != (e.is_static != 0)) return;
    if (port && PackRef(*port) != e.port) return;
    const PortRef ref = UnpackRef(e.port);
    const PortState* owner = ref.slot < slots_.size() ? slots_[ref.slot].get() : nullptr;
    if (owner == nullptr || owner->pending || owner->ref != ref) return;  // a port being removed
    ++total;  // counted like MacTable::CountMatching: expired included
    if (!e.is_static && now - static_cast<int64_t>(e.last_seen_ns) > timeout) return;
    const uint64_t k = PackKey(key.vid, mac);
    if (after && k <= PackKey(after->vid, after->mac)) return;
    items.push_back({k, e});
  });
  // Only the page is sorted: the smallest `limit` keys (+1, to know whether
  // more follow) are selected in O(n) first.
  auto by_key = [](const Item& a, const Item& b) { return a.key < b.key; };
  if (items.size() > limit + 1) {
    std::nth_element(items.begin(), items.begin() + static_cast<ptrdiff_t>(limit + 1), items.end(),
                     by_key);
    items.resize(limit + 1);
  }
  std::sort(items.begin(), items.end(), by_key);
  AddressInfoPage out;
  out.total_matching = total;
  for (const Item& it : items) {
    if (out.addresses.size() == limit) {
      const AddressInfo& last = out.addresses.back();
      out.next_after = AddressKey{last.vid, last.mac};
      break;
    }
    const PortRef ref = UnpackRef(it.e.port);
    const PortState* p = ref.slot < slots_.size() ? slots_[ref.slot].get() : nullptr;
    if (p == nullptr || p->pending || p->ref != ref) continue;
    AddressInfo info;
    info.vid = static_cast<uint16_t>(it.key >> 48);
    info.mac = it.key & 0xffffffffffffULL;
    info.port = p->name;
    info.is_static = it.e.is_static != 0;
    info.age_seconds = info.is_static ? 0
                                      : static_cast<uint32_t>(
                                            (now - static_cast<int64_t>(it.e.last_seen_ns)) / 1000000000);
    out.addresses.push_back(std::move(info));
  }
  return out;
}

std::optional<AddressInfo> KernelBridge::GetAddress(uint16_t vid, Mac mac) const {
  const int64_t now = clock_->NowNs();
  absl::ReaderMutexLock lock(&mu_);
  const veb_fdb_key k = FdbKey(vid, mac);
  veb_fdb_entry e{};
  if (bpf_map_lookup_elem(maps_->fd[kFdb], &k, &e) != 0) return std::nullopt;
  if (!e.is_static &&
      now - static_cast<int64_t>(e.last_seen_ns) > int64_t{config_.timeout_seconds} * 1000000000) {
    return std::nullopt;
  }
  const PortRef ref = UnpackRef(e.port);
  const PortState* p = ref.slot < slots_.size() ? slots_[ref.slot].get() : nullptr;
  if (p == nullptr || p->pending || p->ref != ref) return std::nullopt;
  AddressInfo info;
  info.vid = vid;
  info.mac = mac;
  info.port = p->name;
  info.is_static = e.is_static != 0;
  info.age_seconds =
      info.is_static ? 0 : static_cast<uint32_t>((now - static_cast<int64_t>(e.last_seen_ns)) / 1000000000);
  return info;
}

size_t KernelBridge::address_count() const {
  absl::ReaderMutexLock lock(&mu_);
  return __atomic_load_n(Count(VEB_COUNT_TOTAL), __ATOMIC_RELAXED);
}

AddressCounts KernelBridge::GetAddressCounts() const {
  absl::ReaderMutexLock lock(&mu_);
  AddressCounts c;
  c.total = __atomic_load_n(Count(VEB_COUNT_TOTAL), __ATOMIC_RELAXED);
  c.statics = statics_.size();
  c.total = std::max(c.total, c.statics);
  return c;
}

absl::StatusOr<size_t> KernelBridge::PortAddressCount(absl::string_view port) const {
  absl::ReaderMutexLock lock(&mu_);
  const PortState* p = FindLocked(port);
  if (p == nullptr) {
    return absl::NotFoundError(absl::StrCat("port ", Quote(port), ": address count: not a port of bridge ", Quote(name_)));
  }
  return __atomic_load_n(Count(p->ref.slot), __ATOMIC_RELAXED);
}

// ---- counters ---------------------------------------------------------------------------

absl::StatusOr<PortCounters> KernelBridge::GetPortCounters(absl::string_view port) const {
  absl::ReaderMutexLock lock(&mu_);
  const PortState* p = FindLocked(port);
  if (p == nullptr) {
    return absl::NotFoundError(absl::StrCat("port ", Quote(port), ": counters: not a port of bridge ", Quote(name_)));
  }
  uint32_t slot = p->ref.slot;
  PortCounters out;
  std::vector<veb_port_hot> hot(NumCpus());
  if (bpf_map_lookup_elem(maps_->fd[kHot], &slot, hot.data()) == 0) {
    for (const veb_port_hot& c : hot) {
      out.rx_packets += c.rx_packets;
      out.rx_bytes += c.rx_bytes;
      out.tx_packets += c.tx_packets;
      out.tx_bytes += c.tx_bytes;
      out.unicast += c.unicast;
      out.flooded += c.flooded;
    }
  }
  std::vector<veb_port_drops> drops(NumCpus());
  if (bpf_map_lookup_elem(maps_->fd[kCounters], &slot, drops.data()) == 0) {
    for (const veb_port_drops& c : drops) {
      for (size_t i = 0; i < kNumDropReasons; ++i) {
        out.in_drops[i] += c.in[i];
        out.out_drops[i] += c.out[i];
      }
    }
  }
  return out;
}

BridgeCounters KernelBridge::GetCounters() const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<veb_bridge_counters> cells(NumCpus());
  const uint32_t zero = 0;
  BridgeCounters out;
  out.expired = swept_expired_;
  if (bpf_map_lookup_elem(maps_->fd[kBcounters], &zero, cells.data()) != 0) return out;
  for (const veb_bridge_counters& c : cells) {
    out.learned += c.learned;
    out.moved += c.moved;
    out.expired += c.expired;
    out.flooded += c.flooded;
    for (size_t i = 0; i < kNumLearnRefusals; ++i) out.refused[i] += c.refused[i];
  }
  return out;
}

// ---- test hook ------------------------------------------------------------------------------

absl::StatusOr<TestResult> KernelBridge::TestRun(absl::string_view port,
                                                 absl::Span<const uint8_t> frame, bool gso) {
  TestResult result;
  {
    absl::MutexLock lock(&mu_);
    if (!options_.test_hook) {
      return absl::FailedPreconditionError(absl::StrCat("bridge ", Quote(name_), ": not in test mode"));
    }
    const PortState* p = FindLocked(port);
    if (p == nullptr) {
      return absl::NotFoundError(absl::StrCat("port ", Quote(port), ": not a port of bridge ", Quote(name_)));
    }
    if (frame.size() < 14) {
      return absl::InvalidArgumentError("BPF_PROG_TEST_RUN needs at least 14 bytes");
    }
    const uint32_t zero = 0;
    veb_test_ctl ctl{};
    ctl.rx_slot = p->ref.slot;
    ctl.now_ns = static_cast<uint64_t>(clock_->NowNs());
    bpf_map_update_elem(maps_->fd[kTestCtl], &zero, &ctl, BPF_ANY);
    __sk_buff ctx{};
    ctx.gso_size = gso ? 1448 : 0;
    ctx.gso_segs = gso ? 2 : 0;
    std::vector<uint8_t> out(frame.size() + 64);
    LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame.data(), .data_out = out.data(),
                .data_size_in = static_cast<__u32>(frame.size()),
                .data_size_out = static_cast<__u32>(out.size()), .ctx_in = &ctx,
                .ctx_size_in = sizeof(ctx), .repeat = 1);
    if (int err = bpf_prog_test_run_opts(maps_->prog, &o); err != 0) {
      return absl::InternalError(absl::StrCat("BPF_PROG_TEST_RUN: ", ErrnoText(err)));
    }
    veb_test_out to{};
    bpf_map_lookup_elem(maps_->fd[kTestOut], &zero, &to);
    switch (to.verdict) {
      case VEB_TV_DROP:
        result.verdict = TestResult::Verdict::kDrop;
        result.reason = static_cast<DropReason>(to.reason);
        break;
      case VEB_TV_UNICAST:
        result.verdict = TestResult::Verdict::kUnicast;
        break;
      case VEB_TV_FLOOD:
        result.verdict = TestResult::Verdict::kFlood;
        break;
      default:
        result.verdict = TestResult::Verdict::kNotSwitched;
        break;
    }
    for (uint32_t i = 0; i < to.n_copies; ++i) {
      veb_test_copy c{};
      bpf_map_lookup_elem(maps_->fd[kTestCopies], &i, &c);
      result.copies.push_back(TestCopy{c.slot, c.span != 0, static_cast<TagOp>(c.tag_op), c.tci, c.len});
    }
  }
  ring_buffer__consume(events_);
  return result;
}

}  // namespace veb::ebpf
