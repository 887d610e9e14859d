// PeerRefresher over a real Agent (FakePortOpener: the tunnel's installed
// peers are observable): a file source's changes reach the tunnel and the
// state the agent exports, hand-added peers survive, a missing tunnel is
// retried, a failing source keeps the peers, the tunnel's local address is
// left out, the source's share survives a restart (a new agent from the
// exported state), log lines come once per change of state, and the metrics.
#include "server/peer_refresher.h"

#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/fake_port_opener.h"
#include "server/metrics.h"

namespace veb::server {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

class PeerRefresherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    AgentOptions o;
    o.opener = &opener_;
    agent_ = std::make_unique<Agent>(o);
    v1::CreateBridgeRequest br;
    br.set_name("veb0");
    v1::CreateBridgeResponse br_resp;
    ASSERT_TRUE(agent_->CreateBridge(br, &br_resp).ok());
    file_ = absl::StrCat(::testing::TempDir(), "/peers-", ::testing::UnitTest::GetInstance()
                                                               ->current_test_info()
                                                               ->name());
  }

  absl::Status CreateTunnel() {
    v1::CreateVportRequest req;
    req.set_bridge("veb0");
    req.set_kind(v1::VPORT_KIND_TUNNEL);
    req.set_name("vx0");
    req.mutable_tunnel()->set_vni(42);
    req.mutable_tunnel()->set_local("10.9.0.1");
    v1::CreateVportResponse resp;
    return agent_->CreateVport(req, &resp);
  }
  absl::Status Peers(v1::PeersOp op, const std::string& ip) {
    v1::SetVportPeersRequest req;
    req.set_name("vx0");
    req.set_op(op);
    req.add_peers(ip);
    v1::SetVportPeersResponse resp;
    return agent_->SetVportPeers(req, &resp);
  }
  void WriteFile(const std::string& text) { std::ofstream(file_) << text; }
  std::unique_ptr<PeerRefresher> Refresher() {
    auto specs = ParsePeerSources(absl::StrCat("vx0=file:", file_));
    EXPECT_TRUE(specs.ok()) << specs.status();
    return std::make_unique<PeerRefresher>(agent_.get(), *specs, absl::Seconds(1),
                                           [this](const std::string& l) { log_.push_back(l); });
  }
  std::vector<std::string> Exported() {
    AgentConfig c = agent_->ExportConfig();
    if (c.vports_size() == 0) return {};
    return {c.vports(0).tunnel().peers().begin(), c.vports(0).tunnel().peers().end()};
  }

  std::vector<std::string> ExportedSource() {
    AgentConfig c = agent_->ExportConfig();
    if (c.vports_size() == 0) return {};
    return {c.vports(0).tunnel().source_peers().begin(), c.vports(0).tunnel().source_peers().end()};
  }

  FakePortOpener opener_;
  std::unique_ptr<Agent> agent_;
  std::string file_;
  std::vector<std::string> log_;
};

TEST_F(PeerRefresherTest, FollowsTheSourceAndLeavesHandAddedPeersAndSelfAlone) {
  ASSERT_TRUE(CreateTunnel().ok());
  ASSERT_TRUE(Peers(v1::PEERS_OP_ADD, "10.9.0.99").ok());  // by hand
  // The tunnel's own local address is in the source: left out.
  WriteFile("10.9.0.1\n10.9.0.2\n10.9.0.3\n");
  auto r = Refresher();
  r->RefreshOnce();
  EXPECT_THAT(opener_.Peers("vx0"), ElementsAre("10.9.0.2", "10.9.0.3", "10.9.0.99"));
  EXPECT_THAT(Exported(), ElementsAre("10.9.0.2", "10.9.0.3", "10.9.0.99"));
  ASSERT_EQ(r->Stats().size(), 1u);
  EXPECT_EQ(r->Stats()[0].peers, 3u);
  EXPECT_EQ(r->Stats()[0].refresh_failures, 0u);

  // 10.9.0.3 leaves the source: removed; the hand-added peer stays.
  WriteFile("10.9.0.1\n10.9.0.2\n");
  r->RefreshOnce();
  EXPECT_THAT(opener_.Peers("vx0"), ElementsAre("10.9.0.2", "10.9.0.99"));
  EXPECT_THAT(Exported(), ElementsAre("10.9.0.2", "10.9.0.99"));

  // An empty source: only its own peers go.
  WriteFile("# nobody\n");
  r->RefreshOnce();
  EXPECT_THAT(opener_.Peers("vx0"), ElementsAre("10.9.0.99"));
  EXPECT_EQ(r->Stats()[0].peers, 1u);

  const std::string log = absl::StrJoin(log_, "\n");
  EXPECT_THAT(log, HasSubstr("vport \"vx0\": added 10.9.0.2,10.9.0.3 (file:"));
  EXPECT_THAT(log, HasSubstr("vport \"vx0\": removed 10.9.0.3 (file:"));
  EXPECT_THAT(log, HasSubstr("vport \"vx0\": removed 10.9.0.2 (file:"));
}

TEST_F(PeerRefresherTest, AHandAddedPeerTheSourceAlsoGivesStaysWhenTheSourceDropsIt) {
  ASSERT_TRUE(CreateTunnel().ok());
  ASSERT_TRUE(Peers(v1::PEERS_OP_ADD, "10.9.0.5").ok());  // by hand
  WriteFile("10.9.0.5\n10.9.0.6\n");
  auto r = Refresher();
  r->RefreshOnce();
  EXPECT_THAT(opener_.Peers("vx0"), ElementsAre("10.9.0.5", "10.9.0.6"));
  EXPECT_THAT(ExportedSource(), ElementsAre("10.9.0.6"));
  WriteFile("");
  r->RefreshOnce();
  EXPECT_THAT(opener_.Peers("vx0"), ElementsAre("10.9.0.5"));
  EXPECT_THAT(ExportedSource(), IsEmpty());
}

TEST_F(PeerRefresherTest, ASourcePeerRemovedByHandLeavesTheSourceShareAndComesBack) {
  ASSERT_TRUE(CreateTunnel().ok());
  WriteFile("10.9.0.2\n10.9.0.3\n");
  auto r = Refresher();
  r->RefreshOnce();
  ASSERT_THAT(ExportedSource(), ElementsAre("10.9.0.2", "10.9.0.3"));
  ASSERT_TRUE(Peers(v1::PEERS_OP_DEL, "10.9.0.3").ok());
  EXPECT_THAT(ExportedSource(), ElementsAre("10.9.0.2"));
  r->RefreshOnce();
  EXPECT_THAT(opener_.Peers("vx0"), ElementsAre("10.9.0.2", "10.9.0.3"));
  EXPECT_THAT(ExportedSource(), ElementsAre("10.9.0.2", "10.9.0.3"));
}

TEST_F(PeerRefresherTest, AfterARestartTheSourceStillRemovesItsOwnPeersOnly) {
  ASSERT_TRUE(CreateTunnel().ok());
  ASSERT_TRUE(Peers(v1::PEERS_OP_ADD, "10.9.0.99").ok());  // by hand
  WriteFile("10.9.0.2\n10.9.0.3\n");
  Refresher()->RefreshOnce();
  // vebd restarts: a new agent restores the exported state; meanwhile
  // 10.9.0.3 left the source (a node gone while vebd was down).
  const AgentConfig saved = agent_->ExportConfig();
  FakePortOpener opener2;
  AgentOptions o;
  o.opener = &opener2;
  agent_ = std::make_unique<Agent>(o);
  std::vector<std::string> problems;
  ASSERT_TRUE(agent_->Apply(saved, &problems).ok());
  ASSERT_THAT(problems, IsEmpty());
  ASSERT_THAT(ExportedSource(), ElementsAre("10.9.0.2", "10.9.0.3"));
  WriteFile("10.9.0.2\n");
  Refresher()->RefreshOnce();
  EXPECT_THAT(opener2.Peers("vx0"), ElementsAre("10.9.0.2", "10.9.0.99"));
  EXPECT_THAT(ExportedSource(), ElementsAre("10.9.0.2"));
}

TEST_F(PeerRefresherTest, AStateFileSourcePeerThatIsNotAPeerIsRefused) {
  v1::CreateVportRequest req;
  req.set_bridge("veb0");
  req.set_kind(v1::VPORT_KIND_TUNNEL);
  req.set_name("vx0");
  req.mutable_tunnel()->set_vni(42);
  req.mutable_tunnel()->add_peers("10.9.0.2");
  req.mutable_tunnel()->add_source_peers("10.9.0.3");
  v1::CreateVportResponse resp;
  absl::Status s = agent_->CreateVport(req, &resp);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("source_peers: 10.9.0.3 is not one of the peers"));
  EXPECT_THAT(opener_.Peers("vx0"), IsEmpty());
}

TEST_F(PeerRefresherTest, AFailingSourceKeepsThePeersAndLogsOnce) {
  ASSERT_TRUE(CreateTunnel().ok());
  WriteFile("10.9.0.2\n");
  auto r = Refresher();
  r->RefreshOnce();
  ASSERT_THAT(opener_.Peers("vx0"), ElementsAre("10.9.0.2"));
  log_.clear();
  WriteFile("10.9.0.2\nnot-an-address\n");
  for (int i = 0; i < 3; ++i) r->RefreshOnce();
  EXPECT_THAT(opener_.Peers("vx0"), ElementsAre("10.9.0.2"));
  EXPECT_EQ(r->Stats()[0].refresh_failures, 3u);
  ASSERT_EQ(log_.size(), 1u) << absl::StrJoin(log_, "\n");
  EXPECT_THAT(log_[0], HasSubstr("failing, peers kept as they are: "));
  EXPECT_THAT(log_[0], HasSubstr(":2: peer \"not-an-address\""));
  // Fixed: back to ok (one line), and the change applies.
  WriteFile("10.9.0.4\n");
  r->RefreshOnce();
  EXPECT_THAT(opener_.Peers("vx0"), ElementsAre("10.9.0.4"));
  EXPECT_THAT(absl::StrJoin(log_, "\n"), HasSubstr("ok, 1 address(es) from the source"));
}

TEST_F(PeerRefresherTest, ATunnelMadeLaterIsFilledOnTheNextRefresh) {
  WriteFile("10.9.0.2\n");
  auto r = Refresher();
  r->RefreshOnce();
  r->RefreshOnce();
  EXPECT_EQ(r->Stats()[0].refresh_failures, 2u);
  ASSERT_EQ(log_.size(), 1u);
  EXPECT_THAT(log_[0], HasSubstr("waiting for the tunnel vport: vport \"vx0\": get: not found"));
  ASSERT_TRUE(CreateTunnel().ok());
  r->RefreshOnce();
  EXPECT_THAT(opener_.Peers("vx0"), ElementsAre("10.9.0.2"));
}

TEST_F(PeerRefresherTest, TheThreadRefreshesAtStartAndStops) {
  ASSERT_TRUE(CreateTunnel().ok());
  WriteFile("10.9.0.7\n");
  auto r = Refresher();
  r->Start();
  for (int i = 0; i < 200 && opener_.Peers("vx0").empty(); ++i) absl::SleepFor(absl::Milliseconds(10));
  r->Stop();
  EXPECT_THAT(opener_.Peers("vx0"), ElementsAre("10.9.0.7"));
}

TEST_F(PeerRefresherTest, Metrics) {
  ASSERT_TRUE(CreateTunnel().ok());
  WriteFile("10.9.0.2\n10.9.0.3\n");
  auto r = Refresher();
  r->RefreshOnce();
  WriteFile("bad\n");
  r->RefreshOnce();
  const std::string text = MetricsText(PeerSourceCollector(r.get()));
  EXPECT_THAT(text, HasSubstr("# TYPE veb_tunnel_peers gauge\nveb_tunnel_peers{vport=\"vx0\"} 2"));
  EXPECT_THAT(text, HasSubstr("# TYPE veb_tunnel_peer_refresh_failures_total counter\n"
                              "veb_tunnel_peer_refresh_failures_total{vport=\"vx0\"} 1"));
}

}  // namespace
}  // namespace veb::server
