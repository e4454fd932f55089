#include "coordinator/scheduler.h"

#include "common/strings.h"

namespace gauntlet {
namespace {
constexpr int64_t kLoadBatch = 512;
}  // namespace

absl::Status Scheduler::CheckRoom(const std::string& tenant, uint64_t tasks, uint64_t limit) const {
  const uint64_t unfinished = TenantUnfinished(tenant);
  if (unfinished + tasks <= limit) return absl::OkStatus();
  return absl::ResourceExhaustedError(
      StrCat("tenant '", tenant, "' has ", unfinished, " unfinished tasks; this job adds ", tasks,
             " and the limit is ", limit, ". Retry when earlier jobs finish, or split the job."));
}

void Scheduler::AddJob(int64_t job_id, const std::string& tenant, v1::JobKind kind,
                       uint64_t unfinished) {
  TenantQueue& queue = tenants_[tenant];
  if (queue.jobs.empty() && queue.unfinished == 0) rotation_.push_back(tenant);
  queue.jobs.push_back(job_id);
  queue.unfinished += unfinished;
  kind_unfinished_[kind] += unfinished;
  JobQueue& job = jobs_[job_id];
  job.tenant = tenant;
  job.kind = kind;
  job.unfinished = unfinished;
}

void Scheduler::RemoveJob(int64_t job_id) {
  auto job = jobs_.find(job_id);
  if (job == jobs_.end()) return;
  uint64_t& of_kind = kind_unfinished_[job->second.kind];
  of_kind -= std::min(of_kind, job->second.unfinished);
  auto tenant = tenants_.find(job->second.tenant);
  if (tenant != tenants_.end()) {
    TenantQueue& queue = tenant->second;
    std::erase(queue.jobs, job_id);
    queue.unfinished -= std::min(queue.unfinished, job->second.unfinished);
    if (queue.jobs.empty()) {
      std::erase(rotation_, tenant->first);
      tenants_.erase(tenant);
    }
  }
  jobs_.erase(job);
}

std::optional<std::pair<int64_t, PendingTask>> Scheduler::Next(
    const std::function<bool(v1::JobKind)>& takes) {
  // One task per tenant per turn, then one per job within the tenant.
  for (size_t tenants_tried = 0; tenants_tried < rotation_.size(); ++tenants_tried) {
    std::string tenant = rotation_.front();
    rotation_.pop_front();
    rotation_.push_back(tenant);
    TenantQueue& queue = tenants_[tenant];
    for (size_t jobs_tried = 0; jobs_tried < queue.jobs.size(); ++jobs_tried) {
      int64_t job_id = queue.jobs.front();
      queue.jobs.pop_front();
      queue.jobs.push_back(job_id);
      JobQueue& job = jobs_.at(job_id);
      if (!takes(job.kind)) continue;
      if (auto task = NextOfJob(job_id, job)) return std::pair{job_id, std::move(*task)};
    }
  }
  return std::nullopt;
}

std::optional<PendingTask> Scheduler::NextOfJob(int64_t job_id, JobQueue& job) {
  if (job.ready.empty() && !job.exhausted) LoadMore(job_id, job);
  if (job.ready.empty()) return std::nullopt;
  PendingTask task = std::move(job.ready.front());
  job.ready.pop_front();
  return task;
}

void Scheduler::LoadMore(int64_t job_id, JobQueue& job) {
  // A read that fails leaves the window empty for now; the next lease tries again.
  auto rows = store_.QueuedTasks(job_id, job.load_cursor, kLoadBatch);
  if (!rows.ok()) return;
  for (QueuedTask& row : *rows) {
    job.load_cursor = row.id;
    PendingTask& task = job.ready.emplace_back();
    task.task_id = row.id;
    task.display_path = std::move(row.display);
    task.path = std::move(row.path);
    task.blob = std::move(row.blob);
    task.attempts = row.attempts;
    task.queued_at = now_();
    task.payload = std::move(row.payload);
  }
  if (static_cast<int64_t>(rows->size()) < kLoadBatch) job.exhausted = true;
}

void Scheduler::Requeue(int64_t job_id, PendingTask task, bool front) {
  auto job = jobs_.find(job_id);
  if (job == jobs_.end()) return;
  task.queued_at = now_();
  if (front)
    job->second.ready.push_front(std::move(task));
  else
    job->second.ready.push_back(std::move(task));
}

void Scheduler::TaskFinished(int64_t job_id) {
  auto job = jobs_.find(job_id);
  if (job == jobs_.end()) return;
  if (job->second.unfinished > 0) {
    --job->second.unfinished;
    uint64_t& of_kind = kind_unfinished_[job->second.kind];
    if (of_kind > 0) --of_kind;
  }
  auto tenant = tenants_.find(job->second.tenant);
  if (tenant != tenants_.end() && tenant->second.unfinished > 0) --tenant->second.unfinished;
}

uint64_t Scheduler::TenantUnfinished(const std::string& tenant) const {
  auto queue = tenants_.find(tenant);
  return queue == tenants_.end() ? 0 : queue->second.unfinished;
}

uint64_t Scheduler::KindUnfinished(v1::JobKind kind) const {
  auto count = kind_unfinished_.find(kind);
  return count == kind_unfinished_.end() ? 0 : count->second;
}

std::map<std::string, uint64_t> Scheduler::TenantDepths() const {
  std::map<std::string, uint64_t> depths;
  for (const auto& [name, queue] : tenants_) depths[name] = queue.unfinished;
  return depths;
}

void Scheduler::Clear() {
  jobs_.clear();
  tenants_.clear();
  rotation_.clear();
  kind_unfinished_.clear();
}

}  // namespace gauntlet
