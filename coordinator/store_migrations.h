// The coordinator store's schema version and the steps that bring an older
// database up to it. PRAGMA user_version holds a database's version; every
// start applies the missing steps, each in one transaction, so a
// coordinator upgrade keeps every job, result and report.
#ifndef GAUNTLET_COORDINATOR_STORE_MIGRATIONS_H_
#define GAUNTLET_COORDINATOR_STORE_MIGRATIONS_H_

#include "absl/status/status.h"
#include "coordinator/sqlite.h"

namespace gauntlet {

// 1: every table and column up to random job ids and cache writers.
// 2: finished eval batches keep typed outcomes (gauntlet.v1.EvalBatchResult)
//    in tasks.batch; version 1 kept them as JSON inside a FileResult.
// 3: tasks.severity, the worst finding of a finished task (the job
//    summary's max_severity), filled in from the stored results.
inline constexpr int kStoreSchemaVersion = 3;

// Runs after the tables exist. FAILED_PRECONDITION for a database written
// by a newer coordinator (its version is above kStoreSchemaVersion).
absl::Status MigrateStore(Sqlite& db);

}  // namespace gauntlet

#endif  // GAUNTLET_COORDINATOR_STORE_MIGRATIONS_H_
