// A scan job run inside this process: expand the user's paths into files,
// fan the files out to local worker threads, and gather one FileReport per
// file into a ScanReport. This is the embedded coordinator the CLI uses when
// no cluster is given; the cluster coordinator shards the same work over
// gRPC.
#ifndef GAUNTLET_COORDINATOR_LOCAL_SCAN_JOB_H_
#define GAUNTLET_COORDINATOR_LOCAL_SCAN_JOB_H_

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/policy.h"
#include "common/report.h"

namespace gauntlet {

// Files named by `paths`, directories walked recursively (following
// symlinks, each directory once, skipping .git). Sorted; a Hugging Face
// cache blob reached through a snapshot link is listed once, by its snapshot
// path.
// NotFound names the first path that does not exist.
absl::StatusOr<std::vector<std::string>> ExpandScanPaths(const std::vector<std::string>& paths);

struct LocalScanOptions {
  int workers = 0;  // 0: one per core.
  // Called from the calling thread about ten times a second while the job
  // runs, and once at the end.
  std::function<void(size_t done, size_t total)> on_progress;
};

ScanReport RunLocalScanJob(const std::vector<std::string>& files, const Policy& policy,
                           const LocalScanOptions& options);

}  // namespace gauntlet

#endif  // GAUNTLET_COORDINATOR_LOCAL_SCAN_JOB_H_
