// The JSON report: every file, every finding, every location, as data.
#include <nlohmann/json.hpp>

#include "common/report.h"

namespace gauntlet {

namespace {

nlohmann::json FindingJson(const Finding& f) {
  return {
      {"rule_id", f.rule_id},
      {"severity", SeverityName(f.severity)},
      {"message", f.message},
      {"location",
       {{"file", f.location.file}, {"member", f.location.member}, {"offset", f.location.offset}}},
      {"evidence", f.evidence}};
}

}  // namespace

void WriteJsonReport(const ScanReport& report, std::ostream& out) {
  using nlohmann::json;
  json files = json::array();
  for (const FileReport& file : report.files) {
    json findings = json::array();
    for (const Finding& f : file.findings) findings.push_back(FindingJson(f));
    json metadata = json::object();
    for (const auto& [key, value] : file.metadata) metadata[key] = value;
    auto max = file.MaxSeverity();
    files.push_back({{"path", file.path},
                     {"format", file.format},
                     {"size_bytes", file.size_bytes},
                     {"verdict", VerdictName(file.verdict)},
                     {"fully_analysed", file.fully_analysed},
                     {"max_severity", max ? json(SeverityName(*max)) : json(nullptr)},
                     {"metadata", std::move(metadata)},
                     {"findings", std::move(findings)}});
  }
  json models = json::array();
  for (const ModelReport& model : report.models) {
    json findings = json::array();
    for (const Finding& f : model.findings) findings.push_back(FindingJson(f));
    json model_files = json::array();
    for (size_t index : model.file_indices) model_files.push_back(report.files[index].path);
    models.push_back({{"path", model.path},
                      {"verdict", VerdictName(model.verdict)},
                      {"publisher", model.publisher},
                      {"license", model.license},
                      {"files", std::move(model_files)},
                      {"findings", std::move(findings)}});
  }
  json doc = {
      {"tool", {{"name", "gauntlet"}, {"version", report.tool_version}}},
      {"policy", report.policy_source},
      {"summary",
       {{"files", report.files.size()},
        {"clean", report.CountVerdict(Verdict::kClean)},
        {"suspicious", report.CountVerdict(Verdict::kSuspicious)},
        {"malicious", report.CountVerdict(Verdict::kMalicious)},
        {"error", report.CountVerdict(Verdict::kError)},
        {"verdict", VerdictName(report.OverallVerdict())},
        {"duration_seconds", report.duration_seconds}}},
      {"models", std::move(models)},
      {"files", std::move(files)},
  };
  // Replace invalid UTF-8 from hostile member names rather than throwing.
  out << doc.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
}

}  // namespace gauntlet
