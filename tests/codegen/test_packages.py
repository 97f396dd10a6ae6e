"""The export as packages: the CMake library (host gcc, and the Cortex-M4 under QEMU) and
the Arduino library (its sketch compiled as C++ for the M4 against a stand-in for Serial)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgegru.codegen.arduino import Recording, export_arduino, sketch_name
from edgegru.codegen.export import export_c, layout_for
from edgegru.codegen.render import render_harness
from edgegru.core.errors import EdgeGruError
from edgegru.core.toolchain import run_tool
from edgegru.quant import integer_reference as iref
from edgegru.targets.cortex_m.cores import get_core
from edgegru.targets.cortex_m.qemu import build_firmware, run_qemu
from edgegru.targets.verify import random_stimulus, verify_with
from tests.helpers import ROOT, make_qmodel

TOOLCHAIN = ROOT / "firmware" / "examples" / "stm32f4" / "arm-none-eabi.cmake"
CMAKE_APP = """cmake_minimum_required(VERSION 3.15)
project(app C)
add_subdirectory({model} model)
add_executable(app {harness})
target_link_libraries(app PRIVATE {prefix})
"""


def cmake(*args: str) -> None:
    run_tool(["cmake", *args], "build with cmake", timeout=300)


def test_cmake_library_builds_on_the_host_and_links_into_a_program_that_is_bit_exact(tmp_path):
    qm = make_qmodel(6, [11, 5], "reset_before", "classification", 8, seed=3)
    model_dir = tmp_path / "motion_c"
    export_c(qm, model_dir, "motion", layout_for("c99"))

    def build_and_run(directory: Path, input_path: Path) -> None:
        harness = directory / "motion_harness.c"
        harness.write_text(render_harness(qm, "motion"))
        app = directory / "app"
        app.mkdir()
        (app / "CMakeLists.txt").write_text(
            CMAKE_APP.format(model=model_dir, harness=harness, prefix="motion")
        )
        cmake("-S", str(app), "-B", str(directory / "build"), "-DCMAKE_C_COMPILER=gcc")
        cmake("--build", str(directory / "build"))
        symbols = run_tool(["nm", str(directory / "build" / "app")], "list the program's symbols").split()
        assert "motion_step" in symbols and "motion_probabilities" not in symbols  # not called, not linked
        run_tool([str(directory / "build" / "app"), input_path.name, "output.bin"], "run", cwd=directory)

    report = verify_with(qm, random_stimulus(qm, 5, 30, seed=1), "cmake host", build_and_run)
    assert report.ok, report.summary()


def test_cmake_library_built_for_the_m4_links_into_the_firmware_harness_bit_exact_under_qemu(tmp_path):
    """The library alone, configured with a bare-metal toolchain file and the core's flags,
    then linked (libmotion.a) into the semihosted harness and run on QEMU's mps2-an386."""
    core = get_core("cortex-m4")
    qm = make_qmodel(7, [13], "reset_after", "classification", 16, seed=5)
    model_dir = tmp_path / "motion_c"
    export_c(qm, model_dir, "motion", layout_for("cortex-m"))
    build = tmp_path / "lib"
    flags = " ".join(core.gcc_flags)
    cmake(
        "-S",
        str(model_dir),
        "-B",
        str(build),
        f"-DCMAKE_TOOLCHAIN_FILE={TOOLCHAIN}",
        f"-DCMAKE_C_FLAGS={flags}",
        "-DCMAKE_BUILD_TYPE=Release",
    )
    cmake("--build", str(build), "--verbose")
    library = build / "libmotion.a"
    members = run_tool(["arm-none-eabi-objdump", "-d", str(library)], "disassemble")
    assert re.search(r"\ssmlad\s", members)  # built for the M4, with its DSP kernels

    def build_and_run(directory: Path, input_path: Path) -> None:
        harness = directory / "motion_harness.c"
        harness.write_text(render_harness(qm, "motion"))
        elf = build_firmware(core, [harness, library], [model_dir], directory / "build")
        run_qemu(core, elf, cwd=directory, timeout=300, args=[input_path.name, "output.bin"]).check()

    report = verify_with(qm, random_stimulus(qm, 6, 40, seed=2), "cmake cortex-m4", build_and_run)
    assert report.ok, report.summary()


# The two Arduino calls the sketch makes, on semihosted stdout; and the core's main().
STAND_IN_HEADER = """#ifndef ARDUINO_STAND_IN_H
#define ARDUINO_STAND_IN_H
#include <stdio.h>
struct SerialStandIn {
    void begin(unsigned long) {}
    void println(const char *text) { puts(text); }
    void println(long value) { printf("%ld\\n", value); }
};
extern SerialStandIn Serial;
#endif
"""
STAND_IN_MAIN = """#include <Arduino.h>
SerialStandIn Serial;
void setup();
void loop();
int main()
{
    setup();
    loop();
    fflush(stdout);
    return 0;
}
"""


def build_sketch(library: Path, prefix: str, work: Path) -> Path:
    """The library's C compiled by arm-none-eabi-gcc, its sketch and the stand-in's main as
    C++ by arm-none-eabi-g++ (-mcpu=cortex-m4 -mthumb), linked with the firmware harness."""
    core = get_core("cortex-m4")
    work.mkdir()
    (work / "Arduino.h").write_text(STAND_IN_HEADER)
    (work / "main.cpp").write_text(STAND_IN_MAIN)
    sketch = library / "examples" / sketch_name(prefix) / f"{sketch_name(prefix)}.ino"
    cxx = ["arm-none-eabi-g++", *core.gcc_flags, "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic"]
    cxx += ["-fno-exceptions", "-fno-rtti", f"-I{work}", f"-I{library / 'src'}"]
    objects = []
    for source in (sketch, work / "main.cpp"):
        obj = work / f"{source.stem}.o"
        run_tool([*cxx, "-x", "c++", "-c", str(source), "-o", str(obj)], "compile the sketch as C++")
        objects.append(obj)
    sources = sorted((library / "src").glob("*.c"))
    return build_firmware(core, [*sources, *objects], [library / "src"], work / "build")


def test_arduino_library_compiles_as_cpp_for_cortex_m4_against_a_stand_in_for_serial(tmp_path):
    """The sketch replays the recording and prints, under QEMU, the class the integer
    reference predicts for it."""
    qm = make_qmodel(3, [10], "reset_before", "classification", 16, seed=7, output_size=4)
    qm.head.class_names = ["rest", "walk", "run", "jump */ ?"]
    x = np.random.default_rng(3).normal(size=(45, 3)).astype(np.float32)
    export_arduino(qm, tmp_path / "gest", "gest", Recording(x, "moves.csv, sequence 0 */"))
    library = tmp_path / "gest"
    properties = dict(
        line.split("=", 1) for line in (library / "library.properties").read_text().splitlines()
    )
    assert properties["name"] == "gest" and properties["includes"] == "gest.h"
    assert json.loads((library / "library.json").read_text())["build"]["srcDir"] == "src"
    assert sorted(p.name for p in (library / "src").iterdir()) == [
        "gest.c",
        "gest.h",
        "gest_probabilities.c",
        "gest_weights.h",
    ]
    elf = build_sketch(library, "gest", tmp_path / "build")
    result = run_qemu("cortex-m4", elf, cwd=tmp_path, timeout=120).check()
    trace = iref.run(qm, iref.quantize_input(qm.input, x)[None])
    expected = qm.head.class_names[int(trace.logits[0, -1].argmax())]
    assert result.stdout.splitlines() == ["predicted class:", expected]


def test_arduino_placeholder_and_regression_sketches_say_so_and_print_the_outputs(tmp_path):
    qm = make_qmodel(4, [6], "reset_after", "regression", 8, seed=2, output_size=2)
    export_arduino(qm, tmp_path / "reg", "reg")
    library = tmp_path / "reg"
    text = (library / "examples" / "reg_replay" / "reg_replay.ino").read_text()
    assert "PLACEHOLDER INPUT" in text
    elf = build_sketch(library, "reg", tmp_path / "build")
    printed = run_qemu("cortex-m4", elf, cwd=tmp_path, timeout=120).check().stdout.splitlines()
    steps = text.count("    { ")
    silence = np.full((1, steps, 4), qm.input.zero_point)
    assert printed == ["outputs:", *map(str, iref.run(qm, silence).logits[0, -1].tolist())]


def test_arduino_refuses_a_recording_too_long_for_the_sketch(tmp_path):
    qm = make_qmodel(4, [6], "reset_after", "classification", 16, seed=2)
    with pytest.raises(EdgeGruError, match="the example sketch holds at most"):
        export_arduino(qm, tmp_path / "x", "x", Recording(np.zeros((9000, 4), np.float32), "long"))
    assert not (tmp_path / "x").exists()


def test_cli_exports_an_arduino_library_replaying_the_first_test_sequence(tmp_path):
    qm = make_qmodel(2, [5], "reset_after", "classification", 16, seed=4, output_size=2)
    qm.head.class_names = ["down", "up"]
    model = tmp_path / "m.egru"
    qm.save(model)
    rows = ["sequence,step,gyro,accel,label"]
    rows += [f"a,{t},{0.1 * t},{-0.2 * t},up" for t in range(7)]
    rows += [f"b,{t},{0.3},{0.1},down" for t in range(5)]
    (tmp_path / "test.csv").write_text("\n".join(rows) + "\n")
    command = [sys.executable, "-m", "edgegru.cli", "export", str(model), "--target", "arduino"]
    command += ["--prefix", "moves", "--test", str(tmp_path / "test.csv"), "-o", str(tmp_path / "moves")]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "test.csv, sequence 0 of 2, labelled up" in result.stdout
    sketch = (tmp_path / "moves" / "examples" / "moves_replay" / "moves_replay.ino").read_text()
    assert "#define STEPS 7" in sketch and "labelled up" in sketch
    bad = subprocess.run(
        [*command[:-2], "--cpu", "cortex-m7", "-o", str(tmp_path / "other")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert (
        bad.returncode == 2
        and bad.stderr.strip() == "edgegru: error: --cpu applies to --target cortex-m, not arduino"
    )
    (tmp_path / "wide.csv").write_text("sequence,step,a,b,c,label\ns,0,1,2,3,up\n")
    wide = subprocess.run(
        [*command[:-4], "--test", str(tmp_path / "wide.csv"), "-o", str(tmp_path / "wide")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert wide.returncode == 2 and "wide.csv: 3 channels, the model takes 2" in wide.stderr
    assert not (tmp_path / "wide").exists()
