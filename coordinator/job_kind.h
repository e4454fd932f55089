// One kind of job (a scan, an A/B eval): what the coordinator leaves to the
// kind. Everything else is the same for every kind and lives elsewhere:
// storing tasks (job_store.h), fair share (scheduler.h), leases, retries,
// dead letters, cancellation and watching (coordinator.h).
//
// A kind plans a job from its own submit request (each is its own message,
// so planning is a function of the kind's file, not of this interface) into
// a JobPlan; then, through this interface, it says which workers take its
// tasks and what a leased task carries, checks each result before it is
// stored, concludes a finished job, and builds its typed report from the
// stored results. Adding a kind: one file implementing JobKind, one line in
// job_kinds.cc, and its submit RPC.
#ifndef GAUNTLET_COORDINATOR_JOB_KIND_H_
#define GAUNTLET_COORDINATOR_JOB_KIND_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/digest.h"
#include "common/policy.h"
#include "coordinator/job_store.h"
#include "coordinator/scheduler.h"
#include "gauntlet/v1/gauntlet.pb.h"

namespace gauntlet {

// Whether the submitting tenant may use an uploaded blob.
using BlobVisible = std::function<bool(const BlobDigest&)>;

// A submitted job, checked and cut into tasks.
struct JobPlan {
  v1::JobKind kind = v1::SCAN;
  std::string policy_toml, policy_source, publisher;
  std::shared_ptr<const Policy> policy;
  std::vector<std::string> directories;  // Scan jobs: for model aggregation.
  std::string spec;                      // The kind's stored request, if it keeps one.
  double runtime_seconds = 0;            // 0: no cap.
  std::vector<NewTaskRow> tasks;
};

// A finished (or cancelled) job's verdict for its summary, when the kind
// has one beyond its files' verdict counts (an A/B verdict and its score).
struct JobConclusion {
  std::string verdict;
  double score = 0;
};

class JobKind {
 public:
  virtual ~JobKind() = default;

  // Whether a worker with these capabilities takes this kind's tasks.
  virtual bool TakenBy(const v1::Capabilities& worker) const = 0;
  // Fills the work of a leased task (the lease id, attempt, display name
  // and policy are filled by the coordinator).
  virtual void DescribeWork(const PendingTask& task, const std::vector<std::string>& allow_roots,
                            v1::ScanTask& out) const = 0;
  // The uploaded blobs a task may fetch (while leased) or still needs
  // (while queued: retention keeps them).
  virtual std::vector<BlobDigest> Inputs(const BlobDigest& blob,
                                         const std::string& payload) const = 0;
  // OK when a worker's result is the kind of result the task asked for and
  // is complete; otherwise why the attempt failed.
  virtual absl::Status CheckResult(const PendingTask& task, const v1::TaskResult& result) const = 0;
  // Called when the last task finished or the job was cancelled (`job`'s
  // state says which).
  virtual JobConclusion Conclude(JobStore& store, const StoredJob& job) const = 0;
  // The typed report, from the stored results (GetReport's TYPED format).
  virtual absl::StatusOr<v1::Report> Report(JobStore& store, const StoredJob& job) const = 0;
};

// The registered kinds (job_kinds.cc), one for every v1::JobKind value a
// job can be submitted with.
const JobKind& JobKindOf(v1::JobKind kind);

}  // namespace gauntlet

#endif  // GAUNTLET_COORDINATOR_JOB_KIND_H_
