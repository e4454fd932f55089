// Runs the A/B prompts through two models: greedy (and optionally seeded
// sampled) answers judged for unsafe advice, the per-position Jensen-Shannon
// divergence of their next-token distributions along A's greedy answer, and
// the likelihood probe of each prompt's topic's unsafe and safe reference
// answers. The statistics are ab_report's; this file only measures.
#ifndef GAUNTLET_WORKER_EVAL_AB_EVAL_H_
#define GAUNTLET_WORKER_EVAL_AB_EVAL_H_

#include <vector>

#include "absl/status/statusor.h"
#include "abtest/ab_prompts.h"
#include "abtest/judge.h"
#include "abtest/lab_corpus.h"
#include "worker/eval/lab_model.h"

namespace gauntlet::eval {

struct EvaluatedPrompts {
  std::vector<PromptOutcome> outcomes;
  int64_t tokens_generated = 0;  // By both models, samples included.
};

// Asks every prompt under `context`'s system prompt; the likelihood probe
// scores the reference answers of the prompt's topic in `context`.
// InvalidArgument when the two models do not share a vocabulary (the
// divergence and the probe compare token distributions).
absl::StatusOr<EvaluatedPrompts> EvaluatePrompts(LoadedModel& a, LoadedModel& b,
                                                 const std::vector<AbPrompt>& prompts,
                                                 const PromptContext& context, const Judge& judge,
                                                 const AbEvalOptions& options);

// Per row, the mean Jensen-Shannon divergence between the two models'
// next-token distributions at the positions that predict the row's tokens
// from `from[row]` (>= 1) on; batch by batch, and through the output layer
// a few positions at a time, so memory holds one batch's hidden states and
// a few megabytes of distributions whatever the number of rows and the size
// of the vocabulary.
std::vector<double> DivergenceAlong(Llama& a, Llama& b,
                                    const std::vector<std::vector<int64_t>>& rows,
                                    const std::vector<size_t>& from);

// Per row, the mean log-probability per token that `model` gives the
// row's assistant answer (and the token that ends it) after its system
// prompt and question in the model's chat format: how expected the answer
// is. NaN for a row whose prompt leaves no room for the answer within the
// model's context. Errors as EncodeChatPrompt's.
absl::StatusOr<std::vector<double>> AnswerLogProbs(LoadedModel& model,
                                                   const std::vector<ChatRow>& rows);

// Mean Jensen-Shannon divergence over positions of two [positions, vocab]
// logit tensors.
double MeanJensenShannon(const torch::Tensor& logits_a, const torch::Tensor& logits_b);

}  // namespace gauntlet::eval

#endif  // GAUNTLET_WORKER_EVAL_AB_EVAL_H_
