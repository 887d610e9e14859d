// veb-node-config's rendering: range math, the Node object, the conflist and
// the startup file, the errors; the underlay lookup against this machine's
// loopback (real getifaddrs and SIOCGIFMTU).
#include "cni-plugin/node_config.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace veb::cni {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;

TEST(Ipv4PrefixTest, ParsesAndFormats) {
  auto p = ParseIpv4Prefix("10.244.0.0/16", "x");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(FormatIpv4(p->network), "10.244.0.0");
  EXPECT_EQ(p->length, 16);
  EXPECT_EQ(FormatIpv4(p->Last()), "10.244.255.255");
  auto all = ParseIpv4Prefix("0.0.0.0/0", "x");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(FormatIpv4(all->Last()), "255.255.255.255");
  auto host = ParseIpv4Prefix("192.0.2.7/32", "x");
  ASSERT_TRUE(host.ok());
  EXPECT_EQ(FormatIpv4(host->Last()), "192.0.2.7");
}

TEST(Ipv4PrefixTest, RefusesMalformedAndHostBits) {
  for (const char* bad : {"10.244.0.0", "10.244.0.0/33", "10.244.0.0/-1", "10.244.0/16",
                          "fd00::/64", "10.244.0.0/1x", ""}) {
    auto p = ParseIpv4Prefix(bad, "cluster pod subnet");
    EXPECT_FALSE(p.ok()) << bad;
    EXPECT_THAT(p.status().message(), HasSubstr("cluster pod subnet")) << bad;
  }
  auto p = ParseIpv4Prefix("10.244.1.1/24", "podCIDR");
  ASSERT_FALSE(p.ok());
  EXPECT_THAT(p.status().message(), HasSubstr("host bits set (the network is 10.244.1.0/24)"));
}

TEST(Ipv4PrefixTest, Contains) {
  auto c = *ParseIpv4Prefix("10.244.0.0/16", "x");
  EXPECT_TRUE(c.Contains(*ParseIpv4Prefix("10.244.7.0/24", "x")));
  EXPECT_TRUE(c.Contains(c));
  EXPECT_FALSE(c.Contains(*ParseIpv4Prefix("10.245.0.0/24", "x")));
  EXPECT_FALSE(c.Contains(*ParseIpv4Prefix("10.0.0.0/8", "x")));  // larger
  EXPECT_TRUE(ParseIpv4Prefix("0.0.0.0/0", "x")->Contains(c));
}

TEST(RangeForNodeTest, PodCidrInsideClusterCidr) {
  auto r = RangeForNode("n1", "10.244.0.0/16", "10.244.3.0/24");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->subnet, "10.244.0.0/16");
  EXPECT_EQ(r->gateway, "10.244.3.1");
  EXPECT_EQ(r->range_start, "10.244.3.1");
  EXPECT_EQ(r->range_end, "10.244.3.254");
  // A /30 holds the gateway and one pod; a /26 at an odd offset.
  auto small = RangeForNode("n2", "10.0.0.0/8", "10.1.2.4/30");
  ASSERT_TRUE(small.ok()) << small.status();
  EXPECT_EQ(small->gateway, "10.1.2.5");
  EXPECT_EQ(small->range_end, "10.1.2.6");
  auto mid = RangeForNode("n3", "10.244.0.0/16", "10.244.255.192/26");
  ASSERT_TRUE(mid.ok());
  EXPECT_EQ(mid->gateway, "10.244.255.193");
  EXPECT_EQ(mid->range_end, "10.244.255.254");
}

TEST(RangeForNodeTest, Errors) {
  auto outside = RangeForNode("n1", "10.244.0.0/16", "10.96.0.0/24");
  ASSERT_FALSE(outside.ok());
  EXPECT_THAT(outside.status().message(),
              HasSubstr("node \"n1\": podCIDR 10.96.0.0/24 is not inside the cluster pod subnet "
                        "10.244.0.0/16"));
  auto tiny = RangeForNode("n1", "10.244.0.0/16", "10.244.0.4/31");
  ASSERT_FALSE(tiny.ok());
  EXPECT_THAT(tiny.status().message(), HasSubstr("too small"));
  auto bad = RangeForNode("n1", "10.244.0.0/16", "10.244.0.0/24x");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("node \"n1\": podCIDR"));
  EXPECT_FALSE(RangeForNode("n1", "10.244.0.0/99", "10.244.0.0/24").ok());
}

TEST(PodCidrOfNodeTest, FromSpec) {
  auto a = PodCidrOfNode(R"({"kind":"Node","metadata":{"name":"n1"},"spec":{"podCIDR":"10.244.1.0/24"}})");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(*a, "10.244.1.0/24");
  // Dual stack, IPv6 first: the IPv4 one.
  auto b = PodCidrOfNode(
      R"({"metadata":{"name":"n1"},"spec":{"podCIDR":"fd00:1::/64","podCIDRs":["fd00:1::/64","10.244.2.0/24"]}})");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(*b, "10.244.2.0/24");
}

TEST(PodCidrOfNodeTest, MissingNamesTheNodeAndTheCause) {
  auto a = PodCidrOfNode(R"({"kind":"Node","metadata":{"name":"n7"},"spec":{}})");
  ASSERT_FALSE(a.ok());
  EXPECT_THAT(a.status().message(), HasSubstr("node \"n7\": spec.podCIDR is empty"));
  EXPECT_THAT(a.status().message(), HasSubstr("--allocate-node-cidrs"));
  auto v6 = PodCidrOfNode(R"({"metadata":{"name":"n7"},"spec":{"podCIDRs":["fd00::/64"]}})");
  ASSERT_FALSE(v6.ok());
  EXPECT_THAT(v6.status().message(), HasSubstr("no IPv4 podCIDR"));
  EXPECT_FALSE(PodCidrOfNode("not json").ok());
  auto pod = PodCidrOfNode(R"({"kind":"Pod","metadata":{"name":"p"}})");
  ASSERT_FALSE(pod.ok());
  EXPECT_THAT(pod.status().message(), HasSubstr("not \"Node\""));
}

TEST(FindUnderlayTest, LoopbackAndErrors) {
  auto lo = FindUnderlay("127.0.0.1");
  ASSERT_TRUE(lo.ok()) << lo.status();
  EXPECT_EQ(lo->name, "lo");
  std::ifstream sys("/sys/class/net/lo/mtu");
  int mtu = 0;
  ASSERT_TRUE(sys >> mtu) << "/sys/class/net/lo/mtu";
  EXPECT_EQ(lo->mtu, mtu);
  EXPECT_GT(lo->mtu, 0);
  // 192.0.2.0/24 is TEST-NET-1: on no interface of the test's namespace.
  auto none = FindUnderlay("192.0.2.77");
  ASSERT_FALSE(none.ok());
  EXPECT_THAT(none.status().message(), HasSubstr("node IP 192.0.2.77: on no interface"));
  auto junk = FindUnderlay("node-1");
  ASSERT_FALSE(junk.ok());
  EXPECT_THAT(junk.status().message(), HasSubstr("not an IPv4 or IPv6 address"));
}

constexpr char kConflist[] = R"({
  "cniVersion": "1.0.0", "name": "veb",
  "plugins": [
    {"type": "veb", "bridge": "veb0", "mtu": "auto", "isGateway": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.244.0.0/16"}]],
              "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}]})";

constexpr char kAgentConfig[] = R"({
  "bridges": [{"name": "veb0", "engine": "ENGINE_KERNEL"}],
  "vports": [{"bridge": "veb0", "kind": "VPORT_KIND_TUNNEL", "name": "vx0",
              "tunnel": {"vni": 7, "dstport": 4789}}]})";

NodeFacts Facts(int mtu, std::optional<std::string> pod_cidr) {
  NodeFacts n;
  n.node_name = "n1";
  n.node_ip = "10.250.0.1";
  n.underlay = {"eth0", mtu};
  n.pod_cidr = std::move(pod_cidr);
  return n;
}

TEST(RenderTest, ConflistFromPodCidrAndAutoMtu) {
  auto out = RenderConflist(kConflist, Facts(1500, "10.244.5.0/24"), /*tunnel=*/true);
  ASSERT_TRUE(out.ok()) << out.status();
  Json c = Json::parse(*out);
  const Json& veb = c["plugins"][0];
  EXPECT_EQ(veb["mtu"], 1450);
  EXPECT_EQ(veb["ipam"]["ranges"],
            Json::parse(R"([[{"subnet":"10.244.0.0/16","rangeStart":"10.244.5.1",
                              "rangeEnd":"10.244.5.254","gateway":"10.244.5.1"}]])"));
  // Everything else as the template had it.
  EXPECT_EQ(veb["ipam"]["routes"], Json::parse(R"([{"dst":"0.0.0.0/0"}])"));
  EXPECT_EQ(veb["bridge"], "veb0");
  EXPECT_EQ(c["plugins"][1]["type"], "portmap");
  EXPECT_EQ(c["name"], "veb");
}

TEST(RenderTest, ConflistStaticRangeAndMtuWithoutTunnel) {
  std::string tmpl = kConflist;
  auto out = RenderConflist(tmpl, Facts(9000, std::nullopt), /*tunnel=*/false);
  ASSERT_TRUE(out.ok()) << out.status();
  Json veb = Json::parse(*out)["plugins"][0];
  EXPECT_EQ(veb["mtu"], 9000);  // no tunnel: no overhead
  EXPECT_EQ(veb["ipam"]["ranges"], Json::parse(R"([[{"subnet":"10.244.0.0/16"}]])"));
  // Loopback's 65536: the largest MTU a veth takes.
  auto lo = RenderConflist(tmpl, Facts(65536, std::nullopt), /*tunnel=*/false);
  ASSERT_TRUE(lo.ok()) << lo.status();
  EXPECT_EQ(Json::parse(*lo)["plugins"][0]["mtu"], 65535);
  // An explicit MTU stays.
  Json fixed = Json::parse(kConflist);
  fixed["plugins"][0]["mtu"] = 1400;
  auto kept = RenderConflist(fixed.dump(), Facts(9000, std::nullopt), true);
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(Json::parse(*kept)["plugins"][0]["mtu"], 1400);
}

TEST(RenderTest, ConflistErrors) {
  auto small = RenderConflist(kConflist, Facts(100, std::nullopt), true);
  ASSERT_FALSE(small.ok());
  EXPECT_THAT(small.status().message(),
              HasSubstr("underlay \"eth0\" MTU 100 minus the VXLAN overhead (50) is 50: below 68"));
  auto outside = RenderConflist(kConflist, Facts(1500, "10.96.0.0/24"), true);
  ASSERT_FALSE(outside.ok());
  EXPECT_THAT(outside.status().message(), HasSubstr("node \"n1\": podCIDR 10.96.0.0/24"));
  Json two = Json::parse(kConflist);
  two["plugins"][0]["ipam"]["ranges"][0].push_back(Json{{"subnet", "10.245.0.0/16"}});
  auto amb = RenderConflist(two.dump(), Facts(1500, "10.244.0.0/24"), true);
  ASSERT_FALSE(amb.ok());
  EXPECT_THAT(amb.status().message(), HasSubstr("exactly one range"));
  EXPECT_FALSE(RenderConflist(R"({"plugins":[{"type":"bridge"}]})", Facts(1500, std::nullopt), true)
                   .ok());
  EXPECT_FALSE(RenderConflist("[]", Facts(1500, std::nullopt), true).ok());
}

TEST(RenderTest, AgentConfigFillsTheTunnel) {
  bool tunnel = false;
  auto out = RenderAgentConfig(kAgentConfig, Facts(1500, std::nullopt), &tunnel);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(tunnel);
  Json c = Json::parse(*out);
  const Json& v = c["vports"][0];
  EXPECT_EQ(v["name"], "vx0");
  EXPECT_EQ(v["mtu"], 1450);
  EXPECT_EQ(v["tunnel"]["local"], "10.250.0.1");
  EXPECT_EQ(v["tunnel"]["underlay"], "eth0");
  EXPECT_EQ(v["tunnel"]["vni"], 7);
  EXPECT_EQ(c["bridges"][0]["engine"], "ENGINE_KERNEL");
}

TEST(RenderTest, AgentConfigWithoutTunnelAndErrors) {
  bool tunnel = true;
  auto out = RenderAgentConfig(R"({"bridges":[{"name":"veb0"}]})", Facts(1500, std::nullopt), &tunnel);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_FALSE(tunnel);
  EXPECT_EQ(Json::parse(*out), Json::parse(R"({"bridges":[{"name":"veb0"}]})"));
  auto small = RenderAgentConfig(kAgentConfig, Facts(117, std::nullopt), &tunnel);
  ASSERT_FALSE(small.ok());
  EXPECT_THAT(small.status().message(),
              HasSubstr("tunnel vport \"vx0\": underlay \"eth0\" MTU 117 leaves 67"));
  auto unknown = RenderAgentConfig(R"({"bridgez":[]})", Facts(1500, std::nullopt), &tunnel);
  ASSERT_FALSE(unknown.ok());
  EXPECT_THAT(unknown.status().message(), HasSubstr("vebd startup file template"));
}

TEST(WriteFileAtomicallyTest, ReplacesWholeAndLeavesNoTemp) {
  std::string dir = ::testing::TempDir() + "/ncfg.XXXXXX";
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  const std::string path = dir + "/10-veb.conflist";
  ASSERT_TRUE(WriteFileAtomically(path, "old", 0644).ok());
  ASSERT_TRUE(WriteFileAtomically(path, "new content", 0640).ok());
  std::ifstream in(path);
  std::stringstream buf;
  buf << in.rdbuf();
  EXPECT_EQ(buf.str(), "new content");
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  // A directory that does not exist: an error naming the file, nothing written.
  auto bad = WriteFileAtomically(dir + "/missing/x", "y", 0644);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.message(), HasSubstr("missing/x"));
  // Only the file: no temporary left by either write.
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    names.push_back(e.path().filename().string());
  }
  EXPECT_THAT(names, ::testing::ElementsAre("10-veb.conflist"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace veb::cni
