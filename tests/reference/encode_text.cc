// Tokenizes for tests/reference/tokenizer_reference_test.mjs with the
// tokenizer the eval worker loads (Tokenizer::Load of argv[1], a
// tokenizer.json with its tokenizer_config.json beside it): one JSON request
// per stdin line, one JSON answer per stdout line.
//   {"text": ...}                -> {"ids": [...]}   (Encode, no special tokens added)
//   {"system": ..., "user": ...} -> {"ids": [...]}   (EncodeChatPrompt: the model's template)
// A refusal answers {"error": ...}.
#include <iostream>
#include <string>

#include "hf/tokenizer.h"
#include "nlohmann/json.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: encode_text TOKENIZER_JSON < requests.jsonl\n";
    return 2;
  }
  auto tokenizer = gauntlet::eval::Tokenizer::Load(argv[1]);
  if (!tokenizer.ok()) {
    std::cerr << tokenizer.status().ToString() << "\n";
    return 2;
  }
  std::string line;
  while (std::getline(std::cin, line)) {
    auto request = nlohmann::json::parse(line);
    nlohmann::json answer;
    if (request.contains("text")) {
      answer["ids"] = tokenizer->Encode(request["text"].get<std::string>());
    } else {
      auto ids = tokenizer->EncodeChatPrompt(request.at("system").get<std::string>(),
                                             request.at("user").get<std::string>());
      if (ids.ok())
        answer["ids"] = *ids;
      else
        answer["error"] = std::string(ids.status().message());
    }
    std::cout << answer.dump() << "\n";
  }
  return 0;
}
