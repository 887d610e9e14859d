// KernelBridge: loading, pinning, adoption and teardown of the kernel engine's
// BPF objects, the event reader, and writing the settings, port and rule maps
// (layout: veb_layout.h). Ports: kernel_bridge_ports.cc; the table and
// counters: kernel_bridge_addresses.cc; shared pieces:
// kernel_bridge_internal.h.
#include "dataplane/ebpf/kernel_bridge.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <net/if.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "dataplane/ebpf/bpf_objects.h"
#include "dataplane/ebpf/kernel_bridge_internal.h"
#include "dataplane/ebpf/veb_layout.h"
#include "dataplane/frame.h"
#include "dataplane/linux/netlink.h"
#include "dataplane/mac_address.h"

namespace veb::ebpf {
namespace {

// libbpf's own messages: warnings only, prefixed; not the kernel's extack
// note when a port's clsact qdisc already exists (an adopted or re-added
// port: expected, and handled as EEXIST).
int LibbpfPrint(enum libbpf_print_level level, const char* format, va_list args) {
  if (level != LIBBPF_WARN) return 0;
  char buf[1024];
  const int n = vsnprintf(buf, sizeof(buf), format, args);
  if (n <= 0 || std::strstr(buf, "Exclusivity flag on") != nullptr) return 0;
  return std::fprintf(stderr, "vebd: libbpf: %s", buf);
}

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

// mkdir -p on bpffs (or anywhere).
bool MakeDirs(const std::string& path) {
  for (size_t i = 1; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') {
      const std::string part = path.substr(0, i);
      if (mkdir(part.c_str(), 0700) != 0 && errno != EEXIST) return false;
    }
  }
  return true;
}


}  // namespace

// ---- NetdevPort ------------------------------------------------------------------

NetdevPort::NetdevPort(std::string name, uint32_t ifindex, bool is_veth,
                       uint32_t mtu, bool running)
    : name_(std::move(name)),
      ifindex_(ifindex),
      is_veth_(is_veth),
      running_(running),
      mtu_(mtu) {}

absl::StatusOr<std::shared_ptr<NetdevPort>> NetdevPort::Open(std::string name) {
  absl::StatusOr<LinkFacts> link = GetPortLink(name);
  if (!link.ok()) return link.status();
  return FromLink(*link);
}

std::shared_ptr<NetdevPort> NetdevPort::FromLink(const LinkFacts& link) {
  const bool peer_redirect = link.kind == "veth" && link.link_in_other_netns;
  return std::make_shared<NetdevPort>(link.name, static_cast<uint32_t>(link.ifindex),
                                      peer_redirect, link.mtu, LinkRunning(link));
}

TxResult NetdevPort::Transmit(absl::Span<const TxFrame> frames) {
  (void)frames;
  return TxResult{0, DropReason::kTxError};  // frames never pass through userspace
}

void NetdevPort::SetListener(std::function<void()> listener) {
  absl::MutexLock lock(&listener_mu_);
  listener_ = std::move(listener);
}

void NetdevPort::set_running(bool up) {
  running_.store(up, std::memory_order_relaxed);
  std::function<void()> l;
  {
    absl::MutexLock lock(&listener_mu_);
    l = listener_;
  }
  if (l) l();
}

void NetdevPort::set_mtu(uint32_t mtu) {
  mtu_.store(mtu, std::memory_order_relaxed);
  std::function<void()> l;
  {
    absl::MutexLock lock(&listener_mu_);
    l = listener_;
  }
  if (l) l();
}

// ---- construction -------------------------------------------------------------

KernelBridge::KernelBridge(std::string name, const KernelBridgeOptions& options)
    : name_(std::move(name)),
      options_(options),
      clock_(options.clock != nullptr ? options.clock : MonotonicClock::Get()),
      dir_(absl::StrCat(options.pin_root, "/", name_)) {}

absl::StatusOr<std::unique_ptr<KernelBridge>> KernelBridge::Create(
    std::string name, const BridgeConfig& config, const KernelBridgeOptions& options) {
  if (absl::Status s = ValidateBridgeName(name); !s.ok()) return s;
  if (absl::Status s = ValidateBridgeConfig(config); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("bridge ", Quote(name), ": ", s.message()));
  }
  static const bool quiet = [] {
    libbpf_set_print(LibbpfPrint);
    return true;
  }();
  (void)quiet;
  std::unique_ptr<KernelBridge> b(new KernelBridge(std::move(name), options));
  if (absl::Status s = b->Init(config); !s.ok()) return s;
  return b;
}

absl::Status KernelBridge::Init(const BridgeConfig& config) {
  absl::MutexLock lock(&mu_);
  config_ = config;
  free_rules_ = {{0, VEB_MAX_RULES}};
  slots_.resize(kMaxPortsPerBridge);
  const std::string what = absl::StrCat("bridge ", Quote(name_), ": kernel engine: ");
  if (!options_.test_hook) {
    // bpffs: mounted at /sys/fs/bpf when missing.
    struct statfs fs;
    if (statfs("/sys/fs/bpf", &fs) != 0 || static_cast<uint32_t>(fs.f_type) != kBpfFsMagic) {
      mkdir("/sys/fs/bpf", 0700);
      if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700") != 0) {
        const int err = errno;
        return absl::Status(err == EPERM ? absl::StatusCode::kPermissionDenied
                                         : absl::StatusCode::kFailedPrecondition,
                            absl::StrCat(what, "cannot mount bpffs at /sys/fs/bpf: ",
                                         ErrnoText(err)));
      }
    }
    if (!MakeDirs(options_.pin_root)) {
      return absl::FailedPreconditionError(
          absl::StrCat(what, "cannot create ", options_.pin_root, ": ", ErrnoText(errno)));
    }
    if (Exists(absl::StrCat(dir_, "/", kMapNames[kCfg]))) {
      absl::Status s = Adopt();
      if (s.ok()) {
        adopted_ = true;
        // The agent's settings win over the pinned ones.
        config_ = config;
        if (config.max_addresses > fdb_capacity_) {
          if (absl::Status g = GrowFdb(config.max_addresses); !g.ok()) return g;
        }
        if (absl::Status w = WriteCfgLocked(); !w.ok()) return w;
        return StartEvents();
      }
      // Incompatible or broken pins: remove them and load afresh. The old
      // program stays attached to its ports until the agent re-adds them (the
      // new one replaces it in place) or FinishRestore detaches it.
      load_note_ = absl::StrCat("reloaded: the pinned objects could not be adopted (",
                                s.message(), ")");
      const int old_ports = bpf_obj_get(absl::StrCat(dir_, "/", kMapNames[kPorts]).c_str());
      bpf_map_info info{};
      uint32_t info_len = sizeof(info);
      if (old_ports >= 0 && bpf_obj_get_info_by_fd(old_ports, &info, &info_len) == 0 &&
          info.value_size >= 2 * sizeof(uint32_t)) {
        std::vector<uint8_t> value(info.value_size);
        for (uint32_t slot = 0; slot < info.max_entries; ++slot) {
          if (bpf_map_lookup_elem(old_ports, &slot, value.data()) != 0) continue;
          uint32_t ifindex = 0, gen = 0;  // the first two words of every layout
          std::memcpy(&ifindex, value.data(), 4);
          std::memcpy(&gen, value.data() + 4, 4);
          if (gen != 0 && ifindex != 0) stale_.insert(ifindex);
        }
      }
      if (old_ports >= 0) close(old_ports);
      for (int i = 0; i < kNumRealMaps; ++i) unlink(absl::StrCat(dir_, "/", kMapNames[i]).c_str());
      unlink(absl::StrCat(dir_, "/", kProgPin).c_str());
      slots_.clear();
      slots_.resize(kMaxPortsPerBridge);
      pinned_.clear();
      statics_.clear();
      members_.clear();
      spans_.clear();
      free_rules_ = {{0, VEB_MAX_RULES}};
      config_ = config;
    }
  }
  if (absl::Status s = LoadFresh(config); !s.ok()) {
    // Leave no half-made pins behind.
    if (!options_.test_hook) {
      for (int i = 0; i < kNumRealMaps; ++i) unlink(absl::StrCat(dir_, "/", kMapNames[i]).c_str());
      unlink(absl::StrCat(dir_, "/", kProgPin).c_str());
      rmdir(dir_.c_str());
    }
    return s;
  }
  if (load_note_.empty()) load_note_ = "loaded";
  return StartEvents();
}

namespace {

// Opens the embedded object, sizes the FDB, reuses `reuse` descriptors (-1:
// create), loads. On success the caller owns the returned object.
absl::StatusOr<bpf_object*> OpenAndLoad(const std::string& bridge, bool test_hook,
                                        uint32_t fdb_capacity, const int* reuse) {
  const std::string what = absl::StrCat("bridge ", Quote(bridge), ": kernel engine: ");
  LIBBPF_OPTS(bpf_object_open_opts, oo, .object_name = "veb");
  bpf_object* obj = test_hook
                        ? bpf_object__open_mem(kVebTestBpfObject, kVebTestBpfObject_size, &oo)
                        : bpf_object__open_mem(kVebBpfObject, kVebBpfObject_size, &oo);
  if (obj == nullptr) {
    return absl::InternalError(absl::StrCat(what, "cannot open the BPF object: ", ErrnoText(errno)));
  }
  const int n = test_hook ? kNumMaps : kNumRealMaps;
  for (int i = 0; i < n; ++i) {
    bpf_map* m = bpf_object__find_map_by_name(obj, kMapNames[i]);
    if (m == nullptr) {
      bpf_object__close(obj);
      return absl::InternalError(absl::StrCat(what, "map ", kMapNames[i], " missing"));
    }
    if (i == kFdb) bpf_map__set_max_entries(m, fdb_capacity);
    if (reuse != nullptr && reuse[i] >= 0 && i != kFdb) {
      if (int err = bpf_map__reuse_fd(m, reuse[i]); err != 0) {
        bpf_object__close(obj);
        return absl::InternalError(absl::StrCat(what, "reuse map ", kMapNames[i], ": ", ErrnoText(err)));
      }
    }
  }
  if (int err = bpf_object__load(obj); err != 0) {
    bpf_object__close(obj);
    if (err == -EPERM || err == -EACCES) {
      return absl::PermissionDeniedError(absl::StrCat(
          what, "loading the BPF program: ", ErrnoText(err),
          " (vebd needs CAP_BPF and CAP_NET_ADMIN, or root)"));
    }
    return absl::FailedPreconditionError(absl::StrCat(
        what, "this kernel cannot load the BPF program (", ErrnoText(err),
        "): the kernel engine needs BPF, TC clsact and Linux 5.17 or later"));
  }
  return obj;
}

}  // namespace

absl::Status KernelBridge::LoadFresh(const BridgeConfig& config) {
  const std::string what = absl::StrCat("bridge ", Quote(name_), ": kernel engine: ");
  fdb_capacity_ = config.max_addresses;
  absl::StatusOr<bpf_object*> obj = OpenAndLoad(name_, options_.test_hook, fdb_capacity_, nullptr);
  if (!obj.ok()) return obj.status();
  auto maps = std::make_unique<Maps>();
  const int n = options_.test_hook ? kNumMaps : kNumRealMaps;
  for (int i = 0; i < n; ++i) {
    maps->fd[i] = dup(bpf_map__fd(bpf_object__find_map_by_name(*obj, kMapNames[i])));
  }
  maps->prog = dup(bpf_program__fd(bpf_object__find_program_by_name(*obj, "veb_ingress")));
  bpf_object__close(*obj);
  maps_ = std::move(maps);
  if (!options_.test_hook) {
    if (!MakeDirs(dir_)) {
      return absl::FailedPreconditionError(absl::StrCat(what, "cannot create ", dir_, ": ", ErrnoText(errno)));
    }
    for (int i = 0; i < kNumRealMaps; ++i) {
      if (bpf_obj_pin(maps_->fd[i], absl::StrCat(dir_, "/", kMapNames[i]).c_str()) != 0) {
        return absl::FailedPreconditionError(
            absl::StrCat(what, "cannot pin ", kMapNames[i], " in ", dir_, ": ", ErrnoText(errno)));
      }
    }
  }
  // Rest of the set-up is shared with adoption.
  maps_->counts_bytes = (VEB_MAX_PORTS + 1) * sizeof(uint64_t);
  maps_->counts_bytes = (maps_->counts_bytes + 4095) & ~size_t{4095};
  void* mem = mmap(nullptr, maps_->counts_bytes, PROT_READ | PROT_WRITE, MAP_SHARED,
                   maps_->fd[kCounts], 0);
  if (mem == MAP_FAILED) {
    return absl::FailedPreconditionError(absl::StrCat(what, "mmap of the entry counts: ", ErrnoText(errno)));
  }
  maps_->counts = static_cast<uint64_t*>(mem);
  {
    maps_->sync_inner = bpf_map_create(BPF_MAP_TYPE_ARRAY, nullptr, 4, 4, 1, nullptr);
    LIBBPF_OPTS(bpf_map_create_opts, mo, .inner_map_fd = static_cast<__u32>(maps_->sync_inner));
    maps_->sync_outer = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, nullptr, 4, 4, 1, &mo);
    if (maps_->sync_inner < 0 || maps_->sync_outer < 0) {
      return absl::FailedPreconditionError(absl::StrCat(what, "cannot create maps: ", ErrnoText(errno)));
    }
  }
  const uint32_t zero = 0;
  veb_bridge_counters bc0[1];
  std::vector<veb_bridge_counters> bzero(NumCpus());
  std::memset(bzero.data(), 0, bzero.size() * sizeof(bc0[0]));
  bpf_map_update_elem(maps_->fd[kBcounters], &zero, bzero.data(), BPF_ANY);
  if (!options_.test_hook) {
    const std::string prog_pin = absl::StrCat(dir_, "/", kProgPin);
    if (bpf_obj_pin(maps_->prog, prog_pin.c_str()) != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat(what, "cannot pin the program in ", dir_, ": ", ErrnoText(errno)));
    }
  }
  return WriteCfgLocked();
}

absl::Status KernelBridge::Adopt() {
  auto maps = std::make_unique<Maps>();
  for (int i = 0; i < kNumRealMaps; ++i) {
    maps->fd[i] = bpf_obj_get(absl::StrCat(dir_, "/", kMapNames[i]).c_str());
    if (maps->fd[i] < 0) {
      return absl::FailedPreconditionError(absl::StrCat("pin ", kMapNames[i], ": ", ErrnoText(errno)));
    }
  }
  maps->prog = bpf_obj_get(absl::StrCat(dir_, "/", kProgPin).c_str());
  if (maps->prog < 0) return absl::FailedPreconditionError("program pin missing");
  const uint32_t zero = 0;
  veb_bridge_cfg cfg{};
  if (bpf_map_lookup_elem(maps->fd[kCfg], &zero, &cfg) != 0) {
    return absl::FailedPreconditionError("cannot read the pinned configuration");
  }
  if (cfg.version != VEB_LAYOUT_VERSION) {
    return absl::FailedPreconditionError(absl::StrCat(
        "pinned layout version ", cfg.version, ", this vebd has ", VEB_LAYOUT_VERSION));
  }
  bpf_map_info info{};
  uint32_t info_len = sizeof(info);
  if (bpf_obj_get_info_by_fd(maps->fd[kFdb], &info, &info_len) != 0 ||
      info.value_size != sizeof(veb_fdb_entry) || info.key_size != sizeof(veb_fdb_key)) {
    return absl::FailedPreconditionError("pinned FDB map has another layout");
  }
  fdb_capacity_ = info.max_entries;
  // Ports: every used slot waits for the agent to re-add it.
  for (uint32_t slot = 0; slot < VEB_MAX_PORTS; ++slot) {
    veb_port p{};
    if (bpf_map_lookup_elem(maps->fd[kPorts], &slot, &p) != 0 || p.gen == 0) continue;
    auto st = std::make_unique<PortState>();
    st->ifindex = p.ifindex;
    st->ref = PortRef{slot, p.gen};
    st->span = (p.flags & VEB_PF_SPAN) != 0;
    st->rules_in = p.rules_in;
    st->rules_out = p.rules_out;
    st->pending = true;
    st->rules_deferred = true;
    next_gen_ = std::max(next_gen_, p.gen);
    pinned_[p.ifindex] = slot;
    // Mark the rule ranges used.
    for (uint32_t range : {p.rules_in, p.rules_out}) {
      const uint32_t start = range & 0xffff, count = range >> 16;
      if (count == 0) continue;
      for (auto it = free_rules_.begin(); it != free_rules_.end(); ++it) {
        if (start >= it->first && start + count <= it->first + it->second) {
          const auto before = std::make_pair(it->first, start - it->first);
          const auto after = std::make_pair(start + count, it->first + it->second - start - count);
          it = free_rules_.erase(it);
          if (after.second) it = free_rules_.insert(it, after);
          if (before.second) free_rules_.insert(it, before);
          break;
        }
      }
    }
    slots_[slot] = std::move(st);
  }
  for (uint32_t i = 0; i < cfg.n_members && i < VEB_MAX_PORTS; ++i) {
    uint32_t s = 0;
    if (bpf_map_lookup_elem(maps->fd[kMembers], &i, &s) == 0) members_.push_back(s);
  }
  for (uint32_t i = 0; i < cfg.n_spans && i < VEB_MAX_PORTS; ++i) {
    uint32_t s = 0;
    if (bpf_map_lookup_elem(maps->fd[kSpans], &i, &s) == 0) spans_.push_back(s);
  }
  // Static entries and what the event stream had reported.
  absl::MutexLock sl(&sink_mu_);
  ForEachFdbEntry(maps->fd[kFdb], [&](const veb_fdb_key& key, const veb_fdb_entry& e) {
    mu_.AssertHeld();  // held by the caller: says so to the lock analysis
    sink_mu_.AssertHeld();
    const uint64_t k = PackKey(key.vid, KeyMac(key));
    if (e.is_static) statics_[k] = UnpackRef(e.port);
    KnowLocked(k, UnpackRef(e.port));
  });
  maps->counts_bytes = ((VEB_MAX_PORTS + 1) * sizeof(uint64_t) + 4095) & ~size_t{4095};
  void* mem = mmap(nullptr, maps->counts_bytes, PROT_READ | PROT_WRITE, MAP_SHARED,
                   maps->fd[kCounts], 0);
  if (mem == MAP_FAILED) return absl::FailedPreconditionError("mmap of the entry counts");
  maps->counts = static_cast<uint64_t*>(mem);
  maps->sync_inner = bpf_map_create(BPF_MAP_TYPE_ARRAY, nullptr, 4, 4, 1, nullptr);
  LIBBPF_OPTS(bpf_map_create_opts, mo, .inner_map_fd = static_cast<__u32>(maps->sync_inner));
  maps->sync_outer = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, nullptr, 4, 4, 1, &mo);
  if (maps->sync_inner < 0 || maps->sync_outer < 0) {
    return absl::FailedPreconditionError("cannot create maps");
  }
  maps_ = std::move(maps);
  load_note_ = absl::StrCat("adopted the pinned program and maps (", pinned_.size(),
                            " ports)");
  return absl::OkStatus();
}

absl::Status KernelBridge::StartEvents() {
  events_ = ring_buffer__new(maps_->fd[kEvents], &KernelBridge::OnEvent, this, nullptr);
  if (events_ == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "bridge ", Quote(name_), ": kernel engine: event ring buffer: ", ErrnoText(errno)));
  }
  if (!options_.test_hook) event_thread_ = std::thread([this] { EventLoop(); });
  return absl::OkStatus();
}

KernelBridge::~KernelBridge() {
  stop_.store(true);
  if (event_thread_.joinable()) event_thread_.join();
  if (events_ != nullptr) ring_buffer__free(events_);
  absl::MutexLock lock(&mu_);
  for (auto& p : slots_) {
    if (p && p->dev != nullptr) p->dev->SetListener(nullptr);
  }
}

void KernelBridge::EventLoop() {
  while (!stop_.load(std::memory_order_relaxed)) {
    ring_buffer__poll(events_, 100);
  }
}

int KernelBridge::OnEvent(void* ctx, void* data, size_t size) {
  auto* self = static_cast<KernelBridge*>(ctx);
  if (size < sizeof(veb_event)) return 0;
  veb_event ev;
  std::memcpy(&ev, data, sizeof(ev));
  veb_fdb_key k{};
  k.vid = ev.vid;
  std::memcpy(k.mac, ev.mac, 6);
  AddressEvent out{};
  out.vid = ev.vid;
  out.mac = KeyMac(k);
  out.port = UnpackRef(ev.port);
  switch (ev.kind) {
    case VEB_EV_LEARNED:
      out.kind = AddressEventKind::kLearned;
      break;
    case VEB_EV_MOVED:
      out.kind = AddressEventKind::kMoved;
      out.old_port = UnpackRef(ev.old_port);
      break;
    default:
      out.kind = AddressEventKind::kExpired;
      out.age_seconds = static_cast<uint32_t>(ev.age_ns / 1000000000);
      break;
  }
  self->Emit(out);
  return 0;
}

void KernelBridge::Emit(const AddressEvent& ev) {
  absl::MutexLock lock(&sink_mu_);
  const uint64_t k = PackKey(ev.vid, ev.mac);
  if (ev.kind == AddressEventKind::kLearned || ev.kind == AddressEventKind::kMoved) {
    KnowLocked(k, ev.port);
  } else {
    ForgetLocked(k);
  }
  if (sink_) sink_(ev);
}

void KernelBridge::KnowLocked(uint64_t key, PortRef port) {
  ForgetLocked(key);
  known_[key] = port;
  known_by_port_[PackRef(port)].insert(key);
}

void KernelBridge::ForgetLocked(uint64_t key) {
  auto it = known_.find(key);
  if (it == known_.end()) return;
  auto bp = known_by_port_.find(PackRef(it->second));
  if (bp != known_by_port_.end()) {
    bp->second.erase(key);
    if (bp->second.empty()) known_by_port_.erase(bp);
  }
  known_.erase(it);
}

void KernelBridge::SetAddressEventSink(AddressEventSink sink) {
  absl::MutexLock lock(&sink_mu_);
  sink_ = std::move(sink);
}

// ---- maps ---------------------------------------------------------------------------

uint64_t* KernelBridge::Count(uint32_t idx) const {
  return &maps_->counts[idx];
}

absl::Status KernelBridge::WriteCfgLocked() {
  veb_bridge_cfg c{};
  c.version = VEB_LAYOUT_VERSION;
  c.up = config_.up;
  c.allow_svlan = config_.allow_svlan;
  c.allow_reserved = config_.allow_reserved;
  c.max_addresses = config_.max_addresses;
  c.n_members = static_cast<uint32_t>(members_.size());
  c.n_spans = static_cast<uint32_t>(spans_.size());
  c.timeout_ns = uint64_t{config_.timeout_seconds} * 1000000000;
  c.refresh_ns = static_cast<uint64_t>(options_.refresh_ns);
  const uint32_t zero = 0;
  if (bpf_map_update_elem(maps_->fd[kCfg], &zero, &c, BPF_ANY) != 0) {
    return absl::InternalError(absl::StrCat("bridge ", Quote(name_), ": write configuration: ", ErrnoText(errno)));
  }
  return absl::OkStatus();
}

absl::Status KernelBridge::WritePortLocked(const PortState& p) {
  veb_port v{};
  v.ifindex = p.ifindex;
  v.gen = p.ref.gen;
  v.flags = p.span ? VEB_PF_SPAN : VEB_PF_MEMBER;
  if (p.io != nullptr && p.io->running()) v.flags |= VEB_PF_RUNNING;
  if (p.dev != nullptr && p.dev->is_veth()) v.flags |= VEB_PF_VETH;
  if (!p.span) {
    const PortConfig& c = p.config;
    if (c.learning) v.flags |= VEB_PF_LEARNING;
    if (c.discover) v.flags |= VEB_PF_DISCOVER;
    if (c.blocknonip) v.flags |= VEB_PF_BLOCKNONIP;
    if (c.locked) v.flags |= VEB_PF_LOCKED;
    if (!c.tagged.empty()) v.flags |= VEB_PF_TAGGED;
    v.pvid = c.pvid;
    v.protected_domains = c.protected_domains;
    v.max_addresses = c.max_addresses;
    v.rules_in = p.rules_in;
    v.rules_out = p.rules_out;
  }
  v.mtu = p.io != nullptr ? p.io->mtu() : 0;
  uint32_t slot = p.ref.slot;
  if (!p.span && !p.config.tagged.empty()) {
    veb_vlan_bitmap bm{};
    for (uint16_t vid : p.config.tagged) bm.bits[vid >> 6] |= uint64_t{1} << (vid & 63);
    // The bitmap first, so the flag never points at a missing one.
    if (bpf_map_update_elem(maps_->fd[kVlans], &slot, &bm, BPF_ANY) != 0) {
      return absl::InternalError(absl::StrCat("port ", Quote(p.name), ": write VLANs: ", ErrnoText(errno)));
    }
  }
  if (bpf_map_update_elem(maps_->fd[kPorts], &slot, &v, BPF_ANY) != 0) {
    return absl::InternalError(absl::StrCat("port ", Quote(p.name), ": write port: ", ErrnoText(errno)));
  }
  if (p.span || p.config.tagged.empty()) bpf_map_delete_elem(maps_->fd[kVlans], &slot);
  return absl::OkStatus();
}

std::optional<uint32_t> KernelBridge::AllocRulesLocked(uint32_t n) {
  for (auto it = free_rules_.begin(); it != free_rules_.end(); ++it) {
    if (it->second < n) continue;
    const uint32_t start = it->first;
    it->first += n;
    it->second -= n;
    if (it->second == 0) free_rules_.erase(it);
    return start;
  }
  return std::nullopt;
}

void KernelBridge::FreeRulesLocked(uint32_t range) {
  const uint32_t start = range & 0xffff, count = range >> 16;
  if (count == 0) return;
  free_rules_.emplace_back(start, count);
  std::sort(free_rules_.begin(), free_rules_.end());
  std::vector<std::pair<uint32_t, uint32_t>> merged;
  for (const auto& r : free_rules_) {
    if (!merged.empty() && merged.back().first + merged.back().second == r.first) {
      merged.back().second += r.second;
    } else {
      merged.push_back(r);
    }
  }
  free_rules_ = std::move(merged);
}

namespace {
veb_rule EncodeRule(const Rule& r) {
  veb_rule v{};
  if (r.action == RuleAction::kPass) v.flags |= VEB_RF_PASS;
  if (r.src) {
    v.flags |= VEB_RF_SRC;
    v.src = *r.src;
  }
  if (r.dst) {
    v.flags |= VEB_RF_DST;
    v.dst = *r.dst;
  }
  if (r.vid) {
    v.flags |= VEB_RF_VID;
    v.vid = *r.vid;
  }
  if (r.arp == ArpKind::kArp) v.flags |= VEB_RF_ARP;
  if (r.arp == ArpKind::kRarp) v.flags |= VEB_RF_RARP;
  v.arp_op = r.arp_op;
  if (r.arp_sha) {
    v.flags |= VEB_RF_SHA;
    v.sha = *r.arp_sha;
  }
  if (r.arp_spa) {
    v.flags |= VEB_RF_SPA;
    v.spa = *r.arp_spa;
  }
  if (r.arp_tha) {
    v.flags |= VEB_RF_THA;
    v.tha = *r.arp_tha;
  }
  if (r.arp_tpa) {
    v.flags |= VEB_RF_TPA;
    v.tpa = *r.arp_tpa;
  }
  return v;
}
}  // namespace

// Writes the port's rule lists into fresh ranges, switches the port to them
// with one store of its entry, then frees the old ranges.
absl::Status KernelBridge::WriteRulesLocked(PortState& p) {
  std::vector<veb_rule> in, out;
  for (const Rule& r : p.rules) {
    if (r.directions & kRuleIn) in.push_back(EncodeRule(r));
    if (r.directions & kRuleOut) out.push_back(EncodeRule(r));
  }
  uint32_t ranges[2] = {0, 0};
  std::vector<veb_rule>* lists[2] = {&in, &out};
  for (int d = 0; d < 2; ++d) {
    if (lists[d]->empty()) continue;
    std::optional<uint32_t> start = AllocRulesLocked(static_cast<uint32_t>(lists[d]->size()));
    if (!start) {
      if (ranges[0]) FreeRulesLocked(ranges[0]);
      return absl::ResourceExhaustedError(absl::StrCat(
          "the kernel bridge ", Quote(name_), " holds at most ", VEB_MAX_RULES,
          " rule entries (in and out lists of all ports)"));
    }
    for (uint32_t i = 0; i < lists[d]->size(); ++i) {
      uint32_t idx = *start + i;
      bpf_map_update_elem(maps_->fd[kRules], &idx, &(*lists[d])[i], BPF_ANY);
    }
    ranges[d] = *start | (static_cast<uint32_t>(lists[d]->size()) << 16);
  }
  const uint32_t old_in = p.rules_in, old_out = p.rules_out;
  p.rules_in = ranges[0];
  p.rules_out = ranges[1];
  if (absl::Status s = WritePortLocked(p); !s.ok()) return s;
  FreeRulesLocked(old_in);
  FreeRulesLocked(old_out);
  p.rules_deferred = false;
  return absl::OkStatus();
}

absl::Status KernelBridge::AttachLocked(uint32_t ifindex) {
  if (options_.test_hook) return absl::OkStatus();
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = static_cast<int>(ifindex),
              .attach_point = BPF_TC_INGRESS);
  int err = bpf_tc_hook_create(&hook);
  if (err != 0 && err != -EEXIST) return absl::FailedPreconditionError(absl::StrCat("clsact qdisc: ", ErrnoText(err)));
  LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = maps_->prog, .flags = BPF_TC_F_REPLACE,
              .handle = kTcHandle, .priority = kTcPriority);
  err = bpf_tc_attach(&hook, &opts);
  if (err != 0) return absl::FailedPreconditionError(absl::StrCat("tc attach: ", ErrnoText(err)));
  return absl::OkStatus();
}

void KernelBridge::DetachLocked(uint32_t ifindex) {
  if (options_.test_hook) return;
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = static_cast<int>(ifindex),
              .attach_point = BPF_TC_INGRESS);
  LIBBPF_OPTS(bpf_tc_opts, opts, .handle = kTcHandle, .priority = kTcPriority);
  bpf_tc_detach(&hook, &opts);
  // The port's clsact qdisc was made for (or taken over by) the bridge.
  hook.attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS);
  bpf_tc_hook_destroy(&hook);
}

// ---- settings -------------------------------------------------------------------------

absl::Status KernelBridge::Update(const BridgeConfig& config) {
  if (absl::Status s = ValidateBridgeConfig(config); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("bridge ", Quote(name_), ": ", s.message()));
  }
  absl::MutexLock lock(&mu_);
  if (config.max_addresses > fdb_capacity_) {
    if (absl::Status s = GrowFdb(config.max_addresses); !s.ok()) return s;
  }
  config_ = config;
  return WriteCfgLocked();
}

BridgeConfig KernelBridge::config() const {
  absl::ReaderMutexLock lock(&mu_);
  return config_;
}

uint32_t KernelBridge::fdb_capacity() const {
  absl::ReaderMutexLock lock(&mu_);
  return fdb_capacity_;
}

absl::Status KernelBridge::GrowFdb(uint32_t capacity) {
  absl::StatusOr<bpf_object*> obj = OpenAndLoad(name_, options_.test_hook, capacity, maps_->fd);
  if (!obj.ok()) return obj.status();
  const int new_fdb = dup(bpf_map__fd(bpf_object__find_map_by_name(*obj, kMapNames[kFdb])));
  const int new_prog = dup(bpf_program__fd(bpf_object__find_program_by_name(*obj, "veb_ingress")));
  bpf_object__close(*obj);
  const int old_fdb = maps_->fd[kFdb];
  auto copy = [&](int flags) {
    ForEachFdbEntry(old_fdb, [&](const veb_fdb_key& key, const veb_fdb_entry& e) {
      bpf_map_update_elem(new_fdb, &key, &e, flags);
    });
  };
  copy(BPF_ANY);
  const int old_prog = maps_->prog;
  maps_->prog = new_prog;
  for (const auto& p : slots_) {
    if (p && p->ifindex != 0) (void)AttachLocked(p->ifindex);  // REPLACE: no gap
  }
  maps_->Synchronize();
  copy(BPF_NOEXIST);  // what the old program learned during the swap
  if (!options_.test_hook) {
    const std::string fdb_pin = absl::StrCat(dir_, "/", kMapNames[kFdb]);
    const std::string prog_pin = absl::StrCat(dir_, "/", kProgPin);
    unlink(fdb_pin.c_str());
    unlink(prog_pin.c_str());
    bpf_obj_pin(new_fdb, fdb_pin.c_str());
    bpf_obj_pin(new_prog, prog_pin.c_str());
  }
  close(old_prog);
  close(maps_->fd[kFdb]);
  maps_->fd[kFdb] = new_fdb;
  fdb_capacity_ = capacity;
  return absl::OkStatus();
}

// ---- ports ---------------------------------------------------------------------------

std::vector<std::string> KernelBridge::FinishRestore() {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> removed;
  for (const auto& [ifindex, slot] : pinned_) {
    char buf[IF_NAMESIZE] = {};
    removed.push_back(if_indextoname(ifindex, buf) != nullptr ? std::string(buf)
                                                              : absl::StrCat(ifindex));
    const PortState p = *slots_[slot];
    RemoveSlotLocked(slot, p.ref.gen, ifindex, p.span);
  }
  pinned_.clear();
  // Ports of incompatible pins that were not re-added: their old program goes.
  for (uint32_t ifindex : stale_) {
    char buf[IF_NAMESIZE] = {};
    removed.push_back(if_indextoname(ifindex, buf) != nullptr ? std::string(buf)
                                                              : absl::StrCat(ifindex));
    DetachLocked(ifindex);
  }
  stale_.clear();
  // Rules the agent re-added replace the pinned lists now.
  for (auto& p : slots_) {
    if (p && p->rules_deferred && !p->span) (void)WriteRulesLocked(*p);
  }
  return removed;
}

absl::Status KernelBridge::Destroy() {
  stop_.store(true);
  if (event_thread_.joinable()) event_thread_.join();
  absl::MutexLock lock(&mu_);
  if (destroyed_) return absl::OkStatus();
  for (auto& p : slots_) {
    if (!p) continue;
    DetachLocked(p->ifindex);
    if (p->dev != nullptr) p->dev->SetListener(nullptr);
    p.reset();
  }
  for (uint32_t ifindex : stale_) DetachLocked(ifindex);
  stale_.clear();
  slot_by_name_.clear();
  pinned_.clear();
  destroyed_ = true;
  if (options_.test_hook) return absl::OkStatus();
  for (int i = 0; i < kNumRealMaps; ++i) unlink(absl::StrCat(dir_, "/", kMapNames[i]).c_str());
  unlink(absl::StrCat(dir_, "/", kProgPin).c_str());
  if (rmdir(dir_.c_str()) != 0 && errno != ENOENT) {
    return absl::InternalError(absl::StrCat("bridge ", Quote(name_), ": remove ", dir_, ": ", ErrnoText(errno)));
  }
  rmdir(options_.pin_root.c_str());  // only when no other bridge is pinned
  return absl::OkStatus();
}

}  // namespace veb::ebpf
