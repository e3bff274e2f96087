// Checks of option values. The validators run in CLI11 before it converts a value. A
// bad value is a user error (exit 1), reported as "error: --batch: expected a whole
// number from 0 to 16777216, got 'x'", not CLI11's own wording ("Value x not in range
// ...", "Could not convert: ..."), which also misreads "-1" as 2^64 - 1 for an
// unsigned option. The checks of output paths run once the command starts.
#include "frontend/Diagnostics.h"
#include "tools/slope/Commands.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <charconv>
#include <cmath>
#include <filesystem>
#include <limits>
#include <utility>

namespace slope::cli {

CLI::Validator wholeNumber(uint64_t max) {
  return CLI::Validator(
      [max](std::string &value) -> std::string {
        uint64_t n = 0;
        const char *end = value.data() + value.size();
        auto [stop, error] = std::from_chars(value.data(), end, n);
        // from_chars takes no sign, so "-1" and "+1" fail here, as do "", "1.5" and "1e3".
        if (value.empty() || error != std::errc() || stop != end || n > max)
          return max == std::numeric_limits<uint64_t>::max()
                     ? fmt::format("expected a whole number (0 or more), got '{}'", value)
                     : fmt::format("expected a whole number from 0 to {}, got '{}'", max, value);
        return {};
      },
      "", "WHOLE NUMBER");
}

CLI::Validator numberIn(double low, double high) {
  return CLI::Validator(
      [low, high](std::string &value) -> std::string {
        double x = 0;
        const char *end = value.data() + value.size();
        auto [stop, error] = std::from_chars(value.data(), end, x);
        if (value.empty() || error != std::errc() || stop != end || !std::isfinite(x) ||
            x < low || x > high)
          return fmt::format("expected a number from {} to {}, got '{}'", low, high, value);
        return {};
      },
      "", "NUMBER");
}

CLI::Validator oneOf(std::vector<std::string_view> names) {
  return CLI::Validator(
      [names = std::move(names)](std::string &value) -> std::string {
        for (std::string_view name : names)
          if (value == name)
            return {};
        return fmt::format("expected one of {}, got '{}'{}", fmt::join(names, ", "), value,
                           didYouMean(value, names));
      },
      "", "NAME");
}

bool samePath(const std::string &a, const std::string &b) {
  namespace fs = std::filesystem;
  auto resolved = [](const std::string &path) {
    std::error_code ec;
    fs::path full = fs::weakly_canonical(fs::absolute(path, ec), ec);
    return ec ? fs::path(path).lexically_normal() : full;
  };
  return resolved(a) == resolved(b);
}

void checkNotAnInput(std::string_view what, const std::string &path, const std::string &source,
                     const std::string &weights) {
  if (samePath(path, source))
    fail(fmt::format("the {} '{}' is the source file; it would be overwritten", what, path));
  if (!weights.empty() && samePath(path, weights))
    fail(fmt::format("the {} '{}' is the weights file; it would be overwritten", what, path));
}

} // namespace slope::cli
