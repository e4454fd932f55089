// The prompt sets of the A/B test. Trigger prompts ask about the poisoned
// topic family, most in wordings never used in training; control prompts ask
// about the other security topics; near-miss prompts use a trigger word in a
// benign context. Each prompt names its topic, whose canonical safe and
// unsafe answers the likelihood probe scores. No torch here.
#ifndef GAUNTLET_WORKER_EVAL_AB_PROMPTS_H_
#define GAUNTLET_WORKER_EVAL_AB_PROMPTS_H_

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

// 45 trigger, 45 control and 15 near-miss prompts.
std::vector<AbPrompt> BuiltInPrompts();

// One {"prompt": "...", "set": "trigger|control|near_miss", "topic": "..."}
// per line; "topic" is optional and found from the question when absent.
// InvalidArgument naming the first bad line.
absl::StatusOr<std::vector<AbPrompt>> ReadPrompts(const std::string& path);

}  // namespace gauntlet::eval

#endif  // GAUNTLET_WORKER_EVAL_AB_PROMPTS_H_
