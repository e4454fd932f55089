// Renders chat templates for tests/jinja/reference_test.mjs: one JSON case
// per stdin line ({"template": ..., "context": ...}), one JSON answer per
// stdout line ({"output": ...} or {"error": ..., "code": ...}).
#include <iostream>
#include <string>

#include "hf/chat_template.h"
#include "nlohmann/json.hpp"

int main() {
  std::string line;
  while (std::getline(std::cin, line)) {
    auto input = nlohmann::ordered_json::parse(line);
    nlohmann::ordered_json answer;
    auto parsed = gauntlet::eval::ChatTemplate::Parse(input.at("template").get<std::string>());
    auto rendered = parsed.ok() ? parsed->Render(input.at("context")) : parsed.status();
    if (rendered.ok()) {
      answer["output"] = *rendered;
    } else {
      answer["error"] = std::string(rendered.status().message());
      answer["code"] = absl::StatusCodeToString(rendered.status().code());
    }
    std::cout << answer.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  }
  return 0;
}
