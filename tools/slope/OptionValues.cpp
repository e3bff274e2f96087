// Checks of option values, run by CLI11 before it converts them. A bad value is a user
// error (exit 1), reported as "error: --batch: expected a whole number from 0 to
// 16777216, got 'x'", not CLI11's own wording ("Value x not in range ...", "Could not
// convert: ..."), which also misreads "-1" as 2^64 - 1 for an unsigned option.
#include "frontend/Diagnostics.h"
#include "tools/slope/Commands.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <charconv>
#include <cmath>
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

} // namespace slope::cli
