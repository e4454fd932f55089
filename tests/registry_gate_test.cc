// The registry gate and model grouping: licenses from cards and LICENSE
// texts, publishers from the Hugging Face cache layout, and each policy check
// switched on and off.
#include "coordinator/registry_gate.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/rules.h"
#include "coordinator/model_aggregator.h"
#include "coordinator/scan_paths.h"
#include "tests/support/archive_builder.h"
#include "tests/support/pickle_builder.h"
#include "worker/scan/file_scanner.h"
#include "worker/scan/model_card.h"

namespace gauntlet {
namespace {

namespace fs = std::filesystem;
using scan::LicenseFromLicenseText;
using scan::LicenseFromModelCard;

TEST(RegistryGate, LicenseFromModelCardFrontMatter) {
  EXPECT_EQ(LicenseFromModelCard("---\nlicense: apache-2.0\ntags: [x]\n---\n# Card"), "apache-2.0");
  EXPECT_EQ(LicenseFromModelCard("---\r\nlanguage: en\r\nlicense: \"mit\"\r\n---\r\n"), "mit");
  EXPECT_EQ(LicenseFromModelCard("---\nlicense:\n  - llama3\n---\n"), "llama3");
  EXPECT_EQ(LicenseFromModelCard("# Card\nlicense: mit\n"), "");  // Not front matter.
  EXPECT_EQ(LicenseFromModelCard("---\ntags: [a]\n---\nlicense: mit\n"), "");
}

TEST(RegistryGate, LicenseFromLicenseText) {
  EXPECT_EQ(LicenseFromLicenseText("                                 Apache License\n"
                                   "                           Version 2.0, January 2004\n"),
            "apache-2.0");
  EXPECT_EQ(LicenseFromLicenseText("MIT License\n\nCopyright (c) 2024"), "mit");
  EXPECT_EQ(LicenseFromLicenseText("// SPDX-License-Identifier: BSD-3-Clause\n"), "BSD-3-Clause");
  EXPECT_EQ(LicenseFromLicenseText("All rights reserved. Do not copy."), "");
}

TEST(RegistryGate, PublisherFromHuggingFaceCachePath) {
  EXPECT_EQ(PublisherFromPath("/hf/hub/models--meta-llama--Llama-3-8B/snapshots/abc/config.json"),
            "meta-llama");
  EXPECT_EQ(PublisherFromPath("/hf/hub/models--gpt2/snapshots/abc"), "");
  EXPECT_EQ(PublisherFromPath("/models/llama"), "");
}

class ModelGroupingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("gauntlet_models_" + std::to_string(getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  void Write(const fs::path& rel, const std::string& bytes) {
    fs::create_directories((root_ / rel).parent_path());
    std::ofstream(root_ / rel, std::ios::binary) << bytes;
  }
  ScanReport Scan(const Policy& policy, std::string_view publisher = {}) {
    auto files = ExpandScanPaths({root_.string()});
    EXPECT_TRUE(files.ok());
    ScanReport report;
    for (const std::string& file : *files) report.files.push_back(scan::ScanFile(file, policy));
    AggregateModels({root_.string()}, policy, publisher, report);
    return report;
  }
  const ModelReport* Model(const ScanReport& report, const fs::path& rel) {
    for (const ModelReport& m : report.models) {
      if (m.path == (root_ / rel).string()) return &m;
    }
    return nullptr;
  }
  static bool Has(const ModelReport& m, std::string_view rule) {
    for (const Finding& f : m.findings) {
      if (f.rule_id == rule) return true;
    }
    return false;
  }
  fs::path root_;
};

TEST_F(ModelGroupingTest, EachSnapshotIsOneModelWithTheWorstVerdictOfItsFiles) {
  Write("models--acme--good/snapshots/r1/config.json", "{}");
  Write("models--acme--good/snapshots/r1/weights/model.pt",
        testing::BuildZip({{"archive/data.pkl", testing::BenignPickle()}}));
  Write("models--acme--bad/snapshots/r2/config.json", "{}");
  Write("models--acme--bad/snapshots/r2/model.pt",
        testing::BuildZip({{"archive/data.pkl", testing::OsSystemPickle()}}));
  ScanReport report = Scan(Policy::Default());
  ASSERT_EQ(report.models.size(), 2u);
  const ModelReport* good = Model(report, "models--acme--good/snapshots/r1");
  const ModelReport* bad = Model(report, "models--acme--bad/snapshots/r2");
  ASSERT_TRUE(good && bad);
  EXPECT_EQ(good->verdict, Verdict::kClean);
  EXPECT_EQ(good->file_indices.size(), 2u);  // Nested weights/ belongs to the snapshot.
  EXPECT_EQ(good->publisher, "acme");
  EXPECT_EQ(bad->verdict, Verdict::kMalicious);
  EXPECT_TRUE(good->findings.empty());  // No registry checks switched on by default.
}

TEST_F(ModelGroupingTest, HuggingFaceCacheBlobsAreScannedOnceUnderTheirSnapshotName) {
  // The real cache layout: snapshot entries are symlinks to content blobs.
  Write("hub/models--acme--m/blobs/3f2a9c",
        testing::BuildZip({{"archive/data.pkl", testing::OsSystemPickle()}}));
  Write("hub/models--acme--m/blobs/77ab01", "{}");
  fs::create_directories(root_ / "hub/models--acme--m/snapshots/r1");
  fs::create_symlink("../../blobs/3f2a9c",
                     root_ / "hub/models--acme--m/snapshots/r1/pytorch_model.bin");
  fs::create_symlink("../../blobs/77ab01", root_ / "hub/models--acme--m/snapshots/r1/config.json");
  ScanReport report = Scan(Policy::Default());
  ASSERT_EQ(report.files.size(), 2u);
  for (const FileReport& f : report.files) {
    EXPECT_NE(f.path.find("/snapshots/r1/"), std::string::npos) << f.path;
  }
  ASSERT_EQ(report.models.size(), 1u);
  EXPECT_EQ(report.models[0].publisher, "acme");
  EXPECT_EQ(report.models[0].verdict, Verdict::kMalicious);
}

TEST_F(ModelGroupingTest, RegistryChecksAreSwitchedOnByThePolicy) {
  Write("m/README.md", "---\nlicense: cc-by-nc-4.0\n---\n");
  Write("m/model.pt", testing::BuildZip({{"archive/data.pkl", testing::BenignPickle()}}));
  auto policy = Policy::FromToml(
      "[registry]\napproved_formats = [\"safetensors\"]\nallowed_licenses = [\"Apache-2.0\"]\n"
      "allowed_publishers = [\"acme\"]\nviolation_severity = \"MEDIUM\"\n",
      "gate.toml");
  ASSERT_TRUE(policy.ok()) << policy.status();
  ScanReport report = Scan(*policy);
  const ModelReport* m = Model(report, "m");
  ASSERT_NE(m, nullptr);
  EXPECT_TRUE(Has(*m, rules::kUnapprovedFormat));
  EXPECT_TRUE(Has(*m, rules::kLicenseNotAllowed));
  EXPECT_TRUE(Has(*m, rules::kPublisherUnknown));
  EXPECT_EQ(m->verdict, Verdict::kSuspicious);
  for (const Finding& f : m->findings) EXPECT_EQ(f.severity, Severity::kMedium);

  ScanReport with_flag = Scan(*policy, "acme");
  EXPECT_FALSE(Has(*Model(with_flag, "m"), rules::kPublisherUnknown));
  EXPECT_FALSE(Has(*Model(with_flag, "m"), rules::kPublisherNotAllowed));
}

TEST_F(ModelGroupingTest, LicenseFileWhenTheCardHasNone) {
  Write("m/config.json", "{}");
  Write("m/LICENSE", "MIT License\n\nPermission is hereby granted, free of charge...");
  auto policy = Policy::FromToml("[registry]\nallowed_licenses = [\"mit\"]\n", "gate.toml");
  ASSERT_TRUE(policy.ok());
  ScanReport report = Scan(*policy);
  const ModelReport* m = Model(report, "m");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->license, "mit");
  EXPECT_TRUE(m->findings.empty());
}

TEST_F(ModelGroupingTest, TheLicenseComesFromTheScanNotFromTheDiskAtReportTime) {
  Write("org/m/README.md", "---\nlicense: apache-2.0\n---\n# Card");
  Write("org/m/LICENSE", "MIT License\n\nCopyright (c) 2024");
  Write("org/m/config.json", "{}");
  Policy policy = Policy::Default();
  auto files = ExpandScanPaths({root_.string()});
  ASSERT_TRUE(files.ok());
  ScanReport report;
  for (const std::string& file : *files) report.files.push_back(scan::ScanFile(file, policy));
  for (const FileReport& file : report.files) {
    if (file.path.ends_with("README.md")) {
      EXPECT_EQ(file.metadata, (std::vector<std::pair<std::string, std::string>>{
                                   {"license", "apache-2.0"}, {"license.source", "model card"}}));
    }
  }
  // The files are gone by report time (an upload, a deleted checkout): the
  // scan's facts still decide, the card before the LICENSE file.
  fs::remove_all(root_ / "org");
  AggregateModels({root_.string()}, policy, "", report);
  const ModelReport* model = Model(report, "org/m");
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(model->license, "apache-2.0");
}

}  // namespace
}  // namespace gauntlet
