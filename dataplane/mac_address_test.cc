#include "dataplane/mac_address.h"

#include "gtest/gtest.h"

namespace veb {
namespace {

TEST(MacAddressTest, ParsesAndFormatsRoundTrip) {
  auto m = ParseMac("AA:bb:0C:dd:ee:F1");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(*m, 0xaabb0cddeef1ULL);
  EXPECT_EQ(FormatMac(*m), "aa:bb:0c:dd:ee:f1");
}

TEST(MacAddressTest, RejectsMalformedText) {
  for (const char* bad : {"", "aa:bb:cc:dd:ee", "aa:bb:cc:dd:ee:ff:00",
                          "aa-bb-cc-dd-ee-ff", "gg:bb:cc:dd:ee:ff",
                          "aa:bb:cc:dd:ee:f", "aabb.ccdd.eeff", "aa:bb:cc:dd:ee:fff"}) {
    EXPECT_FALSE(ParseMac(bad).has_value()) << bad;
  }
}

TEST(MacAddressTest, ClassifiesGroupAddresses) {
  EXPECT_TRUE(IsMulticast(0x01005e000001ULL));
  EXPECT_TRUE(IsMulticast(kBroadcastMac));
  EXPECT_TRUE(IsBroadcast(kBroadcastMac));
  EXPECT_FALSE(IsMulticast(0x020000000001ULL));
  EXPECT_TRUE(IsReserved8021(0x0180c2000000ULL));
  EXPECT_TRUE(IsReserved8021(0x0180c200000fULL));
  EXPECT_FALSE(IsReserved8021(0x0180c2000010ULL));
}

TEST(MacAddressTest, LoadStoreNetworkOrder) {
  const uint8_t bytes[6] = {0x02, 0x11, 0x22, 0x33, 0x44, 0x55};
  EXPECT_EQ(LoadMac(bytes), 0x021122334455ULL);
  uint8_t out[6];
  StoreMac(0x021122334455ULL, out);
  EXPECT_EQ(0, memcmp(out, bytes, 6));
}

}  // namespace
}  // namespace veb
