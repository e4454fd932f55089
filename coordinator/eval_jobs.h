// Eval jobs on the coordinator: checking an A/B request, resolving its probe
// suite, cutting the suite's prompts into batches (one task each, leased to
// eval workers), and aggregating the typed batch results into the A/B report
// with the same statistics as a local run (abtest/ab_report). No torch.
#ifndef GAUNTLET_COORDINATOR_EVAL_JOBS_H_
#define GAUNTLET_COORDINATOR_EVAL_JOBS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "abtest/ab_report.h"
#include "coordinator/job_kind.h"
#include "gauntlet/v1/gauntlet.pb.h"

namespace gauntlet {

inline constexpr uint32_t kDefaultPromptsPerTask = 16;
inline constexpr double kDefaultEvalRuntimeSeconds = 1800;

// The plan's `spec` is the request as stored (a serialized
// v1::SubmitEvalRequest): its suite resolved (the built-in one when unset,
// v1 `prompts` and `judge_rules_json` folded in) and both labels set. Each
// task's payload is a serialized v1::EvalTask.
//
// INVALID_ARGUMENT for a bad suite (abtest/probe_suite.h), prompt, judge
// rule or model folder that lacks its files; NOT_FOUND for a missing path or
// blob; PERMISSION_DENIED for a path outside `allow_roots` (empty: any
// path). Uploaded files must be blobs the submitting tenant can see.
absl::StatusOr<JobPlan> PlanEvalJob(const v1::SubmitEvalRequest& request,
                                    const std::vector<std::string>& allow_roots,
                                    const BlobVisible& blob_visible);

std::string ModelLabel(const v1::ModelRef& model);

// The report data of a job from its stored batches, in task order (the
// coordinator stores a batch only with one outcome per prompt). A
// dead-lettered batch, a cancelled or unfinished job is a problem, so the
// report says ERROR (eval::AbReportFromData): an A/B test that did not see
// every prompt is never reported clean.
absl::StatusOr<v1::EvalReportData> EvalReportDataOf(JobStore& store, const StoredJob& job);

class EvalJobKind : public JobKind {
 public:
  bool TakenBy(const v1::Capabilities& worker) const override { return worker.eval(); }
  void DescribeWork(const PendingTask& task, const std::vector<std::string>& allow_roots,
                    v1::ScanTask& out) const override;
  std::vector<BlobDigest> Inputs(const BlobDigest& blob, const std::string& payload) const override;
  // One outcome per prompt asked, or the batch is a failed attempt: a
  // report over fewer prompts than planned could read CLEAN.
  absl::Status CheckResult(const PendingTask& task, const v1::TaskResult& result) const override;
  JobConclusion Conclude(JobStore& store, const StoredJob& job) const override;
  absl::StatusOr<v1::Report> Report(JobStore& store, const StoredJob& job) const override;
};

}  // namespace gauntlet

#endif  // GAUNTLET_COORDINATOR_EVAL_JOBS_H_
