#include "coordinator/coordinator.h"

#include <google/protobuf/stubs/common.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <random>

#include "absl/strings/escaping.h"
#include "common/log.h"
#include "common/random_id.h"
#include "common/regular_file.h"
#include "common/rules.h"
#include "common/strings.h"
#include "coordinator/eval_jobs.h"
#include "coordinator/model_aggregator.h"
#include "coordinator/scan_jobs.h"
#include "coordinator/scan_paths.h"
#include "coordinator/sqlite_job_store.h"
#include "coordinator/token_store.h"
#include "proto/convert.h"

namespace gauntlet {
namespace {

constexpr uint32_t kMaxLeaseBatch = 256;
// 128 random bits: a job id cannot be guessed from another.
std::string NewJobId() { return StrCat("job-", RandomHex(16)); }

absl::Status NoSuchJob(const std::string& job_id) {
  return absl::NotFoundError(StrCat("no job '", absl::CEscape(job_id), "'"));
}

// Free text a client chose (prompts, labels) goes into reports and JSON.
absl::Status Utf8Field(const std::string& value, std::string_view field) {
  if (google::protobuf::internal::IsStructurallyValidUTF8(value.data(),
                                                          static_cast<int>(value.size())))
    return absl::OkStatus();
  return absl::InvalidArgumentError(
      StrCat(field, " is not valid UTF-8: '", absl::CEscape(value.substr(0, 80)), "'"));
}

// `n` more files with `verdict` and findings up to `severity`.
void Count(v1::Job& job, v1::Verdict verdict, v1::Severity severity, uint64_t n = 1) {
  switch (verdict) {
    case v1::VERDICT_UNSPECIFIED:
      return;  // A finished eval batch: outcomes, no file verdict.
    case v1::CLEAN:
      job.set_clean(job.clean() + n);
      break;
    case v1::SUSPICIOUS:
      job.set_suspicious(job.suspicious() + n);
      break;
    case v1::MALICIOUS:
      job.set_malicious(job.malicious() + n);
      break;
    default:
      job.set_error(job.error() + n);
      break;
  }
  job.set_verdict(ToProto(WorseVerdict(FromProto(job.verdict()), FromProto(verdict))));
  if (job.kind() == v1::SCAN && severity > job.scan().max_severity())
    job.mutable_scan()->set_max_severity(severity);
}

// The per-kind summary, from the flat fields (kept for older clients).
v1::Job WithSummary(v1::Job job) {
  if (job.kind() == v1::EVAL) {
    job.mutable_eval()->set_verdict(job.eval_verdict());
    job.mutable_eval()->set_score(job.eval_score());
    return job;
  }
  v1::ScanSummary& scan = *job.mutable_scan();
  scan.set_clean(job.clean());
  scan.set_suspicious(job.suspicious());
  scan.set_malicious(job.malicious());
  scan.set_error(job.error());
  scan.set_verdict(job.verdict());
  return job;
}

v1::FileResult DeadLetterResult(const std::string& path, uint32_t attempts,
                                const std::string& error) {
  FileReport report;
  report.path = path;
  report.fully_analysed = false;
  report.findings.push_back(
      Finding{std::string(rules::kClusterDeadLettered), Severity::kMedium,
              StrCat("not scanned: ", attempts, " attempts failed; last error: ", error),
              Location{path, "", 0}, error});
  report.verdict = DeriveVerdict(report.findings, report.fully_analysed);
  return ToProto(report);
}

double SteadyNow() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double WallNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Coordinator>> Coordinator::Open(CoordinatorOptions options) {
  bool own_clock = !options.now;
  if (own_clock) options.now = SteadyNow;
  std::unique_ptr<Coordinator> coordinator(new Coordinator(std::move(options)));
  const CoordinatorOptions& opened = coordinator->options_;
  auto store = JobStore::Open({.path = opened.db_path,
                               .initialize = opened.initialize_store,
                               .max_bytes = opened.max_store_bytes});
  if (!store.ok()) return store.status();
  coordinator->store_ = std::move(*store);
  coordinator->scheduler_ = std::make_unique<Scheduler>(*coordinator->store_, opened.now);
  coordinator->cache_ = std::make_unique<VerdictCache>(*coordinator->store_, opened.cache_salt);
  if (auto status = coordinator->Recover(); !status.ok()) return status;
  if (own_clock) {
    Coordinator* self = coordinator.get();
    coordinator->sweeper_ = std::thread([self] {
      std::unique_lock lock(self->mu_);
      while (!self->stopping_) {
        self->sweeper_wake_.wait_for(lock, std::chrono::milliseconds(100));
        if (self->stopping_) break;
        lock.unlock();
        self->ExpireLeases();
        if (SteadyNow() >= self->next_retention_) {
          self->next_retention_ =
              SteadyNow() +
              std::chrono::duration<double>(self->options_.retention_interval).count();
          if (auto status = self->ApplyRetention(); !status.ok())
            Log(LogLevel::kError, "retention_failed", {{"error", std::string(status.message())}});
        }
        lock.lock();
      }
    });
  }
  return coordinator;
}

Coordinator::Coordinator(CoordinatorOptions options)
    : options_(std::move(options)),
      metrics_(options_.metrics_tenants),
      blobs_(options_.blob_directory) {
  std::random_device random;
  epoch_ = StrCat(Hex(random()), Hex(random() & 0xffff));
}

Coordinator::~Coordinator() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  sweeper_wake_.notify_all();
  changed_.notify_all();
  if (sweeper_.joinable()) sweeper_.join();
}

// Rebuilds the in-memory view of unfinished jobs. Leases do not survive a
// restart: their tasks are simply queued again, and results still in flight
// from before the restart are dropped as late.
absl::Status Coordinator::Recover() {
  auto stored = store_->UnfinishedJobs();
  if (!stored.ok()) return stored.status();
  for (const StoredJob& row : *stored) {
    JobState job;
    job.id = row.id;
    job.kind = &JobKindOf(row.kind);
    job.proto.set_id(row.public_id);
    job.proto.set_tenant(row.tenant);
    job.proto.set_state(row.state);
    job.proto.set_created_unix_seconds(row.created);
    job.proto.set_policy_source(row.policy_source);
    job.proto.set_total_tasks(row.total_tasks);
    job.proto.set_kind(row.kind);
    job.proto.set_verdict(v1::CLEAN);
    job.policy_toml = row.policy_toml;
    job.deadline = row.deadline;
    job.policy = Policy::Shared(job.policy_toml);
    if (!job.policy)
      return absl::DataLossError(StrCat("the stored policy of ", row.public_id, " does not parse"));
    job.policy_digest = Sha256Hex(job.policy_toml);
    auto tallies = store_->TaskTallies(job.id);
    if (!tallies.ok()) return tallies.status();
    uint64_t queued = 0;
    for (const TaskTally& tally : *tallies) {
      if (tally.state == TaskState::kQueued) {
        queued += tally.count;
        continue;
      }
      job.proto.set_done_tasks(job.proto.done_tasks() + tally.count);
      if (tally.state == TaskState::kDeadLettered)
        job.proto.set_dead_lettered_tasks(job.proto.dead_lettered_tasks() + tally.count);
      if (tally.cached) job.proto.set_cached_tasks(job.proto.cached_tasks() + tally.count);
      Count(job.proto, tally.verdict, tally.max_severity, tally.count);
    }
    scheduler_->AddJob(job.id, row.tenant, row.kind, queued);
    auto [it, inserted] = jobs_.emplace(job.id, std::move(job));
    // A failure here leaves the job unfinished in memory, as in the store.
    FinishJobIfDone(it->second).IgnoreError();
  }
  PublishGauges();
  return absl::OkStatus();
}

std::string Coordinator::NewId(std::string_view prefix) {
  return StrCat(prefix, epoch_, "-", ++id_counter_);
}

Coordinator::JobState* Coordinator::FindJob(int64_t id) {
  auto it = jobs_.find(id);
  return it == jobs_.end() ? nullptr : &it->second;
}

absl::StatusOr<int64_t> Coordinator::ResolveJob(const std::string& job_id,
                                                const ClientScope& scope) {
  auto job = store_->FindJob(job_id);
  if (!job.ok()) return job.status();
  if (!job->has_value() || (!scope.every_tenant && (*job)->second != scope.tenant))
    return NoSuchJob(job_id);
  return (*job)->first;
}

absl::StatusOr<std::string> Coordinator::SubmittingTenant(const std::string& requested,
                                                          const ClientScope& scope) const {
  if (!requested.empty()) {
    if (auto status = ValidSubjectName(requested, "tenant"); !status.ok()) return status;
  }
  if (scope.every_tenant) return requested.empty() ? scope.tenant : requested;
  if (!requested.empty() && requested != scope.tenant)
    return absl::PermissionDeniedError(StrCat("this token belongs to tenant '", scope.tenant,
                                              "'; it cannot submit jobs as '", requested, "'"));
  return scope.tenant;
}

bool Coordinator::BlobVisible(const BlobDigest& digest, const std::string& tenant) {
  if (!blobs_.Contains(digest)) return false;
  auto owned = store_->OwnsBlob(tenant, digest);
  return owned.ok() && *owned;
}

absl::StatusOr<std::vector<v1::Digest>> Coordinator::MissingBlobs(
    const std::vector<v1::Digest>& digests, const ClientScope& scope) {
  if (!blobs_.enabled())
    return absl::FailedPreconditionError("this coordinator has no content store (--blob-dir)");
  std::vector<v1::Digest> missing;
  std::lock_guard lock(mu_);
  for (const v1::Digest& digest : digests) {
    BlobDigest blob{digest.sha256(), digest.size_bytes()};
    if (auto status = ValidateDigest(blob); !status.ok()) return status;
    if (!BlobVisible(blob, scope.tenant)) missing.push_back(digest);
  }
  return missing;
}

absl::StatusOr<ContentStore::Writer> Coordinator::StartUpload(const v1::Digest& digest,
                                                              const ClientScope& scope) {
  BlobDigest blob{digest.sha256(), digest.size_bytes()};
  if (!blobs_.enabled())
    return absl::FailedPreconditionError("this coordinator has no content store (--blob-dir)");
  if (auto status = ValidateDigest(blob); !status.ok()) return status;
  if (static_cast<uint64_t>(blob.size_bytes) > options_.max_blob_bytes)
    return absl::ResourceExhaustedError(StrCat("the blob is ", blob.size_bytes,
                                               " bytes; this coordinator takes at most ",
                                               options_.max_blob_bytes, " per blob"));
  {
    std::lock_guard lock(mu_);
    auto used = store_->TenantBlobBytes(scope.tenant);
    if (!used.ok()) return used.status();
    uint64_t bytes = *used;
    if (bytes + static_cast<uint64_t>(blob.size_bytes) > options_.tenant_blob_quota)
      return absl::ResourceExhaustedError(
          StrCat("tenant '", scope.tenant, "' has ", bytes, " bytes of uploads; this blob adds ",
                 blob.size_bytes, " and the quota is ", options_.tenant_blob_quota,
                 ". Uploads expire after the blob retention, or ask an admin."));
  }
  return blobs_.StartUpload(blob);
}

absl::Status Coordinator::FinishUpload(ContentStore::Writer writer, const v1::Digest& digest,
                                       const ClientScope& scope) {
  if (auto status = writer.Commit(); !status.ok()) return status;
  std::lock_guard lock(mu_);
  return store_->AddBlobOwner(scope.tenant, {digest.sha256(), digest.size_bytes()}, WallNow());
}

// ------------------------------------------------------------------ clients

absl::StatusOr<v1::Job> Coordinator::SubmitScan(const v1::SubmitScanRequest& request,
                                                const ClientScope& scope) {
  auto tenant = SubmittingTenant(request.tenant(), scope);
  if (!tenant.ok()) return tenant.status();
  auto plan = PlanScanJob(request, options_.allow_roots, [&](const BlobDigest& digest) {
    std::lock_guard lock(mu_);
    return BlobVisible(digest, *tenant);
  });
  if (!plan.ok()) return plan.status();
  return InsertJob(*tenant, std::move(*plan));
}

absl::StatusOr<v1::Job> Coordinator::SubmitEval(const v1::SubmitEvalRequest& request,
                                                const ClientScope& scope) {
  auto tenant = SubmittingTenant(request.tenant(), scope);
  if (!tenant.ok()) return tenant.status();
  for (auto [value, field] :
       {std::pair{&request.label_a(), "label_a"}, std::pair{&request.label_b(), "label_b"}})
    if (auto status = Utf8Field(*value, field); !status.ok()) return status;
  // The suite's text (prompts, rules, answers) is checked with the suite.
  auto plan = PlanEvalJob(request, options_.allow_roots, [&](const BlobDigest& digest) {
    std::lock_guard lock(mu_);
    return BlobVisible(digest, *tenant);
  });
  if (!plan.ok()) return plan.status();
  return InsertJob(*tenant, std::move(*plan));
}

absl::StatusOr<v1::Job> Coordinator::InsertJob(const std::string& tenant, JobPlan plan) {
  const uint64_t task_count = plan.tasks.size();
  std::lock_guard lock(mu_);
  if (auto status = scheduler_->CheckRoom(tenant, task_count, options_.tenant_queue_limit);
      !status.ok())
    return status;
  const double created = WallNow();
  StoredJob row{.public_id = NewJobId(),
                .tenant = tenant,
                .state = v1::QUEUED,
                .kind = plan.kind,
                .created = created,
                .deadline = plan.runtime_seconds > 0 ? created + plan.runtime_seconds : 0,
                .policy_toml = plan.policy_toml,
                .policy_source = plan.policy_source,
                .publisher = plan.publisher,
                .directories = std::move(plan.directories),
                .total_tasks = task_count,
                .eval_spec = std::move(plan.spec)};
  auto job_id = store_->InsertJob(row, plan.tasks);
  if (!job_id.ok()) return StoreFault(job_id.status());

  JobState job;
  job.id = *job_id;
  job.kind = &JobKindOf(plan.kind);
  job.proto.set_id(row.public_id);
  job.proto.set_tenant(tenant);
  job.proto.set_state(v1::QUEUED);
  job.proto.set_kind(plan.kind);
  job.proto.set_total_tasks(task_count);
  job.proto.set_verdict(v1::CLEAN);
  job.proto.set_created_unix_seconds(created);
  job.proto.set_policy_source(plan.policy_source);
  job.policy_toml = std::move(plan.policy_toml);
  job.policy_digest = Sha256Hex(job.policy_toml);
  job.policy = std::move(plan.policy);
  job.deadline = row.deadline;
  scheduler_->AddJob(*job_id, tenant, plan.kind, task_count);
  v1::Job proto = WithSummary(job.proto);
  jobs_.emplace(*job_id, std::move(job));
  metrics_.JobSubmitted(plan.kind == v1::EVAL);
  Log(LogLevel::kInfo, "job_submitted",
      {{"job", row.public_id},
       {"tenant", tenant},
       {"kind", plan.kind == v1::EVAL ? "eval" : "scan"},
       {"tasks", task_count}});
  PublishGauges();
  changed_.notify_all();
  return proto;
}

absl::StatusOr<v1::Job> Coordinator::GetJob(const std::string& job_id, const ClientScope& scope) {
  std::lock_guard lock(mu_);
  auto id = ResolveJob(job_id, scope);
  if (!id.ok()) return id.status();
  return JobSummary(*id);
}

absl::StatusOr<v1::Job> Coordinator::JobSummary(int64_t id) {
  if (JobState* job = FindJob(id)) return WithSummary(job->proto);
  auto summary = store_->Summary(id);
  if (!summary.ok()) return summary.status();
  v1::Job& job = *summary;
  Verdict worst = Verdict::kClean;
  if (job.suspicious()) worst = WorseVerdict(worst, Verdict::kSuspicious);
  if (job.error()) worst = WorseVerdict(worst, Verdict::kError);
  if (job.malicious()) worst = WorseVerdict(worst, Verdict::kMalicious);
  job.set_verdict(ToProto(worst));
  return WithSummary(std::move(job));
}

absl::StatusOr<std::vector<v1::Job>> Coordinator::ListJobs(const std::string& tenant,
                                                           uint32_t limit,
                                                           const ClientScope& scope) {
  // A tenant scope lists its own jobs whatever `tenant` says.
  const std::string& only = scope.every_tenant ? tenant : scope.tenant;
  std::lock_guard lock(mu_);
  auto ids = store_->NewestJobs(only, limit ? limit : 50);
  if (!ids.ok()) return ids.status();
  std::vector<v1::Job> jobs;
  for (int64_t id : *ids) {
    auto job = JobSummary(id);
    if (!job.ok()) return job.status();
    jobs.push_back(std::move(*job));
  }
  return jobs;
}

absl::StatusOr<v1::Job> Coordinator::CancelJob(const std::string& job_id,
                                               const ClientScope& scope) {
  std::lock_guard lock(mu_);
  auto id = ResolveJob(job_id, scope);
  if (!id.ok()) return id.status();
  if (JobState* job = FindJob(*id))
    if (auto status = CancelLocked(*job); !status.ok()) return status;
  return JobSummary(*id);
}

absl::Status Coordinator::CancelLocked(JobState& job) {
  // The store first: memory changes only once it has the cancellation.
  auto stored = store_->Job(job.id);
  if (!stored.ok()) return stored.status();
  stored->state = v1::CANCELLED;
  JobConclusion conclusion = job.kind->Conclude(*store_, *stored);
  if (auto status = store_->CancelJob(job.id, WallNow(), conclusion.verdict, conclusion.score);
      !status.ok())
    return StoreFault(status);
  for (auto it = leases_.begin(); it != leases_.end();) {
    if (it->second.job_id == job.id) {
      if (!it->second.cache_key.empty()) ReleaseFollowers(it->second.cache_key);
      it = EraseLease(it);
    } else {
      ++it;
    }
  }
  cache_->DropJob(job.id);
  metrics_.JobCancelled(job.proto.kind() == v1::EVAL);
  Log(LogLevel::kInfo, "job_cancelled",
      {{"job", job.proto.id()},
       {"tenant", job.proto.tenant()},
       {"kind", job.proto.kind() == v1::EVAL ? "eval" : "scan"},
       {"done_tasks", job.proto.done_tasks()},
       {"total_tasks", job.proto.total_tasks()}});
  metrics_.JobDuration(job.proto.tenant(), job.proto.kind() == v1::EVAL,
                       std::max(0.0, WallNow() - job.proto.created_unix_seconds()));
  DropJob(job.id);
  PublishGauges();
  changed_.notify_all();
  return absl::OkStatus();
}

// Eval jobs have a runtime cap: past it they are cancelled (their report
// says so) instead of holding the cluster's eval workers.
void Coordinator::CancelOverdueJobs() {
  double now = WallNow();
  std::vector<int64_t> overdue;
  for (auto& [id, job] : jobs_)
    if (job.deadline > 0 && now > job.deadline) overdue.push_back(id);
  // By id: a store fault while cancelling one reloads every job.
  for (int64_t id : overdue) {
    JobState* job = FindJob(id);
    if (!job) continue;
    metrics_.JobOverRuntime();
    CancelLocked(*job).IgnoreError();
  }
}

absl::StatusOr<v1::WatchJobEvent> Coordinator::WatchJob(const std::string& job_id,
                                                        uint64_t after_result,
                                                        std::chrono::milliseconds wait,
                                                        const ClientScope& scope) {
  std::unique_lock lock(mu_);
  auto id = ResolveJob(job_id, scope);
  if (!id.ok()) return id.status();
  JobState* job = FindJob(*id);
  if (job && job->proto.done_tasks() <= after_result) {
    changed_.wait_for(lock, wait, [&] {
      auto it = jobs_.find(*id);
      return stopping_ || it == jobs_.end() || it->second.proto.done_tasks() > after_result;
    });
  }
  auto proto = JobSummary(*id);
  if (!proto.ok()) return proto.status();
  if (after_result >= proto->done_tasks()) {
    v1::WatchJobEvent event;
    *event.mutable_job() = std::move(*proto);
    return event;
  }
  auto finished = store_->ResultsAfter(*id, after_result, 1000);
  if (!finished.ok()) return finished.status();
  *finished->mutable_job() = std::move(*proto);
  return std::move(*finished);
}

absl::StatusOr<StoredJob> Coordinator::VisibleJob(const std::string& job_id,
                                                  const ClientScope& scope) {
  auto id = ResolveJob(job_id, scope);
  if (!id.ok()) return id.status();
  return store_->Job(*id);
}

absl::StatusOr<ScanReport> Coordinator::BuildReport(const std::string& job_id,
                                                    const ClientScope& scope) {
  std::lock_guard lock(mu_);
  auto job = VisibleJob(job_id, scope);
  if (!job.ok()) return job.status();
  if (job->kind != v1::SCAN)
    return absl::FailedPreconditionError(StrCat(job_id, " is an A/B eval, not a scan job"));
  return ScanReportOf(*store_, *job);
}

absl::StatusOr<eval::AbReport> Coordinator::BuildEvalReport(const std::string& job_id,
                                                            const ClientScope& scope) {
  std::lock_guard lock(mu_);
  auto job = VisibleJob(job_id, scope);
  if (!job.ok()) return job.status();
  auto data = EvalReportDataOf(*store_, *job);
  if (!data.ok()) return data.status();
  return eval::AbReportFromData(*data);
}

absl::StatusOr<v1::Report> Coordinator::BuildTypedReport(const std::string& job_id,
                                                         const ClientScope& scope) {
  std::lock_guard lock(mu_);
  auto job = VisibleJob(job_id, scope);
  if (!job.ok()) return job.status();
  return JobKindOf(job->kind).Report(*store_, *job);
}

// ------------------------------------------------------------------ workers

absl::StatusOr<v1::RegisterResponse> Coordinator::Register(const v1::RegisterRequest& request,
                                                           const std::string& identity) {
  std::lock_guard lock(mu_);
  std::string id = NewId("w-");
  WorkerState worker{.name = request.name(),
                     .identity = identity,
                     .max_leases = std::max<uint32_t>(1, request.max_leases()),
                     .draining = request.draining(),
                     .last_seen = Now()};
  // A worker that names no capabilities is a scan worker.
  if (request.has_capabilities())
    worker.capabilities = request.capabilities();
  else
    worker.capabilities.set_scan(true);
  workers_[id] = worker;
  Log(LogLevel::kInfo, "worker_joined",
      {{"worker_id", id},
       {"name", worker.name},
       {"identity", identity},
       {"eval", worker.capabilities.eval()},
       {"gpu", worker.capabilities.gpu()},
       {"max_leases", static_cast<uint64_t>(worker.max_leases)}});
  PublishGauges();
  v1::RegisterResponse response;
  response.set_worker_id(id);
  response.set_lease_ttl_ms(static_cast<uint32_t>(options_.lease_ttl.count()));
  response.set_heartbeat_interval_ms(
      static_cast<uint32_t>(std::max<int64_t>(1, options_.lease_ttl.count() / 3)));
  response.set_scanner_version(GAUNTLET_VERSION);
  return response;
}

absl::StatusOr<v1::LeaseResponse> Coordinator::Lease(const v1::LeaseRequest& request,
                                                     const std::string& identity) {
  std::lock_guard lock(mu_);
  auto worker = SeenWorker(request.worker_id(), identity);
  if (!worker.ok()) return worker.status();
  v1::LeaseResponse response;
  WorkerState& holder = (*worker)->second;
  if (holder.draining) return response;
  uint32_t room = holder.max_leases > holder.held ? holder.max_leases - holder.held : 0;
  uint32_t wanted = std::min({request.max_tasks() ? request.max_tasks() : 1, room, kMaxLeaseBatch});

  while (response.tasks_size() < static_cast<int>(wanted)) {
    auto next = scheduler_->Next(
        [&](v1::JobKind kind) { return JobKindOf(kind).TakenBy(holder.capabilities); });
    if (!next) break;
    auto& [job_id, task] = *next;
    JobState* job = &jobs_.at(job_id);
    task.attempts++;
    LeaseState lease{
        NewId("l-"), request.worker_id(),
        "",          job->kind->Inputs(task.blob, task.payload),
        job->id,     task,
        Now(),       Now() + std::chrono::duration<double>(options_.lease_ttl).count()};
    metrics_.QueueWait(std::max(0.0, lease.leased_at - task.queued_at));
    if (job->proto.state() == v1::QUEUED) job->proto.set_state(v1::RUNNING);
    v1::ScanTask* out = response.add_tasks();
    out->set_lease_id(lease.lease_id);
    out->set_attempt(task.attempts);
    out->set_display_path(task.display_path);
    job->kind->DescribeWork(task, options_.allow_roots, *out);
    out->set_policy_toml(job->policy_toml);
    out->set_policy_digest(job->policy_digest);
    out->set_verdict_cache(options_.verdict_cache);
    leases_.emplace(lease.lease_id, std::move(lease));
    ++holder.held;
  }
  // Attempt counts only matter after a restart, which an in-memory store
  // (the CLI's embedded coordinator) never has.
  if (response.tasks_size() > 0 && !store_->in_memory()) {
    std::vector<int64_t> task_ids;
    for (const v1::ScanTask& task : response.tasks())
      task_ids.push_back(leases_.at(task.lease_id()).task.task_id);
    // A store that cannot save them costs the lease nothing.
    if (!store_->CountAttempts(task_ids).ok()) metrics_.StoreError();
  }
  metrics_.SetLeasesActive(static_cast<double>(leases_.size()));
  return response;
}

absl::StatusOr<v1::HeartbeatResponse> Coordinator::Heartbeat(const v1::HeartbeatRequest& request,
                                                             const std::string& identity) {
  std::lock_guard lock(mu_);
  auto worker = SeenWorker(request.worker_id(), identity);
  if (!worker.ok()) return worker.status();
  if ((*worker)->second.draining != request.draining()) {
    (*worker)->second.draining = request.draining();
    PublishGauges();
  }
  v1::HeartbeatResponse response;
  double expires = Now() + std::chrono::duration<double>(options_.lease_ttl).count();
  for (const std::string& lease_id : request.lease_ids()) {
    auto lease = leases_.find(lease_id);
    if (lease == leases_.end() || lease->second.worker_id != request.worker_id()) {
      response.add_lost_lease_ids(lease_id);
      continue;
    }
    lease->second.expires_at = expires;
  }
  return response;
}

absl::StatusOr<v1::CheckCacheResponse> Coordinator::CheckCache(const v1::CheckCacheRequest& request,
                                                               const std::string& identity) {
  BlobDigest digest{request.digest().sha256(), request.digest().size_bytes()};
  if (auto status = ValidateDigest(digest); !status.ok()) return status;
  std::lock_guard lock(mu_);
  v1::CheckCacheResponse response;
  auto lease_it = leases_.find(request.lease_id());
  if (lease_it == leases_.end())
    return absl::NotFoundError(StrCat("lease '", request.lease_id(), "' is not held"));
  LeaseState& lease = lease_it->second;
  if (auto holder = SeenWorker(lease.worker_id, identity); !holder.ok()) return holder.status();
  JobState& job = jobs_.at(lease.job_id);
  std::string key = cache_->Key(job.policy_digest, request.digest());

  auto cached = cache_->Stored(key);
  if (!cached.ok()) return cached.status();
  if (cached->has_value()) {
    v1::FileResult result = std::move(**cached);
    PendingTask task = lease.task;
    EraseLease(lease_it);
    metrics_.CacheHit();
    result.set_from_cache(true);
    if (auto status = ApplyResult(job, task, std::move(result)); !status.ok())
      return StoreFault(status);
    response.set_outcome(v1::CheckCacheResponse::HIT);
    return response;
  }
  if (cache_->MergeOrLead(key, lease.lease_id, job.id, lease.task,
                          [&](const std::string& leader) { return leases_.count(leader) > 0; })) {
    EraseLease(lease_it);
    metrics_.CacheMerged();
    response.set_outcome(v1::CheckCacheResponse::MERGED);
    return response;
  }
  lease.cache_key = key;
  metrics_.CacheMiss();
  response.set_outcome(v1::CheckCacheResponse::MISS);
  return response;
}

absl::StatusOr<v1::ReportResultsResponse> Coordinator::ReportResults(
    const v1::ReportResultsRequest& request, const std::string& identity) {
  std::lock_guard lock(mu_);
  // Only the identity that registered the worker id may report for it, and
  // only for leases that worker id holds: nobody else can write a verdict.
  // (An unknown worker id, after a restart, just gets its results dropped.)
  if (auto worker = SeenWorker(request.worker_id(), identity);
      absl::IsPermissionDenied(worker.status()))
    return worker.status();
  v1::ReportResultsResponse response;
  if (auto status = store_->Begin(); !status.ok()) return StoreFault(status);
  absl::Status status;
  for (const v1::TaskResult& result : request.results()) {
    auto lease_it = leases_.find(result.lease_id());
    if (lease_it == leases_.end() || lease_it->second.worker_id != request.worker_id()) {
      metrics_.LateResultDropped();
      response.add_accepted(false);
      continue;
    }
    LeaseState lease = lease_it->second;
    EraseLease(lease_it);
    response.add_accepted(true);
    if (result.has_failure()) {
      status.Update(FailLease(std::move(lease), result.failure(), true));
      continue;
    }
    if (!result.has_result() && !result.has_eval_result()) {
      status.Update(FailLease(std::move(lease), "released by a draining worker", false));
      continue;
    }
    JobState& job = jobs_.at(lease.job_id);
    if (auto checked = job.kind->CheckResult(lease.task, result); !checked.ok()) {
      status.Update(FailLease(std::move(lease), std::string(checked.message()), true));
      continue;
    }
    metrics_.TaskDuration(std::max(0.0, Now() - lease.leased_at));
    if (result.has_result()) {
      v1::FileResult file = result.result();
      file.set_path(lease.task.display_path);
      if (!lease.cache_key.empty()) {
        if (!result.transient()) {
          status.Update(cache_->Store(lease.cache_key, file, identity, WallNow()));
          for (VerdictCache::Follower& follower : cache_->Settle(lease.cache_key)) {
            auto follower_job = jobs_.find(follower.job_id);
            if (follower_job == jobs_.end()) continue;
            v1::FileResult copy = file;
            copy.set_from_cache(true);
            status.Update(ApplyResult(follower_job->second, follower.task, std::move(copy)));
          }
        } else {
          ReleaseFollowers(lease.cache_key);
        }
      }
      status.Update(ApplyResult(job, lease.task, std::move(file)));
    } else {
      const v1::EvalBatchResult& batch = result.eval_result();
      metrics_.EvalBatch(batch.tokens_generated(), batch.seconds());
      status.Update(ApplyEvalBatch(job, lease.task, batch));
    }
  }
  if (status.ok()) status = CommitStore();
  if (!status.ok()) return StoreFault(status);
  metrics_.SetLeasesActive(static_cast<double>(leases_.size()));
  return response;
}

void Coordinator::ExpireLeases() {
  std::lock_guard lock(mu_);
  CancelOverdueJobs();
  double now = Now();
  double grace = std::chrono::duration<double>(options_.lease_grace).count();
  std::vector<LeaseState> expired;
  for (auto it = leases_.begin(); it != leases_.end();) {
    if (it->second.expires_at + grace < now) {
      expired.push_back(it->second);
      it = EraseLease(it);
    } else {
      ++it;
    }
  }
  double stale = 3 * std::chrono::duration<double>(options_.lease_ttl).count();
  size_t workers_before = workers_.size();
  std::erase_if(workers_, [&](const auto& entry) {
    if (entry.second.last_seen + stale >= now) return false;
    Log(LogLevel::kWarning, "worker_left",
        {{"worker_id", entry.first},
         {"name", entry.second.name},
         {"identity", entry.second.identity},
         {"reason", "no heartbeat for three lease TTLs"}});
    return true;
  });
  if (expired.empty()) {
    if (workers_.size() != workers_before) PublishGauges();
    return;
  }
  absl::Status status = store_->Begin();
  for (LeaseState& lease : expired) {
    metrics_.LeaseExpired();
    Log(LogLevel::kWarning, "lease_expired",
        {{"lease_id", lease.lease_id},
         {"worker_id", lease.worker_id},
         {"job", jobs_.count(lease.job_id) ? jobs_.at(lease.job_id).proto.id() : ""},
         {"task", lease.task.display_path}});
    std::string worker = lease.worker_id;
    status.Update(FailLease(std::move(lease), StrCat("lease expired on worker ", worker), true));
  }
  if (status.ok()) status = CommitStore();
  if (!status.ok()) {
    StoreFault(status).IgnoreError();
    return;
  }
  metrics_.SetLeasesActive(static_cast<double>(leases_.size()));
  PublishGauges();
}

// ------------------------------------------------------------------ internals

absl::StatusOr<std::map<std::string, Coordinator::WorkerState>::iterator> Coordinator::SeenWorker(
    const std::string& worker_id, const std::string& identity) {
  auto worker = workers_.find(worker_id);
  if (worker == workers_.end())
    return absl::NotFoundError(StrCat("unknown worker '", absl::CEscape(worker_id),
                                      "' (coordinator restarted?): register again"));
  if (worker->second.identity != identity)
    return absl::PermissionDeniedError(
        StrCat("worker '", worker_id, "' was registered by another identity"));
  worker->second.last_seen = Now();
  return worker;
}

absl::StatusOr<std::string> Coordinator::BlobForWorker(const v1::Digest& digest,
                                                       const std::string& identity) {
  BlobDigest blob{digest.sha256(), digest.size_bytes()};
  if (auto status = ValidateDigest(blob); !status.ok()) return status;
  std::lock_guard lock(mu_);
  for (const auto& [id, lease] : leases_) {
    auto worker = workers_.find(lease.worker_id);
    if (worker == workers_.end() || worker->second.identity != identity) continue;
    for (const BlobDigest& needed : lease.blobs)
      if (needed.sha256 == blob.sha256 && needed.size_bytes == blob.size_bytes &&
          blobs_.Contains(blob))
        return blobs_.PathOf(blob);
  }
  return absl::NotFoundError(StrCat("blob ", blob.sha256, "/", blob.size_bytes,
                                    " is not needed by any lease this worker holds"));
}

absl::Status Coordinator::ApplyRetention() {
  constexpr int64_t kJobBatch = 100, kRowBatch = 5000;
  const double now = WallNow();
  std::lock_guard lock(mu_);
  int64_t jobs = 0, tasks = 0, cache = 0, blobs = 0;
  if (options_.job_retention.count() > 0) {
    const double cutoff = now - static_cast<double>(options_.job_retention.count());
    auto deleted = store_->DeleteBefore(cutoff, kJobBatch, kRowBatch);
    if (!deleted.ok()) return StoreFault(deleted.status());
    jobs = deleted->jobs;
    tasks = deleted->tasks;
    cache = deleted->cache;
  }
  if (options_.blob_retention.count() > 0 && blobs_.enabled()) {
    auto needed = BlobsInUse();
    if (!needed.ok()) return needed.status();
    const double cutoff = now - static_cast<double>(options_.blob_retention.count());
    auto owners = store_->BlobOwnersBefore(cutoff, kRowBatch);
    if (!owners.ok()) return owners.status();
    for (const auto& [tenant, blob] : *owners) {
      if (needed->count({blob.sha256, blob.size_bytes})) continue;
      auto shared = store_->DropBlobOwner(tenant, blob);
      if (!shared.ok()) return StoreFault(shared.status());
      if (!*shared && blobs_.Remove(blob)) ++blobs;
    }
  }
  metrics_.RetentionDeleted("jobs", static_cast<double>(jobs));
  metrics_.RetentionDeleted("tasks", static_cast<double>(tasks));
  metrics_.RetentionDeleted("cache", static_cast<double>(cache));
  metrics_.RetentionDeleted("blobs", static_cast<double>(blobs));
  return absl::OkStatus();
}

absl::StatusOr<std::set<std::pair<std::string, int64_t>>> Coordinator::BlobsInUse() {
  std::set<std::pair<std::string, int64_t>> needed;
  for (const auto& [id, lease] : leases_)
    for (const BlobDigest& blob : lease.blobs) needed.insert({blob.sha256, blob.size_bytes});
  // Every task of an unfinished job not done yet, whether loaded or not.
  auto queued = store_->QueuedTaskInputsOfUnfinishedJobs();
  if (!queued.ok()) return queued.status();
  for (const QueuedTaskInputs& task : *queued)
    for (const BlobDigest& blob : JobKindOf(task.kind).Inputs(task.blob, task.payload))
      needed.insert({blob.sha256, blob.size_bytes});
  return needed;
}

absl::StatusOr<int64_t> Coordinator::DropCacheEntries(const std::string& db_path,
                                                      const std::string& writer) {
  return SqliteJobStore::DropCacheEntries(db_path, writer);
}

std::map<std::string, Coordinator::LeaseState>::iterator Coordinator::EraseLease(
    std::map<std::string, LeaseState>::iterator lease) {
  auto worker = workers_.find(lease->second.worker_id);
  if (worker != workers_.end() && worker->second.held > 0) --worker->second.held;
  return leases_.erase(lease);
}

void Coordinator::Requeue(int64_t job_id, PendingTask task) {
  // A retry goes first: its job's other tasks already had their turn.
  scheduler_->Requeue(job_id, std::move(task), true);
  changed_.notify_all();
}

absl::Status Coordinator::FailLease(LeaseState lease, const std::string& error,
                                    bool spend_attempt) {
  if (!lease.cache_key.empty()) ReleaseFollowers(lease.cache_key);
  auto job_it = jobs_.find(lease.job_id);
  if (job_it == jobs_.end()) return absl::OkStatus();
  JobState& job = job_it->second;
  PendingTask task = std::move(lease.task);
  task.last_error = error;
  if (!spend_attempt) {
    task.attempts = task.attempts > 0 ? task.attempts - 1 : 0;
    if (!store_->in_memory()) store_->SetAttempts(task.task_id, task.attempts).IgnoreError();
    Requeue(job.id, std::move(task));
    return absl::OkStatus();
  }
  if (task.attempts < options_.max_attempts) {
    metrics_.TaskRetried();
    Requeue(job.id, std::move(task));
    return absl::OkStatus();
  }
  metrics_.TaskDeadLettered();
  Log(LogLevel::kWarning, "task_dead_lettered",
      {{"job", job.proto.id()},
       {"tenant", job.proto.tenant()},
       {"task", task.display_path},
       {"attempts", static_cast<int64_t>(task.attempts)},
       {"error", error}});
  v1::FileResult result = DeadLetterResult(task.display_path, task.attempts, error);
  uint64_t seq = job.proto.done_tasks() + 1;
  auto updated = store_->DeadLetterTask(task.task_id, seq, result);
  if (!updated.ok()) return updated.status();
  if (!*updated) return absl::OkStatus();
  job.proto.set_dead_lettered_tasks(job.proto.dead_lettered_tasks() + 1);
  job.proto.set_done_tasks(seq);
  Count(job.proto, result.verdict(), WorstSeverity(result));
  metrics_.TaskCompleted(FromProto(result.verdict()), 0);
  return FinishTask(job);
}

absl::Status Coordinator::ApplyResult(JobState& job, const PendingTask& task,
                                      v1::FileResult result) {
  result.set_path(task.display_path);
  for (v1::Finding& finding : *result.mutable_findings()) finding.set_file(task.display_path);
  uint64_t seq = job.proto.done_tasks() + 1;
  auto updated = store_->CompleteTask(task.task_id, seq, result);
  if (!updated.ok()) return updated.status();
  if (!*updated) return absl::OkStatus();  // Already applied: idempotent.
  job.proto.set_done_tasks(seq);
  if (result.from_cache()) job.proto.set_cached_tasks(job.proto.cached_tasks() + 1);
  Count(job.proto, result.verdict(), WorstSeverity(result));
  metrics_.TaskCompleted(FromProto(result.verdict()),
                         result.from_cache() ? 0 : result.size_bytes());
  return FinishTask(job);
}

absl::Status Coordinator::ApplyEvalBatch(JobState& job, const PendingTask& task,
                                         const v1::EvalBatchResult& batch) {
  uint64_t seq = job.proto.done_tasks() + 1;
  auto updated = store_->CompleteEvalBatch(task.task_id, seq, batch);
  if (!updated.ok()) return updated.status();
  if (!*updated) return absl::OkStatus();  // Already applied: idempotent.
  job.proto.set_done_tasks(seq);
  return FinishTask(job);
}

absl::Status Coordinator::FinishTask(JobState& job) {
  scheduler_->TaskFinished(job.id);
  metrics_.TenantTaskCompleted(job.proto.tenant());
  metrics_.SetQueueDepth(job.proto.tenant(),
                         static_cast<double>(scheduler_->TenantUnfinished(job.proto.tenant())));
  PublishUnfinishedTasks();
  changed_.notify_all();
  return FinishJobIfDone(job);
}

absl::Status Coordinator::FinishJobIfDone(JobState& job) {
  if (job.proto.done_tasks() < job.proto.total_tasks()) return absl::OkStatus();
  auto stored = store_->Job(job.id);
  if (!stored.ok()) return stored.status();
  JobConclusion conclusion = job.kind->Conclude(*store_, *stored);
  absl::Status status = store_->FinishJob(job.id, WallNow(), conclusion.verdict, conclusion.score);
  // The caller's transaction is not committed, and the store fault path
  // reloads memory from the store.
  if (!status.ok()) return status;
  if (conclusion.verdict.empty())
    metrics_.JobCompleted(FromProto(job.proto.verdict()));
  else
    metrics_.EvalJobCompleted(conclusion.verdict);
  metrics_.JobDuration(job.proto.tenant(), job.proto.kind() == v1::EVAL,
                       std::max(0.0, WallNow() - job.proto.created_unix_seconds()));
  Log(LogLevel::kInfo, "job_finished",
      {{"job", job.proto.id()},
       {"tenant", job.proto.tenant()},
       {"kind", job.proto.kind() == v1::EVAL ? "eval" : "scan"},
       {"verdict",
        conclusion.verdict.empty() ? v1::Verdict_Name(job.proto.verdict()) : conclusion.verdict},
       {"duration_s", std::max(0.0, WallNow() - job.proto.created_unix_seconds())},
       {"tasks", job.proto.total_tasks()},
       {"dead_lettered", job.proto.dead_lettered_tasks()},
       {"cached", job.proto.cached_tasks()}});
  DropJob(job.id);
  changed_.notify_all();
  return absl::OkStatus();
}

void Coordinator::DropJob(int64_t job_id) {
  auto job = jobs_.find(job_id);
  if (job == jobs_.end()) return;
  const std::string tenant = job->second.proto.tenant();
  scheduler_->RemoveJob(job_id);
  metrics_.SetQueueDepth(tenant, static_cast<double>(scheduler_->TenantUnfinished(tenant)));
  jobs_.erase(job);
  PublishUnfinishedTasks();
}

void Coordinator::ReleaseFollowers(const std::string& cache_key) {
  for (VerdictCache::Follower& follower : cache_->Settle(cache_key))
    if (jobs_.count(follower.job_id)) Requeue(follower.job_id, std::move(follower.task));
}

absl::Status Coordinator::StoreFault(const absl::Status& cause) {
  store_->Rollback();
  metrics_.StoreError();
  Log(LogLevel::kError, "store_write_failed",
      {{"error", std::string(cause.message())},
       {"action", "rolled back; reloading jobs from the store, whose state is the truth"}});
  // Roll memory back to what the store holds: drop the view of unfinished
  // jobs and every lease (their tasks are queued again, late results are
  // dropped), then rebuild it as after a restart.
  for (auto& [id, worker] : workers_) worker.held = 0;
  leases_.clear();
  cache_->Clear();
  jobs_.clear();
  scheduler_->Clear();
  if (auto status = Recover(); !status.ok())
    Log(LogLevel::kError, "store_reload_failed", {{"error", std::string(status.message())}});
  changed_.notify_all();
  return absl::UnavailableError(
      StrCat("the job store could not save this change (", cause.message(),
             "); nothing was applied. Retry; if it persists, the coordinator's disk may be full"));
}

void Coordinator::PublishGauges() {
  double active = 0, draining = 0, capacity = 0;
  for (const auto& [id, worker] : workers_) {
    (worker.draining ? draining : active) += 1;
    if (!worker.draining) capacity += worker.max_leases;
  }
  metrics_.SetWorkers(active, draining);
  metrics_.SetWorkerCapacity(capacity);
  for (const auto& [tenant, depth] : scheduler_->TenantDepths())
    metrics_.SetQueueDepth(tenant, static_cast<double>(depth));
  metrics_.ForgetIdleTenants();
  metrics_.SetStoreSize(static_cast<double>(store_->SizeBytes()));
  PublishUnfinishedTasks();
}

void Coordinator::PublishUnfinishedTasks() {
  metrics_.SetUnfinishedTasks(static_cast<double>(scheduler_->KindUnfinished(v1::SCAN)),
                              static_cast<double>(scheduler_->KindUnfinished(v1::EVAL)));
}

absl::Status Coordinator::CommitStore() {
  auto start = std::chrono::steady_clock::now();
  absl::Status status = store_->Commit();
  metrics_.StoreCommit(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return status;
}

}  // namespace gauntlet
