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
  j["engine"] = "userspace";
  j["learning"] = false;
  j["discover"] = true;
  j["pinMac"] = false;
  j["arpGuard"] = false;
  j["maxAddresses"] = 0;
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
  EXPECT_EQ(c.engine, "userspace");
  EXPECT_EQ(c.mtu, 9000u);
  EXPECT_EQ(c.port_type, "tap");
  EXPECT_EQ(c.learning, false);
  EXPECT_EQ(c.discover, true);
  EXPECT_THAT(c.protected_domains, ::testing::ElementsAre(1, 31));
  EXPECT_EQ(c.vlan, 10u);
  EXPECT_THAT(c.trunk, ::testing::ElementsAre(20, 30));
  EXPECT_TRUE(c.is_gateway);
  EXPECT_EQ(c.ipam["type"], "host-local");
  EXPECT_FALSE(c.locked);
  EXPECT_FALSE(c.arp_guard);
  EXPECT_EQ(c.max_addresses, 0u);
}

TEST(CniConfTest, PodPortsAreHardenedByDefault) {
  NetConf c;
  ASSERT_FALSE(Parse(Base(), &c).has_value());
  EXPECT_TRUE(c.locked);
  EXPECT_TRUE(c.arp_guard);
  EXPECT_EQ(c.max_addresses, kDefaultPodMaxAddresses);
  // "locked": true (the older key) pins even with "pinMac": false.
  json j = Base();
  j["pinMac"] = false;
  j["locked"] = true;
  NetConf d;
  ASSERT_FALSE(Parse(j, &d).has_value());
  EXPECT_TRUE(d.locked);
  j["locked"] = false;
  j["learning"] = true;
  NetConf e;
  ASSERT_FALSE(Parse(j, &e).has_value());
  EXPECT_FALSE(e.locked);
  EXPECT_EQ(e.learning, true);
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
      {{{"engine", "fast"}}, kInvalidConfig, "engine \"fast\" must be \"userspace\" or \"kernel\""},
      {{{"engine", "kernel"}, {"portType", "tap"}}, kInvalidConfig, "needs the userspace engine"},
      {{{"protected", {0}}}, kInvalidConfig, "\"protected\": 0 out of range 1..31"},
      {{{"trunk", {4095}}}, kInvalidConfig, "out of range 1..4094"},
      {{{"vlan", 0}}, kInvalidConfig, "vlan 0 out of range"},
      {{{"vlan", 20}, {"trunk", {20}}}, kInvalidConfig, "vlan 20 is also in trunk"},
      {{{"locked", true}, {"learning", true}}, kInvalidConfig, "locked excludes"},
      {{{"learning", true}}, kInvalidConfig, "\"pinMac\": false turns that off"},
      {{{"discover", true}}, kInvalidConfig, "locked excludes"},
      {{{"pinMac", "no"}}, kInvalidConfig, "\"pinMac\" has the wrong type"},
      {{{"arpGuard", 1}}, kInvalidConfig, "\"arpGuard\" has the wrong type"},
      {{{"maxAddresses", 1000001}}, kInvalidConfig, "maxAddresses 1000001 out of range"},
      {{{"maxAddresses", -1}}, kInvalidConfig, "maxAddresses"},
      {{{"maxAddresses", "4"}}, kInvalidConfig, "maxAddresses"},
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

// Every hostile stdin is a decoding failure (6) naming the reason.
TEST(CniConfTest, HostileStdinIsDecodeFailureNamingTheReason) {
  struct Case {
    std::string text;
    const char* reason;
  };
  const std::string deep_arrays = std::string(50000, '[') + std::string(50000, ']');
  std::string deep_objects;
  for (int i = 0; i < 50000; ++i) deep_objects += "{\"a\":";
  deep_objects += "1" + std::string(50000, '}');
  std::string big = Base().dump();
  big.insert(big.size() - 1, ",\"pad\":\"" + std::string(2 << 20, 'x') + "\"");
  const Case cases[] = {
      {"{\"cniVersion\":\"1.1.0\",\"bridge\":\"veb\xff\"}", "not valid UTF-8: invalid byte 0xff at offset 35"},
      {"\xfe{}", "invalid byte 0xfe at offset 0"},
      {"{\"a\":\"\xc0\xaf\"}", "invalid byte 0xc0 at offset 6"},          // overlong '/'
      {"{\"a\":\"\xed\xa0\x80\"}", "invalid byte 0xed at offset 6"},      // surrogate
      {"{\"a\":\"\xf4\x90\x80\x80\"}", "invalid byte 0xf4 at offset 6"},  // > U+10FFFF
      {"{\"a\":\"\xe2\x82\"}", "invalid byte 0xe2 at offset 6"},          // truncated
      {deep_arrays, "deeper than the limit of 64 levels (at offset 64)"},
      {deep_objects, "deeper than the limit of 64 levels"},
      {big, "more than the limit of 1048576 bytes"},
      {"{\"a\":1,}", "not valid JSON"},
  };
  for (const Case& tc : cases) {
    NetConf c;
    auto e = ParseNetConf(tc.text, AddEnv(), &c);
    ASSERT_TRUE(e.has_value()) << tc.reason;
    EXPECT_EQ(e->code, kDecodeFailure) << tc.reason;
    EXPECT_THAT(e->msg, HasSubstr("network configuration")) << tc.reason;
    EXPECT_THAT(e->msg, HasSubstr(tc.reason));
    EXPECT_LE(e->details.size(), 300u);
    // The error itself prints as JSON (nothing echoed is invalid UTF-8).
    EXPECT_NO_THROW((void)json::parse(e->ToJson("1.1.0").dump()));
  }
}

TEST(CniConfTest, DepthLimitIsExactAndStringsDoNotCount) {
  auto nested = [](int depth) {
    std::string s = "{\"cniVersion\":\"1.1.0\",\"name\":\"n\",\"type\":\"veb\",\"bridge\":\"veb0\",\"x\":";
    s += std::string(depth - 1, '[') + std::string(depth - 1, ']') + "}";
    return s;
  };
  NetConf c;
  EXPECT_FALSE(ParseNetConf(nested(kMaxConfigDepth), AddEnv(), &c).has_value());
  auto e = ParseNetConf(nested(kMaxConfigDepth + 1), AddEnv(), &c);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, kDecodeFailure);
  json j = Base();
  j["note"] = std::string(1000, '[') + "\\\"{";  // brackets and an escaped quote in a string
  NetConf c2;
  EXPECT_FALSE(Parse(j, &c2).has_value());
  // Valid multi-byte UTF-8 passes.
  j["note"] = "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80";
  EXPECT_FALSE(Parse(j, &c2).has_value());
}

TEST(CniConfTest, MtuMustBeAnIntegerInRange) {
  struct Case {
    json mtu;
    const char* text;
  };
  const Case cases[] = {
      {"1500", "mtu \"1500\" is not an integer (68..65535)"},
      {"abc", "mtu \"abc\" is not an integer (68..65535)"},
      {1500.5, "mtu 1500.5 is not an integer (68..65535)"},
      {1500.0, "mtu 1500.0 is not an integer (68..65535)"},
      {true, "mtu true is not an integer (68..65535)"},
      {json::array({1500}), "mtu [1500] is not an integer (68..65535)"},
      {-1, "mtu -1 out of range 68..65535"},
      {67, "mtu 67 out of range 68..65535"},
      {65536, "mtu 65536 out of range 68..65535"},
      {70000, "mtu 70000 out of range 68..65535"},
      {json(uint64_t{18446744073709551615u}), "mtu 18446744073709551615 out of range 68..65535"},
      {json(int64_t{-4294965796}), "mtu -4294965796 out of range 68..65535"},  // -2^32 + 1500
  };
  for (const Case& tc : cases) {
    json j = Base();
    j["mtu"] = tc.mtu;
    NetConf c;
    auto e = Parse(j, &c);
    ASSERT_TRUE(e.has_value()) << tc.mtu.dump();
    EXPECT_EQ(e->code, kInvalidConfig) << tc.mtu.dump();
    EXPECT_EQ(e->msg, tc.text);
  }
  for (int ok : {68, 1500, 65535}) {
    json j = Base();
    j["mtu"] = ok;
    NetConf c;
    ASSERT_FALSE(Parse(j, &c).has_value()) << ok;
    EXPECT_EQ(c.mtu, static_cast<uint32_t>(ok));
  }
  json j = Base();
  j["vlan"] = 10.5;
  NetConf c;
  EXPECT_EQ(Parse(j, &c)->msg, "vlan 10.5 is not an integer (1..4094)");
}

// Inputs are echoed as a prefix of kMaxQuoted bytes, however long they are.
TEST(CniConfTest, LongInputsAreQuotedAsAPrefix) {
  const std::string huge(3 << 20, 'b');  // 3 MB
  const std::string prefix = "\"" + std::string(kMaxQuoted, 'b') + "\xe2\x80\xa6\"";
  struct Case {
    const char* key;
    json value;
    int code;
    const char* text;
  };
  const Case cases[] = {
      {"bridge", huge.substr(0, 900000), kInvalidConfig, " is not a valid bridge name"},
      {"socket", "/" + huge.substr(0, 900000), kInvalidConfig, " bytes, longer than a unix socket path (107)"},
      {"portType", huge.substr(0, 900000), kInvalidConfig, " must be \"veth\" or \"tap\""},
      {"mac", huge.substr(0, 900000), kInvalidConfig, " is not a MAC address"},
      {"cniVersion", huge.substr(0, 900000), kIncompatibleVersion, " is not supported"},
      {"mtu", huge.substr(0, 900000), kInvalidConfig, " is not an integer"},
  };
  for (const Case& tc : cases) {
    json j = Base();
    j[tc.key] = tc.value;
    NetConf c;
    auto e = Parse(j, &c);
    ASSERT_TRUE(e.has_value()) << tc.key;
    EXPECT_EQ(e->code, tc.code) << tc.key;
    EXPECT_THAT(e->msg, HasSubstr(tc.text)) << tc.key;
    EXPECT_LT(e->msg.size(), 200u) << tc.key;
    EXPECT_THAT(e->msg, HasSubstr("\xe2\x80\xa6")) << tc.key;
  }
  json j = Base();
  j["ipam"] = {{"type", huge.substr(0, 900000)}};
  NetConf c;
  auto e = Parse(j, &c);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->msg, "ipam type " + prefix + " is not a plugin file name");

  Env env = AddEnv();
  env.container_id = huge;
  e = ValidateEnv(env);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, kInvalidEnvironment);
  EXPECT_LT(e->msg.size(), 250u);
  EXPECT_THAT(e->msg, HasSubstr("CNI_CONTAINERID " + prefix));
  env = AddEnv();
  env.netns = "/" + huge;
  e = ValidateEnv(env);
  ASSERT_TRUE(e.has_value());
  EXPECT_THAT(e->msg, HasSubstr("CNI_NETNS"));
  EXPECT_THAT(e->msg, HasSubstr("longer than a path (4095)"));
  EXPECT_LT(e->msg.size(), 200u);
}

TEST(CniErrorTest, PrefixNeverCutsACharacterAndDumpNeverThrows) {
  EXPECT_EQ(Prefix("abc", 3), "abc");
  EXPECT_EQ(Prefix("abcd", 3), "abc\xe2\x80\xa6");
  // "\xe2\x82\xac" is one character (the euro sign): cut before it, not inside.
  EXPECT_EQ(Prefix("ab\xe2\x82\xac", 3), "ab\xe2\x80\xa6");
  EXPECT_EQ(Prefix("ab\xe2\x82\xac", 4), "ab\xe2\x80\xa6");
  Error e{kDecodeFailure, "bad \xff byte", std::string(10000, 'd')};
  std::string text;
  ASSERT_NO_THROW(text = Dump(e.ToJson("1.1.0")));
  json j = json::parse(text);
  EXPECT_EQ(j["code"], kDecodeFailure);
  EXPECT_EQ(j["msg"], "bad \xef\xbf\xbd byte");  // U+FFFD
  EXPECT_LE(j["details"].get<std::string>().size(), kMaxErrorText + 3);
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
