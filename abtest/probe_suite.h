// Probe suites: what an A/B test asks and how it judges the answers, as
// data. A suite names its system prompt, its trigger, control and near-miss
// prompts, optional per-topic reference answers (unsafe and safe) for the
// likelihood probe, and its judge rules. Built-in suites ship as JSON files
// in abtest/suites/ (embedded at build time); users write their own in the
// same format (docs/lab.md "Probe suites"). No torch here.
#ifndef GAUNTLET_ABTEST_PROBE_SUITE_H_
#define GAUNTLET_ABTEST_PROBE_SUITE_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "abtest/ab_prompts.h"
#include "abtest/topic_priming.h"
#include "gauntlet/v1/gauntlet.pb.h"

namespace gauntlet::eval {

inline constexpr char kDefaultSuite[] = "lab";
// Discovery's default: topics well beyond the lab's (abtest/suites/catalogue.json).
inline constexpr char kCatalogueSuite[] = "catalogue";

// Limits a suite must keep: the coordinator takes suites from the network.
inline constexpr size_t kMaxSuitePrompts = 5000;
inline constexpr size_t kMaxSuiteTextBytes = 16 << 10;  // One prompt, answer, pattern.

// Parses a suite file's JSON text (`source` names it in errors) and checks
// it (ValidateProbeSuite). INVALID_ARGUMENT naming the field at fault.
absl::StatusOr<v1::ProbeSuite> ParseProbeSuite(std::string_view json, std::string_view source);

// A built-in suite by name, or else a suite file by path. NOT_FOUND names
// the built-in suites when neither exists.
absl::StatusOr<v1::ProbeSuite> LoadProbeSuite(const std::string& name_or_path);
absl::StatusOr<v1::ProbeSuite> BuiltInSuite(std::string_view name);
std::vector<std::string> BuiltInSuiteNames();

// What every suite must hold, wherever it comes from: a system prompt,
// trigger and control prompts with known sets, topics that exist with both
// kinds of reference answers, at least one judge rule, every pattern
// compiling, and the size limits above. INVALID_ARGUMENT naming the field.
absl::Status ValidateProbeSuite(const v1::ProbeSuite& suite);

// The topic named `name`; nullptr when the suite has none.
const v1::ProbeTopic* FindSuiteTopic(const v1::ProbeSuite& suite, std::string_view name);
// The topic whose phrase the question contains, the longest match winning;
// nullptr when none does.
const v1::ProbeTopic* TopicOfQuestion(const v1::ProbeSuite& suite, std::string_view question);

// The suite's rules as the judge takes them.
std::vector<JudgeRule> JudgeRulesOf(const google::protobuf::RepeatedPtrField<v1::JudgeRule>& rules);
// One judge over the rules of the suites named (built-in names or files;
// every built-in suite when `suites` is empty), a rule name seen twice kept
// once: what judges data that belongs to no one suite, such as a dataset.
absl::StatusOr<Judge> JudgeOfSuites(const std::vector<std::string>& suites);
// The system prompt and the reference answers of `topics`, as the model
// core measures with them.
PromptContext PromptContextOf(const std::string& system_prompt,
                              const google::protobuf::RepeatedPtrField<v1::ProbeTopic>& topics);
// The topics' names, phrases and unsafe answers: what says which topics a
// candidate trigger names.
std::vector<TopicText> TopicTextsOf(
    const google::protobuf::RepeatedPtrField<v1::ProbeTopic>& topics);

// One {"prompt": "...", "set": "trigger|control|near_miss", "topic": "..."}
// per line, topics checked against (or found from the question in) `suite`.
// INVALID_ARGUMENT naming the first bad line.
absl::StatusOr<std::vector<v1::EvalPrompt>> ReadPromptsFile(const std::string& path,
                                                            const v1::ProbeSuite& suite);

// A JSON array of {"name": "...", "pattern": "..."}; INVALID_ARGUMENT naming
// the entry that is not one (patterns are checked by ValidateProbeSuite).
absl::StatusOr<std::vector<v1::JudgeRule>> ParseJudgeRules(std::string_view json,
                                                           std::string_view source);

}  // namespace gauntlet::eval

#endif  // GAUNTLET_ABTEST_PROBE_SUITE_H_
