// The chat-template renderer on what the reference comparison
// (tests/jinja) does not show: its refusals, limits and error messages, and
// the whitespace markers the references disagree on.
#include "hf/chat_template.h"

#include <gtest/gtest.h>

namespace gauntlet::eval {
namespace {

absl::StatusOr<std::string> Render(
    const std::string& source,
    const nlohmann::ordered_json& context = nlohmann::ordered_json::object()) {
  auto parsed = ChatTemplate::Parse(source);
  if (!parsed.ok()) return parsed.status();
  return parsed->Render(context);
}

TEST(ChatTemplateTest, RendersMessagesWithPythonSemantics) {
  nlohmann::ordered_json context = {{"messages", {{{"role", "user"}, {"content", "héllo"}}}},
                                    {"add_generation_prompt", true}};
  EXPECT_EQ(*Render("{% for m in messages %}[{{ m.role }}:{{ m['content'] | upper }}]{% endfor %}"
                    "{% if add_generation_prompt %}>{% endif %}",
                    context),
            "[user:HéLLO]>");
  EXPECT_EQ(*Render("{{ messages[0].content[1:] }}|{{ messages[0].content | length }}", context),
            "éllo|5")
      << "strings are sliced and counted by character, not byte";
  EXPECT_EQ(*Render("{{ none }} {{ true }} {{ [1, 'a', none] }} {{ 7 // -2 }} {{ -7 % 3 }}"),
            "None True [1, 'a', None] -4 2");
  EXPECT_EQ(*Render("{{ 'xxhixx'.strip('x') }}|{{ 'a' ~ 1 ~ none }}"), "hi|a1None");
}

TEST(ChatTemplateTest, WhitespaceControlAsApplyChatTemplate) {
  // trim_blocks and lstrip_blocks, '-' and '+' markers, one trailing newline dropped.
  EXPECT_EQ(*Render("  {% if true %}\nx\n  {% endif %}\ny\n"), "x\ny");
  EXPECT_EQ(*Render("a  {%- if true -%}  b  {%- endif %}"), "ab");
  EXPECT_EQ(*Render("  {%+ if true %}x{% endif +%}\ny"), "  x\ny");
  EXPECT_EQ(*Render("{# a comment #}\n{{ 'v' }}"), "v");
}

TEST(ChatTemplateTest, RaiseExceptionIsARefusalWithItsMessage) {
  auto refused = Render("{{ raise_exception('System role not supported') }}");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(refused.status().message(), "chat template: System role not supported");
}

TEST(ChatTemplateTest, WhatItCannotRenderIsRefusedWithALine) {
  struct Case {
    std::string source, message;
  } cases[] = {
      {"a\n{% macro f() %}{% endmacro %}", "line 2: the Jinja tag 'macro' is not supported"},
      {"{% for m in messages %}", "ends before its 'endfor'"},
      {"{{ 1 + }}", "line 1: expected a value"},
      {"{{ x", "line 1: a tag is not closed"},
      {"{% endif %}", "unexpected 'endif'"},
      {"{{ x | frobnicate }}", "the filter 'frobnicate' is not supported"},
      {"{{ " + std::string(500, '(') + "1" + std::string(500, ')') + " }}", "nested more than 100"},
      {std::string(300, ' ') + "{% if x %}" + "{% if x %}" + std::string(200, 'x'), "endif"},
  };
  for (const Case& c : cases) {
    auto result = Render(c.source);
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument) << c.source;
    EXPECT_NE(result.status().message().find(c.message), std::string::npos)
        << c.source << ": " << result.status();
  }
}

TEST(ChatTemplateTest, RunawayTemplatesStopAtTheirLimits) {
  auto loops =
      Render("{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}");
  EXPECT_NE(loops.status().message().find("looped more than"), std::string::npos) << loops.status();
  auto big = Render("{% for i in range(100) %}{{ 'x' * 100000 }}{% endfor %}");
  EXPECT_NE(big.status().message().find("output passed"), std::string::npos) << big.status();
  auto undefined = Render("{{ missing.attribute }}");
  EXPECT_NE(undefined.status().message().find("'missing' is undefined"), std::string::npos);
  auto type = Render("{{ 'a' + 1 }}");
  EXPECT_NE(type.status().message().find("unsupported operand types for +: string and int"),
            std::string::npos)
      << type.status();
}

TEST(ChatTemplateTest, IntegersBeyondSixtyFourBitsAreRefusedNotWrapped) {
  // Python's integers do not overflow; wrapping would be undefined behaviour
  // here (found by reading, after the adapter fuzzer's sanitizer build found
  // the same class of bug in adapter_config.json).
  for (const char* source :
       {"{{ 9223372036854775807 + 1 }}", "{{ (-9223372036854775807 - 1) - 1 }}",
        "{{ 4611686018427387904 * 2 }}", "{{ -(-9223372036854775807 - 1) }}",
        "{{ (-9223372036854775807 - 1) | abs }}", "{{ (-9223372036854775807 - 1) // -1 }}",
        "{{ (-9223372036854775807 - 1) % -1 }}"}) {
    auto result = Render(source);
    EXPECT_NE(result.status().message().find("integer overflow in"), std::string::npos)
        << source << ": " << result.status();
  }
  EXPECT_EQ(*Render("{{ 9223372036854775806 + 1 }} {{ (-9) | abs }} {{ 1_000 }} {{ -2.7 | int }}"),
            "9223372036854775807 9 1000 -2");
  EXPECT_NE(Render("{{ 9223372036854775808 }}")
                .status()
                .message()
                .find("line 1: the integer 9223372036854775808 does not fit 64 bits"),
            std::string::npos);
  EXPECT_NE(
      Render("{{ 100000000000000000000.0 | int }}").status().message().find("does not fit 64 bits"),
      std::string::npos)
      << "a double outside the 64-bit range is not cast (undefined behaviour)";
  EXPECT_EQ(Render("{{ range(9223372036854775804, 9223372036854775807, 5) | list }}").value_or("?"),
            "[9223372036854775804]")
      << "a range whose next step passes the largest integer ends";
  EXPECT_EQ(Render("{{ [1] | tojson(indent=-2) }}").value_or("?"), "[\n1\n]")
      << "as Python: ' ' * -2 is ''";
  auto huge = Render("{{ [1] | tojson(indent=1000000000) }}");
  EXPECT_NE(huge.status().message().find("tojson indent 1000000000 is larger than 100"),
            std::string::npos)
      << huge.status();
}

}  // namespace
}  // namespace gauntlet::eval
