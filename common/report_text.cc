// The human report: one line per file with its verdict, findings indented
// beneath, worst first, and a summary line. Clean files are listed compactly
// so a registry-sized run stays readable.
#include <algorithm>
#include <cstdio>

#include "absl/strings/str_format.h"
#include "common/report.h"
#include "common/strings.h"

namespace gauntlet {
namespace {

std::string Where(const Location& loc) {
  std::string where = loc.member.empty() ? "" : StrCat(loc.member, " ");
  return StrCat("[", where, "@", loc.offset, "]");
}

constexpr size_t kListCleanUpTo = 100;

// Worst first, each with its location and evidence.
void WriteFindings(const std::vector<Finding>& findings, std::ostream& out) {
  std::vector<const Finding*> sorted;
  for (const Finding& f : findings) sorted.push_back(&f);
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const Finding* a, const Finding* b) { return a->severity > b->severity; });
  for (const Finding* f : sorted) {
    out << absl::StrFormat("    %-8s %-30s %s %s\n", SeverityName(f->severity), f->rule_id,
                           f->message, Where(f->location));
    if (!f->evidence.empty()) out << "             evidence: " << f->evidence << "\n";
  }
}

}  // namespace

void WriteTextReport(const ScanReport& report, std::ostream& out) {
  // A registry-sized run shows what needs attention; JSON has every file.
  const bool list_clean = report.files.size() <= kListCleanUpTo;
  size_t hidden = 0;
  for (const FileReport& file : report.files) {
    if (!list_clean && file.verdict == Verdict::kClean) {
      ++hidden;
      continue;
    }
    out << absl::StrFormat("%-10s %s  (%s, %d bytes)\n", VerdictName(file.verdict), file.path,
                           file.format, file.size_bytes);
    WriteFindings(file.findings, out);
  }
  if (hidden > 0) {
    out << absl::StrFormat("(%d clean files not listed; --format json lists every file)\n", hidden);
  }
  if (!report.models.empty()) out << "\nModels:\n";
  for (const ModelReport& model : report.models) {
    out << absl::StrFormat("%-10s %s  (%d files, license %s, publisher %s)\n",
                           VerdictName(model.verdict), model.path, model.file_indices.size(),
                           model.license.empty() ? "unknown" : model.license,
                           model.publisher.empty() ? "unknown" : model.publisher);
    WriteFindings(model.findings, out);
  }
  out << absl::StrFormat(
      "\n%d files scanned in %.2fs: %d clean, %d suspicious, %d malicious, %d error. Overall: %s\n",
      report.files.size(), report.duration_seconds, report.CountVerdict(Verdict::kClean),
      report.CountVerdict(Verdict::kSuspicious), report.CountVerdict(Verdict::kMalicious),
      report.CountVerdict(Verdict::kError), VerdictName(report.OverallVerdict()));
}

}  // namespace gauntlet
