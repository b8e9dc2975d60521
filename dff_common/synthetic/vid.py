"""A synthetic ImageNet VID + DET set written in exactly the real ILSVRC2015 layout.

The layout and the XML schema are those read by :mod:`dff_common.data.imagenet_vid`; the
videos are :func:`dff_common.synthetic.scenes.render_video` scenes with exact boxes.
"""

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import numpy as np

from dff_common.data.imagenet_vid import VID_CLASS_NAMES, VID_CLASSES, VID_WNIDS
from dff_common.synthetic.scenes import render_video

__all__ = [
    "CLASSES",
    "PARAMETERS_FILE",
    "make_synthetic_vid",
    "render_vid_snippet",
    "replay_synthetic_vid",
]

CLASSES = ("airplane", "bird", "dog")  # the VID classes a synthetic set draws by default
PARAMETERS_FILE = "synthetic_vid.json"  # make_synthetic_vid's arguments, for the replay


def _write_xml(path: Path, folder: str, filename: str, width: int, height: int, objects) -> None:
    """Write an annotation in the ILSVRC schema; ``objects``: (wnid, box, trackid or None)."""
    ann = ET.Element("annotation")
    ET.SubElement(ann, "folder").text = folder
    ET.SubElement(ann, "filename").text = filename
    ET.SubElement(ET.SubElement(ann, "source"), "database").text = "ILSVRC_2015"
    size = ET.SubElement(ann, "size")
    ET.SubElement(size, "width").text = str(width)
    ET.SubElement(size, "height").text = str(height)
    for wnid, box, trackid in objects:
        obj = ET.SubElement(ann, "object")
        if trackid is not None:
            ET.SubElement(obj, "trackid").text = str(trackid)
        ET.SubElement(obj, "name").text = wnid
        bndbox = ET.SubElement(obj, "bndbox")
        for tag, value in zip(("xmax", "xmin", "ymax", "ymin"), (box[2], box[0], box[3], box[1])):
            ET.SubElement(bndbox, tag).text = str(int(value))
        if trackid is not None:
            ET.SubElement(obj, "occluded").text = "0"
            ET.SubElement(obj, "generated").text = "0"
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(ann).write(path)


def _write_jpeg(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise OSError(f"{path}: could not write image")


def _visible_objects(video, t: int, class_ids, min_size: int = 2):
    """(class index, inclusive integer box, object index) of the objects visible in frame t."""
    out = []
    for j, cls in enumerate(class_ids):
        if not video.visible[t, j]:
            continue
        x1, y1, x2, y2 = video.boxes[t, j]
        if x2 - x1 < min_size or y2 - y1 < min_size:
            continue  # a sliver at the border: not annotated, as an annotator would skip it
        out.append((cls, (int(x1), int(y1), int(np.ceil(x2)) - 1, int(np.ceil(y2)) - 1), j))
    return out


def render_vid_snippet(
    rng: np.random.Generator,
    num_frames: int,
    height: int,
    width: int,
    class_ids,
    max_objects: int = 2,
    max_speed: float = 0.04,
    num_background_classes: int = 3,
):
    """One snippet of :func:`make_synthetic_vid`: 1 to ``max_objects`` objects of
    ``class_ids`` (VID class indices) over a textured world, the video's maximum speed
    log-uniform in ``[0.02, 1] x max_speed x width`` pixels per frame.

    Returns:
        SyntheticVideo: frames and exact ground truth (boxes, ``backward_flow``).
    """
    ids = rng.choice(class_ids, int(rng.integers(1, max_objects + 1)))
    speed = 0.02 ** rng.uniform(0.0, 1.0) * max_speed * width  # log-uniform: slow to fast
    return render_video(
        num_frames, height, width, rng, object_classes=ids, camera_speed=speed,
        camera_rotation=1.0, camera_zoom=0.01, object_speed=speed, object_rotation=2.0,
        object_scale=0.01, object_size=(0.3, 0.55),
        background_classes=rng.integers(40, 60, num_background_classes),
        background_layout="voronoi",
    )  # fmt: skip


def _snippets(rng, counts: dict, num_frames: int, *render):
    """``(split, snippet, video)`` of every VID snippet of :func:`make_synthetic_vid`, in the
    order it draws them from ``rng`` (``counts``: videos per split, in split order)."""
    for split, count in counts.items():
        for v in range(count):
            if split == "train":
                snippet = f"ILSVRC2015_VID_train_0000/ILSVRC2015_train_{v:08d}"
            else:
                snippet = f"ILSVRC2015_{split}_{v:08d}"
            yield split, snippet, render_vid_snippet(rng, num_frames, *render)


def replay_synthetic_vid(root, split: str = "val") -> dict:
    """The videos of one split of a set written by :func:`make_synthetic_vid`, rendered again
    from its recorded arguments with their exact ground truth (boxes, ``backward_flow``).

    Args:
        root (str | os.PathLike): the set's folder.
        split (str): "train", "val" or "test". Defaults to "val".

    Returns:
        dict[str, SyntheticVideo]: ``{snippet (the video_id of its frames): video}``.

    Raises:
        FileNotFoundError: when ``root`` has no recorded arguments (not written by this
            version of :func:`make_synthetic_vid`).
        ValueError: on an unknown split.
    """
    path = Path(root) / PARAMETERS_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: missing; only a set written by make_synthetic_vid (which records its "
            "arguments there) can be replayed: write the set again"
        )
    p = json.loads(path.read_text())
    counts = {split: p[f"num_{split}_videos"] for split in ("train", "val", "test")}
    if split not in counts:
        raise ValueError(f"split must be one of {list(counts)}, got {split!r}")
    class_ids = [VID_CLASS_NAMES.index(c) for c in p["classes"]]
    render = (p["height"], p["width"], class_ids, p["max_objects"], p["max_speed"])
    snippets = _snippets(
        np.random.default_rng(p["seed"]), counts, p["num_frames"], *render,
        p["num_background_classes"],
    )  # fmt: skip
    videos = {}
    for s, snippet, video in snippets:  # the splits before ``split`` only advance the rng
        if s == split:
            videos[snippet] = video
        if len(videos) == counts[split]:
            break
    return videos


def make_synthetic_vid(
    root,
    num_train_videos: int = 8,
    num_val_videos: int = 4,
    num_test_videos: int = 1,
    num_frames: int = 30,
    height: int = 96,
    width: int = 128,
    classes=CLASSES,
    num_det_images: int = 8,
    max_objects: int = 2,
    max_speed: float = 0.04,
    num_background_classes: int = 3,
    seed: int = 0,
    overwrite: bool = False,
) -> Path:
    """Write a small synthetic ImageNet VID + DET set in exactly the real layout.

    Every snippet is a :func:`render_vid_snippet` video: 1 to
    ``max_objects`` textured objects (appearance and shape set by their class) moving,
    rotating and scaling over a textured world seen by a translating, rotating, zooming camera;
    the maximum speed of a video is log-uniform in ``[0.02, 1] x max_speed`` (so AP by motion
    speed has slow, medium and fast objects). Boxes are the exact tight boxes of the visible
    pixels (objects under 2 pixels wide are not annotated); ``trackid`` is the object's index
    in its snippet.

    Args:
        root (str | os.PathLike): the output ILSVRC2015-like folder.
        num_train_videos, num_val_videos, num_test_videos (int): snippets per split.
        num_frames (int): frames per snippet. Defaults to 30.
        height, width (int): frame size. Defaults to 96 x 128.
        classes (Sequence[str]): VID class names used (real WNIDs are written).
        num_det_images (int): DET training images. Defaults to 8.
        max_objects (int): max objects per snippet / image. Defaults to 2.
        max_speed (float): max camera and object speed, fraction of ``width`` per frame.
        num_background_classes (int): textured "stuff" regions of the world (clutter).
            Defaults to 3.
        seed (int): random seed (same seed, same files). Defaults to 0.
        overwrite (bool): replace an existing non-empty ``root``. Defaults to False.

    Returns:
        Path: ``root``.
    """
    unknown = [c for c in classes if c not in VID_CLASS_NAMES]
    if unknown or not classes:
        raise ValueError(f"make_synthetic_vid: classes must be VID class names, got {unknown}")
    if num_frames < 1 or max_objects < 1:
        raise ValueError("make_synthetic_vid: num_frames and max_objects must be >= 1")
    root = Path(root)
    if root.exists() and any(root.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{root}: not empty; pass overwrite=True to replace it")
        shutil.rmtree(root)
    rng = np.random.default_rng(seed)
    class_ids = [VID_CLASS_NAMES.index(c) for c in classes]
    root.mkdir(parents=True, exist_ok=True)
    (root / PARAMETERS_FILE).write_text(json.dumps(dict(
        num_train_videos=num_train_videos, num_val_videos=num_val_videos,
        num_test_videos=num_test_videos, num_frames=num_frames, height=height, width=width,
        classes=list(classes), max_objects=max_objects, max_speed=max_speed,
        num_background_classes=num_background_classes, seed=seed,
    ), indent=1))  # fmt: skip
    render = (height, width, class_ids, max_objects, max_speed, num_background_classes)
    counts = {"train": num_train_videos, "val": num_val_videos, "test": num_test_videos}
    sets = root / "ImageSets" / "VID"
    sets.mkdir(parents=True)
    positives: dict[int, list[str]] = {c: [] for c in range(len(VID_CLASSES))}
    lines: dict[str, list[str]] = {split: [] for split in counts}
    for split, snippet, video in _snippets(rng, counts, num_frames, *render):
        ids = video.object_classes
        for c in sorted(set(int(i) for i in ids)) if split == "train" else ():
            positives[c].append(snippet)
        for t in range(num_frames):
            name = f"{t:06d}"
            _write_jpeg(root / "Data/VID" / split / snippet / f"{name}.JPEG", video.frames[t])
            lines[split].append(f"{snippet}/{name} {len(lines[split]) + 1}\n")
            if split != "test":  # the test split has no annotations
                objects = [(VID_WNIDS[c], b, j) for c, b, j in _visible_objects(video, t, ids)]
                xml = root / "Annotations/VID" / split / snippet / f"{name}.xml"
                _write_xml(xml, snippet, name, width, height, objects)
    for split in ("val", "test"):
        (sets / f"{split}.txt").write_text("".join(lines[split]))
    for c in range(len(VID_CLASSES)):
        (sets / f"train_{c + 1}.txt").write_text("".join(f"{s} 1\n" for s in positives[c]))
    # DET: single images; the list file numbers are not map_det indices (the loader ignores them)
    det_lines: dict[int, list[str]] = {c: [] for c in class_ids}
    for n in range(num_det_images):
        name = f"ILSVRC2014_train_0000/ILSVRC2014_train_{n:08d}"
        video = render_vid_snippet(rng, 1, *render)
        ids = video.object_classes
        objects = [(VID_WNIDS[c], box, None) for c, box, _ in _visible_objects(video, 0, ids)]
        _write_jpeg(root / "Data" / "DET" / "train" / f"{name}.JPEG", video.frames[0])
        xml = root / "Annotations" / "DET" / "train" / f"{name}.xml"
        _write_xml(xml, name.split("/")[0], name.split("/")[1], width, height, objects)
        for c in class_ids:
            det_lines[c].append(
                f"{name} {1 if any(o[0] == VID_WNIDS[c] for o in objects) else -1}\n"
            )
    det_sets = root / "ImageSets" / "DET"
    det_sets.mkdir(parents=True)
    for i, c in enumerate(class_ids):
        (det_sets / f"train_{i + 1}.txt").write_text("".join(det_lines[c]))
    return root
