"""The package as a user installs it: a wheel built with ``python -m build`` goes into a clean venv in a
temporary folder, and ``rtsep demo`` / ``separate`` / ``info`` run from another folder on the models the
wheel carries (issue 24). Plus the two lists in pyproject.toml that a wheel depends on: the packages
(explicit, because ``rtsep.models`` is mapped onto the top-level models/) and the ONNX files that ship.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
SHIPPED = SETUPTOOLS["package-data"]["rtsep.models"]  # the ONNX files a wheel carries


def test_package_list_names_every_subpackage():
    """A subpackage missing from pyproject.toml's explicit list would be missing from the wheel."""
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "rtsep").rglob("__init__.py")}
    assert set(SETUPTOOLS["packages"]) == on_disk | {"rtsep.models"}
    assert SETUPTOOLS["package-dir"] == {"rtsep.models": "models"}


def test_every_model_the_registry_names_ships():
    """The defaults of both operating points and the ``unet`` alias are in the wheel's list and on disk."""
    from rtsep.model import registry

    named = {n for names in registry.DEFAULTS.values() for n in names} | set(registry.ALIASES.values())
    assert named <= set(SHIPPED), f"add {sorted(named - set(SHIPPED))} to [tool.setuptools.package-data]"
    for name in SHIPPED:
        assert (ROOT / "models" / name).is_file(), name


def test_models_dir_is_the_package_unless_overridden(tmp_path):
    code = "from rtsep.model import registry; print(registry.MODELS_DIR)"
    env = {k: v for k, v in os.environ.items() if k != "RTSEP_MODELS_DIR"}
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True,
                         check=True, timeout=60).stdout.strip()
    assert Path(out).resolve() == (ROOT / "models").resolve()  # this checkout: editable or source tree
    env["RTSEP_MODELS_DIR"] = str(tmp_path)
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True,
                         check=True, timeout=60).stdout.strip()
    assert Path(out) == tmp_path


def _run(cmd, cwd, env, timeout_s, what):
    """Run ``cmd``; on a non-zero exit fail with its output (the last 3000 characters)."""
    try:
        p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{what} did not finish within {timeout_s} s: {cmd}")
    if p.returncode != 0:
        pytest.fail(f"{what} exited {p.returncode}: {cmd}\n{(p.stdout + p.stderr)[-3000:]}")
    return p.stdout


def _checkout_copy(dest: Path) -> None:
    """The files a clone would have (tracked, plus new files git does not ignore) copied to ``dest``."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the wheel is built from the files git lists")
    names = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           capture_output=True, check=True, timeout=60).stdout.decode().split("\0")
    for name in filter(None, names):
        src = ROOT / name
        if src.is_file():  # deleted but not yet committed files are listed too
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)


@pytest.mark.timeout(900)
def test_wheel_installs_and_runs_from_a_clean_venv():
    if importlib.util.find_spec("build") is None:
        pytest.skip("python -m build needs the 'build' package (pip install -e '.[test]')")
    with tempfile.TemporaryDirectory(prefix="rtsep-wheel-") as tmp:  # ~1.2 GB, removed at the end
        tmp = Path(tmp)
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "RTSEP_MODELS_DIR", "VIRTUAL_ENV")}
        env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", QT_QPA_PLATFORM="offscreen")
        probe = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--dest",
                                str(tmp / "probe"), "setuptools>=68"], env=env, capture_output=True, timeout=120)
        if probe.returncode != 0:
            pytest.skip("no package index reachable (the build and the clean venv install from one)")

        t0 = time.perf_counter()
        src = tmp / "src"
        _checkout_copy(src)
        # sdist, then the wheel from the sdist: both must be complete
        _run([sys.executable, "-m", "build", "--outdir", str(tmp / "dist"), str(src)], tmp, env, 600, "python -m build")
        wheel, = (tmp / "dist").glob("rtsep-*.whl")
        with zipfile.ZipFile(wheel) as z:
            models = sorted(Path(n).name for n in z.namelist() if n.startswith("rtsep/models/") and n.endswith(".onnx"))
        assert models == sorted(SHIPPED)  # the research twins (mir1k-protocol*.onnx) stay in the repository
        t_build = time.perf_counter() - t0

        venv = tmp / "venv"
        _run([sys.executable, "-m", "venv", str(venv)], tmp, env, 300, "python -m venv")
        bin_dir = venv / "bin"
        _run([str(bin_dir / "python"), "-m", "pip", "install", "-q", str(wheel)], tmp, env, 600, "pip install WHEEL")
        t_install = time.perf_counter() - t0 - t_build

        elsewhere = tmp / "elsewhere"  # neither the repository nor the source copy
        elsewhere.mkdir()
        env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
        site = _run([str(bin_dir / "python"), "-c", "import rtsep; print(rtsep.__file__)"], elsewhere, env, 60,
                    "import rtsep")
        assert Path(site.strip()).is_relative_to(venv), site

        rtsep = str(bin_dir / "rtsep")
        out = _run([rtsep, "demo", "-o", "demo"], elsewhere, env, 300, "rtsep demo")
        assert "model   : unet-2stems" in out and "PLACEHOLDER" not in out, out
        for name in ("mixture", "vocals", "accompaniment"):
            assert (elsewhere / "demo" / f"{name}.wav").stat().st_size > 100_000, name
        assert (elsewhere / "demo" / "spectrograms.png").is_file()

        _run([rtsep, "separate", "demo/mixture.wav", "-o", "sep"], elsewhere, env, 300, "rtsep separate")
        for stem in ("vocals", "accompaniment"):
            assert (elsewhere / "sep" / "mixture" / f"{stem}.wav").stat().st_size > 100_000, stem

        out = _run([rtsep, "info", "--model", "unet"], elsewhere, env, 120, "rtsep info --model unet")
        assert str(venv / "lib") in out and "unet-2stems.onnx" in out, out  # the wheel's own copy
        t_run = time.perf_counter() - t0 - t_build - t_install
        print(f"wheel {wheel.stat().st_size / 1e6:.1f} MB; build {t_build:.0f} s, venv + install {t_install:.0f} s, "
              f"demo + separate + info {t_run:.0f} s")
