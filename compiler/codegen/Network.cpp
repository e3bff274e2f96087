#include "compiler/codegen/Network.h"

#include "compiler/codegen/Epilogue.h"
#include "compiler/codegen/Gemm.h"
#include "compiler/codegen/KernelBuilder.h"
#include "compiler/codegen/Softmax.h"

#include <llvm/IR/Constants.h>
#include <llvm/IR/Function.h>
#include <llvm/IR/GlobalVariable.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Support/raw_ostream.h>

#include <algorithm>
#include <cctype>
#include <limits>
#include <map>
#include <set>

namespace slope::codegen {

namespace {

/// A name usable inside a symbol: the value name with anything odd as '_'.
std::string symbolPart(std::string_view name) {
  std::string s(name);
  for (char &c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)))
      c = '_';
  return s;
}

llvm::Error internalError(const std::string &message) {
  return llvm::createStringError("internal error in code generation: " + message);
}

/// The parameter keys a group reads, in the order its kernel takes them.
std::vector<std::string> groupParameters(const ir::Graph &graph, const ir::FusionGroup &group) {
  std::vector<std::string> keys;
  for (ir::ValueId id : group.nodes) {
    const ir::Node &node = graph.node(id);
    if (node.op == ir::Op::Dense) {
      keys.push_back(node.weightKey());
      if (node.hasBias())
        keys.push_back(node.biasKey());
    } else if (node.op == ir::Op::Prelu) {
      keys.push_back(node.weightKey());
    }
  }
  return keys;
}

/// The values a group reads from memory (operands not computed inside it), ascending.
std::vector<ir::ValueId> groupMemoryOperands(const ir::Graph &graph,
                                             const ir::FusionGroup &group) {
  std::set<ir::ValueId> inside;
  std::set<ir::ValueId> read;
  for (ir::ValueId id : group.nodes) {
    for (ir::ValueId operand : graph.node(id).operands)
      if (!inside.count(operand))
        read.insert(operand);
    inside.insert(id);
  }
  return {read.begin(), read.end()};
}

/// Checks what the kernels rely on; the pass pipeline guarantees it, so a failure here
/// is a bug upstream, reported instead of miscompiled.
llvm::Error checkGroup(const ir::Graph &graph, const ir::FusionGroup &group) {
  if (group.nodes.empty())
    return internalError("empty fusion group");
  for (size_t n = 0; n < group.nodes.size(); ++n) {
    if (group.nodes[n] >= graph.nodes.size())
      return internalError("fusion group names a value that does not exist");
    const ir::Node &node = graph.node(group.nodes[n]);
    if (llvm::Error e = checkSupported(node))
      return e;
    ir::FusionKind kind = ir::opInfo(node.op).fusion;
    if (node.op == ir::Op::Input)
      return internalError("the input in a fusion group");
    if (n == 0)
      continue;
    bool widening = kind == ir::FusionKind::Widening;
    if (kind != ir::FusionKind::Elementwise && !(widening && n + 1 == group.nodes.size()))
      return internalError("`" + node.name + "` fused after the anchor is not elementwise");
    if (node.width != graph.node(group.nodes[n - 1]).width * (widening ? 2 : 1))
      return internalError("`" + node.name + "` fused with a value of another width");
  }
  const ir::Node &anchor = graph.node(group.nodes[0]);
  if (anchor.op == ir::Op::Softmax && group.nodes.size() != 1)
    return internalError("softmax fused with other ops");
  for (ir::ValueId id : group.nodes) {
    const ir::Node &node = graph.node(id);
    if (ir::opInfo(node.op).fusion != ir::FusionKind::Elementwise)
      continue;
    for (ir::ValueId operand : node.operands)
      if (graph.node(operand).width != node.width)
        return internalError("`" + node.name + "` reads a value of another width");
  }
  return llvm::Error::success();
}

/// Where the entry functions keep the values that groups store and later groups read:
/// one slice of the scratch buffer each, `batch` rows of its width, one after the other.
struct ScratchPlan {
  std::map<ir::ValueId, int64_t> offset; // floats per row before the value
  int64_t rowFloats = 0;                 // floats per row in all
};

llvm::Expected<ScratchPlan> planScratch(const ir::Graph &graph) {
  ScratchPlan plan;
  for (const ir::FusionGroup &group : graph.groups) {
    if (group.result() == graph.output)
      continue;
    plan.offset[group.result()] = plan.rowFloats;
    plan.rowFloats += graph.node(group.result()).width;
  }
  for (const ir::FusionGroup &group : graph.groups)
    for (ir::ValueId id : groupMemoryOperands(graph, group))
      if (graph.node(id).op != ir::Op::Input && id != graph.output && !plan.offset.count(id))
        return internalError("`" + graph.node(id).name + "` is read but never stored");
  return plan;
}

/// The column tiles of `group`'s kernel when it computes a range of them (two more
/// arguments, after `rows`): a dense kernel over packed weights that
/// denseSplitsColumns; else 0.
int64_t rangedColumnTiles(const ir::Graph &graph, const ir::FusionGroup &group,
                          const TargetSpec &target, bool packedWeights) {
  const ir::Node &anchor = graph.node(group.nodes.front());
  if (!packedWeights || anchor.op != ir::Op::Dense)
    return 0;
  int64_t in = graph.node(anchor.operands[0]).width;
  return denseSplitsColumns(anchor.width, in, target)
             ? denseTiling(anchor.width, in, target).columnTiles()
             : 0;
}

class NetworkEmitter {
public:
  NetworkEmitter(llvm::LLVMContext &context, const ir::Graph &graph, const NetworkOptions &options)
      : ctx_(context), graph_(graph), options_(options), b_(context) {}

  llvm::Expected<std::unique_ptr<llvm::Module>> run();

private:
  llvm::Error collectParameters();
  llvm::Function *emitKernel(size_t index, const ir::FusionGroup &group, bool define);
  void emitEntry(const std::vector<llvm::Function *> &kernels);
  void emitStepEntry(const std::vector<llvm::Function *> &kernels);
  llvm::Value *returnIf(llvm::Value *condition, int32_t code);
  /// Every parameter's pointer by key: the embedded globals, or loaded from `params`
  /// (with `anyNull`, also whether one of them is null).
  std::map<std::string, llvm::Value *, std::less<>> parameterPointers(llvm::Value *params,
                                                                      llvm::Value **anyNull);
  /// Where every value a kernel reads or writes lives: the input, the output, or its
  /// slice of `scratch` (after `panelFloats` floats of weight panel).
  std::map<ir::ValueId, llvm::Value *> placeValues(llvm::Value *input, llvm::Value *output,
                                                   llvm::Value *scratch, int64_t panelFloats,
                                                   llvm::Value *batch);
  /// Calls the kernel of group `i` on `rows` rows from `firstRow` (null: 0) of every
  /// value; `tileBegin`/`tileEnd` only for one that splitsColumns, `panel` only for one
  /// that takesPanel.
  void callKernel(llvm::Function *kernel, size_t i,
                  const std::map<ir::ValueId, llvm::Value *> &where,
                  const std::map<std::string, llvm::Value *, std::less<>> &paramPtrs,
                  llvm::Value *panel, llvm::Value *firstRow, llvm::Value *rows,
                  llvm::Value *tileBegin, llvm::Value *tileEnd);
  /// Whether the kernels read dense weights in the packed layout; else in the user's,
  /// and each dense kernel packs them into a panel of scratch it is passed.
  bool packedWeights() const {
    return options_.parameters == ParameterSource::Embedded || options_.packedArguments;
  }
  /// Whether `group`'s kernel takes a panel argument.
  bool takesPanel(const ir::FusionGroup &group) const {
    return !packedWeights() && graph_.node(group.nodes.front()).op == ir::Op::Dense;
  }
  /// Whether `group`'s kernel computes a range of its column tiles, and how many it has.
  bool splitsColumns(const ir::FusionGroup &group) const { return columnTiles(group) > 0; }
  int64_t columnTiles(const ir::FusionGroup &group) const {
    return rangedColumnTiles(graph_, group, options_.target, packedWeights());
  }

  llvm::LLVMContext &ctx_;
  const ir::Graph &graph_;
  const NetworkOptions &options_;
  llvm::IRBuilder<> b_;
  std::unique_ptr<llvm::Module> module_;
  std::vector<ir::ParameterSpec> specs_;
  std::map<std::string, size_t, std::less<>> specIndex_;
  /// Embedded: the global holding each parameter, by key.
  std::map<std::string, llvm::GlobalVariable *, std::less<>> globals_;
  ScratchPlan scratch_;
  llvm::Function *entry_ = nullptr; // the function being emitted, for returnIf
};

llvm::Expected<std::unique_ptr<llvm::Module>> NetworkEmitter::run() {
  if (graph_.nodes.empty() || graph_.output >= graph_.nodes.size())
    return internalError("the graph has no output");
  bool outputIsInput = graph_.node(graph_.output).op == ir::Op::Input;
  if (graph_.groups.empty() && !outputIsInput)
    return internalError("the graph has no fusion groups (run the pass pipeline first)");
  for (const ir::FusionGroup &group : graph_.groups)
    if (llvm::Error e = checkGroup(graph_, group))
      return e;

  if (options_.stepEntry && !packedWeights())
    return internalError("the step entry needs the parameters packed");
  llvm::Expected<ScratchPlan> plan = planScratch(graph_);
  if (!plan)
    return plan.takeError();
  scratch_ = std::move(*plan);

  module_ = std::make_unique<llvm::Module>(graph_.name, ctx_);
  module_->setTargetTriple(options_.target.triple);
  if (llvm::Error e = collectParameters())
    return e;

  std::vector<unsigned> owner =
      kernelPartitions(graph_, options_.target, std::max(options_.partitions, 1u));
  std::vector<llvm::Function *> kernels;
  for (size_t i = 0; i < graph_.groups.size(); ++i)
    kernels.push_back(emitKernel(i, graph_.groups[i], owner[i] == options_.partition));
  if (options_.partition == 0) {
    emitEntry(kernels);
    if (options_.stepEntry)
      emitStepEntry(kernels);
  }

  std::string problems;
  llvm::raw_string_ostream os(problems);
  if (llvm::verifyModule(*module_, &os))
    return internalError("invalid LLVM IR: " + os.str());
  return std::move(module_);
}

llvm::Error NetworkEmitter::collectParameters() {
  specs_ = ir::parameterSpecs(graph_);
  for (size_t i = 0; i < specs_.size(); ++i)
    specIndex_.emplace(specs_[i].key, i);
  for (const ir::FusionGroup &group : graph_.groups)
    for (const std::string &key : groupParameters(graph_, group))
      if (!specIndex_.count(key))
        return internalError("parameter `" + key + "` is not among the graph's parameters");
  if (options_.parameters != ParameterSource::Embedded)
    return llvm::Error::success();
  if (!options_.values)
    return internalError("embedded parameters requested without values");
  auto packed = packParameters(graph_, *options_.values, options_.target);
  if (!packed)
    return packed.takeError();
  for (size_t i = 0; i < specs_.size(); ++i) {
    const std::vector<float> &data = (*packed)[i];
    llvm::Constant *init = llvm::ConstantDataArray::get(ctx_, llvm::ArrayRef<float>(data));
    auto *global = new llvm::GlobalVariable(*module_, init->getType(), /*isConstant=*/true,
                                            llvm::GlobalValue::PrivateLinkage, init,
                                            graph_.name + "." + specs_[i].key);
    global->setUnnamedAddr(llvm::GlobalValue::UnnamedAddr::Global);
    global->setAlignment(llvm::Align(64));
    globals_[specs_[i].key] = global;
  }
  return llvm::Error::success();
}

/// The kernel of group `index`: defined, or only declared when another module of the
/// partitioned set defines it.
llvm::Function *NetworkEmitter::emitKernel(size_t index, const ir::FusionGroup &group,
                                           bool define) {
  std::vector<ir::ValueId> operands = groupMemoryOperands(graph_, group);
  std::vector<std::string> keys = groupParameters(graph_, group);
  llvm::Type *ptr = b_.getPtrTy();
  bool panel = takesPanel(group);
  bool range = splitsColumns(group);
  std::vector<llvm::Type *> argTypes(operands.size() + keys.size() + (panel ? 2 : 1), ptr);
  argTypes.insert(argTypes.end(), range ? 3 : 1, b_.getInt64Ty());
  auto *type = llvm::FunctionType::get(b_.getVoidTy(), argTypes, false);
  std::string name = graph_.name + "_k" + std::to_string(index) + "_" +
                     symbolPart(graph_.node(group.result()).name);
  bool shared = options_.partitions > 1;
  llvm::Function *f = llvm::Function::Create(
      type, shared ? llvm::GlobalValue::ExternalLinkage : llvm::GlobalValue::InternalLinkage,
      name, *module_);
  applyTargetAttributes(*f, options_.target);
  if (!define)
    return f;

  KernelBuilder k(b_, graph_, group, options_.target);
  k.function = f;
  k.packedWeights = packedWeights();
  auto arg = f->arg_begin();
  for (ir::ValueId id : operands) {
    arg->setName(symbolPart(graph_.node(id).name));
    k.values[id] = Matrix{&*arg++, graph_.node(id).width};
  }
  for (const std::string &key : keys) {
    arg->setName(symbolPart(key));
    k.params[key] = &*arg++;
  }
  if (panel) {
    arg->setName("panel");
    k.panel = &*arg++;
  }
  arg->setName("out");
  k.output = Matrix{&*arg++, graph_.node(group.result()).width};
  arg->setName("rows");
  k.rows = &*arg++;
  if (range) {
    arg->setName("tile_begin");
    k.tileBegin = &*arg++;
    arg->setName("tile_end");
    k.tileEnd = &*arg;
  }

  b_.SetInsertPoint(llvm::BasicBlock::Create(ctx_, "entry", f));
  const ir::Node &anchor = graph_.node(group.nodes.front());
  if (anchor.op == ir::Op::Dense)
    emitDenseKernel(k);
  else if (anchor.op == ir::Op::Softmax)
    emitSoftmaxKernel(k);
  else
    emitElementwiseKernel(k);
  b_.CreateRetVoid();
  return f;
}

/// In the entry: returns `code` when `condition` holds, else continues in a new block.
llvm::Value *NetworkEmitter::returnIf(llvm::Value *condition, int32_t code) {
  llvm::BasicBlock *fail = llvm::BasicBlock::Create(ctx_, "fail", entry_);
  llvm::BasicBlock *next = llvm::BasicBlock::Create(ctx_, "ok", entry_);
  b_.CreateCondBr(condition, fail, next);
  b_.SetInsertPoint(fail);
  b_.CreateRet(b_.getInt32(static_cast<uint32_t>(code)));
  b_.SetInsertPoint(next);
  return nullptr;
}

std::map<std::string, llvm::Value *, std::less<>>
NetworkEmitter::parameterPointers(llvm::Value *params, llvm::Value **anyNull) {
  std::map<std::string, llvm::Value *, std::less<>> pointers;
  if (options_.parameters == ParameterSource::Embedded) {
    for (auto &[key, global] : globals_)
      pointers[key] = global;
    return pointers;
  }
  llvm::Type *ptr = b_.getPtrTy();
  llvm::Constant *null = llvm::ConstantPointerNull::get(b_.getPtrTy());
  if (anyNull)
    *anyNull = b_.getFalse();
  for (size_t i = 0; i < specs_.size(); ++i) {
    llvm::Value *slot = b_.CreateInBoundsGEP(ptr, params, b_.getInt64(i));
    llvm::Value *p = b_.CreateAlignedLoad(ptr, slot, llvm::Align(8), symbolPart(specs_[i].key));
    pointers[specs_[i].key] = p;
    if (anyNull)
      *anyNull = b_.CreateOr(*anyNull, b_.CreateICmpEQ(p, null));
  }
  return pointers;
}

std::map<ir::ValueId, llvm::Value *>
NetworkEmitter::placeValues(llvm::Value *input, llvm::Value *output, llvm::Value *scratch,
                            int64_t panelFloats, llvm::Value *batch) {
  std::map<ir::ValueId, llvm::Value *> where;
  where[0] = input;
  for (auto &[id, offset] : scratch_.offset)
    where[id] = b_.CreateInBoundsGEP(
        b_.getFloatTy(), scratch,
        b_.CreateNSWAdd(b_.getInt64(panelFloats), b_.CreateNSWMul(batch, b_.getInt64(offset))));
  if (graph_.node(graph_.output).op != ir::Op::Input)
    where[graph_.output] = output;
  return where;
}

void NetworkEmitter::callKernel(llvm::Function *kernel, size_t i,
                                const std::map<ir::ValueId, llvm::Value *> &where,
                                const std::map<std::string, llvm::Value *, std::less<>> &paramPtrs,
                                llvm::Value *panel, llvm::Value *firstRow, llvm::Value *rows,
                                llvm::Value *tileBegin, llvm::Value *tileEnd) {
  const ir::FusionGroup &group = graph_.groups[i];
  auto rowsOf = [&](ir::ValueId id) {
    llvm::Value *base = where.at(id);
    if (!firstRow)
      return base;
    return b_.CreateInBoundsGEP(b_.getFloatTy(), base,
                                b_.CreateNSWMul(firstRow, b_.getInt64(graph_.node(id).width)));
  };
  std::vector<llvm::Value *> args;
  for (ir::ValueId id : groupMemoryOperands(graph_, group))
    args.push_back(rowsOf(id));
  for (const std::string &key : groupParameters(graph_, group))
    args.push_back(paramPtrs.at(key));
  if (takesPanel(group))
    args.push_back(panel);
  args.push_back(rowsOf(group.result()));
  args.push_back(rows);
  if (splitsColumns(group))
    args.insert(args.end(), {tileBegin, tileEnd});
  b_.CreateCall(kernel, args);
}

/// The entries are glue: argument checks, scratch memory and one call per kernel, a few
/// dozen instructions per call of a forward pass. Compiled without optimization
/// (`optnone`: fast instruction selection, most machine passes skipped), they take a
/// few more instructions per call and much less compile time: the 784-128-64-10 MLP
/// compiled about 10% faster (docs/codegen.md).
namespace {
void markGlue(llvm::Function &f) {
  f.addFnAttr(llvm::Attribute::OptimizeNone);
  f.addFnAttr(llvm::Attribute::NoInline);
}
} // namespace

void NetworkEmitter::emitEntry(const std::vector<llvm::Function *> &kernels) {
  bool embedded = options_.parameters == ParameterSource::Embedded;
  llvm::Type *ptr = b_.getPtrTy();
  llvm::Type *i64 = b_.getInt64Ty();
  std::vector<llvm::Type *> argTypes;
  if (!embedded)
    argTypes.push_back(ptr);
  argTypes.insert(argTypes.end(), {ptr, ptr, i64});
  auto *type = llvm::FunctionType::get(b_.getInt32Ty(), argTypes, false);
  std::string name = options_.entryName.empty() ? defaultEntryName(graph_) : options_.entryName;
  entry_ = llvm::Function::Create(type, llvm::GlobalValue::ExternalLinkage, name, *module_);
  applyTargetAttributes(*entry_, options_.target);
  markGlue(*entry_);
  auto arg = entry_->arg_begin();
  llvm::Value *params = nullptr;
  if (!embedded) {
    params = &*arg++;
    params->setName("params");
  }
  llvm::Value *input = &*arg++;
  llvm::Value *output = &*arg++;
  llvm::Value *batch = &*arg;
  input->setName("input");
  output->setName("output");
  batch->setName("batch");

  // Dense kernels that pack their own weights share one panel at the start of the
  // scratch buffer, sized for the largest (a whole number of cache lines).
  int64_t panelFloats = 0;
  for (const ir::FusionGroup &group : graph_.groups)
    if (takesPanel(group)) {
      const ir::Node &dense = graph_.node(group.nodes.front());
      panelFloats = std::max(panelFloats, denseRuntimePanelFloats(
                                              dense.width, graph_.node(dense.operands[0]).width,
                                              options_.target));
    }
  panelFloats = (panelFloats + 15) / 16 * 16;
  int64_t scratchRow = scratch_.rowFloats;
  bool useScratch = scratchRow > 0 || panelFloats > 0;

  b_.SetInsertPoint(llvm::BasicBlock::Create(ctx_, "entry", entry_));
  llvm::Value *stack = nullptr;
  int64_t stackFloats = std::min<int64_t>(panelFloats + scratchRow, kStackScratchBytes / 4);
  if (useScratch) {
    auto *alloca = b_.CreateAlloca(llvm::ArrayType::get(b_.getFloatTy(), stackFloats));
    alloca->setAlignment(llvm::Align(64));
    stack = alloca;
  }
  llvm::Constant *zero = b_.getInt64(0);
  llvm::Constant *null = llvm::ConstantPointerNull::get(b_.getPtrTy());
  returnIf(b_.CreateICmpSLT(batch, zero), kForwardBadBatch);
  // No buffer holds rows whose bytes overflow int64: reject such a batch before any
  // address computation overflows.
  returnIf(b_.CreateICmpSGT(batch, b_.getInt64(graph_.maxBatch())), kForwardBadBatch);
  returnIf(b_.CreateICmpEQ(batch, zero), kForwardOk);
  returnIf(b_.CreateOr(b_.CreateICmpEQ(input, null), b_.CreateICmpEQ(output, null)),
           kForwardNullPointer);

  if (!embedded && !specs_.empty())
    returnIf(b_.CreateICmpEQ(params, null), kForwardNullPointer);
  llvm::Value *anyNull = nullptr;
  std::map<std::string, llvm::Value *, std::less<>> paramPtrs =
      parameterPointers(params, &anyNull);
  if (!embedded && !specs_.empty())
    returnIf(anyNull, kForwardNullPointer);

  // The scratch buffer: stack when it fits, else malloc, in either case starting on a
  // cache line (malloc's block is over-allocated by one line and rounded up), so that the
  // vector loads and stores of a layer's rows do not straddle two lines. The size check
  // keeps batch * bytes-per-row + one line from overflowing.
  constexpr int64_t kLine = 64;
  llvm::Value *scratch = nullptr;
  llvm::Value *onHeap = nullptr;
  llvm::Value *heapBlock = nullptr; // what malloc returned, for free
  llvm::FunctionCallee freeFn;
  if (useScratch) {
    int64_t rowBytes = scratchRow * 4;
    int64_t fixedBytes = panelFloats * 4 + kLine;
    if (rowBytes > 0)
      returnIf(b_.CreateICmpSGT(batch, b_.getInt64((std::numeric_limits<int64_t>::max() -
                                                     fixedBytes) / rowBytes)),
               kForwardOutOfMemory);
    llvm::Value *bytes = b_.CreateNSWAdd(b_.CreateNSWMul(batch, b_.getInt64(rowBytes)),
                                         b_.getInt64(panelFloats * 4), "scratch_bytes");
    onHeap = b_.CreateICmpSGT(bytes, b_.getInt64(stackFloats * 4), "scratch_on_heap");
    llvm::BasicBlock *before = b_.GetInsertBlock();
    llvm::BasicBlock *heap = llvm::BasicBlock::Create(ctx_, "scratch_heap", entry_);
    llvm::BasicBlock *join = llvm::BasicBlock::Create(ctx_, "scratch_ready", entry_);
    b_.CreateCondBr(onHeap, heap, join);
    b_.SetInsertPoint(heap);
    llvm::FunctionCallee mallocFn = module_->getOrInsertFunction(
        "malloc", llvm::FunctionType::get(ptr, {i64}, false));
    llvm::Value *allocated =
        b_.CreateCall(mallocFn, {b_.CreateNSWAdd(bytes, b_.getInt64(kLine))}, "scratch_block");
    // Up to the next line: null stays null.
    llvm::Value *misalign = b_.CreateAnd(b_.CreateNeg(b_.CreatePtrToInt(allocated, i64)),
                                         b_.getInt64(kLine - 1));
    llvm::Value *aligned = b_.CreateInBoundsGEP(b_.getInt8Ty(), allocated, misalign);
    llvm::BasicBlock *heapEnd = b_.GetInsertBlock();
    b_.CreateBr(join);
    b_.SetInsertPoint(join);
    llvm::PHINode *phi = b_.CreatePHI(ptr, 2, "scratch");
    phi->addIncoming(stack, before);
    phi->addIncoming(aligned, heapEnd);
    scratch = phi;
    llvm::PHINode *block = b_.CreatePHI(ptr, 2, "scratch_block");
    block->addIncoming(null, before);
    block->addIncoming(allocated, heapEnd);
    heapBlock = block;
    returnIf(b_.CreateICmpEQ(scratch, null), kForwardOutOfMemory);
    freeFn = module_->getOrInsertFunction(
        "free", llvm::FunctionType::get(b_.getVoidTy(), {ptr}, false));
  }

  std::map<ir::ValueId, llvm::Value *> where =
      placeValues(input, output, scratch, panelFloats, batch);
  if (graph_.node(graph_.output).op == ir::Op::Input) {
    llvm::Value *bytes = b_.CreateNSWMul(batch, b_.getInt64(graph_.outputWidth() * 4));
    b_.CreateMemMove(output, llvm::MaybeAlign(4), input, llvm::MaybeAlign(4), bytes);
  }
  // Every kernel computes all of its column tiles.
  for (size_t i = 0; i < graph_.groups.size(); ++i) {
    const ir::FusionGroup &group = graph_.groups[i];
    llvm::Value *tiles = b_.getInt64(static_cast<uint64_t>(columnTiles(group)));
    callKernel(kernels[i], i, where, paramPtrs, scratch, nullptr, batch, zero, tiles);
  }

  if (useScratch) {
    llvm::BasicBlock *release = llvm::BasicBlock::Create(ctx_, "scratch_free", entry_);
    llvm::BasicBlock *done = llvm::BasicBlock::Create(ctx_, "done", entry_);
    b_.CreateCondBr(onHeap, release, done);
    b_.SetInsertPoint(release);
    b_.CreateCall(freeFn, {heapBlock});
    b_.CreateBr(done);
    b_.SetInsertPoint(done);
  }
  b_.CreateRet(b_.getInt32(kForwardOk));
}

void NetworkEmitter::emitStepEntry(const std::vector<llvm::Function *> &kernels) {
  llvm::Type *ptr = b_.getPtrTy();
  llvm::Type *i64 = b_.getInt64Ty();
  auto *type = llvm::FunctionType::get(b_.getVoidTy(), {ptr, ptr, ptr, i64, ptr, i64, i64, i64},
                                       false);
  llvm::Function *f = llvm::Function::Create(type, llvm::GlobalValue::ExternalLinkage,
                                             stepEntryName(graph_), *module_);
  applyTargetAttributes(*f, options_.target);
  markGlue(*f);
  auto arg = f->arg_begin();
  llvm::Value *params = &*arg++, *input = &*arg++, *output = &*arg++, *batch = &*arg++;
  llvm::Value *scratch = &*arg++, *group = &*arg++, *part = &*arg++, *parts = &*arg;
  for (auto [value, name] : {std::pair{params, "params"}, {input, "input"}, {output, "output"},
                             {batch, "batch"}, {scratch, "scratch"}, {group, "group"},
                             {part, "part"}, {parts, "parts"}})
    value->setName(name);

  b_.SetInsertPoint(llvm::BasicBlock::Create(ctx_, "entry", f));
  std::map<std::string, llvm::Value *, std::less<>> paramPtrs = parameterPointers(params, nullptr);
  std::map<ir::ValueId, llvm::Value *> where =
      placeValues(input, output, scratch, /*panelFloats=*/0, batch);
  // Part p of n: rows batch*p/n .. batch*(p+1)/n; or, in a group with at least n column
  // tiles, column tiles tiles*p/n .. tiles*(p+1)/n of every row.
  llvm::Value *one = b_.getInt64(1);
  auto share = [&](llvm::Value *total, llvm::Value *index) {
    return b_.CreateSDiv(b_.CreateNSWMul(total, index), parts);
  };
  llvm::Value *firstRow = share(batch, part);
  llvm::Value *rows = b_.CreateSub(share(batch, b_.CreateAdd(part, one)), firstRow, "rows");
  llvm::BasicBlock *done = llvm::BasicBlock::Create(ctx_, "done", f);
  llvm::SwitchInst *byGroup =
      b_.CreateSwitch(group, done, static_cast<unsigned>(graph_.groups.size()));
  llvm::Value *zero = b_.getInt64(0);
  for (size_t i = 0; i < graph_.groups.size(); ++i) {
    llvm::BasicBlock *body = llvm::BasicBlock::Create(ctx_, "group_" + std::to_string(i), f);
    byGroup->addCase(b_.getInt64(i), body);
    b_.SetInsertPoint(body);
    const ir::FusionGroup &g = graph_.groups[i];
    llvm::Value *from = firstRow, *count = rows, *tileBegin = nullptr, *tileEnd = nullptr;
    if (splitsColumns(g)) {
      llvm::Value *tiles = b_.getInt64(static_cast<uint64_t>(columnTiles(g)));
      llvm::Value *byColumns = b_.CreateICmpSGE(tiles, parts, "by_columns");
      from = b_.CreateSelect(byColumns, zero, firstRow);
      count = b_.CreateSelect(byColumns, batch, rows);
      tileBegin = b_.CreateSelect(byColumns, share(tiles, part), zero);
      tileEnd = b_.CreateSelect(byColumns, share(tiles, b_.CreateAdd(part, one)), tiles);
    }
    // A part without rows calls nothing: no kernel ever runs on 0 rows.
    llvm::BasicBlock *call = llvm::BasicBlock::Create(ctx_, "call_" + std::to_string(i), f);
    b_.CreateCondBr(b_.CreateICmpSGT(count, zero), call, done);
    b_.SetInsertPoint(call);
    callKernel(kernels[i], i, where, paramPtrs, nullptr, from, count, tileBegin, tileEnd);
    b_.CreateBr(done);
  }
  b_.SetInsertPoint(done);
  b_.CreateRetVoid();
}

} // namespace

std::string defaultEntryName(const ir::Graph &graph) { return graph.name + "_forward"; }

std::string stepEntryName(const ir::Graph &graph) { return graph.name + "_step"; }

int64_t stepScratchFloats(const ir::Graph &graph) {
  llvm::Expected<ScratchPlan> plan = planScratch(graph);
  if (!plan) {
    llvm::consumeError(plan.takeError());
    return 0; // emitNetwork reports it
  }
  return plan->rowFloats;
}

std::vector<int64_t> groupColumnTiles(const ir::Graph &graph, const TargetSpec &target) {
  std::vector<int64_t> tiles;
  for (const ir::FusionGroup &group : graph.groups)
    tiles.push_back(rangedColumnTiles(graph, group, target, /*packedWeights=*/true));
  return tiles;
}

std::vector<unsigned> kernelPartitions(const ir::Graph &graph, const TargetSpec &target,
                                       unsigned partitions,
                                       std::vector<int64_t> *partitionCost) {
  // The estimate: a dense kernel's tile instances (two row-block kinds, and a second
  // column-tile kind when the units leave a rest) weighted by their accumulators; a
  // K-blocked one has three passes' worth; anything else is one small loop.
  std::vector<int64_t> cost;
  for (const ir::FusionGroup &group : graph.groups) {
    const ir::Node &anchor = graph.node(group.nodes.front());
    int64_t c = 8;
    if (anchor.op == ir::Op::Dense) {
      DenseTiling t = denseTiling(anchor.width, graph.node(anchor.operands[0]).width, target);
      int64_t tiles = (t.fullTiles > 0 ? t.nv : 0) + t.restVectors;
      c = 2 * (int64_t(t.mr) + 1) * tiles * (t.kBlocked ? 3 : 1) + 8;
    }
    cost.push_back(c + int64_t(group.nodes.size()));
  }
  std::vector<size_t> order(cost.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return cost[a] > cost[b]; });
  std::vector<int64_t> load(std::max(partitions, 1u), 0);
  load[0] = 16; // the entry function
  std::vector<unsigned> owner(cost.size(), 0);
  for (size_t i : order) {
    auto least = std::min_element(load.begin(), load.end());
    owner[i] = static_cast<unsigned>(least - load.begin());
    *least += cost[i];
  }
  if (partitionCost)
    *partitionCost = load;
  return owner;
}

llvm::Expected<std::unique_ptr<llvm::Module>>
emitNetwork(llvm::LLVMContext &context, const ir::Graph &graph, const NetworkOptions &options) {
  NetworkEmitter emitter(context, graph, options);
  return emitter.run();
}

llvm::Expected<std::vector<PackedParameter>>
planParameters(const ir::Graph &graph, const ir::ParameterValues &values,
               const TargetSpec &target) {
  std::vector<PackedParameter> plan;
  for (const ir::ParameterSpec &spec : ir::parameterSpecs(graph)) {
    auto it = values.values.find(spec.key);
    if (it == values.values.end())
      return llvm::createStringError("missing parameter `" + spec.key + "`");
    const std::vector<float> &data = it->second;
    int64_t expected = 1;
    for (int64_t d : spec.shape)
      expected *= d;
    bool shared = spec.sharedAllowed && data.size() == 1;
    if (static_cast<int64_t>(data.size()) != expected && !shared)
      return llvm::createStringError("parameter `" + spec.key + "` has " +
                                     std::to_string(data.size()) + " values, expected " +
                                     std::to_string(expected));
    const ir::Node &user = graph.node(spec.user);
    if (user.op == ir::Op::Dense && spec.key == user.weightKey()) {
      int64_t units = user.width, in = graph.node(user.operands[0]).width;
      plan.push_back({packedWeightSize(units, in, target), [&data, units, in, target](float *dest) {
                        packDenseWeightsInto(data.data(), units, in, target, dest);
                      }});
    } else if (shared) {
      plan.push_back({expected, [&data, expected](float *dest) {
                        std::fill_n(dest, expected, data[0]);
                      }});
    } else {
      plan.push_back({expected, [&data](float *dest) { std::copy(data.begin(), data.end(), dest); }});
    }
  }
  return plan;
}

llvm::Expected<std::vector<std::vector<float>>>
packParameters(const ir::Graph &graph, const ir::ParameterValues &values,
               const TargetSpec &target) {
  llvm::Expected<std::vector<PackedParameter>> plan = planParameters(graph, values, target);
  if (!plan)
    return plan.takeError();
  std::vector<std::vector<float>> packed;
  for (const PackedParameter &p : *plan) {
    packed.emplace_back(static_cast<size_t>(p.size));
    p.write(packed.back().data());
  }
  return packed;
}

} // namespace slope::codegen
