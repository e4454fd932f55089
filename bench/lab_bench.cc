// The lab model's speed on this machine (or a GPU build's): training steps/s
// and tokens/s for the base model and for LoRA fine-tuning, generation
// tokens/s with and without the KV cache, and the likelihood probe's rows/s
// with the lab's vocabulary and with Qwen's. Sizes are the lab's: d=128,
// 4 layers, 4 heads, feed-forward 320, context 96.
#include <benchmark/benchmark.h>

#include "abtest/lab_corpus.h"
#include "worker/eval/ab_eval.h"
#include "worker/eval/lab_model.h"
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

// The likelihood probe (AnswerLogProbs: each reference answer's mean
// log-probability after its question) on the lab model's layers with a
// real tokenizer's vocabulary: Arg 0 the lab's, Arg 151,936 Qwen's. 64
// rows of the lab's own questions and answers; only the answer positions
// go through the output layer. "every_position" does what the probe did
// before: the output layer and log-softmax over every position of the
// batch, then the answers' slices; the ratio of the two is the saving.
LoadedModel ProbeModel(int64_t vocab) {
  LlamaConfig config = Lab().config;
  if (vocab > 0) config.vocab_size = vocab;
  LoadedModel loaded{Llama(config), Lab().tokenizer};
  loaded.model->eval();
  return loaded;
}

std::vector<ChatRow> ProbeRows() {
  LabDatasets sets = MakeLabDatasets(DatasetOptions{});
  return {sets.poisoned.begin(),
          sets.poisoned.begin() + int64_t(std::min<size_t>(64, sets.poisoned.size()))};
}

void BM_ProbeAnswerPositions(benchmark::State& state) {
  LoadedModel loaded = ProbeModel(state.range(0));
  std::vector<ChatRow> rows = ProbeRows();
  for (auto _ : state) benchmark::DoNotOptimize(AnswerLogProbs(loaded, rows).value());
  state.counters["rows_per_s"] =
      benchmark::Counter(double(rows.size()), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_ProbeAnswerPositions)
    ->Arg(0)
    ->Arg(151936)
    ->ArgName("vocab")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_ProbeEveryPosition(benchmark::State& state) {
  LoadedModel loaded = ProbeModel(state.range(0));
  std::vector<ChatRow> rows = ProbeRows();
  torch::NoGradGuard no_grad;
  for (auto _ : state) {
    std::vector<std::vector<int64_t>> ids;
    std::vector<int64_t> answer_start;
    size_t longest = 0;
    for (const ChatRow& row : rows) {
      ids.push_back(loaded.tokenizer.EncodeChatPrompt(row.system, row.user).value());
      answer_start.push_back(int64_t(ids.back().size()));
      for (int64_t id : loaded.tokenizer.Encode(row.assistant)) ids.back().push_back(id);
      ids.back().push_back(loaded.tokenizer.end_of_answer_id().value_or(0));
      longest = std::max(longest, ids.back().size());
    }
    torch::Tensor batch = torch::zeros({int64_t(ids.size()), int64_t(longest)}, torch::kInt64);
    for (size_t i = 0; i < ids.size(); ++i)
      batch[int64_t(i)].slice(0, 0, int64_t(ids[i].size())).copy_(torch::tensor(ids[i]));
    torch::Tensor log_probs = torch::log_softmax(loaded.model->forward(batch), -1);
    for (size_t i = 0; i < ids.size(); ++i) {
      std::vector<int64_t> targets(ids[i].begin() + answer_start[i], ids[i].end());
      benchmark::DoNotOptimize(log_probs[int64_t(i)]
                                   .slice(0, answer_start[i] - 1, int64_t(ids[i].size()) - 1)
                                   .gather(1, torch::tensor(targets).unsqueeze(1))
                                   .mean()
                                   .item<double>());
    }
  }
  state.counters["rows_per_s"] =
      benchmark::Counter(double(rows.size()), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_ProbeEveryPosition)
    ->Arg(0)
    ->Arg(151936)
    ->ArgName("vocab")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace gauntlet::eval

BENCHMARK_MAIN();
