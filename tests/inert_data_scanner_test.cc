// Data-only formats: msgpack is passed only when it parses end to end;
// images are recognised, but an image with a zip appended (a polyglot that
// zipfile-based loaders open) is still scanned as a zip.
#include <gtest/gtest.h>

#include "common/rules.h"
#include "tests/support/archive_builder.h"
#include "tests/support/pickle_builder.h"
#include "tests/support/scan_assertions.h"

namespace gauntlet {
namespace {

// {"params": {"w": <bin 4 bytes>, "n": 7}}
std::string Msgpack() {
  return std::string("\x81\xa6params\x82\xa1w\xc4\x04\x01\x02\x03\x04\xa1n\x07", 20);
}

TEST(InertDataScanner, MsgpackCheckpointIsCleanWhenItParsesWhole) {
  auto report = testing::ScanFixture(Msgpack(), "flax_model.msgpack");
  EXPECT_EQ(report.format, "msgpack");
  EXPECT_EQ(report.verdict, Verdict::kClean) << testing::Describe(report);
}

TEST(InertDataScanner, DamagedMsgpackIsAnError) {
  std::string data = Msgpack();
  for (size_t cut = 3; cut < data.size(); ++cut) {
    auto report = testing::ScanFixture(data.substr(0, cut), "flax_model.msgpack");
    EXPECT_EQ(report.verdict, Verdict::kError) << "cut at " << cut << testing::Describe(report);
  }
  auto trailing = testing::ScanFixture(Msgpack() + "junk", "flax_model.msgpack");
  EXPECT_EQ(trailing.verdict, Verdict::kError);
  // A map that claims a billion entries must not be believed.
  auto liar = testing::ScanFixture(std::string("\xdf\x40\x00\x00\x00\xa1k\x01", 8), "x.msgpack");
  EXPECT_EQ(liar.verdict, Verdict::kError);
}

TEST(InertDataScanner, ImageIsRecognisedButAZipPolyglotIsNot) {
  std::string png("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR", 16);
  png += std::string(64, '\x11');
  auto image = testing::ScanFixture(png, "logo.png");
  EXPECT_EQ(image.format, "image");
  EXPECT_EQ(image.verdict, Verdict::kClean);
  auto polyglot = testing::ScanFixture(
      png + testing::BuildZip({{"archive/data.pkl", testing::OsSystemPickle()}}), "logo.png");
  EXPECT_TRUE(testing::HasFinding(polyglot, rules::kDangerousGlobal, Severity::kCritical,
                                  Verdict::kMalicious, "os.system"));
  EXPECT_NE(testing::FindFinding(polyglot, rules::kZipPrefixedData), nullptr);
}

}  // namespace
}  // namespace gauntlet
