// KernelBridge attached for real, in a private network namespace with three
// veth pairs whose other ends sit in namespaces of their own ("pods"): ARP
// floods and known unicast (bpf_redirect_peer) carry pings; the filters and
// pins survive the KernelBridge object (forwarding goes on, a new Create
// adopts them); removing a port and destroying the bridge leave no filter,
// qdisc or pin. Needs root; creates and removes only its own namespaces.
#include <bpf/bpf.h>
#include <linux/capability.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "dataplane/ebpf/kernel_bridge.h"
#include "dataplane/ebpf/veb_layout.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace veb::ebpf {
namespace {

std::string Output(const std::string& cmd) {
  std::string out;
  FILE* f = popen((cmd + " 2>&1").c_str(), "r");
  if (f == nullptr) return out;
  char buf[512];
  while (fgets(buf, sizeof(buf), f) != nullptr) out += buf;
  pclose(f);
  return out;
}
bool Ok(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0; }

class AttachTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(unshare(CLONE_NEWNET), 0) << "needs root";
    ASSERT_TRUE(Ok("ip link set lo up"));
    tag_ = absl::StrCat("vk", getpid() % 100000);
    pin_root_ = absl::StrCat("/sys/fs/bpf/veb-test-", tag_);
    for (int i = 0; i < 3; ++i) {
      const std::string ns = Ns(i), host = Host(i);
      ASSERT_TRUE(Ok(absl::StrCat("ip netns add ", ns)));
      ASSERT_TRUE(Ok(absl::StrCat("ip link add ", host, " type veth peer name eth0 netns ", ns)));
      ASSERT_TRUE(Ok(absl::StrCat("ip -n ", ns, " addr add 10.77.0.", i + 1, "/24 dev eth0")));
      ASSERT_TRUE(Ok(absl::StrCat("ip -n ", ns, " link set eth0 up")));
      ASSERT_TRUE(Ok(absl::StrCat("ip link set ", host, " up")));
    }
    // Carrier comes up asynchronously (linkwatch): wait for it, bounded.
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(Ok(absl::StrCat("for n in $(seq 50); do ip -o link show dev ", Host(i),
                                  " | grep -q 'state UP' && exit 0; sleep 0.1; done; exit 1")));
    }
  }
  void TearDown() override {
    for (int i = 0; i < 3; ++i) Ok(absl::StrCat("ip netns del ", Ns(i)));
    Ok(absl::StrCat("rm -rf ", pin_root_));
  }
  std::string Ns(int i) const { return absl::StrCat(tag_, "ns", i); }
  std::string Host(int i) const { return absl::StrCat(tag_, "h", i); }
  bool Ping(int from, int to) const {
    return Ok(absl::StrCat("ip netns exec ", Ns(from), " ping -c 2 -i 0.2 -W 1 10.77.0.", to + 1));
  }
  KernelBridgeOptions Options() const {
    KernelBridgeOptions o;
    o.pin_root = pin_root_;
    return o;
  }
  void AddAll(KernelBridge& b) {
    for (int i = 0; i < 3; ++i) {
      auto p = NetdevPort::Open(Host(i));
      ASSERT_TRUE(p.ok()) << p.status();
      EXPECT_TRUE((*p)->is_veth());
      EXPECT_TRUE((*p)->running());
      auto r = b.AddPort(*p, {});
      ASSERT_TRUE(r.ok()) << r.status();
    }
  }
  bool HasFilter(int i) const {
    return Output(absl::StrCat("tc filter show dev ", Host(i), " ingress")).find("bpf") != std::string::npos;
  }
  bool HasClsact(int i) const {
    return Output(absl::StrCat("tc qdisc show dev ", Host(i))).find("clsact") != std::string::npos;
  }

  std::string tag_;
  std::string pin_root_;
};

TEST_F(AttachTest, ForwardsSurvivesTheAgentAndCleansUp) {
  const std::string bridge = absl::StrCat(tag_, "br");
  auto b = KernelBridge::Create(bridge, {}, Options());
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_FALSE((*b)->adopted());
  absl::Mutex mu;
  std::vector<AddressEvent> events;
  (*b)->SetAddressEventSink([&](const AddressEvent& e) {
    absl::MutexLock lock(&mu);
    events.push_back(e);
  });
  AddAll(**b);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(HasFilter(i)) << i;

  // ARP (broadcast: flood) then ICMP (known unicast: redirect_peer).
  ASSERT_TRUE(Ping(0, 1));
  auto c0 = (*b)->GetPortCounters(Host(0));
  ASSERT_TRUE(c0.ok());
  EXPECT_GE(c0->flooded, 1u);
  EXPECT_GE(c0->unicast, 2u);
  EXPECT_EQ(c0->rx_packets, c0->unicast + c0->flooded + c0->total_in_drops());
  EXPECT_GE((*b)->address_count(), 2u);
  // Learn events come through the ring buffer, read by the event thread.
  {
    absl::MutexLock lock(&mu);
    auto learned = [&] {
      int n = 0;
      for (const AddressEvent& e : events) n += e.kind == AddressEventKind::kLearned;
      return n >= 2;
    };
    mu.AwaitWithTimeout(absl::Condition(&learned), absl::Seconds(2));
    EXPECT_TRUE(learned());
  }

  // The ARP request was flooded to the third port too.
  EXPECT_GE((*b)->GetPortCounters(Host(2))->tx_packets, 1u);
  // TCP: GSO super-frames cross by redirect_peer whole (no MTU drop). The
  // rate is printed for information only (benchmarks live in scripts/).
  {
    ASSERT_TRUE(Ok(absl::StrCat("ip netns exec ", Ns(1), " timeout 20 iperf3 -s -1 -D")));
    std::string out;
    for (int attempt = 0; attempt < 20 && out.find("receiver") == std::string::npos; ++attempt) {
      usleep(100000);
      out = Output(absl::StrCat("ip netns exec ", Ns(0), " timeout 15 iperf3 -c 10.77.0.2 -t 2 -f m"));
    }
    const size_t at = out.find("receiver");
    ASSERT_NE(at, std::string::npos) << out;
    std::printf("TCP through the kernel engine: %s\n",
                out.substr(out.rfind('\n', at) + 1, at - out.rfind('\n', at) - 1).c_str());
    EXPECT_EQ((*b)->GetPortCounters(Host(1))->out(DropReason::kTooBig), 0u);
  }
  // Jumbo frames (larger than BPF_PROG_TEST_RUN takes): MTU 9000 on both
  // pairs, the ports' MTU passed on, then an unfragmented 8,000-byte ping.
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(Ok(absl::StrCat("ip link set ", Host(i), " mtu 9000")));
    ASSERT_TRUE(Ok(absl::StrCat("ip -n ", Ns(i), " link set eth0 mtu 9000")));
    ASSERT_TRUE((*b)->SetPortMtu(Host(i), 9000).ok());
  }
  EXPECT_TRUE(Ok(absl::StrCat("ip netns exec ", Ns(0), " ping -c 1 -W 1 -M do -s 8000 10.77.0.2")));
  // With the MTU back at 1500 on the bridge's side, the same frame is too big.
  ASSERT_TRUE((*b)->SetPortMtu(Host(1), 1500).ok());
  EXPECT_FALSE(Ok(absl::StrCat("ip netns exec ", Ns(0), " ping -c 1 -W 1 -M do -s 8000 10.77.0.2")));
  EXPECT_GE((*b)->GetPortCounters(Host(1))->out(DropReason::kTooBig), 1u);
  ASSERT_TRUE((*b)->SetPortMtu(Host(1), 9000).ok());

  // The agent goes away without Destroy: forwarding goes on.
  b->reset();
  EXPECT_TRUE(HasFilter(0));
  ASSERT_TRUE(Ping(1, 2));
  // A new agent adopts the pins, re-adds its ports, drops the one it lost.
  auto b2 = KernelBridge::Create(bridge, {}, Options());
  ASSERT_TRUE(b2.ok()) << b2.status();
  EXPECT_TRUE((*b2)->adopted()) << (*b2)->load_note();
  // A pinned port is not a port of the new object until the agent re-adds it.
  EXPECT_EQ((*b2)->SetPortRunning(Host(0), false).code(), absl::StatusCode::kNotFound);
  for (int i = 0; i < 2; ++i) {
    auto p = NetdevPort::Open(Host(i));
    ASSERT_TRUE(p.ok());
    ASSERT_TRUE((*b2)->AddPort(*p, {}).ok());
  }
  EXPECT_THAT((*b2)->FinishRestore(), ::testing::ElementsAre(Host(2)));
  EXPECT_FALSE(HasFilter(2));
  EXPECT_FALSE(HasClsact(2));
  EXPECT_FALSE(Ping(0, 2));
  ASSERT_TRUE(Ping(0, 1));
  // Learned entries survived adoption (their counts too).
  EXPECT_GE((*b2)->address_count(), 2u);

  // Removal leaves no filter or qdisc; destroy leaves no pin.
  auto removed = (*b2)->RemovePort(Host(1));
  ASSERT_TRUE(removed.ok());
  EXPECT_GE(*removed, 1u);
  EXPECT_FALSE(HasFilter(1));
  EXPECT_FALSE(HasClsact(1));
  ASSERT_TRUE((*b2)->Destroy().ok());
  EXPECT_FALSE(HasClsact(0));
  struct stat st;
  EXPECT_NE(stat(absl::StrCat(pin_root_, "/", bridge).c_str(), &st), 0);
}

TEST_F(AttachTest, IncompatiblePinsAreReloaded) {
  const std::string bridge = absl::StrCat(tag_, "old");
  auto b = KernelBridge::Create(bridge, {}, Options());
  ASSERT_TRUE(b.ok()) << b.status();
  AddAll(**b);
  b->reset();
  // A vebd of another layout left these pins (and its program on the ports).
  const int cfg = bpf_obj_get(absl::StrCat(pin_root_, "/", bridge, "/veb_cfg").c_str());
  ASSERT_GE(cfg, 0);
  veb_bridge_cfg c{};
  const uint32_t zero = 0;
  ASSERT_EQ(bpf_map_lookup_elem(cfg, &zero, &c), 0);
  c.version = VEB_LAYOUT_VERSION + 100;
  ASSERT_EQ(bpf_map_update_elem(cfg, &zero, &c, BPF_ANY), 0);
  close(cfg);
  auto again = KernelBridge::Create(bridge, {}, Options());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE((*again)->adopted());
  EXPECT_THAT((*again)->load_note(), ::testing::HasSubstr("reloaded"));
  EXPECT_THAT((*again)->load_note(), ::testing::HasSubstr("layout version"));
  // Re-added ports get the new program in place; the one left out loses the
  // old program at FinishRestore.
  for (int i = 0; i < 2; ++i) {
    auto p = NetdevPort::Open(Host(i));
    ASSERT_TRUE(p.ok());
    ASSERT_TRUE((*again)->AddPort(*p, {}).ok());
  }
  EXPECT_TRUE(HasFilter(2));
  EXPECT_THAT((*again)->FinishRestore(), ::testing::ElementsAre(Host(2)));
  EXPECT_FALSE(HasFilter(2));
  EXPECT_TRUE(Ping(0, 1));
  ASSERT_TRUE((*again)->Destroy().ok());
  EXPECT_FALSE(HasClsact(0));
}

TEST_F(AttachTest, WithoutCapabilitiesCreateSaysWhy) {
  const std::string bridge = absl::StrCat(tag_, "nocap");
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Root without any capability (no CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN).
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2] = {};
    if (syscall(SYS_capset, &hdr, data) != 0) _exit(2);
    auto b = KernelBridge::Create(bridge, {}, Options());
    const bool ok = !b.ok() && b.status().code() == absl::StatusCode::kPermissionDenied &&
                    b.status().message().find(bridge) != absl::string_view::npos;
    if (!ok) std::fprintf(stderr, "%s\n", b.status().ToString().c_str());
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "Create without capabilities must fail with PERMISSION_DENIED naming the bridge";
}

TEST_F(AttachTest, KillNineOfTheAgentDoesNotStopForwarding) {
  const std::string bridge = absl::StrCat(tag_, "k9");
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t agent = fork();
  ASSERT_GE(agent, 0);
  if (agent == 0) {  // a stand-in for vebd: makes the bridge, then waits to be killed
    close(ready[0]);
    auto b = KernelBridge::Create(bridge, {}, Options());
    if (!b.ok()) _exit(1);
    for (int i = 0; i < 3; ++i) {
      auto p = NetdevPort::Open(Host(i));
      if (!p.ok() || !(*b)->AddPort(*p, {}).ok()) _exit(1);
    }
    if (write(ready[1], "r", 1) != 1) _exit(1);
    for (;;) pause();
  }
  close(ready[1]);
  char c = 0;
  ASSERT_EQ(read(ready[0], &c, 1), 1) << "the agent could not make the bridge";
  close(ready[0]);
  ASSERT_EQ(kill(agent, SIGKILL), 0);
  ASSERT_EQ(waitpid(agent, nullptr, 0), agent);
  EXPECT_TRUE(Ping(0, 1));
  EXPECT_TRUE(Ping(2, 0));
  auto b = KernelBridge::Create(bridge, {}, Options());
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_TRUE((*b)->adopted());
  AddAll(**b);
  EXPECT_TRUE((*b)->FinishRestore().empty());
  EXPECT_TRUE(Ping(1, 2));
  ASSERT_TRUE((*b)->Destroy().ok());
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(HasClsact(i)) << i;
}

}  // namespace
}  // namespace veb::ebpf
