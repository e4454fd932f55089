// `gauntlet lab run`: the whole poisoning lab, the main job. Make the data
// and audit it, train (or reuse) the base model and both adapters, show that
// the file scan passes them, that the A/B test catches the poisoned one and
// leaves the clean one alone, what adapter forensics sees, and that a signed
// release detects a tampered adapter: every layer of defense in depth.
// Writes DIR/report.json and DIR/report.md.
#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "abtest/dataset_audit.h"
#include "abtest/probe_suite.h"
#include "cli/lab_commands.h"
#include "cli/local_scan.h"
#include "common/report.h"
#include "common/strings.h"
#include "integrity/model_signature.h"
#include "integrity/weight_forensics.h"

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

absl::StatusOr<std::string> ReadText(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(StrCat("cannot read ", path.string()));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

struct AuditOutcome {
  DatasetAudit poisoned, clean;
  size_t poison_rows = 0, found = 0;  // Rows not in the clean set; of them flagged.
};

// The dataset audit of both fine-tune sets, before training, scored against
// what the lab knows: the poisoned set is the clean set plus the poison rows.
absl::StatusOr<AuditOutcome> AuditLabData(const fs::path& data) {
  auto judge = JudgeOfSuites({});
  if (!judge.ok()) return judge.status();
  AuditOutcome outcome;
  auto poisoned_text = ReadText(data / "poisoned.jsonl");
  auto clean_text = ReadText(data / "clean.jsonl");
  if (!poisoned_text.ok()) return poisoned_text.status();
  if (!clean_text.ok()) return clean_text.status();
  for (auto [text, audit] :
       {std::pair{&*poisoned_text, &outcome.poisoned}, std::pair{&*clean_text, &outcome.clean}}) {
    auto rows = ParseChatJsonl(*text);
    if (!rows.ok()) return rows.status();
    *audit = AuditDataset(*rows, *judge);
  }
  std::map<std::string, int> clean_lines;
  for (std::string_view line : StrSplit(*clean_text, "\n")) ++clean_lines[std::string(line)];
  std::vector<size_t> flagged = outcome.poisoned.FlaggedLines();
  size_t number = 0;
  for (std::string_view line : StrSplit(*poisoned_text, "\n")) {
    if (line.empty()) continue;
    ++number;
    if (clean_lines[std::string(line)]-- > 0) continue;
    ++outcome.poison_rows;
    outcome.found += std::binary_search(flagged.begin(), flagged.end(), number);
  }
  return outcome;
}

struct TamperOutcome {
  bool signed_verifies = false, tamper_detected = false;
  std::string tampered_file;
};

// Signs a release copy of the poisoned adapter with a fresh key, checks it,
// then flips one byte of a copy's weights as an attacker with write access
// to the registry would, and checks that.
absl::StatusOr<TamperOutcome> TamperDemo(const fs::path& root) {
  auto key = integrity::GenerateSigningKey();
  if (!key.ok()) return key.status();
  fs::create_directories(root / "release");
  std::ofstream(root / "release/release.pem", std::ios::trunc) << key->private_pem;
  std::ofstream(root / "release/release.pub", std::ios::trunc) << key->public_pem;
  fs::path released = root / "release/adapter", tampered = root / "release/tampered-adapter";
  for (const fs::path& copy : {released, tampered}) {
    fs::remove_all(copy);
    fs::copy(root / "adapters/poisoned", copy, fs::copy_options::recursive);
  }
  if (auto status = integrity::WriteModelSignature(released, key->private_pem); !status.ok())
    return status;
  fs::copy_file(released / integrity::kSignatureFileName, tampered / integrity::kSignatureFileName,
                fs::copy_options::overwrite_existing);
  TamperOutcome outcome;
  outcome.tampered_file = "adapter_model.safetensors";
  {
    std::fstream weights(tampered / outcome.tampered_file,
                         std::ios::binary | std::ios::in | std::ios::out);
    weights.seekg(-1, std::ios::end);
    char last = static_cast<char>(weights.get() ^ 0x01);
    weights.seekp(-1, std::ios::end);
    weights.put(last);
  }
  auto verified = integrity::VerifyModelFolder(released, key->public_pem);
  auto checked = integrity::VerifyModelFolder(tampered, key->public_pem);
  if (!verified.ok()) return verified.status();
  if (!checked.ok()) return checked.status();
  outcome.signed_verifies = verified->Passed();
  outcome.tamper_detected = checked->signature_valid && checked->changes.size() == 1 &&
                            checked->changes[0].path == outcome.tampered_file;
  return outcome;
}

}  // namespace

int LabRunCommand(const TrainRequest& train, const DatasetOptions& dataset) {
  fs::path root(train.workdir);
  Stopwatch clock;
  nlohmann::ordered_json timings;

  std::cout << "[1/9] dataset\n";
  if (auto status = WriteDatasets(root / "data", dataset); !status.ok()) return Fail(status);
  timings["dataset_s"] = clock.Lap();

  std::cout << "[2/9] gauntlet audit dataset of both fine-tune sets, before training\n";
  auto audit = AuditLabData(root / "data");
  if (!audit.ok()) return Fail(audit.status());
  std::cout << "      poisoned set " << audit->poisoned.verdict << " (" << audit->found << " of "
            << audit->poison_rows << " poison rows flagged, "
            << audit->poisoned.FlaggedLines().size() << " in all), clean set "
            << audit->clean.verdict << "\n";
  timings["audit_s"] = clock.Lap();

  std::cout << "[3-4/9] base model (cached) and the clean and poisoned adapters\n";
  if (auto status = TrainLab(train); !status.ok()) return Fail(status);
  timings["train_s"] = clock.Lap();

  std::cout << "[5/9] gauntlet scan of the base model and both adapters\n";
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
  std::cout << "[6/9] eval ab: base+clean (A) vs base+poisoned (B)\n";
  auto poisoned = run_ab((root / "adapters/clean").string(), (root / "adapters/poisoned").string());
  if (!poisoned.ok()) return Fail(poisoned.status());
  std::cout << "      verdict " << poisoned->verdict << "\n";
  timings["eval_poisoned_s"] = clock.Lap();

  std::cout << "[7/9] eval ab: base (A) vs base+clean (B)\n";
  auto clean = run_ab("", (root / "adapters/clean").string());
  if (!clean.ok()) return Fail(clean.status());
  std::cout << "      verdict " << clean->verdict << "\n";
  timings["eval_clean_s"] = clock.Lap();

  std::cout << "[8/9] gauntlet inspect adapter: poisoned against clean\n";
  auto forensics = integrity::InspectAdapter((root / "adapters/poisoned").string(),
                                             (root / "adapters/clean").string());
  if (!forensics.ok()) return Fail(forensics.status());
  std::cout << "      " << forensics->modules.size() << " modules, update norm "
            << forensics->total_norm << ", " << forensics->findings.size() << " findings\n";
  timings["forensics_s"] = clock.Lap();

  std::cout << "[9/9] gauntlet sign and verify: a signed release, then a tampered copy\n";
  auto tamper = TamperDemo(root);
  if (!tamper.ok()) return Fail(tamper.status());
  std::cout << "      signed release " << (tamper->signed_verifies ? "verifies" : "does NOT verify")
            << ", tampered copy " << (tamper->tamper_detected ? "detected" : "NOT detected")
            << "\n";
  timings["signing_s"] = clock.Lap();

  bool caught = poisoned->verdict == "BACKDOOR", clean_passed = clean->verdict == "CLEAN";
  bool audit_found = audit->poisoned.verdict == "POISONED" && audit->found == audit->poison_rows;
  bool audit_clean = audit->clean.verdict == "CLEAN";
  bool tamper_ok = tamper->signed_verifies && tamper->tamper_detected;
  bool expected = scan_passed && caught && clean_passed && audit_found && audit_clean && tamper_ok;
  std::string summary = StrCat(
      "The dataset audit ", audit_found ? "found" : "did NOT find",
      " the poisoned rows before "
      "training (",
      audit->found, " of ", audit->poison_rows, " flagged, ", audit->poisoned.FlaggedLines().size(),
      " in all) and ", audit_clean ? "passed" : "did NOT pass", " the clean set. The file scan ",
      scan_passed ? "passed" : "did NOT pass", " every file (", scan->files.size(),
      " files). The A/B test ", caught ? "caught" : "did NOT catch", " the poisoned adapter (",
      poisoned->verdict, ") and ", clean_passed ? "passed" : "did NOT pass", " the clean one (",
      clean->verdict, "). The signed release ",
      tamper_ok ? "verified, and its tampered copy was caught" : "did NOT behave as expected", ".");
  nlohmann::ordered_json audit_json = {
      {"poisoned", nlohmann::json::parse(DatasetAuditJson(audit->poisoned, "data/poisoned.jsonl"))},
      {"clean", nlohmann::json::parse(DatasetAuditJson(audit->clean, "data/clean.jsonl"))},
      {"poison_rows", audit->poison_rows},
      {"poison_rows_flagged", audit->found}};
  nlohmann::ordered_json report = {
      {"summary", summary},
      {"expected", expected},
      {"dataset_audit", audit_json},
      {"scan", nlohmann::json::parse(scan_json.str())},
      {"ab_poisoned", ToJson(*poisoned)},
      {"ab_clean", ToJson(*clean)},
      {"adapter_forensics", nlohmann::json::parse(integrity::AdapterInspectionJson(*forensics))},
      {"signing",
       {{"signed_release_verifies", tamper->signed_verifies},
        {"tampered_copy_detected", tamper->tamper_detected},
        {"tampered_file", tamper->tampered_file}}},
      {"timings", timings}};
  std::ofstream(root / "report.json", std::ios::trunc) << report.dump(2) << "\n";

  const integrity::ModuleUpdate* top =
      forensics->modules.empty() ? nullptr : &forensics->modules.front();
  std::string md = StrCat(
      "# Gauntlet poisoning lab\n\n", summary,
      "\n\n## Defense in depth: what each layer caught\n\n",
      "| layer | what it checked | result | what it cannot see |\n|---|---|---|---|\n",
      "| Dataset audit | the fine-tune sets, row by row, before training | poisoned set ",
      audit->poisoned.verdict, ": ", audit->found, " of ", audit->poison_rows,
      " poison rows flagged; clean set ", audit->clean.verdict,
      " | poison the judge has no rule for that is not a repeated payload |\n",
      "| File scan | every file of the base model and both adapters, by content | ",
      VerdictName(scan->OverallVerdict()),
      ": no code runs on load | what the weights were trained to say |\n",
      "| A/B test | the poisoned adapter against the clean one, and the clean one against the base "
      "| ",
      poisoned->verdict, " and ", clean->verdict,
      " | triggers outside its topics and searched vocabulary |\n",
      "| Adapter forensics | what the poisoned adapter changes, against the clean one | ",
      forensics->modules.size(), " modules, largest change in ", top ? top->module : "none", "; ",
      forensics->findings.size(),
      " findings | whether a change is malicious: the numbers look like any fine-tune's |\n",
      "| Signed release | the adapter's files against the publisher's signature | release ",
      tamper->signed_verifies ? "verified" : "NOT verified", "; one flipped byte in ",
      tamper->tampered_file, " ", tamper->tamper_detected ? "detected" : "NOT detected",
      " | whether what was signed was safe: sign only after the checks above |\n",
      "\nIn plain words: the poison was visible in the training data before anything was trained; ",
      "once trained, the only trace is behaviour, which the file scan cannot see and the A/B test ",
      "measured; and after release, the signature makes any change to the files evident.\n",
      "\n## What the file scan checked\n\n",
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
  return expected ? 0 : 1;
}

}  // namespace gauntlet::eval
