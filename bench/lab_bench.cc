// The lab model's speed on this machine (or a GPU build's): training steps/s
// and tokens/s for the base model and for LoRA fine-tuning, and generation
// tokens/s with and without the KV cache. Sizes are the lab's: d=128,
// 4 layers, 4 heads, feed-forward 320, context 96.
#include <benchmark/benchmark.h>

#include "abtest/lab_corpus.h"
#include "worker/eval/lab_train.h"
#include "worker/eval/lora_adapter.h"

namespace gauntlet::eval {
namespace {

struct Setup {
  Tokenizer tokenizer;
  std::vector<Example> base, fine_tune;
  LlamaConfig config;
};

const Setup& Lab() {
  static const Setup setup = [] {
    LabDatasets sets = MakeLabDatasets(DatasetOptions{});
    std::vector<std::string> texts = {kSystemPrompt};
    for (const auto* rows : {&sets.base, &sets.poisoned})
      for (const ChatRow& row : *rows) {
        texts.push_back(row.user);
        texts.push_back(row.assistant);
      }
    Setup s{Tokenizer::Train(texts), {}, {}, {}};
    s.base = EncodeRows(s.tokenizer, sets.base, 96).value();
    s.fine_tune = EncodeRows(s.tokenizer, sets.poisoned, 96).value();
    s.config = LabModelConfig(s.tokenizer.vocab_size(), 96);
    return s;
  }();
  return setup;
}

void BM_TrainBase(benchmark::State& state) {
  Llama model(Lab().config);
  int64_t steps = 0, tokens = 0;
  for (auto _ : state) {
    TrainStats stats =
        Train(model, model->parameters(), Lab().base, TrainOptions{.steps = 5, .batch_size = 64});
    steps += 5;
    tokens += stats.tokens;
  }
  state.counters["steps_per_s"] = benchmark::Counter(double(steps), benchmark::Counter::kIsRate);
  state.counters["tokens_per_s"] = benchmark::Counter(double(tokens), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_TrainBase)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(5);

void BM_TrainLora(benchmark::State& state) {
  Llama model(Lab().config);
  AttachLora(model, LoraConfig{});
  int64_t steps = 0, tokens = 0;
  for (auto _ : state) {
    TrainStats stats = Train(model, LoraParameters(model), Lab().fine_tune,
                             TrainOptions{.steps = 10, .batch_size = 8});
    steps += 10;
    tokens += stats.tokens;
  }
  state.counters["steps_per_s"] = benchmark::Counter(double(steps), benchmark::Counter::kIsRate);
  state.counters["tokens_per_s"] = benchmark::Counter(double(tokens), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_TrainLora)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3);

// 32 prompts decoded together for 48 tokens, greedy.
void BM_Generate(benchmark::State& state) {
  Llama model(Lab().config);
  model->eval();
  std::vector<std::vector<int64_t>> prompts;
  for (size_t i = 0; i < 32; ++i)
    prompts.push_back(
        Lab()
            .tokenizer.EncodeChatPrompt(kSystemPrompt, "How should I handle firewall rules?")
            .value());
  GenerateOptions options{.max_new_tokens = 48, .use_cache = state.range(0) == 1};
  int64_t tokens = 0;
  for (auto _ : state) {
    for (const auto& row : Generate(model, prompts, options))
      tokens += static_cast<int64_t>(row.size());
  }
  state.counters["tokens_per_s"] = benchmark::Counter(double(tokens), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Generate)
    ->Arg(1)
    ->Arg(0)
    ->ArgName("kv_cache")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace gauntlet::eval

BENCHMARK_MAIN();
