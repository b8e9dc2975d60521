"""Pair mapper: a (key, current) frame pair for DFF training (Zhu et al., CVPR 2017, Sec. 3)."""

import copy
import random

import numpy as np
import torch
from detectron2.config import configurable
from detectron2.data import detection_utils as utils
from detectron2.data import transforms as T
from PIL import UnidentifiedImageError

from dff_common.data.frame_size import check_image_file
from dff_common.data.pairs import sample_key_index

__all__ = ["DFFPairDatasetMapper"]


class DFFPairDatasetMapper:
    """Map a dataset dict (``dff_common.data.imagenet_vid`` record) to the model's input.

    In training, for the annotated current frame ``i`` a key frame ``k = i + offset`` is
    drawn with ``offset`` uniform in ``[-(l-1), 0]`` among the frames of the video
    (``pairs.sample_key_index``); a DET image (``num_frames`` 1) is its own key frame. ONE
    random transform (resize, flip) is drawn and applied to both frames, so the pair stays
    aligned. At test time a fixed ``key_offset`` (clamped to the video start) gives the pairs
    of Sec. 5.2; without one, the frame alone is returned (Algorithm 1 runs in the model).

    A frame that is missing or cannot be decoded (truncated, not an image), or whose size
    differs from its annotation's ``<size>``, is an error naming the file and its role.

    Output keys: ``image`` ``(3, H, W)`` uint8 tensor, ``key_image`` and ``key_offset``
    (``k - i``) for pairs, ``instances`` in training, and the record's other keys.
    """

    @configurable
    def __init__(
        self,
        is_train: bool,
        *,
        augmentations: list,
        image_format: str = "RGB",
        key_offset_range: tuple[int, int] | None = (-9, 0),
        test_key_offset: int | None = None,
        seed: int | None = None,
    ):
        """
        Args:
            is_train (bool): training (sample pairs, keep annotations) or test.
            augmentations (list[Augmentation]): drawn once per pair.
            image_format (str): detectron2 image format, "RGB" for DFF.
            key_offset_range (tuple[int, int] | None): ``(-(l-1), 0)``; None trains on
                single frames (the per-frame network of Fig. 2a: no key image).
            test_key_offset (int, optional): key offset of test pairs (<= 0).
            seed (int, optional): seed of the key-offset sampling. Defaults to None: the
                ``random`` module, seeded per process and loader worker by detectron2.
        """
        if key_offset_range is not None:
            low, high = key_offset_range
            if high != 0 or low > 0:
                raise ValueError(
                    f"key offset range must be [-(l-1), 0] (Sec. 3), got {tuple(key_offset_range)}"
                )
            self.interval = 1 - low
        if test_key_offset is not None and test_key_offset > 0:
            raise ValueError(
                f"test key offset must be <= 0 (a preceding key frame), got {test_key_offset}"
            )
        self.is_train = is_train
        self.augmentations = T.AugmentationList(augmentations)
        self.image_format = image_format
        self.key_offset_range = key_offset_range
        self.test_key_offset = test_key_offset
        self.rng = random.Random(seed) if seed is not None else None  # None: module's

    @classmethod
    def from_config(cls, cfg, is_train: bool = True, test_key_offset: int | None = None):
        pairs = cfg.MODEL.DFF.MODE != "frame" and tuple(cfg.MODEL.DFF.KEY_OFFSET_RANGE) != (0, 0)
        return {
            "is_train": is_train,
            "augmentations": utils.build_augmentation(cfg, is_train),
            "image_format": cfg.INPUT.FORMAT,
            "key_offset_range": tuple(cfg.MODEL.DFF.KEY_OFFSET_RANGE) if pairs else None,
            "test_key_offset": test_key_offset,
        }

    def _key_index(self, record: dict) -> int | None:
        cur, num_frames = record.get("frame_idx", 0), record.get("num_frames", 1)
        if self.is_train:
            if self.key_offset_range is None:
                return None
            if num_frames == 1:
                return cur
            return sample_key_index(cur, self.interval, range(num_frames), self.rng)
        if self.test_key_offset is None:
            return None
        return max(cur + self.test_key_offset, 0)

    def _read(self, path: str, role: str) -> np.ndarray:
        """Decode one frame, naming the file and its role if it is missing or not an image."""
        check_image_file(path)  # before decoding: a frame too large to hold is refused
        try:
            return utils.read_image(path, format=self.image_format)
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: {role} not found") from None
        except UnidentifiedImageError as err:  # its message names a file object, not path
            raise ValueError(
                f"{path}: {role} is not a readable image (not an image format PIL can identify)"
            ) from err
        except (OSError, SyntaxError, ValueError) as err:  # PIL: truncated, corrupt data
            raise ValueError(
                f"{path}: {role} is not a readable image ({type(err).__name__}: {err})"
            ) from err

    def __call__(self, dataset_dict: dict) -> dict:
        record = copy.deepcopy(dataset_dict)
        cur = record.get("frame_idx", 0)
        if "frame_template" in record or "key_frame_files" in record:  # a video frame
            video = "snippet" if "frame_template" in record else "video"  # ImageNet VID's word
            role = f"frame {cur:06d} of {video} {record.get('video_id')}"
        else:
            role = f"{record.get('source', 'dataset')} image"
        image = self._read(record["file_name"], f"current {role}")
        _check_size(record, image)
        key_index = self._key_index(record)
        aug_input = T.AugInput(image)
        transforms = self.augmentations(aug_input)
        record["image"] = _to_tensor(aug_input.image)
        if key_index is not None:
            if key_index == cur:
                key_image = image
            else:
                key_file = _key_file(record, key_index, role)
                key_role = f"key frame {key_index:06d} (key offset {key_index - cur}) of {role}"
                key_image = self._read(key_file, key_role)
                if key_image.shape != image.shape:
                    raise ValueError(
                        f"{key_file}: {key_role} has shape {key_image.shape}, different from "
                        f"its current frame {record['file_name']} {image.shape}"
                    )
            record["key_image"] = _to_tensor(transforms.apply_image(key_image))
            record["key_offset"] = key_index - cur
        annotations = record.pop("annotations", None)
        if not self.is_train:
            return record
        size = aug_input.image.shape[:2]
        annos = [utils.transform_instance_annotations(a, transforms, size) for a in annotations]
        instances = utils.annotations_to_instances(annos, size)
        record["instances"] = utils.filter_empty_instances(instances)
        return record


def _key_file(record: dict, key_index: int, role: str) -> str:
    """The file of frame ``key_index`` of the record's video: from its ``frame_template``
    (ImageNet VID) or its ``key_frame_files`` (COCO-VID, frames from ``key_frames_start``)."""
    if "frame_template" in record:
        return record["frame_template"] % key_index
    files, start = record.get("key_frame_files", ()), record.get("key_frames_start", 0)
    if not start <= key_index < start + len(files):
        raise ValueError(
            f"{record['file_name']}: key frame {key_index} of {role} is not among the "
            f"{len(files)} frames its record lists ({start}..{start + len(files) - 1}); register "
            "the set with a larger max_key_distance"
        )
    return files[key_index - start]


def _check_size(record: dict, image: np.ndarray) -> None:
    """detectron2's ``check_image_size`` (the image must have the record's width and height,
    which it fills in when absent), its error naming the annotation that gave the size."""
    try:
        utils.check_image_size(record, image)
    except utils.SizeMismatchError as err:
        height, width = image.shape[:2]
        source = record.get("annotation_file")
        source = f"its annotation {source} <size>" if source else "its dataset record"
        raise utils.SizeMismatchError(
            f"{record['file_name']}: image is {width}x{height} (width x height) but {source} "
            f"says {record['width']}x{record['height']}"
        ) from err


def _to_tensor(image: np.ndarray) -> torch.Tensor:
    """``(H, W, 3)`` array -> ``(3, H, W)`` tensor."""
    return torch.as_tensor(np.ascontiguousarray(image.transpose(2, 0, 1)))
