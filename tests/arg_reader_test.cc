// The command-line reader of the three binaries: "--flag value" and
// "--flag=value" (as Kubernetes manifests write it) read the same.
#include "common/arg_reader.h"

#include <gtest/gtest.h>

namespace gauntlet {
namespace {

TEST(ArgReaderTest, FlagEqualsValueReadsAsFlagThenValue) {
  ArgReader args({"--listen=0.0.0.0:7443", "--slots", "4", "--insecure", "path=with=equals"});
  std::string value;
  int64_t number = 0;
  ASSERT_TRUE(args.Next());
  EXPECT_EQ(args.arg(), "--listen");
  ASSERT_TRUE(args.Value(value));
  EXPECT_EQ(value, "0.0.0.0:7443");
  ASSERT_TRUE(args.Next());
  EXPECT_EQ(args.arg(), "--slots");
  ASSERT_TRUE(args.PositiveNumber(number));
  EXPECT_EQ(number, 4);
  ASSERT_TRUE(args.Next());
  EXPECT_EQ(args.arg(), "--insecure");
  ASSERT_TRUE(args.Next());
  EXPECT_EQ(args.arg(), "path=with=equals") << "only options are split";
  EXPECT_FALSE(args.Next());
}

TEST(ArgReaderTest, MissingOrBadValuesAreRefused) {
  ArgReader args({"--slots=0", "--name"});
  int64_t number = 0;
  std::string value;
  ASSERT_TRUE(args.Next());
  EXPECT_FALSE(args.PositiveNumber(number));
  ASSERT_TRUE(args.Next());
  EXPECT_FALSE(args.Value(value));
}

}  // namespace
}  // namespace gauntlet
