#include "coordinator/job_store.h"

#include "coordinator/memory_job_store.h"
#include "coordinator/sqlite_job_store.h"

namespace gauntlet {

absl::StatusOr<std::unique_ptr<JobStore>> JobStore::Open(const Options& options) {
  if (options.path == ":memory:") return std::make_unique<MemoryJobStore>();
  auto store = SqliteJobStore::Open(options);
  if (!store.ok()) return store.status();
  return std::unique_ptr<JobStore>(std::move(*store));
}

}  // namespace gauntlet
