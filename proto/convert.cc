#include "proto/convert.h"

#include <algorithm>

namespace gauntlet {
namespace {

v1::Severity ToProto(Severity severity) {
  return static_cast<v1::Severity>(static_cast<int>(severity) + 1);
}

Severity FromProto(v1::Severity severity) {
  int value = static_cast<int>(severity) - 1;
  return static_cast<Severity>(value < 0 ? 0 : (value > 4 ? 4 : value));
}

void AddFinding(const Finding& finding, v1::Finding& out) {
  out.set_rule_id(finding.rule_id);
  out.set_severity(ToProto(finding.severity));
  out.set_message(finding.message);
  out.set_file(finding.location.file);
  out.set_member(finding.location.member);
  out.set_offset(finding.location.offset);
  out.set_evidence(finding.evidence);
}

Finding FromProto(const v1::Finding& finding) {
  return Finding{finding.rule_id(), FromProto(finding.severity()), finding.message(),
                 Location{finding.file(), finding.member(), finding.offset()}, finding.evidence()};
}

}  // namespace

v1::Verdict ToProto(Verdict verdict) {
  switch (verdict) {
    case Verdict::kClean:
      return v1::CLEAN;
    case Verdict::kSuspicious:
      return v1::SUSPICIOUS;
    case Verdict::kMalicious:
      return v1::MALICIOUS;
    case Verdict::kError:
      return v1::ERROR;
  }
  return v1::ERROR;
}

Verdict FromProto(v1::Verdict verdict) {
  switch (verdict) {
    case v1::CLEAN:
      return Verdict::kClean;
    case v1::SUSPICIOUS:
      return Verdict::kSuspicious;
    case v1::MALICIOUS:
      return Verdict::kMalicious;
    default:
      return Verdict::kError;  // Unknown or unset is never a pass.
  }
}

v1::FileResult ToProto(const FileReport& report) {
  v1::FileResult result;
  result.set_path(report.path);
  result.set_format(report.format);
  result.set_size_bytes(report.size_bytes);
  result.set_fully_analysed(report.fully_analysed);
  result.set_verdict(ToProto(report.verdict));
  for (const Finding& finding : report.findings) AddFinding(finding, *result.add_findings());
  for (const auto& [key, value] : report.metadata) {
    v1::KeyValue* kv = result.add_metadata();
    kv->set_key(key);
    kv->set_value(value);
  }
  return result;
}

FileReport FromProto(const v1::FileResult& result) {
  FileReport report;
  report.path = result.path();
  report.format = result.format();
  report.size_bytes = result.size_bytes();
  report.fully_analysed = result.fully_analysed();
  report.verdict = FromProto(result.verdict());
  for (const v1::Finding& finding : result.findings())
    report.findings.push_back(FromProto(finding));
  for (const v1::KeyValue& kv : result.metadata())
    report.metadata.emplace_back(kv.key(), kv.value());
  return report;
}

v1::ScanReportData ToProto(const ScanReport& report) {
  v1::ScanReportData data;
  data.set_tool_version(report.tool_version);
  data.set_policy_source(report.policy_source);
  data.set_duration_seconds(report.duration_seconds);
  for (const FileReport& file : report.files) *data.add_files() = ToProto(file);
  for (const ModelReport& model : report.models) {
    v1::ModelResult* out = data.add_models();
    out->set_path(model.path);
    out->set_publisher(model.publisher);
    out->set_license(model.license);
    for (size_t index : model.file_indices) out->add_file_indices(static_cast<uint32_t>(index));
    for (const Finding& finding : model.findings) AddFinding(finding, *out->add_findings());
    out->set_verdict(ToProto(model.verdict));
  }
  return data;
}

ScanReport FromProto(const v1::ScanReportData& data) {
  ScanReport report;
  report.tool_version = data.tool_version();
  report.policy_source = data.policy_source();
  report.duration_seconds = data.duration_seconds();
  for (const v1::FileResult& file : data.files()) report.files.push_back(FromProto(file));
  for (const v1::ModelResult& model : data.models()) {
    ModelReport& out = report.models.emplace_back();
    out.path = model.path();
    out.publisher = model.publisher();
    out.license = model.license();
    for (uint32_t index : model.file_indices())
      if (index < report.files.size()) out.file_indices.push_back(index);
    for (const v1::Finding& finding : model.findings()) out.findings.push_back(FromProto(finding));
    out.verdict = FromProto(model.verdict());
  }
  return report;
}

v1::Severity WorstSeverity(const v1::FileResult& result) {
  v1::Severity worst = v1::SEVERITY_UNSPECIFIED;
  for (const v1::Finding& finding : result.findings()) worst = std::max(worst, finding.severity());
  return worst;
}

}  // namespace gauntlet
