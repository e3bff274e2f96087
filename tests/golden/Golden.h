// Golden files: expected output kept next to the input it comes from. A mismatch fails
// the test and shows both texts; with SLOPE_UPDATE_GOLDEN=1 in the environment the
// expected file is rewritten instead (review the diff before committing it).
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace slope::test {

inline std::string readFile(const std::filesystem::path &path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return std::move(text).str();
}

/// The files with `extension` in a folder of tests/golden, sorted by name.
inline std::vector<std::filesystem::path> goldenInputs(const std::string &folder,
                                                       const std::string &extension) {
  std::vector<std::filesystem::path> files;
  for (const auto &entry :
       std::filesystem::directory_iterator(std::filesystem::path(SLOPE_SOURCE_DIR) / "tests" /
                                           "golden" / folder))
    if (entry.path().extension() == extension)
      files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  return files;
}

inline void checkGolden(const std::filesystem::path &expectedPath, const std::string &actual) {
  const char *update = std::getenv("SLOPE_UPDATE_GOLDEN");
  if (update && std::string(update) == "1") {
    std::ofstream(expectedPath, std::ios::binary) << actual;
    return;
  }
  INFO("golden file: ", expectedPath.string());
  REQUIRE(std::filesystem::exists(expectedPath));
  CHECK(actual == readFile(expectedPath));
}

} // namespace slope::test
