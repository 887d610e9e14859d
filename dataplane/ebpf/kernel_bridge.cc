// KernelBridge: loading, pinning, adoption and teardown of the kernel engine's
// BPF objects, and the control plane over its maps (layout: veb_layout.h).
#include "dataplane/ebpf/kernel_bridge.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
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
#include "dataplane/ebpf/veb_layout.h"
#include "dataplane/frame.h"
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

// Calls fn(key, entry) for every FDB entry: batches of 4,096 per system call
// (BPF_MAP_LOOKUP_BATCH, Linux 5.6), so a sweep of 1,000,000 entries costs a
// few hundred calls, not two per entry; one key at a time where batches are
// refused. Entries added or removed during the walk may be missed or seen.
template <typename Fn>
void ForEachFdbEntry(int fd, Fn fn) {
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

constexpr uint32_t kTcHandle = 0x7eb;  // "veb"
constexpr uint32_t kTcPriority = 1;
constexpr uint32_t kBpfFsMagic = 0xcafe4a11;
constexpr char kProgPin[] = "prog";

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
constexpr int kNumRealMaps = kTestCtl;
constexpr const char* kMapNames[kNumMaps] = {
    "veb_cfg",      "veb_ports",     "veb_vlans",    "veb_ifindex",
    "veb_members",  "veb_spans",     "veb_fdb",      "veb_fdb_counts",
    "veb_rules",    "veb_counters",  "veb_hot",      "veb_bcounters", "veb_events",
    "veb_test_ctl", "veb_test_out",  "veb_test_copies"};

std::string Quote(absl::string_view s) { return absl::StrCat("\"", s, "\""); }

uint64_t PackKey(uint16_t vid, Mac mac) { return (uint64_t{vid} << 48) | mac; }
veb_fdb_key FdbKey(uint16_t vid, Mac mac) {
  veb_fdb_key k{};
  k.vid = vid;
  for (int i = 0; i < 6; ++i) k.mac[i] = static_cast<uint8_t>(mac >> (40 - 8 * i));
  return k;
}
Mac KeyMac(const veb_fdb_key& k) {
  Mac m = 0;
  for (int i = 0; i < 6; ++i) m = (m << 8) | k.mac[i];
  return m;
}
uint64_t PackRef(PortRef r) { return VEB_PORT_REF(r.slot, r.gen); }
PortRef UnpackRef(uint64_t v) {
  return PortRef{static_cast<uint32_t>(v), static_cast<uint32_t>(v >> 32)};
}

std::string ErrnoText(int err) { return std::strerror(err < 0 ? -err : err); }

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

int NumCpus() {
  static const int n = libbpf_num_possible_cpus();
  return n > 0 ? n : 1;
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
  if (name.empty() || name.size() >= IFNAMSIZ) {
    return absl::InvalidArgumentError(
        absl::StrCat("interface ", Quote(name), ": bad interface name"));
  }
  const unsigned ifindex = if_nametoindex(name.c_str());
  if (ifindex == 0) {
    return absl::NotFoundError(absl::StrCat("interface ", Quote(name), ": ", ErrnoText(errno)));
  }
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("interface ", Quote(name), ": socket: ", ErrnoText(errno)));
  }
  struct ifreq ifr {};
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  uint32_t mtu = 1500;
  if (ioctl(fd, SIOCGIFMTU, &ifr) == 0) mtu = static_cast<uint32_t>(ifr.ifr_mtu);
  bool running = false;
  if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
    running = (ifr.ifr_flags & IFF_UP) && (ifr.ifr_flags & IFF_RUNNING);
  }
  struct ethtool_drvinfo info {};
  info.cmd = ETHTOOL_GDRVINFO;
  ifr.ifr_data = reinterpret_cast<char*>(&info);
  const bool is_veth =
      ioctl(fd, SIOCETHTOOL, &ifr) == 0 && std::strcmp(info.driver, "veth") == 0;
  close(fd);
  return std::make_shared<NetdevPort>(std::move(name), ifindex, is_veth, mtu, running);
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
