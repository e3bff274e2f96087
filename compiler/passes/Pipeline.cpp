#include "compiler/passes/Pipeline.h"

#include "compiler/ir/Verifier.h"
#include "compiler/passes/DeadCode.h"
#include "compiler/passes/FuseDenseBiasAct.h"

namespace slope::passes {

void runPipeline(ir::Graph &graph, const PipelineOptions &options) {
  auto after = [&](std::string_view pass) {
    ir::verify(graph);
    if (options.dump)
      options.dump(pass, graph);
  };
  after("lower");
  removeDeadValues(graph);
  after("dead-code");
  if (options.fuse)
    fuseDenseBiasActivation(graph);
  else
    assignSingleNodeGroups(graph);
  after(options.fuse ? "fuse-dense-bias-activation" : "single-node-kernels");
}

} // namespace slope::passes
