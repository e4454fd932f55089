// `gauntlet audit dataset FILE.jsonl`: the dataset audit
// (abtest/dataset_audit.h) on the command line. Torch-free.
#ifndef GAUNTLET_CLI_AUDIT_COMMAND_H_
#define GAUNTLET_CLI_AUDIT_COMMAND_H_

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace gauntlet {

struct AuditRequest {
  std::string file, format = "text";
  std::vector<std::string> suites;  // Whose judge rules; empty: every built-in suite.
  bool no_judge = false;
};

// Declares `audit dataset`; returns the `dataset` subcommand.
CLI::App* AddAuditCommand(CLI::App& app, AuditRequest& request);

// Exit codes: 0 CLEAN, 1 POISONED or SUSPICIOUS, 2 bad input (a file that
// cannot be read, a line that is not a chat row, named with its number).
int RunAudit(const AuditRequest& request);

}  // namespace gauntlet

#endif  // GAUNTLET_CLI_AUDIT_COMMAND_H_
