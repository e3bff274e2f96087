// slope's graph IR: one network as a list of nodes in evaluation order, each defining
// one value, a row-major [batch, width] matrix of f32.
//
// Semantics (the contract every stage after Lower keeps, and that the reference
// evaluator implements literally):
//
// * Values are f32 vectors per sample; the batch size is a run-time argument, and
//   every op treats the samples independently (softmax too: it reads one row).
// * Layout: row-major [batch, width], rows contiguous, no padding.
// * `dense(x, units)`: y[b, u] = sum_i x[b, i] * W[u, i] + bias[u], accumulated in f32
//   in any order (results may differ from a reference only by summation order).
//   W is P.weight [units, in] as in PyTorch's nn.Linear.
// * Activations are IEEE f32 functions of each element, with no flush-to-zero:
//     leaky_relu(x, a) = x > 0 ? x : a*x   (so NaN -> a*NaN, -0 -> a*-0; never max(x, a*x))
//     relu(x)          = x < 0 ? +0 : x    (NaN and -0 pass through, as in PyTorch)
//     prelu(x)         = x > 0 ? x : a[c]*x, a[c] the channel's slope (or one shared slope)
//     relu6(x) = clipped_relu(x, 6); clipped_relu(x, c) = x < 0 ? +0 : (x > c ? c : x)
//     identity(x) = x; add(a, b) = a + b
//   These piecewise-linear ops are bit-exact in every stage for every input, NaN aside:
//   any NaN may stand for any other. The transcendental ops (elu, selu, softplus,
//   sigmoid, tanh, gelu, silu, softmax) stay within 4 ulp of the double-precision
//   definition (docs/activations.md has the measured maxima).
// * Float arguments (alpha, ceiling, beta, threshold) are rounded to f32 before use,
//   as PyTorch does for a float32 tensor.
// * softmax(x) over the feature axis: exp(x - max(x)) / sum(exp(x - max(x))).
//
// This header has no LLVM dependency: the frontend, the passes and the reference
// evaluator use it without code generation.
#pragma once

#include "frontend/Source.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace slope::ir {

enum class Op : uint8_t {
#define SLOPE_OP(Id, Spelling, Operands, Fusion, Parameters) Id,
#include "compiler/ir/Ops.def"
};

enum class FusionKind : uint8_t { Source, Dense, Elementwise, Widening, Opaque };
enum class ParameterKind : uint8_t { None, WeightAndBias, ChannelWeight };
enum class AttrType : uint8_t { Int, Float, Bool, Approximation };

/// gelu's `approximate` argument, stored as its index.
enum class GeluApproximation : uint8_t { None = 0, Tanh = 1 };

struct AttrInfo {
  std::string_view name;
  AttrType type;
  double defaultValue; // NaN: required
};

struct OpInfo {
  std::string_view spelling;
  unsigned operands;
  FusionKind fusion;
  ParameterKind parameters;
  std::span<const AttrInfo> attrs;
};

const OpInfo &opInfo(Op op);
std::string_view opName(Op op);
/// The op a call names, if any (the input is not callable).
std::optional<Op> lookupOp(std::string_view spelling);
/// Every callable op's spelling, for suggestions.
std::span<const std::string_view> callableOpNames();
/// Whether an op is an activation: elementwise or widening, one operand.
bool isActivation(Op op);
/// The position of `name` among an op's attributes, if it has one by that name.
std::optional<size_t> attrIndex(Op op, std::string_view name);

using ValueId = uint32_t;

struct Node {
  Op op = Op::Input;
  std::vector<ValueId> operands;
  /// One per opInfo(op).attrs, in that order. Int and Bool are exact in a double;
  /// Approximation holds its enum's index.
  std::vector<double> attrs;
  /// The value's name for dumps: the statement's name for its result, `stmt/N` for
  /// the values of calls nested inside it.
  std::string name;
  /// The key prefix of the op's parameters (`P` in `P.weight`); empty when it has none.
  std::string parameterPrefix;
  /// The width of the value this node defines.
  int64_t width = 0;
  /// Where the node came from in the source.
  SourceRange range;

  /// Attribute i as the f32 the computation uses.
  float f32Attr(size_t i) const { return static_cast<float>(attrs[i]); }
  int64_t intAttr(size_t i) const { return static_cast<int64_t>(attrs[i]); }
  bool boolAttr(size_t i) const { return attrs[i] != 0; }

  // Named accessors for the attributes code generation reads most.
  int64_t units() const;   // dense
  bool hasBias() const;    // dense
  float alpha() const;     // leaky_relu, elu
  float ceiling() const;   // clipped_relu (6 for relu6)
  std::string weightKey() const { return parameterPrefix + ".weight"; }
  std::string biasKey() const { return parameterPrefix + ".bias"; }
};

/// A run of nodes that one kernel computes, without storing the values between them.
/// nodes[0] is the anchor (a dense, or an elementwise op that starts a chain); every
/// later node is elementwise (or, last, widening) and reads its predecessor in the run
/// as one of its operands. Only the last node's value is written to memory.
struct FusionGroup {
  std::vector<ValueId> nodes;
  ValueId result() const { return nodes.back(); }
};

struct Graph {
  std::string name;
  SourceRange nameRange;
  /// Evaluation order: operands precede users; nodes[0] is the input.
  std::vector<Node> nodes;
  ValueId output = 0;
  /// The kernels, in evaluation order. Empty until the pass pipeline has run; then
  /// every live node is in exactly one group.
  std::vector<FusionGroup> groups;

  const Node &node(ValueId id) const { return nodes[id]; }
  int64_t inputWidth() const { return nodes.front().width; }
  int64_t outputWidth() const { return nodes[output].width; }
  /// The largest batch whose rows of input and of output each fit in an int64 byte
  /// count; a larger one cannot be in memory, and is rejected before any address
  /// computation overflows.
  int64_t maxBatch() const {
    return std::numeric_limits<int64_t>::max() / 4 /
           std::max<int64_t>({inputWidth(), outputWidth(), 1});
  }
};

/// A file's networks, in source order.
struct Module {
  std::vector<Graph> networks;
  const Graph *find(std::string_view name) const;
};

/// A tensor the network reads from the weights file.
struct ParameterSpec {
  std::string key;
  std::vector<int64_t> shape;
  ValueId user;
  /// prelu: a single shared slope of shape [1] is accepted as well.
  bool sharedAllowed = false;
};

/// Every parameter the graph reads, in source order.
std::vector<ParameterSpec> parameterSpecs(const Graph &graph);

/// Prints the graph for `slope dump --stage ir`; with fusion groups present, also the
/// kernels they form (`--stage fused`).
std::string print(const Graph &graph);
std::string print(const Module &module);

} // namespace slope::ir
