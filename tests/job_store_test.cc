// The coordinator's stores on their own, both implementations to one
// contract: a task's result is applied once, the summary counts verdicts
// from the tasks, cancelling touches only queued tasks, watching returns
// results in completion order, and retention deletes only finished jobs
// past the cutoff.
#include "coordinator/job_store.h"

#include <gtest/gtest.h>

#include "coordinator/memory_job_store.h"
#include "coordinator/sqlite_job_store.h"

namespace gauntlet {
namespace {

v1::FileResult Result(v1::Verdict verdict) {
  v1::FileResult result;
  result.set_verdict(verdict);
  return result;
}

class JobStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "memory") {
      store_ = std::make_unique<MemoryJobStore>();
    } else {
      auto store = SqliteJobStore::Open({});  // A private SQLite database in memory.
      ASSERT_TRUE(store.ok()) << store.status();
      store_ = std::move(*store);
    }
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

TEST_P(JobStoreTest, AResultIsAppliedOnceAndCounted) {
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

TEST_P(JobStoreTest, CancellingLeavesFinishedTasksAndTheirVerdicts) {
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

TEST_P(JobStoreTest, RetentionDeletesOnlyFinishedJobsPastTheCutoff) {
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

TEST_P(JobStoreTest, TalliesCacheAndBlobOwnersAgree) {
  v1::FileResult cached = Result(v1::SUSPICIOUS);
  cached.set_from_cache(true);
  cached.add_findings()->set_severity(v1::MEDIUM);
  ASSERT_TRUE(*store_->CompleteTask(tasks_[0], 1, cached));
  ASSERT_TRUE(*store_->CompleteTask(tasks_[1], 2, Result(v1::CLEAN)));
  auto tallies = store_->TaskTallies(job_);
  ASSERT_TRUE(tallies.ok());
  uint64_t queued = 0, cached_count = 0;
  v1::Severity worst = v1::SEVERITY_UNSPECIFIED;
  for (const TaskTally& tally : *tallies) {
    if (tally.state == TaskState::kQueued) queued += tally.count;
    if (tally.cached) cached_count += tally.count;
    worst = std::max(worst, tally.max_severity);
  }
  EXPECT_EQ(queued, 1u);
  EXPECT_EQ(cached_count, 1u);
  EXPECT_EQ(worst, v1::MEDIUM);
  EXPECT_EQ(store_->Summary(job_)->scan().max_severity(), v1::MEDIUM);
  EXPECT_EQ(store_->Summary(job_)->cached_tasks(), 1u);
  auto files = store_->FileResults(job_);
  ASSERT_EQ(files->size(), 2u);

  ASSERT_TRUE(store_->CacheVerdict("k", Result(v1::MALICIOUS), "worker:a", 5).ok());
  EXPECT_EQ((*store_->CachedVerdict("k"))->verdict(), v1::MALICIOUS);
  EXPECT_FALSE(store_->CachedVerdict("other")->has_value());

  BlobDigest blob{std::string(64, 'a'), 10};
  ASSERT_TRUE(store_->AddBlobOwner("t1", blob, 1).ok());
  ASSERT_TRUE(store_->AddBlobOwner("t2", blob, 2).ok());
  EXPECT_TRUE(*store_->OwnsBlob("t1", blob));
  EXPECT_FALSE(*store_->OwnsBlob("t3", blob));
  EXPECT_EQ(*store_->TenantBlobBytes("t1"), 10u);
  EXPECT_EQ(store_->BlobOwnersBefore(1.5, 10)->size(), 1u);
  EXPECT_TRUE(*store_->DropBlobOwner("t1", blob)) << "t2 still owns the bytes";
  EXPECT_FALSE(*store_->DropBlobOwner("t2", blob));
  EXPECT_EQ(store_->DeleteBefore(10, 10, 10)->cache, 1);
}

TEST_P(JobStoreTest, EvalBatchesAndTheirProgress) {
  StoredJob eval{.public_id = "job-e", .tenant = "t", .kind = v1::EVAL, .created = 1};
  auto id =
      store_->InsertJob(eval, {{"prompts 1-2", "", {}, "payload"}, {"prompts 3-4", "", {}, ""}});
  ASSERT_TRUE(id.ok());
  auto queued = store_->QueuedTasks(*id, 0, 10);
  ASSERT_EQ(queued->size(), 2u);
  EXPECT_EQ(queued->front().payload, "payload");
  EXPECT_EQ(store_->QueuedTaskInputsOfUnfinishedJobs()->size(), 5u);  // Both jobs: 3 + 2.
  v1::EvalBatchResult batch;
  batch.add_outcomes()->mutable_judged_b()->set_unsafe(true);
  batch.add_outcomes();
  ASSERT_TRUE(*store_->CompleteEvalBatch((*queued)[0].id, 1, batch));
  v1::FileResult dead = Result(v1::ERROR);
  dead.add_findings()->set_message("3 attempts failed");
  ASSERT_TRUE(*store_->DeadLetterTask((*queued)[1].id, 2, dead));
  auto batches = store_->EvalBatches(*id);
  ASSERT_EQ(batches->size(), 2u);
  EXPECT_TRUE((*batches)[0].result.has_value());
  EXPECT_EQ((*batches)[1].error, "3 attempts failed");
  auto watched = store_->ResultsAfter(*id, 0, 10);
  ASSERT_EQ(watched->batches_size(), 2);
  EXPECT_EQ(watched->results_size(), 0);
  EXPECT_EQ(watched->batches(0).prompts(), 2u);
  EXPECT_EQ(watched->batches(0).unsafe_b(), 1u);
  EXPECT_EQ(watched->batches(1).error(), "3 attempts failed");
  EXPECT_EQ(store_->ResultsAfter(*id, 1, 10)->batches_size(), 1);
  EXPECT_EQ(*store_->NewestJobs("", 10), (std::vector<int64_t>{*id, job_}));
  EXPECT_EQ(store_->NewestJobs("nobody", 10)->size(), 0u);
  ASSERT_TRUE(store_->FinishJob(*id, 3, "BACKDOOR", 0.9).ok());
  EXPECT_EQ(store_->Summary(*id)->eval_verdict(), "BACKDOOR");
  EXPECT_EQ(store_->UnfinishedJobs()->size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(BothStores, JobStoreTest, ::testing::Values("memory", "sqlite"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace gauntlet
