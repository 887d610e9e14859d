// veb.v1.Switch end to end: the MAC table's API (paging, static entries,
// flushes, S12), rules and counters.
#include "server/switch_service_test_util.h"

namespace veb::server::switch_test {
namespace {

TEST_F(SwitchServiceTest, AddressesStaticLearnedPagedFlushed) {
  v1::BridgeSettings bs;
  bs.set_max_addresses(6);
  ASSERT_OK(CreateBridge("veb0", bs));
  ASSERT_OK(AddPort("veb0", "eth1"));
  ASSERT_OK(AddPort("veb0", "eth2"));
  v1::PortSettings nopvid;
  nopvid.mutable_pvid()->set_none(true);
  nopvid.mutable_tagged_vids()->add_vids(7);
  ASSERT_OK(AddPort("veb0", "eth3", nopvid));

  v1::AddStaticAddressRequest st;
  st.set_bridge("veb0");
  st.set_mac("02:00:00:00:00:01");
  st.set_port("eth1");
  v1::AddStaticAddressResponse added;
  ASSERT_OK(Call(&v1::Switch::Stub::AddStaticAddress, st, &added));
  EXPECT_EQ(added.address().vid(), 1u);  // the port's PVID
  EXPECT_EQ(added.address().type(), v1::ADDRESS_TYPE_STATIC);
  st.set_mac("02:00:00:00:00:02");
  st.set_vid(5);
  ASSERT_OK(Call(&v1::Switch::Stub::AddStaticAddress, st));

  const std::string before = Config();
  st.set_mac("02:00:00:00:00:01");
  st.clear_vid();
  st.set_port("eth2");
  EXPECT_THAT(Call(&v1::Switch::Stub::AddStaticAddress, st),
              StatusIs(grpc::ALREADY_EXISTS,
                       "address 02:00:00:00:00:01 vid 1: add: static entry exists on port \"eth1\""));
  st.set_mac("02:00:00:00:00:zz");
  EXPECT_THAT(Call(&v1::Switch::Stub::AddStaticAddress, st),
              StatusIs(grpc::INVALID_ARGUMENT,
                       "address: add: mac \"02:00:00:00:00:zz\": invalid MAC address"));
  st.set_mac("01:00:5e:00:00:01");
  EXPECT_THAT(Call(&v1::Switch::Stub::AddStaticAddress, st), CodeIs(grpc::INVALID_ARGUMENT));
  st.set_mac("00:00:00:00:00:00");
  EXPECT_THAT(Call(&v1::Switch::Stub::AddStaticAddress, st), CodeIs(grpc::INVALID_ARGUMENT));
  st.set_mac("02:00:00:00:00:03");
  st.set_vid(4095);
  EXPECT_THAT(Call(&v1::Switch::Stub::AddStaticAddress, st),
              StatusIs(grpc::INVALID_ARGUMENT,
                       "address 02:00:00:00:00:03: add: vid 4095 out of range 1..4094"));
  st.clear_vid();
  st.set_port("eth9");
  EXPECT_THAT(Call(&v1::Switch::Stub::AddStaticAddress, st),
              StatusIs(grpc::NOT_FOUND,
                       "address 02:00:00:00:00:03: add: port \"eth9\" not a member of bridge \"veb0\""));
  st.set_port("eth3");
  EXPECT_THAT(Call(&v1::Switch::Stub::AddStaticAddress, st),
              StatusIs(grpc::FAILED_PRECONDITION,
                       "address 02:00:00:00:00:03: add: port \"eth3\" has no PVID (give a VID)"));
  st.set_bridge("nope");
  EXPECT_THAT(Call(&v1::Switch::Stub::AddStaticAddress, st), CodeIs(grpc::NOT_FOUND));
  EXPECT_EQ(Config(), before);

  // Learn four more: the table (max 6) is then full.
  for (Mac m = 0x020000000010ULL; m < 0x020000000014ULL; ++m) Inject("veb0", "eth2", m, kB);
  v1::ListAddressesRequest lr;
  lr.set_bridge("veb0");
  v1::ListAddressesResponse all;
  ASSERT_OK(Call(&v1::Switch::Stub::ListAddresses, lr, &all));
  ASSERT_EQ(all.addresses_size(), 6);
  EXPECT_EQ(all.total_count(), 6u);
  EXPECT_TRUE(all.next_page_token().empty());
  EXPECT_EQ(all.addresses(0).mac(), "02:00:00:00:00:01");  // vid 1 first
  EXPECT_EQ(all.addresses(5).vid(), 5u);                   // vid 5 last
  EXPECT_EQ(all.addresses(1).type(), v1::ADDRESS_TYPE_DYNAMIC);
  EXPECT_EQ(all.addresses(1).port(), "eth2");
  EXPECT_EQ(all.addresses(1).expires_in_seconds(), 240u);

  st.set_bridge("veb0");
  st.set_port("eth1");
  st.set_vid(9);
  EXPECT_THAT(Call(&v1::Switch::Stub::AddStaticAddress, st),
              StatusIs(grpc::RESOURCE_EXHAUSTED,
                       "address 02:00:00:00:00:03 vid 9: add: bridge \"veb0\" table full (6 entries)"));

  // Paging: 6 entries, pages of 4.
  lr.set_page_size(4);
  v1::ListAddressesResponse page1, page2;
  ASSERT_OK(Call(&v1::Switch::Stub::ListAddresses, lr, &page1));
  ASSERT_EQ(page1.addresses_size(), 4);
  ASSERT_FALSE(page1.next_page_token().empty());
  lr.set_page_token(page1.next_page_token());
  ASSERT_OK(Call(&v1::Switch::Stub::ListAddresses, lr, &page2));
  ASSERT_EQ(page2.addresses_size(), 2);
  EXPECT_TRUE(page2.next_page_token().empty());
  EXPECT_EQ(page2.addresses(1).mac(), "02:00:00:00:00:02");
  v1::ListAddressesRequest other = lr;
  other.set_port("eth2");  // token issued for other filters
  EXPECT_THAT(Call(&v1::Switch::Stub::ListAddresses, other), CodeIs(grpc::INVALID_ARGUMENT));
  lr.set_page_token("garbage");
  EXPECT_THAT(Call(&v1::Switch::Stub::ListAddresses, lr), CodeIs(grpc::INVALID_ARGUMENT));
  lr.clear_page_token();
  lr.set_page_size(20000);
  EXPECT_THAT(Call(&v1::Switch::Stub::ListAddresses, lr),
              StatusIs(grpc::INVALID_ARGUMENT,
                       "bridge \"veb0\": list addresses: page_size 20000 out of range 0..10000"));
  // Filters.
  v1::ListAddressesRequest f;
  f.set_bridge("veb0");
  f.set_type(v1::ADDRESS_TYPE_STATIC);
  v1::ListAddressesResponse fr;
  ASSERT_OK(Call(&v1::Switch::Stub::ListAddresses, f, &fr));
  EXPECT_EQ(fr.addresses_size(), 2);
  f.set_type(v1::ADDRESS_TYPE_UNSPECIFIED);
  f.set_mac("02:00:00:00:00:11");
  ASSERT_OK(Call(&v1::Switch::Stub::ListAddresses, f, &fr));
  ASSERT_EQ(fr.addresses_size(), 1);
  f.clear_mac();
  f.set_port("eth9");
  EXPECT_THAT(Call(&v1::Switch::Stub::ListAddresses, f), CodeIs(grpc::NOT_FOUND));

  // Delete.
  v1::DeleteAddressRequest d;
  d.set_bridge("veb0");
  d.set_mac("02:00:00:00:00:10");
  d.set_vid(2);
  EXPECT_THAT(Call(&v1::Switch::Stub::DeleteAddress, d),
              StatusIs(grpc::NOT_FOUND, "address 02:00:00:00:00:10 vid 2: delete: not found"));
  d.clear_vid();
  v1::DeleteAddressResponse dr;
  ASSERT_OK(Call(&v1::Switch::Stub::DeleteAddress, d, &dr));
  EXPECT_EQ(dr.deleted(), 1u);
  d.set_mac("nonsense");
  EXPECT_THAT(Call(&v1::Switch::Stub::DeleteAddress, d), CodeIs(grpc::INVALID_ARGUMENT));

  // Flush: per port dynamic, then everything.
  v1::FlushAddressesRequest fl;
  fl.set_bridge("veb0");
  fl.set_port("eth1");
  v1::FlushAddressesResponse flr;
  ASSERT_OK(Call(&v1::Switch::Stub::FlushAddresses, fl, &flr));
  EXPECT_EQ(flr.removed(), 0u);  // eth1 holds only static entries
  fl.clear_port();
  ASSERT_OK(Call(&v1::Switch::Stub::FlushAddresses, fl, &flr));
  EXPECT_EQ(flr.removed(), 3u);
  fl.set_mode(v1::FLUSH_MODE_ALL);
  ASSERT_OK(Call(&v1::Switch::Stub::FlushAddresses, fl, &flr));
  EXPECT_EQ(flr.removed(), 2u);
  fl.set_port("eth9");
  EXPECT_THAT(Call(&v1::Switch::Stub::FlushAddresses, fl), CodeIs(grpc::NOT_FOUND));
}

TEST_F(SwitchServiceTest, StaticReplacesDynamicAndPinsTheAddress) {
  ASSERT_OK(CreateBridge("veb0"));
  ASSERT_OK(AddPort("veb0", "eth1"));
  ASSERT_OK(AddPort("veb0", "eth2"));
  Inject("veb0", "eth1", kA, kB);  // kA learned on eth1
  v1::AddStaticAddressRequest st;
  st.set_bridge("veb0");
  st.set_mac("02:00:00:00:00:0a");
  st.set_port("eth2");
  ASSERT_OK(Call(&v1::Switch::Stub::AddStaticAddress, st));
  Inject("veb0", "eth1", kA, kB);  // a static entry never moves (S7)
  v1::ListAddressesRequest lr;
  lr.set_bridge("veb0");
  v1::ListAddressesResponse all;
  ASSERT_OK(Call(&v1::Switch::Stub::ListAddresses, lr, &all));
  ASSERT_EQ(all.addresses_size(), 1);
  EXPECT_EQ(all.addresses(0).port(), "eth2");
  EXPECT_EQ(all.addresses(0).type(), v1::ADDRESS_TYPE_STATIC);
  EXPECT_EQ(all.addresses(0).expires_in_seconds(), 0u);
  v1::FlushAddressesRequest fl;
  fl.set_bridge("veb0");
  fl.set_mode(static_cast<v1::FlushMode>(7));
  EXPECT_THAT(Call(&v1::Switch::Stub::FlushAddresses, fl), CodeIs(grpc::INVALID_ARGUMENT));
}

TEST_F(SwitchServiceTest, PortRemovalRemovesItsAddresses) {  // S12
  ASSERT_OK(CreateBridge("veb0"));
  ASSERT_OK(AddPort("veb0", "eth1"));
  ASSERT_OK(AddPort("veb0", "eth2"));
  Inject("veb0", "eth1", kA, kB);
  Inject("veb0", "eth2", kB, kA);
  v1::DeletePortRequest del;
  del.set_bridge("veb0");
  del.set_name("eth1");
  ASSERT_OK(Call(&v1::Switch::Stub::DeletePort, del));
  v1::ListAddressesRequest lr;
  lr.set_bridge("veb0");
  v1::ListAddressesResponse all;
  ASSERT_OK(Call(&v1::Switch::Stub::ListAddresses, lr, &all));
  ASSERT_EQ(all.addresses_size(), 1);
  EXPECT_EQ(all.addresses(0).port(), "eth2");
}

// ---- rules ---------------------------------------------------------------------------

TEST_F(SwitchServiceTest, Rules) {
  ASSERT_OK(CreateBridge("veb0"));
  ASSERT_OK(AddPort("veb0", "eth1"));
  ASSERT_OK(AddPort("veb0", "eth2"));
  v1::AddRuleRequest ar;
  ar.set_bridge("veb0");
  ar.set_port("eth1");
  v1::Rule* r = ar.mutable_rule();
  r->set_action(v1::RULE_ACTION_BLOCK);
  r->set_direction(v1::RULE_DIRECTION_IN);
  r->set_src("02:00:00:00:00:0A");
  r->set_vid(1);
  r->mutable_arp()->set_kind(v1::ARP_KIND_ARP);
  r->mutable_arp()->set_opcode(v1::ARP_OPCODE_REQUEST);
  r->mutable_arp()->set_spa("10.0.0.1");
  r->mutable_arp()->set_tha("02:00:00:00:00:0b");
  v1::AddRuleResponse added;
  ASSERT_OK(Call(&v1::Switch::Stub::AddRule, ar, &added));
  EXPECT_EQ(added.rule().index(), 0u);
  EXPECT_EQ(added.rule().src(), "02:00:00:00:00:0a");
  EXPECT_EQ(added.rule().arp().spa(), "10.0.0.1");
  EXPECT_EQ(added.rule().arp().opcode(), v1::ARP_OPCODE_REQUEST);

  v1::AddRuleRequest ar2;
  ar2.set_bridge("veb0");
  ar2.set_port("eth1");
  ar2.mutable_rule()->set_action(v1::RULE_ACTION_PASS);
  ar2.mutable_rule()->set_direction(v1::RULE_DIRECTION_IN_OUT);
  ASSERT_OK(Call(&v1::Switch::Stub::AddRule, ar2, &added));
  EXPECT_EQ(added.rule().index(), 1u);
  ar2.set_port("eth2");
  ar2.mutable_rule()->set_dst("ff:ff:ff:ff:ff:ff");
  ASSERT_OK(Call(&v1::Switch::Stub::AddRule, ar2));

  const std::string before = Config();
  v1::AddRuleRequest bad = ar;
  bad.mutable_rule()->mutable_arp()->set_spa("10.0.0.300");
  EXPECT_THAT(Call(&v1::Switch::Stub::AddRule, bad),
              StatusIs(grpc::INVALID_ARGUMENT,
                       "rule: add: arp.spa \"10.0.0.300\": invalid IPv4 address"));
  bad = ar;
  bad.mutable_rule()->set_action(v1::RULE_ACTION_UNSPECIFIED);
  EXPECT_THAT(Call(&v1::Switch::Stub::AddRule, bad), CodeIs(grpc::INVALID_ARGUMENT));
  bad = ar;
  bad.mutable_rule()->set_vid(4095);
  EXPECT_THAT(Call(&v1::Switch::Stub::AddRule, bad), CodeIs(grpc::INVALID_ARGUMENT));
  bad = ar;
  bad.mutable_rule()->mutable_arp()->set_kind(v1::ARP_KIND_UNSPECIFIED);
  EXPECT_THAT(Call(&v1::Switch::Stub::AddRule, bad), CodeIs(grpc::INVALID_ARGUMENT));
  bad = ar;
  bad.mutable_rule()->set_dst("x");
  EXPECT_THAT(Call(&v1::Switch::Stub::AddRule, bad), CodeIs(grpc::INVALID_ARGUMENT));
  bad = ar;
  bad.set_port("eth9");
  EXPECT_THAT(Call(&v1::Switch::Stub::AddRule, bad),
              StatusIs(grpc::NOT_FOUND,
                       "port \"eth9\": add rule: not a member of bridge \"veb0\""));
  EXPECT_EQ(Config(), before);

  v1::ListRulesRequest lr;
  lr.set_bridge("veb0");
  v1::ListRulesResponse list;
  ASSERT_OK(Call(&v1::Switch::Stub::ListRules, lr, &list));
  ASSERT_EQ(list.rules_size(), 3);
  EXPECT_EQ(list.rules(0).port(), "eth1");
  EXPECT_EQ(list.rules(1).index(), 1u);
  EXPECT_EQ(list.rules(2).port(), "eth2");
  EXPECT_EQ(list.rules(0).arp().tha(), "02:00:00:00:00:0b");
  lr.set_port("eth2");
  ASSERT_OK(Call(&v1::Switch::Stub::ListRules, lr, &list));
  EXPECT_EQ(list.rules_size(), 1);

  v1::FlushRulesRequest fr;
  fr.set_bridge("veb0");
  fr.set_port("eth1");
  v1::FlushRulesResponse flushed;
  ASSERT_OK(Call(&v1::Switch::Stub::FlushRules, fr, &flushed));
  EXPECT_EQ(flushed.removed(), 2u);
  EXPECT_EQ(GetPort("veb0", "eth1").rule_count(), 0u);
  EXPECT_EQ(GetPort("veb0", "eth2").rule_count(), 1u);
}

TEST_F(SwitchServiceTest, RuleLimit) {
  ASSERT_OK(CreateBridge("veb0"));
  ASSERT_OK(AddPort("veb0", "eth1"));
  v1::AddRuleRequest ar;
  ar.set_bridge("veb0");
  ar.set_port("eth1");
  ar.mutable_rule()->set_action(v1::RULE_ACTION_PASS);
  ar.mutable_rule()->set_direction(v1::RULE_DIRECTION_OUT);
  v1::AddRuleResponse resp;
  for (int i = 0; i < 1024; ++i) ASSERT_TRUE(agent_->AddRule(ar, &resp).ok());
  EXPECT_THAT(Call(&v1::Switch::Stub::AddRule, ar),
              StatusIs(grpc::RESOURCE_EXHAUSTED, "port \"eth1\": add rule: 1024 rules already"));
}

// ---- counters --------------------------------------------------------------------------

TEST_F(SwitchServiceTest, Counters) {
  ASSERT_OK(CreateBridge("veb0"));
  ASSERT_OK(AddPort("veb0", "eth1"));
  ASSERT_OK(AddPort("veb0", "eth2"));
  Inject("veb0", "eth1", kA, kB);  // unknown: flooded to eth2
  Inject("veb0", "eth2", kB, kA);  // known: unicast to eth1
  Inject("veb0", "eth1", kA, kA);  // hairpin: dropped on input
  // A multicast source is never learned: counted as INVALID_SOURCE.
  Inject("veb0", "eth2", 0x01005e000001ULL, kB);  // (and to kB on eth2: hairpin)

  v1::GetPortCountersRequest req;
  req.set_bridge("veb0");
  req.set_port("eth1");
  v1::GetPortCountersResponse resp;
  ASSERT_OK(Call(&v1::Switch::Stub::GetPortCounters, req, &resp));
  const v1::PortCounters& c = resp.counters();
  EXPECT_EQ(c.receive_packets(), 2u) << c.DebugString();
  EXPECT_EQ(c.flooded_packets(), 1u);
  EXPECT_EQ(c.transmit_packets(), 1u);
  ASSERT_EQ(c.receive_drops_size(), 18);
  ASSERT_EQ(c.transmit_drops_size(), 18);
  EXPECT_EQ(c.receive_drops(0).reason(), v1::DROP_REASON_LINK_DOWN);
  EXPECT_EQ(c.receive_drops(11).reason(), v1::DROP_REASON_HAIRPIN);
  EXPECT_EQ(c.receive_drops(11).packets(), 1u);
  EXPECT_EQ(c.receive_packets(),
            c.forwarded_packets() + c.flooded_packets() + c.receive_drops(11).packets());
  req.set_port("eth9");
  EXPECT_THAT(Call(&v1::Switch::Stub::GetPortCounters, req),
              StatusIs(grpc::NOT_FOUND,
                       "port \"eth9\": get counters: not a port of bridge \"veb0\""));

  v1::ListCountersResponse list;
  ASSERT_OK(Call(&v1::Switch::Stub::ListCounters, v1::ListCountersRequest(), &list));
  ASSERT_EQ(list.bridges_size(), 1);
  EXPECT_EQ(list.bridges(0).addresses_learned(), 2u);
  EXPECT_EQ(list.bridges(0).flooded_packets(), 1u);
  EXPECT_EQ(list.bridges(0).ports_size(), 2);
  ASSERT_EQ(list.bridges(0).learn_refused_size(), kNumLearnRefusals);
  EXPECT_EQ(list.bridges(0).learn_refused(3).reason(), v1::LEARN_REFUSED_REASON_PORT_FULL);
  EXPECT_EQ(list.bridges(0).learn_refused(2).reason(), v1::LEARN_REFUSED_REASON_INVALID_SOURCE);
  EXPECT_EQ(list.bridges(0).learn_refused(2).packets(), 1u);
  EXPECT_EQ(list.bridges(0).learn_refused(0).packets(), 0u);
  v1::ListCountersRequest lreq;
  lreq.set_bridge("nope");
  EXPECT_THAT(Call(&v1::Switch::Stub::ListCounters, lreq), CodeIs(grpc::NOT_FOUND));
}

}  // namespace
}  // namespace veb::server::switch_test
