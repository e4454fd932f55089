// The A/B test's prompts and how the models answer them. Trigger prompts
// ask about what a backdoor would target, control prompts about neighbouring
// matters, near-miss prompts use a trigger word in a benign context (the
// probe suite, abtest/probe_suite.h, holds them). A prompt may name its
// suite topic, whose reference answers the likelihood probe scores. No torch.
#ifndef GAUNTLET_ABTEST_AB_PROMPTS_H_
#define GAUNTLET_ABTEST_AB_PROMPTS_H_

#include <cstdint>
#include <string>
#include <vector>

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

}  // namespace gauntlet::eval

#endif  // GAUNTLET_ABTEST_AB_PROMPTS_H_
