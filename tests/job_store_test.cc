// The coordinator's store on its own: a task's result is applied once, the
// summary counts verdicts from the rows, cancelling touches only queued
// tasks, and retention deletes only finished jobs past the cutoff.
#include "coordinator/job_store.h"

#include <gtest/gtest.h>

namespace gauntlet {
namespace {

v1::FileResult Result(v1::Verdict verdict) {
  v1::FileResult result;
  result.set_verdict(verdict);
  return result;
}

class JobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = JobStore::Open({});
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    auto id = store_->InsertJob(
        StoredJob{.public_id = "job-a", .tenant = "t", .created = 10, .total_tasks = 3},
        {{"a", "/a", {}, {}}, {"b", "/b", {}, {}}, {"c", "/c", {}, {}}});
    ASSERT_TRUE(id.ok()) << id.status();
    job_ = *id;
    auto tasks = store_->QueuedTasks(job_, 0, 10);
    ASSERT_TRUE(tasks.ok());
    ASSERT_EQ(tasks->size(), 3u);
    for (const QueuedTask& task : *tasks) tasks_.push_back(task.id);
  }

  std::unique_ptr<JobStore> store_;
  int64_t job_ = 0;
  std::vector<int64_t> tasks_;
};

TEST_F(JobStoreTest, AResultIsAppliedOnceAndCounted) {
  EXPECT_TRUE(*store_->CompleteTask(tasks_[0], 1, Result(v1::MALICIOUS)));
  EXPECT_FALSE(*store_->CompleteTask(tasks_[0], 2, Result(v1::CLEAN)));  // A late duplicate.
  EXPECT_TRUE(*store_->DeadLetterTask(tasks_[1], 2, Result(v1::ERROR)));
  auto summary = store_->Summary(job_);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->id(), "job-a");
  EXPECT_EQ(summary->done_tasks(), 2u);
  EXPECT_EQ(summary->dead_lettered_tasks(), 1u);
  EXPECT_EQ(summary->malicious(), 1u);
  EXPECT_EQ(summary->clean(), 0u);
  EXPECT_EQ(summary->error(), 1u);
  auto queued = store_->QueuedTasks(job_, 0, 10);
  ASSERT_EQ(queued->size(), 1u);
  EXPECT_EQ(queued->front().display, "c");
  auto watched = store_->ResultsAfter(job_, 1, 10);
  ASSERT_EQ(watched->results_size(), 1);
  EXPECT_EQ(watched->results(0).verdict(), v1::ERROR);
}

TEST_F(JobStoreTest, CancellingLeavesFinishedTasksAndTheirVerdicts) {
  ASSERT_TRUE(*store_->CompleteTask(tasks_[0], 1, Result(v1::SUSPICIOUS)));
  ASSERT_TRUE(store_->CancelJob(job_, 20, "", 0).ok());
  auto summary = store_->Summary(job_);
  EXPECT_EQ(summary->state(), v1::CANCELLED);
  EXPECT_EQ(summary->done_tasks(), 1u);
  EXPECT_EQ(summary->suspicious(), 1u);
  EXPECT_TRUE(store_->QueuedTasks(job_, 0, 10)->empty());
  EXPECT_TRUE(store_->UnfinishedJobs()->empty());
  EXPECT_FALSE(*store_->CompleteTask(tasks_[1], 2, Result(v1::CLEAN)));
}

TEST_F(JobStoreTest, RetentionDeletesOnlyFinishedJobsPastTheCutoff) {
  auto kept = store_->DeleteBefore(1e12, 10, 10);  // Unfinished: kept whatever its age.
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->jobs, 0);
  ASSERT_TRUE(store_->FinishJob(job_, 50, "", 0).ok());
  EXPECT_EQ(store_->DeleteBefore(40, 10, 10)->jobs, 0);  // Finished after the cutoff.
  auto deleted = store_->DeleteBefore(60, 10, 10);
  EXPECT_EQ(deleted->jobs, 1);
  EXPECT_EQ(deleted->tasks, 3);
  EXPECT_EQ(store_->Summary(job_).status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(store_->FindJob("job-a")->has_value());
}

}  // namespace
}  // namespace gauntlet
