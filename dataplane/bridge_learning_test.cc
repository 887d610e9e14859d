// Forwarding contract tests, S7 of docs/design.md: learning, refusals,
// moves, static entries, the table and port limits, expiry, counts and
// pages. Fixture: bridge_test_util.h.
#include "dataplane/bridge_test_util.h"

namespace veb::bridge_test {
namespace {

// ---- S7 ----------------------------------------------------------------------

TEST_P(BridgeTest, S7_LearnsSourceOnLearningPort) {
  Add("p1");
  PortConfig nolearn;
  nolearn.learning = false;
  Add("p2", nolearn);
  SendEth("p1", kA, kUnknown);
  SendEth("p2", kB, kUnknown);
  EXPECT_EQ(Owner(1, kA), "p1");
  EXPECT_FALSE(Owner(1, kB).has_value());
  EXPECT_EQ(bridge_->GetCounters().learned, 1u);
}

TEST_P(BridgeTest, S7_MulticastAndZeroSourcesNeverLearned) {
  Add("p1");
  Add("p2");
  SendEth("p1", 0x01005e000001ULL, kUnknown);
  SendEth("p1", 0, kUnknown);
  SendEth("p1", kBroadcastMac, kUnknown);
  EXPECT_TRUE(Addresses().empty());
  // Each refused source is counted as invalid_source, and nothing else.
  const BridgeCounters c = bridge_->GetCounters();
  EXPECT_EQ(c.refused[static_cast<size_t>(LearnRefusal::kInvalidSource)], 3u);
  EXPECT_EQ(c.refused[static_cast<size_t>(LearnRefusal::kTableFull)], 0u);
  EXPECT_EQ(c.refused[static_cast<size_t>(LearnRefusal::kStatic)], 0u);
}

TEST_P(BridgeTest, S7_InvalidSourceNotCountedOnNonLearningPort) {
  PortConfig nolearn;
  nolearn.learning = false;
  Add("p1", nolearn);
  Add("p2");
  SendEth("p1", 0x01005e000001ULL, kUnknown);
  SendEth("p1", 0, kUnknown);
  EXPECT_EQ(bridge_->GetCounters().refused[static_cast<size_t>(
                LearnRefusal::kInvalidSource)],
            0u);
}

TEST(LearnRefusalTest, NamesAreTheApiNames) {
  EXPECT_STREQ(LearnRefusalName(LearnRefusal::kTableFull), "table_full");
  EXPECT_STREQ(LearnRefusalName(LearnRefusal::kStatic), "static_entry");
  EXPECT_STREQ(LearnRefusalName(LearnRefusal::kInvalidSource), "invalid_source");
  EXPECT_STREQ(DropReasonName(DropReason::kLinkDown), "link_down");
  EXPECT_STREQ(DropReasonName(DropReason::kNoBuffer), "no_buffer");
  EXPECT_EQ(kAllDropReasons.size(), kNumDropReasons);
  EXPECT_EQ(kAllDropReasons.back(), DropReason::kNoBuffer);
  EXPECT_STREQ(LearnRefusalName(LearnRefusal::kPortFull), "port_full");
  EXPECT_EQ(kAllLearnRefusals.back(), LearnRefusal::kPortFull);
}

TEST_P(BridgeTest, S7_DynamicMovesStaticNever) {
  Add("p1");
  Add("p2");
  Add("p3");
  SendEth("p1", kA, kUnknown);
  SendEth("p2", kA, kUnknown);
  EXPECT_EQ(Owner(1, kA), "p2");
  EXPECT_EQ(bridge_->GetCounters().moved, 1u);
  ASSERT_TRUE(bridge_->AddStaticAddress(1, kB, "p1").ok());
  SendEth("p2", kB, kUnknown);
  EXPECT_EQ(Owner(1, kB), "p1");
  EXPECT_EQ(bridge_->GetCounters().refused[static_cast<size_t>(LearnRefusal::kStatic)], 1u);
  // Unicast to the static address still goes to p1.
  ClearSent();
  SendEth("p3", kC, kB);
  EXPECT_EQ(Sent("p1"), 1u);
  EXPECT_EQ(Sent("p2"), 0u);
}

TEST_P(BridgeTest, S7_TableFullAtExactlyMaxThenFloods) {
  BridgeConfig c;
  c.max_addresses = 2;
  ASSERT_TRUE(bridge_->Update(c).ok());
  Add("p1");
  Add("p2");
  Add("p3");
  SendEth("p1", kA, kUnknown);
  SendEth("p2", kB, kUnknown);
  EXPECT_EQ(bridge_->address_count(), 2u);  // exactly max
  SendEth("p3", kC, kUnknown);            // max + 1
  EXPECT_EQ(bridge_->address_count(), 2u);
  EXPECT_FALSE(Owner(1, kC).has_value());
  EXPECT_EQ(bridge_->GetCounters().refused[static_cast<size_t>(LearnRefusal::kTableFull)], 1u);
  ClearSent();
  SendEth("p1", kA, kC);  // kC unknown: keeps flooding
  EXPECT_EQ(Sent("p2"), 1u);
  EXPECT_EQ(Sent("p3"), 1u);
  EXPECT_EQ(Counters("p1").flooded, 2u);  // both frames from p1 flooded
  EXPECT_EQ(bridge_->AddStaticAddress(1, kC, "p3").code(),
            absl::StatusCode::kResourceExhausted);
}

// ---- S7: a port's own address limit (PortConfig::max_addresses) -----------

size_t PortFullCount(const BridgeEngine& b) {
  return b.GetCounters().refused[static_cast<size_t>(LearnRefusal::kPortFull)];
}

TEST_P(BridgeTest, S7_PortLimitRefusesNewAddressesAndStillForwards) {
  PortConfig limited;
  limited.max_addresses = 2;
  Add("p1", limited);
  Add("p2");
  SendEth("p1", kA, kUnknown);
  SendEth("p1", kB, kUnknown);
  EXPECT_EQ(bridge_->PortAddressCount("p1").value(), 2u);  // exactly the limit
  ClearSent();
  SendEth("p1", kC, kUnknown);  // limit + 1
  EXPECT_FALSE(Owner(1, kC).has_value());
  EXPECT_EQ(bridge_->PortAddressCount("p1").value(), 2u);
  EXPECT_EQ(PortFullCount(*bridge_), 1u);
  EXPECT_EQ(Sent("p2"), 1u);  // the refused source's frame still forwarded
  // Known addresses refresh without a refusal; other ports are not limited.
  SendEth("p1", kA, kUnknown);
  EXPECT_EQ(PortFullCount(*bridge_), 1u);
  SendEth("p2", kUnknown, kUnknown + 1);
  SendEth("p2", kUnknown + 2, kUnknown + 1);
  SendEth("p2", kUnknown + 3, kUnknown + 1);
  EXPECT_EQ(bridge_->PortAddressCount("p2").value(), 3u);
  EXPECT_EQ(PortFullCount(*bridge_), 1u);
  // Frames to the refused address flood (it has no entry): p2 -> kC.
  ClearSent();
  SendEth("p2", kUnknown, kC);
  EXPECT_EQ(Sent("p1"), 1u);
  EXPECT_EQ(bridge_->GetCounters().refused[static_cast<size_t>(
                LearnRefusal::kTableFull)],
            0u);
}

TEST_P(BridgeTest, S7_PortLimitCountsStaticEntries) {
  PortConfig limited;
  limited.max_addresses = 2;
  Add("p1", limited);
  Add("p2");
  ASSERT_TRUE(bridge_->AddStaticAddress(1, kA, "p1").ok());
  SendEth("p1", kB, kUnknown);
  SendEth("p1", kC, kUnknown);
  EXPECT_TRUE(Owner(1, kB).has_value());
  EXPECT_FALSE(Owner(1, kC).has_value());
  EXPECT_EQ(PortFullCount(*bridge_), 1u);
  // The administrator's static entries are not limited by it.
  EXPECT_TRUE(bridge_->AddStaticAddress(1, kUnknown, "p1").ok());
  EXPECT_EQ(bridge_->PortAddressCount("p1").value(), 3u);
}

TEST_P(BridgeTest, S7_PortLimitRefusesMovesOntoAFullPort) {
  PortConfig limited;
  limited.max_addresses = 1;
  Add("p1", limited);
  Add("p2");
  SendEth("p2", kB, kUnknown);  // kB lives on p2
  SendEth("p1", kA, kUnknown);  // p1 full
  SendEth("p1", kB, kUnknown);  // a flooder claiming p2's address
  EXPECT_EQ(Owner(1, kB), "p2");
  EXPECT_EQ(bridge_->GetCounters().moved, 0u);
  EXPECT_EQ(PortFullCount(*bridge_), 1u);
  // Traffic for kB still goes to p2 only.
  ClearSent();
  SendEth("p1", kA, kB);
  EXPECT_EQ(Sent("p2"), 1u);
  // The other way round, moves off the limited port are fine.
  SendEth("p2", kA, kUnknown);
  EXPECT_EQ(Owner(1, kA), "p2");
  EXPECT_EQ(bridge_->GetCounters().moved, 1u);
}

TEST_P(BridgeTest, S7_LoweringThePortLimitEvictsNothing) {
  Add("p1");
  Add("p2");
  SendEth("p1", kA, kUnknown);
  SendEth("p1", kB, kUnknown);
  SendEth("p1", kC, kUnknown);
  PortConfig limited;
  limited.max_addresses = 1;
  ASSERT_TRUE(bridge_->UpdatePort("p1", limited).ok());
  EXPECT_EQ(bridge_->PortAddressCount("p1").value(), 3u);
  EXPECT_EQ(bridge_->GetPort("p1")->config.max_addresses, 1u);
  SendEth("p1", kA, kUnknown);  // refresh: fine
  SendEth("p1", kUnknown + 1, kUnknown);
  EXPECT_FALSE(Owner(1, kUnknown + 1).has_value());
  EXPECT_EQ(PortFullCount(*bridge_), 1u);
  // Raised again (or 0: no limit), learning resumes.
  limited.max_addresses = 0;
  ASSERT_TRUE(bridge_->UpdatePort("p1", limited).ok());
  SendEth("p1", kUnknown + 1, kUnknown);
  EXPECT_TRUE(Owner(1, kUnknown + 1).has_value());
}

TEST_P(BridgeTest, S7_PortLimitZeroIsUnlimitedAndRangeChecked) {
  Add("p1");  // max_addresses 0
  for (Mac m = 1; m <= 50; ++m) SendEth("p1", kUnknown + 0x100 + m, kUnknown);
  EXPECT_EQ(bridge_->PortAddressCount("p1").value(), 50u);
  EXPECT_EQ(PortFullCount(*bridge_), 0u);
  PortConfig bad;
  bad.max_addresses = kMaxAddressesLimit + 1;
  absl::Status s = bridge_->UpdatePort("p1", bad);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("max_addresses 1000001"));
  EXPECT_EQ(bridge_->GetPort("p1")->config.max_addresses, 0u);
  bad.max_addresses = kMaxAddressesLimit;
  EXPECT_TRUE(bridge_->UpdatePort("p1", bad).ok());
}

TEST_P(BridgeTest, S7_ExpiryBoundaryWithFakeClock) {
  BridgeConfig c;
  c.timeout_seconds = 8;
  ASSERT_TRUE(bridge_->Update(c).ok());
  Add("p1");
  Add("p2");
  Add("p3");
  SendEth("p1", kA, kUnknown);
  ClearSent();
  clock_.Advance(8 * kSec);  // exactly the timeout: still known
  SendEth("p2", kB, kA);
  EXPECT_EQ(Sent("p1"), 1u);
  EXPECT_EQ(Sent("p3"), 0u);
  clock_.Advance(1);  // one ns past: a miss before any sweep
  EXPECT_EQ(bridge_->address_count(), 2u);
  SendEth("p2", kB, kA);
  EXPECT_EQ(Sent("p3"), 1u);  // flooded
  EXPECT_EQ(bridge_->ExpireAddresses(), 1u);
  EXPECT_EQ(bridge_->address_count(), 1u);
  EXPECT_EQ(bridge_->GetCounters().expired, 1u);
}

TEST_P(BridgeTest, S7_InvalidLimitsRejectedStateUnchanged) {
  BridgeConfig c;
  for (uint32_t bad : {0u, 1000001u}) {
    c = BridgeConfig{};
    c.max_addresses = bad;
    EXPECT_EQ(bridge_->Update(c).code(), absl::StatusCode::kInvalidArgument);
  }
  for (uint32_t bad : {7u, 3601u}) {
    c = BridgeConfig{};
    c.timeout_seconds = bad;
    absl::Status s = bridge_->Update(c);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("bridge \"veb0\": address_timeout"));
  }
  EXPECT_EQ(bridge_->config().max_addresses, 100u);
  EXPECT_EQ(bridge_->config().timeout_seconds, 240u);
  c = BridgeConfig{};
  c.max_addresses = 1000000;
  c.timeout_seconds = 3600;
  EXPECT_TRUE(bridge_->Update(c).ok());
  c.max_addresses = 1;
  c.timeout_seconds = 8;
  EXPECT_TRUE(bridge_->Update(c).ok());
}

TEST_P(BridgeTest, S7_StaticAddressValidation) {
  Add("p1");
  EXPECT_EQ(bridge_->AddStaticAddress(1, 0x01005e000001ULL, "p1").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bridge_->AddStaticAddress(0, kA, "p1").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bridge_->AddStaticAddress(4095, kA, "p1").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bridge_->AddStaticAddress(1, kA, "nope").code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(Addresses().empty());
  EXPECT_EQ(bridge_->DeleteAddress(1, kA).code(), absl::StatusCode::kNotFound);
}

TEST_P(BridgeTest, S7_FlushDynamicOrAll) {
  Add("p1");
  SendEth("p1", kA, kUnknown);
  ASSERT_TRUE(bridge_->AddStaticAddress(1, kB, "p1").ok());
  EXPECT_EQ(bridge_->FlushAddresses(false), 1u);
  EXPECT_EQ(Owner(1, kB), "p1");
  EXPECT_EQ(bridge_->FlushAddresses(true), 1u);
  EXPECT_TRUE(Addresses().empty());
}

// ---- address queries without copying the table ----------------------------

TEST_P(BridgeTest, AddressCountsPerBridgeAndPort) {
  Add("p1");
  Add("p2");
  SendEth("p1", kA, kUnknown);
  SendEth("p2", kB, kUnknown);
  ASSERT_TRUE(bridge_->AddStaticAddress(1, kC, "p1").ok());
  const AddressCounts c = bridge_->GetAddressCounts();
  EXPECT_EQ(c.total, 3u);
  EXPECT_EQ(c.statics, 1u);
  EXPECT_EQ(c.dynamic(), 2u);
  EXPECT_EQ(*bridge_->PortAddressCount("p1"), 2u);
  EXPECT_EQ(*bridge_->PortAddressCount("p2"), 1u);
  EXPECT_EQ(bridge_->PortAddressCount("nope").status().code(),
            absl::StatusCode::kNotFound);
  const PortInfo p1 = *bridge_->GetPort("p1");
  EXPECT_EQ(p1.addresses, 2u);
  EXPECT_EQ(p1.static_addresses, 1u);
  // A move changes both ports' counts.
  SendEth("p2", kA, kUnknown);
  EXPECT_EQ(*bridge_->PortAddressCount("p1"), 1u);
  EXPECT_EQ(*bridge_->PortAddressCount("p2"), 2u);
  ASSERT_TRUE(bridge_->RemovePort("p2").ok());
  EXPECT_EQ(bridge_->GetAddressCounts().total, 1u);
  EXPECT_EQ(bridge_->GetPort("p1")->addresses, 1u);
}

TEST_P(BridgeTest, ListAddressPageFiltersAndPages) {
  Add("p1");
  PortConfig trunk;
  trunk.tagged = {10};
  Add("p2", trunk);
  for (Mac m = 1; m <= 5; ++m) SendEth("p1", 0x020000000100ULL + m, kUnknown);
  FrameSpec tagged;
  tagged.dst = kUnknown;
  tagged.src = kB;
  tagged.ctag = 10;
  Send("p2", MakeFrame(tagged));
  ASSERT_TRUE(bridge_->AddStaticAddress(1, kA, "p2").ok());

  AddressQuery all;
  auto page = bridge_->ListAddressPage(all, std::nullopt, 4);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->total_matching, 7u);
  ASSERT_EQ(page->addresses.size(), 4u);
  EXPECT_EQ(page->addresses[0].mac, kA);  // vid 1, lowest MAC first
  EXPECT_EQ(page->addresses[0].port, "p2");
  EXPECT_TRUE(page->addresses[0].is_static);
  ASSERT_TRUE(page->next_after.has_value());
  auto rest = bridge_->ListAddressPage(all, page->next_after, 4);
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->addresses.size(), 3u);
  EXPECT_FALSE(rest->next_after.has_value());
  EXPECT_EQ(rest->addresses.back().vid, 10);
  EXPECT_EQ(rest->addresses.back().mac, kB);

  AddressQuery by_port;
  by_port.port = "p2";
  page = bridge_->ListAddressPage(by_port, std::nullopt, 10);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->total_matching, 2u);
  ASSERT_EQ(page->addresses.size(), 2u);
  EXPECT_EQ(page->addresses[1].vid, 10);

  AddressQuery dynamic_vid1;
  dynamic_vid1.vid = 1;
  dynamic_vid1.is_static = false;
  page = bridge_->ListAddressPage(dynamic_vid1, std::nullopt, 10);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->total_matching, 5u);
  EXPECT_EQ(page->addresses.size(), 5u);

  AddressQuery by_mac;
  by_mac.mac = kB;
  page = bridge_->ListAddressPage(by_mac, std::nullopt, 10);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->total_matching, 1u);
  ASSERT_EQ(page->addresses.size(), 1u);
  EXPECT_EQ(page->addresses[0].port, "p2");

  AddressQuery unknown;
  unknown.port = "nope";
  EXPECT_EQ(bridge_->ListAddressPage(unknown, std::nullopt, 10).status().code(),
            absl::StatusCode::kNotFound);

  const std::optional<AddressInfo> got = bridge_->GetAddress(10, kB);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->port, "p2");
  EXPECT_FALSE(bridge_->GetAddress(1, kB).has_value());
}

}  // namespace
}  // namespace veb::bridge_test
