"""Load the frames of a pair (or clip) as one multi-channel image, so that mmseg's geometric
transforms apply the *same* resize, crop and flip to every frame (DFF Sec. 3 training)."""

from __future__ import annotations

import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS

from dff_common.data.cityscapes import check_label_ids, read_image, read_label


@TRANSFORMS.register_module()
class LoadVideoFrames(BaseTransform):
    """Read ``results["frame_paths"]`` (T frames, time order, current frame last).

    The frames are stacked along the channel axis: ``img`` is ``(H, W, 3T)``, frame ``t`` in
    channels ``3t .. 3t+2`` (a pair ``[I_k, I_i]`` gives 6 channels, the key frame first).
    mmcv/mmseg ``Resize``, ``RandomResize``, ``RandomCrop`` and ``RandomFlip`` then transform
    all frames identically; ``PackSegInputs`` makes the ``(3T, H, W)`` input tensor and
    :class:`~dff_mmseg.models.VideoSegDataPreProcessor` normalises each frame. Photometric
    transforms that expect 3 channels must not follow this one.

    With ``with_label`` and a ``seg_map_path``, the current frame's label map is read into
    ``gt_seg_map`` (with the dataset's ``label_map`` applied, as mmseg's ``LoadAnnotations``);
    given the dataset's ``num_classes`` and ``ignore_index``, an id outside both is an error.

    Required keys: ``frame_paths``; ``seg_map_path``, ``label_map``, ``num_classes``,
    ``ignore_index`` (optional).
    Added keys: ``img``, ``img_shape``, ``ori_shape``, ``num_frames``, ``gt_seg_map`` and
    ``seg_fields`` (with labels).

    Args:
        with_label (bool): read the label map. Defaults to True.
        channel_order (str): "bgr" (mmseg's convention; the data preprocessor then converts
            with ``bgr_to_rgb=True``) or "rgb". Defaults to "bgr".

    Raises:
        FileNotFoundError: a frame or label file is missing (named in the message).
        ValueError: a file cannot be decoded, the frames differ in size, the label map's size
            differs from the frames', or it holds ids outside the classes.
    """

    def __init__(self, with_label: bool = True, channel_order: str = "bgr") -> None:
        self.with_label = with_label
        self.channel_order = channel_order

    def transform(self, results: dict) -> dict:
        paths = results["frame_paths"]
        if not paths:
            raise ValueError(f"no frames to load for {results.get('img_path')}")
        frames = [read_image(path, self.channel_order) for path in paths]
        for path, frame in zip(paths, frames):
            if frame.shape != frames[-1].shape:
                raise ValueError(
                    f"frame {path} is {frame.shape[:2]}, the current frame {paths[-1]} is "
                    f"{frames[-1].shape[:2]}: frames of a snippet must have one size"
                )
        img = np.concatenate(frames, axis=2)  # [H, W, 3T]
        results.update(
            img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2], num_frames=len(frames)
        )
        label_path = results.get("seg_map_path")
        if self.with_label and label_path:
            label = read_label(label_path)
            if label.shape != img.shape[:2]:
                raise ValueError(
                    f"label map {label_path} is {label.shape}, its frame {paths[-1]} is "
                    f"{img.shape[:2]}: label and image sizes differ"
                )
            label_map = results.get("label_map")
            if label_map:
                mapped = label.copy()
                for old_id, new_id in label_map.items():
                    mapped[label == old_id] = new_id
                label = mapped
            if "num_classes" in results:
                check_label_ids(label, results["num_classes"], results["ignore_index"], label_path)
            results["gt_seg_map"] = label
            results.setdefault("seg_fields", []).append("gt_seg_map")
        return results

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(with_label={self.with_label}, "
            f"channel_order={self.channel_order!r})"
        )
