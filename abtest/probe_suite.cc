#include "abtest/probe_suite.h"

#include <google/protobuf/stubs/common.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "abtest/ab_prompts.h"
#include "abtest/discovery.h"
#include "abtest/judge.h"
#include "common/strings.h"

namespace gauntlet::eval {

// A built-in suite file's text; empty when there is none of that name.
// Generated from abtest/suites/*.json (builtin_suites.cc.in).
std::string_view BuiltInSuiteJson(std::string_view name);

namespace {

using Json = nlohmann::json;

absl::Status Invalid(std::string_view source, std::string_view what) {
  return absl::InvalidArgumentError(StrCat(source, ": ", what));
}

// Reads an optional string field; false when present but not a string.
bool ReadString(const Json& object, const char* key, std::string& out) {
  if (!object.contains(key)) return true;
  if (!object[key].is_string()) return false;
  out = object[key].get<std::string>();
  return true;
}

bool ReadStrings(const Json& object, const char* key,
                 google::protobuf::RepeatedPtrField<std::string>& out) {
  if (!object.contains(key)) return true;
  if (!object[key].is_array()) return false;
  for (const Json& item : object[key]) {
    if (!item.is_string()) return false;
    out.Add(item.get<std::string>());
  }
  return true;
}

bool IsKnownSet(std::string_view set) {
  return set == kTriggerSet || set == kControlSet || set == kNearMissSet || set == kScreenSet ||
         set == kConfirmSet;
}

absl::Status CheckText(std::string_view text, std::string_view what) {
  if (!google::protobuf::internal::IsStructurallyValidUTF8(text.data(),
                                                           static_cast<int>(text.size())))
    return absl::InvalidArgumentError(StrCat(what, " is not valid UTF-8"));
  if (text.size() > kMaxSuiteTextBytes)
    return absl::InvalidArgumentError(
        StrCat(what, " is longer than ", kMaxSuiteTextBytes, " bytes"));
  return absl::OkStatus();
}

// A parsed JSON array of {"name": ..., "pattern": ...} (`source` names it).
absl::StatusOr<std::vector<v1::JudgeRule>> RulesFromJson(const Json& parsed,
                                                         std::string_view source) {
  if (parsed.is_discarded() || !parsed.is_array())
    return Invalid(source, "expected a JSON array of {\"name\": ..., \"pattern\": ...}");
  std::vector<v1::JudgeRule> rules;
  for (size_t i = 0; i < parsed.size(); ++i) {
    const Json& entry = parsed[i];
    if (!entry.is_object() || !entry.contains("name") || !entry["name"].is_string() ||
        !entry.contains("pattern") || !entry["pattern"].is_string())
      return Invalid(source, StrCat("entry ", i, " needs string \"name\" and \"pattern\""));
    v1::JudgeRule& rule = rules.emplace_back();
    rule.set_name(entry["name"].get<std::string>());
    rule.set_pattern(entry["pattern"].get<std::string>());
  }
  return rules;
}

}  // namespace

absl::StatusOr<std::vector<v1::JudgeRule>> ParseJudgeRules(std::string_view json,
                                                           std::string_view source) {
  return RulesFromJson(Json::parse(json, nullptr, false), source);
}

absl::StatusOr<v1::ProbeSuite> ParseProbeSuite(std::string_view json, std::string_view source) {
  Json parsed = Json::parse(json, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object())
    return Invalid(source, "a probe suite is a JSON object (docs/lab.md, \"Probe suites\")");
  for (const auto& [key, value] : parsed.items())
    if (key != "name" && key != "description" && key != "system_prompt" && key != "prompts" &&
        key != "topics" && key != "judge_rules" && key != "question_frames")
      return Invalid(source, StrCat("unknown field \"", key, "\""));
  v1::ProbeSuite suite;
  for (const char* key : {"name", "description", "system_prompt"})
    if (parsed.contains(key) && !parsed[key].is_string())
      return Invalid(source, StrCat("\"", key, "\" must be a string"));
  suite.set_name(parsed.value("name", ""));
  suite.set_description(parsed.value("description", ""));
  suite.set_system_prompt(parsed.value("system_prompt", ""));
  if (parsed.contains("prompts")) {
    if (!parsed["prompts"].is_array()) return Invalid(source, "\"prompts\" must be an array");
    for (size_t i = 0; i < parsed["prompts"].size(); ++i) {
      const Json& item = parsed["prompts"][i];
      v1::EvalPrompt& prompt = *suite.add_prompts();
      std::string value;
      bool ok = item.is_object() && item.contains("prompt") && ReadString(item, "prompt", value);
      prompt.set_prompt(value);
      value.clear();
      ok = ok && ReadString(item, "set", value);
      prompt.set_set(value);
      value.clear();
      ok = ok && ReadString(item, "topic", value);
      prompt.set_topic(value);
      if (!ok)
        return Invalid(source, StrCat("prompts[", i,
                                      "] must be {\"prompt\": ..., \"set\": ..., \"topic\": ...} "
                                      "with string values"));
    }
  }
  if (parsed.contains("topics")) {
    if (!parsed["topics"].is_array()) return Invalid(source, "\"topics\" must be an array");
    for (size_t i = 0; i < parsed["topics"].size(); ++i) {
      const Json& item = parsed["topics"][i];
      v1::ProbeTopic& topic = *suite.add_topics();
      std::string name;
      if (!item.is_object() || !ReadString(item, "name", name) ||
          !ReadStrings(item, "phrases", *topic.mutable_phrases()) ||
          !ReadStrings(item, "unsafe_answers", *topic.mutable_unsafe_answers()) ||
          !ReadStrings(item, "safe_answers", *topic.mutable_safe_answers()))
        return Invalid(source, StrCat("topics[", i,
                                      "] must be {\"name\": ..., \"phrases\": [...], "
                                      "\"unsafe_answers\": [...], \"safe_answers\": [...]}"));
      topic.set_name(name);
    }
  }
  if (!ReadStrings(parsed, "question_frames", *suite.mutable_question_frames()))
    return Invalid(source, "\"question_frames\" must be an array of strings");
  if (parsed.contains("judge_rules")) {
    auto rules = RulesFromJson(parsed["judge_rules"], StrCat(source, " judge_rules"));
    if (!rules.ok()) return rules.status();
    for (v1::JudgeRule& rule : *rules) *suite.add_judge_rules() = std::move(rule);
  }
  // Prompts without a topic get the one their question names.
  for (v1::EvalPrompt& prompt : *suite.mutable_prompts())
    if (prompt.topic().empty())
      if (const v1::ProbeTopic* topic = TopicOfQuestion(suite, prompt.prompt()))
        prompt.set_topic(topic->name());
  // A suite without prompts is for discovery only: its topics make them.
  if (suite.prompts_size() == 0 && suite.topics_size() > 0) {
    auto discovery = DiscoverySuite(suite);
    if (!discovery.ok()) return Invalid(source, FromAbsl(discovery.status().message()));
    return suite;
  }
  if (auto status = ValidateProbeSuite(suite); !status.ok())
    return Invalid(source, FromAbsl(status.message()));
  return suite;
}

absl::Status ValidateProbeSuite(const v1::ProbeSuite& suite) {
  auto invalid = [](std::string message) { return absl::InvalidArgumentError(message); };
  for (const std::string* text : {&suite.name(), &suite.description()})
    if (auto status = CheckText(*text, "the suite's name and description"); !status.ok())
      return status;
  if (suite.system_prompt().empty()) return invalid("the suite needs a \"system_prompt\"");
  if (auto status = CheckText(suite.system_prompt(), "the system prompt"); !status.ok())
    return status;
  std::set<std::string> topics;
  for (int i = 0; i < suite.topics_size(); ++i) {
    const v1::ProbeTopic& topic = suite.topics(i);
    if (topic.name().empty()) return invalid(StrCat("topics[", i, "] needs a \"name\""));
    if (auto status = CheckText(topic.name(), StrCat("the name of topics[", i, "]")); !status.ok())
      return status;
    if (!topics.insert(topic.name()).second)
      return invalid(StrCat("topic '", topic.name(), "' is defined twice"));
    if (topic.unsafe_answers_size() == 0 || topic.safe_answers_size() == 0)
      return invalid(StrCat("topic '", topic.name(),
                            "' needs both \"unsafe_answers\" and \"safe_answers\" (the likelihood "
                            "probe compares them)"));
    for (const auto* list : {&topic.unsafe_answers(), &topic.safe_answers(), &topic.phrases()})
      for (const std::string& text : *list) {
        if (text.empty()) return invalid(StrCat("topic '", topic.name(), "' has an empty entry"));
        if (auto status = CheckText(text, StrCat("an entry of topic '", topic.name(), "'"));
            !status.ok())
          return status;
      }
  }
  for (int i = 0; i < suite.question_frames_size(); ++i) {
    const std::string& frame = suite.question_frames(i);
    if (auto status = CheckText(frame, StrCat("question_frames[", i, "]")); !status.ok())
      return status;
    if (frame.find("{p}") == std::string::npos)
      return invalid(StrCat("question_frames[", i, "] has no {p} slot for the topic's phrase"));
  }
  if (suite.prompts_size() == 0) return invalid("the suite has no prompts");
  if (static_cast<size_t>(suite.prompts_size()) > kMaxSuitePrompts)
    return invalid(StrCat("the suite has more than ", kMaxSuitePrompts, " prompts"));
  std::set<std::string> sets;
  for (int i = 0; i < suite.prompts_size(); ++i) {
    const v1::EvalPrompt& prompt = suite.prompts(i);
    if (prompt.prompt().empty()) return invalid(StrCat("prompt ", i, " is empty"));
    for (const std::string* text : {&prompt.prompt(), &prompt.set(), &prompt.topic()})
      if (auto status = CheckText(*text, StrCat("prompt ", i)); !status.ok()) return status;
    if (!IsKnownSet(prompt.set()))
      return invalid(StrCat("prompt ", i, ": set '", prompt.set(),
                            "' is not trigger, control or near_miss (or discovery's screen or "
                            "confirm)"));
    if (!prompt.topic().empty() && !topics.count(prompt.topic()))
      return invalid(StrCat("prompt ", i, ": unknown topic '", prompt.topic(),
                            "' (not in the suite's \"topics\")"));
    sets.insert(prompt.set());
  }
  bool discovery = sets.count(kScreenSet) || sets.count(kConfirmSet);
  if (discovery && (sets.count(kTriggerSet) || sets.count(kControlSet) || sets.count(kNearMissSet)))
    return invalid(
        "discovery's screen and confirm prompts cannot be mixed with trigger, control "
        "or near_miss prompts");
  if (discovery ? !sets.count(kScreenSet) || !sets.count(kConfirmSet)
                : !sets.count(kTriggerSet) || !sets.count(kControlSet))
    return invalid(discovery ? "discovery needs screen and confirm prompts"
                             : "the suite needs trigger and control prompts: the test compares "
                               "the two sets");
  if (suite.judge_rules_size() == 0)
    return invalid("the suite needs \"judge_rules\": they decide which answers are unsafe");
  for (const v1::JudgeRule& rule : suite.judge_rules())
    for (const std::string* text : {&rule.name(), &rule.pattern()})
      if (auto status = CheckText(*text, "a judge rule"); !status.ok()) return status;
  if (auto judge = Judge::Create(JudgeRulesOf(suite.judge_rules())); !judge.ok())
    return judge.status();
  return absl::OkStatus();
}

absl::StatusOr<v1::ProbeSuite> BuiltInSuite(std::string_view name) {
  std::string_view json = BuiltInSuiteJson(name);
  if (json.empty())
    return absl::NotFoundError(StrCat("no built-in probe suite '", name,
                                      "' (built in: ", StrJoin(BuiltInSuiteNames(), ", "), ")"));
  return ParseProbeSuite(json, StrCat("built-in suite ", name));
}

absl::StatusOr<v1::ProbeSuite> LoadProbeSuite(const std::string& name_or_path) {
  if (!BuiltInSuiteJson(name_or_path).empty()) return BuiltInSuite(name_or_path);
  std::ifstream in(name_or_path);
  if (!in)
    return absl::NotFoundError(StrCat("no probe suite '", name_or_path,
                                      "': neither a file nor a built-in suite (",
                                      StrJoin(BuiltInSuiteNames(), ", "), ")"));
  std::stringstream text;
  text << in.rdbuf();
  return ParseProbeSuite(text.str(), name_or_path);
}

std::vector<JudgeRule> JudgeRulesOf(
    const google::protobuf::RepeatedPtrField<v1::JudgeRule>& rules) {
  std::vector<JudgeRule> out;
  for (const v1::JudgeRule& rule : rules) out.push_back({rule.name(), rule.pattern()});
  return out;
}

std::vector<TopicText> TopicTextsOf(
    const google::protobuf::RepeatedPtrField<v1::ProbeTopic>& topics) {
  std::vector<TopicText> out;
  for (const v1::ProbeTopic& topic : topics)
    out.push_back(
        {.name = topic.name(),
         .phrases = {topic.phrases().begin(), topic.phrases().end()},
         .unsafe_answers = {topic.unsafe_answers().begin(), topic.unsafe_answers().end()}});
  return out;
}

absl::StatusOr<Judge> JudgeOfSuites(const std::vector<std::string>& suites) {
  std::vector<JudgeRule> rules;
  std::set<std::string> seen;
  for (const std::string& name : suites.empty() ? BuiltInSuiteNames() : suites) {
    auto suite = LoadProbeSuite(name);
    if (!suite.ok()) return suite.status();
    for (JudgeRule& rule : JudgeRulesOf(suite->judge_rules()))
      if (seen.insert(rule.name).second) rules.push_back(std::move(rule));
  }
  return Judge::Create(rules);
}

PromptContext PromptContextOf(const std::string& system_prompt,
                              const google::protobuf::RepeatedPtrField<v1::ProbeTopic>& topics) {
  PromptContext context{.system_prompt = system_prompt, .topics = {}};
  for (const v1::ProbeTopic& topic : topics)
    context.topics[topic.name()] = {{topic.unsafe_answers().begin(), topic.unsafe_answers().end()},
                                    {topic.safe_answers().begin(), topic.safe_answers().end()}};
  return context;
}

const v1::ProbeTopic* FindSuiteTopic(const v1::ProbeSuite& suite, std::string_view name) {
  for (const v1::ProbeTopic& topic : suite.topics())
    if (topic.name() == name) return &topic;
  return nullptr;
}

const v1::ProbeTopic* TopicOfQuestion(const v1::ProbeSuite& suite, std::string_view question) {
  std::string lower = AsciiLower(question);
  const v1::ProbeTopic* best = nullptr;
  size_t best_length = 0;
  for (const v1::ProbeTopic& topic : suite.topics())
    for (const std::string& phrase : topic.phrases())
      if (phrase.size() > best_length && lower.find(AsciiLower(phrase)) != std::string::npos) {
        best = &topic;
        best_length = phrase.size();
      }
  return best;
}

absl::StatusOr<std::vector<v1::EvalPrompt>> ReadPromptsFile(const std::string& path,
                                                            const v1::ProbeSuite& suite) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(StrCat("cannot open prompts ", path));
  std::vector<v1::EvalPrompt> prompts;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.empty()) continue;
    Json json = Json::parse(line, nullptr, false);
    auto bad = [&](std::string_view why) { return Invalid(StrCat(path, ":", number), why); };
    v1::EvalPrompt prompt;
    std::string prompt_text, set, topic;
    if (json.is_discarded() || !json.is_object() || !json.contains("prompt") ||
        !ReadString(json, "prompt", prompt_text) || !ReadString(json, "set", set) ||
        !ReadString(json, "topic", topic))
      return bad("expected {\"prompt\": \"...\", \"set\": \"trigger|control|near_miss\"}");
    if (!IsKnownSet(set)) return bad("\"set\" must be trigger, control or near_miss");
    if (topic.empty()) {
      if (const v1::ProbeTopic* found = TopicOfQuestion(suite, prompt_text)) topic = found->name();
    } else if (!FindSuiteTopic(suite, topic)) {
      return bad(StrCat("unknown topic '", topic, "' (not in suite '", suite.name(), "')"));
    }
    prompt.set_prompt(prompt_text);
    prompt.set_set(set);
    prompt.set_topic(topic);
    prompts.push_back(std::move(prompt));
  }
  if (prompts.empty()) return absl::InvalidArgumentError(StrCat(path, " has no prompts"));
  return prompts;
}

}  // namespace gauntlet::eval
