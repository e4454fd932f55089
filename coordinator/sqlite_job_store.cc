#include "coordinator/sqlite_job_store.h"

#include <sys/stat.h>

#include <algorithm>

#include "common/strings.h"
#include "coordinator/store_migrations.h"
#include "proto/convert.h"

namespace gauntlet {
namespace {

// A state's number, as stored.
template <typename State>
int64_t Code(State state) {
  return static_cast<int64_t>(state);
}

// The columns ReadJob reads, in its order.
constexpr char kJobColumns[] =
    "id, public_id, tenant, state, kind, created, finished, deadline, policy_toml, "
    "policy_source, publisher, directories, total, eval_spec";

// SQL that names states: built once from the enumerations, so no state is a
// bare number in a query. The prepared-statement cache is keyed by the text.
const std::string& Sql(std::string_view key) {
  static const auto* statements = new std::map<std::string, std::string, std::less<>>{
      {"job", StrCat("SELECT ", kJobColumns, " FROM jobs WHERE id = ?")},
      {"unfinished_jobs", StrCat("SELECT ", kJobColumns, " FROM jobs WHERE state IN (",
                                 Code(v1::QUEUED), ", ", Code(v1::RUNNING), ") ORDER BY id")},
      {"summary",
       StrCat("SELECT j.public_id, j.tenant, j.state, j.created, j.finished, j.policy_source, "
              "j.total, j.kind, j.eval_verdict, j.eval_score, ",
              "SUM(t.state IN (", Code(TaskState::kDone), ", ", Code(TaskState::kDeadLettered),
              ")), SUM(t.state = ", Code(TaskState::kDeadLettered), "), SUM(t.cached), ",
              "MAX(t.severity), SUM(t.verdict = ", Code(v1::CLEAN), "), SUM(t.verdict = ",
              Code(v1::SUSPICIOUS), "), SUM(t.verdict = ", Code(v1::MALICIOUS), "), ",
              "SUM(t.verdict = ", Code(v1::ERROR), " AND t.state != ", Code(TaskState::kCancelled),
              ") ",
              "FROM jobs j LEFT JOIN tasks t ON t.job_id = j.id WHERE j.id = ? GROUP BY j.id")},
      {"cancel_job", StrCat("UPDATE jobs SET state = ", Code(v1::CANCELLED),
                            ", finished = ?, eval_verdict = ?, eval_score = ? WHERE id = ?")},
      {"cancel_tasks", StrCat("UPDATE tasks SET state = ", Code(TaskState::kCancelled),
                              " WHERE job_id = ? AND state = ", Code(TaskState::kQueued))},
      {"finish_job", StrCat("UPDATE jobs SET state = ", Code(v1::SUCCEEDED),
                            ", finished = ?, eval_verdict = ?, eval_score = ? WHERE id = ?")},
      {"queued_tasks",
       StrCat("SELECT id, display, path, blob_sha, blob_size, attempts, payload FROM tasks "
              "WHERE job_id = ? AND state = ",
              Code(TaskState::kQueued), " AND id > ? ORDER BY id LIMIT ?")},
      {"complete_task", StrCat("UPDATE tasks SET state = ", Code(TaskState::kDone),
                               ", verdict = ?, cached = ?, done_seq = ?, result = ?, severity = ? "
                               "WHERE id = ? AND state = ",
                               Code(TaskState::kQueued))},
      {"dead_letter_task",
       StrCat("UPDATE tasks SET state = ", Code(TaskState::kDeadLettered),
              ", verdict = ?, done_seq = ?, result = ?, severity = ? WHERE id = ? AND state = ",
              Code(TaskState::kQueued))},
      {"complete_batch",
       StrCat("UPDATE tasks SET state = ", Code(TaskState::kDone),
              ", verdict = ", Code(v1::VERDICT_UNSPECIFIED),
              ", done_seq = ?, batch = ? WHERE id = ? AND state = ", Code(TaskState::kQueued))},
      {"file_results",
       StrCat("SELECT result FROM tasks WHERE job_id = ? AND state IN (", Code(TaskState::kDone),
              ", ", Code(TaskState::kDeadLettered), ") ORDER BY display")},
      {"eval_batches",
       StrCat("SELECT display, batch, result FROM tasks WHERE job_id = ? AND "
              "state IN (",
              Code(TaskState::kDone), ", ", Code(TaskState::kDeadLettered), ") ORDER BY id")},
      {"queued_inputs",
       StrCat("SELECT t.blob_sha, t.blob_size, t.payload, j.kind FROM tasks t JOIN jobs j "
              "ON j.id = t.job_id WHERE j.state IN (",
              Code(v1::QUEUED), ", ", Code(v1::RUNNING),
              ") AND t.state = ", Code(TaskState::kQueued))},
      {"expired_jobs",
       StrCat("SELECT id FROM jobs WHERE state IN (", Code(v1::SUCCEEDED), ", ",
              Code(v1::CANCELLED), ") AND finished > 0 AND finished < ? ORDER BY id LIMIT ?")},
  };
  return statements->find(key)->second;
}

std::vector<std::string> Lines(std::string_view text) {
  std::vector<std::string> lines;
  for (auto line : StrSplit(text, "\n"))
    if (!line.empty()) lines.emplace_back(line);
  return lines;
}

StoredJob ReadJob(const SqliteStatement& row) {
  StoredJob job;
  job.id = row.Int(0);
  job.public_id = std::string(row.Text(1));
  job.tenant = std::string(row.Text(2));
  job.state = static_cast<v1::JobState>(row.Int(3));
  job.kind = static_cast<v1::JobKind>(row.Int(4));
  job.created = row.Double(5);
  job.finished = row.Double(6);
  job.deadline = row.Double(7);
  job.policy_toml = std::string(row.Text(8));
  job.policy_source = std::string(row.Text(9));
  job.publisher = std::string(row.Text(10));
  job.directories = Lines(row.Text(11));
  job.total_tasks = static_cast<uint64_t>(row.Int(12));
  if (!row.IsNull(13)) job.eval_spec = std::string(row.Text(13));
  return job;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SqliteJobStore>> SqliteJobStore::Open(const Options& options) {
  // A store that exists but is empty lost its contents (a truncated file, a
  // WAL without its database): starting empty would silently drop jobs.
  struct stat db_stat {
  }, wal_stat{};
  const bool file_store = options.path != ":memory:";
  const bool empty_file =
      file_store && stat(options.path.c_str(), &db_stat) == 0 && db_stat.st_size == 0;
  const bool has_wal =
      file_store && stat((options.path + "-wal").c_str(), &wal_stat) == 0 && wal_stat.st_size > 0;
  if (empty_file && !options.initialize)
    return absl::FailedPreconditionError(
        StrCat("the job store ", options.path,
               " is an empty file: if it held jobs, they are lost; restore it from a backup, or "
               "start with --init-db to begin with an empty store"));
  auto db = Sqlite::Open(options.path);
  if (!db.ok()) return db.status();
  std::unique_ptr<SqliteJobStore> store(new SqliteJobStore(std::move(*db), options.path));
  if (has_wal && !options.initialize) {
    auto schema = store->db_->Prepare("SELECT COUNT(*) FROM sqlite_master WHERE name = 'jobs'");
    if (!schema.ok()) return schema.status();
    auto row = schema->Step();
    if (!row.ok()) return row.status();
    bool missing = schema->Int(0) == 0;
    schema->Reset();
    if (missing)
      return absl::FailedPreconditionError(
          StrCat("the job store ", options.path,
                 " has a write-ahead log but no job tables: the database file was lost or "
                 "replaced. Restore it, or start with --init-db to begin with an empty store"));
  }
  if (options.max_bytes > 0) {
    // PRAGMA takes no bound parameters; the number is ours. Pages are 4 KiB.
    if (auto status = store->db_->Exec(StrCat(
            "PRAGMA max_page_count = ", std::max<uint64_t>(options.max_bytes / 4096, 16), ";"));
        !status.ok())
      return status;
  }
  if (auto status = store->CreateTables(); !status.ok()) return status;
  return store;
}

absl::Status SqliteJobStore::CreateTables() {
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
        "ALTER TABLE tasks ADD COLUMN batch BLOB",
        "ALTER TABLE tasks ADD COLUMN severity INTEGER NOT NULL DEFAULT 0"})
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

absl::Status SqliteJobStore::Begin() { return db_->Exec("BEGIN"); }
absl::Status SqliteJobStore::Commit() { return db_->Exec("COMMIT"); }
void SqliteJobStore::Rollback() { db_->Exec("ROLLBACK").IgnoreError(); }

uint64_t SqliteJobStore::SizeBytes() {
  uint64_t bytes = 0;
  for (const std::string& file : {path_, path_ + "-wal"}) {
    struct stat file_stat {};
    if (stat(file.c_str(), &file_stat) == 0) bytes += static_cast<uint64_t>(file_stat.st_size);
  }
  return bytes;
}

// ------------------------------------------------------------------ jobs

absl::StatusOr<int64_t> SqliteJobStore::InsertJob(const StoredJob& job,
                                                  const std::vector<NewTaskRow>& tasks) {
  if (auto status = Begin(); !status.ok()) return status;
  auto insert_job = db_->Prepare(
      "INSERT INTO jobs (tenant, state, created, policy_toml, policy_source, publisher, "
      "directories, total, kind, eval_spec, deadline, public_id) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  auto insert_task = db_->Prepare(
      "INSERT INTO tasks (job_id, display, path, blob_sha, blob_size, payload) "
      "VALUES (?, ?, ?, ?, ?, ?)");
  if (!insert_job.ok() || !insert_task.ok()) {
    Rollback();
    return insert_job.ok() ? insert_task.status() : insert_job.status();
  }
  absl::Status status = insert_job->Bind(1, job.tenant)
                            .Bind(2, static_cast<int64_t>(job.state))
                            .Bind(3, job.created)
                            .Bind(4, job.policy_toml)
                            .Bind(5, job.policy_source)
                            .Bind(6, job.publisher)
                            .Bind(7, StrJoin(job.directories, "\n"))
                            .Bind(8, static_cast<int64_t>(tasks.size()))
                            .Bind(9, static_cast<int64_t>(job.kind))
                            .BindBlob(10, job.eval_spec)
                            .Bind(11, job.deadline)
                            .Bind(12, job.public_id)
                            .Run();
  const int64_t job_id = db_->LastInsertId();
  for (size_t i = 0; status.ok() && i < tasks.size(); ++i) {
    const NewTaskRow& task = tasks[i];
    status = insert_task->Bind(1, job_id)
                 .Bind(2, task.display)
                 .Bind(3, task.path)
                 .Bind(4, task.blob.sha256)
                 .Bind(5, task.blob.size_bytes)
                 .BindBlob(6, task.payload)
                 .Run();
  }
  if (status.ok()) status = Commit();
  if (!status.ok()) {
    Rollback();
    return status;
  }
  return job_id;
}

absl::StatusOr<std::vector<StoredJob>> SqliteJobStore::UnfinishedJobs() {
  auto rows = db_->Prepare(Sql("unfinished_jobs"));
  if (!rows.ok()) return rows.status();
  std::vector<StoredJob> jobs;
  while (true) {
    auto row = rows->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    jobs.push_back(ReadJob(*rows));
  }
  return jobs;
}

absl::StatusOr<std::vector<TaskTally>> SqliteJobStore::TaskTallies(int64_t job_id) {
  auto rows = db_->Prepare(
      "SELECT state, verdict, cached, COUNT(*), MAX(severity) FROM tasks WHERE job_id = ? "
      "GROUP BY 1, 2, 3");
  if (!rows.ok()) return rows.status();
  rows->Bind(1, job_id);
  std::vector<TaskTally> tallies;
  while (true) {
    auto row = rows->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    tallies.push_back(TaskTally{static_cast<TaskState>(rows->Int(0)),
                                static_cast<v1::Verdict>(rows->Int(1)), rows->Int(2) != 0,
                                static_cast<uint64_t>(rows->Int(3)),
                                static_cast<v1::Severity>(rows->Int(4))});
  }
  return tallies;
}

absl::StatusOr<std::optional<std::pair<int64_t, std::string>>> SqliteJobStore::FindJob(
    const std::string& public_id) {
  auto row = db_->Prepare("SELECT id, tenant FROM jobs WHERE public_id = ?");
  if (!row.ok()) return row.status();
  row->Bind(1, public_id);
  auto found = row->Step();
  if (!found.ok()) return found.status();
  std::optional<std::pair<int64_t, std::string>> job;
  if (*found) job.emplace(row->Int(0), std::string(row->Text(1)));
  row->Reset();
  return job;
}

absl::StatusOr<StoredJob> SqliteJobStore::Job(int64_t job_id) {
  auto row = db_->Prepare(Sql("job"));
  if (!row.ok()) return row.status();
  row->Bind(1, job_id);
  auto found = row->Step();
  if (!found.ok()) return found.status();
  if (!*found) return absl::NotFoundError(StrCat("job ", job_id, " was deleted"));
  StoredJob job = ReadJob(*row);
  row->Reset();
  return job;
}

absl::StatusOr<v1::Job> SqliteJobStore::Summary(int64_t job_id) {
  auto row = db_->Prepare(Sql("summary"));
  if (!row.ok()) return row.status();
  row->Bind(1, job_id);
  auto found = row->Step();
  if (!found.ok()) return found.status();
  if (!*found) return absl::NotFoundError(StrCat("job ", job_id, " was deleted"));
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
  if (job.kind() == v1::SCAN)
    job.mutable_scan()->set_max_severity(static_cast<v1::Severity>(row->Int(13)));
  job.set_clean(static_cast<uint64_t>(row->Int(14)));
  job.set_suspicious(static_cast<uint64_t>(row->Int(15)));
  job.set_malicious(static_cast<uint64_t>(row->Int(16)));
  job.set_error(static_cast<uint64_t>(row->Int(17)));
  row->Reset();
  return job;
}

absl::StatusOr<std::vector<int64_t>> SqliteJobStore::NewestJobs(const std::string& tenant,
                                                                int64_t limit) {
  auto rows =
      db_->Prepare("SELECT id FROM jobs WHERE (? = '' OR tenant = ?) ORDER BY id DESC LIMIT ?");
  if (!rows.ok()) return rows.status();
  rows->Bind(1, tenant).Bind(2, tenant).Bind(3, limit);
  std::vector<int64_t> ids;
  while (true) {
    auto row = rows->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    ids.push_back(rows->Int(0));
  }
  return ids;
}

absl::Status SqliteJobStore::CancelJob(int64_t job_id, double finished,
                                       const std::string& eval_verdict, double eval_score) {
  if (auto status = Begin(); !status.ok()) return status;
  absl::Status status = [&] {
    auto update = db_->Prepare(Sql("cancel_job"));
    if (!update.ok()) return update.status();
    if (auto status = update->Bind(1, finished)
                          .Bind(2, eval_verdict)
                          .Bind(3, eval_score)
                          .Bind(4, job_id)
                          .Run();
        !status.ok())
      return status;
    auto tasks = db_->Prepare(Sql("cancel_tasks"));
    if (!tasks.ok()) return tasks.status();
    if (auto status = tasks->Bind(1, job_id).Run(); !status.ok()) return status;
    return Commit();
  }();
  if (!status.ok()) Rollback();
  return status;
}

absl::Status SqliteJobStore::FinishJob(int64_t job_id, double finished,
                                       const std::string& eval_verdict, double eval_score) {
  auto update = db_->Prepare(Sql("finish_job"));
  if (!update.ok()) return update.status();
  return update->Bind(1, finished).Bind(2, eval_verdict).Bind(3, eval_score).Bind(4, job_id).Run();
}

// ------------------------------------------------------------------ tasks

absl::StatusOr<std::vector<QueuedTask>> SqliteJobStore::QueuedTasks(int64_t job_id,
                                                                    int64_t after_task,
                                                                    int64_t limit) {
  auto rows = db_->Prepare(Sql("queued_tasks"));
  if (!rows.ok()) return rows.status();
  rows->Bind(1, job_id).Bind(2, after_task).Bind(3, limit);
  std::vector<QueuedTask> tasks;
  while (true) {
    auto row = rows->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    QueuedTask& task = tasks.emplace_back();
    task.id = rows->Int(0);
    task.display = std::string(rows->Text(1));
    task.path = std::string(rows->Text(2));
    task.blob = BlobDigest{std::string(rows->Text(3)), rows->Int(4)};
    task.attempts = static_cast<uint32_t>(rows->Int(5));
    if (!rows->IsNull(6)) task.payload = std::string(rows->Text(6));
  }
  return tasks;
}

absl::Status SqliteJobStore::CountAttempts(const std::vector<int64_t>& task_ids) {
  auto attempts = db_->Prepare("UPDATE tasks SET attempts = attempts + 1 WHERE id = ?");
  if (!attempts.ok()) return attempts.status();
  if (auto status = Begin(); !status.ok()) return status;
  absl::Status status;
  for (int64_t id : task_ids) status.Update(attempts->Bind(1, id).Run());
  if (status.ok()) status = Commit();
  if (!status.ok()) Rollback();
  return status;
}

absl::Status SqliteJobStore::SetAttempts(int64_t task_id, uint32_t attempts) {
  auto update = db_->Prepare("UPDATE tasks SET attempts = ? WHERE id = ?");
  if (!update.ok()) return update.status();
  return update->Bind(1, static_cast<int64_t>(attempts)).Bind(2, task_id).Run();
}

absl::StatusOr<bool> SqliteJobStore::UpdatedOne(absl::Status status) {
  if (!status.ok()) return status;
  return db_->Changes() > 0;
}

absl::StatusOr<bool> SqliteJobStore::CompleteTask(int64_t task_id, uint64_t seq,
                                                  const v1::FileResult& result) {
  auto update = db_->Prepare(Sql("complete_task"));
  if (!update.ok()) return update.status();
  return UpdatedOne(update->Bind(1, static_cast<int64_t>(result.verdict()))
                        .Bind(2, int64_t{result.from_cache() ? 1 : 0})
                        .Bind(3, static_cast<int64_t>(seq))
                        .BindBlob(4, result.SerializeAsString())
                        .Bind(5, static_cast<int64_t>(WorstSeverity(result)))
                        .Bind(6, task_id)
                        .Run());
}

absl::StatusOr<bool> SqliteJobStore::DeadLetterTask(int64_t task_id, uint64_t seq,
                                                    const v1::FileResult& result) {
  auto update = db_->Prepare(Sql("dead_letter_task"));
  if (!update.ok()) return update.status();
  return UpdatedOne(update->Bind(1, static_cast<int64_t>(result.verdict()))
                        .Bind(2, static_cast<int64_t>(seq))
                        .BindBlob(3, result.SerializeAsString())
                        .Bind(4, static_cast<int64_t>(WorstSeverity(result)))
                        .Bind(5, task_id)
                        .Run());
}

absl::StatusOr<bool> SqliteJobStore::CompleteEvalBatch(int64_t task_id, uint64_t seq,
                                                       const v1::EvalBatchResult& batch) {
  auto update = db_->Prepare(Sql("complete_batch"));
  if (!update.ok()) return update.status();
  return UpdatedOne(update->Bind(1, static_cast<int64_t>(seq))
                        .BindBlob(2, batch.SerializeAsString())
                        .Bind(3, task_id)
                        .Run());
}

absl::StatusOr<v1::WatchJobEvent> SqliteJobStore::ResultsAfter(int64_t job_id, uint64_t after_seq,
                                                               int64_t limit) {
  auto rows = db_->Prepare(
      "SELECT t.result, t.display, t.batch, j.kind FROM tasks t JOIN jobs j ON j.id = t.job_id "
      "WHERE t.job_id = ? AND t.done_seq > ? ORDER BY t.done_seq LIMIT ?");
  if (!rows.ok()) return rows.status();
  rows->Bind(1, job_id).Bind(2, static_cast<int64_t>(after_seq)).Bind(3, limit);
  v1::WatchJobEvent event;
  while (true) {
    auto row = rows->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    v1::FileResult file;
    const bool eval = rows->Int(3) == v1::EVAL;
    if (eval && rows->IsNull(2)) {
      // A batch given up: its dead letter's message.
      v1::EvalBatchDone& done = *event.add_batches();
      done.set_display(std::string(rows->Text(1)));
      done.set_error(file.ParseFromString(std::string(rows->Text(0))) && file.findings_size() > 0
                         ? file.findings(0).message()
                         : "its stored result does not parse");
    } else if (eval) {
      // A finished eval batch: its progress.
      v1::EvalBatchResult batch;
      if (!batch.ParseFromString(std::string(rows->Text(2))))
        return absl::DataLossError("a stored eval batch does not parse");
      v1::EvalBatchDone& done = *event.add_batches();
      done.set_display(std::string(rows->Text(1)));
      done.set_prompts(static_cast<uint32_t>(batch.outcomes_size()));
      for (const v1::PromptOutcome& outcome : batch.outcomes()) {
        done.set_unsafe_a(done.unsafe_a() + (outcome.judged_a().unsafe() ? 1 : 0));
        done.set_unsafe_b(done.unsafe_b() + (outcome.judged_b().unsafe() ? 1 : 0));
      }
    } else if (file.ParseFromString(std::string(rows->Text(0)))) {
      *event.add_results() = std::move(file);
    } else {
      return absl::DataLossError("a stored task result does not parse");
    }
  }
  return event;
}

absl::StatusOr<std::vector<v1::FileResult>> SqliteJobStore::FileResults(int64_t job_id) {
  auto rows = db_->Prepare(Sql("file_results"));
  if (!rows.ok()) return rows.status();
  rows->Bind(1, job_id);
  std::vector<v1::FileResult> results;
  while (true) {
    auto row = rows->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    if (!results.emplace_back().ParseFromString(std::string(rows->Text(0))))
      return absl::DataLossError("a stored task result does not parse");
  }
  return results;
}

absl::StatusOr<std::vector<StoredEvalBatch>> SqliteJobStore::EvalBatches(int64_t job_id) {
  auto rows = db_->Prepare(Sql("eval_batches"));
  if (!rows.ok()) return rows.status();
  rows->Bind(1, job_id);
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
  return batches;
}

absl::StatusOr<std::vector<QueuedTaskInputs>> SqliteJobStore::QueuedTaskInputsOfUnfinishedJobs() {
  auto rows = db_->Prepare(Sql("queued_inputs"));
  if (!rows.ok()) return rows.status();
  std::vector<QueuedTaskInputs> inputs;
  while (true) {
    auto row = rows->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    QueuedTaskInputs& input = inputs.emplace_back();
    input.blob = BlobDigest{std::string(rows->Text(0)), rows->Int(1)};
    if (!rows->IsNull(2)) input.payload = std::string(rows->Text(2));
    input.kind = static_cast<v1::JobKind>(rows->Int(3));
  }
  return inputs;
}

// ------------------------------------------------------------------ verdict cache

absl::StatusOr<std::optional<v1::FileResult>> SqliteJobStore::CachedVerdict(
    const std::string& key) {
  auto cached = db_->Prepare("SELECT result FROM cache WHERE key = ?");
  if (!cached.ok()) return cached.status();
  cached->Bind(1, key);
  auto hit = cached->Step();
  if (!hit.ok()) return hit.status();
  std::optional<v1::FileResult> result;
  if (*hit && !result.emplace().ParseFromString(std::string(cached->Text(0)))) {
    cached->Reset();
    return absl::DataLossError("a verdict cache entry does not parse");
  }
  cached->Reset();
  return result;
}

absl::Status SqliteJobStore::CacheVerdict(const std::string& key, const v1::FileResult& result,
                                          const std::string& writer, double created) {
  auto insert = db_->Prepare(
      "INSERT OR REPLACE INTO cache (key, result, writer, created) VALUES (?, ?, ?, ?)");
  if (!insert.ok()) return insert.status();
  return insert->Bind(1, key)
      .BindBlob(2, result.SerializeAsString())
      .Bind(3, writer)
      .Bind(4, created)
      .Run();
}

absl::StatusOr<int64_t> SqliteJobStore::DropCacheEntries(const std::string& path,
                                                         const std::string& writer) {
  auto db = Sqlite::Open(path);
  if (!db.ok()) return db.status();
  auto drop = (*db)->Prepare("DELETE FROM cache WHERE writer = ?");
  if (!drop.ok()) return drop.status();
  if (auto status = drop->Bind(1, writer).Run(); !status.ok()) return status;
  return (*db)->Changes();
}

// ------------------------------------------------------------------ blob owners

absl::StatusOr<bool> SqliteJobStore::OwnsBlob(const std::string& tenant, const BlobDigest& blob) {
  auto row = db_->Prepare("SELECT 1 FROM blob_owners WHERE tenant = ? AND sha256 = ? AND size = ?");
  if (!row.ok()) return row.status();
  row->Bind(1, tenant).Bind(2, blob.sha256).Bind(3, blob.size_bytes);
  auto found = row->Step();
  if (!found.ok()) return found.status();
  bool owned = *found;
  row->Reset();
  return owned;
}

absl::StatusOr<uint64_t> SqliteJobStore::TenantBlobBytes(const std::string& tenant) {
  auto used = db_->Prepare("SELECT COALESCE(SUM(size), 0) FROM blob_owners WHERE tenant = ?");
  if (!used.ok()) return used.status();
  used->Bind(1, tenant);
  auto row = used->Step();
  if (!row.ok()) return row.status();
  uint64_t bytes = static_cast<uint64_t>(used->Int(0));
  used->Reset();
  return bytes;
}

absl::Status SqliteJobStore::AddBlobOwner(const std::string& tenant, const BlobDigest& blob,
                                          double uploaded) {
  auto insert = db_->Prepare(
      "INSERT OR REPLACE INTO blob_owners (tenant, sha256, size, uploaded) VALUES (?, ?, ?, ?)");
  if (!insert.ok()) return insert.status();
  return insert->Bind(1, tenant)
      .Bind(2, blob.sha256)
      .Bind(3, blob.size_bytes)
      .Bind(4, uploaded)
      .Run();
}

absl::StatusOr<std::vector<std::pair<std::string, BlobDigest>>> SqliteJobStore::BlobOwnersBefore(
    double cutoff, int64_t limit) {
  auto rows =
      db_->Prepare("SELECT tenant, sha256, size FROM blob_owners WHERE uploaded < ? LIMIT ?");
  if (!rows.ok()) return rows.status();
  rows->Bind(1, cutoff).Bind(2, limit);
  std::vector<std::pair<std::string, BlobDigest>> owners;
  while (true) {
    auto row = rows->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    owners.push_back(
        {std::string(rows->Text(0)), BlobDigest{std::string(rows->Text(1)), rows->Int(2)}});
  }
  return owners;
}

absl::StatusOr<bool> SqliteJobStore::DropBlobOwner(const std::string& tenant,
                                                   const BlobDigest& blob) {
  auto drop = db_->Prepare("DELETE FROM blob_owners WHERE tenant = ? AND sha256 = ? AND size = ?");
  if (!drop.ok()) return drop.status();
  if (auto status = drop->Bind(1, tenant).Bind(2, blob.sha256).Bind(3, blob.size_bytes).Run();
      !status.ok())
    return status;
  auto others = db_->Prepare("SELECT COUNT(*) FROM blob_owners WHERE sha256 = ? AND size = ?");
  if (!others.ok()) return others.status();
  others->Bind(1, blob.sha256).Bind(2, blob.size_bytes);
  auto row = others->Step();
  if (!row.ok()) return row.status();
  bool shared = *row && others->Int(0) > 0;
  others->Reset();
  return shared;
}

// ------------------------------------------------------------------ retention

absl::StatusOr<RetentionCounts> SqliteJobStore::DeleteBefore(double cutoff, int64_t job_limit,
                                                             int64_t cache_limit) {
  auto expired = db_->Prepare(Sql("expired_jobs"));
  if (!expired.ok()) return expired.status();
  expired->Bind(1, cutoff).Bind(2, job_limit);
  std::vector<int64_t> ids;
  while (true) {
    auto row = expired->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    ids.push_back(expired->Int(0));
  }
  expired->Reset();
  auto drop_tasks = db_->Prepare("DELETE FROM tasks WHERE job_id = ?");
  auto drop_job = db_->Prepare("DELETE FROM jobs WHERE id = ?");
  auto drop_cache = db_->Prepare(
      "DELETE FROM cache WHERE rowid IN (SELECT rowid FROM cache WHERE created < ? LIMIT ?)");
  if (!drop_tasks.ok()) return drop_tasks.status();
  if (!drop_job.ok()) return drop_job.status();
  if (!drop_cache.ok()) return drop_cache.status();
  if (auto status = Begin(); !status.ok()) return status;
  RetentionCounts counts;
  absl::Status status;
  for (int64_t id : ids) {
    status = drop_tasks->Bind(1, id).Run();
    counts.tasks += db_->Changes();
    if (status.ok()) status = drop_job->Bind(1, id).Run();
    if (!status.ok()) break;
    ++counts.jobs;
  }
  if (status.ok()) {
    status = drop_cache->Bind(1, cutoff).Bind(2, cache_limit).Run();
    counts.cache = db_->Changes();
  }
  if (status.ok()) status = Commit();
  if (!status.ok()) {
    Rollback();
    return status;
  }
  return counts;
}

}  // namespace gauntlet
