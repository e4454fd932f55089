// Detects Jinja templates that reach Python internals. Chat templates are
// rendered by runtimes (llama-cpp-python, transformers) with Jinja, whose
// sandbox escapes all go through dunder attributes or well-known globals.
#ifndef GAUNTLET_WORKER_SCAN_TEMPLATE_INJECTION_H_
#define GAUNTLET_WORKER_SCAN_TEMPLATE_INJECTION_H_

#include <optional>
#include <string>
#include <string_view>

namespace gauntlet::scan {

struct TemplateThreat {
  std::string token;    // What matched, e.g. "__globals__".
  std::string excerpt;  // The text around it.
};

// True when `text` contains Jinja syntax ("{{" or "{%").
bool LooksLikeTemplate(std::string_view text);

// The first sandbox-escape construct in `text`, if any.
std::optional<TemplateThreat> FindTemplateThreat(std::string_view text);

}  // namespace gauntlet::scan

#endif  // GAUNTLET_WORKER_SCAN_TEMPLATE_INJECTION_H_
