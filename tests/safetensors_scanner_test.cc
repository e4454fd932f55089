// safetensors: a valid file is CLEAN with its metadata reported; every rule
// of the header format, broken one at a time, is an ERROR naming the rule.
#include <gtest/gtest.h>

#include <cstring>

#include "common/rules.h"
#include "tests/support/archive_builder.h"
#include "tests/support/scan_assertions.h"
#include "worker/scan/safetensors_header.h"

namespace gauntlet {
namespace {

using testing::BuildSafetensors;

const char* kValidHeader = R"({"__metadata__":{"format":"pt","source":"unit test"},)"
                           R"("b":{"dtype":"F16","shape":[2],"data_offsets":[24,28]},)"
                           R"("a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}})";

TEST(SafetensorsScanner, ValidFileIsCleanAndReportsMetadata) {
  auto report = testing::ScanFixture(BuildSafetensors(kValidHeader, 28), "model.safetensors");
  EXPECT_EQ(report.verdict, Verdict::kClean) << testing::Describe(report);
  EXPECT_EQ(report.format, "safetensors");
  auto has = [&](const std::string& key, const std::string& value) {
    for (const auto& [k, v] : report.metadata) {
      if (k == key && v == value) return true;
    }
    return false;
  };
  EXPECT_TRUE(has("__metadata__.source", "unit test"));
  EXPECT_TRUE(has("safetensors.tensors", "2"));
}

TEST(SafetensorsScanner, HeaderPaddedWithSpacesIsValid) {
  std::string header = std::string(kValidHeader) + "        ";
  EXPECT_EQ(testing::ScanFixture(BuildSafetensors(header, 28), "m.safetensors").verdict,
            Verdict::kClean);
}

TEST(SafetensorsScanner, EveryBrokenRuleIsAnErrorNamingIt) {
  struct Case {
    std::string header;
    size_t data;
    const char* why;
  } cases[] = {
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
       8, "appears twice"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}})",
       16, "(gap)"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
       8, "(overlap)"},
      {R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8, "need 12"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 12, "data section holds 12"},
      {R"({"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}})", 8, "unknown dtype"},
      {R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8, "negative"},
      {R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,8]}})",
       8, "overflows"},
      {R"({"__metadata__":{"k":1}})", 0, "is not a string"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"extra":1}})", 8, "exactly"},
      {R"({"a":)", 0, "not a JSON object"},
  };
  for (const Case& c : cases) {
    auto report = testing::ScanFixture(BuildSafetensors(c.header, c.data), "m.safetensors");
    EXPECT_TRUE(testing::HasFinding(report, rules::kSafetensorsInvalid, Severity::kMedium,
                                    Verdict::kError, c.why))
        << c.header;
  }
}

TEST(SafetensorsScanner, HeaderLengthIsBounded) {
  std::string huge(8, '\0');
  uint64_t n = 200000000;
  std::memcpy(huge.data(), &n, 8);
  huge += "{\"a\":1}";
  EXPECT_EQ(scan::ParseSafetensorsHeader(huge).status().code(), absl::StatusCode::kInvalidArgument);
  std::string past(8, '\0');
  n = 5000;
  std::memcpy(past.data(), &n, 8);
  past += "{\"__metadata__\":{}}";
  auto report = testing::ScanFixture(past, "m.safetensors");
  EXPECT_TRUE(testing::HasFinding(report, rules::kSafetensorsInvalid, Severity::kMedium,
                                  Verdict::kError, "runs past the end"));
}

}  // namespace
}  // namespace gauntlet
