"""Deep Feature Flow for video recognition: plugins for Detectron2 and MMSegmentation."""

from setuptools import find_packages, setup

setup(
    name="dff",
    version="0.1.0",
    description="Deep Feature Flow (Zhu et al., CVPR 2017) for Detectron2 and MMSegmentation",
    packages=find_packages(include=["dff_common*", "dff_detectron2*", "dff_mmseg*"]),
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
