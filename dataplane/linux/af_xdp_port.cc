#include "dataplane/linux/af_xdp_port.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <dirent.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <net/if.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <xdp/libxdp.h>
#include <xdp/xsk.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "dataplane/linux/netlink.h"
#include "dataplane/linux/soft_offload.h"
#include "dataplane/linux/takeover.h"
#include "dataplane/linux/vnet_hdr.h"

namespace veb {

struct AfXdpPort::Queue {
  xsk_socket* xsk = nullptr;
  int fd = -1;
  uint64_t first_frame = 0;  // UMEM offset of this queue's RX frames
  xsk_ring_prod fill{};
  xsk_ring_cons comp{};
  xsk_ring_cons rx{};
  xsk_ring_prod tx{};  // queue 0 only
};

namespace {

absl::Status Unsupported(const std::string& ifname, const std::string& why) {
  return absl::UnimplementedError(absl::StrCat("port \"", ifname, "\": add: AF_XDP: ", why));
}

// libxdp/libbpf print their diagnostics to stderr by default; the agent
// reports errors through return codes instead.
void InitLibxdpOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    libxdp_set_print(nullptr);
    libbpf_set_print(nullptr);
  });
}

bpf_insn Insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  bpf_insn i{};
  i.code = code;
  i.dst_reg = dst & 0xf;
  i.src_reg = src & 0xf;
  i.off = off;
  i.imm = imm;
  return i;
}

// The port's XDP program, six instructions:
//   return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);
// i.e. every frame of queue q goes to the socket in slot q (XDP_PASS while
// the slot is empty). Loaded by the port itself rather than libxdp's default
// program so that it is attached through a BPF link the port owns: the
// kernel detaches it when the link's fd closes -- on release, and also when
// the agent is killed -- so no program (and no lost GSO on the veth peer) is
// left behind on the interface.
absl::StatusOr<int> LoadRedirectProgram(int map_fd) {
  const bpf_insn insns[] = {
      Insn(BPF_LDX | BPF_W | BPF_MEM, BPF_REG_2, BPF_REG_1,
           offsetof(xdp_md, rx_queue_index), 0),
      Insn(BPF_LD | BPF_DW | BPF_IMM, BPF_REG_1, BPF_PSEUDO_MAP_FD, 0, map_fd),
      Insn(0, 0, 0, 0, 0),  // second half of the 64-bit immediate
      Insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_3, 0, 0, XDP_PASS),
      Insn(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_redirect_map),
      Insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
  };
  const int fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "veb_xsk", "GPL", insns,
                               sizeof(insns) / sizeof(insns[0]), nullptr);
  if (fd < 0) return absl::InternalError(std::strerror(-fd));
  return fd;
}

// Receive queues in use (real_num_rx_queues; netlink reports only the
// maximum, e.g. 2 for a veth that uses 1): the rx-N entries sysfs keeps.
uint32_t RxQueuesInUse(const std::string& ifname) {
  uint32_t n = 0;
  if (DIR* d = opendir(("/sys/class/net/" + ifname + "/queues").c_str())) {
    while (dirent* e = readdir(d)) n += std::strncmp(e->d_name, "rx-", 3) == 0;
    closedir(d);
  }
  return n == 0 ? 1 : n;
}

uint64_t FrameBase(uint64_t addr) { return addr - addr % AfXdpPort::kFrameSize; }

}  // namespace

const char* AfXdpModeName(AfXdpPort::Mode mode) {
  switch (mode) {
    case AfXdpPort::Mode::kNativeCopy: return "native XDP, copy";
    case AfXdpPort::Mode::kNativeZeroCopy: return "native XDP, zero-copy";
    case AfXdpPort::Mode::kGenericCopy: return "generic XDP, copy";
  }
  return "?";
}

AfXdpPort::AfXdpPort(std::string name, int ifindex, Mac mac, uint32_t mtu, bool running)
    : LinuxPort(std::move(name), ifindex, mac, mtu, running) {}

AfXdpPort::~AfXdpPort() {
  if (restore_lro_ && promisc_fd_ >= 0) EnableLro(promisc_fd_, name());
  if (link_fd_ >= 0) close(link_fd_);  // detaches the program
  if (map_fd_ >= 0) close(map_fd_);
  // Queue 0 last: its socket owns the UMEM's first rings.
  for (size_t i = queues_.size(); i-- > 0;) {
    if (queues_[i]->xsk != nullptr) xsk_socket__delete(queues_[i]->xsk);
  }
  if (umem_ != nullptr) xsk_umem__delete(umem_);
  if (area_ != nullptr) munmap(area_, area_size_);
  if (epfd_ >= 0) close(epfd_);
  CloseInBackground(promisc_fd_);  // drops the promiscuous membership
}

absl::StatusOr<std::shared_ptr<AfXdpPort>> AfXdpPort::Open(const std::string& ifname) {
  InitLibxdpOnce();
  auto link = GetPortLink(ifname);
  if (!link.ok()) return link.status();
  if (link->mtu > kMaxMtu) {
    return Unsupported(ifname, absl::StrCat("MTU ", link->mtu, " above ", kMaxMtu,
                                            " (one frame per 4 KiB UMEM chunk)"));
  }
  const uint32_t nq = RxQueuesInUse(ifname);
  if (nq > kMaxQueues) {
    return Unsupported(ifname, absl::StrCat(nq, " receive queues (at most ", kMaxQueues, ")"));
  }
  // ---- build; the destructor undoes whatever was done if a step fails ----
  std::shared_ptr<AfXdpPort> port(
      new AfXdpPort(ifname, link->ifindex, link->mac, link->mtu, LinkRunning(*link)));
  const uint64_t tx_first = uint64_t{nq} * kRxFrames * kFrameSize;
  port->area_size_ = tx_first + uint64_t{kTxFrames} * kFrameSize;
  void* area = mmap(nullptr, port->area_size_, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (area == MAP_FAILED) return PortSysError(ifname, "AF_XDP UMEM memory", errno);
  port->area_ = static_cast<uint8_t*>(area);
  for (uint32_t q = 0; q < nq; ++q) {
    port->queues_.push_back(std::make_unique<Queue>());
    port->queues_.back()->first_frame = uint64_t{q} * kRxFrames * kFrameSize;
  }
  Queue& q0 = *port->queues_[0];
  xsk_umem_config uc{};
  uc.fill_size = kRxFrames;
  uc.comp_size = kTxFrames;
  uc.frame_size = kFrameSize;
  uc.frame_headroom = 0;
  if (int err = xsk_umem__create(&port->umem_, area, port->area_size_, &q0.fill, &q0.comp, &uc);
      err != 0) {
    return Unsupported(ifname, absl::StrCat("UMEM: ", std::strerror(-err)));
  }
  // The program first: native XDP where the driver has it, else generic.
  port->map_fd_ = bpf_map_create(BPF_MAP_TYPE_XSKMAP, "veb_xsks", sizeof(uint32_t),
                                 sizeof(uint32_t), kMaxQueues, nullptr);
  if (port->map_fd_ < 0) {
    return Unsupported(ifname, absl::StrCat("XSKMAP: ", std::strerror(-port->map_fd_)));
  }
  auto prog = LoadRedirectProgram(port->map_fd_);
  if (!prog.ok()) return Unsupported(ifname, absl::StrCat("XDP program: ", prog.status().message()));
  bpf_link_create_opts lo{};
  lo.sz = sizeof(lo);
  lo.flags = XDP_FLAGS_DRV_MODE;
  port->link_fd_ = bpf_link_create(*prog, link->ifindex, BPF_XDP, &lo);
  const int native_err = port->link_fd_ < 0 ? -port->link_fd_ : 0;
  if (port->link_fd_ < 0) {
    lo.flags = XDP_FLAGS_SKB_MODE;
    port->link_fd_ = bpf_link_create(*prog, link->ifindex, BPF_XDP, &lo);
  }
  close(*prog);  // the link holds it
  if (port->link_fd_ < 0) {
    const int generic_err = -port->link_fd_;
    return Unsupported(ifname, absl::StrCat("attach: native: ", std::strerror(native_err),
                                            "; generic: ", std::strerror(generic_err)));
  }
  // Zero-copy when the driver offers it (native only), copy mode otherwise.
  xsk_socket_config sc{};
  sc.rx_size = kRxFrames;
  sc.tx_size = kTxFrames;
  sc.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD;
  sc.bind_flags = XDP_USE_NEED_WAKEUP | (native_err == 0 ? 0 : XDP_COPY);
  if (int err = xsk_socket__create(&q0.xsk, ifname.c_str(), 0, port->umem_, &q0.rx, &q0.tx, &sc);
      err != 0) {
    q0.xsk = nullptr;
    return Unsupported(ifname, absl::StrCat("socket: ", std::strerror(-err)));
  }
  if (native_err != 0) {
    port->mode_ = Mode::kGenericCopy;
  } else {
    xdp_options opts{};
    socklen_t len = sizeof(opts);
    const bool zc = getsockopt(xsk_socket__fd(q0.xsk), SOL_XDP, XDP_OPTIONS, &opts, &len) == 0 &&
                    (opts.flags & XDP_OPTIONS_ZEROCOPY) != 0;
    port->mode_ = zc ? Mode::kNativeZeroCopy : Mode::kNativeCopy;
  }
  sc.bind_flags = 0;  // a socket sharing a UMEM inherits its flags (others: EINVAL)
  sc.tx_size = 0;
  for (uint32_t qi = 1; qi < nq; ++qi) {
    Queue& q = *port->queues_[qi];
    if (int e = xsk_socket__create_shared(&q.xsk, ifname.c_str(), qi, port->umem_, &q.rx,
                                          nullptr, &q.fill, &q.comp, &sc);
        e != 0) {
      q.xsk = nullptr;
      return Unsupported(ifname, absl::StrCat("queue ", qi, ": ", std::strerror(-e)));
    }
  }
  for (auto& qp : port->queues_) {
    if (int e = xsk_socket__update_xskmap(qp->xsk, port->map_fd_); e != 0) {
      return Unsupported(ifname, absl::StrCat("XSKMAP update: ", std::strerror(-e)));
    }
  }
  for (auto& qp : port->queues_) {
    Queue& q = *qp;
    q.fd = xsk_socket__fd(q.xsk);
    uint32_t idx = 0;
    if (xsk_ring_prod__reserve(&q.fill, kRxFrames, &idx) != kRxFrames) {
      return absl::InternalError(absl::StrCat("port \"", ifname, "\": add: AF_XDP fill ring"));
    }
    for (uint32_t i = 0; i < kRxFrames; ++i) {
      *xsk_ring_prod__fill_addr(&q.fill, idx + i) = q.first_frame + uint64_t{i} * kFrameSize;
    }
    xsk_ring_prod__submit(&q.fill, kRxFrames);
  }
  if (nq == 1) {
    port->fd_ = q0.fd;
  } else {
    port->epfd_ = epoll_create1(EPOLL_CLOEXEC);
    if (port->epfd_ < 0) return PortSysError(ifname, "epoll", errno);
    for (auto& qp : port->queues_) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      if (epoll_ctl(port->epfd_, EPOLL_CTL_ADD, qp->fd, &ev) != 0) {
        return PortSysError(ifname, "epoll", errno);
      }
    }
    port->fd_ = port->epfd_;
  }
  {
    absl::MutexLock lock(&port->tx_mu_);
    port->tx_free_.reserve(kTxFrames);
    for (uint32_t i = 0; i < kTxFrames; ++i) {
      port->tx_free_.push_back(tx_first + uint64_t{i} * kFrameSize);
    }
  }
  port->promisc_fd_ = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);  // receives nothing
  if (port->promisc_fd_ < 0) return PortSysError(ifname, "packet socket", errno);
  if (auto s = SetPromiscuous(port->promisc_fd_, link->ifindex, ifname); !s.ok()) return s;
  auto lro = DisableLro(port->promisc_fd_, ifname);
  if (!lro.ok()) return lro.status();
  port->restore_lro_ = *lro;
  return port;
}

ReceiveResult AfXdpPort::Receive(uint32_t max, BatchFn fn) {
  if (max > kMaxBatch) max = kMaxBatch;
  RxFrame frames[kMaxBatch];
  uint64_t addrs[kMaxBatch];
  uint32_t taken[kMaxQueues] = {};
  const uint32_t nq = static_cast<uint32_t>(queues_.size());
  const uint32_t start = next_queue_;
  next_queue_ = (start + 1) % nq;
  uint32_t n = 0;
  for (uint32_t k = 0; k < nq && n < max; ++k) {
    const uint32_t qi = (start + k) % nq;
    Queue& q = *queues_[qi];
    uint32_t idx = 0;
    const uint32_t got = xsk_ring_cons__peek(&q.rx, max - n, &idx);
    for (uint32_t i = 0; i < got; ++i, ++n) {
      const xdp_desc* d = xsk_ring_cons__rx_desc(&q.rx, idx + i);
      addrs[n] = d->addr;
      CompletePartialChecksum(area_ + d->addr, d->len);
      frames[n] = RxFrame{area_ + d->addr, d->len, OffloadInfo{}};
    }
    taken[qi] = got;
  }
  if (n == 0) return ReceiveResult::kOk;
  fn(absl::MakeConstSpan(frames, n));
  // The frames go straight back to their queue's fill ring, which has room
  // for them since they came from it.
  uint32_t at = 0;
  for (uint32_t k = 0; k < nq; ++k) {
    const uint32_t qi = (start + k) % nq;  // the order taken
    if (taken[qi] == 0) continue;
    Queue& q = *queues_[qi];
    xsk_ring_cons__release(&q.rx, taken[qi]);
    uint32_t fidx = 0;
    const uint32_t got = xsk_ring_prod__reserve(&q.fill, taken[qi], &fidx);
    for (uint32_t i = 0; i < got; ++i) {
      *xsk_ring_prod__fill_addr(&q.fill, fidx + i) = FrameBase(addrs[at + i]);
    }
    at += taken[qi];
    xsk_ring_prod__submit(&q.fill, got);
    if (xsk_ring_prod__needs_wakeup(&q.fill)) {
      (void)recvfrom(q.fd, nullptr, 0, MSG_DONTWAIT, nullptr, nullptr);
    }
  }
  return ReceiveResult::kOk;
}

ReceiveResult AfXdpPort::OnPollError() {
  bool netdown = false;
  for (auto& q : queues_) {
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(q->fd, SOL_SOCKET, SO_ERROR, &err, &len);  // reading clears it
    netdown |= err == ENETDOWN;
  }
  rx_errors_.fetch_add(1, std::memory_order_relaxed);
  char buf[IF_NAMESIZE];
  if (netdown && if_indextoname(static_cast<unsigned>(ifindex()), buf) == nullptr) {
    return ReceiveResult::kDead;  // unregistered: the socket is unbound for good
  }
  return ReceiveResult::kError;
}

void AfXdpPort::ReclaimLocked() {
  Queue& r = *queues_[0];
  uint32_t idx = 0;
  const uint32_t n = xsk_ring_cons__peek(&r.comp, kTxFrames, &idx);
  for (uint32_t i = 0; i < n; ++i) {
    tx_free_.push_back(FrameBase(*xsk_ring_cons__comp_addr(&r.comp, idx + i)));
  }
  xsk_ring_cons__release(&r.comp, n);
}

void AfXdpPort::KickLocked() {
  Queue& r = *queues_[0];
  if (mode_ == Mode::kNativeZeroCopy) {
    // The driver sends on its own; it asks for a kick only when idle.
    if (xsk_ring_prod__needs_wakeup(&r.tx)) {
      (void)sendto(r.fd, nullptr, 0, MSG_DONTWAIT, nullptr, 0);
    }
    return;
  }
  // Copy mode sends in the sendto() call, at most 32 frames each.
  for (int tries = 0; tries < static_cast<int>(kTxFrames / 32) + 8; ++tries) {
    if (__atomic_load_n(r.tx.consumer, __ATOMIC_ACQUIRE) == r.tx.cached_prod) return;
    if (sendto(r.fd, nullptr, 0, MSG_DONTWAIT, nullptr, 0) >= 0) continue;
    if (errno == EAGAIN || errno == EBUSY || errno == ENOBUFS || errno == EINTR) {
      ReclaimLocked();
      continue;
    }
    return;  // ENETDOWN/ENXIO: the frames wait in the ring for the link
  }
}

TxResult AfXdpPort::Transmit(absl::Span<const TxFrame> frames) {
  thread_local std::vector<uint8_t> scratch(kMaxFrameLen + kVlanTagLen);
  absl::MutexLock lock(&tx_mu_);
  Queue& r = *queues_[0];
  ReclaimLocked();
  TxResult result;
  result.reason = DropReason::kNoBuffer;
  uint32_t queued = 0;
  bool too_big = false;
  // A TX frame and a ring slot for `len` bytes, or nullptr.
  auto take = [&](uint32_t len) ABSL_EXCLUSIVE_LOCKS_REQUIRED(tx_mu_) -> uint8_t* {
    if (len > kFrameSize) {
      too_big = true;
      return nullptr;
    }
    uint32_t idx = 0;
    if (tx_free_.empty() || xsk_ring_prod__reserve(&r.tx, 1, &idx) != 1) return nullptr;
    const uint64_t addr = tx_free_.back();
    tx_free_.pop_back();
    xdp_desc* d = xsk_ring_prod__tx_desc(&r.tx, idx);
    d->addr = addr;
    d->len = len;
    d->options = 0;
    ++queued;
    return area_ + addr;
  };
  for (const TxFrame& f : frames) {
    virtio_net_hdr vh{};
    if (f.offload.vnet_hdr != nullptr) std::memcpy(&vh, f.offload.vnet_hdr, sizeof(vh));
    const bool soft = VnetIsGso(vh) || (vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) != 0;
    if (!soft) {
      const uint32_t len = TxFrameLength(f);
      uint8_t* out = take(len);
      if (out == nullptr) break;
      if (f.op == TagOp::kKeep) {
        std::memcpy(out, f.data, f.len);
      } else {
        WriteTxFrame(f, out);
      }
      ++result.sent;
      continue;
    }
    const uint8_t* src = f.data;
    uint32_t len = f.len;
    if (f.op != TagOp::kKeep) {
      len = WriteTxFrame(f, scratch.data());
      src = scratch.data();
    }
    WriteVnetHdr(f, len, /*full_linear=*/false, reinterpret_cast<uint8_t*>(&vh));
    const SoftOffloadResult sr =
        SoftOffload(src, len, vh, take, [](uint8_t*, uint32_t) {});  // take() queued it
    if (sr != SoftOffloadResult::kOk) {
      if (sr != SoftOffloadResult::kNoBuffer) result.reason = DropReason::kTxError;
      break;
    }
    ++result.sent;
  }
  if (too_big) result.reason = DropReason::kTxError;  // not a lack of buffers
  if (queued != 0) {
    xsk_ring_prod__submit(&r.tx, queued);
    KickLocked();
  }
  return result;
}

BackendStats AfXdpPort::backend_stats() const {
  BackendStats s;
  for (const auto& q : queues_) {
    xdp_statistics st{};
    socklen_t len = sizeof(st);
    if (getsockopt(q->fd, SOL_XDP, XDP_STATISTICS, &st, &len) == 0) {
      s.rx_kernel_drops += st.rx_dropped + st.rx_ring_full;
    }
  }
  s.rx_errors = rx_errors_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace veb
