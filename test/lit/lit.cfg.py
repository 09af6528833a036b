# lit configuration of the compiler tests. Tool paths come from the build
# tree's lit.site.cfg.py; RUN lines call the tools by name.
import os
import shutil

import lit.formats

config.name = "bloom"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".mlir", ".test"]
config.excludes = ["Inputs", "CMakeLists.txt", "lit.cfg.py"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.bloom_obj_root, "test", "lit")

# bloom-opt and bloom-compile from this build, FileCheck and not from LLVM.
config.environment["PATH"] = os.pathsep.join(
    [config.bloom_tools_dir, config.llvm_tools_dir, config.environment["PATH"]])
config.substitutions.append(("%bloom_src_root", config.bloom_src_root))
config.substitutions.append(("%FileCheck", config.filecheck))

# flatc turns a plan file back into JSON for the emission tests.
if shutil.which("flatc"):
    config.available_features.add("flatc")
