// The registry of job kinds: one line per kind.
#include "coordinator/eval_jobs.h"
#include "coordinator/job_kind.h"
#include "coordinator/scan_jobs.h"

namespace gauntlet {

const JobKind& JobKindOf(v1::JobKind kind) {
  static const ScanJobKind scan;
  static const EvalJobKind eval;
  switch (kind) {
    case v1::EVAL:
      return eval;
    default:
      return scan;
  }
}

}  // namespace gauntlet
