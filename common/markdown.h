// Untrusted text (file names, evidence, model answers) placed in a Markdown
// report: it must read as the text it is, never as a link, an image, HTML,
// a table cell boundary or code. Markdown's punctuation and HTML's specials
// are escaped, control characters and line breaks shown as \xNN, and long
// values cut with an ellipsis.
#ifndef GAUNTLET_COMMON_MARKDOWN_H_
#define GAUNTLET_COMMON_MARKDOWN_H_

#include <cstddef>
#include <string>
#include <string_view>

namespace gauntlet {

std::string MarkdownText(std::string_view text, size_t max_bytes = 300);

}  // namespace gauntlet

#endif  // GAUNTLET_COMMON_MARKDOWN_H_
