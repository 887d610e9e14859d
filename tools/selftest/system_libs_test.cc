// Self-test: libnl-3/libnl-route-3, prometheus-cpp and nlohmann-json link and
// work from @system (no root needed: the netlink socket is only allocated).
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/socket.h>

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "prometheus/counter.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"

namespace veb::selftest {
namespace {

TEST(LibnlTest, AllocatesSocket) {
  nl_sock* sock = nl_socket_alloc();
  ASSERT_NE(sock, nullptr);
  nl_socket_free(sock);
  rtnl_link* link = rtnl_link_alloc();  // libnl-route-3
  ASSERT_NE(link, nullptr);
  rtnl_link_put(link);
}

TEST(PrometheusTest, SerializesCounter) {
  auto registry = std::make_shared<prometheus::Registry>();
  auto& family = prometheus::BuildCounter()
                     .Name("veb_selftest_frames_total")
                     .Help("Frames seen by the self-test.")
                     .Register(*registry);
  family.Add({{"port", "vport0"}}).Increment(3);
  const std::string text = prometheus::TextSerializer().Serialize(registry->Collect());
  EXPECT_NE(text.find("veb_selftest_frames_total"), std::string::npos) << text;
  EXPECT_NE(text.find("port=\"vport0\""), std::string::npos) << text;
}

TEST(NlohmannJsonTest, ParsesAndDumps) {
  nlohmann::json j = nlohmann::json::parse(R"({"bridge":"veb0","ports":[1,2]})");
  EXPECT_EQ(j["bridge"], "veb0");
  EXPECT_EQ(j["ports"].size(), 2u);
}

}  // namespace
}  // namespace veb::selftest
