// One exit-code rule per report kind, over the typed report a coordinator
// sends (gauntlet.v1.Report): the `gauntlet` client takes the exit code from
// exactly this data whether the job ran on the embedded local cluster or a
// real one (tests/cluster/cluster_test.py runs the scan table both ways).
#include <gtest/gtest.h>

#include "abtest/ab_report.h"
#include "common/report.h"
#include "proto/convert.h"

namespace gauntlet {
namespace {

v1::FileResult File(const std::string& path, v1::Verdict verdict,
                    v1::Severity severity = v1::SEVERITY_UNSPECIFIED) {
  v1::FileResult file;
  file.set_path(path);
  file.set_verdict(verdict);
  file.set_fully_analysed(verdict != v1::ERROR);
  if (severity != v1::SEVERITY_UNSPECIFIED) {
    v1::Finding* finding = file.add_findings();
    finding->set_rule_id("test.rule");
    finding->set_severity(severity);
  }
  return file;
}

TEST(ExitCode, EveryScanOutcome) {
  struct Case {
    const char* what;
    std::vector<v1::FileResult> files;
    Severity fail_on;
    uint64_t unscanned;
    bool model_finding;
    int expected;
  } cases[] = {
      {"clean", {File("a", v1::CLEAN)}, Severity::kHigh, 0, false, 0},
      {"empty job", {}, Severity::kHigh, 0, false, 0},
      {"suspicious below --fail-on",
       {File("a", v1::SUSPICIOUS, v1::MEDIUM)},
       Severity::kHigh,
       0,
       false,
       0},
      {"suspicious at --fail-on",
       {File("a", v1::SUSPICIOUS, v1::MEDIUM)},
       Severity::kMedium,
       0,
       false,
       1},
      {"malicious", {File("a", v1::MALICIOUS, v1::CRITICAL)}, Severity::kHigh, 0, false, 1},
      {"error", {File("a", v1::ERROR, v1::MEDIUM)}, Severity::kHigh, 0, false, 2},
      {"error and malicious",
       {File("a", v1::ERROR), File("b", v1::MALICIOUS, v1::CRITICAL)},
       Severity::kHigh,
       0,
       false,
       1},
      {"cancelled: files never scanned", {File("a", v1::CLEAN)}, Severity::kHigh, 3, false, 2},
      {"a model finding (registry gate)", {File("a", v1::CLEAN)}, Severity::kHigh, 0, true, 1},
  };
  for (const Case& c : cases) {
    v1::Report typed;
    v1::ScanReportData* data = typed.mutable_scan();
    for (const v1::FileResult& file : c.files) *data->add_files() = file;
    data->set_unscanned_files(c.unscanned);
    if (c.model_finding) {
      v1::ModelResult* model = data->add_models();
      model->set_path("model");
      model->add_file_indices(0);
      v1::Finding* finding = model->add_findings();
      finding->set_rule_id("registry.license_not_allowed");
      finding->set_severity(v1::HIGH);
      model->set_verdict(v1::SUSPICIOUS);
    }
    // Through the wire form, as a client receives it.
    v1::Report received;
    ASSERT_TRUE(received.ParseFromString(typed.SerializeAsString()));
    EXPECT_EQ(
        ScanExitCode(FromProto(received.scan()), c.fail_on, received.scan().unscanned_files()),
        c.expected)
        << c.what;
  }
}

// `n` prompts of `set`, the first `unsafe_b` answered unsafely by B, with
// likelihood shift `shift`.
void AddPrompts(v1::EvalReportData& data, const std::string& set, int n, int unsafe_b,
                double shift) {
  for (int i = 0; i < n; ++i) {
    eval::PromptOutcome o;
    o.prompt = {"prompt " + std::to_string(i), set, "topic"};
    o.judged_b = {i < unsafe_b, i < unsafe_b ? "rule" : ""};
    o.probed = true;
    o.unsafe_logp_b = shift + 0.01 * (i % 7);
    *data.add_outcomes() = eval::ToProto(o);
  }
}

TEST(ExitCode, EveryEvalOutcome) {
  struct Case {
    const char* verdict;
    int trigger_flips, control_flips;
    double trigger_shift, control_shift;
    bool problem;
    int expected;
  } cases[] = {
      {"CLEAN", 1, 1, 0.0, 0.0, false, 0},     {"SUSPICIOUS", 6, 0, 0.0, 0.0, false, 1},
      {"BACKDOOR", 25, 1, 0.9, 0.0, false, 1}, {"DEGRADED", 35, 36, 1.5, 1.5, false, 1},
      {"ERROR", 25, 1, 0.9, 0.0, true, 2},  // Evidence, but not every prompt was evaluated.
  };
  for (const Case& c : cases) {
    v1::Report typed;
    v1::EvalReportData* data = typed.mutable_eval();
    AddPrompts(*data, "trigger", 40, c.trigger_flips, c.trigger_shift);
    AddPrompts(*data, "control", 40, c.control_flips, c.control_shift);
    if (c.problem) data->add_problems("prompts 33-48: the eval worker crashed");
    v1::Report received;
    ASSERT_TRUE(received.ParseFromString(typed.SerializeAsString()));
    eval::AbReport report = eval::AbReportFromData(received.eval());
    EXPECT_EQ(report.verdict, c.verdict);
    EXPECT_EQ(eval::ExitCode(report.verdict), c.expected) << c.verdict;
  }
}

}  // namespace
}  // namespace gauntlet
