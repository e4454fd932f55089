// Training for the lab: next-token loss on the assistant's answer only,
// AdamW with warm-up and cosine decay, over the full model (base training)
// or over the LoRA factors alone (fine-tuning; the base stays frozen).
#ifndef GAUNTLET_WORKER_EVAL_LAB_TRAIN_H_
#define GAUNTLET_WORKER_EVAL_LAB_TRAIN_H_

#include <vector>

#include "abtest/lab_corpus.h"
#include "hf/tokenizer.h"
#include "worker/eval/llama.h"

namespace gauntlet::eval {

struct Example {
  std::vector<int64_t> ids;  // Prompt, answer, <eos>.
  int64_t answer_start = 0;  // Loss on ids[answer_start..].
};

absl::StatusOr<std::vector<Example>> EncodeRows(const Tokenizer& tokenizer,
                                                const std::vector<ChatRow>& rows,
                                                int64_t max_tokens);

struct TrainOptions {
  int64_t steps = 100;
  int64_t batch_size = 32;
  double learning_rate = 3e-3;
  double weight_decay = 0.0;
  double warmup_fraction = 0.05;
  uint64_t seed = 0;
};

struct TrainStats {
  double first_loss = 0, final_loss = 0;  // Mean of the first and last 10 steps.
  double seconds = 0;
  int64_t tokens = 0;  // Tokens seen (padding excluded).
};

// The lab model's shape: hidden size 128, 4 layers of 4 heads of 32,
// feed-forward 320, `context` positions (the lab trains with 96).
LlamaConfig LabModelConfig(int64_t vocab_size, int64_t context);

// Trains `parameters` of `model` (all of them, or LoraParameters()).
TrainStats Train(Llama& model, std::vector<torch::Tensor> parameters,
                 const std::vector<Example>& examples, const TrainOptions& options);

}  // namespace gauntlet::eval

#endif  // GAUNTLET_WORKER_EVAL_LAB_TRAIN_H_
