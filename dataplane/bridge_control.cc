// Bridge: the control plane (ports, settings, rules, addresses, counters).
// The forwarding pipeline is in bridge.cc; the shared private state in
// bridge_internal.h.
#include "dataplane/bridge.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "dataplane/bridge_internal.h"

namespace veb {
namespace {

AddressInfo InfoOfEntry(const AddressEntry& e, std::string port, int64_t now) {
  AddressInfo info;
  info.vid = e.vid;
  info.mac = e.mac;
  info.port = std::move(port);
  info.is_static = e.is_static;
  info.age_seconds =
      e.is_static ? 0 : static_cast<uint32_t>((now - e.last_seen_ns) / 1000000000);
  return info;
}

}  // namespace

// ---- control plane -------------------------------------------------------------

std::unique_ptr<Bridge::Snapshot> Bridge::CopyLocked() const {
  return std::make_unique<Snapshot>(*snapshot_.load());
}

void Bridge::PublishLocked(std::unique_ptr<Snapshot> next) {
  next->Index();
  const Snapshot* old = snapshot_.exchange(next.release(), std::memory_order_acq_rel);
  qsbr_->RetireObject(old);
}

void Bridge::ReplacePortLocked(std::shared_ptr<const PortState> state) {
  auto next = CopyLocked();
  next->slots[state->ref.slot] = std::move(state);
  PublishLocked(std::move(next));
}

const Bridge::PortState* Bridge::FindLocked(absl::string_view port) const {
  auto it = slot_by_name_.find(port);
  if (it == slot_by_name_.end()) return nullptr;
  return snapshot_.load()->slots[it->second].get();
}

absl::Status Bridge::Update(const BridgeConfig& config) {
  if (absl::Status s = ValidateBridgeConfig(config); !s.ok()) {
    return absl::Status(s.code(),
                        absl::StrCat("bridge ", Quote(name_), ": ", s.message()));
  }
  absl::MutexLock lock(&mu_);
  table_.SetMaxAddresses(config.max_addresses);
  table_.SetTimeoutSeconds(config.timeout_seconds);
  auto next = CopyLocked();
  next->config = config;
  PublishLocked(std::move(next));
  return absl::OkStatus();
}

BridgeConfig Bridge::config() const {
  absl::ReaderMutexLock lock(&mu_);
  return snapshot_.load()->config;
}

absl::StatusOr<PortRef> Bridge::AddLocked(std::shared_ptr<Port> port,
                                          const PortConfig& config, bool span) {
  const std::string what = span ? "add span port" : "add";
  if (port == nullptr || port->name().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("bridge ", Quote(name_), ": ", what, ": port has no name"));
  }
  const std::string& pname = port->name();
  if (!span) {
    if (absl::Status s = ValidatePortConfig(config); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("port ", Quote(pname), ": ",
                                                 what, ": ", s.message()));
    }
  }
  if (const PortState* existing = FindLocked(pname)) {
    return absl::AlreadyExistsError(absl::StrCat(
        "port ", Quote(pname), ": ", what, ": already ",
        existing->span ? "a span port" : "a member", " of bridge ", Quote(name_)));
  }
  const Snapshot* cur = snapshot_.load();
  uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
  } else if (cur->slots.size() < kMaxPortsPerBridge) {
    slot = static_cast<uint32_t>(cur->slots.size());
  } else {
    return absl::ResourceExhaustedError(absl::StrCat(
        "port ", Quote(pname), ": ", what, ": bridge ", Quote(name_),
        " already has ", kMaxPortsPerBridge, " ports"));
  }
  // Counter cells exist before any worker can see the port.
  for (auto& wc : workers_) {
    auto& chunk = wc->chunks[slot / kChunkSize];
    if (chunk.load(std::memory_order_acquire) == nullptr) {
      chunk.store(new CounterCells[kChunkSize], std::memory_order_release);
    }
  }
  auto state = std::make_shared<PortState>();
  state->io = std::move(port);
  state->ref = PortRef{slot, ++next_gen_};
  state->span = span;
  state->config = span ? PortConfig{} : config;
  state->Compile();
  const PortRef ref = state->ref;

  auto next = CopyLocked();
  if (slot >= next->slots.size()) next->slots.resize(slot + 1);
  next->slots[slot] = std::move(state);
  if (!free_slots_.empty() && free_slots_.back() == slot) free_slots_.pop_back();
  slot_by_name_[pname] = slot;
  PublishLocked(std::move(next));
  return ref;
}

absl::StatusOr<PortRef> Bridge::AddPort(std::shared_ptr<Port> port,
                                        const PortConfig& config) {
  absl::MutexLock lock(&mu_);
  return AddLocked(std::move(port), config, /*span=*/false);
}

absl::StatusOr<PortRef> Bridge::AddSpanPort(std::shared_ptr<Port> port) {
  absl::MutexLock lock(&mu_);
  return AddLocked(std::move(port), PortConfig{}, /*span=*/true);
}

absl::Status Bridge::UpdatePort(absl::string_view port, const PortConfig& config) {
  absl::MutexLock lock(&mu_);
  const PortState* cur = FindLocked(port);
  if (cur == nullptr || cur->span) {
    return absl::NotFoundError(absl::StrCat("port ", Quote(port), ": update: not a member of bridge ", Quote(name_)));
  }
  if (absl::Status s = ValidatePortConfig(config); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("port ", Quote(port),
                                               ": update: ", s.message()));
  }
  auto state = std::make_shared<PortState>(*cur);
  state->config = config;
  state->Compile();
  ReplacePortLocked(std::move(state));
  return absl::OkStatus();
}

absl::StatusOr<size_t> Bridge::RemovePort(absl::string_view port) {
  PortRef ref;
  {
    absl::MutexLock lock(&mu_);
    const PortState* cur = FindLocked(port);
    if (cur == nullptr) {
      return absl::NotFoundError(absl::StrCat(
          "port ", Quote(port), ": delete: not a port of bridge ", Quote(name_)));
    }
    ref = cur->ref;
    slot_by_name_.erase(port);
    auto next = CopyLocked();
    next->slots[ref.slot].reset();
    PublishLocked(std::move(next));
  }
  // S12: after the grace period no worker holds the old snapshot, so nothing
  // is sent to the port and nothing more can be learned on it. The wait
  // holds no lock (other control calls and readers go on); the slot is
  // reused only after it.
  qsbr_->Synchronize();
  const size_t removed = table_.RemovePort(ref);
  absl::MutexLock lock(&mu_);
  free_slots_.push_back(ref.slot);
  return removed;
}

PortInfo Bridge::InfoOf(const PortState& p) const {
  PortInfo info;
  info.name = p.io->name();
  info.ref = p.ref;
  info.span = p.span;
  info.running = p.io->running();
  info.mtu = p.io->mtu();
  info.config = p.config;
  info.rules = p.rules.size();
  info.addresses = table_.CountForPort(p.ref);
  info.static_addresses = table_.StaticCountForPort(p.ref);
  return info;
}

absl::StatusOr<PortInfo> Bridge::GetPort(absl::string_view port) const {
  absl::ReaderMutexLock lock(&mu_);
  const PortState* p = FindLocked(port);
  if (p == nullptr) {
    return absl::NotFoundError(absl::StrCat(
        "port ", Quote(port), ": get: not a port of bridge ", Quote(name_)));
  }
  return InfoOf(*p);
}

std::vector<PortInfo> Bridge::ListPorts() const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<PortInfo> out;
  for (const auto& p : snapshot_.load()->slots) {
    if (p) out.push_back(InfoOf(*p));
  }
  return out;
}

size_t Bridge::port_count() const {
  absl::ReaderMutexLock lock(&mu_);
  const Snapshot* s = snapshot_.load();
  return s->members.size() + s->spans.size();
}

absl::Status Bridge::AddRule(absl::string_view port, const Rule& rule) {
  absl::MutexLock lock(&mu_);
  const PortState* cur = FindLocked(port);
  if (cur == nullptr || cur->span) {
    return absl::NotFoundError(absl::StrCat(
        "port ", Quote(port), ": add rule: not a member of bridge ", Quote(name_)));
  }
  if (absl::Status s = ValidateRule(rule); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("port ", Quote(port),
                                               ": add rule: ", s.message()));
  }
  if (cur->rules.size() >= kMaxRulesPerPort) {
    return absl::ResourceExhaustedError(
        absl::StrCat("port ", Quote(port), ": add rule: already ",
                     kMaxRulesPerPort, " rules"));
  }
  auto state = std::make_shared<PortState>(*cur);
  state->rules.push_back(rule);
  state->Compile();
  ReplacePortLocked(std::move(state));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Rule>> Bridge::ListRules(absl::string_view port) const {
  absl::ReaderMutexLock lock(&mu_);
  const PortState* cur = FindLocked(port);
  if (cur == nullptr || cur->span) {
    return absl::NotFoundError(absl::StrCat(
        "port ", Quote(port), ": list rules: not a member of bridge ", Quote(name_)));
  }
  return cur->rules;
}

absl::Status Bridge::FlushRules(absl::string_view port) {
  absl::MutexLock lock(&mu_);
  const PortState* cur = FindLocked(port);
  if (cur == nullptr || cur->span) {
    return absl::NotFoundError(absl::StrCat(
        "port ", Quote(port), ": flush rules: not a member of bridge ", Quote(name_)));
  }
  auto state = std::make_shared<PortState>(*cur);
  state->rules.clear();
  state->Compile();
  ReplacePortLocked(std::move(state));
  return absl::OkStatus();
}

absl::Status Bridge::AddStaticAddress(uint16_t vid, Mac mac,
                                      absl::string_view port) {
  const std::string obj = absl::StrCat("address ", FormatMac(mac), " vid ", vid);
  if (vid < kVlanMin || vid > kVlanMax) {
    return absl::InvalidArgumentError(
        absl::StrCat(obj, ": add: vid out of range 1..4094"));
  }
  if (IsMulticast(mac) || mac == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(obj, ": add: multicast or zero address"));
  }
  absl::MutexLock lock(&mu_);
  const PortState* p = FindLocked(port);
  if (p == nullptr || p->span) {
    return absl::NotFoundError(absl::StrCat(obj, ": add: port ", Quote(port),
                                            " is not a member of bridge ",
                                            Quote(name_)));
  }
  if (absl::Status s = table_.AddStatic(vid, mac, p->ref); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat(obj, ": add: ", s.message()));
  }
  return absl::OkStatus();
}

absl::Status Bridge::DeleteAddress(uint16_t vid, Mac mac) {
  if (!table_.Delete(vid, mac)) {
    return absl::NotFoundError(absl::StrCat("address ", FormatMac(mac), " vid ",
                                            vid, ": delete: not in bridge ",
                                            Quote(name_)));
  }
  return absl::OkStatus();
}

size_t Bridge::FlushAddresses(bool include_static) {
  return table_.Flush(include_static);
}

size_t Bridge::ExpireAddresses() { return table_.Expire(clock_->NowNs()); }

std::vector<AddressInfo> Bridge::ListAddresses() const {
  const int64_t now = clock_->NowNs();
  std::vector<AddressEntry> entries = table_.List(now);
  absl::ReaderMutexLock lock(&mu_);
  const Snapshot* snap = snapshot_.load();
  std::vector<AddressInfo> out;
  out.reserve(entries.size());
  for (const AddressEntry& e : entries) {
    const PortState* p = snap->At(e.port);
    if (p == nullptr) continue;  // port being removed
    out.push_back(InfoOfEntry(e, p->io->name(), now));
  }
  return out;
}

absl::StatusOr<AddressInfoPage> Bridge::ListAddressPage(
    const AddressQuery& query, std::optional<AddressKey> after,
    size_t limit) const {
  const int64_t now = clock_->NowNs();
  absl::ReaderMutexLock lock(&mu_);
  AddressFilter filter;
  filter.vid = query.vid;
  filter.mac = query.mac;
  filter.is_static = query.is_static;
  if (!query.port.empty()) {
    const PortState* p = FindLocked(query.port);
    if (p == nullptr) {
      return absl::NotFoundError(absl::StrCat("port ", Quote(query.port),
                                              ": list addresses: not a port of bridge ",
                                              Quote(name_)));
    }
    filter.port = p->ref;
  }
  const Snapshot* snap = snapshot_.load();
  AddressInfoPage out;
  AddressPage page = table_.ListPage(after, limit, filter, now);
  out.next_after = page.next_after;
  out.addresses.reserve(page.entries.size());
  for (const AddressEntry& e : page.entries) {
    const PortState* p = snap->At(e.port);
    if (p == nullptr) continue;  // port being removed
    out.addresses.push_back(InfoOfEntry(e, p->io->name(), now));
  }
  out.total_matching = table_.CountMatching(filter);
  return out;
}

std::optional<AddressInfo> Bridge::GetAddress(uint16_t vid, Mac mac) const {
  const int64_t now = clock_->NowNs();
  std::optional<AddressEntry> e = table_.Get(vid, mac, now);
  if (!e) return std::nullopt;
  absl::ReaderMutexLock lock(&mu_);
  const PortState* p = snapshot_.load()->At(e->port);
  if (p == nullptr) return std::nullopt;  // port being removed
  return InfoOfEntry(*e, p->io->name(), now);
}

AddressCounts Bridge::GetAddressCounts() const {
  AddressCounts c;
  c.total = table_.size();
  c.statics = table_.static_count();
  // The two loads are not one snapshot: keep total >= statics.
  c.total = std::max(c.total, c.statics);
  return c;
}

absl::StatusOr<size_t> Bridge::PortAddressCount(absl::string_view port) const {
  absl::ReaderMutexLock lock(&mu_);
  const PortState* p = FindLocked(port);
  if (p == nullptr) {
    return absl::NotFoundError(absl::StrCat(
        "port ", Quote(port), ": address count: not a port of bridge ", Quote(name_)));
  }
  return table_.CountForPort(p->ref);
}

absl::StatusOr<PortCounters> Bridge::GetPortCounters(absl::string_view port) const {
  absl::ReaderMutexLock lock(&mu_);
  const PortState* p = FindLocked(port);
  if (p == nullptr) {
    return absl::NotFoundError(absl::StrCat(
        "port ", Quote(port), ": counters: not a port of bridge ", Quote(name_)));
  }
  PortCounters out;
  for (const auto& wc : workers_) {
    const CounterCells* chunk =
        wc->chunks[p->ref.slot / kChunkSize].load(std::memory_order_acquire);
    const CounterCells& c = chunk[p->ref.slot % kChunkSize];
    if (c.gen.load(std::memory_order_acquire) != p->ref.gen) continue;
    out.rx_packets += c.rx_packets.Get();
    out.rx_bytes += c.rx_bytes.Get();
    out.tx_packets += c.tx_packets.Get();
    out.tx_bytes += c.tx_bytes.Get();
    out.unicast += c.unicast.Get();
    out.flooded += c.flooded.Get();
    for (size_t i = 0; i < kNumDropReasons; ++i) {
      out.in_drops[i] += c.in[i].Get();
      out.out_drops[i] += c.out[i].Get();
    }
  }
  return out;
}

BridgeCounters Bridge::GetCounters() const {
  BridgeCounters out;
  out.learned = table_.learned_total();
  out.moved = table_.moved_total();
  out.expired = table_.expired_total();
  for (const auto& wc : workers_) {
    for (size_t i = 0; i < kNumLearnRefusals; ++i) out.refused[i] += wc->refused[i].Get();
    out.flooded += wc->flooded.Get();
  }
  return out;
}
}  // namespace veb
