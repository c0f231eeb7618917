"""Declares the Cython extensions and nothing else (metadata lives in pyproject.toml).

CNFPOST_DEBUG_CYTHON=1 builds with bounds checks, wraparound checks and assertions on,
for hunting a crash or running the mutation tests against a checked build.
CNFPOST_SANITIZE=address adds AddressSanitizer, so any read past a buffer aborts
(run Python with LD_PRELOAD=$(gcc -print-file-name=libasan.so) ASAN_OPTIONS=detect_leaks=0).
"""
import os

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("CNFPOST_DEBUG_CYTHON") == "1"
SANITIZE = os.environ.get("CNFPOST_SANITIZE", "")

COMPILE_ARGS = ["-O0", "-g"] if DEBUG else ["-O2"]
LINK_ARGS = []
if SANITIZE:
    COMPILE_ARGS = ["-O1", "-g", "-fno-omit-frame-pointer", f"-fsanitize={SANITIZE}"]
    LINK_ARGS = [f"-fsanitize={SANITIZE}"]

DIRECTIVES = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": True,
    "embedsignature": True,
}

extensions = [
    Extension(
        "cnfpost._decode",
        ["ext/_decode.pyx"],
        include_dirs=[numpy.get_include(), "ext"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=COMPILE_ARGS,
        extra_link_args=LINK_ARGS,
    ),
    Extension("cnfpost._tcp", ["ext/_tcp.pyx"], extra_compile_args=COMPILE_ARGS,
              extra_link_args=LINK_ARGS),
]

setup(ext_modules=cythonize(extensions, compiler_directives=DIRECTIVES, annotate=False))
