#include "common/report.h"

#include "common/strings.h"

namespace gauntlet {

size_t ScanReport::CountVerdict(Verdict verdict) const {
  size_t n = 0;
  for (const FileReport& f : files) n += f.verdict == verdict;
  return n;
}

Verdict ScanReport::OverallVerdict() const {
  for (Verdict v : {Verdict::kMalicious, Verdict::kError, Verdict::kSuspicious}) {
    if (CountVerdict(v) > 0) return v;
    for (const ModelReport& m : models) {
      if (m.verdict == v) return v;
    }
  }
  return Verdict::kClean;
}

std::optional<Severity> ScanReport::MaxSeverity() const {
  std::optional<Severity> max;
  auto consider = [&](const std::vector<Finding>& findings) {
    for (const Finding& f : findings) {
      if (!max || f.severity > *max) max = f.severity;
    }
  };
  for (const FileReport& f : files) consider(f.findings);
  for (const ModelReport& m : models) consider(m.findings);
  return max;
}

int ScanExitCode(const ScanReport& report, Severity fail_on, uint64_t unscanned_files) {
  std::optional<Severity> worst = report.MaxSeverity();
  if (worst && *worst >= fail_on) return 1;
  return report.CountVerdict(Verdict::kError) > 0 || unscanned_files > 0 ? 2 : 0;
}

absl::StatusOr<ReportFormat> ParseReportFormat(std::string_view name) {
  if (name == "text") return ReportFormat::kText;
  if (name == "json") return ReportFormat::kJson;
  if (name == "sarif") return ReportFormat::kSarif;
  if (name == "markdown" || name == "md") return ReportFormat::kMarkdown;
  return absl::InvalidArgumentError(
      StrCat("unknown report format '", name, "': use text, json, sarif or markdown"));
}

void WriteReport(const ScanReport& report, ReportFormat format, std::ostream& out) {
  switch (format) {
    case ReportFormat::kText:
      WriteTextReport(report, out);
      break;
    case ReportFormat::kJson:
      WriteJsonReport(report, out);
      break;
    case ReportFormat::kSarif:
      WriteSarifReport(report, out);
      break;
    case ReportFormat::kMarkdown:
      WriteMarkdownReport(report, out);
      break;
  }
}

}  // namespace gauntlet
