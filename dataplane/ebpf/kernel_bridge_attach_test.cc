// KernelBridge attached for real, in a private network namespace with three
// veth pairs whose other ends sit in namespaces of their own ("pods"): ARP
// floods and known unicast (bpf_redirect_peer) carry pings; the filters and
// pins survive the KernelBridge object (forwarding goes on, a new Create
// adopts them); removing a port and destroying the bridge leave no filter,
// qdisc or pin. Needs root; creates and removes only its own namespaces.
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "dataplane/ebpf/kernel_bridge.h"
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
  EXPECT_TRUE((*b)->GetAddress(1, 0).has_value() == false);

  // The agent goes away without Destroy: forwarding goes on.
  b->reset();
  EXPECT_TRUE(HasFilter(0));
  ASSERT_TRUE(Ping(1, 2));
  // A new agent adopts the pins, re-adds its ports, drops the one it lost.
  auto b2 = KernelBridge::Create(bridge, {}, Options());
  ASSERT_TRUE(b2.ok()) << b2.status();
  EXPECT_TRUE((*b2)->adopted()) << (*b2)->load_note();
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

}  // namespace
}  // namespace veb::ebpf
