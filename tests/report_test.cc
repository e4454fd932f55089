// The report writers: the JSON and SARIF documents carry every fact, in the
// shape their consumers require.
#include "common/report.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "common/rules.h"

namespace gauntlet {
namespace {

ScanReport SampleReport() {
  ScanReport report;
  report.tool_version = "9.9.9";
  report.policy_source = "built-in";
  FileReport evil;
  evil.path = "models/evil.pt";
  evil.format = "pytorch-zip";
  evil.size_bytes = 425;
  evil.findings.push_back(
      Finding{"pickle.dangerous_global", Severity::kCritical, "GLOBAL imports os.system (called)",
              Location{"models/evil.pt", "archive/data.pkl", 13}, "os.system('id')"});
  evil.verdict = DeriveVerdict(evil.findings, true);
  FileReport broken;
  broken.path = "models/broken.pkl";
  broken.format = "pickle";
  broken.fully_analysed = false;
  broken.findings.push_back(Finding{"pickle.parse_error", Severity::kMedium, "truncated",
                                    Location{"models/broken.pkl", "", 7}, ""});
  broken.verdict = DeriveVerdict(broken.findings, false);
  FileReport clean;
  clean.path = "models/config.json";
  clean.format = "text";
  report.files = {evil, broken, clean};
  return report;
}

TEST(Verdict, DerivationRules) {
  Finding high{"r", Severity::kHigh, "", {}, ""};
  Finding medium{"r", Severity::kMedium, "", {}, ""};
  Finding low{"r", Severity::kLow, "", {}, ""};
  EXPECT_EQ(DeriveVerdict({}, true), Verdict::kClean);
  EXPECT_EQ(DeriveVerdict({low}, true), Verdict::kClean);
  EXPECT_EQ(DeriveVerdict({medium}, true), Verdict::kSuspicious);
  EXPECT_EQ(DeriveVerdict({high}, true), Verdict::kMalicious);
  EXPECT_EQ(DeriveVerdict({}, false), Verdict::kError);
  EXPECT_EQ(DeriveVerdict({medium}, false), Verdict::kError);
  EXPECT_EQ(DeriveVerdict({high}, false), Verdict::kMalicious);
}

TEST(JsonReport, CarriesEveryFinding) {
  std::ostringstream out;
  WriteJsonReport(SampleReport(), out);
  auto doc = nlohmann::json::parse(out.str());
  EXPECT_EQ(doc["summary"]["files"], 3);
  EXPECT_EQ(doc["summary"]["malicious"], 1);
  EXPECT_EQ(doc["summary"]["error"], 1);
  EXPECT_EQ(doc["summary"]["verdict"], "MALICIOUS");
  const auto& evil = doc["files"][0];
  EXPECT_EQ(evil["verdict"], "MALICIOUS");
  EXPECT_EQ(evil["max_severity"], "CRITICAL");
  const auto& f = evil["findings"][0];
  EXPECT_EQ(f["rule_id"], "pickle.dangerous_global");
  EXPECT_EQ(f["severity"], "CRITICAL");
  EXPECT_EQ(f["location"]["member"], "archive/data.pkl");
  EXPECT_EQ(f["location"]["offset"], 13);
  EXPECT_EQ(f["evidence"], "os.system('id')");
  EXPECT_EQ(doc["files"][1]["fully_analysed"], false);
  EXPECT_EQ(doc["files"][2]["max_severity"], nullptr);
}

TEST(SarifReport, HasTheStructureCodeScanningRequires) {
  std::ostringstream out;
  WriteSarifReport(SampleReport(), out);
  auto doc = nlohmann::json::parse(out.str());
  EXPECT_EQ(doc["version"], "2.1.0");
  EXPECT_TRUE(doc.contains("$schema"));
  const auto& run = doc["runs"][0];
  const auto& rules_json = run["tool"]["driver"]["rules"];
  EXPECT_EQ(run["tool"]["driver"]["name"], "gauntlet");
  EXPECT_EQ(rules_json.size(), AllRules().size());
  for (const auto& rule : rules_json) {
    for (const char* key : {"id", "shortDescription", "fullDescription", "help"}) {
      EXPECT_TRUE(rule.contains(key)) << rule["id"] << " lacks " << key;
    }
  }
  ASSERT_EQ(run["results"].size(), 2u);
  const auto& result = run["results"][0];
  EXPECT_EQ(result["ruleId"], "pickle.dangerous_global");
  EXPECT_EQ(rules_json[result["ruleIndex"].get<size_t>()]["id"], "pickle.dangerous_global");
  EXPECT_EQ(result["level"], "error");
  EXPECT_EQ(result["properties"]["security-severity"], "9.8");
  EXPECT_EQ(result["properties"]["byteOffset"], 13);
  EXPECT_EQ(result["properties"]["member"], "archive/data.pkl");
  const auto& region = result["locations"][0]["physicalLocation"]["region"];
  EXPECT_EQ(region["startLine"], 1);
  EXPECT_EQ(region["endColumn"], 1);
  EXPECT_EQ(result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            "models/evil.pt");
  EXPECT_FALSE(result["partialFingerprints"].empty());
  EXPECT_EQ(run["results"][1]["level"], "warning");
  EXPECT_EQ(run["invocations"][0]["executionSuccessful"], false);
}

TEST(TextReport, ShowsVerdictFindingAndEvidence) {
  std::ostringstream out;
  WriteTextReport(SampleReport(), out);
  std::string text = out.str();
  EXPECT_NE(text.find("MALICIOUS  models/evil.pt"), std::string::npos) << text;
  EXPECT_NE(text.find("CRITICAL pickle.dangerous_global"), std::string::npos) << text;
  EXPECT_NE(text.find("evidence: os.system('id')"), std::string::npos) << text;
  EXPECT_NE(text.find("Overall: MALICIOUS"), std::string::npos) << text;
}

TEST(TextReport, LargeRunsListOnlyFilesThatNeedAttention) {
  ScanReport report = SampleReport();
  for (int i = 0; i < 150; ++i) {
    FileReport clean;
    clean.path = "models/shard-" + std::to_string(i) + ".json";
    clean.format = "text";
    report.files.push_back(clean);
  }
  std::ostringstream out;
  WriteTextReport(report, out);
  EXPECT_NE(out.str().find("MALICIOUS  models/evil.pt"), std::string::npos);
  EXPECT_NE(out.str().find("ERROR      models/broken.pkl"), std::string::npos);
  EXPECT_EQ(out.str().find("shard-7.json"), std::string::npos);
  EXPECT_NE(out.str().find("(151 clean files not listed"), std::string::npos) << out.str();
}

TEST(SarifReport, FingerprintsAreStableAcrossRuns) {
  std::ostringstream a, b;
  WriteSarifReport(SampleReport(), a);
  WriteSarifReport(SampleReport(), b);
  auto fa = nlohmann::json::parse(a.str())["runs"][0]["results"][0]["partialFingerprints"];
  auto fb = nlohmann::json::parse(b.str())["runs"][0]["results"][0]["partialFingerprints"];
  EXPECT_EQ(fa, fb);
  EXPECT_EQ(fa["gauntletFinding/v1"].get<std::string>().size(), 16u);
}

}  // namespace
}  // namespace gauntlet
