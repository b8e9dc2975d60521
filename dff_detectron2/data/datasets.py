"""ImageNet VID / DET in detectron2's DatasetCatalog, read from the real ILSVRC2015 layout.

Registered names (``<name>``: split), for a root given by :func:`register_imagenet_vid`:

- ``<prefix>_vid_train``: every frame of the VID train snippets (``ImageSets/VID/train_*``);
- ``<prefix>_vid_train_15frames``: 15 evenly spaced annotated frames per train snippet (the
  FGFA / DFF lists); key frames are still drawn from all frames;
- ``<prefix>_vid_val``, ``<prefix>_vid_test`` (no annotations: submission file only);
- ``<prefix>_det_train_30classes``: DET train images with objects of the 30 VID classes.

:func:`register_coco_video_instances` registers any video set written as COCO-VID JSON.

On import, ``imagenet_*`` is registered under ``$DFF_DATASETS/ILSVRC2015`` and
``synthetic_*`` under ``$DFF_DATASETS/synthetic_vid`` (``DFF_DATASETS`` defaults to
``datasets``); the synthetic set is written by
``dff_common.synthetic.vid.make_synthetic_vid``.
"""

import os

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import BoxMode

from dff_common.data.coco_video import MAX_KEY_DISTANCE, load_coco_video
from dff_common.data.imagenet_vid import VID_CLASS_NAMES, VID_WNIDS, load_det_train, load_vid

__all__ = ["register_coco_video_instances", "register_imagenet_vid", "to_detectron2"]

SPLITS = {
    "vid_train": ("train", None),
    "vid_train_15frames": ("train", 15),
    "vid_val": ("val", None),
    "vid_test": ("test", None),
    "det_train_30classes": ("det", None),
}


def to_detectron2(records: list[dict]) -> list[dict]:
    """Add ``bbox_mode`` (``XYXY_ABS``, inclusive pixel indices kept as they are)."""
    for record in records:
        for ann in record.get("annotations", ()):
            ann["bbox_mode"] = BoxMode.XYXY_ABS
    return records


def _loader(root: str, split: str, frames_per_video):
    def load():
        if split == "det":
            return to_detectron2(load_det_train(root))
        return to_detectron2(load_vid(root, split, frames_per_video=frames_per_video))

    return load


def register_imagenet_vid(root, prefix: str = "imagenet") -> list[str]:
    """Register the splits of an ILSVRC2015-layout folder (module docstring).

    Loading is lazy: the folder is read when a dataset is first requested.

    Args:
        root (str | os.PathLike): the folder holding ``Data``, ``Annotations``, ``ImageSets``.
        prefix (str): name prefix. Defaults to "imagenet".

    Returns:
        list[str]: the registered names.
    """
    names = []
    for suffix, (split, frames_per_video) in SPLITS.items():
        name = f"{prefix}_{suffix}"
        if name in DatasetCatalog.list():
            DatasetCatalog.remove(name)
            MetadataCatalog.remove(name)
        DatasetCatalog.register(name, _loader(os.fspath(root), split, frames_per_video))
        MetadataCatalog.get(name).set(
            thing_classes=list(VID_CLASS_NAMES),
            wnids=list(VID_WNIDS),
            evaluator_type="imagenet_vid",
            root=os.fspath(root),
            split=split,
        )
        names.append(name)
    return names


def register_coco_video_instances(
    name: str,
    metadata: dict,
    json_file,
    image_root,
    max_key_distance: int = MAX_KEY_DISTANCE,
) -> None:
    """Register a video set in the COCO-VID JSON format (``dff_common.data.coco_video``) as
    ``name``, as detectron2's ``register_coco_instances(name, metadata, json_file,
    image_root)`` registers a COCO set: lazily, its ``thing_classes`` (the JSON's categories in
    id order) set when it is first loaded. The pair mapper and ``VIDEvaluator`` read it as an
    ImageNet VID split; training pairs may reach ``max_key_distance`` frames back.
    """
    json_file, image_root = os.fspath(json_file), os.fspath(image_root)

    def load():
        records, classes = load_coco_video(json_file, image_root, max_key_distance)
        MetadataCatalog.get(name).set(thing_classes=classes)
        return to_detectron2(records)

    DatasetCatalog.register(name, load)
    MetadataCatalog.get(name).set(
        json_file=json_file, image_root=image_root, evaluator_type="imagenet_vid", **metadata
    )


_ROOT = os.environ.get("DFF_DATASETS", "datasets")
register_imagenet_vid(os.path.join(_ROOT, "ILSVRC2015"), "imagenet")
register_imagenet_vid(os.path.join(_ROOT, "synthetic_vid"), "synthetic")
