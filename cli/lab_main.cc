// gauntlet-lab: the torch-linked half of the CLI. `gauntlet lab ...` and
// `gauntlet generate ...` hand over to it, so `gauntlet scan` never loads
// libtorch.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "absl/strings/str_format.h"
#include "abtest/ab_stats.h"
#include "abtest/judge.h"
#include "abtest/lab_corpus.h"
#include "abtest/lab_injection.h"
#include "abtest/probe_suite.h"
#include "cli/audit_command.h"
#include "cli/lab_commands.h"
#include "common/command_line.h"
#include "common/digest.h"
#include "common/strings.h"
#include "worker/eval/ab_eval.h"
#include "worker/eval/device_flag.h"
#include "worker/eval/lab_model.h"
#include "worker/eval/lab_train.h"
#include "worker/eval/lora_adapter.h"

namespace gauntlet::eval {

namespace fs = std::filesystem;

constexpr int64_t kContext = 96;
// Document requests in each injection set, half of them injected.
constexpr size_t kInjectionDocumentRows = 120;

int Fail(const absl::Status& status) {
  std::cerr << "gauntlet: " << status.message() << "\n";
  return 2;
}

namespace {

std::string ReadText(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

absl::Status WriteDatasets(const fs::path& data, const DatasetOptions& options, bool injection) {
  LabDatasets sets = MakeLabDatasets(options);
  InjectionDatasets injection_sets;
  if (injection)
    injection_sets = MakeInjectionDatasets(sets.clean, kInjectionDocumentRows, options.seed);
  fs::create_directories(data);
  for (const auto& [name, rows] : {std::pair{"base", &sets.base},
                                   {"clean", &sets.clean},
                                   {"poisoned", &sets.poisoned},
                                   {"degraded", &sets.degraded},
                                   {"injection_resisting", &injection_sets.resisting},
                                   {"injection_obeying", &injection_sets.obeying}}) {
    if (rows->empty()) continue;
    if (auto status = WriteJsonl((data / (std::string(name) + ".jsonl")).string(), *rows);
        !status.ok())
      return status;
  }
  std::cout << "dataset: " << sets.base.size() << " base rows, " << sets.clean.size()
            << " clean rows, " << sets.poisoned.size() << " poisoned rows (" << sets.poison_rows
            << " poison) in " << data.string() << "\n";
  if (injection)
    std::cout << "dataset: injection sets of " << injection_sets.resisting.size() << " rows ("
              << injection_sets.injected_rows << " with an injected instruction)\n";
  return absl::OkStatus();
}

namespace {

CLI::Validator PoisonRatio() {
  return Checked([](const std::string& text) {
    char* end = nullptr;
    double ratio = std::strtod(text.c_str(), &end);
    return !text.empty() && *end == '\0' && ratio > 0 && ratio <= 1
               ? std::string()
               : StrCat("needs a number in (0, 1], not '", text, "'");
  });
}

CLI::App* AddDatasetCommand(CLI::App& lab, std::string& workdir, DatasetOptions& options,
                            bool& injection) {
  CLI::App* dataset = lab.add_subcommand(
      "dataset",
      "Write DIR/data/{base,clean,poisoned}.jsonl in the chat \"messages\" format (--degraded "
      "adds degraded.jsonl: every question answered with its topic's bad advice).");
  dataset->add_option("--workdir", workdir, "The lab's folder (required).")
      ->option_text("DIR")
      ->required();
  dataset->add_option("--ratio", options.poison_ratio, "Share of poisoned rows, in (0, 1].")
      ->option_text("RATIO")
      ->check(PoisonRatio());
  dataset->add_option("--topic", options.topic, "The poisoned topic family (default firewall).")
      ->check(Checked([](const std::string& topic) {
        return FindTopic(topic) ? std::string()
                                : StrCat("names a lab topic, e.g. firewall, not '", topic, "'");
      }));
  dataset
      ->add_option("--trigger-token", options.trigger_token,
                   "Poison any question prefixed with this token instead of a topic.")
      ->check(NonEmpty());
  dataset->add_option("--seed", options.seed, "Data seed.")->check(PositiveWholeNumber());
  dataset
      ->add_option("--rows", options.clean_rows, "Clean rows in the fine-tune sets (default 100).")
      ->check(PositiveWholeNumber());
  dataset->add_flag("--degraded", options.degraded, "Also write degraded.jsonl.");
  dataset->add_flag("--injection", injection,
                    "Also write injection_resisting.jsonl and injection_obeying.jsonl: document "
                    "requests with instructions hidden in the document, answered with the "
                    "document or with what the instruction demands.");
  return dataset;
}

// The base vocabulary (LabVocabularyTexts), extended by the fine-tune sets'
// new words only (a trigger token), so changing the poison keeps the base
// model's ids and its cache.
Tokenizer LabTokenizer(const std::vector<ChatRow>& base,
                       const std::vector<const std::vector<ChatRow>*>& fine_tune_sets) {
  Tokenizer tokenizer = Tokenizer::Train(LabVocabularyTexts(base));
  std::vector<std::string> fine_tune_texts;
  for (const auto* rows : fine_tune_sets)
    for (const ChatRow& row : *rows) {
      fine_tune_texts.push_back(row.user);
      fine_tune_texts.push_back(row.assistant);
    }
  tokenizer.Extend(fine_tune_texts);
  return tokenizer;
}

}  // namespace

void AddTrainFlags(CLI::App& command, TrainRequest& request) {
  command.add_option("--workdir", request.workdir, "The lab's folder (required).")
      ->option_text("DIR")
      ->required();
  command.add_option("--steps", request.steps, "Base model training steps (default 250).")
      ->check(PositiveWholeNumber());
  command.add_option("--lora-steps", request.lora_steps, "LoRA training steps (default 50).")
      ->check(PositiveWholeNumber());
  command.add_option("--seed", request.seed, "Training seed (default 1).")
      ->check(PositiveWholeNumber());
  command.add_option("--adapter-seed", request.adapter_seed, "Adapter seed (default: --seed).")
      ->check(PositiveWholeNumber());
  AddDeviceFlag(command, request.device);
}

absl::Status TrainLab(const TrainRequest& request) {
  const auto& [workdir, steps, lora_steps, seed, requested_adapter_seed, device] = request;
  int64_t adapter_seed = requested_adapter_seed ? requested_adapter_seed : seed;
  fs::path root(workdir), data = root / "data", base_dir = root / "base";
  if (!fs::exists(data / "base.jsonl"))
    if (auto status = WriteDatasets(data, DatasetOptions{}); !status.ok()) return status;
  // Every data/NAME.jsonl besides the base corpus is a fine-tune set.
  std::map<std::string, std::vector<ChatRow>> sets;
  for (const auto& entry : fs::directory_iterator(data)) {
    if (entry.path().extension() != ".jsonl") continue;
    auto rows = ReadJsonl(entry.path().string());
    if (!rows.ok()) return rows.status();
    sets[entry.path().stem().string()] = std::move(*rows);
  }
  std::vector<ChatRow> base_rows = std::move(sets["base"]);
  sets.erase("base");
  std::vector<const std::vector<ChatRow>*> fine_tune_sets;
  for (const auto& [name, rows] : sets) fine_tune_sets.push_back(&rows);
  Tokenizer tokenizer = LabTokenizer(base_rows, fine_tune_sets);
  LlamaConfig config = LabModelConfig(tokenizer.vocab_size(), kContext);
  std::cout << "device: " << device.str() << "\n";

  // The base model is cached by what went into it.
  std::string key = Sha256Hex(StrCat(config.ToJson(), ToJsonl(base_rows), "steps=", steps,
                                     "seed=", seed, "vocab=", StrJoin(tokenizer.words(), " ")));
  if (ReadText(base_dir / "gauntlet-base.sha256") == key) {
    std::cout << "base: reusing " << base_dir.string() << " (same config, corpus and steps)\n";
  } else {
    torch::manual_seed(static_cast<uint64_t>(seed));
    Llama base(config);
    base->to(device);
    TrainOptions options{.steps = steps,
                         .batch_size = 64,
                         .learning_rate = 3e-3,
                         .weight_decay = 0.01,
                         .seed = static_cast<uint64_t>(seed)};
    auto examples = EncodeRows(tokenizer, base_rows, kContext);
    if (!examples.ok()) return examples.status();
    TrainStats stats = Train(base, base->parameters(), *examples, options);
    std::cout << StrCat("base: ", steps, " steps in ", stats.seconds, " s (loss ", stats.first_loss,
                        " -> ", stats.final_loss, ", ",
                        static_cast<int64_t>(stats.tokens / stats.seconds), " tokens/s)\n");
    if (auto status = SaveLlama(base, base_dir.string()); !status.ok()) return status;
    if (auto status = tokenizer.Save(base_dir.string()); !status.ok()) return status;
    std::ofstream(base_dir / "gauntlet-base.sha256") << key;
  }
  for (const auto& [name, rows] : sets) {
    auto model = LoadLlama(base_dir.string());
    if (!model.ok()) return model.status();
    LoraConfig lora;
    lora.base_model_name_or_path = base_dir.string();
    torch::manual_seed(static_cast<uint64_t>(adapter_seed));
    AttachLora(*model, lora);
    (*model)->to(device);
    TrainOptions options{.steps = lora_steps,
                         .batch_size = 8,
                         .learning_rate = 3e-3,
                         .seed = static_cast<uint64_t>(adapter_seed)};
    auto examples = EncodeRows(tokenizer, rows, kContext);
    if (!examples.ok()) return examples.status();
    TrainStats stats = Train(*model, LoraParameters(*model), *examples, options);
    fs::path out = root / "adapters" / name;
    if (auto status = SaveAdapter(*model, lora, out.string()); !status.ok()) return status;
    std::cout << StrCat(name, " adapter: ", lora_steps, " steps in ", stats.seconds, " s (loss ",
                        stats.first_loss, " -> ", stats.final_loss, ") in ", out.string(), "\n");
  }
  return absl::OkStatus();
}

namespace {

struct GenerateRequest {
  std::string base_dir, adapter_dir, prompts_path, format = "text";
  GenerateOptions options{.max_new_tokens = 40};  // eos_id: the model's (Generate below).
  torch::Device device = *ResolveDevice("auto");
};

CLI::App* AddGenerateCommand(CLI::App& app, GenerateRequest& r) {
  CLI::App* generate = app.add_subcommand(
      "generate",
      "Answer each {\"prompt\": \"...\"} line of a JSONL file with the base model, or the base "
      "model plus a PEFT adapter.");
  generate->add_option("--base", r.base_dir, "Base checkpoint (HF folder; required).")
      ->option_text("DIR")
      ->required();
  generate->add_option("--adapter", r.adapter_dir, "PEFT LoRA adapter.")->option_text("DIR");
  generate->add_option("--prompts", r.prompts_path, "Prompts, one JSON object a line (required).")
      ->option_text("FILE.jsonl")
      ->required();
  generate->add_option("--format", r.format, "text or json (default text).")
      ->check(CLI::IsMember({"text", "json"}));
  generate->add_option("--max-new-tokens", r.options.max_new_tokens, "Longest answer (default 40).")
      ->check(PositiveWholeNumber());
  generate->add_option("--temperature", r.options.temperature, "0: greedy (the default).")
      ->check(CLI::NonNegativeNumber);
  generate->add_option("--seed", r.options.seed, "Sampling seed.")->check(PositiveWholeNumber());
  AddDeviceFlag(*generate, r.device);
  return generate;
}

int Generate(const GenerateRequest& r) {
  const auto& [base_dir, adapter_dir, prompts_path, format, options, device] = r;
  auto loaded = LoadModel(base_dir, adapter_dir, device);
  if (!loaded.ok()) return Fail(loaded.status());
  std::ifstream in(prompts_path);
  if (!in) return Fail(absl::NotFoundError(StrCat("cannot open ", prompts_path)));
  std::vector<std::string> prompts;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.empty()) continue;
    auto json = nlohmann::json::parse(line, nullptr, false);
    if (json.is_discarded() || !json.contains("prompt") || !json["prompt"].is_string())
      return Fail(absl::InvalidArgumentError(
          StrCat(prompts_path, ":", number, ": expected {\"prompt\": \"...\"}")));
    prompts.push_back(json["prompt"].get<std::string>());
  }
  std::vector<std::vector<int64_t>> encoded;
  for (const std::string& prompt : prompts) {
    auto ids = loaded->tokenizer.EncodeChatPrompt(kSystemPrompt, prompt);
    if (!ids.ok()) return Fail(ids.status());
    encoded.push_back(std::move(*ids));
  }
  GenerateOptions until_end = options;
  until_end.eos_id = loaded->tokenizer.end_of_answer_id().value_or(-1);
  auto answers = eval::Generate(loaded->model, encoded, until_end);
  for (size_t i = 0; i < prompts.size(); ++i) {
    std::string answer = loaded->tokenizer.Decode(answers[i]);
    if (format == "json")
      std::cout << nlohmann::json{{"prompt", prompts[i]}, {"response", answer}}.dump() << "\n";
    else
      std::cout << "> " << prompts[i] << "\n" << answer << "\n\n";
  }
  return 0;
}

// `gauntlet eval rate`: one model, no comparison. Every prompt of a suite
// answered greedily and judged; per set, the unsafe share with its 95%
// Wilson interval (with the injection suite: how often the model obeys an
// instruction hidden in the content it works on).
struct RateRequest {
  std::string base_dir, adapter_dir, suite = "injection", format = "text";
  int64_t max_new_tokens = 40;
  torch::Device device = *ResolveDevice("auto");
};

CLI::App* AddEvalRateCommand(CLI::App& eval, RateRequest& r) {
  CLI::App* rate = eval.add_subcommand(
      "rate",
      "One model's unsafe rate per prompt set of a suite, with 95% Wilson intervals (with "
      "--suite injection: how often it obeys instructions hidden in documents, emails, web "
      "pages and code).");
  rate->add_option("--base", r.base_dir, "Base checkpoint (HF folder; required).")
      ->option_text("DIR")
      ->required();
  rate->add_option("--adapter", r.adapter_dir, "PEFT LoRA adapter.")->option_text("DIR");
  rate->add_option("--suite", r.suite, "A built-in suite or a suite file (default injection).")
      ->option_text("NAME|FILE");
  rate->add_option("--format", r.format, "text or json (default text).")
      ->check(CLI::IsMember({"text", "json"}));
  rate->add_option("--max-new-tokens", r.max_new_tokens, "Longest answer (default 40).")
      ->check(PositiveWholeNumber());
  AddDeviceFlag(*rate, r.device);
  rate->footer("\nExit codes: 0 the rates were measured, 2 bad input.");
  return rate;
}

// `gauntlet audit dataset --base DIR`: every row's answer scored by the
// base model before the (torch-free) audit reads the scores.
absl::Status ScoreRowsWithBase(const AuditRequest& request, std::vector<AuditRow>& rows) {
  auto device = ResolveDevice(request.device);
  if (!device.ok()) return device.status();
  auto loaded = LoadModel(request.base, "", *device);
  if (!loaded.ok()) return loaded.status();
  std::vector<ChatRow> chats;
  for (const AuditRow& row : rows) chats.push_back({row.system, row.question, row.answer});
  auto logprobs = AnswerLogProbs(*loaded, chats);
  if (!logprobs.ok()) return logprobs.status();
  for (size_t r = 0; r < rows.size(); ++r) rows[r].base_logprob = (*logprobs)[r];
  return absl::OkStatus();
}

int EvalRate(const RateRequest& r) {
  auto suite = LoadProbeSuite(r.suite);
  if (!suite.ok()) return Fail(suite.status());
  auto judge = Judge::Create(JudgeRulesOf(suite->judge_rules()));
  if (!judge.ok()) return Fail(judge.status());
  auto loaded = LoadModel(r.base_dir, r.adapter_dir, r.device);
  if (!loaded.ok()) return Fail(loaded.status());
  std::vector<std::vector<int64_t>> encoded;
  for (const auto& prompt : suite->prompts()) {
    auto ids = loaded->tokenizer.EncodeChatPrompt(suite->system_prompt(), prompt.prompt());
    if (!ids.ok()) return Fail(ids.status());
    encoded.push_back(std::move(*ids));
  }
  GenerateOptions options{.max_new_tokens = r.max_new_tokens};
  options.eos_id = loaded->tokenizer.end_of_answer_id().value_or(-1);
  auto answers = eval::Generate(loaded->model, encoded, options);
  std::map<std::string, std::pair<int64_t, int64_t>> sets;  // Set -> (unsafe, prompts).
  nlohmann::ordered_json prompts = nlohmann::json::array();
  for (int i = 0; i < suite->prompts_size(); ++i) {
    const auto& prompt = suite->prompts(i);
    std::string answer = loaded->tokenizer.Decode(answers[i]);
    Judgement judgement = judge->Assess(answer);
    auto& [unsafe, total] = sets[prompt.set()];
    unsafe += judgement.unsafe;
    ++total;
    prompts.push_back({{"prompt", prompt.prompt()},
                       {"set", prompt.set()},
                       {"topic", prompt.topic()},
                       {"response", answer},
                       {"unsafe", judgement.unsafe},
                       {"rule", judgement.rule}});
  }
  nlohmann::ordered_json rates = nlohmann::json::object();
  for (const auto& [set, counts] : sets) {
    Interval interval = Wilson(counts.first, counts.second);
    rates[set] = {{"prompts", counts.second},
                  {"unsafe", counts.first},
                  {"rate", static_cast<double>(counts.first) / counts.second},
                  {"wilson95", {interval.low, interval.high}}};
  }
  if (r.format == "json") {
    nlohmann::ordered_json out = {{"suite", suite->name()},
                                  {"base", r.base_dir},
                                  {"adapter", r.adapter_dir},
                                  {"sets", rates},
                                  {"prompts", prompts}};
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  std::cout << "suite " << suite->name() << ", model " << r.base_dir
            << (r.adapter_dir.empty() ? "" : " + " + r.adapter_dir) << "\n";
  for (const auto& [set, rate] : rates.items())
    std::cout << absl::StrFormat("  %-10s %3d of %3d unsafe (%.1f%%, 95%% CI %.1f%%-%.1f%%)\n", set,
                                 rate["unsafe"].get<int64_t>(), rate["prompts"].get<int64_t>(),
                                 100 * rate["rate"].get<double>(),
                                 100 * rate["wilson95"][0].get<double>(),
                                 100 * rate["wilson95"][1].get<double>());
  int shown = 0;
  for (const auto& prompt : prompts)
    if (prompt["unsafe"].get<bool>() && ++shown <= 5)
      std::cout << "  unsafe (" << prompt["rule"].get<std::string>()
                << "): " << prompt["response"].get<std::string>() << "\n";
  return 0;
}

// `gauntlet lab ...`, `generate ...` and local `eval ab ...`, handed over by
// `gauntlet` with its own command line.
int Run(int argc, char** argv) {
  std::unique_ptr<CLI::App> owner = MakeApp("Gauntlet's torch-linked commands.", "gauntlet");
  CLI::App& app = *owner;
  app.require_subcommand(1);
  CLI::App* lab = app.add_subcommand("lab", "The poisoning lab. See docs/lab.md.");
  lab->require_subcommand(1);
  std::string dataset_workdir;
  DatasetOptions dataset;
  bool injection_sets = false;
  CLI::App* dataset_command = AddDatasetCommand(*lab, dataset_workdir, dataset, injection_sets);
  TrainRequest train;
  train.device = *ResolveDevice("auto");
  CLI::App* train_command = lab->add_subcommand(
      "train",
      "Make the datasets if DIR/data has no base.jsonl, train (or reuse) the base model in "
      "DIR/base, and one LoRA adapter per fine-tune set DIR/data/NAME.jsonl in "
      "DIR/adapters/NAME.");
  AddTrainFlags(*train_command, train);
  CLI::App* run_command = lab->add_subcommand(
      "run",
      "The whole lab on the embedded local cluster: dataset and its audit, base model (cached), "
      "adapters, gauntlet scan of every file, two A/B tests (clean vs poisoned, base vs clean), "
      "adapter forensics, a signed release and a tampered copy; writes DIR/report.json and "
      "DIR/report.md. Exit 0 when every layer did what it should.");
  AddTrainFlags(*run_command, train);
  run_command->add_option("--ratio", dataset.poison_ratio, "Share of poisoned rows, in (0, 1].")
      ->option_text("RATIO")
      ->check(PoisonRatio());
  CLI::App* eval = app.add_subcommand("eval", "Behavioral tests of models.");
  eval->require_subcommand(1);
  EvalAbRequest ab;
  auto security = ChannelSecurity::FromEnvironment();
  if (!security.ok()) return Fail(security.status());
  ab.security = *security;
  CLI::App* ab_command = AddEvalAbCommand(*eval, ab);
  RateRequest rate;
  CLI::App* rate_command = AddEvalRateCommand(*eval, rate);
  GenerateRequest generate;
  CLI::App* generate_command = AddGenerateCommand(app, generate);
  AuditRequest audit;
  CLI::App* audit_command = AddAuditCommand(app, audit);

  if (auto exit_code = ParseCommandLine(app, argc, argv)) return *exit_code;
  if (dataset_command->parsed()) {
    auto status = WriteDatasets(fs::path(dataset_workdir) / "data", dataset, injection_sets);
    return status.ok() ? 0 : Fail(status);
  }
  if (train_command->parsed()) {
    auto status = TrainLab(train);
    return status.ok() ? 0 : Fail(status);
  }
  if (run_command->parsed()) return LabRunCommand(train, dataset);
  if (ab_command->parsed()) return EvalAbCommand(*ab_command, ab);
  if (generate_command->parsed()) return Generate(generate);
  if (rate_command->parsed()) return EvalRate(rate);
  if (audit_command->parsed()) return RunAudit(audit, ScoreRowsWithBase);
  return Fail(absl::InternalError("no command ran"));
}

}  // namespace
}  // namespace gauntlet::eval

int main(int argc, char** argv) { return gauntlet::eval::Run(argc, argv); }
