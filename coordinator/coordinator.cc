#include "coordinator/coordinator.h"

#include <google/protobuf/stubs/common.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <random>

#include "absl/strings/escaping.h"
#include "common/random_id.h"
#include "common/regular_file.h"
#include "common/rules.h"
#include "common/scanner_revision.h"
#include "common/strings.h"
#include "coordinator/eval_jobs.h"
#include "coordinator/model_aggregator.h"
#include "coordinator/scan_paths.h"
#include "coordinator/store_migrations.h"
#include "coordinator/token_store.h"
#include "proto/convert.h"

namespace gauntlet {
namespace {

constexpr int kQueued = 0, kDone = 1, kDeadLettered = 2, kCancelled = 3;
constexpr size_t kLoadBatch = 512;
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

// Names shown in reports (the client's own paths, often absolute): no
// '.'/'..' components that would make a report name another file than the
// one uploaded, no control characters that would forge report lines.
absl::Status ValidUploadName(const std::string& name) {
  if (name.size() > kMaxUploadNameBytes)
    return absl::InvalidArgumentError(StrCat("an uploaded file's name is ", name.size(),
                                             " bytes; the limit is ", kMaxUploadNameBytes));
  for (char c : name)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      return absl::InvalidArgumentError(
          StrCat("uploaded file name '", absl::CEscape(name), "' has control characters"));
  for (auto part : StrSplit(name, "/"))
    if (part == "." || part == "..")
      return absl::InvalidArgumentError(StrCat("uploaded file name '", absl::CEscape(name),
                                               "' may not have '.' or '..' components"));
  return absl::OkStatus();
}

void Count(v1::Job& job, v1::Verdict verdict) {
  switch (verdict) {
    case v1::VERDICT_UNSPECIFIED:
      return;  // A finished eval batch: outcomes, no file verdict.
    case v1::CLEAN:
      job.set_clean(job.clean() + 1);
      break;
    case v1::SUSPICIOUS:
      job.set_suspicious(job.suspicious() + 1);
      break;
    case v1::MALICIOUS:
      job.set_malicious(job.malicious() + 1);
      break;
    default:
      job.set_error(job.error() + 1);
      break;
  }
  job.set_verdict(ToProto(WorseVerdict(FromProto(job.verdict()), FromProto(verdict))));
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
  // A store that exists but is empty lost its contents (a truncated file, a
  // WAL without its database): starting empty would silently drop jobs.
  struct stat db_stat {
  }, wal_stat{};
  bool file_store = opened.db_path != ":memory:";
  bool empty_file =
      file_store && stat(opened.db_path.c_str(), &db_stat) == 0 && db_stat.st_size == 0;
  bool has_wal =
      file_store && stat((opened.db_path + "-wal").c_str(), &wal_stat) == 0 && wal_stat.st_size > 0;
  if (empty_file && !opened.initialize_store)
    return absl::FailedPreconditionError(
        StrCat("the job store ", opened.db_path,
               " is an empty file: if it held jobs, they are lost; restore it from a backup, or "
               "start with --init-db to begin with an empty store"));
  auto db = Sqlite::Open(opened.db_path);
  if (!db.ok()) return db.status();
  coordinator->db_ = std::move(*db);
  if (has_wal && !opened.initialize_store) {
    auto schema =
        coordinator->db_->Prepare("SELECT COUNT(*) FROM sqlite_master WHERE name = 'jobs'");
    if (!schema.ok()) return schema.status();
    auto row = schema->Step();
    if (!row.ok()) return row.status();
    bool missing = schema->Int(0) == 0;
    schema->Reset();
    if (missing)
      return absl::FailedPreconditionError(
          StrCat("the job store ", opened.db_path,
                 " has a write-ahead log but no job tables: the database file was lost or "
                 "replaced. Restore it, or start with --init-db to begin with an empty store"));
  }
  if (opened.max_store_bytes > 0) {
    // PRAGMA takes no bound parameters; the number is ours. Pages are 4 KiB.
    if (auto status = coordinator->db_->Exec(StrCat(
            "PRAGMA max_page_count = ", std::max<uint64_t>(opened.max_store_bytes / 4096, 16),
            ";"));
        !status.ok())
      return status;
  }
  if (auto status = coordinator->InitSchema(); !status.ok()) return status;
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
            std::cerr << "gauntlet-coordinator: retention: " << status.message() << "\n";
        }
        lock.lock();
      }
    });
  }
  return coordinator;
}

Coordinator::Coordinator(CoordinatorOptions options)
    : options_(std::move(options)), blobs_(options_.blob_directory) {
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

absl::Status Coordinator::InitSchema() {
  absl::Status status = db_->Exec(R"sql(
    CREATE TABLE IF NOT EXISTS jobs (
      id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, state INTEGER NOT NULL,
      created REAL NOT NULL, finished REAL NOT NULL DEFAULT 0,
      policy_toml TEXT NOT NULL, policy_source TEXT NOT NULL, publisher TEXT NOT NULL,
      directories TEXT NOT NULL, total INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS tasks (
      id INTEGER PRIMARY KEY, job_id INTEGER NOT NULL, display TEXT NOT NULL,
      path TEXT NOT NULL, blob_sha TEXT NOT NULL, blob_size INTEGER NOT NULL,
      state INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0,
      verdict INTEGER NOT NULL DEFAULT 0, cached INTEGER NOT NULL DEFAULT 0,
      done_seq INTEGER, result BLOB);
    CREATE INDEX IF NOT EXISTS tasks_queue ON tasks(job_id, state, id);
    CREATE INDEX IF NOT EXISTS tasks_done ON tasks(job_id, done_seq);
    CREATE TABLE IF NOT EXISTS cache (key TEXT PRIMARY KEY, result BLOB NOT NULL);
    CREATE TABLE IF NOT EXISTS blob_owners (
      tenant TEXT NOT NULL, sha256 TEXT NOT NULL, size INTEGER NOT NULL, uploaded REAL NOT NULL,
      PRIMARY KEY (tenant, sha256, size));
  )sql");
  if (!status.ok()) return status;
  // Columns added with eval jobs; a database from before them gains them
  // here (SQLite has no ADD COLUMN IF NOT EXISTS, so "duplicate column" is
  // the expected error on every later start).
  for (const char* column :
       {"ALTER TABLE jobs ADD COLUMN kind INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE jobs ADD COLUMN eval_spec BLOB",
        "ALTER TABLE jobs ADD COLUMN deadline REAL NOT NULL DEFAULT 0",
        "ALTER TABLE jobs ADD COLUMN eval_verdict TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE tasks ADD COLUMN payload BLOB", "ALTER TABLE jobs ADD COLUMN public_id TEXT",
        "ALTER TABLE cache ADD COLUMN writer TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE cache ADD COLUMN created REAL NOT NULL DEFAULT 0",
        "ALTER TABLE jobs ADD COLUMN eval_score REAL NOT NULL DEFAULT 0",
        "ALTER TABLE tasks ADD COLUMN batch BLOB"})
    db_->Exec(column).IgnoreError();
  if (auto status = MigrateStore(*db_); !status.ok()) return status;
  // Jobs from before random ids keep the sequential names they were given.
  return db_->Exec(
      "UPDATE jobs SET public_id = 'job-' || id WHERE public_id IS NULL;"
      "CREATE UNIQUE INDEX IF NOT EXISTS jobs_public_id ON jobs(public_id);"
      "CREATE INDEX IF NOT EXISTS cache_writer ON cache(writer);"
      "CREATE INDEX IF NOT EXISTS cache_created ON cache(created);"
      "CREATE INDEX IF NOT EXISTS jobs_finished ON jobs(state, finished);"
      "CREATE INDEX IF NOT EXISTS blob_owners_uploaded ON blob_owners(uploaded);");
}

// Rebuilds the in-memory view of unfinished jobs. Leases do not survive a
// restart: their tasks are simply queued again, and results still in flight
// from before the restart are dropped as late.
absl::Status Coordinator::Recover() {
  auto jobs = db_->Prepare(
      "SELECT id, tenant, state, created, finished, policy_toml, policy_source, publisher, "
      "directories, total, kind, deadline, public_id FROM jobs WHERE state IN (1, 2) ORDER BY id");
  if (!jobs.ok()) return jobs.status();
  auto counts = db_->Prepare(
      "SELECT state, verdict, cached, COUNT(*) FROM tasks WHERE job_id = ? GROUP BY 1, 2, 3");
  if (!counts.ok()) return counts.status();
  while (true) {
    auto row = jobs->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    JobState job;
    job.id = jobs->Int(0);
    job.proto.set_id(std::string(jobs->Text(12)));
    job.proto.set_tenant(std::string(jobs->Text(1)));
    job.proto.set_state(static_cast<v1::JobState>(jobs->Int(2)));
    job.proto.set_created_unix_seconds(jobs->Double(3));
    job.policy_toml = std::string(jobs->Text(5));
    job.proto.set_policy_source(std::string(jobs->Text(6)));
    job.publisher = std::string(jobs->Text(7));
    for (auto dir : StrSplit(jobs->Text(8), "\n"))
      if (!dir.empty()) job.directories.emplace_back(dir);
    job.proto.set_total_tasks(static_cast<uint64_t>(jobs->Int(9)));
    job.proto.set_kind(static_cast<v1::JobKind>(jobs->Int(10)));
    job.deadline = jobs->Double(11);
    job.proto.set_verdict(v1::CLEAN);
    auto policy = Policy::FromTomlOrDefault(job.policy_toml, job.proto.policy_source());
    if (!policy.ok()) return policy.status();
    job.policy = std::make_shared<const Policy>(std::move(*policy));
    job.policy_digest = Sha256Hex(job.policy_toml);
    counts->Bind(1, job.id);
    while (true) {
      auto count_row = counts->Step();
      if (!count_row.ok()) return count_row.status();
      if (!*count_row) break;
      int state = static_cast<int>(counts->Int(0));
      auto verdict = static_cast<v1::Verdict>(counts->Int(1));
      uint64_t n = static_cast<uint64_t>(counts->Int(3));
      if (state == kQueued) {
        job.unfinished += n;
        continue;
      }
      job.proto.set_done_tasks(job.proto.done_tasks() + n);
      if (state == kDeadLettered)
        job.proto.set_dead_lettered_tasks(job.proto.dead_lettered_tasks() + n);
      if (counts->Int(2)) job.proto.set_cached_tasks(job.proto.cached_tasks() + n);
      for (uint64_t i = 0; i < n; ++i) Count(job.proto, verdict);
    }
    counts->Reset();
    TenantState& tenant = tenants_[job.proto.tenant()];
    if (tenant.jobs.empty() && tenant.unfinished == 0)
      tenant_rotation_.push_back(job.proto.tenant());
    tenant.unfinished += job.unfinished;
    tenant.jobs.push_back(job.id);
    int64_t id = job.id;
    auto [it, inserted] = jobs_.emplace(id, std::move(job));
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
  auto row = db_->Prepare("SELECT id, tenant FROM jobs WHERE public_id = ?");
  if (!row.ok()) return row.status();
  row->Bind(1, job_id);
  auto found = row->Step();
  if (!found.ok()) return found.status();
  if (!*found || (!scope.every_tenant && row->Text(1) != scope.tenant)) return NoSuchJob(job_id);
  int64_t id = row->Int(0);
  row->Reset();
  return id;
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
  auto row = db_->Prepare("SELECT 1 FROM blob_owners WHERE tenant = ? AND sha256 = ? AND size = ?");
  if (!row.ok()) return false;
  row->Bind(1, tenant).Bind(2, digest.sha256).Bind(3, digest.size_bytes);
  auto found = row->Step();
  bool visible = found.ok() && *found;
  row->Reset();
  return visible;
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
    auto used = db_->Prepare("SELECT COALESCE(SUM(size), 0) FROM blob_owners WHERE tenant = ?");
    if (!used.ok()) return used.status();
    used->Bind(1, scope.tenant);
    auto row = used->Step();
    if (!row.ok()) return row.status();
    uint64_t bytes = static_cast<uint64_t>(used->Int(0));
    used->Reset();
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
  auto insert = db_->Prepare(
      "INSERT OR REPLACE INTO blob_owners (tenant, sha256, size, uploaded) VALUES (?, ?, ?, ?)");
  if (!insert.ok()) return insert.status();
  return insert->Bind(1, scope.tenant)
      .Bind(2, digest.sha256())
      .Bind(3, digest.size_bytes())
      .Bind(4, WallNow())
      .Run();
}

// ------------------------------------------------------------------ clients

absl::StatusOr<v1::Job> Coordinator::SubmitScan(const v1::SubmitScanRequest& request,
                                                const ClientScope& scope) {
  auto tenant = SubmittingTenant(request.tenant(), scope);
  if (!tenant.ok()) return tenant.status();
  if (request.paths().empty() && request.uploads().empty())
    return absl::InvalidArgumentError("a scan job needs at least one path or uploaded file");
  if (request.policy_toml().size() > kMaxPolicyBytes)
    return absl::InvalidArgumentError(StrCat("the policy is ", request.policy_toml().size(),
                                             " bytes; the limit is ", kMaxPolicyBytes));
  for (const std::string& path : request.paths())
    if (path.size() > kMaxPathBytes)
      return absl::InvalidArgumentError(
          StrCat("a path is ", path.size(), " bytes; the limit is ", kMaxPathBytes));
  for (const v1::UploadedFile& upload : request.uploads())
    if (auto status = ValidUploadName(upload.name()); !status.ok()) return status;

  // Parsed once per distinct policy text and shared by its jobs.
  std::shared_ptr<const Policy> policy = Policy::Shared(request.policy_toml());
  if (!policy) {
    auto parsed = Policy::FromToml(request.policy_toml(), request.policy_name().empty()
                                                              ? "submitted policy"
                                                              : request.policy_name());
    return absl::InvalidArgumentError(StrCat("policy: ", parsed.status().message()));
  }

  // A cluster resolves every path the way a worker will open it, so that a
  // symlink cannot lead a job out of the allowed roots. The embedded
  // coordinator (no roots) runs as the user and keeps paths as they were typed.
  const bool confined = !options_.allow_roots.empty();
  std::vector<std::string> resolved, directories;
  for (const std::string& path : request.paths()) {
    if (confined && (path.empty() || path.front() != '/'))
      return absl::InvalidArgumentError(
          StrCat("path '", path, "' is not absolute; workers resolve paths on their own hosts"));
    std::error_code error;
    std::string canonical = std::filesystem::canonical(path, error).string();
    if (error == std::errc::too_many_symbolic_link_levels)
      return absl::InvalidArgumentError(StrCat("'", path, "' is a symlink loop"));
    if (error) return absl::NotFoundError(StrCat("no such file or directory: ", path));
    resolved.push_back(confined ? canonical : path);
    if (std::filesystem::is_directory(canonical)) directories.push_back(resolved.back());
  }
  auto files = resolved.empty()
                   ? absl::StatusOr<std::vector<std::string>>(std::vector<std::string>())
                   : ExpandScanPaths(resolved);
  if (!files.ok()) return files.status();
  if (confined) {
    for (const std::string& file : *files) {
      std::error_code error;
      std::string real = std::filesystem::canonical(file, error).string();
      // A symlink loop leads nowhere: the worker reports it as one.
      bool allowed = error == std::errc::too_many_symbolic_link_levels;
      for (const std::string& root : options_.allow_roots)
        allowed |= !error && PathWithin(real, root);
      if (!allowed)
        return absl::PermissionDeniedError(
            StrCat("'", file, "' is outside the roots this cluster may read (",
                   StrJoin(options_.allow_roots, ", "), "); upload it instead"));
    }
  }
  for (const v1::UploadedFile& upload : request.uploads()) {
    BlobDigest digest{upload.digest().sha256(), upload.digest().size_bytes()};
    if (auto status = ValidateDigest(digest); !status.ok()) return status;
    bool visible;
    {
      std::lock_guard lock(mu_);
      visible = BlobVisible(digest, *tenant);
    }
    if (!visible)
      return absl::NotFoundError(StrCat("blob ", digest.sha256, "/", digest.size_bytes, " ('",
                                        absl::CEscape(upload.name()),
                                        "') is not in the content store; upload it first"));
  }
  for (const std::string& directory : request.upload_directories()) {
    if (auto status = ValidUploadName(directory); !status.ok()) return status;
    std::string prefix = directory.ends_with('/') ? directory : StrCat(directory, "/");
    bool used = std::any_of(
        request.uploads().begin(), request.uploads().end(),
        [&](const v1::UploadedFile& upload) { return StartsWith(upload.name(), prefix); });
    if (!used)
      return absl::InvalidArgumentError(
          StrCat("upload directory '", absl::CEscape(directory), "' names no uploaded file"));
    directories.push_back(directory);
  }
  NewJob job{.tenant = *tenant,
             .kind = v1::SCAN,
             .policy_toml = request.policy_toml(),
             .policy_source = request.policy_toml().empty()   ? "built-in"
                              : request.policy_name().empty() ? "submitted policy"
                                                              : request.policy_name(),
             .publisher = request.publisher(),
             .policy = std::move(policy),
             .directories = std::move(directories)};
  for (const std::string& file : *files) job.tasks.push_back({file, file, {}, {}});
  for (const v1::UploadedFile& upload : request.uploads())
    job.tasks.push_back({upload.name().empty() ? upload.digest().sha256() : upload.name(),
                         "",
                         {upload.digest().sha256(), upload.digest().size_bytes()},
                         {}});
  if (job.tasks.empty()) return absl::InvalidArgumentError("the paths hold no files to scan");
  return InsertJob(std::move(job));
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
  double runtime = request.max_runtime_seconds() > 0 ? request.max_runtime_seconds()
                                                     : kDefaultEvalRuntimeSeconds;
  NewJob job{.tenant = *tenant,
             .kind = v1::EVAL,
             .policy_source = "A/B eval",
             .policy = Policy::Shared(""),
             .eval_spec = plan->spec.SerializeAsString(),
             .runtime_seconds = runtime};
  for (const v1::EvalTask& task : plan->tasks)
    job.tasks.push_back({StrCat("prompts ", task.first_prompt() + 1, "-",
                                task.first_prompt() + task.prompts_size()),
                         "",
                         {},
                         task.SerializeAsString()});
  return InsertJob(std::move(job));
}

absl::StatusOr<v1::Job> Coordinator::InsertJob(NewJob spec) {
  const uint64_t task_count = spec.tasks.size();
  std::lock_guard lock(mu_);
  TenantState& tenant_state = tenants_[spec.tenant];
  if (tenant_state.unfinished + task_count > options_.tenant_queue_limit)
    return absl::ResourceExhaustedError(
        StrCat("tenant '", spec.tenant, "' has ", tenant_state.unfinished,
               " unfinished tasks; this job adds ", task_count, " and the limit is ",
               options_.tenant_queue_limit, ". Retry when earlier jobs finish, or split the job."));

  if (auto status = db_->Exec("BEGIN"); !status.ok()) return status;
  auto insert_job = db_->Prepare(
      "INSERT INTO jobs (tenant, state, created, policy_toml, policy_source, publisher, "
      "directories, total, kind, eval_spec, deadline, public_id) "
      "VALUES (?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  auto insert_task = db_->Prepare(
      "INSERT INTO tasks (job_id, display, path, blob_sha, blob_size, payload) "
      "VALUES (?, ?, ?, ?, ?, ?)");
  if (!insert_job.ok() || !insert_task.ok()) {
    db_->Exec("ROLLBACK").IgnoreError();
    return insert_job.ok() ? insert_task.status() : insert_job.status();
  }
  double created = WallNow();
  double deadline = spec.runtime_seconds > 0 ? created + spec.runtime_seconds : 0;
  std::string public_id = NewJobId();
  absl::Status status = insert_job->Bind(1, spec.tenant)
                            .Bind(2, created)
                            .Bind(3, spec.policy_toml)
                            .Bind(4, spec.policy_source)
                            .Bind(5, spec.publisher)
                            .Bind(6, StrJoin(spec.directories, "\n"))
                            .Bind(7, static_cast<int64_t>(task_count))
                            .Bind(8, static_cast<int64_t>(spec.kind))
                            .BindBlob(9, spec.eval_spec)
                            .Bind(10, deadline)
                            .Bind(11, public_id)
                            .Run();
  int64_t job_id = db_->LastInsertId();
  for (size_t i = 0; status.ok() && i < spec.tasks.size(); ++i) {
    const NewTask& task = spec.tasks[i];
    status = insert_task->Bind(1, job_id)
                 .Bind(2, task.display)
                 .Bind(3, task.path)
                 .Bind(4, task.blob.sha256)
                 .Bind(5, task.blob.size_bytes)
                 .BindBlob(6, task.payload)
                 .Run();
  }
  if (status.ok()) status = db_->Exec("COMMIT");
  if (!status.ok()) return StoreFault(status);

  JobState job;
  job.id = job_id;
  job.proto.set_id(public_id);
  job.proto.set_tenant(spec.tenant);
  job.proto.set_state(v1::QUEUED);
  job.proto.set_kind(spec.kind);
  job.proto.set_total_tasks(task_count);
  job.proto.set_verdict(v1::CLEAN);
  job.proto.set_created_unix_seconds(created);
  job.proto.set_policy_source(spec.policy_source);
  job.policy_toml = spec.policy_toml;
  job.policy_digest = Sha256Hex(job.policy_toml);
  job.policy = std::move(spec.policy);
  job.directories = std::move(spec.directories);
  job.publisher = spec.publisher;
  job.deadline = deadline;
  job.unfinished = task_count;
  if (tenant_state.jobs.empty() && tenant_state.unfinished == 0)
    tenant_rotation_.push_back(spec.tenant);
  tenant_state.jobs.push_back(job_id);
  tenant_state.unfinished += task_count;
  v1::Job proto = job.proto;
  jobs_.emplace(job_id, std::move(job));
  metrics_.JobSubmitted(spec.kind == v1::EVAL);
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
  if (JobState* job = FindJob(id)) return job->proto;
  auto row = db_->Prepare(
      "SELECT j.public_id, j.tenant, j.state, j.created, j.finished, j.policy_source, j.total, "
      "j.kind, "
      "j.eval_verdict, j.eval_score, "
      "SUM(t.state = 1 OR t.state = 2), SUM(t.state = 2), SUM(t.cached), "
      "SUM(t.verdict = 1), SUM(t.verdict = 2), SUM(t.verdict = 3), "
      "SUM(t.verdict = 4 AND t.state != 3) "
      "FROM jobs j LEFT JOIN tasks t ON t.job_id = j.id WHERE j.id = ? GROUP BY j.id");
  if (!row.ok()) return row.status();
  row->Bind(1, id);
  auto found = row->Step();
  if (!found.ok()) return found.status();
  if (!*found) return absl::NotFoundError(StrCat("job ", id, " was deleted"));
  v1::Job job;
  job.set_id(std::string(row->Text(0)));
  job.set_tenant(std::string(row->Text(1)));
  job.set_state(static_cast<v1::JobState>(row->Int(2)));
  job.set_created_unix_seconds(row->Double(3));
  job.set_finished_unix_seconds(row->Double(4));
  job.set_policy_source(std::string(row->Text(5)));
  job.set_total_tasks(static_cast<uint64_t>(row->Int(6)));
  job.set_kind(static_cast<v1::JobKind>(row->Int(7)));
  job.set_eval_verdict(std::string(row->Text(8)));
  job.set_eval_score(row->Double(9));
  job.set_done_tasks(static_cast<uint64_t>(row->Int(10)));
  job.set_dead_lettered_tasks(static_cast<uint64_t>(row->Int(11)));
  job.set_cached_tasks(static_cast<uint64_t>(row->Int(12)));
  job.set_clean(static_cast<uint64_t>(row->Int(13)));
  job.set_suspicious(static_cast<uint64_t>(row->Int(14)));
  job.set_malicious(static_cast<uint64_t>(row->Int(15)));
  job.set_error(static_cast<uint64_t>(row->Int(16)));
  row->Reset();
  Verdict worst = Verdict::kClean;
  if (job.suspicious()) worst = WorseVerdict(worst, Verdict::kSuspicious);
  if (job.error()) worst = WorseVerdict(worst, Verdict::kError);
  if (job.malicious()) worst = WorseVerdict(worst, Verdict::kMalicious);
  job.set_verdict(ToProto(worst));
  return job;
}

absl::StatusOr<std::vector<v1::Job>> Coordinator::ListJobs(const std::string& tenant,
                                                           uint32_t limit,
                                                           const ClientScope& scope) {
  // A tenant scope lists its own jobs whatever `tenant` says.
  const std::string& only = scope.every_tenant ? tenant : scope.tenant;
  std::lock_guard lock(mu_);
  std::vector<int64_t> ids;
  auto rows =
      db_->Prepare("SELECT id FROM jobs WHERE (? = '' OR tenant = ?) ORDER BY id DESC LIMIT ?");
  if (!rows.ok()) return rows.status();
  rows->Bind(1, only).Bind(2, only).Bind(3, static_cast<int64_t>(limit ? limit : 50));
  while (true) {
    auto row = rows->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    ids.push_back(rows->Int(0));
  }
  std::vector<v1::Job> jobs;
  for (int64_t id : ids) {
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
  if (auto status = db_->Exec("BEGIN"); !status.ok()) return StoreFault(status);
  absl::Status status = [&] {
    auto update =
        db_->Prepare("UPDATE jobs SET state = 4, finished = ?, eval_verdict = ? WHERE id = ?");
    if (!update.ok()) return update.status();
    if (auto status = update->Bind(1, WallNow())
                          .Bind(2, job.proto.kind() == v1::EVAL ? "ERROR" : "")
                          .Bind(3, job.id)
                          .Run();
        !status.ok())
      return status;
    auto tasks = db_->Prepare("UPDATE tasks SET state = 3 WHERE job_id = ? AND state = 0");
    if (!tasks.ok()) return tasks.status();
    if (auto status = tasks->Bind(1, job.id).Run(); !status.ok()) return status;
    return db_->Exec("COMMIT");
  }();
  if (!status.ok()) return StoreFault(status);
  for (auto it = leases_.begin(); it != leases_.end();) {
    if (it->second.job_id == job.id) {
      if (!it->second.cache_key.empty()) {
        in_flight_.erase(it->second.cache_key);
        ReleaseFollowers(it->second.cache_key);
      }
      it = EraseLease(it);
    } else {
      ++it;
    }
  }
  for (auto& [key, followers] : followers_)
    std::erase_if(followers, [&](const Follower& f) { return f.job_id == job.id; });
  if (auto status = RemoveTenantJob(job); !status.ok()) return status;
  metrics_.JobCancelled();
  jobs_.erase(job.id);
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
  v1::WatchJobEvent event;
  *event.mutable_job() = *proto;
  if (after_result >= proto->done_tasks()) return event;
  auto rows = db_->Prepare(
      "SELECT result, display, verdict FROM tasks WHERE job_id = ? AND done_seq > ? "
      "ORDER BY done_seq LIMIT 1000");
  if (!rows.ok()) return rows.status();
  rows->Bind(1, *id).Bind(2, static_cast<int64_t>(after_result));
  while (true) {
    auto row = rows->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    v1::FileResult* result = event.add_results();
    if (rows->IsNull(0)) {
      // A finished eval batch: its progress, not a file verdict.
      result->set_path(std::string(rows->Text(1)));
      result->set_verdict(static_cast<v1::Verdict>(rows->Int(2)));
    } else if (!result->ParseFromString(std::string(rows->Text(0)))) {
      return absl::DataLossError(StrCat("a stored result of ", job_id, " does not parse"));
    }
  }
  return event;
}

absl::StatusOr<ScanReport> Coordinator::BuildReport(const std::string& job_id,
                                                    const ClientScope& scope) {
  ScanReport report;
  std::string policy_toml, policy_source, publisher;
  std::vector<std::string> directories;
  double created = 0, finished = 0;
  {
    std::lock_guard lock(mu_);
    auto id = ResolveJob(job_id, scope);
    if (!id.ok()) return id.status();
    auto job = db_->Prepare(
        "SELECT policy_toml, policy_source, publisher, directories, created, finished "
        "FROM jobs WHERE id = ?");
    if (!job.ok()) return job.status();
    job->Bind(1, *id);
    auto found = job->Step();
    if (!found.ok()) return found.status();
    if (!*found) return NoSuchJob(job_id);
    policy_toml = std::string(job->Text(0));
    policy_source = std::string(job->Text(1));
    publisher = std::string(job->Text(2));
    for (auto dir : StrSplit(job->Text(3), "\n"))
      if (!dir.empty()) directories.emplace_back(dir);
    created = job->Double(4);
    finished = job->Double(5);
    job->Reset();
    auto results = StoredResults(*id, "display");
    if (!results.ok()) return results.status();
    for (const v1::FileResult& result : *results) report.files.push_back(FromProto(result));
  }
  std::shared_ptr<const Policy> policy = Policy::Shared(policy_toml);
  if (!policy)
    return absl::DataLossError(StrCat("the stored policy of ", job_id, " does not parse"));
  report.tool_version = GAUNTLET_VERSION;
  report.policy_source = policy_source;
  report.duration_seconds = finished > created ? finished - created : 0;
  std::sort(report.files.begin(), report.files.end(),
            [](const FileReport& a, const FileReport& b) { return a.path < b.path; });
  AggregateModels(directories, *policy, publisher, report);
  return report;
}

absl::StatusOr<std::vector<v1::FileResult>> Coordinator::StoredResults(int64_t job_id,
                                                                       std::string_view order) {
  auto rows = db_->Prepare(
      StrCat("SELECT result FROM tasks WHERE job_id = ? AND state IN (1, 2) ORDER BY ", order));
  if (!rows.ok()) return rows.status();
  rows->Bind(1, job_id);
  std::vector<v1::FileResult> results;
  while (true) {
    auto row = rows->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    if (!results.emplace_back().ParseFromString(std::string(rows->Text(0)))) {
      return absl::DataLossError("a stored task result does not parse");
    }
  }
  return results;
}

absl::StatusOr<eval::AbReport> Coordinator::BuildEvalReport(const std::string& job_id,
                                                            const ClientScope& scope) {
  std::lock_guard lock(mu_);
  auto id = ResolveJob(job_id, scope);
  if (!id.ok()) return id.status();
  auto data = CollectEvalReport(*id);
  if (!data.ok()) return data.status();
  return eval::AbReportFromData(*data);
}

absl::StatusOr<v1::Report> Coordinator::BuildTypedReport(const std::string& job_id,
                                                         const ClientScope& scope) {
  v1::Report report;
  auto job = GetJob(job_id, scope);
  if (!job.ok()) return job.status();
  if (job->kind() == v1::EVAL) {
    std::lock_guard lock(mu_);
    auto id = ResolveJob(job_id, scope);
    if (!id.ok()) return id.status();
    auto data = CollectEvalReport(*id);
    if (!data.ok()) return data.status();
    *report.mutable_eval() = std::move(*data);
    return report;
  }
  auto scan = BuildReport(job_id, scope);
  if (!scan.ok()) return scan.status();
  *report.mutable_scan() = ToProto(*scan);
  report.mutable_scan()->set_unscanned_files(job->total_tasks() - job->done_tasks());
  return report;
}

absl::StatusOr<v1::EvalReportData> Coordinator::CollectEvalReport(int64_t id) {
  auto job = db_->Prepare("SELECT kind, eval_spec, total, state, public_id FROM jobs WHERE id = ?");
  if (!job.ok()) return job.status();
  job->Bind(1, id);
  auto found = job->Step();
  if (!found.ok()) return found.status();
  if (!*found) return absl::NotFoundError(StrCat("job ", id, " was deleted"));
  const std::string job_id(job->Text(4));
  if (job->Int(0) != v1::EVAL)
    return absl::FailedPreconditionError(StrCat(job_id, " is a scan job, not an A/B eval"));
  v1::SubmitEvalRequest spec;
  if (!spec.ParseFromString(std::string(job->Text(1)))) {
    return absl::DataLossError(StrCat("the stored request of ", job_id, " does not parse"));
  }
  int64_t total = job->Int(2);
  bool cancelled = job->Int(3) == v1::CANCELLED;
  job->Reset();
  auto rows = db_->Prepare(
      "SELECT display, batch, result FROM tasks WHERE job_id = ? AND state IN (1, 2) ORDER BY id");
  if (!rows.ok()) return rows.status();
  rows->Bind(1, id);
  std::vector<StoredEvalBatch> batches;
  while (true) {
    auto row = rows->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    StoredEvalBatch& batch = batches.emplace_back();
    batch.display = std::string(rows->Text(0));
    v1::EvalBatchResult result;
    v1::FileResult dead_letter;
    if (!rows->IsNull(1) && result.ParseFromString(std::string(rows->Text(1)))) {
      batch.result = std::move(result);
    } else if (dead_letter.ParseFromString(std::string(rows->Text(2))) &&
               dead_letter.findings_size() > 0) {
      batch.error = dead_letter.findings(0).message();
    } else {
      batch.error = "its stored result does not parse";
    }
  }
  v1::EvalReportData data = CollectEvalJob(spec, batches);
  if (cancelled || static_cast<int64_t>(batches.size()) < total)
    data.add_problems(StrCat("the job ", cancelled ? "was cancelled" : "is unfinished", " after ",
                             batches.size(), " of ", total, " prompt batches"));
  return data;
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
  if (request.has_capabilities()) {
    worker.scan = request.capabilities().scan();
    worker.eval = request.capabilities().eval();
  }
  workers_[id] = worker;
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

  // One task per tenant per turn, then one per job within the tenant.
  size_t idle_tenants = 0;
  while (response.tasks_size() < static_cast<int>(wanted) && !tenant_rotation_.empty() &&
         idle_tenants < tenant_rotation_.size()) {
    std::string tenant = tenant_rotation_.front();
    tenant_rotation_.pop_front();
    tenant_rotation_.push_back(tenant);
    TenantState& state = tenants_[tenant];
    std::optional<PendingTask> task;
    JobState* job = nullptr;
    for (size_t tries = 0; !task && tries < state.jobs.size(); ++tries) {
      int64_t job_id = state.jobs.front();
      state.jobs.pop_front();
      state.jobs.push_back(job_id);
      job = &jobs_.at(job_id);
      if (job->proto.kind() == v1::EVAL ? holder.eval : holder.scan) task = NextTask(*job);
    }
    if (!task) {
      ++idle_tenants;
      continue;
    }
    idle_tenants = 0;
    task->attempts++;
    LeaseState lease{
        NewId("l-"), request.worker_id(),
        "",          BlobsOf(*job, *task),
        job->id,     *task,
        Now(),       Now() + std::chrono::duration<double>(options_.lease_ttl).count()};
    metrics_.QueueWait(std::max(0.0, lease.leased_at - task->queued_at));
    if (job->proto.state() == v1::QUEUED) job->proto.set_state(v1::RUNNING);
    v1::ScanTask* out = response.add_tasks();
    out->set_lease_id(lease.lease_id);
    out->set_attempt(task->attempts);
    out->set_display_path(task->display_path);
    if (job->proto.kind() == v1::EVAL) {
      out->mutable_eval()->ParseFromString(task->payload);
    } else if (!task->path.empty()) {
      out->set_path(task->path);
      for (const std::string& root : options_.allow_roots)
        if (PathWithin(task->path, root)) out->set_root(root);
    } else {
      out->mutable_blob()->set_sha256(task->blob.sha256);
      out->mutable_blob()->set_size_bytes(task->blob.size_bytes);
    }
    out->set_policy_toml(job->policy_toml);
    out->set_policy_digest(job->policy_digest);
    out->set_verdict_cache(options_.verdict_cache);
    leases_.emplace(lease.lease_id, std::move(lease));
    ++holder.held;
  }
  // Attempt counts only matter after a restart, which an in-memory store
  // (the CLI's embedded coordinator) never has.
  if (response.tasks_size() > 0 && options_.db_path != ":memory:") {
    auto attempts = db_->Prepare("UPDATE tasks SET attempts = attempts + 1 WHERE id = ?");
    if (!attempts.ok()) return attempts.status();
    // A store that cannot save them costs the lease nothing, but never
    // leaves a transaction open.
    db_->Exec("BEGIN").IgnoreError();
    for (const v1::ScanTask& task : response.tasks())
      attempts->Bind(1, leases_.at(task.lease_id()).task.task_id).Run().IgnoreError();
    if (!db_->Exec("COMMIT").ok()) {
      db_->Exec("ROLLBACK").IgnoreError();
      metrics_.StoreError();
    }
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

std::string Coordinator::CacheKey(const JobState& job, const v1::Digest& digest) const {
  return StrCat(digest.sha256(), "/", digest.size_bytes(), "/", GAUNTLET_VERSION, "r",
                kScannerRevision, "/", job.policy_digest, "/", options_.cache_salt);
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
  std::string key = CacheKey(job, request.digest());

  auto cached = db_->Prepare("SELECT result FROM cache WHERE key = ?");
  if (!cached.ok()) return cached.status();
  cached->Bind(1, key);
  auto hit = cached->Step();
  if (!hit.ok()) return hit.status();
  if (*hit) {
    v1::FileResult result;
    bool parsed = result.ParseFromString(std::string(cached->Text(0)));
    cached->Reset();
    if (!parsed) return absl::DataLossError("a verdict cache entry does not parse");
    PendingTask task = lease.task;
    EraseLease(lease_it);
    metrics_.CacheHit();
    result.set_from_cache(true);
    if (auto status = ApplyResult(job, task, std::move(result)); !status.ok())
      return StoreFault(status);
    response.set_outcome(v1::CheckCacheResponse::HIT);
    return response;
  }
  cached->Reset();
  auto leader = in_flight_.find(key);
  if (leader != in_flight_.end() && leases_.count(leader->second) > 0) {
    followers_[key].push_back(Follower{job.id, lease.task});
    EraseLease(lease_it);
    metrics_.CacheMerged();
    response.set_outcome(v1::CheckCacheResponse::MERGED);
    return response;
  }
  in_flight_[key] = lease.lease_id;
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
  if (auto status = db_->Exec("BEGIN"); !status.ok()) return StoreFault(status);
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
    if (result.has_result()) {
      JobState& job = jobs_.at(lease.job_id);
      metrics_.TaskDuration(std::max(0.0, Now() - lease.leased_at));
      v1::FileResult file = result.result();
      file.set_path(lease.task.display_path);
      if (!lease.cache_key.empty()) {
        in_flight_.erase(lease.cache_key);
        if (!result.transient()) {
          auto insert = db_->Prepare(
              "INSERT OR REPLACE INTO cache (key, result, writer, created) VALUES (?, ?, ?, ?)");
          if (insert.ok())
            status.Update(insert->Bind(1, lease.cache_key)
                              .BindBlob(2, file.SerializeAsString())
                              .Bind(3, identity)
                              .Bind(4, WallNow())
                              .Run());
          auto followers = followers_.extract(lease.cache_key);
          if (!followers.empty()) {
            for (Follower& follower : followers.mapped()) {
              auto follower_job = jobs_.find(follower.job_id);
              if (follower_job == jobs_.end()) continue;
              v1::FileResult copy = file;
              copy.set_from_cache(true);
              status.Update(ApplyResult(follower_job->second, follower.task, std::move(copy)));
            }
          }
        } else {
          ReleaseFollowers(lease.cache_key);
        }
      }
      status.Update(ApplyResult(job, lease.task, std::move(file)));
    } else if (result.has_eval_result()) {
      JobState& job = jobs_.at(lease.job_id);
      const v1::EvalBatchResult& batch = result.eval_result();
      // One outcome per prompt asked, or the batch is a failure: a report
      // over fewer prompts than planned could read CLEAN.
      v1::EvalTask planned;
      planned.ParseFromString(lease.task.payload);
      if (batch.outcomes_size() != planned.prompts_size()) {
        status.Update(FailLease(
            std::move(lease),
            StrCat("the eval worker returned ", batch.outcomes_size(), " outcomes for ",
                   planned.prompts_size(), " prompts (is it older than the coordinator?)"),
            true));
        continue;
      }
      metrics_.TaskDuration(std::max(0.0, Now() - lease.leased_at));
      metrics_.EvalBatch(batch.tokens_generated(), batch.seconds());
      status.Update(ApplyEvalBatch(job, lease.task, batch));
    } else if (result.has_failure()) {
      status.Update(FailLease(std::move(lease), result.failure(), true));
    } else {
      status.Update(FailLease(std::move(lease), "released by a draining worker", false));
    }
  }
  if (status.ok()) status = db_->Exec("COMMIT");
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
  std::erase_if(workers_, [&](const auto& entry) { return entry.second.last_seen + stale < now; });
  if (expired.empty()) {
    if (workers_.size() != workers_before) PublishGauges();
    return;
  }
  absl::Status status = db_->Exec("BEGIN");
  for (LeaseState& lease : expired) {
    metrics_.LeaseExpired();
    std::string worker = lease.worker_id;
    status.Update(FailLease(std::move(lease), StrCat("lease expired on worker ", worker), true));
  }
  if (status.ok()) status = db_->Exec("COMMIT");
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

std::vector<BlobDigest> Coordinator::BlobsOf(const JobState& job, const PendingTask& task) const {
  std::vector<BlobDigest> blobs;
  if (!task.blob.sha256.empty()) blobs.push_back(task.blob);
  if (job.proto.kind() != v1::EVAL) return blobs;
  v1::EvalTask eval;
  if (!eval.ParseFromString(task.payload)) return blobs;
  for (const v1::ModelRef* model : {&eval.a(), &eval.b()})
    for (const v1::ModelFolder* folder : {&model->base(), &model->adapter()})
      for (const v1::UploadedFile& file : folder->files())
        blobs.push_back({file.digest().sha256(), file.digest().size_bytes()});
  return blobs;
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
    auto expired = db_->Prepare(
        "SELECT id FROM jobs WHERE state IN (3, 4) AND finished > 0 AND finished < ? "
        "ORDER BY id LIMIT ?");
    if (!expired.ok()) return expired.status();
    expired->Bind(1, cutoff).Bind(2, kJobBatch);
    std::vector<int64_t> ids;
    while (true) {
      auto row = expired->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      ids.push_back(expired->Int(0));
    }
    expired->Reset();
    if (auto status = db_->Exec("BEGIN"); !status.ok()) return StoreFault(status);
    auto drop_tasks = db_->Prepare("DELETE FROM tasks WHERE job_id = ?");
    auto drop_job = db_->Prepare("DELETE FROM jobs WHERE id = ?");
    auto drop_cache = db_->Prepare(
        "DELETE FROM cache WHERE rowid IN (SELECT rowid FROM cache WHERE created < ? LIMIT ?)");
    absl::Status status = !drop_tasks.ok() ? drop_tasks.status()
                          : !drop_job.ok() ? drop_job.status()
                                           : drop_cache.status();
    for (int64_t id : ids) {
      if (!status.ok()) break;
      status = drop_tasks->Bind(1, id).Run();
      tasks += db_->Changes();
      if (status.ok()) status = drop_job->Bind(1, id).Run();
      ++jobs;
    }
    if (status.ok()) {
      status = drop_cache->Bind(1, cutoff).Bind(2, kRowBatch).Run();
      cache = db_->Changes();
    }
    if (status.ok()) status = db_->Exec("COMMIT");
    if (!status.ok()) return StoreFault(status);
  }
  if (options_.blob_retention.count() > 0 && blobs_.enabled()) {
    auto needed = BlobsInUse();
    if (!needed.ok()) return needed.status();
    const double cutoff = now - static_cast<double>(options_.blob_retention.count());
    auto expired =
        db_->Prepare("SELECT tenant, sha256, size FROM blob_owners WHERE uploaded < ? LIMIT ?");
    if (!expired.ok()) return expired.status();
    expired->Bind(1, cutoff).Bind(2, kRowBatch);
    std::vector<std::pair<std::string, BlobDigest>> owners;
    while (true) {
      auto row = expired->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      owners.push_back({std::string(expired->Text(0)),
                        BlobDigest{std::string(expired->Text(1)), expired->Int(2)}});
    }
    expired->Reset();
    auto drop_owner =
        db_->Prepare("DELETE FROM blob_owners WHERE tenant = ? AND sha256 = ? AND size = ?");
    auto others = db_->Prepare("SELECT COUNT(*) FROM blob_owners WHERE sha256 = ? AND size = ?");
    if (!drop_owner.ok()) return drop_owner.status();
    if (!others.ok()) return others.status();
    for (const auto& [tenant, blob] : owners) {
      if (needed->count({blob.sha256, blob.size_bytes})) continue;
      if (auto status =
              drop_owner->Bind(1, tenant).Bind(2, blob.sha256).Bind(3, blob.size_bytes).Run();
          !status.ok())
        return StoreFault(status);
      others->Bind(1, blob.sha256).Bind(2, blob.size_bytes);
      auto row = others->Step();
      bool shared = !row.ok() || (*row && others->Int(0) > 0);
      others->Reset();
      if (!shared && blobs_.Remove(blob)) ++blobs;
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
  auto queued = db_->Prepare(
      "SELECT t.blob_sha, t.blob_size, t.payload, j.kind FROM tasks t JOIN jobs j "
      "ON j.id = t.job_id WHERE j.state IN (1, 2) AND t.state = 0");
  if (!queued.ok()) return queued.status();
  while (true) {
    auto row = queued->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    if (!queued->Text(0).empty()) needed.insert({std::string(queued->Text(0)), queued->Int(1)});
    v1::EvalTask eval;
    if (queued->Int(3) == v1::EVAL && eval.ParseFromString(std::string(queued->Text(2))))
      for (const v1::ModelRef* model : {&eval.a(), &eval.b()})
        for (const v1::ModelFolder* folder : {&model->base(), &model->adapter()})
          for (const v1::UploadedFile& file : folder->files())
            needed.insert({file.digest().sha256(), file.digest().size_bytes()});
  }
  queued->Reset();
  return needed;
}

absl::StatusOr<int64_t> Coordinator::DropCacheEntries(const std::string& db_path,
                                                      const std::string& writer) {
  auto db = Sqlite::Open(db_path);
  if (!db.ok()) return db.status();
  auto drop = (*db)->Prepare("DELETE FROM cache WHERE writer = ?");
  if (!drop.ok()) return drop.status();
  if (auto status = drop->Bind(1, writer).Run(); !status.ok()) return status;
  return (*db)->Changes();
}

std::map<std::string, Coordinator::LeaseState>::iterator Coordinator::EraseLease(
    std::map<std::string, LeaseState>::iterator lease) {
  auto worker = workers_.find(lease->second.worker_id);
  if (worker != workers_.end() && worker->second.held > 0) --worker->second.held;
  return leases_.erase(lease);
}

std::optional<Coordinator::PendingTask> Coordinator::NextTask(JobState& job) {
  if (job.ready.empty() && !job.exhausted) LoadMore(job).IgnoreError();
  if (job.ready.empty()) return std::nullopt;
  PendingTask task = std::move(job.ready.front());
  job.ready.pop_front();
  return task;
}

absl::Status Coordinator::LoadMore(JobState& job) {
  auto rows = db_->Prepare(
      "SELECT id, display, path, blob_sha, blob_size, attempts, payload FROM tasks "
      "WHERE job_id = ? AND state = 0 AND id > ? ORDER BY id LIMIT ?");
  if (!rows.ok()) return rows.status();
  rows->Bind(1, job.id).Bind(2, job.load_cursor).Bind(3, static_cast<int64_t>(kLoadBatch));
  size_t loaded = 0;
  while (true) {
    auto row = rows->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    PendingTask task;
    task.task_id = rows->Int(0);
    task.display_path = std::string(rows->Text(1));
    task.path = std::string(rows->Text(2));
    task.blob = BlobDigest{std::string(rows->Text(3)), rows->Int(4)};
    task.attempts = static_cast<uint32_t>(rows->Int(5));
    if (!rows->IsNull(6)) task.payload = std::string(rows->Text(6));
    task.queued_at = Now();
    job.load_cursor = task.task_id;
    job.ready.push_back(std::move(task));
    ++loaded;
  }
  if (loaded < kLoadBatch) job.exhausted = true;
  return absl::OkStatus();
}

void Coordinator::Requeue(JobState& job, PendingTask task, bool front) {
  task.queued_at = Now();
  if (front)
    job.ready.push_front(std::move(task));
  else
    job.ready.push_back(std::move(task));
  changed_.notify_all();
}

absl::Status Coordinator::FailLease(LeaseState lease, const std::string& error,
                                    bool spend_attempt) {
  if (!lease.cache_key.empty()) {
    in_flight_.erase(lease.cache_key);
    ReleaseFollowers(lease.cache_key);
  }
  auto job_it = jobs_.find(lease.job_id);
  if (job_it == jobs_.end()) return absl::OkStatus();
  JobState& job = job_it->second;
  PendingTask task = std::move(lease.task);
  task.last_error = error;
  if (!spend_attempt) {
    task.attempts = task.attempts > 0 ? task.attempts - 1 : 0;
    auto undo = db_->Prepare("UPDATE tasks SET attempts = ? WHERE id = ?");
    if (undo.ok())
      undo->Bind(1, static_cast<int64_t>(task.attempts)).Bind(2, task.task_id).Run().IgnoreError();
    Requeue(job, std::move(task), true);
    return absl::OkStatus();
  }
  if (task.attempts < options_.max_attempts) {
    metrics_.TaskRetried();
    Requeue(job, std::move(task), true);
    return absl::OkStatus();
  }
  metrics_.TaskDeadLettered();
  v1::FileResult result = DeadLetterResult(task.display_path, task.attempts, error);
  auto update = db_->Prepare(
      "UPDATE tasks SET state = 2, verdict = ?, done_seq = ?, result = ? WHERE id = ? AND state = "
      "0");
  if (!update.ok()) return update.status();
  uint64_t seq = job.proto.done_tasks() + 1;
  if (auto status = update->Bind(1, static_cast<int64_t>(result.verdict()))
                        .Bind(2, static_cast<int64_t>(seq))
                        .BindBlob(3, result.SerializeAsString())
                        .Bind(4, task.task_id)
                        .Run();
      !status.ok())
    return status;
  if (db_->Changes() == 0) return absl::OkStatus();
  job.proto.set_dead_lettered_tasks(job.proto.dead_lettered_tasks() + 1);
  job.proto.set_done_tasks(seq);
  Count(job.proto, result.verdict());
  metrics_.TaskCompleted(FromProto(result.verdict()), 0);
  return FinishTask(job);
}

absl::Status Coordinator::ApplyResult(JobState& job, const PendingTask& task,
                                      v1::FileResult result) {
  result.set_path(task.display_path);
  for (v1::Finding& finding : *result.mutable_findings()) finding.set_file(task.display_path);
  auto update = db_->Prepare(
      "UPDATE tasks SET state = 1, verdict = ?, cached = ?, done_seq = ?, result = ? "
      "WHERE id = ? AND state = 0");
  if (!update.ok()) return update.status();
  uint64_t seq = job.proto.done_tasks() + 1;
  if (auto status = update->Bind(1, static_cast<int64_t>(result.verdict()))
                        .Bind(2, int64_t{result.from_cache() ? 1 : 0})
                        .Bind(3, static_cast<int64_t>(seq))
                        .BindBlob(4, result.SerializeAsString())
                        .Bind(5, task.task_id)
                        .Run();
      !status.ok())
    return status;
  if (db_->Changes() == 0) return absl::OkStatus();  // Already applied: idempotent.
  job.proto.set_done_tasks(seq);
  if (result.from_cache()) job.proto.set_cached_tasks(job.proto.cached_tasks() + 1);
  Count(job.proto, result.verdict());
  metrics_.TaskCompleted(FromProto(result.verdict()),
                         result.from_cache() ? 0 : result.size_bytes());
  return FinishTask(job);
}

absl::Status Coordinator::ApplyEvalBatch(JobState& job, const PendingTask& task,
                                         const v1::EvalBatchResult& batch) {
  auto update = db_->Prepare(
      "UPDATE tasks SET state = 1, verdict = 0, done_seq = ?, batch = ? WHERE id = ? AND state = "
      "0");
  if (!update.ok()) return update.status();
  uint64_t seq = job.proto.done_tasks() + 1;
  if (auto status = update->Bind(1, static_cast<int64_t>(seq))
                        .BindBlob(2, batch.SerializeAsString())
                        .Bind(3, task.task_id)
                        .Run();
      !status.ok())
    return status;
  if (db_->Changes() == 0) return absl::OkStatus();  // Already applied: idempotent.
  job.proto.set_done_tasks(seq);
  return FinishTask(job);
}

absl::Status Coordinator::FinishTask(JobState& job) {
  if (job.unfinished > 0) --job.unfinished;
  TenantState& tenant = tenants_[job.proto.tenant()];
  if (tenant.unfinished > 0) --tenant.unfinished;
  metrics_.SetQueueDepth(job.proto.tenant(), static_cast<double>(tenant.unfinished));
  changed_.notify_all();
  return FinishJobIfDone(job);
}

absl::Status Coordinator::FinishJobIfDone(JobState& job) {
  if (job.proto.done_tasks() < job.proto.total_tasks()) return absl::OkStatus();
  std::string eval_verdict;
  double eval_score = 0;
  if (job.proto.kind() == v1::EVAL) {
    if (auto data = CollectEvalReport(job.id); data.ok()) {
      eval::AbReport report = eval::AbReportFromData(*data);
      eval_verdict = report.verdict;
      eval_score = report.score;
      metrics_.EvalJobCompleted(eval_verdict);
    }
  }
  auto update = db_->Prepare(
      "UPDATE jobs SET state = 3, finished = ?, eval_verdict = ?, eval_score = ? WHERE id = ?");
  absl::Status status = update.ok() ? update->Bind(1, WallNow())
                                          .Bind(2, eval_verdict)
                                          .Bind(3, eval_score)
                                          .Bind(4, job.id)
                                          .Run()
                                    : update.status();
  // The caller's transaction is not committed, and the store fault path
  // reloads memory from the store.
  if (!status.ok()) return status;
  if (job.proto.kind() == v1::SCAN) metrics_.JobCompleted(FromProto(job.proto.verdict()));
  RemoveTenantJob(job).IgnoreError();
  jobs_.erase(job.id);
  changed_.notify_all();
  return absl::OkStatus();
}

absl::Status Coordinator::RemoveTenantJob(JobState& job) {
  auto tenant_it = tenants_.find(job.proto.tenant());
  if (tenant_it == tenants_.end()) return absl::OkStatus();
  TenantState& tenant = tenant_it->second;
  std::erase(tenant.jobs, job.id);
  tenant.unfinished = tenant.unfinished >= job.unfinished ? tenant.unfinished - job.unfinished : 0;
  metrics_.SetQueueDepth(job.proto.tenant(), static_cast<double>(tenant.unfinished));
  if (tenant.jobs.empty()) {
    std::erase(tenant_rotation_, job.proto.tenant());
    tenants_.erase(tenant_it);
  }
  return absl::OkStatus();
}

void Coordinator::ReleaseFollowers(const std::string& cache_key) {
  auto followers = followers_.extract(cache_key);
  if (followers.empty()) return;
  for (Follower& follower : followers.mapped()) {
    auto job = jobs_.find(follower.job_id);
    if (job != jobs_.end()) Requeue(job->second, std::move(follower.task), true);
  }
}

absl::Status Coordinator::StoreFault(const absl::Status& cause) {
  db_->Exec("ROLLBACK").IgnoreError();
  metrics_.StoreError();
  std::cerr << "gauntlet-coordinator: the job store failed a write (" << cause.message()
            << "); reloading jobs from the store, whose state is the truth\n";
  // Roll memory back to what the store holds: drop the view of unfinished
  // jobs and every lease (their tasks are queued again, late results are
  // dropped), then rebuild it as after a restart.
  for (auto& [id, worker] : workers_) worker.held = 0;
  leases_.clear();
  in_flight_.clear();
  followers_.clear();
  jobs_.clear();
  tenants_.clear();
  tenant_rotation_.clear();
  if (auto status = Recover(); !status.ok())
    std::cerr << "gauntlet-coordinator: reloading from the store failed too: " << status.message()
              << "\n";
  changed_.notify_all();
  return absl::UnavailableError(
      StrCat("the job store could not save this change (", cause.message(),
             "); nothing was applied. Retry; if it persists, the coordinator's disk may be full"));
}

void Coordinator::PublishGauges() {
  double active = 0, draining = 0;
  for (const auto& [id, worker] : workers_) (worker.draining ? draining : active) += 1;
  metrics_.SetWorkers(active, draining);
  for (const auto& [name, tenant] : tenants_)
    metrics_.SetQueueDepth(name, static_cast<double>(tenant.unfinished));
}

}  // namespace gauntlet
