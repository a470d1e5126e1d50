"""Builds the compiled cores (Cython); everything else is in pyproject.toml."""

from Cython.Build import cythonize
from setuptools import Extension, setup

EXTENSIONS = [
    Extension("engine.book._side", ["engine/book/_side.pyx"], extra_compile_args=["-O2"]),
    Extension("engine.venues.binance._frames", ["engine/venues/binance/_frames.pyx"],
              extra_compile_args=["-O2"]),
]

setup(ext_modules=cythonize(EXTENSIONS, language_level=3, quiet=True))
