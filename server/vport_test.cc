// veb.v1.Switch end to end: vports (pod and host; names, bad requests,
// deletion, events, reattachment after a restart; tunnel vports and their
// peers).
#include "server/switch_service_test_util.h"

namespace veb::server::switch_test {
namespace {

TEST_F(VportTest, PodVportLifecycle) {
  v1::CreateVportRequest req = Pod(netns_, "3f2a91c0ffee");
  req.set_mac("0a:58:0a:16:00:05");
  req.set_mtu(1400);
  v1::CreateVportResponse created;
  ASSERT_OK(Call(&v1::Switch::Stub::CreateVport, req, &created));
  const v1::Vport& v = created.vport();
  EXPECT_THAT(v.name(), ::testing::MatchesRegex("vp[0-9a-f]{8}"));
  EXPECT_EQ(v.kind(), v1::VPORT_KIND_POD);
  EXPECT_EQ(v.mac(), "0a:58:0a:16:00:05");
  EXPECT_EQ(v.mtu(), 1400u);
  EXPECT_EQ(v.pod().netns(), netns_);
  EXPECT_EQ(v.pod().attachment().container_id(), "3f2a91c0ffee");
  EXPECT_EQ(v.pod().type(), v1::VPORT_TYPE_VETH);
  EXPECT_EQ(v.port().vport_kind(), v1::VPORT_KIND_POD);
  EXPECT_EQ(v.port().backend(), v1::BACKEND_AF_PACKET);
  EXPECT_TRUE(opener_.HasInterface(v.name()));
  // Its port is a member port.
  EXPECT_EQ(GetPort("veb0", v.name()).vport_kind(), v1::VPORT_KIND_POD);
  v1::GetBridgeRequest gb;
  gb.set_name("veb0");
  v1::GetBridgeResponse bridge;
  ASSERT_OK(Call(&v1::Switch::Stub::GetBridge, gb, &bridge));
  EXPECT_EQ(bridge.bridge().vport_count(), 1u);

  // Same attachment again: refused, naming the existing vport.
  grpc::Status again = Call(&v1::Switch::Stub::CreateVport, Pod(netns2_, "3f2a91c0ffee"));
  EXPECT_EQ(again.error_code(), grpc::ALREADY_EXISTS);
  EXPECT_THAT(again.error_message(), HasSubstr(v.name()));

  // Get by attachment (CNI CHECK) and by name.
  v1::GetVportRequest get;
  get.mutable_attachment()->set_container_id("3f2a91c0ffee");
  get.mutable_attachment()->set_ifname("eth0");
  v1::GetVportResponse got;
  ASSERT_OK(Call(&v1::Switch::Stub::GetVport, get, &got));
  EXPECT_EQ(got.vport().name(), v.name());
  get.set_name(v.name());
  get.set_bridge("other");
  EXPECT_EQ(Call(&v1::Switch::Stub::GetVport, get).error_code(), grpc::NOT_FOUND);

  // DeletePort refuses a vport's port.
  v1::DeletePortRequest dp;
  dp.set_bridge("veb0");
  dp.set_name(v.name());
  grpc::Status refused = Call(&v1::Switch::Stub::DeletePort, dp);
  EXPECT_EQ(refused.error_code(), grpc::FAILED_PRECONDITION);
  EXPECT_THAT(refused.error_message(), HasSubstr("use DeleteVport"));

  // Delete by attachment (CNI DEL), then again: NOT_FOUND, or OK with allow_missing.
  v1::DeleteVportRequest del;
  del.mutable_attachment()->set_container_id("3f2a91c0ffee");
  del.mutable_attachment()->set_ifname("eth0");
  v1::DeleteVportResponse deleted;
  ASSERT_OK(Call(&v1::Switch::Stub::DeleteVport, del, &deleted));
  EXPECT_TRUE(deleted.deleted());
  EXPECT_FALSE(opener_.HasInterface(v.name()));
  EXPECT_EQ(Call(&v1::Switch::Stub::DeleteVport, del).error_code(), grpc::NOT_FOUND);
  del.set_allow_missing(true);
  ASSERT_OK(Call(&v1::Switch::Stub::DeleteVport, del, &deleted));
  EXPECT_FALSE(deleted.deleted());
  EXPECT_EQ(VportCount(), 0u);
  v1::ListPortsRequest lp;
  lp.set_bridge("veb0");
  v1::ListPortsResponse ports;
  ASSERT_OK(Call(&v1::Switch::Stub::ListPorts, lp, &ports));
  EXPECT_EQ(ports.ports_size(), 0);
}

TEST_F(VportTest, NamesAreStableForPodsAndNumberedForHosts) {
  v1::CreateVportResponse a, b;
  ASSERT_OK(Call(&v1::Switch::Stub::CreateVport, Pod(netns_, "c1"), &a));
  ASSERT_OK(Call(&v1::Switch::Stub::CreateVport, Pod(netns2_, "c2"), &b));
  EXPECT_NE(a.vport().name(), b.vport().name());
  v1::DeleteVportRequest del;
  del.set_name(a.vport().name());
  ASSERT_OK(Call(&v1::Switch::Stub::DeleteVport, del));
  v1::CreateVportResponse a2;
  ASSERT_OK(Call(&v1::Switch::Stub::CreateVport, Pod(netns_, "c1"), &a2));
  EXPECT_EQ(a2.vport().name(), a.vport().name());

  v1::CreateVportResponse h0, h1;
  v1::CreateVportRequest host = Host();
  host.add_ip_prefixes("10.22.0.1/24");
  host.add_ip_prefixes("fd00::1/64");
  ASSERT_OK(Call(&v1::Switch::Stub::CreateVport, host, &h0));
  ASSERT_OK(Call(&v1::Switch::Stub::CreateVport, Host(), &h1));
  EXPECT_EQ(h0.vport().name(), "vport0");
  EXPECT_EQ(h1.vport().name(), "vport1");
  EXPECT_EQ(h0.vport().kind(), v1::VPORT_KIND_HOST);
  EXPECT_EQ(h0.vport().port().backend(), v1::BACKEND_TAP);
  EXPECT_THAT(h0.vport().ip_prefixes(), ::testing::ElementsAre("10.22.0.1/24", "fd00::1/64"));
  EXPECT_FALSE(h0.vport().has_pod());

  v1::ListVportsRequest lr;
  lr.set_kind(v1::VPORT_KIND_HOST);
  v1::ListVportsResponse list;
  ASSERT_OK(Call(&v1::Switch::Stub::ListVports, lr, &list));
  ASSERT_EQ(list.vports_size(), 2);
  EXPECT_EQ(list.vports(0).name(), "vport0");
  lr.set_kind(v1::VPORT_KIND_UNSPECIFIED);
  lr.set_container_id("c2");
  ASSERT_OK(Call(&v1::Switch::Stub::ListVports, lr, &list));
  ASSERT_EQ(list.vports_size(), 1);
  EXPECT_EQ(list.vports(0).name(), b.vport().name());
  lr.set_bridge("nope");
  EXPECT_EQ(Call(&v1::Switch::Stub::ListVports, lr).error_code(), grpc::NOT_FOUND);
}

TEST_F(VportTest, BadRequestsNameTheProblemAndChangeNothing) {
  struct Case {
    const char* what;
    std::function<void(v1::CreateVportRequest*)> edit;
    grpc::StatusCode code;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"kind unspecified", [](auto* r) { r->set_kind(v1::VPORT_KIND_UNSPECIFIED); },
       grpc::INVALID_ARGUMENT, "kind"},
      {"pod missing", [](auto* r) { r->clear_pod(); }, grpc::INVALID_ARGUMENT, "pod: required"},
      {"prefixes on a pod", [](auto* r) { r->add_ip_prefixes("10.0.0.1/24"); },
       grpc::INVALID_ARGUMENT, "ip_prefixes"},
      {"multicast mac", [](auto* r) { r->set_mac("01:00:5e:00:00:01"); },
       grpc::INVALID_ARGUMENT, "unicast"},
      {"bad mac", [](auto* r) { r->set_mac("02:00:00:00:00"); }, grpc::INVALID_ARGUMENT, "mac"},
      {"zero mac", [](auto* r) { r->set_mac("00:00:00:00:00:00"); }, grpc::INVALID_ARGUMENT,
       "unicast"},
      {"mtu 67", [](auto* r) { r->set_mtu(67); }, grpc::INVALID_ARGUMENT, "mtu 67"},
      {"mtu 65536", [](auto* r) { r->set_mtu(65536); }, grpc::INVALID_ARGUMENT, "mtu 65536"},
      {"container id", [](auto* r) { r->mutable_pod()->mutable_attachment()->set_container_id("-x"); },
       grpc::INVALID_ARGUMENT, "container_id"},
      {"ifname", [](auto* r) { r->mutable_pod()->mutable_attachment()->set_ifname("eth0/1"); },
       grpc::INVALID_ARGUMENT, "ifname"},
      {"relative netns", [](auto* r) { r->mutable_pod()->set_netns("netns/x"); },
       grpc::INVALID_ARGUMENT, "absolute"},
      {"veth with TAP backend", [](auto* r) { r->set_backend(v1::BACKEND_TAP); },
       grpc::INVALID_ARGUMENT, "backend"},
      {"name too long", [](auto* r) { r->set_name("abcdefghijklmnop"); }, grpc::INVALID_ARGUMENT,
       "name"},
      {"unknown bridge", [](auto* r) { r->set_bridge("veb9"); }, grpc::NOT_FOUND,
       "bridge \"veb9\": create vport: not found"},
      {"missing netns", [](auto* r) { r->mutable_pod()->set_netns("/nonexistent/ns"); },
       grpc::NOT_FOUND, "netns"},
      {"locked with learning", [](auto* r) {
         r->mutable_settings()->set_locked(true);
         r->mutable_settings()->set_learning(true);
       }, grpc::FAILED_PRECONDITION, "locked"},
      {"name of a member port", [](auto* r) { r->set_name("eth1"); }, grpc::ALREADY_EXISTS,
       "already exists"},
  };
  ASSERT_OK(AddPort("veb0", "eth1"));
  for (const Case& c : cases) {
    v1::CreateVportRequest req = Pod(netns_, "c1");
    c.edit(&req);
    grpc::Status s = Call(&v1::Switch::Stub::CreateVport, req);
    EXPECT_EQ(s.error_code(), c.code) << c.what << ": " << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr(c.message)) << c.what;
  }
  v1::CreateVportRequest host = Host();
  for (const char* bad : {"10.0.0.1/33", "10.0.0.1", "x/24", "fd00::1/129", "10.0.0.1/2a"}) {
    host.clear_ip_prefixes();
    host.add_ip_prefixes(bad);
    grpc::Status s = Call(&v1::Switch::Stub::CreateVport, host);
    EXPECT_EQ(s.error_code(), grpc::INVALID_ARGUMENT) << bad;
    EXPECT_THAT(s.error_message(), HasSubstr(bad));
  }
  host.clear_ip_prefixes();
  *host.mutable_pod() = Pod(netns_, "c1").pod();
  EXPECT_EQ(Call(&v1::Switch::Stub::CreateVport, host).error_code(), grpc::INVALID_ARGUMENT);
  v1::CreateVportRequest xdp = Host();
  xdp.set_backend(v1::BACKEND_AF_PACKET);
  EXPECT_EQ(Call(&v1::Switch::Stub::CreateVport, xdp).error_code(), grpc::INVALID_ARGUMENT);

  // The backend failing midway leaves nothing either.
  opener_.FailNextVports(1);
  EXPECT_EQ(Call(&v1::Switch::Stub::CreateVport, Pod(netns_, "c1")).error_code(),
            grpc::UNAVAILABLE);
  EXPECT_EQ(VportCount(), 0u);
  v1::ListPortsRequest lp;
  lp.set_bridge("veb0");
  v1::ListPortsResponse ports;
  ASSERT_OK(Call(&v1::Switch::Stub::ListPorts, lp, &ports));
  EXPECT_EQ(ports.ports_size(), 1);  // eth1 only
  // ... and the same request then succeeds.
  ASSERT_OK(Call(&v1::Switch::Stub::CreateVport, Pod(netns_, "c1")));

  v1::DeleteVportRequest del;
  EXPECT_EQ(Call(&v1::Switch::Stub::DeleteVport, del).error_code(), grpc::INVALID_ARGUMENT);
  del.mutable_attachment()->set_container_id("c1");
  EXPECT_EQ(Call(&v1::Switch::Stub::DeleteVport, del).error_code(), grpc::INVALID_ARGUMENT);
}

TEST_F(VportTest, DeleteBridgeNeedsForceAndDestroysVports) {
  v1::CreateVportResponse pod;
  ASSERT_OK(Call(&v1::Switch::Stub::CreateVport, Pod(netns_, "c1"), &pod));
  ASSERT_OK(AddPort("veb0", "eth1"));
  v1::DeleteBridgeRequest del;
  del.set_name("veb0");
  grpc::Status s = Call(&v1::Switch::Stub::DeleteBridge, del);
  EXPECT_EQ(s.error_code(), grpc::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("has 1 port and 1 vport (use force)"));
  del.set_force(true);
  ASSERT_OK(Call(&v1::Switch::Stub::DeleteBridge, del));
  EXPECT_FALSE(opener_.HasInterface(pod.vport().name()));
  EXPECT_TRUE(opener_.HasInterface("eth1"));
  EXPECT_EQ(VportCount(), 0u);
}

TEST_F(VportTest, PortEventsCarryTheVportKind) {
  v1::WatchEventsRequest req;
  req.add_types(v1::EVENT_TYPE_PORT_ADDED);
  req.add_types(v1::EVENT_TYPE_PORT_REMOVED);
  EventReader events(stub_.get(), req);
  EXPECT_EQ(events.Next().type(), v1::EVENT_TYPE_WATCH_STARTED);
  v1::CreateVportResponse pod;
  ASSERT_OK(Call(&v1::Switch::Stub::CreateVport, Pod(netns_, "c1"), &pod));
  v1::Event e = events.Next();
  EXPECT_EQ(e.type(), v1::EVENT_TYPE_PORT_ADDED);
  EXPECT_EQ(e.port().name(), pod.vport().name());
  EXPECT_EQ(e.port().vport_kind(), v1::VPORT_KIND_POD);
  // The pod's namespace goes away: the sweep removes the vport.
  unlink(netns_.c_str());
  agent_->Sweep();
  e = events.Next();
  EXPECT_EQ(e.type(), v1::EVENT_TYPE_PORT_REMOVED);
  EXPECT_EQ(e.port().removal_cause(), v1::PORT_REMOVAL_CAUSE_INTERFACE_GONE);
  EXPECT_EQ(e.port().vport_kind(), v1::VPORT_KIND_POD);
  EXPECT_EQ(VportCount(), 0u);
  EXPECT_FALSE(opener_.HasInterface(pod.vport().name()));
}

TEST_F(VportTest, RestartReattachesVportsWithoutRecreatingThem) {
  v1::CreateVportRequest req = Pod(netns_, "c1");
  req.mutable_settings()->set_locked(true);
  req.mutable_settings()->set_learning(false);
  req.mutable_settings()->set_discover(false);
  v1::CreateVportResponse pod, gone, host;
  ASSERT_OK(Call(&v1::Switch::Stub::CreateVport, req, &pod));
  ASSERT_OK(Call(&v1::Switch::Stub::CreateVport, Pod(netns2_, "c2"), &gone));
  v1::CreateVportRequest hreq = Host();
  hreq.add_ip_prefixes("10.22.0.1/24");
  ASSERT_OK(Call(&v1::Switch::Stub::CreateVport, hreq, &host));
  v1::AddStaticAddressRequest st;
  st.set_bridge("veb0");
  st.set_port(pod.vport().name());
  st.set_mac(pod.vport().mac());
  ASSERT_OK(Call(&v1::Switch::Stub::AddStaticAddress, st));
  const AgentConfig exported = agent_->ExportConfig();
  ASSERT_EQ(exported.vports_size(), 3);
  EXPECT_EQ(exported.ports_size(), 0);

  // A new agent over the same interfaces: the first pod and the host vport
  // are reattached (same names and MACs), the second pod's interfaces went
  // while "the agent was down".
  v1::DeleteVportRequest del;
  del.set_name(gone.vport().name());
  ASSERT_OK(Call(&v1::Switch::Stub::DeleteVport, del));  // removes its interfaces
  AgentOptions o;
  o.opener = &opener_;
  Agent agent2(o);
  std::vector<std::string> problems;
  ASSERT_TRUE(agent2.Apply(exported, &problems).ok());
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_THAT(problems[0], HasSubstr(gone.vport().name()));
  // The pod whose interfaces went is pending, not forgotten (its runtime's
  // CNI DEL removes it).
  AgentConfig after = agent2.ExportConfig();
  ASSERT_EQ(after.vports_size(), 3);
  v1::GetVportRequest get_gone;
  get_gone.set_name(gone.vport().name());
  v1::GetVportResponse got_gone;
  ASSERT_TRUE(agent2.GetVport(get_gone, &got_gone).ok());
  EXPECT_TRUE(got_gone.vport().pending());
  EXPECT_THAT(got_gone.vport().pending_reason(), HasSubstr("gone"));
  v1::GetVportRequest get;
  get.set_name(pod.vport().name());
  v1::GetVportResponse got;
  ASSERT_TRUE(agent2.GetVport(get, &got).ok());
  EXPECT_EQ(got.vport().mac(), pod.vport().mac());
  EXPECT_TRUE(got.vport().port().locked());
  EXPECT_EQ(got.vport().port().address_count(), 1u);  // the static entry
  get.set_name("vport0");
  ASSERT_TRUE(agent2.GetVport(get, &got).ok());
  EXPECT_THAT(got.vport().ip_prefixes(), ::testing::ElementsAre("10.22.0.1/24"));
  // The same attachment is known after the restart (CNI DEL/CHECK).
  v1::DeleteVportRequest by_attachment;
  by_attachment.mutable_attachment()->set_container_id("c1");
  by_attachment.mutable_attachment()->set_ifname("eth0");
  v1::DeleteVportResponse deleted;
  ASSERT_TRUE(agent2.DeleteVport(by_attachment, &deleted).ok());
  EXPECT_TRUE(deleted.deleted());
  // Restoring twice (startup file after the state file) changes nothing.
  const AgentConfig before = agent2.ExportConfig();
  problems.clear();
  ASSERT_TRUE(agent2.Apply(before, &problems).ok());
  EXPECT_TRUE(problems.empty()) << problems[0];
  EXPECT_EQ(agent2.ExportConfig().DebugString(), before.DebugString());
}

v1::CreateVportRequest Tunnel(const std::string& name, uint32_t vni) {
  v1::CreateVportRequest req;
  req.set_bridge("veb0");
  req.set_kind(v1::VPORT_KIND_TUNNEL);
  req.set_name(name);
  req.mutable_tunnel()->set_vni(vni);
  return req;
}

v1::SetVportPeersRequest Peers(v1::PeersOp op, std::vector<std::string> peers) {
  v1::SetVportPeersRequest req;
  req.set_name("vx0");
  req.set_op(op);
  for (const std::string& p : peers) req.add_peers(p);
  return req;
}

TEST_F(VportTest, TunnelVportPeersApplyTheDifference) {
  v1::CreateVportRequest req = Tunnel("vx0", 4242);
  req.mutable_tunnel()->set_local("10.99.0.1");
  req.mutable_tunnel()->add_peers("10.99.0.3");
  req.mutable_tunnel()->add_peers("10.99.0.2");
  v1::CreateVportResponse created;
  ASSERT_OK(Call(&v1::Switch::Stub::CreateVport, req, &created));
  const v1::Vport& v = created.vport();
  EXPECT_EQ(v.kind(), v1::VPORT_KIND_TUNNEL);
  EXPECT_EQ(v.port().vport_kind(), v1::VPORT_KIND_TUNNEL);
  EXPECT_EQ(v.tunnel().vni(), 4242u);
  EXPECT_EQ(v.tunnel().dstport(), 4789u);  // the default
  EXPECT_EQ(v.tunnel().local(), "10.99.0.1");
  EXPECT_THAT(v.tunnel().peers(), ::testing::ElementsAre("10.99.0.2", "10.99.0.3"));
  EXPECT_FALSE(v.has_pod());
  EXPECT_THAT(opener_.Peers("vx0"), ::testing::ElementsAre("10.99.0.2", "10.99.0.3"));

  v1::SetVportPeersResponse resp;
  ASSERT_OK(Call(&v1::Switch::Stub::SetVportPeers, Peers(v1::PEERS_OP_ADD, {"fd00::0:4"}), &resp));
  // Canonical form (inet_ntop), sorted.
  EXPECT_THAT(resp.vport().tunnel().peers(),
              ::testing::ElementsAre("10.99.0.2", "10.99.0.3", "fd00::4"));
  ASSERT_OK(Call(&v1::Switch::Stub::SetVportPeers, Peers(v1::PEERS_OP_DEL, {"10.99.0.3", "10.99.0.9"}),
                 &resp));
  EXPECT_THAT(resp.vport().tunnel().peers(), ::testing::ElementsAre("10.99.0.2", "fd00::4"));
  ASSERT_OK(Call(&v1::Switch::Stub::SetVportPeers, Peers(v1::PEERS_OP_SET, {"10.99.0.5", "10.99.0.2"}),
                 &resp));
  EXPECT_THAT(resp.vport().tunnel().peers(), ::testing::ElementsAre("10.99.0.2", "10.99.0.5"));
  EXPECT_THAT(opener_.Peers("vx0"), ::testing::ElementsAre("10.99.0.2", "10.99.0.5"));
  // The state holds the new set.
  const AgentConfig exported = agent_->ExportConfig();
  ASSERT_EQ(exported.vports_size(), 1);
  EXPECT_THAT(exported.vports(0).tunnel().peers(), ::testing::ElementsAre("10.99.0.2", "10.99.0.5"));
  EXPECT_EQ(exported.vports(0).kind(), v1::VPORT_KIND_TUNNEL);

  // Read back through GetVport; ListVports filters by kind.
  v1::GetVportRequest get;
  get.set_name("vx0");
  v1::GetVportResponse got;
  ASSERT_OK(Call(&v1::Switch::Stub::GetVport, get, &got));
  EXPECT_THAT(got.vport().tunnel().peers(), ::testing::ElementsAre("10.99.0.2", "10.99.0.5"));
  ASSERT_OK(Call(&v1::Switch::Stub::CreateVport, Pod(netns_, "c1")));
  v1::ListVportsRequest lr;
  lr.set_kind(v1::VPORT_KIND_TUNNEL);
  v1::ListVportsResponse list;
  ASSERT_OK(Call(&v1::Switch::Stub::ListVports, lr, &list));
  ASSERT_EQ(list.vports_size(), 1);
  EXPECT_EQ(list.vports(0).name(), "vx0");

  // A new agent over the same interfaces restores the tunnel with its peers.
  AgentOptions o;
  o.opener = &opener_;
  Agent agent2(o);
  std::vector<std::string> problems;
  ASSERT_TRUE(agent2.Apply(agent_->ExportConfig(), &problems).ok());
  EXPECT_TRUE(problems.empty()) << problems[0];
  v1::GetVportResponse restored;
  ASSERT_TRUE(agent2.GetVport(get, &restored).ok());
  EXPECT_FALSE(restored.vport().pending());
  EXPECT_EQ(restored.vport().tunnel().vni(), 4242u);
  EXPECT_THAT(restored.vport().tunnel().peers(),
              ::testing::ElementsAre("10.99.0.2", "10.99.0.5"));

  v1::DeleteVportRequest del;
  del.set_name("vx0");
  ASSERT_OK(Call(&v1::Switch::Stub::DeleteVport, del));
  EXPECT_FALSE(opener_.HasInterface("vx0"));
  agent2.Shutdown();
}

TEST_F(VportTest, TunnelBadRequestsNameTheProblemAndChangeNothing) {
  struct Case {
    const char* what;
    std::function<void(v1::CreateVportRequest*)> edit;
    grpc::StatusCode code;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"vni 0", [](auto* r) { r->mutable_tunnel()->set_vni(0); }, grpc::INVALID_ARGUMENT,
       "vport \"vx1\": create: vni 0: out of range 1..16777215"},
      {"vni 2^24", [](auto* r) { r->mutable_tunnel()->set_vni(16777216); },
       grpc::INVALID_ARGUMENT, "vni 16777216: out of range"},
      {"dstport", [](auto* r) { r->mutable_tunnel()->set_dstport(65536); },
       grpc::INVALID_ARGUMENT, "dstport 65536"},
      {"tunnel missing", [](auto* r) { r->clear_tunnel(); }, grpc::INVALID_ARGUMENT,
       "tunnel: required"},
      {"name missing", [](auto* r) { r->clear_name(); }, grpc::INVALID_ARGUMENT,
       "name: required"},
      {"name too long", [](auto* r) { r->set_name("abcdefghijklmnop"); },
       grpc::INVALID_ARGUMENT, "name"},
      {"pod on a tunnel", [&](auto* r) { *r->mutable_pod() = Pod(netns_, "c1").pod(); },
       grpc::INVALID_ARGUMENT, "must be unset for a TUNNEL vport"},
      {"prefixes on a tunnel", [](auto* r) { r->add_ip_prefixes("10.0.0.1/24"); },
       grpc::INVALID_ARGUMENT, "must be unset for a TUNNEL vport"},
      {"bad local", [](auto* r) { r->mutable_tunnel()->set_local("10.0.0"); },
       grpc::INVALID_ARGUMENT, "local \"10.0.0\": not an IPv4 or IPv6 address"},
      {"multicast local", [](auto* r) { r->mutable_tunnel()->set_local("239.0.0.1"); },
       grpc::INVALID_ARGUMENT, "must be a unicast address"},
      {"bad underlay", [](auto* r) { r->mutable_tunnel()->set_underlay("a/b"); },
       grpc::INVALID_ARGUMENT, "underlay"},
      {"bad peer", [](auto* r) { r->mutable_tunnel()->add_peers("fd00::x"); },
       grpc::INVALID_ARGUMENT, "peer \"fd00::x\": not an IPv4 or IPv6 address"},
      {"zero peer", [](auto* r) { r->mutable_tunnel()->add_peers("0.0.0.0"); },
       grpc::INVALID_ARGUMENT, "must be a unicast address"},
      {"peer twice", [](auto* r) {
         r->mutable_tunnel()->add_peers("fd00::1");
         r->mutable_tunnel()->add_peers("fd00:0::1");
       }, grpc::INVALID_ARGUMENT, "peer \"fd00::1\": given twice"},
      {"TAP backend", [](auto* r) { r->set_backend(v1::BACKEND_TAP); }, grpc::INVALID_ARGUMENT,
       "backend"},
      {"duplicate vni", [](auto* r) { r->mutable_tunnel()->set_vni(4242); },
       grpc::ALREADY_EXISTS, "vni 4242 is already used by tunnel vport \"vx0\""},
      {"name taken", [](auto* r) { r->set_name("vx0"); }, grpc::ALREADY_EXISTS,
       "already exists"},
  };
  ASSERT_OK(Call(&v1::Switch::Stub::CreateVport, Tunnel("vx0", 4242)));
  for (const Case& c : cases) {
    v1::CreateVportRequest req = Tunnel("vx1", 7);
    c.edit(&req);
    grpc::Status s = Call(&v1::Switch::Stub::CreateVport, req);
    EXPECT_EQ(s.error_code(), c.code) << c.what << ": " << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr(c.message)) << c.what;
  }
  // A tunnel field on a pod vport.
  v1::CreateVportRequest pod = Pod(netns_, "c1");
  pod.mutable_tunnel()->set_vni(9);
  EXPECT_EQ(Call(&v1::Switch::Stub::CreateVport, pod).error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_EQ(VportCount(), 1u);
  EXPECT_FALSE(opener_.HasInterface("vx1"));

  // Peer changes: bad ones change nothing.
  ASSERT_OK(Call(&v1::Switch::Stub::SetVportPeers, Peers(v1::PEERS_OP_SET, {"10.0.0.2"})));
  struct PeerCase {
    const char* what;
    v1::SetVportPeersRequest req;
    grpc::StatusCode code;
    const char* message;
  };
  v1::SetVportPeersRequest unknown = Peers(v1::PEERS_OP_SET, {"10.0.0.3"});
  unknown.set_name("vx9");
  v1::SetVportPeersRequest wrong_bridge = Peers(v1::PEERS_OP_SET, {"10.0.0.3"});
  wrong_bridge.set_bridge("veb1");
  v1::CreateVportResponse p;
  ASSERT_OK(Call(&v1::Switch::Stub::CreateVport, Pod(netns_, "c1"), &p));
  v1::SetVportPeersRequest of_pod = Peers(v1::PEERS_OP_SET, {"10.0.0.3"});
  of_pod.set_name(p.vport().name());
  v1::SetVportPeersRequest too_many = Peers(v1::PEERS_OP_SET, {});
  for (int i = 0; i < 1025; ++i) too_many.add_peers(absl::StrCat("10.1.", i / 256, ".", i % 256));
  const std::vector<PeerCase> peer_cases = {
      {"op unspecified", Peers(v1::PEERS_OP_UNSPECIFIED, {"10.0.0.3"}), grpc::INVALID_ARGUMENT,
       "op 0"},
      {"malformed", Peers(v1::PEERS_OP_ADD, {"10.0.0.3", "10.0.0"}), grpc::INVALID_ARGUMENT,
       "vport \"vx0\": peers: peer \"10.0.0\": not an IPv4 or IPv6 address"},
      {"twice", Peers(v1::PEERS_OP_SET, {"10.0.0.3", "10.0.0.3"}), grpc::INVALID_ARGUMENT,
       "given twice"},
      {"too many", too_many, grpc::INVALID_ARGUMENT, "at most 1024"},
      {"unknown vport", unknown, grpc::NOT_FOUND, "vport \"vx9\": peers: not found"},
      {"other bridge", wrong_bridge, grpc::NOT_FOUND, "not found"},
      {"pod vport", of_pod, grpc::FAILED_PRECONDITION, "not a tunnel vport"},
  };
  for (const PeerCase& c : peer_cases) {
    grpc::Status s = Call(&v1::Switch::Stub::SetVportPeers, c.req);
    EXPECT_EQ(s.error_code(), c.code) << c.what << ": " << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr(c.message)) << c.what;
  }
  EXPECT_THAT(opener_.Peers("vx0"), ::testing::ElementsAre("10.0.0.2"));
  const AgentConfig config = agent_->ExportConfig();
  for (const v1::CreateVportRequest& v : config.vports()) {
    if (v.name() == "vx0") {
      EXPECT_THAT(v.tunnel().peers(), ::testing::ElementsAre("10.0.0.2"));
    }
  }
}

}  // namespace
}  // namespace veb::server::switch_test
