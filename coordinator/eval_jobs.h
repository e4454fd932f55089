// Eval jobs on the coordinator: checking an A/B request and cutting its
// prompts into batches (one task each), storing a batch's outcomes the way
// scan results are stored, and aggregating the batches into the A/B report
// with the same statistics as a local run (worker/eval/ab_report). No torch.
#ifndef GAUNTLET_COORDINATOR_EVAL_JOBS_H_
#define GAUNTLET_COORDINATOR_EVAL_JOBS_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "abtest/ab_report.h"
#include "common/digest.h"
#include "gauntlet/v1/gauntlet.pb.h"

namespace gauntlet {

inline constexpr uint32_t kDefaultPromptsPerTask = 16;
inline constexpr double kDefaultEvalRuntimeSeconds = 1800;

// INVALID_ARGUMENT for a bad prompt, set, topic, judge rule or model folder
// that lacks its files; NOT_FOUND for a missing path or blob;
// PERMISSION_DENIED for a path outside `allow_roots` (empty: any path).
// Uploaded files must be blobs the submitting tenant can see.
using BlobVisible = std::function<bool(const BlobDigest&)>;
absl::StatusOr<std::vector<v1::EvalTask>> PlanEvalJob(const v1::SubmitEvalRequest& request,
                                                      const std::vector<std::string>& allow_roots,
                                                      const BlobVisible& blob_visible);

std::string ModelLabel(const v1::ModelRef& model);

// A finished batch as the coordinator stores task results: a FileResult
// whose metadata carries the outcomes, so progress, watch streams and dead
// letters work for eval jobs as they do for scans.
v1::FileResult EvalBatchAsFileResult(const std::string& display, const v1::EvalBatchResult& batch);

// The A/B report of a job from its stored batch results, in task order. A
// dead-lettered or unreadable batch makes the verdict ERROR: an A/B test
// that did not see every prompt is never reported clean.
eval::AbReport AggregateEvalJob(const std::string& label_a, const std::string& label_b,
                                const std::vector<v1::FileResult>& batches);

}  // namespace gauntlet

#endif  // GAUNTLET_COORDINATOR_EVAL_JOBS_H_
