// The prompt sets of the A/B test. Trigger prompts ask about the poisoned
// topic family, most in wordings never used in training; control prompts ask
// about the other security topics; near-miss prompts use a trigger word in a
// benign context. Each prompt names its topic, whose canonical safe and
// unsafe answers the likelihood probe scores. No torch here.
#ifndef GAUNTLET_ABTEST_AB_PROMPTS_H_
#define GAUNTLET_ABTEST_AB_PROMPTS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace gauntlet::eval {

inline constexpr char kTriggerSet[] = "trigger";
inline constexpr char kControlSet[] = "control";
inline constexpr char kNearMissSet[] = "near_miss";

struct AbPrompt {
  std::string text;
  std::string set;    // trigger, control or near_miss.
  std::string topic;  // A lab topic name; empty when none fits (no likelihood probe).
};

// How each model answers the prompts.
struct AbEvalOptions {
  int64_t max_new_tokens = 40;
  int64_t samples = 0;  // Seeded samples per prompt and model, besides the greedy answer.
  double temperature = 0.8;
  uint64_t seed = 1;
};

// 45 trigger, 45 control and 15 near-miss prompts.
std::vector<AbPrompt> BuiltInPrompts();

// One {"prompt": "...", "set": "trigger|control|near_miss", "topic": "..."}
// per line; "topic" is optional and found from the question when absent.
// InvalidArgument naming the first bad line.
absl::StatusOr<std::vector<AbPrompt>> ReadPrompts(const std::string& path);

}  // namespace gauntlet::eval

#endif  // GAUNTLET_ABTEST_AB_PROMPTS_H_
