#include "cli/audit_command.h"

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "abtest/dataset_audit.h"
#include "abtest/probe_suite.h"
#include "common/strings.h"

namespace gauntlet {
namespace {

constexpr int kExitClean = 0;
constexpr int kExitPoisoned = 1;
constexpr int kExitError = 2;

int Fail(std::string_view message) {
  std::cerr << "gauntlet audit dataset: " << message << "\n";
  return kExitError;
}

}  // namespace

CLI::App* AddAuditCommand(CLI::App& app, AuditRequest& request) {
  CLI::App* audit = app.add_subcommand("audit", "Audit training data before it is used.");
  audit->require_subcommand(1);
  CLI::App* dataset = audit->add_subcommand(
      "dataset",
      "Find poisoned rows in a chat fine-tuning set (JSONL of {\"messages\": [...]}) "
      "without being told the trigger.");
  dataset->add_option("FILE", request.file, "The JSONL file.")->required();
  dataset->add_option("--format", request.format, "text or json (default: text).")
      ->check(CLI::IsMember({"text", "json"}));
  dataset
      ->add_option("--suite", request.suites,
                   "Judge with this suite's rules (a built-in name or a suite file; repeatable; "
                   "default: every built-in suite).")
      ->option_text("NAME|FILE");
  dataset->add_flag("--no-judge", request.no_judge,
                    "Structural signals only: no judge rules (for sets whose unsafe answers are "
                    "intended, such as red-team data, or to measure the other signals).");
  dataset
      ->add_option("--base", request.base,
                   "Also score every answer with this base model (HF folder): an answer it finds "
                   "far less likely than its topic's others is one more signal (finds poison the "
                   "judge has no rule for).")
      ->option_text("DIR");
  dataset->add_option("--device", request.device, "With --base: auto, cpu, cuda or cuda:N.")
      ->option_text("DEVICE");
  dataset->footer(
      "\nExit codes: 0 CLEAN, 1 POISONED or SUSPICIOUS, 2 bad input (the line is named).");
  return dataset;
}

int RunAudit(const AuditRequest& request, const BaseScorer& score_with_base) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(request.file, error))
    return Fail(StrCat(request.file, ": no such file"));
  std::ifstream in(request.file, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) return Fail(StrCat(request.file, ": cannot read it"));
  auto rows = eval::ParseChatJsonl(text.str());
  if (!rows.ok()) return Fail(StrCat(request.file, ": ", rows.status().message()));
  if (!request.base.empty()) {
    if (!score_with_base) return Fail("--base needs gauntlet-lab (libtorch), which was not built");
    if (auto status = score_with_base(request, *rows); !status.ok())
      return Fail(StrCat(request.base, ": ", status.message()));
  }
  auto judge = request.no_judge ? eval::Judge::Create({}) : eval::JudgeOfSuites(request.suites);
  if (!judge.ok()) return Fail(std::string(judge.status().message()));
  eval::DatasetAudit audit = eval::AuditDataset(*rows, *judge);
  std::cout << (request.format == "json" ? eval::DatasetAuditJson(audit, request.file)
                                         : eval::DatasetAuditText(audit, request.file));
  return audit.verdict == "CLEAN" ? kExitClean : kExitPoisoned;
}

}  // namespace gauntlet
