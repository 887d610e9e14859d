#include "dataplane/mac_table.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <random>
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

TEST_F(MacTableTest, S7_PortLimitRefusesNewMovedAndRelearnedAddresses) {
  MacTable t(&qsbr_, 100, 240);
  ASSERT_TRUE(t.AddStatic(1, kA, kP1).ok());  // counts toward kP1's limit
  EXPECT_EQ(t.Learn(1, kA + 1, kP1, now_, 2), LearnResult::kLearned);
  EXPECT_EQ(t.Learn(1, kA + 2, kP1, now_, 2), LearnResult::kRefusedPortFull);
  EXPECT_FALSE(t.Lookup(1, kA + 2, now_).has_value());
  EXPECT_EQ(t.Learn(1, kA + 1, kP1, now_, 2), LearnResult::kRefreshed);
  // A move onto the full port is refused; the entry stays where it was.
  EXPECT_EQ(t.Learn(1, kA + 3, kP2, now_, 2), LearnResult::kLearned);
  EXPECT_EQ(t.Learn(1, kA + 3, kP1, now_, 2), LearnResult::kRefusedPortFull);
  EXPECT_EQ(t.Lookup(1, kA + 3, now_), kP2);
  EXPECT_EQ(t.moved_total(), 0u);
  // An expired entry of another port is new to this one: refused too...
  const int64_t later = now_ + 241 * kSec;
  t.Learn(1, kA + 1, kP1, later);  // keep kP1's own entry alive
  EXPECT_EQ(t.Learn(1, kA + 3, kP1, later, 2), LearnResult::kRefusedPortFull);
  // ...but its own expired entry relearns (the count does not change).
  EXPECT_EQ(t.CountForPort(kP1), 2u);
  EXPECT_EQ(t.Learn(1, kA + 1, kP1, later + 241 * kSec, 2), LearnResult::kLearned);
  EXPECT_EQ(t.CountForPort(kP1), 2u);
  // Limit 0: none.
  for (Mac m = 10; m < 20; ++m) {
    EXPECT_EQ(t.Learn(1, kA + m, kP1, now_, 0), LearnResult::kLearned) << m;
  }
  EXPECT_EQ(t.CountForPort(kP1), 12u);
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

// ---- counts kept by the table ------------------------------------------------

constexpr PortRef kP3{3, 13};

// Every count recomputed from a full listing. List(0) lists entries past their
// timeout too (no entry is older than time 0), as the counters count them.
void ExpectCountsExact(const MacTable& t, const std::vector<PortRef>& ports) {
  const std::vector<AddressEntry> all = t.List(0);
  size_t statics = 0;
  std::map<uint16_t, size_t> by_vid;
  for (const AddressEntry& e : all) {
    statics += e.is_static;
    ++by_vid[e.vid];
  }
  ASSERT_EQ(t.size(), all.size());
  ASSERT_EQ(t.static_count(), statics);
  ASSERT_EQ(t.dynamic_count(), all.size() - statics);
  ASSERT_EQ(t.CountMatching({}), all.size());
  for (PortRef p : ports) {
    size_t n = 0, s = 0;
    for (const AddressEntry& e : all) {
      if (e.port == p) {
        ++n;
        s += e.is_static;
      }
    }
    ASSERT_EQ(t.CountForPort(p), n) << p.slot;
    ASSERT_EQ(t.StaticCountForPort(p), s) << p.slot;
    AddressFilter f;
    f.port = p;
    f.is_static = false;
    ASSERT_EQ(t.CountMatching(f), n - s) << p.slot;
  }
  for (uint16_t vid = 0; vid < 8; ++vid) {
    ASSERT_EQ(t.CountForVid(vid), by_vid[vid]) << vid;
  }
}

TEST_F(MacTableTest, CountsExactThroughEveryChange) {
  MacTable t(&qsbr_, 100, 8);
  const std::vector<PortRef> ports = {kP1, kP2, kP3};
  t.Learn(1, kA, kP1, now_);
  t.Learn(1, kA + 1, kP1, now_);
  t.Learn(2, kA, kP2, now_);
  EXPECT_EQ(t.CountForPort(kP1), 2u);
  ExpectCountsExact(t, ports);
  // Refresh (lock-free path) changes nothing.
  t.Learn(1, kA, kP1, now_ + kSec);
  ExpectCountsExact(t, ports);
  // Move.
  EXPECT_EQ(t.Learn(1, kA, kP2, now_ + kSec), LearnResult::kMoved);
  EXPECT_EQ(t.CountForPort(kP1), 1u);
  EXPECT_EQ(t.CountForPort(kP2), 2u);
  ExpectCountsExact(t, ports);
  // Static add, replace of a dynamic entry, replace of a static entry.
  ASSERT_TRUE(t.AddStatic(3, kA, kP3).ok());
  ASSERT_TRUE(t.AddStatic(1, kA + 1, kP3).ok());  // was dynamic on kP1
  EXPECT_EQ(t.static_count(), 2u);
  EXPECT_EQ(t.CountForPort(kP1), 0u);
  ExpectCountsExact(t, ports);
  ASSERT_TRUE(t.AddStatic(1, kA + 1, kP2).ok());  // static moves to kP2
  EXPECT_EQ(t.static_count(), 2u);
  EXPECT_EQ(t.StaticCountForPort(kP2), 1u);
  ExpectCountsExact(t, ports);
  // Delete.
  EXPECT_TRUE(t.Delete(3, kA));
  EXPECT_EQ(t.static_count(), 1u);
  ExpectCountsExact(t, ports);
  // Expired entry relearned on another port (under the lock).
  t.Learn(4, kA, kP1, now_);
  EXPECT_EQ(t.Learn(4, kA, kP3, now_ + 20 * kSec), LearnResult::kLearned);
  EXPECT_EQ(t.CountForPort(kP1), 0u);
  ExpectCountsExact(t, ports);
  // Expire.
  t.Learn(5, kA, kP1, now_ + 20 * kSec);
  EXPECT_EQ(t.Expire(now_ + 20 * kSec), 2u);  // (1,kA) and (2,kA) learned at now_ + kSec, now_
  ExpectCountsExact(t, ports);
  // Flush dynamic, then all.
  t.Learn(6, kA, kP2, now_ + 20 * kSec);
  EXPECT_EQ(t.Flush(false), 3u);
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(t.static_count(), 1u);
  ExpectCountsExact(t, ports);
  EXPECT_EQ(t.Flush(true), 1u);
  EXPECT_EQ(t.static_count(), 0u);
  ExpectCountsExact(t, ports);
  // Port removal.
  t.Learn(1, kA, kP1, now_);
  t.Learn(1, kA + 1, kP2, now_);
  ASSERT_TRUE(t.AddStatic(1, kA + 2, kP1).ok());
  EXPECT_EQ(t.RemovePort(kP1), 2u);
  EXPECT_EQ(t.CountForPort(kP1), 0u);
  EXPECT_EQ(t.static_count(), 0u);
  ExpectCountsExact(t, ports);
}

TEST_F(MacTableTest, CountsExactUnderRandomizedOperations) {
  std::mt19937 rng(7);
  auto R = [&](uint32_t n) { return std::uniform_int_distribution<uint32_t>(0, n - 1)(rng); };
  MacTable t(&qsbr_, 300, 8);
  const std::vector<PortRef> ports = {kP1, kP2, kP3, PortRef{1, 14}};
  for (int i = 0; i < 20000; ++i) {
    const uint16_t vid = static_cast<uint16_t>(R(8));
    const Mac mac = kA + R(64);
    const PortRef port = ports[R(ports.size())];
    switch (R(100)) {
      case 0:
        t.Flush(R(2) == 0);
        break;
      case 1:
        t.RemovePort(port);
        break;
      case 2:
      case 3:
        t.Expire(now_);
        break;
      case 4:
        t.SetMaxAddresses(50 + R(300));
        break;
      default:
        if (R(10) == 0) {
          (void)t.AddStatic(vid, mac, port);
        } else if (R(10) == 0) {
          t.Delete(vid, mac);
        } else {
          t.Learn(vid, mac, port, now_);
        }
    }
    if (R(20) == 0) now_ += R(3) * kSec;
    if (i % 97 == 0) ExpectCountsExact(t, ports);
  }
  ExpectCountsExact(t, ports);
}

// ---- ordered pages -------------------------------------------------------------

std::vector<AddressEntry> AllPages(const MacTable& t, const AddressFilter& f,
                                   size_t limit, int64_t now) {
  std::vector<AddressEntry> out;
  std::optional<AddressKey> after;
  for (int guard = 0; guard < 100000; ++guard) {
    AddressPage page = t.ListPage(after, limit, f, now);
    EXPECT_LE(page.entries.size(), limit);
    out.insert(out.end(), page.entries.begin(), page.entries.end());
    if (!page.next_after) return out;
    EXPECT_EQ(page.entries.size(), limit);  // only a full page has a next
    EXPECT_EQ(*page.next_after,
              (AddressKey{page.entries.back().vid, page.entries.back().mac}));
    after = page.next_after;
  }
  ADD_FAILURE() << "pages never ended";
  return out;
}

bool KeyLess(const AddressEntry& a, const AddressEntry& b) {
  return std::make_pair(a.vid, a.mac) < std::make_pair(b.vid, b.mac);
}

TEST_F(MacTableTest, ListPageInVidMacOrderWithCursors) {
  MacTable t(&qsbr_, 10000, 8);
  std::mt19937_64 rng(3);
  for (int i = 0; i < 1000; ++i) {
    t.Learn(static_cast<uint16_t>(1 + rng() % 20), 0x020000000000ULL | (rng() & 0xffffffffULL),
            i % 3 ? kP1 : kP2, now_);
  }
  for (Mac m = 0; m < 50; ++m) ASSERT_TRUE(t.AddStatic(4094, kA + m, kP3).ok());
  std::vector<AddressEntry> expected = t.List(now_);
  std::sort(expected.begin(), expected.end(), KeyLess);
  for (size_t limit : {1u, 7u, 100u, 5000u}) {
    const std::vector<AddressEntry> got = AllPages(t, {}, limit, now_);
    ASSERT_EQ(got.size(), expected.size()) << limit;
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(got[i].vid, expected[i].vid) << i;
      ASSERT_EQ(got[i].mac, expected[i].mac) << i;
      ASSERT_EQ(got[i].port, expected[i].port) << i;
    }
  }
  // A cursor resumes strictly after its key, whether or not it is an entry.
  const AddressEntry& mid = expected[500];
  AddressPage p = t.ListPage(AddressKey{mid.vid, mid.mac}, 1, {}, now_);
  ASSERT_EQ(p.entries.size(), 1u);
  EXPECT_EQ(p.entries[0].mac, expected[501].mac);
  ASSERT_NE(expected[501].mac - 1, mid.mac);
  p = t.ListPage(AddressKey{expected[501].vid, expected[501].mac - 1}, 1, {}, now_);
  ASSERT_EQ(p.entries.size(), 1u);
  EXPECT_EQ(p.entries[0].mac, expected[501].mac);
  // The last key, and the very last possible key, end the listing.
  EXPECT_TRUE(t.ListPage(AddressKey{expected.back().vid, expected.back().mac}, 10, {}, now_)
                  .entries.empty());
  EXPECT_TRUE(t.ListPage(AddressKey{4095, 0xffffffffffffULL}, 10, {}, now_).entries.empty());
  EXPECT_TRUE(t.ListPage(std::nullopt, 0, {}, now_).entries.empty());
}

TEST_F(MacTableTest, ListPageAndCountFilters) {
  MacTable t(&qsbr_, 10000, 8);
  for (Mac m = 0; m < 300; ++m) {
    t.Learn(static_cast<uint16_t>(1 + m % 5), kA + m % 60, m % 2 ? kP1 : kP2, now_);
  }
  ASSERT_TRUE(t.AddStatic(3, kA + 100, kP1).ok());
  ASSERT_TRUE(t.AddStatic(7, kA + 7, kP3).ok());
  // An expired entry is neither listed nor (once swept) counted.
  t.Learn(9, kA, kP1, now_ - 60 * kSec);
  const std::vector<AddressEntry> all = t.List(now_);
  std::vector<AddressFilter> filters;
  for (std::optional<PortRef> port : {std::optional<PortRef>(), std::optional<PortRef>(kP1),
                                      std::optional<PortRef>(kP3)}) {
    for (std::optional<uint16_t> vid : {std::optional<uint16_t>(), std::optional<uint16_t>(3),
                                        std::optional<uint16_t>(7), std::optional<uint16_t>(4000)}) {
      for (std::optional<Mac> mac : {std::optional<Mac>(), std::optional<Mac>(kA + 7)}) {
        for (std::optional<bool> st : {std::optional<bool>(), std::optional<bool>(true),
                                       std::optional<bool>(false)}) {
          filters.push_back(AddressFilter{port, vid, mac, st});
        }
      }
    }
  }
  t.Expire(now_);
  for (const AddressFilter& f : filters) {
    std::vector<AddressEntry> expected;
    for (const AddressEntry& e : all) {
      if (f.port && e.port != *f.port) continue;
      if (f.vid && e.vid != *f.vid) continue;
      if (f.mac && e.mac != *f.mac) continue;
      if (f.is_static && e.is_static != *f.is_static) continue;
      expected.push_back(e);
    }
    std::sort(expected.begin(), expected.end(), KeyLess);
    const std::string what = ::testing::PrintToString(
        std::make_tuple(f.port.has_value(), f.vid.value_or(0), f.mac.has_value(),
                        f.is_static.value_or(2)));
    EXPECT_EQ(t.CountMatching(f), expected.size()) << what;
    const std::vector<AddressEntry> got = AllPages(t, f, 3, now_);
    ASSERT_EQ(got.size(), expected.size()) << what;
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].vid, expected[i].vid) << what;
      EXPECT_EQ(got[i].mac, expected[i].mac) << what;
    }
  }
}

// Pages while another thread learns and deletes: keys strictly increase across
// pages, and every entry present throughout is listed exactly once.
TEST_F(MacTableTest, PagesAcrossConcurrentLearning) {
  MacTable t(&qsbr_, 1000000, 3600);
  constexpr Mac kStable = 0x02aa00000000ULL;
  for (Mac m = 0; m < 3000; m += 1) {
    t.Learn(static_cast<uint16_t>(1 + m % 3), kStable + m * 16, kP1, now_);
  }
  std::atomic<bool> stop{false};
  std::thread learner([&] {
    Qsbr::Reader* r = qsbr_.Register();
    for (int round = 0; !stop.load(); ++round) {
      for (Mac m = 0; m < 2000; ++m) {
        t.Learn(static_cast<uint16_t>(1 + m % 3), kStable + m * 16 + 1 + round % 8, kP2, now_);
      }
      for (Mac m = 0; m < 2000; ++m) {
        t.Delete(static_cast<uint16_t>(1 + m % 3), kStable + m * 16 + 1 + round % 8);
      }
      r->Quiescent();
    }
    qsbr_.Unregister(r);
  });
  size_t stable_seen = 0;
  for (int pass = 0; pass < 20; ++pass) {
    std::optional<AddressKey> after;
    std::optional<std::pair<uint16_t, Mac>> last;
    stable_seen = 0;
    for (;;) {
      AddressPage page = t.ListPage(after, 64, {}, now_);
      for (const AddressEntry& e : page.entries) {
        const auto key = std::make_pair(e.vid, e.mac);
        if (last) ASSERT_LT(*last, key);
        last = key;
        if (e.port == kP1) ++stable_seen;
      }
      if (!page.next_after) break;
      after = page.next_after;
    }
    EXPECT_EQ(stable_seen, 3000u) << pass;
  }
  stop = true;
  learner.join();
}

// ---- memory returns ------------------------------------------------------------

TEST_F(MacTableTest, CapacityReturnsToMinimumAfterOneMillionFlushed) {
  MacTable t(&qsbr_, kMaxAddressesLimit, 240);
  for (uint32_t i = 0; i < kMaxAddressesLimit; ++i) {
    ASSERT_EQ(t.Learn(static_cast<uint16_t>(1 + i % 4094), kA + i, kP1, now_),
              LearnResult::kLearned);
  }
  EXPECT_GE(t.capacity(), size_t{kMaxAddressesLimit});
  EXPECT_EQ(t.CountForPort(kP1), size_t{kMaxAddressesLimit});
  EXPECT_EQ(t.Flush(false), size_t{kMaxAddressesLimit});
  EXPECT_EQ(t.capacity(), MacTable::kMinCapacity);
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.CountForPort(kP1), 0u);
  EXPECT_TRUE(t.ListPage(std::nullopt, 10, {}, now_).entries.empty());
}

TEST_F(MacTableTest, CapacityReturnsToMinimumAfterExpireAndRemovePort) {
  MacTable t(&qsbr_, kMaxAddressesLimit, 8);
  for (uint32_t i = 0; i < 200000; ++i) t.Learn(1, kA + i, i % 2 ? kP1 : kP2, now_);
  EXPECT_GE(t.capacity(), 200000u);
  EXPECT_EQ(t.RemovePort(kP1), 100000u);
  EXPECT_EQ(t.Expire(now_ + 9 * kSec), 100000u);
  EXPECT_EQ(t.capacity(), MacTable::kMinCapacity);
}

}  // namespace
}  // namespace veb
