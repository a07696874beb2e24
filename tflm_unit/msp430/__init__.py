"""MSP430 port of tflm-unit: build programs that run the kernel core on an
MSP430 (clang-16 + ld.lld-16, startup code and compiler helpers from
``custom_ops/msp430``), run them in mspdebug's simulator and measure cycles.

Whole models (the static graph of ``export_c``, dense against UnIT):

    if toolchain_available():
        result = benchmark_model(model_bytes, x_test, samples=4, hwmult=True)
        result.speedup, result.bit_exact, result.to_dict()["layers"]
    else:
        print(missing_toolchain_message())

Single programs:

    program = build_program([my_main_c], out_dir, BuildOptions(multiplier="software"))
    result = run_program(program, inputs={"input": data}, reads={"output": ("output", 10)})
    result.checkpoint_segments[0].cycles
"""
from tflm_unit.msp430.benchmark import (BenchmarkResult, LayerBenchmark, VariantBenchmark,
                                        benchmark_model, energy_uj, missing_toolchain_message)
from tflm_unit.msp430.build import (CORE_SOURCE_DIR, MSP430_SOURCE_DIR, BuildOptions, Program,
                                    build_program, core_sources, runtime_sources)
from tflm_unit.msp430.graph import (GraphFirmware, GraphRun, build_graph_firmware,
                                    run_graph_firmware)
from tflm_unit.msp430.memory_map import (MSP430FR5994, SIMULATOR_LARGE_RAM, MemoryMap,
                                         ProgramSizes, ProgramTooLargeError, check_fit)
from tflm_unit.msp430.simulator import (Segment, SimulationError, SimulationResult,
                                        run_program)
from tflm_unit.msp430.toolchain import (APT_COMMAND, BuildError, ToolchainMissingError,
                                        find_toolchain, toolchain_available)

__all__ = [
    "APT_COMMAND", "BenchmarkResult", "BuildError", "BuildOptions", "CORE_SOURCE_DIR",
    "GraphFirmware", "GraphRun", "LayerBenchmark", "MSP430FR5994", "MSP430_SOURCE_DIR",
    "MemoryMap", "Program", "ProgramSizes", "ProgramTooLargeError", "SIMULATOR_LARGE_RAM",
    "Segment", "SimulationError", "SimulationResult", "ToolchainMissingError", "VariantBenchmark",
    "benchmark_model", "build_graph_firmware", "build_program", "check_fit", "core_sources",
    "energy_uj", "find_toolchain", "missing_toolchain_message", "run_graph_firmware",
    "run_program", "runtime_sources", "toolchain_available",
]
