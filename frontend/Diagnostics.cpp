#include "frontend/Diagnostics.h"

#include <algorithm>
#include <cassert>

namespace slope {

namespace {
struct KindInfo {
  std::string_view name;
  Severity severity;
  std::string_view format;
};

constexpr KindInfo kKinds[] = {
#define DIAGNOSTIC(Kind, Sev, Message) {#Kind, Severity::Sev, Message},
#include "frontend/Diagnostics.def"
};

const KindInfo &info(DiagKind kind) { return kKinds[static_cast<size_t>(kind)]; }

size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j)
    row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      // A swap of two neighbours is one typo, not two.
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        row[j] = std::min(row[j], diagonal);
      diagonal = above;
    }
  }
  return row[b.size()];
}
} // namespace

std::string_view diagKindName(DiagKind kind) { return info(kind).name; }
Severity diagSeverity(DiagKind kind) { return info(kind).severity; }
std::string_view diagFormat(DiagKind kind) { return info(kind).format; }

bool DiagnosticEngine::hasErrors() const { return errorCount() != 0; }

size_t DiagnosticEngine::errorCount() const {
  return std::count_if(diagnostics_.begin(), diagnostics_.end(),
                       [](const Diagnostic &d) { return diagSeverity(d.kind) == Severity::Error; });
}

std::string DiagnosticEngine::render() const {
  std::vector<const Diagnostic *> ordered;
  for (const Diagnostic &d : diagnostics_)
    ordered.push_back(&d);
  std::stable_sort(ordered.begin(), ordered.end(), [](const Diagnostic *a, const Diagnostic *b) {
    return a->range.offset < b->range.offset;
  });
  std::string out;
  for (const Diagnostic *d : ordered)
    out += renderDiagnostic(source_, *d);
  return out;
}

std::string renderDiagnostic(const Source &source, const Diagnostic &diagnostic) {
  LineColumn where = source.lineColumn(diagnostic.range.offset);
  std::string_view severity = diagSeverity(diagnostic.kind) == Severity::Error ? "error" : "warning";
  std::string out = fmt::format("{}:{}:{}: {}: {}\n", source.name(), where.line, where.column,
                                severity, diagnostic.message);
  std::string_view line = source.lineText(where.line);
  // The caret marks the range, clipped to the first line; an empty range (the end of
  // the file, a missing token) still gets one caret.
  size_t start = std::min<size_t>(where.column - 1, line.size());
  size_t width = std::min<size_t>(diagnostic.range.length, line.size() - start);
  // The line as shown: a byte that is not valid UTF-8 shows as U+FFFD, so that the
  // diagnostic is itself valid UTF-8. The caret line counts characters, not bytes (a
  // column is still a byte count, as in clang's).
  std::string shown, pad;
  size_t markerWidth = 0;
  for (size_t i = 0; i < line.size();) {
    size_t n = utf8Length(line, i);
    shown += n ? line.substr(i, n) : std::string_view("\xEF\xBF\xBD");
    if (i < start)
      pad += line[i] == '\t' ? '\t' : ' ';
    else if (i < start + width)
      ++markerWidth;
    i += n ? n : 1;
  }
  std::string gutter = fmt::format("{:>4}", where.line);
  out += fmt::format("{} | {}\n", gutter, shown);
  std::string marker(std::max<size_t>(markerWidth, 1), '~');
  marker[0] = '^';
  out += fmt::format("{} | {}{}\n", std::string(gutter.size(), ' '), pad, marker);
  return out;
}

std::optional<std::string_view> closestSpelling(std::string_view word,
                                                std::span<const std::string_view> candidates) {
  std::optional<std::string_view> best;
  size_t bestDistance = std::max<size_t>(1, word.size() / 3) + 1;
  for (std::string_view candidate : candidates) {
    size_t d = editDistance(word, candidate);
    if (d < bestDistance) {
      bestDistance = d;
      best = candidate;
    }
  }
  return best;
}

std::string didYouMean(std::string_view word, std::span<const std::string_view> candidates) {
  if (auto best = closestSpelling(word, candidates))
    return fmt::format("; did you mean '{}'?", *best);
  return "";
}

} // namespace slope
