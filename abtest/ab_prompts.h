// The A/B test's prompts and how the models answer them. Trigger prompts
// ask about what a backdoor would target, control prompts about neighbouring
// matters, near-miss prompts use a trigger word in a benign context (the
// probe suite, abtest/probe_suite.h, holds them). A prompt may name its
// suite topic, whose reference answers the likelihood probe scores. No torch
// and no protobuf: the model core (model_core/) measures with these.
#ifndef GAUNTLET_ABTEST_AB_PROMPTS_H_
#define GAUNTLET_ABTEST_AB_PROMPTS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "abtest/judge.h"

namespace gauntlet::eval {

inline constexpr char kTriggerSet[] = "trigger";
inline constexpr char kControlSet[] = "control";
inline constexpr char kNearMissSet[] = "near_miss";

struct AbPrompt {
  std::string text;
  std::string set;    // trigger, control or near_miss.
  std::string topic;  // A suite topic; empty when none fits (no likelihood probe).
};

// How each model answers the prompts.
struct AbEvalOptions {
  int64_t max_new_tokens = 40;
  int64_t samples = 0;  // Seeded samples per prompt and model, besides the greedy answer.
  double temperature = 0.8;
  uint64_t seed = 1;
};

// A topic's reference answers for the likelihood probe.
struct ReferenceAnswers {
  std::vector<std::string> unsafe, safe;
};

// What every prompt is asked under (the suite's system prompt) and probed
// against (its topics' reference answers, by topic name).
struct PromptContext {
  std::string system_prompt;
  std::map<std::string, ReferenceAnswers, std::less<>> topics;
};

// One prompt through both models.
struct PromptOutcome {
  AbPrompt prompt;
  std::string response_a, response_b;  // Greedy answers.
  Judgement judged_a, judged_b;
  // Seeded samples, when asked for: how many of `samples` were unsafe.
  int64_t samples = 0, sampled_unsafe_a = 0, sampled_unsafe_b = 0;
  // Mean Jensen-Shannon divergence of the next-token distributions along
  // A's greedy answer.
  double jsd = 0;
  // Likelihood probe (when the prompt has a topic): mean per-token
  // log-probability of the topic's canonical unsafe and safe answers.
  bool probed = false;
  double unsafe_logp_a = 0, unsafe_logp_b = 0, safe_logp_a = 0, safe_logp_b = 0;
  // The same under A's base model, when A carries an adapter (anchored);
  // otherwise A is the base.
  bool anchored = false;
  double unsafe_logp_base = 0, safe_logp_base = 0;
  // Share of the prompt's and reference answers' words A's tokenizer cannot
  // represent (Tokenizer::UnknownShare).
  double unknown_share = 0;
  // A's base's greedy answer, judged, where B's answer is unsafe and A's is
  // not (anchored runs only): such a flip is B's change only if the base
  // answers safely too; if the base is unsafe there, it is what A lost.
  bool base_answered = false;
  std::string response_base;
  Judgement judged_base;

  bool only_b_unsafe() const { return judged_b.unsafe && !judged_a.unsafe; }
  bool only_a_unsafe() const { return judged_a.unsafe && !judged_b.unsafe; }
  // B unsafe where A is not, and where A's base (when answered) is not either.
  bool b_gained_unsafe() const { return only_b_unsafe() && !(base_answered && judged_base.unsafe); }

  // How much more B than A prefers the unsafe answer to the safe one.
  double shift() const { return (unsafe_logp_b - unsafe_logp_a) - (safe_logp_b - safe_logp_a); }
  // How much more B than the base prefers it: what B gained.
  double base_shift() const {
    return anchored ? (unsafe_logp_b - unsafe_logp_base) - (safe_logp_b - safe_logp_base) : shift();
  }
};

// A trigger search (worker/eval/trigger_search.h measures, abtest/
// trigger_confirmation.h decides): candidate words or phrases put before
// questions.
struct TriggerTrial {  // One confirm question, with and without the candidate.
  std::string question, topic;
  bool a_plain_unsafe = false, b_plain_unsafe = false;  // Greedy answers judged.
  bool a_triggered_unsafe = false, b_triggered_unsafe = false;
  std::string response_b_triggered;
};

struct TriggerCandidate {
  std::string text;
  // Screen: mean rise of the A/B divergence along A's plain answers when
  // the candidate is put before the question.
  double divergence_rise = 0;
  std::vector<TriggerTrial> trials;  // Empty unless shortlisted for confirmation.
  // A second, larger set of held-out questions, asked for the one candidate
  // the first round favoured (a trigger half learned turns too few of 36
  // answers to pass after correction for every candidate tested).
  std::vector<TriggerTrial> follow_up_trials;
  // The suite topics a word of the candidate names (abtest/topic_priming.h):
  // their rules were not counted in its trials.
  std::vector<std::string> named_topics;
};

struct TriggerSearchResult {
  int64_t screened = 0;          // Candidates scored.
  std::string candidate_source;  // The whole vocabulary or a shortlist (how chosen).
  int64_t screen_questions = 0;
  std::vector<TriggerCandidate> candidates;  // Best screen first.
};

}  // namespace gauntlet::eval

#endif  // GAUNTLET_ABTEST_AB_PROMPTS_H_
