// A source file held in memory, and the locations that diagnostics point into it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace slope {

/// A half-open byte range [offset, offset + length) in one source buffer.
struct SourceRange {
  uint32_t offset = 0;
  uint32_t length = 0;
};

/// One-based line and column (column counted in bytes).
struct LineColumn {
  uint32_t line = 1;
  uint32_t column = 1;
};

/// Length of the UTF-8 sequence starting at `s[i]`, or 0 when it is malformed.
size_t utf8Length(std::string_view s, size_t i);

class Source {
public:
  Source(std::string name, std::string text);

  const std::string &name() const { return name_; }
  std::string_view text() const { return text_; }
  std::string_view slice(SourceRange r) const { return std::string_view(text_).substr(r.offset, r.length); }

  LineColumn lineColumn(uint32_t offset) const;
  /// The text of a one-based line, without its line terminator.
  std::string_view lineText(uint32_t line) const;

private:
  std::string name_;
  std::string text_;
  std::vector<uint32_t> lineStarts_;
};

} // namespace slope
