"""The build of areion-core's compiled modules; the package's metadata is in pyproject.toml.

The modules named in ``areion_core/_compiled.py`` (``MODULES``) are compiled with Cython in
its pure-Python mode — each ``.py`` file is the only source, a ``.pxd`` beside it adds C types —
when Cython is importable and ``AREION_PURE`` is not ``1`` at build time; otherwise, or when no C
compiler works (the extensions are optional), the package is the pure-Python one. An editable
install builds them in place, beside their sources.
"""

import ast
import os
import shlex
import subprocess
import sysconfig
import tempfile
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent


def compiled_modules() -> list[str]:
    """``MODULES`` of areion_core/_compiled.py, read without importing the package."""
    tree = ast.parse((HERE / "areion_core" / "_compiled.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "MODULES" for t in node.targets):
            return list(ast.literal_eval(node.value))
    raise RuntimeError("areion_core/_compiled.py defines no MODULES")


def c_compiler_works(attempts: int = 2) -> bool:
    """Whether the C compiler extensions are built with (``CC``, else Python's) compiles at all:
    without one, the package is the pure-Python one rather than a failed build. A probe that
    fails is tried once more (a stalled disk once failed one on a machine whose compiler
    works), and why it failed is printed: ``make test`` then stops on the pure build
    (tests/core/test_compiled.py), and the reason is in the setup's output."""
    compiler = shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")
    why = ""
    for _attempt in range(attempts):
        with tempfile.TemporaryDirectory() as tmp:
            source = Path(tmp, "probe.c")
            source.write_text("int main(void) { return 0; }\n", encoding="ascii")
            try:
                done = subprocess.run([*compiler, "-c", str(source), "-o", str(Path(tmp, "probe.o"))],
                                      capture_output=True, timeout=120, check=False)
            except (OSError, subprocess.SubprocessError) as exc:
                why = f"{shlex.join(compiler)}: {exc}"
                continue
        if done.returncode == 0:
            return True
        why = f"{shlex.join(compiler)} exited with {done.returncode}: {done.stderr.decode(errors='replace')[-300:]}"
    print(f"areion-core: the C compiler probe failed: {why}")
    return False


def ext_modules() -> list[Extension]:
    if os.environ.get("AREION_PURE") == "1":
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        return []
    if not c_compiler_works():
        print("areion-core: no working C compiler: the pure-Python package is built")
        return []
    extensions = [
        # -O2 without debug information: half of the default -O3 -g's compile time (make run's
        # first start waits for it), the same code in the hot paths.
        Extension(f"areion_core.{name}", [f"areion_core/{name}.py"], extra_compile_args=["-O2", "-g0"],
                  optional=True)
        for name in compiled_modules()
    ]
    return cythonize(
        extensions,
        build_dir="build/cython",  # the generated C files, kept out of the package
        # Annotations are for mypy: Cython would otherwise turn `x: str` into a C-level type check.
        compiler_directives={"language_level": 3, "annotation_typing": False},
        nthreads=os.cpu_count() or 1,
        quiet=True,
    )


class BuildExt(build_ext):
    """build_ext that, building in place, first removes this interpreter's extension modules of
    areion_core that it does not build (a module taken off the list, AREION_PURE=1, no Cython):
    an extension left beside a .py would be imported instead of it. An extension that cannot be
    built (no C compiler, a compile error) is skipped: its .py is the module."""

    def run(self) -> None:
        if self.inplace or self.editable_mode:
            built = {ext.name.rpartition(".")[2] for ext in self.extensions}
            for path in (HERE / "areion_core").glob("*" + sysconfig.get_config_var("EXT_SUFFIX")):
                if path.name.partition(".")[0] not in built:
                    path.unlink()
        super().run()

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        # Any failure (setuptools 84's own filter misses its new CompileError class, and a
        # missing compiler is an OSError): an optional extension is then skipped.
        except Exception as error:
            if not ext.optional:
                raise
            self.warn(f"{ext.name} is not compiled ({error}): its pure-Python module is used")


setup(ext_modules=ext_modules(), cmdclass={"build_ext": BuildExt},
      options={"build_ext": {"parallel": os.cpu_count() or 1}})
