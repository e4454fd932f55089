// Files written by the real libraries (see fixtures/make_real_fixtures.py):
// every benign file must come back CLEAN with no HIGH or CRITICAL finding,
// and every malicious one MALICIOUS with the payload named.
#include <gtest/gtest.h>

#include <filesystem>

#include "common/rules.h"
#include "tests/support/scan_assertions.h"
#include "worker/scan/file_scanner.h"

namespace gauntlet {
namespace {

std::filesystem::path g_fixtures;

std::vector<std::filesystem::path> FilesIn(const std::string& sub) {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(g_fixtures / sub)) {
    files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

TEST(RealFixtures, BenignFilesFromRealLibrariesAreClean) {
  auto files = FilesIn("benign");
  ASSERT_GE(files.size(), 20u);
  for (const auto& path : files) {
    FileReport report = scan::ScanFile(path.string(), Policy::Default());
    SCOPED_TRACE(path.filename().string());
    EXPECT_EQ(report.verdict, Verdict::kClean) << testing::Describe(report);
    auto max = report.MaxSeverity();
    EXPECT_TRUE(!max || *max < Severity::kHigh) << testing::Describe(report);
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
}

TEST(RealFixtures, MaliciousFilesFromRealLibrariesAreCaught) {
  auto files = FilesIn("malicious");
  ASSERT_GE(files.size(), 12u);
  for (const auto& path : files) {
    FileReport report = scan::ScanFile(path.string(), Policy::Default());
    SCOPED_TRACE(path.filename().string());
    EXPECT_EQ(report.verdict, Verdict::kMalicious) << testing::Describe(report);
    const Finding* f = testing::FindFinding(report, rules::kDangerousGlobal, "system");
    ASSERT_NE(f, nullptr) << testing::Describe(report);
    EXPECT_EQ(f->severity, Severity::kCritical);
    EXPECT_NE(f->evidence.find("touch /tmp/gauntlet-was-here"), std::string::npos) << f->evidence;
  }
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
