"""Declares the Cython extensions and nothing else (metadata lives in pyproject.toml).

CNFPOST_DEBUG_CYTHON=1 builds with bounds checks, wraparound checks and assertions on,
for hunting a crash or running the mutation tests against a checked build.
"""
import os

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("CNFPOST_DEBUG_CYTHON") == "1"

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
        extra_compile_args=["-O0", "-g"] if DEBUG else ["-O2"],
    ),
    Extension("cnfpost._tcp", ["ext/_tcp.pyx"], extra_compile_args=["-O0", "-g"] if DEBUG else ["-O2"]),
]

setup(ext_modules=cythonize(extensions, compiler_directives=DIRECTIVES, annotate=False))
