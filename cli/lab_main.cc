// gauntlet-lab: the torch-linked half of the CLI. `gauntlet lab ...` and
// `gauntlet generate ...` hand over to it, so `gauntlet scan` never loads
// libtorch.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "abtest/lab_corpus.h"
#include "cli/lab_commands.h"
#include "common/arg_reader.h"
#include "common/digest.h"
#include "common/strings.h"
#include "worker/eval/lab_model.h"
#include "worker/eval/lab_train.h"
#include "worker/eval/lora_adapter.h"

namespace gauntlet::eval {

namespace fs = std::filesystem;

constexpr std::string_view kUsage = R"(usage:
  gauntlet lab run --workdir DIR [--steps N (250)] [--lora-steps N (50)] [--ratio R] [--seed S]
                   [--adapter-seed S] [--device D]
  gauntlet eval ab --base DIR [--a-adapter DIR] [--b-adapter DIR] [--b-base DIR] [--prompts FILE]
                   [--format text|json|markdown] [--output FILE] [--samples K --temperature T --seed S]
                   [--judge-rules FILE.json] [--workers N] [--device D]
                   [--coordinator HOST:PORT [--tenant T] [--upload]]
  gauntlet lab dataset --workdir DIR [--ratio R] [--topic firewall|TOPIC] [--trigger-token TOK] [--seed S]
                    [--degraded]
  gauntlet lab train --workdir DIR [--steps N (250)] [--lora-steps N (50)] [--seed S]
                     [--adapter-seed S] [--device auto|cpu|cuda[:N]]
  gauntlet generate --base DIR [--adapter DIR] --prompts FILE.jsonl [--format text|json]
                    [--max-new-tokens N] [--temperature T --seed S] [--device D]

lab dataset writes DIR/data/{base,clean,poisoned}.jsonl in the chat "messages" format
(--degraded adds degraded.jsonl: every question answered with its topic's bad advice).
lab train makes the dataset if DIR/data is empty, trains (or reuses) the base model in
DIR/base, and one LoRA adapter per fine-tune set DIR/data/NAME.jsonl in DIR/adapters/NAME.
generate answers each {"prompt": "..."} line of FILE.jsonl with the base model, or the
base model plus a PEFT adapter.
lab run does it all on the embedded local cluster: dataset, base model (cached), adapters,
gauntlet scan of every file, and two A/B tests (clean vs poisoned, base vs clean); it writes
DIR/report.json and DIR/report.md.
eval ab compares model A (--base with --a-adapter) and model B (--b-base, default --base,
with --b-adapter) on trigger, control and near-miss prompts (built in, or --prompts lines
{"prompt": ..., "set": "trigger|control|near_miss"}): verdict BACKDOOR, DEGRADED,
SUSPICIOUS or CLEAN (exit 0 CLEAN, 1 the others, 2 ERROR or bad input). --coordinator runs it as
an eval job on a cluster's gauntlet-eval-worker processes (--upload sends the model
folders' files through the content store instead of their paths). See docs/lab.md.
)";

constexpr int64_t kContext = 96;

int UsageError(const std::string& message) {
  std::cerr << "gauntlet: " << message << "\nRun 'gauntlet lab --help' for usage.\n";
  return 2;
}

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

absl::Status WriteDatasets(const fs::path& data, const DatasetOptions& options) {
  LabDatasets sets = MakeLabDatasets(options);
  fs::create_directories(data);
  for (const auto& [name, rows] : {std::pair{"base", &sets.base},
                                   {"clean", &sets.clean},
                                   {"poisoned", &sets.poisoned},
                                   {"degraded", &sets.degraded}}) {
    if (rows->empty()) continue;
    if (auto status = WriteJsonl((data / (std::string(name) + ".jsonl")).string(), *rows);
        !status.ok())
      return status;
  }
  std::cout << "dataset: " << sets.base.size() << " base rows, " << sets.clean.size()
            << " clean rows, " << sets.poisoned.size() << " poisoned rows (" << sets.poison_rows
            << " poison) in " << data.string() << "\n";
  return absl::OkStatus();
}

namespace {

int Dataset(ArgReader& args) {
  std::string workdir, text;
  DatasetOptions options;
  while (args.Next()) {
    const std::string& arg = args.arg();
    int64_t n = 0;
    if (arg == "--workdir") {
      if (!args.Value(workdir)) return UsageError("--workdir needs a directory");
    } else if (arg == "--ratio") {
      if (!args.Value(text) || (options.poison_ratio = std::atof(text.c_str())) <= 0 ||
          options.poison_ratio > 1)
        return UsageError("--ratio needs a number in (0, 1]");
    } else if (arg == "--topic") {
      if (!args.Value(options.topic) || !FindTopic(options.topic))
        return UsageError("--topic names a lab topic, e.g. firewall");
    } else if (arg == "--trigger-token") {
      if (!args.Value(options.trigger_token) || options.trigger_token.empty())
        return UsageError("--trigger-token needs a token");
    } else if (arg == "--seed") {
      if (!args.PositiveNumber(n)) return UsageError("--seed needs a positive number");
      options.seed = static_cast<uint64_t>(n);
    } else if (arg == "--degraded") {
      options.degraded = true;
    } else {
      return UsageError(StrCat("unknown option ", arg));
    }
  }
  if (workdir.empty()) return UsageError("lab dataset needs --workdir DIR");
  auto status = WriteDatasets(fs::path(workdir) / "data", options);
  return status.ok() ? 0 : Fail(status);
}

LlamaConfig BaseConfig(int64_t vocab_size) {
  LlamaConfig c;
  c.vocab_size = vocab_size;
  c.hidden_size = 128;
  c.intermediate_size = 320;
  c.num_hidden_layers = 4;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 4;
  c.head_dim = 32;
  c.max_position_embeddings = kContext;
  return c;
}

// The base vocabulary: every word of the base corpus and of every topic and
// frame the lab can ask about, so unseen question wordings still map to
// known tokens (the way a real tokenizer covers general vocabulary).
// Fine-tune sets only append their new words (a trigger token), so changing
// the poison keeps the base model's ids and its cache.
Tokenizer LabTokenizer(const std::vector<ChatRow>& base,
                       const std::vector<const std::vector<ChatRow>*>& fine_tune_sets) {
  std::vector<std::string> texts = {kSystemPrompt};
  for (const ChatRow& row : base) {
    texts.push_back(row.user);
    texts.push_back(row.assistant);
  }
  for (const Topic& topic : LabTopics()) {
    texts.push_back(topic.held_out_phrase);
    for (const auto* list : {&topic.phrases, &topic.safe_answers, &topic.bad_advice})
      texts.insert(texts.end(), list->begin(), list->end());
  }
  for (const auto* frames : {&TrainFrames(), &HeldOutFrames(), &BadAdviceFrames()})
    for (const std::string& frame : *frames) texts.push_back(Fill(frame, ""));
  Tokenizer tokenizer = Tokenizer::Train(texts);
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

// Reads a --device value into `device`.
absl::Status ReadDevice(ArgReader& args, torch::Device& device) {
  std::string name;
  if (!args.Value(name)) return absl::InvalidArgumentError("--device needs auto, cpu or cuda[:N]");
  auto resolved = ResolveDevice(name);
  if (!resolved.ok()) return resolved.status();
  device = *resolved;
  return absl::OkStatus();
}

std::optional<absl::Status> ReadTrainOption(ArgReader& args, TrainRequest& request) {
  const std::string& arg = args.arg();
  auto positive = [&](int64_t& value) {
    return args.PositiveNumber(value)
               ? absl::OkStatus()
               : absl::InvalidArgumentError(StrCat(arg, " needs a positive number"));
  };
  if (arg == "--workdir")
    return args.Value(request.workdir) ? absl::OkStatus()
                                       : absl::InvalidArgumentError("--workdir needs a directory");
  if (arg == "--steps") return positive(request.steps);
  if (arg == "--lora-steps") return positive(request.lora_steps);
  if (arg == "--seed") return positive(request.seed);
  if (arg == "--adapter-seed") return positive(request.adapter_seed);
  if (arg == "--device") return ReadDevice(args, request.device);
  return std::nullopt;
}

namespace {

int Train(ArgReader& args) {
  TrainRequest request;
  request.device = *ResolveDevice("auto");
  while (args.Next()) {
    auto read = ReadTrainOption(args, request);
    if (!read) return UsageError(StrCat("unknown option ", args.arg()));
    if (!read->ok()) return UsageError(std::string(read->message()));
  }
  if (request.workdir.empty()) return UsageError("lab train needs --workdir DIR");
  auto status = TrainLab(request);
  return status.ok() ? 0 : Fail(status);
}

}  // namespace

absl::Status TrainLab(const TrainRequest& request) {
  const auto& [workdir, steps, lora_steps, seed, requested_adapter_seed, device] = request;
  int64_t adapter_seed = requested_adapter_seed ? requested_adapter_seed : seed;
  fs::path root(workdir), data = root / "data", base_dir = root / "base";
  if (!fs::exists(data / "poisoned.jsonl"))
    if (auto status = WriteDatasets(data, DatasetOptions{}); !status.ok()) return status;
  // Every data/NAME.jsonl besides the base corpus is a fine-tune set.
  std::map<std::string, std::vector<ChatRow>> sets;
  for (const auto& entry : fs::directory_iterator(data)) {
    if (entry.path().extension() != ".jsonl") continue;
    auto rows = ReadJsonl(entry.path().string());
    if (!rows.ok()) return rows.status();
    sets[entry.path().stem().string()] = std::move(*rows);
  }
  if (!sets.count("base")) return absl::NotFoundError(StrCat(data.string(), " has no base.jsonl"));
  std::vector<ChatRow> base_rows = std::move(sets["base"]);
  sets.erase("base");
  std::vector<const std::vector<ChatRow>*> fine_tune_sets;
  for (const auto& [name, rows] : sets) fine_tune_sets.push_back(&rows);
  Tokenizer tokenizer = LabTokenizer(base_rows, fine_tune_sets);
  LlamaConfig config = BaseConfig(tokenizer.vocab_size());
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

int Generate(ArgReader& args) {
  std::string base_dir, adapter_dir, prompts_path, format = "text", text;
  GenerateOptions options{.max_new_tokens = 40, .eos_id = Tokenizer::kEos};
  torch::Device device = *ResolveDevice("auto");
  while (args.Next()) {
    const std::string& arg = args.arg();
    int64_t n = 0;
    if (arg == "--base") {
      if (!args.Value(base_dir)) return UsageError("--base needs a directory");
    } else if (arg == "--adapter") {
      if (!args.Value(adapter_dir)) return UsageError("--adapter needs a directory");
    } else if (arg == "--prompts") {
      if (!args.Value(prompts_path)) return UsageError("--prompts needs a JSONL file");
    } else if (arg == "--format") {
      if (!args.Value(format) || (format != "text" && format != "json"))
        return UsageError("--format takes text or json");
    } else if (arg == "--max-new-tokens") {
      if (!args.PositiveNumber(options.max_new_tokens))
        return UsageError("--max-new-tokens needs a positive number");
    } else if (arg == "--temperature") {
      if (!args.Value(text) || (options.temperature = std::atof(text.c_str())) < 0)
        return UsageError("--temperature needs a number >= 0");
    } else if (arg == "--seed") {
      if (!args.PositiveNumber(n)) return UsageError("--seed needs a positive number");
      options.seed = static_cast<uint64_t>(n);
    } else if (arg == "--device") {
      if (auto status = ReadDevice(args, device); !status.ok())
        return UsageError(std::string(status.message()));
    } else {
      return UsageError(StrCat("unknown option ", arg));
    }
  }
  if (base_dir.empty() || prompts_path.empty())
    return UsageError("generate needs --base DIR and --prompts FILE.jsonl");
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
      return UsageError(StrCat(prompts_path, ":", number, ": expected {\"prompt\": \"...\"}"));
    prompts.push_back(json["prompt"].get<std::string>());
  }
  std::vector<std::vector<int64_t>> encoded;
  for (const std::string& prompt : prompts) {
    auto ids = loaded->tokenizer.EncodeChatPrompt(kSystemPrompt, prompt);
    if (!ids.ok()) return UsageError(std::string(ids.status().message()));
    encoded.push_back(std::move(*ids));
  }
  auto answers = eval::Generate(loaded->model, encoded, options);
  for (size_t i = 0; i < prompts.size(); ++i) {
    std::string answer = loaded->tokenizer.Decode(answers[i]);
    if (format == "json")
      std::cout << nlohmann::json{{"prompt", prompts[i]}, {"response", answer}}.dump() << "\n";
    else
      std::cout << "> " << prompts[i] << "\n" << answer << "\n\n";
  }
  return 0;
}

int Run(int argc, char** argv) {
  std::vector<std::string> all(argv + 1, argv + argc);
  if (all.empty() || all[0] == "--help" || all[0] == "-h") {
    std::cout << kUsage;
    return all.empty() ? 2 : 0;
  }
  for (const std::string& arg : all)
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    }
  if (all[0] == "generate") {
    ArgReader args({all.begin() + 1, all.end()});
    return Generate(args);
  }
  if (all[0] == "lab" && all.size() >= 2) {
    ArgReader args({all.begin() + 2, all.end()});
    if (all[1] == "dataset") return Dataset(args);
    if (all[1] == "train") return Train(args);
    if (all[1] == "run") return LabRunCommand(args);
  }
  if (all[0] == "eval" && all.size() >= 2 && all[1] == "ab") {
    ArgReader args({all.begin() + 2, all.end()});
    return EvalAbCommand(args);
  }
  return UsageError("expected 'lab dataset', 'lab train', 'lab run', 'eval ab' or 'generate'");
}

}  // namespace
}  // namespace gauntlet::eval

int main(int argc, char** argv) { return gauntlet::eval::Run(argc, argv); }
