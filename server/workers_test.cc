#include "server/workers.h"

#include "gtest/gtest.h"

namespace veb::server {
namespace {

TEST(ResolveWorkerCountTest, ZeroIsOnePerCpuCappedAtTheLimit) {
  EXPECT_EQ(*ResolveWorkerCount(0, 2), 2);
  EXPECT_EQ(*ResolveWorkerCount(0, 256), 256);
  // A host with more CPUs than the dataplane's limit still starts.
  ASSERT_TRUE(ResolveWorkerCount(0, 384).ok());
  EXPECT_EQ(*ResolveWorkerCount(0, 384), kMaxWorkers);
  EXPECT_EQ(*ResolveWorkerCount(0, 0), 1);  // unknown CPU count
}

TEST(ResolveWorkerCountTest, ExplicitCountsAreCheckedNotClamped) {
  EXPECT_EQ(*ResolveWorkerCount(3, 2), 3);
  EXPECT_EQ(*ResolveWorkerCount(kMaxWorkers, 2), kMaxWorkers);
  absl::StatusOr<int> too_many = ResolveWorkerCount(kMaxWorkers + 1, 2);
  ASSERT_FALSE(too_many.ok());
  EXPECT_EQ(too_many.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(too_many.status().message().find("out of range 1..256"), std::string::npos);
  EXPECT_FALSE(ResolveWorkerCount(-1, 2).ok());
}

}  // namespace
}  // namespace veb::server
