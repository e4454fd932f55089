// `gauntlet`: the command-line front end. It stays free of libtorch so that
// `gauntlet scan` starts in milliseconds.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/policy.h"
#include "common/report.h"
#include "common/rules.h"
#include "common/strings.h"
#include "coordinator/local_scan_job.h"
#include "coordinator/model_aggregator.h"
#include "worker/scan/signatures.h"

namespace gauntlet {
namespace {

constexpr int kExitClean = 0;
constexpr int kExitFindings = 1;
constexpr int kExitError = 2;

constexpr char kUsage[] = R"(Gauntlet: decides whether a machine-learning model is safe to use.

Usage:
  gauntlet scan PATH... [options]   Scan model files and directories.
  gauntlet policy show              Print the built-in policy (TOML) to extend.
  gauntlet rules                    List every rule id with its default severity.
  gauntlet version

Scan options:
  --format text|json|sarif   Report format (default: text).
  --output FILE              Write the report to FILE instead of stdout.
  --policy FILE              TOML policy layered over the built-in one.
  --fail-on SEVERITY         Exit 1 when a finding is at or above SEVERITY
                             (INFO, LOW, MEDIUM, HIGH, CRITICAL; default HIGH).
  --publisher ORG            Publisher of the scanned models, for the registry
                             policy (Hugging Face cache paths carry their own).
  --jobs N                   Worker threads (default: one per core).
  --no-progress              No progress bar, even on a terminal.

Exit codes: 0 clean, 1 findings at or above --fail-on, 2 usage error or a
file that could not be fully analysed (and no finding at the threshold).
)";

int UsageError(const std::string& message) {
  std::cerr << "gauntlet: " << message << "\nRun 'gauntlet --help' for usage.\n";
  return kExitError;
}

class ProgressBar {
 public:
  void Update(size_t done, size_t total) {
    auto elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    if (elapsed < 0.5 && done < total) return;  // Short runs stay quiet.
    if (!shown_ && done == total) return;
    shown_ = true;
    constexpr int kWidth = 30;
    int filled = total ? static_cast<int>(kWidth * done / total) : kWidth;
    std::cerr << absl::StrFormat("\r[%s%s] %d/%d files  %.0f files/s ", std::string(filled, '#'),
                                 std::string(kWidth - filled, ' '), done, total,
                                 elapsed > 0 ? done / elapsed : 0.0);
    if (done == total) std::cerr << "\n";
  }

 private:
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  bool shown_ = false;
};

int Scan(const std::vector<std::string>& args) {
  std::vector<std::string> paths;
  ReportFormat format = ReportFormat::kText;
  std::optional<std::string> output, policy_path;
  std::string publisher;
  Severity fail_on = Severity::kHigh;
  int jobs = 0;
  bool progress = isatty(STDERR_FILENO);
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    auto value = [&](std::string& out) {
      if (i + 1 >= args.size()) return false;
      out = args[++i];
      return true;
    };
    std::string v;
    if (arg == "--format") {
      if (!value(v)) return UsageError("--format needs a value");
      auto parsed = ParseReportFormat(v);
      if (!parsed.ok()) return UsageError(std::string(parsed.status().message()));
      format = *parsed;
    } else if (arg == "--output" || arg == "-o") {
      if (!value(v)) return UsageError("--output needs a file name");
      output = v;
    } else if (arg == "--policy") {
      if (!value(v)) return UsageError("--policy needs a file name");
      policy_path = v;
    } else if (arg == "--fail-on") {
      if (!value(v)) return UsageError("--fail-on needs a severity");
      auto severity = ParseSeverity(v);
      if (!severity) return UsageError("--fail-on takes INFO, LOW, MEDIUM, HIGH or CRITICAL");
      fail_on = *severity;
    } else if (arg == "--publisher") {
      if (!value(publisher) || publisher.empty()) return UsageError("--publisher needs a name");
    } else if (arg == "--jobs" || arg == "-j") {
      if (!value(v) || (jobs = std::atoi(v.c_str())) <= 0) {
        return UsageError("--jobs needs a positive number");
      }
    } else if (arg == "--no-progress") {
      progress = false;
    } else if (arg.size() > 1 && arg[0] == '-') {
      return UsageError(StrCat("unknown option ", arg));
    } else {
      paths.push_back(arg);
    }
  }
  if (paths.empty()) return UsageError("scan needs at least one PATH");

  Policy policy = Policy::Default();
  if (policy_path) {
    auto loaded = Policy::LoadFile(*policy_path);
    if (!loaded.ok()) return UsageError(std::string(loaded.status().message()));
    policy = std::move(*loaded);
  }
  // A broken user rule file is a usage error, not a per-file surprise. The
  // built-in rules are compiled on first use instead, so runs that never
  // meet binary content do not pay for it.
  if (!policy.signatures().rule_files.empty()) {
    if (auto signatures = scan::SignatureSet::ForPolicy(policy.signatures()); !signatures.ok()) {
      return UsageError(std::string(signatures.status().message()));
    }
  }
  auto files = ExpandScanPaths(paths);
  if (!files.ok()) return UsageError(std::string(files.status().message()));

  ProgressBar bar;
  LocalScanOptions options;
  options.workers = jobs;
  if (progress)
    options.on_progress = [&bar](size_t done, size_t total) { bar.Update(done, total); };
  ScanReport report = RunLocalScanJob(*files, policy, options);
  std::vector<std::string> directories;
  for (const std::string& path : paths) {
    if (std::filesystem::is_directory(path)) directories.push_back(path);
  }
  AggregateModels(directories, policy, publisher, report);

  if (output) {
    std::string temp = *output + ".tmp";
    {
      std::ofstream out(temp, std::ios::binary | std::ios::trunc);
      if (!out) return UsageError(StrCat("cannot write ", *output));
      WriteReport(report, format, out);
      if (!out.flush()) return UsageError(StrCat("cannot write ", *output));
    }
    if (std::rename(temp.c_str(), output->c_str()) != 0) {
      return UsageError(StrCat("cannot write ", *output));
    }
    std::cerr << absl::StrFormat("gauntlet: %d files, verdict %s, report in %s\n",
                                 report.files.size(), VerdictName(report.OverallVerdict()),
                                 *output);
  } else {
    WriteReport(report, format, std::cout);
  }

  if (auto max = report.MaxSeverity(); max && *max >= fail_on) return kExitFindings;
  return report.CountVerdict(Verdict::kError) > 0 ? kExitError : kExitClean;
}

int Main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::cout << kUsage;
    return args.empty() ? kExitError : kExitClean;
  }
  const std::string command = args[0];
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (command == "scan") {
    for (const std::string& a : rest) {
      if (a == "--help" || a == "-h") {
        std::cout << kUsage;
        return kExitClean;
      }
    }
    return Scan(rest);
  }
  if (command == "policy" && rest.size() == 1 && rest[0] == "show") {
    std::cout << DefaultPolicyToml();
    return kExitClean;
  }
  if (command == "rules" && rest.empty()) {
    for (const RuleInfo& rule : AllRules()) {
      std::cout << absl::StrFormat("%-32s %-8s %s\n", std::string(rule.id),
                                   std::string(SeverityName(rule.default_severity)),
                                   std::string(rule.short_description));
    }
    return kExitClean;
  }
  if (command == "version" || command == "--version") {
    std::cout << "gauntlet " << GAUNTLET_VERSION << "\n";
    return kExitClean;
  }
  return UsageError(StrCat("unknown command '", command, "'"));
}

}  // namespace
}  // namespace gauntlet

int main(int argc, char** argv) { return gauntlet::Main(argc, argv); }
