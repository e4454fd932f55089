// Scan jobs: one task per file (a path a worker opens, or an uploaded
// blob), each answered with a FileResult; the report is the files' verdicts
// grouped into models and gated by the job's policy, as the local CLI's.
#ifndef GAUNTLET_COORDINATOR_SCAN_JOBS_H_
#define GAUNTLET_COORDINATOR_SCAN_JOBS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/report.h"
#include "coordinator/job_kind.h"

namespace gauntlet {

// Limits on what a client may send, each refused with INVALID_ARGUMENT and
// a message.
inline constexpr size_t kMaxPolicyBytes = 1 << 20;
inline constexpr size_t kMaxPathBytes = 4096;
inline constexpr size_t kMaxUploadNameBytes = 1024;

// INVALID_ARGUMENT for a bad policy, path, upload name or upload directory;
// NOT_FOUND for a missing path or blob; PERMISSION_DENIED for a path
// outside `allow_roots` (empty: any path, as typed). Directories are
// expanded into their files now.
absl::StatusOr<JobPlan> PlanScanJob(const v1::SubmitScanRequest& request,
                                    const std::vector<std::string>& allow_roots,
                                    const BlobVisible& blob_visible);

// The report of a scan job from its stored results.
absl::StatusOr<ScanReport> ScanReportOf(JobStore& store, const StoredJob& job);

class ScanJobKind : public JobKind {
 public:
  bool TakenBy(const v1::Capabilities& worker) const override { return worker.scan(); }
  void DescribeWork(const PendingTask& task, const std::vector<std::string>& allow_roots,
                    v1::ScanTask& out) const override;
  std::vector<BlobDigest> Inputs(const BlobDigest& blob, const std::string& payload) const override;
  absl::Status CheckResult(const PendingTask& task, const v1::TaskResult& result) const override;
  JobConclusion Conclude(JobStore&, const StoredJob&) const override { return {}; }
  absl::StatusOr<v1::Report> Report(JobStore& store, const StoredJob& job) const override;
};

}  // namespace gauntlet

#endif  // GAUNTLET_COORDINATOR_SCAN_JOBS_H_
