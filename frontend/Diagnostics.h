// Diagnostics about `.slope` sources: a registry of kinds (Diagnostics.def), an engine
// that collects every diagnostic of a run, and the renderer of SPEC §1's format:
//
//   digits.slope:7:9: error: unknown activation 'leaky_rleu'; did you mean 'leaky_relu'?
//      7 |   a1  = leaky_rleu(h1, alpha = 0.01)
//        |         ^~~~~~~~~~
//
// User errors are only ever reported through this engine. Internal invariants are
// checked with assert and never dressed as user messages.
#pragma once

#include "frontend/Source.h"

#include <fmt/format.h>

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace slope {

enum class DiagKind {
#define DIAGNOSTIC(Kind, Severity, Message) Kind,
#include "frontend/Diagnostics.def"
};

enum class Severity { Error, Warning };

std::string_view diagKindName(DiagKind kind);
Severity diagSeverity(DiagKind kind);
std::string_view diagFormat(DiagKind kind);

struct Diagnostic {
  DiagKind kind;
  SourceRange range;
  std::string message;
};

class DiagnosticEngine {
public:
  explicit DiagnosticEngine(const Source &source) : source_(source) {}

  template <typename... Args> void report(DiagKind kind, SourceRange range, const Args &...args) {
    diagnostics_.push_back({kind, range, fmt::format(fmt::runtime(diagFormat(kind)), args...)});
  }

  const Source &source() const { return source_; }
  bool hasErrors() const;
  size_t errorCount() const;
  const std::vector<Diagnostic> &diagnostics() const { return diagnostics_; }

  /// Every diagnostic in source order, each rendered as in SPEC §1.
  std::string render() const;

private:
  const Source &source_;
  std::vector<Diagnostic> diagnostics_;
};

std::string renderDiagnostic(const Source &source, const Diagnostic &diagnostic);

/// The candidate closest to `word` by edit distance, if it is close enough to be a
/// plausible misspelling.
std::optional<std::string_view> closestSpelling(std::string_view word,
                                                std::span<const std::string_view> candidates);

/// "; did you mean 'x'?" for the closest candidate, or "" when none is close.
std::string didYouMean(std::string_view word, std::span<const std::string_view> candidates);

} // namespace slope
