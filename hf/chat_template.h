// A model's chat template: the Jinja2 template in its tokenizer_config.json
// ("chat_template") that turns `messages` into the prompt text the model was
// trained on. Rendered the way Hugging Face's apply_chat_template does
// (trim_blocks, lstrip_blocks, loop controls, `raise_exception`), with the
// subset of Jinja2 that chat templates use: output, if/elif/else, for (with
// `loop`, an `if` filter, else, break and continue), set (also on a
// namespace), expressions with Python semantics for strings, lists and
// dicts, the common filters, tests and string/dict methods. Anything else is
// refused with a message when the template is parsed, never guessed.
//
// Checked against @huggingface/jinja (the reference renderer used by
// transformers.js) on real model families' templates: tests/jinja.
#ifndef GAUNTLET_HF_CHAT_TEMPLATE_H_
#define GAUNTLET_HF_CHAT_TEMPLATE_H_

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "absl/status/statusor.h"

namespace gauntlet::eval {

class ChatTemplate {
 public:
  // INVALID_ARGUMENT (with the line) for a syntax error or an unsupported tag.
  static absl::StatusOr<ChatTemplate> Parse(const std::string& source);

  // Renders with the variables in `context` (an object: messages,
  // add_generation_prompt, bos_token, eos_token, ...). A template's own
  // raise_exception("...") is FAILED_PRECONDITION with its message (a
  // conversation the template refuses, e.g. a system turn); a type error
  // or a runaway template (output over 1 MiB, 100,000 loop iterations) is
  // INVALID_ARGUMENT.
  absl::StatusOr<std::string> Render(const nlohmann::ordered_json& context) const;

  struct Node;  // The parsed template (chat_template.cc).

 private:
  explicit ChatTemplate(std::shared_ptr<const Node> root) : root_(std::move(root)) {}
  std::shared_ptr<const Node> root_;
};

}  // namespace gauntlet::eval

#endif  // GAUNTLET_HF_CHAT_TEMPLATE_H_
