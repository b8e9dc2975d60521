"""Deep Feature Flow for video recognition: plugins for Detectron2 and MMSegmentation."""

import os

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

PTH = "dff_compat.pth"  # runs dff_compat.install() at the start of every Python process


class BuildPyWithPth(build_py):
    """``build_py`` that also puts ``dff_compat.pth`` at the top of site-packages (as
    setuptools ships its ``distutils-precedence.pth``), so detectron2 and mmcv-lite import in
    any order in every process. Editable installs skip it: ``tools/setup_env.sh`` writes it."""

    def run(self):
        super().run()
        self.copy_file(PTH, os.path.join(self.build_lib, PTH))

    def get_outputs(self, include_bytecode=1):
        return [*super().get_outputs(include_bytecode), os.path.join(self.build_lib, PTH)]


setup(
    name="dff",
    version="0.1.0",
    description="Deep Feature Flow (Zhu et al., CVPR 2017) for Detectron2 and MMSegmentation",
    packages=find_packages(include=["dff_common*", "dff_detectron2*", "dff_mmseg*"]),
    py_modules=["dff_compat"],
    cmdclass={"build_py": BuildPyWithPth},
    python_requires=">=3.10",
    # The pinned, verified stack is in requirements.txt; tools/setup_env.sh installs it
    # (detectron2 0.6 needs a custom pure-Python build, see that script).
    install_requires=["torch>=2.0", "torchvision", "numpy", "opencv-python-headless"],
    extras_require={
        "detectron2": ["pycocotools", "fvcore"],
        "mmseg": [
            "mmengine>=0.10",
            "mmcv-lite>=2.0,<2.2",
            "mmsegmentation>=1.2",
            "cityscapesscripts",
        ],
    },
)
