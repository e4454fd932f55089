// `gauntlet scan` without --coordinator: a scan job on the embedded local
// cluster (cli/local_cluster.h) with in-process scan workers.
#ifndef GAUNTLET_CLI_LOCAL_SCAN_H_
#define GAUNTLET_CLI_LOCAL_SCAN_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/report.h"

namespace gauntlet {

struct LocalScanOptions {
  uint32_t workers = 0;  // Files scanned at once; 0: one per core.
  // Parse each file in a fresh sandboxed process, as cluster workers do.
  // Off by default: the CLI already runs as the user who asked.
  bool isolate = false;
  // gauntlet-scan-sandbox: parses every file when isolating, and otherwise
  // the files that need libhdf5 or libarchive. Empty: the one beside the binary.
  std::string sandbox_binary;
  std::string policy_toml, policy_name, publisher;
  // Called about ten times a second while the job runs, and once at the end.
  std::function<void(size_t done, size_t total)> on_progress;
};

// NOT_FOUND for a path that does not exist, INVALID_ARGUMENT for a bad
// policy; per-file problems are ERROR verdicts in the report.
absl::StatusOr<ScanReport> RunLocalScan(const std::vector<std::string>& paths,
                                        const LocalScanOptions& options);

}  // namespace gauntlet

#endif  // GAUNTLET_CLI_LOCAL_SCAN_H_
