#include "dataplane/qsbr.h"

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
