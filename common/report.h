// The result of one scan run and the ways to write it: text for people,
// JSON for programs, SARIF 2.1.0 for code-scanning dashboards, Markdown for
// pull requests and tickets. JSON and SARIF carry everything; text and
// Markdown list every file that needs attention and count the clean ones.
#ifndef GAUNTLET_COMMON_REPORT_H_
#define GAUNTLET_COMMON_REPORT_H_

#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/verdict.h"

namespace gauntlet {

// One model (a directory such as a Hugging Face snapshot): its files'
// verdicts aggregated, plus the registry gate's findings on the whole model.
struct ModelReport {
  std::string path;
  std::string publisher;             // Empty when unknown.
  std::string license;               // SPDX id as found, empty when unknown.
  std::vector<size_t> file_indices;  // Into ScanReport::files.
  std::vector<Finding> findings;     // Registry policy findings.
  Verdict verdict = Verdict::kClean;
};

struct ScanReport {
  std::string tool_version;
  std::string policy_source;
  double duration_seconds = 0;
  std::vector<FileReport> files;  // In a stable order (sorted by path).
  std::vector<ModelReport> models;

  size_t CountVerdict(Verdict verdict) const;
  // The worst verdict over all files and models: MALICIOUS > ERROR >
  // SUSPICIOUS > CLEAN.
  Verdict OverallVerdict() const;
  // The worst severity of any finding, file-level or model-level.
  std::optional<Severity> MaxSeverity() const;
};

// The exit code of a scan, the same locally and on a cluster: 1 when a
// finding reaches `fail_on` (file or model), else 2 when a file was not
// fully analysed (an ERROR verdict, or one a cancelled job never scanned),
// else 0.
int ScanExitCode(const ScanReport& report, Severity fail_on, uint64_t unscanned_files = 0);

enum class ReportFormat { kText, kJson, kSarif, kMarkdown };
absl::StatusOr<ReportFormat> ParseReportFormat(std::string_view name);

void WriteTextReport(const ScanReport& report, std::ostream& out);
void WriteJsonReport(const ScanReport& report, std::ostream& out);
void WriteSarifReport(const ScanReport& report, std::ostream& out);
void WriteMarkdownReport(const ScanReport& report, std::ostream& out);
void WriteReport(const ScanReport& report, ReportFormat format, std::ostream& out);

}  // namespace gauntlet

#endif  // GAUNTLET_COMMON_REPORT_H_
