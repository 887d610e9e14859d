#include "dataplane/mac_table.h"

#include <atomic>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace veb {
namespace {

constexpr int64_t kSec = 1000000000;
constexpr PortRef kP1{1, 11};
constexpr PortRef kP2{2, 12};
constexpr Mac kA = 0x020000000001ULL;

class MacTableTest : public ::testing::Test {
 protected:
  Qsbr qsbr_;
  int64_t now_ = 100 * kSec;
};

TEST_F(MacTableTest, S7_LearnsAndLooksUp) {
  MacTable t(&qsbr_, 100, 240);
  EXPECT_FALSE(t.Lookup(1, kA, now_).has_value());
  EXPECT_EQ(t.Learn(1, kA, kP1, now_), LearnResult::kLearned);
  EXPECT_EQ(t.Lookup(1, kA, now_), kP1);
  EXPECT_EQ(t.Learn(1, kA, kP1, now_), LearnResult::kRefreshed);
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(t.learned_total(), 1u);
}

TEST_F(MacTableTest, S3_KeyedByVidAndMac) {
  MacTable t(&qsbr_, 100, 240);
  t.Learn(10, kA, kP1, now_);
  t.Learn(20, kA, kP2, now_);
  EXPECT_EQ(t.Lookup(10, kA, now_), kP1);
  EXPECT_EQ(t.Lookup(20, kA, now_), kP2);
  EXPECT_FALSE(t.Lookup(30, kA, now_).has_value());
  EXPECT_EQ(t.size(), 2u);
}

TEST_F(MacTableTest, S7_DynamicEntryMoves) {
  MacTable t(&qsbr_, 100, 240);
  t.Learn(1, kA, kP1, now_);
  EXPECT_EQ(t.Learn(1, kA, kP2, now_), LearnResult::kMoved);
  EXPECT_EQ(t.Lookup(1, kA, now_), kP2);
  EXPECT_EQ(t.moved_total(), 1u);
  EXPECT_EQ(t.size(), 1u);
}

TEST_F(MacTableTest, S7_StaticEntryNeverMoves) {
  MacTable t(&qsbr_, 100, 240);
  ASSERT_TRUE(t.AddStatic(1, kA, kP1).ok());
  EXPECT_EQ(t.Learn(1, kA, kP2, now_), LearnResult::kRefusedStatic);
  EXPECT_EQ(t.Lookup(1, kA, now_), kP1);
  // And never expires.
  EXPECT_EQ(t.Expire(now_ + 10000 * kSec), 0u);
  EXPECT_EQ(t.Lookup(1, kA, now_ + 10000 * kSec), kP1);
}

TEST_F(MacTableTest, S7_FullTableRefusesExactlyAtMax) {
  MacTable t(&qsbr_, 3, 240);
  for (Mac m = 1; m <= 3; ++m) {
    EXPECT_EQ(t.Learn(1, kA + m, kP1, now_), LearnResult::kLearned) << m;
  }
  EXPECT_EQ(t.size(), 3u);
  EXPECT_EQ(t.Learn(1, kA + 4, kP1, now_), LearnResult::kRefusedFull);
  EXPECT_FALSE(t.Lookup(1, kA + 4, now_).has_value());
  // Known addresses still refresh and move; nothing is evicted.
  EXPECT_EQ(t.Learn(1, kA + 1, kP1, now_), LearnResult::kRefreshed);
  EXPECT_EQ(t.Learn(1, kA + 2, kP2, now_), LearnResult::kMoved);
  EXPECT_EQ(t.size(), 3u);
  EXPECT_EQ(t.AddStatic(1, kA + 5, kP1).code(), absl::StatusCode::kResourceExhausted);
  // Room again after a delete.
  EXPECT_TRUE(t.Delete(1, kA + 3));
  EXPECT_EQ(t.Learn(1, kA + 4, kP1, now_), LearnResult::kLearned);
}

TEST_F(MacTableTest, S7_TimeoutBoundary) {
  MacTable t(&qsbr_, 100, 8);
  t.Learn(1, kA, kP1, now_);
  // Valid up to and including exactly `timeout` seconds; a miss one ns later,
  // even before the sweeper runs.
  EXPECT_EQ(t.Lookup(1, kA, now_ + 8 * kSec), kP1);
  EXPECT_FALSE(t.Lookup(1, kA, now_ + 8 * kSec + 1).has_value());
  EXPECT_EQ(t.size(), 1u);
  EXPECT_TRUE(t.List(now_ + 8 * kSec + 1).empty());
  EXPECT_EQ(t.Expire(now_ + 8 * kSec), 0u);
  EXPECT_EQ(t.Expire(now_ + 8 * kSec + 1), 1u);
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.expired_total(), 1u);
}

TEST_F(MacTableTest, S7_RefreshExtendsLifetime) {
  MacTable t(&qsbr_, 100, 8);
  t.Learn(1, kA, kP1, now_);
  t.Learn(1, kA, kP1, now_ + 5 * kSec);
  EXPECT_EQ(t.Lookup(1, kA, now_ + 13 * kSec), kP1);
  EXPECT_FALSE(t.Lookup(1, kA, now_ + 13 * kSec + 1).has_value());
}

TEST_F(MacTableTest, S7_ExpiredEntryRelearnsCountingExpiry) {
  MacTable t(&qsbr_, 100, 8);
  t.Learn(1, kA, kP1, now_);
  EXPECT_EQ(t.Learn(1, kA, kP2, now_ + 9 * kSec), LearnResult::kLearned);
  EXPECT_EQ(t.expired_total(), 1u);
  EXPECT_EQ(t.moved_total(), 0u);
  EXPECT_EQ(t.Lookup(1, kA, now_ + 9 * kSec), kP2);
}

TEST_F(MacTableTest, S7_TimeoutChangeAppliesToExistingEntries) {
  MacTable t(&qsbr_, 100, 240);
  t.Learn(1, kA, kP1, now_);
  t.SetTimeoutSeconds(8);
  EXPECT_FALSE(t.Lookup(1, kA, now_ + 9 * kSec).has_value());
}

TEST_F(MacTableTest, S12_RemovePortRemovesAllItsEntries) {
  MacTable t(&qsbr_, 1000, 240);
  for (Mac m = 0; m < 100; ++m) t.Learn(1, kA + m, m % 2 ? kP1 : kP2, now_);
  ASSERT_TRUE(t.AddStatic(2, kA, kP1).ok());
  EXPECT_EQ(t.RemovePort(kP1), 51u);
  for (const AddressEntry& e : t.List(now_)) EXPECT_EQ(e.port, kP2);
  EXPECT_EQ(t.size(), 50u);
}

TEST_F(MacTableTest, FlushDynamicKeepsStatic) {
  MacTable t(&qsbr_, 100, 240);
  t.Learn(1, kA, kP1, now_);
  ASSERT_TRUE(t.AddStatic(1, kA + 1, kP1).ok());
  EXPECT_EQ(t.Flush(false), 1u);
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(t.Flush(true), 1u);
  EXPECT_EQ(t.size(), 0u);
}

TEST_F(MacTableTest, GenerationMismatchIsDistinctPort) {
  MacTable t(&qsbr_, 100, 240);
  t.Learn(1, kA, PortRef{1, 1}, now_);
  EXPECT_EQ(t.Learn(1, kA, PortRef{1, 2}, now_), LearnResult::kMoved);
}

TEST_F(MacTableTest, GrowsAndShrinksKeepingEntries) {
  MacTable t(&qsbr_, 100000, 240);
  for (Mac m = 0; m < 50000; ++m) {
    ASSERT_EQ(t.Learn(static_cast<uint16_t>(1 + m % 7), kA + m, kP1, now_), LearnResult::kLearned);
  }
  EXPECT_GE(t.capacity(), 100000u);
  for (Mac m = 0; m < 50000; ++m) {
    ASSERT_EQ(t.Lookup(static_cast<uint16_t>(1 + m % 7), kA + m, now_), kP1) << m;
  }
  for (Mac m = 0; m < 49990; ++m) t.Delete(static_cast<uint16_t>(1 + m % 7), kA + m);
  EXPECT_LE(t.capacity(), 1024u);
  EXPECT_EQ(t.size(), 10u);
  EXPECT_EQ(t.Lookup(static_cast<uint16_t>(1 + 49995 % 7), kA + 49995, now_), kP1);
}

TEST_F(MacTableTest, EventsReportLearnMoveExpireDelete) {
  MacTable t(&qsbr_, 100, 8);
  std::vector<AddressEventKind> kinds;
  t.SetEventSink([&](const AddressEvent& e) {
    kinds.push_back(e.kind);
    EXPECT_EQ(e.mac, kA);
    EXPECT_EQ(e.vid, 3);
  });
  t.Learn(3, kA, kP1, now_);
  t.Learn(3, kA, kP2, now_);
  t.Expire(now_ + 9 * kSec);
  t.Learn(3, kA, kP2, now_ + 9 * kSec);
  t.Delete(3, kA);
  EXPECT_THAT(kinds, ::testing::ElementsAre(
                         AddressEventKind::kLearned, AddressEventKind::kMoved,
                         AddressEventKind::kExpired, AddressEventKind::kLearned,
                         AddressEventKind::kDeleted));
}

// Readers never see a wrong port while the table grows, shrinks and moves
// entries under them (lock-free lookup + QSBR reclamation; run under ASan in
// the fuzz config too).
TEST_F(MacTableTest, ConcurrentLookupsDuringChurn) {
  MacTable t(&qsbr_, 1000000, 3600);
  constexpr Mac kStable = 0x02aa00000000ULL;
  for (Mac m = 0; m < 64; ++m) t.Learn(1, kStable + m, kP1, now_);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> bad{0}, lookups{0};
  std::thread reader([&] {
    Qsbr::Reader* r = qsbr_.Register();
    while (!stop.load(std::memory_order_relaxed)) {
      for (Mac m = 0; m < 64; ++m) {
        auto p = t.Lookup(1, kStable + m, now_);
        if (!p || *p != kP1) bad.fetch_add(1);
      }
      lookups.fetch_add(64, std::memory_order_relaxed);
      r->Quiescent();
    }
    qsbr_.Unregister(r);
  });
  for (int round = 0; round < 20; ++round) {
    for (Mac m = 0; m < 5000; ++m) t.Learn(2, kA + m, round % 2 ? kP1 : kP2, now_);
    for (Mac m = 0; m < 5000; ++m) t.Delete(2, kA + m);
  }
  stop = true;
  reader.join();
  EXPECT_EQ(bad.load(), 0u);
  EXPECT_GT(lookups.load(), 0u);
}

}  // namespace
}  // namespace veb
