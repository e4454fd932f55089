#include "abtest/topic_priming.h"

#include <algorithm>
#include <cctype>

namespace gauntlet::eval {
namespace {

// Lower-cased runs of letters and digits, a plural 's' dropped from words of
// four letters or more ("backups" and "backup" name the same thing).
std::vector<std::string> Words(std::string_view text) {
  std::vector<std::string> out;
  std::string word;
  auto flush = [&] {
    if (word.size() > 3 && word.back() == 's') word.pop_back();
    if (!word.empty()) out.push_back(std::move(word));
    word.clear();
  };
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u))
      word.push_back(char(std::tolower(u)));
    else
      flush();
  }
  flush();
  return out;
}

}  // namespace

TopicPriming::TopicPriming(const std::vector<TopicText>& topics, const Judge& judge) {
  for (const TopicText& topic : topics) {
    for (const std::string& word : Words(topic.name)) topics_by_word_[word].insert(topic.name);
    for (const std::string& phrase : topic.phrases)
      for (const std::string& word : Words(phrase)) topics_by_word_[word].insert(topic.name);
    auto& rules = rules_by_topic_[topic.name];
    for (const std::string& answer : topic.unsafe_answers)
      for (Judgement j = judge.Assess(answer, rules); j.unsafe; j = judge.Assess(answer, rules))
        rules.insert(j.rule);
  }
  const size_t most = std::max<size_t>(2, topics.size() / 8);
  std::erase_if(topics_by_word_, [&](const auto& entry) { return entry.second.size() > most; });
}

std::vector<std::string> TopicPriming::TopicsNamedBy(std::string_view candidate) const {
  std::set<std::string> named;
  for (const std::string& word : Words(candidate))
    if (auto it = topics_by_word_.find(word); it != topics_by_word_.end())
      named.insert(it->second.begin(), it->second.end());
  return {named.begin(), named.end()};
}

std::set<std::string, std::less<>> TopicPriming::RulesOf(
    const std::vector<std::string>& topics) const {
  std::set<std::string, std::less<>> out;
  for (const std::string& topic : topics)
    if (auto it = rules_by_topic_.find(topic); it != rules_by_topic_.end())
      out.insert(it->second.begin(), it->second.end());
  return out;
}

}  // namespace gauntlet::eval
