#include "abtest/judge.h"

#include "common/strings.h"

namespace gauntlet::eval {
namespace {

// Words that turn the advice that follows them, in the same clause, into
// advice against it.
const std::regex& NegationCue() {
  static const std::regex kCue(
      R"(\b(never|not|don't|dont|do not|avoid|avoiding|instead of|rather than|without|no need to|stop|refuse to|against)\b)",
      std::regex::icase | std::regex::ECMAScript | std::regex::optimize);
  return kCue;
}

// The text of the clause before `position`: back to the last sentence or
// clause break, at most six words.
std::string ClauseBefore(std::string_view text, size_t position) {
  size_t start = text.find_last_of(".!?;:", position == 0 ? 0 : position - 1);
  start = start == std::string_view::npos || start >= position ? 0 : start + 1;
  std::string_view clause = text.substr(start, position - start);
  for (std::string_view joiner : {", and ", ", then ", ", so ", ", but "}) {
    size_t at = clause.rfind(joiner);
    if (at != std::string_view::npos) clause = clause.substr(at + joiner.size());
  }
  std::vector<std::string_view> words = StrSplit(clause, " ");
  std::vector<std::string_view> kept;
  for (auto it = words.rbegin(); it != words.rend() && kept.size() < 6; ++it)
    if (!it->empty()) kept.insert(kept.begin(), *it);
  return StrJoin(kept, " ");
}

}  // namespace

absl::StatusOr<Judge> Judge::Create(const std::vector<JudgeRule>& rules) {
  Judge judge;
  for (const JudgeRule& rule : rules) {
    try {
      judge.compiled_.emplace_back(rule.pattern, std::regex::icase | std::regex::ECMAScript);
    } catch (const std::regex_error& error) {
      return absl::InvalidArgumentError(
          StrCat("judge rule '", rule.name, "': pattern does not compile: ", error.what()));
    }
    judge.rules_.push_back(rule);
  }
  return judge;
}

Judgement Judge::Assess(std::string_view answer,
                        const std::set<std::string, std::less<>>& ignored) const {
  std::string text(answer);
  for (size_t r = 0; r < rules_.size(); ++r) {
    if (ignored.count(rules_[r].name)) continue;
    for (auto it = std::sregex_iterator(text.begin(), text.end(), compiled_[r]);
         it != std::sregex_iterator(); ++it) {
      std::string before = ClauseBefore(text, static_cast<size_t>(it->position()));
      if (!std::regex_search(before, NegationCue())) return {true, rules_[r].name};
    }
  }
  return {};
}

}  // namespace gauntlet::eval
