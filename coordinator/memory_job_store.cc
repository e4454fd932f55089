#include "coordinator/memory_job_store.h"

#include <algorithm>

#include "common/strings.h"
#include "proto/convert.h"

namespace gauntlet {
namespace {

bool Finished(TaskState state) {
  return state == TaskState::kDone || state == TaskState::kDeadLettered;
}

bool Unfinished(v1::JobState state) { return state == v1::QUEUED || state == v1::RUNNING; }

absl::Status Deleted(int64_t job_id) {
  return absl::NotFoundError(StrCat("job ", job_id, " was deleted"));
}

// A dead-lettered batch's reason, from its dead letter.
std::string DeadLetterMessage(const std::optional<v1::FileResult>& result) {
  if (result && result->findings_size() > 0) return result->findings(0).message();
  return "its stored result does not parse";
}

}  // namespace

absl::Status MemoryJobStore::Begin() { return absl::OkStatus(); }
absl::Status MemoryJobStore::Commit() { return absl::OkStatus(); }
void MemoryJobStore::Rollback() {}

absl::StatusOr<int64_t> MemoryJobStore::InsertJob(const StoredJob& job,
                                                  const std::vector<NewTaskRow>& tasks) {
  const int64_t id = ++next_job_;
  StoredJobTasks& stored = jobs_[id];
  stored.job = job;
  stored.job.id = id;
  stored.job.total_tasks = tasks.size();
  stored.tasks.reserve(tasks.size());
  for (const NewTaskRow& row : tasks) {
    Task& task = stored.tasks.emplace_back();
    task.id = ++next_task_;
    task.row = row;
    task_jobs_[task.id] = id;
  }
  public_ids_[job.public_id] = id;
  return id;
}

absl::StatusOr<std::vector<StoredJob>> MemoryJobStore::UnfinishedJobs() {
  std::vector<StoredJob> jobs;
  for (const auto& [id, stored] : jobs_)
    if (Unfinished(stored.job.state)) jobs.push_back(stored.job);
  return jobs;
}

absl::StatusOr<std::vector<TaskTally>> MemoryJobStore::TaskTallies(int64_t job_id) {
  auto job = jobs_.find(job_id);
  if (job == jobs_.end()) return std::vector<TaskTally>();
  std::map<std::tuple<TaskState, v1::Verdict, bool>, TaskTally> groups;
  for (const Task& task : job->second.tasks) {
    const v1::Verdict verdict = task.result ? task.result->verdict() : v1::VERDICT_UNSPECIFIED;
    const bool cached = task.state == TaskState::kDone && task.result && task.result->from_cache();
    TaskTally& tally = groups[{task.state, verdict, cached}];
    tally.state = task.state;
    tally.verdict = verdict;
    tally.cached = cached;
    ++tally.count;
    if (task.result) tally.max_severity = std::max(tally.max_severity, WorstSeverity(*task.result));
  }
  std::vector<TaskTally> tallies;
  for (auto& [key, tally] : groups) tallies.push_back(tally);
  return tallies;
}

absl::StatusOr<std::optional<std::pair<int64_t, std::string>>> MemoryJobStore::FindJob(
    const std::string& public_id) {
  std::optional<std::pair<int64_t, std::string>> found;
  auto id = public_ids_.find(public_id);
  if (id != public_ids_.end()) found.emplace(id->second, jobs_.at(id->second).job.tenant);
  return found;
}

absl::StatusOr<StoredJob> MemoryJobStore::Job(int64_t job_id) {
  auto job = jobs_.find(job_id);
  if (job == jobs_.end()) return Deleted(job_id);
  return job->second.job;
}

absl::StatusOr<v1::Job> MemoryJobStore::Summary(int64_t job_id) {
  auto found = jobs_.find(job_id);
  if (found == jobs_.end()) return Deleted(job_id);
  const StoredJobTasks& stored = found->second;
  v1::Job job;
  job.set_id(stored.job.public_id);
  job.set_tenant(stored.job.tenant);
  job.set_state(stored.job.state);
  job.set_created_unix_seconds(stored.job.created);
  job.set_finished_unix_seconds(stored.job.finished);
  job.set_policy_source(stored.job.policy_source);
  job.set_total_tasks(stored.job.total_tasks);
  job.set_kind(stored.job.kind);
  job.set_eval_verdict(stored.eval_verdict);
  job.set_eval_score(stored.eval_score);
  v1::Severity worst = v1::SEVERITY_UNSPECIFIED;
  for (const Task& task : stored.tasks) {
    if (Finished(task.state)) job.set_done_tasks(job.done_tasks() + 1);
    if (task.state == TaskState::kDeadLettered)
      job.set_dead_lettered_tasks(job.dead_lettered_tasks() + 1);
    if (!task.result) continue;
    if (task.state == TaskState::kDone && task.result->from_cache())
      job.set_cached_tasks(job.cached_tasks() + 1);
    worst = std::max(worst, WorstSeverity(*task.result));
    switch (task.result->verdict()) {
      case v1::CLEAN:
        job.set_clean(job.clean() + 1);
        break;
      case v1::SUSPICIOUS:
        job.set_suspicious(job.suspicious() + 1);
        break;
      case v1::MALICIOUS:
        job.set_malicious(job.malicious() + 1);
        break;
      case v1::ERROR:
        job.set_error(job.error() + 1);
        break;
      default:
        break;
    }
  }
  if (job.kind() == v1::SCAN) job.mutable_scan()->set_max_severity(worst);
  return job;
}

absl::StatusOr<std::vector<int64_t>> MemoryJobStore::NewestJobs(const std::string& tenant,
                                                                int64_t limit) {
  std::vector<int64_t> ids;
  for (auto it = jobs_.rbegin(); it != jobs_.rend() && static_cast<int64_t>(ids.size()) < limit;
       ++it)
    if (tenant.empty() || it->second.job.tenant == tenant) ids.push_back(it->first);
  return ids;
}

absl::Status MemoryJobStore::Conclude(int64_t job_id, v1::JobState state, double finished,
                                      const std::string& eval_verdict, double eval_score) {
  auto job = jobs_.find(job_id);
  if (job == jobs_.end()) return Deleted(job_id);
  job->second.job.state = state;
  job->second.job.finished = finished;
  job->second.eval_verdict = eval_verdict;
  job->second.eval_score = eval_score;
  if (state == v1::CANCELLED)
    for (Task& task : job->second.tasks)
      if (task.state == TaskState::kQueued) task.state = TaskState::kCancelled;
  return absl::OkStatus();
}

absl::Status MemoryJobStore::CancelJob(int64_t job_id, double finished,
                                       const std::string& eval_verdict, double eval_score) {
  return Conclude(job_id, v1::CANCELLED, finished, eval_verdict, eval_score);
}

absl::Status MemoryJobStore::FinishJob(int64_t job_id, double finished,
                                       const std::string& eval_verdict, double eval_score) {
  return Conclude(job_id, v1::SUCCEEDED, finished, eval_verdict, eval_score);
}

absl::StatusOr<std::vector<QueuedTask>> MemoryJobStore::QueuedTasks(int64_t job_id,
                                                                    int64_t after_task,
                                                                    int64_t limit) {
  std::vector<QueuedTask> queued;
  auto job = jobs_.find(job_id);
  if (job == jobs_.end()) return queued;
  const std::vector<Task>& tasks = job->second.tasks;
  auto from = std::upper_bound(tasks.begin(), tasks.end(), after_task,
                               [](int64_t id, const Task& task) { return id < task.id; });
  for (auto it = from; it != tasks.end() && static_cast<int64_t>(queued.size()) < limit; ++it) {
    if (it->state != TaskState::kQueued) continue;
    queued.push_back(QueuedTask{.id = it->id,
                                .display = it->row.display,
                                .path = it->row.path,
                                .blob = it->row.blob,
                                .attempts = 0,
                                .payload = it->row.payload});
  }
  return queued;
}

absl::Status MemoryJobStore::CountAttempts(const std::vector<int64_t>&) { return absl::OkStatus(); }

absl::Status MemoryJobStore::SetAttempts(int64_t, uint32_t) { return absl::OkStatus(); }

std::pair<MemoryJobStore::StoredJobTasks*, MemoryJobStore::Task*> MemoryJobStore::FindTask(
    int64_t task_id) {
  auto job_id = task_jobs_.find(task_id);
  if (job_id == task_jobs_.end()) return {nullptr, nullptr};
  StoredJobTasks& job = jobs_.at(job_id->second);
  // A job's task ids are consecutive: they were inserted together.
  const size_t index = static_cast<size_t>(task_id - job.tasks.front().id);
  return {&job, &job.tasks.at(index)};
}

absl::StatusOr<bool> MemoryJobStore::Finish(int64_t task_id, uint64_t seq, TaskState state,
                                            std::optional<v1::FileResult> result,
                                            std::optional<v1::EvalBatchResult> batch) {
  auto [job, task] = FindTask(task_id);
  if (!task || task->state != TaskState::kQueued) return false;
  task->state = state;
  task->done_seq = seq;
  task->result = std::move(result);
  task->batch = std::move(batch);
  job->finished[seq] = static_cast<size_t>(task - job->tasks.data());
  return true;
}

absl::StatusOr<bool> MemoryJobStore::CompleteTask(int64_t task_id, uint64_t seq,
                                                  const v1::FileResult& result) {
  return Finish(task_id, seq, TaskState::kDone, result, std::nullopt);
}

absl::StatusOr<bool> MemoryJobStore::DeadLetterTask(int64_t task_id, uint64_t seq,
                                                    const v1::FileResult& result) {
  return Finish(task_id, seq, TaskState::kDeadLettered, result, std::nullopt);
}

absl::StatusOr<bool> MemoryJobStore::CompleteEvalBatch(int64_t task_id, uint64_t seq,
                                                       const v1::EvalBatchResult& batch) {
  return Finish(task_id, seq, TaskState::kDone, std::nullopt, batch);
}

absl::StatusOr<v1::WatchJobEvent> MemoryJobStore::ResultsAfter(int64_t job_id, uint64_t after_seq,
                                                               int64_t limit) {
  v1::WatchJobEvent event;
  auto job = jobs_.find(job_id);
  if (job == jobs_.end()) return event;
  const bool eval = job->second.job.kind == v1::EVAL;
  int64_t taken = 0;
  for (auto it = job->second.finished.upper_bound(after_seq);
       it != job->second.finished.end() && taken < limit; ++it, ++taken) {
    const Task& task = job->second.tasks[it->second];
    if (!eval) {
      *event.add_results() = *task.result;
      continue;
    }
    v1::EvalBatchDone& done = *event.add_batches();
    done.set_display(task.row.display);
    if (!task.batch) {
      done.set_error(DeadLetterMessage(task.result));
      continue;
    }
    done.set_prompts(static_cast<uint32_t>(task.batch->outcomes_size()));
    for (const v1::PromptOutcome& outcome : task.batch->outcomes()) {
      done.set_unsafe_a(done.unsafe_a() + (outcome.judged_a().unsafe() ? 1 : 0));
      done.set_unsafe_b(done.unsafe_b() + (outcome.judged_b().unsafe() ? 1 : 0));
    }
  }
  return event;
}

absl::StatusOr<std::vector<v1::FileResult>> MemoryJobStore::FileResults(int64_t job_id) {
  std::vector<const Task*> finished;
  auto job = jobs_.find(job_id);
  if (job != jobs_.end())
    for (const Task& task : job->second.tasks)
      if (Finished(task.state) && task.result) finished.push_back(&task);
  std::stable_sort(finished.begin(), finished.end(),
                   [](const Task* a, const Task* b) { return a->row.display < b->row.display; });
  std::vector<v1::FileResult> results;
  results.reserve(finished.size());
  for (const Task* task : finished) results.push_back(*task->result);
  return results;
}

absl::StatusOr<std::vector<StoredEvalBatch>> MemoryJobStore::EvalBatches(int64_t job_id) {
  std::vector<StoredEvalBatch> batches;
  auto job = jobs_.find(job_id);
  if (job == jobs_.end()) return batches;
  for (const Task& task : job->second.tasks) {
    if (!Finished(task.state)) continue;
    StoredEvalBatch& batch = batches.emplace_back();
    batch.display = task.row.display;
    if (task.batch)
      batch.result = *task.batch;
    else
      batch.error = DeadLetterMessage(task.result);
  }
  return batches;
}

absl::StatusOr<std::vector<QueuedTaskInputs>> MemoryJobStore::QueuedTaskInputsOfUnfinishedJobs() {
  std::vector<QueuedTaskInputs> inputs;
  for (const auto& [id, job] : jobs_) {
    if (!Unfinished(job.job.state)) continue;
    for (const Task& task : job.tasks)
      if (task.state == TaskState::kQueued)
        inputs.push_back({task.row.blob, job.job.kind, task.row.payload});
  }
  return inputs;
}

absl::StatusOr<std::optional<v1::FileResult>> MemoryJobStore::CachedVerdict(
    const std::string& key) {
  auto entry = cache_.find(key);
  if (entry == cache_.end()) return std::optional<v1::FileResult>();
  return std::optional<v1::FileResult>(entry->second.first);
}

absl::Status MemoryJobStore::CacheVerdict(const std::string& key, const v1::FileResult& result,
                                          const std::string&, double created) {
  cache_[key] = {result, created};
  return absl::OkStatus();
}

absl::StatusOr<bool> MemoryJobStore::OwnsBlob(const std::string& tenant, const BlobDigest& blob) {
  return blob_owners_.count({tenant, {blob.sha256, blob.size_bytes}}) > 0;
}

absl::StatusOr<uint64_t> MemoryJobStore::TenantBlobBytes(const std::string& tenant) {
  uint64_t bytes = 0;
  for (const auto& [owner, uploaded] : blob_owners_)
    if (owner.first == tenant) bytes += static_cast<uint64_t>(owner.second.second);
  return bytes;
}

absl::Status MemoryJobStore::AddBlobOwner(const std::string& tenant, const BlobDigest& blob,
                                          double uploaded) {
  blob_owners_[{tenant, {blob.sha256, blob.size_bytes}}] = uploaded;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::pair<std::string, BlobDigest>>> MemoryJobStore::BlobOwnersBefore(
    double cutoff, int64_t limit) {
  std::vector<std::pair<std::string, BlobDigest>> owners;
  for (const auto& [owner, uploaded] : blob_owners_) {
    if (static_cast<int64_t>(owners.size()) >= limit) break;
    if (uploaded < cutoff)
      owners.push_back({owner.first, BlobDigest{owner.second.first, owner.second.second}});
  }
  return owners;
}

absl::StatusOr<bool> MemoryJobStore::DropBlobOwner(const std::string& tenant,
                                                   const BlobDigest& blob) {
  blob_owners_.erase({tenant, {blob.sha256, blob.size_bytes}});
  for (const auto& [owner, uploaded] : blob_owners_)
    if (owner.second.first == blob.sha256 && owner.second.second == blob.size_bytes) return true;
  return false;
}

absl::StatusOr<RetentionCounts> MemoryJobStore::DeleteBefore(double cutoff, int64_t job_limit,
                                                             int64_t cache_limit) {
  RetentionCounts counts;
  for (auto it = jobs_.begin(); it != jobs_.end() && counts.jobs < job_limit;) {
    const StoredJob& job = it->second.job;
    if (Unfinished(job.state) || job.finished <= 0 || job.finished >= cutoff) {
      ++it;
      continue;
    }
    counts.tasks += static_cast<int64_t>(it->second.tasks.size());
    for (const Task& task : it->second.tasks) task_jobs_.erase(task.id);
    public_ids_.erase(job.public_id);
    it = jobs_.erase(it);
    ++counts.jobs;
  }
  for (auto it = cache_.begin(); it != cache_.end() && counts.cache < cache_limit;) {
    if (it->second.second < cutoff) {
      it = cache_.erase(it);
      ++counts.cache;
    } else {
      ++it;
    }
  }
  return counts;
}

}  // namespace gauntlet
