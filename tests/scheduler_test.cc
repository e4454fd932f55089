// The fair-share scheduler over a real (in-memory) JobStore: tenants take
// turns, jobs take turns within a tenant, eval work goes only to eval
// workers, retries go first, and the tenant limit counts unfinished tasks.
#include "coordinator/scheduler.h"

#include <gtest/gtest.h>

#include "coordinator/job_store.h"

namespace gauntlet {
namespace {

class SchedulerTest : public ::testing::Test {
 protected:
  static std::unique_ptr<JobStore> OpenStore() {
    auto store = JobStore::Open({});
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }

  // A job of `tasks` files named "<tenant>-<n>", added to the scheduler.
  int64_t AddJob(const std::string& tenant, int tasks, v1::JobKind kind = v1::SCAN) {
    std::vector<NewTaskRow> rows;
    for (int i = 0; i < tasks; ++i)
      rows.push_back({tenant + "-" + std::to_string(i), "/f", {}, {}});
    StoredJob job{.public_id = "job-" + std::to_string(++jobs_),
                  .tenant = tenant,
                  .kind = kind,
                  .total_tasks = static_cast<uint64_t>(tasks)};
    auto id = store_->InsertJob(job, rows);
    EXPECT_TRUE(id.ok()) << id.status();
    scheduler_.AddJob(*id, tenant, kind, static_cast<uint64_t>(tasks));
    return *id;
  }

  // The next task's name for a worker that takes scan and/or eval jobs.
  std::string NextName(bool scan = true, bool eval = false) {
    auto next = scheduler_.Next([&](v1::JobKind kind) { return kind == v1::EVAL ? eval : scan; });
    return next ? next->second.display_path : "none";
  }

  std::unique_ptr<JobStore> store_ = OpenStore();
  double clock_ = 0;
  Scheduler scheduler_{*store_, [this] { return clock_; }};
  int jobs_ = 0;
};

TEST_F(SchedulerTest, TenantsTakeTurnsWhateverTheirJobSizes) {
  AddJob("big", 1000);
  AddJob("small", 2);
  EXPECT_EQ(NextName(), "big-0");
  EXPECT_EQ(NextName(), "small-0");
  EXPECT_EQ(NextName(), "big-1");
  EXPECT_EQ(NextName(), "small-1");
  EXPECT_EQ(NextName(), "big-2");
  EXPECT_EQ(NextName(), "big-3");
}

TEST_F(SchedulerTest, JobsOfOneTenantTakeTurns) {
  AddJob("t", 3);
  AddJob("t", 3);
  std::vector<int64_t> order;
  for (int i = 0; i < 4; ++i)
    order.push_back(scheduler_.Next([](v1::JobKind) { return true; })->first);
  EXPECT_NE(order[0], order[1]);
  EXPECT_EQ(order[0], order[2]);
  EXPECT_EQ(order[1], order[3]);
}

TEST_F(SchedulerTest, EvalWorkGoesOnlyToEvalWorkers) {
  AddJob("t", 1, v1::EVAL);
  EXPECT_EQ(NextName(/*scan=*/true, /*eval=*/false), "none");
  EXPECT_EQ(NextName(/*scan=*/false, /*eval=*/true), "t-0");
}

TEST_F(SchedulerTest, ARetryGoesFirstAndLoadsPastTheWindow) {
  const int64_t job = AddJob("t", 600);  // More than one load window.
  auto first = scheduler_.Next([](v1::JobKind) { return true; });
  ASSERT_TRUE(first);
  for (int i = 1; i < 600; ++i) ASSERT_NE(NextName(), "none") << i;
  EXPECT_EQ(NextName(), "none");
  scheduler_.Requeue(job, first->second, /*front=*/true);
  EXPECT_EQ(NextName(), "t-0");
}

TEST_F(SchedulerTest, TheTenantLimitCountsUnfinishedTasks) {
  const int64_t job = AddJob("t", 3);
  EXPECT_TRUE(scheduler_.CheckRoom("t", 2, 5).ok());
  EXPECT_EQ(scheduler_.CheckRoom("t", 3, 5).code(), absl::StatusCode::kResourceExhausted);
  scheduler_.TaskFinished(job);
  EXPECT_TRUE(scheduler_.CheckRoom("t", 3, 5).ok());
  EXPECT_EQ(scheduler_.TenantUnfinished("t"), 2u);
  scheduler_.RemoveJob(job);
  EXPECT_EQ(scheduler_.TenantUnfinished("t"), 0u);
  EXPECT_TRUE(scheduler_.TenantDepths().empty());
}

}  // namespace
}  // namespace gauntlet
