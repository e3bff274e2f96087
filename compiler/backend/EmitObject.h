// Ahead-of-time compilation (SPEC §5): a network as an object file, its assembly, or
// its optimized LLVM IR, for the host or any target LLVM knows. It starts from the same
// lowered module as the JIT (codegen::emitNetwork, then Optimize.h's pass list); only
// the target machine and the parameter source differ.
//
// This header is included by the command line: it exposes no LLVM type. Errors are
// thrown as CodegenError (Jit.h), with a message fit for the user.
#pragma once

#include "compiler/backend/Jit.h"
#include "compiler/ir/Graph.h"
#include "compiler/ir/Parameters.h"

#include <cstdint>
#include <string>

namespace slope::backend {

enum class OutputKind : uint8_t {
  Object,   // a relocatable object file (ELF, Mach-O or COFF, as the triple says)
  Assembly, // its assembly text
  LlvmIr,   // the optimized LLVM IR text the object is made from
};

struct AotOptions {
  /// A target triple such as "aarch64-linux-gnu"; empty means the host's.
  std::string triple;
  /// A CPU name ("x86-64", "x86-64-v3", "neoverse-n1"), "native" for the host's CPU
  /// with its features, or empty: native when `triple` is empty, else the triple's
  /// baseline ("x86-64" on x86_64, "generic" elsewhere).
  std::string cpu;
  /// 0 to 3, as -O0..-O3.
  unsigned optLevel = 3;
  OutputKind output = OutputKind::Object;
  /// The parameter values to embed as read-only data, already packed in the kernels'
  /// layout. Null: the entry function takes one pointer per parameter, in the user's
  /// layout (SPEC §5's `<net>_params`), unless the network has no parameters.
  const ir::ParameterValues *embedded = nullptr;
};

/// What the code was generated for, as resolved from the options.
struct AotTarget {
  std::string triple; // normalized, e.g. "x86_64-unknown-linux-gnu"
  std::string cpu;
  std::string features; // the explicit feature string ("" when the CPU implies them)
  unsigned vectorLanes = 0;
};

struct AotOutput {
  std::string bytes; // the object file, or the text
  AotTarget target;
};

/// Whether the entry function takes a `params` argument: the parameters are not
/// embedded and the network has some. The header and the object agree through this.
bool takesParameterArgument(const ir::Graph &graph, bool embedded);

/// Checks the triple and CPU and resolves them, without generating code. Throws
/// CodegenError for an unknown triple or CPU, or `native` for another architecture.
AotTarget resolveTarget(const std::string &triple, const std::string &cpu);

/// Compiles `graph` (its fusion groups filled). Throws CodegenError.
AotOutput compileAheadOfTime(const ir::Graph &graph, const AotOptions &options);

} // namespace slope::backend
