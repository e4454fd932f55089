// Helpers to ask a FileReport the questions tests care about: which rule
// fired, at what severity, and what the verdict is.
#ifndef GAUNTLET_TESTS_SUPPORT_SCAN_ASSERTIONS_H_
#define GAUNTLET_TESTS_SUPPORT_SCAN_ASSERTIONS_H_

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "common/policy.h"
#include "common/verdict.h"
#include "worker/scan/file_scanner.h"

namespace gauntlet::testing {

// The first finding with `rule_id` whose message or evidence contains
// `needle`; nullptr when there is none.
inline const Finding* FindFinding(const FileReport& report, std::string_view rule_id,
                                  std::string_view needle = {}) {
  for (const Finding& f : report.findings) {
    if (f.rule_id == rule_id && (needle.empty() || f.message.find(needle) != std::string::npos ||
                                 f.evidence.find(needle) != std::string::npos)) {
      return &f;
    }
  }
  return nullptr;
}

inline std::string Describe(const FileReport& report) {
  std::string out = std::string(VerdictName(report.verdict)) + " (" + report.format + ")\n";
  for (const Finding& f : report.findings) {
    out += "  " + std::string(SeverityName(f.severity)) + " " + f.rule_id + " " + f.message + " [" +
           f.location.member + "@" + std::to_string(f.location.offset) + "] " + f.evidence + "\n";
  }
  return out;
}

// Scans in-memory bytes as a file called `name`.
inline FileReport ScanFixture(const std::string& bytes, std::string_view name,
                              const Policy& policy = Policy::Default()) {
  return scan::ScanBytes(name, bytes, policy);
}

// A finding of `rule_id` (mentioning `needle`, if given) at `severity`, in a
// file whose verdict is `verdict`.
inline ::testing::AssertionResult HasFinding(const FileReport& report, std::string_view rule_id,
                                             Severity severity, Verdict verdict,
                                             std::string_view needle = {}) {
  const Finding* f = FindFinding(report, rule_id, needle);
  if (f == nullptr) {
    return ::testing::AssertionFailure()
           << "no " << rule_id << " finding mentioning '" << needle << "' in\n"
           << Describe(report);
  }
  if (f->severity != severity || report.verdict != verdict) {
    return ::testing::AssertionFailure() << rule_id << " expected at " << SeverityName(severity)
                                         << " in a " << VerdictName(verdict) << " file, got\n"
                                         << Describe(report);
  }
  return ::testing::AssertionSuccess();
}

}  // namespace gauntlet::testing

#endif  // GAUNTLET_TESTS_SUPPORT_SCAN_ASSERTIONS_H_
