// The fixture of the Linux dataplane integration tests (run as root,
// outside `bazel test`: see run.sh): pods are network namespaces whose eth0
// is a vport on one veb bridge of either engine (userspace: driven by a
// WorkerPool; kernel: the BPF program at TC ingress); the link monitor
// feeds link state (S1) and interface removal (S12) back into the bridge.
// Addresses are only inside the namespaces (10.99.0.0/24); every namespace
// and interface a test makes is removed in TearDown (and by run.sh's trap if
// the process dies). Also a packet socket in a pod and an ARP frame builder.
//
// Thread-safety: one test at a time; the link monitor's callback takes the
// fixture's own lock.
#ifndef VEB_TEST_INTEGRATION_LINUX_INTEGRATION_TEST_UTIL_H_
#define VEB_TEST_INTEGRATION_LINUX_INTEGRATION_TEST_UTIL_H_

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "dataplane/bridge.h"
#include "dataplane/bridge_engine.h"
#include "dataplane/ebpf/kernel_bridge.h"
#include "dataplane/clock.h"
#include "dataplane/linux/af_packet_port.h"
#include "dataplane/linux/af_xdp_port.h"
#include "dataplane/linux/link_monitor.h"
#include "dataplane/linux/netlink.h"
#include "dataplane/linux/tap_port.h"
#include "dataplane/linux/vport.h"
#include "dataplane/linux/worker.h"
#include "dataplane/qsbr.h"
#include "gtest/gtest.h"

namespace veb::integration_test {


struct Cmd {
  int rc;
  std::string out;
};

inline Cmd Sh(const std::string& cmd) {
  Cmd r{-1, ""};
  FILE* f = popen((cmd + " 2>&1").c_str(), "r");
  if (f == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0) r.out.append(buf, n);
  const int st = pclose(f);
  r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

inline std::string Prefix() {
  const char* p = std::getenv("VEB_IT_PREFIX");
  return p != nullptr ? p : absl::StrCat("vit", getpid() % 100000);
}

template <typename Pred>
bool WaitFor(Pred pred, int timeout_ms = 3000) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

constexpr Mac kPodMac[6] = {0, 0x020000990001, 0x020000990002, 0x020000990003,
                            0x020000990004, 0x020000990005};
constexpr uint16_t kTestEtherType = 0x88b5;  // local experimental

// One port of the bridge under test, whichever engine holds it.
struct SwitchPort {
  std::shared_ptr<Port> port;                // what the bridge holds
  std::shared_ptr<LinuxPort> linux_port;     // userspace engine: polled by the pool
  std::shared_ptr<ebpf::NetdevPort> netdev;  // kernel engine
  int ifindex = 0;
  void SetLink(bool running, uint32_t mtu) {
    if (linux_port) {
      linux_port->set_running(running);
      linux_port->set_mtu(mtu);
    } else if (netdev) {
      netdev->set_running(running);
      netdev->set_mtu(mtu);
    }
  }
};

inline std::string EngineTestName(const ::testing::TestParamInfo<Engine>& info) {
  return EngineName(info.param);
}

// Pods 1..3 on one bridge of the engine under test. The kernel engine's pins
// go under /sys/fs/bpf/<prefix>/ (run.sh removes them if the test dies), and
// every kernel test ends by checking that removing the ports and destroying
// the bridge left no filter, clsact qdisc or pin behind.
class SwitchTest : public ::testing::Test {
 protected:
  explicit SwitchTest(Engine engine) : engine_(engine) {}

  void SetUp() override {
    prefix_ = Prefix();
    if (engine_ == Engine::kKernel) {
      ebpf::KernelBridgeOptions options;
      options.pin_root = PinRoot();
      auto b = ebpf::KernelBridge::Create("veb0", {}, options);
      ASSERT_TRUE(b.ok()) << b.status();
      kernel_ = b->get();
      bridge_ = std::move(*b);
    } else {
      bridge_ = Bridge::Create("veb0", {}, MonotonicClock::Get(), &qsbr_, 2).value();
      auto pool = WorkerPool::Create(&qsbr_, 2);
      ASSERT_TRUE(pool.ok()) << pool.status();
      pool_ = std::move(*pool);
    }
    monitor_ = std::make_unique<LinkMonitor>([this](const LinkEvent& ev) { OnLink(ev); });
    ASSERT_TRUE(monitor_->Start().ok());
    for (int i = 1; i <= 3; ++i) AddVethPod(i);
  }

  void TearDown() override {
    monitor_->Stop();
    std::vector<std::string> removed;
    {
      absl::MutexLock lock(&mu_);
      for (auto& [name, p] : ports_) {
        if (pool_ && p.linux_port) (void)pool_->Detach(p.linux_port.get());
        (void)bridge_->RemovePort(name);
        removed.push_back(name);
      }
      ports_.clear();
    }
    if (pool_) pool_->Stop();
    if (kernel_ != nullptr) {
      EXPECT_TRUE(kernel_->Destroy().ok());
      for (const std::string& name : removed) {
        // Interfaces that still exist carry no filter and no clsact qdisc.
        if (Sh("ip link show " + name).rc != 0) continue;
        EXPECT_EQ(Sh("tc filter show dev " + name + " ingress").out, "") << name;
        EXPECT_EQ(Sh("tc qdisc show dev " + name).out.find("clsact"), std::string::npos) << name;
      }
      EXPECT_NE(Sh("ls " + PinRoot() + "/veb0").rc, 0) << "pins left behind";
      Sh("rmdir " + PinRoot());
    }
    bridge_.reset();
    qsbr_.Reclaim();
    for (const std::string& ifname : host_ifs_) (void)DeleteVport(ifname);
    for (const std::string& ns : netns_) Sh("ip netns del " + ns);
  }

  std::string PinRoot() const { return "/sys/fs/bpf/" + prefix_; }
  std::string Ns(int i) { return absl::StrCat(prefix_, "-p", i); }
  std::string HostIf(int i) { return absl::StrCat(prefix_, "h", i); }
  std::string Exec(int i) { return absl::StrCat("ip netns exec ", Ns(i), " "); }

  void MakeNetns(int i) {
    ASSERT_EQ(Sh("ip netns add " + Ns(i)).rc, 0);
    netns_.push_back(Ns(i));
    ASSERT_EQ(Sh(absl::StrCat("ip -n ", Ns(i), " link set lo up")).rc, 0);
  }

  // A worker-polled port (userspace engine only: TAP, AF_XDP).
  void AddPort(std::shared_ptr<LinuxPort> port, bool span = false) {
    ASSERT_EQ(engine_, Engine::kUserspace);
    absl::MutexLock lock(&mu_);
    auto ref = span ? bridge_->AddSpanPort(port) : bridge_->AddPort(port, {});
    ASSERT_TRUE(ref.ok()) << ref.status();
    auto w = pool_->Attach(port, bridge_->AsUserspace(), *ref);
    ASSERT_TRUE(w.ok()) << w.status();
    ports_[port->name()] = SwitchPort{port, port, nullptr, port->ifindex()};
  }

  // Interface `name` as a port of the engine under test: AF_PACKET (or
  // AF_XDP) for the userspace engine, the program at TC ingress for the
  // kernel engine.
  void AddInterface(const std::string& name, bool span = false, bool xdp = false) {
    if (engine_ == Engine::kUserspace) {
      if (xdp) {
        auto port = AfXdpPort::Open(name);
        ASSERT_TRUE(port.ok()) << port.status();
        AddPort(*port, span);
      } else {
        auto port = AfPacketPort::Open(name);
        ASSERT_TRUE(port.ok()) << port.status();
        AddPort(*port, span);
      }
      return;
    }
    ASSERT_FALSE(xdp);
    auto link = GetPortLink(name);
    ASSERT_TRUE(link.ok()) << link.status();
    std::shared_ptr<ebpf::NetdevPort> port = ebpf::NetdevPort::FromLink(*link);
    absl::MutexLock lock(&mu_);
    auto ref = span ? bridge_->AddSpanPort(port) : bridge_->AddPort(port, {});
    ASSERT_TRUE(ref.ok()) << ref.status();
    ports_[name] = SwitchPort{port, nullptr, port, link->ifindex};
  }

  // Pod i behind a veth vport whose host end is a port of the bridge.
  void AddVethPod(int i, bool xdp = false) {
    MakeNetns(i);
    auto v = CreateVethPodVport("/run/netns/" + Ns(i), "eth0", HostIf(i), kPodMac[i]);
    ASSERT_TRUE(v.ok()) << v.status();
    host_ifs_.push_back(HostIf(i));
    EXPECT_EQ(v->mac, kPodMac[i]);
    AddInterface(HostIf(i), /*span=*/false, xdp);
    ASSERT_EQ(Sh(absl::StrCat("ip -n ", Ns(i), " addr add 10.99.0.", i, "/24 dev eth0")).rc, 0);
  }

  void AddTapPod(int i) {
    MakeNetns(i);
    auto v = CreateTapPodVport("/run/netns/" + Ns(i), "eth0", kPodMac[i]);
    ASSERT_TRUE(v.ok()) << v.status();
    auto port = TapPort::Create(absl::StrCat(prefix_, "t", i), v->tap_fd, 0, v->mac, v->mtu);
    ASSERT_TRUE(port.ok()) << port.status();
    AddPort(*port);
    ASSERT_EQ(Sh(absl::StrCat("ip -n ", Ns(i), " addr add 10.99.0.", i, "/24 dev eth0")).rc, 0);
  }

  // S1/S12 from the link monitor.
  void OnLink(const LinkEvent& ev) {
    absl::MutexLock lock(&mu_);
    for (auto it = ports_.begin(); it != ports_.end(); ++it) {
      if (it->second.ifindex == 0 || it->second.ifindex != ev.ifindex) continue;
      if (ev.deleted) {
        if (pool_ && it->second.linux_port) (void)pool_->Detach(it->second.linux_port.get());
        (void)bridge_->RemovePort(it->first);
        ports_.erase(it);
      } else {
        it->second.SetLink(ev.running, ev.mtu);
      }
      return;
    }
  }

  bool Ping(int from, int to, int count = 3, std::string* rtt = nullptr) {
    Cmd c = Sh(absl::StrCat(Exec(from), "ping -n -q -c ", count, " -i 0.2 -W 2 10.99.0.", to));
    if (rtt != nullptr) {
      std::smatch m;
      if (std::regex_search(c.out, m, std::regex("rtt min/avg/max/mdev = ([^ ]+) ms"))) {
        *rtt = m[1];
      }
    }
    return c.rc == 0;
  }

  // 100 MiB of random bytes over TCP from pod `from` to pod `to` (the
  // sender's GSO/TSO on, as pods have it): true when the receiver counted
  // every byte and its SHA-256 matches the sender's.
  bool TransferIntact(int from, int to) {
    const std::string ip = absl::StrCat("10.99.0.", to);
    const std::string server =
        "import hashlib,socket;s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);"
        "s.bind(('" + ip + "',5201));s.listen(1);s.settimeout(20);c,_=s.accept();h=hashlib.sha256();n=0\n"
        "while True:\n d=c.recv(1<<20)\n if not d: break\n h.update(d);n+=len(d)\n"
        "print(n,h.hexdigest())";
    const std::string client =
        "import hashlib,random,socket;r=random.Random(7);h=hashlib.sha256();c=socket.create_connection(('" +
        ip + "',5201),5)\n"
        "for i in range(100):\n b=r.randbytes(1<<20);h.update(b);c.sendall(b)\n"
        "c.close();print(100<<20,h.hexdigest())";
    std::string server_out;
    std::thread t([&] {
      server_out = Sh(absl::StrCat(Exec(to), "timeout 30 python3 -c \"", server, "\"")).out;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    const std::string client_out =
        Sh(absl::StrCat(Exec(from), "timeout 30 python3 -c \"", client, "\"")).out;
    t.join();
    EXPECT_EQ(server_out, client_out);
    return server_out == client_out && client_out.find("104857600 ") != std::string::npos;
  }

  std::vector<AddressInfo> Addresses() {
    auto page = bridge_->ListAddressPage(AddressQuery{}, std::nullopt, 1 << 20);
    EXPECT_TRUE(page.ok()) << page.status();
    return page.ok() ? page->addresses : std::vector<AddressInfo>{};
  }

  std::optional<std::string> Owner(Mac mac) {
    for (const AddressInfo& a : Addresses()) {
      if (a.mac == mac) return a.port;
    }
    return std::nullopt;
  }

  std::shared_ptr<Port> PortOf(const std::string& name) {
    absl::MutexLock lock(&mu_);
    auto it = ports_.find(name);
    return it == ports_.end() ? nullptr : it->second.port;
  }

  const Engine engine_;
  std::string prefix_;
  Qsbr qsbr_;
  std::unique_ptr<BridgeEngine> bridge_;
  ebpf::KernelBridge* kernel_ = nullptr;  // bridge_, when it is a kernel bridge
  std::unique_ptr<WorkerPool> pool_;      // userspace engine only
  std::unique_ptr<LinkMonitor> monitor_;
  absl::Mutex mu_;
  std::map<std::string, SwitchPort> ports_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> host_ifs_;
  std::vector<std::string> netns_;
};

// The contract on the wire, for both engines.
class LinuxSwitchTest : public SwitchTest, public ::testing::WithParamInterface<Engine> {
 protected:
  LinuxSwitchTest() : SwitchTest(GetParam()) {}
};

// What only the kernel engine has: the host vport as a veth pair.
class KernelSwitchTest : public SwitchTest {
 protected:
  KernelSwitchTest() : SwitchTest(Engine::kKernel) {}
};

// What only the userspace engine has: TAP ports, AF_XDP, worker threads.
class UserspaceSwitchTest : public SwitchTest {
 protected:
  UserspaceSwitchTest() : SwitchTest(Engine::kUserspace) {}
};

// A packet socket on eth0 inside pod `ns` (opened there, used from here).
class PodSocket {
 public:
  explicit PodSocket(const std::string& ns) {
    int fd = -1;
    int ns_fd = open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
    absl::Status s = RunInNetns(ns_fd, [&]() -> absl::Status {
      fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
      sockaddr_ll a{};
      a.sll_family = AF_PACKET;
      a.sll_protocol = htons(ETH_P_ALL);
      a.sll_ifindex = if_nametoindex("eth0");
      ifindex_ = a.sll_ifindex;
      if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
        return absl::InternalError("pod socket");
      }
      return absl::OkStatus();
    });
    close(ns_fd);
    EXPECT_TRUE(s.ok()) << s;
    fd_ = fd;
  }
  ~PodSocket() { close(fd_); }
  void Send(Mac dst, Mac src, uint8_t marker) {
    uint8_t f[60] = {};
    StoreMac(dst, f);
    StoreMac(src, f + 6);
    f[12] = kTestEtherType >> 8;
    f[13] = kTestEtherType & 0xff;
    f[14] = marker;
    EXPECT_EQ(send(fd_, f, sizeof(f), 0), static_cast<ssize_t>(sizeof(f)));
  }
  // An 802.1Q-tagged test frame (the receiving kernel moves the tag out of
  // band; the AF_PACKET port must put it back for the pipeline, S3).
  void SendTagged(Mac dst, Mac src, uint16_t vid, uint8_t marker) {
    uint8_t f[64] = {};
    StoreMac(dst, f);
    StoreMac(src, f + 6);
    f[12] = 0x81;
    f[13] = 0x00;
    f[14] = vid >> 8;
    f[15] = vid & 0xff;
    f[16] = kTestEtherType >> 8;
    f[17] = kTestEtherType & 0xff;
    f[18] = marker;
    EXPECT_EQ(send(fd_, f, sizeof(f), 0), static_cast<ssize_t>(sizeof(f)));
  }
  // Any frame, padded to the 60-byte Ethernet minimum.
  void SendRaw(std::vector<uint8_t> f) {
    if (f.size() < 60) f.resize(60, 0);
    EXPECT_EQ(send(fd_, f.data(), f.size(), 0), static_cast<ssize_t>(f.size()));
  }
  // Whether a received (not outgoing) frame satisfying `match(data, len)`
  // has arrived since the socket opened, waiting up to `ms` for it. Every
  // received frame is kept, so looking for one frame never hides another.
  template <typename Match>
  bool SeesIf(Match match, int ms = 500) {
    for (const std::vector<uint8_t>& f : seen_) {
      if (match(f.data(), f.size())) return true;
    }
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    for (;;) {
      const int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
          end - std::chrono::steady_clock::now()).count());
      if (left <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, left) <= 0) continue;
      uint8_t buf[2048];
      sockaddr_ll from{};
      socklen_t fl = sizeof(from);
      ssize_t n = recvfrom(fd_, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &fl);
      if (n <= 0 || from.sll_pkttype == PACKET_OUTGOING) continue;
      if (seen_.size() < kMaxSeen) seen_.emplace_back(buf, buf + n);
      if (match(buf, static_cast<size_t>(n))) return true;
    }
  }
  // Whether a frame starting with the bytes of `want` arrives within `ms`.
  bool SeesFrame(const std::vector<uint8_t>& want, int ms = 500) {
    return SeesIf([&](const uint8_t* d, size_t n) {
      return n >= want.size() && std::equal(want.begin(), want.end(), d);
    }, ms);
  }
  // Whether a test frame with `marker` arrives within `ms` (after an
  // optional tag, which the receiving kernel normally takes out of band).
  bool Sees(uint8_t marker, int ms = 500) {
    return SeesIf([&](const uint8_t* buf, size_t n) {
      if (n < 19) return false;
      const int off = (buf[12] == 0x81 && buf[13] == 0x00) ? 4 : 0;
      return buf[12 + off] == (kTestEtherType >> 8) && buf[13 + off] == (kTestEtherType & 0xff) &&
             buf[14 + off] == marker;
    }, ms);
  }

 private:
  static constexpr size_t kMaxSeen = 4096;  // bounded; tests see a few dozen
  int fd_ = -1;
  int ifindex_ = 0;
  std::vector<std::vector<uint8_t>> seen_;
};

// Pod i's IPv4 address (host order): 10.99.0.i.
constexpr uint32_t PodIp(int i) { return 0x0a630000u | static_cast<uint32_t>(i); }

inline void Put16(uint16_t v, std::vector<uint8_t>* f) {
  f->push_back(v >> 8);
  f->push_back(v & 0xff);
}

// An Ethernet/IPv4 ARP body (hrd 1, pro 0x0800, hln 6, pln 4) behind an
// Ethernet header with `ether_type` (ARP 0x0806 or RARP 0x8035); unpadded, so
// a capture can match it as a prefix of the received frame.
inline std::vector<uint8_t> ArpFrame(Mac dst, Mac src, uint16_t ether_type, uint16_t op,
                              Mac sha, uint32_t spa, Mac tha, uint32_t tpa) {
  std::vector<uint8_t> f(12);
  StoreMac(dst, f.data());
  StoreMac(src, f.data() + 6);
  Put16(ether_type, &f);
  Put16(1, &f);
  Put16(kEtherTypeIpv4, &f);
  f.push_back(6);
  f.push_back(4);
  Put16(op, &f);
  auto put_mac = [&](Mac m) {
    f.resize(f.size() + 6);
    StoreMac(m, f.data() + f.size() - 6);
  };
  auto put_ip = [&](uint32_t a) {
    Put16(a >> 16, &f);
    Put16(a & 0xffff, &f);
  };
  put_mac(sha);
  put_ip(spa);
  put_mac(tha);
  put_ip(tpa);
  return f;
}

}  // namespace veb::integration_test

#endif  // VEB_TEST_INTEGRATION_LINUX_INTEGRATION_TEST_UTIL_H_
