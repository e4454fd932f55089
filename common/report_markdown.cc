// The Markdown report, for pull-request comments, CI job summaries and
// registry tickets: a summary table, then every file and model that needs
// attention with its findings, worst first. Clean files are counted, not
// listed (JSON lists every file). Every name and message is escaped: file
// names and evidence come from the scanned files, and a report must not
// become a link, an image or HTML in the reader's browser.
#include <algorithm>

#include "absl/strings/str_format.h"
#include "common/markdown.h"
#include "common/report.h"
#include "common/strings.h"

namespace gauntlet {
namespace {

std::string Cell(std::string_view text) { return MarkdownText(text); }

std::string Where(const Location& loc) {
  return loc.member.empty() ? StrCat("@", loc.offset) : StrCat(loc.member, " @", loc.offset);
}

void WriteFindings(const std::vector<Finding>& findings, std::ostream& out) {
  std::vector<const Finding*> sorted;
  for (const Finding& f : findings) sorted.push_back(&f);
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const Finding* a, const Finding* b) { return a->severity > b->severity; });
  out << "\n| Severity | Rule | Finding | Where | Evidence |\n|---|---|---|---|---|\n";
  for (const Finding* f : sorted)
    out << "| " << SeverityName(f->severity) << " | `" << f->rule_id << "` | " << Cell(f->message)
        << " | " << Cell(Where(f->location)) << " | " << Cell(f->evidence) << " |\n";
}

}  // namespace

void WriteMarkdownReport(const ScanReport& report, std::ostream& out) {
  out << "# Gauntlet scan: " << VerdictName(report.OverallVerdict()) << "\n\n";
  out << "| Files | Clean | Suspicious | Malicious | Error | Models | Seconds |\n"
      << "|---:|---:|---:|---:|---:|---:|---:|\n";
  out << absl::StrFormat(
      "| %d | %d | %d | %d | %d | %d | %.2f |\n", report.files.size(),
      report.CountVerdict(Verdict::kClean), report.CountVerdict(Verdict::kSuspicious),
      report.CountVerdict(Verdict::kMalicious), report.CountVerdict(Verdict::kError),
      report.models.size(), report.duration_seconds);
  out << "\nGauntlet " << Cell(report.tool_version) << ", policy " << Cell(report.policy_source)
      << ".\n";

  if (!report.models.empty()) {
    out << "\n## Models\n\n| Verdict | Model | Files | License | Publisher |\n"
        << "|---|---|---:|---|---|\n";
    for (const ModelReport& model : report.models)
      out << "| " << VerdictName(model.verdict) << " | " << Cell(model.path) << " | "
          << model.file_indices.size() << " | "
          << (model.license.empty() ? "unknown" : Cell(model.license)) << " | "
          << (model.publisher.empty() ? "unknown" : Cell(model.publisher)) << " |\n";
    for (const ModelReport& model : report.models) {
      if (model.findings.empty()) continue;
      out << "\n### Model " << Cell(model.path) << ": " << VerdictName(model.verdict) << "\n";
      WriteFindings(model.findings, out);
    }
  }

  // Worst first, then by path: what needs attention leads.
  std::vector<const FileReport*> flagged;
  for (const FileReport& file : report.files)
    if (file.verdict != Verdict::kClean) flagged.push_back(&file);
  std::stable_sort(flagged.begin(), flagged.end(), [](const FileReport* a, const FileReport* b) {
    return WorseVerdict(a->verdict, b->verdict) == a->verdict && a->verdict != b->verdict;
  });
  if (flagged.empty()) {
    out << "\nEvery file was fully analysed and is clean.\n";
    return;
  }
  out << "\n## Files that need attention\n";
  for (const FileReport* file : flagged) {
    out << "\n### " << VerdictName(file->verdict) << ": " << Cell(file->path) << "\n\n"
        << Cell(file->format) << ", " << file->size_bytes << " bytes"
        << (file->fully_analysed ? "" : ", **not fully analysed**") << "\n";
    if (!file->findings.empty()) WriteFindings(file->findings, out);
  }
}

}  // namespace gauntlet
