"""dff_compat: placeholders only where a compiled extension is missing."""

import subprocess
import sys
import textwrap

import pytest

import dff_compat as compat


def run_python(code: str, cwd) -> str:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_placeholder_op_raises_naming_op_and_fix():
    ext = compat.placeholder_extension("fakefw._C", "build fakefw from source")
    with pytest.raises(compat.MissingExtensionError, match=r"fakefw\._C\.nms_rotated"):
        ext.nms_rotated(1, 2)
    with pytest.raises(compat.MissingExtensionError, match="build fakefw from source"):
        ext.anything()
    with pytest.raises(AttributeError):
        _ = ext.__wrapped__  # dunder lookups (inspect, pickle) must not get a fake op


def test_only_a_missing_extension_of_an_installed_package_gets_a_placeholder(tmp_path):
    # a package whose compiled `_C` exists on disk (a source build), one without, one already
    # imported, and one not installed at all
    for name, extension in (("fakefw", True), ("barefw", False), ("loadedfw", False)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("")
        if extension:
            (tmp_path / name / "_C.py").write_text("REAL = True\n")
    out = run_python(
        """
        import sys, types
        import dff_compat as compat
        real = sys.modules["loadedfw._C"] = types.ModuleType("loadedfw._C")
        print([compat.register_placeholder(f"{p}._C", "build it")
               for p in ("fakefw", "barefw", "loadedfw", "notinstalledfw")])
        import fakefw._C, barefw._C
        print(fakefw._C.REAL, barefw._C._dff_placeholder, sys.modules["loadedfw._C"] is real)
        print(compat.applied_shims())
        """,
        tmp_path,
    )
    assert out.splitlines() == [
        "[False, True, False, False]",
        "True True True",
        "['barefw._C']",
    ]


def test_shims_apply_on_a_frameworks_first_import_without_importing_it_early(tmp_path):
    # a framework whose package imports its missing extension at once, like detectron2.layers
    (tmp_path / "orderfw").mkdir()
    (tmp_path / "orderfw" / "__init__.py").write_text("from orderfw import _C\nOPS = _C\n")
    out = run_python(
        """
        import sys
        import dff_compat
        seen = []
        def shims():
            seen.append("orderfw" in sys.modules)  # the shims run before the package does
            dff_compat.register_placeholder("orderfw._C", "build it")
        dff_compat._SHIMS["orderfw"] = shims
        dff_compat.install()
        dff_compat.install()  # idempotent: one finder
        import orderfw
        print(seen, orderfw.OPS._dff_placeholder, "orderfw._C" in dff_compat.applied_shims())
        print(sum(isinstance(f, dff_compat._ShimFinder) for f in sys.meta_path))
        """,
        tmp_path,
    )
    assert out.splitlines() == ["[False] True True", "1"]


def test_the_wheel_ships_the_pth_beside_the_module(tmp_path):
    # a non-editable install (pip install .) gets dff_compat.pth at the top of site-packages
    import shutil
    import zipfile
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    source = tmp_path / "src"
    skip = (".git", "work_dirs", "datasets", "build", "*.egg-info", "__pycache__", "output")
    shutil.copytree(repo, source, ignore=shutil.ignore_patterns(*skip))
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         str(source), "-w", str(tmp_path / "wheel")],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = (tmp_path / "wheel").glob("dff-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "dff_compat.pth" in names and "dff_compat.py" in names
    pth = zipfile.ZipFile(wheel).read("dff_compat.pth").decode()
    assert pth == (repo / "dff_compat.pth").read_text() and "dff_compat" in pth
