#include "coordinator/model_aggregator.h"

#include <algorithm>
#include <map>
#include <set>

#include "common/rules.h"
#include "common/strings.h"
#include "coordinator/registry_gate.h"

namespace gauntlet {
namespace {

std::string Parent(std::string_view path) {
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? std::string() : std::string(path.substr(0, slash));
}

std::string StripTrailingSlashes(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

bool IsMarker(std::string_view name) {
  return name == "README.md" || name == "config.json" || name == "adapter_config.json" ||
         name == "model_index.json";
}

// ".../models--ORG--NAME/snapshots/REV" for a path inside a cache snapshot.
std::string SnapshotRoot(std::string_view path) {
  size_t at = path.find("/snapshots/");
  if (at == std::string_view::npos || PublisherFromPath(path.substr(0, at)).empty()) return {};
  size_t rev_end = path.find('/', at + 11);
  return rev_end == std::string_view::npos ? std::string() : std::string(path.substr(0, rev_end));
}

// An ONNX model's external data file is raw tensor bytes with no format of
// its own; the model names it (onnx.external_data), so within the same scan
// it is known data, not unrecognised content. Only a file that was fully
// analysed and whose one complaint is being unrecognised is relabelled.
void MarkOnnxExternalData(ScanReport& report) {
  std::set<std::string> data_files;
  for (const FileReport& file : report.files) {
    for (const auto& [key, value] : file.metadata) {
      if (key != "onnx.external_data") continue;
      std::string location = value;
      while (StartsWith(location, "./")) location.erase(0, 2);
      std::string dir = Parent(file.path);
      data_files.insert(dir.empty() ? location : StrCat(dir, "/", location));
    }
  }
  if (data_files.empty()) return;
  for (FileReport& file : report.files) {
    if (!data_files.count(file.path) || !file.fully_analysed || file.format != "unknown") continue;
    bool only_unrecognized = std::all_of(file.findings.begin(), file.findings.end(), [](auto& f) {
      return f.rule_id == rules::kUnrecognizedFormat || f.severity < Severity::kMedium;
    });
    if (!only_unrecognized) continue;
    std::erase_if(file.findings,
                  [](const Finding& f) { return f.rule_id == rules::kUnrecognizedFormat; });
    file.format = "onnx-external-data";
    file.verdict = DeriveVerdict(file.findings, file.fully_analysed);
  }
}

}  // namespace

void AggregateModels(const std::vector<std::string>& directory_args, const Policy& policy,
                     std::string_view explicit_publisher, ScanReport& report) {
  MarkOnnxExternalData(report);
  std::set<std::string> roots;
  std::vector<std::string> args;
  for (const std::string& arg : directory_args) args.push_back(StripTrailingSlashes(arg));
  for (const FileReport& file : report.files) {
    std::string dir = Parent(file.path);
    std::string name = file.path.substr(dir.size() + (dir.empty() ? 0 : 1));
    if (IsMarker(name)) roots.insert(dir);
    if (std::string snapshot = SnapshotRoot(file.path); !snapshot.empty()) roots.insert(snapshot);
  }
  for (const std::string& arg : args) roots.insert(arg);

  std::map<std::string, ModelReport> models;
  for (size_t i = 0; i < report.files.size(); ++i) {
    const std::string& path = report.files[i].path;
    // The deepest root above the file, but never above the argument it came from.
    bool under_arg = std::any_of(args.begin(), args.end(),
                                 [&](const std::string& a) { return StartsWith(path, a + "/"); });
    if (!under_arg) continue;
    for (std::string dir = Parent(path); !dir.empty(); dir = Parent(dir)) {
      if (roots.count(dir)) {
        ModelReport& model = models[dir];
        model.path = dir;
        model.file_indices.push_back(i);
        break;
      }
    }
  }
  for (auto& [path, model] : models) {
    ApplyRegistryPolicy(policy.registry(), report.files, explicit_publisher, model);
    Verdict verdict = model.findings.empty() ? Verdict::kClean : Verdict::kSuspicious;
    for (size_t index : model.file_indices)
      verdict = WorseVerdict(verdict, report.files[index].verdict);
    model.verdict = verdict;
    report.models.push_back(std::move(model));
  }
}

}  // namespace gauntlet
