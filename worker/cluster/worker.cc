#include "worker/cluster/worker.h"

#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <random>

#include "common/digest.h"
#include "common/log.h"
#include "common/regular_file.h"
#include "common/strings.h"

namespace gauntlet {
namespace {

using std::chrono::milliseconds;

bool LeaseGone(const absl::Status& status) { return status.code() == absl::StatusCode::kNotFound; }

}  // namespace

Worker::Worker(WorkerApi& api, ScanRunner& runner, WorkerOptions options, WorkerMetrics* metrics,
               EvalRunner* eval)
    : api_(api), runner_(runner), eval_(eval), options_(std::move(options)), metrics_(metrics) {
  if (metrics_) metrics_->SetSlots(options_.slots);
}

Worker::~Worker() {
  Stop();
  for (std::thread& thread : threads_)
    if (thread.joinable()) thread.join();
}

void Worker::Drain() {
  draining_ = true;
  if (metrics_) metrics_->SetDraining(true);
  wake_.notify_all();
}

void Worker::Stop() {
  stopping_ = true;
  wake_.notify_all();
}

void Worker::Sleep(milliseconds duration) {
  std::unique_lock lock(mu_);
  wake_.wait_for(lock, duration, [&] { return stopping_.load(); });
}

bool Worker::EnsureRegistered() {
  std::unique_lock lock(mu_);
  // One registration at a time: slots that raced each registered a worker,
  // and the spare ones lingered, idle and counted, until they expired.
  wake_.wait(lock, [&] { return !registering_ || stopping_; });
  if (!worker_id_.empty()) return true;
  if (stopping_ || std::chrono::steady_clock::now() < next_register_attempt_) return false;
  registering_ = true;
  lock.unlock();
  v1::RegisterRequest request;
  request.set_name(options_.name);
  request.mutable_capabilities()->set_scan(true);
  request.mutable_capabilities()->set_eval(eval_ != nullptr);
  request.mutable_capabilities()->set_gpu(eval_ != nullptr && eval_->gpu());
  request.set_max_leases(options_.slots * options_.lease_batch);
  request.set_draining(draining_);
  auto response = api_.Register(request);
  lock.lock();
  registering_ = false;
  wake_.notify_all();
  if (!response.ok()) {
    static thread_local std::mt19937 jitter(std::random_device{}());
    next_register_attempt_ = std::chrono::steady_clock::now() + register_backoff_ +
                             milliseconds(jitter() % (register_backoff_.count() / 2 + 1));
    register_backoff_ = std::min(register_backoff_ * 2, milliseconds(5000));
    return false;
  }
  register_backoff_ = milliseconds(100);
  worker_id_ = response->worker_id();
  heartbeat_interval_ = milliseconds(std::max<uint32_t>(10, response->heartbeat_interval_ms()));
  // Leases from an earlier registration died with it.
  for (const std::string& lease : held_) lost_.insert(lease);
  if (metrics_) metrics_->Reconnect();
  Log(LogLevel::kInfo, "registered", {{"worker_id", worker_id_}});
  return true;
}

std::string Worker::WorkerId() {
  std::lock_guard lock(mu_);
  return worker_id_;
}

void Worker::Run() {
  executors_left_ = options_.slots;
  for (uint32_t i = 0; i < options_.slots; ++i) threads_.emplace_back([this] { Execute(); });
  threads_.emplace_back([this] { HeartbeatLoop(); });
  {
    // Done when stopped, or when every slot has finished draining.
    std::unique_lock lock(mu_);
    wake_.wait(lock, [&] { return stopping_ || executors_left_ == 0; });
  }
  stopping_ = true;
  wake_.notify_all();
  for (std::thread& thread : threads_)
    if (thread.joinable()) thread.join();
  threads_.clear();
}

void Worker::Execute() {
  milliseconds poll(1), backoff(100);
  while (!stopping_ && !draining_) {
    if (!EnsureRegistered()) {
      Sleep(milliseconds(50));
      continue;
    }
    v1::LeaseRequest request;
    request.set_worker_id(WorkerId());
    request.set_max_tasks(options_.lease_batch);
    auto leased = api_.Lease(request);
    if (!leased.ok()) {
      if (LeaseGone(leased.status()) || leased.status().code() == absl::StatusCode::kUnavailable) {
        std::lock_guard lock(mu_);
        if (worker_id_ == request.worker_id()) worker_id_.clear();  // Register again.
      }
      Sleep(backoff);
      backoff = std::min(backoff * 2, milliseconds(5000));
      continue;
    }
    backoff = milliseconds(100);
    if (leased->tasks().empty()) {
      Sleep(poll);
      poll = std::min(poll * 2, options_.max_poll_interval);
      continue;
    }
    poll = milliseconds(1);
    {
      std::lock_guard lock(mu_);
      for (const v1::ScanTask& task : leased->tasks()) held_.insert(task.lease_id());
      if (metrics_) metrics_->SetLeasesHeld(static_cast<double>(held_.size()));
    }
    std::vector<v1::TaskResult> results;
    std::vector<std::string> batch;
    for (const v1::ScanTask& task : leased->tasks()) batch.push_back(task.lease_id());
    for (size_t i = 0; i < batch.size(); ++i) {
      const v1::ScanTask& task = leased->tasks(static_cast<int>(i));
      // Fetching a blob has its own deadline; the clock starts at the read.
      MarkReading(batch, i, false);
      if (draining_ || stopping_) {
        // Hand back what has not started.
        v1::TaskResult released;
        released.set_lease_id(task.lease_id());
        released.set_released(true);
        results.push_back(std::move(released));
        if (metrics_) metrics_->Task("released");
        continue;
      }
      if (auto result = Process(task, [&] { MarkReading(batch, i, true); }))
        results.push_back(std::move(*result));
    }
    if (!results.empty()) Report(std::move(results));
  }
  std::lock_guard lock(mu_);
  --executors_left_;
  wake_.notify_all();
}

void Worker::MarkReading(const std::vector<std::string>& batch, size_t next, bool reading) {
  if (options_.scan_deadline.count() == 0) return;
  auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mu_);
  for (size_t i = next; i < batch.size(); ++i) {
    if (reading)
      busy_since_[batch[i]] = {now, options_.scan_deadline};
    else
      busy_since_.erase(batch[i]);
  }
}

std::string Worker::Wedged() {
  auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mu_);
  for (const auto& [lease, busy] : busy_since_)
    if (now - busy.since > busy.deadline)
      return StrCat("a slot has been stuck on lease ", lease, " for ",
                    std::chrono::duration_cast<std::chrono::seconds>(now - busy.since).count(),
                    " s (deadline ",
                    std::chrono::duration_cast<std::chrono::seconds>(busy.deadline).count(), " s)");
  return "";
}

void Worker::HeartbeatLoop() {
  while (!stopping_) {
    v1::HeartbeatRequest request;
    milliseconds interval;
    {
      std::lock_guard lock(mu_);
      request.set_worker_id(worker_id_);
      auto now = std::chrono::steady_clock::now();
      for (const std::string& lease : held_) {
        auto busy = busy_since_.find(lease);
        if (busy != busy_since_.end() && now - busy->second.since > busy->second.deadline) continue;
        request.add_lease_ids(lease);
      }
      interval = heartbeat_interval_;
    }
    request.set_draining(draining_);
    if (request.worker_id().empty()) {
      Sleep(milliseconds(20));  // Not registered yet: its interval comes with registration.
      continue;
    }
    auto response = api_.Heartbeat(request);
    if (response.ok()) {
      std::lock_guard lock(mu_);
      for (const std::string& lost : response->lost_lease_ids()) lost_.insert(lost);
    } else if (LeaseGone(response.status())) {
      std::lock_guard lock(mu_);  // The coordinator forgot us: register again.
      if (worker_id_ == request.worker_id()) worker_id_.clear();
    }
    Sleep(interval);
  }
}

void Worker::Forget(const std::string& lease_id) {
  std::lock_guard lock(mu_);
  held_.erase(lease_id);
  lost_.erase(lease_id);
  busy_since_.erase(lease_id);
  if (metrics_) metrics_->SetLeasesHeld(static_cast<double>(held_.size()));
}

void Worker::Report(std::vector<v1::TaskResult> results) {
  v1::ReportResultsRequest request;
  request.set_worker_id(WorkerId());
  for (v1::TaskResult& result : results) *request.add_results() = std::move(result);
  // A coordinator that is restarting will not know these leases when it is
  // back; retry only while they could still be alive.
  milliseconds backoff(100);
  for (int attempt = 0; attempt < 8 && !stopping_; ++attempt) {
    auto response = api_.ReportResults(request);
    if (response.ok()) {
      for (bool accepted : response->accepted())
        if (metrics_ && !accepted) metrics_->Task("dropped");
      break;
    }
    if (response.status().code() != absl::StatusCode::kUnavailable &&
        response.status().code() != absl::StatusCode::kDeadlineExceeded)
      break;
    Sleep(backoff);
    backoff = std::min(backoff * 2, milliseconds(2000));
  }
  for (const v1::TaskResult& result : request.results()) Forget(result.lease_id());
}

v1::TaskResult Worker::Evaluate(const v1::ScanTask& task) {
  v1::TaskResult result;
  result.set_lease_id(task.lease_id());
  if (!eval_) {
    result.set_failure("this worker has no eval capability");
    return result;
  }
  if (options_.eval_deadline.count() > 0) {
    std::lock_guard lock(mu_);
    busy_since_[task.lease_id()] = {std::chrono::steady_clock::now(), options_.eval_deadline};
  }
  auto batch = eval_->Run(task.eval(), api_);
  {
    std::lock_guard lock(mu_);
    busy_since_.erase(task.lease_id());
  }
  if (metrics_)
    metrics_->EvalBatch(batch.ok(), batch.ok() ? batch->outcomes_size() : 0,
                        batch.ok() ? batch->tokens_generated() : 0,
                        batch.ok() ? batch->seconds() : 0);
  if (batch.ok()) {
    *result.mutable_eval_result() = std::move(*batch);
  } else {
    result.set_failure(std::string(batch.status().message()));
    Log(LogLevel::kWarning, "eval_batch_failed",
        {{"lease_id", task.lease_id()}, {"error", result.failure()}});
  }
  return result;
}

std::optional<ScanOutcome> Worker::ScanOpened(const v1::ScanTask& task, int fd,
                                              const std::string& local_path, v1::Digest& digest) {
  if (task.verdict_cache()) {
    auto file_digest = DigestOpenFile(fd, task.display_path());
    if (!file_digest.ok()) return UnopenableOutcome(task.display_path(), file_digest.status());
    digest.set_sha256(file_digest->sha256);
    digest.set_size_bytes(file_digest->size_bytes);
    v1::CheckCacheRequest check;
    check.set_lease_id(task.lease_id());
    *check.mutable_digest() = digest;
    auto cached = api_.CheckCache(check);
    if (cached.ok() && cached->outcome() != v1::CheckCacheResponse::MISS) {
      if (metrics_)
        metrics_->Task(cached->outcome() == v1::CheckCacheResponse::HIT ? "cache_hit" : "merged");
      Forget(task.lease_id());
      return std::nullopt;
    }
    if (!cached.ok() && LeaseGone(cached.status())) {
      if (metrics_) metrics_->Task("dropped");
      Forget(task.lease_id());
      return std::nullopt;
    }
  }
  {
    std::lock_guard lock(mu_);
    if (lost_.count(task.lease_id())) {
      held_.erase(task.lease_id());
      busy_since_.erase(task.lease_id());
      lost_.erase(task.lease_id());
      return std::nullopt;
    }
  }
  auto start = std::chrono::steady_clock::now();
  ScanOutcome outcome = runner_.ScanOpen(fd, local_path, task.display_path(), task.policy_toml());
  if (metrics_) {
    metrics_->Scanned(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
        outcome.result.size_bytes());
    if (!outcome.killed.empty()) metrics_->SandboxKill(outcome.killed);
    metrics_->Task("scanned");
  }
  if (!outcome.killed.empty())
    // A violation is a file attacking the parser: an operator must see it.
    Log(outcome.killed == "violation" ? LogLevel::kError : LogLevel::kWarning, "sandbox_kill",
        {{"reason", outcome.killed},
         {"file", task.display_path()},
         {"lease_id", task.lease_id()},
         {"rule", outcome.result.findings().empty() ? "" : outcome.result.findings(0).rule_id()}});
  return outcome;
}

std::optional<v1::TaskResult> Worker::Process(const v1::ScanTask& task,
                                              const std::function<void()>& reading_starts) {
  if (task.has_eval()) return Evaluate(task);
  std::string local_path = task.path();
  std::string fetched;
  if (task.has_blob()) {
    fetched = StrCat(options_.scratch_directory, "/gauntlet-blob-", getpid(), "-", task.lease_id());
    if (auto status = api_.FetchBlob(task.blob(), fetched); !status.ok()) {
      unlink(fetched.c_str());
      v1::TaskResult result;
      result.set_lease_id(task.lease_id());
      result.set_failure(StrCat("cannot fetch blob: ", status.message()));
      Log(LogLevel::kWarning, "task_failed",
          {{"lease_id", task.lease_id()},
           {"file", task.display_path()},
           {"error", result.failure()}});
      if (metrics_) metrics_->Task("failed");
      return result;
    }
    local_path = fetched;
  }
  reading_starts();
  // One open for the hash and the scan: the cache key is the digest of the
  // very bytes that were scanned. On a cluster the path is opened beneath
  // its allowed root, so a symlink swapped in after submit is refused.
  absl::StatusOr<int> opened = task.root().empty() || !fetched.empty()
                                   ? OpenRegularFile(local_path)
                                   : OpenRegularFileBeneath(task.root(), local_path);
  ScanOutcome outcome;
  v1::Digest digest;
  if (!opened.ok()) {
    outcome = UnopenableOutcome(task.display_path(), opened.status());
  } else {
    auto scanned = ScanOpened(task, *opened, local_path, digest);
    close(*opened);
    if (!scanned) {
      if (!fetched.empty()) unlink(fetched.c_str());
      return std::nullopt;
    }
    outcome = std::move(*scanned);
  }
  if (!fetched.empty()) unlink(fetched.c_str());
  if (!digest.sha256().empty()) *outcome.result.mutable_digest() = digest;
  v1::TaskResult result;
  result.set_lease_id(task.lease_id());
  *result.mutable_result() = std::move(outcome.result);
  result.set_transient(outcome.transient);
  return result;
}

}  // namespace gauntlet
