// `gauntlet audit dataset FILE.jsonl`: the dataset audit
// (abtest/dataset_audit.h) on the command line. Torch-free.
#ifndef GAUNTLET_CLI_AUDIT_COMMAND_H_
#define GAUNTLET_CLI_AUDIT_COMMAND_H_

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "abtest/dataset_audit.h"

namespace gauntlet {

struct AuditRequest {
  std::string file, format = "text";
  std::vector<std::string> suites;  // Whose judge rules; empty: every built-in suite.
  bool no_judge = false;
  std::string base, device = "auto";  // --base: a model scores every answer (gauntlet-lab).
};

// Sets each row's base_logprob with the model in `request.base` (libtorch:
// gauntlet-lab supplies it).
using BaseScorer =
    std::function<absl::Status(const AuditRequest& request, std::vector<eval::AuditRow>& rows)>;

// Declares `audit dataset`; returns the `dataset` subcommand.
CLI::App* AddAuditCommand(CLI::App& app, AuditRequest& request);

// Exit codes: 0 CLEAN, 1 POISONED or SUSPICIOUS, 2 bad input (a file that
// cannot be read, a line that is not a chat row, named with its number,
// a base model that cannot score them). With --base, `score_with_base` must
// be given.
int RunAudit(const AuditRequest& request, const BaseScorer& score_with_base = nullptr);

}  // namespace gauntlet

#endif  // GAUNTLET_CLI_AUDIT_COMMAND_H_
