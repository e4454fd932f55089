// A test fixture with a fresh temporary directory per test, removed after.
#ifndef GAUNTLET_TESTS_SUPPORT_TEMP_DIR_TEST_H_
#define GAUNTLET_TESTS_SUPPORT_TEMP_DIR_TEST_H_

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

namespace gauntlet {

class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::temp_directory_path() /
           ("gauntlet_" + std::string(test->test_suite_name()) + "_" + test->name() + "_" +
            std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

}  // namespace gauntlet

#endif  // GAUNTLET_TESTS_SUPPORT_TEMP_DIR_TEST_H_
