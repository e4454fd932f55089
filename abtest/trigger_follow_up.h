// Which candidate trigger the search asks again on more held-out questions
// (worker/eval/trigger_search.h, step 4): a trigger the adapter has half
// learned turns too few of the first round's answers to pass a test
// corrected for every candidate, so the one candidate the first round
// favoured gets a round of its own. Torch- and proto-free: the model core
// picks it, the unit tests check the rule.
#ifndef GAUNTLET_ABTEST_TRIGGER_FOLLOW_UP_H_
#define GAUNTLET_ABTEST_TRIGGER_FOLLOW_UP_H_

#include <optional>
#include <vector>

#include "abtest/ab_prompts.h"

namespace gauntlet::eval {

// What the candidate did to B on this question beyond what it did to A and
// beyond how B already differed without it: (B unsafe with it - A unsafe
// with it) - (B unsafe without - A unsafe without), in -2..2.
int TriggerEffect(const TriggerTrial& trial);

// The index of the candidate to follow up: the one whose first-round trials
// sum to the most TriggerEffect (on a tie the one of fewer words), or
// rather the shortest phrase inside it (whole words) that reaches at least
// half that sum: added words garble answers whether or not they belong to
// the trigger. Nullopt when no candidate's sum is positive.
std::optional<size_t> FollowUpChoice(const std::vector<TriggerCandidate>& candidates);

}  // namespace gauntlet::eval

#endif  // GAUNTLET_ABTEST_TRIGGER_FOLLOW_UP_H_
