#include "dataplane/qsbr.h"

#include <atomic>
#include <thread>

#include "gtest/gtest.h"

namespace veb {
namespace {

TEST(QsbrTest, ReclaimsImmediatelyWithoutOnlineReaders) {
  Qsbr qsbr;
  bool freed = false;
  qsbr.Retire([&] { freed = true; });
  EXPECT_TRUE(freed);
}

TEST(QsbrTest, OnlineReaderHoldsBackUntilQuiescent) {
  Qsbr qsbr;
  Qsbr::Reader* r = qsbr.Register();  // online
  bool freed = false;
  qsbr.Retire([&] { freed = true; });
  EXPECT_FALSE(freed);
  EXPECT_EQ(qsbr.Reclaim(), 1u);
  r->Quiescent();
  EXPECT_EQ(qsbr.Reclaim(), 0u);
  EXPECT_TRUE(freed);
  qsbr.Unregister(r);
}

TEST(QsbrTest, OfflineReaderDoesNotHoldBack) {
  Qsbr qsbr;
  Qsbr::Reader* r = qsbr.Register();
  r->Offline();
  bool freed = false;
  qsbr.Retire([&] { freed = true; });
  EXPECT_TRUE(freed);
  qsbr.Unregister(r);
}

TEST(QsbrTest, SynchronizeWaitsForReaderSection) {
  Qsbr qsbr;
  Qsbr::Reader* r = qsbr.Register();
  std::atomic<bool> left{false};
  std::thread reader([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    left = true;
    r->Offline();
  });
  qsbr.Synchronize();
  EXPECT_TRUE(left.load());
  reader.join();
  qsbr.Unregister(r);
}

// A worker grows the MAC table (Retire) inside its read-side section while
// the control thread waits in Synchronize (port removal): neither may wait
// for the other. This deadlocked when both used one lock.
TEST(QsbrTest, OnlineReaderCanRetireDuringSynchronize) {
  Qsbr qsbr;
  std::atomic<bool> stop{false};
  std::atomic<int> retired{0}, freed{0};
  std::thread worker([&] {
    Qsbr::Reader* r = qsbr.Register();
    while (!stop.load()) {
      r->Online();
      for (int i = 0; i < 10; ++i) {
        qsbr.Retire([&freed] { freed.fetch_add(1); });
        retired.fetch_add(1);
      }
      r->Offline();
    }
    qsbr.Unregister(r);
  });
  int syncs = 0;
  while (retired.load() < 20000 || syncs < 1000) {
    qsbr.Synchronize();
    ++syncs;
  }
  stop = true;
  worker.join();
  EXPECT_EQ(qsbr.Reclaim(), 0u);
  EXPECT_EQ(freed.load(), retired.load());
}

TEST(QsbrTest, DestructorRunsPending) {
  bool freed = false;
  {
    Qsbr qsbr;
    Qsbr::Reader* r = qsbr.Register();
    qsbr.Retire([&] { freed = true; });
    EXPECT_FALSE(freed);
    (void)r;
  }
  EXPECT_TRUE(freed);
}

}  // namespace
}  // namespace veb
