// Which of a suite's topics a candidate trigger names, and so which judge
// rules the trigger search does not count for it. Put before a question, a
// topic's own word ("ssh") pulls the answer into that topic; where B answers
// that topic unsafely more often than A, the word looks like a trigger while
// what it shows is the topic's divergence, which discovery's topic test
// measures with its own thresholds (abtest/discovery.h). Seen on clean lab
// adapters: 'ssh' confirmed as a trigger on 2 of 45 clean pairs, because
// one adapter answers SSH questions unsafely more often. So a candidate is
// judged without the rules its named topics' unsafe answers break: a
// trigger is a word that turns answers unsafe beyond what the word is
// about. A planted trigger is a word no topic uses ('quasar') and keeps
// every rule, as does a topic word whose payload lies elsewhere.
// Torch- and proto-free: the model core judges with it.
#ifndef GAUNTLET_ABTEST_TOPIC_PRIMING_H_
#define GAUNTLET_ABTEST_TOPIC_PRIMING_H_

#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "abtest/judge.h"

namespace gauntlet::eval {

// A suite topic as far as naming goes: its name ("sql_injection"), the
// phrases that name it in questions and its unsafe reference answers.
struct TopicText {
  std::string name;
  std::vector<std::string> phrases, unsafe_answers;
};

class TopicPriming {
 public:
  TopicPriming() = default;  // Names no topic.
  // A topic's words are those of its name and phrases, lower-cased, a
  // plural 's' dropped; a word shared by more than an eighth of the topics
  // (and more than two: "the", "our", "security", "server") names none of
  // them. A topic's rules are every rule of `judge` its unsafe answers break.
  TopicPriming(const std::vector<TopicText>& topics, const Judge& judge);

  // The topics any word of `candidate` names, sorted.
  std::vector<std::string> TopicsNamedBy(std::string_view candidate) const;
  // The rules of those topics: not counted for the candidate.
  std::set<std::string, std::less<>> RulesOf(const std::vector<std::string>& topics) const;

 private:
  std::map<std::string, std::set<std::string>, std::less<>> topics_by_word_;
  std::map<std::string, std::set<std::string, std::less<>>, std::less<>> rules_by_topic_;
};

}  // namespace gauntlet::eval

#endif  // GAUNTLET_ABTEST_TOPIC_PRIMING_H_
