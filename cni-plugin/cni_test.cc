#include "cni-plugin/cni.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace veb::cni {
namespace {

using ::testing::HasSubstr;
using nlohmann::json;

Env AddEnv() { return Env{"ADD", "c1", "/var/run/netns/p1", "eth0", "", "/opt/cni/bin"}; }

std::optional<Error> Parse(const json& j, NetConf* c, const Env& env = AddEnv()) {
  return ParseNetConf(j.dump(), env, c);
}

json Base() { return {{"cniVersion", "1.1.0"}, {"name", "net"}, {"type", "veb"}, {"bridge", "veb0"}}; }

TEST(CniConfTest, ParsesEveryKey) {
  json j = Base();
  j["socket"] = "/tmp/x.sock";
  j["mtu"] = 9000;
  j["mac"] = "02:00:00:00:00:01";
  j["portType"] = "tap";
  j["learning"] = false;
  j["discover"] = true;
  j["protected"] = {1, 31};
  j["vlan"] = 10;
  j["trunk"] = {20, 30};
  j["isGateway"] = true;
  j["ipam"] = {{"type", "host-local"}};
  j["unknownKey"] = "ignored";
  NetConf c;
  ASSERT_FALSE(Parse(j, &c).has_value());
  EXPECT_EQ(c.bridge, "veb0");
  EXPECT_EQ(c.socket, "/tmp/x.sock");
  EXPECT_EQ(c.mtu, 9000u);
  EXPECT_EQ(c.port_type, "tap");
  EXPECT_EQ(c.learning, false);
  EXPECT_EQ(c.discover, true);
  EXPECT_THAT(c.protected_domains, ::testing::ElementsAre(1, 31));
  EXPECT_EQ(c.vlan, 10u);
  EXPECT_THAT(c.trunk, ::testing::ElementsAre(20, 30));
  EXPECT_TRUE(c.is_gateway);
  EXPECT_EQ(c.ipam["type"], "host-local");
}

TEST(CniConfTest, AcceptsSupportedVersionsOnly) {
  for (const char* v : {"0.4.0", "1.0.0", "1.1.0"}) {
    json j = Base();
    j["cniVersion"] = v;
    NetConf c;
    EXPECT_FALSE(Parse(j, &c).has_value()) << v;
  }
  for (const char* v : {"0.3.1", "2.0.0", ""}) {
    json j = Base();
    j["cniVersion"] = v;
    NetConf c;
    auto e = Parse(j, &c);
    ASSERT_TRUE(e.has_value()) << v;
    EXPECT_EQ(e->code, kIncompatibleVersion);
    EXPECT_THAT(e->msg, HasSubstr("cniVersion"));
  }
}

TEST(CniConfTest, BadInputNamesTheProblem) {
  struct Case {
    json patch;
    int code;
    const char* text;
  };
  const Case cases[] = {
      {{{"bridge", nullptr}}, kInvalidConfig, "\"bridge\" is required"},
      {{{"bridge", "a/b"}}, kInvalidConfig, "not a valid bridge name"},
      {{{"bridge", 5}}, kInvalidConfig, "\"bridge\" has the wrong type"},
      {{{"mtu", 20}}, kInvalidConfig, "mtu 20 out of range"},
      {{{"portType", "macvlan"}}, kInvalidConfig, "portType"},
      {{{"protected", {0}}}, kInvalidConfig, "\"protected\": 0 out of range 1..31"},
      {{{"trunk", {4095}}}, kInvalidConfig, "out of range 1..4094"},
      {{{"vlan", 0}}, kInvalidConfig, "vlan 0 out of range"},
      {{{"vlan", 20}, {"trunk", {20}}}, kInvalidConfig, "vlan 20 is also in trunk"},
      {{{"locked", true}, {"learning", true}}, kInvalidConfig, "locked excludes"},
      {{{"ipam", {{"subnet", "10.0.0.0/24"}}}}, kInvalidConfig, "\"ipam\""},
      {{{"socket", "relative.sock"}}, kInvalidConfig, "absolute path"},
  };
  for (const Case& tc : cases) {
    json j = Base();
    for (auto& [k, v] : tc.patch.items()) {
      if (v.is_null()) {
        j.erase(k);
      } else {
        j[k] = v;
      }
    }
    NetConf c;
    auto e = Parse(j, &c);
    ASSERT_TRUE(e.has_value()) << tc.patch.dump();
    EXPECT_EQ(e->code, tc.code) << tc.patch.dump();
    EXPECT_THAT(e->msg, HasSubstr(tc.text)) << tc.patch.dump();
  }
}

TEST(CniConfTest, InvalidJsonIsDecodeFailure) {
  NetConf c;
  for (const char* text : {"", "{", "[1,2]", "nope"}) {
    auto e = ParseNetConf(text, AddEnv(), &c);
    ASSERT_TRUE(e.has_value()) << text;
    EXPECT_EQ(e->code, kDecodeFailure) << text;
  }
}

TEST(CniConfTest, RuntimeMacAndIpsHonoured) {
  json j = Base();
  j["runtimeConfig"] = {{"mac", "02:00:00:00:00:09"}, {"ips", {"10.1.0.5/24"}}};
  NetConf c;
  Env env = AddEnv();
  env.args = "IgnoreUnknown=1;MAC=02:00:00:00:00:07;IP=10.1.0.4";
  ASSERT_FALSE(Parse(j, &c, env).has_value());
  EXPECT_EQ(c.mac, "02:00:00:00:00:09");
  EXPECT_THAT(c.requested_ips, ::testing::ElementsAre("10.1.0.5/24"));
  NetConf c2;
  ASSERT_FALSE(Parse(Base(), &c2, env).has_value());
  EXPECT_EQ(c2.mac, "02:00:00:00:00:07");
  EXPECT_THAT(c2.requested_ips, ::testing::ElementsAre("10.1.0.4"));
}

TEST(CniConfTest, ValidAttachmentsForGc) {
  json j = Base();
  j["cni.dev/valid-attachments"] = {{{"containerID", "a"}, {"ifname", "eth0"}}};
  NetConf c;
  Env env{"GC", "", "", "", "", "/opt/cni/bin"};
  ASSERT_FALSE(Parse(j, &c, env).has_value());
  ASSERT_EQ(c.valid_attachments.size(), 1u);
  EXPECT_EQ(c.valid_attachments[0].container_id, "a");
  j["cni.dev/valid-attachments"] = {{{"containerID", "a"}}};
  EXPECT_EQ(Parse(j, &c, env)->code, kInvalidConfig);
}

TEST(CniEnvTest, RequiredVariablesPerCommand) {
  Env env = AddEnv();
  EXPECT_FALSE(ValidateEnv(env).has_value());
  env.netns.clear();
  auto e = ValidateEnv(env);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, kInvalidEnvironment);
  EXPECT_THAT(e->msg, HasSubstr("CNI_NETNS"));
  env.command = "DEL";  // netns may be gone for DEL
  EXPECT_FALSE(ValidateEnv(env).has_value());
  env.container_id = "-bad";
  EXPECT_THAT(ValidateEnv(env)->msg, HasSubstr("CNI_CONTAINERID"));
  env = AddEnv();
  env.ifname = "a-very-long-interface";
  EXPECT_THAT(ValidateEnv(env)->msg, HasSubstr("CNI_IFNAME"));
}

TEST(CniResultTest, FormatsPerVersion) {
  Result r;
  r.interfaces.push_back({"vp1", "02:00:00:00:00:01", std::nullopt, ""});
  r.interfaces.push_back({"eth0", "02:00:00:00:00:02", 1500, "/var/run/netns/p"});
  r.ips.push_back({"10.1.0.2/24", "10.1.0.1", 1});
  r.ips.push_back({"fd00::2/64", "", 1});
  r.routes.push_back({"0.0.0.0/0", ""});
  json v1 = ResultToJson(r, "1.1.0");
  EXPECT_EQ(v1["cniVersion"], "1.1.0");
  EXPECT_EQ(v1["interfaces"][1]["sandbox"], "/var/run/netns/p");
  EXPECT_EQ(v1["interfaces"][1]["mtu"], 1500);
  EXPECT_EQ(v1["ips"][0]["interface"], 1);
  EXPECT_FALSE(v1["ips"][0].contains("version"));
  EXPECT_EQ(v1["routes"][0]["dst"], "0.0.0.0/0");
  EXPECT_TRUE(v1["dns"].is_object());
  json v04 = ResultToJson(r, "0.4.0");
  EXPECT_EQ(v04["ips"][0]["version"], "4");
  EXPECT_EQ(v04["ips"][1]["version"], "6");
  Result back;
  ASSERT_FALSE(ParseResult(v04, &back).has_value());
  EXPECT_EQ(back.ips.size(), 2u);
  EXPECT_EQ(back.interfaces[1].sandbox, "/var/run/netns/p");
  EXPECT_EQ(ParseResult(json{{"ips", {{{"gateway", "x"}}}}}, &back)->code, kDecodeFailure);
}

}  // namespace
}  // namespace veb::cni
