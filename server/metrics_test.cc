// The Prometheus exposition of AgentCollector: every docs/design.md §8 family with
// the expected labels and values after injected traffic, and (when Debian's
// `prometheus` package is installed) a clean `promtool check metrics`.
#include "server/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "dataplane/bridge.h"
#include "dataplane/test_frames.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/agent.h"
#include "server/fake_port_opener.h"

namespace veb::server {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr Mac kA = 0x02000000000aULL;
constexpr Mac kB = 0x02000000000bULL;

class MetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* n : {"eth1", "eth2", "eth3"}) opener_.AddInterface(n);
    AgentOptions o;
    o.opener = &opener_;
    agent_ = std::make_unique<Agent>(o);
    v1::CreateBridgeRequest cb;
    cb.set_name("veb0");
    cb.mutable_settings()->set_max_addresses(1000);
    v1::CreateBridgeResponse cbr;
    ASSERT_TRUE(agent_->CreateBridge(cb, &cbr).ok());
    for (const char* n : {"eth1", "eth2"}) {
      v1::AddPortRequest ap;
      ap.set_bridge("veb0");
      ap.set_name(n);
      v1::AddPortResponse apr;
      ASSERT_TRUE(agent_->AddPort(ap, &apr).ok());
    }
    v1::AddSpanPortRequest sp;
    sp.set_bridge("veb0");
    sp.set_name("eth3");
    v1::AddSpanPortResponse spr;
    ASSERT_TRUE(agent_->AddSpanPort(sp, &spr).ok());
  }

  FakePortOpener opener_;
  std::unique_ptr<Agent> agent_;
};

TEST_F(MetricsTest, FamiliesAndValues) {
  WorkerContext ctx(&agent_->qsbr(), 0);
  auto inject = [&](const std::string& port, Mac src, Mac dst) {
    Bridge* b = agent_->BridgeForTesting("veb0");
    PortRef ref = agent_->PortRefForTesting("veb0", port).value();
    std::vector<uint8_t> frame = MakeFrame(FrameSpec{dst, src});
    RxFrame f{frame.data(), static_cast<uint32_t>(frame.size()), {}};
    b->Input(ctx, ref, absl::MakeConstSpan(&f, 1));
  };
  inject("eth1", kA, kB);  // flooded to eth2 (+ span copy to eth3)
  inject("eth2", kB, kA);  // unicast to eth1
  inject("eth1", kA, kA);  // hairpin drop

  AgentCollector collector(agent_.get());
  const std::string text = MetricsText(collector);
  for (const char* line : {
           "veb_addresses{bridge=\"veb0\"} 2",
           "veb_addresses_max{bridge=\"veb0\"} 1000",
           "veb_address_learned_total{bridge=\"veb0\"} 2",
           "veb_address_moved_total{bridge=\"veb0\"} 0",
           "veb_address_expired_total{bridge=\"veb0\"} 0",
           "veb_address_learn_refused_total{bridge=\"veb0\",reason=\"table_full\"} 0",
           "veb_address_learn_refused_total{bridge=\"veb0\",reason=\"static_entry\"} 0",
           "veb_address_learn_refused_total{bridge=\"veb0\",reason=\"invalid_source\"} 0",
           "veb_address_learn_refused_total{bridge=\"veb0\",reason=\"port_full\"} 0",
           "veb_port_receive_packets_total{bridge=\"veb0\",port=\"eth1\"} 2",
           "veb_port_receive_bytes_total{bridge=\"veb0\",port=\"eth1\"} 120",
           "veb_port_transmit_packets_total{bridge=\"veb0\",port=\"eth1\"} 1",
           "veb_port_transmit_bytes_total{bridge=\"veb0\",port=\"eth2\"} 60",
           "veb_port_transmit_packets_total{bridge=\"veb0\",port=\"eth3\"} 3",
           "veb_port_drops_total{bridge=\"veb0\",direction=\"in\",port=\"eth1\",reason=\"hairpin\"} 1",
           "veb_port_drops_total{bridge=\"veb0\",direction=\"out\",port=\"eth2\",reason=\"link_down\"} 0",
           "veb_flooded_packets_total{bridge=\"veb0\"} 1",
           "veb_ports{bridge=\"veb0\"} 2",
           "veb_build_info{version=\"0.1.0\"} 1",
           "# TYPE veb_port_drops_total counter",
           "# TYPE veb_addresses gauge",
       }) {
    EXPECT_THAT(text, HasSubstr(line)) << text;
  }
  EXPECT_THAT(text, Not(HasSubstr("mac")));  // never MAC labels

  // promtool (Debian package `prometheus`, listed in scripts/setup.sh).
  const char* promtool = "/usr/bin/promtool";
  if (access(promtool, X_OK) != 0) {
    FAIL() << "promtool not installed; run scripts/setup.sh";
  }
  const char* tmpdir = getenv("TEST_TMPDIR");
  const std::string path = std::string(tmpdir ? tmpdir : "/tmp") + "/metrics.txt";
  std::ofstream(path) << text;
  const std::string cmd = std::string(promtool) + " check metrics < " + path + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[512];
  while (fgets(buf, sizeof buf, p)) out += buf;
  const int rc = pclose(p);
  EXPECT_TRUE(WIFEXITED(rc) && WEXITSTATUS(rc) == 0) << out;
  EXPECT_EQ(out, "");
}

TEST_F(MetricsTest, NoBridgesOnlyBuildInfo) {
  v1::DeleteBridgeRequest del;
  del.set_name("veb0");
  del.set_force(true);
  v1::DeleteBridgeResponse resp;
  ASSERT_TRUE(agent_->DeleteBridge(del, &resp).ok());
  AgentCollector collector(agent_.get());
  const std::string text = MetricsText(collector);
  EXPECT_THAT(text, HasSubstr("veb_build_info{version=\"0.1.0\"} 1"));
  EXPECT_THAT(text, Not(HasSubstr("bridge=")));
}

}  // namespace
}  // namespace veb::server
