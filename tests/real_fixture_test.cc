// Files written by the real libraries (see fixtures/make_real_fixtures.py),
// checked against the generator's expected.json: every file's verdict, and
// for malicious files the rule and the evidence that must be reported. No
// benign file may carry a HIGH or CRITICAL finding.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/support/scan_assertions.h"
#include "worker/scan/file_scanner.h"

namespace gauntlet {
namespace {

std::filesystem::path g_fixtures;

nlohmann::json Expected() {
  std::ifstream in(g_fixtures / "expected.json");
  return nlohmann::json::parse(in);
}

TEST(RealFixtures, EveryFileGetsItsExpectedVerdictAndFinding) {
  nlohmann::json expected = Expected();
  ASSERT_GE(expected.size(), 40u);
  size_t benign = 0, malicious = 0;
  for (const auto& [path, want] : expected.items()) {
    SCOPED_TRACE(path);
    FileReport report = scan::ScanFile(path, Policy::Default());
    EXPECT_EQ(VerdictName(report.verdict), want["verdict"].get<std::string>())
        << testing::Describe(report);
    if (path.find("/benign/") != std::string::npos && want["rule"].is_null()) {
      ++benign;
      auto max = report.MaxSeverity();
      EXPECT_TRUE(!max || *max < Severity::kHigh) << testing::Describe(report);
    }
    if (want["rule"].is_string()) {
      malicious += want["verdict"] == "MALICIOUS";
      std::string evidence =
          want["evidence"].is_string() ? want["evidence"].get<std::string>() : "";
      EXPECT_NE(testing::FindFinding(report, want["rule"].get<std::string>(), evidence), nullptr)
          << testing::Describe(report);
    }
  }
  EXPECT_GE(benign, 24u);
  EXPECT_GE(malicious, 15u);
}

TEST(RealFixtures, EveryGeneratedFileIsInTheManifest) {
  nlohmann::json expected = Expected();
  for (const auto& entry : std::filesystem::recursive_directory_iterator(g_fixtures)) {
    if (entry.is_directory() || entry.path().filename() == "expected.json") continue;
    EXPECT_TRUE(expected.contains(entry.path().string())) << entry.path();
  }
}

TEST(RealFixtures, LayoutsAreRecognised) {
  auto format_of = [](const char* name) {
    return scan::ScanFile((g_fixtures / "benign" / name).string(), Policy::Default()).format;
  };
  EXPECT_EQ(format_of("state_dict.pt"), "pytorch-zip");
  EXPECT_EQ(format_of("legacy.pth"), "pytorch-legacy");
  EXPECT_EQ(format_of("scripted.pt"), "torchscript");
  EXPECT_EQ(format_of("arrays.joblib"), "joblib");
  EXPECT_EQ(format_of("arrays.npz"), "numpy-npz");
  EXPECT_EQ(format_of("array.npy"), "numpy");
  EXPECT_EQ(format_of("model.onnx"), "onnx");
}

}  // namespace
}  // namespace gauntlet

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (argc != 2) {
    std::fprintf(stderr, "usage: real_fixture_tests FIXTURE_DIR\n");
    return 2;
  }
  gauntlet::g_fixtures = argv[1];
  return RUN_ALL_TESTS();
}
