// `gauntlet eval ab`'s request: its flags, the eval job they describe, and
// the cluster mode (--coordinator). No torch here: the torch-free `gauntlet`
// runs cluster evals itself and hands only local runs to gauntlet-lab,
// which reads the same flags with the same code.
#ifndef GAUNTLET_CLI_EVAL_AB_REQUEST_H_
#define GAUNTLET_CLI_EVAL_AB_REQUEST_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "abtest/ab_prompts.h"
#include "abtest/ab_report.h"
#include "gauntlet/v1/gauntlet.pb.h"
#include "proto/grpc_channel.h"

namespace CLI {
class App;
}

namespace gauntlet::eval {

// One side of an A/B comparison: a base checkpoint, optionally with an adapter.
struct ModelSpec {
  std::string base, adapter;
  std::string Label() const;
};

struct EvalAbRequest {
  ModelSpec a, b;
  // A built-in suite's name or a suite file; empty: the lab suite, or the
  // catalogue when discovering.
  std::string suite;
  std::string prompts_path;  // Replaces the suite's prompts when given.
  std::string judge_rules;   // Adds to the suite's judge rules when given.
  // Sweep the suite's topics for the trigger (abtest/discovery.h); also
  // what a request with neither a suite nor prompts does.
  bool discover = false;
  AbEvalOptions options;
  std::string device = "auto";                    // Local runs: where models run.
  uint32_t workers = 1;                           // Local runs: embedded eval workers.
  eval::AbFormat format = eval::AbFormat::kText;  // --format.
  std::string out_path;                           // Empty: stdout.
  std::string coordinator, tenant;                // A cluster run when coordinator is set.
  bool upload = false;
  ChannelSecurity security;
};

// Declares `ab` under `eval` with every flag of `eval ab`, read into
// `request` (whose `security` holds what the environment says).
CLI::App* AddEvalAbCommand(CLI::App& eval, EvalAbRequest& request);

// After parsing: fills defaults (B's base is A's) and refuses requests that
// cannot run; INVALID_ARGUMENT with a message for a person.
absl::Status CheckEvalAbRequest(EvalAbRequest& request);

// The eval job for `request`, with absolute paths (workers resolve them).
absl::StatusOr<v1::SubmitEvalRequest> ToEvalJob(const EvalAbRequest& request);

// Renders the report (text or JSON) to stdout, or to request.out_path, and
// returns its exit code (ab_report.h's ExitCode): local and cluster runs
// both end here.
absl::StatusOr<int> EmitReport(const EvalAbRequest& request, const AbReport& report);

// Submits to request.coordinator, shows progress on stderr, fetches the
// typed report and emits it.
absl::StatusOr<int> RunEvalAbOnCluster(const EvalAbRequest& request);

}  // namespace gauntlet::eval

#endif  // GAUNTLET_CLI_EVAL_AB_REQUEST_H_
