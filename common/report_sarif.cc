// SARIF 2.1.0, as GitHub code scanning and other dashboards ingest it.
// Binary files have no lines, so regions are 1:1 and the byte offset and
// archive member travel in result properties.
#include <functional>
#include <map>
#include <nlohmann/json.hpp>

#include "common/report.h"
#include "common/rules.h"
#include "common/strings.h"

namespace gauntlet {
namespace {

std::string_view SarifLevel(Severity severity) {
  switch (severity) {
    case Severity::kCritical:
    case Severity::kHigh:
      return "error";
    case Severity::kMedium:
      return "warning";
    default:
      return "note";
  }
}

// FNV-1a: a fingerprint that stays the same across runs, builds and
// machines, so dashboards can track a finding over time.
std::string StableFingerprint(std::string_view text) {
  uint64_t hash = 0xcbf29ce484222325ull;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 0x100000001b3ull;
  }
  return StrCat(Hex{hash, 16});
}

nlohmann::json RuleDescriptor(const RuleInfo& rule) {
  return {{"id", rule.id},
          {"name", rule.id},
          {"shortDescription", {{"text", rule.short_description}}},
          {"fullDescription", {{"text", rule.full_description}}},
          {"help", {{"text", rule.help}}},
          {"defaultConfiguration", {{"level", SarifLevel(rule.default_severity)}}},
          {"properties",
           {{"security-severity", SecuritySeverityScore(rule.default_severity)},
            {"tags", {"security"}}}}};
}

}  // namespace

void WriteSarifReport(const ScanReport& report, std::ostream& out) {
  using nlohmann::json;
  json rules = json::array();
  std::map<std::string, size_t, std::less<>> rule_index;
  for (const RuleInfo& rule : AllRules()) {
    rule_index.emplace(std::string(rule.id), rules.size());
    rules.push_back(RuleDescriptor(rule));
  }

  json results = json::array();
  auto add = [&](const Finding& f, Verdict verdict) {
    auto index = rule_index.find(f.rule_id);
    std::string fingerprint_input = StrCat(f.rule_id, "|", f.location.file, "|", f.location.member,
                                           "|", f.location.offset, "|", f.evidence);
    json result = {
        {"ruleId", f.rule_id},
        {"level", SarifLevel(f.severity)},
        {"message", {{"text", f.message + (f.evidence.empty() ? "" : ": " + f.evidence)}}},
        {"locations",
         {{{"physicalLocation",
            {{"artifactLocation", {{"uri", f.location.file}}},
             {"region",
              {{"startLine", 1}, {"startColumn", 1}, {"endLine", 1}, {"endColumn", 1}}}}}}}},
        {"partialFingerprints", {{"gauntletFinding/v1", StableFingerprint(fingerprint_input)}}},
        {"properties",
         {{"security-severity", SecuritySeverityScore(f.severity)},
          {"severity", SeverityName(f.severity)},
          {"verdict", VerdictName(verdict)},
          {"member", f.location.member},
          {"byteOffset", f.location.offset},
          {"evidence", f.evidence}}},
    };
    if (index != rule_index.end()) result["ruleIndex"] = index->second;
    results.push_back(std::move(result));
  };
  for (const FileReport& file : report.files) {
    for (const Finding& f : file.findings) add(f, file.verdict);
  }
  for (const ModelReport& model : report.models) {
    for (const Finding& f : model.findings) add(f, model.verdict);
  }

  json doc = {
      {"$schema", "https://json.schemastore.org/sarif-2.1.0.json"},
      {"version", "2.1.0"},
      {"runs",
       {{{"tool",
          {{"driver",
            {{"name", "gauntlet"},
             {"version", report.tool_version},
             {"semanticVersion", report.tool_version},
             {"rules", std::move(rules)}}}}},
         {"invocations", {{{"executionSuccessful", report.CountVerdict(Verdict::kError) == 0}}}},
         {"results", std::move(results)}}}},
  };
  out << doc.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
}

}  // namespace gauntlet
