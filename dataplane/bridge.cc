#include "dataplane/bridge.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace veb {
namespace {

constexpr uint32_t kChunkSize = 128;
constexpr uint32_t kNumChunks = kMaxPortsPerBridge / kChunkSize;

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

std::string Quote(absl::string_view s) { return absl::StrCat("\"", s, "\""); }

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

uint64_t PortCounters::total_in_drops() const {
  uint64_t n = 0;
  for (uint64_t v : in_drops) n += v;
  return n;
}

uint64_t PortCounters::total_out_drops() const {
  uint64_t n = 0;
  for (uint64_t v : out_drops) n += v;
  return n;
}

// ---- validation -------------------------------------------------------------

absl::Status ValidateBridgeName(absl::string_view name) {
  // Linux interface name rules, so a bridge name can also name a netdev.
  if (name.empty() || name.size() > 15) {
    return absl::InvalidArgumentError(
        absl::StrCat("bridge ", Quote(name), ": name must be 1..15 characters"));
  }
  if (name == "." || name == "..") {
    return absl::InvalidArgumentError(
        absl::StrCat("bridge ", Quote(name), ": name is reserved"));
  }
  for (char c : name) {
    if (c == '/' || c == ':' || c <= ' ' || c > '~') {
      return absl::InvalidArgumentError(absl::StrCat(
          "bridge ", Quote(name),
          ": name may not contain '/', ':', white space or control characters"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateBridgeConfig(const BridgeConfig& c) {
  if (c.max_addresses < 1 || c.max_addresses > kMaxAddressesLimit) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_addresses ", c.max_addresses, " out of range 1..1000000"));
  }
  if (c.timeout_seconds < kMinTimeoutSeconds ||
      c.timeout_seconds > kMaxTimeoutSeconds) {
    return absl::InvalidArgumentError(absl::StrCat(
        "address_timeout ", c.timeout_seconds, " out of range 8..3600 seconds"));
  }
  if (c.default_pvid != kPvidNone &&
      (c.default_pvid < kVlanMin || c.default_pvid > kVlanMax)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "default pvid ", c.default_pvid, " out of range 1..4094 (or none)"));
  }
  return absl::OkStatus();
}

absl::Status ValidatePortConfig(const PortConfig& c) {
  if (c.locked && (c.learning || c.discover)) {
    return absl::FailedPreconditionError(
        c.learning ? "locked excludes learning" : "locked excludes discover");
  }
  if (c.protected_domains & 1u) {
    return absl::InvalidArgumentError("protected domain 0 out of range 1..31");
  }
  if (c.pvid != kPvidNone && (c.pvid < kVlanMin || c.pvid > kVlanMax)) {
    return absl::InvalidArgumentError(
        absl::StrCat("pvid ", c.pvid, " out of range 1..4094 (or none)"));
  }
  if (c.max_addresses > kMaxAddressesLimit) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_addresses ", c.max_addresses,
        " out of range 1..1000000 (0 = no port limit)"));
  }
  for (uint16_t vid : c.tagged) {
    if (vid < kVlanMin || vid > kVlanMax) {
      return absl::InvalidArgumentError(
          absl::StrCat("tagged vid ", vid, " out of range 1..4094"));
    }
    if (vid == c.pvid) {
      return absl::FailedPreconditionError(
          absl::StrCat("pvid ", vid, " is also a tagged vid"));
    }
  }
  return absl::OkStatus();
}

// ---- worker context ------------------------------------------------------------

WorkerContext::WorkerContext(Qsbr* qsbr, int worker_id)
    : qsbr_(qsbr), reader_(qsbr->Register()), id_(worker_id) {
  reader_->Offline();
}

WorkerContext::~WorkerContext() { qsbr_->Unregister(reader_); }

// ---- construction ------------------------------------------------------------

absl::StatusOr<std::unique_ptr<Bridge>> Bridge::Create(
    std::string name, const BridgeConfig& config, const Clock* clock,
    Qsbr* qsbr, int num_workers) {
  if (absl::Status s = ValidateBridgeName(name); !s.ok()) return s;
  if (absl::Status s = ValidateBridgeConfig(config); !s.ok()) {
    return absl::Status(s.code(),
                        absl::StrCat("bridge ", Quote(name), ": ", s.message()));
  }
  if (num_workers < 1 || num_workers > kMaxWorkers) {
    return absl::InvalidArgumentError(
        absl::StrCat("workers ", num_workers, " out of range 1..", kMaxWorkers));
  }
  return std::unique_ptr<Bridge>(
      new Bridge(std::move(name), config, clock, qsbr, num_workers));
}

Bridge::Bridge(std::string name, const BridgeConfig& config,
               const Clock* clock, Qsbr* qsbr, int num_workers)
    : name_(std::move(name)),
      clock_(clock),
      qsbr_(qsbr),
      table_(qsbr, config.max_addresses, config.timeout_seconds) {
  auto snap = new Snapshot;
  snap->config = config;
  snapshot_.store(snap);
  for (int i = 0; i < num_workers; ++i) {
    workers_.push_back(std::make_unique<WorkerCounters>());
  }
}

Bridge::~Bridge() { delete snapshot_.load(); }

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

// ---- dataplane ---------------------------------------------------------------

Bridge::CounterCells& Bridge::Cells(WorkerCounters& wc, const PortState& p) const {
  CounterCells* chunk =
      wc.chunks[p.ref.slot / kChunkSize].load(std::memory_order_acquire);
  CounterCells& c = chunk[p.ref.slot % kChunkSize];
  if (c.gen.load(std::memory_order_relaxed) != p.ref.gen) c.Reset(p.ref.gen);
  return c;
}

void Bridge::Input(WorkerContext& ctx, PortRef rx,
                   absl::Span<const RxFrame> frames) {
  ctx.reader_->Online();
  const Snapshot* snap = snapshot_.load(std::memory_order_acquire);
  const PortState* rp = snap->At(rx);
  // Input on a span port is not switched (a span port transmits only copies).
  if (rp != nullptr && !rp->span && !frames.empty()) {
    WorkerCounters& wc = *workers_[ctx.id_];
    CounterCells& rc = Cells(wc, *rp);
    uint64_t bytes = 0;
    for (const RxFrame& f : frames) bytes += f.len;
    rc.rx_packets.Add(frames.size());
    rc.rx_bytes.Add(bytes);
    if (!snap->config.up || !rp->io->running()) {  // S1
      rc.In(DropReason::kLinkDown, frames.size());
    } else {
      if (ctx.tx_.size() < snap->slots.size()) ctx.tx_.resize(snap->slots.size());
      const int64_t now = clock_->NowNs();
      for (const RxFrame& f : frames) ProcessFrame(ctx, wc, *snap, *rp, rc, f, now);
      TransmitPending(ctx, wc, *snap);
    }
  }
  ctx.reader_->Offline();
}

void Bridge::ProcessFrame(WorkerContext& ctx, WorkerCounters& wc,
                          const Snapshot& snap, const PortState& rp,
                          CounterCells& rc, const RxFrame& frame, int64_t now) {
  // S2: span ports get every received frame before any filter.
  for (const PortState* sp : snap.spans) {
    if (!sp->io->running()) {  // S1, S11: a copy not sent is counted
      Cells(wc, *sp).Out(DropReason::kLinkDown);
      continue;
    }
    ctx.tx_[sp->ref.slot].push_back(TxFrame{frame.data, frame.len, TagOp::kKeep, 0, frame.offload});
    if (ctx.tx_[sp->ref.slot].size() == 1) ctx.touched_.push_back(sp->ref.slot);
  }

  const BridgeConfig& bc = snap.config;
  const PortConfig& pc = rp.config;
  ParsedFrame pf;
  if (auto reason = ParseFrame(frame.data, frame.len, bc.allow_svlan, &pf)) {
    rc.In(*reason);
    return;
  }
  // S3: VLAN membership on input.
  if (pf.wire_tagged) {
    const uint16_t vid = pf.tci & 0xfff;
    if (vid == 0) {  // priority tag: belongs to the PVID
      if (pc.pvid == kPvidNone) return rc.In(DropReason::kUntagged);
      pf.vid = pc.pvid;
    } else if (!rp.tagged.test(vid)) {
      return rc.In(DropReason::kTaggedIn);
    } else {
      pf.vid = vid;
    }
  } else {
    if (pc.pvid == kPvidNone) return rc.In(DropReason::kUntagged);
    pf.vid = pc.pvid;
  }
  // S9: 802.1 reserved group addresses stay on the link.
  if (IsReserved8021(pf.dst) && !bc.allow_reserved) {
    return rc.In(DropReason::kReservedAddress);
  }
  // S4
  if (pc.blocknonip && !IsIpLike(pf.ether_type)) {
    return rc.In(DropReason::kBlockNonIpIn);
  }
  // S5
  if (!rp.rules_in.empty() && RulesBlock(rp.rules_in, pf, frame.data, frame.len)) {
    return rc.In(DropReason::kRulesIn);
  }
  // S6
  if (pc.locked) {
    const std::optional<PortRef> owner = table_.Lookup(pf.vid, pf.src, now);
    if (!owner || *owner != rp.ref) return rc.In(DropReason::kLocked);
  }
  // S7: a multicast or all-zero source is never learned; counted.
  if (pc.learning && (IsMulticast(pf.src) || pf.src == 0)) {
    wc.refused[static_cast<size_t>(LearnRefusal::kInvalidSource)].Add(1);
  } else if (pc.learning) {
    switch (table_.Learn(pf.vid, pf.src, rp.ref, now, pc.max_addresses)) {
      case LearnResult::kRefusedFull:
        wc.refused[static_cast<size_t>(LearnRefusal::kTableFull)].Add(1);
        break;
      case LearnResult::kRefusedPortFull:
        wc.refused[static_cast<size_t>(LearnRefusal::kPortFull)].Add(1);
        break;
      case LearnResult::kRefusedStatic:
        wc.refused[static_cast<size_t>(LearnRefusal::kStatic)].Add(1);
        break;
      default:
        break;
    }
  }
  // S8: known unicast.
  const bool multicast = IsMulticast(pf.dst);
  if (!multicast) {
    if (const std::optional<PortRef> dst = table_.Lookup(pf.vid, pf.dst, now)) {
      const PortState* tp = snap.At(*dst);
      if (tp != nullptr) {
        if (tp == &rp) return rc.In(DropReason::kHairpin);
        rc.unicast.Add(1);
        Egress(ctx, wc, rp, *tp, pf, frame);
        return;
      }
    }
  }
  // S9: flood. Unknown unicast only to ports with discover.
  rc.flooded.Add(1);
  wc.flooded.Add(1);
  for (const PortState* tp : snap.members) {
    if (tp == &rp) continue;
    if (!multicast && !tp->config.discover) continue;
    Egress(ctx, wc, rp, *tp, pf, frame);
  }
}

void Bridge::Egress(WorkerContext& ctx, WorkerCounters& wc, const PortState& rp,
                    const PortState& tp, const ParsedFrame& pf,
                    const RxFrame& frame) {
  CounterCells& tc = Cells(wc, tp);
  if (!tp.io->running()) return tc.Out(DropReason::kLinkDown);  // S1
  // S10 (and S8 for known unicast).
  if (rp.config.protected_domains & tp.config.protected_domains) {
    return tc.Out(DropReason::kProtected);
  }
  // S3: VLAN membership on output decides the tag operation.
  TxFrame tx{frame.data, frame.len, TagOp::kKeep, 0, frame.offload};
  if (tp.config.pvid == pf.vid) {
    if (pf.wire_tagged) tx.op = TagOp::kStrip;
  } else if (tp.tagged.test(pf.vid)) {
    if (!pf.wire_tagged) {
      tx.op = TagOp::kPush;
      tx.tci = pf.vid;
    } else if ((pf.tci & 0xfff) != pf.vid) {
      tx.op = TagOp::kRewrite;
      tx.tci = static_cast<uint16_t>((pf.tci & 0xf000) | pf.vid);
    }
  } else {
    return tc.Out(DropReason::kTaggedOut);
  }
  if (tp.config.blocknonip && !IsIpLike(pf.ether_type)) {  // S4
    return tc.Out(DropReason::kBlockNonIpOut);
  }
  if (!tp.rules_out.empty() &&  // S5
      RulesBlock(tp.rules_out, pf, frame.data, frame.len)) {
    return tc.Out(DropReason::kRulesOut);
  }
  if (!frame.offload.gso && frame.len - pf.l2_len > tp.io->mtu()) {
    return tc.Out(DropReason::kTooBig);
  }
  std::vector<TxFrame>& q = ctx.tx_[tp.ref.slot];
  q.push_back(tx);
  if (q.size() == 1) ctx.touched_.push_back(tp.ref.slot);
}

void Bridge::TransmitPending(WorkerContext& ctx, WorkerCounters& wc,
                             const Snapshot& snap) {
  for (uint32_t slot : ctx.touched_) {
    std::vector<TxFrame>& q = ctx.tx_[slot];
    const PortState& tp = *snap.slots[slot];
    CounterCells& tc = Cells(wc, tp);
    const TxResult r = tp.io->Transmit(absl::MakeConstSpan(q));
    uint64_t bytes = 0;
    for (uint32_t i = 0; i < r.sent; ++i) bytes += TxFrameLength(q[i]);
    tc.tx_packets.Add(r.sent);
    tc.tx_bytes.Add(bytes);
    if (r.sent < q.size()) tc.Out(r.reason, q.size() - r.sent);
    q.clear();
  }
  ctx.touched_.clear();
}

}  // namespace veb
