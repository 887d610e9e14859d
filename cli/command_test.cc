#include "cli/command.h"

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace veb::cli {
namespace {

using ::testing::HasSubstr;

// "rpc json" of a command line, with the request as compact protobuf JSON.
std::string Parsed(const std::string& line) {
  std::vector<std::string> words = absl::StrSplit(line, ' ', absl::SkipEmpty());
  auto inv = ParseCommand(words);
  if (!inv.ok()) return "error: " + std::string(inv.status().message());
  std::string json;
  if (inv->request) {
    google::protobuf::util::JsonPrintOptions o;
    o.preserve_proto_field_names = true;
    (void)google::protobuf::util::MessageToJsonString(*inv->request, &json, o);
  }
  return inv->rpc + " " + json;
}

TEST(CommandTest, AgentCommands) {
  EXPECT_EQ(Parsed("list"), "ListBridges {}");
  EXPECT_EQ(Parsed("health"), "Health ");
  EXPECT_EQ(Parsed("watch veb0"), R"(WatchEvents {"bridge":"veb0"})");
  EXPECT_EQ(Parsed("create veb0"), R"(CreateBridge {"name":"veb0"})");
  EXPECT_EQ(Parsed("create veb0 engine kernel"),
            R"(CreateBridge {"name":"veb0","engine":"ENGINE_KERNEL"})");
  EXPECT_THAT(Parsed("create veb0 engine fast"), HasSubstr("engine \"fast\": use userspace or kernel"));
  EXPECT_EQ(Parsed("create veb0 maxaddr 1000 timeout 60 pvid none link0"),
            R"(CreateBridge {"name":"veb0","settings":{"max_addresses":1000,)"
            R"("address_timeout_seconds":60,"default_pvid":{"none":true},"allow_svlan":true,)"
            R"("allow_reserved_addresses":true}})");
  EXPECT_EQ(Parsed("destroy veb0 force"), R"(DeleteBridge {"name":"veb0","force":true})");
}

TEST(CommandTest, BridgeSettings) {
  EXPECT_EQ(Parsed("veb0 down"), R"(UpdateBridge {"name":"veb0","settings":{"up":false}})");
  EXPECT_EQ(Parsed("veb0 maxaddr 5"), R"(UpdateBridge {"name":"veb0","settings":{"max_addresses":5}})");
  EXPECT_EQ(Parsed("veb0 timeout 240"),
            R"(UpdateBridge {"name":"veb0","settings":{"address_timeout_seconds":240}})");
  EXPECT_EQ(Parsed("veb0 -svlan"), R"(UpdateBridge {"name":"veb0","settings":{"allow_svlan":false}})");
  EXPECT_EQ(Parsed("veb0 show"), R"(Show {"name":"veb0"})");
}

TEST(CommandTest, Ports) {
  EXPECT_EQ(Parsed("veb0 add veth1"), R"(AddPort {"bridge":"veb0","name":"veth1"})");
  EXPECT_EQ(Parsed("veb0 add tap0 backend tap"),
            R"(AddPort {"bridge":"veb0","name":"tap0","backend":"BACKEND_TAP"})");
  EXPECT_EQ(Parsed("veb0 addspan mon0"), R"(AddSpanPort {"bridge":"veb0","name":"mon0"})");
  EXPECT_EQ(Parsed("veb0 del veth1"), R"(DeletePort {"bridge":"veb0","name":"veth1"})");
  EXPECT_EQ(Parsed("veb0 delspan mon0"), R"(DeleteSpanPort {"bridge":"veb0","name":"mon0"})");
  EXPECT_EQ(Parsed("veb0 -learning veth1"),
            R"(UpdatePort {"bridge":"veb0","name":"veth1","settings":{"learning":false}})");
  EXPECT_EQ(Parsed("veb0 blocknonip veth1"),
            R"(UpdatePort {"bridge":"veb0","name":"veth1","settings":{"blocknonip":true}})");
  EXPECT_EQ(Parsed("veb0 locked veth1"),
            R"(UpdatePort {"bridge":"veb0","name":"veth1","settings":{"learning":false,)"
            R"("discover":false,"locked":true}})");
  EXPECT_EQ(Parsed("veb0 protected veth1 1,2"),
            R"(UpdatePort {"bridge":"veb0","name":"veth1","settings":{"protected_domains":{"domains":[1,2]}}})");
  EXPECT_EQ(Parsed("veb0 -protected veth1"),
            R"(UpdatePort {"bridge":"veb0","name":"veth1","settings":{"protected_domains":{}}})");
  EXPECT_EQ(Parsed("veb0 untagged veth1 10"),
            R"(UpdatePort {"bridge":"veb0","name":"veth1","settings":{"pvid":{"vid":10}}})");
  EXPECT_EQ(Parsed("veb0 untagged veth1 none"),
            R"(UpdatePort {"bridge":"veb0","name":"veth1","settings":{"pvid":{"none":true}}})");
  EXPECT_EQ(Parsed("veb0 tagged veth1 +10,20"),
            R"(UpdatePort {"bridge":"veb0","name":"veth1","add_tagged_vids":[10,20]})");
  EXPECT_EQ(Parsed("veb0 tagged veth1 -10"),
            R"(UpdatePort {"bridge":"veb0","name":"veth1","remove_tagged_vids":[10]})");
  EXPECT_EQ(Parsed("veb0 tagged veth1 30,40"),
            R"(UpdatePort {"bridge":"veb0","name":"veth1","settings":{"tagged_vids":{"vids":[30,40]}}})");
  EXPECT_EQ(Parsed("veb0 ifmaxaddr veth1 4"),
            R"(UpdatePort {"bridge":"veb0","name":"veth1","settings":{"max_addresses":4}})");
  EXPECT_EQ(Parsed("veb0 ifmaxaddr veth1 0"),
            R"(UpdatePort {"bridge":"veb0","name":"veth1","settings":{"max_addresses":0}})");
  EXPECT_EQ(Parsed("veb0 ports"), R"(ListPorts {"bridge":"veb0"})");
}

TEST(CommandTest, Addresses) {
  EXPECT_EQ(Parsed("veb0 static 02:00:00:00:00:01 veth1"),
            R"(AddStaticAddress {"bridge":"veb0","mac":"02:00:00:00:00:01","port":"veth1"})");
  EXPECT_EQ(Parsed("veb0 static 02:00:00:00:00:01 veth1 vid 10"),
            R"(AddStaticAddress {"bridge":"veb0","mac":"02:00:00:00:00:01","port":"veth1","vid":10})");
  EXPECT_EQ(Parsed("veb0 deladdr 02:00:00:00:00:01"),
            R"(DeleteAddress {"bridge":"veb0","mac":"02:00:00:00:00:01"})");
  EXPECT_EQ(Parsed("veb0 flush"), R"(FlushAddresses {"bridge":"veb0","mode":"FLUSH_MODE_DYNAMIC"})");
  EXPECT_EQ(Parsed("veb0 flushall veth1"),
            R"(FlushAddresses {"bridge":"veb0","mode":"FLUSH_MODE_ALL","port":"veth1"})");
  EXPECT_EQ(Parsed("veb0 addr"), R"(ListAllAddresses {"bridge":"veb0"})");
}

TEST(CommandTest, RulesLikeIfconfig) {
  EXPECT_EQ(Parsed("veb0 rule block in on veth1 src 02:00:00:00:00:01 arp request spa 10.0.0.1"),
            R"(AddRule {"bridge":"veb0","port":"veth1","rule":{"action":"RULE_ACTION_BLOCK",)"
            R"("direction":"RULE_DIRECTION_IN","src":"02:00:00:00:00:01","arp":{"kind":"ARP_KIND_ARP",)"
            R"("opcode":"ARP_OPCODE_REQUEST","spa":"10.0.0.1"}}})");
  EXPECT_EQ(Parsed("veb0 rule pass in/out on veth2 dst ff:ff:ff:ff:ff:ff vid 20"),
            R"(AddRule {"bridge":"veb0","port":"veth2","rule":{"action":"RULE_ACTION_PASS",)"
            R"("direction":"RULE_DIRECTION_IN_OUT","dst":"ff:ff:ff:ff:ff:ff","vid":20}})");
  EXPECT_EQ(Parsed("veb0 rules veth1"), R"(ListRules {"bridge":"veb0","port":"veth1"})");
  EXPECT_EQ(Parsed("veb0 flushrule veth1"), R"(FlushRules {"bridge":"veb0","port":"veth1"})");
}

TEST(CommandTest, Vports) {
  EXPECT_EQ(Parsed("veb0 vport host veb0gw ip 10.0.0.1/24 mtu 9000"),
            R"(CreateVport {"bridge":"veb0","kind":"VPORT_KIND_HOST","name":"veb0gw","mtu":9000,)"
            R"("ip_prefixes":["10.0.0.1/24"]})");
  EXPECT_EQ(Parsed("veb0 vport pod /var/run/netns/pod1 eth0 type tap mac 02:00:00:00:00:05"),
            R"(CreateVport {"bridge":"veb0","kind":"VPORT_KIND_POD","mac":"02:00:00:00:00:05",)"
            R"("pod":{"netns":"/var/run/netns/pod1","attachment":{"container_id":"pod1","ifname":"eth0"},)"
            R"("type":"VPORT_TYPE_TAP"}})");
  EXPECT_EQ(Parsed("veb0 delvport vp1234"), R"(DeleteVport {"bridge":"veb0","name":"vp1234"})");
  EXPECT_EQ(Parsed("veb0 vports"), R"(ListVports {"bridge":"veb0"})");
  EXPECT_THAT(Parsed("veb0 vport vm x"), HasSubstr("expected host, pod or vxlan"));
  EXPECT_THAT(Parsed("veb0 vport host h ip"), HasSubstr("missing ip value"));
}

TEST(CommandTest, TunnelVports) {
  EXPECT_EQ(Parsed("veb0 vport vxlan vx0 vni 42"),
            R"(CreateVport {"bridge":"veb0","kind":"VPORT_KIND_TUNNEL","name":"vx0",)"
            R"("tunnel":{"vni":42}})");
  EXPECT_EQ(Parsed("veb0 vport vxlan vx0 vni 16777215 local 10.0.0.1 dev eth0 dstport 8472 "
                   "mtu 1450 peers 10.0.0.2,10.0.0.3"),
            R"(CreateVport {"bridge":"veb0","kind":"VPORT_KIND_TUNNEL","name":"vx0","mtu":1450,)"
            R"("tunnel":{"vni":16777215,"local":"10.0.0.1","underlay":"eth0","dstport":8472,)"
            R"("peers":["10.0.0.2","10.0.0.3"]}})");
  EXPECT_THAT(Parsed("veb0 vport vxlan vx0"), HasSubstr("missing vni"));
  EXPECT_THAT(Parsed("veb0 vport vxlan vx0 id 42"), HasSubstr("expected vni, got \"id\""));
  EXPECT_THAT(Parsed("veb0 vport vxlan vx0 vni x"), HasSubstr("vni"));
  EXPECT_THAT(Parsed("veb0 vport vxlan vx0 vni 1 ip 1.2.3.4/8"),
              HasSubstr("unknown option \"ip 1.2.3.4/8\""));
  EXPECT_THAT(Parsed("veb0 vport pod /n eth0 vni 5"), HasSubstr("unknown option \"vni 5\""));

  EXPECT_EQ(Parsed("veb0 peers vx0"), R"(GetVport {"bridge":"veb0","name":"vx0"})");
  EXPECT_EQ(Parsed("veb0 peers vx0 set 10.0.0.2,fd00::2"),
            R"(SetVportPeers {"bridge":"veb0","name":"vx0","op":"PEERS_OP_SET",)"
            R"("peers":["10.0.0.2","fd00::2"]})");
  EXPECT_EQ(Parsed("veb0 peers vx0 10.0.0.2"),
            R"(SetVportPeers {"bridge":"veb0","name":"vx0","op":"PEERS_OP_SET","peers":["10.0.0.2"]})");
  EXPECT_EQ(Parsed("veb0 peers vx0 add 10.0.0.4"),
            R"(SetVportPeers {"bridge":"veb0","name":"vx0","op":"PEERS_OP_ADD","peers":["10.0.0.4"]})");
  EXPECT_EQ(Parsed("veb0 peers vx0 del 10.0.0.4"),
            R"(SetVportPeers {"bridge":"veb0","name":"vx0","op":"PEERS_OP_DEL","peers":["10.0.0.4"]})");
  EXPECT_EQ(Parsed("veb0 peers vx0 set none"),
            R"(SetVportPeers {"bridge":"veb0","name":"vx0","op":"PEERS_OP_SET"})");
  EXPECT_THAT(Parsed("veb0 peers vx0 add"), HasSubstr("missing peer addresses"));
  EXPECT_THAT(Parsed("veb0 peers vx0 add 10.0.0.1,,10.0.0.2"), HasSubstr("empty address"));
  EXPECT_THAT(Parsed("veb0 peers vx0 add 10.0.0.1 10.0.0.2"), HasSubstr("10.0.0.2"));
  EXPECT_THAT(Parsed("veb0 vport pod /n eth0 ip 1.2.3.4/8"), HasSubstr("unknown option \"ip 1.2.3.4/8\""));
}

TEST(CommandTest, Counters) {
  EXPECT_EQ(Parsed("veb0 counters"), R"(ListCounters {"bridge":"veb0"})");
  EXPECT_EQ(Parsed("veb0 counters veth1"), R"(GetPortCounters {"bridge":"veb0","port":"veth1"})");
}

TEST(CommandTest, SyntaxErrorsSayWhat) {
  EXPECT_THAT(Parsed(""), HasSubstr("missing command"));
  EXPECT_THAT(Parsed("veb0"), HasSubstr("missing command after \"veb0\""));
  EXPECT_THAT(Parsed("veb0 frobnicate"), HasSubstr("unknown command \"frobnicate\""));
  EXPECT_THAT(Parsed("veb0 add"), HasSubstr("missing add interface"));
  EXPECT_THAT(Parsed("veb0 add a b"), HasSubstr("unexpected \"b\""));
  EXPECT_THAT(Parsed("veb0 add a backend dpdk"), HasSubstr("backend \"dpdk\""));
  EXPECT_THAT(Parsed("veb0 maxaddr lots"), HasSubstr("maxaddr: \"lots\" is not a number"));
  EXPECT_THAT(Parsed("veb0 ifmaxaddr p"), HasSubstr("missing ifmaxaddr value"));
  EXPECT_THAT(Parsed("veb0 ifmaxaddr p -1"), HasSubstr("ifmaxaddr: \"-1\" is not a number"));
  EXPECT_THAT(Parsed("veb0 protected p 1,x"), HasSubstr("protected: \"x\" is not a number"));
  EXPECT_THAT(Parsed("veb0 rule drop in on p"), HasSubstr("expected block or pass"));
  EXPECT_THAT(Parsed("veb0 rule block in p"), HasSubstr("expected \"on PORT\""));
  EXPECT_THAT(Parsed("veb0 rule block in on p spa 1.2.3.4"), HasSubstr("needs arp or rarp"));
  EXPECT_THAT(Parsed("veb0 rule block in on p color red"), HasSubstr("unknown word \"color\""));
  EXPECT_THAT(Parsed("create veb0 speed 10"), HasSubstr("unknown setting \"speed\""));
  EXPECT_THAT(Parsed("list extra"), HasSubstr("unexpected \"extra\""));
}

// A bridge named like an agent command is reached after "--"; without it the
// word is the command.
TEST(CommandTest, DoubleDashMakesTheNextWordABridge) {
  EXPECT_EQ(Parsed("create create"), R"(CreateBridge {"name":"create"})");
  EXPECT_EQ(Parsed("-- create show"), R"(Show {"name":"create"})");
  EXPECT_EQ(Parsed("-- create add eth1"),
            R"(AddPort {"bridge":"create","name":"eth1"})");
  EXPECT_EQ(Parsed("-- list addr"), R"(ListAllAddresses {"bridge":"list"})");
  EXPECT_EQ(Parsed("-- addr addr"), R"(ListAllAddresses {"bridge":"addr"})");
  EXPECT_EQ(Parsed("-- destroy down"), R"(UpdateBridge {"name":"destroy","settings":{"up":false}})");
  EXPECT_EQ(Parsed("-- health vports"), R"(ListVports {"bridge":"health"})");
  EXPECT_EQ(Parsed("-- watch ports"), R"(ListPorts {"bridge":"watch"})");
  EXPECT_EQ(Parsed("-- -o show"), R"(Show {"name":"-o"})");
  EXPECT_EQ(Parsed("-- -- show"), R"(Show {"name":"--"})");
  // Without "--" the same words are agent commands.
  EXPECT_THAT(Parsed("create add eth1"), HasSubstr("unknown setting \"eth1\""));
  EXPECT_THAT(Parsed("list addr"), HasSubstr("unexpected \"addr\""));
  EXPECT_THAT(Parsed("--"), HasSubstr("missing bridge name after \"--\""));
  EXPECT_THAT(Parsed("-- list"), HasSubstr("missing command after \"list\""));
  EXPECT_THAT(Parsed("-- list frob"), HasSubstr("unknown command \"frob\""));
}

// Names longer than the agent accepts are refused before sending, quoting a
// prefix only; so is any word longer than any value can be.
TEST(CommandTest, OverlongNamesAreRefusedLocally) {
  const std::string huge(3 << 20, 'b');  // 3 MB
  const std::string big(20 << 10, 'b');  // 20 KB
  const std::string shown = "\"" + std::string(kMaxQuoted, 'b') + "\xe2\x80\xa6\" (";
  struct Case {
    std::vector<std::string> words;
    std::string text;
  };
  const Case cases[] = {
      {{"create", big}, "bridge name " + shown + "20480 bytes) is longer than 15 bytes"},
      {{big, "show"}, "bridge name " + shown + "20480 bytes) is longer than 15 bytes"},
      {{"--", big, "addr"}, "bridge name " + shown + "20480 bytes) is longer than 15 bytes"},
      {{"destroy", "0123456789abcdef"}, "bridge name \"0123456789abcdef\" is longer than 15 bytes"},
      {{"watch", big}, "bridge name"},
      {{"veb0", "add", big}, "port name " + shown + "20480 bytes) is longer than 15 bytes"},
      {{"veb0", "addspan", big}, "span port name"},
      {{"veb0", "static", "02:00:00:00:00:01", big}, "port name"},
      {{"veb0", "rule", "block", "in", "on", big}, "port name"},
      {{"veb0", "delvport", big}, "vport name"},
      {{"veb0", "vport", "host", big}, "vport name"},
      {{"veb0", "vport", "pod", "/n", big}, "interface name"},
      {{"create", huge}, "bridge name " + shown + "3145728 bytes) is longer than 15 bytes"},
      {{"veb0", "static", huge, "eth1"}, "argument " + shown + "3145728 bytes) is longer than 4096 bytes"},
      {{"veb0", "vport", "pod", "/" + huge, "eth0"}, "is longer than 4096 bytes"},
  };
  for (const Case& tc : cases) {
    auto inv = ParseCommand(tc.words);
    ASSERT_FALSE(inv.ok()) << tc.text;
    const std::string msg(inv.status().message());
    EXPECT_THAT(msg, HasSubstr(tc.text));
    EXPECT_THAT(msg, HasSubstr("not sent to the agent"));
    EXPECT_LT(msg.size(), 200u) << tc.text;
  }
  // 15 bytes is fine; a long netns path is not a name.
  EXPECT_TRUE(ParseCommand({"create", "0123456789abcde"}).ok());
  EXPECT_TRUE(ParseCommand({"veb0", "vport", "pod", "/" + std::string(4000, 'n'), "eth0"}).ok());
  // Syntax errors quote a prefix of an unknown long word.
  auto inv = ParseCommand({"veb0", huge});
  ASSERT_FALSE(inv.ok());
  EXPECT_THAT(std::string(inv.status().message()), HasSubstr("unknown command " + shown + "3145728 bytes)"));
  EXPECT_LT(inv.status().message().size(), 200u);
}

}  // namespace
}  // namespace veb::cli
