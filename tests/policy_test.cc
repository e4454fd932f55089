#include "common/policy.h"

#include <gtest/gtest.h>

namespace gauntlet {
namespace {

TEST(GlobMatch, StarSpansDotsAndAnchorsBothEnds) {
  EXPECT_TRUE(GlobMatch("os.*", "os.system"));
  EXPECT_TRUE(GlobMatch("os.*", "os.path.join"));
  EXPECT_FALSE(GlobMatch("os.*", "osx.system"));
  EXPECT_FALSE(GlobMatch("os.*", "os"));
  EXPECT_TRUE(GlobMatch("torch.*Storage", "torch.FloatStorage"));
  EXPECT_TRUE(GlobMatch("torch.*Storage", "torch.storage.UntypedStorage"));
  EXPECT_FALSE(GlobMatch("torch.*Storage", "torch.FloatStorageX"));
  EXPECT_TRUE(GlobMatch("builtins.eval", "builtins.eval"));
  EXPECT_FALSE(GlobMatch("builtins.eval", "builtins.evaluate"));
}

TEST(DefaultPolicy, DeniesAllowsAndLeavesTheRestUnknown) {
  const Policy& p = Policy::Default();
  auto os = p.ClassifyImport("os.system");
  EXPECT_EQ(os.kind, ImportClass::kDenied);
  EXPECT_EQ(os.severity, Severity::kCritical);
  EXPECT_EQ(p.ClassifyImport("webbrowser.open").severity, Severity::kHigh);
  EXPECT_EQ(p.ClassifyImport("torch._utils._rebuild_tensor_v2").kind, ImportClass::kAllowed);
  EXPECT_EQ(p.ClassifyImport("torch.FloatStorage").kind, ImportClass::kAllowed);
  EXPECT_EQ(p.ClassifyImport("collections.OrderedDict").kind, ImportClass::kAllowed);
  EXPECT_EQ(p.ClassifyImport("numpy.core.multiarray._reconstruct").kind, ImportClass::kAllowed);
  // Deny beats allow: torch is allowlisted piecemeal, torch.load never.
  EXPECT_EQ(p.ClassifyImport("torch.serialization.load").kind, ImportClass::kDenied);
  EXPECT_EQ(p.ClassifyImport("mycompany.layers.Dense").kind, ImportClass::kUnknown);
  EXPECT_EQ(p.limits().max_nesting_depth, 8u);
}

TEST(PolicyFile, UserLayerOverridesDefaultsBothWays) {
  auto p = Policy::FromToml(R"(
[imports]
unknown_called = "HIGH"
[imports.deny]
MEDIUM = ["collections.OrderedDict"]
[imports.allow]
patterns = ["functools.partial", "mycompany.*"]
[limits]
max_nesting_depth = 3
[rules]
"format.unrecognized" = "LOW"
"pickle.trailing_data" = "OFF"
)",
                            "user.toml");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->ClassifyImport("collections.OrderedDict").kind, ImportClass::kDenied);
  EXPECT_EQ(p->ClassifyImport("collections.OrderedDict").severity, Severity::kMedium);
  EXPECT_EQ(p->ClassifyImport("functools.partial").kind, ImportClass::kAllowed);
  EXPECT_EQ(p->ClassifyImport("mycompany.x").kind, ImportClass::kAllowed);
  EXPECT_EQ(p->ClassifyImport("os.system").kind, ImportClass::kDenied);  // Default still there.
  EXPECT_EQ(p->unknown_called_severity(), Severity::kHigh);
  EXPECT_EQ(p->limits().max_nesting_depth, 3u);
  EXPECT_EQ(p->limits().max_pickle_opcodes, Policy::Default().limits().max_pickle_opcodes);
  EXPECT_EQ(p->EffectiveSeverity("format.unrecognized", Severity::kMedium), Severity::kLow);
  EXPECT_EQ(p->EffectiveSeverity("pickle.trailing_data", Severity::kLow), std::nullopt);
  EXPECT_EQ(p->EffectiveSeverity("pickle.dangerous_global", Severity::kHigh), Severity::kHigh);
  EXPECT_EQ(p->source(), "user.toml");
}

TEST(PolicyFile, ExtendsNoneStartsEmpty) {
  auto p = Policy::FromToml("extends = \"none\"\n", "bare.toml");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->ClassifyImport("os.system").kind, ImportClass::kUnknown);
}

TEST(PolicyFile, MalformedInputGivesActionableErrors) {
  struct Case {
    const char* toml;
    const char* expected;
  } cases[] = {
      {"[imports\n", "policy bad.toml"},
      {"[imports.deny]\nSEVERE = [\"x\"]\n", "must be a severity name"},
      {"[imports]\nunknown_called = \"LOUD\"\n", "is not one of INFO"},
      {"[limits]\nmax_nesting_depth = -1\n", "positive number"},
      {"[limits]\nmax_depth = 3\n", "unknown key 'max_depth'"},
      {"colour = 1\n", "unknown key 'colour'"},
      {"extends = \"parent\"\n", "extends must be"},
      {"[imports.allow]\npatterns = [1]\n", "non-empty strings"},
  };
  for (const Case& c : cases) {
    auto p = Policy::FromToml(c.toml, "bad.toml");
    ASSERT_FALSE(p.ok()) << c.toml;
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(std::string(p.status().message()).find(c.expected), std::string::npos)
        << p.status().message();
  }
  EXPECT_EQ(Policy::LoadFile("/nonexistent/policy.toml").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace gauntlet
