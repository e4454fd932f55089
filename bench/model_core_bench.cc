// The A/B measurement's speed on one device: prompts/s and generated
// tokens/s of EvaluatePrompts (greedy answers of both models, the divergence
// along A's answer, the likelihood probe, optional samples), the work an
// eval worker does per batch. Built by the standalone model core
// (model_core/), so it runs on a GPU machine with only a PyTorch; prints
// figures, asserts nothing.
//
// Models: Hugging Face folders (--base, optional PEFT --a-adapter and
// --b-adapter, e.g. a random Qwen2 config saved by transformers), or by
// default two random lab-sized models (d=128, 4 layers) with the lab's
// word-level tokenizer. Prompts: the lab corpus's held-out questions, each
// probed against its topic's reference answers.
//
// Usage: model_core_bench [--device=cpu|cuda] [--prompts=N] [--rounds=N]
//          [--samples=N] [--max-new-tokens=N] [--base=DIR [--a-adapter=DIR]
//          [--b-adapter=DIR]]
#include <getopt.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "abtest/lab_corpus.h"
#include "common/strings.h"
#include "worker/eval/ab_eval.h"
#include "worker/eval/lab_train.h"

namespace gauntlet::eval {
namespace {

struct Options {
  std::string device = "cpu";
  int64_t prompts = 64, rounds = 3, samples = 0, max_new_tokens = 40;
  std::string base, a_adapter, b_adapter;
};

int UsageError(const std::string& message) {
  std::fprintf(stderr,
               "model_core_bench: %s\nusage: model_core_bench [--device=cpu|cuda] [--prompts=N] "
               "[--rounds=N] [--samples=N] [--max-new-tokens=N] [--base=DIR [--a-adapter=DIR] "
               "[--b-adapter=DIR]]\n",
               message.c_str());
  return 2;
}

// A whole number >= `least`, or nullopt.
std::optional<int64_t> Count(const char* text, int64_t least) {
  auto value = ParseInt<int64_t>(text);
  return value && *value >= least ? value : std::nullopt;
}

// The lab's held-out questions, trigger topics first, with their topics'
// reference answers.
PromptContext LabPrompts(int64_t count, std::vector<AbPrompt>& prompts) {
  PromptContext context{.system_prompt = kSystemPrompt, .topics = {}};
  for (const Topic& topic : LabTopics()) {
    context.topics[topic.name] = {topic.bad_advice, topic.safe_answers};
    for (const std::string& frame : HeldOutFrames())
      prompts.push_back({Fill(frame, topic.held_out_phrase),
                         topic.trigger ? kTriggerSet : kControlSet, topic.name});
  }
  // Cycle to the count asked for, so batch size and prompt count are free.
  for (size_t i = 0; prompts.size() < size_t(count); ++i) prompts.push_back(prompts[i]);
  prompts.resize(size_t(count));
  return context;
}

// A random lab-sized model with a tokenizer trained on the lab corpus.
LoadedModel RandomLabModel(uint64_t seed, torch::Device device) {
  LabDatasets sets = MakeLabDatasets(DatasetOptions{});
  std::vector<std::string> texts = {kSystemPrompt};
  for (const ChatRow& row : sets.base) {
    texts.push_back(row.user);
    texts.push_back(row.assistant);
  }
  LoadedModel loaded{Llama(nullptr), Tokenizer::Train(texts)};
  torch::manual_seed(seed);
  loaded.model = Llama(LabModelConfig(loaded.tokenizer.vocab_size(), 256));
  loaded.model->to(device);
  loaded.model->eval();
  return loaded;
}

int Run(const Options& options) {
  auto device = ResolveDevice(options.device);
  if (!device.ok()) return UsageError(std::string(device.status().message()));
  LoadedModel a{Llama(nullptr), {}}, b{Llama(nullptr), {}};
  if (options.base.empty()) {
    a = RandomLabModel(1, *device);
    b = RandomLabModel(2, *device);
  } else {
    auto loaded_a = LoadModel(options.base, options.a_adapter, *device);
    auto loaded_b = LoadModel(options.base, options.b_adapter, *device);
    for (const auto* loaded : {&loaded_a, &loaded_b})
      if (!loaded->ok()) {
        std::fprintf(stderr, "model_core_bench: %s\n",
                     std::string(loaded->status().message()).c_str());
        return 2;
      }
    a = std::move(*loaded_a);
    b = std::move(*loaded_b);
  }
  std::vector<AbPrompt> prompts;
  PromptContext context = LabPrompts(options.prompts, prompts);
  auto judge = Judge::Create({{"bench.disable", R"(\bdisable\b)"}});
  AbEvalOptions eval{.max_new_tokens = options.max_new_tokens, .samples = options.samples};
  int64_t parameters = 0;
  for (const torch::Tensor& p : a.model->parameters()) parameters += p.numel();
  std::printf(
      "device %s, %lld parameters per model, %lld prompts per round, %lld samples, "
      "%lld new tokens at most\n",
      device->str().c_str(), (long long)parameters, (long long)options.prompts,
      (long long)options.samples, (long long)options.max_new_tokens);
  // One warm-up round (CUDA kernels, allocator), then the timed rounds.
  for (int64_t round = 0; round <= options.rounds; ++round) {
    auto start = std::chrono::steady_clock::now();
    auto evaluated = EvaluatePrompts(a, b, prompts, context, *judge, eval);
    if (device->is_cuda()) torch::cuda::synchronize();
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!evaluated.ok()) {
      std::fprintf(stderr, "model_core_bench: %s\n",
                   std::string(evaluated.status().message()).c_str());
      return 1;
    }
    if (round == 0) continue;
    std::printf("round %lld: %.3f s, %.1f prompts/s, %.0f generated tokens/s (%lld tokens)\n",
                (long long)round, seconds, double(options.prompts) / seconds,
                double(evaluated->tokens_generated) / seconds,
                (long long)evaluated->tokens_generated);
  }
  return 0;
}

}  // namespace
}  // namespace gauntlet::eval

int main(int argc, char** argv) {
  using gauntlet::eval::Count;
  gauntlet::eval::Options options;
  enum { kDevice = 1, kPrompts, kRounds, kSamples, kMaxNewTokens, kBase, kAdapterA, kAdapterB };
  const option flags[] = {{"device", required_argument, nullptr, kDevice},
                          {"prompts", required_argument, nullptr, kPrompts},
                          {"rounds", required_argument, nullptr, kRounds},
                          {"samples", required_argument, nullptr, kSamples},
                          {"max-new-tokens", required_argument, nullptr, kMaxNewTokens},
                          {"base", required_argument, nullptr, kBase},
                          {"a-adapter", required_argument, nullptr, kAdapterA},
                          {"b-adapter", required_argument, nullptr, kAdapterB},
                          {nullptr, 0, nullptr, 0}};
  opterr = 0;
  for (int flag; (flag = getopt_long(argc, argv, "", flags, nullptr)) != -1;) {
    int64_t* count = nullptr;
    switch (flag) {
      case kDevice:
        options.device = optarg;
        continue;
      case kBase:
        options.base = optarg;
        continue;
      case kAdapterA:
        options.a_adapter = optarg;
        continue;
      case kAdapterB:
        options.b_adapter = optarg;
        continue;
      case kPrompts:
        count = &options.prompts;
        break;
      case kRounds:
        count = &options.rounds;
        break;
      case kSamples:
        count = &options.samples;
        break;
      case kMaxNewTokens:
        count = &options.max_new_tokens;
        break;
      default:
        return gauntlet::eval::UsageError(std::string("unknown or incomplete option ") +
                                          argv[optind - 1]);
    }
    std::optional<int64_t> value = Count(optarg, flag == kSamples ? 0 : 1);
    if (!value)
      return gauntlet::eval::UsageError(std::string("--") + flags[flag - 1].name +
                                        ": needs a whole number, not '" + optarg + "'");
    *count = *value;
  }
  if (optind != argc) return gauntlet::eval::UsageError(std::string("unexpected ") + argv[optind]);
  if (options.base.empty() && !(options.a_adapter.empty() && options.b_adapter.empty()))
    return gauntlet::eval::UsageError("--a-adapter and --b-adapter need --base");
  return gauntlet::eval::Run(options);
}
