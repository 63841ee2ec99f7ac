"""Install clsr_plugin.

Install torch first, then basicsr without build isolation, then this package::

    pip install torch torchvision
    pip install --no-build-isolation basicsr==1.4.2
    pip install --no-build-isolation .

(``scripts/bootstrap.sh`` does exactly this into ``.venv``.) basicsr's sdist imports torch in
its ``setup.py``; built in an isolated environment it downloads a second torch, which is why
``basicsr`` must already be installed when this package's requirements are resolved.
"""

import os
import shutil

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
PTH = "clsr_plugin_autoload.pth"


OPTIONS = "options"


class BuildPyWithPth(build_py):
    """Ship ``clsr_plugin_autoload.pth`` at the top of the wheel (i.e. in site-packages) and
    the repository's ``options/**/*.yml`` as ``clsr_plugin/options/`` (package data: the one
    copy stays in ``options/``; :mod:`clsr_plugin.option_files` finds either).

    Also empties the package's old build copy first: pip builds in ``./build``, and a module
    deleted or renamed in the source would otherwise survive there, be installed again, and
    register its types a second time.
    """

    def run(self):
        stale = os.path.join(self.build_lib, "clsr_plugin")
        if os.path.isdir(stale):
            shutil.rmtree(stale)
        super().run()
        self.copy_file(os.path.join(HERE, PTH), os.path.join(self.build_lib, PTH))
        src = os.path.join(HERE, OPTIONS)
        for root, _, files in os.walk(src):
            for name in sorted(f for f in files if f.endswith(".yml")):
                rel = os.path.relpath(os.path.join(root, name), src)
                dst = os.path.join(self.build_lib, "clsr_plugin", OPTIONS, rel)
                self.mkpath(os.path.dirname(dst))
                self.copy_file(os.path.join(root, name), dst)


def read_version():
    scope = {}
    with open(os.path.join(HERE, "clsr_plugin", "version.py")) as f:
        exec(f.read(), scope)
    return scope["__version__"]


setup(
    name="clsr_plugin",
    version=read_version(),
    description="Context-based local super-resolution (CLSR, LocalSR) as a BasicSR plugin",
    long_description=open(os.path.join(HERE, "README.md")).read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["clsr_plugin", "clsr_plugin.*"]),
    py_modules=["_clsr_plugin_autoload", "_clsr_torchvision_shim"],
    install_requires=[
        "torch",
        "torchvision",
        "basicsr==1.4.2",
        "mmengine",
        "opencv-python",
        "numpy",
        "lmdb",
        "pyyaml",
        "tb-nightly",
        "safetensors",
        "scikit-image",
        "tqdm",
        "matplotlib",
    ],
    extras_require={"test": ["pytest", "ruff"]},
    entry_points={
        "console_scripts": [
            "clsr-train=clsr_plugin.train:main",
            "clsr-test=clsr_plugin.test:main",
            "clsr-infer=clsr_plugin.infer:main",
            "clsr-bench=clsr_plugin.bench:main",
            "clsr-demo=clsr_plugin.demo:main",
            "clsr-adapt=clsr_plugin.adapt:main",
        ]
    },
    cmdclass={"build_py": BuildPyWithPth},
    zip_safe=False,
)
