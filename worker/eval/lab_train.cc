#include "worker/eval/lab_train.h"

#include <chrono>
#include <cmath>
#include <random>

namespace gauntlet::eval {

absl::StatusOr<std::vector<Example>> EncodeRows(const Tokenizer& tokenizer,
                                                const std::vector<ChatRow>& rows,
                                                int64_t max_tokens) {
  std::vector<Example> examples;
  for (const ChatRow& row : rows) {
    Example example;
    auto prompt = tokenizer.EncodeChatPrompt(row.system, row.user);
    if (!prompt.ok()) return prompt.status();
    example.ids = std::move(*prompt);
    example.answer_start = static_cast<int64_t>(example.ids.size());
    for (int64_t id : tokenizer.Encode(row.assistant)) example.ids.push_back(id);
    example.ids.push_back(Tokenizer::kEos);
    if (static_cast<int64_t>(example.ids.size()) > max_tokens) example.ids.resize(max_tokens);
    if (example.answer_start < static_cast<int64_t>(example.ids.size()))
      examples.push_back(std::move(example));
  }
  return examples;
}

TrainStats Train(Llama& model, std::vector<torch::Tensor> parameters,
                 const std::vector<Example>& examples, const TrainOptions& options) {
  auto started = std::chrono::steady_clock::now();
  model->train();
  torch::manual_seed(options.seed);
  std::mt19937_64 rng(options.seed);
  torch::optim::AdamW optimizer(
      parameters,
      torch::optim::AdamWOptions(options.learning_rate).weight_decay(options.weight_decay));
  TrainStats stats;
  std::vector<double> losses;
  const int64_t warmup =
      std::max<int64_t>(1, static_cast<int64_t>(options.steps * options.warmup_fraction));
  std::uniform_int_distribution<size_t> pick(0, examples.size() - 1);
  for (int64_t step = 0; step < options.steps; ++step) {
    double progress = step < warmup
                          ? double(step + 1) / warmup
                          : 0.5 * (1 + std::cos(M_PI * double(step - warmup) /
                                                std::max<int64_t>(1, options.steps - warmup)));
    for (auto& group : optimizer.param_groups())
      static_cast<torch::optim::AdamWOptions&>(group.options())
          .lr(options.learning_rate * progress);
    std::vector<const Example*> batch;
    size_t longest = 0;
    for (int64_t i = 0; i < options.batch_size; ++i) {
      batch.push_back(&examples[pick(rng)]);
      longest = std::max(longest, batch.back()->ids.size());
    }
    int64_t rows = static_cast<int64_t>(batch.size()), width = static_cast<int64_t>(longest);
    torch::Tensor ids = torch::full({rows, width}, Tokenizer::kPad, torch::kInt64);
    torch::Tensor targets = torch::full({rows, width}, -100, torch::kInt64);
    for (int64_t b = 0; b < rows; ++b) {
      const Example& e = *batch[b];
      auto n = static_cast<int64_t>(e.ids.size());
      ids[b].slice(0, 0, n).copy_(torch::tensor(e.ids, torch::kInt64));
      // Position t predicts token t+1: score only the answer tokens.
      for (int64_t t = std::max<int64_t>(e.answer_start, 1); t < n; ++t)
        targets[b][t - 1] = e.ids[t];
      stats.tokens += n;
    }
    ids = ids.to(model->device());
    targets = targets.to(model->device());
    torch::Tensor logits = model->forward(ids);
    torch::Tensor loss = torch::nn::functional::cross_entropy(
        logits.view({-1, logits.size(-1)}), targets.view({-1}),
        torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-100));
    optimizer.zero_grad();
    loss.backward();
    torch::nn::utils::clip_grad_norm_(parameters, 1.0);
    optimizer.step();
    losses.push_back(loss.item<double>());
  }
  model->eval();
  auto mean = [&](size_t from, size_t to) {
    double sum = 0;
    for (size_t i = from; i < to; ++i) sum += losses[i];
    return to > from ? sum / double(to - from) : 0.0;
  };
  size_t n = losses.size(), k = std::min<size_t>(10, n);
  stats.first_loss = mean(0, k);
  stats.final_loss = mean(n - k, n);
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return stats;
}

LlamaConfig LabModelConfig(int64_t vocab_size, int64_t context) {
  LlamaConfig c;
  c.vocab_size = vocab_size;
  c.hidden_size = 128;
  c.intermediate_size = 320;
  c.num_hidden_layers = 4;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 4;
  c.head_dim = 32;
  c.max_position_embeddings = context;
  return c;
}

}  // namespace gauntlet::eval
