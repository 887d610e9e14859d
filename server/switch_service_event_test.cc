// veb.v1.Switch end to end: WatchEvents (learned/moved/expired, port and
// bridge events, filters, traffic and RPCs concurrently), and the exported
// configuration replaying to the same configuration.
#include "server/switch_service_test_util.h"

namespace veb::server::switch_test {
namespace {

TEST_F(SwitchServiceTest, WatchEventsDeliversLearnedMovedExpired) {
  v1::BridgeSettings bs;
  bs.set_address_timeout_seconds(10);
  ASSERT_OK(CreateBridge("veb0", bs));
  ASSERT_OK(AddPort("veb0", "eth1"));
  ASSERT_OK(AddPort("veb0", "eth2"));

  v1::WatchEventsRequest req;
  req.set_bridge("veb0");
  EventReader events(stub_.get(), req);
  const v1::Event started = events.Next();
  EXPECT_EQ(started.type(), v1::EVENT_TYPE_WATCH_STARTED);

  Inject("veb0", "eth1", kA, kB);
  v1::Event e = events.Next();
  EXPECT_EQ(e.type(), v1::EVENT_TYPE_ADDRESS_LEARNED);
  EXPECT_EQ(e.bridge(), "veb0");
  EXPECT_GT(e.sequence(), started.sequence());
  EXPECT_EQ(e.address().address().mac(), "02:00:00:00:00:0a");
  EXPECT_EQ(e.address().address().port(), "eth1");
  EXPECT_EQ(e.address().address().vid(), 1u);
  EXPECT_GT(e.time_unix_nano(), 0);

  Inject("veb0", "eth2", kA, kB);
  e = events.Next();
  EXPECT_EQ(e.type(), v1::EVENT_TYPE_ADDRESS_MOVED);
  EXPECT_EQ(e.address().address().port(), "eth2");
  EXPECT_EQ(e.address().previous_port(), "eth1");

  clock_.Advance(13 * kSec);
  agent_->Sweep();
  e = events.Next();
  EXPECT_EQ(e.type(), v1::EVENT_TYPE_ADDRESS_EXPIRED);
  EXPECT_EQ(e.address().address().mac(), "02:00:00:00:00:0a");
  // The entry's age when it expired (last seen 13 s ago), not the timeout.
  EXPECT_EQ(e.address().address().age_seconds(), 13u);

  ASSERT_OK(AddPort("veb0", "eth3"));
  e = events.Next();
  EXPECT_EQ(e.type(), v1::EVENT_TYPE_PORT_ADDED);
  EXPECT_EQ(e.port().name(), "eth3");
  agent_->OnLinkChange("eth3", false);
  e = events.Next();
  EXPECT_EQ(e.type(), v1::EVENT_TYPE_PORT_LINK_DOWN);
  EXPECT_FALSE(GetPort("veb0", "eth3").link_up());
  agent_->OnLinkChange("eth3", false);  // no change, no event
  agent_->OnLinkChange("eth3", true);
  EXPECT_EQ(events.Next().type(), v1::EVENT_TYPE_PORT_LINK_UP);
  // The interface's MTU as the link monitor reports it reaches the port.
  EXPECT_EQ(GetPort("veb0", "eth3").mtu(), 1500u);
  agent_->OnLinkChange("eth3", true, 9000);
  EXPECT_EQ(GetPort("veb0", "eth3").mtu(), 9000u);
  agent_->OnLinkChange("eth3", true, 0);  // unknown: kept
  EXPECT_EQ(GetPort("veb0", "eth3").mtu(), 9000u);
  Inject("veb0", "eth3", kB, kA);
  EXPECT_EQ(events.Next().type(), v1::EVENT_TYPE_ADDRESS_LEARNED);
  agent_->OnInterfaceGone("eth3", GetPort("veb0", "eth3").ifindex() + 1000);  // another eth3
  EXPECT_EQ(GetPort("veb0", "eth3").name(), "eth3");
  agent_->OnInterfaceGone("eth3", GetPort("veb0", "eth3").ifindex());
  e = events.Next();
  EXPECT_EQ(e.type(), v1::EVENT_TYPE_PORT_REMOVED);
  EXPECT_EQ(e.port().removal_cause(), v1::PORT_REMOVAL_CAUSE_INTERFACE_GONE);
  e = events.Next();
  EXPECT_EQ(e.type(), v1::EVENT_TYPE_ADDRESSES_FLUSHED);
  EXPECT_EQ(e.flush().removed(), 1u);

  // Events of another bridge are filtered out.
  ASSERT_OK(CreateBridge("veb1"));
  ASSERT_OK(CreateBridge("veb0x"));
  v1::UpdateBridgeRequest up;
  up.set_name("veb0");
  up.mutable_settings()->set_up(false);
  ASSERT_OK(Call(&v1::Switch::Stub::UpdateBridge, up));
  e = events.Next();
  EXPECT_EQ(e.type(), v1::EVENT_TYPE_BRIDGE_UPDATED);
  EXPECT_FALSE(e.bridge_info().up());

  agent_->Shutdown();
  EXPECT_EQ(events.Finish().error_code(), grpc::UNAVAILABLE);
}

TEST_F(SwitchServiceTest, WatchEventsTypeFilterAndErrors) {
  v1::WatchEventsRequest req;
  req.add_types(v1::EVENT_TYPE_BRIDGE_CREATED);
  EventReader events(stub_.get(), req);
  EXPECT_EQ(events.Next().type(), v1::EVENT_TYPE_WATCH_STARTED);
  ASSERT_OK(CreateBridge("veb0"));
  ASSERT_OK(AddPort("veb0", "eth1"));  // filtered out
  ASSERT_OK(CreateBridge("veb1"));
  v1::Event e = events.Next();
  EXPECT_EQ(e.type(), v1::EVENT_TYPE_BRIDGE_CREATED);
  EXPECT_EQ(e.bridge_info().name(), "veb0");
  e = events.Next();
  EXPECT_EQ(e.bridge_info().name(), "veb1");

  v1::WatchEventsRequest bad;
  bad.add_types(v1::EVENT_TYPE_UNSPECIFIED);
  EventReader rejected(stub_.get(), bad);
  EXPECT_EQ(rejected.Finish().error_code(), grpc::INVALID_ARGUMENT);
  v1::WatchEventsRequest badname;
  badname.set_bridge("a/b");
  EventReader rejected2(stub_.get(), badname);
  EXPECT_EQ(rejected2.Finish().error_code(), grpc::INVALID_ARGUMENT);
}

// Traffic from a "worker" thread (learning, moving, events under the MAC
// table lock) while RPCs add/remove ports, flush and list, with a watch
// stream open: no deadlock, no lost accounting, the stream keeps flowing.
TEST_F(SwitchServiceTest, ConcurrentTrafficRpcsAndWatch) {
  ASSERT_OK(CreateBridge("veb0"));
  ASSERT_OK(AddPort("veb0", "eth1"));
  ASSERT_OK(AddPort("veb0", "eth2"));
  v1::WatchEventsRequest wreq;
  // The stream must outlive the rounds below. Each port removal waits (QSBR)
  // until the spinning "worker" gets a CPU again; with other tests on the
  // same 2 cores the rounds took 10-20 s instead of 0.5 s (a deadlock would
  // still fail: the test's own timeout is 300 s).
  EventReader events(stub_.get(), wreq, std::chrono::seconds(120));
  EXPECT_EQ(events.Next().type(), v1::EVENT_TYPE_WATCH_STARTED);

  Bridge* bridge = agent_->BridgeForTesting("veb0");
  const PortRef p1 = agent_->PortRefForTesting("veb0", "eth1").value();
  const PortRef p2 = agent_->PortRefForTesting("veb0", "eth2").value();
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> sent{0};
  std::thread worker([&] {
    WorkerContext ctx(&agent_->qsbr(), 0);
    uint64_t i = 0;
    while (!stop.load()) {
      const Mac src = 0x020000001000ULL + (i % 50);
      std::vector<uint8_t> frame = MakeFrame(FrameSpec{kBroadcastMac, src});
      RxFrame f{frame.data(), static_cast<uint32_t>(frame.size()), {}};
      bridge->Input(ctx, (i / 50) % 2 ? p2 : p1, absl::MakeConstSpan(&f, 1));
      ++i;
      sent.store(i);
    }
  });
  for (int round = 0; round < 30; ++round) {
    ASSERT_OK(AddPort("veb0", "eth3"));
    v1::ListAddressesRequest lr;
    lr.set_bridge("veb0");
    lr.set_page_size(10);
    EXPECT_OK(Call(&v1::Switch::Stub::ListAddresses, lr));
    v1::FlushAddressesRequest fl;
    fl.set_bridge("veb0");
    EXPECT_OK(Call(&v1::Switch::Stub::FlushAddresses, fl));
    v1::DeletePortRequest del;
    del.set_bridge("veb0");
    del.set_name("eth3");
    ASSERT_OK(Call(&v1::Switch::Stub::DeletePort, del));
    agent_->Sweep();
  }
  stop.store(true);
  worker.join();
  EXPECT_GT(sent.load(), 0u);
  // Accounting holds exactly once idle (S11).
  for (const char* port : {"eth1", "eth2"}) {
    v1::GetPortCountersRequest req;
    req.set_bridge("veb0");
    req.set_port(port);
    v1::GetPortCountersResponse resp;
    ASSERT_OK(Call(&v1::Switch::Stub::GetPortCounters, req, &resp));
    uint64_t drops = 0;
    for (const auto& d : resp.counters().receive_drops()) drops += d.packets();
    EXPECT_EQ(resp.counters().receive_packets(), resp.counters().forwarded_packets() +
                                                     resp.counters().flooded_packets() + drops);
  }
  // The stream still delivers (after possibly many queued events).
  ASSERT_OK(CreateBridge("marker"));
  bool marker_seen = false;
  for (int i = 0; i < 100000 && !marker_seen; ++i) {
    const v1::Event e = events.Next();
    marker_seen = e.type() == v1::EVENT_TYPE_BRIDGE_CREATED && e.bridge() == "marker";
    ASSERT_NE(e.type(), v1::EVENT_TYPE_UNSPECIFIED);
  }
  EXPECT_TRUE(marker_seen) << "the marker bridge's event never arrived";
}

TEST_F(SwitchServiceTest, ExportedConfigReplaysToTheSameConfig) {
  v1::BridgeSettings bs;
  bs.set_max_addresses(500);
  ASSERT_OK(CreateBridge("veb0", bs));
  v1::PortSettings ps;
  ps.set_locked(true);
  ps.mutable_tagged_vids()->add_vids(10);
  ps.mutable_protected_domains()->add_domains(2);
  ps.set_max_addresses(7);
  ASSERT_OK(AddPort("veb0", "eth1", ps));
  v1::AddSpanPortRequest span;
  span.set_bridge("veb0");
  span.set_name("eth2");
  ASSERT_OK(Call(&v1::Switch::Stub::AddSpanPort, span));
  v1::AddRuleRequest ar;
  ar.set_bridge("veb0");
  ar.set_port("eth1");
  ar.mutable_rule()->set_action(v1::RULE_ACTION_BLOCK);
  ar.mutable_rule()->set_direction(v1::RULE_DIRECTION_OUT);
  ar.mutable_rule()->set_dst("02:00:00:00:00:09");
  ASSERT_OK(Call(&v1::Switch::Stub::AddRule, ar));
  v1::AddStaticAddressRequest st;
  st.set_bridge("veb0");
  st.set_port("eth1");
  st.set_mac("02:00:00:00:00:01");
  st.set_vid(10);
  ASSERT_OK(Call(&v1::Switch::Stub::AddStaticAddress, st));

  const AgentConfig exported = agent_->ExportConfig();
  FakePortOpener opener2;
  for (const char* n : {"eth1", "eth2"}) opener2.AddInterface(n);
  AgentOptions o;
  o.opener = &opener2;
  Agent agent2(o);
  std::vector<std::string> problems;
  ASSERT_TRUE(agent2.Apply(exported, &problems).ok());
  EXPECT_TRUE(problems.empty()) << problems[0];
  EXPECT_EQ(agent2.ExportConfig().DebugString(), exported.DebugString());
  EXPECT_THAT(exported.DebugString(), HasSubstr("max_addresses: 7"));
}

TEST_F(SwitchServiceTest, PortMaxAddressesUpdatedAndRangeChecked) {
  ASSERT_OK(CreateBridge("veb0", v1::BridgeSettings()));
  ASSERT_OK(AddPort("veb0", "eth1", v1::PortSettings()));
  v1::GetPortRequest get;
  get.set_bridge("veb0");
  get.set_name("eth1");
  v1::GetPortResponse got;
  ASSERT_OK(Call(&v1::Switch::Stub::GetPort, get, &got));
  EXPECT_EQ(got.port().max_addresses(), 0u);
  v1::UpdatePortRequest up;
  up.set_bridge("veb0");
  up.set_name("eth1");
  up.mutable_settings()->set_max_addresses(4);
  ASSERT_OK(Call(&v1::Switch::Stub::UpdatePort, up));
  ASSERT_OK(Call(&v1::Switch::Stub::GetPort, get, &got));
  EXPECT_EQ(got.port().max_addresses(), 4u);
  up.mutable_settings()->set_max_addresses(1000001);
  EXPECT_THAT(Call(&v1::Switch::Stub::UpdatePort, up),
              StatusIs(grpc::INVALID_ARGUMENT,
                       "port \"eth1\": update: max_addresses 1000001 out of range "
                       "1..1000000 (0 = no port limit)"));
  ASSERT_OK(Call(&v1::Switch::Stub::GetPort, get, &got));
  EXPECT_EQ(got.port().max_addresses(), 4u);
}

}  // namespace
}  // namespace veb::server::switch_test
