// veb.v1.Switch end to end (switch_service_test_util.h): bridges, member and
// span ports, and every error changing nothing.
#include "server/switch_service_test_util.h"

namespace veb::server::switch_test {
namespace {

TEST_F(SwitchServiceTest, BridgeLifecycle) {
  v1::CreateBridgeResponse created;
  v1::CreateBridgeRequest req;
  req.set_name("veb1");
  ASSERT_OK(Call(&v1::Switch::Stub::CreateBridge, req, &created));
  EXPECT_TRUE(created.bridge().up());
  EXPECT_EQ(created.bridge().max_addresses(), 100u);
  EXPECT_EQ(created.bridge().address_timeout_seconds(), 240u);
  EXPECT_EQ(created.bridge().default_pvid().vid(), 1u);
  EXPECT_FALSE(created.bridge().allow_svlan());

  v1::BridgeSettings s;
  s.set_max_addresses(5000);
  s.mutable_default_pvid()->set_none(true);
  s.set_allow_svlan(true);
  ASSERT_OK(CreateBridge("veb0", s));

  v1::ListBridgesResponse list;
  ASSERT_OK(Call(&v1::Switch::Stub::ListBridges, v1::ListBridgesRequest(), &list));
  ASSERT_EQ(list.bridges_size(), 2);
  EXPECT_EQ(list.bridges(0).name(), "veb0");
  EXPECT_EQ(list.bridges(0).max_addresses(), 5000u);
  EXPECT_TRUE(list.bridges(0).default_pvid().none());
  EXPECT_EQ(list.bridges(1).name(), "veb1");

  v1::UpdateBridgeRequest up;
  up.set_name("veb0");
  up.mutable_settings()->set_address_timeout_seconds(60);
  up.mutable_settings()->set_up(false);
  v1::UpdateBridgeResponse updated;
  ASSERT_OK(Call(&v1::Switch::Stub::UpdateBridge, up, &updated));
  EXPECT_EQ(updated.bridge().address_timeout_seconds(), 60u);
  EXPECT_FALSE(updated.bridge().up());
  EXPECT_EQ(updated.bridge().max_addresses(), 5000u);  // unchanged

  v1::GetBridgeRequest get;
  get.set_name("veb0");
  v1::GetBridgeResponse got;
  ASSERT_OK(Call(&v1::Switch::Stub::GetBridge, get, &got));
  EXPECT_EQ(got.bridge().address_timeout_seconds(), 60u);

  v1::DeleteBridgeRequest del;
  del.set_name("veb1");
  ASSERT_OK(Call(&v1::Switch::Stub::DeleteBridge, del));
  get.set_name("veb1");
  EXPECT_THAT(Call(&v1::Switch::Stub::GetBridge, get),
              StatusIs(grpc::NOT_FOUND, "bridge \"veb1\": get: not found"));
}

TEST_F(SwitchServiceTest, BridgeErrors) {
  ASSERT_OK(CreateBridge("veb0"));
  const std::string before = Config();
  EXPECT_THAT(CreateBridge("veb/0"), CodeIs(grpc::INVALID_ARGUMENT));
  EXPECT_THAT(CreateBridge("veb/0").error_message(),
              HasSubstr("bridge \"veb/0\": create: invalid name"));
  EXPECT_THAT(CreateBridge("averyverylongname"), CodeIs(grpc::INVALID_ARGUMENT));
  EXPECT_THAT(CreateBridge(""), CodeIs(grpc::INVALID_ARGUMENT));
  // A 3 MB name is refused with a message quoting only a prefix of it.
  const grpc::Status huge = CreateBridge(std::string(3 << 20, 'x'));
  EXPECT_EQ(huge.error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_EQ(huge.error_message(),
            "bridge \"" + std::string(64, 'x') +
                "\"... (3145728 bytes): create: invalid name (longer than 15 bytes)");
  v1::BridgeSettings s;
  s.set_max_addresses(0);
  EXPECT_THAT(CreateBridge("veb2", s),
              StatusIs(grpc::INVALID_ARGUMENT,
                       "bridge \"veb2\": create: max_addresses 0 out of range 1..1000000"));
  s.set_max_addresses(1000001);
  EXPECT_THAT(CreateBridge("veb2", s), CodeIs(grpc::INVALID_ARGUMENT));
  v1::BridgeSettings t;
  t.set_address_timeout_seconds(3601);
  EXPECT_THAT(CreateBridge("veb2", t), CodeIs(grpc::INVALID_ARGUMENT));
  v1::BridgeSettings p;
  p.mutable_default_pvid()->set_vid(4095);
  EXPECT_THAT(CreateBridge("veb2", p), CodeIs(grpc::INVALID_ARGUMENT));
  EXPECT_THAT(CreateBridge("veb0"),
              StatusIs(grpc::ALREADY_EXISTS, "bridge \"veb0\": create: already exists"));

  v1::UpdateBridgeRequest up;
  up.set_name("veb0");
  up.mutable_settings()->set_address_timeout_seconds(5);
  up.mutable_settings()->set_up(false);  // would be valid: must not apply either
  EXPECT_THAT(Call(&v1::Switch::Stub::UpdateBridge, up),
              StatusIs(grpc::INVALID_ARGUMENT,
                       "bridge \"veb0\": update: address_timeout_seconds 5 out of range 8..3600"));
  up.set_name("nope");
  up.mutable_settings()->set_address_timeout_seconds(10);
  EXPECT_THAT(Call(&v1::Switch::Stub::UpdateBridge, up),
              StatusIs(grpc::NOT_FOUND, "bridge \"nope\": update: not found"));

  v1::DeleteBridgeRequest del;
  del.set_name("nope");
  EXPECT_THAT(Call(&v1::Switch::Stub::DeleteBridge, del),
              StatusIs(grpc::NOT_FOUND, "bridge \"nope\": delete: not found"));
  EXPECT_EQ(Config(), before);  // nothing changed

  ASSERT_OK(AddPort("veb0", "eth1"));
  ASSERT_OK(AddPort("veb0", "eth2"));
  del.set_name("veb0");
  EXPECT_THAT(Call(&v1::Switch::Stub::DeleteBridge, del),
              StatusIs(grpc::FAILED_PRECONDITION,
                       "bridge \"veb0\": delete: has 2 ports (use force)"));
  del.set_force(true);
  ASSERT_OK(Call(&v1::Switch::Stub::DeleteBridge, del));
  // The interfaces are free again.
  ASSERT_OK(CreateBridge("veb1"));
  EXPECT_OK(AddPort("veb1", "eth1"));
}

TEST_F(SwitchServiceTest, BridgeLimit) {
  for (int i = 0; i < 256; ++i) ASSERT_OK(CreateBridge("b" + std::to_string(i)));
  EXPECT_THAT(CreateBridge("veb300"),
              StatusIs(grpc::RESOURCE_EXHAUSTED,
                       "bridge \"veb300\": create: limit of 256 bridges reached"));
}

// ---- member ports ---------------------------------------------------------------

TEST_F(SwitchServiceTest, PortAddGetListUpdate) {
  ASSERT_OK(CreateBridge("veb0"));
  v1::AddPortResponse added;
  ASSERT_OK(AddPort("veb0", "eth2", {}, &added));
  const v1::Port& p = added.port();
  EXPECT_EQ(p.bridge(), "veb0");
  EXPECT_EQ(p.backend(), v1::BACKEND_AF_PACKET);
  EXPECT_TRUE(p.learning());
  EXPECT_TRUE(p.discover());
  EXPECT_FALSE(p.locked());
  EXPECT_EQ(p.pvid().vid(), 1u);
  EXPECT_TRUE(p.link_up());
  EXPECT_TRUE(p.running());
  EXPECT_EQ(p.mtu(), 1500u);
  EXPECT_NE(p.ifindex(), 0u);
  EXPECT_THAT(p.mac(), HasSubstr("02:00:00:00:"));

  v1::PortSettings s;
  s.set_locked(true);  // learning/discover default to false then
  s.set_blocknonip(true);
  s.mutable_protected_domains()->add_domains(3);
  s.mutable_protected_domains()->add_domains(1);
  s.mutable_pvid()->set_none(true);
  s.mutable_tagged_vids()->add_vids(20);
  s.mutable_tagged_vids()->add_vids(10);
  ASSERT_OK(AddPort("veb0", "eth1", s, &added));
  EXPECT_FALSE(added.port().learning());
  EXPECT_FALSE(added.port().discover());
  EXPECT_TRUE(added.port().locked());
  EXPECT_TRUE(added.port().blocknonip());
  EXPECT_THAT(added.port().protected_domains(), ElementsAre(1, 3));
  EXPECT_TRUE(added.port().pvid().none());
  EXPECT_THAT(added.port().tagged_vids(), ElementsAre(10, 20));

  v1::ListPortsRequest lreq;
  lreq.set_bridge("veb0");
  v1::ListPortsResponse list;
  ASSERT_OK(Call(&v1::Switch::Stub::ListPorts, lreq, &list));
  ASSERT_EQ(list.ports_size(), 2);
  EXPECT_EQ(list.ports(0).name(), "eth1");
  EXPECT_EQ(list.ports(1).name(), "eth2");

  // One request: unlock and re-enable learning; tagged add/remove; PVID.
  v1::UpdatePortRequest up;
  up.set_bridge("veb0");
  up.set_name("eth1");
  up.mutable_settings()->set_locked(false);
  up.mutable_settings()->set_learning(true);
  up.mutable_settings()->mutable_pvid()->set_vid(10);
  up.add_remove_tagged_vids(10);  // move VID 10 from tagged to the PVID
  up.add_add_tagged_vids(30);
  v1::UpdatePortResponse updated;
  ASSERT_OK(Call(&v1::Switch::Stub::UpdatePort, up, &updated));
  EXPECT_TRUE(updated.port().learning());
  EXPECT_FALSE(updated.port().discover());  // unchanged
  EXPECT_EQ(updated.port().pvid().vid(), 10u);
  EXPECT_THAT(updated.port().tagged_vids(), ElementsAre(20, 30));
  EXPECT_THAT(updated.port().protected_domains(), ElementsAre(1, 3));

  // Replace sets; empty sets clear.
  v1::UpdatePortRequest up2;
  up2.set_bridge("veb0");
  up2.set_name("eth1");
  up2.mutable_settings()->mutable_tagged_vids();
  up2.mutable_settings()->mutable_protected_domains()->add_domains(31);
  ASSERT_OK(Call(&v1::Switch::Stub::UpdatePort, up2, &updated));
  EXPECT_TRUE(updated.port().tagged_vids().empty());
  EXPECT_THAT(updated.port().protected_domains(), ElementsAre(31));

  v1::DeletePortRequest del;
  del.set_bridge("veb0");
  del.set_name("eth1");
  ASSERT_OK(Call(&v1::Switch::Stub::DeletePort, del));
  EXPECT_THAT(Call(&v1::Switch::Stub::DeletePort, del),
              StatusIs(grpc::NOT_FOUND, "port \"eth1\": delete: not a member of bridge \"veb0\""));
}

TEST_F(SwitchServiceTest, PortErrorsChangeNothing) {
  ASSERT_OK(CreateBridge("veb0"));
  ASSERT_OK(CreateBridge("veb1"));
  ASSERT_OK(AddPort("veb1", "veth3f2a"));
  ASSERT_OK(AddPort("veb0", "eth1"));
  const std::string before = Config();

  EXPECT_THAT(AddPort("veb0", "veth3f2a"),
              StatusIs(grpc::FAILED_PRECONDITION,
                       "port \"veth3f2a\": add: already a member of bridge \"veb1\""));
  EXPECT_THAT(AddPort("veb0", "eth1"),
              StatusIs(grpc::ALREADY_EXISTS,
                       "port \"eth1\": add: already a member of bridge \"veb0\""));
  EXPECT_THAT(AddPort("nope", "eth2"),
              StatusIs(grpc::NOT_FOUND, "bridge \"nope\": add port: not found"));
  EXPECT_THAT(AddPort("veb0", "eth9"),
              StatusIs(grpc::NOT_FOUND, "port \"eth9\": add: no such interface"));
  EXPECT_THAT(AddPort("veb0", "veb0"),
              StatusIs(grpc::FAILED_PRECONDITION,
                       "port \"veb0\": add: a bridge cannot be a port of itself"));
  EXPECT_THAT(AddPort("veb0", "veb1"),
              StatusIs(grpc::FAILED_PRECONDITION,
                       "port \"veb1\": add: \"veb1\" is a bridge, not an interface"));
  EXPECT_THAT(AddPort("veb0", "lo"),
              StatusIs(grpc::FAILED_PRECONDITION, "port \"lo\": add: not an Ethernet interface"));
  EXPECT_THAT(AddPort("veb0", "bad/name"), CodeIs(grpc::INVALID_ARGUMENT));

  v1::PortSettings locked;
  locked.set_locked(true);
  locked.set_learning(true);
  EXPECT_THAT(AddPort("veb0", "eth2", locked),
              StatusIs(grpc::FAILED_PRECONDITION,
                       "port \"eth2\": add: locked excludes learning and discover"));
  v1::PortSettings dom;
  dom.mutable_protected_domains()->add_domains(32);
  EXPECT_THAT(AddPort("veb0", "eth2", dom),
              StatusIs(grpc::INVALID_ARGUMENT,
                       "port \"eth2\": add: protected domain 32 out of range 1..31"));
  // INVALID_ARGUMENT wins over the state (missing bridge).
  EXPECT_THAT(AddPort("nope", "eth2", dom), CodeIs(grpc::INVALID_ARGUMENT));
  v1::PortSettings tag;
  tag.mutable_tagged_vids()->add_vids(4095);
  EXPECT_THAT(AddPort("veb0", "eth2", tag),
              StatusIs(grpc::INVALID_ARGUMENT,
                       "port \"eth2\": add: tagged VID 4095 out of range 1..4094"));
  v1::PortSettings dup;
  dup.mutable_tagged_vids()->add_vids(5);
  dup.mutable_tagged_vids()->add_vids(5);
  EXPECT_THAT(AddPort("veb0", "eth2", dup), CodeIs(grpc::INVALID_ARGUMENT));
  v1::PortSettings pvid;
  pvid.mutable_pvid()->set_vid(10);
  pvid.mutable_tagged_vids()->add_vids(10);
  EXPECT_THAT(AddPort("veb0", "eth2", pvid),
              StatusIs(grpc::FAILED_PRECONDITION,
                       "port \"eth2\": add: PVID 10 is also a tagged VID"));
  v1::PortSettings badpvid;
  badpvid.mutable_pvid()->set_vid(0);
  EXPECT_THAT(AddPort("veb0", "eth2", badpvid), CodeIs(grpc::INVALID_ARGUMENT));
  v1::PortSettings nopvid;
  nopvid.mutable_pvid();  // neither vid nor none
  EXPECT_THAT(AddPort("veb0", "eth2", nopvid), CodeIs(grpc::INVALID_ARGUMENT));

  // Updates.
  v1::UpdatePortRequest up;
  up.set_bridge("veb0");
  up.set_name("eth1");
  up.mutable_settings()->set_locked(true);  // learning still on
  EXPECT_THAT(Call(&v1::Switch::Stub::UpdatePort, up),
              StatusIs(grpc::FAILED_PRECONDITION,
                       "port \"eth1\": update: locked excludes learning and discover"));
  v1::UpdatePortRequest both;
  both.set_bridge("veb0");
  both.set_name("eth1");
  both.mutable_settings()->mutable_tagged_vids()->add_vids(7);
  both.add_add_tagged_vids(8);
  EXPECT_THAT(Call(&v1::Switch::Stub::UpdatePort, both), CodeIs(grpc::INVALID_ARGUMENT));
  // Duplicates are refused as types.proto documents, not merged.
  v1::UpdatePortRequest dupvid;
  dupvid.set_bridge("veb0");
  dupvid.set_name("eth1");
  dupvid.add_add_tagged_vids(8);
  dupvid.add_add_tagged_vids(8);
  EXPECT_THAT(Call(&v1::Switch::Stub::UpdatePort, dupvid),
              StatusIs(grpc::INVALID_ARGUMENT, "port \"eth1\": update: duplicate add_tagged_vids 8"));
  dupvid.clear_add_tagged_vids();
  dupvid.add_add_tagged_vids(9);
  dupvid.add_remove_tagged_vids(9);
  EXPECT_THAT(Call(&v1::Switch::Stub::UpdatePort, dupvid),
              StatusIs(grpc::INVALID_ARGUMENT,
                       "port \"eth1\": update: vid 9 in both add_tagged_vids and "
                       "remove_tagged_vids"));
  v1::UpdatePortRequest tagpvid;
  tagpvid.set_bridge("veb0");
  tagpvid.set_name("eth1");
  tagpvid.add_add_tagged_vids(1);  // the PVID
  EXPECT_THAT(Call(&v1::Switch::Stub::UpdatePort, tagpvid),
              StatusIs(grpc::FAILED_PRECONDITION,
                       "port \"eth1\": update: PVID 1 is also a tagged VID"));
  v1::UpdatePortRequest missing;
  missing.set_bridge("veb0");
  missing.set_name("eth2");
  EXPECT_THAT(Call(&v1::Switch::Stub::UpdatePort, missing), CodeIs(grpc::NOT_FOUND));

  v1::GetPortRequest get;
  get.set_bridge("veb0");
  get.set_name("eth3");
  EXPECT_THAT(Call(&v1::Switch::Stub::GetPort, get),
              StatusIs(grpc::NOT_FOUND, "port \"eth3\": get: not a member of bridge \"veb0\""));

  // A port no worker would poll is refused, not listed as if it forwarded.
  opener_.FailNextAttaches(1);
  EXPECT_THAT(AddPort("veb0", "eth4"),
              StatusIs(grpc::RESOURCE_EXHAUSTED,
                       "port \"eth4\": add: attach to a worker: injected attach failure"));
  EXPECT_THAT(Call(&v1::Switch::Stub::GetPort, [] {
                v1::GetPortRequest r;
                r.set_bridge("veb0");
                r.set_name("eth4");
                return r;
              }()),
              StatusIs(grpc::NOT_FOUND, "port \"eth4\": get: not a member of bridge \"veb0\""));

  EXPECT_EQ(Config(), before);
  // A failed add released the interface: it can be added now.
  EXPECT_OK(AddPort("veb0", "eth2"));
  EXPECT_OK(AddPort("veb0", "eth4"));
}

// ---- span ports -------------------------------------------------------------------

TEST_F(SwitchServiceTest, SpanPorts) {
  ASSERT_OK(CreateBridge("veb0"));
  ASSERT_OK(CreateBridge("veb1"));
  ASSERT_OK(AddPort("veb0", "eth1"));
  ASSERT_OK(AddPort("veb1", "eth3"));
  v1::AddSpanPortRequest req;
  req.set_bridge("veb0");
  req.set_name("eth2");
  v1::AddSpanPortResponse resp;
  ASSERT_OK(Call(&v1::Switch::Stub::AddSpanPort, req, &resp));
  EXPECT_EQ(resp.span_port().name(), "eth2");
  EXPECT_TRUE(resp.span_port().running());

  EXPECT_THAT(Call(&v1::Switch::Stub::AddSpanPort, req),
              StatusIs(grpc::ALREADY_EXISTS,
                       "span port \"eth2\": add: already a port of bridge \"veb0\""));
  req.set_name("eth1");
  EXPECT_THAT(Call(&v1::Switch::Stub::AddSpanPort, req), CodeIs(grpc::ALREADY_EXISTS));
  req.set_name("eth3");
  EXPECT_THAT(Call(&v1::Switch::Stub::AddSpanPort, req),
              StatusIs(grpc::FAILED_PRECONDITION,
                       "span port \"eth3\": add: already a member of bridge \"veb1\""));
  EXPECT_THAT(AddPort("veb0", "eth2"),
              StatusIs(grpc::ALREADY_EXISTS,
                       "port \"eth2\": add: already a span port of bridge \"veb0\""));

  v1::ListSpanPortsRequest lreq;
  lreq.set_bridge("veb0");
  v1::ListSpanPortsResponse list;
  ASSERT_OK(Call(&v1::Switch::Stub::ListSpanPorts, lreq, &list));
  ASSERT_EQ(list.span_ports_size(), 1);
  v1::ListPortsRequest preq;
  preq.set_bridge("veb0");
  v1::ListPortsResponse ports;
  ASSERT_OK(Call(&v1::Switch::Stub::ListPorts, preq, &ports));
  EXPECT_EQ(ports.ports_size(), 1);  // members only

  v1::GetBridgeRequest gb;
  gb.set_name("veb0");
  v1::GetBridgeResponse b;
  ASSERT_OK(Call(&v1::Switch::Stub::GetBridge, gb, &b));
  EXPECT_EQ(b.bridge().port_count(), 1u);
  EXPECT_EQ(b.bridge().span_port_count(), 1u);

  // A frame received on eth1 is copied to the span port (S2).
  Inject("veb0", "eth1", kA, kB);
  EXPECT_EQ(opener_.port("eth2")->sent().size(), 1u);

  v1::DeleteSpanPortRequest del;
  del.set_bridge("veb0");
  del.set_name("eth1");  // a member, not a span port
  EXPECT_THAT(Call(&v1::Switch::Stub::DeleteSpanPort, del),
              StatusIs(grpc::NOT_FOUND,
                       "span port \"eth1\": delete: not a span port of bridge \"veb0\""));
  v1::DeletePortRequest delp;
  delp.set_bridge("veb0");
  delp.set_name("eth2");  // a span port, not a member
  EXPECT_THAT(Call(&v1::Switch::Stub::DeletePort, delp), CodeIs(grpc::NOT_FOUND));
  del.set_name("eth2");
  ASSERT_OK(Call(&v1::Switch::Stub::DeleteSpanPort, del));
  v1::GetSpanPortRequest get;
  get.set_bridge("veb0");
  get.set_name("eth2");
  EXPECT_THAT(Call(&v1::Switch::Stub::GetSpanPort, get), CodeIs(grpc::NOT_FOUND));
}

// ---- addresses -----------------------------------------------------------------------


}  // namespace
}  // namespace veb::server::switch_test
