// Eval jobs on the coordinator: checking an A/B request, resolving its probe
// suite, cutting the suite's prompts into batches (one task each), and
// aggregating the typed batch results into the A/B report with the same
// statistics as a local run (abtest/ab_report). No torch.
#ifndef GAUNTLET_COORDINATOR_EVAL_JOBS_H_
#define GAUNTLET_COORDINATOR_EVAL_JOBS_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "abtest/ab_report.h"
#include "common/digest.h"
#include "gauntlet/v1/gauntlet.pb.h"

namespace gauntlet {

inline constexpr uint32_t kDefaultPromptsPerTask = 16;
inline constexpr double kDefaultEvalRuntimeSeconds = 1800;

struct EvalJobPlan {
  // The request as stored: its suite resolved (the built-in one when unset,
  // v1 `prompts` and `judge_rules_json` folded in) and both labels set.
  v1::SubmitEvalRequest spec;
  std::vector<v1::EvalTask> tasks;
};

// INVALID_ARGUMENT for a bad suite (abtest/probe_suite.h), prompt, judge
// rule or model folder that lacks its files; NOT_FOUND for a missing path or
// blob; PERMISSION_DENIED for a path outside `allow_roots` (empty: any
// path). Uploaded files must be blobs the submitting tenant can see.
using BlobVisible = std::function<bool(const BlobDigest&)>;
absl::StatusOr<EvalJobPlan> PlanEvalJob(const v1::SubmitEvalRequest& request,
                                        const std::vector<std::string>& allow_roots,
                                        const BlobVisible& blob_visible);

std::string ModelLabel(const v1::ModelRef& model);

// A finished task of an eval job, as stored: its typed outcomes, or why it
// was dead-lettered.
struct StoredEvalBatch {
  std::string display;  // "prompts 1-16"
  std::optional<v1::EvalBatchResult> result;
  std::string error;  // When dead-lettered (no result).
};

// The report data of a job from its stored batches, in task order (the
// coordinator stores a batch only with one outcome per prompt). A
// dead-lettered batch is a problem, so the report says ERROR
// (eval::AbReportFromData): an A/B test that did not see every prompt is
// never reported clean.
v1::EvalReportData CollectEvalJob(const v1::SubmitEvalRequest& spec,
                                  const std::vector<StoredEvalBatch>& batches);

}  // namespace gauntlet

#endif  // GAUNTLET_COORDINATOR_EVAL_JOBS_H_
