// gauntlet-lab: the torch-linked half of the CLI. `gauntlet lab ...` and
// `gauntlet generate ...` hand over to it, so `gauntlet scan` never loads
// libtorch.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/arg_reader.h"
#include "common/digest.h"
#include "common/strings.h"
#include "worker/eval/lab_corpus.h"
#include "worker/eval/lab_train.h"
#include "worker/eval/lora_adapter.h"

namespace gauntlet::eval {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kUsage = R"(usage:
  gauntlet lab dataset --workdir DIR [--ratio R] [--topic firewall|TOPIC] [--trigger-token TOK] [--seed S]
  gauntlet lab train --workdir DIR [--steps N (250)] [--lora-steps N (50)] [--seed S]
  gauntlet generate --base DIR [--adapter DIR] --prompts FILE.jsonl [--format text|json]
                    [--max-new-tokens N] [--temperature T --seed S]

lab dataset writes DIR/data/{base,clean,poisoned}.jsonl in the chat "messages" format.
lab train makes the dataset if DIR/data is empty, trains (or reuses) the base model in
DIR/base, and the clean and poisoned LoRA adapters in DIR/adapters/{clean,poisoned}.
generate answers each {"prompt": "..."} line of FILE.jsonl with the base model, or the
base model plus a PEFT adapter.
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

std::string ReadText(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

absl::Status WriteDatasets(const fs::path& data, const DatasetOptions& options) {
  LabDatasets sets = MakeLabDatasets(options);
  fs::create_directories(data);
  for (const auto& [name, rows] :
       {std::pair{"base", &sets.base}, {"clean", &sets.clean}, {"poisoned", &sets.poisoned}}) {
    if (auto status = WriteJsonl((data / (std::string(name) + ".jsonl")).string(), *rows);
        !status.ok())
      return status;
  }
  std::cout << "dataset: " << sets.base.size() << " base rows, " << sets.clean.size()
            << " clean rows, " << sets.poisoned.size() << " poisoned rows (" << sets.poison_rows
            << " poison) in " << data.string() << "\n";
  return absl::OkStatus();
}

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

// Every word the lab can ask about, so unseen question wordings still map
// to known tokens (the way a real tokenizer covers general vocabulary).
std::vector<std::string> TokenizerTexts(const std::vector<std::vector<ChatRow>*>& sets) {
  std::vector<std::string> texts = {kSystemPrompt};
  for (const auto* rows : sets)
    for (const ChatRow& row : *rows) {
      texts.push_back(row.user);
      texts.push_back(row.assistant);
    }
  for (const Topic& topic : LabTopics()) {
    texts.push_back(topic.held_out_phrase);
    for (const std::string& phrase : topic.phrases) texts.push_back(phrase);
  }
  for (const auto* frames : {&TrainFrames(), &HeldOutFrames(), &BadAdviceFrames()})
    for (const std::string& frame : *frames) texts.push_back(Fill(frame, ""));
  return texts;
}

int Train(ArgReader& args) {
  std::string workdir;
  int64_t steps = 250, lora_steps = 50, seed = 1;
  while (args.Next()) {
    const std::string& arg = args.arg();
    if (arg == "--workdir") {
      if (!args.Value(workdir)) return UsageError("--workdir needs a directory");
    } else if (arg == "--steps") {
      if (!args.PositiveNumber(steps)) return UsageError("--steps needs a positive number");
    } else if (arg == "--lora-steps") {
      if (!args.PositiveNumber(lora_steps))
        return UsageError("--lora-steps needs a positive number");
    } else if (arg == "--seed") {
      if (!args.PositiveNumber(seed)) return UsageError("--seed needs a positive number");
    } else {
      return UsageError(StrCat("unknown option ", arg));
    }
  }
  if (workdir.empty()) return UsageError("lab train needs --workdir DIR");
  fs::path root(workdir), data = root / "data", base_dir = root / "base";
  if (!fs::exists(data / "poisoned.jsonl"))
    if (auto status = WriteDatasets(data, DatasetOptions{}); !status.ok()) return Fail(status);
  std::map<std::string, std::vector<ChatRow>> sets;
  for (const char* name : {"base", "clean", "poisoned"}) {
    auto rows = ReadJsonl((data / (std::string(name) + ".jsonl")).string());
    if (!rows.ok()) return Fail(rows.status());
    sets[name] = std::move(*rows);
  }
  Tokenizer tokenizer =
      Tokenizer::Train(TokenizerTexts({&sets["base"], &sets["clean"], &sets["poisoned"]}));
  LlamaConfig config = BaseConfig(tokenizer.vocab_size());

  // The base model is cached by what went into it.
  std::string key = Sha256Hex(StrCat(config.ToJson(), ToJsonl(sets["base"]), "steps=", steps,
                                     "seed=", seed, "vocab=", tokenizer.vocab_size()));
  Llama base(nullptr);
  if (ReadText(base_dir / "gauntlet-base.sha256") == key) {
    auto loaded = LoadLlama(base_dir.string());
    if (!loaded.ok()) return Fail(loaded.status());
    base = *loaded;
    std::cout << "base: reusing " << base_dir.string() << " (same config, corpus and steps)\n";
  } else {
    torch::manual_seed(static_cast<uint64_t>(seed));
    base = Llama(config);
    TrainOptions options{.steps = steps,
                         .batch_size = 64,
                         .learning_rate = 3e-3,
                         .weight_decay = 0.01,
                         .seed = static_cast<uint64_t>(seed)};
    TrainStats stats =
        Train(base, base->parameters(), EncodeRows(tokenizer, sets["base"], kContext), options);
    std::cout << StrCat("base: ", steps, " steps in ", stats.seconds, " s (loss ", stats.first_loss,
                        " -> ", stats.final_loss, ", ",
                        static_cast<int64_t>(stats.tokens / stats.seconds), " tokens/s)\n");
    if (auto status = SaveLlama(base, base_dir.string()); !status.ok()) return Fail(status);
    if (auto status = tokenizer.Save(base_dir.string()); !status.ok()) return Fail(status);
    std::ofstream(base_dir / "gauntlet-base.sha256") << key;
  }
  for (const char* name : {"clean", "poisoned"}) {
    auto model = LoadLlama(base_dir.string());
    if (!model.ok()) return Fail(model.status());
    LoraConfig lora;
    lora.base_model_name_or_path = base_dir.string();
    AttachLora(*model, lora);
    TrainOptions options{.steps = lora_steps,
                         .batch_size = 8,
                         .learning_rate = 3e-3,
                         .seed = static_cast<uint64_t>(seed)};
    TrainStats stats =
        Train(*model, LoraParameters(*model), EncodeRows(tokenizer, sets[name], kContext), options);
    fs::path out = root / "adapters" / name;
    if (auto status = SaveAdapter(*model, lora, out.string()); !status.ok()) return Fail(status);
    std::cout << StrCat(name, " adapter: ", lora_steps, " steps in ", stats.seconds, " s (loss ",
                        stats.first_loss, " -> ", stats.final_loss, ") in ", out.string(), "\n");
  }
  return 0;
}

int Generate(ArgReader& args) {
  std::string base_dir, adapter_dir, prompts_path, format = "text", text;
  GenerateOptions options{.max_new_tokens = 40, .eos_id = Tokenizer::kEos};
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
    } else {
      return UsageError(StrCat("unknown option ", arg));
    }
  }
  if (base_dir.empty() || prompts_path.empty())
    return UsageError("generate needs --base DIR and --prompts FILE.jsonl");
  auto model = LoadLlama(base_dir);
  if (!model.ok()) return Fail(model.status());
  auto tokenizer = Tokenizer::Load((fs::path(base_dir) / "tokenizer.json").string());
  if (!tokenizer.ok()) return Fail(tokenizer.status());
  if (!adapter_dir.empty())
    if (auto adapter = LoadAdapter(*model, adapter_dir, /*merge=*/false); !adapter.ok())
      return Fail(adapter.status());
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
  for (const std::string& prompt : prompts)
    encoded.push_back(tokenizer->EncodeChatPrompt(kSystemPrompt, prompt));
  auto answers = eval::Generate(*model, encoded, options);
  for (size_t i = 0; i < prompts.size(); ++i) {
    std::string answer = tokenizer->Decode(answers[i]);
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
  }
  return UsageError("expected 'lab dataset', 'lab train' or 'generate'");
}

}  // namespace
}  // namespace gauntlet::eval

int main(int argc, char** argv) { return gauntlet::eval::Run(argc, argv); }
