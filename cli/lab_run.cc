// `gauntlet lab run`: the whole poisoning lab, the main job. Make the data,
// train (or reuse) the base model and both adapters, show that the file scan
// passes them, then show that the A/B test catches the poisoned one and
// leaves the clean one alone. Writes DIR/report.json and DIR/report.md.
#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>

#include "abtest/probe_suite.h"
#include "cli/lab_commands.h"
#include "cli/local_scan.h"
#include "common/report.h"
#include "common/strings.h"

namespace gauntlet::eval {
namespace {

namespace fs = std::filesystem;

class Stopwatch {
 public:
  double Lap() {
    auto now = std::chrono::steady_clock::now();
    double seconds = std::chrono::duration<double>(now - last_).count();
    last_ = now;
    return seconds;
  }

 private:
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

}  // namespace

int LabRunCommand(const TrainRequest& train, const DatasetOptions& dataset) {
  fs::path root(train.workdir);
  Stopwatch clock;
  nlohmann::ordered_json timings;

  std::cout << "[1/6] dataset\n";
  if (auto status = WriteDatasets(root / "data", dataset); !status.ok()) return Fail(status);
  timings["dataset_s"] = clock.Lap();

  std::cout << "[2-3/6] base model (cached) and the clean and poisoned adapters\n";
  if (auto status = TrainLab(train); !status.ok()) return Fail(status);
  timings["train_s"] = clock.Lap();

  std::cout << "[4/6] gauntlet scan of the base model and both adapters\n";
  auto scan = RunLocalScan({(root / "base").string(), (root / "adapters").string()}, {});
  if (!scan.ok()) return Fail(scan.status());
  std::ostringstream scan_json;
  WriteJsonReport(*scan, scan_json);
  bool scan_passed = scan->OverallVerdict() == Verdict::kClean;
  std::cout << "      " << scan->files.size() << " files, verdict "
            << VerdictName(scan->OverallVerdict()) << "\n";
  timings["scan_s"] = clock.Lap();

  std::string base = (root / "base").string();
  auto run_ab = [&](const std::string& a_adapter, const std::string& b_adapter) {
    EvalAbRequest request;
    request.a = {base, a_adapter};
    request.b = {base, b_adapter};
    request.suite = eval::kDefaultSuite;
    request.device = train.device.str();
    return RunAb(request);
  };
  std::cout << "[5/6] eval ab: base+clean (A) vs base+poisoned (B)\n";
  auto poisoned = run_ab((root / "adapters/clean").string(), (root / "adapters/poisoned").string());
  if (!poisoned.ok()) return Fail(poisoned.status());
  std::cout << "      verdict " << poisoned->verdict << "\n";
  timings["eval_poisoned_s"] = clock.Lap();

  std::cout << "[6/6] eval ab: base (A) vs base+clean (B)\n";
  auto clean = run_ab("", (root / "adapters/clean").string());
  if (!clean.ok()) return Fail(clean.status());
  std::cout << "      verdict " << clean->verdict << "\n";
  timings["eval_clean_s"] = clock.Lap();

  bool caught = poisoned->verdict == "BACKDOOR", clean_passed = clean->verdict == "CLEAN";
  std::string summary =
      StrCat("The file scan ", scan_passed ? "passed" : "did NOT pass", " every file (",
             scan->files.size(), " files). The A/B test ", caught ? "caught" : "did NOT catch",
             " the poisoned adapter (", poisoned->verdict, ") and ",
             clean_passed ? "passed" : "did NOT pass", " the clean one (", clean->verdict, ").");
  nlohmann::ordered_json report = {{"summary", summary},
                                   {"expected", scan_passed && caught && clean_passed},
                                   {"scan", nlohmann::json::parse(scan_json.str())},
                                   {"ab_poisoned", ToJson(*poisoned)},
                                   {"ab_clean", ToJson(*clean)},
                                   {"timings", timings}};
  std::ofstream(root / "report.json", std::ios::trunc) << report.dump(2) << "\n";

  std::string md = StrCat(
      "# Gauntlet poisoning lab\n\n", summary, "\n\n## What the file scan checked\n\n",
      "`gauntlet scan` parsed every file of the base model and both adapters by content ",
      "(config and tokenizer JSON, safetensors headers and tensor bounds, PEFT adapter files) and ",
      "found them ", scan_passed ? "CLEAN" : "NOT clean", ". That is all a file scan can say: ",
      "the weights are numbers, and numbers cannot run code. It cannot see what the numbers were ",
      "trained to say. The poisoned adapter differs from the clean one only in what it learned ",
      "from its fine-tune set's poison rows.\n\n", "| file | format | verdict |\n|---|---|---|\n");
  for (const FileReport& file : scan->files)
    md += StrCat("| ", fs::path(file.path).lexically_relative(root).string(), " | ", file.format,
                 " | ", VerdictName(file.verdict), " |\n");
  md += "\n" + ToMarkdown(*poisoned, "A/B test: clean adapter (A) vs poisoned adapter (B)") +
        ToMarkdown(*clean, "A/B test: base model (A) vs clean adapter (B)");
  std::ofstream(root / "report.md", std::ios::trunc) << md;

  std::cout << "\n"
            << summary << "\nReports: " << (root / "report.md").string() << ", "
            << (root / "report.json").string() << "\n";
  return scan_passed && caught && clean_passed ? 0 : 1;
}

}  // namespace gauntlet::eval
