"""ImageNet VID / DET layout: synthetic generator, loaders and their errors."""

import cv2
import numpy as np
import pytest

from dff_common.data.imagenet_vid import (
    VID_CLASS_NAMES,
    VID_WNIDS,
    load_det_train,
    load_vid,
    parse_annotation,
    read_image_set,
    snippet_frames,
)
from dff_common.synthetic.scenes import render_video
from dff_common.synthetic.vid import make_synthetic_vid, replay_synthetic_vid

XML = """<annotation><folder>ILSVRC2015_val_00000000</folder><filename>000000</filename>
<size><width>64</width><height>48</height></size>{objects}</annotation>"""
OBJECT = """<object><trackid>{tid}</trackid><name>{wnid}</name><bndbox><xmax>{x2}</xmax>
<xmin>{x1}</xmin><ymax>{y2}</ymax><ymin>{y1}</ymin></bndbox><occluded>1</occluded>
<generated>0</generated></object>"""


@pytest.fixture(scope="module")
def vid_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("ilsvrc")
    make_synthetic_vid(
        root, num_train_videos=2, num_val_videos=2, num_test_videos=1, num_frames=5,
        height=48, width=64, num_det_images=3, seed=3,
    )  # fmt: skip
    return root


def _xml(tmp_path, objects="", name="a.xml"):
    path = tmp_path / name
    path.write_text(XML.format(objects=objects))
    return path


def test_class_list_is_the_official_one():
    assert len(VID_WNIDS) == 30 and len(set(VID_WNIDS)) == 30
    assert (VID_WNIDS[0], VID_CLASS_NAMES[0]) == ("n02691156", "airplane")
    assert (VID_WNIDS[16], VID_CLASS_NAMES[16]) == ("n01674464", "lizard")
    assert (VID_WNIDS[29], VID_CLASS_NAMES[29]) == ("n02391049", "zebra")


def test_parse_annotation_reads_every_field(tmp_path):
    objects = OBJECT.format(tid=3, wnid="n02084071", x1=2, y1=5, x2=30, y2=40)
    parsed = parse_annotation(_xml(tmp_path, objects))
    assert (parsed["width"], parsed["height"]) == (64, 48)
    (ann,) = parsed["annotations"]
    assert ann == {
        "bbox": [2.0, 5.0, 30.0, 40.0],
        "category_id": VID_CLASS_NAMES.index("dog"),
        "track_id": 3,
        "occluded": 1,
        "generated": 0,
    }


def test_box_on_the_image_edge_is_clipped_to_the_last_pixel(tmp_path):
    objects = OBJECT.format(tid=0, wnid="n02084071", x1=0, y1=0, x2=64, y2=48)
    (ann,) = parse_annotation(_xml(tmp_path, objects))["annotations"]
    assert ann["bbox"] == [0.0, 0.0, 63.0, 47.0]


@pytest.mark.parametrize(
    "text, message",
    [
        ("<annotation><size>", "malformed annotation XML"),
        (XML.replace("<size><width>64</width>", "<size>").format(objects=""), "no <width>"),
        (XML.format(objects=OBJECT.format(tid=0, wnid="n99999999", x1=0, y1=0, x2=5, y2=5)),
         "unknown WNID 'n99999999'"),
        (XML.format(objects=OBJECT.format(tid=0, wnid="n02084071", x1=0, y1=0, x2=70, y2=5)),
         "outside its 64x48 image"),
        (XML.format(objects=OBJECT.format(tid=0, wnid="n02084071", x1=9, y1=0, x2=5, y2=5)),
         r"xmin=9 > xmax=5: its x coordinates are reversed"),
        (XML.format(objects=OBJECT.format(tid="x", wnid="n02084071", x1=0, y1=0, x2=5, y2=5)),
         "<trackid> is not a number"),
    ],
)  # fmt: skip
def test_bad_annotations_name_the_file(tmp_path, text, message):
    path = tmp_path / "bad.xml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as info:
        parse_annotation(path)
    assert str(path) in str(info.value)


def test_reversed_box_names_the_file_the_object_and_the_axis(tmp_path):
    objects = OBJECT.format(tid=0, wnid="n02084071", x1=1, y1=2, x2=9, y2=9)
    objects += OBJECT.format(tid=1, wnid="n02691156", x1=3, y1=30, x2=8, y2=20)
    path = _xml(tmp_path, objects, name="000007.xml")
    with pytest.raises(ValueError) as info:
        parse_annotation(path)
    assert str(info.value) == (
        f"{path}: <object> 1 (n02691156) box has ymin=30 > ymax=20: its y coordinates are reversed"
    )


def test_det_schema_skips_the_other_det_classes(tmp_path):
    objects = OBJECT.format(tid=0, wnid="n01440764", x1=0, y1=0, x2=5, y2=5)  # tench: DET only
    objects += OBJECT.format(tid=0, wnid="n02691156", x1=1, y1=2, x2=9, y2=9)
    parsed = parse_annotation(_xml(tmp_path, objects), vid=False)
    assert parsed["annotations"] == [{"bbox": [1.0, 2.0, 9.0, 9.0], "category_id": 0}]


def test_missing_annotation_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.xml"):
        parse_annotation(tmp_path / "nope.xml")


def test_generator_writes_the_real_layout(vid_root):
    assert (vid_root / "Data/VID/val/ILSVRC2015_val_00000001/000004.JPEG").is_file()
    assert (vid_root / "Annotations/VID/val/ILSVRC2015_val_00000001/000004.xml").is_file()
    train = "ILSVRC2015_VID_train_0000/ILSVRC2015_train_00000001"
    assert (vid_root / "Data/VID/train" / train / "000000.JPEG").is_file()
    assert not (vid_root / "Annotations/VID/test").exists()
    assert sorted(p.name for p in (vid_root / "ImageSets/VID").iterdir()) == sorted(
        [f"train_{c}.txt" for c in range(1, 31)] + ["val.txt", "test.txt"]
    )
    val = read_image_set(vid_root / "ImageSets/VID/val.txt")
    assert val[0] == ("ILSVRC2015_val_00000000/000000", 1)
    assert val[-1] == ("ILSVRC2015_val_00000001/000004", 10)
    listed = {
        n
        for c in range(1, 31)
        for n, _ in read_image_set(vid_root / f"ImageSets/VID/train_{c}.txt")
    }
    assert listed == {f"ILSVRC2015_VID_train_0000/ILSVRC2015_train_0000000{v}" for v in (0, 1)}


def test_boxes_are_the_rendered_ones(vid_root):
    # the generator's first video is train video 0, rendered from the seeded stream
    records = load_vid(vid_root, "train")
    assert [r["frame_idx"] for r in records[:5]] == [0, 1, 2, 3, 4]
    rng = np.random.default_rng(3)
    ids = rng.choice([0, 4, 8], int(rng.integers(1, 3)))
    speed = 0.02 ** rng.uniform(0.0, 1.0) * 0.04 * 64
    video = render_video(
        5, 48, 64, rng, object_classes=ids, camera_speed=speed, camera_rotation=1.0,
        camera_zoom=0.01, object_speed=speed, object_rotation=2.0, object_scale=0.01,
        object_size=(0.3, 0.55), background_classes=rng.integers(40, 60, 3),
        background_layout="voronoi",
    )  # fmt: skip
    for t, record in enumerate(records[:5]):
        expected = [
            [x1, y1, x2 - 1, y2 - 1]
            for (x1, y1, x2, y2), vis in zip(video.boxes[t], video.visible[t])
            if vis and x2 - x1 >= 2 and y2 - y1 >= 2
        ]
        assert [a["bbox"] for a in record["annotations"]] == expected
        assert [a["category_id"] for a in record["annotations"]] == [
            int(c) for (c, b, v) in zip(ids, video.boxes[t], video.visible[t])
            if v and b[2] - b[0] >= 2 and b[3] - b[1] >= 2
        ]  # fmt: skip


def test_loaders_return_sorted_records(vid_root):
    val = load_vid(vid_root, "val")
    assert len(val) == 10
    assert [r["global_index"] for r in val] == list(range(1, 11))
    record = val[7]
    assert record["video_id"] == "ILSVRC2015_val_00000001" and record["frame_idx"] == 2
    assert record["frame_template"] % 4 == str(
        vid_root / "Data/VID/val/ILSVRC2015_val_00000001/000004.JPEG"
    )
    assert (record["height"], record["width"], record["num_frames"]) == (48, 64, 5)
    test = load_vid(vid_root, "test")
    assert len(test) == 5 and "annotations" not in test[0]
    assert (test[0]["height"], test[0]["width"]) == (48, 64)
    assert [r["frame_idx"] for r in load_vid(vid_root, "train", frames_per_video=3)[:3]] == [
        0,
        2,
        4,
    ]
    det = load_det_train(vid_root)
    assert 1 <= len(det) <= 3
    assert all(r["source"] == "DET" and r["num_frames"] == 1 for r in det)


def test_missing_frame_is_named(vid_root, tmp_path):
    frame_dir = vid_root / "Data/VID/val/ILSVRC2015_val_00000000"
    frame = frame_dir / "000002.JPEG"
    data = frame.read_bytes()
    frame.unlink()
    try:
        with pytest.raises(FileNotFoundError, match="missing frame 000002.JPEG"):
            snippet_frames(frame_dir)
        with pytest.raises(FileNotFoundError, match=str(frame_dir)):
            load_vid(vid_root, "val")
    finally:
        frame.write_bytes(data)


def test_bad_image_set_line(tmp_path):
    path = tmp_path / "val.txt"
    path.write_text("ILSVRC2015_val_00000000/000000 1\nbroken line here\n")
    with pytest.raises(ValueError, match="val.txt:2"):
        read_image_set(path)


def test_generator_refuses_to_overwrite(vid_root):
    with pytest.raises(FileExistsError, match="not empty"):
        make_synthetic_vid(vid_root)
    with pytest.raises(ValueError, match="VID class names"):
        make_synthetic_vid(vid_root / "new", classes=("unicorn",))


def _remove(paths):
    """Delete files, returning their bytes to restore them (the fixture is shared)."""
    saved = {p: p.read_bytes() for p in paths}
    for p in paths:
        p.unlink()
    return saved


def test_frames_missing_at_the_end_of_a_snippet_are_named(vid_root):
    # train: no ImageSets frame list, the annotations (000000..000004.xml) say 5 frames
    snippet = "ILSVRC2015_VID_train_0000/ILSVRC2015_train_00000001"
    frame_dir = vid_root / "Data/VID/train" / snippet
    saved = _remove([frame_dir / "000003.JPEG", frame_dir / "000004.JPEG"])
    try:
        assert snippet_frames(frame_dir) == 3  # contiguous: only an expectation can tell
        with pytest.raises(FileNotFoundError) as info:
            load_vid(vid_root, "train")
        message = str(info.value)
        assert message.startswith(f"{frame_dir}: missing frame 000003.JPEG")
        assert snippet in message and "stop at 000002.JPEG" in message
        assert str(vid_root / "Annotations/VID/train" / snippet) in message
        assert "up to frame 000004 (2 frame(s) missing at the end)" in message
        with pytest.raises(FileNotFoundError, match="missing frame 000003.JPEG"):
            load_vid(vid_root, "train", frames_per_video=2)  # frames 0 and 4: still checked
    finally:
        for path, data in saved.items():
            path.write_bytes(data)
    # val and test: the ImageSets list says 5 frames
    for split, snippet in (
        ("val", "ILSVRC2015_val_00000001"),
        ("test", "ILSVRC2015_test_00000000"),
    ):
        frame_dir = vid_root / "Data/VID" / split / snippet
        saved = _remove([frame_dir / "000004.JPEG"])
        try:
            with pytest.raises(FileNotFoundError) as info:
                load_vid(vid_root, split)
            message = str(info.value)
            assert message.startswith(f"{frame_dir}: missing frame 000004.JPEG")
            assert str(vid_root / f"ImageSets/VID/{split}.txt") in message
            # val frames are also all annotated; the test split has no annotations
            assert (str(vid_root / "Annotations/VID/val" / snippet) in message) == (split == "val")
            assert "up to frame 000004 (1 frame(s) missing at the end)" in message
        finally:
            for path, data in saved.items():
                path.write_bytes(data)
    assert len(load_vid(vid_root, "val")) == 10  # restored


def test_a_frame_without_annotation_is_named(vid_root):
    snippet = "ILSVRC2015_VID_train_0000/ILSVRC2015_train_00000000"
    ann_dir = vid_root / "Annotations/VID/train" / snippet
    for frame in ("000002", "000004"):  # in the middle, at the end
        saved = _remove([ann_dir / f"{frame}.xml"])
        try:
            with pytest.raises(FileNotFoundError) as info:
                load_vid(vid_root, "train", frames_per_video=2)
            assert str(info.value) == (
                f"{ann_dir}: missing annotation {frame}.xml of frame "
                f"{vid_root / 'Data/VID/train' / snippet / f'{frame}.JPEG'}"
            )
        finally:
            for path, data in saved.items():
                path.write_bytes(data)


def test_records_name_their_annotation_file(vid_root):
    val = load_vid(vid_root, "val")
    assert val[7]["annotation_file"] == str(
        vid_root / "Annotations/VID/val/ILSVRC2015_val_00000001/000002.xml"
    )
    assert all("annotation_file" not in r for r in load_vid(vid_root, "test"))
    for record in load_det_train(vid_root):
        name = record["image_id"].removeprefix("DET/train/")
        assert record["annotation_file"] == str(vid_root / f"Annotations/DET/train/{name}.xml")


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_the_replay_renders_the_written_videos_again(vid_root, split):
    videos = replay_synthetic_vid(vid_root, split)
    names = {
        "train": [f"ILSVRC2015_VID_train_0000/ILSVRC2015_train_{v:08d}" for v in range(2)],
        "val": [f"ILSVRC2015_val_{v:08d}" for v in range(2)],
        "test": ["ILSVRC2015_test_00000000"],
    }
    assert sorted(videos) == names[split]
    for snippet, video in videos.items():
        for t in range(5):
            jpeg = vid_root / "Data/VID" / split / snippet / f"{t:06d}.JPEG"
            encoded = cv2.imencode(".JPEG", cv2.cvtColor(video.frames[t], cv2.COLOR_RGB2BGR))[1]
            assert encoded.tobytes() == jpeg.read_bytes()  # the very frame that was written
    if split == "val":  # the replayed ground truth is the written annotation
        snippet, video = sorted(videos.items())[1]
        for t in range(5):
            xml = vid_root / "Annotations/VID/val" / snippet / f"{t:06d}.xml"
            written = sorted(a["bbox"] for a in parse_annotation(xml)["annotations"])
            replayed = sorted(
                [float(int(x1)), float(int(y1)), float(np.ceil(x2) - 1), float(np.ceil(y2) - 1)]
                for (x1, y1, x2, y2), seen in zip(video.boxes[t], video.visible[t])
                if seen and x2 - x1 >= 2 and y2 - y1 >= 2
            )
            assert written == replayed and written


def test_a_set_without_its_recorded_arguments_cannot_be_replayed(vid_root, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"synthetic_vid.json: missing"):
        replay_synthetic_vid(tmp_path)
    with pytest.raises(ValueError, match="split must be one of"):
        replay_synthetic_vid(vid_root, "minival")
