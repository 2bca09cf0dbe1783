"""Build the Cython kernels in ``src_cython/fastreg`` as private ``fastreg._*`` modules.

Environment switches:

- ``FASTREG_DEBUG=1`` compiles with bounds and wraparound checks on and ``-O0 -g``:
  slow, but an out-of-range index raises instead of corrupting memory.
- ``FASTREG_NO_OPENMP=1`` builds without OpenMP even where the compiler supports it.
"""
import os
import sys
import tempfile
from pathlib import Path

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

KERNEL_DIR = Path("src_cython") / "fastreg"
DEBUG = os.environ.get("FASTREG_DEBUG", "0") == "1"

COMPILER_DIRECTIVES = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": True,
    "embedsignature": True,
}


class BuildExtWithOptionalOpenMP(build_ext):
    """Add ``-fopenmp`` where the compiler accepts it; build serial kernels otherwise."""

    def build_extensions(self):
        # sqrt vectorizes only when it need not set errno (which nothing reads); the
        # results are the same, as vector and scalar sqrt are both correctly rounded.
        compile_args = ["-O0", "-g"] if DEBUG else ["-O3", "-fno-math-errno"]
        link_args = []
        if os.environ.get("FASTREG_NO_OPENMP", "0") != "1" and self._compiler_has_openmp():
            compile_args.append("-fopenmp")
            link_args.append("-fopenmp")
        for ext in self.extensions:
            ext.extra_compile_args = compile_args + ext.extra_compile_args
            ext.extra_link_args = link_args + ext.extra_link_args
        super().build_extensions()

    def _compiler_has_openmp(self):
        if self.compiler.compiler_type == "msvc" or sys.platform == "darwin":
            return False
        with tempfile.TemporaryDirectory() as tmp:
            source = Path(tmp) / "probe.c"
            source.write_text(
                "#include <omp.h>\nint main(void) { return omp_get_max_threads() < 1; }\n"
            )
            try:
                objects = self.compiler.compile([str(source)], output_dir=tmp,
                                                extra_postargs=["-fopenmp"])
                self.compiler.link_executable(objects, str(Path(tmp) / "probe"),
                                              extra_postargs=["-fopenmp"])
            except Exception:
                return False
        return True


def render_templates():
    """Write ``_x.pyx`` from each ``_x.pyx.tp`` (Cython's Tempita): one source per dtype."""
    from Cython import Tempita

    for template in sorted(KERNEL_DIR.glob("_*.pyx.tp")):
        target = template.with_suffix("")
        text = Tempita.sub(template.read_text(), name=template.name)
        if not target.exists() or target.read_text() != text:
            target.write_text(text)


render_templates()
extensions = [
    Extension(f"fastreg.{pyx.stem}", [str(pyx)],
              depends=[str(header) for header in sorted(KERNEL_DIR.glob("*.h"))])
    for pyx in sorted(KERNEL_DIR.glob("_*.pyx"))
]

setup(
    ext_modules=cythonize(
        extensions,
        include_path=["src_cython"],
        compiler_directives=COMPILER_DIRECTIVES,
    ),
    cmdclass={"build_ext": BuildExtWithOptionalOpenMP},
)
