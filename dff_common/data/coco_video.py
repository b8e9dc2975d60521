"""Video detection sets in the COCO-VID JSON format (mmtracking's ``CocoVideoDataset``).

A JSON file holds ``videos`` (``id``, ``name``), ``images`` (``id``, ``file_name`` relative to
the image root, ``video_id``, ``frame_id`` 0, 1, 2, ... within its video, ``height``,
``width``), ``annotations`` (``image_id``, ``category_id``, ``bbox`` ``[x, y, w, h]`` in
pixels, optional ``instance_id``, the object's track, and ``iscrowd``) and ``categories``
(``id``, ``name``). Every image is a frame, and a labelled one (an image without annotations
holds no object).

:func:`load_coco_video` gives one record per frame, videos in file order and frames in
``frame_id`` order, in the layout of :mod:`dff_common.data.imagenet_vid`'s records:
``file_name``, ``image_id``, ``video_id``, ``frame_idx``, ``num_frames``, ``height``, ``width``,
``source`` "VID", ``annotation_file`` (the JSON) and ``annotations`` (``bbox`` ``[x1, y1, x2,
y2]``, ``category_id`` 0..C-1 in the order of the category ids, ``track_id``: the
``instance_id`` or -1), plus ``key_frame_files``, the files of the frames ``frame_idx -
max_key_distance`` .. ``frame_idx`` (from ``key_frames_start``), where a training pair's key
frame is read (Sec. 3: ``k = i + offset``, ``offset`` in ``[-(l-1), 0]``).
:func:`write_coco_video` writes such records (e.g. an ImageNet VID split's) as COCO-VID JSON.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path

__all__ = ["BOX_SLACK", "MAX_KEY_DISTANCE", "load_coco_video", "write_coco_video"]

MAX_KEY_DISTANCE = 30  # frames before the current one a record lists as key frames (l <= 31)
BOX_SLACK = 1.0  # pixels a box may leave its image by (rounding in annotation tools)


def _fields(entry: dict, keys: tuple, what: str, path: str) -> None:
    missing = [k for k in keys if k not in entry]
    if missing:
        raise ValueError(f"{path}: {what} {entry.get('id', entry)!r} has no {missing[0]!r}")


def load_coco_video(
    json_file: str | os.PathLike,
    image_root: str | os.PathLike,
    max_key_distance: int = MAX_KEY_DISTANCE,
) -> tuple[list[dict], list[str]]:
    """Read a COCO-VID JSON file (module docstring).

    Args:
        json_file (str | os.PathLike): the JSON file.
        image_root (str | os.PathLike): the folder the images' ``file_name`` are relative to.
        max_key_distance (int): how many preceding frames each record lists as key frames.

    Returns:
        tuple[list[dict], list[str]]: the records and the class names.

    Raises:
        FileNotFoundError: the JSON file or a frame file does not exist.
        ValueError: naming the file and the video, image or annotation: a missing field,
            ``frame_id`` s that repeat or skip, a video of one frame, an unknown video,
            image or category id, a box outside its image or of no area.
    """
    path = os.fspath(json_file)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: COCO-VID JSON file not found")
    with open(path) as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: not a JSON file ({err})") from err
    for key in ("videos", "images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise ValueError(
                f"{path}: no {key!r} list (a COCO-VID file has videos, images, "
                "annotations and categories)"
            )
    for what, keys, entries in (
        ("video", ("id",), data["videos"]),
        ("image", ("id", "file_name", "video_id", "frame_id", "height", "width"), data["images"]),
        ("annotation", ("image_id", "category_id", "bbox"), data["annotations"]),
        ("category", ("id", "name"), data["categories"]),
    ):
        for entry in entries:
            _fields(entry, keys, what, path)
    categories = sorted(data["categories"], key=lambda c: c["id"])
    contiguous = {c["id"]: i for i, c in enumerate(categories)}
    videos = {v["id"]: v for v in data["videos"]}
    frames = defaultdict(list)
    for image in data["images"]:
        if image["video_id"] not in videos:
            raise ValueError(
                f"{path}: image {image['id']!r} names video {image['video_id']!r},"
                " which is not in 'videos'"
            )
        frames[image["video_id"]].append(image)
    annotations = defaultdict(list)
    images = {image["id"]: image for image in data["images"]}
    for ann in data["annotations"]:
        image = images.get(ann["image_id"])
        if image is None:
            raise ValueError(
                f"{path}: annotation {ann.get('id', ann)!r} names image "
                f"{ann['image_id']!r}, which is not in 'images'"
            )
        if ann["category_id"] not in contiguous:
            raise ValueError(
                f"{path}: annotation {ann.get('id', ann)!r} has category "
                f"{ann['category_id']!r}, which is not in 'categories'"
            )
        annotations[ann["image_id"]].append(_box(ann, image, contiguous, path))
    root = Path(image_root)
    records = []
    for video_id, video in videos.items():
        video_frames = sorted(frames.get(video_id, []), key=lambda im: im["frame_id"])
        name = video.get("name", video_id)
        ids = [im["frame_id"] for im in video_frames]
        if ids != list(range(len(ids))):
            wrong = next(i for i, f in enumerate(ids) if f != i)
            what = "repeats" if wrong and ids[wrong] == ids[wrong - 1] else "skips"
            raise ValueError(
                f"{path}: video {name!r}: its frame_ids {what} at frame {wrong} "
                f"(frame_ids must be 0, 1, 2, ...; got {ids[: wrong + 1]})"
            )
        if len(ids) < 2:
            raise ValueError(
                f"{path}: video {name!r} has {len(ids)} frame(s); a video for DFF needs 2 or more"
            )
        files = [str(root / im["file_name"]) for im in video_frames]
        for file, image in zip(files, video_frames):
            if not os.path.isfile(file):
                raise FileNotFoundError(
                    f"{file}: frame {image['frame_id']} of video {name!r} ({path}) not found"
                )
        for i, image in enumerate(video_frames):
            start = max(0, i - max_key_distance)
            records.append(
                {
                    "file_name": files[i],
                    "image_id": image["id"],
                    "video_id": video_id,
                    "frame_idx": i,
                    "num_frames": len(files),
                    "height": image["height"],
                    "width": image["width"],
                    "source": "VID",
                    "annotation_file": path,
                    "annotations": annotations.get(image["id"], []),
                    "key_frame_files": tuple(files[start : i + 1]),
                    "key_frames_start": start,
                }
            )
    return records, [c["name"] for c in categories]


def _box(ann: dict, image: dict, contiguous: dict, path: str) -> dict:
    """A COCO ``[x, y, w, h]`` box as ``[x1, y1, x2, y2]``, checked against its image (up to
    :data:`BOX_SLACK` pixels outside it, clipped)."""
    x, y, w, h = (float(v) for v in ann["bbox"])
    width, height = image["width"], image["height"]
    inside = -BOX_SLACK <= x and -BOX_SLACK <= y
    inside = inside and x + w <= width + BOX_SLACK and y + h <= height + BOX_SLACK
    if w <= 0 or h <= 0 or not inside:
        raise ValueError(
            f"{path}: annotation {ann.get('id', '?')!r} of image {image['file_name']!r}: box "
            f"[x, y, w, h] = {ann['bbox']} has no area or leaves the "
            f"{image['width']}x{image['height']} image"
        )
    return {
        "bbox": [max(x, 0.0), max(y, 0.0), min(x + w, width), min(y + h, height)],
        "category_id": contiguous[ann["category_id"]],
        "track_id": int(ann.get("instance_id", -1)),
        "iscrowd": int(ann.get("iscrowd", 0)),
    }


def write_coco_video(
    records: list[dict], class_names: list[str], json_file: str | os.PathLike, image_root
) -> Path:
    """Write frame records (``file_name``, ``video_id``, ``frame_idx``, ``height``,
    ``width``, ``annotations`` with ``[x1, y1, x2, y2]`` boxes, ``category_id`` 0..C-1 and
    an optional ``track_id``) as a COCO-VID JSON file, ``file_name`` relative to
    ``image_root``; refuses to replace an existing file."""
    path = Path(json_file)
    if path.exists():
        raise FileExistsError(f"{path} exists: give another file or remove it")
    videos, images, annotations = {}, [], []
    for record in sorted(records, key=lambda r: (str(r["video_id"]), r["frame_idx"])):
        video = videos.setdefault(record["video_id"], len(videos) + 1)
        image_id = len(images) + 1
        images.append(
            {
                "id": image_id,
                "file_name": os.path.relpath(record["file_name"], image_root),
                "video_id": video,
                "frame_id": record["frame_idx"],
                "height": record["height"],
                "width": record["width"],
            }
        )
        for ann in record.get("annotations", []):
            x1, y1, x2, y2 = (float(v) for v in ann["bbox"])
            entry = {
                "id": len(annotations) + 1,
                "image_id": image_id,
                "category_id": ann["category_id"] + 1,
                "bbox": [x1, y1, x2 - x1, y2 - y1],
                "area": (x2 - x1) * (y2 - y1),
                "iscrowd": 0,
            }
            if ann.get("track_id", -1) >= 0:
                entry["instance_id"] = ann["track_id"]
            annotations.append(entry)
    data = {
        "videos": [{"id": i, "name": str(name)} for name, i in videos.items()],
        "images": images,
        "annotations": annotations,
        "categories": [{"id": i + 1, "name": n} for i, n in enumerate(class_names)],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path
