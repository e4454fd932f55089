// GGUF: benign llama.cpp-style files are CLEAN; Jinja template injection is
// CRITICAL wherever a template hides; inconsistent counts and offsets are
// ERROR, never a pass.
#include "worker/scan/gguf_scanner.h"

#include <gtest/gtest.h>

#include "common/rules.h"
#include "tests/support/gguf_builder.h"
#include "tests/support/scan_assertions.h"
#include "worker/scan/scan_context.h"
#include "worker/scan/scanner_registry.h"

namespace gauntlet {
namespace {

using testing::GgufBuilder;
using testing::HasFinding;

// The shape of Llama 3's chat template: loops, role checks, string methods.
constexpr char kBenignTemplate[] =
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + "
    "message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}"
    "{% endif %}";

GgufBuilder BenignModel() {
  GgufBuilder b;
  b.String("general.architecture", "llama")
      .String("general.name", "tiny")
      .U32("general.alignment", 32)
      .String("tokenizer.chat_template", kBenignTemplate)
      .StringArray("tokenizer.ggml.tokens", {"<s>", "</s>", "hello"})
      .F32Tensor("token_embd.weight", 16, 0)
      .F32Tensor("output.weight", 8, 64);
  return b;
}

TEST(GgufScanner, BenignModelIsCleanWithMetadata) {
  auto report = testing::ScanFixture(BenignModel().Build(96), "model.gguf");
  EXPECT_EQ(report.verdict, Verdict::kClean) << testing::Describe(report);
  EXPECT_EQ(report.format, "gguf");
  bool arch = false;
  for (const auto& [k, v] : report.metadata)
    arch = arch || (k == "general.architecture" && v == "llama");
  EXPECT_TRUE(arch);
}

TEST(GgufScanner, ChatTemplateInjectionIsCritical) {
  const char* payloads[] = {
      "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
      "{% for c in ''.__class__.__mro__[1].__subclasses__() %}{% endfor %}",
      "{{ self._TemplateReference__context.joiner.__init__.__globals__ }}",
      "{{ request|attr('application') }}",
  };
  for (const char* payload : payloads) {
    auto file = GgufBuilder()
                    .String("general.architecture", "llama")
                    .String("tokenizer.chat_template", payload)
                    .Build(0);
    auto report = testing::ScanFixture(file, "model.gguf");
    EXPECT_TRUE(HasFinding(report, rules::kGgufTemplateInjection, Severity::kCritical,
                           Verdict::kMalicious, "tokenizer.chat_template"))
        << payload;
  }
}

TEST(GgufScanner, TemplateInAnyOtherMetadataIsCheckedToo) {
  auto file = GgufBuilder()
                  .String("tokenizer.chat_template.tool_use", "{{ ''.__class__.__base__ }}")
                  .String("general.description", "{{ lipsum.__globals__['os'].popen('id') }}")
                  .Build(0);
  auto report = testing::ScanFixture(file, "model.gguf");
  EXPECT_TRUE(HasFinding(report, rules::kGgufTemplateInjection, Severity::kCritical,
                         Verdict::kMalicious, "tool_use"));
  EXPECT_TRUE(HasFinding(report, rules::kGgufTemplateInjection, Severity::kCritical,
                         Verdict::kMalicious, "general.description"));
}

TEST(GgufScanner, ImpossibleCountsAreErrorsNotAllocations) {
  auto file = BenignModel().OverrideKvCount(uint64_t{1} << 60).Build(96);
  EXPECT_TRUE(HasFinding(testing::ScanFixture(file, "m.gguf"), rules::kGgufMalformed,
                         Severity::kMedium, Verdict::kError, "kv_count"));
}

TEST(GgufScanner, TensorOutsideTheDataSectionIsAnError) {
  auto file = BenignModel().F32Tensor("extra.weight", 1024, 128).Build(96);
  EXPECT_TRUE(HasFinding(testing::ScanFixture(file, "m.gguf"), rules::kGgufMalformed,
                         Severity::kMedium, Verdict::kError, "outside the data section"));
}

TEST(GgufScanner, MisalignedTensorIsAnError) {
  auto file = BenignModel().F32Tensor("odd.weight", 1, 4).Build(96);
  EXPECT_TRUE(HasFinding(testing::ScanFixture(file, "m.gguf"), rules::kGgufMalformed,
                         Severity::kMedium, Verdict::kError, "not aligned"));
}

TEST(GgufScanner, EveryTruncationIsAnError) {
  std::string file = BenignModel().Build(96);
  for (size_t cut = 4; cut < file.size(); cut += 3) {
    auto report = testing::ScanFixture(file.substr(0, cut), "m.gguf");
    EXPECT_EQ(report.verdict, Verdict::kError) << "cut at " << cut << testing::Describe(report);
  }
}

// Found by fuzz_gguf: the scanner read the version past the end of an input
// shorter than the magic (the scanner is chosen by the magic, but a caller
// may hand it anything). Replayed by the fuzz run from tests/fuzz/regressions.
TEST(GgufScanner, InputShorterThanTheMagicIsAnErrorNotAnOverflow) {
  for (std::string_view input :
       {std::string_view(), std::string_view("GG"), std::string_view("GGU")}) {
    scan::ScanContext ctx(Policy::Default(), scan::DefaultScanners(), "x.gguf");
    scan::GgufScanner().Scan(input, ctx);
    EXPECT_FALSE(ctx.fully_analysed());
  }
}

}  // namespace
}  // namespace gauntlet
