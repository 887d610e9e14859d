// --tunnel_peers parsing, peer files, resolution of static/file/DNS sources
// (DNS: names that need no server: "localhost" from /etc/hosts, an invalid
// TLD that must not exist) and the node's own addresses.
#include "server/peer_source.h"

#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace veb::server {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

TEST(ParsePeerSources, AllKinds) {
  auto specs = ParsePeerSources(
      "vx0=dns:veb-peers.kube-system.svc.cluster.local; vx1=file:/etc/veb/peers ;"
      "vx2=static:10.0.0.2,fd00::0:1,10.0.0.1");
  ASSERT_TRUE(specs.ok()) << specs.status();
  ASSERT_EQ(specs->size(), 3u);
  EXPECT_EQ((*specs)[0].vport, "vx0");
  EXPECT_EQ((*specs)[0].kind, PeerSourceKind::kDns);
  EXPECT_EQ((*specs)[0].target, "veb-peers.kube-system.svc.cluster.local");
  EXPECT_EQ((*specs)[1].kind, PeerSourceKind::kFile);
  EXPECT_EQ((*specs)[1].target, "/etc/veb/peers");
  EXPECT_EQ((*specs)[2].kind, PeerSourceKind::kStatic);
  // Canonical (fd00::0:1 -> fd00::1) and sorted.
  EXPECT_THAT((*specs)[2].addresses, ElementsAre("10.0.0.1", "10.0.0.2", "fd00::1"));
  EXPECT_EQ((*specs)[2].Describe(), "static:10.0.0.1,10.0.0.2,fd00::1");
  EXPECT_EQ((*specs)[0].Describe(), "dns:veb-peers.kube-system.svc.cluster.local");
}

TEST(ParsePeerSources, EmptyIsNone) {
  auto specs = ParsePeerSources("");
  ASSERT_TRUE(specs.ok());
  EXPECT_THAT(*specs, IsEmpty());
  specs = ParsePeerSources(" ; ");
  ASSERT_TRUE(specs.ok());
  EXPECT_THAT(*specs, IsEmpty());
}

TEST(ParsePeerSources, BadValuesNameTheFlagAndTheReason) {
  struct Case {
    const char* flag;
    const char* want;
  } cases[] = {
      {"vx0", "--tunnel_peers: \"vx0\": expected VPORT=dns:NAME"},
      {"vx0=bogus:x", "--tunnel_peers: \"vx0=bogus:x\": source kind \"bogus\": must be dns:, "
                      "file: or static:"},
      {"vx0=static:10.0.0.x", "--tunnel_peers: \"vx0=static:10.0.0.x\": peer \"10.0.0.x\": "
                              "not an IPv4 or IPv6 address"},
      {"vx0=static:", "peer \"\": not an IPv4 or IPv6 address"},
      {"vx0=static:239.0.0.1", "peer \"239.0.0.1\": must be a unicast address"},
      {"vx0=static:10.0.0.1,10.0.0.1", "peer \"10.0.0.1\": given twice"},
      {"vx0=file:relative/path", "file \"relative/path\": must be an absolute path"},
      {"vx0=dns:", "dns name \"\": not a DNS name"},
      {"vx0=dns:a..b", "dns name \"a..b\": not a DNS name"},
      {"vx0=dns:a b", "dns name \"a b\": not a DNS name"},
      {"=static:10.0.0.1", "--tunnel_peers: vport \"\": invalid name (empty)"},
      {"averyveryverylongname=static:10.0.0.1", "invalid name (longer than 15 bytes)"},
      {"vx0=static:10.0.0.1;vx0=dns:x", "vport \"vx0\" has a source already"},
  };
  for (const Case& c : cases) {
    auto specs = ParsePeerSources(c.flag);
    ASSERT_FALSE(specs.ok()) << c.flag;
    EXPECT_EQ(specs.status().code(), absl::StatusCode::kInvalidArgument) << c.flag;
    EXPECT_THAT(std::string(specs.status().message()), HasSubstr(c.want)) << c.flag;
  }
}

TEST(ParsePeerFile, CommentsBlankLinesCanonicalSortedDistinct) {
  auto peers = ParsePeerFile("/p",
                             "# nodes\n10.0.0.3\n\n  10.0.0.1  # node a\n"
                             "fd00:0::2\n10.0.0.3\n\t\n#10.0.0.9\n10.0.0.2");
  ASSERT_TRUE(peers.ok()) << peers.status();
  EXPECT_THAT(*peers, ElementsAre("10.0.0.1", "10.0.0.2", "10.0.0.3", "fd00::2"));
  peers = ParsePeerFile("/p", "");
  ASSERT_TRUE(peers.ok());
  EXPECT_THAT(*peers, IsEmpty());
}

TEST(ParsePeerFile, BadLineNamesFileAndLine) {
  auto peers = ParsePeerFile("/etc/veb/peers", "10.0.0.1\n# x\nnode-b\n");
  ASSERT_FALSE(peers.ok());
  EXPECT_THAT(std::string(peers.status().message()),
              HasSubstr("/etc/veb/peers:3: peer \"node-b\": not an IPv4 or IPv6 address"));
}

TEST(ResolvePeerSource, StaticFileAndDns) {
  auto specs = ParsePeerSources(absl::StrCat(
      "a=static:10.1.0.1;b=file:", ::testing::TempDir(), "/peers;c=file:/nonexistent/peers;",
      "d=dns:localhost;e=dns:no-such-name.invalid"));
  ASSERT_TRUE(specs.ok()) << specs.status();
  auto r = ResolvePeerSource((*specs)[0]);
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(*r, ElementsAre("10.1.0.1"));

  std::ofstream(absl::StrCat(::testing::TempDir(), "/peers")) << "10.2.0.2\n10.2.0.1\n";
  r = ResolvePeerSource((*specs)[1]);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(*r, ElementsAre("10.2.0.1", "10.2.0.2"));
  // A malformed file is a failure (the last set is kept), not an empty set.
  std::ofstream(absl::StrCat(::testing::TempDir(), "/peers")) << "10.2.0.1\nbad\n";
  r = ResolvePeerSource((*specs)[1]);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("/peers:2: peer \"bad\""));
  // A missing file too.
  r = ResolvePeerSource((*specs)[2]);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(r.status().message()),
              HasSubstr("file:/nonexistent/peers: No such file or directory"));

  // localhost comes from /etc/hosts through getaddrinfo.
  r = ResolvePeerSource((*specs)[3]);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(*r, ::testing::Contains("127.0.0.1"));
  // .invalid never exists (RFC 6761): the empty set, or, with no resolver
  // reachable, a temporary failure; never addresses.
  r = ResolvePeerSource((*specs)[4]);
  if (r.ok()) {
    EXPECT_THAT(*r, IsEmpty());
  } else {
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  }
}

TEST(LocalAddresses, IncludesLoopback) {
  auto local = LocalAddresses();
  ASSERT_TRUE(local.ok()) << local.status();
  EXPECT_EQ(local->count("127.0.0.1"), 1u);
}

}  // namespace
}  // namespace veb::server
