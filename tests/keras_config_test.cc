// Keras configs as JSON: Lambda bytecode names, CVE-2025-1550 function
// references, custom objects, TFOpLambda, in Keras 2 and Keras 3 shapes and
// in nested sub-models. Real h5py-written files are in the real fixtures.
#include "worker/scan/keras_config.h"

#include <gtest/gtest.h>

#include "absl/strings/escaping.h"
#include "common/rules.h"
#include "tests/support/archive_builder.h"
#include "tests/support/pickle_builder.h"
#include "tests/support/scan_assertions.h"

namespace gauntlet {
namespace {

using testing::HasFinding;

// Marshal string records as CPython writes them: 'Z'|0x80 short ASCII
// (interned names), 'z' short ASCII, 'u' with a 4-byte length.
std::string MarshalWithNames(std::initializer_list<std::string_view> names) {
  std::string out("\xe3\x01\x00\x00\x00", 5);  // A code object header, enough for the walk.
  for (std::string_view name : names) {
    out.push_back(static_cast<char>(0xda));
    out.push_back(static_cast<char>(name.size()));
    out += name;
  }
  return out;
}

std::string Base64(const std::string& bytes) {
  std::string out;
  absl::Base64Escape(bytes, &out);
  return out;
}

std::string KerasZip(const std::string& config) {
  return testing::BuildZip(
      {{"metadata.json", R"({"keras_version":"3.3.3"})"}, {"config.json", config}});
}

TEST(KerasConfig, MarshalledNamesAreRead) {
  auto names = scan::MarshalledNames(MarshalWithNames({"os", "system", "x"}));
  EXPECT_EQ(names, (std::vector<std::string>{"os", "system", "x"}));
  std::string long_record("u\x07\x00\x00\x00getattr", 12);
  EXPECT_EQ(scan::MarshalledNames(long_record), std::vector<std::string>{"getattr"});
}

TEST(KerasConfig, Keras2LambdaUsingOsIsCritical) {
  std::string code = Base64(MarshalWithNames({"os", "system", "x"}));
  // Keras 2 breaks base64 into 76-character lines (a JSON-escaped newline).
  code.insert(10, "\\n");
  std::string config = R"({"class_name":"Sequential","config":{"layers":[{"class_name":"Lambda",)"
                       R"("config":{"function":[")" +
                       code + R"(",null,null],"function_type":"lambda"}}]}})";
  auto report = testing::ScanFixture(KerasZip(config), "model.keras");
  EXPECT_TRUE(HasFinding(report, rules::kKerasLambda, Severity::kCritical, Verdict::kMalicious,
                         "os, system"));
}

TEST(KerasConfig, ArithmeticLambdaIsReviewable) {
  std::string config = R"({"class_name":"Lambda","config":{"function":{"class_name":"__lambda__",)"
                       R"("config":{"code":")" +
                       Base64(MarshalWithNames({"x"})) + R"("}}}})";
  auto report = testing::ScanFixture(KerasZip(config), "model.keras");
  EXPECT_TRUE(HasFinding(report, rules::kKerasLambda, Severity::kMedium, Verdict::kSuspicious));
}

TEST(KerasConfig, FunctionReferenceToOsSystemInANestedModel) {
  std::string config =
      R"({"module":"keras","class_name":"Functional","config":{"layers":[{"module":"keras",)"
      R"("class_name":"Functional","config":{"layers":[{"module":"keras.layers","class_name":"Dense",)"
      R"("config":{"activation":{"module":"os","class_name":"function","config":"system"}}}]}}]}})";
  auto report = testing::ScanFixture(KerasZip(config), "model.keras");
  EXPECT_TRUE(HasFinding(report, rules::kKerasDangerousCallable, Severity::kCritical,
                         Verdict::kMalicious, "os.system"));
}

TEST(KerasConfig, CustomObjectsAndTfOpLambda) {
  std::string config = R"({"module":"keras","class_name":"Sequential","config":{"layers":[)"
                       R"({"module":"acme.layers","class_name":"Attention","config":{}},)"
                       R"({"class_name":"TFOpLambda","config":{"function":"io.write_file"}}]}})";
  auto report = testing::ScanFixture(KerasZip(config), "model.keras");
  EXPECT_TRUE(HasFinding(report, rules::kKerasTfOpLambda, Severity::kHigh, Verdict::kMalicious,
                         "io.write_file"));
  EXPECT_NE(testing::FindFinding(report, rules::kKerasCustomObject, "acme.layers.Attention"),
            nullptr);
}

std::string Layer(const std::string& class_name, const std::string& config) {
  return R"({"module":"keras","class_name":"Sequential","config":{"layers":[{"module":"keras.layers",)"
         R"("class_name":")" +
         class_name + R"(","config":)" + config + "}]}}";
}

TEST(KerasConfig, TorchModuleWrapperBytesAreScannedAsTheTorchFileTheyAre) {
  // Keras 3 stores the wrapped module as base64 of torch.save() and restores
  // it with torch.load(weights_only=False).
  std::string evil = testing::BuildZip(
      {{"module/data.pkl", testing::OsSystemPickle("id")}, {"module/version", "3\n"}});
  auto report = testing::ScanFixture(
      KerasZip(Layer("TorchModuleWrapper", R"({"module":")" + Base64(evil) + R"("})")),
      "model.keras");
  EXPECT_TRUE(HasFinding(report, rules::kDangerousGlobal, Severity::kCritical, Verdict::kMalicious,
                         "os.system"));
  const Finding* f = testing::FindFinding(report, rules::kDangerousGlobal, "os.system");
  EXPECT_NE(f->location.member.find("TorchModuleWrapper"), std::string::npos) << f->location.member;

  std::string benign =
      testing::BuildZip({{"module/data.pkl", testing::BenignPickle()}, {"module/version", "3\n"}});
  auto clean = testing::ScanFixture(
      KerasZip(Layer("TorchModuleWrapper", R"({"module":")" + Base64(benign) + R"("})")),
      "model.keras");
  EXPECT_EQ(clean.verdict, Verdict::kClean) << testing::Describe(clean);
}

TEST(KerasConfig, LayersThatLoadFilesAtLoadTime) {
  auto savedmodel = testing::ScanFixture(
      KerasZip(Layer("TFSMLayer", R"({"filepath":"/tmp/other_model","call_endpoint":"serve"})")),
      "model.keras");
  EXPECT_TRUE(HasFinding(savedmodel, rules::kKerasExternalLoad, Severity::kHigh,
                         Verdict::kMalicious, "/tmp/other_model"));
  auto remote = testing::ScanFixture(
      KerasZip(Layer("StringLookup", R"({"vocabulary":"gs://bucket/vocab.txt"})")), "model.keras");
  EXPECT_TRUE(HasFinding(remote, rules::kKerasExternalLoad, Severity::kHigh, Verdict::kMalicious,
                         "gs://bucket"));
  auto local = testing::ScanFixture(
      KerasZip(Layer("StringLookup", R"({"vocabulary":"vocab.txt"})")), "model.keras");
  EXPECT_TRUE(HasFinding(local, rules::kKerasExternalLoad, Severity::kMedium, Verdict::kSuspicious,
                         "vocab.txt"));
  auto inline_vocabulary = testing::ScanFixture(
      KerasZip(Layer("StringLookup", R"({"vocabulary":["a","b"]})")), "model.keras");
  EXPECT_EQ(inline_vocabulary.verdict, Verdict::kClean) << testing::Describe(inline_vocabulary);
}

TEST(KerasConfig, KerasUtilitiesUsedAsGadgetsAreCritical) {
  // Safe mode only allows Keras's own modules, so published bypasses used
  // Keras functions that fetch files, load models or turn safe mode off.
  for (auto [module, name] :
       {std::pair{"keras.src.utils.file_utils", "get_file"}, std::pair{"keras.utils", "get_file"},
        std::pair{"keras.config", "enable_unsafe_deserialization"},
        std::pair{"keras.src.saving.saving_api", "load_model"},
        std::pair{"keras.models", "model_from_json"}}) {
    SCOPED_TRACE(name);
    std::string activation = std::string(R"({"module":")") + module +
                             R"(","class_name":"function","config":")" + name +
                             R"(","registered_name":")" + name + R"("})";
    auto report = testing::ScanFixture(
        KerasZip(Layer("Dense", R"({"units":2,"activation":)" + activation + "}")), "model.keras");
    EXPECT_TRUE(HasFinding(report, rules::kKerasDangerousCallable, Severity::kCritical,
                           Verdict::kMalicious, name));
  }
}

TEST(KerasConfig, BrokenConfigIsAnError) {
  auto report = testing::ScanFixture(KerasZip("{\"class_name\": "), "model.keras");
  EXPECT_TRUE(HasFinding(report, rules::kKerasMalformed, Severity::kMedium, Verdict::kError));
}

}  // namespace
}  // namespace gauntlet
