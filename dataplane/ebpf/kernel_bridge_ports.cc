// KernelBridge: ports (add, adopt in place, settings, link state, removal
// with its grace period and entries, S12) and their rule lists. The rest of
// the class: kernel_bridge.cc; shared pieces: kernel_bridge_internal.h.
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

const KernelBridge::PortState* KernelBridge::FindLocked(absl::string_view port) const {
  auto it = slot_by_name_.find(port);
  if (it == slot_by_name_.end()) return nullptr;
  return slots_[it->second].get();
}

absl::StatusOr<PortRef> KernelBridge::AddLocked(std::shared_ptr<Port> port,
                                                const PortConfig& config, bool span) {
  const std::string what = span ? "add span port" : "add";
  if (destroyed_) return absl::FailedPreconditionError(absl::StrCat("bridge ", Quote(name_), " was destroyed"));
  if (port == nullptr || port->name().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("bridge ", Quote(name_), ": ", what, ": port has no name"));
  }
  const std::string pname = port->name();
  auto* dev = dynamic_cast<NetdevPort*>(port.get());
  if (dev == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "port ", Quote(pname), ": ", what, ": the kernel bridge ", Quote(name_),
        " holds only network interfaces (no TAP or AF_XDP backends)"));
  }
  if (!span) {
    if (absl::Status s = ValidatePortConfig(config); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("port ", Quote(pname), ": ", what, ": ", s.message()));
    }
  }
  if (const PortState* existing = FindLocked(pname)) {
    return absl::AlreadyExistsError(absl::StrCat(
        "port ", Quote(pname), ": ", what, ": already ",
        existing->span ? "a span port" : "a member", " of bridge ", Quote(name_)));
  }
  for (const auto& p : slots_) {
    if (p && !p->pending && p->ifindex == dev->ifindex()) {
      return absl::AlreadyExistsError(absl::StrCat(
          "port ", Quote(pname), ": ", what, ": its interface is already port ",
          Quote(p->name), " of bridge ", Quote(name_)));
    }
  }
  stale_.erase(dev->ifindex());  // its old program is replaced in place below
  // A pinned port re-added after a restart keeps its slot, generation and
  // MAC entries, and its filter is never detached (no forwarding gap).
  PortState* st = nullptr;
  bool adopted = false;
  if (auto it = pinned_.find(dev->ifindex()); it != pinned_.end()) {
    if (slots_[it->second]->span == span) {
      st = slots_[it->second].get();
      adopted = true;
    } else {  // member <-> span: the pinned port goes, a new one comes
      const PortState old = *slots_[it->second];
      RemoveSlotLocked(old.ref.slot, old.ref.gen, old.ifindex, old.span);
    }
    pinned_.erase(it);
  }
  if (!adopted) {
    uint32_t slot = 0;
    while (slot < kMaxPortsPerBridge && slots_[slot]) ++slot;
    if (slot == kMaxPortsPerBridge) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "port ", Quote(pname), ": ", what, ": bridge ", Quote(name_), " already has ",
          kMaxPortsPerBridge, " ports"));
    }
    slots_[slot] = std::make_unique<PortState>();
    st = slots_[slot].get();
    st->ref = PortRef{slot, ++next_gen_};
    st->span = span;
  }
  st->io = std::move(port);
  st->dev = dev;
  st->name = pname;
  st->ifindex = dev->ifindex();
  st->config = span ? PortConfig{} : config;
  st->pending = false;
  uint32_t slot = st->ref.slot;
  const Maps& maps = *maps_;
  std::unique_ptr<PortState>& owned = slots_[slot];
  auto undo = [&](absl::Status s) -> absl::Status {
    if (!adopted) {
      bpf_map_delete_elem(maps.fd[kIfindex], &st->ifindex);
      veb_port zero{};
      bpf_map_update_elem(maps.fd[kPorts], &slot, &zero, BPF_ANY);
      bpf_map_delete_elem(maps.fd[kCounters], &slot);
      owned.reset();
    }
    return absl::Status(s.code(), absl::StrCat("port ", Quote(pname), ": ", what, ": ", s.message()));
  };
  if (!adopted) {
    // Counter cells first (zero on every CPU), then the port, then the
    // ifindex that routes its frames to it.
    std::vector<veb_port_hot> hot(NumCpus());
    std::memset(hot.data(), 0, hot.size() * sizeof(veb_port_hot));
    if (bpf_map_update_elem(maps_->fd[kHot], &slot, hot.data(), BPF_ANY) != 0) {
      return undo(absl::InternalError(absl::StrCat("counters: ", ErrnoText(errno))));
    }
    std::vector<veb_port_drops> zero(NumCpus());
    std::memset(zero.data(), 0, zero.size() * sizeof(veb_port_drops));
    // The per-CPU cells come from the kernel's BPF allocator, whose caches
    // refill asynchronously: a quick run of additions can find them empty
    // (ENOMEM) for a moment, so that is retried (bounded: 1 s).
    int err = 0;
    for (int attempt = 0; attempt < 1000; ++attempt) {
      err = bpf_map_update_elem(maps_->fd[kCounters], &slot, zero.data(), BPF_ANY) == 0 ? 0 : errno;
      if (err != ENOMEM) break;
      usleep(1000);
    }
    if (err != 0) return undo(absl::InternalError(absl::StrCat("counters: ", ErrnoText(err))));
    Count(slot)[0] = 0;
  }
  if (absl::Status s = WritePortLocked(*st); !s.ok()) return undo(s);
  if (bpf_map_update_elem(maps_->fd[kIfindex], &st->ifindex, &slot, BPF_ANY) != 0) {
    return undo(absl::InternalError(absl::StrCat("ifindex map: ", ErrnoText(errno))));
  }
  if (!adopted) {
    std::vector<uint32_t>& list = span ? spans_ : members_;
    const uint32_t idx = static_cast<uint32_t>(list.size());
    bpf_map_update_elem(maps_->fd[span ? kSpans : kMembers], &idx, &slot, BPF_ANY);
    list.push_back(slot);
    if (absl::Status s = WriteCfgLocked(); !s.ok()) return undo(s);
  }
  if (absl::Status s = AttachLocked(st->ifindex); !s.ok()) {
    if (!adopted) {
      std::vector<uint32_t>& list = span ? spans_ : members_;
      list.pop_back();
      (void)WriteCfgLocked();
    }
    return undo(s);
  }
  slot_by_name_[pname] = slot;
  const std::string name_copy = pname;
  dev->SetListener([this, name_copy] { RefreshPortState(name_copy); });
  return st->ref;
}

void KernelBridge::RefreshPortState(const std::string& name) {
  absl::MutexLock lock(&mu_);
  if (const PortState* p = FindLocked(name)) (void)WritePortLocked(*p);
}

absl::StatusOr<PortRef> KernelBridge::AddPort(std::shared_ptr<Port> port,
                                              const PortConfig& config) {
  absl::MutexLock lock(&mu_);
  return AddLocked(std::move(port), config, /*span=*/false);
}

absl::StatusOr<PortRef> KernelBridge::AddSpanPort(std::shared_ptr<Port> port) {
  absl::MutexLock lock(&mu_);
  return AddLocked(std::move(port), PortConfig{}, /*span=*/true);
}

absl::Status KernelBridge::UpdatePort(absl::string_view port, const PortConfig& config) {
  absl::MutexLock lock(&mu_);
  const PortState* cur = FindLocked(port);
  if (cur == nullptr || cur->span) {
    return absl::NotFoundError(absl::StrCat("port ", Quote(port), ": update: not a member of bridge ", Quote(name_)));
  }
  if (absl::Status s = ValidatePortConfig(config); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("port ", Quote(port), ": update: ", s.message()));
  }
  PortState& p = *slots_[cur->ref.slot];
  p.config = config;
  return WritePortLocked(p);
}

absl::StatusOr<std::shared_ptr<NetdevPort>> KernelBridge::DeviceOf(absl::string_view port) const {
  absl::ReaderMutexLock lock(&mu_);
  const PortState* p = FindLocked(port);
  if (p == nullptr) {
    return absl::NotFoundError(absl::StrCat("port ", Quote(port), ": not a port of bridge ", Quote(name_)));
  }
  return std::static_pointer_cast<NetdevPort>(p->io);
}

absl::Status KernelBridge::SetPortRunning(absl::string_view port, bool running) {
  absl::StatusOr<std::shared_ptr<NetdevPort>> dev = DeviceOf(port);
  if (!dev.ok()) return dev.status();
  (*dev)->set_running(running);
  return absl::OkStatus();
}

absl::Status KernelBridge::SetPortMtu(absl::string_view port, uint32_t mtu) {
  absl::StatusOr<std::shared_ptr<NetdevPort>> dev = DeviceOf(port);
  if (!dev.ok()) return dev.status();
  (*dev)->set_mtu(mtu);
  return absl::OkStatus();
}

size_t KernelBridge::DeleteOneLocked(const veb_fdb_key& k,
                                     const std::function<bool(const veb_fdb_entry&)>& pred,
                                     AddressEventKind kind, int64_t now) {
  const int fd = maps_->fd[kFdb];
  veb_fdb_entry e{};
  if (bpf_map_lookup_elem(fd, &k, &e) != 0 || !pred(e)) return 0;
  if (bpf_map_delete_elem(fd, &k) != 0) return 0;
  __atomic_fetch_sub(Count(VEB_COUNT_TOTAL), 1, __ATOMIC_RELAXED);
  __atomic_fetch_sub(Count(VEB_REF_SLOT(e.port) % VEB_MAX_PORTS), 1, __ATOMIC_RELAXED);
  const uint64_t pk = PackKey(k.vid, KeyMac(k));
  if (e.is_static) statics_.erase(pk);
  AddressEvent ev{};
  ev.kind = kind;
  ev.vid = k.vid;
  ev.mac = KeyMac(k);
  ev.port = UnpackRef(e.port);
  if (kind == AddressEventKind::kExpired) {
    ev.age_seconds = now > static_cast<int64_t>(e.last_seen_ns)
                         ? static_cast<uint32_t>((now - e.last_seen_ns) / 1000000000)
                         : 0;
  }
  Emit(ev);
  return 1;
}

size_t KernelBridge::RemoveSlotLocked(uint32_t slot, uint32_t gen, uint32_t ifindex, bool span) {
  // Stop its frames, unlist it, and wait until no program run can still send
  // to it (S12); then its entries go and the slot is free.
  DetachLocked(ifindex);
  veb_port cleared{};
  bpf_map_update_elem(maps_->fd[kPorts], &slot, &cleared, BPF_ANY);
  uint32_t ifx = ifindex;
  bpf_map_delete_elem(maps_->fd[kIfindex], &ifx);
  std::vector<uint32_t>& list = span ? spans_ : members_;
  auto it = std::find(list.begin(), list.end(), slot);
  if (it != list.end()) {
    const uint32_t idx = static_cast<uint32_t>(it - list.begin());
    const uint32_t last = list.back();
    list.pop_back();
    (void)WriteCfgLocked();  // shorter first: the moved entry is never seen twice
    if (idx < list.size()) {
      list[idx] = last;
      uint32_t i = idx;
      bpf_map_update_elem(maps_->fd[span ? kSpans : kMembers], &i, &last, BPF_ANY);
    }
  }
  maps_->Synchronize();
  // After the grace period no program run can add an entry for the slot, so
  // its count is final. The entries the event stream and the static list
  // know of go one by one; a walk of the table only if the count says some
  // are left.
  const uint64_t ref = VEB_PORT_REF(slot, gen);
  std::vector<uint64_t> keys;
  {
    absl::MutexLock sl(&sink_mu_);
    if (auto it = known_by_port_.find(ref); it != known_by_port_.end()) {
      keys.assign(it->second.begin(), it->second.end());
    }
  }
  for (const auto& [k, r] : statics_) {
    if (PackRef(r) == ref) keys.push_back(k);
  }
  size_t removed = 0;
  for (uint64_t k : keys) {
    const veb_fdb_key fk = FdbKey(static_cast<uint16_t>(k >> 48), k & 0xffffffffffffULL);
    removed += DeleteOneLocked(fk, [ref](const veb_fdb_entry& e) { return e.port == ref; },
                               AddressEventKind::kDeleted, 0);
  }
  if (__atomic_load_n(Count(slot), __ATOMIC_RELAXED) != 0) {
    removed += DeleteEntriesLocked(
        [ref](const veb_fdb_key&, const veb_fdb_entry& e) { return e.port == ref; },
        AddressEventKind::kDeleted, clock_->NowNs());
  }
  bpf_map_delete_elem(maps_->fd[kCounters], &slot);
  {
    std::vector<veb_port_hot> hot(NumCpus());
    std::memset(hot.data(), 0, hot.size() * sizeof(veb_port_hot));
    bpf_map_update_elem(maps_->fd[kHot], &slot, hot.data(), BPF_ANY);
  }
  bpf_map_delete_elem(maps_->fd[kVlans], &slot);
  __atomic_store_n(Count(slot), 0, __ATOMIC_RELAXED);
  PortState& p = *slots_[slot];
  FreeRulesLocked(p.rules_in);
  FreeRulesLocked(p.rules_out);
  if (p.dev != nullptr) p.dev->SetListener(nullptr);
  slots_[slot].reset();
  return removed;
}

absl::StatusOr<size_t> KernelBridge::RemovePort(absl::string_view port) {
  absl::MutexLock lock(&mu_);
  const PortState* cur = FindLocked(port);
  if (cur == nullptr) {
    return absl::NotFoundError(absl::StrCat("port ", Quote(port), ": delete: not a port of bridge ", Quote(name_)));
  }
  const PortState p = *cur;
  slot_by_name_.erase(port);
  return RemoveSlotLocked(p.ref.slot, p.ref.gen, p.ifindex, p.span);
}

PortInfo KernelBridge::InfoOf(const PortState& p) const {
  PortInfo info;
  info.name = p.name;
  info.ref = p.ref;
  info.span = p.span;
  info.running = p.io != nullptr && p.io->running();
  info.mtu = p.io != nullptr ? p.io->mtu() : 0;
  info.config = p.config;
  info.rules = p.rules.size();
  info.addresses = __atomic_load_n(Count(p.ref.slot), __ATOMIC_RELAXED);
  size_t statics = 0;
  for (const auto& [k, ref] : statics_) statics += ref == p.ref;
  info.static_addresses = statics;
  return info;
}

absl::StatusOr<PortInfo> KernelBridge::GetPort(absl::string_view port) const {
  absl::ReaderMutexLock lock(&mu_);
  const PortState* p = FindLocked(port);
  if (p == nullptr) {
    return absl::NotFoundError(absl::StrCat("port ", Quote(port), ": get: not a port of bridge ", Quote(name_)));
  }
  return InfoOf(*p);
}

std::vector<PortInfo> KernelBridge::ListPorts() const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<PortInfo> out;
  for (const auto& p : slots_) {
    if (p && !p->pending) out.push_back(InfoOf(*p));
  }
  return out;
}

size_t KernelBridge::port_count() const {
  absl::ReaderMutexLock lock(&mu_);
  return slot_by_name_.size();
}

// ---- rules -----------------------------------------------------------------------------

absl::Status KernelBridge::AddRule(absl::string_view port, const Rule& rule) {
  absl::MutexLock lock(&mu_);
  const PortState* cur = FindLocked(port);
  if (cur == nullptr || cur->span) {
    return absl::NotFoundError(absl::StrCat("port ", Quote(port), ": add rule: not a member of bridge ", Quote(name_)));
  }
  if (absl::Status s = ValidateRule(rule); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("port ", Quote(port), ": add rule: ", s.message()));
  }
  if (cur->rules.size() >= kMaxRulesPerPort) {
    return absl::ResourceExhaustedError(
        absl::StrCat("port ", Quote(port), ": add rule: already ", kMaxRulesPerPort, " rules"));
  }
  PortState& p = *slots_[cur->ref.slot];
  p.rules.push_back(rule);
  if (p.rules_deferred) return absl::OkStatus();  // written by FinishRestore
  if (absl::Status s = WriteRulesLocked(p); !s.ok()) {
    p.rules.pop_back();
    return absl::Status(s.code(), absl::StrCat("port ", Quote(port), ": add rule: ", s.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Rule>> KernelBridge::ListRules(absl::string_view port) const {
  absl::ReaderMutexLock lock(&mu_);
  const PortState* cur = FindLocked(port);
  if (cur == nullptr || cur->span) {
    return absl::NotFoundError(absl::StrCat("port ", Quote(port), ": list rules: not a member of bridge ", Quote(name_)));
  }
  return cur->rules;
}

absl::Status KernelBridge::FlushRules(absl::string_view port) {
  absl::MutexLock lock(&mu_);
  const PortState* cur = FindLocked(port);
  if (cur == nullptr || cur->span) {
    return absl::NotFoundError(absl::StrCat("port ", Quote(port), ": flush rules: not a member of bridge ", Quote(name_)));
  }
  PortState& p = *slots_[cur->ref.slot];
  p.rules.clear();
  if (p.rules_deferred) return absl::OkStatus();
  return WriteRulesLocked(p);
}

// ---- addresses ---------------------------------------------------------------------------

}  // namespace veb::ebpf
