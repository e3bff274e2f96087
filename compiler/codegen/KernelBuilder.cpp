#include "compiler/codegen/KernelBuilder.h"

#include <llvm/IR/Constants.h>

namespace slope::codegen {

llvm::Constant *KernelBuilder::laneMask(unsigned active) const {
  if (active >= target.lanes)
    return nullptr;
  std::vector<llvm::Constant *> bits;
  for (unsigned lane = 0; lane < target.lanes; ++lane)
    bits.push_back(b.getInt1(lane < active));
  return llvm::ConstantVector::get(bits);
}

llvm::Value *KernelBuilder::loadVector(llvm::Value *base, llvm::Value *index,
                                       llvm::Constant *mask, llvm::Value *passthru) {
  llvm::Value *ptr = b.CreateInBoundsGEP(f32(), base, index);
  if (!mask)
    return b.CreateAlignedLoad(vec(), ptr, llvm::Align(4));
  if (!passthru)
    passthru = llvm::ConstantAggregateZero::get(vec());
  return b.CreateMaskedLoad(vec(), ptr, llvm::Align(4), mask, passthru);
}

void KernelBuilder::storeVector(llvm::Value *value, llvm::Value *base, llvm::Value *index,
                                llvm::Constant *mask) {
  llvm::Value *ptr = b.CreateInBoundsGEP(f32(), base, index);
  if (!mask) {
    b.CreateAlignedStore(value, ptr, llvm::Align(4));
    return;
  }
  b.CreateMaskedStore(value, ptr, llvm::Align(4), mask);
}

llvm::Value *KernelBuilder::broadcast(llvm::Value *base, llvm::Value *index) {
  llvm::Value *ptr = b.CreateInBoundsGEP(f32(), base, index);
  llvm::Value *scalar = b.CreateAlignedLoad(f32(), ptr, llvm::Align(4));
  return b.CreateVectorSplat(target.lanes, scalar);
}

std::vector<llvm::Value *> KernelBuilder::loop(
    const std::string &name, llvm::Value *tripCount, std::vector<llvm::Value *> initial,
    const std::function<void(llvm::Value *i, std::vector<llvm::Value *> &carried)> &body) {
  auto *constant = llvm::dyn_cast<llvm::ConstantInt>(tripCount);
  if (constant && constant->isZero())
    return initial;
  if (constant && constant->isOne()) {
    body(i64c(0), initial);
    return initial;
  }

  llvm::LLVMContext &ctx = b.getContext();
  llvm::BasicBlock *preheader = b.GetInsertBlock();
  llvm::BasicBlock *header = llvm::BasicBlock::Create(ctx, name, function);
  llvm::BasicBlock *exit = llvm::BasicBlock::Create(ctx, name + ".end", function);
  if (constant) {
    b.CreateBr(header);
  } else {
    b.CreateCondBr(b.CreateICmpSGT(tripCount, i64c(0)), header, exit);
  }

  b.SetInsertPoint(header);
  llvm::PHINode *i = b.CreatePHI(i64(), 2, name + ".i");
  i->addIncoming(i64c(0), preheader);
  std::vector<llvm::PHINode *> phis;
  std::vector<llvm::Value *> carried;
  for (llvm::Value *v : initial) {
    llvm::PHINode *phi = b.CreatePHI(v->getType(), 2);
    phi->addIncoming(v, preheader);
    phis.push_back(phi);
    carried.push_back(phi);
  }
  body(i, carried);
  llvm::BasicBlock *latch = b.GetInsertBlock();
  llvm::Value *next = b.CreateNUWAdd(i, i64c(1));
  i->addIncoming(next, latch);
  for (size_t k = 0; k < phis.size(); ++k)
    phis[k]->addIncoming(carried[k], latch);
  b.CreateCondBr(b.CreateICmpSLT(next, tripCount), header, exit);

  b.SetInsertPoint(exit);
  if (constant)
    return carried;
  std::vector<llvm::Value *> results;
  for (size_t k = 0; k < phis.size(); ++k) {
    llvm::PHINode *phi = b.CreatePHI(initial[k]->getType(), 2);
    phi->addIncoming(initial[k], preheader);
    phi->addIncoming(carried[k], latch);
    results.push_back(phi);
  }
  return results;
}

void KernelBuilder::loop(const std::string &name, llvm::Value *tripCount,
                         const std::function<void(llvm::Value *i)> &body) {
  loop(name, tripCount, {}, [&](llvm::Value *i, std::vector<llvm::Value *> &) { body(i); });
}

} // namespace slope::codegen
