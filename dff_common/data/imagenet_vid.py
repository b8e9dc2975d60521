"""ImageNet VID and DET (ILSVRC2015) for video object detection (paper Sec. 5.1, "ImageNet VID").

The real on-disk layout, read by the loaders here (and written by
:func:`dff_common.synthetic.vid.make_synthetic_vid`)::

    <root>/Data/VID/{train,val,test}/<snippet>/<%06d>.JPEG          frames 000000, 000001, ...
    <root>/Annotations/VID/{train,val}/<snippet>/<%06d>.xml         one XML per frame
    <root>/ImageSets/VID/train_<c>.txt   "<snippet> 1" per snippet containing VID class c (1..30)
    <root>/ImageSets/VID/{val,test}.txt  "<snippet>/<%06d> <n>", n = global frame index (1-based)
    <root>/Data/DET/train/<dir>/<image>.JPEG, <root>/Annotations/DET/train/<dir>/<image>.xml
    <root>/ImageSets/DET/train_<c>.txt   "<dir>/<image> <1|-1>" (positive / negative for class c)

A train ``<snippet>`` has two components (``ILSVRC2015_VID_train_0000/ILSVRC2015_train_00000000``),
a val/test one (``ILSVRC2015_val_00000000``). The XML schema (VID; DET lacks ``trackid``,
``occluded`` and ``generated``)::

    <annotation><folder>..</folder><filename>000000</filename>
      <size><width>1280</width><height>720</height></size>
      <object><trackid>0</trackid><name>n01674464</name>
        <bndbox><xmax>..</xmax><xmin>..</xmin><ymax>..</ymax><ymin>..</ymin></bndbox>
        <occluded>0</occluded><generated>0</generated></object> ...</annotation>

Boxes are inclusive pixel indices, as in the ILSVRC devkit (width ``xmax - xmin + 1``); a box
must lie in ``[0, width] x [0, height]`` and is clipped to the last pixel, as the authors' loader
does. Records are plain dicts in detectron2's "standard dataset dict" form (no detectron2
import here): ``file_name, height, width, image_id, video_id, frame_idx, num_frames,
frame_template`` (VID only; ``frame_template % k`` is frame ``k``, for key frames; a DET
image is its own key frame), ``annotation_file`` (the XML; not for test),
``global_index`` (val/test), ``source`` ("VID"/"DET") and ``annotations`` (absent for test):
``bbox`` [xmin, ymin, xmax, ymax], ``category_id`` (0-based index in :data:`VID_CLASSES`),
``track_id``, ``occluded``, ``generated``. Frames are sorted numerically and must be contiguous,
every annotated or listed frame on disk (a snippet whose frames stop short is an error), and
in train / val every frame annotated.
"""

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = [
    "VID_CLASSES",
    "VID_CLASS_NAMES",
    "VID_WNIDS",
    "load_det_train",
    "load_vid",
    "parse_annotation",
    "read_image_set",
    "snippet_frames",
]

# The 30 ImageNet VID classes in the official order (devkit map_vid.txt, class index = position+1).
VID_CLASSES = (
    ("n02691156", "airplane"), ("n02419796", "antelope"), ("n02131653", "bear"),
    ("n02834778", "bicycle"), ("n01503061", "bird"), ("n02924116", "bus"),
    ("n02958343", "car"), ("n02402425", "cattle"), ("n02084071", "dog"),
    ("n02121808", "domestic_cat"), ("n02503517", "elephant"), ("n02118333", "fox"),
    ("n02510455", "giant_panda"), ("n02342885", "hamster"), ("n02374451", "horse"),
    ("n02129165", "lion"), ("n01674464", "lizard"), ("n02484322", "monkey"),
    ("n03790512", "motorcycle"), ("n02324045", "rabbit"), ("n02509815", "red_panda"),
    ("n02411705", "sheep"), ("n01726692", "snake"), ("n02355227", "squirrel"),
    ("n02129604", "tiger"), ("n04468005", "train"), ("n01662784", "turtle"),
    ("n04530566", "watercraft"), ("n02062744", "whale"), ("n02391049", "zebra"),
)  # fmt: skip
VID_WNIDS = tuple(wnid for wnid, _ in VID_CLASSES)
VID_CLASS_NAMES = tuple(name for _, name in VID_CLASSES)
_WNID_INDEX = {wnid: i for i, wnid in enumerate(VID_WNIDS)}
_SPLITS = ("train", "val", "test")


def read_image_set(path) -> list[tuple[str, int]]:
    """Read an ImageSets list: lines ``<name> <int>``.

    Returns:
        list[tuple[str, int]]: ``(name, value)`` per line, in file order.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: ImageSets list not found")
    entries = []
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2 or not fields[1].lstrip("-").isdigit():
            raise ValueError(f"{path}:{number}: expected '<name> <integer>', got {line!r}")
        entries.append((fields[0], int(fields[1])))
    return entries


def _text(node, tag: str, path, where: str) -> str:
    child = node.find(tag)
    if child is None or child.text is None or not child.text.strip():
        raise ValueError(f"{path}: {where} has no <{tag}>")
    return child.text.strip()


def _number(node, tag: str, path, where: str) -> float:
    text = _text(node, tag, path, where)
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{path}: {where} <{tag}> is not a number: {text!r}") from None


def parse_annotation(path, vid: bool = True) -> dict:
    """Parse one ILSVRC annotation XML (VID frame or DET image).

    Args:
        path (str | os.PathLike): the ``.xml`` file.
        vid (bool): VID schema: every object must have one of the 30 VID WNIDs (else an error)
            and carries ``trackid``/``occluded``/``generated``. For DET (False), objects of the
            other 170 DET classes are skipped. Defaults to True.

    Returns:
        dict: ``width``, ``height`` and ``annotations`` (see the module docstring).

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: malformed XML, a missing field, an unknown WNID, a box with reversed
            coordinates (xmin > xmax or ymin > ymax) or outside the image, naming the file and
            the object.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: annotation file not found")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as err:
        raise ValueError(f"{path}: malformed annotation XML ({err})") from None
    size = root.find("size")
    if size is None:
        raise ValueError(f"{path}: <annotation> has no <size>")
    width, height = (
        int(_number(size, "width", path, "<size>")),
        int(_number(size, "height", path, "<size>")),
    )
    if width < 1 or height < 1:
        raise ValueError(f"{path}: bad image size {width}x{height}")
    annotations = []
    for i, obj in enumerate(root.findall("object")):
        where = f"<object> {i}"
        wnid = _text(obj, "name", path, where)
        if wnid not in _WNID_INDEX:
            if vid:
                raise ValueError(
                    f"{path}: {where} has unknown WNID {wnid!r}, not one of the 30 ImageNet VID "
                    "classes"
                )
            continue
        box = obj.find("bndbox")
        if box is None:
            raise ValueError(f"{path}: {where} has no <bndbox>")
        x1, y1, x2, y2 = (_number(box, t, path, where) for t in ("xmin", "ymin", "xmax", "ymax"))
        for axis, low, high in (("x", x1, x2), ("y", y1, y2)):
            if low > high:
                raise ValueError(
                    f"{path}: {where} ({wnid}) box has {axis}min={low:g} > {axis}max={high:g}: "
                    f"its {axis} coordinates are reversed"
                )
        if not (0 <= x1 <= x2 <= width and 0 <= y1 <= y2 <= height):
            raise ValueError(
                f"{path}: {where} box (xmin={x1:g}, ymin={y1:g}, xmax={x2:g}, ymax={y2:g}) is "
                f"outside its {width}x{height} image"
            )
        ann = {
            "bbox": [x1, y1, min(x2, width - 1.0), min(y2, height - 1.0)],
            "category_id": _WNID_INDEX[wnid],
        }
        if vid:
            ann["track_id"] = int(_number(obj, "trackid", path, where))
            ann["occluded"] = int(_number(obj, "occluded", path, where))
            ann["generated"] = int(_number(obj, "generated", path, where))
        annotations.append(ann)
    return {"width": width, "height": height, "annotations": annotations}


def snippet_frames(frame_dir, expected: int | None = None, source: str = "") -> int:
    """Number of frames of a snippet, checking they are ``000000.JPEG .. %06d.JPEG`` contiguous.

    Args:
        frame_dir (str | os.PathLike): the snippet's ``Data/VID/<split>/<snippet>`` folder.
        expected (int, optional): frames the snippet must have at least (from its annotations
            or ImageSets list), so that frames missing at the END are detected too.
        source (str): what says so (``expected``), for the error message.

    Raises:
        FileNotFoundError: the folder does not exist, or a frame is missing (named), in the
            middle or, with ``expected``, at the end.
        ValueError: a file that is not a frame (``%06d.JPEG``) is present.
    """
    if not os.path.isdir(frame_dir):
        raise FileNotFoundError(f"{frame_dir}: snippet folder not found")
    indices = _frame_indices(frame_dir, ".JPEG")
    for expected_index, index in enumerate(indices):
        if index != expected_index:
            raise FileNotFoundError(f"{frame_dir}: missing frame {expected_index:06d}.JPEG")
    if not indices:
        raise FileNotFoundError(f"{frame_dir}: snippet has no frames")
    if expected is not None and len(indices) < expected:
        raise FileNotFoundError(
            f"{frame_dir}: missing frame {len(indices):06d}.JPEG: the snippet's frames stop at "
            f"{len(indices) - 1:06d}.JPEG but {source or 'its annotations'} go up to frame "
            f"{expected - 1:06d} ({expected - len(indices)} frame(s) missing at the end)"
        )
    return len(indices)


def _frame_indices(folder, ext: str) -> list[int]:
    """Sorted frame indices of the ``%06d<ext>`` files of a folder; any other file is an error."""
    indices = []
    for name in os.listdir(folder):
        stem, suffix = os.path.splitext(name)
        if suffix != ext or not stem.isdigit():
            raise ValueError(f"{folder}: unexpected file {name!r} (frames are %06d{ext})")
        indices.append(int(stem))
    return sorted(indices)


def _snippets(root: Path, split: str) -> list[tuple[str, list[int] | None, list[int] | None]]:
    """Snippets of a split from ImageSets: ``(snippet, frames or None=all, global indices)``."""
    sets = root / "ImageSets" / "VID"
    if split == "train":
        lists = sorted(sets.glob("train_*.txt"))
        if not lists:
            raise FileNotFoundError(f"{sets}: no ImageSets/VID/train_<c>.txt lists")
        names = {name for path in lists for name, label in read_image_set(path) if label == 1}
        return [(name, None, None) for name in sorted(names)]
    by_snippet: dict[str, tuple[list[int], list[int]]] = {}
    for name, index in read_image_set(sets / f"{split}.txt"):
        snippet, _, frame = name.rpartition("/")
        if not snippet or not frame.isdigit():
            raise ValueError(f"{sets / f'{split}.txt'}: entry {name!r} is not <snippet>/<frame>")
        frames, indices = by_snippet.setdefault(snippet, ([], []))
        frames.append(int(frame))
        indices.append(index)
    return [(s, f, g) for s, (f, g) in sorted(by_snippet.items())]


def load_vid(root, split: str, frames_per_video: int | None = None) -> list[dict]:
    """Load an ImageNet VID split from the real layout (records: see the module docstring).

    Args:
        root (str | os.PathLike): the ILSVRC2015 folder (containing ``Data``, ``ImageSets``...).
        split (str): "train", "val" or "test" (test: no annotations).
        frames_per_video (int, optional): train only: annotate this many frames per snippet,
            evenly spaced (15 in the FGFA/DFF lists); key frames may still be any frame.
            Defaults to None (every frame of the list).

    Returns:
        list[dict]: one record per frame, sorted by snippet then frame index.
    """
    if split not in _SPLITS:
        raise ValueError(f"ImageNet VID split must be one of {_SPLITS}, got {split!r}")
    root = Path(root)
    records = []
    for snippet, frames, global_indices in _snippets(root, split):
        frame_dir = root / "Data" / "VID" / split / snippet
        ann_dir = root / "Annotations" / "VID" / split / snippet
        # what the snippet must have on disk: every annotated (train, val) or listed frame
        expected = []
        if split != "test":
            if not ann_dir.is_dir():
                raise FileNotFoundError(f"{ann_dir}: annotation folder of snippet not found")
            annotated = _frame_indices(ann_dir, ".xml")
            expected.append((annotated[-1] + 1 if annotated else 0, f"its annotations {ann_dir}"))
        if frames is not None:
            listed = root / "ImageSets" / "VID" / f"{split}.txt"
            expected.append((max(frames) + 1, f"its frames listed in {listed}"))
        need = max((n for n, _ in expected), default=None)
        source = " and ".join(what for n, what in expected if n == need)
        num_frames = snippet_frames(frame_dir, need, source)
        if split != "test" and annotated != list(range(num_frames)):
            lost = min(set(range(num_frames)) - set(annotated))
            raise FileNotFoundError(
                f"{ann_dir}: missing annotation {lost:06d}.xml of frame "
                f"{frame_dir / f'{lost:06d}.JPEG'}"
            )
        if frames is None:
            frames = list(range(num_frames))
            if frames_per_video is not None and frames_per_video < num_frames:
                frames = sorted({int(x) for x in np.linspace(0, num_frames - 1, frames_per_video)})
        template = str(frame_dir / "%06d.JPEG")
        for j, frame in enumerate(frames):
            if not 0 <= frame < num_frames:
                raise FileNotFoundError(f"{frame_dir}: missing frame {frame:06d}.JPEG (listed)")
            record = {
                "file_name": template % frame,
                "image_id": f"{split}/{snippet}/{frame:06d}",
                "video_id": snippet,
                "frame_idx": frame,
                "num_frames": num_frames,
                "frame_template": template,
                "source": "VID",
            }
            if global_indices is not None:
                record["global_index"] = global_indices[j]
            xml = ann_dir / f"{frame:06d}.xml"
            if split == "test":
                with Image.open(record["file_name"]) as image:  # reads the header only
                    record.update(width=image.width, height=image.height)
            else:
                parsed = parse_annotation(xml, vid=True)
                record.update(
                    annotation_file=str(xml),
                    height=parsed["height"],
                    width=parsed["width"],
                    annotations=parsed["annotations"],
                )
            records.append(record)
    return records


def load_det_train(root, image_set=None) -> list[dict]:
    """Load the ImageNet DET training images that contain one of the 30 VID classes (Sec. 5.1).

    Args:
        root (str | os.PathLike): the ILSVRC2015 folder.
        image_set (str | os.PathLike, optional): a list of ``<dir>/<image> <label>`` lines.
            Defaults to the positive lines of every ``ImageSets/DET/train_*.txt``.

    Returns:
        list[dict]: records of single images (``num_frames`` 1, their own key frame), only
        objects of VID classes, images without one dropped.
    """
    root = Path(root)
    if image_set is None:
        lists = sorted((root / "ImageSets" / "DET").glob("train_*.txt"))
        if not lists:
            raise FileNotFoundError(f"{root / 'ImageSets' / 'DET'}: no train_<c>.txt lists")
    else:
        lists = [Path(image_set)]
    names = sorted({name for path in lists for name, label in read_image_set(path) if label == 1})
    records = []
    for name in names:
        image = root / "Data" / "DET" / "train" / f"{name}.JPEG"
        if not image.is_file():
            raise FileNotFoundError(f"{image}: DET image listed in ImageSets not found")
        xml = root / "Annotations" / "DET" / "train" / f"{name}.xml"
        parsed = parse_annotation(xml, vid=False)
        if not parsed["annotations"]:
            continue
        records.append(
            {
                "file_name": str(image),
                "image_id": f"DET/train/{name}",
                "video_id": f"DET/{name}",
                "frame_idx": 0,
                "num_frames": 1,
                "source": "DET",
                "annotation_file": str(xml),
                "height": parsed["height"],
                "width": parsed["width"],
                "annotations": parsed["annotations"],
            }
        )
    return records
