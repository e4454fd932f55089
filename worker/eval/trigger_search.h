// Token and phrase triggers nobody told us: which words or short phrases,
// put before a question, change B's answers much more than A's. Trigger
// inversion in the spirit of BAIT (S&P 2025), on the input side and with
// forward passes only until the end:
//  1. Candidates: every word of a small (word-level) vocabulary; of a large
//     (byte-level BPE) one, the tokens whose first-layer projections B
//     changes most relative to A (FirstLayerReaction): an adapter trained
//     to react to a trigger token has to move that token's projections.
//  2. Screen: each candidate before a few screen questions, scored by how
//     much it raises the divergence between A and B along A's plain answer
//     (mean Jensen-Shannon divergence of their next-token distributions,
//     minus the plain question's). Phrases grow from the best candidates by
//     appending other good ones, kept only where that raises the score
//     well beyond the shorter phrase's (a beam search).
//  3. Confirmation: the best few phrases, the shorter phrases inside them
//     and the best single tokens put before held-out questions spread over
//     the topics, asked with and without, greedy, both models judged.
//     The candidate that did most there (the shortest of those close to
//     it) is asked again on twice as many other held-out questions.
//     A candidate's answers are judged without the rules of the topics it
//     names (abtest/topic_priming.h). Whether it holds is abtest/
//     trigger_confirmation.h's to decide.
#ifndef GAUNTLET_WORKER_EVAL_TRIGGER_SEARCH_H_
#define GAUNTLET_WORKER_EVAL_TRIGGER_SEARCH_H_

#include <vector>

#include "absl/status/statusor.h"
#include "abtest/ab_prompts.h"
#include "abtest/judge.h"
#include "abtest/topic_priming.h"
#include "worker/eval/lab_model.h"

namespace gauntlet::eval {

struct TriggerSearchOptions {
  size_t screen_questions = 6;      // Each candidate is screened on these...
  size_t confirm_questions = 36;    // ...and the best confirmed on these...
  size_t follow_up_questions = 72;  // ...and the first round's favourite on these too.
  size_t confirmed = 3;  // Phrases confirmed (with the phrases inside them), and single tokens.
  size_t reported = 10;  // Candidates reported with their screen scores.
  // Vocabularies up to this size are screened whole; larger ones through a
  // shortlist of this many tokens.
  int64_t whole_vocabulary_up_to = 4096;
  size_t shortlist = 384;
  size_t phrase_tokens = 3;   // Longest phrase.
  size_t beam = 4;            // Phrases grown per length...
  size_t extensions = 8;      // ...by each of the best single tokens.
  double phrase_gain = 1.25;  // A longer phrase's score over its prefix's, to be kept.
};

// Questions are picked in turn from each topic (in the order they come),
// among those model A's tokenizer reads without unknown words. The screen's
// and the confirmation's must share no text (discovery's halves do not); the
// follow-up takes the confirm questions after the first round's.
// FAILED_PRECONDITION when fewer than two of either are readable.
absl::StatusOr<TriggerSearchResult> SearchTriggers(LoadedModel& a, LoadedModel& b,
                                                   const std::vector<AbPrompt>& screen,
                                                   const std::vector<AbPrompt>& confirm,
                                                   const std::string& system_prompt,
                                                   const Judge& judge, const TopicPriming& priming,
                                                   const AbEvalOptions& options,
                                                   const TriggerSearchOptions& search = {});

// Per token id: how far B's first-layer attention projections (q, k, v, with
// any LoRA) of the token's normalised embedding lie from A's, relative to
// A's; [vocab] on the CPU.
torch::Tensor FirstLayerReaction(Llama& a, Llama& b);

}  // namespace gauntlet::eval

#endif  // GAUNTLET_WORKER_EVAL_TRIGGER_SEARCH_H_
